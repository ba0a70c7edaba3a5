/* worker.h — a screen's background thread: its own read-only Store handle, jobs posted by the
 * UI thread, results picked up in on_tick without waiting, so the UI thread never blocks on a
 * query, an image decode or a prediction.
 *
 * The UI thread posts a request (copied in). The worker runs spec.run on its own Store (opened
 * on the worker thread on first use; when opening fails, the request's result carries that error
 * and the next request tries again). A newer request overtakes an older one: only the newest
 * request's result is delivered; an overtaken or never-taken result is released with
 * spec.free_result. With spec.period_ms > 0 the worker runs the newest request again that
 * often (a live view of a store another process writes). Signals are blocked in the thread:
 * the UI thread alone handles them.
 *
 * Thread safety: worker_post / worker_take / worker_pending / worker_stop from one thread (the
 * UI thread); spec.run and spec.free_result run on the worker thread (free_result also in
 * worker_stop) and must touch only the request, the result, their Store and what ctx makes safe.
 */
#ifndef WORKER_H
#define WORKER_H

#include <stddef.h>

#include "store/ps.h"
#include "store/store.h"

/* Runs one request on the worker's Store, filling res (zeroed before the call). A non-PS_OK
 * return with err->msg empty reports store_errmsg(st). */
typedef PsStatus (*WorkerRunFn)(void *ctx, Store *st, const void *req, void *res, PsErr *err);

typedef struct {
    size_t req_size;   /* bytes of a request (0: requests carry no data) */
    size_t res_size;   /* bytes of a result, at least 1 */
    WorkerRunFn run;
    void (*free_result)(void *res); /* releases what a result owns; NULL: nothing */
    long period_ms;    /* > 0: re-run the newest request this often */
    void *ctx;         /* passed to run */
} WorkerSpec;

/* What came with a result besides the result itself. */
typedef struct {
    PsStatus rc;               /* run's status, or the Store's opening status */
    char err[PS_ERRMSG_MAX];   /* its message when rc != PS_OK (raw: sanitise before drawing) */
    unsigned seq;              /* the serial worker_post returned for the request answered */
    long ms;                   /* wall time of the job */
} WorkerDone;

typedef struct Worker Worker;

/* Starts the thread; the Store at store_path is opened on it. */
PsStatus worker_start(Worker **out, const char *store_path, const WorkerSpec *spec, PsErr *err);
/* Queues req (NULL when req_size is 0), overtaking any request not yet answered; returns the
 * request's serial (1, 2, ...). */
unsigned worker_post(Worker *w, const void *req);
/* 1 and the newest result moved into res (now the caller's) when one is ready; 0 otherwise.
 * Never waits for a job. info may be NULL. */
int worker_take(Worker *w, void *res, WorkerDone *info);
/* 1 while the newest posted request has no result taken yet. */
int worker_pending(const Worker *w);
/* Asks the thread to stop, waits for the job in hand to finish, joins, frees what was not
 * taken and closes the Store. w may be NULL. */
void worker_stop(Worker *w);

#endif
