/* json.c — a streaming JSON writer (see json.h). Writing only: phenoscope reads JSON through
 * SQLite's json functions where it needs to. */
#include "store/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/sanitize.h"

int json_write_string(FILE *f, const char *s)
{
    if (!s) return fputs("null", f) == EOF ? -1 : 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    int bad = putc('"', f) == EOF;
    for (size_t i = 0; i < len && !bad;) {
        unsigned cp;
        int k = sanitize_utf8_decode(p + i, len - i, &cp);
        if (k == 0) {
            bad = fputs("\\ufffd", f) == EOF;
            i++;
            continue;
        }
        if (cp == '"' || cp == '\\') {
            bad = putc('\\', f) == EOF || putc((int)cp, f) == EOF;
        } else if (cp < 0x20) {
            static const char short_esc[] = "btnvfr"; /* \b \t \n - \f \r for 8..13 */
            if (cp == '\b' || cp == '\t' || cp == '\n' || cp == '\f' || cp == '\r')
                bad = putc('\\', f) == EOF || putc(short_esc[cp - 8], f) == EOF;
            else
                bad = fprintf(f, "\\u%04x", cp) < 0;
        } else {
            bad = fwrite(p + i, 1, (size_t)k, f) != (size_t)k;
        }
        i += (size_t)k;
    }
    if (!bad) bad = putc('"', f) == EOF;
    return bad ? -1 : 0;
}

void json_init(JsonWriter *w, FILE *f, int pretty)
{
    memset(w, 0, sizeof *w);
    w->f = f;
    w->pretty = pretty;
}

static void newline(JsonWriter *w)
{
    if (!w->pretty) return;
    if (putc('\n', w->f) == EOF) w->failed = 1;
    for (int i = 0; i < w->depth; i++)
        if (fputs("  ", w->f) == EOF) w->failed = 1;
}

/* Before any value: a comma and a newline unless it follows a key. */
static void before_value(JsonWriter *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0) {
        if (w->count[w->depth] > 0 && putc(',', w->f) == EOF) w->failed = 1;
        newline(w);
    } else if (w->count[0] > 0) {
        w->failed = 1; /* two top-level values */
    }
    w->count[w->depth]++;
}

static void open_level(JsonWriter *w, char c)
{
    before_value(w);
    if (w->depth >= JSON_MAX_DEPTH) {
        w->failed = 1;
        return;
    }
    if (putc(c, w->f) == EOF) w->failed = 1;
    w->depth++;
    w->count[w->depth] = 0;
}

static void close_level(JsonWriter *w, char c)
{
    if (w->depth == 0 || w->after_key) {
        w->failed = 1;
        return;
    }
    int had = w->count[w->depth] > 0;
    w->depth--;
    if (had) newline(w);
    if (putc(c, w->f) == EOF) w->failed = 1;
}

void json_begin_object(JsonWriter *w) { open_level(w, '{'); }
void json_end_object(JsonWriter *w) { close_level(w, '}'); }
void json_begin_array(JsonWriter *w) { open_level(w, '['); }
void json_end_array(JsonWriter *w) { close_level(w, ']'); }

void json_key(JsonWriter *w, const char *key)
{
    if (w->depth == 0 || w->after_key) w->failed = 1;
    before_value(w);
    if (json_write_string(w->f, key ? key : "") ||
        fputs(w->pretty ? ": " : ":", w->f) == EOF)
        w->failed = 1;
    w->after_key = 1;
}

void json_string(JsonWriter *w, const char *s)
{
    before_value(w);
    if (json_write_string(w->f, s)) w->failed = 1;
}

void json_int(JsonWriter *w, int64_t v)
{
    before_value(w);
    if (fprintf(w->f, "%lld", (long long)v) < 0) w->failed = 1;
}

void json_double(JsonWriter *w, double v)
{
    before_value(w);
    if (!isfinite(v)) { /* JSON has no NaN or infinity */
        if (fputs("null", w->f) == EOF) w->failed = 1;
        return;
    }
    /* The shortest of %.15g / %.17g that reads back as the same double: 0.1, not
     * 0.10000000000000001. */
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    if (fputs(buf, w->f) == EOF) w->failed = 1;
}

void json_bool(JsonWriter *w, int v)
{
    before_value(w);
    if (fputs(v ? "true" : "false", w->f) == EOF) w->failed = 1;
}

void json_null(JsonWriter *w)
{
    before_value(w);
    if (fputs("null", w->f) == EOF) w->failed = 1;
}

int json_finish(JsonWriter *w)
{
    if (w->depth != 0 || w->after_key) w->failed = 1;
    if (putc('\n', w->f) == EOF) w->failed = 1;
    if (fflush(w->f) == EOF || ferror(w->f)) w->failed = 1;
    return w->failed ? -1 : 0;
}
