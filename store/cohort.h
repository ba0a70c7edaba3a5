/* cohort.h — the cohort as one flat table for browsing: one row per ICU stay.
 *
 * One SQL query returns every stay with what the cohort screen shows (subject, age, sex, unit,
 * length of stay, radiographs during the stay, whether one is paired, split, positive
 * phenotypes). Sorting, filtering and search happen in memory in ui/, so they cost no query.
 */
#ifndef COHORT_H
#define COHORT_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define COHORT_UNIT_MAX 64

typedef struct {
    int64_t stay_id, subject_id;
    int age;                     /* years at admission; -1 unknown */
    char gender;                 /* 'M', 'F' or '?' */
    char unit[COHORT_UNIT_MAX];  /* first care unit as stored (not sanitised: callers showing it
                                    on a terminal must sanitise) */
    double los_days;             /* length of stay; negative when unknown */
    int n_cxr;                   /* radiographs of the subject taken during the stay */
    int paired;                  /* 1: the stay has a paired radiograph (the paper's rule) */
    int split;                   /* Split */
    int n_pos;                   /* positive phenotypes; -1 when the stay has no labels */
    uint32_t pheno_mask;         /* bit i set: phenotype i (catalog order) positive */
} CohortRow;

typedef struct {
    char source[64];
    int step;
    char rule[160]; /* as stored (callers sanitise) */
    int64_t count;
} CohortFunnelStep;

/* Every stay in stay_id order. *rows is malloc'd (free with free(); NULL when there are no
 * stays), *n its length. On failure store_errmsg(st) says why. */
PsStatus store_cohort_load(Store *st, CohortRow **rows, size_t *n);

/* The cohort funnel in (source, step) order. *steps is malloc'd (free with free()). */
PsStatus store_cohort_funnel(Store *st, CohortFunnelStep **steps, size_t *n);

#endif
