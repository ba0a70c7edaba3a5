/* testhooks.c — kill points, a fault-injecting SQLite VFS and failing SQLite allocations, for
 * tests only (see testhooks.h). Without -DPS_TEST_HOOKS this file compiles to nothing, so a
 * release binary cannot be made to fail on purpose by its environment.
 *
 * Kill points that exist (grep PS_KILLPOINT for the authoritative list):
 *   store.begin.after     a write transaction has just been opened (BEGIN IMMEDIATE done)
 *   store.commit.before   every write of the transaction is done, COMMIT not yet issued
 *   store.commit.after    COMMIT returned: the batch is durable
 * Importers and the trainer add their own ("import.before_commit", ...). The trainer's
 * (engine/train.c), in the order a run passes them:
 *   train.after_step          an iteration is done in memory, its loss not yet recorded
 *   train.steps_flushed       losses and progress of the epoch so far written (ahead of the
 *                             checkpoint; PHENOSCOPE_FLUSH_EVERY makes this happen on a count)
 *   train.epoch_end           the epoch's iterations are done, validation not yet
 *   checkpoint.before_begin   the checkpoint blob is built, its transaction not yet opened
 *   checkpoint.mid_write      losses and epoch row written inside the transaction, weights not
 *   checkpoint.before_commit  everything written, COMMIT not yet issued
 *   checkpoint.after_commit   the checkpoint is durable
 *   train.before_done         the last epoch is checkpointed, the run not yet marked done
 *
 * Deliberately not here: failing reads (a failed read cannot lose data, and SQLite reports it
 * like any other I/O error), a general malloc interposer (tests that need one interpose in the
 * test binary itself, as test_ehr_model does).
 */
#include "store/testhooks.h"

#ifdef PS_TEST_HOOKS

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- kill points ------------------------------------------------------------------------- */

static atomic_long kill_hits;

/* A fault armed at a kill point (PHENOSCOPE_FAULT="...@point:N"): set once, from the
 * environment, before any thread starts. */
static struct {
    char point[64];
    long want;
    int kind;
    long long k;
    int code;
} fault_anchor;
static atomic_long anchor_hits;

/* Whether spec ("name" or "name:N") names this point; *want receives N (default 1). */
static int point_matches(const char *spec, const char *name, long *want)
{
    size_t n = strlen(name);
    *want = 1;
    if (strncmp(spec, name, n) != 0) return 0;
    if (spec[n] == ':') *want = strtol(spec + n + 1, NULL, 10);
    else if (spec[n] != 0) return 0; /* a longer name that starts with this one */
    return 1;
}

/* PHENOSCOPE_KILLPOINT_LOG=FILE: every point passed appends its name to FILE, so a test learns
 * which points a run reaches and how often. One O_APPEND write per line: lines never tear. */
static void log_point(const char *name)
{
    const char *path = getenv("PHENOSCOPE_KILLPOINT_LOG");
    if (!path || !*path) return;
    char line[128];
    int n = snprintf(line, sizeof line, "%s\n", name);
    if (n <= 0 || (size_t)n >= sizeof line) return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    ssize_t w = write(fd, line, (size_t)n);
    (void)w; /* a test that cannot log sees missing lines and fails on its own */
    close(fd);
}

void testhooks_killpoint(const char *name)
{
    log_point(name);
    if (fault_anchor.point[0] && strcmp(fault_anchor.point, name) == 0 &&
        atomic_fetch_add(&anchor_hits, 1) + 1 == fault_anchor.want)
        testhooks_fault_set(fault_anchor.kind, fault_anchor.k, fault_anchor.code);
    const char *env = getenv("PHENOSCOPE_KILLPOINT");
    long want;
    if (!env || !*env || !point_matches(env, name, &want)) return;
    if (atomic_fetch_add(&kill_hits, 1) + 1 == want) raise(SIGKILL);
}

void testhooks_crash_check(void)
{
    static atomic_llong start_ms = -1;
    const char *e = getenv("PHENOSCOPE_CRASH_AFTER_MS");
    if (!e || !*e) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, expect = -1;
    if (atomic_compare_exchange_strong(&start_ms, &expect, now)) return;
    if (now - atomic_load(&start_ms) < strtoll(e, NULL, 10)) return;
    const char *s = getenv("PHENOSCOPE_CRASH_SIGNAL");
    if (!s) s = "segv";
    if (strcmp(s, "segv") == 0) {
        /* a real invalid access, not a polite raise(): a store to the unmapped first page. The
         * pointer is opaque to the compiler, which would otherwise replace the access with a
         * trap instruction (SIGILL), and not NULL, which UBSan would report before the fault */
        int *volatile bad = (int *)(uintptr_t)64;
        *bad = 1;
    }
    if (strcmp(s, "abrt") == 0) abort();
    raise(strcmp(s, "bus") == 0 ? SIGBUS : strcmp(s, "fpe") == 0 ? SIGFPE : SIGSEGV);
}

int testhooks_flush_every(void)
{
    const char *e = getenv("PHENOSCOPE_FLUSH_EVERY");
    long v = e ? strtol(e, NULL, 10) : 0;
    return v > 0 && v < 1000000 ? (int)v : 0;
}

/* ---- the fault VFS ----------------------------------------------------------------------- */

typedef struct {
    sqlite3_file base;
    sqlite3_file *real; /* the wrapped file lives right after this struct */
} FaultFile;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static atomic_llong fault_at[2] = {-1, -1}; /* per kind: index that fails, -1 none */
static atomic_llong fault_seen[2];
static atomic_int fault_code[2];
static atomic_int fault_fired_flag;

void testhooks_fault_set(int kind, int64_t k, int code)
{
    if (kind != TESTHOOKS_WRITE && kind != TESTHOOKS_SYNC) return;
    atomic_store(&fault_seen[0], 0);
    atomic_store(&fault_seen[1], 0);
    atomic_store(&fault_at[0], -1);
    atomic_store(&fault_at[1], -1);
    atomic_store(&fault_fired_flag, 0);
    atomic_store(&fault_code[kind], code);
    atomic_store(&fault_at[kind], k);
}

int testhooks_fault_fired(void) { return atomic_load(&fault_fired_flag); }

int64_t testhooks_fault_count(int kind)
{
    return (kind == TESTHOOKS_WRITE || kind == TESTHOOKS_SYNC) ? atomic_load(&fault_seen[kind])
                                                               : 0;
}

/* Whether this operation fails: 0 to go on, else the SQLite code (or TESTHOOKS_KILL). */
static int fault_check(int kind)
{
    long long i = atomic_fetch_add(&fault_seen[kind], 1);
    long long at = atomic_load(&fault_at[kind]);
    if (at < 0 || i < at) return 0;
    atomic_store(&fault_fired_flag, 1);
    return atomic_load(&fault_code[kind]);
}

#define REAL(f) (((FaultFile *)(f))->real)

static int ff_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int ff_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
    return REAL(f)->pMethods->xRead(REAL(f), b, n, o);
}
static int ff_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
    int code = fault_check(TESTHOOKS_WRITE);
    if (code == TESTHOOKS_KILL) {
        /* A torn write: half of it reaches the file, then the process is gone. */
        REAL(f)->pMethods->xWrite(REAL(f), b, n / 2, o);
        raise(SIGKILL);
    }
    if (code) return code;
    return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int ff_truncate(sqlite3_file *f, sqlite3_int64 n)
{
    return REAL(f)->pMethods->xTruncate(REAL(f), n);
}
static int ff_sync(sqlite3_file *f, int fl)
{
    int code = fault_check(TESTHOOKS_SYNC);
    if (code == TESTHOOKS_KILL) raise(SIGKILL);
    if (code) return code;
    return REAL(f)->pMethods->xSync(REAL(f), fl);
}
static int ff_size(sqlite3_file *f, sqlite3_int64 *n)
{
    return REAL(f)->pMethods->xFileSize(REAL(f), n);
}
static int ff_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int ff_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int ff_reserved(sqlite3_file *f, int *r)
{
    return REAL(f)->pMethods->xCheckReservedLock(REAL(f), r);
}
static int ff_control(sqlite3_file *f, int op, void *a)
{
    return REAL(f)->pMethods->xFileControl(REAL(f), op, a);
}
static int ff_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int ff_device(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int ff_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **p)
{
    return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, p);
}
static int ff_shm_lock(sqlite3_file *f, int off, int n, int fl)
{
    return REAL(f)->pMethods->xShmLock(REAL(f), off, n, fl);
}
static void ff_shm_barrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int ff_shm_unmap(sqlite3_file *f, int del)
{
    return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}
static int ff_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **p)
{
    return REAL(f)->pMethods->xFetch(REAL(f), o, n, p);
}
static int ff_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p)
{
    return REAL(f)->pMethods->xUnfetch(REAL(f), o, p);
}
#undef REAL

/* Version 3 methods; the wrapped file's own version decides which of them SQLite may call,
 * so a version-1 file (no shared memory, e.g. a temp file) is announced as version 1. */
static const sqlite3_io_methods fault_methods[4] = {
    [1] = {1, ff_close, ff_read, ff_write, ff_truncate, ff_sync, ff_size, ff_lock, ff_unlock,
           ff_reserved, ff_control, ff_sector, ff_device, NULL, NULL, NULL, NULL, NULL, NULL},
    [2] = {2, ff_close, ff_read, ff_write, ff_truncate, ff_sync, ff_size, ff_lock, ff_unlock,
           ff_reserved, ff_control, ff_sector, ff_device, ff_shm_map, ff_shm_lock,
           ff_shm_barrier, ff_shm_unmap, NULL, NULL},
    [3] = {3, ff_close, ff_read, ff_write, ff_truncate, ff_sync, ff_size, ff_lock, ff_unlock,
           ff_reserved, ff_control, ff_sector, ff_device, ff_shm_map, ff_shm_lock,
           ff_shm_barrier, ff_shm_unmap, ff_fetch, ff_unfetch},
};

static int fv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    FaultFile *ff = (FaultFile *)f;
    ff->real = (sqlite3_file *)(ff + 1);
    int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out);
    const sqlite3_io_methods *m = ff->real->pMethods;
    if (m) {
        int v = m->iVersion < 1 ? 1 : m->iVersion > 3 ? 3 : m->iVersion;
        f->pMethods = &fault_methods[v];
    } else {
        f->pMethods = NULL;
    }
    return rc;
}

int testhooks_vfs_install(void)
{
    if (real_vfs) return SQLITE_OK;
    sqlite3_vfs *def = sqlite3_vfs_find(NULL);
    if (!def) return SQLITE_ERROR;
    fault_vfs = *def;
    fault_vfs.zName = "phenoscope-fault";
    fault_vfs.szOsFile = (int)sizeof(FaultFile) + def->szOsFile;
    fault_vfs.xOpen = fv_open;
    fault_vfs.pNext = NULL;
    real_vfs = def;
    int rc = sqlite3_vfs_register(&fault_vfs, 1);
    if (rc != SQLITE_OK) real_vfs = NULL;
    return rc;
}

void testhooks_vfs_remove(void)
{
    if (!real_vfs) return;
    sqlite3_vfs_unregister(&fault_vfs);
    sqlite3_vfs_register(real_vfs, 1);
    real_vfs = NULL;
    testhooks_fault_set(TESTHOOKS_WRITE, -1, 0);
}

/* ---- failing allocations ----------------------------------------------------------------- */

static sqlite3_mem_methods real_mem;
static int mem_installed;
static atomic_llong malloc_at = -1, malloc_seen;
static atomic_int malloc_fired_flag;

static int malloc_fails(void)
{
    long long i = atomic_fetch_add(&malloc_seen, 1);
    long long at = atomic_load(&malloc_at);
    if (at < 0 || i < at) return 0;
    atomic_store(&malloc_fired_flag, 1);
    return 1;
}

static void *fm_malloc(int n) { return malloc_fails() ? NULL : real_mem.xMalloc(n); }
static void *fm_realloc(void *p, int n) { return malloc_fails() ? NULL : real_mem.xRealloc(p, n); }

int testhooks_sqlite_malloc_install(void)
{
    if (mem_installed) return SQLITE_OK;
    int rc = sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem);
    if (rc != SQLITE_OK) return rc;
    sqlite3_mem_methods m = real_mem;
    m.xMalloc = fm_malloc;
    m.xRealloc = fm_realloc;
    rc = sqlite3_config(SQLITE_CONFIG_MALLOC, &m);
    if (rc == SQLITE_OK) mem_installed = 1;
    return rc;
}

void testhooks_malloc_fail_at(int64_t k)
{
    atomic_store(&malloc_at, -1);
    atomic_store(&malloc_seen, 0);
    atomic_store(&malloc_fired_flag, 0);
    atomic_store(&malloc_at, k);
}

int testhooks_malloc_fired(void) { return atomic_load(&malloc_fired_flag); }
int64_t testhooks_malloc_count(void) { return atomic_load(&malloc_seen); }

/* ---- configuration from the environment -------------------------------------------------- */

int testhooks_init_from_env(void)
{
    const char *env = getenv("PHENOSCOPE_FAULT");
    if (!env || !*env) return 0;
    char kind[16], what[16];
    long long k;
    if (sscanf(env, "%15[a-z]:%lld:%15[a-z]", kind, &k, what) != 3 || k < 0) return -1;
    int kd = strcmp(kind, "write") == 0 ? TESTHOOKS_WRITE
             : strcmp(kind, "sync") == 0 ? TESTHOOKS_SYNC
                                         : -1;
    int code = strcmp(what, "full") == 0    ? SQLITE_FULL
               : strcmp(what, "ioerr") == 0 ? (kd == TESTHOOKS_SYNC ? SQLITE_IOERR_FSYNC
                                                                    : SQLITE_IOERR_WRITE)
               : strcmp(what, "kill") == 0  ? TESTHOOKS_KILL
                                            : 0;
    if (kd < 0 || code == 0) return -1;
    if (testhooks_vfs_install() != SQLITE_OK) return -1;
    const char *at = strchr(env, '@');
    if (at) {
        /* armed later, when the named point is passed */
        long want;
        size_t n = strcspn(at + 1, ":");
        if (n == 0 || n >= sizeof fault_anchor.point) return -1;
        memcpy(fault_anchor.point, at + 1, n);
        fault_anchor.point[n] = 0;
        if (!point_matches(at + 1, fault_anchor.point, &want) || want < 1) return -1;
        fault_anchor.want = want;
        fault_anchor.kind = kd;
        fault_anchor.k = k;
        fault_anchor.code = code;
        return 0;
    }
    testhooks_fault_set(kd, k, code);
    return 0;
}

#else

/* ISO C forbids an empty translation unit. */
typedef int testhooks_unused;

#endif
