/* dataset.c — loads a store's stays, labels, radiographs and pairs into memory for training, and
 * draws deterministic mini-batches (see dataset.h).
 *
 * The paper's affine augmentation is applied to the cached (already resized and cropped) pixels,
 * not to the original radiograph: the warp then costs an S × S resampling per image.
 * Deliberately not here: per-epoch re-reading of the store: everything is decoded once.
 */
#include "engine/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/discretize.h"
#include "engine/imgprep.h"
#include "store/jpeg.h"

void dataset_config_default(DatasetConfig *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->bin_hours = 2.0;
    cfg->max_bins = 512;
    cfg->img_size = 64;
    cfg->load_images = 1;
    cfg->uncertain = DATASET_UNCERTAIN_ZERO;
}

/* ---- loading the stays ------------------------------------------------------------------ */

typedef struct {
    StoreEvent *ev;
    size_t n, cap;
    char *text; /* copies of the events' texts, NUL-separated */
    size_t tlen, tcap;
    size_t *toff; /* (cap) offset of each event's text, or SIZE_MAX */
    int oom;
} EventBuf;

static int collect_event(void *ctx, const StoreEvent *e)
{
    EventBuf *b = ctx;
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 1024;
        StoreEvent *ev = realloc(b->ev, cap * sizeof *ev);
        if (!ev) goto oom;
        b->ev = ev;
        size_t *toff = realloc(b->toff, cap * sizeof *toff);
        if (!toff) goto oom;
        b->toff = toff;
        b->cap = cap;
    }
    b->ev[b->n] = *e;
    b->ev[b->n].text = NULL;
    b->toff[b->n] = SIZE_MAX;
    if (e->text) {
        size_t len = strlen(e->text) + 1;
        if (b->tlen + len > b->tcap) {
            size_t cap = b->tcap ? 2 * b->tcap : 4096;
            while (cap < b->tlen + len) cap *= 2;
            char *t = realloc(b->text, cap);
            if (!t) goto oom;
            b->text = t;
            b->tcap = cap;
        }
        memcpy(b->text + b->tlen, e->text, len);
        b->toff[b->n] = b->tlen;
        b->tlen += len;
    }
    b->n++;
    return 0;
oom:
    b->oom = 1;
    return 1;
}

/* Reads and discretizes one stay's events into out (max_bins, 76); *T receives the rows. */
static PsStatus discretize_one(Store *st, int64_t stay_id, double end_hours,
                               const DiscretizeConfig *dc, EventBuf *b, float *out, int *T,
                               int *truncated, PsErr *err)
{
    b->n = 0;
    b->tlen = 0;
    PsStatus rc = store_each_event(st, stay_id, collect_event, b);
    if (b->oom) return ps_err(err, PS_ERR_NOMEM, "stay %lld: out of memory reading events",
                              (long long)stay_id);
    if (rc) return ps_err(err, rc, "stay %lld: %s", (long long)stay_id, store_errmsg(st));
    for (size_t i = 0; i < b->n; i++)
        if (b->toff[i] != SIZE_MAX) b->ev[i].text = b->text + b->toff[i];
    DiscretizeStats ds;
    rc = discretize_stay(out, &ds, b->ev, b->n, end_hours, dc, err);
    if (rc) return rc;
    *T = ds.bins;
    *truncated = ds.truncated > 0 || discretize_bins(end_hours, dc->bin_hours) > dc->max_bins;
    return PS_OK;
}

typedef struct {
    Dataset *d;
    double *hours; /* (cap) each collected stay's length in hours */
    int cap;
    int oom;
} StayCollect;

static int collect_stay(void *ctx, const StoreStay *s)
{
    StayCollect *c = ctx;
    Dataset *d = c->d;
    if (s->split < 0 || s->split > 2) {
        d->counts.skipped_no_labels++;
        return 0;
    }
    if (d->n_stays == c->cap) {
        int cap = c->cap ? 2 * c->cap : 1024;
        DatasetStay *n = realloc(d->stays, (size_t)cap * sizeof *n);
        if (n) d->stays = n;
        double *h = n ? realloc(c->hours, (size_t)cap * sizeof *h) : NULL;
        if (!h) {
            c->oom = 1;
            return 1;
        }
        c->hours = h;
        c->cap = cap;
    }
    c->hours[d->n_stays] = (double)(s->outtime - s->intime) / 3600.0;
    DatasetStay *ds = &d->stays[d->n_stays++];
    memset(ds, 0, sizeof *ds);
    ds->stay_id = s->stay_id;
    ds->split = s->split;
    ds->img = -1;
    return 0;
}

/* ---- loading the radiographs ------------------------------------------------------------ */

/* Box-filtered resize of src (sw × sh) so that the shorter side is R, then the centre S × S
 * crop, into out. Each output pixel averages the source area it covers (antialiased). */
static void resize_crop(uint8_t *out, int S, const uint8_t *src, int sw, int sh)
{
    int R = (int)lround(S * 256.0 / 224.0);
    if (R < S) R = S;
    double scale = (double)(sw < sh ? sw : sh) / R; /* source pixels per resized pixel */
    int rw = sw < sh ? R : (int)floor((double)R * sw / sh);
    int rh = sw < sh ? (int)floor((double)R * sh / sw) : R;
    int ox = (rw - S) / 2, oy = (rh - S) / 2;
    for (int y = 0; y < S; y++) {
        double y0 = (y + oy) * scale, y1 = y0 + scale;
        for (int x = 0; x < S; x++) {
            double x0 = (x + ox) * scale, x1 = x0 + scale;
            double acc = 0, wsum = 0;
            int iy0 = (int)floor(y0), iy1 = (int)ceil(y1), ix0 = (int)floor(x0),
                ix1 = (int)ceil(x1);
            if (iy1 > sh) iy1 = sh;
            if (ix1 > sw) ix1 = sw;
            for (int sy = iy0; sy < iy1; sy++) {
                double wy = fmin(y1, sy + 1.0) - fmax(y0, (double)sy);
                if (wy <= 0) continue;
                for (int sx = ix0; sx < ix1; sx++) {
                    double wx = fmin(x1, sx + 1.0) - fmax(x0, (double)sx);
                    if (wx <= 0) continue;
                    acc += wy * wx * src[(size_t)sy * sw + sx];
                    wsum += wy * wx;
                }
            }
            double v = wsum > 0 ? acc / wsum : 0;
            out[(size_t)y * S + x] = (uint8_t)lround(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
}

PsStatus dataset_prepare_image(uint8_t *out, int S, const unsigned char *jpeg, size_t size,
                               const char *name, PsErr *err)
{
    int R = (int)lround(S * 256.0 / 224.0);
    unsigned char *pix = NULL;
    int w = 0, h = 0;
    PsStatus rc = jpeg_decode_gray(&pix, &w, &h, jpeg, size, R, R, name, err);
    if (rc) return rc;
    if (w < 1 || h < 1) {
        free(pix);
        return ps_err(err, PS_ERR_PARSE, "%s: empty image", name ? name : "radiograph");
    }
    resize_crop(out, S, pix, w, h);
    free(pix);
    return PS_OK;
}

typedef struct {
    Dataset *d;
    int cap;
    int64_t shared_cap; /* radiographs the shared cache holds (0: private cache) */
    PsStatus rc;
    PsErr *err;
    DatasetProgressFn progress;
    void *pctx;
    int64_t done, total;
} ImgCollect;

static int collect_image(void *ctx, const StoreRadiograph *r)
{
    ImgCollect *c = ctx;
    Dataset *d = c->d;
    const int S = d->cfg.img_size;
    c->done++;
    if (c->progress && (c->done % 256 == 0 || c->done == c->total))
        c->progress(c->pctx, "radiographs", c->done, c->total);
    if (!r->jpeg || r->jpeg_size == 0 || r->split < 0 || r->split > 2) {
        d->counts.skipped_no_image++;
        return 0;
    }
    if (c->shared_cap && d->n_imgs >= c->shared_cap) {
        c->rc = ps_err(c->err, PS_ERR_INVALID,
                       "the store gained radiographs while they were loading; load again");
        return 1;
    }
    if (d->n_imgs == c->cap) {
        int cap = c->cap ? 2 * c->cap : 1024;
        DatasetImage *n = realloc(d->imgs, (size_t)cap * sizeof *n);
        uint8_t *p = n && !c->shared_cap ? realloc(d->pix, (size_t)cap * S * S) : d->pix;
        if (n) d->imgs = n;
        if (!n || !p) {
            c->rc = ps_err(c->err, PS_ERR_NOMEM, "out of memory caching %d radiographs at %d px",
                           cap, S);
            return 1;
        }
        d->pix = p;
        c->cap = cap;
    }
    /* a shared cache: the other processes of the group decode the other positions */
    if (!c->shared_cap || d->n_imgs % d->cfg.pix_stride == d->cfg.pix_offset) {
        PsStatus rc = dataset_prepare_image(d->pix + (size_t)d->n_imgs * S * S, S, r->jpeg,
                                            r->jpeg_size, r->dicom_id, c->err);
        if (rc) {
            c->rc = rc;
            return 1;
        }
    }
    DatasetImage *im = &d->imgs[d->n_imgs++];
    memset(im, 0, sizeof *im);
    snprintf(im->dicom_id, sizeof im->dicom_id, "%s", r->dicom_id);
    im->split = r->split;
    for (int k = 0; k < CATALOG_N_CHEXPERT; k++) {
        int v = r->chexpert[k];
        float y = 0, m = 1;
        if (v == CHEX_POSITIVE) y = 1;
        else if (v == CHEX_UNCERTAIN) {
            if (d->cfg.uncertain == DATASET_UNCERTAIN_ONE) y = 1;
            if (d->cfg.uncertain == DATASET_UNCERTAIN_MASK) m = 0;
        } else if (v == CHEX_MISSING) {
            if (d->cfg.uncertain == DATASET_UNCERTAIN_MASK) m = 0;
        }
        im->y[k] = y;
        im->mask[k] = m;
    }
    return 0;
}

static int count_image(void *ctx, const StoreRadiograph *r)
{
    (void)r;
    (*(int64_t *)ctx)++;
    return 0;
}

/* ---- the whole load --------------------------------------------------------------------- */

static PsStatus build_indices(Dataset *d, PsErr *err)
{
    for (int s = 0; s < 3; s++) {
        d->stay_idx[s] = malloc(((size_t)d->n_stays + 1) * sizeof(int));
        d->pair_idx[s] = malloc(((size_t)d->n_stays + 1) * sizeof(int));
        d->img_idx[s] = malloc(((size_t)d->n_imgs + 1) * sizeof(int));
        if (!d->stay_idx[s] || !d->pair_idx[s] || !d->img_idx[s])
            return ps_err(err, PS_ERR_NOMEM, "out of memory indexing the dataset");
        d->n_stay[s] = d->n_pair[s] = d->n_img[s] = 0;
    }
    for (int i = 0; i < d->n_stays; i++) {
        int s = d->stays[i].split;
        d->stay_idx[s][d->n_stay[s]++] = i;
        if (d->stays[i].paired) d->pair_idx[s][d->n_pair[s]++] = i;
    }
    for (int i = 0; i < d->n_imgs; i++) {
        int s = d->imgs[i].split;
        d->img_idx[s][d->n_img[s]++] = i;
    }
    for (int s = 0; s < 3; s++) {
        d->counts.stays[s] = d->n_stay[s];
        d->counts.images[s] = d->n_img[s];
        d->counts.pairs[s] = d->n_pair[s];
    }
    return PS_OK;
}

PsStatus dataset_load(Dataset *d, Store *st, const DatasetConfig *cfg, DatasetProgressFn progress,
                      void *progress_ctx, PsErr *err)
{
    memset(d, 0, sizeof *d);
    PS_CHECK(err, st && cfg && cfg->bin_hours > 0 && cfg->max_bins >= 1);
    PS_CHECK(err, !cfg->load_images || (cfg->img_size >= 8 && cfg->img_size <= 1024));
    d->cfg = *cfg;
    PsStatus rc = PS_OK;
    EventBuf eb = {0};
        float *tmp = NULL;
    StayCollect sc = {.d = d};
    DiscretizeConfig dc = discretize_defaults();
    dc.bin_hours = cfg->bin_hours;
    dc.max_bins = cfg->max_bins;

    /* 1. stays with a split, then their labels (a stay without labels is left out) */
    rc = store_each_stay(st, -1, collect_stay, &sc);
    if (sc.oom) rc = ps_err(err, PS_ERR_NOMEM, "out of memory listing stays");
    else if (rc) rc = ps_err(err, rc, "listing stays: %s", store_errmsg(st));
    if (rc) goto fail;
    int kept = 0;
    for (int i = 0; i < d->n_stays; i++) {
        PsStatus lr = store_get_labels(st, d->stays[i].stay_id, d->stays[i].y);
        if (lr == PS_ERR_NOTFOUND) {
            d->counts.skipped_no_labels++;
            continue;
        }
        if (lr) {
            rc = ps_err(err, lr, "labels of stay %lld: %s", (long long)d->stays[i].stay_id,
                        store_errmsg(st));
            goto fail;
        }
        sc.hours[kept] = sc.hours[i];
        d->stays[kept++] = d->stays[i];
    }
    d->n_stays = kept;

    /* 2. discretize every stay; fit the normalizer on the training stays */
    tmp = malloc((size_t)cfg->max_bins * CATALOG_N_INPUTS * sizeof(float));
    if (!tmp) {
        rc = ps_err(err, PS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    size_t cap = 0;
    NormalizerAcc acc;
    normalizer_acc_init(&acc);
    for (int i = 0; i < d->n_stays; i++) {
        DatasetStay *s = &d->stays[i];
        int T = 0, trunc = 0;
        rc = discretize_one(st, s->stay_id, sc.hours[i], &dc, &eb, tmp, &T, &trunc, err);
        if (rc) goto fail;
        d->counts.truncated += trunc;
        size_t need = d->x_len + (size_t)T * CATALOG_N_INPUTS;
        if (need > cap) {
            size_t nc = cap ? cap : 1 << 20;
            while (nc < need) nc *= 2;
            float *nx = realloc(d->x, nc * sizeof(float));
            if (!nx) {
                rc = ps_err(err, PS_ERR_NOMEM, "out of memory holding %d stays' inputs", i);
                goto fail;
            }
            d->x = nx;
            cap = nc;
        }
        memcpy(d->x + d->x_len, tmp, (size_t)T * CATALOG_N_INPUTS * sizeof(float));
        s->x_off = d->x_len;
        s->T = T;
        d->x_len = need;
        if (T > d->max_T) d->max_T = T;
        if (s->split == SPLIT_TRAIN) normalizer_acc_add(&acc, tmp, T);
        if (progress && ((i + 1) % 256 == 0 || i + 1 == d->n_stays))
            progress(progress_ctx, "stays", i + 1, d->n_stays);
    }
    if (d->n_stays == 0) {
        rc = ps_err(err, PS_ERR_INVALID,
                    "%s holds no ICU stays with a split and phenotype labels; nothing to train on",
                    store_path(st));
        goto fail;
    }
    if (acc.rows < 2) {
        rc = ps_err(err, PS_ERR_INVALID,
                    "%s: the training split has fewer than 2 time bins; cannot fit the "
                    "normalizer", store_path(st));
        goto fail;
    }
    if ((rc = normalizer_fit(&d->nz, &acc, err))) goto fail;
    for (int i = 0; i < d->n_stays; i++)
        normalizer_apply(&d->nz, d->x + d->stays[i].x_off, d->stays[i].T);

    /* 3. radiographs (dicom_id order, so lookups can bisect) and pairs */
    if (cfg->load_images) {
        int64_t total = 0;
        if ((rc = store_each_radiograph(st, -1, 0, count_image, &total))) {
            rc = ps_err(err, rc, "counting radiographs: %s", store_errmsg(st));
            goto fail;
        }
        ImgCollect ic = {.d = d, .err = err, .progress = progress, .pctx = progress_ctx,
                         .total = total};
        if (cfg->pix_alloc) {
            PS_CHECK(err, cfg->pix_sync && cfg->pix_stride >= 1 && cfg->pix_offset >= 0 &&
                              cfg->pix_offset < cfg->pix_stride);
            const size_t S = (size_t)cfg->img_size;
            if ((rc = cfg->pix_alloc(cfg->pix_ctx, (total > 0 ? (size_t)total : 1) * S * S,
                                     &d->pix, err)))
                goto fail;
            d->pix_shared = 1;
            ic.shared_cap = total > 0 ? total : 1;
        }
        PsStatus r2 = store_each_radiograph(st, -1, 1, collect_image, &ic);
        if (ic.rc) {
            rc = ic.rc;
            goto fail;
        }
        if (r2) {
            rc = ps_err(err, r2, "reading radiographs: %s", store_errmsg(st));
            goto fail;
        }
        if (cfg->pix_alloc && (rc = cfg->pix_sync(cfg->pix_ctx, err))) goto fail;
    }
    /* pairs: without images loaded a stay is still known to be paired (evaluation on the
     * paired test set of an EHR-only model needs no pixels) */
    for (int i = 0; i < d->n_stays; i++) {
        char dicom[96];
        PsStatus pr = store_get_pair(st, d->stays[i].stay_id, dicom, sizeof dicom);
        if (pr == PS_ERR_NOTFOUND) continue;
        if (pr) {
            rc = ps_err(err, pr, "pair of stay %lld: %s", (long long)d->stays[i].stay_id,
                        store_errmsg(st));
            goto fail;
        }
        if (!cfg->load_images) {
            d->stays[i].paired = 1;
            continue;
        }
        int k = dataset_find_image(d, dicom);
        if (k < 0 || d->imgs[k].split != d->stays[i].split) {
            d->counts.pairs_dropped++;
            continue;
        }
        d->stays[i].img = k;
        d->stays[i].paired = 1;
    }
    if ((rc = build_indices(d, err))) goto fail;
    free(tmp);
    free(eb.ev);
    free(eb.toff);
    free(eb.text);
    free(sc.hours);
    return PS_OK;
fail:
    free(tmp);
    free(eb.ev);
    free(eb.toff);
    free(eb.text);
    free(sc.hours);
    dataset_free(d);
    return rc;
}

void dataset_free(Dataset *d)
{
    if (!d) return;
    free(d->stays);
    free(d->x);
    free(d->imgs);
    if (!d->pix_shared) free(d->pix);
    for (int s = 0; s < 3; s++) {
        free(d->stay_idx[s]);
        free(d->img_idx[s]);
        free(d->pair_idx[s]);
    }
    memset(d, 0, sizeof *d);
}

int dataset_find_stay(const Dataset *d, int64_t stay_id)
{
    int lo = 0, hi = d->n_stays - 1; /* stays are in stay_id order (store_each_stay) */
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (d->stays[mid].stay_id == stay_id) return mid;
        if (d->stays[mid].stay_id < stay_id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int dataset_find_image(const Dataset *d, const char *dicom_id)
{
    int lo = 0, hi = d->n_imgs - 1; /* dicom_id order, as the store yields them (BINARY) */
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(d->imgs[mid].dicom_id, dicom_id);
        if (c == 0) return mid;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

PsStatus dataset_stay_input(const DatasetConfig *cfg, const Normalizer *nz, Store *st,
                            int64_t stay_id, float **x, int *T, PsErr *err)
{
    *x = NULL;
    StoreStay s;
    PsStatus rc = store_get_stay(st, stay_id, &s);
    if (rc == PS_ERR_NOTFOUND)
        return ps_err(err, rc, "no stay %lld in %s", (long long)stay_id, store_path(st));
    if (rc) return ps_err(err, rc, "stay %lld: %s", (long long)stay_id, store_errmsg(st));
    DiscretizeConfig dc = discretize_defaults();
    dc.bin_hours = cfg->bin_hours;
    dc.max_bins = cfg->max_bins;
    float *out = malloc((size_t)dc.max_bins * CATALOG_N_INPUTS * sizeof(float));
    if (!out) return ps_err(err, PS_ERR_NOMEM, "out of memory");
    EventBuf eb = {0};
    int trunc = 0;
    rc = discretize_one(st, stay_id, (double)(s.outtime - s.intime) / 3600.0, &dc, &eb, out, T,
                        &trunc, err);
    free(eb.ev);
    free(eb.toff);
    free(eb.text);
    if (rc) {
        free(out);
        return rc;
    }
    normalizer_apply(nz, out, *T);
    *x = out;
    return PS_OK;
}

/* ---- sampling ---------------------------------------------------------------------------- */

static void draw_perm(DatasetSampler *s)
{
    s->s.perm_rng = s->s.rng;
    for (int i = 0; i < s->n; i++) s->perm[i] = s->items[i];
    for (int i = s->n - 1; i > 0; i--) {
        int j = (int)rng_below(&s->s.rng, (uint64_t)i + 1);
        int t = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = t;
    }
    s->s.cursor = 0;
}

PsStatus dataset_sampler_init(DatasetSampler *s, const Dataset *d, DatasetStream stream, int split,
                              uint64_t seed, PsErr *err)
{
    memset(s, 0, sizeof *s);
    PS_CHECK(err, d && split >= 0 && split <= 2);
    switch (stream) {
    case DATASET_STREAM_CXR: s->items = d->img_idx[split]; s->n = d->n_img[split]; break;
    case DATASET_STREAM_EHR: s->items = d->stay_idx[split]; s->n = d->n_stay[split]; break;
    case DATASET_STREAM_PAIR: s->items = d->pair_idx[split]; s->n = d->n_pair[split]; break;
    default: return ps_err(err, PS_ERR_INVALID, "unknown sampling stream %d", (int)stream);
    }
    s->perm = malloc(((size_t)s->n + 1) * sizeof(int));
    if (!s->perm) return ps_err(err, PS_ERR_NOMEM, "out of memory for a sampler");
    rng_seed_stream(&s->s.rng, seed, 0x5a3b1e00u + (uint64_t)stream);
    draw_perm(s);
    return PS_OK;
}

void dataset_sampler_done(DatasetSampler *s)
{
    if (!s) return;
    free(s->perm);
    memset(s, 0, sizeof *s);
}

PsStatus dataset_sampler_next(DatasetSampler *s, int *out, int B, PsErr *err)
{
    if (s->n <= 0) return ps_err(err, PS_ERR_INVALID, "nothing to sample from (empty split)");
    for (int i = 0; i < B; i++) {
        if (s->s.cursor >= s->n) {
            s->s.wraps++;
            draw_perm(s);
        }
        out[i] = s->perm[s->s.cursor++];
    }
    return PS_OK;
}

void dataset_sampler_restore(DatasetSampler *s, const DatasetSamplerState *st)
{
    s->s.rng = st->perm_rng;
    draw_perm(s); /* the permutation being walked, and rng as it was after drawing it */
    s->s.rng = st->rng;
    s->s.cursor = st->cursor;
    s->s.wraps = st->wraps;
}

/* ---- batches ----------------------------------------------------------------------------- */

void dataset_ehr_batch(const Dataset *d, const int *stays, int B, float *x, int *len, int *T,
                       float *y)
{
    int Tm = 1;
    for (int b = 0; b < B; b++)
        if (d->stays[stays[b]].T > Tm) Tm = d->stays[stays[b]].T;
    const size_t row = CATALOG_N_INPUTS;
    for (int b = 0; b < B; b++) {
        const DatasetStay *s = &d->stays[stays[b]];
        float *dst = x + (size_t)b * Tm * row;
        memcpy(dst, d->x + s->x_off, (size_t)s->T * row * sizeof(float));
        memset(dst + (size_t)s->T * row, 0, (size_t)(Tm - s->T) * row * sizeof(float));
        len[b] = s->T;
        if (y)
            for (int k = 0; k < CATALOG_N_PHENOTYPES; k++)
                y[(size_t)b * CATALOG_N_PHENOTYPES + k] = s->y[k];
    }
    *T = Tm;
}

static void to_tensor(const uint8_t *img, int S, float *pix, int flip)
{
    const size_t plane = (size_t)S * S;
    /* ToTensor (÷255) then Normalize per channel; the gray value feeds all three */
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
    for (int c = 0; c < 3; c++) {
        float *o = pix + c * plane;
        const float a = 1.0f / (255.0f * sd[c]), b0 = -mean[c] / sd[c];
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int sx = flip ? S - 1 - x : x;
                o[(size_t)y * S + x] = img[(size_t)y * S + sx] * a + b0;
            }
    }
}

void dataset_cxr_from_u8(const uint8_t *img, int S, float *pix) { to_tensor(img, S, pix, 0); }

void dataset_cxr_batch(const Dataset *d, const int *imgs, int B, float *pix, float *y, float *mask,
                       Rng *flip_rng)
{
    const int S = d->cfg.img_size;
    for (int b = 0; b < B; b++) {
        const DatasetImage *im = &d->imgs[imgs[b]];
        int flip = flip_rng ? (int)(rng_u64(flip_rng) >> 63) : 0;
        to_tensor(d->pix + (size_t)imgs[b] * S * S, S, pix + (size_t)b * 3 * S * S, flip);
        if (y) memcpy(y + (size_t)b * CATALOG_N_CHEXPERT, im->y, sizeof im->y);
        if (mask) memcpy(mask + (size_t)b * CATALOG_N_CHEXPERT, im->mask, sizeof im->mask);
    }
}

static void affine_config(const Dataset *d, ImgprepConfig *c)
{
    /* the cache holds the centre crop at S: resize and crop are the identity here */
    imgprep_config_default(c, d->cfg.img_size, d->cfg.img_size, 1);
}

size_t dataset_cxr_affine_scratch(const Dataset *d)
{
    ImgprepConfig c;
    affine_config(d, &c);
    return imgprep_scratch_floats(&c, d->cfg.img_size, d->cfg.img_size);
}

PsStatus dataset_cxr_batch_affine(const Dataset *d, const int *imgs, int B, float *pix, float *y,
                                  float *mask, Rng *rng, float *scratch, PsErr *err)
{
    const int S = d->cfg.img_size;
    ImgprepConfig c;
    affine_config(d, &c);
    for (int b = 0; b < B; b++) {
        const DatasetImage *im = &d->imgs[imgs[b]];
        PsStatus rc = imgprep_run(pix + (size_t)b * 3 * S * S, scratch,
                                  d->pix + (size_t)imgs[b] * S * S, S, S, S, &c, rng, err);
        if (rc) return rc;
        if (y) memcpy(y + (size_t)b * CATALOG_N_CHEXPERT, im->y, sizeof im->y);
        if (mask) memcpy(mask + (size_t)b * CATALOG_N_CHEXPERT, im->mask, sizeof im->mask);
    }
    return PS_OK;
}
