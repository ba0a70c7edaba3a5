/* dist.c — rank, size and the collectives of data-parallel training (see dist.h): MPI when
 * built with -DPS_MPI, one rank otherwise. Also the communication thread that sums gradient
 * buckets while the trainer computes (--overlap), and memory shared by the ranks of a machine
 * (the radiograph cache).
 *
 * Deliberately not here: what is reduced and when (train.c decides), process launch (mpirun /
 * srun), and any error recovery — a dead rank ends the job (MPI_ERRORS_ARE_FATAL), because a
 * data-parallel step cannot complete without every shard and the store keeps the checkpoint to
 * resume from.
 */
#include "engine/dist.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef PS_MPI
#include <mpi.h>
#endif

/* Shared windows one job may allocate (dist_node_alloc): the radiograph cache needs one. */
#define DIST_NODE_WINDOWS 4

/* The communication thread's queue: enough for every bucket of a step's models (ResNet-34's
 * 85 MB are 22 buckets); a full queue makes the producer wait. */
#define DIST_QUEUE 64

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
    d->hosts = d->local_size = d->node_size = 1;
    d->bucket = DIST_BUCKET_FLOATS;
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

#ifdef PS_MPI
static int cmp_name(const void *a, const void *b)
{
    return strncmp(a, b, MPI_MAX_PROCESSOR_NAME);
}

/* d->hosts: the distinct processor names (host names, under Open MPI) of the ranks;
 * d->local_size: the ranks sharing this one's (which share its cores: mpirun says so in
 * OMPI_COMM_WORLD_LOCAL_SIZE, srun does not). */
static PsStatus count_hosts(Dist *d, PsErr *err)
{
    char me[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    memset(me, 0, sizeof me);
    if (MPI_Get_processor_name(me, &len) != MPI_SUCCESS) me[0] = 0;
    char *all = calloc((size_t)d->size, MPI_MAX_PROCESSOR_NAME);
    if (!all) return ps_err(err, PS_ERR_NOMEM, "out of memory for %d host names", d->size);
    if (MPI_Allgather(me, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, all, MPI_MAX_PROCESSOR_NAME,
                      MPI_CHAR, MPI_COMM_WORLD) != MPI_SUCCESS) {
        free(all);
        return ps_err(err, PS_ERR_IO, "MPI all-gather of host names failed");
    }
    d->local_size = 0;
    for (int i = 0; i < d->size; i++)
        d->local_size += cmp_name(all + (size_t)i * MPI_MAX_PROCESSOR_NAME, me) == 0;
    qsort(all, (size_t)d->size, MPI_MAX_PROCESSOR_NAME, cmp_name);
    d->hosts = 1;
    for (int i = 1; i < d->size; i++)
        d->hosts += cmp_name(all + (size_t)i * MPI_MAX_PROCESSOR_NAME,
                             all + (size_t)(i - 1) * MPI_MAX_PROCESSOR_NAME) != 0;
    free(all);
    return PS_OK;
}
#endif

#ifdef PS_MPI
struct DistNode {
    MPI_Comm comm; /* the ranks that share this one's memory */
    MPI_Win win[DIST_NODE_WINDOWS];
    int n_win;
};

static PsStatus node_init(Dist *d, PsErr *err)
{
    DistNode *n = calloc(1, sizeof *n);
    if (!n) return ps_err(err, PS_ERR_NOMEM, "out of memory");
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL,
                            &n->comm) != MPI_SUCCESS) {
        free(n);
        return ps_err(err, PS_ERR_IO, "MPI could not group the ranks by machine");
    }
    MPI_Comm_rank(n->comm, &d->node_rank);
    MPI_Comm_size(n->comm, &d->node_size);
    d->node = n;
    return PS_OK;
}
#endif

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
    if (MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
        return ps_err(err, PS_ERR_IO, "MPI_Init_thread failed");
    d->mpi = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    d->thread_multiple = provided >= MPI_THREAD_MULTIPLE;
    int kb = env_int("PHENOSCOPE_BUCKET_KB");
    if (kb > 0) d->bucket = (size_t)kb * 256; /* floats of 4 bytes per KiB */
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
    PsStatus hrc = count_hosts(d, err);
    return hrc ? hrc : node_init(d, err);
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

static void overlap_stop(Dist *d);

void dist_finalize(Dist *d)
{
    overlap_stop(d);
#ifdef PS_MPI
    if (d->node) {
        for (int i = 0; i < d->node->n_win; i++) MPI_Win_free(&d->node->win[i]);
        MPI_Comm_free(&d->node->comm);
        free(d->node);
        d->node = NULL;
    }
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
    for (size_t off = 0; off < n && rc == MPI_SUCCESS; off += d->bucket) {
        size_t len = n - off < d->bucket ? n - off : d->bucket;
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

/* ---- the communication thread -------------------------------------------------------------- */

#ifdef PS_MPI
struct DistOverlap {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t more; /* a bucket was queued, or quit */
    pthread_cond_t done; /* a bucket was summed */
    MPI_Comm comm;       /* the world's duplicate: its collectives never interleave the main
                          * thread's on MPI_COMM_WORLD */
    struct {
        float *x;
        int n;
    } q[DIST_QUEUE];
    int64_t queued, summed; /* buckets ever queued / summed; q[i % DIST_QUEUE] */
    int quit, failed;
    double busy_s;
};

static void *overlap_main(void *arg)
{
    DistOverlap *o = arg;
    pthread_mutex_lock(&o->mu);
    for (;;) {
        while (!o->quit && o->summed == o->queued) pthread_cond_wait(&o->more, &o->mu);
        if (o->summed == o->queued) break; /* quit, and nothing left */
        float *x = o->q[o->summed % DIST_QUEUE].x;
        int n = o->q[o->summed % DIST_QUEUE].n;
        pthread_mutex_unlock(&o->mu);
        double t0 = now_s();
        int rc = MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_FLOAT, MPI_SUM, o->comm);
        double dt = now_s() - t0;
        pthread_mutex_lock(&o->mu);
        o->busy_s += dt;
        if (rc != MPI_SUCCESS) o->failed = 1;
        o->summed++;
        pthread_cond_broadcast(&o->done);
    }
    pthread_mutex_unlock(&o->mu);
    return NULL;
}
#endif

PsStatus dist_overlap_start(Dist *d, PsErr *err)
{
    if (d->size <= 1 || d->ov) return PS_OK;
#ifdef PS_MPI
    if (!d->thread_multiple)
        return ps_err(err, PS_ERR_INVALID,
                      "this MPI library does not offer MPI_THREAD_MULTIPLE, which overlapping "
                      "the all-reduce with backward needs; use --overlap=off");
    DistOverlap *o = calloc(1, sizeof *o);
    if (!o) return ps_err(err, PS_ERR_NOMEM, "out of memory");
    if (MPI_Comm_dup(MPI_COMM_WORLD, &o->comm) != MPI_SUCCESS) {
        free(o);
        return ps_err(err, PS_ERR_IO, "MPI_Comm_dup failed");
    }
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->more, NULL);
    pthread_cond_init(&o->done, NULL);
    if (pthread_create(&o->thread, NULL, overlap_main, o) != 0) {
        MPI_Comm_free(&o->comm);
        pthread_mutex_destroy(&o->mu);
        pthread_cond_destroy(&o->more);
        pthread_cond_destroy(&o->done);
        free(o);
        return ps_err(err, PS_ERR_IO, "cannot start the MPI communication thread");
    }
    d->ov = o;
    return PS_OK;
#else
    return ps_err(err, PS_ERR_INVALID, "no MPI in this build");
#endif
}

static void overlap_stop(Dist *d)
{
#ifdef PS_MPI
    DistOverlap *o = d->ov;
    if (!o) return;
    pthread_mutex_lock(&o->mu);
    o->quit = 1;
    pthread_cond_broadcast(&o->more);
    pthread_mutex_unlock(&o->mu);
    pthread_join(o->thread, NULL);
    MPI_Comm_free(&o->comm);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->more);
    pthread_cond_destroy(&o->done);
    free(o);
    d->ov = NULL;
#else
    (void)d;
#endif
}

PsStatus dist_queue_sum_floats(Dist *d, float *x, size_t n, PsErr *err)
{
    if (d->size <= 1 || n == 0) return PS_OK;
    if (!d->ov) {
        double c0 = d->comm_s;
        PsStatus rc = dist_sum_floats(d, x, n, err);
        d->exposed_s += d->comm_s - c0;
        return rc;
    }
#ifdef PS_MPI
    DistOverlap *o = d->ov;
    pthread_mutex_lock(&o->mu);
    for (size_t off = 0; off < n; off += d->bucket) {
        size_t len = n - off < d->bucket ? n - off : d->bucket;
        while (o->queued - o->summed >= DIST_QUEUE) pthread_cond_wait(&o->done, &o->mu);
        o->q[o->queued % DIST_QUEUE].x = x + off;
        o->q[o->queued % DIST_QUEUE].n = (int)len;
        o->queued++;
    }
    pthread_cond_signal(&o->more);
    pthread_mutex_unlock(&o->mu);
    d->comm_bytes += (double)n * sizeof(float);
    return PS_OK;
#else
    (void)x;
    return ps_err(err, PS_ERR_INVALID, "no MPI in this build");
#endif
}

PsStatus dist_queue_wait(Dist *d, PsErr *err)
{
    if (!d->ov) return PS_OK;
#ifdef PS_MPI
    DistOverlap *o = d->ov;
    double t0 = now_s();
    pthread_mutex_lock(&o->mu);
    while (o->summed < o->queued) pthread_cond_wait(&o->done, &o->mu);
    int failed = o->failed;
    o->failed = 0;
    d->comm_s += o->busy_s;
    o->busy_s = 0;
    pthread_mutex_unlock(&o->mu);
    d->exposed_s += now_s() - t0;
    d->comm_calls++;
    if (failed) return ps_err(err, PS_ERR_IO, "an MPI all-reduce of gradients failed");
    return PS_OK;
#else
    return ps_err(err, PS_ERR_INVALID, "no MPI in this build");
#endif
}

/* ---- memory shared within a machine -------------------------------------------------------- */

PsStatus dist_node_alloc(Dist *d, size_t bytes, uint8_t **out, PsErr *err)
{
    *out = NULL;
#ifdef PS_MPI
    DistNode *n = d->node;
    PS_CHECK(err, n && bytes > 0);
    if (n->n_win == DIST_NODE_WINDOWS)
        return ps_err(err, PS_ERR_INVALID, "more than %d shared memory windows",
                      DIST_NODE_WINDOWS);
    void *base = NULL;
    MPI_Win w;
    /* the first rank of the machine holds it all, the others map it */
    if (MPI_Win_allocate_shared(d->node_rank == 0 ? (MPI_Aint)bytes : 0, 1, MPI_INFO_NULL,
                                n->comm, &base, &w) != MPI_SUCCESS)
        return ps_err(err, PS_ERR_NOMEM, "cannot share %.0f MB between the ranks of this machine",
                      bytes / 1e6);
    MPI_Aint size = 0;
    int disp = 0;
    if (MPI_Win_shared_query(w, 0, &size, &disp, &base) != MPI_SUCCESS || (size_t)size < bytes) {
        MPI_Win_free(&w);
        return ps_err(err, PS_ERR_IO, "the shared memory window is not usable");
    }
    n->win[n->n_win++] = w;
    if (d->node_rank == 0) memset(base, 0, bytes);
    /* opens the window's first epoch: the zeroes are visible before anyone writes */
    if (MPI_Win_fence(0, w) != MPI_SUCCESS)
        return ps_err(err, PS_ERR_IO, "MPI fence on the shared memory failed");
    *out = base;
    return PS_OK;
#else
    (void)d;
    (void)bytes;
    return ps_err(err, PS_ERR_INVALID, "no MPI in this build");
#endif
}

PsStatus dist_node_sync(Dist *d, PsErr *err)
{
#ifdef PS_MPI
    DistNode *n = d->node;
    PS_CHECK(err, n);
    for (int i = 0; i < n->n_win; i++)
        if (MPI_Win_fence(0, n->win[i]) != MPI_SUCCESS)
            return ps_err(err, PS_ERR_IO, "MPI fence on the shared memory failed");
    if (MPI_Barrier(n->comm) != MPI_SUCCESS)
        return ps_err(err, PS_ERR_IO, "MPI barrier of this machine's ranks failed");
    return PS_OK;
#else
    (void)d;
    return ps_err(err, PS_ERR_INVALID, "no MPI in this build");
#endif
}
