/* fusion.h — classifiers on the two encoders' features: the paper's unified classifier, the
 * joint baselines' head, and the late-fusion rule.
 *
 * A FusionHead is one linear layer (PyTorch nn.Linear, names "<prefix>weight", "<prefix>bias")
 * on the concatenation [cxr_feat (Dc) ; ehr_feat (De)] → 25 phenotype logits. Dc or De may be
 * 0: the late-fusion baseline's radiograph phenotype head reads the CXR features alone.
 * The paper's φ_unified is "a sequence of linear and sigmoid layers"; a single linear layer
 * (sigmoid in the loss) is the smallest such module and what MedFuse's fused classifier uses.
 *
 * Late fusion, as phenoscope defines it (an extra row next to the paper's Table 2): the
 * encoders and their own heads are trained exactly like Algorithm 1 steps 1–2; step 3 trains a
 * linear phenotype head on the (frozen) CXR features of paired stays. At inference a paired stay
 * gets the mean of the two heads' probabilities, ½(σ(EHR head) + σ(CXR phenotype head)); an
 * unpaired stay gets the EHR head's. Decision-level aggregation by averaging predictions, as
 * the paper's introduction describes late fusion.
 *
 * Thread safety: plain functions over caller-owned buffers.
 */
#ifndef FUSION_H
#define FUSION_H

#include "engine/linear.h"
#include "engine/params.h"
#include "store/ps.h"
#include "store/rng.h"

typedef struct {
    int dc, de, classes;
    Linear fc;
} FusionHead;

/* Records "<prefix>weight" (classes, dc+de) and "<prefix>bias" in ps (layout phase). */
PsStatus fusion_add_params(FusionHead *f, ParamSet *ps, const char *prefix, int dc, int de,
                           int classes, PsErr *err);
/* nn.Linear's default initialisation. */
void fusion_init(const FusionHead *f, ParamSet *ps, Rng *rng);

/* cat (B, dc+de) = [cxr (B, dc) ; ehr (B, de)] (either may be NULL when its width is 0);
 * logits (B, classes). */
void fusion_forward(const FusionHead *f, const float *params, float *cat, float *logits,
                    const float *cxr, const float *ehr, int B);
/* grads += dL/dparams for the forward that filled cat; dcxr (B, dc) and dehr (B, de) receive
 * (overwrite) the gradients with respect to the features when non-NULL; dcat is scratch
 * (B, dc+de). */
void fusion_backward(const FusionHead *f, const float *params, float *grads, float *dcat,
                     float *dcxr, float *dehr, const float *dlogits, const float *cat, int B);

/* Training-time inverted dropout on the concatenated features: after a training forward that
 * filled cat (B, dc+de), zeroes each feature with probability p, scales the rest by 1/(1-p),
 * writes the factor into mask (B, dc+de) and recomputes logits from the masked cat. The
 * backward then takes the masked cat; fusion_dropout_backward applies the mask to dcxr / dehr.
 * p = 0: no change, mask all 1. */
void fusion_dropout(const FusionHead *f, const float *params, float *cat, float *mask,
                    float *logits, int B, float p, Rng *rng);
void fusion_dropout_backward(const FusionHead *f, const float *mask, float *dcxr, float *dehr,
                             int B);

/* Late fusion of probabilities: out (n) = ½ (σ(a) + σ(b)) from logits a, b (n). */
void fusion_late(float *out, const float *a, const float *b, int n);

#endif
