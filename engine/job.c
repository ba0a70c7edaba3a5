/* job.c — the background training worker and its queue (see job.h for the thread-safety
 * contract). One worker thread: runs are trained one after another, which is what 2 cores
 * allow; the dataset of the previous run is reused when the next one wants the same data.
 *
 * Deliberately not here: how progress is shown (the CLI and TUI read snapshots), and
 * OpenBLAS's own threads (set per request; they compute inside the worker's calls).
 */
#include "engine/job.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/blas.h"
#include "engine/dataset.h"
#include "store/runs.h"

typedef struct {
    JobRequest req;
    JobResult res;
} JobEntry;

struct Job {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* queue changes, pause released, shutdown */
    pthread_cond_t idle_cv; /* the worker finished a job */
    JobEntry *jobs[JOB_MAX];
    int n_jobs, next; /* submitted; next to start */
    int shutdown;
    atomic_int stop, pause;
    JobSnapshot snap;
};

const char *job_state_name(JobState s)
{
    static const char *const n[] = {"queued", "loading", "running", "paused",
                                    "done",   "stopped", "failed",  "cancelled"};
    return (unsigned)s < sizeof n / sizeof n[0] ? n[s] : "?";
}

/* ---- hooks, called on the worker thread ------------------------------------------------ */

static void on_progress(void *ctx, const TrainProgress *p)
{
    Job *j = ctx;
    pthread_mutex_lock(&j->mu);
    j->snap.progress = *p;
    j->snap.version++;
    pthread_mutex_unlock(&j->mu);
}

static int on_control(void *ctx)
{
    Job *j = ctx;
    if (atomic_load(&j->stop)) return 1;
    if (!atomic_load(&j->pause)) return 0;
    pthread_mutex_lock(&j->mu);
    j->snap.state = JOB_PAUSED;
    snprintf(j->snap.progress.state, sizeof j->snap.progress.state, "paused");
    j->snap.version++;
    while (atomic_load(&j->pause) && !atomic_load(&j->stop)) pthread_cond_wait(&j->cv, &j->mu);
    j->snap.state = JOB_RUNNING;
    snprintf(j->snap.progress.state, sizeof j->snap.progress.state, "running");
    j->snap.version++;
    pthread_mutex_unlock(&j->mu);
    return atomic_load(&j->stop);
}

static void on_load(void *ctx, const char *phase, int64_t done, int64_t total)
{
    Job *j = ctx;
    pthread_mutex_lock(&j->mu);
    snprintf(j->snap.load_phase, sizeof j->snap.load_phase, "%s", phase);
    j->snap.load_done = done;
    j->snap.load_total = total;
    j->snap.version++;
    pthread_mutex_unlock(&j->mu);
}

/* ---- the worker ---------------------------------------------------------------------------- */

typedef struct {
    Dataset d;
    int loaded;
    char path[4096];
    DatasetConfig cfg;
} DataCache;

static int same_data(const DataCache *c, const char *path, const DatasetConfig *dc)
{
    return c->loaded && strcmp(c->path, path) == 0 && c->cfg.bin_hours == dc->bin_hours &&
           c->cfg.max_bins == dc->max_bins && c->cfg.uncertain == dc->uncertain &&
           (!dc->load_images || (c->cfg.load_images && c->cfg.img_size == dc->img_size));
}

static void finish(Job *j, JobEntry *e, JobState s, PsStatus rc, const char *msg)
{
    pthread_mutex_lock(&j->mu);
    e->res.state = s;
    e->res.rc = rc;
    snprintf(e->res.message, sizeof e->res.message, "%s", msg ? msg : "");
    j->snap.state = s;
    j->snap.current = -1;
    j->snap.finished++;
    j->snap.version++;
    pthread_cond_broadcast(&j->idle_cv);
    pthread_mutex_unlock(&j->mu);
}

static void run_one(Job *j, JobEntry *e, DataCache *cache)
{
    PsErr err = {{0}};
    Store *st = NULL;
    PsStatus rc;
    JobRequest *r = &e->req;
    if (r->blas_threads > 0) blas_set_threads(r->blas_threads);
    if ((rc = store_open(&st, r->store_path, STORE_OPEN_READWRITE, &err))) {
        finish(j, e, JOB_FAILED, rc, err.msg);
        return;
    }
    TrainConfig cfg = r->cfg;
    int resume = r->run_id > 0;
    if (resume) {
        RunInfo info;
        char *json = NULL;
        if ((rc = runs_get(st, r->run_id, &info, &json))) {
            ps_err(&err, rc, "%s", store_errmsg(st));
            goto fail;
        }
        rc = train_config_parse(&cfg, json, &err);
        free(json);
        if (rc) goto fail;
        cfg.seed = (uint64_t)info.seed;
    }
    DatasetConfig dc;
    train_dataset_config(&cfg, &dc);
    if (!same_data(cache, r->store_path, &dc)) {
        dataset_free(&cache->d);
        cache->loaded = 0;
        if ((rc = dataset_load(&cache->d, st, &dc, on_load, j, &err))) goto fail;
        cache->loaded = 1;
        cache->cfg = dc;
        snprintf(cache->path, sizeof cache->path, "%s", r->store_path);
    }
    int64_t run_id = r->run_id;
    if (!resume) {
        char *json = train_config_json(&cfg, &cache->d.counts);
        if (!json) {
            rc = ps_err(&err, PS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        rc = runs_create(st, train_method_name(cfg.method), json, (int64_t)cfg.seed, PS_VERSION,
                         "running", &run_id);
        free(json);
        if (rc) {
            ps_err(&err, rc, "%s", store_errmsg(st));
            goto fail;
        }
    }
    pthread_mutex_lock(&j->mu);
    e->res.run_id = run_id;
    j->snap.state = JOB_RUNNING;
    j->snap.progress.run_id = run_id;
    j->snap.version++;
    pthread_mutex_unlock(&j->mu);
    TrainHooks hooks = {.ctx = j, .progress = on_progress, .control = on_control};
    rc = train_run(st, run_id, &cache->d, &cfg, resume, &hooks, &err);
    store_close(st);
    if (rc == PS_ERR_CANCELLED) finish(j, e, JOB_STOPPED, rc, err.msg);
    else if (rc) finish(j, e, JOB_FAILED, rc, err.msg);
    else finish(j, e, JOB_DONE, PS_OK, "");
    return;
fail:
    store_close(st);
    finish(j, e, JOB_FAILED, rc, err.msg);
}

static void *worker(void *arg)
{
    Job *j = arg;
    DataCache cache;
    memset(&cache, 0, sizeof cache);
    for (;;) {
        pthread_mutex_lock(&j->mu);
        while (!j->shutdown && j->next >= j->n_jobs) pthread_cond_wait(&j->cv, &j->mu);
        if (j->shutdown) {
            pthread_mutex_unlock(&j->mu);
            break;
        }
        int id = j->next++;
        JobEntry *e = j->jobs[id];
        if (e->res.state == JOB_CANCELLED) {
            pthread_mutex_unlock(&j->mu);
            continue;
        }
        e->res.state = JOB_LOADING;
        j->snap.current = id;
        j->snap.queued--;
        j->snap.state = JOB_LOADING;
        memset(&j->snap.progress, 0, sizeof j->snap.progress);
        TrainProgress *p = &j->snap.progress;
        p->loss_cxr = p->loss_ehr = p->loss_joint = p->samples_per_s = p->eta_s = NAN;
        p->val_auroc = p->best_val_auroc = NAN;
        for (int k = 0; k < 3; k++) p->val_group[k] = NAN;
        snprintf(j->snap.progress.state, sizeof j->snap.progress.state, "loading");
        snprintf(j->snap.progress.method, sizeof j->snap.progress.method, "%s",
                 train_method_name(e->req.cfg.method));
        j->snap.version++;
        atomic_store(&j->stop, 0);
        pthread_mutex_unlock(&j->mu);
        run_one(j, e, &cache);
    }
    dataset_free(&cache.d);
    return NULL;
}

/* ---- the owner's side ---------------------------------------------------------------------- */

PsStatus job_new(Job **out, PsErr *err)
{
    *out = NULL;
    Job *j = calloc(1, sizeof *j);
    if (!j) return ps_err(err, PS_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    pthread_cond_init(&j->idle_cv, NULL);
    atomic_init(&j->stop, 0);
    atomic_init(&j->pause, 0);
    j->snap.current = -1;
    /* signals belong to the main thread: the worker inherits a blocked mask */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGWINCH);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGQUIT);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int r = pthread_create(&j->thread, NULL, worker, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        pthread_mutex_destroy(&j->mu);
        pthread_cond_destroy(&j->cv);
        pthread_cond_destroy(&j->idle_cv);
        free(j);
        return ps_err(err, PS_ERR_NOMEM, "cannot start the training thread (error %d)", r);
    }
    *out = j;
    return PS_OK;
}

void job_cancel_queued(Job *j)
{
    pthread_mutex_lock(&j->mu);
    for (int i = j->next; i < j->n_jobs; i++)
        if (j->jobs[i]->res.state == JOB_QUEUED) {
            j->jobs[i]->res.state = JOB_CANCELLED;
            j->snap.queued--;
            j->snap.finished++;
        }
    j->snap.version++;
    pthread_cond_broadcast(&j->idle_cv);
    pthread_mutex_unlock(&j->mu);
}

void job_free(Job *j)
{
    if (!j) return;
    job_cancel_queued(j);
    pthread_mutex_lock(&j->mu);
    j->shutdown = 1;
    atomic_store(&j->stop, 1);
    atomic_store(&j->pause, 0);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->thread, NULL);
    for (int i = 0; i < j->n_jobs; i++) free(j->jobs[i]);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    pthread_cond_destroy(&j->idle_cv);
    free(j);
}

PsStatus job_submit(Job *j, const JobRequest *r, int *id, PsErr *err)
{
    JobEntry *e = calloc(1, sizeof *e);
    if (!e) return ps_err(err, PS_ERR_NOMEM, "out of memory");
    e->req = *r;
    e->res.state = JOB_QUEUED;
    pthread_mutex_lock(&j->mu);
    if (j->n_jobs >= JOB_MAX) {
        pthread_mutex_unlock(&j->mu);
        free(e);
        return ps_err(err, PS_ERR_BUSY, "%d training jobs already submitted", JOB_MAX);
    }
    *id = j->n_jobs;
    j->jobs[j->n_jobs++] = e;
    j->snap.queued++;
    j->snap.version++;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    return PS_OK;
}

void job_pause(Job *j) { atomic_store(&j->pause, 1); }

void job_resume(Job *j)
{
    pthread_mutex_lock(&j->mu);
    atomic_store(&j->pause, 0);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void job_stop(Job *j)
{
    pthread_mutex_lock(&j->mu);
    atomic_store(&j->stop, 1);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void job_snapshot(Job *j, JobSnapshot *out)
{
    pthread_mutex_lock(&j->mu);
    *out = j->snap;
    pthread_mutex_unlock(&j->mu);
}

PsStatus job_result(Job *j, int id, JobResult *out)
{
    PsStatus rc = PS_OK;
    pthread_mutex_lock(&j->mu);
    if (id < 0 || id >= j->n_jobs) rc = PS_ERR_NOTFOUND;
    else *out = j->jobs[id]->res;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

void job_wait_idle(Job *j)
{
    pthread_mutex_lock(&j->mu);
    while (j->snap.queued > 0 || j->snap.current >= 0) pthread_cond_wait(&j->idle_cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
}
