/* test_demo.c — the demo cohort: deterministic, Table-1 shaped, decodable, following the pairing
 * rule, and carrying the signal it promises (shock lowers MAP, CHF shows on the film). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/demo.h"
#include "store/jpeg.h"
#include "store/store.h"

#define N_STAYS 150

static char dir[64], path_a[128], path_b[128], path_c[128];
static Store *st; /* store A, open for the read tests */

static void generate(const char *path, uint64_t seed, int threads)
{
    Store *s = NULL;
    PsErr err = {{0}};
    if (store_open(&s, path, STORE_OPEN_CREATE, &err)) fail_msg("%s", err.msg);
    DemoConfig cfg;
    demo_config_init(&cfg);
    cfg.n_stays = N_STAYS;
    cfg.seed = seed;
    cfg.threads = threads;
    PsStatus rc = demo_generate(s, &cfg, NULL, &err);
    if (rc) fail_msg("demo_generate: %s", err.msg);
    store_close(s);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ps_demo_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path_a, sizeof path_a, "%s/a.db", dir);
    snprintf(path_b, sizeof path_b, "%s/b.db", dir);
    snprintf(path_c, sizeof path_c, "%s/c.db", dir);
    generate(path_a, 7, 2);
    generate(path_b, 7, 1); /* another thread count must not matter */
    generate(path_c, 8, 2);
    PsErr err = {{0}};
    return store_open(&st, path_a, STORE_OPEN_READONLY, &err) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    store_close(st);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* FNV-1a over every row of every cohort table (sources without its wall-clock time column). */
static uint64_t content_hash(const char *path)
{
    static const char *const q[] = {
        "SELECT * FROM patients ORDER BY 1",
        "SELECT * FROM stays ORDER BY 1",
        "SELECT * FROM events ORDER BY stay_id, hours, channel, value, text",
        "SELECT * FROM diagnoses ORDER BY 1, 2, 3, 4, 5",
        "SELECT * FROM icd_titles ORDER BY 1, 2",
        "SELECT * FROM labels ORDER BY 1",
        "SELECT * FROM radiographs ORDER BY 1",
        "SELECT * FROM radiograph_images ORDER BY 1",
        "SELECT * FROM pairs ORDER BY 1",
        "SELECT * FROM funnel ORDER BY 1, 2",
        "SELECT name, detail FROM sources ORDER BY 1",
    };
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    uint64_t h = 1469598103934665603ull;
    long rows = 0;
    for (size_t k = 0; k < sizeof q / sizeof q[0]; k++) {
        sqlite3_stmt *s;
        assert_int_equal(sqlite3_prepare_v2(db, q[k], -1, &s, NULL), SQLITE_OK);
        while (sqlite3_step(s) == SQLITE_ROW) {
            rows++;
            for (int c = 0; c < sqlite3_column_count(s); c++) {
                const unsigned char *b = sqlite3_column_blob(s, c);
                int n = sqlite3_column_bytes(s, c);
                h = (h ^ (uint64_t)sqlite3_column_type(s, c)) * 1099511628211ull;
                for (int i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
            }
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    assert_true(rows > 10000);
    return h;
}

static void same_seed_same_rows(void **state)
{
    (void)state;
    uint64_t a = content_hash(path_a), b = content_hash(path_b), c = content_hash(path_c);
    assert_true(a == b);
    assert_true(a != c);
}

static void table1_shape_in_every_split(void **state)
{
    (void)state;
    StoreSplitCounts c[STORE_N_SPLITS];
    assert_int_equal(store_split_counts(st, c), PS_OK);
    int64_t ehr = 0;
    for (int s = 0; s < STORE_N_SPLITS; s++) {
        if (!(c[s].n_cxr > c[s].n_ehr && c[s].n_ehr > c[s].n_pairs && c[s].n_pairs > 0))
            fail_msg("split %d: cxr %lld ehr %lld pairs %lld", s, (long long)c[s].n_cxr,
                     (long long)c[s].n_ehr, (long long)c[s].n_pairs);
        ehr += c[s].n_ehr;
    }
    assert_int_equal(ehr, N_STAYS);
    /* roughly 70/10/20 by subject */
    assert_in_range(c[SPLIT_TRAIN].n_ehr, N_STAYS * 60 / 100, N_STAYS * 80 / 100);
    assert_in_range(c[SPLIT_TEST].n_ehr, N_STAYS * 12 / 100, N_STAYS * 28 / 100);
}

typedef struct {
    long n, frontal_cm, frontal_other, views[3];
    double width_cm, width_other;
} ImgStats;

/* Fraction of the chest's width that is bright at heart level: the heart shadow plus spine. */
static double heart_width(const unsigned char *pix, int w, int h)
{
    int y0 = (int)(0.50 * h), y1 = (int)(0.60 * h), x0 = (int)(0.15 * w), x1 = (int)(0.85 * w);
    double col[4096], lo = 1e9, hi = -1e9;
    for (int x = x0; x < x1; x++) {
        double s = 0;
        for (int y = y0; y < y1; y++) s += pix[y * w + x];
        col[x] = s / (y1 - y0);
        if (col[x] < lo) lo = col[x];
        if (col[x] > hi) hi = col[x];
    }
    int n = 0;
    for (int x = x0; x < x1; x++) n += col[x] > lo + 0.5 * (hi - lo);
    return (double)n / (x1 - x0);
}

static int on_image(void *ctx, const StoreRadiograph *r)
{
    ImgStats *s = ctx;
    unsigned char *pix = NULL;
    int w, h;
    PsErr err = {{0}};
    assert_non_null(r->jpeg);
    if (jpeg_decode_gray(&pix, &w, &h, r->jpeg, r->jpeg_size, 0, 0, r->dicom_id, &err))
        fail_msg("%s", err.msg);
    assert_true(w >= 512 && h >= 512);
    assert_int_equal(w, r->width);
    s->n++;
    int v = strcmp(r->view, "PA") == 0 ? 0 : strcmp(r->view, "AP") == 0 ? 1 : strcmp(r->view, "LATERAL") == 0 ? 2 : -1;
    assert_true(v >= 0);
    s->views[v]++;
    if (v < 2) {
        double hw = heart_width(pix, w, h);
        if (r->chexpert[1] == CHEX_POSITIVE) s->width_cm += hw, s->frontal_cm++;
        else if (r->chexpert[8] == CHEX_POSITIVE) s->width_other += hw, s->frontal_other++;
    }
    /* No Finding is consistent with the other labels */
    if (r->chexpert[8] == CHEX_POSITIVE)
        for (int f = 0; f < CATALOG_N_CHEXPERT; f++)
            if (f != 8 && f != 13) assert_true(r->chexpert[f] != CHEX_POSITIVE && r->chexpert[f] != CHEX_UNCERTAIN);
    free(pix);
    return 0;
}

static void radiographs_decode_and_cardiomegaly_is_wider(void **state)
{
    (void)state;
    ImgStats s = {0};
    assert_int_equal(store_each_radiograph(st, -1, 1, on_image, &s), PS_OK);
    assert_true(s.n > 2 * N_STAYS);
    assert_true(s.views[0] > 0 && s.views[1] > 0 && s.views[2] > 0);
    assert_true(s.frontal_cm >= 5 && s.frontal_other >= 5);
    double cm = s.width_cm / s.frontal_cm, other = s.width_other / s.frontal_other;
    if (!(cm > other + 0.03)) fail_msg("heart width: cardiomegaly %.3f vs no finding %.3f", cm, other);
}

typedef struct {
    StoreRadiograph *r;
    long n, cap;
} RList;

static int collect(void *ctx, const StoreRadiograph *r)
{
    RList *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 1024;
        l->r = realloc(l->r, (size_t)l->cap * sizeof *l->r);
        assert_non_null(l->r);
    }
    l->r[l->n] = *r;
    l->r[l->n].jpeg = NULL;
    l->r[l->n].path = NULL;
    l->n++;
    return 0;
}

static RList films; /* radiograph metadata of store A */

typedef struct {
    long n, pos[CATALOG_N_PHENOTYPES], shock_sepsis, sepsis;
    double map_sum[2];
    long map_n[2];
    int64_t stay;
    int shock;
    int seen[CATALOG_N_CHANNELS];
    int ch_stay[CATALOG_N_CHANNELS];
    long chf_n[2], chf_heart[2];
} StayStats;

static int on_event(void *ctx, const StoreEvent *e)
{
    StayStats *s = ctx;
    assert_in_range(e->channel, 0, CATALOG_N_CHANNELS - 1);
    const CatalogChannel *c = &catalog_channels[e->channel];
    if (c->categorical) {
        assert_non_null(e->text);
        int k = catalog_category_index(e->channel, e->text);
        assert_true(k >= 0);
        assert_true(fabs(e->value - c->categories[k].score) < 1e-6);
    } else {
        assert_null(e->text);
        if (!(e->value >= c->valid_low && e->value <= c->valid_high))
            fail_msg("%s = %g outside [%g, %g]", c->name, e->value, c->valid_low, c->valid_high);
    }
    assert_true(e->hours >= 0);
    s->seen[e->channel] = 1;
    s->ch_stay[e->channel]++;
    if (e->channel == 10) s->map_sum[s->shock] += e->value, s->map_n[s->shock]++;
    return 0;
}

static int on_stay(void *ctx, const StoreStay *x)
{
    StayStats *s = ctx;
    uint8_t lab[CATALOG_N_PHENOTYPES];
    assert_int_equal(store_get_labels(st, x->stay_id, lab), PS_OK);
    s->n++;
    for (int p = 0; p < CATALOG_N_PHENOTYPES; p++) s->pos[p] += lab[p];
    s->sepsis += lab[23];
    s->shock_sepsis += lab[23] && lab[24];
    s->shock = lab[24];
    memset(s->ch_stay, 0, sizeof s->ch_stay);
    assert_int_equal(store_each_event(st, x->stay_id, on_event, s), PS_OK);
    /* every stay has the monitor's vitals, temperature and GCS */
    const int always[] = {1, 3, 4, 6, 8, 10, 11, 12, 13};
    for (size_t i = 0; i < sizeof always / sizeof always[0]; i++)
        if (!s->ch_stay[always[i]]) fail_msg("stay %lld lacks %s", (long long)x->stay_id, catalog_channels[always[i]].name);
    assert_true(x->age >= 18 && x->intime < x->outtime && x->los_days <= 10.01);
    assert_true(x->admittime <= x->intime && x->outtime <= x->dischtime);
    /* films taken during the stay report cardiomegaly or oedema more often with heart failure */
    for (long i = 0; i < films.n; i++) {
        const StoreRadiograph *r = &films.r[i];
        if (r->subject_id != x->subject_id || r->study_time < x->intime || r->study_time > x->outtime)
            continue;
        s->chf_n[lab[8]]++;
        s->chf_heart[lab[8]] += r->chexpert[1] != CHEX_NEGATIVE && r->chexpert[1] != CHEX_MISSING;
        s->chf_heart[lab[8]] += r->chexpert[3] != CHEX_NEGATIVE && r->chexpert[3] != CHEX_MISSING;
    }
    return 0;
}

static void stays_events_labels_and_signal(void **state)
{
    (void)state;
    StayStats s;
    memset(&s, 0, sizeof s);
    films.n = 0;
    assert_int_equal(store_each_radiograph(st, -1, 0, collect, &films), PS_OK);
    assert_int_equal(store_each_stay(st, -1, on_stay, &s), PS_OK);
    free(films.r);
    films.r = NULL, films.cap = 0;
    assert_int_equal(s.n, N_STAYS);
    for (int ch = 0; ch < CATALOG_N_CHANNELS; ch++)
        if (!s.seen[ch]) fail_msg("no events for %s", catalog_channels[ch].name);
    /* prevalence: common chronic labels far above rare acute ones */
    assert_true(s.pos[13] > 2 * s.pos[24]); /* hypertension vs shock */
    assert_true(s.pos[12] > 2 * s.pos[19]); /* lipids vs upper respiratory */
    assert_true(s.pos[3] > 2 * s.pos[15]);  /* dysrhythmias vs GI haemorrhage */
    assert_in_range(s.pos[13], N_STAYS / 5, N_STAYS * 3 / 5);
    /* co-occurrence through the shared infection factor */
    assert_true(s.sepsis > 0);
    assert_true((double)s.shock_sepsis / s.sepsis > (double)(s.pos[24] - s.shock_sepsis) / (s.n - s.sepsis));
    /* shock lowers the mean blood pressure */
    double m_shock = s.map_sum[1] / s.map_n[1], m_other = s.map_sum[0] / s.map_n[0];
    if (!(m_shock < m_other - 5)) fail_msg("MAP shock %.1f vs others %.1f", m_shock, m_other);
    /* positive or uncertain cardiomegaly/oedema mentions per film: higher with heart failure */
    assert_true(s.chf_n[0] > 0 && s.chf_n[1] > 0);
    double f1 = (double)s.chf_heart[1] / s.chf_n[1], f0 = (double)s.chf_heart[0] / s.chf_n[0];
    if (!(f1 > f0 + 0.2)) fail_msg("CHF cardiomegaly/oedema per film %.2f vs %.2f", f1, f0);
}

typedef struct {
    RList *l;
    long paired, outside_ap, non_ap_inside;
} PairCheck;

static int check_pair(void *ctx, const StoreStay *x)
{
    PairCheck *pc = ctx;
    const StoreRadiograph *best = NULL;
    for (long i = 0; i < pc->l->n; i++) {
        const StoreRadiograph *r = &pc->l->r[i];
        if (r->subject_id != x->subject_id) continue;
        int inside = r->study_time >= x->intime && r->study_time <= x->outtime;
        if (strcmp(r->view, "AP") != 0) {
            pc->non_ap_inside += inside;
            continue;
        }
        if (!inside) {
            pc->outside_ap++;
            continue;
        }
        if (!best || r->study_time > best->study_time ||
            (r->study_time == best->study_time && strcmp(r->dicom_id, best->dicom_id) > 0))
            best = r;
    }
    char dicom[96];
    PsStatus rc = store_get_pair(st, x->stay_id, dicom, sizeof dicom);
    if (!best) {
        assert_int_equal(rc, PS_ERR_NOTFOUND);
    } else {
        assert_int_equal(rc, PS_OK);
        assert_string_equal(dicom, best->dicom_id);
        pc->paired++;
    }
    return 0;
}

static void pairs_follow_the_rule(void **state)
{
    (void)state;
    RList l = {0};
    assert_int_equal(store_each_radiograph(st, -1, 0, collect, &l), PS_OK);
    PairCheck pc = {&l, 0, 0, 0};
    assert_int_equal(store_each_stay(st, -1, check_pair, &pc), PS_OK);
    /* the rule is exercised: AP films outside stays and non-AP films inside them exist */
    assert_true(pc.paired > 0 && pc.outside_ap > 0 && pc.non_ap_inside > 0);
    free(l.r);
}

static void refuses_a_store_with_data(void **state)
{
    (void)state;
    Store *s = NULL;
    PsErr err = {{0}};
    assert_int_equal(store_open(&s, path_c, STORE_OPEN_READWRITE, &err), PS_OK);
    DemoConfig cfg;
    demo_config_init(&cfg);
    cfg.n_stays = 5;
    assert_int_equal(demo_generate(s, &cfg, NULL, &err), PS_ERR_INVALID);
    assert_non_null(strstr(err.msg, "already holds"));
    cfg.n_stays = 0;
    assert_int_equal(demo_generate(s, &cfg, NULL, &err), PS_ERR_INVALID);
    store_close(s);
}

static void touch(const char *d, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", d, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fclose(f);
}

static int exists(const char *d, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", d, name);
    return access(p, F_OK) == 0;
}

/* A demo killed with SIGKILL leaves "<store>.demo-tmp-<pid>" (and -wal, -shm); the next run
 * removes those of dead processes only: a live one may be a demo still writing. */
static void stale_temps_of_dead_processes_removed(void **state)
{
    (void)state;
    char sd[] = "/tmp/ps_demo_stale_XXXXXX";
    assert_non_null(mkdtemp(sd));
    pid_t dead = fork();
    assert_true(dead >= 0);
    if (dead == 0) _exit(0);
    assert_int_equal(waitpid(dead, NULL, 0), dead);
    char name[128], live[128], other[128];
    snprintf(name, sizeof name, "s.db.demo-tmp-%ld", (long)dead);
    snprintf(live, sizeof live, "s.db.demo-tmp-%ld", (long)getpid());
    snprintf(other, sizeof other, "t.db.demo-tmp-%ld", (long)dead); /* another store's */
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    for (int i = 0; i < 4; i++) {
        char n[160];
        snprintf(n, sizeof n, "%s%s", name, suffix[i]);
        touch(sd, n);
    }
    touch(sd, live);
    touch(sd, other);
    touch(sd, "s.db.demo-tmp-12x"); /* not a pid: not ours to judge */
    touch(sd, "s.db");
    char store[128], tmp[160];
    snprintf(store, sizeof store, "%s/s.db", sd);
    PsErr err = {{0}};
    assert_int_equal(demo_temp_path(tmp, sizeof tmp, store, (long)dead, &err), PS_OK);
    assert_string_equal(strrchr(tmp, '/') + 1, name);
    int removed = -1;
    assert_int_equal(demo_remove_stale_temps(store, &removed, &err), PS_OK);
    assert_int_equal(removed, 4);
    for (int i = 0; i < 4; i++) {
        char n[160];
        snprintf(n, sizeof n, "%s%s", name, suffix[i]);
        assert_false(exists(sd, n));
    }
    assert_true(exists(sd, live));
    assert_true(exists(sd, other));
    assert_true(exists(sd, "s.db.demo-tmp-12x"));
    assert_true(exists(sd, "s.db"));
    /* a store in a directory not made yet: nothing to do */
    char none[160];
    snprintf(none, sizeof none, "%s/no/such/s.db", sd);
    assert_int_equal(demo_remove_stale_temps(none, &removed, &err), PS_OK);
    assert_int_equal(removed, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sd);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_seed_same_rows),
        cmocka_unit_test(table1_shape_in_every_split),
        cmocka_unit_test(radiographs_decode_and_cardiomegaly_is_wider),
        cmocka_unit_test(stays_events_labels_and_signal),
        cmocka_unit_test(pairs_follow_the_rule),
        cmocka_unit_test(refuses_a_store_with_data),
        cmocka_unit_test(stale_temps_of_dead_processes_removed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
