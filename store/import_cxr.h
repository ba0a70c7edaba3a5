/* import_cxr.h — MIMIC-CXR-JPG 2.0.0 into the store: metadata, CheXpert labels, the official
 * split, and (when DIR/files is there) each image decoded, resized and stored as a JPEG blob.
 *
 * Reads DIR/mimic-cxr-2.0.0-{metadata,chexpert,split}.csv[.gz] (all three required). CheXpert
 * values keep positive (1), negative (0), uncertain (-1) and not mentioned (empty -> missing)
 * apart; labels are per study and shared by its images. StudyDate YYYYMMDD + StudyTime HHMMSS[.f]
 * (leading zeros may be lost: 54003.0 is 05:40:03) give the study time. Images are read from
 * DIR/files/pNN/pSUBJECT/sSTUDY/DICOM.jpg, decoded with DCT scaling to the smallest size at
 * least max_side on the longest side, resized (bilinear) to exactly max_side (smaller images are
 * kept as they are), re-encoded; the original path (relative to DIR) is kept. Decoding runs on
 * `threads` threads. A missing or damaged image is a bad row: its metadata is stored without an
 * image. Without DIR/files the import is metadata only, and says so (stats.images_dir = 0).
 *
 * Splits: the official split is stored; then, when the store holds ICU stays, pairs are
 * recomputed and radiographs take the subject-level split of formats.md section 4 (the EHR
 * split decides), as MedFuse does. Without stays the official split stays.
 *
 * Robustness as the MIMIC-IV importer: batches are transactions with a records-done count, so
 * a killed import resumes; bad rows are reported "file:line: reason" and counted.
 *
 * Threads: on_bad_row and on_progress are called from the caller's thread only.
 */
#ifndef IMPORT_CXR_H
#define IMPORT_CXR_H

#include <stdint.h>

#include "store/ps.h"
#include "store/store.h"

#define IMPORT_CXR_DEFAULT_SIDE 512

typedef struct {
    const char *dir;
    int max_side;       /* longest side of stored images; 0: IMPORT_CXR_DEFAULT_SIDE */
    int threads;        /* decoding threads; 0: every online core */
    int quality;        /* JPEG quality of stored images; 0: 90 */
    int metadata_only;  /* 1: do not look for images even when DIR/files exists */
    int64_t batch_rows; /* metadata rows per transaction; 0: 256 with images, 20000 without */
    void (*on_bad_row)(void *ctx, const char *msg);
    int (*on_progress)(void *ctx, const char *file, int64_t records, uint64_t bytes,
                       uint64_t total_bytes);
    void *ctx;
} ImportCxrOptions;

typedef struct {
    int images_dir; /* 1 when DIR/files was found and used */
    int resumed, already_done;
    int64_t radiographs;     /* in the store after the import */
    int64_t images;          /* radiographs with a stored image */
    int64_t images_this_run; /* decoded and stored by this run */
    double decode_seconds;   /* wall time spent decoding/resizing/encoding this run */
    int64_t without_labels;  /* radiographs whose study has no CheXpert row */
    int64_t bad_rows;        /* over every run of this import */
    int64_t pairs;           /* stay <-> radiograph pairs after the import */
    int recomputed;          /* 1 when pairs and splits were recomputed (stays present) */
} ImportCxrStats;

PsStatus import_cxr_run(Store *st, const ImportCxrOptions *opt, ImportCxrStats *stats, PsErr *err);

/* Parses StudyDate (YYYYMMDD) and StudyTime (HHMMSS[.fff], leading zeros possibly lost) into
 * seconds since the epoch, UTC. Returns 0, or -1 when either is malformed. For tests. */
int import_cxr_study_time(const char *date, size_t dn, const char *time, size_t tn, int64_t *out);

/* Resizes gray src (sw x sh) to dst (dw x dh) bilinearly; for tests and the importer. */
void import_cxr_resize(unsigned char *dst, int dw, int dh, const unsigned char *src, int sw,
                       int sh);

#endif
