/* mpi_allreduce.c — the cost of the gradient all-reduce alone (tests/bench_mpi.sh, README
 * "Scale out"). Run under mpirun: every rank sums slabs of 0.25 to 64 MB of floats through
 * dist_sum_floats (the trainer's own bucketed call), after a barrier, REPS times each; rank 0
 * prints `ALLREDUCE ranks=<n> mb=<size> ms=<median>` per size. Also checks the sums, so a broken
 * reduction fails here rather than looking fast.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/dist.h"

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

int main(int argc, char **argv)
{
    Dist d;
    PsErr err = {{0}};
    if (dist_init(&d, &argc, &argv, &err)) {
        fprintf(stderr, "mpi_allreduce: %s\n", err.msg);
        return 1;
    }
    enum { REPS = 7 };
    static const double sizes_mb[] = {0.25, 1, 4, 16, 64};
    int bad = 0;
    for (size_t k = 0; k < sizeof sizes_mb / sizeof sizes_mb[0] && !bad; k++) {
        size_t n = (size_t)(sizes_mb[k] * 1e6 / sizeof(float));
        float *x = malloc(n * sizeof *x);
        if (!x) {
            fprintf(stderr, "mpi_allreduce: out of memory\n");
            dist_abort(&d, 1);
            return 1;
        }
        double ms[REPS];
        for (int r = 0; r < REPS; r++) {
            for (size_t i = 0; i < n; i++) x[i] = (float)(d.rank + 1);
            if (dist_barrier(&d, &err)) break;
            double t0 = now_ms();
            if (dist_sum_floats(&d, x, n, &err)) break;
            ms[r] = now_ms() - t0;
            const float want = (float)d.size * (float)(d.size + 1) / 2.0f;
            if (x[0] != want || x[n - 1] != want) {
                fprintf(stderr, "mpi_allreduce: rank %d got %g, want %g\n", d.rank, x[0], want);
                bad = 1;
                break;
            }
        }
        free(x);
        if (bad || err.msg[0]) break;
        qsort(ms, REPS, sizeof ms[0], cmp_d);
        if (d.rank == 0) printf("ALLREDUCE ranks=%d mb=%g ms=%.3f\n", d.size, sizes_mb[k], ms[REPS / 2]);
    }
    if (err.msg[0]) fprintf(stderr, "mpi_allreduce: %s\n", err.msg);
    dist_finalize(&d);
    return bad || err.msg[0];
}
