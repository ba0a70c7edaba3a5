/* screen_predict.h — screen 5, Predictions: for the selected stay and a chosen run, the 25
 * phenotypes sorted by probability with bars for the EHR-only and the Unified (with the X-ray)
 * prediction, their difference, the ground truth and the group; a key withholds the X-ray to show
 * what the paper's inference rule uses without it.
 *
 * The screen itself is `screen_predict` (declared in app.h); this header exposes the ordering
 * its tests use.
 */
#ifndef SCREEN_PREDICT_H
#define SCREEN_PREDICT_H

#include "store/catalog.h"

typedef enum {
    PREDICT_SORT_USED = 0, /* the probability the inference rule uses, highest first */
    PREDICT_SORT_EHR,
    PREDICT_SORT_UNIFIED,
    PREDICT_SORT_DIFF, /* |unified - EHR|, largest first */
    PREDICT_SORT_CATALOG,
    PREDICT_SORT_N
} PredictSort;

/* Fills order[25] with phenotype indices sorted by key (ties: catalog order). unified may be
 * NULL (no radiograph, or withheld): then the used probability is the EHR head's. */
void screen_predict_order(int order[CATALOG_N_PHENOTYPES], const float *ehr, const float *unified,
                          PredictSort key);

#endif
