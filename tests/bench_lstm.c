/* bench_lstm.c — timing of the EHR model for `make bench` (see tests/bench.sh).
 *
 * Workloads (the same shapes as tests/bench_lstm.py): lstm_train_b16_t48 = forward + backward +
 * Adam of a 2 x 256 LSTM over 16 sequences of 48 steps of 76 inputs with a 25-logit head;
 * lstm_infer_b1_t48 = forward of one sequence. Without arguments each workload runs in its own
 * child process (this binary re-executed with the workload name), so the peak RSS printed is
 * that workload's alone. Prints `PSBENCH <name> ms=<median> peak_rss_mb=<n>`.
 * Threads: $PS_BENCH_THREADS (default 2) for OpenBLAS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/adam.h"
#include "engine/blas.h"
#include "engine/ehr_model.h"
#include "engine/loss.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int env_int(const char *name, int def)
{
    const char *s = getenv(name);
    return s && *s ? atoi(s) : def;
}

static void die(const char *what, PsErr *err)
{
    fprintf(stderr, "bench_lstm: %s: %s\n", what, err->msg);
    exit(1);
}

static int run(const char *name)
{
    const int train = strcmp(name, "lstm_train_b16_t48") == 0;
    if (!train && strcmp(name, "lstm_infer_b1_t48") != 0) {
        fprintf(stderr, "bench_lstm: unknown workload %s\n", name);
        return 1;
    }
    blas_set_threads(env_int("PS_BENCH_THREADS", 2));
    const int B = train ? 16 : 1, T = 48;
    const int reps = env_int("PS_BENCH_REPS", 20) * (train ? 1 : 5);
    PsErr err;
    ParamSet ps;
    params_init(&ps);
    EhrModel m;
    EhrModelConfig cfg = ehr_model_defaults();
    if (ehr_model_add_params(&m, &ps, &cfg, &err) || params_alloc(&ps, 1, &err)) die("model", &err);
    Rng rng;
    rng_seed(&rng, 1);
    ehr_model_init(&m, &ps, &rng);
    EhrWork ws;
    Adam adam;
    if (ehr_work_init(&ws, &m, B, T, &err) || adam_init(&adam, ps.n, &err)) die("set-up", &err);
    AdamConfig ac = adam_defaults();
    ac.lr = 1e-4f;
    float *x = malloc(sizeof(float) * B * T * cfg.input);
    float *y = malloc(sizeof(float) * B * cfg.classes);
    float *z = malloc(sizeof(float) * B * cfg.classes);
    float *dz = malloc(sizeof(float) * B * cfg.classes);
    int *len = malloc(sizeof(int) * B);
    for (int i = 0; i < B * T * cfg.input; i++) x[i] = (float)rng_normal(&rng);
    for (int i = 0; i < B * cfg.classes; i++) y[i] = (float)rng_bernoulli(&rng, 0.3);
    for (int b = 0; b < B; b++) len[b] = T;
    double *ms = malloc(sizeof(double) * reps);
    const int warm = train ? 3 : 5;
    for (int it = 0; it < warm + reps; it++) {
        double t0 = now_ms();
        if (ehr_model_forward(&ws, z, x, len, B, T, &m, ps.w, train, &rng, &err)) die("forward", &err);
        if (train) {
            params_zero_grad(&ps);
            loss_bce_logits_backward(dz, z, y, NULL, (size_t)B * cfg.classes);
            if (ehr_model_backward(&ws, dz, NULL, &m, ps.w, ps.g, &err)) die("backward", &err);
            adam_step(&adam, &ac, ps.w, ps.g);
        }
        if (it >= warm) ms[it - warm] = now_ms() - t0;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("PSBENCH %s ms=%.3f peak_rss_mb=%.1f\n", name, median(ms, reps),
           ru.ru_maxrss / 1024.0);
    free(ms);
    free(x);
    free(y);
    free(z);
    free(dz);
    free(len);
    adam_done(&adam);
    ehr_work_done(&ws);
    params_free(&ps);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) return run(argv[1]);
    static const char *const names[] = {"lstm_train_b16_t48", "lstm_infer_b1_t48"};
    int rc = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], names[i], (char *)NULL);
            _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) rc = 1;
    }
    return rc;
}
