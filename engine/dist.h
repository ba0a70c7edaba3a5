/* dist.h — the few collective operations data-parallel training needs, over MPI when the binary
 * is built with it (-DPS_MPI, see the Makefile) and as a single rank otherwise, so the trainer
 * has one code path: with size == 1 every operation is a no-op that returns at once.
 *
 * A Dist is a caller-owned value (no global state): dist_single() makes the one-rank kind,
 * dist_init() joins the MPI job that mpirun or srun started (MPI_THREAD_SERIALIZED: any one
 * thread at a time may call these functions). Nothing outside dist.c includes mpi.h.
 *
 * Errors: MPI's default handler (MPI_ERRORS_ARE_FATAL) stays in place, so a broken link or a
 * dead peer ends every rank of the job (mpirun supervises the processes as well): no rank waits
 * forever in a collective. dist_abort() ends the whole job from one rank whose failure the
 * others cannot know about.
 *
 * Thread safety: one thread at a time per Dist.
 */
#ifndef DIST_H
#define DIST_H

#include <stddef.h>
#include <stdint.h>

#include "store/ps.h"

/* Gradient all-reduce buckets: 1 Mi floats (4 MiB) each by default, reduced one after another;
 * PHENOSCOPE_BUCKET_KB sets another size (the tests use small ones to cut a small model's
 * gradient into many). */
#define DIST_BUCKET_FLOATS ((size_t)1 << 20)

typedef struct DistOverlap DistOverlap;
typedef struct DistNode DistNode;

typedef struct {
    int rank, size;
    int hosts;         /* distinct machines (processor names) among the ranks */
    int local_size;    /* ranks on this rank's machine, itself included */
    int node_rank, node_size; /* this rank among those sharing its memory (MPI's view) */
    DistNode *node;    /* their communicator and shared windows */
    size_t bucket;     /* floats per all-reduce bucket */
    int thread_multiple; /* the MPI library allows calls from several threads at once */
    DistOverlap *ov;   /* the communication thread, when dist_overlap_start ran */
    int mpi;           /* 1 when dist_init joined an MPI job (then dist_finalize) */
    int failed_together; /* set by the trainer when every rank saw the same fatal error */
    double comm_s;     /* seconds spent in gradient all-reduces (statistics) */
    double exposed_s;  /* of which the trainer waited for (all of comm_s without overlap) */
    int64_t comm_calls;
    double comm_bytes;
} Dist;

/* One rank, no MPI. */
void dist_single(Dist *d);
/* Whether the binary was built with MPI. */
int dist_available(void);
/* Whether the environment says a launcher (mpirun, srun --mpi=pmix, mpiexec) started this
 * process as one of several ranks. */
int dist_launched(void);
/* Joins the job (MPI_Init_thread, asking for MPI_THREAD_MULTIPLE, needing at least
 * MPI_THREAD_SERIALIZED) and counts its hosts. Refuses, with a message, a binary built without MPI under a
 * launcher, and a launcher that started several tasks which MPI does not see as one job
 * (srun without --mpi=pmix): N independent single-rank runs would each write the store. */
PsStatus dist_init(Dist *d, int *argc, char ***argv, PsErr *err);
/* Leaves the job cleanly (every rank must call it); stops the communication thread. */
void dist_finalize(Dist *d);
/* Ends every rank of the job with exit code code: under MPI it does not return; with one rank
 * it returns and the caller exits as usual. */
void dist_abort(Dist *d, int code);

/* In-place sum over ranks of x (n floats), in d->bucket buckets.
 * Time and bytes are added to d->comm_s / comm_bytes. */
PsStatus dist_sum_floats(Dist *d, float *x, size_t n, PsErr *err);
/* Gradient all-reduces overlapped with computation: dist_overlap_start (collective: every rank
 * calls it) starts a communication thread with its own duplicate of the world communicator;
 * from then on dist_queue_sum_floats hands buckets to it and returns at once, and
 * dist_queue_wait waits until every bucket handed over is summed. The trainer keeps computing
 * (the rest of backward, the other model's step) while the sums travel: this pays when the
 * interconnect moves the bytes while the cores compute (several machines); on one machine the
 * copies are made by the same cores. Needs MPI_THREAD_MULTIPLE: the trainer's own collectives
 * (synchronised batch norm, validation) run on the main thread meanwhile. */
PsStatus dist_overlap_start(Dist *d, PsErr *err);
/* In-place sum over ranks of x (n floats): handed to the communication thread in
 * d->bucket buckets when it runs, summed at once (as dist_sum_floats) otherwise.
 * x must not be touched until dist_queue_wait has returned. */
PsStatus dist_queue_sum_floats(Dist *d, float *x, size_t n, PsErr *err);
/* Waits for every queued sum; its time is added to d->exposed_s. */
PsStatus dist_queue_wait(Dist *d, PsErr *err);

/* In-place average over ranks of x (n floats). */
PsStatus dist_avg_floats(Dist *d, float *x, size_t n, PsErr *err);
/* In-place sum over ranks of x (n doubles; small vectors: losses, counts, BN statistics). */
PsStatus dist_sum_doubles(Dist *d, double *x, int n, PsErr *err);
/* In-place maximum over ranks of x (n ints; "does any rank want to stop?"). */
PsStatus dist_max_ints(Dist *d, int *x, int n, PsErr *err);
/* Broadcasts bytes from root to every rank. */
PsStatus dist_bcast(Dist *d, void *buf, size_t bytes, int root, PsErr *err);
/* Whether v is the same on every rank: *lo and *hi receive its smallest and largest values,
 * *rank_hi the lowest rank holding the largest. */
PsStatus dist_agree(Dist *d, uint64_t v, uint64_t *lo, uint64_t *hi, int *rank_hi, PsErr *err);
/* Memory shared by the ranks of one machine (MPI_Win_allocate_shared): every rank of the
 * machine calls it (collective over them) with the same bytes and gets the same memory in *out,
 * zeroed; it lives until dist_finalize. Writes become visible to the others at
 * dist_node_sync. */
PsStatus dist_node_alloc(Dist *d, size_t bytes, uint8_t **out, PsErr *err);
/* Waits for the ranks of this machine, and makes what each wrote to the shared memory visible
 * to all of them. */
PsStatus dist_node_sync(Dist *d, PsErr *err);

/* Waits for every rank. */
PsStatus dist_barrier(Dist *d, PsErr *err);

#endif
