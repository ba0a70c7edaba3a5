/* demo.h — the deterministic synthetic demo cohort (the store `make run` opens by default).
 *
 * ICU stays with the 17 physiological channels, 25 phenotype labels with ICD diagnoses, and
 * chest radiographs (drawn by cxr_synth, JPEG-encoded) with CheXpert labels, in the shape of the
 * paper's Table 1: radiographs >> ICU stays >> pairs. How phenotypes drive vitals and
 * radiographic findings is data, assets/demo_links.csv, read at run time; ICD codes come from
 * assets/demo_icd.csv. Same seed and size, same rows, whatever the thread count.
 *
 * Thread safety: demo_generate uses the Store from the calling thread only; it runs its own
 * drawing threads internally (signals blocked in them) and joins them before returning.
 */
#ifndef DEMO_H
#define DEMO_H

#include <signal.h>
#include <stdint.h>

#include "store/ps.h"
#include "store/store.h"

#define DEMO_DEFAULT_STAYS 4000
#define DEMO_MAX_STAYS 1000000
#define DEMO_DEFAULT_SEED 1

/* Called from the calling thread: phase is "stays", "radiographs" or "pairs". */
typedef void (*DemoProgressFn)(void *ctx, const char *phase, int64_t done, int64_t total);

typedef struct {
    int n_stays;    /* ICU stays, 1..DEMO_MAX_STAYS */
    uint64_t seed;
    int image_size; /* side of the stored radiographs, >= 512 by default */
    int threads;    /* drawing threads; 0 = one per online CPU */
    int jpeg_quality;
    DemoProgressFn progress; /* may be NULL */
    void *progress_ctx;
    const volatile sig_atomic_t *cancel; /* non-zero asks to stop (PS_ERR_CANCELLED); may be NULL */
} DemoConfig;

typedef struct {
    int64_t subjects, stays, events, radiographs, studies, pairs;
} DemoSummary;

void demo_config_init(DemoConfig *cfg);

/* Writes the cohort into st, which must hold no patients, stays or radiographs. Writes in
 * batches, one transaction each; on failure the store holds a partial cohort (the CLI writes to a
 * temporary file and renames it, so users never see one). sum may be NULL. */
PsStatus demo_generate(Store *st, const DemoConfig *cfg, DemoSummary *sum, PsErr *err);

/* The temporary file `phenoscope demo` builds the cohort in, beside the store and named after
 * the process: "<store>.demo-tmp-<pid>". PS_ERR_INVALID when it does not fit in n bytes. */
PsStatus demo_temp_path(char *dst, size_t n, const char *store_path, long pid, PsErr *err);

/* Removes the temporary files (and their -wal, -shm, -journal) that demos killed before they
 * could clean up left beside store_path: those whose process no longer exists. A file of a live
 * process (a demo still running, or a pid reused since) is kept. *removed (may be NULL) counts
 * the files removed. Errors only for a directory that cannot be read or a file that cannot be
 * removed. */
PsStatus demo_remove_stale_temps(const char *store_path, int *removed, PsErr *err);

/* Number of patients + stays + radiographs in st (0 = an empty store). */
PsStatus demo_store_rows(Store *st, int64_t *rows, PsErr *err);

#endif
