/* test_worker.c — the screens' background thread (ui/worker.h): results arrive without the UI
 * thread waiting, a newer request overtakes an older one, errors (including a store that cannot
 * be opened) come back with the result, periodic re-runs, and nothing leaks at stop. Runs under
 * TSan too (TSAN_TESTS). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "ui/worker.h"

typedef struct {
    int64_t value;
} Req;

typedef struct {
    int64_t echo;   /* the request's value */
    int64_t stays;  /* proof the Store handle works */
    int *owned;     /* heap memory the result owns */
} Res;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int gate_closed; /* run waits while set */
    int started;     /* jobs begun */
    int freed;       /* results released */
} Ctx;

static PsStatus run(void *ctx, Store *st, const void *req, void *res, PsErr *err)
{
    Ctx *c = ctx;
    const Req *q = req;
    Res *r = res;
    pthread_mutex_lock(&c->mu);
    c->started++;
    pthread_cond_broadcast(&c->cv);
    while (c->gate_closed) pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    if (q->value < 0) return ps_err(err, PS_ERR_INVALID, "negative request %lld", (long long)q->value);
    StoreSplitCounts counts[STORE_N_SPLITS];
    PsStatus rc = store_split_counts(st, counts);
    if (rc) return rc;
    r->echo = q->value;
    r->stays = 0;
    for (int i = 0; i < STORE_N_SPLITS; i++) r->stays += counts[i].n_ehr;
    r->owned = malloc(sizeof *r->owned);
    if (!r->owned) return PS_ERR_NOMEM;
    *r->owned = (int)q->value;
    return PS_OK;
}

static Ctx *the_ctx; /* for free_result, which has no ctx argument */

static void free_res(void *res)
{
    Res *r = res;
    if (!r->owned) return;
    free(r->owned);
    r->owned = NULL;
    pthread_mutex_lock(&the_ctx->mu);
    the_ctx->freed++;
    pthread_mutex_unlock(&the_ctx->mu);
}

typedef struct {
    char dir[64];
    char path[128];
    Ctx ctx;
} Fix;

static int setup(void **state)
{
    Fix *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/ps_worker_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/store.db", f->dir);
    Store *st = NULL;
    PsErr err;
    if (store_open(&st, f->path, STORE_OPEN_CREATE, &err) != PS_OK) return -1;
    store_close(st);
    pthread_mutex_init(&f->ctx.mu, NULL);
    pthread_cond_init(&f->ctx.cv, NULL);
    the_ctx = &f->ctx;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fix *f = *state;
    char side[160];
    unlink(f->path);
    snprintf(side, sizeof side, "%s-wal", f->path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", f->path);
    unlink(side);
    rmdir(f->dir);
    pthread_mutex_destroy(&f->ctx.mu);
    pthread_cond_destroy(&f->ctx.cv);
    free(f);
    return 0;
}

static WorkerSpec spec_for(Fix *f, long period_ms)
{
    return (WorkerSpec){.req_size = sizeof(Req), .res_size = sizeof(Res), .run = run,
                        .free_result = free_res, .period_ms = period_ms, .ctx = &f->ctx};
}

/* Polls worker_take as on_tick would, for at most 10 s. */
static int take_within(Worker *w, Res *r, WorkerDone *d)
{
    for (int i = 0; i < 10000; i++) {
        if (worker_take(w, r, d)) return 1;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void wait_started(Ctx *c, int n)
{
    pthread_mutex_lock(&c->mu);
    while (c->started < n) pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

static void set_gate(Ctx *c, int closed)
{
    pthread_mutex_lock(&c->mu);
    c->gate_closed = closed;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void result_arrives_with_its_serial(void **state)
{
    Fix *f = *state;
    WorkerSpec s = spec_for(f, 0);
    Worker *w = NULL;
    PsErr err;
    assert_int_equal(worker_start(&w, f->path, &s, &err), PS_OK);
    assert_false(worker_pending(w));
    Res r;
    assert_false(worker_take(w, &r, NULL)); /* nothing posted, nothing to take */
    Req q = {42};
    unsigned seq = worker_post(w, &q);
    assert_true(seq > 0);
    assert_true(worker_pending(w));
    WorkerDone d;
    assert_true(take_within(w, &r, &d));
    assert_false(worker_pending(w));
    assert_int_equal(d.rc, PS_OK);
    assert_int_equal(d.seq, seq);
    assert_int_equal(r.echo, 42);
    assert_int_equal(r.stays, 0);
    assert_non_null(r.owned);
    assert_int_equal(*r.owned, 42);
    free(r.owned); /* the result is the caller's now */
    assert_false(worker_take(w, &r, NULL));
    worker_stop(w);
    assert_int_equal(f->ctx.freed, 0);
}

static void newer_request_overtakes(void **state)
{
    Fix *f = *state;
    WorkerSpec s = spec_for(f, 0);
    Worker *w = NULL;
    PsErr err;
    set_gate(&f->ctx, 1);
    assert_int_equal(worker_start(&w, f->path, &s, &err), PS_OK);
    Req a = {1}, b = {2};
    worker_post(w, &a);
    wait_started(&f->ctx, 1); /* job a is running, held at the gate */
    unsigned sb = worker_post(w, &b);
    set_gate(&f->ctx, 0);
    Res r;
    WorkerDone d;
    assert_true(take_within(w, &r, &d));
    /* only b's result is ever delivered; a's was released by the worker */
    assert_int_equal(d.seq, sb);
    assert_int_equal(r.echo, 2);
    free_res(&r);
    worker_stop(w);
    assert_int_equal(f->ctx.started, 2);
    assert_int_equal(f->ctx.freed, 2);
}

static void errors_come_back(void **state)
{
    Fix *f = *state;
    WorkerSpec s = spec_for(f, 0);
    Worker *w = NULL;
    PsErr err;
    assert_int_equal(worker_start(&w, f->path, &s, &err), PS_OK);
    Req q = {-5};
    worker_post(w, &q);
    Res r;
    WorkerDone d;
    assert_true(take_within(w, &r, &d));
    assert_int_equal(d.rc, PS_ERR_INVALID);
    assert_non_null(strstr(d.err, "negative request -5"));
    assert_null(r.owned);
    worker_stop(w);

    /* a store that cannot be opened: the error names it, run is never called */
    char bad[200];
    snprintf(bad, sizeof bad, "%s/no/such/dir/store.db", f->dir);
    int before = f->ctx.started;
    assert_int_equal(worker_start(&w, bad, &s, &err), PS_OK);
    q.value = 7;
    worker_post(w, &q);
    assert_true(take_within(w, &r, &d));
    assert_int_not_equal(d.rc, PS_OK);
    assert_true(d.err[0] != 0);
    assert_int_equal(f->ctx.started, before);
    assert_false(worker_pending(w));
    worker_stop(w);
}

static void periodic_rerun(void **state)
{
    Fix *f = *state;
    WorkerSpec s = spec_for(f, 20);
    Worker *w = NULL;
    PsErr err;
    assert_int_equal(worker_start(&w, f->path, &s, &err), PS_OK);
    Req q = {9};
    unsigned seq = worker_post(w, &q);
    Res r;
    WorkerDone d;
    for (int k = 0; k < 3; k++) {
        assert_true(take_within(w, &r, &d));
        assert_int_equal(d.seq, seq);
        assert_int_equal(r.echo, 9);
        free_res(&r);
    }
    assert_true(f->ctx.started >= 3);
    worker_stop(w);
}

static void stop_frees_what_was_not_taken(void **state)
{
    Fix *f = *state;
    WorkerSpec s = spec_for(f, 0);
    Worker *w = NULL;
    PsErr err;
    assert_int_equal(worker_start(&w, f->path, &s, &err), PS_OK);
    Req q = {3};
    worker_post(w, &q);
    wait_started(&f->ctx, 1);
    worker_stop(w); /* waits for the job, then releases its untaken result */
    assert_int_equal(f->ctx.freed, 1);
    worker_stop(NULL);
}

static void bad_spec_is_refused(void **state)
{
    Fix *f = *state;
    WorkerSpec s = spec_for(f, 0);
    s.run = NULL;
    Worker *w = (Worker *)&s;
    PsErr err;
    assert_int_not_equal(worker_start(&w, f->path, &s, &err), PS_OK);
    assert_null(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(result_arrives_with_its_serial, setup, teardown),
        cmocka_unit_test_setup_teardown(newer_request_overtakes, setup, teardown),
        cmocka_unit_test_setup_teardown(errors_come_back, setup, teardown),
        cmocka_unit_test_setup_teardown(periodic_rerun, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_frees_what_was_not_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_spec_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
