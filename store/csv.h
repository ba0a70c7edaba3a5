/* csv.h — a streaming CSV reader for the importers: plain or gzip files, RFC 4180.
 *
 * Accepts: quoted fields holding commas, newlines and doubled quotes; LF or CRLF line ends;
 * a UTF-8 byte-order mark at the start; gzip input recognised by its magic bytes (not by the
 * file name), including multi-member files. Fields come back NUL-terminated, pointing into the
 * reader's buffer, valid until the next csv_next() call.
 *
 * Hard limits (CsvLimits) bound the memory whatever the input: a record longer than
 * max_record bytes, a field longer than max_field bytes or a record with more than
 * max_columns fields is reported as a bad record (PS_ERR_PARSE, "file:line: reason") and
 * skipped, and reading goes on with the next record. A 2 GB line without a newline therefore
 * costs at most about max_record bytes of memory.
 *
 * Leniency, as Python's csv module (strict=False): a quote inside an unquoted field is data;
 * characters after a closing quote are appended to the field. Blank lines are not records
 * (they still count in line numbers). A lone CR (not before LF) is data.
 *
 * Fatal conditions are PS_ERR_IO: the file cannot be opened or read, a gzip stream is
 * truncated ("file: truncated gzip") or corrupt.
 *
 * Thread safety: a CsvReader is used by one thread at a time.
 */
#ifndef CSV_H
#define CSV_H

#include <stddef.h>
#include <stdint.h>

#include "store/ps.h"

typedef struct {
    size_t max_field;  /* bytes of one field after unquoting */
    size_t max_record; /* bytes of one record as it stands in the file */
    int max_columns;   /* fields in one record */
} CsvLimits;

#define CSV_DEFAULT_MAX_FIELD ((size_t)1 << 20)  /* 1 MiB */
#define CSV_DEFAULT_MAX_RECORD ((size_t)4 << 20) /* 4 MiB */
#define CSV_DEFAULT_MAX_COLUMNS 4096

typedef struct CsvReader CsvReader;

/* Opens path (plain or gzip). lim may be NULL for the defaults. Messages name the file as
 * `name` when given (e.g. "hosp/admissions.csv.gz"), else as path. On failure *out is NULL and
 * err holds one line. Free with csv_close. */
PsStatus csv_open(CsvReader **out, const char *path, const char *name, const CsvLimits *lim,
                  PsErr *err);
void csv_close(CsvReader *r);

/* Reads the next record. PS_OK with *got = 1: a record is available through csv_field();
 * PS_OK with *got = 0: end of input. PS_ERR_PARSE: this record was bad (err says where and
 * why) and has been skipped; call again for the next. PS_ERR_IO: unreadable, truncated or
 * corrupt input; stop. */
PsStatus csv_next(CsvReader *r, int *got, PsErr *err);

/* The current record: number of fields, field i (NUL-terminated; *len its length when len
 * is non-NULL), and the physical line (1-based) where the record begins. */
int csv_nfields(const CsvReader *r);
const char *csv_field(const CsvReader *r, int i, size_t *len);
int64_t csv_line(const CsvReader *r);

/* Index of the field of the current record equal to name, or -1 (for header lookups). */
int csv_find(const CsvReader *r, const char *name);

/* The name used in messages; whether the input is gzip; bytes read from the file so far
 * (compressed bytes for gzip), for progress. */
const char *csv_name(const CsvReader *r);
int csv_is_gzip(const CsvReader *r);
uint64_t csv_bytes_read(const CsvReader *r);

#endif
