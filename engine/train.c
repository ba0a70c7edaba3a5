/* train.c — Algorithm 1 and the baselines over a Dataset, their validation, checkpoints and the
 * run loop that records everything in the store (see train.h).
 *
 * Data parallelism (train_run_dist, trainer_set_dist): every rank draws the global batch and
 * trains its share; losses, gradients, validation predictions and checksums go through dist.h.
 *
 * Deliberately not here: threads (job.c runs train_run in a worker), terminal output (the CLI
 * prints what the progress hook reports), data loading (dataset.c) and MPI itself (dist.c).
 */
#include "engine/train.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/adam.h"
#include "engine/blas.h"
#include "engine/ehr_model.h"
#include "engine/fusion.h"
#include "engine/loss.h"
#include "engine/resnet.h"
#include "engine/safetensors.h"
#include "store/runs.h"
#include "store/testhooks.h"

#define NP CATALOG_N_PHENOTYPES
#define NC CATALOG_N_CHEXPERT

static const char *const method_names[TRAIN_N_METHODS] = {"unified", "ehr", "joint1", "joint2",
                                                           "late"};

const char *train_method_name(TrainMethod m)
{
    return (unsigned)m < TRAIN_N_METHODS ? method_names[m] : "?";
}

int train_method_parse(const char *s)
{
    for (int i = 0; i < TRAIN_N_METHODS; i++)
        if (s && strcmp(s, method_names[i]) == 0) return i;
    return -1;
}

int train_method_needs_pairs(TrainMethod m) { return m != TRAIN_EHR; }

void train_config_preset(TrainConfig *c, TrainPreset p, TrainMethod m)
{
    memset(c, 0, sizeof *c);
    c->method = m;
    c->seed = 1;
    c->batch = 16;
    c->lr = 1e-3f;
    c->weight_decay = 0;
    c->lr_decay = 0.5f;
    c->lr_patience = 2;
    c->patience = 4;
    c->clip = 5.0f;
    c->head_lr_mult = 1.0f;
    c->augment = 0;
    c->bin_hours = 2.0;
    c->max_bins = 512;
    c->uncertain = DATASET_UNCERTAIN_ZERO;
    c->lstm_dropout = 0.0f;
    switch (p) {
    case TRAIN_PRESET_QUICK:
        c->epochs = 3;
        c->pretrain_epochs = 1;
        c->max_iters = 40;
        c->head_lr_mult = 10.0f;
        c->img_size = 64;
        c->cnn_width = 8;
        c->lstm_hidden = 64;
        c->lstm_layers = 1;
        c->batch = 32;
        break;
    case TRAIN_PRESET_DEMO:
        c->epochs = 6;
        c->pretrain_epochs = 2;
        c->head_lr_mult = 10.0f;
        c->img_size = 64;
        c->cnn_width = 16;
        c->lstm_hidden = 128;
        c->lstm_layers = 1;
        c->batch = 32;
        break;
    case TRAIN_PRESET_PAPER:
        c->epochs = 50;
        c->pretrain_epochs = 10;
        c->img_size = 224;
        c->cnn_width = 64;
        c->lstm_hidden = 256;
        c->lstm_layers = 2;
        c->lstm_dropout = 0.3f;
        c->lr = 1e-4f;
        c->patience = 15;
        c->lr_patience = 5;
        c->augment = 2; /* the paper's flip + RandomAffine */
        c->bin_hours = 2.0;
        c->max_bins = 2048;
        break;
    }
}

void train_dataset_config(const TrainConfig *cfg, DatasetConfig *dc)
{
    dataset_config_default(dc);
    dc->bin_hours = cfg->bin_hours;
    dc->max_bins = cfg->max_bins;
    dc->img_size = cfg->img_size;
    dc->load_images = cfg->method != TRAIN_EHR;
    dc->uncertain = (DatasetUncertain)cfg->uncertain;
}

/* ---- a growable string, for JSON ------------------------------------------------------ */

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} Buf;

static void bputf(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bputf(Buf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->n + (size_t)k + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
}

/* JSON has no NaN: unknown numbers are null. */
static void bnum(Buf *b, double v)
{
    if (isfinite(v)) bputf(b, "%.6g", v);
    else bputf(b, "null");
}

char *train_config_json(const TrainConfig *c, const DatasetCounts *k)
{
    Buf b = {0};
    bputf(&b,
          "{\"method\":\"%s\",\"seed\":%llu,\"epochs\":%d,\"pretrain_epochs\":%d,\"batch\":%d,"
          "\"lr\":%.9g,\"weight_decay\":%.9g,\"lr_decay\":%.9g,\"lr_patience\":%d,"
          "\"patience\":%d,\"clip\":%.9g,\"head_lr_mult\":%.9g,\"head_dropout\":%.9g,"
          "\"head_weight_decay\":%.9g,\"max_iters\":%d,\"img_size\":%d,\"cnn_width\":%d,"
          "\"lstm_hidden\":%d,\"lstm_layers\":%d,\"lstm_dropout\":%.9g,\"augment\":%d,"
          "\"bin_hours\":%.9g,\"max_bins\":%d,\"uncertain\":%d",
          train_method_name(c->method), (unsigned long long)c->seed, c->epochs,
          c->pretrain_epochs, c->batch, (double)c->lr, (double)c->weight_decay,
          (double)c->lr_decay, c->lr_patience, c->patience, (double)c->clip, (double)c->head_lr_mult,
          (double)c->head_dropout, (double)c->head_weight_decay, c->max_iters,
          c->img_size, c->cnn_width, c->lstm_hidden, c->lstm_layers, (double)c->lstm_dropout,
          c->augment, c->bin_hours, c->max_bins, c->uncertain);
    if (c->sync_bn) bputf(&b, ",\"sync_bn\":1");
    if (k)
        bputf(&b,
              ",\"data\":{\"stays\":[%lld,%lld,%lld],\"radiographs\":[%lld,%lld,%lld],"
              "\"pairs\":[%lld,%lld,%lld],\"truncated\":%lld}",
              (long long)k->stays[0], (long long)k->stays[1], (long long)k->stays[2],
              (long long)k->images[0], (long long)k->images[1], (long long)k->images[2],
              (long long)k->pairs[0], (long long)k->pairs[1], (long long)k->pairs[2],
              (long long)k->truncated);
    bputf(&b, "}");
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* Finds "key": in flat JSON and returns the text after the colon, or NULL. */
static const char *json_find(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? p + strlen(pat) : NULL;
}

static PsStatus json_num(const char *json, const char *key, double *out, PsErr *err)
{
    const char *p = json_find(json, key);
    if (!p) return PS_OK;
    char *end;
    double v = strtod(p, &end);
    if (end == p) return ps_err(err, PS_ERR_PARSE, "run configuration: bad value for \"%s\"", key);
    *out = v;
    return PS_OK;
}

PsStatus train_config_parse(TrainConfig *c, const char *json, PsErr *err)
{
    const char *p = json_find(json, "method");
    if (p) {
        char name[32] = {0};
        if (sscanf(p, " \"%31[a-z0-9]\"", name) != 1 || train_method_parse(name) < 0)
            return ps_err(err, PS_ERR_PARSE, "run configuration: unknown method");
        c->method = (TrainMethod)train_method_parse(name);
    }
    struct {
        const char *k;
        int *i;
        float *f;
        double *d;
    } keys[] = {
        {"epochs", &c->epochs, NULL, NULL},           {"pretrain_epochs", &c->pretrain_epochs, NULL, NULL},
        {"batch", &c->batch, NULL, NULL},             {"lr", NULL, &c->lr, NULL},
        {"weight_decay", NULL, &c->weight_decay, NULL}, {"lr_decay", NULL, &c->lr_decay, NULL},
        {"lr_patience", &c->lr_patience, NULL, NULL}, {"patience", &c->patience, NULL, NULL},
        {"clip", NULL, &c->clip, NULL},               {"head_lr_mult", NULL, &c->head_lr_mult, NULL},
        {"head_dropout", NULL, &c->head_dropout, NULL},
        {"head_weight_decay", NULL, &c->head_weight_decay, NULL},               {"max_iters", &c->max_iters, NULL, NULL},
        {"img_size", &c->img_size, NULL, NULL},       {"cnn_width", &c->cnn_width, NULL, NULL},
        {"lstm_hidden", &c->lstm_hidden, NULL, NULL}, {"lstm_layers", &c->lstm_layers, NULL, NULL},
        {"lstm_dropout", NULL, &c->lstm_dropout, NULL}, {"augment", &c->augment, NULL, NULL},
        {"bin_hours", NULL, NULL, &c->bin_hours},     {"max_bins", &c->max_bins, NULL, NULL},
        {"uncertain", &c->uncertain, NULL, NULL},     {"sync_bn", &c->sync_bn, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        double v = NAN;
        PsStatus rc = json_num(json, keys[i].k, &v, err);
        if (rc) return rc;
        if (isnan(v)) continue;
        if (keys[i].i) *keys[i].i = (int)v;
        if (keys[i].f) *keys[i].f = (float)v;
        if (keys[i].d) *keys[i].d = v;
    }
    double seed = NAN;
    PsStatus rc = json_num(json, "seed", &seed, err);
    if (rc) return rc;
    if (!isnan(seed)) c->seed = (uint64_t)seed;
    return PS_OK;
}

/* ---- the trainer ------------------------------------------------------------------------- */

#define STATE_WORDS 64
#define STATE_MAGIC 0x3154524e49415254ull /* "TRAINTR1" */

/* A ParamSet that names another's tensors with a prefix, over its own or another slab. */
typedef struct {
    ParamSet ps;
} View;

struct Trainer {
    const Dataset *d;
    TrainConfig cfg;
    int use_cnn, use_fus;
    Resnet cnn;
    ResnetWork cw;
    EhrModel ehr;
    ParamSet ehr_ps;
    EhrWork ew;
    FusionHead fus;
    ParamSet fus_ps;
    Adam a_cnn, a_ehr, a_fus;
    AdamConfig acfg;
    DatasetSampler samp[3];
    Rng rng; /* dropout masks and flips */
    Dist dist_one; /* the single rank when no Dist is given */
    Dist *dist;
    BatchnormSync bns;
    int collective_err; /* the last error happened on every rank alike */
    int stop_local;     /* this rank was asked to stop (set before each iteration) */
    int stop_all;       /* some rank was asked to stop: known to every rank after the iteration */
    const float *stop_slot[4]; /* where the sums of the stop requests land (grad_send) */
    int n_stop_slot;
    struct {               /* the ResNet gradient handed over while backward runs (cnn_ready) */
        ParamSet *ps;
        float w;           /* its share's weight, applied to each bucket before it goes */
        size_t end;        /* [end, n + tail) is queued */
        PsStatus rc;
        PsErr err;
    } gs;
    ParamSet state_ps; /* "trainer.state": STATE_WORDS words as 2·STATE_WORDS floats */
    ParamSet norm_ps;  /* "data.normalizer": the input standardisation the model was trained on */
    Normalizer nz;
    View views[12];
    int n_views;
    /* run state */
    int64_t iteration, iter_in_epoch;
    int epoch, phase; /* phase 0: joint2's pretraining; 1 otherwise */
    float lr;
    double best;
    int best_epoch, bad_epochs, lr_bad;
    /* batch buffers */
    int B, max_T, S, Fc, H;
    int *idx, *len, *img;
    int *bal;     /* ehr_balance's scratch: 3 B + 2 ranks ints (MPI only) */
    double *bal_load;
    float *xe, *ye, *xc, *yc, *mc;
    float *lc, *dlc, *le, *dle, *lf, *dlf, *zeros;
    float *cat, *dcat, *dcxr, *dehr, *fe;
    float *fmask; /* (B, Fc+H) the classifier's feature-dropout factors */
    float *aug;   /* imgprep scratch for augment = 2 */
};

static PsStatus add_view(Trainer *t, const ParamSet *src, float *w, const char *prefix, PsErr *err)
{
    View *v = &t->views[t->n_views];
    v->ps = *src;
    v->ps.g = NULL;
    v->ps.w = w;
    v->ps.info = malloc((size_t)(src->count ? src->count : 1) * sizeof(ParamInfo));
    if (!v->ps.info) return ps_err(err, PS_ERR_NOMEM, "out of memory");
    v->ps.cap = src->count;
    for (int i = 0; i < src->count; i++) {
        v->ps.info[i] = src->info[i];
        if (snprintf(v->ps.info[i].name, PARAMS_NAME_MAX, "%s%s", prefix, src->info[i].name) >=
            PARAMS_NAME_MAX)
            return ps_err(err, PS_ERR_INVALID, "tensor name %s%s too long", prefix,
                          src->info[i].name);
    }
    t->n_views++;
    return PS_OK;
}

static int iters_per_epoch_phase(const Trainer *t, int phase)
{
    const Dataset *d = t->d;
    int pairs_only = t->cfg.method == TRAIN_JOINT1 || (t->cfg.method == TRAIN_JOINT2 && phase);
    int n = pairs_only ? d->n_pair[SPLIT_TRAIN] : d->n_stay[SPLIT_TRAIN];
    int it = (n + t->cfg.batch - 1) / t->cfg.batch;
    if (t->cfg.max_iters > 0 && it > t->cfg.max_iters) it = t->cfg.max_iters;
    return it < 1 ? 1 : it;
}

static int iters_per_epoch(const Trainer *t) { return iters_per_epoch_phase(t, t->phase); }

/* Iterations from the start of epoch `from` to the end of the run (an upper bound: early
 * stopping may end it sooner). */
static int64_t iters_remaining(const Trainer *t, int from, int total_epochs)
{
    int64_t n = 0;
    for (int e = from; e < total_epochs; e++) {
        int phase = t->cfg.method == TRAIN_JOINT2 ? (e >= t->cfg.pretrain_epochs) : 1;
        n += iters_per_epoch_phase(t, phase);
    }
    return n;
}

#define ALLOC(p, n)                                                                              \
    do {                                                                                         \
        (p) = calloc((size_t)(n) > 0 ? (size_t)(n) : 1, sizeof *(p));                                \
        if (!(p)) {                                                                              \
            rc = ps_err(err, PS_ERR_NOMEM, "out of memory for training buffers");                 \
            goto fail;                                                                           \
        }                                                                                        \
    } while (0)

PsStatus trainer_new(Trainer **out, const Dataset *d, const TrainConfig *cfg, PsErr *err)
{
    *out = NULL;
    PS_CHECK(err, cfg);
    if (cfg->batch < 1 || cfg->batch > 4096)
        return ps_err(err, PS_ERR_INVALID, "batch size %d is out of range 1..4096", cfg->batch);
    if (cfg->lstm_hidden < 1 || cfg->lstm_layers < 1 || cfg->lstm_layers > 8)
        return ps_err(err, PS_ERR_INVALID, "LSTM size %d x %d is out of range", cfg->lstm_layers,
                      cfg->lstm_hidden);
    if (!(cfg->lr > 0)) return ps_err(err, PS_ERR_INVALID, "learning rate must be positive");
    if ((unsigned)cfg->method >= TRAIN_N_METHODS)
        return ps_err(err, PS_ERR_INVALID, "unknown method %d", (int)cfg->method);
    if (d && d->n_stay[SPLIT_TRAIN] == 0)
        return ps_err(err, PS_ERR_INVALID, "the store has no training stays");
    int use_cnn = cfg->method != TRAIN_EHR;
    if (use_cnn && d) {
        if (d->n_pair[SPLIT_TRAIN] == 0)
            return ps_err(err, PS_ERR_INVALID,
                          "method %s needs stays paired with a radiograph, and this store has "
                          "none in its training split; only --method ehr can run on it",
                          train_method_name(cfg->method));
        if (d->cfg.img_size != cfg->img_size || !d->cfg.load_images)
            return ps_err(err, PS_ERR_INVALID,
                          "the dataset holds %d px radiographs, the model wants %d px",
                          d->cfg.load_images ? d->cfg.img_size : 0, cfg->img_size);
        if (cfg->cnn_width < 1 || cfg->img_size < 32)
            return ps_err(err, PS_ERR_INVALID, "ResNet width %d / image size %d too small",
                          cfg->cnn_width, cfg->img_size);
    }
    Trainer *t = calloc(1, sizeof *t);
    if (!t) return ps_err(err, PS_ERR_NOMEM, "out of memory");
    PsStatus rc = PS_OK;
    t->d = d;
    t->cfg = *cfg;
    dist_single(&t->dist_one);
    t->dist = &t->dist_one;
    t->use_cnn = use_cnn;
    t->use_fus = use_cnn;
    t->B = cfg->batch;
    t->max_T = d ? (d->max_T > 0 ? d->max_T : 1) : cfg->max_bins;
    if (d) t->nz = d->nz;
    params_init(&t->norm_ps);
    t->S = cfg->img_size;
    t->H = cfg->lstm_hidden;
    t->lr = cfg->lr;
    t->best = -INFINITY;
    t->phase = cfg->method == TRAIN_JOINT2 && cfg->pretrain_epochs > 0 ? 0 : 1;
    params_init(&t->ehr_ps);
    params_init(&t->fus_ps);
    params_init(&t->state_ps);
    Rng init;
    rng_seed_stream(&init, cfg->seed, 1);
    rng_seed_stream(&t->rng, cfg->seed, 2);

    /* EHR model */
    EhrModelConfig ec = ehr_model_defaults();
    ec.hidden = cfg->lstm_hidden;
    ec.layers = cfg->lstm_layers;
    ec.dropout = cfg->lstm_layers > 1 ? cfg->lstm_dropout : 0.0f;
    if ((rc = ehr_model_add_params(&t->ehr, &t->ehr_ps, &ec, err)) ||
        (rc = params_alloc(&t->ehr_ps, 1, err)))
        goto fail;
    ehr_model_init(&t->ehr, &t->ehr_ps, &init);
    if ((rc = ehr_work_init(&t->ew, &t->ehr, t->B, t->max_T, err))) goto fail;
    if ((rc = adam_init(&t->a_ehr, t->ehr_ps.n, err))) goto fail;

    /* ResNet and fusion head */
    if (use_cnn) {
        ResnetConfig rcfg;
        resnet_config_default(&rcfg, cfg->img_size, NC);
        rcfg.width = cfg->cnn_width;
        /* the passes around BLAS (im2col, batch norm) use no more threads than BLAS was given
         * (--threads): one thread per rank when MPI ranks share a machine's cores */
        int bt = blas_get_threads();
        if (bt >= 1 && bt < rcfg.threads) rcfg.threads = bt;
        if ((rc = resnet_init(&t->cnn, &rcfg, err))) goto fail;
        resnet_init_weights(&t->cnn, &init);
        if ((rc = resnet_work_init(&t->cw, &t->cnn, t->B, err))) goto fail;
        if ((rc = adam_init(&t->a_cnn, t->cnn.params.n, err))) goto fail;
        t->Fc = t->cnn.feat_dim;
        int de = cfg->method == TRAIN_LATE ? 0 : t->H;
        if ((rc = fusion_add_params(&t->fus, &t->fus_ps, "fc.", t->Fc, de, NP, err)) ||
            (rc = params_alloc(&t->fus_ps, 1, err)))
            goto fail;
        fusion_init(&t->fus, &t->fus_ps, &init);
        if ((rc = adam_init(&t->a_fus, t->fus_ps.n, err))) goto fail;
    }
    /* the trainer's own state as one tensor */
    int64_t shape[1] = {2 * STATE_WORDS};
    size_t off;
    if ((rc = params_add(&t->state_ps, "trainer.state", 1, shape, &off, err)) ||
        (rc = params_alloc(&t->state_ps, 0, err)))
        goto fail;
    int64_t nshape[1] = {NORMALIZER_BLOB_FLOATS};
    if ((rc = params_add(&t->norm_ps, "data.normalizer", 1, nshape, &off, err)) ||
        (rc = params_alloc(&t->norm_ps, 0, err)))
        goto fail;
    /* samplers, each its own stream of the seed (none for an inference-only trainer) */
    for (int s = 0; s < 3 && d; s++)
        if ((rc = dataset_sampler_init(&t->samp[s], d, (DatasetStream)s, SPLIT_TRAIN, cfg->seed,
                                       err)))
            goto fail;
    /* checkpoint views: names "cxr.*", "ehr.*", "fusion.*", "adam.<model>.m|v.*" */
    if (use_cnn) {
        if ((rc = add_view(t, &t->cnn.params, t->cnn.params.w, "cxr.", err)) ||
            (rc = add_view(t, &t->cnn.buffers, t->cnn.buffers.w, "cxr.", err)) ||
            (rc = add_view(t, &t->cnn.params, t->a_cnn.m, "adam.cxr.m.", err)) ||
            (rc = add_view(t, &t->cnn.params, t->a_cnn.v, "adam.cxr.v.", err)) ||
            (rc = add_view(t, &t->fus_ps, t->fus_ps.w, "fusion.", err)) ||
            (rc = add_view(t, &t->fus_ps, t->a_fus.m, "adam.fusion.m.", err)) ||
            (rc = add_view(t, &t->fus_ps, t->a_fus.v, "adam.fusion.v.", err)))
            goto fail;
    }
    if ((rc = add_view(t, &t->ehr_ps, t->ehr_ps.w, "ehr.", err)) ||
        (rc = add_view(t, &t->ehr_ps, t->a_ehr.m, "adam.ehr.m.", err)) ||
        (rc = add_view(t, &t->ehr_ps, t->a_ehr.v, "adam.ehr.v.", err)))
        goto fail;

    /* buffers */
    const int B = t->B;
    ALLOC(t->idx, B);
    ALLOC(t->len, B);
    ALLOC(t->img, B);
    ALLOC(t->xe, (size_t)B * t->max_T * CATALOG_N_INPUTS);
    ALLOC(t->ye, B * NP);
    ALLOC(t->le, B * NP);
    ALLOC(t->dle, B * NP);
    ALLOC(t->lf, B * NP);
    ALLOC(t->dlf, B * NP);
    ALLOC(t->zeros, B * NP);
    ALLOC(t->fe, (size_t)B * t->H);
    if (use_cnn) {
        ALLOC(t->xc, (size_t)B * 3 * t->S * t->S);
        ALLOC(t->yc, B * NC);
        ALLOC(t->mc, B * NC);
        ALLOC(t->lc, B * NC);
        ALLOC(t->dlc, B * NC);
        ALLOC(t->cat, (size_t)B * (t->Fc + t->H));
        ALLOC(t->dcat, (size_t)B * (t->Fc + t->H));
        ALLOC(t->fmask, (size_t)B * (t->Fc + t->H));
        if (cfg->augment == 2 && d) ALLOC(t->aug, dataset_cxr_affine_scratch(d));
        ALLOC(t->dcxr, (size_t)B * t->Fc);
        ALLOC(t->dehr, (size_t)B * t->H);
    }
    t->acfg = adam_defaults();
    t->acfg.weight_decay = cfg->weight_decay;
    *out = t;
    return PS_OK;
fail:
    trainer_free(t);
    return rc;
}

void trainer_free(Trainer *t)
{
    if (!t) return;
    if (t->dist) {
        /* a step that failed may have left gradient buckets with the communication thread:
         * they are summed into these slabs, so they must land before the slabs are freed (the
         * other ranks reach the same buckets, or a failed rank ends the job with MPI_Abort) */
        PsErr e;
        (void)dist_queue_wait(t->dist, &e);
    }
    if (t->use_cnn) {
        resnet_work_done(&t->cw);
        resnet_done(&t->cnn);
    }
    ehr_work_done(&t->ew);
    params_free(&t->ehr_ps);
    params_free(&t->fus_ps);
    params_free(&t->state_ps);
    params_free(&t->norm_ps);
    adam_done(&t->a_cnn);
    adam_done(&t->a_ehr);
    adam_done(&t->a_fus);
    for (int s = 0; s < 3; s++) dataset_sampler_done(&t->samp[s]);
    for (int i = 0; i < t->n_views; i++) free(t->views[i].ps.info);
    void *bufs[] = {t->idx, t->len, t->img, t->xe, t->ye, t->xc, t->yc, t->mc, t->lc, t->dlc,
                    t->le, t->dle, t->lf, t->dlf, t->zeros, t->cat, t->dcat, t->dcxr, t->dehr,
                    t->fe, t->fmask, t->aug, t->bal, t->bal_load};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(t);
}

const ParamSet *trainer_params(const Trainer *t, int which)
{
    switch (which) {
    case 0: return t->use_cnn ? &t->cnn.params : NULL;
    case 1: return &t->ehr_ps;
    case 2: return t->use_fus ? &t->fus_ps : NULL;
    default: return NULL;
    }
}

/* The classifier on the concatenated features (unified, late, joint): its own L2 decay on top
 * of the global one. */
static void update_head(Trainer *t, float mult)
{
    if (t->cfg.clip > 0) adam_clip_grad_norm(t->fus_ps.g, t->fus_ps.n, t->cfg.clip);
    AdamConfig c = t->acfg;
    c.lr = t->lr * mult;
    c.weight_decay += t->cfg.head_weight_decay;
    adam_step(&t->a_fus, &c, t->fus_ps.w, t->fus_ps.g);
}

static void update(Trainer *t, ParamSet *ps, Adam *a)
{
    if (t->cfg.clip > 0) adam_clip_grad_norm(ps->g, ps->n, t->cfg.clip);
    AdamConfig c = t->acfg;
    c.lr = t->lr;
    adam_step(a, &c, ps->w, ps->g);
}

static PsStatus check_loss(double l, const char *what, Trainer *t, PsErr *err)
{
    if (isfinite(l)) return PS_OK;
    /* with several ranks the loss checked is the global one, which every rank sees */
    t->collective_err = t->dist->size > 1;
    return ps_err(err, PS_ERR_INVALID,
                  "the %s loss became %g at iteration %lld; try a lower learning rate (--lr)",
                  what, l, (long long)t->iteration + 1);
}

/* ---- data parallelism -------------------------------------------------------------------- */

static int bns_sum(void *ctx, double *v, int n)
{
    Trainer *t = ctx;
    PsErr e;
    return dist_sum_doubles(t->dist, v, n, &e) != PS_OK;
}

PsStatus trainer_set_dist(Trainer *t, Dist *dist, PsErr *err)
{
    Dist *d = dist ? dist : &t->dist_one;
    if (d->size > 1 && t->cfg.batch < d->size)
        return ps_err(err, PS_ERR_INVALID,
                      "a global batch of %d cannot be shared by %d ranks; use --batch %d or more",
                      t->cfg.batch, d->size, d->size);
    if (d->size > 1 && !t->bal) {
        t->bal = malloc((3 * (size_t)t->B + 2 * (size_t)d->size) * sizeof(int));
        t->bal_load = malloc((size_t)d->size * sizeof(double));
        if (!t->bal || !t->bal_load)
            return ps_err(err, PS_ERR_NOMEM, "out of memory sharing batches over %d ranks",
                          d->size);
    }
    t->dist = d;
    t->bns.sum = bns_sum;
    t->bns.ctx = t;
    if (t->use_cnn) t->cw.bn_sync = t->cfg.sync_bn && d->size > 1 ? &t->bns : NULL;
    return PS_OK;
}

/* This rank's contiguous share [*lo, *lo + *nb) of a global batch of B items. */
static void share(const Trainer *t, int B, int *lo, int *nb)
{
    const Dist *d = t->dist;
    int a = (int)((int64_t)B * d->rank / d->size);
    int b = (int)((int64_t)B * (d->rank + 1) / d->size);
    *lo = a;
    *nb = b - a;
}

/* Deals a global batch of EHR stays (idx, B) to the ranks so that their shares' total lengths
 * agree, in place: rank r's stays end up in its usual slots [lo_r, lo_r + nb_r), each share keeps
 * its size. The LSTM's work is the share's total length (packed sequences, no padding), and
 * every rank waits for the slowest at the all-reduce: contiguous shares of random stays differ
 * by about 11 % in total length on the demo cohort, which the 2-rank LSTM lost to waiting. The
 * gradient is the same sum over the batch whichever rank computes which stay. Longest first,
 * each to the least loaded rank with room (ties: the lower rank); every rank computes the same
 * deal from the same indices. */
static void ehr_balance(Trainer *t, int *idx, int B)
{
    const int n = t->dist->size;
    int *order = t->bal, *owner = order + B, *out = owner + B, *room = out + B, *fill = room + n;
    double *load = t->bal_load;
    const DatasetStay *st = t->d->stays;
    for (int i = 0; i < B; i++) {
        /* insertion sort by length, descending, stable: batches are small */
        int j = i;
        while (j > 0 && st[idx[order[j - 1]]].T < st[idx[i]].T) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int r = 0; r < n; r++) {
        room[r] = (int)((int64_t)B * (r + 1) / n) - (int)((int64_t)B * r / n);
        fill[r] = (int)((int64_t)B * r / n);
        load[r] = 0;
    }
    for (int k = 0; k < B; k++) {
        int best = -1;
        for (int r = 0; r < n; r++)
            if (room[r] > 0 && (best < 0 || load[r] < load[best])) best = r;
        owner[order[k]] = best;
        room[best]--;
        load[best] += st[idx[order[k]]].T;
    }
    for (int i = 0; i < B; i++) out[fill[owner[i]]++] = idx[i];
    memcpy(idx, out, (size_t)B * sizeof(int));
}

/* The draws the other shards' images make, so flips match the one-rank run image for image. */
static void rng_skip(Rng *r, int n)
{
    for (int i = 0; i < n; i++) (void)rng_u64(r);
}

/* The whole batch's gradient from the shards': each rank's mean-loss gradient weighted by w,
 * its share of the counted labels (every rank knows the global count from the batch's indices,
 * so no collective is needed to learn it), summed over ranks. The nx scalars x (each rank's
 * share of a mean loss) and this rank's stop request ride in the slab's spare tail, so a step
 * has no collective besides its gradients' (each would make every rank wait for the slowest).
 * grad_send hands a slab over (summed at once, or queued to dist's communication thread);
 * grad_collect waits for every slab sent, after which grad_tail(ps, k) is the sum of x[k] and
 * t->stop_all says whether any rank asked to stop. */
static void scale_range(float *g, size_t lo, size_t hi, float w)
{
    if (w == 1.0f) return;
    for (size_t i = lo; i < hi; i++) g[i] *= w;
}

static PsStatus fill_tail(Trainer *t, ParamSet *ps, const double *x, int nx, PsErr *err)
{
    PS_CHECK(err, nx >= 0 && nx < PARAMS_GRAD_TAIL &&
                      t->n_stop_slot < (int)(sizeof t->stop_slot / sizeof t->stop_slot[0]));
    float *tail = ps->g + ps->n;
    for (int k = 0; k < nx; k++) tail[k] = (float)x[k];
    tail[nx] = t->stop_local ? 1.0f : 0.0f;
    t->stop_slot[t->n_stop_slot++] = tail + nx;
    return PS_OK;
}

static PsStatus grad_send(Trainer *t, ParamSet *ps, double w, const double *x, int nx, PsErr *err)
{
    if (t->dist->size <= 1) return PS_OK;
    PsStatus rc = fill_tail(t, ps, x, nx, err);
    if (rc) return rc;
    scale_range(ps->g, 0, ps->n, (float)w);
    return dist_queue_sum_floats(t->dist, ps->g, ps->n + (size_t)nx + 1, err);
}

static PsStatus grad_collect(Trainer *t, PsErr *err)
{
    if (t->dist->size <= 1) return PS_OK;
    PsStatus rc = dist_queue_wait(t->dist, err);
    if (rc) return rc;
    for (int k = 0; k < t->n_stop_slot; k++)
        if (*t->stop_slot[k] > 0) t->stop_all = 1;
    t->n_stop_slot = 0;
    return PS_OK;
}

static double grad_tail(const ParamSet *ps, int k)
{
    return ps->g[ps->n + (size_t)k];
}

/* resnet_backward's grad_ready: the buckets now final at the slab's end go to the all-reduce
 * while backward computes the earlier layers. */
static void cnn_ready(void *ctx, size_t from)
{
    Trainer *t = ctx;
    ParamSet *ps = t->gs.ps;
    const size_t bucket = t->dist->bucket;
    while (t->gs.rc == PS_OK && t->gs.end > from && t->gs.end - from >= bucket) {
        size_t lo = t->gs.end - bucket;
        scale_range(ps->g, lo, t->gs.end < ps->n ? t->gs.end : ps->n, t->gs.w);
        t->gs.rc = dist_queue_sum_floats(t->dist, ps->g + lo, t->gs.end - lo, &t->gs.err);
        t->gs.end = lo;
    }
}

/* The ResNet's backward and its gradient's grad_send (weight w, scalars x): with a
 * communication thread the buckets leave as backward finishes them. */
static PsStatus cnn_backward_send(Trainer *t, const float *dlogits, const float *dfeatures,
                                  double w, const double *x, int nx, PsErr *err)
{
    if (t->dist->size <= 1) return resnet_backward(&t->cnn, &t->cw, dlogits, dfeatures, err);
    ParamSet *ps = &t->cnn.params;
    if (!t->dist->ov) {
        PsStatus rc = resnet_backward(&t->cnn, &t->cw, dlogits, dfeatures, err);
        return rc ? rc : grad_send(t, ps, w, x, nx, err);
    }
    PsStatus rc = fill_tail(t, ps, x, nx, err);
    if (rc) return rc;
    t->gs.ps = ps;
    t->gs.w = (float)w;
    t->gs.end = ps->n + (size_t)nx + 1;
    t->gs.rc = PS_OK;
    t->cw.grad_ready = cnn_ready;
    t->cw.grad_ready_ctx = t;
    rc = resnet_backward(&t->cnn, &t->cw, dlogits, dfeatures, err);
    t->cw.grad_ready = NULL;
    if (rc) return rc;
    if (t->gs.rc) {
        *err = t->gs.err;
        return t->gs.rc;
    }
    scale_range(ps->g, 0, t->gs.end < ps->n ? t->gs.end : ps->n, t->gs.w);
    return dist_queue_sum_floats(t->dist, ps->g, t->gs.end, err);
}

/* Labels counted (not masked) in radiographs imgs[0..n), from the dataset: every rank counts
 * the whole global batch's, which equals the sum of the shards' counts. */
static double cxr_counted(const Dataset *d, const int *imgs, int n)
{
    size_t c = 0;
    for (int b = 0; b < n; b++)
        for (int k = 0; k < NC; k++) c += d->imgs[imgs[b]].mask[k] != 0;
    return (double)c;
}

/* imgprep_run's draws per augmented image (flip, angle, scale, two shifts); the flip-only
 * augmentation of dataset_cxr_batch takes one. */
#define AFFINE_DRAWS 5

/* This rank's share of a global radiograph batch of B (imgs: the share's first image, which is
 * image lo of the batch; nb images) into t->xc with the configured augmentation. The other
 * shards' draws are skipped, so every image gets the draws it gets in a one-rank run and the
 * ranks' generators stay in step. */
static PsStatus cxr_train_batch(Trainer *t, const int *imgs, int lo, int nb, int B, float *y,
                                float *mask, PsErr *err)
{
    Rng *r = t->cfg.augment ? &t->rng : NULL;
    const int k = t->cfg.augment == 2 ? AFFINE_DRAWS : 1;
    PsStatus rc = PS_OK;
    if (r) rng_skip(r, k * lo);
    if (t->cfg.augment == 2)
        rc = dataset_cxr_batch_affine(t->d, imgs, nb, t->xc, y, mask, r, t->aug, err);
    else
        dataset_cxr_batch(t->d, imgs, nb, t->xc, y, mask, r);
    if (r && rc == PS_OK) rng_skip(r, k * (B - lo - nb));
    return rc;
}

/* Synchronised batch norm mixes the ranks' output gradients inside backward, so with unequal
 * shares each rank's gradient must already carry the whole batch's scale, not its own share's:
 * g (the gradient of this rank's mean) is multiplied by *w, this rank's share of the global
 * count, and *w becomes 1 for the grad_send that follows. */
static void presync_scale(float *g, size_t len, double *w)
{
    const float wf = (float)*w;
    for (size_t i = 0; i < len; i++) g[i] *= wf;
    *w = 1.0;
}

/* Dropout on this rank's rows of the concatenated features, the other shards' draws skipped
 * (as above: masks equal the one-rank run's, generators stay in step). */
static void head_dropout(Trainer *t, int lo, int nb)
{
    const float p = t->cfg.head_dropout;
    const int D = t->fus.dc + t->fus.de;
    if (p > 0) rng_skip(&t->rng, lo * D);
    fusion_dropout(&t->fus, t->fus_ps.w, t->cat, t->fmask, t->lf, nb, p, &t->rng);
    if (p > 0) rng_skip(&t->rng, (t->B - lo - nb) * D);
}

PsStatus trainer_step_encoders(Trainer *t, TrainLosses *loss, PsErr *err)
{
    const int B = t->B, multi = t->dist->size > 1;
    const Dataset *d = t->d;
    PsStatus rc;
    int lo, nb;
    share(t, B, &lo, &nb);
    double w_cxr = 1.0; /* this rank's share of the batch's counted radiology labels */
    double gw_cxr = 1.0; /* the weight its ResNet gradient still needs */
    loss->cxr = loss->ehr = loss->joint = NAN;
    /* (1) radiographs → ResNet → 14 radiology logits → BCE (masked labels left out) */
    if (t->use_cnn) {
        params_zero_grad(&t->cnn.params);
        if ((rc = dataset_sampler_next(&t->samp[DATASET_STREAM_CXR], t->idx, B, err))) return rc;
        if ((rc = cxr_train_batch(t, t->idx + lo, lo, nb, B, t->yc, t->mc, err))) return rc;
        if ((rc = resnet_forward(&t->cnn, &t->cw, t->xc, nb, 1, t->lc, NULL, err))) return rc;
        loss->cxr = loss_bce_logits(t->lc, t->yc, t->mc, (size_t)nb * NC);
        if (!multi && (rc = check_loss(loss->cxr, "radiology", t, err))) return rc;
        loss_bce_logits_backward(t->dlc, t->lc, t->yc, t->mc, (size_t)nb * NC);
        double lc = 0.0;
        if (multi) {
            const double all = cxr_counted(d, t->idx, B);
            w_cxr = gw_cxr = all > 0 ? cxr_counted(d, t->idx + lo, nb) / all : 0.0;
            if (t->cw.bn_sync) presync_scale(t->dlc, (size_t)nb * NC, &gw_cxr);
            /* the global mean loss is the sum of the shares' weighted means; a shard with no
             * counted label has loss NaN (0/0) and weight 0 */
            lc = w_cxr > 0 ? loss->cxr * w_cxr : 0.0;
        }
        if ((rc = cnn_backward_send(t, t->dlc, NULL, gw_cxr, &lc, 1, err))) return rc;
    }
    /* (2) EHR stays → LSTM → 25 phenotype logits → BCE */
    params_zero_grad(&t->ehr_ps);
    if ((rc = dataset_sampler_next(&t->samp[DATASET_STREAM_EHR], t->idx, B, err))) return rc;
    if (multi) ehr_balance(t, t->idx, B);
    int T;
    dataset_ehr_batch(d, t->idx + lo, nb, t->xe, t->len, &T, t->ye);
    if ((rc = ehr_model_forward(&t->ew, t->le, t->xe, t->len, nb, T, &t->ehr, t->ehr_ps.w, 1,
                                &t->rng, err)))
        return rc;
    loss->ehr = loss_bce_logits(t->le, t->ye, NULL, (size_t)nb * NP);
    if (!multi && (rc = check_loss(loss->ehr, "phenotype", t, err))) return rc;
    loss_bce_logits_backward(t->dle, t->le, t->ye, NULL, (size_t)nb * NP);
    if ((rc = ehr_model_backward(&t->ew, t->dle, NULL, &t->ehr, t->ehr_ps.w, t->ehr_ps.g, err)))
        return rc;
    if (multi) {
        const double w_ehr = (double)nb / B, le = loss->ehr * w_ehr;
        if ((rc = grad_send(t, &t->ehr_ps, w_ehr, &le, 1, err)) || (rc = grad_collect(t, err)))
            return rc;
        if (t->use_cnn) loss->cxr = grad_tail(&t->cnn.params, 0);
        loss->ehr = grad_tail(&t->ehr_ps, 0);
        if ((t->use_cnn && (rc = check_loss(loss->cxr, "radiology", t, err))) ||
            (rc = check_loss(loss->ehr, "phenotype", t, err)))
            return rc;
    }
    /* L = L_cxr + L_ehr: the two models share no parameter, so the summed loss's gradient is
     * each model's own gradient, and both are updated */
    if (t->use_cnn) update(t, &t->cnn.params, &t->a_cnn);
    update(t, &t->ehr_ps, &t->a_ehr);
    return PS_OK;
}

/* This rank's share of a paired mini-batch: EHR inputs, labels and the radiographs; *nb the
 * share's size, *lo its start in the global batch. */
static PsStatus pair_batch(Trainer *t, int *T, int *lo, int *nb, PsErr *err)
{
    PsStatus rc = dataset_sampler_next(&t->samp[DATASET_STREAM_PAIR], t->idx, t->B, err);
    if (rc) return rc;
    share(t, t->B, lo, nb);
    const int *idx = t->idx + *lo;
    for (int b = 0; b < *nb; b++) t->img[b] = t->d->stays[idx[b]].img;
    dataset_ehr_batch(t->d, idx, *nb, t->xe, t->len, T, t->ye);
    dataset_cxr_batch(t->d, t->img, *nb, t->xc, NULL, NULL, NULL);
    return PS_OK;
}

PsStatus trainer_step_unified(Trainer *t, TrainLosses *loss, PsErr *err)
{
    PS_CHECK(err, t->use_fus);
    int T, lo, nb;
    PsStatus rc = pair_batch(t, &T, &lo, &nb, err);
    if (rc) return rc;
    /* (3) both encoders in eval mode: no dropout, batch-norm running statistics, and no
     * gradient: the encoders are not touched by this step */
    if ((rc = resnet_forward(&t->cnn, &t->cw, t->xc, nb, 0, NULL, NULL, err))) return rc;
    const float *fe = NULL;
    if (t->fus.de) {
        if ((rc = ehr_model_forward(&t->ew, t->le, t->xe, t->len, nb, T, &t->ehr, t->ehr_ps.w, 0,
                                    NULL, err)))
            return rc;
        fe = t->ew.feat;
    }
    fusion_forward(&t->fus, t->fus_ps.w, t->cat, t->lf, t->cw.features, fe, nb);
    head_dropout(t, lo, nb);
    loss->joint = loss_bce_logits(t->lf, t->ye, NULL, (size_t)nb * NP);
    if (t->dist->size <= 1 && (rc = check_loss(loss->joint, "unified", t, err))) return rc;
    loss_bce_logits_backward(t->dlf, t->lf, t->ye, NULL, (size_t)nb * NP);
    params_zero_grad(&t->fus_ps);
    fusion_backward(&t->fus, t->fus_ps.w, t->fus_ps.g, t->dcat, NULL, NULL, t->dlf, t->cat, nb);
    if (t->dist->size > 1) {
        const double w = (double)nb / t->B;
        const double l = loss->joint * w;
        if ((rc = grad_send(t, &t->fus_ps, w, &l, 1, err)) || (rc = grad_collect(t, err)))
            return rc;
        loss->joint = grad_tail(&t->fus_ps, 0);
        if ((rc = check_loss(loss->joint, "unified", t, err))) return rc;
    }
    update_head(t, t->cfg.head_lr_mult > 0 ? t->cfg.head_lr_mult : 1.0f);
    return PS_OK;
}

/* Joint I / II: the fusion head's loss trains both encoders end to end on pairs. */
static PsStatus step_joint(Trainer *t, TrainLosses *loss, PsErr *err)
{
    int T, lo, nb;
    loss->cxr = loss->ehr = NAN;
    PsStatus rc = pair_batch(t, &T, &lo, &nb, err);
    if (rc) return rc;
    if (t->cfg.augment && (rc = cxr_train_batch(t, t->img, lo, nb, t->B, NULL, NULL, err)))
        return rc;
    params_zero_grad(&t->cnn.params);
    params_zero_grad(&t->ehr_ps);
    params_zero_grad(&t->fus_ps);
    if ((rc = resnet_forward(&t->cnn, &t->cw, t->xc, nb, 1, NULL, NULL, err))) return rc;
    if ((rc = ehr_model_forward(&t->ew, t->le, t->xe, t->len, nb, T, &t->ehr, t->ehr_ps.w, 1,
                                &t->rng, err)))
        return rc;
    fusion_forward(&t->fus, t->fus_ps.w, t->cat, t->lf, t->cw.features, t->ew.feat, nb);
    head_dropout(t, lo, nb);
    loss->joint = loss_bce_logits(t->lf, t->ye, NULL, (size_t)nb * NP);
    if (t->dist->size <= 1 && (rc = check_loss(loss->joint, "joint", t, err))) return rc;
    loss_bce_logits_backward(t->dlf, t->lf, t->ye, NULL, (size_t)nb * NP);
    const double w = (double)nb / t->B; /* this rank's share of the batch */
    double gw = w;
    if (t->dist->size > 1 && t->cw.bn_sync) presync_scale(t->dlf, (size_t)nb * NP, &gw);
    fusion_backward(&t->fus, t->fus_ps.w, t->fus_ps.g, t->dcat, t->dcxr, t->dehr, t->dlf, t->cat,
                    nb);
    fusion_dropout_backward(&t->fus, t->fmask, t->dcxr, t->dehr, nb);
    const double l = loss->joint * w;
    if ((rc = grad_send(t, &t->fus_ps, gw, &l, 1, err)) ||
        (rc = cnn_backward_send(t, NULL, t->dcxr, gw, NULL, 0, err)))
        return rc;
    /* the EHR head is not part of this model: zero gradient on its logits */
    if ((rc = ehr_model_backward(&t->ew, t->zeros, t->dehr, &t->ehr, t->ehr_ps.w, t->ehr_ps.g,
                                 err)) ||
        (rc = grad_send(t, &t->ehr_ps, gw, NULL, 0, err)) || (rc = grad_collect(t, err)))
        return rc;
    if (t->dist->size > 1) {
        loss->joint = grad_tail(&t->fus_ps, 0);
        if ((rc = check_loss(loss->joint, "joint", t, err))) return rc;
    }
    update(t, &t->cnn.params, &t->a_cnn);
    update(t, &t->ehr_ps, &t->a_ehr);
    update_head(t, 1.0f);
    return PS_OK;
}

PsStatus trainer_iteration(Trainer *t, TrainLosses *loss, PsErr *err)
{
    PsStatus rc = PS_OK;
    loss->cxr = loss->ehr = loss->joint = NAN;
    switch (t->cfg.method) {
    case TRAIN_UNIFIED:
    case TRAIN_LATE: {
        if ((rc = trainer_step_encoders(t, loss, err))) break;
        TrainLosses l3;
        rc = trainer_step_unified(t, &l3, err);
        loss->joint = l3.joint;
        break;
    }
    case TRAIN_EHR: rc = trainer_step_encoders(t, loss, err); break;
    case TRAIN_JOINT1: rc = step_joint(t, loss, err); break;
    case TRAIN_JOINT2:
        rc = t->phase == 0 ? trainer_step_encoders(t, loss, err) : step_joint(t, loss, err);
        break;
    }
    if (!rc) {
        t->iteration++;
        t->iter_in_epoch++;
    }
    return rc;
}

/* ---- prediction ------------------------------------------------------------------------- */

void train_predictions_free(TrainPredictions *p)
{
    if (!p) return;
    free(p->stay);
    free(p->paired);
    free(p->y);
    free(p->p_rule);
    free(p->p_ehr);
    memset(p, 0, sizeof *p);
}

/* Paired predictions p (nb, 25) from CXR features (nb, Fc) and EHR features/logits. */
static void paired_probs(Trainer *t, float *p, const float *fc, const float *fe,
                         const float *le, int nb)
{
    if (t->cfg.method == TRAIN_EHR) {
        loss_sigmoid(p, le, (size_t)nb * NP);
        return;
    }
    fusion_forward(&t->fus, t->fus_ps.w, t->cat, t->lf, fc, t->fus.de ? fe : NULL, nb);
    if (t->cfg.method == TRAIN_LATE) fusion_late(p, le, t->lf, nb * NP);
    else loss_sigmoid(p, t->lf, (size_t)nb * NP);
}

/* Predictions for rows [from, to) of split (every row's stay index is set; the others' values
 * stay zero, so ranks that each predict a share can add their results up). */
static PsStatus predict_rows(Trainer *t, int split, int from, int to, TrainPredictions *out,
                             PsErr *err)
{
    memset(out, 0, sizeof *out);
    PS_CHECK(err, split >= 0 && split <= 2);
    const Dataset *d = t->d;
    const int n = d->n_stay[split], B = t->B;
    PS_CHECK(err, from >= 0 && from <= to && to <= n);
    PsStatus rc = PS_OK;
    out->n = n;
    out->stay = malloc(((size_t)n + 1) * sizeof(int));
    out->paired = calloc((size_t)n + 1, 1);
    out->y = calloc((size_t)n * NP + 1, sizeof(float));
    out->p_rule = calloc((size_t)n * NP + 1, sizeof(float));
    out->p_ehr = calloc((size_t)n * NP + 1, sizeof(float));
    float *fe_pair = malloc((size_t)B * t->H * sizeof(float));
    float *le_pair = malloc((size_t)B * NP * sizeof(float));
    float *pp = malloc((size_t)B * NP * sizeof(float));
    int *rows = malloc((size_t)B * sizeof(int));
    if (!out->stay || !out->paired || !out->y || !out->p_rule || !out->p_ehr || !fe_pair ||
        !le_pair || !pp || !rows) {
        rc = ps_err(err, PS_ERR_NOMEM, "out of memory predicting %d stays", n);
        goto done;
    }
    for (int i = 0; i < n; i++) out->stay[i] = d->stay_idx[split][i];
    for (int i0 = from; i0 < to; i0 += B) {
        int nb = to - i0 < B ? to - i0 : B, T;
        for (int b = 0; b < nb; b++) t->idx[b] = d->stay_idx[split][i0 + b];
        dataset_ehr_batch(d, t->idx, nb, t->xe, t->len, &T, out->y + (size_t)i0 * NP);
        if ((rc = ehr_model_forward(&t->ew, t->le, t->xe, t->len, nb, T, &t->ehr, t->ehr_ps.w, 0,
                                    NULL, err)))
            goto done;
        float *pe = out->p_ehr + (size_t)i0 * NP;
        loss_sigmoid(pe, t->le, (size_t)nb * NP);
        memcpy(out->p_rule + (size_t)i0 * NP, pe, (size_t)nb * NP * sizeof(float));
        int np = 0;
        for (int b = 0; b < nb; b++) {
            out->stay[i0 + b] = t->idx[b];
            int im = d->stays[t->idx[b]].img;
            if (!d->stays[t->idx[b]].paired || (t->use_cnn && im < 0)) continue;
            out->paired[i0 + b] = 1;
            rows[np] = b;
            t->img[np] = im;
            memcpy(fe_pair + (size_t)np * t->H, t->ew.feat + (size_t)b * t->H,
                   (size_t)t->H * sizeof(float));
            memcpy(le_pair + (size_t)np * NP, t->le + (size_t)b * NP, NP * sizeof(float));
            np++;
        }
        if (np == 0) continue;
        if (t->use_cnn) {
            dataset_cxr_batch(d, t->img, np, t->xc, NULL, NULL, NULL);
            if ((rc = resnet_forward(&t->cnn, &t->cw, t->xc, np, 0, NULL, NULL, err))) goto done;
        }
        paired_probs(t, pp, t->use_cnn ? t->cw.features : NULL, fe_pair, le_pair, np);
        for (int k = 0; k < np; k++)
            memcpy(out->p_rule + (size_t)(i0 + rows[k]) * NP, pp + (size_t)k * NP,
                   NP * sizeof(float));
    }
done:
    free(fe_pair);
    free(le_pair);
    free(pp);
    free(rows);
    if (rc) train_predictions_free(out);
    return rc;
}

PsStatus trainer_predict_split(Trainer *t, int split, TrainPredictions *out, PsErr *err)
{
    return predict_rows(t, split, 0, t->d ? t->d->n_stay[split] : 0, out, err);
}

/* The split's predictions with each rank predicting a contiguous share of its stays, added up
 * over ranks (every rank receives all of them). */
static PsStatus predict_split_ranks(Trainer *t, int split, TrainPredictions *out, PsErr *err)
{
    Dist *ds = t->dist;
    if (ds->size <= 1) return trainer_predict_split(t, split, out, err);
    const int n = t->d->n_stay[split];
    const int lo = (int)((int64_t)n * ds->rank / ds->size);
    const int hi = (int)((int64_t)n * (ds->rank + 1) / ds->size);
    PsStatus rc = predict_rows(t, split, lo, hi, out, err);
    if (rc) return rc;
    int *paired = malloc(((size_t)n + 1) * sizeof(int));
    if (!paired) {
        train_predictions_free(out);
        return ps_err(err, PS_ERR_NOMEM, "out of memory gathering predictions");
    }
    for (int i = 0; i < n; i++) paired[i] = out->paired[i];
    /* validation traffic is not the gradient all-reduce the statistics describe */
    const double cs = ds->comm_s, cb = ds->comm_bytes;
    const int64_t cc = ds->comm_calls;
    const size_t m = (size_t)n * NP;
    if (!(rc = dist_sum_floats(ds, out->y, m, err)) &&
        !(rc = dist_sum_floats(ds, out->p_rule, m, err)) &&
        !(rc = dist_sum_floats(ds, out->p_ehr, m, err)) &&
        !(rc = dist_max_ints(ds, paired, n, err)))
        for (int i = 0; i < n; i++) out->paired[i] = (uint8_t)paired[i];
    ds->comm_s = cs;
    ds->comm_bytes = cb;
    ds->comm_calls = cc;
    free(paired);
    if (rc) train_predictions_free(out);
    return rc;
}

PsStatus trainer_predict_one(Trainer *t, const float *x, int T, const uint8_t *img, float *p_ehr,
                             float *p_pair, PsErr *err)
{
    if (T < 1 || T > t->max_T)
        return ps_err(err, PS_ERR_INVALID, "stay has %d time bins; the model takes 1..%d", T,
                      t->max_T);
    int len = T;
    PsStatus rc = ehr_model_forward(&t->ew, t->le, x, &len, 1, T, &t->ehr, t->ehr_ps.w, 0, NULL,
                                    err);
    if (rc) return rc;
    loss_sigmoid(p_ehr, t->le, NP);
    if (!img || !p_pair) return PS_OK;
    if (t->use_cnn) {
        dataset_cxr_from_u8(img, t->S, t->xc);
        if ((rc = resnet_forward(&t->cnn, &t->cw, t->xc, 1, 0, NULL, NULL, err))) return rc;
    }
    memcpy(t->fe, t->ew.feat, (size_t)t->H * sizeof(float));
    float le[NP];
    memcpy(le, t->le, sizeof le);
    paired_probs(t, p_pair, t->use_cnn ? t->cw.features : NULL, t->fe, le, 1);
    return PS_OK;
}

PsStatus trainer_stay_input(const Trainer *t, Store *st, int64_t stay_id, float **x, int *T,
                            PsErr *err)
{
    DatasetConfig dc;
    train_dataset_config(&t->cfg, &dc);
    return dataset_stay_input(&dc, &t->nz, st, stay_id, x, T, err);
}

/* ---- checkpoints ------------------------------------------------------------------------ */

static void put_words(uint64_t *w, int *k, const void *p, size_t bytes)
{
    memcpy(w + *k, p, bytes);
    *k += (int)((bytes + 7) / 8);
}

static void pack_state(const Trainer *t, uint64_t w[STATE_WORDS])
{
    memset(w, 0, STATE_WORDS * sizeof(uint64_t));
    int k = 0;
    uint64_t v[16] = {STATE_MAGIC, (uint64_t)t->cfg.method, (uint64_t)t->iteration,
                      (uint64_t)t->iter_in_epoch, (uint64_t)t->epoch, (uint64_t)t->phase,
                      (uint64_t)t->best_epoch, (uint64_t)t->bad_epochs, (uint64_t)t->lr_bad,
                      (uint64_t)t->a_cnn.step, (uint64_t)t->a_ehr.step, (uint64_t)t->a_fus.step,
                      t->cfg.seed};
    put_words(w, &k, v, 13 * sizeof(uint64_t));
    put_words(w, &k, &t->lr, sizeof t->lr);
    put_words(w, &k, &t->best, sizeof t->best);
    put_words(w, &k, &t->rng, sizeof t->rng);
    for (int s = 0; s < 3; s++) put_words(w, &k, &t->samp[s].s, sizeof t->samp[s].s);
}

static PsStatus unpack_state(Trainer *t, const uint64_t w[STATE_WORDS], const char *what,
                             PsErr *err)
{
    if (w[0] != STATE_MAGIC)
        return ps_err(err, PS_ERR_PARSE, "%s: trainer state is damaged (bad magic)", what);
    if (w[1] != (uint64_t)t->cfg.method)
        return ps_err(err, PS_ERR_INVALID, "%s was saved by method %s, not %s", what,
                      train_method_name((TrainMethod)w[1]), train_method_name(t->cfg.method));
    t->iteration = (int64_t)w[2];
    t->iter_in_epoch = (int64_t)w[3];
    t->epoch = (int)w[4];
    t->phase = (int)w[5];
    t->best_epoch = (int)w[6];
    t->bad_epochs = (int)w[7];
    t->lr_bad = (int)w[8];
    t->a_cnn.step = (long)w[9];
    t->a_ehr.step = (long)w[10];
    t->a_fus.step = (long)w[11];
    int k = 13;
    memcpy(&t->lr, w + k, sizeof t->lr);
    k += 1;
    memcpy(&t->best, w + k, sizeof t->best);
    k += 1;
    memcpy(&t->rng, w + k, sizeof t->rng);
    k += (int)(sizeof t->rng / 8);
    for (int s = 0; s < 3; s++) {
        DatasetSamplerState ss;
        memcpy(&ss, w + k, sizeof ss);
        k += (int)((sizeof ss + 7) / 8);
        if (t->samp[s].n > 0 && (ss.cursor < 0 || ss.cursor > t->samp[s].n))
            return ps_err(err, PS_ERR_INVALID,
                          "%s: sampler position %lld is beyond the %d items of this store (the "
                          "store changed since the checkpoint)",
                          what, (long long)ss.cursor, t->samp[s].n);
        if (t->samp[s].n > 0) dataset_sampler_restore(&t->samp[s], &ss);
    }
    return PS_OK;
}

static int view_sets(Trainer *t, ParamSet **sets)
{
    int n = 0;
    for (int i = 0; i < t->n_views; i++) sets[n++] = &t->views[i].ps;
    sets[n++] = &t->state_ps;
    sets[n++] = &t->norm_ps;
    return n;
}

PsStatus trainer_save(Trainer *t, uint8_t **blob, size_t *len, PsErr *err)
{
    uint64_t w[STATE_WORDS];
    pack_state(t, w);
    memcpy(t->state_ps.w, w, sizeof w);
    normalizer_to_blob(&t->nz, t->norm_ps.w);
    ParamSet *sets[16];
    int n = view_sets(t, sets);
    return safetensors_save(blob, len, sets, n, err);
}

PsStatus trainer_load(Trainer *t, const uint8_t *blob, size_t len, const char *what, PsErr *err)
{
    /* the state first, on its own, so a checkpoint of another method or store is refused
     * before any weight is touched; then everything, strictly (names and shapes) */
    ParamSet only = t->state_ps;
    only.w = malloc(t->state_ps.n * sizeof(float));
    if (!only.w) return ps_err(err, PS_ERR_NOMEM, "out of memory");
    ParamSet *one[1] = {&only};
    SafetensorsOpts o = {.skip_prefix = NULL, .ignore_extra = 1};
    PsStatus rc = safetensors_load(blob, len, what, one, 1, &o, err);
    uint64_t w[STATE_WORDS];
    if (!rc) memcpy(w, only.w, sizeof w);
    free(only.w);
    if (rc) return rc;
    if (w[0] != STATE_MAGIC)
        return ps_err(err, PS_ERR_PARSE, "%s: trainer state is damaged (bad magic)", what);
    if (w[1] != (uint64_t)t->cfg.method)
        return ps_err(err, PS_ERR_INVALID, "%s was saved by method %s, not %s", what,
                      train_method_name((TrainMethod)w[1]), train_method_name(t->cfg.method));
    ParamSet *sets[16];
    int n = view_sets(t, sets);
    /* the normalizer must parse before anything is overwritten */
    ParamSet nonly = t->norm_ps;
    nonly.w = malloc(t->norm_ps.n * sizeof(float));
    if (!nonly.w) return ps_err(err, PS_ERR_NOMEM, "out of memory");
    one[0] = &nonly;
    rc = safetensors_load(blob, len, what, one, 1, &o, err);
    Normalizer nz;
    if (!rc) rc = normalizer_from_blob(&nz, nonly.w, NORMALIZER_BLOB_FLOATS, err);
    free(nonly.w);
    if (rc) return rc;
    rc = safetensors_load(blob, len, what, sets, n, NULL, err);
    if (rc) return rc;
    t->nz = nz;
    return unpack_state(t, w, what, err);
}

/* ---- metrics ----------------------------------------------------------------------------- */

PsStatus train_metrics(MetricsReport *rep, const float *p, const float *y, int n, PsErr *err)
{
    MetricsWork mw;
    PsStatus rc = metrics_work_init(&mw, (size_t)(n > 0 ? n : 1), NP, 1, err);
    if (rc) return rc;
    int group[NP];
    metrics_phenotype_groups(group);
    rc = metrics_report(&mw, rep, p, y, (size_t)n, NP, group, 3, err);
    metrics_work_done(&mw);
    return rc;
}

/* Gathers the paired rows of pr into p, y (caller-allocated n × 25); returns the count. */
static int gather_paired(const TrainPredictions *pr, float *p, float *y)
{
    int m = 0;
    for (int i = 0; i < pr->n; i++) {
        if (!pr->paired[i]) continue;
        memcpy(p + (size_t)m * NP, pr->p_rule + (size_t)i * NP, NP * sizeof(float));
        memcpy(y + (size_t)m * NP, pr->y + (size_t)i * NP, NP * sizeof(float));
        m++;
    }
    return m;
}

static void json_report(Buf *b, const char *name, const MetricsReport *r, int n)
{
    bputf(b, "\"%s\":{\"n\":%d,\"auroc\":", name, n);
    bnum(b, r->macro_auroc);
    bputf(b, ",\"auprc\":");
    bnum(b, r->macro_auprc);
    static const char *const g[3] = {"acute", "mixed", "chronic"};
    for (int k = 0; k < 3; k++) {
        bputf(b, ",\"%s\":", g[k]);
        bnum(b, r->group_auroc[k]);
    }
    bputf(b, ",\"per_phenotype\":[");
    for (int k = 0; k < NP; k++) {
        if (k) bputf(b, ",");
        bnum(b, r->auroc[k]);
    }
    bputf(b, "]}");
}

/* Validation: metrics on paired and on all stays of the split; *score the selection score. */
static PsStatus validate(Trainer *t, Buf *json, double *score, double group[3], PsErr *err)
{
    TrainPredictions pr;
    PsStatus rc = predict_split_ranks(t, SPLIT_VAL, &pr, err);
    if (rc) return rc;
    MetricsReport all, pair;
    float *pp = malloc(((size_t)pr.n * NP + 1) * sizeof(float));
    float *yp = malloc(((size_t)pr.n * NP + 1) * sizeof(float));
    if (!pp || !yp) {
        rc = ps_err(err, PS_ERR_NOMEM, "out of memory validating");
        goto done;
    }
    if ((rc = train_metrics(&all, pr.p_rule, pr.y, pr.n, err))) goto done;
    int m = gather_paired(&pr, pp, yp);
    int have_pair = m > 0;
    if (have_pair && (rc = train_metrics(&pair, pp, yp, m, err))) goto done;
    json_report(json, "val_all", &all, pr.n);
    if (have_pair) {
        bputf(json, ",");
        json_report(json, "val_paired", &pair, m);
    }
    const MetricsReport *sel =
        (t->cfg.method == TRAIN_EHR || !have_pair || isnan(pair.macro_auroc)) ? &all : &pair;
    *score = sel->macro_auroc;
    for (int k = 0; k < 3; k++) group[k] = sel->group_auroc[k];
    bputf(json, ",\"selection\":\"%s\"", sel == &all ? "val_all" : "val_paired");
done:
    free(pp);
    free(yp);
    train_predictions_free(&pr);
    return rc;
}

PsStatus trainer_evaluate(Trainer *t, int split, int resamples, uint64_t seed,
                          TrainEvalReport *out, PsErr *err)
{
    memset(out, 0, sizeof *out);
    TrainPredictions pr;
    PsStatus rc = trainer_predict_split(t, split, &pr, err);
    if (rc) return rc;
    MetricsWork mw;
    memset(&mw, 0, sizeof mw);
    float *pp = malloc(((size_t)pr.n * NP + 1) * sizeof(float));
    float *yp = malloc(((size_t)pr.n * NP + 1) * sizeof(float));
    if (!pp || !yp) {
        rc = ps_err(err, PS_ERR_NOMEM, "out of memory evaluating");
        goto done;
    }
    int m = gather_paired(&pr, pp, yp);
    out->n_paired = m;
    out->n_all = pr.n;
    if ((rc = metrics_work_init(&mw, (size_t)(pr.n > 0 ? pr.n : 1), NP,
                                resamples > 0 ? resamples : 1, err)))
        goto done;
    int group[NP];
    metrics_phenotype_groups(group);
    for (int set = 0; set < 2; set++) {
        const float *p = set ? pr.p_rule : pp, *y = set ? pr.y : yp;
        int n = set ? pr.n : m;
        MetricsReport *rep = set ? &out->all : &out->paired;
        for (int k = 0; k < TRAIN_EVAL_STATS; k++) out->lo[set][k] = out->hi[set][k] = NAN;
        for (int k = 0; k < NP; k++) out->label_lo[set][k] = out->label_hi[set][k] = NAN;
        if (n == 0) {
            memset(rep, 0, sizeof *rep);
            rep->macro_auroc = rep->macro_auprc = NAN;
            for (int g = 0; g < 3; g++) rep->group_auroc[g] = rep->group_auprc[g] = NAN;
            for (int k = 0; k < NP; k++) rep->auroc[k] = rep->auprc[k] = NAN;
            continue;
        }
        if ((rc = metrics_report(&mw, rep, p, y, (size_t)n, NP, group, 3, err))) goto done;
        if (resamples <= 0) continue;
        for (int k = 0; k < TRAIN_EVAL_STATS + NP; k++) {
            MetricsStat stat;
            int which = 0;
            if (k == 0) stat = METRICS_MACRO_AUROC;
            else if (k == 1) stat = METRICS_MACRO_AUPRC;
            else if (k < 5) stat = METRICS_GROUP_AUROC, which = k - 2;
            else if (k < 8) stat = METRICS_GROUP_AUPRC, which = k - 5;
            else stat = METRICS_LABEL_AUROC, which = k - 8;
            Rng rng;
            rng_seed_stream(&rng, seed, (uint64_t)(set * 100 + k));
            double lo, hi;
            int used;
            if ((rc = metrics_bootstrap(&mw, &lo, &hi, &used, p, y, (size_t)n, NP, group, 3, stat,
                                        which, resamples, &rng, err)))
                goto done;
            if (k < TRAIN_EVAL_STATS) {
                out->lo[set][k] = lo;
                out->hi[set][k] = hi;
            } else {
                out->label_lo[set][k - 8] = lo;
                out->label_hi[set][k - 8] = hi;
            }
        }
    }
done:
    metrics_work_done(&mw);
    free(pp);
    free(yp);
    train_predictions_free(&pr);
    return rc;
}

/* ---- the run loop ------------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    RunStep *steps;
    size_t n, cap;
} StepBuf;

static PsStatus flush_steps(Store *st, int64_t run_id, StepBuf *sb, PsErr *err)
{
    if (sb->n == 0) return PS_OK;
    PsStatus rc = runs_put_steps(st, run_id, sb->steps, sb->n);
    if (rc) return ps_err(err, rc, "recording losses of run %lld: %s", (long long)run_id,
                          store_errmsg(st));
    sb->n = 0;
    return PS_OK;
}

static void to_run_progress(const TrainProgress *p, RunProgress *r)
{
    memset(r, 0, sizeof *r);
    r->time = (int64_t)time(NULL);
    r->pid = (int64_t)getpid();
    snprintf(r->phase, sizeof r->phase, "%s", strcmp(p->state, "running") ? p->state : p->phase);
    r->iteration = p->iteration;
    r->iterations = p->iterations;
    r->epoch = p->epoch;
    r->epochs = p->epochs;
    r->loss_cxr = p->loss_cxr;
    r->loss_ehr = p->loss_ehr;
    r->loss_joint = p->loss_joint;
    r->samples_per_s = p->samples_per_s;
    r->eta_s = p->eta_s;
    r->val_auroc = p->val_auroc;
}

/* Saves the last checkpoint (and the best one when is_best) with the pending steps and the
 * epoch row, in one transaction: the store never holds a checkpoint ahead of its record. */
static PsStatus commit_checkpoint(Store *st, Trainer *t, int64_t run_id, StepBuf *sb,
                                  const char *epoch_json, int is_best, PsErr *err)
{
    uint8_t *blob = NULL;
    size_t len = 0;
    PsStatus rc = trainer_save(t, &blob, &len, err);
    if (rc) return rc;
    PS_KILLPOINT("checkpoint.before_begin");
    if ((rc = store_begin(st))) {
        free(blob);
        return ps_err(err, rc, "saving run %lld: %s", (long long)run_id, store_errmsg(st));
    }
    rc = flush_steps(st, run_id, sb, err);
    if (!rc && epoch_json && (rc = runs_put_epoch(st, run_id, t->epoch, epoch_json)))
        rc = ps_err(err, rc, "saving epoch %d of run %lld: %s", t->epoch, (long long)run_id,
                    store_errmsg(st));
    /* losses and the epoch row are written, the weights not yet: a crash here must lose both */
    if (!rc) PS_KILLPOINT("checkpoint.mid_write");
    if (!rc && (rc = runs_put_checkpoint(st, run_id, "last", t->epoch, blob, len)))
        rc = ps_err(err, rc, "saving a checkpoint of run %lld: %s", (long long)run_id,
                    store_errmsg(st));
    if (!rc && is_best && (rc = runs_put_checkpoint(st, run_id, "best", t->epoch, blob, len)))
        rc = ps_err(err, rc, "saving a checkpoint of run %lld: %s", (long long)run_id,
                    store_errmsg(st));
    free(blob);
    if (rc) {
        store_rollback(st);
        return rc;
    }
    PS_KILLPOINT("checkpoint.before_commit");
    if ((rc = store_commit(st)))
        return ps_err(err, rc, "saving run %lld: %s", (long long)run_id, store_errmsg(st));
    PS_KILLPOINT("checkpoint.after_commit");
    return PS_OK;
}

#define LOSS_WINDOW 50

/* The loss sums of steps (from, to] of a run, as the epoch loop accumulates them. */
typedef struct {
    int64_t from, to;
    double *sum;
    int *cnt;
} EpochSums;

static int epoch_sums_add(void *ctx, const RunStep *s)
{
    EpochSums *e = ctx;
    if (s->step <= e->from || s->step > e->to) return 0;
    const double v[3] = {s->loss_cxr, s->loss_ehr, s->loss_joint};
    for (int k = 0; k < 3; k++)
        if (!isnan(v[k])) {
            e->sum[k] += v[k];
            e->cnt[k]++;
        }
    return 0;
}

/* Whether the losses and progress row are due for their own short transaction: every couple
 * of seconds. Test builds can ask for every N iterations instead (PHENOSCOPE_FLUSH_EVERY), so
 * the kill point after that write is reached at a known step. */
static int flush_due(double since_s, int64_t iteration)
{
#ifdef PS_TEST_HOOKS
    int every = testhooks_flush_every();
    if (every > 0) return iteration % every == 0;
#else
    (void)iteration;
#endif
    return since_s >= 2.0;
}

PsStatus train_run(Store *st, int64_t run_id, const Dataset *d, const TrainConfig *cfg, int resume,
                   const TrainHooks *hooks, PsErr *err)
{
    return train_run_dist(st, run_id, d, cfg, resume, hooks, NULL, err);
}

/* Rank 0 reads run_id's last checkpoint and every rank receives it (*blob NULL: none yet). */
static PsStatus fetch_checkpoint(Store *st, Trainer *t, int64_t run_id, uint8_t **blob,
                                 size_t *len, PsErr *err)
{
    *blob = NULL;
    *len = 0;
    int ep = 0;
    /* head: status of the read on rank 0, and the blob's length */
    int64_t head[2] = {PS_OK, 0};
    PsStatus rc = PS_OK;
    if (t->dist->rank == 0) {
        rc = runs_get_checkpoint(st, run_id, "last", &ep, blob, len);
        if (rc == PS_ERR_NOTFOUND) {
            rc = PS_OK; /* killed before its first checkpoint: start over */
            *blob = NULL;
            *len = 0;
        } else if (rc) {
            ps_err(err, rc, "%s", store_errmsg(st));
        }
        head[0] = rc;
        head[1] = (int64_t)*len;
    }
    PsStatus brc = dist_bcast(t->dist, head, sizeof head, 0, err);
    if (brc) return brc;
    if (head[0] != PS_OK) {
        if (t->dist->rank != 0)
            ps_err(err, (PsStatus)head[0], "rank 0 could not read the last checkpoint of run %lld",
                   (long long)run_id);
        t->collective_err = t->dist->size > 1;
        return (PsStatus)head[0];
    }
    if (head[1] == 0) return PS_OK;
    if (t->dist->rank != 0) {
        *len = (size_t)head[1];
        *blob = malloc(*len);
        if (!*blob) return ps_err(err, PS_ERR_NOMEM, "out of memory for a %zu-byte checkpoint", *len);
    }
    if ((brc = dist_bcast(t->dist, *blob, *len, 0, err))) {
        free(*blob);
        *blob = NULL;
    }
    return brc;
}

/* After an epoch: every rank must hold the same parameters. Batch-norm running statistics of
 * per-rank batch norm differ by construction; they are averaged first (with --sync-bn they are
 * the same already). A mismatch is an error on every rank. */
static PsStatus agree_across_ranks(Trainer *t, PsErr *err)
{
    Dist *ds = t->dist;
    if (ds->size <= 1) return PS_OK;
    PsStatus rc;
    if (t->use_cnn && !t->cfg.sync_bn &&
        (rc = dist_avg_floats(ds, t->cnn.buffers.w, t->cnn.buffers.n, err)))
        return rc;
#ifdef PS_TEST_HOOKS
    {
        /* tests: PHENOSCOPE_TEST_DIVERGE=R nudges one weight on rank R, as a bit flip would */
        const char *e = getenv("PHENOSCOPE_TEST_DIVERGE");
        if (e && atoi(e) == ds->rank) t->ehr_ps.w[0] += 1e-3f;
    }
#endif
    uint64_t h = params_checksum(&t->ehr_ps);
    if (t->use_cnn) h = h * 1099511628211ull ^ params_checksum(&t->cnn.params);
    if (t->use_fus) h = h * 1099511628211ull ^ params_checksum(&t->fus_ps);
    uint64_t lo, hi;
    int rank_hi;
    if ((rc = dist_agree(ds, h, &lo, &hi, &rank_hi, err))) return rc;
    if (lo == hi) return PS_OK;
    t->collective_err = 1;
    return ps_err(err, PS_ERR_INVALID,
                  "after epoch %d the ranks hold different parameters (checksum %016llx on rank "
                  "%d, %016llx on another): the replicas diverged, so the run stops; "
                  "'phenoscope train --resume' continues it from its last checkpoint",
                  t->epoch + 1, (unsigned long long)hi, rank_hi, (unsigned long long)lo);
}

PsStatus train_run_dist(Store *st, int64_t run_id, const Dataset *d, const TrainConfig *cfg,
                        int resume, const TrainHooks *hooks, Dist *dist, PsErr *err)
{
    Trainer *t = NULL;
    StepBuf sb = {0};
    Buf ej = {0};
    /* rank 0 alone writes the store */
    const int writer = !dist || dist->rank == 0;
    PsStatus rc = trainer_new(&t, d, cfg, err);
    if (!rc) rc = trainer_set_dist(t, dist, err);
    TrainProgress p;
    memset(&p, 0, sizeof p);
    p.run_id = run_id;
    snprintf(p.method, sizeof p.method, "%s", train_method_name(cfg->method));
    snprintf(p.state, sizeof p.state, "running");
    p.val_auroc = p.best_val_auroc = NAN;
    p.loss_cxr = p.loss_ehr = p.loss_joint = NAN;
    p.samples_per_s = p.eta_s = NAN;
    for (int k = 0; k < 3; k++) p.val_group[k] = NAN;
    if (rc) goto fail;
    if (resume) {
        uint8_t *blob = NULL;
        size_t len = 0;
        if ((rc = fetch_checkpoint(st, t, run_id, &blob, &len, err))) goto fail;
        if (blob) {
            char what[64];
            snprintf(what, sizeof what, "the last checkpoint of run %lld", (long long)run_id);
            rc = trainer_load(t, blob, len, what, err);
            free(blob);
            if (rc) goto fail;
            if (t->best > -INFINITY) {
                p.best_val_auroc = t->best;
                p.best_epoch = t->best_epoch;
            }
        }
    }
    if (writer && (rc = runs_truncate(st, run_id, t->iteration, t->epoch))) {
        rc = ps_err(err, rc, "%s", store_errmsg(st));
        goto fail;
    }
    if (writer && (rc = runs_set_status(st, run_id, "running", ""))) {
        rc = ps_err(err, rc, "%s", store_errmsg(st));
        goto fail;
    }
    const int total_epochs = cfg->epochs + (cfg->method == TRAIN_JOINT2 ? cfg->pretrain_epochs : 0);
    p.epochs = total_epochs;
    double win[3][LOSS_WINDOW];
    int wn = 0;
    double t_start = now_s(), t_flush = t_start, sec_per_it = NAN;
    int64_t it_start = t->iteration;
    double val_seconds = 0;
    int stopped_early = 0;
    while (t->epoch < total_epochs && !stopped_early) {
        int phase = cfg->method == TRAIN_JOINT2 ? (t->epoch >= cfg->pretrain_epochs) : 1;
        if (phase != t->phase) {
            /* joint2 moves from pretraining to end-to-end training: selection starts afresh */
            t->phase = phase;
            t->best = -INFINITY;
            t->bad_epochs = t->lr_bad = 0;
            t->lr = cfg->lr;
        }
        snprintf(p.phase, sizeof p.phase, "%s", t->phase ? "train" : "pretrain");
        const int ipe = iters_per_epoch(t);
        p.iterations = t->iteration - t->iter_in_epoch + iters_remaining(t, t->epoch, total_epochs);
        double sum[3] = {0, 0, 0};
        int cnt[3] = {0, 0, 0};
        if (t->iter_in_epoch > 0) {
            /* resumed mid-epoch (the run was stopped): the epoch's mean losses take the steps
             * before the stop from the store, in order, so they are the uninterrupted sums */
            EpochSums es = {t->iteration - t->iter_in_epoch, t->iteration, sum, cnt};
            if ((rc = runs_each_step(st, run_id, epoch_sums_add, &es))) {
                rc = ps_err(err, rc, "%s", store_errmsg(st));
                goto fail;
            }
        }
        while (t->iter_in_epoch < ipe) {
            /* several ranks: a request is summed with the next iteration's gradients, and all stop
             * after it together (no collective of its own each iteration) */
            int stop = hooks && hooks->control && hooks->control(hooks->ctx);
            if (t->dist->size > 1) {
                t->stop_local = stop;
                stop = t->stop_all;
            }
            if (stop) {
                /* stop: everything up to here is saved, the run resumes from this point */
                snprintf(p.state, sizeof p.state, "stopped");
                if (writer) {
                    if ((rc = commit_checkpoint(st, t, run_id, &sb, NULL, 0, err))) goto fail;
                    RunProgress rp;
                    to_run_progress(&p, &rp);
                    runs_put_progress(st, run_id, &rp);
                    runs_set_status(st, run_id, "stopped",
                                    "stopped by the user; resume with --resume");
                }
                if (hooks->progress) hooks->progress(hooks->ctx, &p);
                rc = PS_ERR_CANCELLED;
                ps_err(err, rc, "run %lld stopped at iteration %lld", (long long)run_id,
                       (long long)t->iteration);
                goto out;
            }
            TrainLosses l;
#ifdef PS_TEST_HOOKS
            {
                /* tests: PHENOSCOPE_TEST_ITER_MS=N makes every iteration take N ms longer, so
                 * a process can be killed mid-run at a chosen moment on any machine */
                const char *e = getenv("PHENOSCOPE_TEST_ITER_MS");
                if (e && atoi(e) > 0) {
                    struct timespec ts = {atoi(e) / 1000, (long)(atoi(e) % 1000) * 1000000L};
                    nanosleep(&ts, NULL);
                }
            }
#endif
            if ((rc = trainer_iteration(t, &l, err))) goto fail;
            /* the step is done in memory only: a crash loses it and resume repeats it */
            PS_KILLPOINT("train.after_step");
            double lv[3] = {l.cxr, l.ehr, l.joint};
            for (int k = 0; k < 3; k++) {
                win[k][wn % LOSS_WINDOW] = lv[k];
                if (!isnan(lv[k])) {
                    sum[k] += lv[k];
                    cnt[k]++;
                }
            }
            wn++;
            int m = wn < LOSS_WINDOW ? wn : LOSS_WINDOW;
            double *dst[3] = {&p.loss_cxr, &p.loss_ehr, &p.loss_joint};
            for (int k = 0; k < 3; k++) {
                double s = 0;
                int c = 0;
                for (int j = 0; j < m; j++)
                    if (!isnan(win[k][j])) {
                        s += win[k][j];
                        c++;
                    }
                *dst[k] = c ? s / c : NAN;
            }
            if (writer && sb.n == sb.cap) {
                size_t cap = sb.cap ? 2 * sb.cap : 256;
                RunStep *ns = realloc(sb.steps, cap * sizeof *ns);
                if (!ns) {
                    rc = ps_err(err, PS_ERR_NOMEM, "out of memory");
                    goto fail;
                }
                sb.steps = ns;
                sb.cap = cap;
            }
            if (writer) sb.steps[sb.n++] = (RunStep){t->iteration, l.cxr, l.ehr, l.joint};
            double now = now_s();
            sec_per_it = (now - t_start - val_seconds) / (double)(t->iteration - it_start);
            p.iteration = t->iteration;
            p.epoch = t->epoch;
            p.lr = t->lr;
            p.samples_per_s = cfg->batch / sec_per_it;
            double val_per_epoch = t->epoch > 0 && val_seconds > 0 ? val_seconds / (t->epoch) : 0;
            p.eta_s = sec_per_it * (double)(p.iterations - t->iteration) +
                      val_per_epoch * (total_epochs - t->epoch);
            if (writer && flush_due(now - t_flush, t->iteration)) {
                /* short transactions: losses and the progress row every couple of seconds */
                t_flush = now;
                if ((rc = flush_steps(st, run_id, &sb, err))) goto fail;
                RunProgress rp;
                to_run_progress(&p, &rp);
                if ((rc = runs_put_progress(st, run_id, &rp))) {
                    rc = ps_err(err, rc, "%s", store_errmsg(st));
                    goto fail;
                }
                /* losses are in the store ahead of the checkpoint: resume must drop them */
                PS_KILLPOINT("train.steps_flushed");
            }
            if (hooks && hooks->progress) hooks->progress(hooks->ctx, &p);
        }
        PS_KILLPOINT("train.epoch_end");
        /* end of epoch: validate, select, checkpoint */
        snprintf(p.phase, sizeof p.phase, "validate");
        if (hooks && hooks->progress) hooks->progress(hooks->ctx, &p);
        double tv = now_s();
        ej.n = 0;
        if (ej.s) ej.s[0] = 0;
        bputf(&ej, "{\"epoch\":%d,\"phase\":\"%s\",\"iteration\":%lld,\"lr\":%.6g,", t->epoch + 1,
              t->phase ? "train" : "pretrain", (long long)t->iteration, (double)t->lr);
        static const char *const ln[3] = {"train_loss_cxr", "train_loss_ehr", "train_loss_joint"};
        for (int k = 0; k < 3; k++) {
            bputf(&ej, "\"%s\":", ln[k]);
            bnum(&ej, cnt[k] ? sum[k] / cnt[k] : NAN);
            bputf(&ej, ",");
        }
        double score = NAN, group[3] = {NAN, NAN, NAN};
        if ((rc = agree_across_ranks(t, err))) goto fail;
        /* every rank predicts a share of the validation stays and receives all predictions;
         * rank 0's score is broadcast, so selection, decay and early stopping agree exactly */
        if ((rc = validate(t, &ej, &score, group, err))) goto fail;
        if (t->dist->size > 1) {
            double v[4] = {score, group[0], group[1], group[2]};
            if ((rc = dist_bcast(t->dist, v, sizeof v, 0, err))) goto fail;
            score = v[0];
            for (int k = 0; k < 3; k++) group[k] = v[k + 1];
        }
        t->epoch++;
        t->iter_in_epoch = 0;
        int is_best = 0;
        if (t->phase == 1 && isfinite(score) && score > t->best) {
            t->best = score;
            t->best_epoch = t->epoch;
            t->bad_epochs = t->lr_bad = 0;
            is_best = 1;
        } else if (t->phase == 1) {
            t->bad_epochs++;
            t->lr_bad++;
            if (cfg->lr_decay > 0 && cfg->lr_patience > 0 && t->lr_bad >= cfg->lr_patience) {
                t->lr *= cfg->lr_decay;
                t->lr_bad = 0;
            }
            if (cfg->patience > 0 && t->bad_epochs >= cfg->patience) stopped_early = 1;
        }
        bputf(&ej, ",\"best\":%s,\"seconds\":%.3f}", is_best ? "true" : "false",
              now_s() - tv);
        if (ej.oom) {
            rc = ps_err(err, PS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        /* the epoch number in the checkpoint row is the count of completed epochs */
        if (writer && (rc = commit_checkpoint(st, t, run_id, &sb, ej.s, is_best, err))) goto fail;
        val_seconds += now_s() - tv;
        p.epoch = t->epoch;
        p.val_auroc = score;
        for (int k = 0; k < 3; k++) p.val_group[k] = group[k];
        if (t->phase == 1 && t->best > -INFINITY) {
            p.best_val_auroc = t->best;
            p.best_epoch = t->best_epoch;
        }
        RunProgress rp;
        to_run_progress(&p, &rp);
        if (writer && (rc = runs_put_progress(st, run_id, &rp))) {
            rc = ps_err(err, rc, "%s", store_errmsg(st));
            goto fail;
        }
        if (hooks && hooks->progress) hooks->progress(hooks->ctx, &p);
    }
    /* every epoch is checkpointed, the run not yet marked done: resume only marks it */
    PS_KILLPOINT("train.before_done");
    snprintf(p.state, sizeof p.state, "done");
    snprintf(p.phase, sizeof p.phase, "done");
    p.eta_s = 0;
    snprintf(p.message, sizeof p.message, "best epoch %d, validation macro AUROC %.4f%s",
             t->best_epoch, t->best, stopped_early ? " (stopped early)" : "");
    {
        RunProgress rp;
        to_run_progress(&p, &rp);
        if (writer && ((rc = runs_put_progress(st, run_id, &rp)) ||
                       (rc = runs_set_status(st, run_id, "done", p.message)))) {
            rc = ps_err(err, rc, "%s", store_errmsg(st));
            goto fail;
        }
    }
    if (hooks && hooks->progress) hooks->progress(hooks->ctx, &p);
    goto out;
fail:
    snprintf(p.state, sizeof p.state, "failed");
    snprintf(p.message, sizeof p.message, "%.255s", err ? err->msg : "failed");
    if (writer) runs_set_status(st, run_id, "failed", p.message);
    if (hooks && hooks->progress) hooks->progress(hooks->ctx, &p);
    if (t && t->collective_err && dist) {
        /* every rank failed alike: wait until rank 0 has recorded it, then all leave cleanly */
        PsErr e2;
        dist->failed_together = 1;
        (void)dist_barrier(dist, &e2);
    }
out:
    free(sb.steps);
    free(ej.s);
    trainer_free(t);
    return rc;
}

/* ---- opening a recorded run -------------------------------------------------------------- */

PsStatus train_run_config(Store *st, int64_t run_id, TrainConfig *cfg, PsErr *err)
{
    RunInfo info;
    char *json = NULL;
    PsStatus rc = runs_get(st, run_id, &info, &json);
    if (rc) return ps_err(err, rc, "%s", store_errmsg(st));
    int m = train_method_parse(info.method);
    if (m < 0) {
        free(json);
        return ps_err(err, PS_ERR_PARSE, "run %lld has an unknown method '%.31s'",
                      (long long)run_id, info.method);
    }
    train_config_preset(cfg, TRAIN_PRESET_DEMO, (TrainMethod)m);
    rc = train_config_parse(cfg, json, err);
    free(json);
    cfg->seed = (uint64_t)info.seed;
    return rc;
}

PsStatus train_open_run(Store *st, int64_t run_id, const char *kind, const Dataset *d,
                        const TrainConfig *cfg, Trainer **out, int *epoch, PsErr *err)
{
    *out = NULL;
    uint8_t *blob = NULL;
    size_t len = 0;
    int ep = 0;
    const char *k = kind ? kind : "best";
    PsStatus rc = runs_get_checkpoint(st, run_id, k, &ep, &blob, &len);
    if (rc == PS_ERR_NOTFOUND && !kind) {
        k = "last";
        rc = runs_get_checkpoint(st, run_id, k, &ep, &blob, &len);
    }
    if (rc == PS_ERR_NOTFOUND)
        return ps_err(err, rc, "run %lld has no %s checkpoint yet (has it trained an epoch?)",
                      (long long)run_id, kind ? kind : "saved");
    if (rc) return ps_err(err, rc, "%s", store_errmsg(st));
    Trainer *t = NULL;
    if ((rc = trainer_new(&t, d, cfg, err))) {
        free(blob);
        return rc;
    }
    char what[96];
    snprintf(what, sizeof what, "the %s checkpoint of run %lld", k, (long long)run_id);
    rc = trainer_load(t, blob, len, what, err);
    free(blob);
    if (rc) {
        trainer_free(t);
        return rc;
    }
    if (epoch) *epoch = ep;
    *out = t;
    return PS_OK;
}
