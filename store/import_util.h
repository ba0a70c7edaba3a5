/* import_util.h — small pieces the importers share: data text made safe for messages, strict
 * integers, and the per-file progress that lets a killed import resume.
 *
 * The progress table (import_progress: source, item, records done, bad rows, done flag, detail)
 * is the importers' own bookkeeping inside the store, written in the same transaction as the
 * rows it counts. It is created on first use (CREATE TABLE IF NOT EXISTS) rather than by the
 * store's schema, because only importers read it.
 */
#ifndef IMPORT_UTIL_H
#define IMPORT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "store/ps.h"
#include "store/store.h"

/* Copies data text (len bytes) into dst (n bytes) for a message: printable ASCII kept, other
 * bytes and backslashes as \xNN, text beyond 60 bytes cut with "...". */
void import_util_sanitize(char *dst, size_t n, const char *s, size_t len);

/* Strict decimal integer: optional '-', 1..18 digits, nothing else. 0 on success, -1 if not. */
int import_util_parse_i64(const char *s, size_t n, int64_t *out);

typedef struct {
    int64_t records; /* records of the item's file committed */
    int64_t bad;     /* bad rows counted by the committed part */
    int done;        /* the item is complete */
    int found;       /* a row exists */
    char detail[512];
} ImportProgress;

/* Creates the table when absent (outside a transaction). Errors go to err. */
PsStatus import_util_progress_init(Store *st, PsErr *err);
/* Reads (source, item); absent items read as zeros with found = 0. */
PsStatus import_util_progress_get(Store *st, const char *source, const char *item,
                                  ImportProgress *p, PsErr *err);
/* Writes (source, item) inside the caller's transaction. detail may be NULL. */
PsStatus import_util_progress_put(Store *st, const char *source, const char *item, int64_t records,
                                  int64_t bad, int done, const char *detail, PsErr *err);
/* One batch of an import and the progress record that goes with it. The write callback adds
 * the batch's rows and leaves in the struct the progress to record (records of the item's file
 * done, bad rows, done flag); detail may be NULL. */
typedef struct ImportBatch ImportBatch;
struct ImportBatch {
    const char *source, *item, *detail;
    int64_t records, bad;
    int done;
    /* Writes the batch's rows inside the open transaction; NULL: a progress record alone. */
    PsStatus (*write)(void *ctx, ImportBatch *b, PsErr *err);
    void *ctx;
};

/* Commits one batch as one transaction: BEGIN IMMEDIATE, b->write, the progress record, COMMIT.
 * Any failure rolls the whole batch back (its rows and its progress: a resumed run redoes it).
 * Kill points "import.before_commit" (everything written, not committed) and
 * "import.after_commit" (committed, before the caller learns of it) are the importers' only
 * ones: every batch of every importer passes here. */
PsStatus import_util_commit_batch(Store *st, ImportBatch *b, PsErr *err);

/* Sum of bad rows recorded for source. */
int64_t import_util_progress_bad(Store *st, const char *source);

#endif
