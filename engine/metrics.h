/* metrics.h — ranking metrics for multi-label evaluation, as the paper reports them.
 *
 * AUROC is exact with ties: the Mann-Whitney statistic with midranks, equal to
 * sklearn.metrics.roc_auc_score. AUPRC is average precision, equal to
 * sklearn.metrics.average_precision_score (Σ (R_k - R_{k-1}) P_k over distinct thresholds; no
 * interpolation). Macro averages skip labels with only one class present and say which were
 * skipped; group macros (acute / mixed / chronic) follow store/catalog.h. Bootstrap intervals
 * resample stays with replacement and take the 2.5th and 97.5th percentiles. Accumulated in
 * double.
 *
 * Labels are floats: 1 positive, 0 negative, anything else (e.g. -1 for CheXpert's uncertain,
 * NaN for missing) excludes that stay from that label's metrics.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "store/ps.h"
#include "store/rng.h"

#define METRICS_MAX_LABELS 64
#define METRICS_MAX_GROUPS 3

/* Per-binary-label results. auroc/auprc are NaN when the label is skipped. */
typedef struct {
    int n_labels;
    double auroc[METRICS_MAX_LABELS], auprc[METRICS_MAX_LABELS];
    int n_pos[METRICS_MAX_LABELS], n_neg[METRICS_MAX_LABELS];
    int skipped[METRICS_MAX_LABELS]; /* 1: only one class present (or none) */
    int n_skipped;
    double macro_auroc, macro_auprc; /* over labels not skipped; NaN when all are */
    int n_groups;
    double group_auroc[METRICS_MAX_GROUPS], group_auprc[METRICS_MAX_GROUPS];
} MetricsReport;

/* Scratch for up to n stays x L labels and `resamples` bootstrap resamples, allocated once.
 * Each label's valid rows are sorted by score once; a bootstrap resample is then a vector of
 * row multiplicities and every statistic a linear weighted sweep (no re-sorting). */
typedef struct {
    size_t cap_n;
    int cap_l, cap_r;
    size_t *idx, *tmp; /* (cap_n) sorting */
    double *key;       /* (cap_n) */
    uint8_t *cls;      /* (cap_n) */
    double *sk;        /* (cap_l, cap_n) each label's scores, ascending */
    uint8_t *sy;       /* (cap_l, cap_n) their classes */
    size_t *srow;      /* (cap_l, cap_n) their rows */
    size_t *m;         /* (cap_l) valid rows per label */
    double *wt;        /* (cap_n) row weights */
    double *boot;      /* (cap_r) bootstrap statistics */
} MetricsWork;

PsStatus metrics_work_init(MetricsWork *w, size_t n, int L, int resamples, PsErr *err);
void metrics_work_done(MetricsWork *w);

/* AUROC / AP of one label over n scored examples with y in {0, 1}. NaN when one class is
 * absent. w provides scratch of at least n. */
double metrics_auroc(MetricsWork *w, const double *score, const uint8_t *y, size_t n);
double metrics_auprc(MetricsWork *w, const double *score, const uint8_t *y, size_t n);

/* Slow twin of metrics_auroc: O(n²) pair counting, a tie counting one half. */
double metrics_auroc_ref(const double *score, const uint8_t *y, size_t n);

/* scores (n, L) and labels (n, L), row-major. group (L) assigns each label to a group in
 * [0, n_groups) for group macros, or is NULL (n_groups ignored). A NaN score is an error. */
PsStatus metrics_report(MetricsWork *w, MetricsReport *out, const float *scores,
                        const float *labels, size_t n, int L, const int *group, int n_groups,
                        PsErr *err);

/* The 25 phenotypes' groups from catalog.h, for metrics_report(..., group, 3, ...). */
void metrics_phenotype_groups(int group[]);

/* Which statistic of a report a bootstrap interval is for. */
typedef enum {
    METRICS_MACRO_AUROC,
    METRICS_MACRO_AUPRC,
    METRICS_GROUP_AUROC, /* + which group */
    METRICS_GROUP_AUPRC,
    METRICS_LABEL_AUROC, /* + which label */
    METRICS_LABEL_AUPRC,
} MetricsStat;

/* 95% percentile bootstrap interval of one statistic over `resamples` resamples of the n rows
 * (resamples <= the count given to metrics_work_init), drawn from rng. Resamples where the statistic is
 * undefined (NaN) are dropped; *used receives how many counted. lo/hi are NaN when none did. */
PsStatus metrics_bootstrap(MetricsWork *w, double *lo, double *hi, int *used, const float *scores,
                           const float *labels, size_t n, int L, const int *group, int n_groups,
                           MetricsStat stat, int which, int resamples, Rng *rng, PsErr *err);

#endif
