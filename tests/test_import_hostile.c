/* test_import_hostile.c — the MIMIC-IV importer's memory on a line that never ends. A table
 * holding a huge line without a newline (a sparse file: no disk, little time; gzip made of
 * repeated members: a few MB) must be imported in under 256 MB of peak RSS, measured on a
 * child process with wait4(): the line is one bad row named `file:line: record longer than N
 * bytes` and the rows around it are stored; as a header it stops the import with that one
 * line and a non-zero status, keeping what earlier batches committed. 400 MB lines in
 * `make test`, 2 GB under PS_TEST_LONG=1 (`make test-long`). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "store/import_mimic.h"
#include "store/store.h"
#include "tests/import_fixture.h"

#define FIX "tests/fixtures"
#define RES FIX "/mimic_resources"
#define LIMIT_KB (256 * 1024)
#define GOOD_ROW "10000001,20000001,30000001,1001,2180-01-01 11:30:00,,220045,77,77,bpm,0\n"

static uint64_t huge_size(void)
{
    const char *e = getenv("PS_TEST_LONG");
    return e && *e == '1' ? (uint64_t)2 << 30 : (uint64_t)400 << 20;
}

/* What the child learnt, sent back through a pipe. */
typedef struct {
    PsStatus rc;
    int bad;
    int64_t events;
    char msg[PS_ERRMSG_MAX]; /* err on failure, else the bad-row message about a long record */
} Outcome;

/* Imports dir into db in a child; returns its outcome and peak RSS (kB). */
static Outcome import_in_child(const char *db, const char *dir, long *maxrss_kb)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        Outcome o;
        memset(&o, 0, sizeof o);
        static Sink sink;
        ImportMimicStats s;
        PsErr err = {{0}};
        Store *st = NULL;
        o.rc = store_open(&st, db, STORE_OPEN_CREATE, &err);
        if (o.rc == PS_OK) {
            ImportMimicOptions opt = {.dir = dir,
                                      .definitions = RES "/phenotype_definitions_icd9_icd10.yaml",
                                      .itemids = RES "/itemid_to_variable_map.csv",
                                      .ranges = RES "/variable_ranges.csv",
                                      .on_bad_row = sink_bad,
                                      .ctx = &sink};
            o.rc = import_mimic_run(st, &opt, &s, &err);
            store_close(st);
        }
        o.bad = sink.n;
        if (o.rc)
            snprintf(o.msg, sizeof o.msg, "%s", err.msg);
        else
            for (int i = 0; i < sink.n && i < 64; i++)
                if (strstr(sink.msgs[i], "record longer"))
                    snprintf(o.msg, sizeof o.msg, "%s", sink.msgs[i]);
        o.events = o.rc ? -1 : s.events;
        _exit(write(fds[1], &o, sizeof o) == (ssize_t)sizeof o ? 0 : 1);
    }
    close(fds[1]);
    Outcome o;
    assert_int_equal(read(fds[0], &o, sizeof o), (ssize_t)sizeof o);
    close(fds[0]);
    int status = 0;
    struct rusage ru;
    assert_int_equal(wait4(pid, &status, 0, &ru), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    *maxrss_kb = ru.ru_maxrss;
    return o;
}

static void append(const char *path, const char *text)
{
    FILE *f = fopen(path, "ab");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Extends path by n zero bytes without writing them (a hole). */
static void extend_sparse(const char *path, uint64_t n)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(ftruncate(fd, (off_t)((uint64_t)sb.st_size + n)), 0);
    assert_int_equal(close(fd), 0);
}

/* A copy of the v2 fixture tree in a fresh t; chart receives its chartevents.csv path. */
static void fixture_tree(Tmp *t, char *chart, size_t n)
{
    tmp_make_named(t, "tree");
    sh("cp -r " FIX "/mimic_iv_v2 '%s'", t->sub);
    snprintf(chart, n, "%s/icu/chartevents.csv", t->sub);
}

/* Imports t's tree in a child, which must succeed with the huge line as one bad row named msg
 * (besides the fixture's 9), store the want events of a clean import and peak under LIMIT_KB. */
static void expect_one_more_bad_row(const Tmp *t, const char *msg, int64_t want)
{
    long kb = 0;
    Outcome o = import_in_child(t->db, t->sub, &kb);
    assert_int_equal(o.rc, PS_OK);
    assert_int_equal(o.bad, 10); /* the fixture's 9 and the huge line */
    assert_string_equal(o.msg, msg);
    assert_int_equal(o.events, want);
    print_message("peak RSS %ld kB for a %llu-byte line\n", kb, (unsigned long long)huge_size());
    assert_true(kb < LIMIT_KB);
}

/* The events a clean import of the unchanged fixture stores, plus the appended good row. */
static int64_t clean_events(void)
{
    Tmp t;
    char p[400];
    fixture_tree(&t, p, sizeof p);
    append(p, GOOD_ROW);
    long kb = 0;
    Outcome o = import_in_child(t.db, t.sub, &kb);
    assert_int_equal(o.rc, PS_OK);
    tmp_clean(&t);
    return o.events;
}

static void huge_last_line_is_one_bad_row(void **state)
{
    (void)state;
    int64_t want = clean_events();
    Tmp t;
    char p[400];
    fixture_tree(&t, p, sizeof p);
    append(p, GOOD_ROW);
    extend_sparse(p, huge_size()); /* line 41: zero bytes to the end, no newline */
    expect_one_more_bad_row(&t, "icu/chartevents.csv:41: record longer than 4194304 bytes", want);
    tmp_clean(&t);
}

static void huge_line_mid_file_the_rest_is_read(void **state)
{
    (void)state;
    int64_t want = clean_events();
    Tmp t;
    char p[400];
    fixture_tree(&t, p, sizeof p);
    /* the fixture's rows, then the huge line, then the good row after it */
    extend_sparse(p, huge_size());
    append(p, "\n" GOOD_ROW);
    expect_one_more_bad_row(&t, "icu/chartevents.csv:40: record longer than 4194304 bytes", want);
    tmp_clean(&t);
}

/* chartevents.csv.gz: one member with the table and the good row, then members of 16 MB of
 * 'x' each (the same bytes repeated: a multi-member gzip is one stream to the reader). */
static void huge_gzip_line_is_bounded(void **state)
{
    (void)state;
    int64_t want = clean_events();
    Tmp t;
    char plain[400], gz[400], member[400];
    fixture_tree(&t, plain, sizeof plain);
    snprintf(gz, sizeof gz, "%s/icu/chartevents.csv.gz", t.sub);
    snprintf(member, sizeof member, "%s/member.gz", t.dir);
    append(plain, GOOD_ROW);
    sh("gzip -c '%s' > '%s' && rm '%s'", plain, gz, plain);
    enum { MEMBER = 16 << 20 };
    char *block = malloc(1 << 20);
    assert_non_null(block);
    memset(block, 'x', 1 << 20);
    gzFile g = gzopen(member, "wb9");
    assert_non_null(g);
    for (int i = 0; i < MEMBER >> 20; i++)
        assert_int_equal(gzwrite(g, block, 1 << 20), 1 << 20);
    assert_int_equal(gzclose(g), Z_OK);
    free(block);
    FILE *in = fopen(member, "rb"), *out = fopen(gz, "ab");
    assert_true(in && out);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, in);
    assert_true(n > 0 && n < sizeof buf); /* 16 MB of one byte compresses to a few kB */
    assert_true(feof(in));
    for (uint64_t done = 0; done < huge_size(); done += MEMBER)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    assert_int_equal(fclose(in), 0);
    assert_int_equal(fclose(out), 0);
    expect_one_more_bad_row(&t, "icu/chartevents.csv.gz:41: record longer than 4194304 bytes",
                            want);
    tmp_clean(&t);
}

/* A header that never ends: the table cannot be read, so the import stops with one line and a
 * failure; the cohort and the chartevents batches committed before it are kept, and a run
 * after the file is repaired finishes with the clean rows. */
static void huge_header_stops_and_keeps_what_was_stored(void **state)
{
    (void)state;
    int64_t want = clean_events();
    Tmp t;
    char p[400], lab[400];
    fixture_tree(&t, p, sizeof p);
    append(p, GOOD_ROW);
    snprintf(lab, sizeof lab, "%s/hosp/labevents.csv", t.sub);
    sh("cp '%s' '%s/labevents.keep' && : > '%s'", lab, t.dir, lab);
    extend_sparse(lab, huge_size());
    long kb = 0;
    Outcome o = import_in_child(t.db, t.sub, &kb);
    assert_int_not_equal(o.rc, PS_OK);
    assert_string_equal(o.msg, "hosp/labevents.csv:1: record longer than 4194304 bytes");
    assert_true(kb < LIMIT_KB);
    /* what was committed is there: the cohort and the chartevents rows */
    assert_true(q_i64(t.db, "SELECT count(*) FROM stays") > 0);
    int64_t chart = q_i64(t.db, "SELECT count(*) FROM events");
    assert_true(chart > 0 && chart < want);
    assert_int_equal(
        q_i64(t.db, "SELECT done FROM import_progress WHERE item = 'chartevents'"), 1);
    sh("mv '%s/labevents.keep' '%s'", t.dir, lab);
    o = import_in_child(t.db, t.sub, &kb);
    assert_int_equal(o.rc, PS_OK);
    assert_int_equal(o.events, want);
    tmp_clean(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(huge_last_line_is_one_bad_row),
        cmocka_unit_test(huge_line_mid_file_the_rest_is_read),
        cmocka_unit_test(huge_gzip_line_is_bounded),
        cmocka_unit_test(huge_header_stops_and_keeps_what_was_stored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
