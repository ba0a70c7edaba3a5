/* test_import_bench.c — importing the benchmark pipeline's output: stays, labels, events and
 * splits from both listfile layouts, bad rows, clear failures, pairing with MIMIC-CXR, and
 * resuming after SIGKILL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/import_bench.h"
#include "store/import_cxr.h"
#include "store/store.h"
#include "tests/import_fixture.h"

#define FIX "tests/fixtures"
#define BENCH FIX "/benchmark"

static PsStatus run(const char *db, const char *dir, int64_t batch, Sink *sink, ImportBenchStats *s,
                    PsErr *err)
{
    Store *st = NULL;
    PsStatus rc = store_open(&st, db, STORE_OPEN_CREATE, err);
    if (rc) return rc;
    ImportBenchOptions o = {.dir = dir,
                            .batch_stays = batch,
                            .on_bad_row = sink_bad,
                            .on_progress = sink_progress,
                            .ctx = sink};
    rc = import_bench_run(st, &o, s, err);
    store_close(st);
    return rc;
}

static char *dump(const char *db)
{
    static const char *const q[] = {
        "SELECT * FROM patients ORDER BY subject_id",
        "SELECT * FROM stays ORDER BY stay_id",
        "SELECT stay_id, hours, channel, value, text FROM events ORDER BY 1, 2, 3, 4",
        "SELECT count(*) FROM events",
        "SELECT * FROM labels ORDER BY stay_id",
        "SELECT * FROM funnel ORDER BY source, step"};
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    size_t cap = 1 << 14, n = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
    for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
        sqlite3_stmt *s = NULL;
        assert_int_equal(sqlite3_prepare_v2(h, q[i], -1, &s, NULL), SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW)
            for (int c = 0; c < sqlite3_column_count(s); c++) {
                const unsigned char *v = sqlite3_column_text(s, c);
                size_t need = n + (v ? strlen((const char *)v) : 4) + 4;
                if (need > cap) {
                    out = realloc(out, cap = need * 2);
                    assert_non_null(out);
                }
                n += (size_t)sprintf(out + n, "%s%s", v ? (const char *)v : "NULL",
                                     c + 1 == sqlite3_column_count(s) ? "\n" : "|");
            }
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    return out;
}

static void benchmark_layout(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "bench");
    Sink sink = {0};
    ImportBenchStats s;
    PsErr err = {{0}};
    assert_int_equal(run(t.db, BENCH, 0, &sink, &s, &err), PS_OK);
    assert_int_equal(s.medfuse_listfiles, 0);
    assert_int_equal(s.funnel[0], 3);
    assert_int_equal(s.funnel[1], 3);
    assert_int_equal(s.per_split[SPLIT_TRAIN], 2);
    assert_int_equal(s.per_split[SPLIT_VAL], 0);
    assert_int_equal(s.per_split[SPLIT_TEST], 1);
    assert_int_equal(s.events, 21);
    static const char *const want[] = {
        "root/all_stays.csv:5: unparsable id, age, time, los or mortality",
        "phenotyping/train/10000001_episode1_timeseries.csv:5: unknown category in column "
        "Glascow coma scale eye opening",
        "phenotyping/train/10000001_episode1_timeseries.csv:5: unparsable number in column "
        "Heart Rate",
        "phenotyping/train/listfile.csv:4: the stay in column stay_id is not in "
        "root/all_stays.csv",
        "phenotyping/test/listfile.csv:3: phenotype labels must be 0 or 1",
    };
    assert_int_equal(sink.n, 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(sink.msgs[i], want[i]);
    assert_int_equal(s.bad_rows, 5);
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM events WHERE stay_id = 30000001"), 17);
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM events WHERE stay_id = 30000001 AND "
                                 "channel = 6 AND value = 1 AND text = '1.0 ET/Trach'"),
                     1);
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM events WHERE stay_id = 30000001 AND "
                                 "channel = 0 AND value = 1 AND text = '1.0' AND hours = 9"),
                     1);
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM events WHERE stay_id = 30000001 AND "
                                 "channel = 15 AND abs(value - 79.8) < 1e-4"),
                     1);
    Store *st = NULL;
    assert_int_equal(store_open(&st, t.db, STORE_OPEN_READONLY, &err), PS_OK);
    uint8_t lab[CATALOG_N_PHENOTYPES];
    assert_int_equal(store_get_labels(st, 30000001, lab), PS_OK);
    int pos = 0;
    for (int i = 0; i < CATALOG_N_PHENOTYPES; i++)
        pos += lab[i];
    assert_int_equal(pos, 3);
    assert_int_equal(lab[13] + lab[23] + lab[24], 3);
    StoreStay ss;
    assert_int_equal(store_get_stay(st, 30000009, &ss), PS_OK);
    assert_int_equal(ss.mortality_inhospital, 1);
    assert_int_equal(ss.age, 55);
    assert_int_equal(ss.split, SPLIT_TRAIN);
    assert_string_equal(ss.last_careunit, "Cardiac Vascular Intensive Care Unit (CVICU)");
    assert_int_equal(store_get_stay(st, 30000010, &ss), PS_OK);
    assert_int_equal(ss.split, SPLIT_TEST);
    store_close(st);
    sh("rm -rf '%s'", t.dir);
}

static void medfuse_listfiles_and_pairing(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "bench");
    sh("cp -r '" BENCH "' '%s'", t.sub);
    /* MedFuse's top-level listfiles: validation carved out of train */
    sh("cd '%s/phenotyping' && head -1 train/listfile.csv > train_listfile.csv && "
       "cp train_listfile.csv val_listfile.csv && cp train_listfile.csv test_listfile.csv && "
       "sed -n 2p train/listfile.csv >> train_listfile.csv && "
       "sed -n 3p train/listfile.csv >> val_listfile.csv && "
       "sed -n 2p test/listfile.csv >> test_listfile.csv",
       t.sub);
    Sink sink = {0};
    ImportBenchStats s;
    PsErr err = {{0}};
    assert_int_equal(run(t.db, t.sub, 0, &sink, &s, &err), PS_OK);
    assert_int_equal(s.medfuse_listfiles, 1);
    assert_int_equal(s.per_split[SPLIT_TRAIN], 1);
    assert_int_equal(s.per_split[SPLIT_VAL], 1);
    assert_int_equal(s.per_split[SPLIT_TEST], 1);
    /* then MIMIC-CXR: the latest AP within 30000001's stay pairs; radiographs follow splits */
    Store *st = NULL;
    assert_int_equal(store_open(&st, t.db, STORE_OPEN_READWRITE, &err), PS_OK);
    ImportCxrOptions co = {.dir = FIX "/mimic_cxr"};
    ImportCxrStats cs;
    assert_int_equal(import_cxr_run(st, &co, &cs, &err), PS_OK);
    assert_int_equal(cs.pairs, 1);
    char dicom[96];
    assert_int_equal(store_get_pair(st, 30000001, dicom, sizeof dicom), PS_OK);
    assert_string_equal(dicom, "0a000002-aaaaaaaa-bbbbbbbb-cccccccc-00000002");
    StoreRadiograph r;
    unsigned char *jpg;
    assert_int_equal(
        store_get_radiograph(st, "0b000001-aaaaaaaa-bbbbbbbb-cccccccc-00000006", &r, &jpg), PS_OK);
    assert_int_equal(r.split, SPLIT_VAL); /* subject 10000006's stay is in validation */
    assert_int_equal(
        store_get_radiograph(st, "0c000001-aaaaaaaa-bbbbbbbb-cccccccc-00000007", &r, &jpg), PS_OK);
    assert_int_equal(r.split, SPLIT_TEST);
    store_close(st);
    sh("rm -rf '%s'", t.dir);
}

static void clear_failures(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "bench");
    Sink sink = {0};
    ImportBenchStats s;
    PsErr err = {{0}};
    assert_int_equal(run(t.db, FIX "/mimic_cxr", 0, &sink, &s, &err), PS_ERR_NOTFOUND);
    assert_string_equal(err.msg, FIX "/mimic_cxr: root/all_stays.csv is missing (is this the "
                                     "output of the benchmark pipeline?)");
    sh("cp -r '" BENCH "' '%s' && rm '%s/phenotyping/test/listfile.csv'", t.sub, t.sub);
    assert_int_equal(run(t.db, t.sub, 0, &sink, &s, &err), PS_ERR_NOTFOUND);
    char want[600];
    snprintf(want, sizeof want,
             "%s: phenotyping/test/listfile.csv is missing (and no MedFuse "
             "{train,val,test}_listfile.csv)",
             t.sub);
    assert_string_equal(err.msg, want);
    sh("printf 'stay,stay_id\\n' > '%s/phenotyping/test/listfile.csv'", t.sub);
    assert_int_equal(run(t.db, t.sub, 0, &sink, &s, &err), PS_ERR_PARSE);
    assert_string_equal(err.msg,
                        "phenotyping/test/listfile.csv:1: header lacks column 'period_length'");
    sh("rm -rf '%s'", t.dir);
}

typedef struct {
    const char *db, *dir;
} KillArg;

static PsStatus kill_arg_run(void *arg, Sink *sink)
{
    KillArg *a = arg;
    ImportBenchStats s;
    PsErr err = {{0}};
    return run(a->db, a->dir, 1, sink, &s, &err);
}

static int killed_run(const char *db, const char *dir, int at_bad, int at_progress)
{
    KillArg a = {db, dir};
    return killed_import(kill_arg_run, &a, at_bad, at_progress);
}

static void killed_import_resumes_to_the_same_rows(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "bench");
    Sink sink = {0};
    ImportBenchStats s;
    PsErr err = {{0}};
    assert_int_equal(run(t.db, BENCH, 1, &sink, &s, &err), PS_OK);
    char *clean = dump(t.db);
    int kills = 0;
    for (int mode = 0; mode < 2; mode++)
        for (int k = 1; k <= 5; k++) {
            char db[400];
            snprintf(db, sizeof db, "%s/k%d_%d.db", t.dir, mode, k);
            kills += mode == 0 ? killed_run(db, BENCH, k, 0) : killed_run(db, BENCH, 0, k);
            Sink s2 = {0};
            assert_int_equal(run(db, BENCH, 1, &s2, &s, &err), PS_OK);
            char *got = dump(db);
            assert_string_equal(got, clean);
            assert_int_equal(s.bad_rows, 5);
            free(got);
        }
    assert_true(kills >= 8);
    free(clean);
    sh("rm -rf '%s'", t.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(benchmark_layout),
        cmocka_unit_test(medfuse_listfiles_and_pairing),
        cmocka_unit_test(clear_failures),
        cmocka_unit_test(killed_import_resumes_to_the_same_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
