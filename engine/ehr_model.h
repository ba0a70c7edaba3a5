/* ehr_model.h — the EHR branch of the paper: LSTM encoder + linear head to 25 phenotype logits.
 *
 * Parameter names are those of a PyTorch module with attributes `lstm` (nn.LSTM, batch_first)
 * and `fc` (nn.Linear): "lstm.weight_ih_l0", ..., "fc.weight", "fc.bias". The feature vector of a
 * stay is the LSTM's h_n[-1] (its top layer at its own last step); in training an optional
 * dropout on the features precedes the head, as in MedFuse's LSTM module. The sigmoid is not
 * part of the model: losses take logits (loss.h), predictions apply loss_sigmoid.
 */
#ifndef EHR_MODEL_H
#define EHR_MODEL_H

#include "engine/linear.h"
#include "engine/lstm.h"

typedef struct {
    int input;          /* 76 (CATALOG_N_INPUTS) */
    int hidden;         /* 256 in the authors' code */
    int layers;         /* 2 */
    int classes;        /* 25 */
    float dropout;      /* between LSTM layers */
    float feat_dropout; /* on the features before the head */
} EhrModelConfig;

EhrModelConfig ehr_model_defaults(void);

typedef struct {
    EhrModelConfig cfg;
    Lstm lstm;
    Linear fc;
} EhrModel;

/* Records the model's tensors in ps (layout phase). */
PsStatus ehr_model_add_params(EhrModel *m, ParamSet *ps, const EhrModelConfig *cfg, PsErr *err);
/* PyTorch's default initialisation of nn.LSTM and nn.Linear. */
void ehr_model_init(const EhrModel *m, ParamSet *ps, Rng *rng);

/* Caches for batches up to (max_batch, max_steps); allocated once. */
typedef struct {
    LstmWork lstm;
    float *feat;   /* (B, H) encoder output: h_n[-1], before feature dropout */
    float *feat_d; /* (B, H) the head's input (feat, or feat ⊙ mask in training) */
    float *fmask;  /* (B, H) feature dropout mask */
    float *dfeat;  /* (B, H) backward scratch */
    int B, fdrop;
} EhrWork;

PsStatus ehr_work_init(EhrWork *ws, const EhrModel *m, int max_batch, int max_steps, PsErr *err);
void ehr_work_done(EhrWork *ws);

/* logits (B, classes) from x (B, T, input) padded with lengths len (B). */
PsStatus ehr_model_forward(EhrWork *ws, float *logits, const float *x, const int *len, int B,
                           int T, const EhrModel *m, const float *params, int train, Rng *rng,
                           PsErr *err);
/* grads += dLoss/dparams for the last forward. dlogits (B, classes); dfeat_extra (B, H), may be
 * NULL: a gradient on ws->feat from another consumer of the features (a fusion classifier). */
PsStatus ehr_model_backward(EhrWork *ws, const float *dlogits, const float *dfeat_extra,
                            const EhrModel *m, const float *params, float *grads, PsErr *err);

#endif
