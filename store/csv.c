/* csv.c — the streaming CSV reader (see csv.h).
 *
 * How it works: bytes are read in large blocks into one buffer. A record is first scanned
 * without modifying anything, recording for each field its raw extent and where its closing
 * quote stands; when the scan reaches the end of the buffer before the record ends, the
 * unread tail moves to the front, more is read, and the record is scanned again from its
 * start (records are short, so the rescan costs little). Only once the whole record is in
 * the buffer are fields unquoted in place (the unquoted text is always shorter than the raw
 * text) and NUL-terminated. A record that does not fit in max_record bytes is skipped by a
 * byte-at-a-time state machine that keeps no data, so memory stays bounded.
 *
 * Deliberately not done: other delimiters or quote characters, encodings other than
 * UTF-8/ASCII (bytes pass through unchanged), seeking.
 */
#include "store/csv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define READ_CHUNK ((size_t)1 << 20)
#define ZIN_CHUNK ((size_t)1 << 18)

typedef struct {
    size_t start, end; /* raw extent in buf: [start, end), end at the delimiter */
    size_t qend;       /* offset of the closing quote, or SIZE_MAX when unquoted */
} RawField;

struct CsvReader {
    int fd;
    /* gzip input is inflated here rather than through gzread, which silently ignores
     * whatever follows a complete member: a damaged second member would read as a shorter
     * file. Here anything after a member must be another member, or it is an error. */
    int gz;         /* input is gzip */
    z_stream zs;
    unsigned char *zin;
    int zin_eof;    /* no more compressed bytes in the file */
    int member_end; /* the last member ended; more input must start a new one */
    PsStatus gz_rc; /* an error met after inflating some bytes, reported on the next fill */
    PsErr gz_err;
    int eof;   /* no more bytes to read */
    int started;
    char *buf;
    size_t cap, cap_max, pos, end; /* unread bytes are buf[pos, end); buf[end] is writable */
    CsvLimits lim;
    char *name;
    int64_t line;     /* physical line of buf[pos] */
    int64_t rec_line; /* line where the current record began */
    int nf, fcap;
    RawField *raw;
    const char **f;
    size_t *flen;
    uint64_t bytes_read;
};

PsStatus csv_open(CsvReader **out, const char *path, const char *name, const CsvLimits *lim,
                  PsErr *err)
{
    PsStatus rc = PS_OK;
    CsvReader *r = NULL;
    PS_CHECK(err, out && path);
    *out = NULL;
    r = calloc(1, sizeof *r);
    if (!r) return ps_err(err, PS_ERR_NOMEM, "%s: out of memory", path);
    r->fd = -1;
    r->lim.max_field = lim && lim->max_field ? lim->max_field : CSV_DEFAULT_MAX_FIELD;
    r->lim.max_record = lim && lim->max_record ? lim->max_record : CSV_DEFAULT_MAX_RECORD;
    r->lim.max_columns = lim && lim->max_columns > 0 ? lim->max_columns : CSV_DEFAULT_MAX_COLUMNS;
    r->name = strdup(name ? name : path);
    if (!r->name) {
        rc = ps_err(err, PS_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    r->line = 1;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        rc = ps_err(err, PS_ERR_IO, "%s: %s", r->name, strerror(errno));
        goto done;
    }
    unsigned char magic[2];
    ssize_t n = pread(r->fd, magic, 2, 0);
    if (n < 0) {
        rc = ps_err(err, PS_ERR_IO, "%s: %s", r->name, strerror(errno));
        goto done;
    }
    if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        r->zin = malloc(ZIN_CHUNK);
        /* 15 + 16: a 32 KiB window, gzip framing only (header and CRC-32 trailer checked) */
        if (!r->zin || inflateInit2(&r->zs, 15 + 16) != Z_OK) {
            rc = ps_err(err, PS_ERR_NOMEM, "%s: cannot start gzip decoding", r->name);
            goto done;
        }
        r->gz = 1;
    }
    r->cap_max = r->lim.max_record + READ_CHUNK + 1;
    r->cap = READ_CHUNK * 2 + 1;
    if (r->cap > r->cap_max) r->cap = r->cap_max;
    r->buf = malloc(r->cap);
    r->fcap = 64;
    r->raw = malloc((size_t)r->fcap * sizeof *r->raw);
    r->f = malloc((size_t)r->fcap * sizeof *r->f);
    r->flen = malloc((size_t)r->fcap * sizeof *r->flen);
    if (!r->buf || !r->raw || !r->f || !r->flen) {
        rc = ps_err(err, PS_ERR_NOMEM, "%s: out of memory", r->name);
        goto done;
    }
done:
    if (rc != PS_OK) {
        csv_close(r);
        return rc;
    }
    *out = r;
    return PS_OK;
}

void csv_close(CsvReader *r)
{
    if (!r) return;
    if (r->gz) inflateEnd(&r->zs);
    free(r->zin);
    if (r->fd >= 0) close(r->fd);
    free(r->buf);
    free(r->raw);
    free(r->f);
    free(r->flen);
    free(r->name);
    free(r);
}

const char *csv_name(const CsvReader *r)
{
    return r->name;
}
int csv_is_gzip(const CsvReader *r)
{
    return r->gz;
}
int csv_nfields(const CsvReader *r)
{
    return r->nf;
}
int64_t csv_line(const CsvReader *r)
{
    return r->rec_line;
}

uint64_t csv_bytes_read(const CsvReader *r)
{
    /* compressed bytes consumed, for gzip: those read but still buffered do not count */
    return r->gz ? r->bytes_read - r->zs.avail_in : r->bytes_read;
}

const char *csv_field(const CsvReader *r, int i, size_t *len)
{
    if (i < 0 || i >= r->nf) {
        if (len) *len = 0;
        return "";
    }
    if (len) *len = r->flen[i];
    return r->f[i];
}

int csv_find(const CsvReader *r, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < r->nf; i++)
        if (r->flen[i] == n && memcmp(r->f[i], name, n) == 0) return i;
    return -1;
}

static PsStatus read_fd(CsvReader *r, void *dst, size_t want, size_t *got, PsErr *err)
{
    ssize_t n;
    do
        n = read(r->fd, dst, want);
    while (n < 0 && errno == EINTR);
    if (n < 0) return ps_err(err, PS_ERR_IO, "%s: %s", r->name, strerror(errno));
    *got = (size_t)n;
    r->bytes_read += (uint64_t)n;
    return PS_OK;
}

/* Inflates up to want bytes to buf[end]; *got = 0 with r->eof at the end of the last member. */
static PsStatus gz_fill(CsvReader *r, size_t want, size_t *got, PsErr *err)
{
    z_stream *z = &r->zs;
    if (r->gz_rc != PS_OK) return ps_err(err, r->gz_rc, "%s", r->gz_err.msg);
    z->next_out = (Bytef *)(r->buf + r->end);
    z->avail_out = want > UINT_MAX ? UINT_MAX : (uInt)want;
    uInt asked = z->avail_out;
    PsStatus rc = PS_OK;
    while (z->avail_out > 0 && rc == PS_OK) {
        if (z->avail_in == 0 && !r->zin_eof) {
            size_t n;
            rc = read_fd(r, r->zin, ZIN_CHUNK, &n, &r->gz_err);
            if (rc != PS_OK) break;
            if (n == 0) r->zin_eof = 1;
            z->next_in = r->zin;
            z->avail_in = (uInt)n;
        }
        if (r->member_end) {
            if (z->avail_in == 0) {
                if (r->zin_eof) {
                    r->eof = 1;
                    break;
                }
                continue;
            }
            /* more bytes: they must be another member (inflate checks its header) */
            if (inflateReset(z) != Z_OK) {
                rc = ps_err(&r->gz_err, PS_ERR_IO, "%s: corrupt gzip (cannot restart)", r->name);
                break;
            }
            r->member_end = 0;
        }
        int zr = inflate(z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            r->member_end = 1;
        } else if (zr == Z_BUF_ERROR) {
            if (z->avail_in == 0 && r->zin_eof)
                rc = ps_err(&r->gz_err, PS_ERR_IO, "%s: truncated gzip", r->name);
        } else if (zr == Z_MEM_ERROR) {
            rc = ps_err(&r->gz_err, PS_ERR_NOMEM, "%s: out of memory", r->name);
        } else if (zr != Z_OK) {
            rc = ps_err(&r->gz_err, PS_ERR_IO, "%s: corrupt gzip (%s)", r->name,
                        z->msg ? z->msg : "bad data");
        }
    }
    *got = asked - z->avail_out;
    if (rc == PS_OK) return PS_OK;
    /* hand out what was inflated before the damage first; the error comes next time */
    r->gz_rc = rc;
    if (*got > 0) return PS_OK;
    return ps_err(err, rc, "%s", r->gz_err.msg);
}

/* Reads more bytes after buf[end], first moving the unread tail to the front and growing the
 * buffer up to cap_max. Sets r->eof at the end of input. */
static PsStatus fill(CsvReader *r, PsErr *err)
{
    if (r->pos > 0) {
        memmove(r->buf, r->buf + r->pos, r->end - r->pos);
        r->end -= r->pos;
        r->pos = 0;
    }
    if (r->cap - 1 - r->end < READ_CHUNK && r->cap < r->cap_max) {
        size_t ncap = r->cap * 2;
        if (ncap > r->cap_max) ncap = r->cap_max;
        char *nb = realloc(r->buf, ncap);
        if (!nb) return ps_err(err, PS_ERR_NOMEM, "%s: out of memory", r->name);
        r->buf = nb;
        r->cap = ncap;
    }
    size_t want = r->cap - 1 - r->end;
    if (want == 0) return PS_OK; /* full: the caller decides the record is too long */
    size_t n = 0;
    PsStatus rc = r->gz ? gz_fill(r, want, &n, err) : read_fd(r, r->buf + r->end, want, &n, err);
    if (rc != PS_OK) return rc;
    if (n == 0) r->eof = 1;
    r->end += n;
    if (!r->started && (r->end >= 3 || r->eof)) {
        r->started = 1;
        if (r->end >= 3 && memcmp(r->buf, "\xEF\xBB\xBF", 3) == 0) r->pos = 3;
    }
    return PS_OK;
}

enum { SCAN_RECORD, SCAN_MORE, SCAN_UNTERMINATED };

static int grow_fields(CsvReader *r)
{
    int ncap = r->fcap * 2;
    if (ncap > r->lim.max_columns) ncap = r->lim.max_columns;
    RawField *nr = realloc(r->raw, (size_t)ncap * sizeof *nr);
    if (!nr) return -1;
    r->raw = nr;
    const char **nf = realloc(r->f, (size_t)ncap * sizeof *nf);
    if (!nf) return -1;
    r->f = nf;
    size_t *nl = realloc(r->flen, (size_t)ncap * sizeof *nl);
    if (!nl) return -1;
    r->flen = nl;
    r->fcap = ncap;
    return 0;
}

/* Scans one record starting at pos without modifying the buffer. On SCAN_RECORD, *rec_end is
 * the offset after its line end and *nfields the number of fields seen (possibly more than
 * were stored, when over max_columns). */
static int scan(CsvReader *r, size_t *rec_end, int *nfields, int *nomem)
{
    const char *b = r->buf;
    size_t p = r->pos, e = r->end;
    int nf = 0, eof = r->eof;
    for (;;) {
        size_t fs = p, qend = SIZE_MAX;
        if (p < e && b[p] == '"') {
            p++;
            for (;;) {
                const char *q = memchr(b + p, '"', e - p);
                if (!q) return eof ? SCAN_UNTERMINATED : SCAN_MORE;
                p = (size_t)(q - b) + 1;
                if (p == e && !eof) return SCAN_MORE; /* the next byte may be a second quote */
                if (p < e && b[p] == '"') {
                    p++;
                    continue;
                }
                break;
            }
            qend = p - 1;
        }
        while (p < e && b[p] != ',' && b[p] != '\n')
            p++;
        if (p == e && !eof) return SCAN_MORE;
        if (nf < r->lim.max_columns) {
            if (nf == r->fcap && grow_fields(r) != 0) {
                *nomem = 1;
                return SCAN_RECORD;
            }
            r->raw[nf].start = fs;
            r->raw[nf].end = p;
            r->raw[nf].qend = qend;
        }
        nf++;
        if (p == e) {
            *rec_end = e;
            break;
        }
        if (b[p] == '\n') {
            *rec_end = p + 1;
            break;
        }
        p++; /* the comma */
    }
    *nfields = nf;
    return SCAN_RECORD;
}

/* Skips a record too long to hold, from pos, reading on as needed; keeps no data. */
static PsStatus skip_long_record(CsvReader *r, PsErr *err)
{
    enum { FIELD_START, UNQUOTED, QUOTED, QUOTE_IN_QUOTED } st = FIELD_START;
    int64_t lines = 0;
    for (;;) {
        for (size_t p = r->pos; p < r->end; p++) {
            char c = r->buf[p];
            switch (st) {
            case FIELD_START:
                if (c == '"') {
                    st = QUOTED;
                    break;
                }
                /* fall through */
            case UNQUOTED:
            case QUOTE_IN_QUOTED:
                if (st == QUOTE_IN_QUOTED && c == '"')
                    st = QUOTED;
                else if (c == ',')
                    st = FIELD_START;
                else if (c == '\n') {
                    r->pos = p + 1;
                    r->line += lines + 1;
                    return PS_OK;
                } else
                    st = UNQUOTED;
                break;
            case QUOTED:
                if (c == '"')
                    st = QUOTE_IN_QUOTED;
                else if (c == '\n')
                    lines++;
                break;
            }
        }
        r->pos = r->end = 0;
        if (r->eof) {
            r->line += lines;
            return PS_OK;
        }
        PsStatus rc = fill(r, err);
        if (rc != PS_OK) return rc;
    }
}

/* Unquotes and NUL-terminates the fields of the scanned record [pos, rec_end); returns the
 * number of newlines inside quoted fields and the longest field. */
static int64_t finish_fields(CsvReader *r, int nf, size_t rec_end, size_t *longest)
{
    char *b = r->buf;
    int64_t nl = 0;
    *longest = 0;
    for (int i = 0; i < nf; i++) {
        RawField *rf = &r->raw[i];
        size_t fe = rf->end;
        /* CRLF: the CR before the record's LF is part of the line end, not of the field. */
        if (i == nf - 1 && fe > rf->start && fe < rec_end && b[fe - 1] == '\r' &&
            (rf->qend == SIZE_MAX || fe - 1 > rf->qend))
            fe--;
        size_t len;
        if (rf->qend != SIZE_MAX) {
            size_t w = rf->start, s = rf->start + 1;
            while (s < rf->qend) {
                if (b[s] == '"')
                    s++; /* a doubled quote stands for one */
                else if (b[s] == '\n')
                    nl++;
                b[w++] = b[s++];
            }
            for (s = rf->qend + 1; s < fe; s++)
                b[w++] = b[s];
            len = w - rf->start;
        } else {
            len = fe - rf->start;
        }
        b[rf->start + len] = '\0';
        r->f[i] = b + rf->start;
        r->flen[i] = len;
        if (len > *longest) *longest = len;
    }
    return nl;
}

PsStatus csv_next(CsvReader *r, int *got, PsErr *err)
{
    PS_CHECK(err, r && got);
    *got = 0;
    r->nf = 0;
    for (;;) {
        size_t rec_end = 0;
        int nfields = 0, nomem = 0;
        int s = scan(r, &rec_end, &nfields, &nomem);
        if (nomem) return ps_err(err, PS_ERR_NOMEM, "%s: out of memory", r->name);
        if (s == SCAN_MORE || (r->pos == r->end && !r->eof)) {
            if (r->end - r->pos > r->lim.max_record) {
                r->rec_line = r->line;
                PsStatus rc = skip_long_record(r, err);
                if (rc != PS_OK) return rc;
                return ps_err(err, PS_ERR_PARSE, "%s:%lld: record longer than %zu bytes", r->name,
                              (long long)r->rec_line, r->lim.max_record);
            }
            PsStatus rc = fill(r, err);
            if (rc != PS_OK) return rc;
            continue;
        }
        if (r->pos == r->end) return PS_OK; /* end of input */
        r->rec_line = r->line;
        if (s == SCAN_UNTERMINATED) {
            r->pos = r->end;
            return ps_err(err, PS_ERR_PARSE, "%s:%lld: quoted field not closed before end of file",
                          r->name, (long long)r->rec_line);
        }
        /* Blank line (LF or CRLF alone): not a record. */
        if (nfields == 1 && r->raw[0].qend == SIZE_MAX && r->buf[rec_end - 1] == '\n' &&
            (rec_end - r->pos == 1 || (rec_end - r->pos == 2 && r->buf[r->pos] == '\r'))) {
            r->pos = rec_end;
            r->line++;
            continue;
        }
        size_t reclen = rec_end - r->pos;
        int stored = nfields < r->lim.max_columns ? nfields : r->lim.max_columns;
        size_t longest = 0;
        int64_t inner_nl = finish_fields(r, stored, rec_end, &longest);
        r->pos = rec_end;
        r->line += inner_nl + 1;
        if (reclen > r->lim.max_record)
            return ps_err(err, PS_ERR_PARSE, "%s:%lld: record longer than %zu bytes", r->name,
                          (long long)r->rec_line, r->lim.max_record);
        if (nfields > r->lim.max_columns)
            return ps_err(err, PS_ERR_PARSE, "%s:%lld: more than %d columns", r->name,
                          (long long)r->rec_line, r->lim.max_columns);
        if (longest > r->lim.max_field)
            return ps_err(err, PS_ERR_PARSE, "%s:%lld: field longer than %zu bytes", r->name,
                          (long long)r->rec_line, r->lim.max_field);
        r->nf = stored;
        *got = 1;
        return PS_OK;
    }
}
