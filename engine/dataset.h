/* dataset.h — the training data of one store, in memory: EHR inputs, labels, radiographs, pairs.
 *
 * Loaded once per process (table2 shares one Dataset across all its runs; it is read-only after
 * dataset_load):
 *  - every stay with a split and labels: its events discretized (discretize.h; bins of
 *    cfg.bin_hours, 2 h as the paper) into a T × 76 matrix, T capped at cfg.max_bins (later
 *    bins dropped, counted in DatasetCounts.truncated) so one LSTM workspace fits any batch;
 *    standardised by a normalizer fitted on the training split only;
 *  - every radiograph with an image and a split: decoded (DCT-scaled JPEG decode), resized so the
 *    shorter side is round(S·256/224) and centre-cropped to S × S (the paper's Resize(256) +
 *    CenterCrop(224), scaled to S), kept as uint8 (S² bytes each);
 *  - the 14 CheXpert labels with uncertain / not-mentioned mapped by cfg.uncertain;
 *  - the pairs of the store (stay → its radiograph), within the stay's split.
 *
 * Mini-batches come from DatasetSampler streams: a permutation of one split's items drawn from
 * its own Rng, walked by a cursor and reshuffled on wrap. A sampler's state (DatasetSamplerState)
 * is a few integers, saved in checkpoints so a resumed run draws exactly the same batches.
 *
 * Deliberately not here: augmentation beyond a horizontal flip, and anything about models.
 * Thread safety: a loaded Dataset may be read from any number of threads; samplers and batch
 * buffers belong to one thread.
 */
#ifndef DATASET_H
#define DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "engine/normalizer.h"
#include "store/catalog.h"
#include "store/ps.h"
#include "store/rng.h"
#include "store/store.h"

/* How CheXpert's uncertain (-1) and not-mentioned values become training targets. */
typedef enum {
    DATASET_UNCERTAIN_ZERO = 0, /* both 0 (the paper, MedFuse) */
    DATASET_UNCERTAIN_ONE = 1,  /* uncertain 1, not mentioned 0 (CheXpert's U-Ones) */
    DATASET_UNCERTAIN_MASK = 2, /* both left out of the loss */
} DatasetUncertain;

typedef struct {
    double bin_hours; /* 2.0 */
    int max_bins;     /* cap on T per stay: 512 (42.7 days at 2 h) */
    int img_size;     /* S, side of the cached radiographs */
    int load_images;  /* 0: skip radiographs (EHR-only work, faster) */
    DatasetUncertain uncertain;
    /* Processes on one machine (data-parallel ranks) may share one decoded radiograph cache:
     * when pix_alloc is set, the cache is the memory it returns for `bytes` (the same memory in
     * every process of the group, released by its owner, not by dataset_free), this process
     * decodes only the radiographs at positions i with i % pix_stride == pix_offset, and
     * pix_sync returns once every process of the group has decoded its part. NULL: a private
     * cache, every radiograph decoded here. */
    PsStatus (*pix_alloc)(void *ctx, size_t bytes, uint8_t **out, PsErr *err);
    PsStatus (*pix_sync)(void *ctx, PsErr *err);
    void *pix_ctx;
    int pix_stride, pix_offset;
} DatasetConfig;

void dataset_config_default(DatasetConfig *cfg);

typedef struct {
    int64_t stay_id;
    int split;
    int T;           /* rows of x */
    size_t x_off;    /* offset of its (T, 76) rows in Dataset.x */
    int img;         /* index of its paired radiograph in Dataset.imgs, or -1 */
    int paired;      /* the store pairs it with a radiograph (also when images are not loaded) */
    uint8_t y[CATALOG_N_PHENOTYPES];
} DatasetStay;

typedef struct {
    char dicom_id[96];
    int split;
    float y[CATALOG_N_CHEXPERT];    /* targets */
    float mask[CATALOG_N_CHEXPERT]; /* 1: in the loss */
} DatasetImage;

typedef struct {
    int64_t stays[3], images[3], pairs[3]; /* per Split */
    int64_t truncated;                     /* stays cut at max_bins */
    int64_t skipped_no_labels;             /* stays without phenotype labels or split */
    int64_t skipped_no_image;              /* radiographs without a JPEG or split */
    int64_t pairs_dropped;                 /* pairs whose radiograph is not loaded */
} DatasetCounts;

typedef struct {
    DatasetConfig cfg;
    DatasetStay *stays;
    int n_stays;
    float *x; /* all stays' standardised rows */
    size_t x_len;
    DatasetImage *imgs;
    int n_imgs;
    uint8_t *pix; /* n_imgs × S × S */
    int pix_shared; /* pix came from cfg.pix_alloc */
    Normalizer nz;
    int max_T; /* longest stay after the cap */
    /* indices per split: stays, radiographs, and stays that have a pair */
    int *stay_idx[3], *img_idx[3], *pair_idx[3];
    int n_stay[3], n_img[3], n_pair[3];
    DatasetCounts counts;
} Dataset;

/* Progress while loading: phase "stays" or "radiographs", done of total. May be NULL. */
typedef void (*DatasetProgressFn)(void *ctx, const char *phase, int64_t done, int64_t total);

/* Loads everything from st. On failure d is empty (dataset_free is still safe). */
PsStatus dataset_load(Dataset *d, Store *st, const DatasetConfig *cfg, DatasetProgressFn progress,
                      void *progress_ctx, PsErr *err);
void dataset_free(Dataset *d);

/* Index of a stay by id, or -1. */
int dataset_find_stay(const Dataset *d, int64_t stay_id);
/* Index of a radiograph by dicom_id, or -1. */
int dataset_find_image(const Dataset *d, const char *dicom_id);

/* Preprocesses one radiograph's JPEG into out (S × S uint8) the way dataset_load does. */
PsStatus dataset_prepare_image(uint8_t *out, int S, const unsigned char *jpeg, size_t size,
                               const char *name, PsErr *err);
/* Discretizes and standardises one stay from the store into a malloc'd (T, 76) array *x (caller
 * frees), with cfg's bin width and cap and the normalizer nz. PS_ERR_NOTFOUND: no such stay. */
PsStatus dataset_stay_input(const DatasetConfig *cfg, const Normalizer *nz, Store *st,
                            int64_t stay_id, float **x, int *T, PsErr *err);

/* ---- sampling ---------------------------------------------------------------------------- */

typedef enum { DATASET_STREAM_CXR = 0, DATASET_STREAM_EHR = 1, DATASET_STREAM_PAIR = 2 } DatasetStream;

typedef struct {
    Rng rng;       /* draws the next permutation */
    Rng perm_rng;  /* the state that drew the current permutation */
    int64_t cursor; /* next position in the permutation */
    int64_t wraps;  /* permutations completed */
} DatasetSamplerState;

typedef struct {
    DatasetSamplerState s;
    const int *items; /* the split's indices (not owned) */
    int n;
    int *perm; /* (n) owned */
} DatasetSampler;

/* A sampler over stream's items of split, seeded from (seed, stream). n may be 0 (then every
 * draw fails with PS_ERR_INVALID). */
PsStatus dataset_sampler_init(DatasetSampler *s, const Dataset *d, DatasetStream stream, int split,
                              uint64_t seed, PsErr *err);
void dataset_sampler_done(DatasetSampler *s);
/* Next B item indices (into stays or imgs) into out; wraps and reshuffles as needed. */
PsStatus dataset_sampler_next(DatasetSampler *s, int *out, int B, PsErr *err);
/* Restores a saved state (re-drawing the permutation it was walking). */
void dataset_sampler_restore(DatasetSampler *s, const DatasetSamplerState *st);

/* ---- batches ----------------------------------------------------------------------------- */

/* EHR batch: x (B, T, 76) zero-padded with T = longest of the batch, len (B), y (B, 25).
 * x holds at least B × d->max_T × 76 floats. */
void dataset_ehr_batch(const Dataset *d, const int *stays, int B, float *x, int *len, int *T,
                       float *y);
/* CXR batch of radiographs imgs (B): pix (B, 3, S, S) normalised with ImageNet statistics, the
 * gray value in all three channels; y and mask (B, 14) may be NULL. flip_rng: when non-NULL, each
 * image is mirrored left-right with probability 1/2 (training augmentation). */
void dataset_cxr_batch(const Dataset *d, const int *imgs, int B, float *pix, float *y, float *mask,
                       Rng *flip_rng);
/* The paper's training augmentation (imgprep.h: RandomHorizontalFlip and RandomAffine ±45°,
 * scale 0.85–1.15, translate 0.15, black fill) applied to the cached S × S radiographs, then the
 * same normalisation. scratch holds dataset_cxr_affine_scratch(d) floats. */
size_t dataset_cxr_affine_scratch(const Dataset *d);
PsStatus dataset_cxr_batch_affine(const Dataset *d, const int *imgs, int B, float *pix, float *y,
                                  float *mask, Rng *rng, float *scratch, PsErr *err);
/* The same for uint8 S × S images given directly (prediction with a radiograph from the store). */
void dataset_cxr_from_u8(const uint8_t *img, int S, float *pix);

#endif
