/* test_import_cxr.c — the MIMIC-CXR-JPG importer: metadata and labels, images decoded and
 * resized on several threads (missing and corrupt ones), the pairing rule's edge cases after a
 * MIMIC-IV import, clear failures, resuming after SIGKILL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/import_cxr.h"
#include "store/import_mimic.h"
#include "store/jpeg.h"
#include "store/store.h"
#include "tests/import_fixture.h"

#define FIX "tests/fixtures"
#define CXR FIX "/mimic_cxr"
#define RES FIX "/mimic_resources"
#define D(n) "0" n "-aaaaaaaa-bbbbbbbb-cccccccc-000000"

/* A w x h gradient with a bright disc, so a resize that misplaces pixels shows. */
static unsigned char *picture(int w, int h)
{
    unsigned char *p = malloc((size_t)w * (size_t)h);
    assert_non_null(p);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double dx = x - w * 0.3, dy = y - h * 0.6;
            int v = (x * 200) / w + (y * 40) / h;
            if (dx * dx + dy * dy < (w * 0.15) * (w * 0.15)) v = 250;
            p[(size_t)y * (size_t)w + (size_t)x] = (unsigned char)(v > 255 ? 255 : v);
        }
    return p;
}

static void write_jpeg(const char *root, const char *rel, int w, int h, int truncate_to)
{
    char path[600], dir[600];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = 0;
    sh("mkdir -p '%s'", dir);
    unsigned char *pix = picture(w, h), *jpg = NULL;
    size_t n = 0;
    PsErr err = {{0}};
    assert_int_equal(jpeg_encode_gray(&jpg, &n, pix, w, h, 95, &err), PS_OK);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    size_t k = truncate_to > 0 ? (size_t)truncate_to : n;
    assert_int_equal(fwrite(jpg, 1, k, f), k);
    fclose(f);
    free(pix);
    free(jpg);
}

/* The fixture with images: all but ...0007 (missing) and ...0006 (cut to 300 bytes). */
static void make_tree(const char *dst)
{
    sh("cp -r '" CXR "' '%s'", dst);
    write_jpeg(dst, "files/p10/p10000001/s50000001/" D("a000001") "01.jpg", 300, 400, 0);
    write_jpeg(dst, "files/p10/p10000001/s50000002/" D("a000002") "02.jpg", 100, 50, 0);
    write_jpeg(dst, "files/p10/p10000001/s50000002/" D("a000003") "03.jpg", 64, 64, 0);
    write_jpeg(dst, "files/p10/p10000001/s50000003/" D("a000004") "04.jpg", 64, 64, 0);
    write_jpeg(dst, "files/p10/p10000001/s50000004/" D("a000005") "05.jpg", 64, 64, 0);
    write_jpeg(dst, "files/p10/p10000006/s50000005/" D("b000001") "06.jpg", 64, 64, 300);
    write_jpeg(dst, "files/p10/p10000099/s50000007/" D("d000001") "08.jpg", 64, 64, 0);
    write_jpeg(dst, "files/p10/p10000099/s50000008/" D("f000001") "10.jpg", 64, 64, 0);
}

static PsStatus run(const char *db, const char *dir, int side, int64_t batch, Sink *sink,
                    ImportCxrStats *s, PsErr *err)
{
    Store *st = NULL;
    PsStatus rc = store_open(&st, db, STORE_OPEN_CREATE, err);
    if (rc) return rc;
    ImportCxrOptions o = {.dir = dir,
                          .max_side = side,
                          .threads = 2,
                          .batch_rows = batch,
                          .on_bad_row = sink_bad,
                          .on_progress = sink_progress,
                          .ctx = sink};
    rc = import_cxr_run(st, &o, s, err);
    store_close(st);
    return rc;
}

static char *dump(const char *db)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT r.*, length(i.jpeg), hex(substr(i.jpeg, 1, 64)) "
                                        "FROM radiographs r LEFT JOIN radiograph_images i USING "
                                        "(dicom_id) ORDER BY dicom_id",
                                        -1, &s, NULL),
                     SQLITE_OK);
    size_t cap = 1 << 15, n = 0;
    char *out = calloc(1, cap);
    assert_non_null(out);
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
    sqlite3_close(h);
    return out;
}

static void study_time_and_resize(void **state)
{
    (void)state;
    int64_t t, day;
    assert_int_equal(import_mimic_parse_time("2180-05-06", 10, &day), 0);
    assert_int_equal(import_cxr_study_time("21800506", 8, "213014.531", 10, &t), 0);
    assert_int_equal(t, day + 21 * 3600 + 30 * 60 + 14);
    assert_int_equal(import_cxr_study_time("21800506", 8, "54003.0", 7, &t), 0);
    assert_int_equal(t, day + 5 * 3600 + 40 * 60 + 3);
    assert_int_equal(import_cxr_study_time("21800506", 8, "3", 1, &t), 0);
    assert_int_equal(t, day + 3);
    assert_int_equal(import_cxr_study_time("2180056", 7, "100000", 6, &t), -1);
    assert_int_equal(import_cxr_study_time("21800506", 8, "250000", 6, &t), -1);
    assert_int_equal(import_cxr_study_time("21800506", 8, "12:00", 5, &t), -1);
    assert_int_equal(import_cxr_study_time("21800506", 8, "", 0, &t), -1);
    /* resize: a constant stays constant; a 2x2 -> 1x1 averages */
    unsigned char src[4] = {10, 30, 50, 70}, dst[1];
    import_cxr_resize(dst, 1, 1, src, 2, 2);
    assert_int_equal(dst[0], 40);
    unsigned char *p = picture(300, 400), q[96 * 128];
    memset(p, 77, 300 * 400);
    import_cxr_resize(q, 96, 128, p, 300, 400);
    for (int i = 0; i < 96 * 128; i++)
        assert_int_equal(q[i], 77);
    free(p);
}

static void metadata_only(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "cxr");
    Sink sink = {0};
    ImportCxrStats s;
    PsErr err = {{0}};
    assert_int_equal(run(t.db, CXR, 0, 0, &sink, &s, &err), PS_OK);
    assert_int_equal(s.images_dir, 0);
    assert_int_equal(s.radiographs, 9);
    assert_int_equal(s.images, 0);
    assert_int_equal(s.without_labels, 1);
    assert_int_equal(s.recomputed, 0);
    static const char *const want[] = {
        "mimic-cxr-2.0.0-chexpert.csv:9: column Atelectasis must be 1.0, 0.0, -1.0 or empty",
        "mimic-cxr-2.0.0-split.csv:11: column split must be train, validate or test",
        "mimic-cxr-2.0.0-metadata.csv:10: unparsable date or time in column StudyDate or "
        "StudyTime",
        "mimic-cxr-2.0.0-metadata.csv:12: expected 12 columns, got 6",
    };
    assert_int_equal(sink.n, 4);
    for (int i = 0; i < 4; i++)
        assert_string_equal(sink.msgs[i], want[i]);
    assert_int_equal(s.bad_rows, 4);
    Store *st = NULL;
    assert_int_equal(store_open(&st, t.db, STORE_OPEN_READONLY, &err), PS_OK);
    StoreRadiograph r;
    unsigned char *jpg = (unsigned char *)1;
    assert_int_equal(store_get_radiograph(st, D("a000001") "01", &r, &jpg), PS_OK);
    assert_null(jpg);
    assert_string_equal(r.view, "AP");
    assert_int_equal(r.subject_id, 10000001);
    assert_int_equal(r.study_id, 50000001);
    assert_int_equal(r.split, SPLIT_TRAIN);
    /* positive, uncertain, missing and negative kept apart */
    assert_int_equal(r.chexpert[0], CHEX_POSITIVE);
    assert_int_equal(r.chexpert[1], CHEX_UNCERTAIN);
    assert_int_equal(r.chexpert[2], CHEX_MISSING);
    assert_int_equal(r.chexpert[3], CHEX_NEGATIVE);
    assert_int_equal(r.chexpert[13], CHEX_POSITIVE);
    int64_t t0;
    assert_int_equal(import_mimic_parse_time("2180-01-01 12:15:00", 19, &t0), 0);
    assert_int_equal(r.study_time, t0);
    assert_int_equal(store_get_radiograph(st, D("a000002") "02", &r, &jpg), PS_OK);
    assert_int_equal(import_mimic_parse_time("2180-01-02 08:00:00", 19, &t0), 0);
    assert_int_equal(r.study_time, t0);
    assert_int_equal(store_get_radiograph(st, D("f000001") "10", &r, &jpg), PS_OK);
    assert_string_equal(r.view, "");
    assert_int_equal(r.split, SPLIT_VAL);
    for (int i = 0; i < CATALOG_N_CHEXPERT; i++)
        assert_int_equal(r.chexpert[i], CHEX_MISSING);
    assert_int_equal(store_get_radiograph(st, D("d000001") "08", &r, &jpg), PS_OK);
    assert_int_equal(r.split, SPLIT_TEST); /* official split: no stays in this store */
    store_close(st);
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM radiographs WHERE path = 'files/p10/"
                                 "p10000001/s50000001/" D("a000001") "01.jpg'"),
                     1);
    tmp_clean(&t);
}

static void images_decoded_resized_and_kept(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "cxr");
    make_tree(t.sub);
    Sink sink = {0};
    ImportCxrStats s;
    PsErr err = {{0}};
    assert_int_equal(run(t.db, t.sub, 128, 3, &sink, &s, &err), PS_OK);
    assert_int_equal(s.images_dir, 1);
    assert_int_equal(s.radiographs, 9);
    assert_int_equal(s.images, 7);
    assert_int_equal(s.images_this_run, 7);
    int missing = 0, corrupt = 0;
    for (int i = 0; i < sink.n; i++) {
        if (strcmp(sink.msgs[i], "files/p10/p10000007/s50000006/" D("c000001") "07.jpg: image "
                                                                               "missing") == 0)
            missing++;
        static const char bad_jpeg[] = "files/p10/p10000006/s50000005/" D("b000001") "06.jpg: JPEG";
        if (strncmp(sink.msgs[i], bad_jpeg, sizeof bad_jpeg - 1) == 0) corrupt++;
    }
    assert_int_equal(missing, 1);
    assert_int_equal(corrupt, 1);
    assert_int_equal(sink.n, 6);
    Store *st = NULL;
    assert_int_equal(store_open(&st, t.db, STORE_OPEN_READONLY, &err), PS_OK);
    StoreRadiograph r;
    unsigned char *jpg = NULL;
    /* 300 x 400 -> 96 x 128; compare with the same resize of the original */
    assert_int_equal(store_get_radiograph(st, D("a000001") "01", &r, &jpg), PS_OK);
    assert_non_null(jpg);
    assert_int_equal(r.width, 96);
    assert_int_equal(r.height, 128);
    unsigned char *pix = NULL;
    int w, h;
    assert_int_equal(jpeg_decode_gray(&pix, &w, &h, jpg, r.jpeg_size, 0, 0, "stored", &err), PS_OK);
    assert_int_equal(w, 96);
    assert_int_equal(h, 128);
    unsigned char *orig = picture(300, 400), want[96 * 128];
    import_cxr_resize(want, 96, 128, orig, 300, 400);
    double mad = 0;
    for (int i = 0; i < 96 * 128; i++)
        mad += fabs((double)pix[i] - want[i]);
    mad /= 96 * 128;
    if (mad > 4) fprintf(stderr, "mean abs difference %.2f\n", mad);
    assert_true(mad <= 4); /* two JPEG generations and DCT-scaled decoding */
    free(pix);
    free(orig);
    free(jpg);
    /* smaller than --side: kept at its size */
    assert_int_equal(store_get_radiograph(st, D("a000002") "02", &r, &jpg), PS_OK);
    assert_int_equal(r.width, 100);
    assert_int_equal(r.height, 50);
    free(jpg);
    /* a missing or corrupt image leaves its metadata, without image */
    assert_int_equal(store_get_radiograph(st, D("b000001") "06", &r, &jpg), PS_OK);
    assert_null(jpg);
    assert_int_equal(r.width, 0);
    assert_int_equal(r.chexpert[1], CHEX_POSITIVE);
    store_close(st);
    tmp_clean(&t);
}

static void pairing_rule_after_both_imports(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "cxr");
    Store *st = NULL;
    PsErr err = {{0}};
    assert_int_equal(store_open(&st, t.db, STORE_OPEN_CREATE, &err), PS_OK);
    ImportMimicOptions mo = {.dir = FIX "/mimic_iv_v2",
                             .definitions = RES "/phenotype_definitions_icd9_icd10.yaml",
                             .itemids = RES "/itemid_to_variable_map.csv",
                             .ranges = RES "/variable_ranges.csv"};
    ImportMimicStats ms;
    assert_int_equal(import_mimic_run(st, &mo, &ms, &err), PS_OK);
    store_close(st);
    Sink sink = {0};
    ImportCxrStats s;
    assert_int_equal(run(t.db, CXR, 0, 0, &sink, &s, &err), PS_OK);
    assert_int_equal(s.recomputed, 1);
    /* two APs in the stay: the later; a later PA in the stay does not count; PA only and an
     * AP outside the stay: unpaired */
    assert_int_equal(s.pairs, 1);
    assert_int_equal(store_open(&st, t.db, STORE_OPEN_READONLY, &err), PS_OK);
    char dicom[96];
    assert_int_equal(store_get_pair(st, 30000001, dicom, sizeof dicom), PS_OK);
    assert_string_equal(dicom, D("a000002") "02");
    assert_int_equal(store_get_pair(st, 30000009, dicom, sizeof dicom), PS_ERR_NOTFOUND);
    assert_int_equal(store_get_pair(st, 30000010, dicom, sizeof dicom), PS_ERR_NOTFOUND);
    /* radiographs follow their subject's EHR split (val/test), all others train */
    StoreStay ss;
    StoreRadiograph r;
    unsigned char *jpg;
    const struct {
        int64_t stay;
        const char *dicom;
    } subj[3] = {{30000001, D("a000001") "01"},
                 {30000009, D("b000001") "06"},
                 {30000010, D("c000001") "07"}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(store_get_stay(st, subj[i].stay, &ss), PS_OK);
        assert_int_equal(store_get_radiograph(st, subj[i].dicom, &r, &jpg), PS_OK);
        assert_int_equal(r.split, ss.split == SPLIT_TRAIN ? SPLIT_TRAIN : ss.split);
    }
    assert_int_equal(store_get_radiograph(st, D("d000001") "08", &r, &jpg), PS_OK);
    assert_int_equal(r.split, SPLIT_TRAIN); /* no stay: training radiograph (official: test) */
    store_close(st);
    tmp_clean(&t);
}

static void clear_failures(void **state)
{
    (void)state;
    Tmp t;
    tmp_make_named(&t, "cxr");
    Sink sink = {0};
    ImportCxrStats s;
    PsErr err = {{0}};
    assert_int_equal(run(t.db, "/nonexistent/cxr", 0, 0, &sink, &s, &err), PS_ERR_NOTFOUND);
    assert_string_equal(err.msg, "/nonexistent/cxr: No such file or directory");
    sh("cp -r '" CXR "' '%s' && rm '%s/mimic-cxr-2.0.0-split.csv'", t.sub, t.sub);
    assert_int_equal(run(t.db, t.sub, 0, 0, &sink, &s, &err), PS_ERR_NOTFOUND);
    char want[600];
    snprintf(want, sizeof want,
             "%s: mimic-cxr-2.0.0-split.csv[.gz] is missing (is this a "
             "MIMIC-CXR-JPG 2.0.0 directory?)",
             t.sub);
    assert_string_equal(err.msg, want);
    sh("cp '" CXR "/mimic-cxr-2.0.0-split.csv' '%s/' && gzip '%s/mimic-cxr-2.0.0-metadata.csv' "
       "&& head -c 200 '%s/mimic-cxr-2.0.0-metadata.csv.gz' > '%s/x' && "
       "mv '%s/x' '%s/mimic-cxr-2.0.0-metadata.csv.gz'",
       t.sub, t.sub, t.sub, t.sub, t.sub, t.sub);
    assert_int_equal(run(t.db, t.sub, 0, 0, &sink, &s, &err), PS_ERR_IO);
    assert_string_equal(err.msg, "mimic-cxr-2.0.0-metadata.csv.gz: truncated gzip");
    assert_int_equal(q_i64(t.db, "SELECT count(*) FROM radiographs"), 0);
    tmp_clean(&t);
}

typedef struct {
    const char *db, *dir;
} KillArg;

static PsStatus kill_arg_run(void *arg, Sink *sink)
{
    KillArg *a = arg;
    ImportCxrStats s;
    PsErr err = {{0}};
    return run(a->db, a->dir, 128, 2, sink, &s, &err);
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
    tmp_make_named(&t, "cxr");
    make_tree(t.sub);
    Sink sink = {0};
    ImportCxrStats s;
    PsErr err = {{0}};
    assert_int_equal(run(t.db, t.sub, 128, 2, &sink, &s, &err), PS_OK);
    char *clean = dump(t.db);
    int64_t bad = s.bad_rows;
    int kills = 0;
    for (int mode = 0; mode < 2; mode++)
        for (int k = 1; k <= 6; k++) {
            char db[400];
            snprintf(db, sizeof db, "%s/k%d_%d.db", t.dir, mode, k);
            kills += mode == 0 ? killed_run(db, t.sub, k, 0) : killed_run(db, t.sub, 0, k);
            Sink s2 = {0};
            assert_int_equal(run(db, t.sub, 128, 2, &s2, &s, &err), PS_OK);
            char *got = dump(db);
            assert_string_equal(got, clean);
            assert_int_equal(s.bad_rows, bad);
            free(got);
        }
    assert_true(kills >= 10);
    free(clean);
    tmp_clean(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(study_time_and_resize),
        cmocka_unit_test(metadata_only),
        cmocka_unit_test(images_decoded_resized_and_kept),
        cmocka_unit_test(pairing_rule_after_both_imports),
        cmocka_unit_test(clear_failures),
        cmocka_unit_test(killed_import_resumes_to_the_same_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
