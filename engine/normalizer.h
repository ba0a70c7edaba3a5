/* normalizer.h — standardisation of the discretized input, fitted on the training split.
 *
 * The rule (the benchmark's and MedFuse's): only the 12 continuous value columns are
 * standardised, x ← (x - mean) / std; one-hot columns and the 17 mask columns stay 0/1. Means
 * and standard deviations are nevertheless fitted for all 76 columns (as
 * normalizer_ph_ts1.0.json lists them), over every row (time bin) of every training stay, with
 * the benchmark's formula: std = sqrt((Σx² - 2·Σx·mean + N·mean²) / (N - 1)), floored at 1e-7.
 * Stored with a model as a small float array (normalizer_to_blob).
 */
#ifndef NORMALIZER_H
#define NORMALIZER_H

#include <stddef.h>
#include <stdint.h>

#include "store/catalog.h"
#include "store/ps.h"

#define NORMALIZER_COLS CATALOG_N_INPUTS
/* blob: version, column count, means[76], stds[76], applied[76] (0 or 1) */
#define NORMALIZER_BLOB_FLOATS (2 + 3 * NORMALIZER_COLS)
#define NORMALIZER_BLOB_VERSION 1

typedef struct {
    float mean[NORMALIZER_COLS], std[NORMALIZER_COLS];
    uint8_t apply[NORMALIZER_COLS]; /* 1: column is standardised */
} Normalizer;

typedef struct {
    double sum[NORMALIZER_COLS], sumsq[NORMALIZER_COLS];
    int64_t rows;
} NormalizerAcc;

/* 1 when the rule standardises column col (continuous channel values only). */
int normalizer_standardizes(int col);

void normalizer_acc_init(NormalizerAcc *acc);
/* Adds T rows of a discretized stay x (T, 76). */
void normalizer_acc_add(NormalizerAcc *acc, const float *x, int T);
/* Means/stds from the accumulated rows; PS_ERR_INVALID with fewer than 2 rows. */
PsStatus normalizer_fit(Normalizer *nz, const NormalizerAcc *acc, PsErr *err);
/* Standardises x (T, 76) in place. */
void normalizer_apply(const Normalizer *nz, float *x, int T);

void normalizer_to_blob(const Normalizer *nz, float blob[NORMALIZER_BLOB_FLOATS]);
/* PS_ERR_PARSE when blob (n floats) is not a normalizer of this version and width, or holds a
 * non-positive or non-finite std for a standardised column. */
PsStatus normalizer_from_blob(Normalizer *nz, const float *blob, size_t n, PsErr *err);

#endif
