/* predict.h — one stay's phenotype probabilities from a recorded run: the EHR head's and, when a
 * radiograph is paired with the stay, the paired (unified / joint / late) prediction, with the
 * ground truth. The same answer as `phenoscope predict`, as a function for the TUI's worker.
 *
 * Thread safety: like Store, one thread per call's Store; no state between calls.
 */
#ifndef PREDICT_H
#define PREDICT_H

#include <stdint.h>

#include "store/catalog.h"
#include "store/ps.h"
#include "store/store.h"

typedef struct {
    int64_t stay_id, run_id;
    char method[16];
    int checkpoint_epoch;
    int time_bins;
    int paired;        /* the stay has a paired radiograph and the method uses radiographs */
    char dicom_id[96]; /* raw, not sanitised */
    float p_ehr[CATALOG_N_PHENOTYPES];
    float p_pair[CATALOG_N_PHENOTYPES]; /* valid when paired */
    int have_truth;
    uint8_t truth[CATALOG_N_PHENOTYPES];
} PredictResult;

/* Predicts stay_id with run_id's best checkpoint (last when it never validated). A missing stay,
 * a stay without measurements, a run without a checkpoint: an error naming it. */
PsStatus predict_stay(Store *st, int64_t run_id, int64_t stay_id, PredictResult *out, PsErr *err);

#endif
