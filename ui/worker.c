/* worker.c — the screens' background thread (see worker.h): one request slot and one result
 * slot under a mutex, a condition variable to wake the thread, serials to drop overtaken
 * results. It knows nothing of what the jobs do; it does not cancel a job in progress (jobs
 * are short reads; worker_stop waits for the one in hand).
 */
#include "ui/worker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct Worker {
    WorkerSpec spec;
    char path[4096];
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    int stop;
    unsigned req_seq;  /* serial of the newest request (0: none yet) */
    void *req;         /* the newest request */
    int has_res;
    void *res;         /* the newest finished result, not yet taken */
    WorkerDone done;
    /* UI thread only */
    unsigned taken_seq;
    /* worker thread only */
    Store *st;
    void *job_req, *job_res;
};

static long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void release(const Worker *w, void *res)
{
    if (w->spec.free_result) w->spec.free_result(res);
}

/* One job, outside the mutex. */
static void run_job(Worker *w, WorkerDone *d)
{
    long t0 = mono_ms();
    memset(w->job_res, 0, w->spec.res_size);
    PsErr err = {{0}};
    d->rc = PS_OK;
    d->err[0] = 0;
    if (!w->st) {
        d->rc = store_open(&w->st, w->path, STORE_OPEN_READONLY, &err);
        if (d->rc != PS_OK) {
            w->st = NULL;
            snprintf(d->err, sizeof d->err, "%s", err.msg);
        }
    }
    if (w->st) {
        d->rc = w->spec.run(w->spec.ctx, w->st, w->job_req, w->job_res, &err);
        if (d->rc != PS_OK)
            snprintf(d->err, sizeof d->err, "%s", err.msg[0] ? err.msg : store_errmsg(w->st));
    }
    d->ms = mono_ms() - t0;
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    unsigned ran = 0;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        if (w->req_seq == ran) {
            if (ran == 0 || w->spec.period_ms <= 0) {
                pthread_cond_wait(&w->cv, &w->mu);
                continue;
            }
            /* the periodic re-run, unless a new request or stop comes first */
            struct timespec dl;
            clock_gettime(CLOCK_REALTIME, &dl);
            dl.tv_sec += w->spec.period_ms / 1000;
            dl.tv_nsec += (w->spec.period_ms % 1000) * 1000000;
            if (dl.tv_nsec >= 1000000000) {
                dl.tv_sec++;
                dl.tv_nsec -= 1000000000;
            }
            int timed_out = 0;
            while (!w->stop && w->req_seq == ran)
                if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) == ETIMEDOUT) {
                    timed_out = 1;
                    break;
                }
            if (!timed_out) continue;
        }
        unsigned seq = w->req_seq;
        if (w->spec.req_size) memcpy(w->job_req, w->req, w->spec.req_size);
        pthread_mutex_unlock(&w->mu);
        WorkerDone d;
        run_job(w, &d);
        d.seq = seq;
        pthread_mutex_lock(&w->mu);
        ran = seq;
        if (seq != w->req_seq) { /* overtaken while it ran */
            release(w, w->job_res);
            continue;
        }
        if (w->has_res) release(w, w->res);
        memcpy(w->res, w->job_res, w->spec.res_size);
        w->done = d;
        w->has_res = 1;
    }
    pthread_mutex_unlock(&w->mu);
    if (w->st) store_close(w->st);
    w->st = NULL;
    return NULL;
}

static void worker_free(Worker *w)
{
    free(w->req);
    free(w->res);
    free(w->job_req);
    free(w->job_res);
    free(w);
}

PsStatus worker_start(Worker **out, const char *store_path, const WorkerSpec *spec, PsErr *err)
{
    if (out) *out = NULL;
    PS_CHECK(err, out && store_path && spec && spec->run && spec->res_size > 0);
    if (strlen(store_path) >= sizeof ((Worker *)0)->path)
        return ps_err(err, PS_ERR_INVALID, "worker: store path too long");
    Worker *w = calloc(1, sizeof *w);
    if (!w) return ps_err(err, PS_ERR_NOMEM, "worker: out of memory");
    w->spec = *spec;
    snprintf(w->path, sizeof w->path, "%s", store_path);
    size_t rq = spec->req_size ? spec->req_size : 1;
    w->req = calloc(1, rq);
    w->job_req = calloc(1, rq);
    w->res = calloc(1, spec->res_size);
    w->job_res = calloc(1, spec->res_size);
    if (!w->req || !w->job_req || !w->res || !w->job_res) {
        worker_free(w);
        return ps_err(err, PS_ERR_NOMEM, "worker: out of memory");
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    /* The thread must never take SIGINT/SIGTERM/SIGHUP/SIGWINCH: the UI thread's handlers do.
     * Faults stay deliverable: a crash in the worker must reach the handler that restores the
     * terminal (a blocked SIGSEGV kills the process without running any handler). */
    sigset_t all, old;
    sigfillset(&all);
    for (const int *f = (const int[]){SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, 0}; *f; f++)
        sigdelset(&all, *f);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int prc = pthread_create(&w->th, NULL, worker_main, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        worker_free(w);
        return ps_err(err, PS_ERR_NOMEM, "worker: cannot start a thread (%s)", strerror(prc));
    }
    *out = w;
    return PS_OK;
}

unsigned worker_post(Worker *w, const void *req)
{
    pthread_mutex_lock(&w->mu);
    if (w->spec.req_size) memcpy(w->req, req, w->spec.req_size);
    unsigned seq = ++w->req_seq;
    /* a result of an older request must not be taken as this one's */
    if (w->has_res) {
        release(w, w->res);
        w->has_res = 0;
    }
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return seq;
}

int worker_take(Worker *w, void *res, WorkerDone *info)
{
    pthread_mutex_lock(&w->mu);
    int got = w->has_res;
    if (got) {
        memcpy(res, w->res, w->spec.res_size);
        if (info) *info = w->done;
        w->taken_seq = w->done.seq;
        w->has_res = 0;
    }
    pthread_mutex_unlock(&w->mu);
    return got;
}

int worker_pending(const Worker *w)
{
    /* both serials are written by this (the UI) thread only */
    return w->req_seq != w->taken_seq;
}

void worker_stop(Worker *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    if (w->has_res) release(w, w->res);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    worker_free(w);
}
