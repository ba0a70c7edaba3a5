/* bench_resnet.c — ResNet-34 speed and memory, the C side of tests/bench_resnet.py.
 *
 * usage: bench_resnet [WORKLOAD ...]     (default: all, each in its own child process so that
 *        peak RSS is per workload)
 * Prints "PSBENCH <name> ms=<median> peak_rss_mb=<n> conv_gflops=<x> cpu_ms=<median process CPU
 * time per step>" per workload and, with PS_BENCH_LAYERS=1,
 * "PSBENCH conv_gflops name=<layer> gflops=<x>" for the distinct convolution shapes (3×3
 * stride-1 ones both as im2col and as Winograd, "used=" saying which the model runs; Winograd
 * GFLOP/s count the direct method's flops), plus the sgemm rate of a square product.
 * Training steps are forward (train mode) + BCE-with-logits gradient + backward + an Adam
 * update (engine/adam.c) over the parameter slab, like the PyTorch loop. OpenBLAS runs on
 * $PS_BENCH_THREADS (2) threads.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/adam.h"
#include "engine/blas.h"
#include "engine/conv.h"
#include "engine/loss.h"
#include "engine/resnet.h"

typedef struct {
    const char *name;
    int batch, size, train, reps;
} Workload;

static const Workload workloads[] = {
    {"resnet34_train_b16_224", 16, 224, 1, 5},
    {"resnet34_train_b16_112", 16, 112, 1, 7},
    {"resnet34_infer_b1_224", 1, 224, 0, 21},
};
#define N_WORKLOADS (int)(sizeof workloads / sizeof workloads[0])

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* CPU time of the whole process (all threads): under load it varies far less than wall time,
 * so before/after comparisons of a kernel on a shared machine use it too */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static int run(const Workload *wl)
{
    PsErr err;
    ResnetConfig cfg;
    Resnet m;
    ResnetWork w;
    Rng rng;
    resnet_config_default(&cfg, wl->size, 14);
    /* PS_BENCH_POOL_THREADS overrides the model's helper threads, for before/after numbers */
    const char *pt = getenv("PS_BENCH_POOL_THREADS");
    if (pt && atoi(pt) > 0) cfg.threads = atoi(pt);
    if (resnet_init(&m, &cfg, &err)) {
        fprintf(stderr, "bench_resnet: %s\n", err.msg);
        return 1;
    }
    /* Overrides for before/after measurements, applied before the workspace is sized:
     * PS_BENCH_WINOGRAD=0|1 the per-layer Winograd choice, PS_BENCH_PANEL=<floats> the im2col
     * panel budget, PS_BENCH_ROWS=<floats> the row-panel budget of "same" 3×3 images (conv.h). */
    const char *wg = getenv("PS_BENCH_WINOGRAD"), *pf = getenv("PS_BENCH_PANEL"),
               *rf = getenv("PS_BENCH_ROWS");
    for (int b = 0; b < m.n_blocks; b++) {
        ConvShape *s[3] = {&m.blocks[b].c1.s, &m.blocks[b].c2.s, &m.blocks[b].ds.s};
        for (int k = 0; k < 3; k++) {
            if (wg && *wg && k < 2) s[k]->winograd = atoi(wg) && s[k]->K == 3 && s[k]->stride == 1;
            if (pf && *pf) s[k]->panel_floats = atol(pf);
            if (rf && *rf) s[k]->row_floats = atol(rf);
        }
    }
    if (pf && *pf) m.stem.s.panel_floats = atol(pf);
    if (resnet_work_init(&w, &m, wl->batch, &err)) {
        fprintf(stderr, "bench_resnet: %s\n", err.msg);
        return 1;
    }
    rng_seed(&rng, 1);
    resnet_init_weights(&m, &rng);
    size_t nx = (size_t)wl->batch * 3 * wl->size * wl->size, nl = (size_t)wl->batch * 14;
    float *x = malloc(nx * sizeof *x), *logits = malloc(nl * sizeof *logits);
    float *y = malloc(nl * sizeof *y), *dl = malloc(nl * sizeof *dl);
    Adam adam = {0};
    AdamConfig acfg = adam_defaults();
    acfg.lr = 1e-4f;
    /* optimiser state only for training: inference's peak RSS is the model and activations */
    if (wl->train && adam_init(&adam, m.params.n, &err)) {
        fprintf(stderr, "bench_resnet: %s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)rng_normal(&rng);
    for (size_t i = 0; i < nl; i++)
        y[i] = rng_uniform(&rng) < 0.3 ? 1.0f : 0.0f;
    double *t = malloc((size_t)(wl->reps + 1) * sizeof *t);
    double *tc = malloc((size_t)(wl->reps + 1) * sizeof *tc);
    for (int r = 0; r <= wl->reps; r++) {
        double t0 = now_ms(), c0 = cpu_ms();
        if (wl->train) {
            params_zero_grad(&m.params);
            resnet_forward(&m, &w, x, wl->batch, 1, logits, NULL, &err);
            loss_bce_logits_backward(dl, logits, y, NULL, nl);
            resnet_backward(&m, &w, dl, NULL, &err);
            adam_step(&adam, &acfg, m.params.w, m.params.g);
        } else {
            resnet_forward(&m, &w, x, wl->batch, 0, logits, NULL, &err);
        }
        t[r] = now_ms() - t0;
        tc[r] = cpu_ms() - c0;
    }
    /* the first step pays for page faults and BLAS buffers, as torch's first step does */
    qsort(t + 1, (size_t)wl->reps, sizeof *t, cmp_double);
    qsort(tc + 1, (size_t)wl->reps, sizeof *tc, cmp_double);
    /* The convolutions' share of the work, so bench.sh can set the step's rate against sgemm's:
     * forward 2 flops per multiply-add; a training step adds the weight gradient and the input
     * gradient of every convolution but the stem's (resnet_backward does not need that one). */
    double fwd = 2 * conv_macs(&m.stem.s, wl->batch), stem = fwd;
    for (int b = 0; b < m.n_blocks; b++) {
        fwd += 2 * conv_macs(&m.blocks[b].c1.s, wl->batch);
        fwd += 2 * conv_macs(&m.blocks[b].c2.s, wl->batch);
        if (m.blocks[b].has_ds) fwd += 2 * conv_macs(&m.blocks[b].ds.s, wl->batch);
    }
    double conv_flops = wl->train ? 3 * fwd - stem : fwd;
    double med = t[1 + wl->reps / 2];
    printf("PSBENCH %s ms=%.1f peak_rss_mb=%.0f conv_gflops=%.1f cpu_ms=%.1f\n", wl->name, med,
           peak_rss_mb(), conv_flops / med / 1e6, tc[1 + wl->reps / 2]);
    fflush(stdout);
    if (getenv("PS_BENCH_LAYERS")) {
        /* per distinct convolution shape: forward GFLOP/s (2 flops per multiply-add) */
        const ResnetConvBn *u[3 * RESNET_MAX_BLOCKS + 1];
        int nu = 0;
        u[nu++] = &m.stem;
        for (int b = 0; b < m.n_blocks; b++) {
            u[nu++] = &m.blocks[b].c1;
            u[nu++] = &m.blocks[b].c2;
            if (m.blocks[b].has_ds) u[nu++] = &m.blocks[b].ds;
        }
        for (int i = 0; i < nu; i++) {
            const ConvShape *s0 = &u[i]->s;
            int seen = 0;
            for (int k = 0; k < i; k++)
                seen |= memcmp(&u[k]->s, s0, sizeof *s0) == 0;
            if (seen) continue;
            size_t ny = (size_t)s0->Co * wl->batch * s0->Ho * s0->Wo;
            size_t nin = (size_t)s0->C * wl->batch * s0->H * s0->W;
            float *in = calloc(nin, 4), *out = malloc(ny * 4), *dy = calloc(ny, 4),
                  *dx = malloc(nin * 4);
            ConvShape s1 = *s0;
            s1.winograd = 1;
            float *col = malloc((conv_col_floats(&s1, wl->batch) + 1) * 4);
            float *dw = calloc((size_t)s0->Co * s0->C * s0->K * s0->K, 4);
            /* both algorithms where Winograd applies, interleaved so load noise hits both */
            int algos = s0->K == 3 && s0->stride == 1 ? 2 : 1;
            double best[2] = {1e30, 1e30}, bestb[2] = {1e30, 1e30};
            double cbest[2] = {1e30, 1e30}, cbestb[2] = {1e30, 1e30}; /* process CPU time */
            for (int r = 0; r < 3; r++)
                for (int a = 0; a < algos; a++) {
                    ConvShape s = *s0;
                    s.winograd = a;
                    double t0 = now_ms(), c0 = cpu_ms();
                    conv_forward(out, col, in, m.params.w + u[i]->w, &s, wl->batch, w.par);
                    double t1 = now_ms(), c1 = cpu_ms();
                    conv_backward(dx, dw, col, dy, in, m.params.w + u[i]->w, &s, wl->batch, 0,
                                  w.par);
                    double t2 = now_ms(), c2 = cpu_ms();
                    if (t1 - t0 < best[a]) best[a] = t1 - t0;
                    if (t2 - t1 < bestb[a]) bestb[a] = t2 - t1;
                    if (c1 - c0 < cbest[a]) cbest[a] = c1 - c0;
                    if (c2 - c1 < cbestb[a]) cbestb[a] = c2 - c1;
                }
            double fl = 2 * conv_macs(s0, wl->batch);
            for (int a = 0; a < algos; a++)
                printf("PSBENCH conv_gflops name=c%dk%ds%d_%dx%d%s used=%s fwd_ms=%.2f gflops=%.1f "
                       "bwd_ms=%.2f bwd_gflops=%.1f fwd_cpu_ms=%.2f bwd_cpu_ms=%.2f\n",
                       s0->C, s0->K, s0->stride, s0->H, s0->W, a ? "_winograd" : "",
                       a == s0->winograd ? "yes" : "no", best[a], fl / best[a] / 1e6, bestb[a],
                       2 * fl / bestb[a] / 1e6, cbest[a], cbestb[a]);
            free(in), free(out), free(dy), free(dx), free(col), free(dw);
        }
        int n = 2048;
        float *a = calloc((size_t)n * n, 4), *b = calloc((size_t)n * n, 4),
              *c = calloc((size_t)n * n, 4);
        double best = 1e30;
        for (int r = 0; r < 3; r++) {
            double t0 = now_ms();
            blas_sgemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
            if (now_ms() - t0 < best) best = now_ms() - t0;
        }
        printf("PSBENCH sgemm_peak n=%d gflops=%.1f\n", n, 2.0 * n * n * n / best / 1e6);
        free(a), free(b), free(c);
    }
    if (wl->train) adam_done(&adam);
    free(x), free(logits), free(y), free(dl), free(t), free(tc);
    resnet_work_done(&w);
    resnet_done(&m);
    return 0;
}

int main(int argc, char **argv)
{
    /* tests/bench.sh exports PS_BENCH_THREADS and, when OpenBLAS misdetects the CPU,
     * OPENBLAS_CORETYPE; run by hand, the parent sets the same hint for its children */
    const char *th = getenv("PS_BENCH_THREADS");
    blas_set_threads(th && atoi(th) > 0 ? atoi(th) : 2);
    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        fprintf(stderr, "bench_resnet: OpenBLAS core %s, %d threads\n", blas_core_name(),
                blas_get_threads());
    } else {
        const char *hint = blas_coretype_hint();
        if (hint) setenv("OPENBLAS_CORETYPE", hint, 1);
    }
    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        for (int i = 0; i < N_WORKLOADS; i++)
            if (strcmp(argv[2], workloads[i].name) == 0) return run(&workloads[i]);
        return 2;
    }
    int rc = 0;
    for (int i = 0; i < N_WORKLOADS; i++) {
        int want = argc == 1;
        for (int k = 1; k < argc; k++)
            want |= strcmp(argv[k], workloads[i].name) == 0;
        if (!want) continue;
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], "--child", workloads[i].name, (char *)NULL);
            _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)) rc = 1;
    }
    for (int k = 1; k < argc; k++) {
        int known = 0;
        for (int i = 0; i < N_WORKLOADS; i++)
            known |= strcmp(argv[k], workloads[i].name) == 0;
        if (!known) {
            fprintf(stderr, "bench_resnet: unknown workload %s\n", argv[k]);
            rc = 2;
        }
    }
    return rc;
}
