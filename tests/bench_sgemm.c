/* bench_sgemm.c — the machine's OpenBLAS sgemm speed, measured in the same `make bench` run as
 * the workloads, so their times can be read against it: median of a 1024³ sgemm, with
 * $PS_BENCH_THREADS (default 2) threads. Prints `PSGFLOPS sgemm gflops=<n> core=<name>`.
 * `bench_sgemm hint` prints blas_coretype_hint() (or nothing) for tests/bench.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "engine/blas.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc > 1) { /* "hint": the OPENBLAS_CORETYPE this machine should run with, if any */
        const char *h = blas_coretype_hint();
        if (h) printf("%s\n", h);
        return 0;
    }
    const char *th = getenv("PS_BENCH_THREADS");
    blas_set_threads(th && *th ? atoi(th) : 2);
    enum { n = 1024, reps = 9 };
    float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n);
    float *c = malloc(sizeof(float) * n * n);
    if (!a || !b || !c) return 1;
    for (long i = 0; i < (long)n * n; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.2f;
    }
    double t[reps];
    blas_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n); /* warm-up */
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        blas_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        t[r] = now_s() - t0;
    }
    qsort(t, reps, sizeof *t, cmp_d);
    printf("PSGFLOPS sgemm gflops=%.1f core=%s\n", 2.0 * n * n * n / t[reps / 2] / 1e9,
           blas_core_name());
    free(a);
    free(b);
    free(c);
    return 0;
}
