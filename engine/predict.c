/* predict.c — one stay through a recorded run (see predict.h).
 *
 * Loads the run's checkpoint into an inference-only trainer (no dataset), builds the stay's input
 * with the model's own binning and normalizer, and decodes the paired radiograph at the model's
 * image size. It does not cache models between calls (the caller's worker may).
 */
#include "engine/predict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dataset.h"
#include "engine/train.h"

static int count_event(void *ctx, const StoreEvent *e)
{
    (void)e;
    (*(int64_t *)ctx)++;
    return 1; /* one is enough */
}

PsStatus predict_stay(Store *st, int64_t run_id, int64_t stay_id, PredictResult *out, PsErr *err)
{
    memset(out, 0, sizeof *out);
    out->stay_id = stay_id;
    out->run_id = run_id;
    Trainer *t = NULL;
    float *x = NULL;
    unsigned char *jpeg = NULL;
    uint8_t *img = NULL;
    TrainConfig cfg;
    StoreStay info;
    PsStatus rc = store_get_stay(st, stay_id, &info);
    if (rc == PS_ERR_NOTFOUND) return ps_err(err, rc, "no stay %lld in the store", (long long)stay_id);
    if (rc) return ps_err(err, rc, "%s", store_errmsg(st));
    int64_t n_events = 0;
    rc = store_each_event(st, stay_id, count_event, &n_events);
    if (rc && rc != PS_ERR_CANCELLED) return ps_err(err, rc, "%s", store_errmsg(st));
    if (n_events == 0)
        return ps_err(err, PS_ERR_INVALID,
                      "stay %lld has no physiological measurements; nothing to predict from",
                      (long long)stay_id);
    if ((rc = train_run_config(st, run_id, &cfg, err))) return rc;
    cfg.batch = 1;
    if ((rc = train_open_run(st, run_id, NULL, NULL, &cfg, &t, &out->checkpoint_epoch, err)))
        goto done;
    snprintf(out->method, sizeof out->method, "%s", train_method_name(cfg.method));
    if ((rc = trainer_stay_input(t, st, stay_id, &x, &out->time_bins, err))) goto done;
    if (cfg.method != TRAIN_EHR) {
        rc = store_get_pair(st, stay_id, out->dicom_id, sizeof out->dicom_id);
        if (rc == PS_ERR_NOTFOUND) {
            out->dicom_id[0] = 0;
            rc = PS_OK;
        } else if (rc) {
            rc = ps_err(err, rc, "%s", store_errmsg(st));
            goto done;
        }
    }
    if (out->dicom_id[0]) {
        StoreRadiograph r;
        rc = store_get_radiograph(st, out->dicom_id, &r, &jpeg);
        if (rc) {
            rc = ps_err(err, rc, "the radiograph paired with stay %lld: %s", (long long)stay_id,
                        store_errmsg(st));
            goto done;
        }
        if (!jpeg) {
            rc = ps_err(err, PS_ERR_NOTFOUND, "the radiograph paired with stay %lld has no image",
                        (long long)stay_id);
            goto done;
        }
        img = malloc((size_t)cfg.img_size * cfg.img_size);
        if (!img) {
            rc = ps_err(err, PS_ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((rc = dataset_prepare_image(img, cfg.img_size, jpeg, r.jpeg_size, out->dicom_id, err)))
            goto done;
        out->paired = 1;
    }
    if ((rc = trainer_predict_one(t, x, out->time_bins, out->paired ? img : NULL, out->p_ehr,
                                  out->paired ? out->p_pair : NULL, err)))
        goto done;
    out->have_truth = store_get_labels(st, stay_id, out->truth) == PS_OK;
done:
    free(x);
    free(jpeg);
    free(img);
    trainer_free(t);
    return rc;
}
