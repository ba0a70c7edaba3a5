/* store_internal.h — for sibling modules in store/ that need raw SQL on a Store (a cohort query,
 * an importer's bulk statement). Not for engine/ or ui/: they go through store.h.
 *
 * The error setters write the message that store_errmsg(st) returns and hand back the status,
 * so `return store_set_error(st, PS_ERR_PARSE, "%s:%d: bad value", f, line);` reads naturally.
 */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H

#include <sqlite3.h>

#include "store/store.h"

/* The connection behind st; owned by st, valid until store_close. */
sqlite3 *store_db(Store *st);

/* Formats a message onto st and returns rc. */
PsStatus store_set_error(Store *st, PsStatus rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "<what>: <sqlite's message>" onto st; returns the PsStatus matching the SQLite result code
 * (SQLITE_BUSY -> PS_ERR_BUSY, SQLITE_NOMEM -> PS_ERR_NOMEM, I/O codes -> PS_ERR_IO, ...). */
PsStatus store_db_error(Store *st, int sqlite_rc, const char *what);

/* Maps an SQLite result code to a PsStatus without touching any message. */
PsStatus store_status_from_sqlite(int sqlite_rc);

#endif
