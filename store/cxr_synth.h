/* cxr_synth.h — a synthetic chest radiograph drawn from a seed, a view and findings.
 *
 * For the demo cohort: anatomy a viewer recognises (lung fields, heart, mediastinum, spine, ribs,
 * clavicles, diaphragm, soft tissue, film grain, exposure) and each CheXpert finding drawn where
 * a radiologist would look for it, large enough to be learnable at 64-224 px. Same inputs, same
 * bytes. The anatomy of a given seed does not depend on the findings, so adding a finding changes
 * only its own region.
 *
 * Thread safety: reentrant; no shared state.
 */
#ifndef CXR_SYNTH_H
#define CXR_SYNTH_H

#include <stdint.h>

#include "store/catalog.h"
#include "store/ps.h"

#define CXR_SYNTH_MIN_SIZE 64
#define CXR_SYNTH_DEFAULT_SIZE 512

typedef enum { CXR_VIEW_PA = 0, CXR_VIEW_AP = 1, CXR_VIEW_LATERAL = 2 } CxrView;

typedef struct {
    uint64_t seed;
    CxrView view;
    /* Severity 0 (absent) .. 1 of each finding, indexed like catalog_chexpert. "No Finding" is
     * ignored (it is the absence of the others); "Lung Opacity" alone draws a faint haze (the
     * other opacities need not set it). */
    float finding[CATALOG_N_CHEXPERT];
    float hyperinflation; /* 0..1: COPD's low flat diaphragm and dark, over-expanded lungs */
} CxrSpec;

/* Geometry of the drawn image in fractions of its width/height, for tests and measurements. */
typedef struct {
    float thorax_left, thorax_right; /* inner chest wall at heart level */
    float heart_left, heart_right;   /* heart borders */
    float heart_top, heart_bottom;
    float diaphragm_right, diaphragm_left; /* dome tops (image left = patient's right) */
    float ctr;                             /* cardiothoracic ratio */
} CxrGeometry;

/* Draws spec into pix (w x h bytes, row-major, 0 = black). w and h at least CXR_SYNTH_MIN_SIZE.
 * geom (may be NULL) receives where the main structures ended up (after shift and scale). */
PsStatus cxr_synth_draw(unsigned char *pix, int w, int h, const CxrSpec *spec, CxrGeometry *geom,
                        PsErr *err);

#endif
