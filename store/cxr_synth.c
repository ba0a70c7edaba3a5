/* cxr_synth.c — procedural chest radiographs for the demo cohort.
 *
 * Implements: a frontal (PA/AP) and a lateral chest film as a sum of soft-edged analytic shapes
 * evaluated per pixel at half resolution (smooth anatomy gains nothing from full resolution),
 * bilinearly enlarged, then film grain at full resolution. Findings are extra shapes or changed
 * anatomy parameters, each drawn from its own RNG stream so the anatomy of a seed stays put.
 * Deliberately not: physical X-ray simulation, anatomical accuracy beyond what a viewer and a
 * small CNN need, or any resemblance to a particular patient.
 *
 * Coordinates: u = x / width, v = y / height in [0, 1]; image left is the patient's right, as on
 * a PA film. Intensity: 0 black (air) .. 1 white (bone, metal).
 */
#include "store/cxr_synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/rng.h"

enum { MAX_BLOBS = 48, MAX_SEGS = 96 };

/* A gaussian-ish blob of opacity (op > 0) inside the lungs. hard: 0 soft .. 1 sharp edge. */
typedef struct {
    float u, v, r, op, hard;
} Blob;

/* A line segment added to the image (bright for devices and pleural lines, negative for air
 * bronchograms); lung: 1 = only inside the lung (bronchograms). */
typedef struct {
    float u0, v0, u1, v1, half_width, value;
    float bu0, bv0, bu1, bv1; /* bounding box */
    int lung;
} Seg;

typedef struct {
    CxrView view;
    /* image transform */
    float dx, dy, scale;
    /* exposure */
    float gamma, contrast, bright, grain;
    /* anatomy */
    float tw, v_apex, v_dia[2], dome_h, mw, mw_low;
    float heart_w, heart_uc, heart_vc, heart_b, ctr;
    float rib_v0, rib_sp, rib_slope, rib_w;
    float lung_dark;
    float lattice[32 * 32];
    /* findings */
    float effusion[2];    /* fluid height per side (0: none) */
    float edema;          /* haze strength */
    float ptx_gap[2];     /* pneumothorax: distance of the pleural line from the wall */
    float thickening[2];  /* pleural thickening width per side */
    int fracture_side, fracture_rib;
    float fracture_a, fracture_shift;
    Blob blobs[MAX_BLOBS];
    int n_blobs;
    Seg segs[MAX_SEGS];
    int n_segs;
    /* the segments whose box spans the current row, rebuilt per row by the render loop */
    const Seg *row_segs[MAX_SEGS];
    int n_row_segs;
    float expo[1025]; /* exposure curve bright + contrast * x^gamma on a grid of x */
} Scene;

static inline float clampf(float x, float lo, float hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

static inline float smooth(float e0, float e1, float x)
{
    float t = clampf((x - e0) / (e1 - e0), 0.0f, 1.0f);
    return t * t * (3.0f - 2.0f * t);
}

static float unif(Rng *r, float lo, float hi)
{
    return lo + (hi - lo) * (float)rng_uniform(r);
}

/* Smoothly interpolated value noise from the scene's 32x32 lattice, in [-1, 1]. */
static float vnoise(const Scene *sc, float u, float v, float freq)
{
    float x = u * freq, y = v * freq;
    float fx = floorf(x), fy = floorf(y);
    int ix = (int)fx & 31, iy = (int)fy & 31;
    float tx = x - fx, ty = y - fy;
    tx = tx * tx * (3 - 2 * tx);
    ty = ty * ty * (3 - 2 * ty);
    const float *L = sc->lattice;
    float a = L[iy * 32 + ix], b = L[iy * 32 + ((ix + 1) & 31)];
    float c = L[((iy + 1) & 31) * 32 + ix], d = L[((iy + 1) & 31) * 32 + ((ix + 1) & 31)];
    return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty;
}

static void add_seg(Scene *sc, float u0, float v0, float u1, float v1, float half_width,
                    float value, int lung)
{
    if (sc->n_segs >= MAX_SEGS) return;
    Seg *s = &sc->segs[sc->n_segs++];
    s->u0 = u0, s->v0 = v0, s->u1 = u1, s->v1 = v1;
    s->half_width = half_width, s->value = value, s->lung = lung;
    float m = half_width * 2.0f;
    s->bu0 = fminf(u0, u1) - m, s->bu1 = fmaxf(u0, u1) + m;
    s->bv0 = fminf(v0, v1) - m, s->bv1 = fmaxf(v0, v1) + m;
}

/* A smooth curve as a chain of segments through quadratic Bezier control points. */
static void add_curve(Scene *sc, float u0, float v0, float uc, float vc, float u1, float v1,
                      float half_width, float value, int n)
{
    float pu = u0, pv = v0;
    for (int i = 1; i <= n; i++) {
        float t = (float)i / (float)n, s = 1 - t;
        float qu = s * s * u0 + 2 * s * t * uc + t * t * u1;
        float qv = s * s * v0 + 2 * s * t * vc + t * t * v1;
        add_seg(sc, pu, pv, qu, qv, half_width, value, 0);
        pu = qu, pv = qv;
    }
}

static void add_blob(Scene *sc, float u, float v, float r, float op, float hard)
{
    if (sc->n_blobs >= MAX_BLOBS) return;
    sc->blobs[sc->n_blobs++] = (Blob){u, v, r, op, hard};
}

/* Lateral extent of the lung on one side at height v, as offsets from the midline. */
static float wall_a(const Scene *sc, float v)
{
    float t = clampf((v - sc->v_apex) / 0.24f, 0.0f, 1.0f);
    return sc->tw * (0.52f + 0.48f * sqrtf(t));
}

static float dia_v(const Scene *sc, int side, float a)
{
    float x = (a - 0.42f * sc->tw) / sc->tw;
    return sc->v_dia[side] + sc->dome_h * x * x;
}

/* A point inside the lung of a side, for placing findings: lateral fraction fa (0 medial .. 1
 * wall) and vertical fraction fv (0 apex .. 1 base). */
static void lung_point(const Scene *sc, int side, float fa, float fv, float *u, float *v)
{
    float vv = sc->v_apex + 0.04f + fv * (sc->v_dia[side] - sc->v_apex - 0.02f);
    float a = sc->mw + 0.03f + fa * (wall_a(sc, vv) - sc->mw - 0.05f);
    *u = 0.5f + (side ? a : -a);
    *v = vv;
}

static void build_frontal_findings(Scene *sc, const CxrSpec *sp)
{
    const float *f = sp->finding;
    Rng r;
    /* Each finding has its own stream so that one finding never moves another. */
#define STREAM(k) rng_seed_stream(&r, sp->seed, 100 + (k))
    if (f[1] > 0) { /* Cardiomegaly: CTR from ~0.55 to ~0.68 */
        STREAM(1);
        sc->ctr = fmaxf(sc->ctr, 0.54f + 0.14f * f[1] + unif(&r, -0.01f, 0.01f));
    }
    if (f[4] > 0) { /* Enlarged cardiomediastinum: wide upper mediastinum */
        STREAM(4);
        sc->mw += 0.035f + 0.045f * f[4] + unif(&r, -0.005f, 0.005f);
    }
    if (f[9] > 0) { /* Pleural effusion: one side or both */
        STREAM(9);
        int which = (int)rng_below(&r, 3);
        float h = 0.05f + 0.16f * f[9];
        if (which != 1) sc->effusion[0] = h * unif(&r, 0.8f, 1.1f);
        if (which != 0) sc->effusion[1] = h * unif(&r, 0.8f, 1.1f);
    }
    if (f[3] > 0) { /* Edema: perihilar haze, both sides */
        STREAM(3);
        sc->edema = (0.35f + 0.45f * f[3]) * unif(&r, 0.9f, 1.1f);
    }
    if (f[2] > 0) { /* Consolidation: one dense lobar patch with air bronchograms */
        STREAM(2);
        int side = (int)rng_below(&r, 2);
        float cu, cv;
        lung_point(sc, side, unif(&r, 0.3f, 0.8f), unif(&r, 0.45f, 0.85f), &cu, &cv);
        float rad = 0.06f + 0.05f * f[2];
        for (int i = 0; i < 5; i++)
            add_blob(sc, cu + unif(&r, -0.5f, 0.5f) * rad, cv + unif(&r, -0.5f, 0.5f) * rad,
                     rad * unif(&r, 0.6f, 0.9f), 0.55f + 0.3f * f[2], 0.5f);
        for (int i = 0; i < 3; i++) {
            float ang = unif(&r, 0, 6.2831853f), len = rad * unif(&r, 0.5f, 0.9f);
            float su = cu + unif(&r, -0.3f, 0.3f) * rad, sv = cv + unif(&r, -0.3f, 0.3f) * rad;
            Scene *s = sc;
            add_seg(s, su, sv, su + cosf(ang) * len, sv + sinf(ang) * len, 0.004f, -0.12f, 1);
        }
    }
    if (f[11] > 0) { /* Pneumonia: patchy airspace opacities, often lower zones, may be bilateral */
        STREAM(11);
        int nz = 1 + (int)rng_below(&r, 2);
        for (int z = 0; z < nz; z++) {
            int side = (int)rng_below(&r, 2);
            float cu, cv;
            lung_point(sc, side, unif(&r, 0.2f, 0.8f), unif(&r, 0.5f, 0.9f), &cu, &cv);
            for (int i = 0; i < 6; i++)
                add_blob(sc, cu + unif(&r, -0.07f, 0.07f), cv + unif(&r, -0.06f, 0.06f),
                         unif(&r, 0.025f, 0.05f), 0.35f + 0.35f * f[11], 0.2f);
        }
    }
    if (f[0] > 0) { /* Atelectasis: a plate-like band or a wedge at a base */
        STREAM(0);
        int side = (int)rng_below(&r, 2);
        float cu, cv;
        lung_point(sc, side, unif(&r, 0.3f, 0.7f), unif(&r, 0.7f, 0.85f), &cu, &cv);
        float len = 0.08f + 0.08f * f[0], tilt = unif(&r, -0.25f, 0.25f);
        if (rng_bernoulli(&r, 0.6)) {
            float du = cosf(tilt) * len / 2, dv = sinf(tilt) * len / 2;
            for (int i = 0; i < 3; i++) /* a thick band as three parallel lines */
                add_seg(sc, cu - du, cv - dv + 0.006f * (float)(i - 1), cu + du,
                        cv + dv + 0.006f * (float)(i - 1), 0.006f, 0.09f + 0.07f * f[0], 0);
        } else {
            for (int i = 0; i < 5; i++) /* a wedge: blobs growing toward the base */
                add_blob(sc, cu + (side ? 1 : -1) * 0.012f * (float)i, cv + 0.018f * (float)i,
                         0.015f + 0.008f * (float)i, 0.55f + 0.25f * f[0], 0.6f);
        }
    }
    if (f[6] > 0) { /* Lung lesion: a round, sharp nodule or mass */
        STREAM(6);
        float cu, cv;
        lung_point(sc, (int)rng_below(&r, 2), unif(&r, 0.2f, 0.85f), unif(&r, 0.15f, 0.75f), &cu,
                   &cv);
        add_blob(sc, cu, cv, 0.018f + 0.025f * f[6], 0.75f + 0.2f * f[6], 0.9f);
    }
    if (f[7] > 0) { /* Lung opacity on its own: a faint ill-defined haze */
        STREAM(7);
        float cu, cv;
        lung_point(sc, (int)rng_below(&r, 2), unif(&r, 0.2f, 0.8f), unif(&r, 0.3f, 0.8f), &cu,
                   &cv);
        add_blob(sc, cu, cv, 0.07f, 0.3f + 0.2f * f[7], 0.1f);
    }
    if (f[12] > 0) { /* Pneumothorax: a lateral/apical rim without markings behind a pleural line */
        STREAM(12);
        int side = (int)rng_below(&r, 2);
        sc->ptx_gap[side] = 0.03f + 0.07f * f[12];
    }
    if (f[10] > 0) { /* Pleural other: pleural thickening along the lateral wall */
        STREAM(10);
        int which = (int)rng_below(&r, 3);
        float t = 0.010f + 0.014f * f[10];
        if (which != 1) sc->thickening[0] = t;
        if (which != 0) sc->thickening[1] = t;
    }
    if (f[5] > 0) { /* Fracture: a break in a rib, the lateral part shifted */
        STREAM(5);
        sc->fracture_side = (int)rng_below(&r, 2);
        sc->fracture_rib = 3 + (int)rng_below(&r, 4);
        sc->fracture_a = unif(&r, 0.55f, 0.85f);
        sc->fracture_shift = (0.006f + 0.008f * f[5]) * (rng_bernoulli(&r, 0.5) ? 1.0f : -1.0f);
    }
    if (f[13] > 0) { /* Support devices: ET tube, NG tube, central line, ECG leads */
        STREAM(13);
        int et = rng_bernoulli(&r, 0.7), ng = rng_bernoulli(&r, 0.55),
            cl = rng_bernoulli(&r, 0.55), ecg = rng_bernoulli(&r, 0.7);
        if (!(et || ng || cl || ecg)) et = 1;
        float carina = 0.30f;
        if (et) { /* radiopaque walls of the tube down the trachea, tip above the carina */
            float tip = carina - unif(&r, 0.03f, 0.07f), off = unif(&r, -0.006f, 0.006f);
            add_seg(sc, 0.5f + off - 0.007f, 0.0f, 0.5f + off - 0.007f, tip, 0.0025f, 0.35f, 0);
            add_seg(sc, 0.5f + off + 0.007f, 0.0f, 0.5f + off + 0.007f, tip, 0.0025f, 0.35f, 0);
        }
        if (ng) { /* down the oesophagus, through the diaphragm into the stomach (patient's left) */
            float su = 0.5f + unif(&r, 0.005f, 0.02f);
            add_seg(sc, su, 0.0f, su + 0.01f, sc->v_dia[1] - 0.02f, 0.003f, 0.4f, 0);
            add_curve(sc, su + 0.01f, sc->v_dia[1] - 0.02f, su + 0.02f, sc->v_dia[1] + 0.08f,
                      0.5f + unif(&r, 0.12f, 0.2f), sc->v_dia[1] + 0.1f, 0.003f, 0.4f, 6);
        }
        if (cl) { /* subclavian or jugular line ending in the superior vena cava */
            int side = (int)rng_below(&r, 2);
            float s = side ? 1.0f : -1.0f;
            add_curve(sc, 0.5f + s * unif(&r, 0.25f, 0.33f), 0.12f, 0.5f + s * 0.08f, 0.14f,
                      0.5f - 0.025f, unif(&r, 0.3f, 0.38f), 0.0025f, 0.35f, 8);
        }
        if (ecg) { /* electrodes with their wires running off the film */
            int n = 3 + (int)rng_below(&r, 3);
            for (int i = 0; i < n; i++) {
                float eu = unif(&r, 0.15f, 0.85f), ev = unif(&r, 0.08f, 0.8f);
                for (int k = 0; k < 8; k++) { /* a ring as an octagon */
                    float a0 = 0.785398f * (float)k, a1 = 0.785398f * (float)(k + 1);
                    add_seg(sc, eu + 0.014f * cosf(a0), ev + 0.014f * sinf(a0),
                            eu + 0.014f * cosf(a1), ev + 0.014f * sinf(a1), 0.003f, 0.45f, 0);
                }
                float tu = eu < 0.5f ? 0.0f : 1.0f;
                add_curve(sc, eu, ev, (eu + tu) / 2, ev + unif(&r, -0.1f, 0.15f), tu,
                          ev + unif(&r, -0.2f, 0.2f), 0.0018f, 0.25f, 6);
            }
        }
    }
#undef STREAM
}

static void build_scene(Scene *sc, const CxrSpec *sp)
{
    memset(sc, 0, sizeof *sc);
    sc->view = sp->view;
    Rng r;
    rng_seed_stream(&r, sp->seed, 0);
    /* Anatomy and exposure: always the same draws in the same order. */
    sc->dx = unif(&r, -0.02f, 0.02f);
    sc->dy = unif(&r, -0.015f, 0.015f);
    sc->scale = unif(&r, 0.95f, 1.05f);
    sc->gamma = unif(&r, 0.85f, 1.15f);
    sc->contrast = unif(&r, 0.85f, 1.1f);
    sc->bright = unif(&r, -0.05f, 0.05f);
    sc->grain = unif(&r, 0.015f, 0.035f);
    sc->tw = unif(&r, 0.33f, 0.38f);
    sc->v_apex = unif(&r, 0.11f, 0.15f);
    float dia = unif(&r, 0.62f, 0.68f);
    sc->v_dia[0] = dia;                            /* patient's right: liver pushes it up */
    sc->v_dia[1] = dia + unif(&r, 0.01f, 0.035f); /* patient's left */
    sc->dome_h = unif(&r, 0.18f, 0.26f);
    sc->mw = unif(&r, 0.055f, 0.07f);
    sc->mw_low = sc->mw + 0.01f;
    sc->ctr = unif(&r, 0.40f, 0.48f);
    sc->heart_b = unif(&r, 0.11f, 0.14f);
    sc->rib_v0 = unif(&r, 0.10f, 0.13f);
    sc->rib_sp = unif(&r, 0.056f, 0.064f);
    sc->rib_slope = unif(&r, 0.10f, 0.16f);
    sc->rib_w = unif(&r, 0.38f, 0.48f);
    sc->lung_dark = unif(&r, 0.30f, 0.36f);
    for (int i = 0; i < 32 * 32; i++) sc->lattice[i] = (float)(2.0 * rng_uniform(&r) - 1.0);

    /* AP (portable, supine or semi-erect): the heart is magnified and the lungs less expanded. */
    if (sp->view == CXR_VIEW_AP) {
        sc->ctr *= 1.08f;
        sc->v_dia[0] -= 0.02f;
        sc->v_dia[1] -= 0.02f;
    }
    if (sp->hyperinflation > 0) {
        float h = clampf(sp->hyperinflation, 0, 1);
        sc->v_dia[0] += 0.07f * h;
        sc->v_dia[1] += 0.07f * h;
        sc->dome_h *= 1.0f - 0.6f * h;
        sc->lung_dark += 0.06f * h;
        sc->ctr *= 1.0f - 0.1f * h; /* the long narrow heart of emphysema */
    }
    if (sp->view != CXR_VIEW_LATERAL) build_frontal_findings(sc, sp);
    else {
        /* On the lateral film only the large findings show: heart size, fluid, dense opacities. */
        const float *f = sp->finding;
        if (f[1] > 0) sc->ctr = fmaxf(sc->ctr, 0.54f + 0.14f * f[1]);
        if (f[9] > 0) sc->effusion[0] = 0.05f + 0.12f * f[9];
        Rng q;
        rng_seed_stream(&q, sp->seed, 200);
        if (f[2] > 0 || f[11] > 0 || f[7] > 0 || f[0] > 0)
            add_blob(sc, unif(&q, 0.35f, 0.65f), unif(&q, 0.45f, 0.65f), 0.08f, 0.5f, 0.3f);
        if (f[6] > 0)
            add_blob(sc, unif(&q, 0.35f, 0.65f), unif(&q, 0.25f, 0.6f), 0.03f, 0.8f, 0.9f);
        if (f[3] > 0) sc->edema = 0.3f + 0.4f * f[3];
    }
    float W = sc->ctr * 2.0f * sc->tw;
    sc->heart_w = W;
    sc->heart_uc = 0.5f + 0.15f * W;
    sc->heart_vc = fminf(sc->v_dia[0], sc->v_dia[1]) - 0.09f;
}

/* Distance from (u,v) to a segment, squared. */
static inline float seg_d2(const Seg *s, float u, float v)
{
    float du = s->u1 - s->u0, dv = s->v1 - s->v0;
    float l2 = du * du + dv * dv;
    float t = l2 > 0 ? clampf(((u - s->u0) * du + (v - s->v0) * dv) / l2, 0, 1) : 0;
    float eu = s->u0 + t * du - u, ev = s->v0 + t * dv - v;
    return eu * eu + ev * ev;
}

/* The rib pattern of one side at lateral offset a, height v: 0..1 (cortex brighter). */
static float ribs(const Scene *sc, int side, float a, float v)
{
    float d = a / sc->tw; /* 0 at the spine .. 1 at the wall */
    if (d < 0.05f || d > 1.15f) return 0;
    /* posterior ribs leave the spine level, then curve down toward the wall */
    float vc = sc->rib_v0 + sc->rib_slope * d * d - 0.02f * d;
    float t = (v - vc) / sc->rib_sp;
    int k = (int)floorf(t);
    if (k < 0 || k > 9) return 0;
    if (side == sc->fracture_side && k == sc->fracture_rib && sc->fracture_shift != 0) {
        float gap = fabsf(d - sc->fracture_a);
        if (gap < 0.025f) return 0; /* the fracture line */
        if (d > sc->fracture_a) {
            t = (v - vc - sc->fracture_shift) / sc->rib_sp;
            if ((int)floorf(t) != k) return 0;
        }
    }
    float fr = t - floorf(t);
    if (fr > sc->rib_w) return 0;
    float x = fr / sc->rib_w; /* across the rib 0..1 */
    float body = smooth(0.0f, 0.12f, x) * smooth(1.0f, 0.88f, x);
    float e0 = clampf(1.0f - fabsf(x - 0.1f) * 12.0f, 0, 1), e1 = clampf(1.0f - fabsf(x - 0.9f) * 12.0f, 0, 1);
    float cortex = e0 * e0 + e1 * e1; /* bright edges where the beam runs along the cortex */
    return 0.6f * body + 0.4f * cortex;
}

static float frontal(const Scene *sc, float u, float v)
{
    float c = u - 0.5f;
    int side = c > 0; /* 0: patient's right (image left) */
    float a = fabsf(c);
    /* body and shoulders */
    float shoulder = 0.06f + 0.10f * smooth(0.02f, 0.30f, a);
    float body = smooth(sc->tw + 0.16f, sc->tw + 0.10f, a) * smooth(shoulder - 0.02f, shoulder + 0.02f, v);
    float val = 0.04f + 0.46f * body;
    /* abdomen below the domes is denser than the chest wall */
    float dv = dia_v(sc, side, a);
    val += 0.06f * smooth(dv - 0.01f, dv + 0.02f, v) * body;

    /* lung field */
    float wa = wall_a(sc, v);
    /* each apex is a rounded dome */
    float ax = (a - 0.55f * sc->tw) / (0.45f * sc->tw);
    float v_top = sc->v_apex + 0.07f * ax * ax;
    float inner = v < sc->heart_vc - sc->heart_b ? sc->mw : sc->mw_low;
    float L = smooth(inner - 0.006f, inner + 0.006f, a) * smooth(wa + 0.006f, wa - 0.006f, a) *
              smooth(v_top - 0.01f, v_top + 0.015f, v) *
              smooth(dv + 0.006f, dv - 0.006f, v);
    /* heart: an ellipse reaching further to the patient's left */
    float hx = (u - sc->heart_uc) / (sc->heart_w * 0.5f), hy = (v - sc->heart_vc) / sc->heart_b;
    float hr = hx * hx + hy * hy;
    float H = smooth(1.08f, 0.92f, hr);
    /* below its centre the heart sits on the diaphragm */
    if (v > sc->heart_vc && fabsf(hx) < 1.0f) H = fmaxf(H, smooth(1.08f, 0.92f, hx * hx) * smooth(dv + 0.02f, dv, v));
    L *= 1.0f - H;

    if (L > 0.001f) {
        float op = 0;
        /* pleural effusion: fluid in the costophrenic recess with a meniscus rising laterally */
        float eff = sc->effusion[side];
        if (eff > 0) {
            float lat = clampf(a / wa, 0, 1);
            float vm = sc->v_dia[side] + sc->dome_h * 0.3f - eff * (0.5f + 0.7f * lat * lat);
            op = fmaxf(op, 0.9f * smooth(vm - 0.01f, vm + 0.03f, v));
        }
        if (sc->edema > 0) { /* bat-wing: both perihilar regions */
            float hu = (a - sc->mw - 0.07f) / 0.11f, hv = (v - 0.45f) / 0.16f;
            float n = 0.75f + 0.25f * vnoise(sc, u, v, 24.0f);
            op = 1 - (1 - op) * (1 - sc->edema * n * expf(-(hu * hu + hv * hv)));
        }
        for (int i = 0; i < sc->n_blobs; i++) {
            const Blob *b = &sc->blobs[i];
            float du = u - b->u, dvv = v - b->v;
            float d2 = (du * du + dvv * dvv) / (b->r * b->r);
            if (d2 > 4.0f) continue;
            float g = b->hard > 0.5f ? smooth(1.1f, 0.9f, sqrtf(d2)) : expf(-d2 * 1.6f);
            float n = 0.8f + 0.2f * vnoise(sc, u, v, 40.0f);
            op = 1 - (1 - op) * (1 - b->op * g * n);
        }
        float thick = sc->thickening[side];
        if (thick > 0) op = fmaxf(op, 0.8f * smooth(thick, thick * 0.6f, wa - a) * smooth(0.2f, 0.3f, v));
        /* lung markings: vessels radiating from the hilum, fading to the periphery */
        float hu = (side ? 1.0f : -1.0f) * (sc->mw + 0.05f), hvv = 0.42f;
        float ru = c - hu, rv = v - hvv;
        float rr = sqrtf(ru * ru + rv * rv);
        float ang = atan2f(rv, ru);
        float stripes = 0.5f + 0.5f * cosf(ang * 38.0f + 3.0f * vnoise(sc, u, v, 10.0f));
        stripes = stripes * stripes * stripes * stripes;
        float mark = (0.05f * stripes + 0.025f * vnoise(sc, u, v, 28.0f)) * expf(-rr / 0.22f);
        /* pneumothorax: no markings beyond the pleural line, a thin bright line at its edge */
        float gap = sc->ptx_gap[side];
        float dist_wall = fminf(wa - a, (v - sc->v_apex) * 0.8f);
        if (gap > 0 && dist_wall < gap) {
            mark = -0.07f;
        }
        float dark = sc->lung_dark * (1 - 0.88f * op);
        val += L * (-dark + mark * (1 - op) + 0.10f * op * (1.0f - 0.5f * vnoise(sc, u, v, 18.0f)));
        if (gap > 0) val += L * 0.13f * expf(-(dist_wall - gap) * (dist_wall - gap) / (0.0025f * 0.0025f));
    }
    /* mediastinum and heart are denser than the chest wall */
    val += 0.08f * H;
    float med = smooth(sc->mw + 0.006f, sc->mw - 0.006f, a) * smooth(sc->v_apex, sc->v_apex + 0.05f, v) *
                smooth(dv + 0.01f, dv - 0.01f, v);
    val += 0.05f * med;
    /* trachea: an air column to the carina */
    val -= 0.10f * smooth(0.016f, 0.010f, a) * smooth(0.32f, 0.28f, v) * body;
    /* spine and vertebral endplates */
    if (a < 0.04f) {
        float sp = smooth(0.04f, 0.03f, a);
        float ver = 0.5f + 0.5f * cosf((v - 0.1f) / 0.045f * 6.2831853f);
        val += sp * (0.06f + 0.03f * ver * ver) * body;
    }
    /* ribs, fainter over the mediastinum */
    float rb = ribs(sc, side, a, v) * smooth(dv + 0.03f, dv, v) * smooth(wa + 0.05f, wa + 0.02f, a);
    val += rb * (0.09f * (L > 0.5f ? 1.0f : 0.6f)) * body;
    /* clavicles: from the sternal notch up and out to the shoulders */
    float cv = 0.13f + 0.03f * a - 0.25f * (a - 0.2f) * (a - 0.2f) + (sc->view == CXR_VIEW_AP ? -0.02f : 0.0f);
    if (a > 0.03f && a < 0.34f) val += 0.14f * smooth(0.014f, 0.009f, fabsf(v - cv)) * body;
    /* scapula edges over the lateral lung (more on AP, where they cannot be rotated away) */
    float sc_e = sc->view == CXR_VIEW_AP ? 0.05f : 0.02f;
    val += sc_e * smooth(0.02f, 0.0f, fabsf(a - (wa - 0.02f))) * smooth(0.35f, 0.25f, v) * body;
    /* devices and lines */
    for (int i = 0; i < sc->n_row_segs; i++) {
        const Seg *s = sc->row_segs[i];
        if (u < s->bu0 || u > s->bu1) continue;
        float d2 = seg_d2(s, u, v), w2 = s->half_width * s->half_width;
        if (d2 > 4 * w2) continue;
        float g = expf(-d2 / w2);
        val += s->value * g * (s->lung ? L : 1.0f);
    }
    return val;
}

static float lateral(const Scene *sc, float u, float v)
{
    /* patient faces image left: sternum at left, spine at right */
    float cx = 0.5f, cy = 0.45f;
    float ex = (u - cx) / 0.40f, ey = (v - cy) / 0.42f;
    float body = smooth(1.15f, 1.0f, ex * ex + ey * ey);
    float val = 0.05f + 0.45f * body;
    float dv = sc->v_dia[0] + 0.04f + 0.05f * (u - 0.4f) * (u - 0.4f) * 4;
    float lx = (u - 0.52f) / 0.30f, ly = (v - 0.40f) / 0.32f;
    float L = smooth(1.05f, 0.95f, lx * lx + ly * ly) * smooth(dv + 0.01f, dv - 0.01f, v);
    /* heart: anterior and low */
    float hw = sc->ctr * 0.55f;
    float hx = (u - 0.36f) / hw, hy = (v - (dv - 0.12f)) / 0.15f;
    float H = smooth(1.08f, 0.92f, hx * hx + hy * hy);
    L *= 1 - 0.8f * H;
    float op = 0;
    if (sc->effusion[0] > 0) /* the posterior costophrenic sulcus fills first */
        op = 0.9f * smooth(dv - sc->effusion[0] * (0.3f + 1.5f * clampf(u - 0.5f, 0, 0.4f)) - 0.01f,
                           dv - sc->effusion[0] * (0.3f + 1.5f * clampf(u - 0.5f, 0, 0.4f)) + 0.02f, v);
    for (int i = 0; i < sc->n_blobs; i++) {
        const Blob *b = &sc->blobs[i];
        float du = u - b->u, dvv = v - b->v;
        float d2 = (du * du + dvv * dvv) / (b->r * b->r);
        op = 1 - (1 - op) * (1 - b->op * expf(-d2 * 1.6f));
    }
    if (sc->edema > 0) {
        float hu = (u - 0.5f) / 0.15f, hv = (v - 0.42f) / 0.15f;
        op = 1 - (1 - op) * (1 - sc->edema * expf(-(hu * hu + hv * hv)));
    }
    val += L * (-sc->lung_dark * 0.8f * (1 - 0.85f * op) + 0.03f * vnoise(sc, u, v, 20.0f));
    val += 0.07f * H;
    /* spine: vertebral bodies stacked down the back */
    float sx = fabsf(u - 0.80f);
    float ver = 0.5f + 0.5f * cosf((v - 0.1f) / 0.06f * 6.2831853f);
    val += smooth(0.06f, 0.045f, sx) * (0.08f + 0.06f * ver * ver) * body;
    /* sternum */
    val += 0.07f * smooth(0.012f, 0.006f, fabsf(u - (0.16f + 0.05f * v))) * smooth(0.15f, 0.2f, v) *
           smooth(0.62f, 0.55f, v);
    for (int i = 0; i < sc->n_row_segs; i++) {
        const Seg *s = sc->row_segs[i];
        if (u < s->bu0 || u > s->bu1) continue;
        float d2 = seg_d2(s, u, v), w2 = s->half_width * s->half_width;
        if (d2 < 4 * w2) val += s->value * expf(-d2 / w2);
    }
    return val;
}

static inline uint32_t hash3(uint32_t x, uint32_t y, uint32_t s)
{
    uint32_t h = x * 0x8da6b343u ^ y * 0xd8163841u ^ s * 0xcb1ab31fu;
    h ^= h >> 15;
    h *= 0x2c1b3c6du;
    h ^= h >> 12;
    h *= 0x297a2d39u;
    h ^= h >> 15;
    return h;
}

PsStatus cxr_synth_draw(unsigned char *pix, int w, int h, const CxrSpec *spec, CxrGeometry *geom,
                        PsErr *err)
{
    PS_CHECK(err, pix && spec);
    if (w < CXR_SYNTH_MIN_SIZE || h < CXR_SYNTH_MIN_SIZE || w > 8192 || h > 8192)
        return ps_err(err, PS_ERR_INVALID, "cxr_synth_draw: size %dx%d out of range", w, h);
    if (spec->view != CXR_VIEW_PA && spec->view != CXR_VIEW_AP && spec->view != CXR_VIEW_LATERAL)
        return ps_err(err, PS_ERR_INVALID, "cxr_synth_draw: unknown view %d", (int)spec->view);
    Scene *sc = malloc(sizeof *sc);
    int lw = (w + 1) / 2 + 1, lh = (h + 1) / 2 + 1; /* half resolution, one extra for bilinear */
    float *lo = malloc((size_t)lw * (size_t)lh * sizeof *lo);
    if (!sc || !lo) {
        free(sc);
        free(lo);
        return ps_err(err, PS_ERR_NOMEM, "cxr_synth_draw: no memory for a %dx%d image", w, h);
    }
    build_scene(sc, spec);
    float inv = 1.0f / sc->scale;
    for (int i = 0; i <= 1024; i++)
        sc->expo[i] = sc->bright + sc->contrast * powf((float)i / 1024.0f, sc->gamma);
    for (int y = 0; y < lh; y++) {
        /* image -> anatomy: undo the shift and the magnification about the centre */
        float v = ((2.0f * (float)y + 0.5f) / (float)h - 0.5f - sc->dy) * inv + 0.5f;
        sc->n_row_segs = 0;
        for (int i = 0; i < sc->n_segs; i++)
            if (v >= sc->segs[i].bv0 && v <= sc->segs[i].bv1)
                sc->row_segs[sc->n_row_segs++] = &sc->segs[i];
        for (int x = 0; x < lw; x++) {
            float u = ((2.0f * (float)x + 0.5f) / (float)w - 0.5f - sc->dx) * inv + 0.5f;
            float val = sc->view == CXR_VIEW_LATERAL ? lateral(sc, u, v) : frontal(sc, u, v);
            /* exposure: smooth, so applying it before enlarging costs a quarter */
            float q = clampf(val, 0, 1) * 1024.0f;
            int qi = (int)q;
            if (qi > 1023) qi = 1023;
            lo[(size_t)y * lw + x] = sc->expo[qi] + (sc->expo[qi + 1] - sc->expo[qi]) * (q - (float)qi);
        }
    }
    uint32_t gseed = (uint32_t)(spec->seed ^ (spec->seed >> 32));
    for (int y = 0; y < h; y++) {
        float fy = ((float)y - 0.5f) * 0.5f;
        int y0 = fy < 0 ? 0 : (int)fy;
        float ty = clampf(fy - (float)y0, 0, 1);
        const float *r0 = lo + (size_t)y0 * lw, *r1 = lo + (size_t)(y0 + 1 < lh ? y0 + 1 : y0) * lw;
        for (int x = 0; x < w; x++) {
            float fx = ((float)x - 0.5f) * 0.5f;
            int x0 = fx < 0 ? 0 : (int)fx;
            int x1 = x0 + 1 < lw ? x0 + 1 : x0;
            float tx = clampf(fx - (float)x0, 0, 1);
            float a = r0[x0] + (r0[x1] - r0[x0]) * tx, b = r1[x0] + (r1[x1] - r1[x0]) * tx;
            float val = a + (b - a) * ty;
            /* film grain: two hashed uniforms give a triangular distribution */
            uint32_t hh = hash3((uint32_t)x, (uint32_t)y, gseed);
            float g = ((float)(hh & 0xffff) + (float)(hh >> 16)) * (1.0f / 65536.0f) - 1.0f;
            val += sc->grain * g;
            pix[(size_t)y * w + x] = (unsigned char)(clampf(val, 0, 1) * 255.0f + 0.5f);
        }
    }
    if (geom) {
        /* anatomy -> image */
#define TU(x) (((x) - 0.5f) * sc->scale + 0.5f + sc->dx)
#define TV(y) (((y) - 0.5f) * sc->scale + 0.5f + sc->dy)
        float wa = wall_a(sc, sc->heart_vc);
        geom->thorax_left = TU(0.5f - wa);
        geom->thorax_right = TU(0.5f + wa);
        geom->heart_left = TU(sc->heart_uc - sc->heart_w * 0.5f);
        geom->heart_right = TU(sc->heart_uc + sc->heart_w * 0.5f);
        geom->heart_top = TV(sc->heart_vc - sc->heart_b);
        geom->heart_bottom = TV(sc->heart_vc + sc->heart_b);
        geom->diaphragm_right = TV(sc->v_dia[0]);
        geom->diaphragm_left = TV(sc->v_dia[1]);
        geom->ctr = sc->heart_w / (2.0f * sc->tw);
#undef TU
#undef TV
    }
    free(lo);
    free(sc);
    return PS_OK;
}
