/* bench_train.c — training throughput and peak memory per method (make bench).
 *
 * On a demo store (PS_BENCH_STORE, else a fresh 400-stay demo cohort in a temporary directory),
 * with the demo preset (or PS_BENCH_PRESET=quick|paper), each method trains in its own child
 * process: a few warm-up iterations, then PS_BENCH_ITERS timed ones. Prints, per method,
 *   PSBENCH train_<method> ms=<median ms per iteration> peak_rss_mb=<n> samples_per_s=<batch/s>
 * and the dataset load as PSBENCH train_load. Threads: PS_BENCH_THREADS (default 2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/blas.h"
#include "engine/dataset.h"
#include "engine/train.h"
#include "store/demo.h"
#include "store/store.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static long peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

static int bench_method(const Dataset *d, TrainPreset preset, TrainMethod m, int iters)
{
    TrainConfig c;
    train_config_preset(&c, preset, m);
    Trainer *t = NULL;
    PsErr err = {{0}};
    if (trainer_new(&t, d, &c, &err)) {
        fprintf(stderr, "bench_train %s: %s\n", train_method_name(m), err.msg);
        return 1;
    }
    TrainLosses l;
    for (int i = 0; i < 3; i++)
        if (trainer_iteration(t, &l, &err)) goto fail;
    double *ms = malloc((size_t)iters * sizeof *ms);
    if (!ms) goto fail;
    for (int i = 0; i < iters; i++) {
        double t0 = now_ms();
        if (trainer_iteration(t, &l, &err)) {
            free(ms);
            goto fail;
        }
        ms[i] = now_ms() - t0;
    }
    qsort(ms, (size_t)iters, sizeof *ms, cmp_d);
    double med = ms[iters / 2];
    printf("PSBENCH train_%s ms=%.2f peak_rss_mb=%ld samples_per_s=%.1f batch=%d img=%d width=%d "
           "lstm=%dx%d\n",
           train_method_name(m), med, peak_rss_mb(), c.batch * 1000.0 / med, c.batch, c.img_size,
           c.cnn_width, c.lstm_layers, c.lstm_hidden);
    fflush(stdout);
    free(ms);
    trainer_free(t);
    return 0;
fail:
    fprintf(stderr, "bench_train %s: %s\n", train_method_name(m), err.msg);
    trainer_free(t);
    return 1;
}

int main(void)
{
    const char *th = getenv("PS_BENCH_THREADS");
    blas_set_threads(th ? atoi(th) : 2);
    const char *ps = getenv("PS_BENCH_PRESET");
    TrainPreset preset = ps && strcmp(ps, "quick") == 0   ? TRAIN_PRESET_QUICK
                         : ps && strcmp(ps, "paper") == 0 ? TRAIN_PRESET_PAPER
                                                          : TRAIN_PRESET_DEMO;
    const char *it = getenv("PS_BENCH_ITERS");
    int iters = it ? atoi(it) : 20;
    if (iters < 1) iters = 1;
    char dir[] = "/tmp/ps_bench_train.XXXXXX", path[4200];
    const char *store = getenv("PS_BENCH_STORE");
    PsErr err = {{0}};
    Store *st = NULL;
    int made = 0;
    if (!store) {
        if (!mkdtemp(dir)) return 1;
        snprintf(path, sizeof path, "%s/demo.db", dir);
        made = 1;
        if (store_open(&st, path, STORE_OPEN_CREATE, &err)) goto fail;
        DemoConfig dc;
        demo_config_init(&dc);
        dc.n_stays = 400;
        if (demo_generate(st, &dc, NULL, &err)) goto fail;
        store = path;
    } else if (store_open(&st, store, STORE_OPEN_READONLY, &err)) {
        goto fail;
    }
    TrainConfig c;
    train_config_preset(&c, preset, TRAIN_UNIFIED);
    DatasetConfig dcfg;
    train_dataset_config(&c, &dcfg);
    Dataset d;
    double t0 = now_ms();
    if (dataset_load(&d, st, &dcfg, NULL, NULL, &err)) goto fail;
    printf("PSBENCH train_load ms=%.1f peak_rss_mb=%ld stays=%d radiographs=%d pairs=%d\n",
           now_ms() - t0, peak_rss_mb(), d.n_stays, d.n_imgs,
           d.n_pair[0] + d.n_pair[1] + d.n_pair[2]);
    fflush(stdout);
    store_close(st);
    st = NULL;
    int rc = 0;
    for (int m = 0; m < TRAIN_N_METHODS; m++) {
        pid_t pid = fork();
        if (pid == 0) _exit(bench_method(&d, preset, (TrainMethod)m, iters));
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0)
            rc = 1;
    }
    dataset_free(&d);
    if (made) {
        char cmd[4300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) rc = 1;
    }
    return rc;
fail:
    fprintf(stderr, "bench_train: %s\n", err.msg);
    store_close(st);
    return 1;
}
