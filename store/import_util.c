/* import_util.c — helpers shared by the importers (see import_util.h). Not a general CSV or
 * SQL layer: the importers use store/csv.h and store.h for those. */
#include "store/import_util.h"

#include <stdio.h>
#include <string.h>

#include "store/store_internal.h"
#include "store/testhooks.h"

void import_util_sanitize(char *dst, size_t n, const char *s, size_t len)
{
    size_t w = 0;
    if (n == 0) return;
    for (size_t i = 0; i < len && w + 8 < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (i >= 60) {
            memcpy(dst + w, "...", 3);
            w += 3;
            break;
        }
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            dst[w++] = (char)ch;
        else
            w += (size_t)snprintf(dst + w, n - w, "\\x%02x", ch);
    }
    dst[w] = 0;
}

int import_util_parse_i64(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (n > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (n == i || n - i > 18) return -1;
    int64_t v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9) return -1;
        v = v * 10 + (int64_t)d;
    }
    *out = neg ? -v : v;
    return 0;
}

static PsStatus db_error(Store *st, int src, PsErr *err)
{
    return ps_err(err, store_status_from_sqlite(src), "%s: %s", store_path(st),
                  sqlite3_errmsg(store_db(st)));
}

PsStatus import_util_progress_init(Store *st, PsErr *err)
{
    int src = sqlite3_exec(store_db(st),
                           "CREATE TABLE IF NOT EXISTS import_progress(source TEXT NOT NULL, "
                           "item TEXT NOT NULL, records INTEGER NOT NULL, bad INTEGER NOT NULL, "
                           "done INTEGER NOT NULL, detail TEXT NOT NULL DEFAULT '', "
                           "PRIMARY KEY (source, item)) WITHOUT ROWID",
                           NULL, NULL, NULL);
    return src == SQLITE_OK ? PS_OK : db_error(st, src, err);
}

PsStatus import_util_progress_get(Store *st, const char *source, const char *item,
                                  ImportProgress *p, PsErr *err)
{
    memset(p, 0, sizeof *p);
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(store_db(st),
                                 "SELECT records, bad, done, detail FROM import_progress "
                                 "WHERE source = ?1 AND item = ?2",
                                 -1, &s, NULL);
    if (src != SQLITE_OK) return db_error(st, src, err);
    sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, item, -1, SQLITE_STATIC);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        p->records = sqlite3_column_int64(s, 0);
        p->bad = sqlite3_column_int64(s, 1);
        p->done = sqlite3_column_int(s, 2);
        const unsigned char *d = sqlite3_column_text(s, 3);
        snprintf(p->detail, sizeof p->detail, "%s", d ? (const char *)d : "");
        p->found = 1;
        src = SQLITE_DONE;
    }
    PsStatus rc = src == SQLITE_DONE ? PS_OK : db_error(st, src, err);
    sqlite3_finalize(s);
    return rc;
}

PsStatus import_util_progress_put(Store *st, const char *source, const char *item, int64_t records,
                                  int64_t bad, int done, const char *detail, PsErr *err)
{
    sqlite3_stmt *s = NULL;
    int src = sqlite3_prepare_v2(store_db(st),
                                 "INSERT OR REPLACE INTO import_progress(source, item, records, "
                                 "bad, done, detail) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                                 -1, &s, NULL);
    if (src != SQLITE_OK) return db_error(st, src, err);
    sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, item, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, records);
    sqlite3_bind_int64(s, 4, bad);
    sqlite3_bind_int(s, 5, done);
    sqlite3_bind_text(s, 6, detail ? detail : "", -1, SQLITE_TRANSIENT);
    src = sqlite3_step(s);
    PsStatus rc = src == SQLITE_DONE ? PS_OK : db_error(st, src, err);
    sqlite3_finalize(s);
    return rc;
}

int64_t import_util_progress_bad(Store *st, const char *source)
{
    sqlite3_stmt *s = NULL;
    int64_t v = 0;
    if (sqlite3_prepare_v2(store_db(st),
                           "SELECT coalesce(sum(bad), 0) FROM import_progress WHERE source = ?1",
                           -1, &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}

PsStatus import_util_commit_batch(Store *st, ImportBatch *b, PsErr *err)
{
    PsStatus rc = store_begin(st);
    if (rc) return ps_err(err, rc, "%s", store_errmsg(st));
    if (b->write) rc = b->write(b->ctx, b, err);
    if (rc == PS_OK)
        rc = import_util_progress_put(st, b->source, b->item, b->records, b->bad, b->done,
                                      b->detail, err);
    if (rc) {
        store_rollback(st);
        return rc;
    }
    PS_KILLPOINT("import.before_commit");
    if ((rc = store_commit(st))) return ps_err(err, rc, "%s", store_errmsg(st));
    PS_KILLPOINT("import.after_commit");
    return PS_OK;
}
