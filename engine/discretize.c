/* discretize.c — binning, one-hot encoding, imputation and masks (see discretize.h). It does not
 * standardise (normalizer.c) and does not check valid ranges (the importers did). */
#include "engine/discretize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-6

DiscretizeConfig discretize_defaults(void)
{
    DiscretizeConfig c = {.bin_hours = 2.0, .max_bins = 2048};
    return c;
}

int discretize_bins(double end_hours, double bin_hours)
{
    double b = end_hours / bin_hours + 1.0 - EPS;
    if (!(b >= 1.0)) return 1; /* also NaN */
    if (b > 1e9) return 1000000000;
    return (int)b;
}

/* The category of a categorical event, or -1. */
static int category_of(int ch, const StoreEvent *e)
{
    if (e->text) return catalog_category_index(ch, e->text);
    const CatalogChannel *c = &catalog_channels[ch];
    for (int k = 0; k < c->n_categories; k++)
        if (fabs(c->categories[k].score - (double)e->value) < 1e-6) return k;
    return -1;
}

static void write_value(float *row, int ch, int cat, float value)
{
    int off = catalog_input_offset(ch);
    if (catalog_channels[ch].categorical) {
        int w = catalog_input_width(ch);
        for (int k = 0; k < w; k++) row[off + k] = 0.0f;
        row[off + cat] = 1.0f;
    } else {
        row[off] = value;
    }
}

PsStatus discretize_stay(float *out, DiscretizeStats *st, const StoreEvent *ev, size_t n,
                         double end_hours, const DiscretizeConfig *cfg, PsErr *err)
{
    PS_CHECK(err, out && st && (ev || n == 0) && cfg);
    if (!(cfg->bin_hours > 0) || cfg->max_bins < 1)
        return ps_err(err, PS_ERR_INVALID, "discretize: bin width %g h, max bins %d",
                      cfg->bin_hours, cfg->max_bins);
    memset(st, 0, sizeof *st);
    double end = end_hours;
    if (!(end > 0)) {
        end = 0;
        for (size_t i = 0; i < n; i++)
            if (ev[i].hours > end) end = ev[i].hours;
    }
    int T = discretize_bins(end, cfg->bin_hours);
    if (T > cfg->max_bins) T = cfg->max_bins;
    st->bins = T;
    const int W = DISCRETIZE_COLS, M0 = DISCRETIZE_MASK_COL;
    memset(out, 0, (size_t)T * W * sizeof *out);

    for (size_t i = 0; i < n; i++) {
        const StoreEvent *e = &ev[i];
        double t = e->hours;
        int ch = e->channel;
        if (ch < 0 || ch >= CATALOG_N_CHANNELS || isnan(t)) {
            st->unknown++;
            continue;
        }
        if (t <= -EPS) {
            st->before_start++;
            continue;
        }
        if (t > end + EPS) {
            st->after_end++;
            continue;
        }
        int bin = (int)(t / cfg->bin_hours - EPS); /* truncation toward zero, as Python's int() */
        if (bin >= T) {
            st->truncated++;
            continue;
        }
        int cat = 0;
        if (catalog_channels[ch].categorical) {
            if ((cat = category_of(ch, e)) < 0) {
                st->unknown++;
                continue;
            }
        } else if (isnan(e->value)) {
            st->unknown++;
            continue;
        }
        float *row = out + (size_t)bin * W;
        if (row[M0 + ch] != 0) st->overwritten++;
        else st->used++;
        write_value(row, ch, cat, e->value);
        row[M0 + ch] = 1.0f;
    }

    // previous-value imputation: an unmeasured bin copies the channel's block from the bin
    // before (itself measured or already imputed), or the normal value before any measurement
    for (int ch = 0; ch < CATALOG_N_CHANNELS; ch++) {
        const CatalogChannel *c = &catalog_channels[ch];
        int off = catalog_input_offset(ch), w = catalog_input_width(ch);
        int normal_cat = c->categorical ? catalog_category_index(ch, c->normal) : 0;
        float normal_val = c->categorical ? 0.0f : (float)strtod(c->normal, NULL);
        if (normal_cat < 0) normal_cat = 0; /* catalog tests guarantee the normal is listed */
        int seen = 0;
        for (int t = 0; t < T; t++) {
            float *row = out + (size_t)t * W;
            if (row[M0 + ch] != 0) {
                seen = 1;
                continue;
            }
            if (seen) memcpy(row + off, row - W + off, (size_t)w * sizeof *row);
            else write_value(row, ch, normal_cat, normal_val);
        }
    }
    return PS_OK;
}

void discretize_column_name(int col, char *buf, size_t n)
{
    if (n == 0) return;
    buf[0] = 0;
    if (col >= DISCRETIZE_MASK_COL && col < DISCRETIZE_COLS) {
        snprintf(buf, n, "mask->%s", catalog_channels[col - DISCRETIZE_MASK_COL].name);
        return;
    }
    for (int ch = 0; ch < CATALOG_N_CHANNELS; ch++) {
        int off = catalog_input_offset(ch), w = catalog_input_width(ch);
        if (col < off || col >= off + w) continue;
        const CatalogChannel *c = &catalog_channels[ch];
        if (c->categorical) snprintf(buf, n, "%s->%s", c->name, c->categories[col - off].text);
        else snprintf(buf, n, "%s", c->name);
        return;
    }
}
