/* imgprep.h — radiograph preprocessing for the ResNet: decoded 8-bit grayscale pixels in,
 * a normalised (3, S, S) float tensor out (the gray value replicated to the three channels
 * ImageNet-trained ResNets expect), as in the paper's follow-up code (MedFuse):
 *   Resize(256) → [training: RandomHorizontalFlip, RandomAffine(±45°, scale 0.85–1.15,
 *   translate 0.15)] → CenterCrop(224) → ToTensor → Normalize(ImageNet mean, std).
 *
 * The resize is antialiased (a triangle filter widened by the reduction factor, like PIL's
 * bilinear resize), so a 3000-pixel radiograph does not alias. Flip, affine and crop are one
 * inverse-mapped bilinear sampling pass; pixels mapped from outside the image are black (0),
 * torchvision's default fill. Deviation: torchvision's RandomAffine samples nearest-neighbour;
 * we sample bilinearly (smoother, and identical when the transform is the identity).
 */
#ifndef IMGPREP_H
#define IMGPREP_H

#include <stddef.h>
#include <stdint.h>

#include "store/ps.h"
#include "store/rng.h"

typedef struct {
    int resize;           /* shorter side after resizing (256) */
    int crop;             /* output side S (224) */
    int augment;          /* 1: random flip + affine (training); 0: deterministic (evaluation) */
    double flip_p;        /* probability of a horizontal flip (0.5) */
    double max_rotate;    /* degrees, uniform in ±max_rotate (45) */
    double scale_min, scale_max; /* (0.85, 1.15) */
    double max_translate; /* fraction of the resized width / height (0.15) */
} ImgprepConfig;

/* The paper's settings with the given sizes; augment on or off. */
void imgprep_config_default(ImgprepConfig *cfg, int resize, int crop, int augment);

/* Size (rw, rh) an image of w×h takes after resizing its shorter side to cfg->resize
 * (torchvision: the longer side becomes floor(resize * long / short)). */
void imgprep_resized_size(const ImgprepConfig *cfg, int w, int h, int *rw, int *rh);
/* Floats of scratch imgprep_run needs for a w×h image. */
size_t imgprep_scratch_floats(const ImgprepConfig *cfg, int w, int h);

/* out (3, S, S) = preprocessed gray (h rows of w pixels, row stride `stride` bytes).
 * rng: required when cfg->augment, ignored otherwise. scratch: imgprep_scratch_floats floats.
 * Errors: sizes out of range (empty image, crop larger than the resized image). */
PsStatus imgprep_run(float *out, float *scratch, const uint8_t *gray, int w, int h, int stride,
                     const ImgprepConfig *cfg, Rng *rng, PsErr *err);

/* Antialiased bilinear resize of src (sw×sh floats) to dst (dw×dh); tmp holds dw*sh floats. */
void imgprep_resize(float *dst, int dw, int dh, float *tmp, const float *src, int sw, int sh);

/* ImageNet statistics per RGB channel (torchvision's Normalize values). */
extern const float imgprep_mean[3], imgprep_std[3];

#endif
