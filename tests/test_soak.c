/* test_soak.c — training writes while the interface reads: the soak.
 *
 * A real training run (engine/job.h: the worker thread and its own store connection, exactly
 * what the Training screen starts) trains the demo preset's unified model on a small demo store,
 * run after run, while this thread reads the store the way the screens do, every 100 ms: the
 * run list with each run's epochs and the live run's view (Training screen, ui/screen_train.c),
 * its progress row, and every second the cohort table and one stay (Cohort and Stay screens).
 * Every query is timed. Asserted: no query fails (in particular none reports the store busy),
 * the 99th-percentile query latency is under 100 ms, the WAL file stays under 160 MB, and the
 * writer really wrote (losses and checkpoints) during the soak.
 *
 * The WAL bound: one checkpoint transaction here is about 34 MB (best and last of a 17 MB model).
 * A reader whose snapshot spans a commit keeps SQLite from restarting the WAL for the next one,
 * so the file's high-water mark reaches two such transactions now and then on an idle machine
 * (67 MB seen); what must never happen is growth with the length of the run, and the 10-minute
 * soak holds the same bound.
 *
 * Duration: 20 s in `make test` (with an epoch capped at 2 iterations, so checkpoints come
 * often); 600 s under PS_TEST_LONG=1 (`make test-long`, whole epochs); PS_SOAK_SECONDS
 * overrides both. The measured p50 / p99 / max latency and the largest WAL are printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/job.h"
#include "store/cohort.h"
#include "store/demo.h"
#include "store/runs.h"
#include "store/runview.h"
#include "store/stayview.h"
#include "store/store.h"

#define SOAK_STAYS 200
#define MAX_P99_MS 100.0
#define MAX_WAL_BYTES (160.0 * 1024 * 1024)

static char dir[64], path[128], wal[160];

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int soak_seconds(void)
{
    const char *s = getenv("PS_SOAK_SECONDS");
    if (s && atoi(s) > 0) return atoi(s);
    s = getenv("PS_TEST_LONG");
    return s && *s && strcmp(s, "0") ? 600 : 20;
}

typedef struct {
    double *ms;
    size_t n, cap;
    int failures;
    char first_failure[512];
} Lat;

static void lat_add(Lat *l, double ms)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4096;
        l->ms = realloc(l->ms, l->cap * sizeof *l->ms);
        assert_non_null(l->ms);
    }
    l->ms[l->n++] = ms;
}

static void lat_fail(Lat *l, const char *what, PsStatus rc, const char *msg)
{
    if (l->failures++ == 0)
        snprintf(l->first_failure, sizeof l->first_failure, "%s: %.400s (%s)", what, msg,
                 ps_status_str(rc));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double p)
{
    if (n == 0) return NAN;
    size_t i = (size_t)ceil(p / 100.0 * (double)n);
    return v[i == 0 ? 0 : i - 1];
}

typedef struct {
    int64_t ids[64];
    int n;
} RunIds;

static int collect_run(void *ctx, const RunInfo *r)
{
    RunIds *ids = ctx;
    if (ids->n < 64) ids->ids[ids->n++] = r->run_id;
    return 0;
}

static int count_epoch(void *ctx, int epoch, const char *json)
{
    (void)epoch;
    RunViewEpoch e;
    if (runview_parse_epoch(json, &e) == PS_OK) ++*(int *)ctx;
    return 0;
}

/* One Training-screen refresh: the run list, each run's epochs, the newest run's view and
 * progress. Each store call is timed on its own (the screen's loader makes them one by one). */
static void read_training(Store *st, Lat *l, int64_t *newest)
{
    RunIds ids = {.n = 0};
    double t = now_ms();
    PsStatus rc = runs_each(st, collect_run, &ids);
    lat_add(l, now_ms() - t);
    if (rc) lat_fail(l, "runs_each", rc, store_errmsg(st));
    for (int i = 0; i < ids.n; i++) {
        int n = 0;
        t = now_ms();
        rc = runs_each_epoch(st, ids.ids[i], count_epoch, &n);
        lat_add(l, now_ms() - t);
        if (rc) lat_fail(l, "runs_each_epoch", rc, store_errmsg(st));
    }
    if (ids.n == 0) return;
    *newest = ids.ids[0];
    RunView v;
    PsErr err = {{0}};
    t = now_ms();
    rc = runview_load(st, ids.ids[0], 400, &v, &err);
    lat_add(l, now_ms() - t);
    if (rc) lat_fail(l, "runview_load", rc, err.msg);
    else runview_free(&v);
    RunProgress p;
    t = now_ms();
    rc = runs_get_progress(st, ids.ids[0], &p);
    lat_add(l, now_ms() - t);
    if (rc && rc != PS_ERR_NOTFOUND) lat_fail(l, "runs_get_progress", rc, store_errmsg(st));
}

/* The Cohort screen's table and one Stay screen. */
static void read_cohort(Store *st, Lat *l, unsigned *rng)
{
    CohortRow *rows = NULL;
    size_t n = 0;
    double t = now_ms();
    PsStatus rc = store_cohort_load(st, &rows, &n);
    lat_add(l, now_ms() - t);
    if (rc) {
        lat_fail(l, "store_cohort_load", rc, store_errmsg(st));
        return;
    }
    if (n > 0) {
        *rng = *rng * 1103515245u + 12345u;
        StayviewStay s;
        t = now_ms();
        rc = stayview_stay_load(st, rows[(*rng >> 8) % n].stay_id, &s);
        lat_add(l, now_ms() - t);
        if (rc) lat_fail(l, "stayview_stay_load", rc, store_errmsg(st));
        else stayview_stay_free(&s);
    }
    free(rows);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ps_soak_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(path, sizeof path, "%s/soak.db", dir);
    snprintf(wal, sizeof wal, "%s-wal", path);
    Store *s = NULL;
    PsErr err = {{0}};
    if (store_open(&s, path, STORE_OPEN_CREATE, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    DemoConfig cfg;
    demo_config_init(&cfg);
    cfg.n_stays = SOAK_STAYS;
    cfg.seed = 3;
    cfg.threads = 1;
    PsStatus rc = demo_generate(s, &cfg, NULL, &err);
    store_close(s);
    if (rc) fprintf(stderr, "demo_generate: %s\n", err.msg);
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void training_writes_while_the_ui_reads(void **state)
{
    (void)state;
    const int seconds = soak_seconds();
    PsErr err = {{0}};
    Job *job = NULL;
    assert_int_equal(job_new(&job, &err), PS_OK);
    JobRequest req;
    memset(&req, 0, sizeof req);
    snprintf(req.store_path, sizeof req.store_path, "%s", path);
    /* the demo preset: the model and checkpoint size (17 MB, best and last) the screen starts */
    train_config_preset(&req.cfg, TRAIN_PRESET_DEMO, TRAIN_UNIFIED);
    req.cfg.epochs = 1000;
    req.cfg.patience = 0;
    /* the short soak checkpoints every 2 iterations, so even a sanitizer build on a busy machine
     * writes several 17 MB checkpoints within its 20 s */
    if (seconds < 120) req.cfg.max_iters = 2;
    req.blas_threads = 1;
    int id = -1;
    assert_int_equal(job_submit(job, &req, &id, &err), PS_OK);

    Store *st = NULL;
    assert_int_equal(store_open(&st, path, STORE_OPEN_READONLY, &err), PS_OK);
    Lat l = {0};
    double wal_max = 0;
    unsigned rng = 1;
    int64_t newest = 0;
    const double t_end = now_ms() + seconds * 1e3;
    int tick = 0, runs_started = 1;
    while (now_ms() < t_end) {
        read_training(st, &l, &newest);
        if (tick % 10 == 0) read_cohort(st, &l, &rng);
        struct stat sb;
        if (stat(wal, &sb) == 0 && (double)sb.st_size > wal_max) wal_max = (double)sb.st_size;
        /* a run that ends (it should not within the soak) is followed by another */
        JobResult res;
        if (job_result(job, id, &res) == PS_OK && res.state >= JOB_DONE) {
            if (res.state == JOB_FAILED) lat_fail(&l, "training", res.rc, res.message);
            assert_int_equal(job_submit(job, &req, &id, &err), PS_OK);
            runs_started++;
        }
        tick++;
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    job_stop(job);
    job_wait_idle(job);
    JobResult res;
    assert_int_equal(job_result(job, id, &res), PS_OK);
    job_free(job);

    /* what the writer did meanwhile */
    int64_t steps = 0, epochs = 0;
    RunIds ids = {.n = 0};
    assert_int_equal(runs_each(st, collect_run, &ids), PS_OK);
    for (int i = 0; i < ids.n; i++) {
        RunView v;
        assert_int_equal(runview_load(st, ids.ids[i], 0, &v, &err), PS_OK);
        steps += (int64_t)v.n_steps;
        epochs += v.n_epochs;
        runview_free(&v);
    }
    store_close(st);

    qsort(l.ms, l.n, sizeof *l.ms, cmp_double);
    const double p50 = pct(l.ms, l.n, 50), p99 = pct(l.ms, l.n, 99), mx = l.n ? l.ms[l.n - 1] : NAN;
    printf("soak: %d s, %zu UI queries: p50 %.2f ms, p99 %.2f ms, max %.1f ms; WAL max %.1f MB; "
           "writer: %d run(s), %lld steps, %lld epochs (checkpoints); last run %s\n",
           seconds, l.n, p50, p99, mx, wal_max / 1048576.0, runs_started, (long long)steps,
           (long long)epochs, job_state_name(res.state));
    fflush(stdout);
    if (l.failures) fail_msg("%d queries failed; the first: %s", l.failures, l.first_failure);
    assert_true(res.state == JOB_STOPPED || res.state == JOB_DONE);
    assert_true(l.n >= (size_t)seconds * 10); /* the reader kept reading */
    assert_true(steps > 0);
    assert_true(epochs >= 1);
    if (!(p99 < MAX_P99_MS)) fail_msg("p99 query latency %.1f ms >= %.0f ms", p99, MAX_P99_MS);
    if (!(wal_max < MAX_WAL_BYTES)) fail_msg("WAL reached %.1f MB", wal_max / 1048576.0);
    free(l.ms);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(training_writes_while_the_ui_reads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
