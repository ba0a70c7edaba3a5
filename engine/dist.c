/* dist.c — rank, size and the collectives of data-parallel training (see dist.h): MPI when
 * built with -DPS_MPI, one rank otherwise.
 *
 * Deliberately not here: what is reduced and when (train.c decides), process launch (mpirun /
 * srun), and any error recovery — a dead rank ends the job (MPI_ERRORS_ARE_FATAL), because a
 * data-parallel step cannot complete without every shard and the store keeps the checkpoint to
 * resume from.
 */
#include "engine/dist.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef PS_MPI
#include <mpi.h>
#endif

#ifdef PS_MPI
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
#endif

void dist_single(Dist *d)
{
    memset(d, 0, sizeof *d);
    d->rank = 0;
    d->size = 1;
}

int dist_available(void)
{
#ifdef PS_MPI
    return 1;
#else
    return 0;
#endif
}

static int env_int(const char *name)
{
    const char *s = getenv(name);
    if (!s || !*s) return -1;
    char *end;
    long v = strtol(s, &end, 10);
    return *end ? -1 : (int)v;
}

/* How many tasks srun started in this job step when srun itself started this process, else 0.
 * SLURM_STEP_NUM_TASKS, not SLURM_NTASKS: the latter is the allocation's size and is also set
 * (with SLURM_PROCID=0) in an `sbatch -n 2` script, where a plain `phenoscope train` or
 * `mpirun -np 1 phenoscope train` is one rank and must not be refused as a bad srun launch.
 * Under mpirun (OMPI_COMM_WORLD_SIZE) the ranks inherit the step variables of the daemons
 * mpirun started through srun, which say nothing about the MPI job. */
static int srun_tasks(void)
{
    if (getenv("OMPI_COMM_WORLD_SIZE") || !getenv("SLURM_PROCID")) return 0;
    int n = env_int("SLURM_STEP_NUM_TASKS");
    return n > 1 ? n : 0;
}

int dist_launched(void)
{
    /* Open MPI's mpirun, PMIx (srun --mpi=pmix, prterun), MPICH/Hydra and PMI-2 launchers */
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK",
                                       "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return srun_tasks() > 1;
}

PsStatus dist_init(Dist *d, int *argc, char ***argv, PsErr *err)
{
    dist_single(d);
#ifdef PS_MPI
    int tasks = srun_tasks();
#ifdef OPEN_MPI
    /* Open MPI joins srun's tasks into one job through PMIx only (Debian's has no PMI-1/2
     * client), and when it cannot, MPI_Init aborts the task with a page about rebuilding it:
     * say what to type instead, before that (tests/e2e_srun.sh) */
    if (tasks > 1 && !getenv("PMIX_RANK"))
        return ps_err(err, PS_ERR_INVALID,
                      "srun started %d tasks without PMIx (srun --mpi=none or pmi2), which "
                      "Open MPI cannot join into one job; run 'srun --mpi=pmix ...' "
                      "(see 'srun --mpi=list')",
                      tasks);
#endif
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return ps_err(err, PS_ERR_IO, "MPI_Init_thread failed");
    d->mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    if (provided < MPI_THREAD_SERIALIZED) {
        /* the trainer calls MPI from one thread at a time, but not always the main one */
        return ps_err(err, PS_ERR_INVALID,
                      "this MPI library offers thread level %d, phenoscope needs "
                      "MPI_THREAD_SERIALIZED",
                      provided);
    }
    if (d->size == 1 && tasks > 1)
        return ps_err(err, PS_ERR_INVALID,
                      "srun started %d tasks but MPI sees each as a job of its own; run "
                      "'srun --mpi=pmix ...' (see 'srun --mpi=list')",
                      tasks);
    return PS_OK;
#else
    (void)argc;
    (void)argv;
    if (dist_launched())
        return ps_err(err, PS_ERR_INVALID,
                      "this phenoscope was built without MPI, but a launcher (mpirun/srun) "
                      "started it as a rank of an MPI job; rebuild with Open MPI installed "
                      "(apt-get install libopenmpi-dev; make) or run it alone");
    return PS_OK;
#endif
}

void dist_finalize(Dist *d)
{
#ifdef PS_MPI
    if (d->mpi) MPI_Finalize();
#endif
    d->mpi = 0;
}

void dist_abort(Dist *d, int code)
{
#ifdef PS_MPI
    if (d->mpi) MPI_Abort(MPI_COMM_WORLD, code);
#else
    (void)d;
    (void)code;
#endif
}

PsStatus dist_sum_floats(Dist *d, float *x, size_t n, PsErr *err)
{
    if (d->size <= 1 || n == 0) return PS_OK;
#ifdef PS_MPI
    double t0 = now_s();
    int rc = MPI_SUCCESS;
    /* buckets one after another through the blocking (tuned) all-reduce: measured 1.2-3x
     * faster here than the same buckets in flight together as MPI_Iallreduce (libnbc), and
     * nothing overlaps them with backward yet (README "Scale out") */
    for (size_t off = 0; off < n && rc == MPI_SUCCESS; off += DIST_BUCKET_FLOATS) {
        size_t len = n - off < DIST_BUCKET_FLOATS ? n - off : DIST_BUCKET_FLOATS;
        rc = MPI_Allreduce(MPI_IN_PLACE, x + off, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
    d->comm_s += now_s() - t0;
    d->comm_calls++;
    d->comm_bytes += (double)n * sizeof(float);
    if (rc != MPI_SUCCESS) return ps_err(err, PS_ERR_IO, "MPI all-reduce of %zu floats failed", n);
    return PS_OK;
#else
    (void)x;
    return ps_err(err, PS_ERR_INVALID, "no MPI in this build");
#endif
}

PsStatus dist_avg_floats(Dist *d, float *x, size_t n, PsErr *err)
{
    if (d->size <= 1) return PS_OK;
    PsStatus rc = dist_sum_floats(d, x, n, err);
    if (rc) return rc;
    const float inv = 1.0f / (float)d->size;
    for (size_t i = 0; i < n; i++) x[i] *= inv;
    return PS_OK;
}

PsStatus dist_sum_doubles(Dist *d, double *x, int n, PsErr *err)
{
    if (d->size <= 1 || n <= 0) return PS_OK;
#ifdef PS_MPI
    if (MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
        return ps_err(err, PS_ERR_IO, "MPI all-reduce of %d doubles failed", n);
    return PS_OK;
#else
    (void)x;
    return ps_err(err, PS_ERR_INVALID, "no MPI in this build");
#endif
}

PsStatus dist_max_ints(Dist *d, int *x, int n, PsErr *err)
{
    if (d->size <= 1 || n <= 0) return PS_OK;
#ifdef PS_MPI
    if (MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
        return ps_err(err, PS_ERR_IO, "MPI all-reduce of %d ints failed", n);
    return PS_OK;
#else
    (void)x;
    return ps_err(err, PS_ERR_INVALID, "no MPI in this build");
#endif
}

PsStatus dist_bcast(Dist *d, void *buf, size_t bytes, int root, PsErr *err)
{
    if (d->size <= 1 || bytes == 0) return PS_OK;
#ifdef PS_MPI
    unsigned char *p = buf;
    /* MPI counts are ints: large blobs (checkpoints) go in 1 GiB pieces */
    const size_t piece = (size_t)1 << 30;
    for (size_t off = 0; off < bytes; off += piece) {
        size_t len = bytes - off < piece ? bytes - off : piece;
        if (MPI_Bcast(p + off, (int)len, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS)
            return ps_err(err, PS_ERR_IO, "MPI broadcast of %zu bytes failed", bytes);
    }
    return PS_OK;
#else
    (void)buf;
    (void)root;
    return ps_err(err, PS_ERR_INVALID, "no MPI in this build");
#endif
}

PsStatus dist_agree(Dist *d, uint64_t v, uint64_t *lo, uint64_t *hi, int *rank_hi, PsErr *err)
{
    *lo = *hi = v;
    *rank_hi = d->rank;
    if (d->size <= 1) return PS_OK;
#ifdef PS_MPI
    /* max of v and of ~v in one call: min(v) = ~max(~v) */
    unsigned long long m[2] = {v, ~v};
    if (MPI_Allreduce(MPI_IN_PLACE, m, 2, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD) !=
        MPI_SUCCESS)
        return ps_err(err, PS_ERR_IO, "MPI all-reduce of a checksum failed");
    *hi = m[0];
    *lo = ~m[1];
    int r = v == *hi ? d->rank : d->size;
    if (MPI_Allreduce(MPI_IN_PLACE, &r, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
        return ps_err(err, PS_ERR_IO, "MPI all-reduce of a rank failed");
    *rank_hi = r;
    return PS_OK;
#else
    return ps_err(err, PS_ERR_INVALID, "no MPI in this build");
#endif
}

PsStatus dist_barrier(Dist *d, PsErr *err)
{
    if (d->size <= 1) return PS_OK;
#ifdef PS_MPI
    if (MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS)
        return ps_err(err, PS_ERR_IO, "MPI barrier failed");
    return PS_OK;
#else
    return ps_err(err, PS_ERR_INVALID, "no MPI in this build");
#endif
}
