/* demo.c — the synthetic demo cohort: plan, physiology, radiographs, writing.
 *
 * Implements: a latent-factor model of the 25 phenotypes (co-occurrence through shared
 * "cardiac", "metabolic", "infection", ... severities), physiology on realistic charting
 * schedules shifted by the phenotypes, radiograph studies before/during/after ICU stays and of
 * subjects never in the ICU, findings drawn from the phenotypes and labelled with the noise of an
 * automatic report labeler, ICD diagnoses, splits by subject. The causal strengths are data
 * (assets/demo_links.csv) so users can read what the demo can and cannot show.
 * Deliberately not: a physiological simulator, realistic treatment effects, free-text reports.
 *
 * Determinism: every subject, stay and image draws from its own RNG stream
 * (rng_seed_stream(seed, kind + index)), the plan is built in one thread, images are drawn by
 * worker threads into slots indexed by image and written in index order.
 *
 * Thread safety: drawing workers touch only their own slots (under the pool mutex); all Store
 * calls happen in the calling thread.
 */
#include "store/demo.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "store/assets.h"
#include "store/cxr_synth.h"
#include "store/jpeg.h"
#include "store/rng.h"
#include "store/store_internal.h"

/* ---- the links table ---------------------------------------------------------------------- */

enum { N_FACTORS = 8 };
static const char *const factor_names[N_FACTORS] = {"cardiac", "metabolic", "infection", "respiratory",
                                                    "renal",   "neuro",     "liver",     "surgical"};
enum { P_BASE_ICU = CATALOG_N_PHENOTYPES, P_BASE_OUT, P_VENT, N_ROWS };
enum { F_HYPER = CATALOG_N_CHEXPERT, N_FIND }; /* findings: the 14 CheXpert labels + hyperinflation */
enum { CX_ATEL = 0, CX_CARDIO = 1, CX_CONSOL = 2, CX_EDEMA = 3, CX_ECM = 4, CX_FRACT = 5, CX_LESION = 6,
       CX_OPAC = 7, CX_NOFIND = 8, CX_EFFUS = 9, CX_PLOTHER = 10, CX_PNEUMONIA = 11, CX_PTX = 12,
       CX_DEVICES = 13 };
enum { CH_CRR = 0, CH_DBP = 1, CH_FIO2 = 2, CH_GCS_EYE = 3, CH_GCS_MOTOR = 4, CH_GCS_TOTAL = 5,
       CH_GCS_VERBAL = 6, CH_GLUCOSE = 7, CH_HR = 8, CH_HEIGHT = 9, CH_MBP = 10, CH_SPO2 = 11, CH_RR = 12,
       CH_SBP = 13, CH_TEMP = 14, CH_WEIGHT = 15, CH_PH = 16 };
enum { PH_ARF = 0, PH_STROKE = 1, PH_AMI = 2, PH_CHF = 8, PH_CORONARY = 9, PH_COMPL = 6, PH_DM_COMP = 10,
       PH_DM = 11, PH_LIVER = 17, PH_PLEURISY = 20, PH_PNEUMONIA = 21, PH_RESPFAIL = 22, PH_SEPSIS = 23,
       PH_SHOCK = 24 };

typedef struct {
    double prevalence[CATALOG_N_PHENOTYPES];
    double bias[CATALOG_N_PHENOTYPES];
    double factor[CATALOG_N_PHENOTYPES][N_FACTORS];
    double excludes[CATALOG_N_PHENOTYPES][CATALOG_N_PHENOTYPES];
    double vital[N_ROWS][CATALOG_N_CHANNELS];
    double vent[N_ROWS], mort[N_ROWS];
    double cxr[N_ROWS][N_FIND], cxr_chronic[N_ROWS][N_FIND];
} Links;

typedef struct {
    char code[16];
    int version;
    char title[160];
    int phenotype; /* -1: not a benchmark phenotype (filler) */
} IcdRow;

enum { MAX_ICD = 128 };

/* Splits one CSV line (quotes allowed, no embedded newlines) into at most max fields, in place.
 * Returns the field count. */
static int csv_split(char *line, char **f, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        char *out = p;
        f[n++] = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p) break;
                if (*p == '"' && p[1] == '"') *out++ = '"', p += 2;
                else if (*p == '"') { p++; break; }
                else *out++ = *p++;
            }
            while (*p && *p != ',') p++;
        } else {
            while (*p && *p != ',') *out++ = *p++;
        }
        int end = !*p;
        if (*p) p++;
        *out = 0;
        if (end) break;
    }
    return n;
}

static int row_index(const char *name)
{
    if (strcmp(name, "baseline_icu") == 0) return P_BASE_ICU;
    if (strcmp(name, "baseline_outpatient") == 0) return P_BASE_OUT;
    if (strcmp(name, "ventilated") == 0) return P_VENT;
    return catalog_phenotype_index(name);
}

static int finding_index(const char *name)
{
    if (strcmp(name, "Hyperinflation") == 0) return F_HYPER;
    return catalog_chexpert_index(name);
}

/* Iterates over the lines of an embedded asset, skipping the header; fn returns a PsStatus. */
typedef PsStatus (*LineFn)(void *ctx, char **f, int nf, const char *file, int line, PsErr *err);

static PsStatus each_line(const char *name, int min_fields, LineFn fn, void *ctx, PsErr *err)
{
    const AssetFile *a = assets_get(name);
    if (!a) return ps_err(err, PS_ERR_NOTFOUND, "%s: not built into this binary", name);
    const char *p = (const char *)a->data, *end = p + a->size;
    char buf[1024], *f[8];
    for (int line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (len >= sizeof buf) return ps_err(err, PS_ERR_PARSE, "%s:%d: line too long", name, line);
        memcpy(buf, p, len);
        buf[len] = 0;
        if (len && buf[len - 1] == '\r') buf[len - 1] = 0;
        p = nl ? nl + 1 : end;
        if (line == 1 || !buf[0]) continue;
        int nf = csv_split(buf, f, 8);
        if (nf < min_fields)
            return ps_err(err, PS_ERR_PARSE, "%s:%d: expected %d fields, got %d", name, line,
                          min_fields, nf);
        PsStatus rc = fn(ctx, f, nf, name, line, err);
        if (rc) return rc;
    }
    return PS_OK;
}

static PsStatus parse_number(const char *s, double *out, const char *file, int line, PsErr *err)
{
    char *e;
    *out = strtod(s, &e);
    if (e == s || *e || !isfinite(*out))
        return ps_err(err, PS_ERR_PARSE, "%s:%d: '%s' is not a number", file, line, s);
    return PS_OK;
}

static PsStatus link_line(void *ctx, char **f, int nf, const char *file, int line, PsErr *err)
{
    (void)nf;
    Links *L = ctx;
    int row = row_index(f[0]);
    if (row < 0) return ps_err(err, PS_ERR_PARSE, "%s:%d: unknown phenotype '%s'", file, line, f[0]);
    double s;
    PsStatus rc = parse_number(f[3], &s, file, line, err);
    if (rc) return rc;
    const char *kind = f[1], *target = f[2];
    int is_pheno = row < CATALOG_N_PHENOTYPES;
    if (strcmp(kind, "prevalence") == 0 && is_pheno) {
        if (s <= 0 || s >= 1)
            return ps_err(err, PS_ERR_PARSE, "%s:%d: prevalence must be in (0,1)", file, line);
        L->prevalence[row] = s;
    } else if (strcmp(kind, "factor") == 0 && is_pheno) {
        int k = -1;
        for (int i = 0; i < N_FACTORS; i++)
            if (strcmp(target, factor_names[i]) == 0) k = i;
        if (k < 0) return ps_err(err, PS_ERR_PARSE, "%s:%d: unknown factor '%s'", file, line, target);
        L->factor[row][k] = s;
    } else if (strcmp(kind, "excludes") == 0 && is_pheno) {
        int t = catalog_phenotype_index(target);
        if (t < 0) return ps_err(err, PS_ERR_PARSE, "%s:%d: unknown phenotype '%s'", file, line, target);
        L->excludes[row][t] = s;
    } else if (strcmp(kind, "vital") == 0) {
        int ch = catalog_channel_index(target);
        if (ch < 0) return ps_err(err, PS_ERR_PARSE, "%s:%d: unknown channel '%s'", file, line, target);
        L->vital[row][ch] = s;
    } else if (strcmp(kind, "ventilation") == 0 || strcmp(kind, "mortality") == 0) {
        if (s < 0 || s > 1) return ps_err(err, PS_ERR_PARSE, "%s:%d: probability out of [0,1]", file, line);
        (kind[0] == 'v' ? L->vent : L->mort)[row] = s;
    } else if (strcmp(kind, "cxr") == 0 || strcmp(kind, "cxr_chronic") == 0) {
        int k = finding_index(target);
        if (k < 0 || k == CX_NOFIND)
            return ps_err(err, PS_ERR_PARSE, "%s:%d: unknown finding '%s'", file, line, target);
        if (s < 0 || s > 1) return ps_err(err, PS_ERR_PARSE, "%s:%d: probability out of [0,1]", file, line);
        (strcmp(kind, "cxr") == 0 ? L->cxr : L->cxr_chronic)[row][k] = s;
    } else {
        return ps_err(err, PS_ERR_PARSE, "%s:%d: effect '%s' does not apply to '%s'", file, line, kind, f[0]);
    }
    return PS_OK;
}

static PsStatus links_load(Links *L, PsErr *err)
{
    memset(L, 0, sizeof *L);
    PsStatus rc = each_line("demo_links.csv", 5, link_line, L, err);
    if (rc) return rc;
    for (int p = 0; p < CATALOG_N_PHENOTYPES; p++) {
        if (L->prevalence[p] <= 0)
            return ps_err(err, PS_ERR_PARSE, "demo_links.csv: no prevalence for '%s'",
                          catalog_phenotypes[p].name);
        /* E[sigmoid(b + w.z)] with z ~ N(0, I) is close to sigmoid(b / sqrt(1 + pi s^2 / 8)),
         * s^2 = |w|^2 (the probit approximation); solve for b so the prevalence comes out. */
        double s2 = 0;
        for (int k = 0; k < N_FACTORS; k++) s2 += L->factor[p][k] * L->factor[p][k];
        double q = L->prevalence[p];
        L->bias[p] = log(q / (1 - q)) * sqrt(1 + 3.14159265 * (s2 + 0.09) / 8);
    }
    return PS_OK;
}

typedef struct {
    IcdRow rows[MAX_ICD];
    int n;
} IcdTable;

static PsStatus icd_line(void *ctx, char **f, int nf, const char *file, int line, PsErr *err)
{
    (void)nf;
    IcdTable *t = ctx;
    if (t->n >= MAX_ICD) return ps_err(err, PS_ERR_PARSE, "%s:%d: too many rows", file, line);
    IcdRow *r = &t->rows[t->n];
    if (!f[0][0] || strlen(f[0]) >= sizeof r->code || strlen(f[2]) >= sizeof r->title)
        return ps_err(err, PS_ERR_PARSE, "%s:%d: bad code or title", file, line);
    strcpy(r->code, f[0]);
    strcpy(r->title, f[2]);
    r->version = atoi(f[1]);
    if (r->version != 9 && r->version != 10)
        return ps_err(err, PS_ERR_PARSE, "%s:%d: ICD version must be 9 or 10", file, line);
    r->phenotype = -1;
    if (f[3][0] && (r->phenotype = catalog_phenotype_index(f[3])) < 0)
        return ps_err(err, PS_ERR_PARSE, "%s:%d: unknown phenotype '%s'", file, line, f[3]);
    t->n++;
    return PS_OK;
}

static PsStatus icd_load(IcdTable *t, PsErr *err)
{
    t->n = 0;
    PsStatus rc = each_line("demo_icd.csv", 4, icd_line, t, err);
    if (rc) return rc;
    for (int p = 0; p < CATALOG_N_PHENOTYPES; p++)
        for (int v = 9; v <= 10; v++) {
            int found = 0;
            for (int i = 0; i < t->n; i++) found |= t->rows[i].phenotype == p && t->rows[i].version == v;
            if (!found)
                return ps_err(err, PS_ERR_PARSE, "demo_icd.csv: no ICD-%d code for '%s'", v,
                              catalog_phenotypes[p].name);
        }
    return PS_OK;
}

/* ---- the plan ----------------------------------------------------------------------------- */

typedef struct {
    int64_t subject_id;
    char gender;
    int anchor_age, anchor_year;
    int split;
    int first_stay, n_stays; /* into stays[]; n_stays 0 for radiograph-only subjects */
    double z[N_FACTORS];
    int any_during; /* has an AP study inside one of its stays (for stratified splits) */
} Subj;

typedef struct {
    StoreStay s;
    int subj;
    uint8_t labels[CATALOG_N_PHENOTYPES];
    float expr[CATALOG_N_PHENOTYPES]; /* how strongly each present phenotype shows, 0.3..1.3 */
    int ventilated;
    double vent_from, vent_to; /* hours */
    int icd_version;
    double find_u[N_FIND];   /* per stay: findings persist across its studies */
    double find_sev[N_FIND];
} PStay;

typedef struct {
    char dicom_id[48];
    int64_t subject_id, study_id, study_time;
    CxrView view;
    int8_t chex[CATALOG_N_CHEXPERT];
    float sev[N_FIND];
    uint64_t draw_seed;
    int split;
    int subj; /* index into Plan.subj */
} PImg;

typedef struct {
    Subj *subj;
    int n_subj, n_icu_subj;
    PStay *stays;
    int n_stays;
    PImg *imgs;
    int n_imgs, cap_imgs;
    int64_t n_studies;
} Plan;

enum { STREAM_SUBJ = 1, STREAM_STAY = 2, STREAM_EVENTS = 3, STREAM_STUDY = 4, STREAM_SPLIT = 5,
       STREAM_IDS = 6 };
#define STREAM(kind, i) ((uint64_t)(kind) << 40 | (uint64_t)(i))

static const double YEAR = 365.2425 * 86400.0, DAY = 86400.0, HOUR = 3600.0;

static int64_t year_start(int year)
{
    return (int64_t)((double)(year - 1970) * YEAR);
}

static double uni(Rng *r, double lo, double hi)
{
    return lo + (hi - lo) * rng_uniform(r);
}

static double sigmoid(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

static double clampd(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static const char *const careunits[] = {
    "Medical Intensive Care Unit (MICU)",
    "Surgical Intensive Care Unit (SICU)",
    "Cardiac Vascular Intensive Care Unit (CVICU)",
    "Coronary Care Unit (CCU)",
    "Trauma SICU (TSICU)",
    "Neuro Surgical Intensive Care Unit (Neuro SICU)",
    "Medical/Surgical Intensive Care Unit (MICU/SICU)",
};

static const char *pick_careunit(Rng *r, const uint8_t *lab)
{
    double u = rng_uniform(r);
    if (lab[PH_STROKE] && u < 0.7) return careunits[5];
    if ((lab[PH_AMI] || (lab[PH_CHF] && lab[3])) && u < 0.6) return careunits[3];
    if (lab[PH_COMPL] && u < 0.6) return careunits[u < 0.3 ? 2 : u < 0.45 ? 1 : 4];
    if ((lab[PH_SEPSIS] || lab[PH_RESPFAIL] || lab[PH_PNEUMONIA]) && u < 0.75) return careunits[0];
    static const double cum[] = {0.38, 0.52, 0.66, 0.76, 0.86, 0.92, 1.0};
    double v = rng_uniform(r);
    for (int i = 0; i < 7; i++)
        if (v < cum[i]) return careunits[i];
    return careunits[0];
}

/* A new zeroed image slot, or NULL when memory runs out. */
static PImg *plan_add_img(Plan *P)
{
    if (P->n_imgs == P->cap_imgs) {
        int cap = P->cap_imgs ? P->cap_imgs * 2 : 1024;
        PImg *n = realloc(P->imgs, (size_t)cap * sizeof *n);
        if (!n) return NULL;
        P->imgs = n;
        P->cap_imgs = cap;
    }
    PImg *im = &P->imgs[P->n_imgs++];
    memset(im, 0, sizeof *im);
    return im;
}

/* The labels a report labeler would give to a study showing drawn[] (severities). */
static void label_study(Rng *r, const float *sev, int8_t *chex)
{
    int any_opacity = sev[CX_CONSOL] > 0 || sev[CX_PNEUMONIA] > 0 || sev[CX_ATEL] > 0 ||
                      sev[CX_EDEMA] > 0 || sev[CX_LESION] > 0;
    for (int f = 0; f < CATALOG_N_CHEXPERT; f++) {
        if (f == CX_NOFIND) continue;
        double u = rng_uniform(r);
        int drawn = sev[f] > 0;
        if (f == CX_OPAC && !drawn && any_opacity) {
            chex[f] = u < 0.5 ? CHEX_POSITIVE : u < 0.6 ? CHEX_UNCERTAIN : CHEX_MISSING;
        } else if (drawn) {
            /* faint findings are hedged more often; pneumonia is the labeler's favourite hedge */
            double pos = f == CX_PNEUMONIA ? 0.45 : 0.70 + 0.15 * sev[f];
            double unc = f == CX_PNEUMONIA ? 0.45 : 0.12;
            chex[f] = u < pos ? CHEX_POSITIVE : u < pos + unc ? CHEX_UNCERTAIN : CHEX_MISSING;
        } else {
            int often_negated = f == CX_EFFUS || f == CX_PTX || f == CX_EDEMA || f == CX_CONSOL ||
                                f == CX_CARDIO;
            double neg = often_negated ? 0.45 : 0.15;
            chex[f] = u < 0.015 ? CHEX_POSITIVE
                      : u < 0.025 ? CHEX_UNCERTAIN
                      : u < 0.025 + neg ? CHEX_NEGATIVE
                                        : CHEX_MISSING;
        }
    }
    /* No Finding: positive exactly when nothing but devices is positive or uncertain */
    int any = 0;
    for (int f = 0; f < CATALOG_N_CHEXPERT; f++)
        if (f != CX_NOFIND && f != CX_DEVICES && (chex[f] == CHEX_POSITIVE || chex[f] == CHEX_UNCERTAIN))
            any = 1;
    chex[CX_NOFIND] = any ? CHEX_MISSING : CHEX_POSITIVE;
}

/* Adds one study (one or two images) to the plan. p[] are finding probabilities; persist (may
 * be NULL) holds per-stay uniforms and severities so a stay's studies agree. */
static PsStatus add_study(Plan *P, const Links *L, uint64_t seed, int subj, int split,
                          int64_t t, CxrView view, int lateral_too, const double *p,
                          const double *persist_u, const double *persist_sev, PsErr *err)
{
    (void)L;
    int64_t study_no = P->n_studies++;
    Rng r;
    rng_seed_stream(&r, seed, STREAM(STREAM_STUDY, study_no));
    float sev[N_FIND] = {0};
    for (int f = 0; f < N_FIND; f++) {
        if (f == CX_NOFIND) continue;
        double u = persist_u ? persist_u[f] : rng_uniform(&r);
        double jitter = uni(&r, 0.85, 1.15); /* studies of a stay mostly, not always, agree */
        if (u < p[f] * jitter) {
            double s = persist_sev ? persist_sev[f] : uni(&r, 0.35, 1.0);
            sev[f] = (float)clampd(s * uni(&r, 0.85, 1.1), 0.2, 1.0);
        }
    }
    int8_t chex[CATALOG_N_CHEXPERT];
    label_study(&r, sev, chex);
    int64_t study_id = 50000000 + study_no * 7 + (int64_t)rng_below(&r, 7);
    for (int k = 0; k < 1 + lateral_too; k++) {
        PImg *im = plan_add_img(P);
        if (!im) return ps_err(err, PS_ERR_NOMEM, "demo: out of memory planning radiographs");
        snprintf(im->dicom_id, sizeof im->dicom_id, "%08x-%08x-%08x-%08x-%08x",
                 (unsigned)rng_below(&r, 1ull << 32), (unsigned)rng_below(&r, 1ull << 32),
                 (unsigned)rng_below(&r, 1ull << 32), (unsigned)rng_below(&r, 1ull << 32),
                 (unsigned)rng_below(&r, 1ull << 32));
        im->subject_id = P->subj[subj].subject_id;
        im->subj = subj;
        im->study_id = study_id;
        im->study_time = t + k * 60;
        im->view = k ? CXR_VIEW_LATERAL : view;
        memcpy(im->chex, chex, sizeof chex);
        memcpy(im->sev, sev, sizeof sev);
        im->draw_seed = rng_u64(&r);
        im->split = split;
    }
    return PS_OK;
}

/* Finding probabilities for a study during (or just before) stay s. */
static void stay_finding_p(const Links *L, const PStay *s, int with_devices, double *p)
{
    for (int f = 0; f < N_FIND; f++) {
        double keep = 1 - L->cxr[P_BASE_ICU][f];
        for (int ph = 0; ph < CATALOG_N_PHENOTYPES; ph++)
            if (s->labels[ph]) keep *= 1 - L->cxr[ph][f] * fmin(1.0, 0.4 + 0.6 * s->expr[ph]);
        if (s->ventilated) keep *= 1 - L->cxr[P_VENT][f];
        if (f == CX_DEVICES && !with_devices) keep = 1 - L->cxr[P_BASE_OUT][f];
        p[f] = 1 - keep;
    }
}

/* Finding probabilities away from an ICU stay: chronic links of the nearest stay, or none. */
static void outpatient_finding_p(const Links *L, const PStay *s, double *p)
{
    for (int f = 0; f < N_FIND; f++) {
        double keep = 1 - L->cxr[P_BASE_OUT][f];
        if (s)
            for (int ph = 0; ph < CATALOG_N_PHENOTYPES; ph++)
                if (s->labels[ph]) keep *= 1 - L->cxr_chronic[ph][f];
        p[f] = 1 - keep;
    }
}

static PsStatus build_plan(Plan *P, const Links *L, const DemoConfig *cfg, PsErr *err)
{
    memset(P, 0, sizeof *P);
    int n = cfg->n_stays;
    uint64_t seed = cfg->seed;
    /* subjects: 1 stay (78%), 2 (16%), 3 (6%) */
    int cap_subj = n + n / 2 + 8;
    P->subj = calloc((size_t)cap_subj, sizeof *P->subj);
    P->stays = calloc((size_t)n, sizeof *P->stays);
    if (!P->subj || !P->stays) return ps_err(err, PS_ERR_NOMEM, "demo: out of memory planning %d stays", n);
    int stays = 0;
    while (stays < n) {
        Subj *S = &P->subj[P->n_subj];
        Rng r;
        rng_seed_stream(&r, seed, STREAM(STREAM_SUBJ, P->n_subj));
        double u = rng_uniform(&r);
        int k = u < 0.78 ? 1 : u < 0.94 ? 2 : 3;
        if (k > n - stays) k = n - stays;
        S->first_stay = stays;
        S->n_stays = k;
        stays += k;
        P->n_subj++;
    }
    P->n_icu_subj = P->n_subj;
    int n_out = (int)(0.33 * P->n_icu_subj + 0.5);
    if (n_out < 1) n_out = 1;
    P->n_subj += n_out;
    P->n_stays = n;

    /* subject ids: ascending with random gaps, ICU and radiograph-only subjects interleaved */
    int64_t *ids = malloc((size_t)P->n_subj * sizeof *ids);
    if (!ids) return ps_err(err, PS_ERR_NOMEM, "demo: out of memory");
    Rng ri;
    rng_seed_stream(&ri, seed, STREAM(STREAM_IDS, 0));
    int64_t gap = 8000000 / (P->n_subj + 1);
    if (gap < 2) gap = 2;
    int64_t id = 10000000;
    for (int i = 0; i < P->n_subj; i++) ids[i] = (id += 1 + (int64_t)rng_below(&ri, (uint64_t)gap));
    rng_shuffle_i64(&ri, ids, P->n_subj);

    for (int i = 0; i < P->n_subj; i++) {
        Subj *S = &P->subj[i];
        Rng r;
        rng_seed_stream(&r, seed, STREAM(STREAM_SUBJ, i) | 1ull << 39);
        S->subject_id = ids[i];
        S->gender = rng_bernoulli(&r, 0.56) ? 'M' : 'F';
        double age = 64 + 16 * rng_normal(&r);
        S->anchor_age = (int)clampd(floor(age), 18, 91);
        S->anchor_year = 2110 + (int)rng_below(&r, 80);
        S->split = SPLIT_TRAIN;
        double a = (S->anchor_age - 64) / 16.0;
        for (int k = 0; k < N_FACTORS; k++) S->z[k] = rng_normal(&r);
        /* older patients carry more cardiac and metabolic disease; infection and respiratory
         * failure go together */
        S->z[0] = 0.85 * S->z[0] + 0.45 * a;
        S->z[1] = 0.9 * S->z[1] + 0.35 * a;
        S->z[3] = 0.5 * S->z[2] + 0.866 * S->z[3];
    }
    free(ids);

    /* stays */
    for (int si = 0; si < P->n_icu_subj; si++) {
        Subj *S = &P->subj[si];
        Rng r;
        rng_seed_stream(&r, seed, STREAM(STREAM_SUBJ, si) | 2ull << 38);
        double t = (double)year_start(S->anchor_year) + uni(&r, 0, 3) * YEAR;
        for (int j = 0; j < S->n_stays; j++) {
            int idx = S->first_stay + j;
            PStay *st = &P->stays[idx];
            Rng q;
            rng_seed_stream(&q, seed, STREAM(STREAM_STAY, idx));
            st->subj = si;
            /* phenotypes from the subject's factors plus this admission's own variation */
            for (int p = 0; p < CATALOG_N_PHENOTYPES; p++) {
                double x = L->bias[p] + 0.3 * rng_normal(&q);
                for (int k = 0; k < N_FACTORS; k++) {
                    double zk = 0.8 * S->z[k] + 0.6 * rng_normal(&q);
                    x += L->factor[p][k] * zk;
                }
                st->labels[p] = (uint8_t)rng_bernoulli(&q, sigmoid(x));
                st->expr[p] = (float)uni(&q, 0.3, 1.3);
            }
            for (int p = 0; p < CATALOG_N_PHENOTYPES; p++)
                for (int o = 0; o < CATALOG_N_PHENOTYPES; o++) {
                    double u = rng_uniform(&q);
                    if (st->labels[p] && st->labels[o] && L->excludes[p][o] > 0 && u < L->excludes[p][o])
                        st->labels[o] = 0;
                }
            double keep = 1 - L->vent[P_BASE_ICU], live = 1 - L->mort[P_BASE_ICU];
            for (int p = 0; p < CATALOG_N_PHENOTYPES; p++)
                if (st->labels[p]) keep *= 1 - L->vent[p], live *= 1 - L->mort[p];
            st->ventilated = rng_bernoulli(&q, 1 - keep);
            /* length of stay: log-normal, median ~2 days, longer when ventilated, capped */
            double los = exp(log(1.9) + 0.8 * rng_normal(&q)) * (st->ventilated ? 1.5 : 1.0);
            los = clampd(los, 0.3, 10.0);
            double admit = t, in = admit + uni(&q, 0.5, 30) * HOUR, out = in + los * DAY;
            double disch = out + uni(&q, 1, 8) * DAY;
            int last = j == S->n_stays - 1;
            int dies = last && rng_bernoulli(&q, fmin(0.6, 1 - live));
            double death = 0;
            if (dies) {
                if (rng_bernoulli(&q, 0.6)) disch = out; /* died in the unit */
                death = disch;
            }
            if (st->ventilated) {
                st->vent_from = uni(&q, 0, 0.15) * los * 24;
                st->vent_to = st->vent_from + uni(&q, 0.4, 1.0) * (los * 24 - st->vent_from);
            }
            StoreStay *s = &st->s;
            s->stay_id = 30000000 + (int64_t)idx * 9 + (int64_t)rng_below(&q, 9);
            s->subject_id = S->subject_id;
            s->hadm_id = 20000000 + (int64_t)idx * 11 + (int64_t)rng_below(&q, 11);
            const char *cu = pick_careunit(&q, st->labels);
            snprintf(s->first_careunit, sizeof s->first_careunit, "%s", cu);
            snprintf(s->last_careunit, sizeof s->last_careunit, "%s", cu);
            s->admittime = (int64_t)admit;
            s->intime = (int64_t)in;
            s->outtime = (int64_t)out;
            s->dischtime = (int64_t)disch;
            s->deathtime = (int64_t)death;
            s->los_days = (double)(s->outtime - s->intime) / DAY;
            s->age = S->anchor_age + (int)floor((admit - (double)year_start(S->anchor_year)) / YEAR);
            s->mortality_inhospital = dies;
            st->icd_version = rng_bernoulli(&q, 0.5) ? 9 : 10;
            for (int f = 0; f < N_FIND; f++) {
                st->find_u[f] = rng_uniform(&q);
                st->find_sev[f] = uni(&q, 0.35, 1.0);
            }
            t = disch + uni(&q, 20, 700) * DAY;
        }
    }

    /* radiograph studies of ICU subjects: during stays (AP portables, the pairs), in the ED just
     * before, and on the ward or in clinic before and after */
    for (int si = 0; si < P->n_icu_subj; si++) {
        Subj *S = &P->subj[si];
        Rng r;
        rng_seed_stream(&r, seed, STREAM(STREAM_SUBJ, si) | 3ull << 38);
        for (int j = 0; j < S->n_stays; j++) {
            PStay *st = &P->stays[S->first_stay + j];
            double p[N_FIND];
            int sick_chest = st->labels[PH_CHF] || st->labels[PH_PNEUMONIA] || st->labels[PH_PLEURISY];
            /* portable AP films are routine in the ICU (line and tube checks, daily films while
             * ventilated): about 45% of stays get one, so that the demo has ~1.5k pairs */
            double p_during = 0.25 + 0.45 * st->ventilated + 0.10 * sick_chest;
            if (rng_bernoulli(&r, p_during)) {
                stay_finding_p(L, st, 1, p);
                int m = 1 + (int)rng_below(&r, (uint64_t)fmin(5, 1 + st->s.los_days));
                double span = (double)(st->s.outtime - st->s.intime);
                for (int k = 0; k < m; k++) {
                    int64_t tt = st->s.intime + (int64_t)(span * uni(&r, 0.02, 0.98));
                    PsStatus rc = add_study(P, L, seed, si, SPLIT_NONE, tt, CXR_VIEW_AP,
                                            rng_bernoulli(&r, 0.08), p, st->find_u, st->find_sev, err);
                    if (rc) return rc;
                }
                S->any_during = 1;
            } else if (rng_bernoulli(&r, 0.04)) { /* a PA film during the stay: never a pair */
                stay_finding_p(L, st, 0, p);
                int64_t tt = st->s.intime + (int64_t)((double)(st->s.outtime - st->s.intime) * uni(&r, 0.1, 0.9));
                PsStatus rc = add_study(P, L, seed, si, SPLIT_NONE, tt, CXR_VIEW_PA, 1, p,
                                        st->find_u, st->find_sev, err);
                if (rc) return rc;
            }
            if (rng_bernoulli(&r, 0.25)) { /* in the ED, hours before the ICU: outside the window */
                stay_finding_p(L, st, 0, p);
                int64_t tt = st->s.intime - (int64_t)(uni(&r, 0.5, 12) * HOUR);
                PsStatus rc = add_study(P, L, seed, si, SPLIT_NONE, tt, CXR_VIEW_AP, 0, p,
                                        st->find_u, st->find_sev, err);
                if (rc) return rc;
            }
        }
        int k = rng_bernoulli(&r, 0.45) ? 0 : 1 + (int)rng_below(&r, 3);
        for (int i = 0; i < k; i++) {
            const PStay *st = &P->stays[S->first_stay + (int)rng_below(&r, (uint64_t)S->n_stays)];
            int after = rng_bernoulli(&r, 0.5) && !P->stays[S->first_stay + S->n_stays - 1].s.deathtime;
            int64_t tt = after ? st->s.dischtime + (int64_t)(uni(&r, 1, 700) * DAY)
                               : st->s.admittime - (int64_t)(uni(&r, 2, 700) * DAY);
            double p[N_FIND];
            outpatient_finding_p(L, st, p);
            int pa = rng_bernoulli(&r, 0.55);
            PsStatus rc = add_study(P, L, seed, si, SPLIT_NONE, tt,
                                    pa ? CXR_VIEW_PA : CXR_VIEW_AP,
                                    rng_bernoulli(&r, pa ? 0.85 : 0.1), p, NULL, NULL, err);
            if (rc) return rc;
        }
    }
    /* radiograph-only subjects: clinic and ward films, mostly PA with a lateral */
    for (int si = P->n_icu_subj; si < P->n_subj; si++) {
        Subj *S = &P->subj[si];
        Rng r;
        rng_seed_stream(&r, seed, STREAM(STREAM_SUBJ, si) | 3ull << 38);
        int k = 1 + (int)rng_below(&r, 3);
        double t = (double)year_start(S->anchor_year) + uni(&r, 0, 3) * YEAR;
        for (int i = 0; i < k; i++) {
            double p[N_FIND];
            outpatient_finding_p(L, NULL, p);
            int pa = rng_bernoulli(&r, 0.8);
            PsStatus rc = add_study(P, L, seed, si, SPLIT_TRAIN, (int64_t)t,
                                    pa ? CXR_VIEW_PA : CXR_VIEW_AP, rng_bernoulli(&r, pa ? 0.85 : 0.1),
                                    p, NULL, NULL, err);
            if (rc) return rc;
            t += uni(&r, 5, 500) * DAY;
        }
    }

    /* splits by subject, 70/10/20, stratified by "has an AP film inside a stay" so that every
     * split has pairs even in small cohorts */
    int *grp = malloc((size_t)P->n_icu_subj * sizeof *grp);
    int64_t *order = malloc((size_t)P->n_icu_subj * sizeof *order);
    if (!grp || !order) {
        free(grp);
        free(order);
        return ps_err(err, PS_ERR_NOMEM, "demo: out of memory");
    }
    Rng rs;
    rng_seed_stream(&rs, seed, STREAM(STREAM_SPLIT, 0));
    for (int g = 0; g < 2; g++) {
        int m = 0;
        for (int si = 0; si < P->n_icu_subj; si++)
            if (P->subj[si].any_during == g) order[m++] = si;
        rng_shuffle_i64(&rs, order, m);
        int n_val = (int)(0.1 * m + 0.5), n_test = (int)(0.2 * m + 0.5);
        if (m >= 3 && n_val == 0) n_val = 1;
        if (m >= 3 && n_test == 0) n_test = 1;
        for (int i = 0; i < m; i++)
            P->subj[order[i]].split = i < n_val ? SPLIT_VAL : i < n_val + n_test ? SPLIT_TEST : SPLIT_TRAIN;
    }
    free(grp);
    free(order);
    for (int si = 0; si < P->n_icu_subj; si++)
        for (int j = 0; j < P->subj[si].n_stays; j++)
            P->stays[P->subj[si].first_stay + j].s.split = P->subj[si].split;
    /* radiographs follow the subject's EHR split (formats.md section 4) */
    for (int i = 0; i < P->n_imgs; i++) {
        PImg *im = &P->imgs[i];
        if (im->split != SPLIT_NONE) continue;
        im->split = P->subj[im->subj].split;
    }
    return PS_OK;
}

static void plan_free(Plan *P)
{
    free(P->subj);
    free(P->stays);
    free(P->imgs);
}

/* ---- physiology --------------------------------------------------------------------------- */

/* A healthy-ish ICU adult: population mean, between-patient sd, within-stay sd, hourly AR(1)
 * correlation, plausible clip range, rounding step. Means follow normalizer_ph_ts1.0.json. */
typedef struct {
    int ch;
    double mean, between, within, rho, lo, hi, step;
} ChanModel;

static const ChanModel chan_models[] = {
    {CH_HR, 82, 12, 6, 0.8, 25, 220, 1},
    {CH_SBP, 121, 15, 9, 0.7, 50, 240, 1},
    {CH_DBP, 61, 9, 6, 0.7, 20, 140, 1},
    {CH_RR, 18.5, 3.5, 3, 0.6, 4, 55, 1},
    {CH_SPO2, 97.8, 1.5, 1.3, 0.6, 60, 100, 1},
    {CH_TEMP, 36.8, 0.35, 0.3, 0.7, 33, 42, 0.1},
    {CH_GLUCOSE, 128, 22, 25, 0.5, 40, 700, 1},
    {CH_PH, 7.39, 0.03, 0.03, 0.6, 6.85, 7.65, 0.01},
    {CH_FIO2, 0.40, 0.07, 0.07, 0.8, 0.25, 1.0, 0.05}, /* above 0.21 with margin: values are stored as float */
};
enum { N_CHAN_MODELS = sizeof chan_models / sizeof chan_models[0] };

typedef struct {
    Store *st;
    int64_t stay_id;
    int64_t n_events;
    PsStatus rc;
} EventSink;

static void emit(EventSink *k, double hours, int ch, double value, const char *text)
{
    if (k->rc) return;
    StoreEvent e = {k->stay_id, (float)hours, ch, (float)value, text};
    k->rc = store_put_event(k->st, &e);
    k->n_events++;
}

static double round_to(double x, double step)
{
    return round(x / step) * step;
}

/* The phenotype-driven shift of channel ch at hour t; acute phenotypes fade toward recovery. */
static double shift(const Links *L, const PStay *s, int ch, double t)
{
    double d = 0;
    for (int p = 0; p < CATALOG_N_PHENOTYPES; p++) {
        if (!s->labels[p] || L->vital[p][ch] == 0) continue;
        double k = catalog_phenotypes[p].group == PHENO_ACUTE ? 0.5 + 0.5 * exp(-t / 36.0) : 1.0;
        d += L->vital[p][ch] * s->expr[p] * k;
    }
    return d;
}

/* Sample times: every `every` hours (+- jitter) from `start`, each dropped with p_miss, and
 * nothing inside the stay's gaps (transport, procedures). */
static int schedule(Rng *r, double *t, int max, double los_h, double every, double jitter,
                    double start, double p_miss, const double *gaps, int n_gaps)
{
    int n = 0;
    for (double h = start; h <= los_h && n < max; h += every) {
        double x = h + (jitter > 0 ? uni(r, -jitter, jitter) : 0);
        if (x < 0 || x > los_h || rng_bernoulli(r, p_miss)) continue;
        int in_gap = 0;
        for (int g = 0; g < n_gaps; g++) in_gap |= x >= gaps[2 * g] && x < gaps[2 * g + 1];
        if (!in_gap) t[n++] = x;
    }
    return n;
}

/* AR(1) noise at irregular times, correlation rho per hour. */
static void ar_noise(Rng *r, const double *t, int n, double rho, double sd, double *x)
{
    for (int i = 0; i < n; i++) {
        if (i == 0) {
            x[i] = sd * rng_normal(r);
        } else {
            double c = pow(rho, fmax(t[i] - t[i - 1], 0.0));
            x[i] = c * x[i - 1] + sqrt(1 - c * c) * sd * rng_normal(r);
        }
    }
}

static const char *const gcs_eye_num[] = {"1 No Response", "2 To pain", "3 To speech", "4 Spontaneously"};
static const char *const gcs_eye_word[] = {"1 No Response", "To Pain", "To Speech", "Spontaneously"};
static const char *const gcs_motor_num[] = {"1 No Response",    "2 Abnorm extensn", "3 Abnorm flexion",
                                            "4 Flex-withdraws", "5 Localizes Pain", "6 Obeys Commands"};
static const char *const gcs_motor_word[] = {"No response",    "Abnormal extension", "Abnormal Flexion",
                                             "Flex-withdraws", "Localizes Pain",     "Obeys Commands"};
static const char *const gcs_verbal_num[] = {"1 No Response", "2 Incomp sounds", "3 Inapprop words",
                                             "4 Confused", "5 Oriented"};
static const char *const gcs_verbal_word[] = {"No Response", "Incomprehensible sounds", "Inappropriate Words",
                                              "Confused", "Oriented"};
static const char *const gcs_total_text[] = {"3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"};

static void emit_cat(EventSink *k, double h, int ch, const char *text)
{
    int idx = catalog_category_index(ch, text);
    if (idx < 0) {
        if (!k->rc) k->rc = PS_ERR_INVALID; /* a table above disagrees with the catalog */
        return;
    }
    emit(k, h, ch, catalog_channels[ch].categories[idx].score, text);
}

enum { MAX_T = 1024 };

static PsStatus gen_events(Store *st, const Links *L, const PStay *s, const Subj *S, uint64_t seed,
                           int stay_index, int64_t *n_events)
{
    Rng r;
    rng_seed_stream(&r, seed, STREAM(STREAM_EVENTS, stay_index));
    EventSink k = {st, s->s.stay_id, 0, PS_OK};
    double los_h = s->s.los_days * 24.0;
    double gaps[6];
    int n_gaps = (int)rng_below(&r, 3);
    for (int g = 0; g < n_gaps; g++) {
        gaps[2 * g] = uni(&r, 0, los_h);
        gaps[2 * g + 1] = gaps[2 * g] + uni(&r, 1.5, 5);
    }
    double *t = malloc(MAX_T * sizeof *t), *x = malloc(MAX_T * sizeof *x), *x2 = malloc(MAX_T * sizeof *x2);
    if (!t || !x || !x2) {
        free(t), free(x), free(x2);
        return PS_ERR_NOMEM;
    }
    double re[CATALOG_N_CHANNELS] = {0}; /* this patient's own level */
    for (int i = 0; i < N_CHAN_MODELS; i++) re[chan_models[i].ch] = chan_models[i].between * rng_normal(&r);

    /* the bedside monitor: hourly HR, BP, RR, SpO2 with gaps */
    int n = schedule(&r, t, MAX_T, los_h, 1.0, 0.0, uni(&r, 0, 0.9), 0.06, gaps, n_gaps);
    for (int i = 0; i < n; i++)
        if (rng_bernoulli(&r, 0.3)) t[i] = fmin(los_h, t[i] + uni(&r, 0, 0.5)); /* off-hour charting */
    const int monitor[] = {CH_HR, CH_SBP, CH_DBP, CH_RR, CH_SPO2};
    double sbp[MAX_T] = {0}, dbp[MAX_T] = {0};
    int have_bp[MAX_T] = {0};
    for (int m = 0; m < 5; m++) {
        const ChanModel *cm = NULL;
        for (int i = 0; i < N_CHAN_MODELS; i++)
            if (chan_models[i].ch == monitor[m]) cm = &chan_models[i];
        ar_noise(&r, t, n, cm->rho, cm->within, x);
        double p_drop = monitor[m] == CH_RR ? 0.06 : monitor[m] == CH_SPO2 ? 0.05 : 0.02;
        for (int i = 0; i < n; i++) {
            double v = cm->mean + re[cm->ch] + shift(L, s, cm->ch, t[i]) + x[i];
            v = clampd(round_to(v, cm->step), cm->lo, cm->hi);
            if (cm->ch == CH_SBP) sbp[i] = v;
            if (cm->ch == CH_DBP) dbp[i] = v, have_bp[i] = !rng_bernoulli(&r, p_drop);
            if (cm->ch == CH_SBP || cm->ch == CH_DBP) continue; /* written together below */
            if (!rng_bernoulli(&r, p_drop)) emit(&k, t[i], cm->ch, v, NULL);
        }
    }
    for (int i = 0; i < n; i++) {
        if (!have_bp[i]) continue;
        if (dbp[i] > sbp[i] - 15) dbp[i] = sbp[i] - 15;
        /* the monitor's mean pressure: about (S + 2D) / 3, shifted where a phenotype moves MAP
         * beyond what it does to S and D */
        double extra = shift(L, s, CH_MBP, t[i]) - (shift(L, s, CH_SBP, t[i]) + 2 * shift(L, s, CH_DBP, t[i])) / 3;
        double map = round((sbp[i] + 2 * dbp[i]) / 3 + extra + 2 * rng_normal(&r));
        map = clampd(map, dbp[i], sbp[i]);
        emit(&k, t[i], CH_SBP, sbp[i], NULL);
        emit(&k, t[i], CH_DBP, dbp[i], NULL);
        emit(&k, t[i], CH_MBP, map, NULL);
    }

    /* temperature every ~4 h; glucose every 3-8 h; pH when sick enough for blood gases */
    struct {
        int ch;
        double every, jitter, p_miss;
    } sparse[] = {
        {CH_TEMP, 4, 0.6, 0.08},
        {CH_GLUCOSE, (s->labels[PH_DM] || s->labels[PH_DM_COMP]) ? 4 : uni(&r, 5, 8), 1.0, 0.1},
        {CH_PH, uni(&r, 5, 10), 1.5, 0.1},
    };
    int gases = s->ventilated || s->labels[PH_SHOCK] || s->labels[PH_SEPSIS] || s->labels[PH_ARF] ||
                rng_bernoulli(&r, 0.2);
    for (int q = 0; q < 3; q++) {
        if (sparse[q].ch == CH_PH && !gases) continue;
        const ChanModel *cm = NULL;
        for (int i = 0; i < N_CHAN_MODELS; i++)
            if (chan_models[i].ch == sparse[q].ch) cm = &chan_models[i];
        int m = schedule(&r, t, MAX_T, los_h, sparse[q].every, sparse[q].jitter,
                         uni(&r, 0, sparse[q].every / 2), sparse[q].p_miss, gaps, n_gaps);
        ar_noise(&r, t, m, cm->rho, cm->within, x);
        for (int i = 0; i < m; i++) {
            double v = cm->mean + re[cm->ch] + shift(L, s, cm->ch, t[i]) + x[i];
            emit(&k, t[i], cm->ch, clampd(round_to(v, cm->step), cm->lo, cm->hi), NULL);
        }
    }
    /* FiO2 while ventilated (a few on supplemental oxygen otherwise) */
    {
        const ChanModel *cm = NULL;
        for (int i = 0; i < N_CHAN_MODELS; i++)
            if (chan_models[i].ch == CH_FIO2) cm = &chan_models[i];
        int m = 0;
        if (s->ventilated) {
            m = schedule(&r, t, MAX_T, s->vent_to, uni(&r, 1.5, 4), 0.5, s->vent_from, 0.1, gaps, n_gaps);
        } else if (rng_bernoulli(&r, 0.06)) {
            m = 1 + (int)rng_below(&r, 2);
            for (int i = 0; i < m; i++) t[i] = uni(&r, 0, los_h);
            if (m == 2 && t[1] < t[0]) { double tmp = t[0]; t[0] = t[1]; t[1] = tmp; }
        }
        ar_noise(&r, t, m, cm->rho, cm->within, x);
        for (int i = 0; i < m; i++) {
            double base = s->ventilated ? cm->mean + re[CH_FIO2] : 0.28;
            double v = base + (s->ventilated ? shift(L, s, CH_FIO2, t[i]) : 0) + x[i];
            emit(&k, t[i], CH_FIO2, clampd(round_to(v, cm->step), cm->lo, cm->hi), NULL);
        }
    }
    /* Glasgow coma scale every ~4 h: components always, the total at about 60% of times; two
     * charting styles as in the real data ("4 Spontaneously" and "Spontaneously") */
    {
        int numbered = rng_bernoulli(&r, 0.6);
        double base = 15 - fabs(rng_normal(&r)) * 1.5;
        int m = schedule(&r, t, MAX_T, los_h, 4, 0.7, uni(&r, 0, 2), 0.05, gaps, n_gaps);
        ar_noise(&r, t, m, 0.8, 1.0, x);
        for (int i = 0; i < m; i++) {
            int intubated = s->ventilated && t[i] >= s->vent_from && t[i] <= s->vent_to;
            double g = base + shift(L, s, CH_GCS_TOTAL, t[i]) + x[i] - (intubated ? 4 : 0);
            int total = (int)clampd(round(g), 3, 15);
            double fr = (total - 3) / 12.0;
            int eye = (int)clampd(round(1 + 3 * fr + 0.4 * rng_normal(&r)), 1, 4);
            int motor = (int)clampd(round(1 + 5 * fr + 0.4 * rng_normal(&r)), 1, 6);
            int verbal = (int)clampd(total - eye - motor, 1, 5);
            if (intubated) verbal = 1;
            total = eye + motor + verbal;
            /* the tables through pointers: gcc 12's UBSan misreports (c ? a : b)[i] */
            const char *const *eyes = numbered ? gcs_eye_num : gcs_eye_word;
            const char *const *motors = numbered ? gcs_motor_num : gcs_motor_word;
            const char *const *verbals = numbered ? gcs_verbal_num : gcs_verbal_word;
            emit_cat(&k, t[i], CH_GCS_EYE, eyes[eye - 1]);
            emit_cat(&k, t[i], CH_GCS_MOTOR, motors[motor - 1]);
            emit_cat(&k, t[i], CH_GCS_VERBAL,
                     intubated ? (numbered ? "1.0 ET/Trach" : "No Response-ETT")
                               : verbals[verbal - 1]);
            if (rng_bernoulli(&r, 0.6)) emit_cat(&k, t[i], CH_GCS_TOTAL, gcs_total_text[total - 3]);
        }
    }
    /* capillary refill, rarely charted; delayed more often in shock */
    if (rng_bernoulli(&r, s->labels[PH_SHOCK] ? 0.3 : 0.06)) {
        int m = 1 + (int)rng_below(&r, 3);
        double p_slow = 0.04 + shift(L, s, CH_CRR, 0);
        for (int i = 0; i < m; i++) emit_cat(&k, uni(&r, 0, los_h), CH_CRR, rng_bernoulli(&r, p_slow) ? "1.0" : "0.0");
    }
    /* height once in some stays; weight at admission and sometimes again */
    int male = S->gender == 'M';
    double height = (male ? 176 : 162) + 7 * rng_normal(&r);
    if (rng_bernoulli(&r, 0.25)) emit(&k, uni(&r, 0, fmin(2, los_h)), CH_HEIGHT, round(clampd(height, 140, 205)), NULL);
    double weight = (male ? 86 : 74) + 0.9 * (height - (male ? 176 : 162)) + 17 * rng_normal(&r) +
                    shift(L, s, CH_WEIGHT, 0);
    weight = clampd(weight, 38, 220);
    if (rng_bernoulli(&r, 0.7)) {
        emit(&k, uni(&r, 0, fmin(2, los_h)), CH_WEIGHT, round_to(weight, 0.1), NULL);
        if (los_h > 24 && rng_bernoulli(&r, 0.3))
            emit(&k, uni(&r, 24, los_h), CH_WEIGHT, round_to(weight + 1.5 * rng_normal(&r), 0.1), NULL);
    }
    free(t), free(x), free(x2);
    *n_events += k.n_events;
    return k.rc;
}

/* ---- drawing pool ------------------------------------------------------------------------- */

enum { POOL_WINDOW = 256, POOL_MAX_THREADS = 16 };

typedef struct {
    const PImg *imgs;
    int n, size, quality;
    pthread_mutex_t mu;
    pthread_cond_t done_cv, space_cv;
    int next, written, stop;
    unsigned char **jpeg; /* per image, NULL until drawn */
    size_t *jpeg_size;
    char *ready;
    PsStatus rc; /* first failure */
    PsErr err;
} Pool;

static void *pool_worker(void *arg)
{
    Pool *p = arg;
    unsigned char *pix = malloc((size_t)p->size * (size_t)p->size);
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->next < p->n && p->next >= p->written + POOL_WINDOW)
            pthread_cond_wait(&p->space_cv, &p->mu);
        if (p->stop || p->next >= p->n) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        int i = p->next++;
        pthread_mutex_unlock(&p->mu);

        const PImg *im = &p->imgs[i];
        CxrSpec spec;
        memset(&spec, 0, sizeof spec);
        spec.seed = im->draw_seed;
        spec.view = im->view;
        for (int f = 0; f < CATALOG_N_CHEXPERT; f++) spec.finding[f] = im->sev[f];
        spec.hyperinflation = im->sev[F_HYPER];
        PsErr err = {{0}};
        unsigned char *jpg = NULL;
        size_t jsz = 0;
        PsStatus rc = pix ? PS_OK : ps_err(&err, PS_ERR_NOMEM, "demo: no memory for an image");
        if (!rc) rc = cxr_synth_draw(pix, p->size, p->size, &spec, NULL, &err);
        if (!rc) rc = jpeg_encode_gray(&jpg, &jsz, pix, p->size, p->size, p->quality, &err);

        pthread_mutex_lock(&p->mu);
        p->jpeg[i] = jpg;
        p->jpeg_size[i] = jsz;
        p->ready[i] = 1;
        if (rc && !p->rc) {
            p->rc = rc;
            p->err = err;
            p->stop = 1;
            pthread_cond_broadcast(&p->space_cv);
        }
        pthread_cond_broadcast(&p->done_cv);
        pthread_mutex_unlock(&p->mu);
    }
    free(pix);
    return NULL;
}

/* ---- writing ------------------------------------------------------------------------------ */

static int cancelled(const DemoConfig *cfg)
{
    return cfg->cancel && *cfg->cancel;
}

static void progress(const DemoConfig *cfg, const char *phase, int64_t done, int64_t total)
{
    if (cfg->progress) cfg->progress(cfg->progress_ctx, phase, done, total);
}

#define TRY(expr)                                                                                \
    do {                                                                                         \
        if ((rc = (expr)) != PS_OK) goto fail;                                                   \
    } while (0)

/* Patients, ICD titles, stays with their labels, diagnoses and events: batches of stays, one
 * transaction each. */
static PsStatus write_ehr(Store *st, const Plan *P, const Links *L, const IcdTable *icd,
                          const DemoConfig *cfg, DemoSummary *sum, int64_t *with_events, PsErr *err)
{
    PsStatus rc = PS_OK;
    int in_tx = 0;
    TRY(store_begin(st));
    in_tx = 1;
    for (int i = 0; i < icd->n; i++)
        TRY(store_put_icd_title(st, icd->rows[i].code, icd->rows[i].version, icd->rows[i].title));
    for (int i = 0; i < P->n_subj; i++) {
        const Subj *S = &P->subj[i];
        StorePatient p = {S->subject_id, S->gender, S->anchor_age, S->anchor_year};
        TRY(store_put_patient(st, &p));
    }
    TRY(store_commit(st));
    in_tx = 0;
    const int batch = 100;
    for (int b = 0; b < P->n_stays; b += batch) {
        if (cancelled(cfg)) {
            rc = ps_err(err, PS_ERR_CANCELLED, "demo: cancelled");
            goto done;
        }
        TRY(store_begin(st));
        in_tx = 1;
        for (int i = b; i < P->n_stays && i < b + batch; i++) {
            const PStay *s = &P->stays[i];
            TRY(store_put_stay(st, &s->s));
            TRY(store_put_labels(st, s->s.stay_id, s->labels));
            /* one code per phenotype in the admission's ICD version, then one or two others */
            int seq = 1;
            Rng r;
            rng_seed_stream(&r, cfg->seed, STREAM(STREAM_STAY, i) | 1ull << 39);
            for (int p = 0; p < CATALOG_N_PHENOTYPES; p++) {
                if (!s->labels[p]) continue;
                for (int j = 0; j < icd->n; j++) {
                    if (icd->rows[j].phenotype != p || icd->rows[j].version != s->icd_version) continue;
                    StoreDiagnosis d = {s->s.subject_id, s->s.hadm_id, seq++, "", s->icd_version};
                    snprintf(d.icd_code, sizeof d.icd_code, "%s", icd->rows[j].code);
                    TRY(store_put_diagnosis(st, &d));
                    break;
                }
            }
            int fillers[MAX_ICD], nf = 0;
            for (int j = 0; j < icd->n; j++)
                if (icd->rows[j].phenotype < 0 && icd->rows[j].version == s->icd_version) fillers[nf++] = j;
            int want = (int)rng_below(&r, 3);
            for (int j = 0; j < nf && want > 0; j++) {
                if (!rng_bernoulli(&r, 0.5)) continue;
                want--;
                StoreDiagnosis d = {s->s.subject_id, s->s.hadm_id, seq++, "", s->icd_version};
                snprintf(d.icd_code, sizeof d.icd_code, "%s", icd->rows[fillers[j]].code);
                TRY(store_put_diagnosis(st, &d));
            }
            int64_t before = sum->events;
            rc = gen_events(st, L, s, &P->subj[s->subj], cfg->seed, i, &sum->events);
            *with_events += sum->events > before;
            if (rc == PS_ERR_INVALID) {
                rc = ps_err(err, rc, "demo: a GCS text is not in the catalog (internal error)");
                goto done;
            }
            if (rc == PS_ERR_NOMEM) {
                rc = ps_err(err, rc, "demo: out of memory");
                goto done;
            }
            if (rc) goto fail;
        }
        TRY(store_commit(st));
        in_tx = 0;
        progress(cfg, "stays", b + batch < P->n_stays ? b + batch : P->n_stays, P->n_stays);
    }
    return PS_OK;
fail:
    rc = ps_err(err, rc, "%s", store_errmsg(st));
done:
    if (in_tx) store_rollback(st);
    return rc;
}

typedef struct {
    Pool pool;
    pthread_t th[POOL_MAX_THREADS];
    int started;
} Drawing;

/* Starts the drawing threads, so images are drawn while the stays are being written. */
static PsStatus drawing_start(Drawing *d, const Plan *P, const DemoConfig *cfg, PsErr *err)
{
    Pool *pool = &d->pool;
    memset(d, 0, sizeof *d);
    pool->imgs = P->imgs;
    pool->n = P->n_imgs;
    pool->size = cfg->image_size;
    pool->quality = cfg->jpeg_quality;
    pool->jpeg = calloc((size_t)P->n_imgs + 1, sizeof *pool->jpeg);
    pool->jpeg_size = calloc((size_t)P->n_imgs + 1, sizeof *pool->jpeg_size);
    pool->ready = calloc((size_t)P->n_imgs + 1, 1);
    if (!pool->jpeg || !pool->jpeg_size || !pool->ready) {
        free(pool->jpeg), free(pool->jpeg_size), free(pool->ready);
        memset(d, 0, sizeof *d);
        return ps_err(err, PS_ERR_NOMEM, "demo: out of memory for %d radiographs", P->n_imgs);
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->done_cv, NULL);
    pthread_cond_init(&pool->space_cv, NULL);

    int nt = cfg->threads;
    if (nt <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        nt = c > 0 ? (int)c : 1;
    }
    if (nt > POOL_MAX_THREADS) nt = POOL_MAX_THREADS;
    /* workers never see SIGINT/SIGTERM: the caller's thread handles them */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGWINCH);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    for (int i = 0; i < nt; i++)
        if (pthread_create(&d->th[d->started], NULL, pool_worker, pool) == 0) d->started++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (!d->started) return ps_err(err, PS_ERR_NOMEM, "demo: cannot start drawing threads");
    return PS_OK;
}

/* Stops and joins the threads and frees what was drawn but not written. Safe after a failed or
 * partial start. */
static void drawing_stop(Drawing *d, int n_imgs)
{
    Pool *pool = &d->pool;
    if (!pool->jpeg) return;
    pthread_mutex_lock(&pool->mu);
    pool->stop = 1;
    pthread_cond_broadcast(&pool->space_cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < d->started; i++) pthread_join(d->th[i], NULL);
    for (int i = 0; i < n_imgs; i++) free(pool->jpeg[i]);
    free(pool->jpeg), free(pool->jpeg_size), free(pool->ready);
    pthread_mutex_destroy(&pool->mu);
    pthread_cond_destroy(&pool->done_cv);
    pthread_cond_destroy(&pool->space_cv);
    memset(d, 0, sizeof *d);
}

/* Writes the radiographs in plan order as the threads finish them, batches of 200 per
 * transaction. */
static PsStatus write_radiographs(Store *st, const Plan *P, const DemoConfig *cfg, Drawing *d, PsErr *err)
{
    Pool *pp = &d->pool;
#define pool (*pp)
    PsStatus rc = PS_OK;
    int in_tx = 0;
    const int batch = 200;
    for (int i = 0; i < P->n_imgs && !rc; i++) {
        pthread_mutex_lock(&pool.mu);
        while (!pool.ready[i] && !pool.rc) pthread_cond_wait(&pool.done_cv, &pool.mu);
        if (pool.rc && !pool.ready[i]) {
            rc = ps_err(err, pool.rc, "%s", pool.err.msg);
            pthread_mutex_unlock(&pool.mu);
            break;
        }
        unsigned char *jpg = pool.jpeg[i];
        size_t jsz = pool.jpeg_size[i];
        pool.jpeg[i] = NULL;
        pool.written = i + 1;
        pthread_cond_broadcast(&pool.space_cv);
        pthread_mutex_unlock(&pool.mu);
        if (!jpg) {
            rc = ps_err(err, pool.rc ? pool.rc : PS_ERR_INVALID, "%s", pool.err.msg);
            break;
        }
        if (!in_tx) {
            if (cancelled(cfg)) {
                free(jpg);
                rc = ps_err(err, PS_ERR_CANCELLED, "demo: cancelled");
                break;
            }
            if ((rc = store_begin(st))) {
                free(jpg);
                rc = ps_err(err, rc, "%s", store_errmsg(st));
                break;
            }
            in_tx = 1;
        }
        const PImg *im = &P->imgs[i];
        static const char *const view_names[] = {"PA", "AP", "LATERAL"};
        StoreRadiograph r;
        memset(&r, 0, sizeof r);
        snprintf(r.dicom_id, sizeof r.dicom_id, "%s", im->dicom_id);
        r.subject_id = im->subject_id;
        r.study_id = im->study_id;
        r.study_time = im->study_time;
        snprintf(r.view, sizeof r.view, "%s", view_names[im->view]);
        memcpy(r.chexpert, im->chex, sizeof r.chexpert);
        r.split = im->split;
        r.width = r.height = cfg->image_size;
        r.jpeg = jpg;
        r.jpeg_size = jsz;
        rc = store_put_radiograph(st, &r);
        free(jpg);
        if (rc) {
            rc = ps_err(err, rc, "%s", store_errmsg(st));
            break;
        }
        if ((i + 1) % batch == 0 || i + 1 == P->n_imgs) {
            if ((rc = store_commit(st))) {
                in_tx = 0;
                rc = ps_err(err, rc, "%s", store_errmsg(st));
                break;
            }
            in_tx = 0;
            progress(cfg, "radiographs", i + 1, P->n_imgs);
        }
    }
    if (in_tx) store_rollback(st);
#undef pool
    return rc;
}

void demo_config_init(DemoConfig *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->n_stays = DEMO_DEFAULT_STAYS;
    cfg->seed = DEMO_DEFAULT_SEED;
    cfg->image_size = CXR_SYNTH_DEFAULT_SIZE;
    cfg->jpeg_quality = 85;
}

PsStatus demo_store_rows(Store *st, int64_t *rows, PsErr *err)
{
    PS_CHECK(err, st && rows);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(store_db(st),
                                "SELECT (SELECT count(*) FROM patients) + (SELECT count(*) FROM stays)"
                                " + (SELECT count(*) FROM radiographs)",
                                -1, &s, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        *rows = sqlite3_column_int64(s, 0);
        rc = SQLITE_OK;
    }
    PsStatus out = PS_OK;
    if (rc != SQLITE_OK)
        out = ps_err(err, store_status_from_sqlite(rc), "%s: %s", store_path(st),
                     sqlite3_errmsg(store_db(st)));
    sqlite3_finalize(s);
    return out;
}

PsStatus demo_generate(Store *st, const DemoConfig *cfg, DemoSummary *sum_out, PsErr *err)
{
    PS_CHECK(err, st && cfg);
    if (cfg->n_stays < 1 || cfg->n_stays > DEMO_MAX_STAYS)
        return ps_err(err, PS_ERR_INVALID, "demo: the number of stays must be 1..%d, not %d",
                      DEMO_MAX_STAYS, cfg->n_stays);
    if (cfg->image_size < CXR_SYNTH_MIN_SIZE || cfg->image_size > 4096 || cfg->jpeg_quality < 1 ||
        cfg->jpeg_quality > 100)
        return ps_err(err, PS_ERR_INVALID, "demo: image size %d or JPEG quality %d out of range",
                      cfg->image_size, cfg->jpeg_quality);
    int64_t rows = 0;
    PsStatus rc = demo_store_rows(st, &rows, err);
    if (rc) return rc;
    if (rows) return ps_err(err, PS_ERR_INVALID, "%s already holds a cohort (%lld rows)", store_path(st), (long long)rows);

    Links *L = malloc(sizeof *L);
    IcdTable *icd = malloc(sizeof *icd);
    Drawing *draw = calloc(1, sizeof *draw);
    Plan P;
    memset(&P, 0, sizeof P);
    DemoSummary sum;
    memset(&sum, 0, sizeof sum);
    if (!L || !icd || !draw) {
        rc = ps_err(err, PS_ERR_NOMEM, "demo: out of memory");
        goto done;
    }
    if ((rc = links_load(L, err)) || (rc = icd_load(icd, err))) goto done;
    if ((rc = build_plan(&P, L, cfg, err))) goto done;
    sum.subjects = P.n_subj;
    sum.stays = P.n_stays;
    sum.radiographs = P.n_imgs;
    sum.studies = P.n_studies;
    progress(cfg, "stays", 0, P.n_stays);
    if ((rc = drawing_start(draw, &P, cfg, err))) goto done;
    int64_t with_events = 0;
    if ((rc = write_ehr(st, &P, L, icd, cfg, &sum, &with_events, err))) goto done;
    progress(cfg, "radiographs", 0, P.n_imgs);
    if ((rc = write_radiographs(st, &P, cfg, draw, err))) goto done;
    drawing_stop(draw, P.n_imgs);
    progress(cfg, "pairs", 0, 1);
    if ((rc = store_recompute_pairs(st))) {
        rc = ps_err(err, rc, "%s", store_errmsg(st));
        goto done;
    }
    StoreSplitCounts c[STORE_N_SPLITS];
    if ((rc = store_split_counts(st, c))) {
        rc = ps_err(err, rc, "%s", store_errmsg(st));
        goto done;
    }
    for (int i = 0; i < STORE_N_SPLITS; i++) sum.pairs += c[i].n_pairs;
    {
        int64_t adults = 0;
        for (int i = 0; i < P.n_stays; i++) adults += P.stays[i].s.age >= 18;
        if (adults > with_events) adults = with_events; /* every stay here has events; keep the funnel monotone regardless */
        char detail[160];
        snprintf(detail, sizeof detail, "seed=%llu stays=%d version=%s image=%d",
                 (unsigned long long)cfg->seed, cfg->n_stays, PS_VERSION, cfg->image_size);
        if ((rc = store_begin(st))) {
            rc = ps_err(err, rc, "%s", store_errmsg(st));
            goto done;
        }
        if ((rc = store_put_source(st, "demo", detail)) ||
            (rc = store_put_funnel(st, "demo", 0, "synthetic ICU stays generated", P.n_stays)) ||
            (rc = store_put_funnel(st, "demo", 1, "with physiological events", with_events)) ||
            (rc = store_put_funnel(st, "demo", 2, "adults (age >= 18)", adults)) ||
            (rc = store_put_funnel(st, "demo", 3, "paired with an AP radiograph taken during the stay", sum.pairs)) ||
            (rc = store_commit(st))) {
            rc = ps_err(err, rc, "%s", store_errmsg(st));
            store_rollback(st);
            goto done;
        }
    }
    progress(cfg, "pairs", 1, 1);
done:
    if (sum_out) *sum_out = sum;
    if (draw) drawing_stop(draw, P.n_imgs);
    free(draw);
    plan_free(&P);
    free(L);
    free(icd);
    return rc;
}

/* ---- temporary files of interrupted runs -------------------------------------------------- */

#define TEMP_TAG ".demo-tmp-"

PsStatus demo_temp_path(char *dst, size_t n, const char *store_path, long pid, PsErr *err)
{
    int k = snprintf(dst, n, "%s" TEMP_TAG "%ld", store_path, pid);
    if (k < 0 || (size_t)k >= n) return ps_err(err, PS_ERR_INVALID, "%s: path too long", store_path);
    return PS_OK;
}

/* The pid in a directory entry named "<base>.demo-tmp-<pid>[-wal|-shm|-journal]", else 0. */
static long temp_pid(const char *name, const char *base)
{
    size_t bl = strlen(base), tl = strlen(TEMP_TAG);
    if (strncmp(name, base, bl) != 0 || strncmp(name + bl, TEMP_TAG, tl) != 0) return 0;
    const char *d = name + bl + tl, *e = d;
    long pid = 0;
    while (*e >= '0' && *e <= '9' && e - d < 10) pid = pid * 10 + (*e++ - '0');
    if (e == d || pid <= 0) return 0;
    if (*e && strcmp(e, "-wal") != 0 && strcmp(e, "-shm") != 0 && strcmp(e, "-journal") != 0) return 0;
    return pid;
}

PsStatus demo_remove_stale_temps(const char *store_path, int *removed, PsErr *err)
{
    if (removed) *removed = 0;
    char dir[4096];
    const char *slash = strrchr(store_path, '/'), *base = slash ? slash + 1 : store_path;
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == store_path) snprintf(dir, sizeof dir, "/");
    else if (snprintf(dir, sizeof dir, "%.*s", (int)(slash - store_path), store_path) >= (int)sizeof dir)
        return ps_err(err, PS_ERR_INVALID, "%s: path too long", store_path);
    DIR *dp = opendir(dir);
    if (!dp) {
        if (errno == ENOENT) return PS_OK; /* no directory yet: nothing left behind */
        return ps_err(err, PS_ERR_IO, "%s: cannot read the directory: %s", dir, strerror(errno));
    }
    PsStatus rc = PS_OK;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        long pid = temp_pid(de->d_name, base);
        /* kill(pid, 0) fails with ESRCH only when no such process exists; EPERM means it
         * exists under another user, so the file may be in use */
        if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char path[4400];
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path) continue;
        if (unlink(path) == 0) {
            if (removed) (*removed)++;
        } else if (errno != ENOENT && !rc) {
            rc = ps_err(err, PS_ERR_IO, "cannot remove %s, left by an interrupted demo: %s", path,
                        strerror(errno));
        }
    }
    closedir(dp);
    return rc;
}
