/* import_mimic.h — native extraction of the phenotyping cohort from raw MIMIC-IV tables.
 *
 * Reads DIR in either layout (v1.0: core/ hosp/ icu/; v2.x: hosp/ icu/), every table plain or
 * gzip, streaming, and writes into a Store: the cohort's patients and ICU stays (with a
 * subject-level split), their admissions' diagnoses, the ICD titles, the 25 phenotype labels,
 * the events of the 17 variables (hours since intime) and the cohort funnel.
 *
 * The rules are those of the MIMIC-IV phenotyping benchmark (mimic3-benchmarks as adapted by
 * MedFuse's mimic4extract), applied with the benchmark's own resource files, which the user
 * supplies (phenoscope does not bundle them):
 *   funnel 0  all ICU stays
 *          1  first care unit = last care unit
 *          2  the stay's admission and patient exist
 *          3  the admission has exactly one stay left
 *          4  anchor_age >= 18 (negative ages count as 90)
 *          5  at least one event with 0 <= hours <= los (the phenotyping task's cut)
 *   events: chartevents (when present) and labevents rows whose itemid the map lists with
 *   STATUS "ready"; the `value` text is cleaned as the benchmark's clean_events does (see
 *   import_mimic.c for each variable), then the ranges file applied as the benchmark's
 *   remove_outliers_for_variable: outside [OUTLIER LOW, OUTLIER HIGH] dropped, outside
 *   [VALID LOW, VALID HIGH] clipped. Where `value` is redacted ("___") but valuenum holds the
 *   number, the number is used (the benchmark would drop the row; the open demo redacts most
 *   glucose values this way). A row belongs to a cohort stay of its subject when its
 *   stay_id is that stay's or its charttime lies within [intime, outtime].
 *   labels: a stay is positive for a phenotype when a diagnosis of its admission (with an entry
 *   in d_icd_diagnoses, as the benchmark's inner join requires) has a code listed under a
 *   phenotype with use_in_benchmark true. The YAML lists ICD-9 and ICD-10 codes together, so
 *   codes match as strings whatever their version, as in the benchmark.
 *
 * Robustness: each batch of event rows is one transaction that also records how many records
 * of that file are done, so an import killed at any point and started again continues where
 * the last commit ended and ends with exactly the rows of an uninterrupted run. Bad rows are
 * reported one by one through on_bad_row ("file:line: reason") and counted, never fatal; a
 * missing file, a wrong header, a wrong directory or a damaged gzip stream stops the import
 * with one message and nothing half-written.
 *
 * Threads: while an event table is read, a second thread parses and maps the next batch as the
 * caller's thread writes the current one (two cores). on_bad_row may therefore be called from
 * that reader thread (never concurrently with itself); on_progress only from the caller's.
 */
#ifndef IMPORT_MIMIC_H
#define IMPORT_MIMIC_H

#include <stdint.h>

#include "store/ps.h"
#include "store/store.h"

#define IMPORT_MIMIC_DEFAULT_BATCH 200000

typedef struct {
    const char *dir;         /* the MIMIC-IV directory */
    const char *definitions; /* phenotype definitions YAML (ICD-9 and ICD-10 codes) */
    const char *itemids;     /* itemid_to_variable_map.csv */
    const char *ranges;      /* variable_ranges.csv */
    int64_t batch_rows;      /* source records per transaction; 0: IMPORT_MIMIC_DEFAULT_BATCH */
    /* Called for every bad row with "file:line: reason" (data already sanitised), possibly from
     * the importer's reader thread. May be NULL. */
    void (*on_bad_row)(void *ctx, const char *msg);
    /* Called after each committed batch of an event table with the file being read, records
     * done in it, and its bytes read so far / total (compressed when gzip). A non-zero return
     * stops the import (PS_ERR_CANCELLED; what was committed stays and a new run resumes).
     * May be NULL. */
    int (*on_progress)(void *ctx, const char *file, int64_t records, uint64_t bytes,
                       uint64_t total_bytes);
    void *ctx;
} ImportMimicOptions;

typedef struct {
    int layout;                /* 1: v1.0 (core/), 2: v2.x */
    int has_chartevents;       /* 0 when icu/chartevents is absent (as in the open demo) */
    int resumed;               /* 1 when this run continued an interrupted import */
    int already_done;          /* 1 when the store already held this complete import */
    int64_t funnel[6];         /* stays after each rule (see above) */
    int64_t bad_rows;          /* over every file, including runs before a resume */
    int64_t events;            /* events in the store for the cohort */
    int64_t event_rows_read;   /* this run: records of the event tables read */
    int64_t dropped_outlier;   /* this run: values outside the outlier range */
    int64_t from_valuenum;     /* this run: redacted values ("___") taken from valuenum */
    int64_t stays_with_labels; /* stays positive for at least one phenotype */
} ImportMimicStats;

/* Finds the three resource files in dir under the benchmark's names (for --resources DIR).
 * Paths are written to the caller's buffers (n bytes each). PS_ERR_NOTFOUND names the first
 * missing file. */
PsStatus import_mimic_find_resources(const char *dir, char *definitions, char *itemids,
                                     char *ranges, size_t n, PsErr *err);

/* Runs (or resumes) the import into st, which must not be inside a transaction. */
PsStatus import_mimic_run(Store *st, const ImportMimicOptions *opt, ImportMimicStats *stats,
                          PsErr *err);

/* Parses "YYYY-MM-DD[ HH:MM[:SS[.fff]]]" (also with 'T') into seconds since the epoch, UTC.
 * Returns 0 on success, -1 when s (n bytes) is not such a time. Exposed for tests. */
int import_mimic_parse_time(const char *s, size_t n, int64_t *out);

#endif
