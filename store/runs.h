/* runs.h — the training record in the store: runs, per-step losses, per-epoch metrics,
 * checkpoints and the live progress row.
 *
 * A run is created with its method, configuration (JSON), seed, code version and status
 * "queued"/"running"; the trainer appends steps and epochs, replaces the "best" and "last"
 * checkpoints (safetensors bytes) and overwrites one progress row every few seconds, each in
 * its own short transaction so readers in other connections never wait long (WAL).
 *
 * Thread safety: like Store, one thread per Store. The trainer opens its own.
 */
#ifndef RUNS_H
#define RUNS_H

#include <stddef.h>
#include <stdint.h>

#include "store/ps.h"
#include "store/store.h"

typedef struct {
    int64_t run_id;
    char method[32];
    char status[16]; /* queued, running, paused, done, stopped, failed */
    char message[256];
    int64_t seed;
    char code_version[64];
    int64_t created, updated;
} RunInfo;

typedef struct {
    int64_t step;
    double loss_cxr, loss_ehr, loss_joint; /* NaN when the method has no such loss (NULL) */
} RunStep;

typedef struct {
    int64_t time;
    int64_t pid;
    char phase[32]; /* "train", "pretrain", "validate", "done" */
    int64_t iteration, iterations; /* within the run, and planned total */
    int epoch, epochs;
    double loss_cxr, loss_ehr, loss_joint, samples_per_s, eta_s, val_auroc; /* NaN = unknown */
} RunProgress;

/* Creates a run; *run_id receives its id. */
PsStatus runs_create(Store *st, const char *method, const char *config_json, int64_t seed,
                     const char *code_version, const char *status, int64_t *run_id);
/* Sets status (and message, may be NULL = unchanged) and the updated time. */
PsStatus runs_set_status(Store *st, int64_t run_id, const char *status, const char *message);
/* Replaces the configuration JSON (e.g. to add data counts once they are known). */
PsStatus runs_set_config(Store *st, int64_t run_id, const char *config_json);
/* The run; PS_ERR_NOTFOUND (with a message naming the run) when absent. config: when non-NULL,
 * a malloc'd copy of the configuration JSON (caller frees). */
PsStatus runs_get(Store *st, int64_t run_id, RunInfo *out, char **config);
/* Every run, newest first; fn returns non-zero to stop. */
typedef int (*RunsFn)(void *ctx, const RunInfo *r);
PsStatus runs_each(Store *st, RunsFn fn, void *ctx);

/* Appends n steps (one transaction). */
PsStatus runs_put_steps(Store *st, int64_t run_id, const RunStep *steps, size_t n);
/* Deletes steps after `step` and epochs after `epoch` (a resumed run replays them). */
PsStatus runs_truncate(Store *st, int64_t run_id, int64_t step, int epoch);
/* Steps of a run in order; fn returns non-zero to stop. */
typedef int (*RunStepFn)(void *ctx, const RunStep *s);
PsStatus runs_each_step(Store *st, int64_t run_id, RunStepFn fn, void *ctx);

/* Inserts or replaces the metrics JSON of an epoch. */
PsStatus runs_put_epoch(Store *st, int64_t run_id, int epoch, const char *metrics_json);
/* Epoch rows in order; the JSON is valid during the callback only. */
typedef int (*RunEpochFn)(void *ctx, int epoch, const char *metrics_json);
PsStatus runs_each_epoch(Store *st, int64_t run_id, RunEpochFn fn, void *ctx);

/* Replaces the checkpoint of kind "best" or "last". */
PsStatus runs_put_checkpoint(Store *st, int64_t run_id, const char *kind, int epoch,
                             const uint8_t *blob, size_t len);
/* The checkpoint bytes in *blob (malloc'd, caller frees); PS_ERR_NOTFOUND when absent. */
PsStatus runs_get_checkpoint(Store *st, int64_t run_id, const char *kind, int *epoch,
                             uint8_t **blob, size_t *len);

/* Overwrites the progress row of a run. */
PsStatus runs_put_progress(Store *st, int64_t run_id, const RunProgress *p);
/* PS_ERR_NOTFOUND when the run has never reported progress. */
PsStatus runs_get_progress(Store *st, int64_t run_id, RunProgress *out);

#endif
