/* screen_cohort.h — the cohort browser's table model, exposed for tests.
 *
 * The screen itself is `screen_cohort` (declared in app.h). The model — filters, search,
 * ordering and cell text over CohortRow — is plain data plus the TableSpec below, so
 * tests/test_table.c can drive it over synthetic cohorts without a terminal.
 */
#ifndef SCREEN_COHORT_H
#define SCREEN_COHORT_H

#include <stddef.h>
#include <stdint.h>

#include "store/cohort.h"
#include "ui/table.h"

enum {
    COHORT_COL_STAY = 0,
    COHORT_COL_SUBJECT,
    COHORT_COL_AGE,
    COHORT_COL_SEX,
    COHORT_COL_UNIT,
    COHORT_COL_LOS,
    COHORT_COL_CXR,
    COHORT_COL_SPLIT,
    COHORT_COL_NPOS,
    COHORT_COL_PHENOTYPES,
    COHORT_N_COLS
};

#define COHORT_SPLIT_ALL (-2)
#define COHORT_PHENO_ANY (-1)

#define COHORT_MAX_UNITS 4096

typedef struct {
    const CohortRow *rows;
    size_t n;
    int split;       /* COHORT_SPLIT_ALL or a Split (SPLIT_NONE included) */
    int paired_only; /* only stays with a paired radiograph */
    int pheno;       /* COHORT_PHENO_ANY or a phenotype index: only stays positive for it */
    int mask_ids;    /* hide stay and subject ids, and do not search them */
    int utf8;
    /* Derived once by cohort_model_init so sorting and search do no per-row text work:
     * distinct units, each row's unit index, units ranked by their short name, decimal ids. */
    uint16_t *unit_of;            /* per row */
    char (*units)[COHORT_UNIT_MAX]; /* distinct raw unit names */
    char (*unit_short)[32];       /* their sanitised short names */
    int *unit_rank;               /* per distinct unit: position in short-name order */
    size_t n_units;
    char (*ids)[2][21];           /* per row: stay id, subject id in decimal */
    /* per search, set by the spec's begin_search */
    uint8_t *unit_hit;            /* per distinct unit: matches the search */
    uint32_t pheno_hit;           /* phenotypes whose name matches the search */
} CohortModel;

/* Binds the model to rows (borrowed; they must outlive the model) and derives the caches.
 * Filters start cleared. Free with cohort_model_done. */
PsStatus cohort_model_init(CohortModel *m, const CohortRow *rows, size_t n, int mask_ids, int utf8,
                           PsErr *err);
void cohort_model_done(CohortModel *m);

/* The table spec over a CohortModel (pass the model as the table's ctx). */
extern const TableSpec cohort_table_spec;

/* The short unit name shown in the table: the parenthesised abbreviation when the unit has
 * one ("Medical Intensive Care Unit (MICU)" -> "MICU"), else the name; sanitised. */
void cohort_unit_short(char *dst, size_t n, const char *unit, int utf8);

#endif
