/* test_train.c — Algorithm 1 and its baselines on a tiny synthetic store: which parameters each
 * step may change, that training learns, that a checkpoint resumes bit for bit, the background
 * job's pause / resume / stop and snapshot, and the refusal of bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/dataset.h"
#include "engine/fusion.h"
#include "engine/linear.h"
#include "engine/job.h"
#include "engine/train.h"
#include "store/jpeg.h"
#include "store/runs.h"
#include "store/store.h"

#define N_STAYS 48

typedef struct {
    char dir[256], path[512];
    Dataset d;
} Fx;

/* A learnable toy: phenotype k of stay i is on when bit k of a code is set; the code also sets
 * the heart rate and the radiograph's brightness, so both modalities carry the labels. */
static int label_of(int i, int k) { return ((i * 7 + k * 3) % 5) < 2; }

static void build_store(const char *path, int with_pairs)
{
    Store *st = NULL;
    PsErr err = {{0}};
    assert_int_equal(store_open(&st, path, STORE_OPEN_CREATE, &err), PS_OK);
    assert_int_equal(store_begin(st), PS_OK);
    int hr = catalog_channel_index("Heart Rate");
    int sbp = catalog_channel_index("Systolic blood pressure");
    assert_true(hr >= 0 && sbp >= 0);
    for (int i = 0; i < N_STAYS; i++) {
        StorePatient p = {.subject_id = 100 + i, .gender = 'F', .anchor_age = 60, .anchor_year = 2150};
        assert_int_equal(store_put_patient(st, &p), PS_OK);
        StoreStay s = {0};
        s.stay_id = 1000 + i;
        s.subject_id = 100 + i;
        s.hadm_id = 5000 + i;
        s.intime = 5000000000LL + i * 86400LL;
        s.outtime = s.intime + (10 + i % 7) * 3600LL;
        s.admittime = s.intime;
        s.dischtime = s.outtime;
        s.los_days = (s.outtime - s.intime) / 86400.0;
        s.age = 60;
        s.split = i % 6 == 4 ? SPLIT_VAL : i % 6 == 5 ? SPLIT_TEST : SPLIT_TRAIN;
        assert_int_equal(store_put_stay(st, &s), PS_OK);
        uint8_t y[CATALOG_N_PHENOTYPES];
        for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) y[k] = (uint8_t)label_of(i, k);
        assert_int_equal(store_put_labels(st, s.stay_id, y), PS_OK);
        for (int h = 0; h < 8; h++) {
            StoreEvent e = {.stay_id = s.stay_id, .hours = (float)h + 0.5f, .channel = hr,
                            .value = 60.0f + 40.0f * y[0] + 10.0f * y[1] + (float)(h % 3),
                            .text = NULL};
            assert_int_equal(store_put_event(st, &e), PS_OK);
            e.channel = sbp;
            e.value = 100.0f + 30.0f * y[2] + 5.0f * h;
            assert_int_equal(store_put_event(st, &e), PS_OK);
        }
        if (!with_pairs) continue;
        /* two radiographs per subject; the AP one inside the stay pairs */
        for (int r = 0; r < 2; r++) {
            unsigned char pix[40 * 40];
            for (int q = 0; q < 40 * 40; q++)
                pix[q] = (unsigned char)(40 + 120 * y[3] + ((q / 40) < 20 ? 60 * y[4] : 0) +
                                         (q % 7) * 3 + r * 5);
            unsigned char *jpg = NULL;
            size_t n = 0;
            assert_int_equal(jpeg_encode_gray(&jpg, &n, pix, 40, 40, 90, &err), PS_OK);
            StoreRadiograph rg = {0};
            snprintf(rg.dicom_id, sizeof rg.dicom_id, "d%03d-%d", i, r);
            rg.subject_id = 100 + i;
            rg.study_id = 7000 + i * 2 + r;
            rg.study_time = s.intime + 3600 + r * 60;
            snprintf(rg.view, sizeof rg.view, "%s", r == 0 ? "AP" : "PA");
            for (int k = 0; k < CATALOG_N_CHEXPERT; k++)
                rg.chexpert[k] = k == 0 ? (y[3] ? CHEX_POSITIVE : CHEX_NEGATIVE)
                                 : k == 1 ? CHEX_UNCERTAIN
                                          : CHEX_MISSING;
            rg.split = SPLIT_NONE;
            rg.width = rg.height = 40;
            rg.jpeg = jpg;
            rg.jpeg_size = n;
            assert_int_equal(store_put_radiograph(st, &rg), PS_OK);
            free(jpg);
        }
    }
    assert_int_equal(store_commit(st), PS_OK);
    if (with_pairs) assert_int_equal(store_recompute_pairs(st), PS_OK);
    store_close(st);
}

static void tiny_config(TrainConfig *c, TrainMethod m)
{
    train_config_preset(c, TRAIN_PRESET_QUICK, m);
    c->img_size = 32;
    c->cnn_width = 4;
    c->lstm_hidden = 16;
    c->lstm_layers = 1;
    c->batch = 4;
    c->epochs = 2;
    c->pretrain_epochs = 1;
    c->max_iters = 3;
    c->lr = 3e-3f;
    c->seed = 7;
}

static int setup(void **state)
{
    Fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ps_test_train.XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/store.db", f->dir);
    build_store(f->path, 1);
    Store *st = NULL;
    PsErr err = {{0}};
    if (store_open(&st, f->path, STORE_OPEN_READWRITE, &err)) return -1;
    TrainConfig c;
    tiny_config(&c, TRAIN_UNIFIED);
    DatasetConfig dc;
    train_dataset_config(&c, &dc);
    PsStatus rc = dataset_load(&f->d, st, &dc, NULL, NULL, &err);
    if (rc) fprintf(stderr, "dataset_load: %s\n", err.msg);
    store_close(st);
    *state = f;
    return rc ? -1 : 0;
}

static int teardown(void **state)
{
    Fx *f = *state;
    dataset_free(&f->d);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

static Trainer *new_trainer(Fx *f, TrainConfig *c)
{
    Trainer *t = NULL;
    PsErr err = {{0}};
    PsStatus rc = trainer_new(&t, &f->d, c, &err);
    if (rc) fprintf(stderr, "trainer_new: %s\n", err.msg);
    assert_int_equal(rc, PS_OK);
    return t;
}

/* ---- the dataset -------------------------------------------------------------------------- */

static void dataset_counts_and_labels(void **state)
{
    Fx *f = *state;
    assert_int_equal(f->d.n_stays, N_STAYS);
    assert_int_equal(f->d.n_stay[SPLIT_TRAIN] + f->d.n_stay[SPLIT_VAL] + f->d.n_stay[SPLIT_TEST],
                     N_STAYS);
    assert_int_equal(f->d.n_imgs, 2 * N_STAYS);
    /* every stay has its AP radiograph inside the stay */
    for (int s = 0; s < 3; s++) assert_int_equal(f->d.n_pair[s], f->d.n_stay[s]);
    int k = dataset_find_stay(&f->d, 1000 + 9);
    assert_true(k >= 0);
    assert_int_equal(f->d.stays[k].y[3], label_of(9, 3));
    assert_string_equal(f->d.imgs[f->d.stays[k].img].dicom_id, "d009-0");
    /* default: uncertain and missing become 0 and stay in the loss */
    const DatasetImage *im = &f->d.imgs[f->d.stays[k].img];
    assert_true(im->y[1] == 0.0f && im->mask[1] == 1.0f && im->mask[5] == 1.0f);
    /* 10..16 hour stays at 2 h bins */
    assert_true(f->d.stays[k].T >= 5 && f->d.stays[k].T <= 8);
}

static void sampler_is_deterministic_and_restorable(void **state)
{
    Fx *f = *state;
    PsErr err = {{0}};
    DatasetSampler a, b;
    assert_int_equal(dataset_sampler_init(&a, &f->d, DATASET_STREAM_EHR, SPLIT_TRAIN, 3, &err), PS_OK);
    int x[50], y[50];
    assert_int_equal(dataset_sampler_next(&a, x, 17, &err), PS_OK);
    DatasetSamplerState saved = a.s;
    assert_int_equal(dataset_sampler_next(&a, x, 50, &err), PS_OK); /* wraps */
    assert_int_equal(dataset_sampler_init(&b, &f->d, DATASET_STREAM_EHR, SPLIT_TRAIN, 3, &err), PS_OK);
    dataset_sampler_restore(&b, &saved);
    assert_int_equal(dataset_sampler_next(&b, y, 50, &err), PS_OK);
    assert_memory_equal(x, y, sizeof x);
    assert_true(a.s.wraps >= 1);
    dataset_sampler_done(&a);
    dataset_sampler_done(&b);
}

/* ---- Algorithm 1 ---------------------------------------------------------------------------- */

/* One step of method on a fresh trainer: the encoders' steps 1-2, step 3 (the unified
 * classifier) or a whole iteration. Asserts which parameter groups it changed (1) and which it
 * left bit for bit (0); returns its losses. */
enum { STEP_ENCODERS, STEP_UNIFIED, STEP_ITERATION };
static TrainLosses step_changes(Fx *f, TrainMethod method, int step, int cnn, int ehr, int fusion)
{
    TrainConfig c;
    tiny_config(&c, method);
    Trainer *t = new_trainer(f, &c);
    PsErr err = {{0}};
    uint64_t before[3];
    for (int g = 0; g < 3; g++) before[g] = params_checksum(trainer_params(t, g));
    TrainLosses l;
    PsStatus rc = step == STEP_ENCODERS ? trainer_step_encoders(t, &l, &err)
                  : step == STEP_UNIFIED  ? trainer_step_unified(t, &l, &err)
                                          : trainer_iteration(t, &l, &err);
    if (rc) fprintf(stderr, "step: %s\n", err.msg);
    assert_int_equal(rc, PS_OK);
    const int want[3] = {cnn, ehr, fusion};
    for (int g = 0; g < 3; g++) {
        int changed = params_checksum(trainer_params(t, g)) != before[g];
        if (changed != want[g])
            fprintf(stderr, "parameter group %d (0 CNN, 1 EHR, 2 fusion): changed %d, expected %d\n",
                    g, changed, want[g]);
        assert_int_equal(changed, want[g]);
    }
    trainer_free(t);
    return l;
}

static void step3_changes_only_the_unified_classifier(void **state)
{
    TrainLosses l = step_changes(*state, TRAIN_UNIFIED, STEP_UNIFIED, 0, 0, 1);
    assert_true(isfinite(l.joint));
}

/* The step-3 classifier's own regularisation (feature dropout, L2 decay) keeps step 3 away from
 * the encoders and really changes what the classifier learns. */
static void step3_regularisation_touches_only_the_classifier(void **state)
{
    Fx *f = *state;
    PsErr err = {{0}};
    TrainConfig c;
    tiny_config(&c, TRAIN_UNIFIED);
    Trainer *plain = new_trainer(f, &c);
    c.head_dropout = 0.5f;
    c.head_weight_decay = 0.1f;
    Trainer *t = new_trainer(f, &c);
    uint64_t cnn0 = params_checksum(trainer_params(t, 0));
    uint64_t ehr0 = params_checksum(trainer_params(t, 1));
    assert_true(params_checksum(trainer_params(plain, 2)) == params_checksum(trainer_params(t, 2)));
    TrainLosses l, lp;
    assert_int_equal(trainer_step_unified(t, &l, &err), PS_OK);
    assert_int_equal(trainer_step_unified(plain, &lp, &err), PS_OK);
    assert_true(isfinite(l.joint) && isfinite(lp.joint));
    assert_true(params_checksum(trainer_params(t, 0)) == cnn0);
    assert_true(params_checksum(trainer_params(t, 1)) == ehr0);
    /* same batch, same start: only the regularisation can make the classifiers differ */
    assert_true(l.joint != lp.joint);
    assert_true(params_checksum(trainer_params(t, 2)) != params_checksum(trainer_params(plain, 2)));
    trainer_free(t);
    trainer_free(plain);
}

/* Inverted dropout: kept features scaled by 1/(1-p), the rest 0, about p of them dropped, the
 * logits recomputed from the masked features, and the feature gradients masked alike. */
static void fusion_dropout_masks_and_scales(void **state)
{
    (void)state;
    enum { B = 64, DC = 6, DE = 10, K = 3 };
    FusionHead h;
    ParamSet ps;
    PsErr err = {{0}};
    params_init(&ps);
    assert_int_equal(fusion_add_params(&h, &ps, "fc.", DC, DE, K, &err), PS_OK);
    assert_int_equal(params_alloc(&ps, 1, &err), PS_OK);
    Rng r;
    rng_seed(&r, 3);
    fusion_init(&h, &ps, &r);
    static float cxr[B * DC], ehr[B * DE], cat[B * (DC + DE)], cat0[B * (DC + DE)];
    static float mask[B * (DC + DE)], lg[B * K], lg2[B * K], dc[B * DC], de[B * DE];
    for (int i = 0; i < B * DC; i++) cxr[i] = (float)rng_normal(&r);
    for (int i = 0; i < B * DE; i++) ehr[i] = (float)rng_normal(&r);
    fusion_forward(&h, ps.w, cat, lg, cxr, ehr, B);
    memcpy(cat0, cat, sizeof cat);
    fusion_dropout(&h, ps.w, cat, mask, lg, B, 0.0f, &r);
    assert_memory_equal(cat, cat0, sizeof cat);
    fusion_dropout(&h, ps.w, cat, mask, lg, B, 0.25f, &r);
    int dropped = 0;
    for (int i = 0; i < B * (DC + DE); i++) {
        if (mask[i] == 0.0f) {
            dropped++;
            assert_true(cat[i] == 0.0f);
        } else {
            assert_float_equal(mask[i], 1.0f / 0.75f, 1e-6);
            assert_float_equal(cat[i], cat0[i] / 0.75f, 1e-5);
        }
    }
    double frac = (double)dropped / (B * (DC + DE));
    assert_true(frac > 0.18 && frac < 0.32);
    linear_forward(lg2, cat, ps.w + h.fc.w, ps.w + h.fc.b, B, DC + DE, K);
    assert_memory_equal(lg, lg2, sizeof lg);
    for (int i = 0; i < B * DC; i++) dc[i] = 1.0f;
    for (int i = 0; i < B * DE; i++) de[i] = 1.0f;
    fusion_dropout_backward(&h, mask, dc, de, B);
    for (int b = 0; b < B; b++) {
        for (int j = 0; j < DC; j++) assert_true(dc[b * DC + j] == mask[b * (DC + DE) + j]);
        for (int j = 0; j < DE; j++) assert_true(de[b * DE + j] == mask[b * (DC + DE) + DC + j]);
    }
    params_free(&ps);
}

/* The paper's affine augmentation on the training radiographs: deterministic for a seed, really
 * warps the image, keeps the labels, and a trainer configured with it trains. */
static void affine_augmentation_warps_and_trains(void **state)
{
    Fx *f = *state;
    PsErr err = {{0}};
    const int S = f->d.cfg.img_size, B = 4;
    int imgs[4] = {0, 1, 2, 3};
    size_t n = (size_t)B * 3 * S * S;
    float *plain = malloc(n * sizeof *plain), *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    float *scratch = malloc(dataset_cxr_affine_scratch(&f->d) * sizeof *scratch);
    float y[4 * CATALOG_N_CHEXPERT], ya[4 * CATALOG_N_CHEXPERT];
    assert_non_null(plain);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(scratch);
    dataset_cxr_batch(&f->d, imgs, B, plain, y, NULL, NULL);
    Rng r1, r2;
    rng_seed(&r1, 11);
    rng_seed(&r2, 11);
    assert_int_equal(dataset_cxr_batch_affine(&f->d, imgs, B, a, ya, NULL, &r1, scratch, &err), PS_OK);
    assert_int_equal(dataset_cxr_batch_affine(&f->d, imgs, B, b, NULL, NULL, &r2, scratch, &err), PS_OK);
    assert_memory_equal(a, b, n * sizeof *a);
    assert_memory_equal(y, ya, sizeof y);
    double diff = 0;
    for (size_t i = 0; i < n; i++) diff += fabs(a[i] - plain[i]);
    assert_true(diff / n > 0.01);
    TrainConfig c;
    tiny_config(&c, TRAIN_UNIFIED);
    c.augment = 2;
    Trainer *t = new_trainer(f, &c);
    TrainLosses l;
    assert_int_equal(trainer_iteration(t, &l, &err), PS_OK);
    assert_true(isfinite(l.cxr) && isfinite(l.ehr) && isfinite(l.joint));
    trainer_free(t);
    free(plain);
    free(a);
    free(b);
    free(scratch);
}

static void steps12_change_encoders_not_the_classifier(void **state)
{
    TrainLosses l = step_changes(*state, TRAIN_UNIFIED, STEP_ENCODERS, 1, 1, 0);
    assert_true(isfinite(l.cxr) && isfinite(l.ehr) && isnan(l.joint));
}

static void joint_step_trains_everything_end_to_end(void **state)
{
    TrainLosses l = step_changes(*state, TRAIN_JOINT1, STEP_ITERATION, 1, 1, 1);
    assert_true(isnan(l.cxr) && isnan(l.ehr) && isfinite(l.joint));
}

static void loss_decreases_on_a_learnable_toy(void **state)
{
    Fx *f = *state;
    for (int m = 0; m < 2; m++) {
        TrainConfig c;
        tiny_config(&c, m == 0 ? TRAIN_EHR : TRAIN_UNIFIED);
        c.lr = 1e-2f;
        Trainer *t = new_trainer(f, &c);
        PsErr err = {{0}};
        double first = 0, last = 0, firstj = 0, lastj = 0;
        const int n = 80;
        for (int i = 0; i < n; i++) {
            TrainLosses l;
            assert_int_equal(trainer_iteration(t, &l, &err), PS_OK);
            if (i < 10) first += l.ehr, firstj += m ? l.joint : 0;
            if (i >= n - 10) last += l.ehr, lastj += m ? l.joint : 0;
        }
        assert_true(last < 0.8 * first);
        if (m) assert_true(lastj < 0.9 * firstj);
        /* and the learned EHR head ranks the toy's labels on the held-out stays */
        TrainPredictions pr;
        assert_int_equal(trainer_predict_split(t, SPLIT_TEST, &pr, &err), PS_OK);
        MetricsReport rep;
        assert_int_equal(train_metrics(&rep, pr.p_ehr, pr.y, pr.n, &err), PS_OK);
        assert_true(rep.macro_auroc > 0.7);
        train_predictions_free(&pr);
        trainer_free(t);
    }
}

/* ---- checkpoints -------------------------------------------------------------------------- */

static void checkpoint_resume_is_bit_identical(void **state)
{
    Fx *f = *state;
    for (int m = 0; m < TRAIN_N_METHODS; m++) {
        TrainConfig c;
        tiny_config(&c, (TrainMethod)m);
        c.augment = 1;
        c.lstm_layers = 2;
        c.lstm_dropout = 0.3f;
        PsErr err = {{0}};
        Trainer *a = new_trainer(f, &c);
        TrainLosses l;
        for (int i = 0; i < 3; i++) assert_int_equal(trainer_iteration(a, &l, &err), PS_OK);
        uint8_t *mid = NULL, *end_a = NULL, *end_b = NULL;
        size_t n_mid, n_a, n_b;
        assert_int_equal(trainer_save(a, &mid, &n_mid, &err), PS_OK);
        for (int i = 0; i < 4; i++) assert_int_equal(trainer_iteration(a, &l, &err), PS_OK);
        assert_int_equal(trainer_save(a, &end_a, &n_a, &err), PS_OK);
        Trainer *b = new_trainer(f, &c);
        assert_int_equal(trainer_load(b, mid, n_mid, "test", &err), PS_OK);
        for (int i = 0; i < 4; i++) assert_int_equal(trainer_iteration(b, &l, &err), PS_OK);
        assert_int_equal(trainer_save(b, &end_b, &n_b, &err), PS_OK);
        assert_int_equal(n_a, n_b);
        assert_memory_equal(end_a, end_b, n_a);
        free(mid);
        free(end_a);
        free(end_b);
        trainer_free(a);
        trainer_free(b);
    }
}

/* The normalizer fitted on the training split travels in the checkpoint: an inference-only
 * trainer (no dataset) that loads it standardises a stay from the store exactly as training did. */
static void prediction_input_uses_the_checkpoints_normalizer(void **state)
{
    Fx *f = *state;
    PsErr err = {{0}};
    TrainConfig c;
    tiny_config(&c, TRAIN_UNIFIED);
    Trainer *t = new_trainer(f, &c);
    uint8_t *blob = NULL;
    size_t len = 0;
    assert_int_equal(trainer_save(t, &blob, &len, &err), PS_OK);
    Trainer *inf = NULL;
    assert_int_equal(trainer_new(&inf, NULL, &c, &err), PS_OK);
    Store *st = NULL;
    assert_int_equal(store_open(&st, f->path, STORE_OPEN_READONLY, &err), PS_OK);
    int k = dataset_find_stay(&f->d, 1000 + 9);
    assert_true(k >= 0);
    const float *ref = f->d.x + f->d.stays[k].x_off;
    const size_t n = (size_t)f->d.stays[k].T * CATALOG_N_INPUTS;
    float *x = NULL;
    int T = 0;
    /* before loading, the trainer has no normalizer of this data */
    assert_int_equal(trainer_stay_input(inf, st, 1000 + 9, &x, &T, &err), PS_OK);
    assert_int_equal(T, f->d.stays[k].T);
    int same = 1;
    for (size_t i = 0; i < n; i++) same &= fabsf(x[i] - ref[i]) <= 1e-5f;
    assert_false(same);
    free(x);
    assert_int_equal(trainer_load(inf, blob, len, "test", &err), PS_OK);
    assert_int_equal(trainer_stay_input(inf, st, 1000 + 9, &x, &T, &err), PS_OK);
    assert_int_equal(T, f->d.stays[k].T);
    for (size_t i = 0; i < n; i++) assert_float_equal(x[i], ref[i], 1e-5);
    free(x);
    store_close(st);
    free(blob);
    trainer_free(inf);
    trainer_free(t);
}

static void bad_checkpoints_are_refused_and_change_nothing(void **state)
{
    Fx *f = *state;
    TrainConfig c;
    tiny_config(&c, TRAIN_UNIFIED);
    PsErr err = {{0}};
    Trainer *a = new_trainer(f, &c);
    uint8_t *blob = NULL;
    size_t n = 0;
    assert_int_equal(trainer_save(a, &blob, &n, &err), PS_OK);
    /* another LSTM width: names match, shapes do not */
    TrainConfig c2 = c;
    c2.lstm_hidden = 24;
    Trainer *b = new_trainer(f, &c2);
    uint64_t before = params_checksum(trainer_params(b, 1));
    assert_int_not_equal(trainer_load(b, blob, n, "checkpoint of run 3", &err), PS_OK);
    assert_non_null(strstr(err.msg, "checkpoint of run 3"));
    assert_true(params_checksum(trainer_params(b, 1)) == before);
    trainer_free(b);
    /* another method */
    TrainConfig c3 = c;
    c3.method = TRAIN_LATE;
    b = new_trainer(f, &c3);
    assert_int_not_equal(trainer_load(b, blob, n, "ckpt", &err), PS_OK);
    assert_non_null(strstr(err.msg, "unified"));
    trainer_free(b);
    /* damaged bytes: truncated, and a flipped header byte */
    before = params_checksum(trainer_params(a, 0));
    assert_int_not_equal(trainer_load(a, blob, n / 2, "ckpt", &err), PS_OK);
    assert_non_null(strstr(err.msg, "ckpt"));
    blob[12] ^= 0x55;
    assert_int_not_equal(trainer_load(a, blob, n, "ckpt", &err), PS_OK);
    assert_true(params_checksum(trainer_params(a, 0)) == before);
    free(blob);
    trainer_free(a);
}

static void store_without_pairs_allows_only_ehr(void **state)
{
    Fx *f = *state;
    char path[600];
    snprintf(path, sizeof path, "%s/nopairs.db", f->dir);
    build_store(path, 0);
    Store *st = NULL;
    PsErr err = {{0}};
    assert_int_equal(store_open(&st, path, STORE_OPEN_READWRITE, &err), PS_OK);
    TrainConfig c;
    tiny_config(&c, TRAIN_UNIFIED);
    DatasetConfig dc;
    train_dataset_config(&c, &dc);
    Dataset d;
    assert_int_equal(dataset_load(&d, st, &dc, NULL, NULL, &err), PS_OK);
    Trainer *t = NULL;
    assert_int_equal(trainer_new(&t, &d, &c, &err), PS_ERR_INVALID);
    assert_null(t);
    assert_non_null(strstr(err.msg, "--method ehr"));
    c.method = TRAIN_EHR;
    assert_int_equal(trainer_new(&t, &d, &c, &err), PS_OK);
    trainer_free(t);
    dataset_free(&d);
    store_close(st);
}

/* ---- whole runs in the store ------------------------------------------------------------- */

typedef struct {
    int iterations, stop_after;
} StopCtx;

static int stop_control(void *ctx)
{
    StopCtx *s = ctx;
    return s->iterations++ >= s->stop_after;
}

static int64_t new_run(Store *st, const TrainConfig *c)
{
    char *json = train_config_json(c, NULL);
    int64_t id = 0;
    assert_int_equal(runs_create(st, train_method_name(c->method), json, (int64_t)c->seed, "test",
                                 "queued", &id),
                     PS_OK);
    free(json);
    return id;
}

typedef struct {
    int steps, epochs, per_phenotype;
    int64_t last_step;
} CountCtx;

static int count_step(void *ctx, const RunStep *s)
{
    CountCtx *k = ctx;
    assert_true(s->step > k->last_step); /* no step recorded twice */
    k->last_step = s->step;
    k->steps++;
    return 0;
}

static int count_epoch(void *ctx, int epoch, const char *json)
{
    CountCtx *k = ctx;
    k->epochs++;
    assert_int_equal(epoch, k->epochs); /* 1-based: the count of completed epochs */
    if (strstr(json, "\"per_phenotype\":[")) k->per_phenotype = 1;
    return 0;
}

static void killed_run_resumes_to_the_same_result(void **state)
{
    Fx *f = *state;
    Store *st = NULL;
    PsErr err = {{0}};
    assert_int_equal(store_open(&st, f->path, STORE_OPEN_READWRITE, &err), PS_OK);
    TrainConfig c;
    tiny_config(&c, TRAIN_JOINT2);
    c.epochs = 2;
    /* uninterrupted */
    int64_t r1 = new_run(st, &c);
    PsStatus rc = train_run(st, r1, &f->d, &c, 0, NULL, &err);
    if (rc) fprintf(stderr, "train_run: %s\n", err.msg);
    assert_int_equal(rc, PS_OK);
    /* interrupted in the middle of epoch 2, then resumed */
    int64_t r2 = new_run(st, &c);
    StopCtx sc = {0, 4};
    TrainHooks h = {.ctx = &sc, .control = stop_control};
    assert_int_equal(train_run(st, r2, &f->d, &c, 0, &h, &err), PS_ERR_CANCELLED);
    RunInfo info;
    assert_int_equal(runs_get(st, r2, &info, NULL), PS_OK);
    assert_string_equal(info.status, "stopped");
    assert_int_equal(train_run(st, r2, &f->d, &c, 1, NULL, &err), PS_OK);
    assert_int_equal(runs_get(st, r2, &info, NULL), PS_OK);
    assert_string_equal(info.status, "done");
    uint8_t *b1, *b2;
    size_t n1, n2;
    int e1, e2;
    assert_int_equal(runs_get_checkpoint(st, r1, "last", &e1, &b1, &n1), PS_OK);
    assert_int_equal(runs_get_checkpoint(st, r2, "last", &e2, &b2, &n2), PS_OK);
    assert_int_equal(e1, 3); /* 1 pretraining + 2 epochs */
    assert_int_equal(e1, e2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    free(b1);
    free(b2);
    /* the record: one row per step and per epoch, with per-phenotype AUROC */
    CountCtx k1 = {0}, k2 = {0};
    assert_int_equal(runs_each_step(st, r1, count_step, &k1), PS_OK);
    assert_int_equal(runs_each_step(st, r2, count_step, &k2), PS_OK);
    assert_int_equal(runs_each_epoch(st, r1, count_epoch, &k1), PS_OK);
    assert_int_equal(runs_each_epoch(st, r2, count_epoch, &k2), PS_OK);
    assert_int_equal(k1.steps, 9); /* 3 epochs x max_iters 3 */
    assert_int_equal(k2.steps, 9);
    assert_int_equal(k1.epochs, 3);
    assert_int_equal(k2.epochs, 3);
    assert_true(k1.per_phenotype);
    assert_int_equal(runs_get_progress(st, r2, &(RunProgress){0}), PS_OK);
    store_close(st);
}

/* ---- the background job ------------------------------------------------------------------ */

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (bounded) until cond(snapshot) holds; returns the last snapshot. */
static JobSnapshot wait_for(Job *j, int (*cond)(const JobSnapshot *), int timeout_ms)
{
    JobSnapshot s;
    for (int waited = 0;; waited += 5) {
        job_snapshot(j, &s);
        if (cond(&s) || waited > timeout_ms) return s;
        sleep_ms(5);
    }
}

static int is_running(const JobSnapshot *s) { return s->state == JOB_RUNNING && s->progress.iteration > 0; }
static int is_paused(const JobSnapshot *s) { return s->state == JOB_PAUSED; }
static int is_idle(const JobSnapshot *s) { return s->current < 0 && s->queued == 0; }

static void job_pause_resume_stop_and_queue(void **state)
{
    Fx *f = *state;
    Job *j = NULL;
    PsErr err = {{0}};
    assert_int_equal(job_new(&j, &err), PS_OK);
    JobRequest r;
    memset(&r, 0, sizeof r);
    snprintf(r.store_path, sizeof r.store_path, "%s", f->path);
    tiny_config(&r.cfg, TRAIN_UNIFIED);
    r.cfg.epochs = 1000; /* long enough to be paused and stopped */
    r.cfg.max_iters = 0;
    int id0, id1, id2;
    assert_int_equal(job_submit(j, &r, &id0, &err), PS_OK);
    JobRequest q = r;
    q.cfg.method = TRAIN_EHR;
    q.cfg.epochs = 1;
    assert_int_equal(job_submit(j, &q, &id1, &err), PS_OK); /* queued behind the first */
    assert_int_equal(job_submit(j, &q, &id2, &err), PS_OK);
    JobSnapshot s = wait_for(j, is_running, 60000);
    assert_int_equal(s.state, JOB_RUNNING);
    assert_int_equal(s.current, id0);
    assert_int_equal(s.queued, 2);
    assert_string_equal(s.progress.method, "unified");
    job_pause(j);
    s = wait_for(j, is_paused, 60000);
    assert_int_equal(s.state, JOB_PAUSED);
    int64_t it = s.progress.iteration;
    sleep_ms(150);
    job_snapshot(j, &s); /* readable while paused; nothing moved */
    assert_int_equal(s.progress.iteration, it);
    job_resume(j);
    for (int w = 0; w < 2000; w++) {
        job_snapshot(j, &s);
        if (s.progress.iteration > it) break;
        sleep_ms(5);
    }
    assert_true(s.progress.iteration > it);
    job_cancel_queued(j); /* drop the third... */
    JobResult res;
    assert_int_equal(job_result(j, id2, &res), PS_OK);
    assert_int_equal(res.state, JOB_CANCELLED);
    job_stop(j); /* ...and the second, then stop the first */
    s = wait_for(j, is_idle, 120000);
    assert_int_equal(job_result(j, id0, &res), PS_OK);
    assert_int_equal(res.state, JOB_STOPPED);
    int64_t run0 = res.run_id;
    assert_true(run0 > 0);
    assert_int_equal(job_result(j, id1, &res), PS_OK);
    assert_int_equal(res.state, JOB_CANCELLED); /* cancelled with the queue, before it started */
    /* the stopped run resumes from its checkpoint through the same API */
    JobRequest rr = r;
    rr.run_id = run0;
    rr.cfg.epochs = 1000;
    int id3;
    assert_int_equal(job_submit(j, &rr, &id3, &err), PS_OK);
    s = wait_for(j, is_running, 60000);
    job_stop(j);
    wait_for(j, is_idle, 120000);
    assert_int_equal(job_result(j, id3, &res), PS_OK);
    assert_int_equal(res.state, JOB_STOPPED);
    assert_int_equal(res.run_id, run0);
    assert_int_equal(job_result(j, 99, &res), PS_ERR_NOTFOUND);
    job_free(j);
    /* the store tells a reader in another connection what happened */
    Store *st = NULL;
    assert_int_equal(store_open(&st, f->path, STORE_OPEN_READONLY, &err), PS_OK);
    RunInfo info;
    assert_int_equal(runs_get(st, run0, &info, NULL), PS_OK);
    assert_string_equal(info.status, "stopped");
    assert_int_equal(runs_get(st, 987654, &info, NULL), PS_ERR_NOTFOUND);
    assert_non_null(strstr(store_errmsg(st), "no run 987654"));
    store_close(st);
}

static void job_reports_a_failed_run(void **state)
{
    Fx *f = *state;
    Job *j = NULL;
    PsErr err = {{0}};
    assert_int_equal(job_new(&j, &err), PS_OK);
    JobRequest r;
    memset(&r, 0, sizeof r);
    snprintf(r.store_path, sizeof r.store_path, "%s/missing.db", f->dir);
    tiny_config(&r.cfg, TRAIN_EHR);
    int id;
    assert_int_equal(job_submit(j, &r, &id, &err), PS_OK);
    job_wait_idle(j);
    JobResult res;
    assert_int_equal(job_result(j, id, &res), PS_OK);
    assert_int_equal(res.state, JOB_FAILED);
    assert_non_null(strstr(res.message, "missing.db"));
    /* resuming a run that does not exist */
    snprintf(r.store_path, sizeof r.store_path, "%s", f->path);
    r.run_id = 424242;
    assert_int_equal(job_submit(j, &r, &id, &err), PS_OK);
    job_wait_idle(j);
    assert_int_equal(job_result(j, id, &res), PS_OK);
    assert_int_equal(res.state, JOB_FAILED);
    assert_non_null(strstr(res.message, "no run 424242"));
    job_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dataset_counts_and_labels),
        cmocka_unit_test(sampler_is_deterministic_and_restorable),
        cmocka_unit_test(step3_changes_only_the_unified_classifier),
        cmocka_unit_test(step3_regularisation_touches_only_the_classifier),
        cmocka_unit_test(fusion_dropout_masks_and_scales),
        cmocka_unit_test(affine_augmentation_warps_and_trains),
        cmocka_unit_test(steps12_change_encoders_not_the_classifier),
        cmocka_unit_test(joint_step_trains_everything_end_to_end),
        cmocka_unit_test(loss_decreases_on_a_learnable_toy),
        cmocka_unit_test(checkpoint_resume_is_bit_identical),
        cmocka_unit_test(prediction_input_uses_the_checkpoints_normalizer),
        cmocka_unit_test(bad_checkpoints_are_refused_and_change_nothing),
        cmocka_unit_test(store_without_pairs_allows_only_ehr),
        cmocka_unit_test(killed_run_resumes_to_the_same_result),
        cmocka_unit_test(job_pause_resume_stop_and_queue),
        cmocka_unit_test(job_reports_a_failed_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
