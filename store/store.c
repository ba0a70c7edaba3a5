/* store.c — the SQLite store: opening (with the safety checks a user's only copy deserves),
 * the versioned schema and its forward migrations, cached-statement writers, readers, and the
 * paper's pairing and split rules as set-based SQL.
 *
 * Deliberately not here: importing files (store/import_*), generating demo data, cohort
 * queries for screens, the training record's accessors (runs, checkpoints: their tables are
 * created here so later code only adds functions). This file never prints and never exits.
 *
 * Layout decisions, for the readers that care about speed:
 *  - phenotype labels are one row per stay with 25 integer columns (p00..p24), so the trainer
 *    and `export labels` read a stay's labels in one row instead of 25;
 *  - JPEG blobs live in radiograph_images, apart from the radiograph metadata, so scans of the
 *    metadata (pairing, counts, the radiograph list) never page through megabytes of images;
 *  - foreign keys from children to stays/patients are DEFERRABLE INITIALLY DEFERRED: inside a
 *    transaction an importer may write in any order, and COMMIT refuses an orphan.
 */
#include "store/store.h"
#include "store/store_internal.h"
#include "store/sanitize.h"
#include "store/testhooks.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* 'PhSc' in PRAGMA application_id marks a file as a phenoscope store. */
#define STORE_APPLICATION_ID 0x50685363
#define STORE_DEFAULT_BUSY_MS 5000

/* Cached statements of the writers, prepared on first use and finalized by store_close. */
enum {
    SQL_PUT_PATIENT,
    SQL_PUT_STAY,
    SQL_PUT_EVENT,
    SQL_PUT_DIAGNOSIS,
    SQL_PUT_ICD_TITLE,
    SQL_PUT_LABELS,
    SQL_PUT_RADIOGRAPH,
    SQL_PUT_IMAGE,
    SQL_DEL_IMAGE,
    SQL_PUT_PAIR,
    SQL_PUT_FUNNEL,
    SQL_PUT_SOURCE,
    SQL_COUNT
};

static const char *const cached_sql[SQL_COUNT] = {
    [SQL_PUT_PATIENT] = "INSERT INTO patients(subject_id, gender, anchor_age, anchor_year) "
                        "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(subject_id) DO UPDATE SET "
                        "gender = excluded.gender, anchor_age = excluded.anchor_age, "
                        "anchor_year = excluded.anchor_year",
    [SQL_PUT_STAY] =
        "INSERT INTO stays(stay_id, subject_id, hadm_id, first_careunit, last_careunit, intime, "
        "outtime, admittime, dischtime, deathtime, los_days, age, split, mortality_inhospital) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
        "ON CONFLICT(stay_id) DO UPDATE SET subject_id = excluded.subject_id, "
        "hadm_id = excluded.hadm_id, first_careunit = excluded.first_careunit, "
        "last_careunit = excluded.last_careunit, intime = excluded.intime, "
        "outtime = excluded.outtime, admittime = excluded.admittime, "
        "dischtime = excluded.dischtime, deathtime = excluded.deathtime, "
        "los_days = excluded.los_days, age = excluded.age, split = excluded.split, "
        "mortality_inhospital = excluded.mortality_inhospital",
    [SQL_PUT_EVENT] = "INSERT INTO events(stay_id, hours, channel, value, text) "
                      "VALUES(?1, ?2, ?3, ?4, ?5)",
    [SQL_PUT_DIAGNOSIS] = "INSERT OR REPLACE INTO diagnoses(subject_id, hadm_id, seq_num, "
                          "icd_code, icd_version) VALUES(?1, ?2, ?3, ?4, ?5)",
    [SQL_PUT_ICD_TITLE] = "INSERT OR REPLACE INTO icd_titles(icd_code, icd_version, title) "
                          "VALUES(?1, ?2, ?3)",
    [SQL_PUT_LABELS] =
        "INSERT OR REPLACE INTO labels(stay_id, p00, p01, p02, p03, p04, p05, p06, p07, p08, "
        "p09, p10, p11, p12, p13, p14, p15, p16, p17, p18, p19, p20, p21, p22, p23, p24) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
        "?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
    [SQL_PUT_RADIOGRAPH] =
        "INSERT INTO radiographs(dicom_id, subject_id, study_id, study_time, view, c00, c01, "
        "c02, c03, c04, c05, c06, c07, c08, c09, c10, c11, c12, c13, split, width, height, path) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
        "?18, ?19, ?20, ?21, ?22, ?23) ON CONFLICT(dicom_id) DO UPDATE SET "
        "subject_id = excluded.subject_id, study_id = excluded.study_id, "
        "study_time = excluded.study_time, view = excluded.view, c00 = excluded.c00, "
        "c01 = excluded.c01, c02 = excluded.c02, c03 = excluded.c03, c04 = excluded.c04, "
        "c05 = excluded.c05, c06 = excluded.c06, c07 = excluded.c07, c08 = excluded.c08, "
        "c09 = excluded.c09, c10 = excluded.c10, c11 = excluded.c11, c12 = excluded.c12, "
        "c13 = excluded.c13, split = excluded.split, width = excluded.width, "
        "height = excluded.height, path = excluded.path",
    [SQL_PUT_IMAGE] = "INSERT OR REPLACE INTO radiograph_images(dicom_id, jpeg) VALUES(?1, ?2)",
    [SQL_DEL_IMAGE] = "DELETE FROM radiograph_images WHERE dicom_id = ?1",
    [SQL_PUT_PAIR] = "INSERT OR REPLACE INTO pairs(stay_id, dicom_id) VALUES(?1, ?2)",
    [SQL_PUT_FUNNEL] = "INSERT OR REPLACE INTO funnel(source, step, rule, count) "
                       "VALUES(?1, ?2, ?3, ?4)",
    [SQL_PUT_SOURCE] = "INSERT INTO sources(name, detail, time) VALUES(?1, ?2, ?3) "
                       "ON CONFLICT(name) DO UPDATE SET detail = excluded.detail, "
                       "time = excluded.time",
};

struct Store {
    sqlite3 *db;
    char *path;
    int schema;
    int readonly;
    sqlite3_stmt *stmt[SQL_COUNT];
    char err[PS_ERRMSG_MAX];
};

/* ---- schema ------------------------------------------------------------------------------- */

/* Version 1, the initial schema. Never edit it once released: add a migration instead. */
static const char schema_v1[] =
    "CREATE TABLE patients("
    " subject_id INTEGER PRIMARY KEY,"
    " gender TEXT NOT NULL CHECK (gender = 'M' OR gender = 'F' OR gender = '?'),"
    " anchor_age INTEGER,"
    " anchor_year INTEGER);"
    "CREATE TABLE stays("
    " stay_id INTEGER PRIMARY KEY,"
    " subject_id INTEGER NOT NULL REFERENCES patients(subject_id) DEFERRABLE INITIALLY DEFERRED,"
    " hadm_id INTEGER NOT NULL,"
    " first_careunit TEXT NOT NULL DEFAULT '',"
    " last_careunit TEXT NOT NULL DEFAULT '',"
    " intime INTEGER NOT NULL,"
    " outtime INTEGER NOT NULL,"
    " admittime INTEGER,"
    " dischtime INTEGER,"
    " deathtime INTEGER," /* NULL when alive */
    " los_days REAL,"
    " age INTEGER,"
    " split INTEGER NOT NULL DEFAULT -1 CHECK (split BETWEEN -1 AND 2),"
    " mortality_inhospital INTEGER NOT NULL DEFAULT 0 CHECK (mortality_inhospital = 0 OR mortality_inhospital = 1));"
    "CREATE INDEX stays_subject ON stays(subject_id);"
    "CREATE INDEX stays_split ON stays(split);"
    "CREATE TABLE events("
    " stay_id INTEGER NOT NULL REFERENCES stays(stay_id) ON DELETE CASCADE"
    "  DEFERRABLE INITIALLY DEFERRED,"
    " hours REAL NOT NULL,"
    " channel INTEGER NOT NULL CHECK (channel BETWEEN 0 AND 16),"
    " value REAL," /* NULL when the charted text has no numeric meaning */
    " text TEXT);"
    "CREATE INDEX events_stay_hours ON events(stay_id, hours, channel);"
    "CREATE TABLE diagnoses("
    " subject_id INTEGER NOT NULL,"
    " hadm_id INTEGER NOT NULL,"
    " seq_num INTEGER NOT NULL,"
    " icd_code TEXT NOT NULL,"
    " icd_version INTEGER NOT NULL CHECK (icd_version = 9 OR icd_version = 10),"
    " PRIMARY KEY (hadm_id, seq_num, icd_code, icd_version)) WITHOUT ROWID;"
    "CREATE INDEX diagnoses_subject ON diagnoses(subject_id);"
    "CREATE TABLE icd_titles("
    " icd_code TEXT NOT NULL,"
    " icd_version INTEGER NOT NULL CHECK (icd_version = 9 OR icd_version = 10),"
    " title TEXT NOT NULL,"
    " PRIMARY KEY (icd_code, icd_version)) WITHOUT ROWID;"
    "CREATE TABLE labels("
    " stay_id INTEGER PRIMARY KEY REFERENCES stays(stay_id) ON DELETE CASCADE"
    "  DEFERRABLE INITIALLY DEFERRED,"
    " p00 INTEGER NOT NULL CHECK (p00 = 0 OR p00 = 1), p01 INTEGER NOT NULL CHECK (p01 = 0 OR p01 = 1),"
    " p02 INTEGER NOT NULL CHECK (p02 = 0 OR p02 = 1), p03 INTEGER NOT NULL CHECK (p03 = 0 OR p03 = 1),"
    " p04 INTEGER NOT NULL CHECK (p04 = 0 OR p04 = 1), p05 INTEGER NOT NULL CHECK (p05 = 0 OR p05 = 1),"
    " p06 INTEGER NOT NULL CHECK (p06 = 0 OR p06 = 1), p07 INTEGER NOT NULL CHECK (p07 = 0 OR p07 = 1),"
    " p08 INTEGER NOT NULL CHECK (p08 = 0 OR p08 = 1), p09 INTEGER NOT NULL CHECK (p09 = 0 OR p09 = 1),"
    " p10 INTEGER NOT NULL CHECK (p10 = 0 OR p10 = 1), p11 INTEGER NOT NULL CHECK (p11 = 0 OR p11 = 1),"
    " p12 INTEGER NOT NULL CHECK (p12 = 0 OR p12 = 1), p13 INTEGER NOT NULL CHECK (p13 = 0 OR p13 = 1),"
    " p14 INTEGER NOT NULL CHECK (p14 = 0 OR p14 = 1), p15 INTEGER NOT NULL CHECK (p15 = 0 OR p15 = 1),"
    " p16 INTEGER NOT NULL CHECK (p16 = 0 OR p16 = 1), p17 INTEGER NOT NULL CHECK (p17 = 0 OR p17 = 1),"
    " p18 INTEGER NOT NULL CHECK (p18 = 0 OR p18 = 1), p19 INTEGER NOT NULL CHECK (p19 = 0 OR p19 = 1),"
    " p20 INTEGER NOT NULL CHECK (p20 = 0 OR p20 = 1), p21 INTEGER NOT NULL CHECK (p21 = 0 OR p21 = 1),"
    " p22 INTEGER NOT NULL CHECK (p22 = 0 OR p22 = 1), p23 INTEGER NOT NULL CHECK (p23 = 0 OR p23 = 1),"
    " p24 INTEGER NOT NULL CHECK (p24 = 0 OR p24 = 1));"
    /* c00..c13: the CheXpert labels in catalog order; NULL = not mentioned. */
    "CREATE TABLE radiographs("
    " dicom_id TEXT PRIMARY KEY NOT NULL CHECK (length(dicom_id) BETWEEN 1 AND 95),"
    " subject_id INTEGER NOT NULL,"
    " study_id INTEGER NOT NULL,"
    " study_time INTEGER NOT NULL,"
    " view TEXT NOT NULL DEFAULT '',"
    " c00 INTEGER CHECK (c00 = -1 OR c00 = 0 OR c00 = 1), c01 INTEGER CHECK (c01 = -1 OR c01 = 0 OR c01 = 1),"
    " c02 INTEGER CHECK (c02 = -1 OR c02 = 0 OR c02 = 1), c03 INTEGER CHECK (c03 = -1 OR c03 = 0 OR c03 = 1),"
    " c04 INTEGER CHECK (c04 = -1 OR c04 = 0 OR c04 = 1), c05 INTEGER CHECK (c05 = -1 OR c05 = 0 OR c05 = 1),"
    " c06 INTEGER CHECK (c06 = -1 OR c06 = 0 OR c06 = 1), c07 INTEGER CHECK (c07 = -1 OR c07 = 0 OR c07 = 1),"
    " c08 INTEGER CHECK (c08 = -1 OR c08 = 0 OR c08 = 1), c09 INTEGER CHECK (c09 = -1 OR c09 = 0 OR c09 = 1),"
    " c10 INTEGER CHECK (c10 = -1 OR c10 = 0 OR c10 = 1), c11 INTEGER CHECK (c11 = -1 OR c11 = 0 OR c11 = 1),"
    " c12 INTEGER CHECK (c12 = -1 OR c12 = 0 OR c12 = 1), c13 INTEGER CHECK (c13 = -1 OR c13 = 0 OR c13 = 1),"
    " split INTEGER NOT NULL DEFAULT -1 CHECK (split BETWEEN -1 AND 2),"
    " width INTEGER NOT NULL DEFAULT 0,"
    " height INTEGER NOT NULL DEFAULT 0,"
    " path TEXT);"
    "CREATE INDEX radiographs_pairing ON radiographs(subject_id, view, study_time, dicom_id);"
    "CREATE INDEX radiographs_split ON radiographs(split);"
    "CREATE TABLE radiograph_images("
    " dicom_id TEXT PRIMARY KEY NOT NULL REFERENCES radiographs(dicom_id) ON DELETE CASCADE"
    "  DEFERRABLE INITIALLY DEFERRED,"
    " jpeg BLOB NOT NULL);"
    "CREATE TABLE pairs("
    " stay_id INTEGER PRIMARY KEY REFERENCES stays(stay_id) ON DELETE CASCADE"
    "  DEFERRABLE INITIALLY DEFERRED,"
    " dicom_id TEXT NOT NULL REFERENCES radiographs(dicom_id) ON DELETE CASCADE"
    "  DEFERRABLE INITIALLY DEFERRED);"
    "CREATE INDEX pairs_dicom ON pairs(dicom_id);"
    "CREATE TABLE funnel("
    " source TEXT NOT NULL,"
    " step INTEGER NOT NULL CHECK (step >= 0),"
    " rule TEXT NOT NULL,"
    " count INTEGER NOT NULL CHECK (count >= 0),"
    " PRIMARY KEY (source, step)) WITHOUT ROWID;"
    "CREATE TABLE sources("
    " source_id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " detail TEXT NOT NULL DEFAULT '',"
    " time INTEGER NOT NULL);"
    /* The training record: filled by engine/ through functions added later. */
    "CREATE TABLE runs("
    " run_id INTEGER PRIMARY KEY,"
    " method TEXT NOT NULL,"
    " config TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config)),"
    " seed INTEGER NOT NULL DEFAULT 0,"
    " code_version TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL,"
    " message TEXT NOT NULL DEFAULT '',"
    " created INTEGER NOT NULL,"
    " updated INTEGER NOT NULL);"
    "CREATE TABLE run_steps("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " step INTEGER NOT NULL,"
    " loss_cxr REAL, loss_ehr REAL, loss_joint REAL,"
    " PRIMARY KEY (run_id, step)) WITHOUT ROWID;"
    "CREATE TABLE run_epochs("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " epoch INTEGER NOT NULL,"
    " metrics TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metrics)),"
    " PRIMARY KEY (run_id, epoch)) WITHOUT ROWID;"
    "CREATE TABLE checkpoints("
    " run_id INTEGER NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,"
    " kind TEXT NOT NULL CHECK (kind IN ('best', 'last')),"
    " epoch INTEGER NOT NULL,"
    " created INTEGER NOT NULL,"
    " weights BLOB NOT NULL," /* safetensors bytes */
    " PRIMARY KEY (run_id, kind));"
    "CREATE TABLE normalizers("
    " normalizer_id INTEGER PRIMARY KEY,"
    " run_id INTEGER REFERENCES runs(run_id) ON DELETE CASCADE,"
    " timestep_hours REAL NOT NULL CHECK (timestep_hours > 0),"
    " stats TEXT NOT NULL CHECK (json_valid(stats))," /* per input column: mean, std */
    " created INTEGER NOT NULL);";

/* Version 0 is the pre-release layout (stays without split or mortality, labels as a long
 * table). Migration 1 turns such a store into version 1 by copying rows into the new tables. */
static const char migrate_v0_to_v1[] =
    "ALTER TABLE patients RENAME TO v0_patients;"
    "ALTER TABLE stays RENAME TO v0_stays;"
    "ALTER TABLE phenotypes RENAME TO v0_phenotypes;"
    "%s" /* schema_v1 */
    "INSERT INTO patients(subject_id, gender, anchor_age, anchor_year)"
    " SELECT subject_id, CASE WHEN gender IN ('M', 'F') THEN gender ELSE '?' END,"
    " anchor_age, anchor_year FROM v0_patients;"
    "INSERT INTO stays(stay_id, subject_id, hadm_id, intime, outtime)"
    " SELECT stay_id, subject_id, hadm_id, intime, outtime FROM v0_stays;"
    "INSERT INTO labels SELECT stay_id,"
    " max(phenotype = 0 AND label), max(phenotype = 1 AND label), max(phenotype = 2 AND label),"
    " max(phenotype = 3 AND label), max(phenotype = 4 AND label), max(phenotype = 5 AND label),"
    " max(phenotype = 6 AND label), max(phenotype = 7 AND label), max(phenotype = 8 AND label),"
    " max(phenotype = 9 AND label), max(phenotype = 10 AND label),"
    " max(phenotype = 11 AND label), max(phenotype = 12 AND label),"
    " max(phenotype = 13 AND label), max(phenotype = 14 AND label),"
    " max(phenotype = 15 AND label), max(phenotype = 16 AND label),"
    " max(phenotype = 17 AND label), max(phenotype = 18 AND label),"
    " max(phenotype = 19 AND label), max(phenotype = 20 AND label),"
    " max(phenotype = 21 AND label), max(phenotype = 22 AND label),"
    " max(phenotype = 23 AND label), max(phenotype = 24 AND label)"
    " FROM v0_phenotypes GROUP BY stay_id;"
    "DROP TABLE v0_phenotypes;"
    "DROP TABLE v0_stays;"
    "DROP TABLE v0_patients;";

/* ---- errors -------------------------------------------------------------------------------- */

PsStatus store_set_error(Store *st, PsStatus rc, const char *fmt, ...)
{
    char raw[PS_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    /* messages quote data (paths, SQLite's text quoting values): one line, no escapes */
    sanitize_for_terminal(st->err, sizeof st->err, raw);
    return rc;
}

PsStatus store_status_from_sqlite(int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE: return PS_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return PS_ERR_BUSY;
    case SQLITE_NOMEM: return PS_ERR_NOMEM;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM: return PS_ERR_IO;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG: return PS_ERR_INVALID;
    default: return PS_ERR_DB;
    }
}

PsStatus store_db_error(Store *st, int sqlite_rc, const char *what)
{
    PsStatus rc = store_status_from_sqlite(sqlite_rc);
    if (rc == PS_OK) rc = PS_ERR_DB;
    const char *msg = st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(sqlite_rc);
    /* sqlite3_errmsg describes the connection's last error, which is this one only when the
     * codes agree; otherwise fall back to the generic text of the code. */
    if (st->db && (sqlite3_extended_errcode(st->db) & 0xff) != (sqlite_rc & 0xff))
        msg = sqlite3_errstr(sqlite_rc);
    if ((sqlite_rc & 0xff) == SQLITE_BUSY || (sqlite_rc & 0xff) == SQLITE_LOCKED)
        return store_set_error(st, PS_ERR_BUSY,
                               "store busy: another process is writing to %s (%s; gave up "
                               "after waiting)",
                               st->path ? st->path : "the store", what);
    return store_set_error(st, rc, "%s: %s", what, msg);
}

sqlite3 *store_db(Store *st) { return st->db; }
const char *store_errmsg(const Store *st) { return st->err; }
const char *store_path(const Store *st) { return st->path; }
int store_schema_version(const Store *st) { return st->schema; }

/* ---- small SQL helpers ------------------------------------------------------------------- */

static PsStatus exec(Store *st, const char *sql, const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        PsStatus ps = store_status_from_sqlite(rc);
        if (ps == PS_ERR_BUSY)
            store_db_error(st, rc, what);
        else
            store_set_error(st, ps == PS_OK ? PS_ERR_DB : ps, "%s: %s", what,
                            msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return ps == PS_OK ? PS_ERR_DB : ps;
    }
    return PS_OK;
}

/* Runs a query returning one integer (e.g. a PRAGMA). */
static PsStatus query_int(Store *st, const char *sql, int64_t *out, const char *what)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) return store_db_error(st, rc, what);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(s, 0);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) rc = SQLITE_DONE; /* only the first row matters */
    } else if (rc == SQLITE_DONE) {
        *out = 0;
    }
    if (rc != SQLITE_DONE) {
        PsStatus ps = store_db_error(st, rc, what);
        sqlite3_finalize(s);
        return ps;
    }
    rc = sqlite3_finalize(s);
    if (rc != SQLITE_OK) return store_db_error(st, rc, what);
    return PS_OK;
}

static PsStatus cached(Store *st, int which, sqlite3_stmt **out, const char *what)
{
    if (!st->stmt[which]) {
        int rc = sqlite3_prepare_v3(st->db, cached_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmt[which], NULL);
        if (rc != SQLITE_OK) {
            st->stmt[which] = NULL;
            return store_db_error(st, rc, what);
        }
    }
    *out = st->stmt[which];
    return PS_OK;
}

/* Steps a cached writer once and resets it; the bindings are cleared so a later call can
 * never see a stale blob pointer. */
static PsStatus run_cached(Store *st, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    PsStatus ps = PS_OK;
    if (rc != SQLITE_DONE) ps = store_db_error(st, rc, what);
    sqlite3_reset(s); /* repeats the step's error, already reported */
    sqlite3_clear_bindings(s);
    return ps;
}

static int bind_text_or_null(sqlite3_stmt *s, int i, const char *t)
{
    return t ? sqlite3_bind_text(s, i, t, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
}

/* Copies a column's text into a fixed buffer, truncating (fields are bounded on insert). */
static void column_copy(sqlite3_stmt *s, int col, char *dst, size_t n)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    snprintf(dst, n, "%s", t ? (const char *)t : "");
}

/* ---- paths and files --------------------------------------------------------------------- */

PsStatus store_default_path(char *buf, size_t n, PsErr *err)
{
    PS_CHECK(err, buf && n > 0);
    const char *env = getenv("PHENOSCOPE_STORE");
    int w;
    if (env && *env) {
        w = snprintf(buf, n, "%s", env);
    } else {
        const char *xdg = getenv("XDG_DATA_HOME");
        const char *home = getenv("HOME");
        /* The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored. */
        if (xdg && xdg[0] == '/')
            w = snprintf(buf, n, "%s/phenoscope/store.db", xdg);
        else if (home && *home)
            w = snprintf(buf, n, "%s/.local/share/phenoscope/store.db", home);
        else
            return ps_err(err, PS_ERR_NOTFOUND,
                          "no store path: set PHENOSCOPE_STORE or HOME, or pass --store PATH");
    }
    if (w < 0 || (size_t)w >= n)
        return ps_err(err, PS_ERR_INVALID, "store path too long (%d bytes)", w);
    return PS_OK;
}

/* mkdir -p of the directory part of path; directories it creates are 0700. */
static PsStatus make_parent_dirs(const char *path, PsErr *err)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return ps_err(err, PS_ERR_INVALID, "store path too long: %.100s...", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return PS_OK;
    *slash = 0;
    for (char *p = dir + 1;; p++) {
        int last = (*p == 0);
        if (*p == '/' || last) {
            char c = *p;
            *p = 0;
            if (mkdir(dir, 0700) == 0) {
                if (chmod(dir, 0700) != 0)
                    return ps_err(err, PS_ERR_IO, "cannot set mode 0700 on %s: %s", dir,
                                  strerror(errno));
            } else if (errno != EEXIST) {
                return ps_err(err, PS_ERR_IO, "cannot create directory %s for store %s: %s", dir,
                              path, strerror(errno));
            } else {
                struct stat sb;
                if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
                    return ps_err(err, PS_ERR_IO, "cannot create store %s: %s is not a directory",
                                  path, dir);
            }
            *p = c;
            if (last) break;
        }
    }
    return PS_OK;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Looks at an existing file before SQLite touches it: a regular file, with the SQLite header,
 * not shorter than its header says. SQLite itself would discover most of this only after
 * starting to use the file; checking first means a wrong file is never written to.
 * *empty is set for a zero-length file. */
/* Reads the first n bytes of the store through SQLite's own file layer. A plain open()/close()
 * would drop every POSIX lock this process holds on the file (fcntl locks belong to the process,
 * and close releases them all): a second connection opened by a worker thread would silently
 * unlock the first, and another process could then delete the WAL under it. SQLite's unix VFS
 * defers the close while other connections hold locks. *got: bytes read (short at end of file). */
static PsStatus read_head(const char *path, unsigned char *h, int n, int *got, PsErr *err)
{
    sqlite3_vfs *vfs = sqlite3_vfs_find(NULL);
    sqlite3_file *f = vfs ? calloc(1, (size_t)vfs->szOsFile) : NULL;
    if (!f) return ps_err(err, PS_ERR_NOMEM, "opening store %s: out of memory", path);
    int out = 0;
    int rc = vfs->xOpen(vfs, path, f, SQLITE_OPEN_READONLY | SQLITE_OPEN_MAIN_DB, &out);
    if (rc != SQLITE_OK) {
        if (f->pMethods) f->pMethods->xClose(f);
        free(f);
        return ps_err(err, PS_ERR_IO, "cannot open store %s: %s", path, sqlite3_errstr(rc));
    }
    sqlite3_int64 size = 0;
    rc = f->pMethods->xFileSize(f, &size);
    *got = size < n ? (int)size : n;
    if (rc == SQLITE_OK && *got > 0) rc = f->pMethods->xRead(f, h, *got, 0);
    f->pMethods->xClose(f);
    free(f);
    if (rc != SQLITE_OK)
        return ps_err(err, PS_ERR_IO, "cannot read store %s: %s", path, sqlite3_errstr(rc));
    return PS_OK;
}

static PsStatus check_existing_file(const char *path, int *empty, PsErr *err)
{
    *empty = 0;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ps_err(err, errno == ENOENT ? PS_ERR_NOTFOUND : PS_ERR_IO,
                      "cannot open store %s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return ps_err(err, PS_ERR_IO, "%s is not a regular file, not a phenoscope store", path);
    if (sb.st_size == 0) {
        *empty = 1;
        return PS_OK;
    }
    unsigned char h[100];
    int got = 0;
    PsStatus prc = read_head(path, h, (int)sizeof h, &got, err);
    if (prc) return prc;
    if (got < 16 || memcmp(h, "SQLite format 3", 16) != 0)
        return ps_err(err, PS_ERR_PARSE,
                      "%s is not a phenoscope store (not an SQLite database); left untouched",
                      path);
    if (got < (int)sizeof h)
        return ps_err(err, PS_ERR_PARSE, "store %s is truncated (%d bytes); left untouched",
                      path, got);
    uint32_t page = (uint32_t)h[16] << 8 | h[17];
    if (page == 1) page = 65536;
    if (page < 512 || (page & (page - 1)))
        return ps_err(err, PS_ERR_PARSE, "store %s is damaged (bad page size %u); left untouched",
                      path, page);
    uint32_t pages = be32(h + 28);
    int header_count_valid = pages != 0 && be32(h + 24) == be32(h + 92);
    char wal[4200];
    struct stat wb;
    int has_wal = snprintf(wal, sizeof wal, "%s-wal", path) < (int)sizeof wal &&
                  stat(wal, &wb) == 0 && wb.st_size > 0;
    /* With a non-empty WAL the main file may legitimately lag behind; SQLite reconciles. */
    if (!has_wal && (sb.st_size % page != 0 ||
                     (header_count_valid && (uint64_t)sb.st_size < (uint64_t)pages * page)))
        return ps_err(err, PS_ERR_PARSE,
                      "store %s is truncated (%lld bytes, its header says %llu); left untouched",
                      path, (long long)sb.st_size, (unsigned long long)pages * page);
    return PS_OK;
}

/* Creates an empty file with mode 0600 whatever the umask; *created says whether we did. */
static PsStatus create_file(const char *path, int *created, PsErr *err)
{
    *created = 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        if (errno == EEXIST) return PS_OK; /* someone was quicker: open what is there */
        return ps_err(err, PS_ERR_IO, "cannot create store %s: %s", path, strerror(errno));
    }
    *created = 1;
    if (fchmod(fd, 0600) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        *created = 0;
        return ps_err(err, PS_ERR_IO, "cannot set mode 0600 on %s: %s", path, strerror(e));
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(path);
        *created = 0;
        return ps_err(err, PS_ERR_IO, "cannot create store %s: %s", path, strerror(e));
    }
    return PS_OK;
}

static void remove_created(const char *path)
{
    char side[4200];
    unlink(path);
    if (snprintf(side, sizeof side, "%s-wal", path) < (int)sizeof side) unlink(side);
    if (snprintf(side, sizeof side, "%s-shm", path) < (int)sizeof side) unlink(side);
    /* before WAL mode is on, a failed first write leaves a rollback journal */
    if (snprintf(side, sizeof side, "%s-journal", path) < (int)sizeof side) unlink(side);
}

/* SQLite creates -wal and -shm with the main file's mode minus the umask; make sure. */
static PsStatus tighten_side_files(const char *path, PsErr *err)
{
    static const char *const suffix[] = {"-wal", "-shm"};
    for (int i = 0; i < 2; i++) {
        char side[4200];
        if (snprintf(side, sizeof side, "%s%s", path, suffix[i]) >= (int)sizeof side) continue;
        if (chmod(side, 0600) != 0 && errno != ENOENT)
            return ps_err(err, PS_ERR_IO, "cannot set mode 0600 on %s: %s", side,
                          strerror(errno));
    }
    return PS_OK;
}

/* ---- migrations -------------------------------------------------------------------------- */

static PsStatus migrate_to_1(Store *st, int fresh)
{
    if (fresh) return exec(st, schema_v1, "creating schema version 1");
    size_t n = sizeof migrate_v0_to_v1 + sizeof schema_v1;
    char *sql = malloc(n);
    if (!sql) return store_set_error(st, PS_ERR_NOMEM, "migrating to schema 1: out of memory");
    snprintf(sql, n, migrate_v0_to_v1, schema_v1);
    PsStatus rc = exec(st, sql, "migrating store from schema 0 to 1");
    free(sql);
    return rc;
}

/* Version 2 adds the trainer's live progress row (one per run, overwritten every few seconds),
 * so a reader in another process (the TUI) can follow a run it did not start. Additive only. */
static const char schema_v2[] =
    "CREATE TABLE run_progress("
    " run_id INTEGER PRIMARY KEY REFERENCES runs(run_id) ON DELETE CASCADE,"
    " time INTEGER NOT NULL,"
    " pid INTEGER NOT NULL DEFAULT 0,"
    " phase TEXT NOT NULL DEFAULT '',"
    " iteration INTEGER NOT NULL DEFAULT 0,"
    " iterations INTEGER NOT NULL DEFAULT 0,"
    " epoch INTEGER NOT NULL DEFAULT 0,"
    " epochs INTEGER NOT NULL DEFAULT 0,"
    " loss_cxr REAL, loss_ehr REAL, loss_joint REAL,"
    " samples_per_s REAL, eta_s REAL,"
    " val_auroc REAL);";

static PsStatus migrate_to_2(Store *st, int fresh)
{
    (void)fresh;
    return exec(st, schema_v2, "migrating store to schema 2 (run progress)");
}

typedef struct {
    int to;
    PsStatus (*run)(Store *st, int fresh); /* fresh: the file has no tables yet */
} Migration;

static const Migration migrations[] = {
    {1, migrate_to_1},
    {2, migrate_to_2},
};

/* Brings the schema from st->schema to STORE_SCHEMA_VERSION in one transaction. Foreign keys
 * are off while tables are rebuilt (SQLite's documented procedure) and checked before commit. */
static PsStatus migrate(Store *st, int fresh)
{
    PsStatus rc = exec(st, "PRAGMA foreign_keys = OFF", "migrating: disabling foreign keys");
    if (rc) return rc;
    rc = exec(st, "BEGIN IMMEDIATE", "migrating: locking the store");
    if (rc) goto restore;
    int64_t v = 0, tables = 0;
    /* Re-read under the lock: another process may have migrated meanwhile. */
    if ((rc = query_int(st, "PRAGMA user_version", &v, "migrating: reading the version")) ||
        (rc = query_int(st, "SELECT count(*) FROM sqlite_schema", &tables,
                        "migrating: reading the schema")))
        goto rollback;
    fresh = tables == 0;
    for (size_t i = 0; i < sizeof migrations / sizeof migrations[0]; i++) {
        if (migrations[i].to <= v) continue;
        if ((rc = migrations[i].run(st, fresh))) goto rollback;
        fresh = 0;
    }
    int64_t orphans = 0;
    if ((rc = query_int(st, "SELECT count(*) FROM pragma_foreign_key_check", &orphans,
                        "migrating: checking foreign keys")))
        goto rollback;
    if (orphans) {
        rc = store_set_error(st, PS_ERR_DB,
                             "migrating %s: %lld rows refer to missing rows; store left as it was",
                             st->path, (long long)orphans);
        goto rollback;
    }
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d",
             STORE_APPLICATION_ID, STORE_SCHEMA_VERSION);
    if ((rc = exec(st, sql, "migrating: recording the version"))) goto rollback;
    if ((rc = exec(st, "COMMIT", "migrating: committing"))) goto rollback;
    st->schema = STORE_SCHEMA_VERSION;
    goto restore;
rollback:
    if (!sqlite3_get_autocommit(st->db)) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
restore:;
    PsStatus rc2 = exec(st, "PRAGMA foreign_keys = ON", "migrating: enabling foreign keys");
    return rc ? rc : rc2;
}

/* ---- open / close ------------------------------------------------------------------------ */

static int busy_timeout_ms(void)
{
    /* Tests shorten the wait; users normally never set this. */
    const char *e = getenv("PHENOSCOPE_BUSY_TIMEOUT_MS");
    if (e && *e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (*end == 0 && v >= 0 && v <= 600000) return (int)v;
    }
    return STORE_DEFAULT_BUSY_MS;
}

/* Turns a failure during open into one line naming the path. */
static PsStatus open_fail(Store *st, PsStatus rc, PsErr *err)
{
    if (rc == PS_ERR_BUSY) return ps_err(err, rc, "%s", st->err); /* already names the path */
    return ps_err(err, rc, "%s: %s", st->path, st->err);
}

static PsStatus open_db(Store *st, StoreMode mode, int created, PsErr *err)
{
    int flags = (mode == STORE_OPEN_READONLY ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) |
                SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    int rc = sqlite3_open_v2(st->path, &st->db, flags, NULL);
    if (rc != SQLITE_OK) {
        PsStatus ps = store_status_from_sqlite(rc);
        ps_err(err, ps ? ps : PS_ERR_DB, "cannot open store %s: %s", st->path,
               st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        return ps ? ps : PS_ERR_DB;
    }
    sqlite3_extended_result_codes(st->db, 1);
    if ((rc = sqlite3_busy_timeout(st->db, busy_timeout_ms())) != SQLITE_OK ||
        (rc = sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL)) !=
            SQLITE_OK) {
        store_db_error(st, rc, "configuring the connection");
        return open_fail(st, store_status_from_sqlite(rc), err);
    }
    PsStatus ps = exec(st, "PRAGMA foreign_keys = ON", "enabling foreign keys");
    if (ps) return open_fail(st, ps, err);

    int64_t app = 0, version = 0, tables = 0;
    if ((ps = query_int(st, "PRAGMA application_id", &app, "reading the store header")) ||
        (ps = query_int(st, "PRAGMA user_version", &version, "reading the schema version")) ||
        (ps = query_int(st, "SELECT count(*) FROM sqlite_schema", &tables,
                        "reading the schema"))) {
        if (ps == PS_ERR_DB || ps == PS_ERR_IO)
            return ps_err(err, ps, "store %s is damaged or unreadable (%s); left untouched",
                          st->path, st->err);
        return open_fail(st, ps, err);
    }
    int fresh = tables == 0 && version == 0;
    if (!fresh && app != STORE_APPLICATION_ID)
        return ps_err(err, PS_ERR_PARSE,
                      "%s is an SQLite database but not a phenoscope store; left untouched",
                      st->path);
    if (fresh && !created && mode != STORE_OPEN_CREATE)
        return ps_err(err, PS_ERR_NOTFOUND,
                      "%s is an empty file, not a phenoscope store (create one with "
                      "`phenoscope demo` or an import)",
                      st->path);
    if (version > STORE_SCHEMA_VERSION)
        return ps_err(err, PS_ERR_VERSION,
                      "store %s has schema %lld; this phenoscope reads up to %d — upgrade "
                      "phenoscope",
                      st->path, (long long)version, STORE_SCHEMA_VERSION);
    st->schema = (int)version;

    if (mode != STORE_OPEN_READONLY) {
        /* Switching to WAL needs a moment's exclusive lock; once WAL, it is a no-op. SQLite
         * answers with the mode it ended up in, which is not WAL where shared memory is
         * unavailable (some network filesystems): refuse rather than run unprotected. */
        sqlite3_stmt *q;
        rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
        if (rc != SQLITE_OK) return open_fail(st, store_db_error(st, rc, "switching to WAL"), err);
        rc = sqlite3_step(q);
        char mode_now[16] = "";
        if (rc == SQLITE_ROW) column_copy(q, 0, mode_now, sizeof mode_now);
        ps = rc == SQLITE_ROW ? PS_OK : store_db_error(st, rc, "switching to WAL");
        int frc = sqlite3_finalize(q);
        if (!ps && frc != SQLITE_OK) ps = store_db_error(st, frc, "switching to WAL");
        if (ps) return open_fail(st, ps, err);
        if (strcmp(mode_now, "wal") != 0)
            return ps_err(err, PS_ERR_IO,
                          "store %s cannot use WAL mode (SQLite stayed in '%s'); is it on a "
                          "network filesystem? Use a local disk",
                          st->path, mode_now);
    }
    if ((ps = exec(st, "PRAGMA synchronous = FULL", "setting synchronous=FULL")))
        return open_fail(st, ps, err);
    /* Statement journals and sorts in memory: as temp files they cost a system call per
     * page. */
    if ((ps = exec(st, "PRAGMA temp_store = MEMORY", "setting temp_store")))
        return open_fail(st, ps, err);

    if (version < STORE_SCHEMA_VERSION) {
        if (mode == STORE_OPEN_READONLY)
            return ps_err(err, PS_ERR_VERSION,
                          "store %s has schema %lld and needs upgrading to %d; open it once "
                          "without read-only mode",
                          st->path, (long long)version, STORE_SCHEMA_VERSION);
        if ((ps = migrate(st, fresh))) return open_fail(st, ps, err);
    }
    return PS_OK;
}

PsStatus store_open(Store **out, const char *path, StoreMode mode, PsErr *err)
{
    PS_CHECK(err, out != NULL);
    *out = NULL;
    PS_CHECK(err, path != NULL && *path);
    PS_CHECK(err, mode == STORE_OPEN_READWRITE || mode == STORE_OPEN_READONLY ||
                      mode == STORE_OPEN_CREATE);

    int created = 0, empty = 0;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        /* ENOTDIR: a path component is a file; for the user that is "no store there". */
        if (errno != ENOENT && errno != ENOTDIR)
            return ps_err(err, PS_ERR_IO, "cannot open store %s: %s", path, strerror(errno));
        if (mode != STORE_OPEN_CREATE)
            return ps_err(err, PS_ERR_NOTFOUND,
                          "no store at %s (create one with `phenoscope demo` or an import)",
                          path);
        PsStatus rc = make_parent_dirs(path, err);
        if (rc) return rc;
        if ((rc = create_file(path, &created, err))) return rc;
    }
    if (!created) {
        PsStatus rc = check_existing_file(path, &empty, err);
        if (rc) return rc;
    }

    Store *st = calloc(1, sizeof *st);
    if (!st) {
        if (created) remove_created(path);
        return ps_err(err, PS_ERR_NOMEM, "opening store %s: out of memory", path);
    }
    st->path = strdup(path);
    st->readonly = mode == STORE_OPEN_READONLY;
    PsStatus rc = st->path ? PS_OK : ps_err(err, PS_ERR_NOMEM, "opening %s: out of memory", path);
    if (!rc) rc = open_db(st, mode, created || (empty && mode == STORE_OPEN_CREATE), err);
    if (!rc && created) rc = tighten_side_files(path, err);
    if (rc) {
        store_close(st);
        if (created) remove_created(path);
        return rc;
    }
    *out = st;
    return PS_OK;
}

void store_close(Store *st)
{
    if (!st) return;
    for (int i = 0; i < SQL_COUNT; i++) sqlite3_finalize(st->stmt[i]);
    /* sqlite3_close fails only with unfinalized statements, which would be our bug; _v2 then
     * still releases everything once they are finalized. */
    if (st->db) sqlite3_close_v2(st->db);
    free(st->path);
    free(st);
}

/* ---- transactions ------------------------------------------------------------------------ */

PsStatus store_begin(Store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        return store_set_error(st, PS_ERR_INVALID, "store_begin: a transaction is already open");
    PsStatus rc = exec(st, "BEGIN IMMEDIATE", "starting a write transaction");
    if (rc == PS_OK) PS_KILLPOINT("store.begin.after");
    return rc;
}

PsStatus store_commit(Store *st)
{
    if (sqlite3_get_autocommit(st->db))
        return store_set_error(st, PS_ERR_INVALID, "store_commit: no transaction is open");
    PS_KILLPOINT("store.commit.before");
    int rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        PS_KILLPOINT("store.commit.after");
        return PS_OK;
    }
    PsStatus ps;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        ps = store_set_error(st, PS_ERR_INVALID,
                             "commit refused: %s (a row refers to a stay, patient or radiograph "
                             "that is not stored); nothing was written",
                             sqlite3_errmsg(st->db));
    else
        ps = store_db_error(st, rc, "commit failed; nothing was written");
    /* A refused COMMIT leaves the transaction open: roll it back as promised. */
    if (!sqlite3_get_autocommit(st->db)) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return ps;
}

void store_rollback(Store *st)
{
    if (sqlite3_get_autocommit(st->db)) return;
    int rc = sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    /* The caller has no status to receive; the message stays on st. SQLite rolls back a
     * transaction whose ROLLBACK failed when the connection closes. */
    if (rc != SQLITE_OK) store_db_error(st, rc, "rollback failed");
}

/* ---- writers ------------------------------------------------------------------------------ */

#define BIND(call)                                                                               \
    do {                                                                                         \
        int brc_ = (call);                                                                       \
        if (brc_ != SQLITE_OK) {                                                                 \
            sqlite3_reset(s);                                                                    \
            sqlite3_clear_bindings(s);                                                           \
            return store_db_error(st, brc_, what);                                               \
        }                                                                                        \
    } while (0)

static int valid_split(int split) { return split >= SPLIT_NONE && split <= SPLIT_TEST; }

PsStatus store_put_patient(Store *st, const StorePatient *p)
{
    char what[96];
    snprintf(what, sizeof what, "store_put_patient(subject %lld)", (long long)p->subject_id);
    if (p->gender != 'M' && p->gender != 'F' && p->gender != '?')
        return store_set_error(st, PS_ERR_INVALID, "%s: gender must be M, F or ?", what);
    sqlite3_stmt *s;
    PsStatus rc = cached(st, SQL_PUT_PATIENT, &s, what);
    if (rc) return rc;
    char g[2] = {p->gender, 0};
    BIND(sqlite3_bind_int64(s, 1, p->subject_id));
    BIND(sqlite3_bind_text(s, 2, g, 1, SQLITE_TRANSIENT));
    BIND(sqlite3_bind_int(s, 3, p->anchor_age));
    BIND(sqlite3_bind_int(s, 4, p->anchor_year));
    return run_cached(st, s, what);
}

PsStatus store_put_stay(Store *st, const StoreStay *x)
{
    char what[96];
    snprintf(what, sizeof what, "store_put_stay(stay %lld)", (long long)x->stay_id);
    if (!valid_split(x->split))
        return store_set_error(st, PS_ERR_INVALID, "%s: split %d is not -1..2", what, x->split);
    if (x->outtime < x->intime)
        return store_set_error(st, PS_ERR_INVALID, "%s: outtime is before intime", what);
    sqlite3_stmt *s;
    PsStatus rc = cached(st, SQL_PUT_STAY, &s, what);
    if (rc) return rc;
    BIND(sqlite3_bind_int64(s, 1, x->stay_id));
    BIND(sqlite3_bind_int64(s, 2, x->subject_id));
    BIND(sqlite3_bind_int64(s, 3, x->hadm_id));
    BIND(sqlite3_bind_text(s, 4, x->first_careunit, (int)strnlen(x->first_careunit, 63),
                           SQLITE_TRANSIENT));
    BIND(sqlite3_bind_text(s, 5, x->last_careunit, (int)strnlen(x->last_careunit, 63),
                           SQLITE_TRANSIENT));
    BIND(sqlite3_bind_int64(s, 6, x->intime));
    BIND(sqlite3_bind_int64(s, 7, x->outtime));
    BIND(sqlite3_bind_int64(s, 8, x->admittime));
    BIND(sqlite3_bind_int64(s, 9, x->dischtime));
    BIND(x->deathtime ? sqlite3_bind_int64(s, 10, x->deathtime) : sqlite3_bind_null(s, 10));
    BIND(sqlite3_bind_double(s, 11, x->los_days));
    BIND(sqlite3_bind_int(s, 12, x->age));
    BIND(sqlite3_bind_int(s, 13, x->split));
    BIND(sqlite3_bind_int(s, 14, x->mortality_inhospital ? 1 : 0));
    return run_cached(st, s, what);
}

PsStatus store_put_event(Store *st, const StoreEvent *e)
{
    /* The context string is built only on failure: this call runs millions of times. */
    const char *what = "store_put_event";
    char ctx[128];
    if (e->channel < 0 || e->channel >= CATALOG_N_CHANNELS || !isfinite(e->hours))
        return store_set_error(st, PS_ERR_INVALID,
                               "store_put_event(stay %lld): channel %d / hours %g out of range",
                               (long long)e->stay_id, e->channel, (double)e->hours);
    sqlite3_stmt *s;
    PsStatus rc = cached(st, SQL_PUT_EVENT, &s, what);
    if (rc) return rc;
    BIND(sqlite3_bind_int64(s, 1, e->stay_id));
    BIND(sqlite3_bind_double(s, 2, e->hours));
    BIND(sqlite3_bind_int(s, 3, e->channel));
    BIND(isfinite(e->value) ? sqlite3_bind_double(s, 4, e->value) : sqlite3_bind_null(s, 4));
    BIND(bind_text_or_null(s, 5, e->text));
    int src = sqlite3_step(s);
    if (src == SQLITE_DONE) {
        sqlite3_reset(s);
        return PS_OK;
    }
    snprintf(ctx, sizeof ctx, "store_put_event(stay %lld, hours %g, channel %d)",
             (long long)e->stay_id, (double)e->hours, e->channel);
    rc = store_db_error(st, src, ctx);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc;
}

PsStatus store_put_diagnosis(Store *st, const StoreDiagnosis *d)
{
    char what[128];
    snprintf(what, sizeof what, "store_put_diagnosis(hadm %lld, seq %d, %.15s)",
             (long long)d->hadm_id, d->seq_num, d->icd_code);
    if (d->icd_version != 9 && d->icd_version != 10)
        return store_set_error(st, PS_ERR_INVALID, "%s: ICD version %d is not 9 or 10", what,
                               d->icd_version);
    sqlite3_stmt *s;
    PsStatus rc = cached(st, SQL_PUT_DIAGNOSIS, &s, what);
    if (rc) return rc;
    BIND(sqlite3_bind_int64(s, 1, d->subject_id));
    BIND(sqlite3_bind_int64(s, 2, d->hadm_id));
    BIND(sqlite3_bind_int(s, 3, d->seq_num));
    BIND(sqlite3_bind_text(s, 4, d->icd_code, (int)strnlen(d->icd_code, sizeof d->icd_code - 1),
                           SQLITE_TRANSIENT));
    BIND(sqlite3_bind_int(s, 5, d->icd_version));
    return run_cached(st, s, what);
}

PsStatus store_put_icd_title(Store *st, const char *icd_code, int icd_version, const char *title)
{
    char what[96];
    snprintf(what, sizeof what, "store_put_icd_title(%.15s, ICD-%d)", icd_code ? icd_code : "",
             icd_version);
    if (!icd_code || !title || (icd_version != 9 && icd_version != 10))
        return store_set_error(st, PS_ERR_INVALID, "%s: needs a code, version 9/10, a title",
                               what);
    sqlite3_stmt *s;
    PsStatus rc = cached(st, SQL_PUT_ICD_TITLE, &s, what);
    if (rc) return rc;
    BIND(sqlite3_bind_text(s, 1, icd_code, -1, SQLITE_TRANSIENT));
    BIND(sqlite3_bind_int(s, 2, icd_version));
    BIND(sqlite3_bind_text(s, 3, title, -1, SQLITE_TRANSIENT));
    return run_cached(st, s, what);
}

PsStatus store_put_labels(Store *st, int64_t stay_id, const uint8_t labels[CATALOG_N_PHENOTYPES])
{
    char what[96];
    snprintf(what, sizeof what, "store_put_labels(stay %lld)", (long long)stay_id);
    sqlite3_stmt *s;
    PsStatus rc = cached(st, SQL_PUT_LABELS, &s, what);
    if (rc) return rc;
    BIND(sqlite3_bind_int64(s, 1, stay_id));
    for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) {
        if (labels[k] > 1) {
            sqlite3_clear_bindings(s);
            return store_set_error(st, PS_ERR_INVALID, "%s: label %d is %d, not 0 or 1", what, k,
                                   labels[k]);
        }
        BIND(sqlite3_bind_int(s, k + 2, labels[k]));
    }
    return run_cached(st, s, what);
}

/* Metadata and image go together. Outside a transaction the pair gets one of its own; inside
 * the caller's, a failure leaves that transaction to be rolled back by the caller, as for any
 * other put. (A savepoint per radiograph would be atomic on its own but costs an in-memory
 * statement journal per call: 10x slower for an import of 400k radiographs.) */
PsStatus store_put_radiograph(Store *st, const StoreRadiograph *r)
{
    char what[160];
    snprintf(what, sizeof what, "store_put_radiograph(%.95s)", r->dicom_id);
    size_t idlen = strnlen(r->dicom_id, sizeof r->dicom_id);
    if (idlen == 0 || idlen >= sizeof r->dicom_id)
        return store_set_error(st, PS_ERR_INVALID, "%s: dicom_id must be 1..95 characters", what);
    if (!valid_split(r->split))
        return store_set_error(st, PS_ERR_INVALID, "%s: split %d is not -1..2", what, r->split);
    for (int k = 0; k < CATALOG_N_CHEXPERT; k++) {
        int v = r->chexpert[k];
        if (v != CHEX_NEGATIVE && v != CHEX_POSITIVE && v != CHEX_UNCERTAIN && v != CHEX_MISSING)
            return store_set_error(st, PS_ERR_INVALID, "%s: CheXpert value %d for %s", what, v,
                                   catalog_chexpert[k]);
    }
    if (r->jpeg && (r->jpeg_size == 0 || r->jpeg_size > 0x7fffffff))
        return store_set_error(st, PS_ERR_INVALID, "%s: JPEG size %zu", what, r->jpeg_size);

    int own_tx = sqlite3_get_autocommit(st->db);
    PsStatus rc;
    if (own_tx && (rc = store_begin(st))) return rc;
    sqlite3_stmt *s;
    if ((rc = cached(st, SQL_PUT_RADIOGRAPH, &s, what))) goto undo;
#undef BIND
#define BIND(call)                                                                               \
    do {                                                                                         \
        int brc_ = (call);                                                                       \
        if (brc_ != SQLITE_OK) {                                                                 \
            sqlite3_clear_bindings(s);                                                           \
            rc = store_db_error(st, brc_, what);                                                 \
            goto undo;                                                                           \
        }                                                                                        \
    } while (0)
    BIND(sqlite3_bind_text(s, 1, r->dicom_id, (int)idlen, SQLITE_TRANSIENT));
    BIND(sqlite3_bind_int64(s, 2, r->subject_id));
    BIND(sqlite3_bind_int64(s, 3, r->study_id));
    BIND(sqlite3_bind_int64(s, 4, r->study_time));
    BIND(sqlite3_bind_text(s, 5, r->view, (int)strnlen(r->view, sizeof r->view - 1),
                           SQLITE_TRANSIENT));
    for (int k = 0; k < CATALOG_N_CHEXPERT; k++)
        BIND(r->chexpert[k] == CHEX_MISSING ? sqlite3_bind_null(s, 6 + k)
                                            : sqlite3_bind_int(s, 6 + k, r->chexpert[k]));
    BIND(sqlite3_bind_int(s, 20, r->split));
    BIND(sqlite3_bind_int(s, 21, r->width));
    BIND(sqlite3_bind_int(s, 22, r->height));
    BIND(bind_text_or_null(s, 23, r->path));
    if ((rc = run_cached(st, s, what))) goto undo;
    if (r->jpeg) {
        if ((rc = cached(st, SQL_PUT_IMAGE, &s, what))) goto undo;
        BIND(sqlite3_bind_text(s, 1, r->dicom_id, (int)idlen, SQLITE_TRANSIENT));
        BIND(sqlite3_bind_blob(s, 2, r->jpeg, (int)r->jpeg_size, SQLITE_STATIC));
    } else {
        if ((rc = cached(st, SQL_DEL_IMAGE, &s, what))) goto undo;
        BIND(sqlite3_bind_text(s, 1, r->dicom_id, (int)idlen, SQLITE_TRANSIENT));
    }
    if ((rc = run_cached(st, s, what))) goto undo;
    return own_tx ? store_commit(st) : PS_OK;
undo:
    if (own_tx) store_rollback(st);
    return rc;
#undef BIND
}

#define BIND(call)                                                                               \
    do {                                                                                         \
        int brc_ = (call);                                                                       \
        if (brc_ != SQLITE_OK) {                                                                 \
            sqlite3_reset(s);                                                                    \
            sqlite3_clear_bindings(s);                                                           \
            return store_db_error(st, brc_, what);                                               \
        }                                                                                        \
    } while (0)

PsStatus store_put_pair(Store *st, int64_t stay_id, const char *dicom_id)
{
    char what[160];
    snprintf(what, sizeof what, "store_put_pair(stay %lld, %.95s)", (long long)stay_id,
             dicom_id ? dicom_id : "(null)");
    if (!dicom_id || !*dicom_id)
        return store_set_error(st, PS_ERR_INVALID, "%s: no dicom_id", what);
    sqlite3_stmt *s;
    PsStatus rc = cached(st, SQL_PUT_PAIR, &s, what);
    if (rc) return rc;
    BIND(sqlite3_bind_int64(s, 1, stay_id));
    BIND(sqlite3_bind_text(s, 2, dicom_id, -1, SQLITE_TRANSIENT));
    return run_cached(st, s, what);
}

PsStatus store_put_funnel(Store *st, const char *source, int step, const char *rule,
                          int64_t count)
{
    char what[128];
    snprintf(what, sizeof what, "store_put_funnel(%.40s, step %d)", source ? source : "(null)",
             step);
    if (!source || !rule || step < 0 || count < 0)
        return store_set_error(st, PS_ERR_INVALID, "%s: needs a source, a rule, step >= 0, "
                               "count >= 0", what);
    sqlite3_stmt *s;
    PsStatus rc = cached(st, SQL_PUT_FUNNEL, &s, what);
    if (rc) return rc;
    BIND(sqlite3_bind_text(s, 1, source, -1, SQLITE_TRANSIENT));
    BIND(sqlite3_bind_int(s, 2, step));
    BIND(sqlite3_bind_text(s, 3, rule, -1, SQLITE_TRANSIENT));
    BIND(sqlite3_bind_int64(s, 4, count));
    return run_cached(st, s, what);
}

PsStatus store_put_source(Store *st, const char *name, const char *detail)
{
    char what[96];
    snprintf(what, sizeof what, "store_put_source(%.40s)", name ? name : "(null)");
    if (!name || !*name) return store_set_error(st, PS_ERR_INVALID, "%s: no name", what);
    sqlite3_stmt *s;
    PsStatus rc = cached(st, SQL_PUT_SOURCE, &s, what);
    if (rc) return rc;
    BIND(sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT));
    BIND(sqlite3_bind_text(s, 2, detail ? detail : "", -1, SQLITE_TRANSIENT));
    BIND(sqlite3_bind_int64(s, 3, (int64_t)time(NULL)));
    return run_cached(st, s, what);
}
#undef BIND

/* ---- pairing ------------------------------------------------------------------------------ */

/* MedFuse's rule, set-based: for each stay, the latest AP radiograph of the same subject with
 * study_time in [intime, outtime] (ties on time broken by the larger dicom_id, so the result
 * does not depend on insertion order); then the subject-level split of the radiographs. */
static const char recompute_pairs_sql[] =
    "DELETE FROM pairs;"
    /* MATERIALIZED: otherwise SQLite evaluates the correlated subquery twice per stay (once
     * for the value, once for the IS NOT NULL filter). */
    "WITH latest(stay_id, dicom_id) AS MATERIALIZED ("
    " SELECT s.stay_id,"
    "  (SELECT r.dicom_id FROM radiographs r"
    "    WHERE r.subject_id = s.subject_id AND r.view = 'AP'"
    "      AND r.study_time BETWEEN s.intime AND s.outtime"
    "    ORDER BY r.study_time DESC, r.dicom_id DESC LIMIT 1)"
    " FROM stays s)"
    "INSERT INTO pairs(stay_id, dicom_id)"
    " SELECT stay_id, dicom_id FROM latest WHERE dicom_id IS NOT NULL;"
    /* The unary + keeps SQLite off the split index, which would make this a scan of every
     * val/test stay per radiograph; by subject it is one index probe each. */
    "UPDATE radiographs SET split = coalesce("
    " (SELECT max(s.split) FROM stays s"
    "   WHERE s.subject_id = radiographs.subject_id AND +s.split IN (1, 2)), 0);";

PsStatus store_recompute_pairs(Store *st)
{
    int own_tx = sqlite3_get_autocommit(st->db);
    PsStatus rc;
    if (own_tx && (rc = store_begin(st))) return rc;
    if (!own_tx && (rc = exec(st, "SAVEPOINT recompute_pairs", "store_recompute_pairs")))
        return rc;
    rc = exec(st, recompute_pairs_sql, "store_recompute_pairs");
    if (own_tx) {
        if (rc) {
            store_rollback(st);
            return rc;
        }
        return store_commit(st);
    }
    if (rc) {
        sqlite3_exec(st->db, "ROLLBACK TO recompute_pairs; RELEASE recompute_pairs", NULL, NULL,
                     NULL);
        return rc;
    }
    return exec(st, "RELEASE recompute_pairs", "store_recompute_pairs");
}

/* ---- readers ------------------------------------------------------------------------------ */

static PsStatus prepare(Store *st, const char *sql, sqlite3_stmt **s, const char *what)
{
    int rc = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);
    if (rc != SQLITE_OK) {
        *s = NULL;
        return store_db_error(st, rc, what);
    }
    return PS_OK;
}

/* Finalizes s; a step error already reported in rc wins over the finalize's echo of it. */
static PsStatus finish(Store *st, sqlite3_stmt *s, PsStatus rc, const char *what)
{
    int frc = sqlite3_finalize(s);
    if (rc) return rc;
    if (frc != SQLITE_OK) return store_db_error(st, frc, what);
    return PS_OK;
}

PsStatus store_split_counts(Store *st, StoreSplitCounts counts[STORE_N_SPLITS])
{
    static const char sql[] =
        "SELECT 0, split, count(*) FROM radiographs WHERE split BETWEEN 0 AND 2 GROUP BY split "
        "UNION ALL SELECT 1, split, count(*) FROM stays WHERE split BETWEEN 0 AND 2 "
        "GROUP BY split "
        "UNION ALL SELECT 2, s.split, count(*) FROM pairs p JOIN stays s USING (stay_id) "
        "WHERE s.split BETWEEN 0 AND 2 GROUP BY s.split";
    const char *what = "store_split_counts";
    memset(counts, 0, sizeof(StoreSplitCounts) * STORE_N_SPLITS);
    sqlite3_stmt *s;
    PsStatus rc = prepare(st, sql, &s, what);
    if (rc) return rc;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        int kind = sqlite3_column_int(s, 0), split = sqlite3_column_int(s, 1);
        int64_t n = sqlite3_column_int64(s, 2);
        StoreSplitCounts *c = &counts[split];
        if (kind == 0) c->n_cxr = n;
        else if (kind == 1) c->n_ehr = n;
        else c->n_pairs = n;
    }
    if (src != SQLITE_DONE) rc = store_db_error(st, src, what);
    return finish(st, s, rc, what);
}

#define STAY_COLUMNS                                                                             \
    "stay_id, subject_id, hadm_id, first_careunit, last_careunit, intime, outtime, admittime, " \
    "dischtime, deathtime, los_days, age, split, mortality_inhospital"

static void read_stay(sqlite3_stmt *s, StoreStay *x)
{
    memset(x, 0, sizeof *x);
    x->stay_id = sqlite3_column_int64(s, 0);
    x->subject_id = sqlite3_column_int64(s, 1);
    x->hadm_id = sqlite3_column_int64(s, 2);
    column_copy(s, 3, x->first_careunit, sizeof x->first_careunit);
    column_copy(s, 4, x->last_careunit, sizeof x->last_careunit);
    x->intime = sqlite3_column_int64(s, 5);
    x->outtime = sqlite3_column_int64(s, 6);
    x->admittime = sqlite3_column_int64(s, 7);
    x->dischtime = sqlite3_column_int64(s, 8);
    x->deathtime = sqlite3_column_int64(s, 9); /* NULL reads as 0: alive */
    x->los_days = sqlite3_column_double(s, 10);
    x->age = sqlite3_column_int(s, 11);
    x->split = sqlite3_column_int(s, 12);
    x->mortality_inhospital = sqlite3_column_int(s, 13);
}

PsStatus store_each_stay(Store *st, int split, StoreStayFn fn, void *ctx)
{
    const char *what = "store_each_stay";
    sqlite3_stmt *s;
    PsStatus rc = prepare(st,
                          split < 0 ? "SELECT " STAY_COLUMNS " FROM stays ORDER BY stay_id"
                                    : "SELECT " STAY_COLUMNS
                                      " FROM stays WHERE split = ?1 ORDER BY stay_id",
                          &s, what);
    if (rc) return rc;
    int src = split < 0 ? SQLITE_OK : sqlite3_bind_int(s, 1, split);
    if (src != SQLITE_OK) return finish(st, s, store_db_error(st, src, what), what);
    StoreStay x;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        read_stay(s, &x);
        if (fn(ctx, &x)) {
            rc = store_set_error(st, PS_ERR_CANCELLED, "%s: stopped by the caller", what);
            break;
        }
    }
    if (!rc && src != SQLITE_DONE) rc = store_db_error(st, src, what);
    return finish(st, s, rc, what);
}

PsStatus store_get_stay(Store *st, int64_t stay_id, StoreStay *out)
{
    char what[64];
    snprintf(what, sizeof what, "store_get_stay(%lld)", (long long)stay_id);
    sqlite3_stmt *s;
    PsStatus rc = prepare(st, "SELECT " STAY_COLUMNS " FROM stays WHERE stay_id = ?1", &s, what);
    if (rc) return rc;
    int src = sqlite3_bind_int64(s, 1, stay_id);
    if (src == SQLITE_OK) src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        read_stay(s, out);
    else if (src == SQLITE_DONE)
        rc = store_set_error(st, PS_ERR_NOTFOUND, "no stay %lld in the store", (long long)stay_id);
    else
        rc = store_db_error(st, src, what);
    return finish(st, s, rc, what);
}

PsStatus store_each_event(Store *st, int64_t stay_id, StoreEventFn fn, void *ctx)
{
    char what[64];
    snprintf(what, sizeof what, "store_each_event(stay %lld)", (long long)stay_id);
    sqlite3_stmt *s;
    PsStatus rc = prepare(st,
                          "SELECT hours, channel, value, text FROM events WHERE stay_id = ?1 "
                          "ORDER BY hours, channel, rowid",
                          &s, what);
    if (rc) return rc;
    int src = sqlite3_bind_int64(s, 1, stay_id);
    if (src != SQLITE_OK) return finish(st, s, store_db_error(st, src, what), what);
    StoreEvent e = {.stay_id = stay_id};
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        e.hours = (float)sqlite3_column_double(s, 0);
        e.channel = sqlite3_column_int(s, 1);
        e.value = sqlite3_column_type(s, 2) == SQLITE_NULL ? NAN
                                                           : (float)sqlite3_column_double(s, 2);
        e.text = (const char *)sqlite3_column_text(s, 3);
        if (fn(ctx, &e)) {
            rc = store_set_error(st, PS_ERR_CANCELLED, "%s: stopped by the caller", what);
            break;
        }
    }
    if (!rc && src != SQLITE_DONE) rc = store_db_error(st, src, what);
    return finish(st, s, rc, what);
}

#define RADIOGRAPH_COLUMNS                                                                       \
    "r.dicom_id, r.subject_id, r.study_id, r.study_time, r.view, r.c00, r.c01, r.c02, r.c03, "  \
    "r.c04, r.c05, r.c06, r.c07, r.c08, r.c09, r.c10, r.c11, r.c12, r.c13, r.split, r.width, "  \
    "r.height, r.path"

/* Fills r from a row of RADIOGRAPH_COLUMNS; the path points into the statement's row. */
static void read_radiograph(sqlite3_stmt *s, StoreRadiograph *r)
{
    memset(r, 0, sizeof *r);
    column_copy(s, 0, r->dicom_id, sizeof r->dicom_id);
    r->subject_id = sqlite3_column_int64(s, 1);
    r->study_id = sqlite3_column_int64(s, 2);
    r->study_time = sqlite3_column_int64(s, 3);
    column_copy(s, 4, r->view, sizeof r->view);
    for (int k = 0; k < CATALOG_N_CHEXPERT; k++)
        r->chexpert[k] = sqlite3_column_type(s, 5 + k) == SQLITE_NULL
                             ? CHEX_MISSING
                             : (int8_t)sqlite3_column_int(s, 5 + k);
    r->split = sqlite3_column_int(s, 19);
    r->width = sqlite3_column_int(s, 20);
    r->height = sqlite3_column_int(s, 21);
    r->path = (const char *)sqlite3_column_text(s, 22);
}

PsStatus store_each_radiograph(Store *st, int split, int with_jpeg, StoreRadiographFn fn,
                               void *ctx)
{
    const char *what = "store_each_radiograph";
    char sql[768];
    snprintf(sql, sizeof sql, "SELECT " RADIOGRAPH_COLUMNS "%s FROM radiographs r%s%s "
             "ORDER BY r.dicom_id",
             with_jpeg ? ", i.jpeg" : "",
             with_jpeg ? " LEFT JOIN radiograph_images i USING (dicom_id)" : "",
             split < 0 ? "" : " WHERE r.split = ?1");
    sqlite3_stmt *s;
    PsStatus rc = prepare(st, sql, &s, what);
    if (rc) return rc;
    int src = split < 0 ? SQLITE_OK : sqlite3_bind_int(s, 1, split);
    if (src != SQLITE_OK) return finish(st, s, store_db_error(st, src, what), what);
    StoreRadiograph r;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        read_radiograph(s, &r);
        if (with_jpeg && sqlite3_column_type(s, 23) == SQLITE_BLOB) {
            r.jpeg = sqlite3_column_blob(s, 23);
            r.jpeg_size = (size_t)sqlite3_column_bytes(s, 23);
        }
        if (fn(ctx, &r)) {
            rc = store_set_error(st, PS_ERR_CANCELLED, "%s: stopped by the caller", what);
            break;
        }
    }
    if (!rc && src != SQLITE_DONE) rc = store_db_error(st, src, what);
    return finish(st, s, rc, what);
}

PsStatus store_get_radiograph(Store *st, const char *dicom_id, StoreRadiograph *out,
                              unsigned char **jpeg_out)
{
    char what[160];
    snprintf(what, sizeof what, "store_get_radiograph(%.95s)", dicom_id ? dicom_id : "(null)");
    if (jpeg_out) *jpeg_out = NULL;
    if (!dicom_id) return store_set_error(st, PS_ERR_INVALID, "%s: no dicom_id", what);
    sqlite3_stmt *s;
    PsStatus rc = prepare(st,
                          "SELECT " RADIOGRAPH_COLUMNS ", i.jpeg FROM radiographs r "
                          "LEFT JOIN radiograph_images i USING (dicom_id) WHERE r.dicom_id = ?1",
                          &s, what);
    if (rc) return rc;
    int src = sqlite3_bind_text(s, 1, dicom_id, -1, SQLITE_TRANSIENT);
    if (src == SQLITE_OK) src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        read_radiograph(s, out);
        out->path = NULL; /* the row dies with the statement; the path is not copied */
        if (jpeg_out && sqlite3_column_type(s, 23) == SQLITE_BLOB) {
            int n = sqlite3_column_bytes(s, 23);
            const void *b = sqlite3_column_blob(s, 23);
            unsigned char *copy = malloc(n > 0 ? (size_t)n : 1);
            if (!copy) {
                rc = store_set_error(st, PS_ERR_NOMEM, "%s: out of memory for %d bytes", what, n);
            } else {
                memcpy(copy, b, (size_t)n);
                *jpeg_out = copy;
                out->jpeg = copy;
                out->jpeg_size = (size_t)n;
            }
        }
    } else if (src == SQLITE_DONE) {
        rc = store_set_error(st, PS_ERR_NOTFOUND, "no radiograph %.95s in the store", dicom_id);
    } else {
        rc = store_db_error(st, src, what);
    }
    return finish(st, s, rc, what);
}

PsStatus store_get_labels(Store *st, int64_t stay_id, uint8_t labels[CATALOG_N_PHENOTYPES])
{
    char what[64];
    snprintf(what, sizeof what, "store_get_labels(stay %lld)", (long long)stay_id);
    sqlite3_stmt *s;
    PsStatus rc = prepare(st,
                          "SELECT p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, "
                          "p12, p13, p14, p15, p16, p17, p18, p19, p20, p21, p22, p23, p24 "
                          "FROM labels WHERE stay_id = ?1",
                          &s, what);
    if (rc) return rc;
    int src = sqlite3_bind_int64(s, 1, stay_id);
    if (src == SQLITE_OK) src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        for (int k = 0; k < CATALOG_N_PHENOTYPES; k++)
            labels[k] = (uint8_t)sqlite3_column_int(s, k);
    } else if (src == SQLITE_DONE) {
        rc = store_set_error(st, PS_ERR_NOTFOUND, "no labels for stay %lld", (long long)stay_id);
    } else {
        rc = store_db_error(st, src, what);
    }
    return finish(st, s, rc, what);
}

PsStatus store_get_pair(Store *st, int64_t stay_id, char *dicom_id, size_t n)
{
    char what[64];
    snprintf(what, sizeof what, "store_get_pair(stay %lld)", (long long)stay_id);
    sqlite3_stmt *s;
    PsStatus rc = prepare(st, "SELECT dicom_id FROM pairs WHERE stay_id = ?1", &s, what);
    if (rc) return rc;
    int src = sqlite3_bind_int64(s, 1, stay_id);
    if (src == SQLITE_OK) src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(s, 0);
        if ((size_t)snprintf(dicom_id, n, "%s", d ? d : "") >= n)
            rc = store_set_error(st, PS_ERR_INVALID, "%s: buffer of %zu bytes too small", what,
                                 n);
    } else if (src == SQLITE_DONE) {
        rc = store_set_error(st, PS_ERR_NOTFOUND, "stay %lld has no paired radiograph",
                             (long long)stay_id);
    } else {
        rc = store_db_error(st, src, what);
    }
    return finish(st, s, rc, what);
}

/* Runs sql (no parameters) and hands each row to row(arg); a non-zero return stops with
 * PS_ERR_CANCELLED. The row function reads the columns it needs and calls the user's callback
 * (arg carries the callback and its context, so function pointers never pass as void *). */
static PsStatus each_row(Store *st, const char *sql, const char *what,
                         int (*row)(sqlite3_stmt *s, void *arg), void *arg)
{
    sqlite3_stmt *s;
    PsStatus rc = prepare(st, sql, &s, what);
    if (rc) return rc;
    int src;
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        if (row(s, arg)) {
            rc = store_set_error(st, PS_ERR_CANCELLED, "%s: stopped by the caller", what);
            break;
        }
    }
    if (!rc && src != SQLITE_DONE) rc = store_db_error(st, src, what);
    return finish(st, s, rc, what);
}

typedef struct {
    StoreLabelsFn fn;
    void *ctx;
} LabelsArg;

static int labels_row(sqlite3_stmt *s, void *arg)
{
    LabelsArg *a = arg;
    uint8_t lab[CATALOG_N_PHENOTYPES];
    for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) lab[k] = (uint8_t)sqlite3_column_int(s, 1 + k);
    return a->fn(a->ctx, sqlite3_column_int64(s, 0), lab);
}

PsStatus store_each_labels(Store *st, StoreLabelsFn fn, void *ctx)
{
    LabelsArg a = {fn, ctx};
    return each_row(st,
                    "SELECT stay_id, p00, p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, "
                    "p12, p13, p14, p15, p16, p17, p18, p19, p20, p21, p22, p23, p24 "
                    "FROM labels ORDER BY stay_id",
                    "store_each_labels", labels_row, &a);
}

typedef struct {
    StorePairFn fn;
    void *ctx;
} PairArg;

static int pair_row(sqlite3_stmt *s, void *arg)
{
    PairArg *a = arg;
    const char *d = (const char *)sqlite3_column_text(s, 1);
    return a->fn(a->ctx, sqlite3_column_int64(s, 0), d ? d : "");
}

PsStatus store_each_pair(Store *st, StorePairFn fn, void *ctx)
{
    PairArg a = {fn, ctx};
    return each_row(st, "SELECT stay_id, dicom_id FROM pairs ORDER BY stay_id", "store_each_pair",
                    pair_row, &a);
}

typedef struct {
    StoreSourceFn fn;
    void *ctx;
} SourceArg;

static int source_row(sqlite3_stmt *s, void *arg)
{
    SourceArg *a = arg;
    const char *name = (const char *)sqlite3_column_text(s, 0);
    const char *detail = (const char *)sqlite3_column_text(s, 1);
    StoreSource x = {name ? name : "", detail ? detail : "", sqlite3_column_int64(s, 2)};
    return a->fn(a->ctx, &x);
}

PsStatus store_each_source(Store *st, StoreSourceFn fn, void *ctx)
{
    SourceArg a = {fn, ctx};
    return each_row(st, "SELECT name, detail, time FROM sources ORDER BY name",
                    "store_each_source", source_row, &a);
}

typedef struct {
    StoreFunnelFn fn;
    void *ctx;
} FunnelArg;

static int funnel_row(sqlite3_stmt *s, void *arg)
{
    FunnelArg *a = arg;
    const char *source = (const char *)sqlite3_column_text(s, 0);
    const char *rule = (const char *)sqlite3_column_text(s, 2);
    StoreFunnelStep x = {source ? source : "", rule ? rule : "", sqlite3_column_int(s, 1),
                         sqlite3_column_int64(s, 3)};
    return a->fn(a->ctx, &x);
}

PsStatus store_each_funnel(Store *st, StoreFunnelFn fn, void *ctx)
{
    FunnelArg a = {fn, ctx};
    return each_row(st, "SELECT source, step, rule, count FROM funnel ORDER BY source, step",
                    "store_each_funnel", funnel_row, &a);
}
