/* stayview.h — what the Stay and Radiograph screens show about one ICU stay, in a few indexed
 * reads: the stay and its patient, its time series split by channel, the admission's diagnoses
 * with ICD titles, its 25 phenotype labels, and every radiograph of the subject with the reason
 * the pairing rule took or passed over each one.
 *
 * Strings are returned as stored: callers showing them on a terminal must sanitise them.
 *
 * Thread safety: like store.h, one Store per thread; the results are plain memory, owned by
 * the caller, and may be handed to another thread.
 */
#ifndef STAYVIEW_H
#define STAYVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define STAYVIEW_TEXT_MAX 32
#define STAYVIEW_TITLE_MAX 256

/* One channel's measurements in time order. For categorical channels value is the category's
 * score (NAN when the charted text has none). */
typedef struct {
    size_t n;
    float *hours; /* since intime; may be negative */
    float *value;
} StayviewSeries;

typedef struct {
    int seq_num;
    char icd_code[16];
    int icd_version;
    char title[STAYVIEW_TITLE_MAX]; /* "" when the store has no title for the code */
} StayviewDiagnosis;

typedef struct {
    StoreStay stay;
    char gender; /* 'M', 'F' or '?' */
    StayviewSeries series[CATALOG_N_CHANNELS];
    size_t n_events;
    float first_hour, last_hour; /* over all events; 0 when there are none */
    StayviewDiagnosis *dx;       /* in seq_num order */
    size_t n_dx;
    int has_labels;
    uint8_t labels[CATALOG_N_PHENOTYPES];
    int has_pair;
    char pair_dicom[96];
    int n_cxr_in_stay; /* radiographs of the subject taken within [intime, outtime] */
    /* one slab for every series' hours and values */
    float *slab;
} StayviewStay;

/* Loads everything about stay_id into *out (fully overwritten; free with stayview_stay_free).
 * PS_ERR_NOTFOUND when there is no such stay; store_errmsg(st) says why on failure. */
PsStatus stayview_stay_load(Store *st, int64_t stay_id, StayviewStay *out);
void stayview_stay_free(StayviewStay *s);

/* Why the pairing rule (latest AP radiograph of the subject within [intime, outtime]) took or
 * passed over a radiograph, for this stay. */
typedef enum {
    STAYVIEW_PAIRED = 0,    /* the stay's pair */
    STAYVIEW_EARLIER_AP,    /* an AP within the stay, but a later one was taken */
    STAYVIEW_NOT_AP,        /* within the stay, but not an AP view */
    STAYVIEW_BEFORE,        /* taken before intime */
    STAYVIEW_AFTER,         /* taken after outtime */
    STAYVIEW_AP_UNPAIRED,   /* the rule would take it, but the pairs table does not (stale pairs) */
} StayviewReason;

typedef struct {
    char dicom_id[96];
    int64_t study_id, study_time;
    float hours; /* study_time relative to the stay's intime */
    char view[16];
    int8_t chexpert[CATALOG_N_CHEXPERT]; /* CHEX_* */
    int split;
    int width, height;
    int has_image;
    StayviewReason reason;
} StayviewRadiograph;

/* Every radiograph of the stay's subject in study_time order, each with its reason.
 * *out is malloc'd (free with free(); NULL when none), *n its length. */
PsStatus stayview_radiographs(Store *st, int64_t stay_id, StayviewRadiograph **out, size_t *n);

/* The reason as a short phrase: "paired: latest AP within the stay", "not AP (PA)",
 * "before the stay", "after the stay", "earlier AP in the stay", ... view is the radiograph's
 * view (sanitise it first when it comes from data). Writes into buf (size n), returns buf. */
char *stayview_reason_text(char *buf, size_t n, StayviewReason r, const char *view);

#endif
