/* test_csv.c — the streaming CSV reader: the exact-output corpus in tests/fixtures/csv/,
 * gzip detection and damage, hard limits, records across buffer boundaries, bounded memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include "store/csv.h"
#include "store/rng.h"

#define CORPUS "tests/fixtures/csv"

/* Appends s to a growing string. */
typedef struct {
    char *p;
    size_t n, cap;
} Str;

static void str_add(Str *s, const char *t, size_t n)
{
    if (s->n + n + 1 > s->cap) {
        s->cap = (s->n + n + 1) * 2;
        s->p = realloc(s->p, s->cap);
        assert_non_null(s->p);
    }
    memcpy(s->p + s->n, t, n);
    s->n += n;
    s->p[s->n] = 0;
}

static void str_puts(Str *s, const char *t)
{
    str_add(s, t, strlen(t));
}

/* Renders every record of path in the corpus format (see tests/fixtures/csv/README.md). */
static char *render(const char *path, const char *name, const CsvLimits *lim)
{
    Str out = {0};
    str_puts(&out, "");
    PsErr err = {{0}};
    CsvReader *r = NULL;
    PsStatus rc = csv_open(&r, path, name, lim, &err);
    if (rc != PS_OK) {
        str_puts(&out, "ERR ");
        str_puts(&out, err.msg);
        str_puts(&out, "\n");
        return out.p;
    }
    for (;;) {
        int got = 0;
        rc = csv_next(r, &got, &err);
        if (rc != PS_OK) {
            str_puts(&out, "ERR ");
            str_puts(&out, err.msg);
            str_puts(&out, "\n");
            if (rc == PS_ERR_PARSE) continue;
            break;
        }
        if (!got) break;
        char head[32];
        snprintf(head, sizeof head, "%lld: ", (long long)csv_line(r));
        str_puts(&out, head);
        for (int i = 0; i < csv_nfields(r); i++) {
            size_t len;
            const char *f = csv_field(r, i, &len);
            assert_int_equal(f[len], '\0');
            str_puts(&out, i ? ",\"" : "\"");
            for (size_t k = 0; k < len; k++) {
                switch (f[k]) {
                case '\n':
                    str_puts(&out, "\\n");
                    break;
                case '\r':
                    str_puts(&out, "\\r");
                    break;
                case '"':
                    str_puts(&out, "\\\"");
                    break;
                case '\\':
                    str_puts(&out, "\\\\");
                    break;
                default:
                    str_add(&out, f + k, 1);
                }
            }
            str_puts(&out, "\"");
        }
        str_puts(&out, "\n");
    }
    csv_close(r);
    return out.p;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    Str s = {0};
    str_puts(&s, "");
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        str_add(&s, buf, n);
    fclose(f);
    return s.p;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void corpus_exact_output(void **state)
{
    (void)state;
    DIR *d = opendir(CORPUS);
    assert_non_null(d);
    struct dirent *de;
    int cases = 0;
    while ((de = readdir(d)) != NULL) {
        if (!ends_with(de->d_name, ".expected")) continue;
        char input[512], expected[512], name[256];
        size_t stem = strlen(de->d_name) - strlen(".expected");
        snprintf(name, sizeof name, "%.*s", (int)stem, de->d_name);
        if (!ends_with(name, ".csv") && !ends_with(name, ".gz"))
            strncat(name, ".csv", sizeof name - strlen(name) - 1);
        snprintf(input, sizeof input, "%s/%s", CORPUS, name);
        snprintf(expected, sizeof expected, "%s/%s", CORPUS, de->d_name);
        char *want = slurp(expected);
        char *got = render(input, name, NULL);
        if (strcmp(want, got) != 0) {
            fprintf(stderr, "corpus case %s:\n--- expected\n%s--- got\n%s", name, want, got);
            fail();
        }
        free(want);
        free(got);
        cases++;
    }
    closedir(d);
    assert_true(cases >= 12);
}

static void truncated_gzip_is_fatal_after_good_records(void **state)
{
    (void)state;
    PsErr err = {{0}};
    CsvReader *r = NULL;
    assert_int_equal(csv_open(&r, CORPUS "/truncated.csv.gz", "truncated.csv.gz", NULL, &err),
                     PS_OK);
    assert_true(csv_is_gzip(r));
    int got = 0, records = 0;
    PsStatus rc;
    while ((rc = csv_next(r, &got, &err)) == PS_OK && got) {
        /* every record delivered before the damage is whole */
        if (records > 0) {
            long i = atol(csv_field(r, 0, NULL));
            assert_int_equal(atol(csv_field(r, 1, NULL)), i * i);
        }
        records++;
    }
    assert_int_equal(rc, PS_ERR_IO);
    assert_string_equal(err.msg, "truncated.csv.gz: truncated gzip");
    assert_true(records > 100);
    csv_close(r);
}

static void corrupt_gzip_is_fatal(void **state)
{
    (void)state;
    PsErr err = {{0}};
    CsvReader *r = NULL;
    assert_int_equal(csv_open(&r, CORPUS "/corrupt.csv.gz", "corrupt.csv.gz", NULL, &err), PS_OK);
    int got = 0;
    PsStatus rc;
    while ((rc = csv_next(r, &got, &err)) == PS_OK && got) {
    }
    assert_int_equal(rc, PS_ERR_IO);
    assert_non_null(strstr(err.msg, "corrupt.csv.gz: corrupt gzip"));
    csv_close(r);
}

static void missing_file_names_it(void **state)
{
    (void)state;
    PsErr err = {{0}};
    CsvReader *r = (CsvReader *)1;
    assert_int_equal(csv_open(&r, CORPUS "/no-such.csv", NULL, NULL, &err), PS_ERR_IO);
    assert_null(r);
    assert_string_equal(err.msg, CORPUS "/no-such.csv: No such file or directory");
}

static char *write_temp(const void *data, size_t n)
{
    char *path = strdup("/tmp/ps_test_csv_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    return path;
}

static void limits_skip_bad_records_and_go_on(void **state)
{
    (void)state;
    const char *text = "a,b\n"
                       "12345678,x\n"       /* field of exactly 8 bytes: fine */
                       "123456789,x\n"      /* 9 bytes: too long */
                       "\"12\"\"4567\",y\n" /* unquoted to 7 bytes: fine */
                       "1,2,3,4\n"          /* 4 columns: too many */
                       "1,2,3\n"            /* 3: fine */
                       "\"a\n\nb\n\nc\n\nd\n\ne\n\nf\n\ng\n\nh\n\ni\n\n\",long\n"
                       "last,1\n";
    char *path = write_temp(text, strlen(text));
    CsvLimits lim = {.max_field = 8, .max_record = 16, .max_columns = 3};
    char *got = render(path, "t.csv", &lim);
    const char *want = "1: \"a\",\"b\"\n"
                       "2: \"12345678\",\"x\"\n"
                       "ERR t.csv:3: field longer than 8 bytes\n"
                       "4: \"12\\\"4567\",\"y\"\n"
                       "ERR t.csv:5: more than 3 columns\n"
                       "6: \"1\",\"2\",\"3\"\n"
                       "ERR t.csv:7: record longer than 16 bytes\n"
                       "26: \"last\",\"1\"\n";
    if (strcmp(got, want) != 0) fprintf(stderr, "got:\n%s", got);
    assert_string_equal(got, want);
    free(got);
    unlink(path);
    free(path);
}

/* A record too long to hold in the buffer is skipped by the state machine, which must follow
 * quotes (a quoted newline does not end it) and count lines. */
static void long_record_skip_follows_quotes(void **state)
{
    (void)state;
    Str file = {0};
    str_puts(&file, "h1,h2\n\"");
    for (int i = 0; i < 30000; i++)
        str_puts(&file, "text, \"\"quoted\"\"\nand more text ....\n");
    str_puts(&file, "\",tail\r\nnext,\"ok\"\r\n");
    char *path = write_temp(file.p, file.n);
    CsvLimits lim = {.max_record = 1 << 20};
    char *got = render(path, "long.csv", &lim);
    const char *want = "1: \"h1\",\"h2\"\n"
                       "ERR long.csv:2: record longer than 1048576 bytes\n"
                       "60003: \"next\",\"ok\"\n";
    if (strcmp(got, want) != 0) fprintf(stderr, "got:\n%.400s", got);
    assert_string_equal(got, want);
    free(got);
    free(file.p);
    unlink(path);
    free(path);
}

/* Random records with every awkward character, written as RFC 4180, must come back exactly,
 * wherever the 1 MiB read blocks happen to cut them. */
static void random_records_round_trip(void **state)
{
    (void)state;
    static const char alphabet[] = "abc,\"\n\r 019.-";
    Rng rng;
    rng_seed(&rng, 7);
    enum { NREC = 40000, NCOL = 5, MAXLEN = 40 };
    char(*fields)[NCOL][MAXLEN + 1] = calloc(NREC, sizeof *fields);
    assert_non_null(fields);
    Str file = {0};
    str_puts(&file, "");
    for (int i = 0; i < NREC; i++) {
        for (int c = 0; c < NCOL; c++) {
            int len = (int)rng_below(&rng, MAXLEN + 1);
            if (c == 0 && len == 0) len = 1; /* an empty single field would be a blank line */
            for (int k = 0; k < len; k++)
                fields[i][c][k] = alphabet[rng_below(&rng, sizeof alphabet - 1)];
            fields[i][c][len] = 0;
            const char *f = fields[i][c];
            int quote = strpbrk(f, ",\"\n\r") != NULL || rng_below(&rng, 4) == 0;
            if (c) str_puts(&file, ",");
            if (quote) {
                str_puts(&file, "\"");
                for (const char *p = f; *p; p++)
                    str_add(&file, *p == '"' ? "\"\"" : p, *p == '"' ? 2 : 1);
                str_puts(&file, "\"");
            } else {
                str_puts(&file, f);
            }
        }
        str_puts(&file, rng_below(&rng, 2) ? "\r\n" : "\n");
    }
    char *path = write_temp(file.p, file.n);
    PsErr err = {{0}};
    CsvReader *r = NULL;
    assert_int_equal(csv_open(&r, path, "rt.csv", NULL, &err), PS_OK);
    for (int i = 0; i < NREC; i++) {
        int got = 0;
        PsStatus rc = csv_next(r, &got, &err);
        if (rc != PS_OK) fprintf(stderr, "%s\n", err.msg);
        assert_int_equal(rc, PS_OK);
        assert_int_equal(got, 1);
        assert_int_equal(csv_nfields(r), NCOL);
        for (int c = 0; c < NCOL; c++)
            assert_string_equal(csv_field(r, c, NULL), fields[i][c]);
    }
    int got = 1;
    assert_int_equal(csv_next(r, &got, &err), PS_OK);
    assert_int_equal(got, 0);
    csv_close(r);
    unlink(path);
    free(path);
    free(file.p);
    free(fields);
}

/* Random bytes heavy in quotes, commas and line ends, under small limits: the reader never
 * crashes or overruns (run under ASan by `make asan`), every field is NUL-terminated and within
 * the limits, line numbers never go back, and every input ends with end-of-file. */
static void random_garbage_is_handled(void **state)
{
    (void)state;
    static const char alphabet[] = "\",\n\r\"\",ab\xef\xbb\xbf\x00 ";
    Rng rng;
    rng_seed(&rng, 99);
    char *buf = malloc(4096);
    assert_non_null(buf);
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = rng_below(&rng, 4096);
        for (size_t i = 0; i < n; i++) buf[i] = alphabet[rng_below(&rng, sizeof alphabet - 1)];
        char *path = write_temp(buf, n);
        CsvLimits lim = {.max_field = 1 + rng_below(&rng, 64),
                         .max_record = 1 + rng_below(&rng, 512),
                         .max_columns = 1 + (int)rng_below(&rng, 16)};
        PsErr err = {{0}};
        CsvReader *r = NULL;
        assert_int_equal(csv_open(&r, path, "g.csv", &lim, &err), PS_OK);
        int64_t last_line = 0;
        for (int k = 0;; k++) {
            assert_true(k <= (int)n + 1);
            int got = 0;
            PsStatus rc = csv_next(r, &got, &err);
            assert_true(rc == PS_OK || rc == PS_ERR_PARSE);
            assert_true(csv_line(r) >= last_line);
            last_line = csv_line(r);
            if (rc == PS_ERR_PARSE) continue;
            if (!got) break;
            assert_true(csv_nfields(r) >= 1 && csv_nfields(r) <= lim.max_columns);
            for (int i = 0; i < csv_nfields(r); i++) {
                size_t len;
                const char *f = csv_field(r, i, &len);
                assert_true(len <= lim.max_field);
                assert_int_equal(f[len], '\0');
            }
        }
        int got = 1;
        assert_int_equal(csv_next(r, &got, &err), PS_OK);
        assert_int_equal(got, 0);
        csv_close(r);
        unlink(path);
        free(path);
    }
    free(buf);
}

/* A huge line without a newline (gzip-compressed so the test file stays small) is skipped
 * as one bad record with memory bounded by the record limit, not by the line. */
static void huge_line_memory_is_bounded(void **state)
{
    (void)state;
    const char *long_env = getenv("PS_TEST_LONG");
    size_t total = (long_env && *long_env == '1') ? ((size_t)2 << 30) : ((size_t)256 << 20);
    char path[] = "/tmp/ps_test_csv_hugeXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    gzFile gz = gzdopen(fd, "wb1");
    assert_non_null(gz);
    assert_int_equal(gzputs(gz, "a,b\n"), 4);
    char *block = malloc(1 << 20);
    assert_non_null(block);
    memset(block, 'x', 1 << 20);
    for (size_t done = 0; done < total; done += 1 << 20)
        assert_int_equal(gzwrite(gz, block, 1 << 20), 1 << 20);
    free(block);
    assert_int_equal(gzclose(gz), Z_OK);

    PsErr err = {{0}};
    CsvReader *r = NULL;
    assert_int_equal(csv_open(&r, path, "huge.csv.gz", NULL, &err), PS_OK);
    int got = 0;
    assert_int_equal(csv_next(r, &got, &err), PS_OK);
    assert_int_equal(got, 1);
    assert_int_equal(csv_next(r, &got, &err), PS_ERR_PARSE);
    assert_string_equal(err.msg, "huge.csv.gz:2: record longer than 4194304 bytes");
    assert_int_equal(csv_next(r, &got, &err), PS_OK);
    assert_int_equal(got, 0);
    csv_close(r);
    unlink(path);
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    assert_true(ru.ru_maxrss < 256 * 1024); /* kB */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(corpus_exact_output),
        cmocka_unit_test(truncated_gzip_is_fatal_after_good_records),
        cmocka_unit_test(corrupt_gzip_is_fatal),
        cmocka_unit_test(missing_file_names_it),
        cmocka_unit_test(limits_skip_bad_records_and_go_on),
        cmocka_unit_test(long_record_skip_follows_quotes),
        cmocka_unit_test(random_records_round_trip),
        cmocka_unit_test(random_garbage_is_handled),
        cmocka_unit_test(huge_line_memory_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
