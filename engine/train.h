/* train.h — the paper's Algorithm 1 and its baselines, epochs, validation, checkpoints, resume.
 *
 * Methods (TrainMethod):
 *  - unified (Algorithm 1): each iteration (1) a radiograph mini-batch through the ResNet and its
 *    14-label head, (2) an EHR mini-batch through the LSTM and its 25-label head; the two BCE
 *    losses are summed and both encoders and heads updated; then (3) a paired mini-batch through
 *    both encoders (eval mode: no dropout, batch-norm running statistics, nothing about the
 *    encoders changes), features concatenated, and only the unified classifier updated.
 *  - ehr: step (2) alone (the benchmark's LSTM baseline).
 *  - joint1: the concatenated features → fusion head, both encoders trained from scratch end to
 *    end on pairs only.
 *  - joint2: pretrain_epochs of steps (1)+(2) (encoders on their own labels), then joint1's
 *    end-to-end training on pairs starting from those encoders.
 *  - late: steps (1)+(2), and in step (3) a phenotype head on the frozen CXR features; paired
 *    predictions average the two heads' probabilities (fusion.h).
 *
 * An epoch is one pass over the EHR training stays (iterations = ceil(stays / batch)); the
 * radiograph and pair streams wrap around as needed. Methods that learn from pairs only (joint1,
 * joint2 after pretraining) take one pass over the training pairs as their epoch.
 *
 * Validation after every epoch on the validation split; the selection score is the macro AUROC
 * on the paired validation stays with the method's paired prediction (ehr: over all validation
 * stays, as the benchmark selects its LSTM; any method falls back to all stays when the split
 * has no pairs). Best and last checkpoints; early stopping after `patience` epochs without
 * improvement; optional learning-rate decay by lr_decay after lr_patience such epochs.
 *
 * Determinism: a run is a function of (dataset, config, seed): every random draw comes from Rngs
 * in the checkpoint, BLAS threads are pinned by the caller. A resumed run repeats an
 * uninterrupted one bit for bit.
 *
 * Thread safety: a Trainer belongs to one thread. train_run may run in a worker thread (job.h);
 * its hooks are called from that thread.
 */
#ifndef TRAIN_H
#define TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "engine/dataset.h"
#include "engine/dist.h"
#include "engine/metrics.h"
#include "engine/params.h"
#include "store/ps.h"
#include "store/store.h"

typedef enum {
    TRAIN_UNIFIED = 0,
    TRAIN_EHR = 1,
    TRAIN_JOINT1 = 2,
    TRAIN_JOINT2 = 3,
    TRAIN_LATE = 4,
} TrainMethod;
#define TRAIN_N_METHODS 5

/* "unified", "ehr", "joint1", "joint2", "late"; parse returns -1 for an unknown name. */
const char *train_method_name(TrainMethod m);
int train_method_parse(const char *s);
/* Whether the method needs radiographs and pairs. */
int train_method_needs_pairs(TrainMethod m);

typedef struct {
    TrainMethod method;
    uint64_t seed;
    int epochs;          /* maximum epochs (joint2: after pretraining) */
    int pretrain_epochs; /* joint2's first phase */
    int batch;
    float lr, weight_decay;
    float lr_decay;  /* multiply lr by this after lr_patience epochs without improvement; 0 off */
    int lr_patience;
    int patience;    /* early stopping: epochs without improvement; 0 off */
    float clip;      /* global gradient-norm clip per model; 0 off */
    float head_lr_mult; /* step 3's classifier (unified / late) learns at lr × this */
    /* Regularisation of step 3's classifier alone (its encoders get no gradient there anyway):
     * inverted dropout with this probability on the concatenated features while it trains, and
     * Adam's L2 weight decay on its weights and bias. The demo has a few hundred to ~1.3k
     * training pairs for a (Fc + H) × 25 linear map: without them the classifier overfits the
     * pairs and loses to the EHR head on phenotypes the radiograph does not show. */
    float head_dropout, head_weight_decay;
    int max_iters;   /* cap on iterations per epoch; 0: the whole epoch */
    /* models */
    int img_size, cnn_width;
    int lstm_hidden, lstm_layers;
    float lstm_dropout;
    int augment; /* training radiographs: 0 as they are, 1 random horizontal flips, 2 the
                  * paper's flip + RandomAffine (dataset_cxr_batch_affine) */
    /* data */
    double bin_hours;
    int max_bins;
    int uncertain; /* DatasetUncertain */
    /* data-parallel training (dist.h): batch-norm statistics over the global batch instead of
     * each rank's shard; no effect on one rank */
    int sync_bn;
} TrainConfig;

typedef enum { TRAIN_PRESET_QUICK = 0, TRAIN_PRESET_DEMO = 1, TRAIN_PRESET_PAPER = 2 } TrainPreset;
/* The presets; see the README for the measurements behind them. */
void train_config_preset(TrainConfig *cfg, TrainPreset p, TrainMethod m);
/* The dataset settings a config needs. */
void train_dataset_config(const TrainConfig *cfg, DatasetConfig *dc);
/* Flat JSON of the config (caller frees); parse fills cfg from such JSON (unknown keys ignored,
 * missing keys keep cfg's values). */
char *train_config_json(const TrainConfig *cfg, const DatasetCounts *counts);
PsStatus train_config_parse(TrainConfig *cfg, const char *json, PsErr *err);

/* ---- the trainer ------------------------------------------------------------------------- */

typedef struct Trainer Trainer;

/* Builds and initialises (from cfg->seed) the models of cfg->method for dataset d (which must
 * outlive the trainer). Refuses a method that needs pairs on a dataset without them.
 * d = NULL makes an inference-only trainer (load a checkpoint, then trainer_predict_one). */
PsStatus trainer_new(Trainer **out, const Dataset *d, const TrainConfig *cfg, PsErr *err);
void trainer_free(Trainer *t);

typedef struct {
    double cxr, ehr, joint; /* NaN when the iteration had no such loss */
} TrainLosses;

/* Data-parallel training over the ranks of dist (which must outlive the trainer; NULL: one
 * rank). cfg->batch is the global batch: every rank draws the same global mini-batches from
 * the shared seed and takes its contiguous share (rank r of n: items [B·r/n, B·(r+1)/n));
 * losses and gradients are weighted by each share's label count and summed over ranks, so the
 * update equals the one-rank update on the whole batch (up to float rounding; exactly the same
 * data, but dropout masks (LSTM layers > 1) are drawn per shard). Refuses batch < ranks. */
PsStatus trainer_set_dist(Trainer *t, Dist *dist, PsErr *err);

/* One iteration of the method (the current phase for joint2). */
PsStatus trainer_iteration(Trainer *t, TrainLosses *loss, PsErr *err);
/* Algorithm 1 steps 1–2 and step 3, separately (tests). */
PsStatus trainer_step_encoders(Trainer *t, TrainLosses *loss, PsErr *err);
PsStatus trainer_step_unified(Trainer *t, TrainLosses *loss, PsErr *err);

/* The model's parameter sets, for tests: 0 ResNet, 1 EHR model, 2 fusion head (NULL when the
 * method has none). */
const ParamSet *trainer_params(const Trainer *t, int which);

/* Predictions for every stay of split (probabilities, rows in the split's stay order):
 * p_rule (n, 25) by the paper's inference rule (paired prediction when a radiograph is paired,
 * the EHR head otherwise); paired rows are those with paired[i] = 1; p_ehr (n, 25) the EHR head. */
typedef struct {
    int n;
    int *stay;        /* dataset stay index */
    uint8_t *paired;
    float *y, *p_rule, *p_ehr;
} TrainPredictions;
PsStatus trainer_predict_split(Trainer *t, int split, TrainPredictions *out, PsErr *err);
void train_predictions_free(TrainPredictions *p);

/* One stay: EHR-head probabilities and, when img (S × S uint8) is given, the paired prediction
 * (unified / joint / late). x (T, 76). p_pair may be NULL when img is NULL. */
PsStatus trainer_predict_one(Trainer *t, const float *x, int T, const uint8_t *img, float *p_ehr,
                             float *p_pair, PsErr *err);

/* Discretizes and standardises one stay from the store with the model's bin width, cap and
 * normalizer (from its checkpoint): *x malloc'd (T, 76), caller frees. */
PsStatus trainer_stay_input(const Trainer *t, Store *st, int64_t stay_id, float **x, int *T,
                            PsErr *err);

/* Evaluation of a split: metrics on the paired stays (the method's paired prediction) and on
 * all stays (the paper's inference rule), with percentile-bootstrap 95% intervals over
 * `resamples` resamples of stays (0: none). Statistic index: 0 macro AUROC, 1 macro AUPRC,
 * 2..4 acute/mixed/chronic AUROC, 5..7 their AUPRC. */
#define TRAIN_EVAL_STATS 8
typedef struct {
    int n_paired, n_all;
    MetricsReport paired, all;
    double lo[2][TRAIN_EVAL_STATS], hi[2][TRAIN_EVAL_STATS]; /* [0] paired, [1] all */
    double label_lo[2][CATALOG_N_PHENOTYPES], label_hi[2][CATALOG_N_PHENOTYPES]; /* AUROC */
} TrainEvalReport;
PsStatus trainer_evaluate(Trainer *t, int split, int resamples, uint64_t seed,
                          TrainEvalReport *out, PsErr *err);

/* Checkpoint: model parameters, batch-norm statistics, Adam moments, the input normalizer and
 * the whole trainer state
 * (iteration, epoch, learning rate, best score, RNG and sampler states) as safetensors bytes
 * (*blob malloc'd, caller frees). Loading checks every tensor name and shape against the model:
 * a checkpoint of another configuration or a damaged blob is refused and t is unchanged. */
PsStatus trainer_save(Trainer *t, uint8_t **blob, size_t *len, PsErr *err);
PsStatus trainer_load(Trainer *t, const uint8_t *blob, size_t len, const char *what, PsErr *err);

/* ---- a whole run ------------------------------------------------------------------------- */

typedef struct {
    int64_t run_id;
    char method[16];
    char state[16]; /* queued, loading, running, paused, done, stopped, failed */
    char phase[16]; /* pretrain, train, validate */
    int64_t iteration, iterations; /* done, planned (upper bound with early stopping) */
    int epoch, epochs;             /* epochs completed, planned */
    double loss_cxr, loss_ehr, loss_joint; /* running means over the last 50 iterations */
    double samples_per_s, eta_s;
    double val_auroc, best_val_auroc; /* latest and best selection score; NaN before any */
    int best_epoch;
    double val_group[3];
    float lr;
    char message[256];
} TrainProgress;

typedef struct {
    void *ctx;
    /* After every iteration and state change (the worker's thread). */
    void (*progress)(void *ctx, const TrainProgress *p);
    /* Once per iteration: returns 1 to stop (after saving the last checkpoint); may block while
     * the user has paused the run. */
    int (*control)(void *ctx);
} TrainHooks;

/* Trains run run_id (already created in st with cfg's JSON) on d. resume: continue from the run's
 * "last" checkpoint. Records steps, epochs, checkpoints, progress and status in st. Returns
 * PS_ERR_CANCELLED when stopped through the hooks (the run is then resumable). */
PsStatus train_run(Store *st, int64_t run_id, const Dataset *d, const TrainConfig *cfg, int resume,
                   const TrainHooks *hooks, PsErr *err);

/* train_run over the ranks of dist (NULL: one rank), every rank calling it with the same run_id
 * and cfg. Rank 0 alone touches the store (runs, steps, epochs, progress, checkpoints, status);
 * on other ranks st may be NULL or a read-only store and is not used. On resume rank 0 reads the
 * last checkpoint and broadcasts it. Validation: each rank predicts a contiguous share of the
 * validation stays and all predictions are summed to every rank; rank 0's score is broadcast,
 * so selection, learning-rate decay and early stopping agree. After every epoch the parameter
 * checksums of all ranks are compared; a mismatch fails the run on every rank (and sets
 * dist->failed_together, as does a non-finite loss, which every rank sees). hooks->control is
 * asked on every rank and any rank's stop stops all. */
PsStatus train_run_dist(Store *st, int64_t run_id, const Dataset *d, const TrainConfig *cfg,
                        int resume, const TrainHooks *hooks, Dist *dist, PsErr *err);

/* The configuration and record of run run_id (PS_ERR_NOTFOUND: "no run N in PATH"). */
PsStatus train_run_config(Store *st, int64_t run_id, TrainConfig *cfg, PsErr *err);
/* A trainer for run run_id with its checkpoint of kind "best" (falling back to "last" when the
 * run never validated) loaded; d as for trainer_new (NULL: inference only). *epoch receives the
 * checkpoint's epoch. A missing, damaged or mismatched checkpoint is refused with a message
 * naming the run. */
PsStatus train_open_run(Store *st, int64_t run_id, const char *kind, const Dataset *d,
                        const TrainConfig *cfg, Trainer **out, int *epoch, PsErr *err);

/* Metrics of predictions: all 25 labels, with group macros. */
PsStatus train_metrics(MetricsReport *rep, const float *p, const float *y, int n, PsErr *err);

#endif
