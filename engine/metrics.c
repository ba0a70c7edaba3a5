/* metrics.c — exact AUROC (midranks), average precision, macro / group averages and bootstrap
 * intervals (see metrics.h). It does not compute thresholds, calibration or curves for plotting.
 */
#include "engine/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/catalog.h"

PsStatus metrics_work_init(MetricsWork *w, size_t n, int L, int resamples, PsErr *err)
{
    PS_CHECK(err, w && n > 0 && L > 0 && L <= METRICS_MAX_LABELS && resamples >= 0);
    memset(w, 0, sizeof *w);
    w->cap_n = n;
    w->cap_l = L;
    w->cap_r = resamples;
    size_t nl = n * (size_t)L;
    w->idx = malloc(n * sizeof *w->idx);
    w->tmp = malloc(n * sizeof *w->tmp);
    w->key = malloc(n * sizeof *w->key);
    w->cls = malloc(n);
    w->sk = malloc(nl * sizeof *w->sk);
    w->sy = malloc(nl * sizeof *w->sy);
    w->srow = malloc(nl * sizeof *w->srow);
    w->m = calloc((size_t)L, sizeof *w->m);
    w->wt = malloc(n * sizeof *w->wt);
    w->boot = malloc((resamples ? (size_t)resamples : 1) * sizeof *w->boot);
    if (!w->idx || !w->tmp || !w->key || !w->cls || !w->sk || !w->sy || !w->srow || !w->m || !w->wt ||
        !w->boot) {
        metrics_work_done(w);
        return ps_err(err, PS_ERR_NOMEM, "metrics: cannot allocate scratch for %zu x %d", n, L);
    }
    return PS_OK;
}

void metrics_work_done(MetricsWork *w)
{
    if (!w) return;
    free(w->idx);
    free(w->tmp);
    free(w->key);
    free(w->cls);
    free(w->sk);
    free(w->sy);
    free(w->srow);
    free(w->m);
    free(w->wt);
    free(w->boot);
    memset(w, 0, sizeof *w);
}

/* Stable bottom-up merge sort of idx[0..m) by key[idx] ascending. */
static void sort_by_key(size_t *idx, size_t *tmp, size_t m, const double *key)
{
    for (size_t width = 1; width < m; width *= 2) {
        for (size_t lo = 0; lo < m; lo += 2 * width) {
            size_t mid = lo + width < m ? lo + width : m, hi = lo + 2 * width < m ? lo + 2 * width : m;
            size_t a = lo, b = mid, o = lo;
            while (a < mid && b < hi) tmp[o++] = key[idx[b]] < key[idx[a]] ? idx[b++] : idx[a++];
            while (a < mid) tmp[o++] = idx[a++];
            while (b < hi) tmp[o++] = idx[b++];
        }
        memcpy(idx, tmp, m * sizeof *idx);
    }
}

/* Sorts rows 0..n-1 whose class cls[row] is 0 or 1 into label slot l. */
static void prepare_label(MetricsWork *w, int l, const double *key, const uint8_t *cls, size_t n)
{
    size_t m = 0;
    for (size_t r = 0; r < n; r++)
        if (cls[r] <= 1) w->idx[m++] = r;
    sort_by_key(w->idx, w->tmp, m, key);
    double *sk = w->sk + (size_t)l * w->cap_n;
    uint8_t *sy = w->sy + (size_t)l * w->cap_n;
    size_t *srow = w->srow + (size_t)l * w->cap_n;
    for (size_t k = 0; k < m; k++) {
        sk[k] = key[w->idx[k]];
        sy[k] = cls[w->idx[k]];
        srow[k] = w->idx[k];
    }
    w->m[l] = m;
}

/* Weighted Mann-Whitney: Σ over positives of (negatives below + half the tied negatives),
 * over P·N. Row weights wt (NULL = 1) are bootstrap multiplicities. */
static double sweep_auroc(const MetricsWork *w, int l, const double *wt)
{
    const double *sk = w->sk + (size_t)l * w->cap_n;
    const uint8_t *sy = w->sy + (size_t)l * w->cap_n;
    const size_t *srow = w->srow + (size_t)l * w->cap_n;
    const size_t m = w->m[l];
    double num = 0, neg_below = 0, P = 0, N = 0;
    for (size_t a = 0; a < m;) {
        size_t b = a;
        double wp = 0, wn = 0;
        while (b < m && sk[b] == sk[a]) {
            double x = wt ? wt[srow[b]] : 1.0;
            if (sy[b]) wp += x;
            else wn += x;
            b++;
        }
        num += wp * (neg_below + 0.5 * wn); // a tie between a positive and a negative counts half
        neg_below += wn;
        P += wp;
        N += wn;
        a = b;
    }
    return P > 0 && N > 0 ? num / (P * N) : NAN;
}

/* Average precision: Σ (R_k - R_{k-1}) P_k over distinct thresholds from the highest score. */
static double sweep_auprc(const MetricsWork *w, int l, const double *wt)
{
    const double *sk = w->sk + (size_t)l * w->cap_n;
    const uint8_t *sy = w->sy + (size_t)l * w->cap_n;
    const size_t *srow = w->srow + (size_t)l * w->cap_n;
    const size_t m = w->m[l];
    double P = 0, N = 0;
    for (size_t k = 0; k < m; k++) {
        double x = wt ? wt[srow[k]] : 1.0;
        if (sy[k]) P += x;
        else N += x;
    }
    if (P <= 0 || N <= 0) return NAN;
    double tp = 0, fp = 0, ap = 0, prev_recall = 0;
    for (size_t b = m; b > 0;) {
        size_t a = b;
        while (a > 0 && sk[a - 1] == sk[b - 1]) {
            double x = wt ? wt[srow[a - 1]] : 1.0;
            if (sy[a - 1]) tp += x;
            else fp += x;
            a--;
        }
        if (tp + fp > 0) {
            double recall = tp / P;
            ap += (recall - prev_recall) * (tp / (tp + fp));
            prev_recall = recall;
        }
        b = a;
    }
    return ap;
}

static void one_label(MetricsWork *w, const double *score, const uint8_t *y, size_t n)
{
    for (size_t r = 0; r < n; r++) w->key[r] = score[r];
    prepare_label(w, 0, w->key, y, n);
}

double metrics_auroc(MetricsWork *w, const double *score, const uint8_t *y, size_t n)
{
    if (n > w->cap_n) return NAN;
    one_label(w, score, y, n);
    return sweep_auroc(w, 0, NULL);
}

double metrics_auprc(MetricsWork *w, const double *score, const uint8_t *y, size_t n)
{
    if (n > w->cap_n) return NAN;
    one_label(w, score, y, n);
    return sweep_auprc(w, 0, NULL);
}

double metrics_auroc_ref(const double *score, const uint8_t *y, size_t n)
{
    double num = 0, pairs = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] != 1) continue;
        for (size_t j = 0; j < n; j++) {
            if (y[j] != 0) continue;
            pairs += 1;
            num += score[i] > score[j] ? 1.0 : score[i] == score[j] ? 0.5 : 0.0;
        }
    }
    return pairs > 0 ? num / pairs : NAN;
}

void metrics_phenotype_groups(int group[])
{
    for (int i = 0; i < CATALOG_N_PHENOTYPES; i++) group[i] = (int)catalog_phenotypes[i].group;
}

static PsStatus prepare_all(MetricsWork *w, const float *scores, const float *labels, size_t n,
                            int L, PsErr *err)
{
    PS_CHECK(err, w && scores && labels && L > 0);
    if (n > w->cap_n || L > w->cap_l)
        return ps_err(err, PS_ERR_INVALID, "metrics: %zu x %d exceeds the scratch (%zu x %d)", n,
                      L, w->cap_n, w->cap_l);
    for (int l = 0; l < L; l++) {
        for (size_t r = 0; r < n; r++) {
            float s = scores[r * L + l], y = labels[r * L + l];
            if (isnan(s))
                return ps_err(err, PS_ERR_INVALID, "metrics: score of row %zu, label %d is NaN",
                              r, l);
            w->key[r] = s;
            w->cls[r] = y == 1.0f ? 1 : y == 0.0f ? 0 : 2;
        }
        prepare_label(w, l, w->key, w->cls, n);
    }
    return PS_OK;
}

static void fill_report(const MetricsWork *w, MetricsReport *out, int L, const int *group,
                        int n_groups, const double *wt)
{
    memset(out, 0, sizeof *out);
    out->n_labels = L;
    out->n_groups = group ? n_groups : 0;
    double sa = 0, sp = 0, ga[METRICS_MAX_GROUPS] = {0}, gp[METRICS_MAX_GROUPS] = {0};
    int cnt = 0, gc[METRICS_MAX_GROUPS] = {0};
    for (int l = 0; l < L; l++) {
        const uint8_t *sy = w->sy + (size_t)l * w->cap_n;
        const size_t *srow = w->srow + (size_t)l * w->cap_n;
        for (size_t k = 0; k < w->m[l]; k++) {
            int x = wt ? (int)wt[srow[k]] : 1;
            if (sy[k]) out->n_pos[l] += x;
            else out->n_neg[l] += x;
        }
        out->auroc[l] = sweep_auroc(w, l, wt);
        out->auprc[l] = sweep_auprc(w, l, wt);
        if (isnan(out->auroc[l])) {
            out->skipped[l] = 1;
            out->n_skipped++;
            out->auprc[l] = NAN;
            continue;
        }
        sa += out->auroc[l];
        sp += out->auprc[l];
        cnt++;
        if (group && group[l] >= 0 && group[l] < n_groups) {
            ga[group[l]] += out->auroc[l];
            gp[group[l]] += out->auprc[l];
            gc[group[l]]++;
        }
    }
    out->macro_auroc = cnt ? sa / cnt : NAN;
    out->macro_auprc = cnt ? sp / cnt : NAN;
    for (int g = 0; g < out->n_groups; g++) {
        out->group_auroc[g] = gc[g] ? ga[g] / gc[g] : NAN;
        out->group_auprc[g] = gc[g] ? gp[g] / gc[g] : NAN;
    }
}

PsStatus metrics_report(MetricsWork *w, MetricsReport *out, const float *scores,
                        const float *labels, size_t n, int L, const int *group, int n_groups,
                        PsErr *err)
{
    PS_CHECK(err, out && n_groups >= 0 && n_groups <= METRICS_MAX_GROUPS);
    PsStatus rc = prepare_all(w, scores, labels, n, L, err);
    if (rc != PS_OK) return rc;
    fill_report(w, out, L, group, n_groups, NULL);
    return PS_OK;
}

static double pick_stat(const MetricsReport *r, MetricsStat stat, int which)
{
    switch (stat) {
    case METRICS_MACRO_AUROC: return r->macro_auroc;
    case METRICS_MACRO_AUPRC: return r->macro_auprc;
    case METRICS_GROUP_AUROC: return r->group_auroc[which];
    case METRICS_GROUP_AUPRC: return r->group_auprc[which];
    case METRICS_LABEL_AUROC: return r->auroc[which];
    case METRICS_LABEL_AUPRC: return r->auprc[which];
    }
    return NAN;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile's default (linear interpolation between closest ranks). */
static double percentile(const double *v, int m, double q)
{
    double pos = q * (m - 1);
    int lo = (int)floor(pos), hi = lo + 1 < m ? lo + 1 : lo;
    return v[lo] + (pos - lo) * (v[hi] - v[lo]);
}

PsStatus metrics_bootstrap(MetricsWork *w, double *lo, double *hi, int *used, const float *scores,
                           const float *labels, size_t n, int L, const int *group, int n_groups,
                           MetricsStat stat, int which, int resamples, Rng *rng, PsErr *err)
{
    PS_CHECK(err, lo && hi && used && rng && n > 0 && resamples > 0 && resamples <= w->cap_r);
    PS_CHECK(err, n_groups >= 0 && n_groups <= METRICS_MAX_GROUPS);
    if ((stat == METRICS_GROUP_AUROC || stat == METRICS_GROUP_AUPRC) &&
        (!group || which < 0 || which >= n_groups))
        return ps_err(err, PS_ERR_INVALID, "metrics_bootstrap: no group %d", which);
    if ((stat == METRICS_LABEL_AUROC || stat == METRICS_LABEL_AUPRC) && (which < 0 || which >= L))
        return ps_err(err, PS_ERR_INVALID, "metrics_bootstrap: no label %d", which);
    PsStatus rc = prepare_all(w, scores, labels, n, L, err);
    if (rc != PS_OK) return rc;
    MetricsReport r;
    int m = 0;
    for (int b = 0; b < resamples; b++) {
        // n draws with replacement, kept as multiplicities so the sorted orders stay valid
        memset(w->wt, 0, n * sizeof *w->wt);
        for (size_t i = 0; i < n; i++) w->wt[rng_below(rng, n)] += 1.0;
        double v;
        if (stat == METRICS_LABEL_AUROC) v = sweep_auroc(w, which, w->wt);
        else if (stat == METRICS_LABEL_AUPRC) v = sweep_auprc(w, which, w->wt);
        else {
            fill_report(w, &r, L, group, n_groups, w->wt);
            v = pick_stat(&r, stat, which);
        }
        if (!isnan(v)) w->boot[m++] = v;
    }
    *used = m;
    if (m == 0) {
        *lo = *hi = NAN;
        return PS_OK;
    }
    qsort(w->boot, (size_t)m, sizeof *w->boot, cmp_double);
    *lo = percentile(w->boot, m, 0.025);
    *hi = percentile(w->boot, m, 0.975);
    return PS_OK;
}
