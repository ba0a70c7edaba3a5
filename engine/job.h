/* job.h — training in a background thread: a queue of runs, pause / resume / stop, and a
 * progress snapshot that readers copy without waiting for a training step.
 *
 * Thread safety:
 *  - job_new / job_free: the owning thread (the CLI's main thread, the TUI's loop).
 *  - job_submit, job_pause, job_resume, job_stop, job_cancel_queued, job_snapshot, job_result:
 *    any thread; they take the job's mutex only for a copy or a flag change, never across a
 *    training step, so a UI tick never waits on BLAS.
 *  - the worker thread runs train_run on its own Store connection (WAL: readers in other
 *    connections are not blocked); it blocks SIGINT, SIGTERM and SIGWINCH so signals reach
 *    the main thread, never calls curses and never prints.
 *  - pause and stop are atomic flags the worker checks once per iteration; a paused worker waits
 *    on a condition variable, holding nothing else.
 */
#ifndef JOB_H
#define JOB_H

#include <stdint.h>

#include "engine/train.h"
#include "store/ps.h"

#define JOB_MAX 256

typedef struct Job Job;

typedef struct {
    char store_path[4096];
    TrainConfig cfg;
    int64_t run_id; /* 0: create a new run; otherwise continue it (resume) */
    int blas_threads; /* > 0: OpenBLAS threads for this run (process-wide) */
} JobRequest;

typedef enum {
    JOB_QUEUED = 0,
    JOB_LOADING,
    JOB_RUNNING,
    JOB_PAUSED,
    JOB_DONE,
    JOB_STOPPED,
    JOB_FAILED,
    JOB_CANCELLED, /* removed from the queue before it started */
} JobState;

const char *job_state_name(JobState s);

typedef struct {
    JobState state;
    int64_t run_id; /* 0 until created */
    PsStatus rc;
    char message[PS_ERRMSG_MAX];
} JobResult;

typedef struct {
    int current;   /* job id being worked on, or -1 */
    int queued;    /* jobs waiting */
    int finished;  /* jobs done, stopped, failed or cancelled */
    JobState state; /* of the current job (or of the last one when idle) */
    char load_phase[16];
    int64_t load_done, load_total;
    TrainProgress progress; /* of the current (or last) run */
    uint64_t version; /* increases with every update: a reader can skip redraws */
} JobSnapshot;

/* Starts the worker thread (idle until a job is submitted). */
PsStatus job_new(Job **out, PsErr *err);
/* Stops the current run (saving its checkpoint), cancels queued jobs, joins the worker. */
void job_free(Job *j);

/* Queues a run; *id receives the job's id (0, 1, ...). PS_ERR_BUSY when JOB_MAX jobs exist. */
PsStatus job_submit(Job *j, const JobRequest *r, int *id, PsErr *err);
void job_pause(Job *j);
void job_resume(Job *j);
/* Asks the current run to stop after its iteration (checkpoint saved; resumable). */
void job_stop(Job *j);
/* Removes every queued job that has not started. */
void job_cancel_queued(Job *j);
/* Copies the snapshot (never waits for a training step). */
void job_snapshot(Job *j, JobSnapshot *out);
/* The result of job id; PS_ERR_NOTFOUND for an unknown id. */
PsStatus job_result(Job *j, int id, JobResult *out);
/* Blocks until no job is queued or running. */
void job_wait_idle(Job *j);

#endif
