/* screen_cohort.h — the cohort browser's table model, exposed for tests.
 *
 * The screen itself is `screen_cohort` (declared in app.h). The model — filters, search,
 * ordering and cell text over CohortRow — is plain data plus the TableSpec below, so
 * tests/test_table.c can drive it over synthetic cohorts without a terminal.
 */
#ifndef SCREEN_COHORT_H
#define SCREEN_COHORT_H

#include <stddef.h>

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

typedef struct {
    const CohortRow *rows;
    size_t n;
    int split;       /* COHORT_SPLIT_ALL or a Split (SPLIT_NONE included) */
    int paired_only; /* only stays with a paired radiograph */
    int pheno;       /* COHORT_PHENO_ANY or a phenotype index: only stays positive for it */
    int mask_ids;    /* hide stay and subject ids, and do not search them */
    int utf8;
} CohortModel;

/* The table spec over a CohortModel (pass the model as the table's ctx). */
extern const TableSpec cohort_table_spec;

/* The short unit name shown in the table: the parenthesised abbreviation when the unit has
 * one ("Medical Intensive Care Unit (MICU)" -> "MICU"), else the name; sanitised. */
void cohort_unit_short(char *dst, size_t n, const char *unit, int utf8);

#endif
