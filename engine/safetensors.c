/* safetensors.c — safetensors reader and writer over ParamSets (see safetensors.h).
 *
 * The header is parsed by a small strict JSON parser that knows the safetensors schema:
 * a top-level object whose values are tensor records or the "__metadata__" object of strings.
 * Anything else (trailing commas, fractions in shapes, unknown record keys, duplicate keys,
 * control characters in strings, non-space bytes after the object) is an error.
 * Not implemented: dtypes other than F32 and I64 (F16/BF16/F64 files are refused by name),
 * big-endian hosts, memory-mapping.
 */
#include "engine/safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NAME_MAX_LEN 256

typedef struct {
    char name[NAME_MAX_LEN];
    char dtype[16];
    int ndim;
    int64_t shape[PARAMS_MAX_DIM];
    uint64_t begin, end;
    int set, idx; /* matching model tensor, or set = -1 */
} Entry;

typedef struct {
    const char *s;
    size_t n, pos;
    const char *what;
    PsErr *err;
} Json;

static PsStatus jfail(Json *j, const char *expected)
{
    return ps_err(j->err, PS_ERR_PARSE, "%s: header byte %zu: %s", j->what, j->pos + 8, expected);
}

static void skip_ws(Json *j)
{
    while (j->pos < j->n && (j->s[j->pos] == ' ' || j->s[j->pos] == '\t' ||
                             j->s[j->pos] == '\n' || j->s[j->pos] == '\r'))
        j->pos++;
}

static int peek(Json *j)
{
    skip_ws(j);
    return j->pos < j->n ? (unsigned char)j->s[j->pos] : -1;
}

static PsStatus expect(Json *j, char c)
{
    if (peek(j) != c) {
        char msg[32];
        snprintf(msg, sizeof msg, "expected '%c'", c);
        return jfail(j, msg);
    }
    j->pos++;
    return PS_OK;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A JSON string decoded to UTF-8 into out[0..cap); longer strings are an error. */
static PsStatus parse_string(Json *j, char *out, size_t cap)
{
    if (peek(j) != '"') return jfail(j, "expected a string");
    j->pos++;
    size_t k = 0;
    for (;;) {
        if (j->pos >= j->n) return jfail(j, "unterminated string");
        unsigned char c = (unsigned char)j->s[j->pos++];
        if (c == '"') break;
        if (c < 0x20) return jfail(j, "control character in string");
        unsigned cp = c;
        if (c == '\\') {
            if (j->pos >= j->n) return jfail(j, "unterminated escape");
            char e = j->s[j->pos++];
            switch (e) {
            case '"': cp = '"'; break;
            case '\\': cp = '\\'; break;
            case '/': cp = '/'; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u': {
                if (j->n - j->pos < 4) return jfail(j, "short \\u escape");
                cp = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hexval((unsigned char)j->s[j->pos++]);
                    if (h < 0) return jfail(j, "bad hex digit in \\u escape");
                    cp = cp * 16 + (unsigned)h;
                }
                if (cp >= 0xD800 && cp <= 0xDFFF) return jfail(j, "surrogate \\u escape");
                break;
            }
            default: return jfail(j, "unknown escape");
            }
            /* encode cp as UTF-8 */
            unsigned char buf[3];
            int len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
            if (len == 1) buf[0] = (unsigned char)cp;
            else if (len == 2) {
                buf[0] = (unsigned char)(0xC0 | (cp >> 6));
                buf[1] = (unsigned char)(0x80 | (cp & 0x3F));
            } else {
                buf[0] = (unsigned char)(0xE0 | (cp >> 12));
                buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
                buf[2] = (unsigned char)(0x80 | (cp & 0x3F));
            }
            if (k + (size_t)len >= cap) return jfail(j, "string too long");
            memcpy(out + k, buf, (size_t)len);
            k += (size_t)len;
            continue;
        }
        if (k + 1 >= cap) return jfail(j, "string too long");
        out[k++] = (char)c;
    }
    out[k] = 0;
    return PS_OK;
}

/* A non-negative JSON integer (no sign, fraction or exponent; no leading zeros). */
static PsStatus parse_uint(Json *j, uint64_t *v)
{
    int c = peek(j);
    if (c < '0' || c > '9') return jfail(j, "expected a non-negative integer");
    if (c == '0' && j->pos + 1 < j->n && j->s[j->pos + 1] >= '0' && j->s[j->pos + 1] <= '9')
        return jfail(j, "leading zero in integer");
    uint64_t x = 0;
    while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9') {
        unsigned d = (unsigned)(j->s[j->pos] - '0');
        if (x > (UINT64_MAX - d) / 10) return jfail(j, "integer too large");
        x = x * 10 + d;
        j->pos++;
    }
    if (j->pos < j->n && (j->s[j->pos] == '.' || j->s[j->pos] == 'e' || j->s[j->pos] == 'E'))
        return jfail(j, "expected an integer, got a fraction or exponent");
    *v = x;
    return PS_OK;
}

/* '[' uint (',' uint)* ']' or '[]' into v[0..cap), count in *n. */
static PsStatus parse_uint_array(Json *j, uint64_t *v, int cap, int *n)
{
    PsStatus rc;
    if ((rc = expect(j, '['))) return rc;
    *n = 0;
    if (peek(j) == ']') {
        j->pos++;
        return PS_OK;
    }
    for (;;) {
        if (*n >= cap) return jfail(j, "too many array elements");
        if ((rc = parse_uint(j, &v[(*n)++]))) return rc;
        int c = peek(j);
        if (c == ',') {
            j->pos++;
            continue;
        }
        if (c == ']') {
            j->pos++;
            return PS_OK;
        }
        return jfail(j, "expected ',' or ']'");
    }
}

static PsStatus parse_metadata(Json *j)
{
    PsStatus rc;
    char tmp[1024];
    if ((rc = expect(j, '{'))) return rc;
    if (peek(j) == '}') {
        j->pos++;
        return PS_OK;
    }
    for (;;) {
        if ((rc = parse_string(j, tmp, sizeof tmp))) return rc;
        if ((rc = expect(j, ':'))) return rc;
        if ((rc = parse_string(j, tmp, sizeof tmp))) return rc;
        int c = peek(j);
        if (c == ',') {
            j->pos++;
            continue;
        }
        if (c == '}') {
            j->pos++;
            return PS_OK;
        }
        return jfail(j, "expected ',' or '}' in __metadata__");
    }
}

static PsStatus parse_record(Json *j, Entry *e)
{
    PsStatus rc;
    int have_dtype = 0, have_shape = 0, have_off = 0;
    char key[32];
    if ((rc = expect(j, '{'))) return rc;
    for (;;) {
        if ((rc = parse_string(j, key, sizeof key))) return rc;
        if ((rc = expect(j, ':'))) return rc;
        if (strcmp(key, "dtype") == 0) {
            if (have_dtype++) return jfail(j, "duplicate key dtype");
            if ((rc = parse_string(j, e->dtype, sizeof e->dtype))) return rc;
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++) return jfail(j, "duplicate key shape");
            uint64_t v[PARAMS_MAX_DIM];
            if ((rc = parse_uint_array(j, v, PARAMS_MAX_DIM, &e->ndim))) return rc;
            for (int d = 0; d < e->ndim; d++) {
                if (v[d] > (uint64_t)1 << 40) return jfail(j, "dimension too large");
                e->shape[d] = (int64_t)v[d];
            }
        } else if (strcmp(key, "data_offsets") == 0) {
            if (have_off++) return jfail(j, "duplicate key data_offsets");
            uint64_t v[2];
            int n;
            if ((rc = parse_uint_array(j, v, 2, &n))) return rc;
            if (n != 2) return jfail(j, "data_offsets needs 2 integers");
            e->begin = v[0];
            e->end = v[1];
        } else {
            return jfail(j, "unknown key in tensor record");
        }
        int c = peek(j);
        if (c == ',') {
            j->pos++;
            continue;
        }
        if (c == '}') {
            j->pos++;
            break;
        }
        return jfail(j, "expected ',' or '}'");
    }
    if (!have_dtype || !have_shape || !have_off)
        return ps_err(j->err, PS_ERR_PARSE, "%s: tensor %s: record lacks dtype, shape or data_offsets",
                      j->what, e->name);
    return PS_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int is_int64_tensor(const char *name)
{
    return ends_with(name, "num_batches_tracked");
}

static int skipped(const SafetensorsOpts *o, const char *name)
{
    return o && o->skip_prefix && *o->skip_prefix &&
           strncmp(name, o->skip_prefix, strlen(o->skip_prefix)) == 0;
}

static int cmp_begin(const void *a, const void *b)
{
    const Entry *x = *(const Entry *const *)a, *y = *(const Entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end < y->end ? -1 : x->end > y->end);
}

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < n) snprintf(buf + k, n - k, "]");
}

PsStatus safetensors_load(const uint8_t *buf, size_t len, const char *what, ParamSet *const *sets,
                          int nsets, const SafetensorsOpts *opts, PsErr *err)
{
    PS_CHECK(err, (buf || len == 0) && what && (sets || nsets == 0) && nsets >= 0);
    PsStatus rc = PS_OK;
    Entry *ents = NULL;
    Entry **order = NULL;
    int count = 0, cap = 0;
    if (len < 8) return ps_err(err, PS_ERR_PARSE, "%s: %zu bytes, too short for a safetensors header", what, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    if (hlen > SAFETENSORS_MAX_HEADER)
        return ps_err(err, PS_ERR_PARSE, "%s: header length %llu exceeds the %u-byte limit", what,
                      (unsigned long long)hlen, SAFETENSORS_MAX_HEADER);
    if (hlen > len - 8)
        return ps_err(err, PS_ERR_PARSE, "%s: header length %llu exceeds the file (%zu bytes): truncated?",
                      what, (unsigned long long)hlen, len);
    if (hlen < 2) return ps_err(err, PS_ERR_PARSE, "%s: empty header", what);
    const uint8_t *data = buf + 8 + hlen;
    const uint64_t dlen = len - 8 - hlen;

    Json j = {(const char *)buf + 8, (size_t)hlen, 0, what, err};
    if ((rc = expect(&j, '{'))) goto done;
    int saw_meta = 0;
    if (peek(&j) == '}') {
        j.pos++;
    } else {
        for (;;) {
            if (count == cap) {
                int nc = cap ? cap * 2 : 64;
                Entry *ne = realloc(ents, (size_t)nc * sizeof *ne);
                if (!ne) {
                    rc = ps_err(err, PS_ERR_NOMEM, "%s: out of memory reading the header", what);
                    goto done;
                }
                ents = ne;
                cap = nc;
            }
            Entry *e = &ents[count];
            memset(e, 0, sizeof *e);
            e->set = -1;
            if ((rc = parse_string(&j, e->name, sizeof e->name))) goto done;
            if ((rc = expect(&j, ':'))) goto done;
            if (strcmp(e->name, "__metadata__") == 0) {
                if (saw_meta++) {
                    rc = jfail(&j, "duplicate __metadata__");
                    goto done;
                }
                if ((rc = parse_metadata(&j))) goto done;
            } else {
                if ((rc = parse_record(&j, e))) goto done;
                count++;
            }
            int c = peek(&j);
            if (c == ',') {
                j.pos++;
                continue;
            }
            if (c == '}') {
                j.pos++;
                break;
            }
            rc = jfail(&j, "expected ',' or '}'");
            goto done;
        }
    }
    skip_ws(&j);
    if (j.pos != j.n) {
        rc = jfail(&j, "unexpected bytes after the header object");
        goto done;
    }

    /* each record on its own: dtype, size agreeing with the offsets, offsets inside the data */
    for (int i = 0; i < count; i++) {
        Entry *e = &ents[i];
        size_t esize;
        if (strcmp(e->dtype, "F32") == 0) esize = 4;
        else if (strcmp(e->dtype, "I64") == 0) esize = 8;
        else {
            rc = ps_err(err, PS_ERR_PARSE, "%s: tensor %s: dtype %s is not supported (F32, or I64 for num_batches_tracked)",
                        what, e->name, e->dtype);
            goto done;
        }
        uint64_t numel = 1;
        int overflow = 0;
        for (int d = 0; d < e->ndim; d++) {
            uint64_t dim = (uint64_t)e->shape[d];
            if (dim && numel > (UINT64_MAX / 8) / dim) overflow = 1;
            else numel *= dim;
        }
        if (e->end < e->begin || e->end > dlen) {
            rc = ps_err(err, PS_ERR_PARSE, "%s: tensor %s: data_offsets [%llu, %llu] outside the %llu data bytes",
                        what, e->name, (unsigned long long)e->begin, (unsigned long long)e->end,
                        (unsigned long long)dlen);
            goto done;
        }
        if (overflow || numel > dlen || numel * esize != e->end - e->begin) {
            char sh[128];
            shape_str(sh, sizeof sh, e->ndim, e->shape);
            rc = ps_err(err, PS_ERR_PARSE, "%s: tensor %s: shape %s of %s needs %llu bytes, data_offsets span %llu",
                        what, e->name, sh, e->dtype, (unsigned long long)(numel * esize),
                        (unsigned long long)(e->end - e->begin));
            goto done;
        }
    }
    /* together: sorted by offset they must tile the data section exactly */
    order = malloc((size_t)(count > 0 ? count : 1) * sizeof *order); /* > 0: gcc -O1 range check */
    if (!order) {
        rc = ps_err(err, PS_ERR_NOMEM, "%s: out of memory", what);
        goto done;
    }
    for (int i = 0; i < count; i++) order[i] = &ents[i];
    qsort(order, (size_t)count, sizeof *order, cmp_begin);
    uint64_t at = 0;
    for (int i = 0; i < count; i++) {
        if (order[i]->begin < at) {
            rc = ps_err(err, PS_ERR_PARSE, "%s: tensor %s: data [%llu, %llu) overlaps tensor %s", what,
                        order[i]->name, (unsigned long long)order[i]->begin,
                        (unsigned long long)order[i]->end, order[i - 1]->name);
            goto done;
        }
        if (order[i]->begin > at) {
            rc = ps_err(err, PS_ERR_PARSE, "%s: data bytes [%llu, %llu) belong to no tensor (before %s)",
                        what, (unsigned long long)at, (unsigned long long)order[i]->begin,
                        order[i]->name);
            goto done;
        }
        at = order[i]->end;
    }
    if (at != dlen) {
        rc = ps_err(err, PS_ERR_PARSE, "%s: %llu data bytes after the last tensor belong to no tensor",
                    what, (unsigned long long)(dlen - at));
        goto done;
    }
    /* duplicate names: adjacent after sorting by name would cost another sort; n is small */
    for (int i = 0; i < count; i++)
        for (int k = i + 1; k < count; k++)
            if (strcmp(ents[i].name, ents[k].name) == 0) {
                rc = ps_err(err, PS_ERR_PARSE, "%s: tensor %s appears twice", what, ents[i].name);
                goto done;
            }

    /* against the model: every model tensor present with its shape and dtype */
    for (int i = 0; i < count; i++) {
        Entry *e = &ents[i];
        if (skipped(opts, e->name)) continue;
        for (int s = 0; s < nsets && e->set < 0; s++) {
            int idx = params_find(sets[s], e->name);
            if (idx >= 0) {
                e->set = s;
                e->idx = idx;
            }
        }
        if (e->set < 0) {
            if (opts && opts->ignore_extra) continue;
            rc = ps_err(err, PS_ERR_INVALID, "%s: tensor %s is not part of this model", what, e->name);
            goto done;
        }
        const ParamInfo *pi = &sets[e->set]->info[e->idx];
        int same = pi->ndim == e->ndim;
        for (int d = 0; same && d < e->ndim; d++) same = pi->shape[d] == e->shape[d];
        if (!same) {
            char want[128], got[128];
            shape_str(want, sizeof want, pi->ndim, pi->shape);
            shape_str(got, sizeof got, e->ndim, e->shape);
            rc = ps_err(err, PS_ERR_INVALID, "%s: tensor %s has shape %s, the model needs %s", what,
                        e->name, got, want);
            goto done;
        }
        const char *want_dt = is_int64_tensor(e->name) ? "I64" : "F32";
        if (strcmp(e->dtype, want_dt) != 0) {
            rc = ps_err(err, PS_ERR_INVALID, "%s: tensor %s has dtype %s, expected %s", what, e->name,
                        e->dtype, want_dt);
            goto done;
        }
    }
    for (int s = 0; s < nsets; s++)
        for (int t = 0; t < sets[s]->count; t++) {
            const char *name = sets[s]->info[t].name;
            if (skipped(opts, name)) continue;
            int found = 0;
            for (int i = 0; i < count && !found; i++) found = ents[i].set == s && ents[i].idx == t;
            if (!found) {
                rc = ps_err(err, PS_ERR_INVALID, "%s: tensor %s is missing", what, name);
                goto done;
            }
            if (!sets[s]->w) {
                rc = ps_err(err, PS_ERR_INVALID, "%s: the model's tensors are not allocated", what);
                goto done;
            }
        }
    /* I64 values must be representable: checked before the first copy too */
    for (int i = 0; i < count; i++) {
        const Entry *e = &ents[i];
        if (e->set < 0 || strcmp(e->dtype, "I64") != 0) continue;
        for (uint64_t k = 0; k < (e->end - e->begin) / 8; k++) {
            int64_t v;
            memcpy(&v, data + e->begin + 8 * k, 8);
            if (v < 0 || v > ((int64_t)1 << 24)) {
                rc = ps_err(err, PS_ERR_INVALID, "%s: tensor %s: value %lld out of range", what, e->name,
                            (long long)v);
                goto done;
            }
        }
    }

    /* all checks passed: copy */
    for (int i = 0; i < count; i++) {
        const Entry *e = &ents[i];
        if (e->set < 0) continue;
        const ParamInfo *pi = &sets[e->set]->info[e->idx];
        float *dst = sets[e->set]->w + pi->offset;
        if (strcmp(e->dtype, "F32") == 0) {
            memcpy(dst, data + e->begin, pi->numel * sizeof(float));
        } else {
            for (size_t k = 0; k < pi->numel; k++) {
                int64_t v;
                memcpy(&v, data + e->begin + 8 * k, 8);
                dst[k] = (float)v;
            }
        }
    }
done:
    free(order);
    free(ents);
    return rc;
}

PsStatus safetensors_load_file(const char *path, ParamSet *const *sets, int nsets,
                               const SafetensorsOpts *opts, PsErr *err)
{
    PS_CHECK(err, path);
    FILE *f = fopen(path, "rb");
    if (!f) return ps_err(err, PS_ERR_IO, "%s: %s", path, strerror(errno));
    PsStatus rc = PS_OK;
    uint8_t *buf = NULL;
    long size;
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        rc = ps_err(err, PS_ERR_IO, "%s: cannot determine the size: %s", path, strerror(errno));
        goto done;
    }
    buf = malloc(size ? (size_t)size : 1);
    if (!buf) {
        rc = ps_err(err, PS_ERR_NOMEM, "%s: cannot allocate %ld bytes", path, size);
        goto done;
    }
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        rc = ps_err(err, PS_ERR_IO, "%s: read error", path);
        goto done;
    }
    rc = safetensors_load(buf, (size_t)size, path, sets, nsets, opts, err);
done:
    free(buf);
    fclose(f);
    return rc;
}

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} Sb;

static void sb_put(Sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_put(Sb *b, const char *fmt, ...)
{
    if (b->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->oom = 1;
        return;
    }
    if (!b->s || b->n + (size_t)k + 1 > b->cap) {
        size_t nc = (b->cap ? b->cap * 2 : 4096) + (size_t)k + 1;
        char *ns = realloc(b->s, nc);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = nc;
        va_start(ap, fmt);
        vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
    }
    b->n += (size_t)k;
}

static void sb_json_string(Sb *b, const char *s)
{
    sb_put(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') sb_put(b, "\\%c", c);
        else if (c < 0x20) sb_put(b, "\\u%04x", c);
        else sb_put(b, "%c", c);
    }
    sb_put(b, "\"");
}

PsStatus safetensors_save(uint8_t **out, size_t *len, ParamSet *const *sets, int nsets,
                          PsErr *err)
{
    PS_CHECK(err, out && len && (sets || nsets == 0) && nsets >= 0);
    *out = NULL;
    *len = 0;
    for (int s = 0; s < nsets; s++) {
        if (!sets[s]->w && sets[s]->count)
            return ps_err(err, PS_ERR_INVALID, "safetensors_save: set %d is not allocated", s);
        for (int t = 0; t < sets[s]->count; t++)
            for (int s2 = s + 1; s2 < nsets; s2++)
                if (params_find(sets[s2], sets[s]->info[t].name) >= 0)
                    return ps_err(err, PS_ERR_INVALID, "safetensors_save: tensor %s is in two sets",
                                  sets[s]->info[t].name);
    }
    Sb b = {0};
    uint64_t off = 0;
    sb_put(&b, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int s = 0; s < nsets; s++)
        for (int t = 0; t < sets[s]->count; t++) {
            const ParamInfo *pi = &sets[s]->info[t];
            int i64 = is_int64_tensor(pi->name);
            uint64_t bytes = pi->numel * (i64 ? 8u : 4u);
            sb_put(&b, ",");
            sb_json_string(&b, pi->name);
            sb_put(&b, ":{\"dtype\":\"%s\",\"shape\":[", i64 ? "I64" : "F32");
            for (int d = 0; d < pi->ndim; d++) sb_put(&b, "%s%lld", d ? "," : "", (long long)pi->shape[d]);
            sb_put(&b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                   (unsigned long long)(off + bytes));
            off += bytes;
        }
    sb_put(&b, "}");
    /* pad with spaces so the data starts 8-byte aligned, as the reference writer does */
    while (!b.oom && b.n % 8) sb_put(&b, " ");
    if (b.oom) {
        free(b.s);
        return ps_err(err, PS_ERR_NOMEM, "safetensors_save: out of memory building the header");
    }
    size_t total = 8 + b.n + (size_t)off;
    uint8_t *buf = malloc(total);
    if (!buf) {
        free(b.s);
        return ps_err(err, PS_ERR_NOMEM, "safetensors_save: cannot allocate %zu bytes", total);
    }
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)b.n >> (8 * i));
    memcpy(buf + 8, b.s, b.n);
    free(b.s);
    uint8_t *p = buf + 8 + (total - 8 - (size_t)off);
    for (int s = 0; s < nsets; s++)
        for (int t = 0; t < sets[s]->count; t++) {
            const ParamInfo *pi = &sets[s]->info[t];
            const float *src = sets[s]->w + pi->offset;
            if (is_int64_tensor(pi->name)) {
                for (size_t k = 0; k < pi->numel; k++) {
                    int64_t v = (int64_t)src[k];
                    memcpy(p, &v, 8);
                    p += 8;
                }
            } else {
                memcpy(p, src, pi->numel * sizeof(float));
                p += pi->numel * sizeof(float);
            }
        }
    *out = buf;
    *len = total;
    return PS_OK;
}

PsStatus safetensors_save_file(const char *path, ParamSet *const *sets, int nsets, PsErr *err)
{
    PS_CHECK(err, path);
    uint8_t *buf;
    size_t len;
    PsStatus rc = safetensors_save(&buf, &len, sets, nsets, err);
    if (rc) return rc;
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        free(buf);
        return ps_err(err, PS_ERR_INVALID, "%s: path too long", path);
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = ps_err(err, PS_ERR_IO, "%s: %s", tmp, strerror(errno));
        free(buf);
        return rc;
    }
    int ok = fwrite(buf, 1, len, f) == len;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    free(buf);
    if (!ok || rename(tmp, path) != 0) {
        rc = ps_err(err, PS_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        return rc;
    }
    return PS_OK;
}
