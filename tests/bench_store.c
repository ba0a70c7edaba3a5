/* bench_store.c — how fast the store takes a real-sized cohort: events through the cached
 * insert statement, and the pairing rule at MIMIC scale (50k stays, 400k radiographs).
 * usage: bench_store [EVENTS [STAYS [RADIOGRAPHS]]]   (defaults 2000000 50000 400000)
 * Prints one line per measurement; exit 1 on any store error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int fail(Store *st, const char *what)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, store_errmsg(st));
    return 1;
}

int main(int argc, char **argv)
{
    long n_events = argc > 1 ? atol(argv[1]) : 2000000;
    long n_stays = argc > 2 ? atol(argv[2]) : 50000;
    long n_cxr = argc > 3 ? atol(argv[3]) : 400000;
    char dir[] = "/tmp/ps_bench_store.XXXXXX", path[128];
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof path, "%s/store.db", dir);
    Store *st;
    PsErr err;
    if (store_open(&st, path, STORE_OPEN_CREATE, &err)) {
        fprintf(stderr, "bench_store: %s\n", err.msg);
        return 1;
    }
    const int64_t T0 = 4102444800LL, H = 3600;
    int rc = 0;
    double t = now();
    if (store_begin(st)) return fail(st, "begin");
    for (long i = 0; i < n_stays; i++) {
        int64_t subj = 10000000 + i / 2; /* two stays per subject */
        StorePatient p = {.subject_id = subj, .gender = 'F', .anchor_age = 60};
        if (i % 2 == 0 && store_put_patient(st, &p)) return fail(st, "patient");
        StoreStay s = {.stay_id = 30000000 + i, .subject_id = subj, .hadm_id = 20000000 + i,
                       .intime = T0 + (i % 2) * 30 * 86400, .outtime = T0 + (i % 2) * 30 * 86400 + 72 * H,
                       .split = (int)(i / 2 % 10 < 7 ? 0 : i / 2 % 10 < 8 ? 1 : 2)};
        if (store_put_stay(st, &s)) return fail(st, "stay");
    }
    if (store_commit(st)) return fail(st, "commit stays");
    double t_stays = now() - t;

    t = now();
    if (store_begin(st)) return fail(st, "begin");
    for (long i = 0; i < n_events; i++) {
        long stay = (i / 500) % n_stays; /* 500 events per stay, consecutive like an import */
        StoreEvent e = {30000000 + stay, (float)(i % 500) * 0.1f, (int)(i % 17), 80.0f,
                        i % 17 == 3 ? "4 Spontaneously" : NULL};
        if (store_put_event(st, &e)) return fail(st, "event");
    }
    if (store_commit(st)) return fail(st, "commit events");
    double t_events = now() - t;

    t = now();
    if (store_begin(st)) return fail(st, "begin");
    for (long i = 0; i < n_cxr; i++) {
        StoreRadiograph r = {.subject_id = 10000000 + (i % (n_stays / 2 + 1000)),
                             .study_id = 50000000 + i / 2,
                             .study_time = T0 + (i % 97) * 4 * H - 24 * H,
                             .split = SPLIT_NONE};
        snprintf(r.dicom_id, sizeof r.dicom_id, "%08lx-%08lx-bench", i * 2654435761UL, i);
        snprintf(r.view, sizeof r.view, "%s", i % 3 ? "AP" : "PA");
        for (int k = 0; k < CATALOG_N_CHEXPERT; k++) r.chexpert[k] = (int8_t)((i + k) % 4 - 2);
        if (store_put_radiograph(st, &r)) return fail(st, "radiograph");
    }
    if (store_commit(st)) return fail(st, "commit radiographs");
    double t_cxr = now() - t;

    t = now();
    if (store_recompute_pairs(st)) return fail(st, "recompute pairs");
    double t_pairs = now() - t;

    t = now();
    StoreSplitCounts c[STORE_N_SPLITS];
    if (store_split_counts(st, c)) return fail(st, "split counts");
    double t_counts = now() - t;

    printf("bench_store: %ld stays+patients in %.2f s\n", n_stays, t_stays);
    printf("bench_store: %ld events in %.2f s (%.0f events/s)\n", n_events, t_events,
           (double)n_events / t_events);
    printf("bench_store: %ld radiographs (metadata) in %.2f s\n", n_cxr, t_cxr);
    printf("bench_store: recompute pairs (%ld stays, %ld radiographs) in %.2f s -> %lld pairs\n",
           n_stays, n_cxr, t_pairs,
           (long long)(c[0].n_pairs + c[1].n_pairs + c[2].n_pairs));
    printf("bench_store: split counts in %.3f s\n", t_counts);
    store_close(st);
    char side[160];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    rmdir(dir);
    return rc;
}
