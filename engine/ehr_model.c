/* ehr_model.c — LSTM encoder + linear head (see ehr_model.h). It does not compute losses or
 * update parameters; the trainer combines it with loss.h and adam.h. */
#include "engine/ehr_model.h"

#include <stdlib.h>
#include <string.h>

#include "store/catalog.h"

EhrModelConfig ehr_model_defaults(void)
{
    EhrModelConfig c = {.input = CATALOG_N_INPUTS, .hidden = 256, .layers = 2,
                        .classes = CATALOG_N_PHENOTYPES, .dropout = 0.3f, .feat_dropout = 0.0f};
    return c;
}

PsStatus ehr_model_add_params(EhrModel *m, ParamSet *ps, const EhrModelConfig *cfg, PsErr *err)
{
    PS_CHECK(err, m && ps && cfg && cfg->classes > 0);
    PS_CHECK(err, cfg->feat_dropout >= 0 && cfg->feat_dropout < 1);
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    PsStatus rc = lstm_add_params(&m->lstm, ps, "lstm.", cfg->input, cfg->hidden, cfg->layers,
                                  cfg->dropout, err);
    if (rc != PS_OK) return rc;
    return linear_add_params(&m->fc, ps, "fc.", cfg->hidden, cfg->classes, err);
}

void ehr_model_init(const EhrModel *m, ParamSet *ps, Rng *rng)
{
    lstm_init_uniform(&m->lstm, ps, rng);
    linear_init_uniform(&m->fc, ps, rng);
}

PsStatus ehr_work_init(EhrWork *ws, const EhrModel *m, int max_batch, int max_steps, PsErr *err)
{
    PS_CHECK(err, ws && m && max_batch > 0);
    memset(ws, 0, sizeof *ws);
    PsStatus rc = lstm_work_init(&ws->lstm, &m->lstm, max_batch, max_steps, err);
    if (rc != PS_OK) return rc;
    size_t n = (size_t)max_batch * m->cfg.hidden;
    ws->feat = calloc(n, sizeof(float));
    ws->feat_d = calloc(n, sizeof(float));
    ws->fmask = calloc(n, sizeof(float));
    ws->dfeat = calloc(n, sizeof(float));
    if (!ws->feat || !ws->feat_d || !ws->fmask || !ws->dfeat) {
        ehr_work_done(ws);
        return ps_err(err, PS_ERR_NOMEM, "ehr_model: cannot allocate a workspace for batch %d",
                      max_batch);
    }
    return PS_OK;
}

void ehr_work_done(EhrWork *ws)
{
    if (!ws) return;
    lstm_work_done(&ws->lstm);
    free(ws->feat);
    free(ws->feat_d);
    free(ws->fmask);
    free(ws->dfeat);
    memset(ws, 0, sizeof *ws);
}

PsStatus ehr_model_forward(EhrWork *ws, float *logits, const float *x, const int *len, int B,
                           int T, const EhrModel *m, const float *params, int train, Rng *rng,
                           PsErr *err)
{
    PS_CHECK(err, ws && logits && m && params);
    PsStatus rc = lstm_forward(&ws->lstm, ws->feat, x, len, B, T, &m->lstm, params, train, rng,
                               err);
    if (rc != PS_OK) return rc;
    const int H = m->cfg.hidden;
    const size_t n = (size_t)B * H;
    ws->B = B;
    ws->fdrop = train && m->cfg.feat_dropout > 0;
    if (ws->fdrop) {
        PS_CHECK(err, rng);
        const float keep = 1.0f - m->cfg.feat_dropout, scale = 1.0f / keep;
        for (size_t i = 0; i < n; i++) {
            ws->fmask[i] = rng_uniform(rng) < keep ? scale : 0.0f;
            ws->feat_d[i] = ws->feat[i] * ws->fmask[i];
        }
    } else {
        memcpy(ws->feat_d, ws->feat, n * sizeof(float));
    }
    linear_forward(logits, ws->feat_d, params + m->fc.w, params + m->fc.b, B, H, m->fc.out);
    return PS_OK;
}

PsStatus ehr_model_backward(EhrWork *ws, const float *dlogits, const float *dfeat_extra,
                            const EhrModel *m, const float *params, float *grads, PsErr *err)
{
    PS_CHECK(err, ws && dlogits && m && params && grads && ws->B > 0);
    const int B = ws->B, H = m->cfg.hidden;
    const size_t n = (size_t)B * H;
    memset(ws->dfeat, 0, n * sizeof(float));
    linear_backward(ws->dfeat, grads + m->fc.w, grads + m->fc.b, dlogits, ws->feat_d,
                    params + m->fc.w, B, H, m->fc.out);
    if (ws->fdrop)
        for (size_t i = 0; i < n; i++) ws->dfeat[i] *= ws->fmask[i];
    if (dfeat_extra)
        for (size_t i = 0; i < n; i++) ws->dfeat[i] += dfeat_extra[i];
    return lstm_backward(&ws->lstm, NULL, ws->dfeat, &m->lstm, params, grads, err);
}
