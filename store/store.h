/* store.h — the SQLite store every part of phenoscope reads and writes.
 *
 * One file holds a cohort: patients, ICU stays, time-series events, diagnoses, phenotype labels,
 * radiographs (with resized JPEG blobs), stay<->radiograph pairs, the cohort funnel, and the
 * training record (runs, per-step losses, per-epoch metrics, checkpoints).
 *
 * Guarantees: WAL mode, foreign keys on, synchronous=FULL, a busy timeout; the schema version
 * lives in PRAGMA user_version and older stores are migrated forward on open, newer ones are
 * refused (PS_ERR_VERSION). Files are created 0600 in a 0700 directory. Writes that belong
 * together go inside store_begin()/store_commit() (BEGIN IMMEDIATE ... COMMIT).
 *
 * Thread safety: a Store is used by one thread at a time. The trainer opens its own Store on
 * the same file; the UI reads through another.
 *
 * Times are int64 seconds since the Unix epoch, UTC (MIMIC's shifted dates lie in 2100-2200,
 * which 64-bit time_t handles). Hours are relative to the stay's intime.
 */
#ifndef STORE_H
#define STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store/catalog.h"
#include "store/ps.h"

#define STORE_SCHEMA_VERSION 2

typedef struct Store Store;

typedef enum { SPLIT_NONE = -1, SPLIT_TRAIN = 0, SPLIT_VAL = 1, SPLIT_TEST = 2 } Split;
#define STORE_N_SPLITS 3

/* CheXpert values: positive / negative / uncertain / not mentioned are kept apart. */
enum { CHEX_NEGATIVE = 0, CHEX_POSITIVE = 1, CHEX_UNCERTAIN = -1, CHEX_MISSING = -2 };

typedef enum { STORE_OPEN_READWRITE = 0, STORE_OPEN_READONLY = 1, STORE_OPEN_CREATE = 2 } StoreMode;

typedef struct {
    int64_t subject_id;
    char gender;    /* 'M', 'F', or '?' */
    int anchor_age; /* years, as MIMIC's anchor_age */
    int anchor_year;
} StorePatient;

typedef struct {
    int64_t stay_id, subject_id, hadm_id;
    char first_careunit[64], last_careunit[64];
    int64_t intime, outtime; /* seconds since epoch */
    int64_t admittime, dischtime, deathtime; /* deathtime 0 when alive */
    double los_days;
    int age;   /* years at admission */
    int split; /* Split */
    int mortality_inhospital;
} StoreStay;

typedef struct {
    int64_t stay_id;
    float hours;      /* since intime; may be negative */
    int channel;      /* index into catalog_channels */
    float value;      /* numeric value (for categorical channels: the category's score) */
    const char *text; /* the charted text (categorical channels), or NULL */
} StoreEvent;

typedef struct {
    int64_t subject_id, hadm_id;
    int seq_num;
    char icd_code[16]; /* without dots */
    int icd_version;   /* 9 or 10 */
} StoreDiagnosis;

typedef struct {
    char dicom_id[96];
    int64_t subject_id, study_id;
    int64_t study_time; /* seconds since epoch */
    char view[16];      /* "AP", "PA", "LATERAL", ... or "" */
    int8_t chexpert[CATALOG_N_CHEXPERT]; /* CHEX_* values */
    int split;                           /* Split */
    int width, height;                   /* of the stored (resized) JPEG; 0 when no image */
    const unsigned char *jpeg;           /* resized JPEG bytes, or NULL (metadata only) */
    size_t jpeg_size;
    const char *path; /* original file path, or NULL */
} StoreRadiograph;

typedef struct {
    int64_t n_cxr, n_ehr, n_pairs;
} StoreSplitCounts;

/* ---- opening ----------------------------------------------------------------------------- */

/* Resolves the default store path: $PHENOSCOPE_STORE, else $XDG_DATA_HOME/phenoscope/store.db,
 * else $HOME/.local/share/phenoscope/store.db. Writes into buf (size n). */
PsStatus store_default_path(char *buf, size_t n, PsErr *err);

/* Opens (or with STORE_OPEN_CREATE creates) the store at path, migrating an older schema.
 * On failure *out is NULL and err says why in one line naming the path. Free with store_close. */
PsStatus store_open(Store **out, const char *path, StoreMode mode, PsErr *err);
void store_close(Store *st);

/* The message of the last failed call on st (valid until the next call on st). */
const char *store_errmsg(const Store *st);
const char *store_path(const Store *st);
int store_schema_version(const Store *st);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. A failed commit leaves the transaction rolled back. */
PsStatus store_begin(Store *st);
PsStatus store_commit(Store *st);
void store_rollback(Store *st);

/* ---- writing (call inside a transaction for speed and atomicity) --------------------------- */

PsStatus store_put_patient(Store *st, const StorePatient *p);
PsStatus store_put_stay(Store *st, const StoreStay *s);
PsStatus store_put_event(Store *st, const StoreEvent *e);
PsStatus store_put_diagnosis(Store *st, const StoreDiagnosis *d);
/* The ICD dictionary: code (without dots), version, long title. */
PsStatus store_put_icd_title(Store *st, const char *icd_code, int icd_version, const char *title);
/* The 25 phenotype labels of a stay (0/1 each). */
PsStatus store_put_labels(Store *st, int64_t stay_id, const uint8_t labels[CATALOG_N_PHENOTYPES]);
PsStatus store_put_radiograph(Store *st, const StoreRadiograph *r);
PsStatus store_put_pair(Store *st, int64_t stay_id, const char *dicom_id);
/* Cohort funnel: the count left after each rule, in order (step 0, 1, ...). */
PsStatus store_put_funnel(Store *st, const char *source, int step, const char *rule,
                          int64_t count);
/* A data source record shown by `info`: e.g. ("demo", "seed=1 stays=4000"). */
PsStatus store_put_source(Store *st, const char *name, const char *detail);

/* Recomputes pairs by the paper's rule (latest AP radiograph whose study time is within
 * [intime, outtime] of the stay, same subject) and moves radiographs of subjects in the EHR
 * validation/test splits into those splits (all others: train). One transaction. */
PsStatus store_recompute_pairs(Store *st);

/* ---- reading ------------------------------------------------------------------------------ */

/* Counts of radiographs, EHR stays and pairs per split (index by Split). */
PsStatus store_split_counts(Store *st, StoreSplitCounts counts[STORE_N_SPLITS]);

/* Iteration by callback: the callback returns 0 to go on, non-zero to stop (then the iterator
 * returns PS_ERR_CANCELLED). Pointers inside the record are valid only during the callback. */
typedef int (*StoreStayFn)(void *ctx, const StoreStay *s);
typedef int (*StoreEventFn)(void *ctx, const StoreEvent *e);
typedef int (*StoreRadiographFn)(void *ctx, const StoreRadiograph *r);

/* Every stay in stay_id order; split < 0 means all splits. */
PsStatus store_each_stay(Store *st, int split, StoreStayFn fn, void *ctx);
/* The events of one stay in (hours, channel) order. */
PsStatus store_each_event(Store *st, int64_t stay_id, StoreEventFn fn, void *ctx);
/* Radiographs in dicom_id order; with_jpeg = 0 skips loading blobs. split < 0: all. */
PsStatus store_each_radiograph(Store *st, int split, int with_jpeg, StoreRadiographFn fn,
                               void *ctx);

PsStatus store_get_stay(Store *st, int64_t stay_id, StoreStay *out);
PsStatus store_get_labels(Store *st, int64_t stay_id, uint8_t labels[CATALOG_N_PHENOTYPES]);
/* The radiograph with its JPEG; *jpeg_out is malloc'd (caller frees), NULL when no image. */
PsStatus store_get_radiograph(Store *st, const char *dicom_id, StoreRadiograph *out,
                              unsigned char **jpeg_out);
/* The paired radiograph of a stay into dicom_id (size n); PS_ERR_NOTFOUND when unpaired. */
PsStatus store_get_pair(Store *st, int64_t stay_id, char *dicom_id, size_t n);

/* Every stay's 25 labels in stay_id order, in one query (stays without labels are skipped). */
typedef int (*StoreLabelsFn)(void *ctx, int64_t stay_id, const uint8_t labels[CATALOG_N_PHENOTYPES]);
PsStatus store_each_labels(Store *st, StoreLabelsFn fn, void *ctx);

/* Every pair in stay_id order. */
typedef int (*StorePairFn)(void *ctx, int64_t stay_id, const char *dicom_id);
PsStatus store_each_pair(Store *st, StorePairFn fn, void *ctx);

/* The data sources (store_put_source) in name order; time is when it was recorded. */
typedef struct {
    const char *name, *detail;
    int64_t time;
} StoreSource;
typedef int (*StoreSourceFn)(void *ctx, const StoreSource *s);
PsStatus store_each_source(Store *st, StoreSourceFn fn, void *ctx);

/* The cohort funnel (store_put_funnel) by source, then step. */
typedef struct {
    const char *source, *rule;
    int step;
    int64_t count;
} StoreFunnelStep;
typedef int (*StoreFunnelFn)(void *ctx, const StoreFunnelStep *f);
PsStatus store_each_funnel(Store *st, StoreFunnelFn fn, void *ctx);

#endif
