/* runs.c — accessors for the training record (see runs.h). Each writer is one short
 * transaction (or joins the caller's), so a trainer never holds the write lock across a
 * training step. It knows nothing about models: checkpoints are opaque bytes here.
 */
#include "store/runs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_internal.h"

static PsStatus prep(Store *st, sqlite3_stmt **q, const char *sql, const char *what)
{
    int r = sqlite3_prepare_v2(store_db(st), sql, -1, q, NULL);
    if (r != SQLITE_OK) return store_db_error(st, r, what);
    return PS_OK;
}

/* prep, with run_id bound to ?1: nearly every statement here is about one run. */
static PsStatus prep_run(Store *st, sqlite3_stmt **q, const char *sql, const char *what,
                         int64_t run_id)
{
    PsStatus rc = prep(st, q, sql, what);
    if (!rc) sqlite3_bind_int64(*q, 1, run_id);
    return rc;
}

static PsStatus step_done(Store *st, sqlite3_stmt *q, const char *what)
{
    int r = sqlite3_step(q);
    if (r != SQLITE_DONE && r != SQLITE_ROW) return store_db_error(st, r, what);
    return PS_OK;
}

static void bind_real_or_null(sqlite3_stmt *q, int i, double v)
{
    if (isnan(v)) sqlite3_bind_null(q, i);
    else sqlite3_bind_double(q, i, v);
}

static double col_real_or_nan(sqlite3_stmt *q, int i)
{
    return sqlite3_column_type(q, i) == SQLITE_NULL ? NAN : sqlite3_column_double(q, i);
}

static void col_text(sqlite3_stmt *q, int i, char *buf, size_t n)
{
    const unsigned char *t = sqlite3_column_text(q, i);
    snprintf(buf, n, "%s", t ? (const char *)t : "");
}

/* Steps q: 1 with a row to read; 0 at the end, or on an error, which is then set on st with
 * `what` as its context and returned in *rc. Keeps every reader's loop to one line. */
static int next_row(Store *st, sqlite3_stmt *q, const char *what, PsStatus *rc)
{
    int r = sqlite3_step(q);
    if (r == SQLITE_ROW) return 1;
    if (r != SQLITE_DONE) *rc = store_db_error(st, r, what);
    return 0;
}

/* Opens a write and prepares its first statement: in a transaction of its own unless the caller
 * holds one (then the caller commits). *own says which; write_end closes either way. */
static PsStatus write_begin(Store *st, int *own, sqlite3_stmt **q, const char *sql,
                            const char *what)
{
    *q = NULL;
    *own = 0;
    if (sqlite3_get_autocommit(store_db(st))) {
        PsStatus rc = store_begin(st);
        if (rc) return rc;
        *own = 1;
    }
    return prep(st, q, sql, what);
}

/* Finalizes q and, when the write owns its transaction, commits it (rc == PS_OK) or rolls it
 * back. Returns rc, or the commit's failure. */
static PsStatus write_end(Store *st, int own, sqlite3_stmt *q, PsStatus rc)
{
    sqlite3_finalize(q);
    if (!own) return rc;
    if (rc) {
        store_rollback(st);
        return rc;
    }
    return store_commit(st);
}

PsStatus runs_create(Store *st, const char *method, const char *config_json, int64_t seed,
                     const char *code_version, const char *status, int64_t *run_id)
{
    static const char sql[] =
        "INSERT INTO runs(method, config, seed, code_version, status, created, updated)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)";
    sqlite3_stmt *q;
    int own;
    PsStatus rc = write_begin(st, &own, &q, sql, "creating a run");
    if (!rc) {
        sqlite3_bind_text(q, 1, method, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 2, config_json ? config_json : "{}", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 3, seed);
        sqlite3_bind_text(q, 4, code_version ? code_version : "", -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(q, 5, status ? status : "queued", -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 6, (int64_t)time(NULL));
        rc = step_done(st, q, "creating a run");
        if (!rc) *run_id = sqlite3_last_insert_rowid(store_db(st));
    }
    return write_end(st, own, q, rc);
}

static PsStatus exec_one(Store *st, const char *sql, const char *what, int64_t run_id,
                         const char *a, const char *b)
{
    sqlite3_stmt *q;
    int own;
    PsStatus rc = write_begin(st, &own, &q, sql, what);
    if (!rc) {
        sqlite3_bind_int64(q, 1, run_id);
        if (a) sqlite3_bind_text(q, 2, a, -1, SQLITE_TRANSIENT);
        if (b) sqlite3_bind_text(q, 3, b, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 4, (int64_t)time(NULL));
        rc = step_done(st, q, what);
        if (!rc && sqlite3_changes(store_db(st)) == 0)
            rc = store_set_error(st, PS_ERR_NOTFOUND, "no run %lld in %s", (long long)run_id,
                                 store_path(st));
    }
    return write_end(st, own, q, rc);
}

PsStatus runs_set_status(Store *st, int64_t run_id, const char *status, const char *message)
{
    if (message)
        return exec_one(st,
                        "UPDATE runs SET status = ?2, message = ?3, updated = ?4 WHERE run_id = ?1",
                        "setting a run's status", run_id, status, message);
    return exec_one(st, "UPDATE runs SET status = ?2, updated = ?4 WHERE run_id = ?1",
                    "setting a run's status", run_id, status, NULL);
}

PsStatus runs_set_config(Store *st, int64_t run_id, const char *config_json)
{
    return exec_one(st, "UPDATE runs SET config = ?2, updated = ?4 WHERE run_id = ?1",
                    "saving a run's configuration", run_id, config_json, NULL);
}

static void read_run(sqlite3_stmt *q, RunInfo *r)
{
    memset(r, 0, sizeof *r);
    r->run_id = sqlite3_column_int64(q, 0);
    col_text(q, 1, r->method, sizeof r->method);
    col_text(q, 2, r->status, sizeof r->status);
    col_text(q, 3, r->message, sizeof r->message);
    r->seed = sqlite3_column_int64(q, 4);
    col_text(q, 5, r->code_version, sizeof r->code_version);
    r->created = sqlite3_column_int64(q, 6);
    r->updated = sqlite3_column_int64(q, 7);
}

#define RUN_COLS "run_id, method, status, message, seed, code_version, created, updated, config"

PsStatus runs_get(Store *st, int64_t run_id, RunInfo *out, char **config)
{
    if (config) *config = NULL;
    sqlite3_stmt *q = NULL;
    PsStatus rc = prep_run(st, &q, "SELECT " RUN_COLS " FROM runs WHERE run_id = ?1",
                           "reading a run", run_id);
    if (rc) return rc;
    if (next_row(st, q, "reading a run", &rc)) {
        read_run(q, out);
        if (config) {
            const char *c = (const char *)sqlite3_column_text(q, 8);
            *config = strdup(c ? c : "{}");
            if (!*config) rc = store_set_error(st, PS_ERR_NOMEM, "out of memory");
        }
    } else if (!rc) {
        rc = store_set_error(st, PS_ERR_NOTFOUND, "no run %lld in %s", (long long)run_id,
                             store_path(st));
    }
    sqlite3_finalize(q);
    return rc;
}

PsStatus runs_each(Store *st, RunsFn fn, void *ctx)
{
    sqlite3_stmt *q = NULL;
    PsStatus rc = prep(st, &q, "SELECT " RUN_COLS " FROM runs ORDER BY run_id DESC",
                       "listing runs");
    if (rc) return rc;
    while (!rc && next_row(st, q, "listing runs", &rc)) {
        RunInfo info;
        read_run(q, &info);
        if (fn(ctx, &info)) rc = PS_ERR_CANCELLED;
    }
    sqlite3_finalize(q);
    return rc;
}

PsStatus runs_put_steps(Store *st, int64_t run_id, const RunStep *steps, size_t n)
{
    if (n == 0) return PS_OK;
    static const char sql[] =
        "INSERT OR REPLACE INTO run_steps(run_id, step, loss_cxr, loss_ehr, loss_joint)"
        " VALUES (?1, ?2, ?3, ?4, ?5)";
    sqlite3_stmt *q;
    int own;
    PsStatus rc = write_begin(st, &own, &q, sql, "recording losses");
    for (size_t i = 0; !rc && i < n; i++) {
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, run_id);
        sqlite3_bind_int64(q, 2, steps[i].step);
        bind_real_or_null(q, 3, steps[i].loss_cxr);
        bind_real_or_null(q, 4, steps[i].loss_ehr);
        bind_real_or_null(q, 5, steps[i].loss_joint);
        rc = step_done(st, q, "recording losses");
    }
    return write_end(st, own, q, rc);
}

PsStatus runs_truncate(Store *st, int64_t run_id, int64_t step, int epoch)
{
    sqlite3_stmt *q;
    int own;
    PsStatus rc = write_begin(st, &own, &q,
                              "DELETE FROM run_steps WHERE run_id = ?1 AND step > ?2",
                              "trimming a resumed run");
    if (!rc) {
        sqlite3_bind_int64(q, 1, run_id);
        sqlite3_bind_int64(q, 2, step);
        rc = step_done(st, q, "trimming a resumed run");
    }
    sqlite3_finalize(q);
    q = NULL;
    if (!rc) rc = prep(st, &q, "DELETE FROM run_epochs WHERE run_id = ?1 AND epoch > ?2",
                       "trimming a resumed run");
    if (!rc) {
        sqlite3_bind_int64(q, 1, run_id);
        sqlite3_bind_int(q, 2, epoch);
        rc = step_done(st, q, "trimming a resumed run");
    }
    return write_end(st, own, q, rc);
}

PsStatus runs_each_step(Store *st, int64_t run_id, RunStepFn fn, void *ctx)
{
    static const char sql[] =
        "SELECT step, loss_cxr, loss_ehr, loss_joint FROM run_steps"
        " WHERE run_id = ?1 ORDER BY step";
    sqlite3_stmt *q = NULL;
    PsStatus rc = prep_run(st, &q, sql, "reading losses", run_id);
    if (rc) return rc;
    while (!rc && next_row(st, q, "reading losses", &rc)) {
        RunStep s = {sqlite3_column_int64(q, 0), col_real_or_nan(q, 1), col_real_or_nan(q, 2),
                     col_real_or_nan(q, 3)};
        if (fn(ctx, &s)) rc = PS_ERR_CANCELLED;
    }
    sqlite3_finalize(q);
    return rc;
}

PsStatus runs_put_epoch(Store *st, int64_t run_id, int epoch, const char *metrics_json)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO run_epochs(run_id, epoch, metrics) VALUES (?1, ?2, ?3)";
    sqlite3_stmt *q;
    int own;
    PsStatus rc = write_begin(st, &own, &q, sql, "recording epoch metrics");
    if (!rc) {
        sqlite3_bind_int64(q, 1, run_id);
        sqlite3_bind_int(q, 2, epoch);
        sqlite3_bind_text(q, 3, metrics_json, -1, SQLITE_TRANSIENT);
        rc = step_done(st, q, "recording epoch metrics");
    }
    return write_end(st, own, q, rc);
}

PsStatus runs_each_epoch(Store *st, int64_t run_id, RunEpochFn fn, void *ctx)
{
    sqlite3_stmt *q = NULL;
    PsStatus rc = prep_run(st, &q,
                           "SELECT epoch, metrics FROM run_epochs WHERE run_id = ?1 ORDER BY epoch",
                           "reading epoch metrics", run_id);
    if (rc) return rc;
    while (!rc && next_row(st, q, "reading epoch metrics", &rc)) {
        const char *m = (const char *)sqlite3_column_text(q, 1);
        if (fn(ctx, sqlite3_column_int(q, 0), m ? m : "{}")) rc = PS_ERR_CANCELLED;
    }
    sqlite3_finalize(q);
    return rc;
}

PsStatus runs_put_checkpoint(Store *st, int64_t run_id, const char *kind, int epoch,
                             const uint8_t *blob, size_t len)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO checkpoints(run_id, kind, epoch, created, weights)"
        " VALUES (?1, ?2, ?3, ?4, ?5)";
    sqlite3_stmt *q;
    int own;
    PsStatus rc = write_begin(st, &own, &q, sql, "saving a checkpoint");
    if (!rc) {
        sqlite3_bind_int64(q, 1, run_id);
        sqlite3_bind_text(q, 2, kind, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int(q, 3, epoch);
        sqlite3_bind_int64(q, 4, (int64_t)time(NULL));
        sqlite3_bind_blob64(q, 5, blob, (sqlite3_uint64)len, SQLITE_STATIC);
        rc = step_done(st, q, "saving a checkpoint");
    }
    return write_end(st, own, q, rc);
}

PsStatus runs_get_checkpoint(Store *st, int64_t run_id, const char *kind, int *epoch,
                             uint8_t **blob, size_t *len)
{
    *blob = NULL;
    *len = 0;
    sqlite3_stmt *q = NULL;
    PsStatus rc = prep_run(st, &q,
                           "SELECT epoch, weights FROM checkpoints WHERE run_id = ?1 AND kind = ?2",
                           "reading a checkpoint", run_id);
    if (rc) return rc;
    sqlite3_bind_text(q, 2, kind, -1, SQLITE_TRANSIENT);
    if (next_row(st, q, "reading a checkpoint", &rc)) {
        if (epoch) *epoch = sqlite3_column_int(q, 0);
        const void *b = sqlite3_column_blob(q, 1);
        size_t n = (size_t)sqlite3_column_bytes(q, 1);
        *blob = malloc(n ? n : 1);
        if (!*blob) rc = store_set_error(st, PS_ERR_NOMEM, "out of memory reading a checkpoint");
        else {
            if (n) memcpy(*blob, b, n);
            *len = n;
        }
    } else if (!rc) {
        rc = store_set_error(st, PS_ERR_NOTFOUND, "run %lld has no '%s' checkpoint",
                             (long long)run_id, kind);
    }
    sqlite3_finalize(q);
    return rc;
}

PsStatus runs_put_progress(Store *st, int64_t run_id, const RunProgress *p)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO run_progress(run_id, time, pid, phase, iteration, iterations,"
        " epoch, epochs, loss_cxr, loss_ehr, loss_joint, samples_per_s, eta_s, val_auroc)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
    sqlite3_stmt *q;
    int own;
    PsStatus rc = write_begin(st, &own, &q, sql, "recording progress");
    if (!rc) {
        sqlite3_bind_int64(q, 1, run_id);
        sqlite3_bind_int64(q, 2, p->time ? p->time : (int64_t)time(NULL));
        sqlite3_bind_int64(q, 3, p->pid);
        sqlite3_bind_text(q, 4, p->phase, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(q, 5, p->iteration);
        sqlite3_bind_int64(q, 6, p->iterations);
        sqlite3_bind_int(q, 7, p->epoch);
        sqlite3_bind_int(q, 8, p->epochs);
        bind_real_or_null(q, 9, p->loss_cxr);
        bind_real_or_null(q, 10, p->loss_ehr);
        bind_real_or_null(q, 11, p->loss_joint);
        bind_real_or_null(q, 12, p->samples_per_s);
        bind_real_or_null(q, 13, p->eta_s);
        bind_real_or_null(q, 14, p->val_auroc);
        rc = step_done(st, q, "recording progress");
    }
    return write_end(st, own, q, rc);
}

PsStatus runs_get_progress(Store *st, int64_t run_id, RunProgress *out)
{
    static const char sql[] =
        "SELECT time, pid, phase, iteration, iterations, epoch, epochs, loss_cxr,"
        " loss_ehr, loss_joint, samples_per_s, eta_s, val_auroc"
        " FROM run_progress WHERE run_id = ?1";
    sqlite3_stmt *q = NULL;
    PsStatus rc = prep_run(st, &q, sql, "reading progress", run_id);
    if (rc) return rc;
    if (next_row(st, q, "reading progress", &rc)) {
        memset(out, 0, sizeof *out);
        out->time = sqlite3_column_int64(q, 0);
        out->pid = sqlite3_column_int64(q, 1);
        col_text(q, 2, out->phase, sizeof out->phase);
        out->iteration = sqlite3_column_int64(q, 3);
        out->iterations = sqlite3_column_int64(q, 4);
        out->epoch = sqlite3_column_int(q, 5);
        out->epochs = sqlite3_column_int(q, 6);
        out->loss_cxr = col_real_or_nan(q, 7);
        out->loss_ehr = col_real_or_nan(q, 8);
        out->loss_joint = col_real_or_nan(q, 9);
        out->samples_per_s = col_real_or_nan(q, 10);
        out->eta_s = col_real_or_nan(q, 11);
        out->val_auroc = col_real_or_nan(q, 12);
    } else if (!rc) {
        rc = store_set_error(st, PS_ERR_NOTFOUND, "run %lld has no progress record",
                             (long long)run_id);
    }
    sqlite3_finalize(q);
    return rc;
}
