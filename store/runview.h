/* runview.h — a run as the Training screen shows it: its record, live progress, the losses of
 * every step and the validation metrics of every epoch, parsed from the epoch JSON the trainer
 * writes ({"epoch":N, "train_loss_cxr":.., "val_all":{"auroc":.., "acute":.., "mixed":..,
 * "chronic":.., "per_phenotype":[25]}, "val_paired":{...}, "selection":"val_paired", "best":..}).
 *
 * Thread safety: like Store (one thread per Store); a RunView is plain data.
 */
#ifndef RUNVIEW_H
#define RUNVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "store/catalog.h"
#include "store/ps.h"
#include "store/runs.h"
#include "store/store.h"

typedef struct {
    int epoch; /* 1-based */
    char phase[16];
    double lr;
    double loss[3];            /* mean training losses cxr, ehr, joint (NaN: none) */
    double auroc;              /* the selection score: macro AUROC on the selected set */
    double group[3];           /* acute, mixed, chronic macro AUROC of the selected set */
    double per[CATALOG_N_PHENOTYPES]; /* per-phenotype AUROC of the selected set */
    char selection[16];        /* "val_paired" or "val_all" */
    int best;
} RunViewEpoch;

typedef struct {
    RunInfo info;
    char *config;   /* the configuration JSON (malloc'd) or NULL */
    int has_progress;
    RunProgress progress;
    RunStep *steps; /* n_steps, in order (malloc'd) */
    size_t n_steps;
    RunViewEpoch *epochs; /* n_epochs, in order (malloc'd) */
    int n_epochs;
    int best_epoch; /* 1-based, 0 none */
    double best_auroc;
} RunView;

/* Loads run_id. max_steps > 0 keeps at most that many steps, evenly thinned (a chart has no
 * more columns than that anyway). PS_ERR_NOTFOUND for an unknown run. */
PsStatus runview_load(Store *st, int64_t run_id, size_t max_steps, RunView *out, PsErr *err);
void runview_free(RunView *v);

/* Parses one epoch's metrics JSON; PS_ERR_PARSE when it is not an object with "epoch". */
PsStatus runview_parse_epoch(const char *json, RunViewEpoch *out);

/* A number or string from a flat JSON object's top level or one level down ("val_all.auroc"):
 * NaN / "" when absent or null. Enough for the trainer's own JSON, not a general parser. */
double runview_json_num(const char *json, const char *path);
void runview_json_str(const char *json, const char *key, char *buf, size_t n);

#endif
