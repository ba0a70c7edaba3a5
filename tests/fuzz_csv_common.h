/* fuzz_csv_common.h — reading a whole CSV file into a transcript for the CSV harnesses.
 *
 * The transcript records every outcome of csv_next in order: a good record as its fields
 * (length-prefixed), a bad record as its status and line. Two readings of the same data (plain
 * and gzip, or a file and its re-serialisation) compare with memcmp. Every record is checked
 * against the limits on the way, and the reader must terminate: each call consumes input. */
#ifndef FUZZ_CSV_COMMON_H
#define FUZZ_CSV_COMMON_H

#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "store/csv.h"

typedef struct {
    unsigned char *b;
    size_t n, cap;
} Buf;

static inline void buf_put(Buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->b = realloc(b->b, cap);
        FUZZ_CHECK(b->b != NULL);
        b->cap = cap;
    }
    memcpy(b->b + b->n, p, n);
    b->n += n;
}

static inline void buf_u64(Buf *b, uint64_t v) { buf_put(b, &v, sizeof v); }

typedef struct {
    Buf transcript; /* outcomes, see above */
    Buf csv;        /* the good records re-serialised, every field quoted */
    size_t records, bad;
    int io_error;   /* reading ended with PS_ERR_IO */
    size_t longest_serialised_record;
} Reading;

/* Reads path to the end (or to an I/O error). input_size bounds the number of calls. */
static inline void read_all(const char *path, const CsvLimits *lim, size_t input_size,
                            Reading *out)
{
    memset(out, 0, sizeof *out);
    CsvReader *r = NULL;
    PsErr err = {{0}};
    PsStatus rc = csv_open(&r, path, "fuzz.csv", lim, &err);
    FUZZ_CHECK(rc == PS_OK && r != NULL);
    size_t calls = 0;
    for (;;) {
        int got = 0;
        err.msg[0] = 0;
        rc = csv_next(r, &got, &err);
        /* every call consumes at least one byte of the (decompressed) input, or ends it */
        FUZZ_CHECK(++calls <= input_size + 2 || csv_is_gzip(r));
        FUZZ_CHECK(calls <= ((size_t)1 << 26));
        if (rc == PS_ERR_IO) {
            FUZZ_CHECK(strncmp(err.msg, "fuzz.csv", 8) == 0);
            out->io_error = 1;
            buf_u64(&out->transcript, 'I');
            break;
        }
        if (rc == PS_ERR_PARSE) {
            FUZZ_CHECK(strncmp(err.msg, "fuzz.csv:", 9) == 0);
            FUZZ_CHECK(strchr(err.msg, '\n') == NULL);
            out->bad++;
            buf_u64(&out->transcript, 'E');
            buf_u64(&out->transcript, (uint64_t)csv_line(r));
            continue;
        }
        FUZZ_CHECK(rc == PS_OK);
        if (!got) break;
        out->records++;
        int nf = csv_nfields(r);
        FUZZ_CHECK(nf >= 1 && nf <= lim->max_columns);
        FUZZ_CHECK(csv_line(r) >= 1);
        buf_u64(&out->transcript, 'R');
        buf_u64(&out->transcript, (uint64_t)nf);
        size_t before = out->csv.n;
        for (int i = 0; i < nf; i++) {
            size_t len = 0;
            const char *f = csv_field(r, i, &len);
            FUZZ_CHECK(f != NULL);
            FUZZ_CHECK(len <= lim->max_field);
            FUZZ_CHECK(f[len] == '\0');
            buf_u64(&out->transcript, len);
            buf_put(&out->transcript, f, len);
            /* RFC 4180 quoting: the field in quotes, each quote doubled */
            if (i) buf_put(&out->csv, ",", 1);
            buf_put(&out->csv, "\"", 1);
            for (size_t k = 0; k < len; k++) {
                if (f[k] == '"') buf_put(&out->csv, "\"", 1);
                buf_put(&out->csv, f + k, 1);
            }
            buf_put(&out->csv, "\"", 1);
        }
        buf_put(&out->csv, "\r\n", 2);
        if (out->csv.n - before > out->longest_serialised_record)
            out->longest_serialised_record = out->csv.n - before;
        FUZZ_CHECK(csv_field(r, nf, NULL)[0] == '\0'); /* out of range: "" */
    }
    csv_close(r);
}

static inline void reading_free(Reading *r)
{
    free(r->transcript.b);
    free(r->csv.b);
}

/* Limits from the first bytes: small ones to reach every limit path, or the defaults. */
static inline CsvLimits limits_from(const uint8_t *d)
{
    CsvLimits lim = {0, 0, 0};
    if (d[0] & 0x80) {
        lim.max_field = CSV_DEFAULT_MAX_FIELD;
        lim.max_record = CSV_DEFAULT_MAX_RECORD;
        lim.max_columns = CSV_DEFAULT_MAX_COLUMNS;
    } else {
        lim.max_field = 1 + (size_t)(d[0] & 0x7f);
        lim.max_record = 1 + (size_t)d[1] * 4;
        lim.max_columns = 1 + (d[0] & 0x0f);
    }
    return lim;
}

#endif
