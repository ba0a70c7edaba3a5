/* ps.h — status codes and error messages shared by every module.
 *
 * Fallible functions return a PsStatus. The human-readable message lives on the object the
 * caller holds (a Store, a PsErr the caller passes in), never in a process-global buffer, so
 * threads do not trample each other's errors. Messages carry context a user can act on:
 * "admissions.csv.gz:1843: expected 16 columns, got 15".
 */
#ifndef PS_H
#define PS_H

#include <stddef.h>

typedef enum {
    PS_OK = 0,
    PS_ERR_NOMEM,     /* an allocation failed */
    PS_ERR_IO,        /* a file could not be opened, read or written */
    PS_ERR_PARSE,     /* input was not in the expected format */
    PS_ERR_DB,        /* SQLite reported an error */
    PS_ERR_INVALID,   /* an argument or a value out of its domain */
    PS_ERR_CANCELLED, /* the caller asked to stop */
    PS_ERR_BUSY,      /* another process holds the store */
    PS_ERR_NOTFOUND,  /* a named thing (run, stay, radiograph) does not exist */
    PS_ERR_VERSION,   /* a store or file from a newer version of phenoscope */
} PsStatus;

#define PS_ERRMSG_MAX 512

/* A caller-owned error message buffer, for modules without a handle of their own. */
typedef struct {
    char msg[PS_ERRMSG_MAX];
} PsErr;

/* Formats a message into err (when err is non-NULL) and returns rc, so that
 * `return ps_err(err, PS_ERR_PARSE, "%s:%d: bad number", f, line);` reads naturally. */
PsStatus ps_err(PsErr *err, PsStatus rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A short constant name for a status ("I/O error", "out of memory", ...). */
const char *ps_status_str(PsStatus rc);

/* Checks at API boundaries: returns PS_ERR_INVALID with a message naming the condition. */
#define PS_CHECK(err, cond)                                                                      \
    do {                                                                                         \
        if (!(cond))                                                                             \
            return ps_err((err), PS_ERR_INVALID, "%s: check failed: %s", __func__, #cond);       \
    } while (0)

#endif
