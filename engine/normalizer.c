/* normalizer.c — fit / apply / serialise the input standardisation (see normalizer.h). It does
 * not decide the split: the caller feeds it training stays only. */
#include "engine/normalizer.h"

#include <math.h>
#include <string.h>

int normalizer_standardizes(int col)
{
    for (int ch = 0; ch < CATALOG_N_CHANNELS; ch++)
        if (!catalog_channels[ch].categorical && catalog_input_offset(ch) == col) return 1;
    return 0;
}

void normalizer_acc_init(NormalizerAcc *acc)
{
    memset(acc, 0, sizeof *acc);
}

void normalizer_acc_add(NormalizerAcc *acc, const float *x, int T)
{
    for (int t = 0; t < T; t++) {
        const float *row = x + (size_t)t * NORMALIZER_COLS;
        for (int j = 0; j < NORMALIZER_COLS; j++) {
            acc->sum[j] += row[j];
            acc->sumsq[j] += (double)row[j] * row[j];
        }
    }
    acc->rows += T;
}

PsStatus normalizer_fit(Normalizer *nz, const NormalizerAcc *acc, PsErr *err)
{
    PS_CHECK(err, nz && acc);
    if (acc->rows < 2)
        return ps_err(err, PS_ERR_INVALID, "normalizer: %lld training rows, need at least 2",
                      (long long)acc->rows);
    const double N = (double)acc->rows;
    for (int j = 0; j < NORMALIZER_COLS; j++) {
        double mean = acc->sum[j] / N;
        double var = (acc->sumsq[j] - 2.0 * acc->sum[j] * mean + N * mean * mean) / (N - 1.0);
        double sd = var > 0 ? sqrt(var) : 0;
        nz->mean[j] = (float)mean;
        nz->std[j] = (float)(sd < 1e-7 ? 1e-7 : sd);
        nz->apply[j] = (uint8_t)normalizer_standardizes(j);
    }
    return PS_OK;
}

void normalizer_apply(const Normalizer *nz, float *x, int T)
{
    for (int t = 0; t < T; t++) {
        float *row = x + (size_t)t * NORMALIZER_COLS;
        for (int j = 0; j < NORMALIZER_COLS; j++)
            if (nz->apply[j]) row[j] = (row[j] - nz->mean[j]) / nz->std[j];
    }
}

void normalizer_to_blob(const Normalizer *nz, float blob[NORMALIZER_BLOB_FLOATS])
{
    blob[0] = NORMALIZER_BLOB_VERSION;
    blob[1] = NORMALIZER_COLS;
    for (int j = 0; j < NORMALIZER_COLS; j++) {
        blob[2 + j] = nz->mean[j];
        blob[2 + NORMALIZER_COLS + j] = nz->std[j];
        blob[2 + 2 * NORMALIZER_COLS + j] = nz->apply[j];
    }
}

PsStatus normalizer_from_blob(Normalizer *nz, const float *blob, size_t n, PsErr *err)
{
    PS_CHECK(err, nz && blob);
    if (n != NORMALIZER_BLOB_FLOATS || blob[0] != NORMALIZER_BLOB_VERSION ||
        blob[1] != NORMALIZER_COLS)
        return ps_err(err, PS_ERR_PARSE, "normalizer: blob of %zu floats (version %g, %g "
                      "columns), expected %d floats (version %d, %d columns)", n,
                      n > 0 ? (double)blob[0] : -1.0, n > 1 ? (double)blob[1] : -1.0,
                      NORMALIZER_BLOB_FLOATS, NORMALIZER_BLOB_VERSION, NORMALIZER_COLS);
    for (int j = 0; j < NORMALIZER_COLS; j++) {
        float m = blob[2 + j], s = blob[2 + NORMALIZER_COLS + j], a = blob[2 + 2 * NORMALIZER_COLS + j];
        if ((a != 0 && a != 1) || !isfinite(m) || (a == 1 && !(isfinite(s) && s > 0)))
            return ps_err(err, PS_ERR_PARSE, "normalizer: column %d: mean %g std %g flag %g", j,
                          (double)m, (double)s, (double)a);
        nz->mean[j] = m;
        nz->std[j] = s;
        nz->apply[j] = (uint8_t)a;
    }
    return PS_OK;
}
