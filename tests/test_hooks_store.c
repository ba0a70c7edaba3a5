/* test_hooks_store.c — the store under faults, with the test hooks compiled in: a full disk
 * or an I/O error at every write and sync of a batch, an allocation failure at every SQLite
 * allocation, SIGKILL at every kill point, at every write index and at random moments, and
 * corrupted pages. After each: PRAGMA integrity_check is ok, and the store's content (hashed
 * by a separate connection) is exactly what it was before the batch, or exactly the batch
 * applied — never half of it; a killed writer resumed from what is stored ends with the same
 * content as a writer that never stopped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "store/testhooks.h"

#ifndef PS_TEST_HOOKS
#error "test_hooks_*.c are built with -DPS_TEST_HOOKS (see the Makefile)"
#endif

/* ---- fixtures ---------------------------------------------------------------------------- */

typedef struct {
    char dir[256];
    char path[512];
    char ref[512]; /* a reference store built without faults */
} Tmp;

static int tmp_setup(void **state)
{
    Tmp *t = calloc(1, sizeof *t);
    if (!t) return -1;
    /* tmpfs when there is one: these tests commit thousands of times, and what they check
     * (a killed process, a failed write) does not depend on fsync reaching a disk. */
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(t->dir, sizeof t->dir, "%s/ps_test_hooks.XXXXXX", base);
    if (!mkdtemp(t->dir)) return -1;
    snprintf(t->path, sizeof t->path, "%s/store.db", t->dir);
    snprintf(t->ref, sizeof t->ref, "%s/ref.db", t->dir);
    *state = t;
    return 0;
}

static int tmp_teardown(void **state)
{
    Tmp *t = *state;
    testhooks_fault_set(TESTHOOKS_WRITE, -1, 0);
    testhooks_malloc_fail_at(-1);
    unsetenv("PHENOSCOPE_KILLPOINT");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    if (system(cmd) != 0) return -1;
    free(t);
    return 0;
}

/* Removes a store with its -wal and -shm: a WAL left beside a new file would be replayed
 * into it. */
static void remove_store(const char *path)
{
    char side[600];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static void ok(Store *st, PsStatus rc)
{
    if (rc) fprintf(stderr, "store error: %s\n", st ? store_errmsg(st) : "(no store)");
    assert_int_equal(rc, PS_OK);
}

static Store *open_store(const char *path, StoreMode mode)
{
    Store *st = NULL;
    PsErr err = {{0}};
    PsStatus rc = store_open(&st, path, mode, &err);
    if (rc) fprintf(stderr, "store_open: %s\n", err.msg);
    assert_int_equal(rc, PS_OK);
    return st;
}

/* ---- a demo-like batch ------------------------------------------------------------------- */

#define BATCH_STAYS 4
#define BATCH_EVENTS 60 /* per stay */
#define JPEG_BYTES 6000 /* more than a page: the blob goes to overflow pages */

/* Batch b: BATCH_STAYS stays of their own subjects, events with charted text, labels,
 * diagnoses, a radiograph with an image blob, a pair. Returns the first failure (with st's
 * message) so that fault tests can see errors from any write, not only from COMMIT. */
static PsStatus write_batch(Store *st, int b)
{
    static unsigned char jpeg[JPEG_BYTES];
    for (size_t i = 0; i < sizeof jpeg; i++) jpeg[i] = (unsigned char)(i * 31 + (size_t)b);
    PsStatus rc;
    for (int i = 0; i < BATCH_STAYS; i++) {
        int64_t subject = 1000 + b * 100 + i, stay = 30000000 + b * 100 + i;
        int64_t t0 = 4102444800LL + (int64_t)b * 86400 * 7;
        StorePatient p = {subject, i % 2 ? 'M' : 'F', 40 + i, 2150};
        if ((rc = store_put_patient(st, &p))) return rc;
        StoreStay s = {.stay_id = stay, .subject_id = subject, .hadm_id = stay + 5000000,
                       .intime = t0, .outtime = t0 + 86400 * 2, .admittime = t0 - 3600,
                       .dischtime = t0 + 86400 * 3, .los_days = 2.0, .age = 40 + i,
                       .split = i % 3, .mortality_inhospital = i == 3};
        snprintf(s.first_careunit, sizeof s.first_careunit, "Medical ICU %d", b);
        snprintf(s.last_careunit, sizeof s.last_careunit, "MICU");
        if ((rc = store_put_stay(st, &s))) return rc;
        for (int e = 0; e < BATCH_EVENTS; e++) {
            StoreEvent ev = {stay, (float)e * 0.5f, e % 17, (float)(b * 1000 + e),
                             e % 17 == 3 ? "Spontaneously, to voice" : NULL};
            if ((rc = store_put_event(st, &ev))) return rc;
        }
        uint8_t labels[CATALOG_N_PHENOTYPES];
        for (int k = 0; k < CATALOG_N_PHENOTYPES; k++) labels[k] = (uint8_t)((k + i + b) % 3 == 0);
        if ((rc = store_put_labels(st, stay, labels))) return rc;
        StoreDiagnosis d = {subject, stay + 5000000, 1, "4280", 9};
        if ((rc = store_put_diagnosis(st, &d))) return rc;
        StoreRadiograph r = {.subject_id = subject, .study_id = 50000000 + subject,
                             .study_time = t0 + 3600, .split = SPLIT_TRAIN, .width = 64,
                             .height = 64, .jpeg = i == 0 ? jpeg : NULL,
                             .jpeg_size = i == 0 ? sizeof jpeg : 0, .path = "files/p10/x.jpg"};
        snprintf(r.dicom_id, sizeof r.dicom_id, "dicom-%d-%d", b, i);
        snprintf(r.view, sizeof r.view, "AP");
        for (int k = 0; k < CATALOG_N_CHEXPERT; k++) r.chexpert[k] = (int8_t)((k + i) % 4 - 2);
        if ((rc = store_put_radiograph(st, &r))) return rc;
        if ((rc = store_put_pair(st, stay, r.dicom_id))) return rc;
    }
    return PS_OK;
}

/* Writes batches [from, to) as one transaction each; returns the first failure. */
static PsStatus write_batches(Store *st, int from, int to)
{
    for (int b = from; b < to; b++) {
        PsStatus rc = store_begin(st);
        if (!rc) rc = write_batch(st, b);
        if (!rc) rc = store_commit(st);
        if (rc) {
            store_rollback(st);
            return rc;
        }
    }
    return PS_OK;
}

/* ---- content hash and integrity, through a connection of our own ------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

/* FNV-1a over every row of every table (ordered by all columns) and the schema: equal hashes
 * mean equal content, whatever the page layout of the files. */
static uint64_t content_hash(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    uint64_t h = 14695981039346656037ULL;
    sqlite3_stmt *tables;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name, sql FROM sqlite_schema WHERE type = 'table' "
                                        "ORDER BY name",
                                        -1, &tables, NULL),
                     SQLITE_OK);
    int rc;
    while ((rc = sqlite3_step(tables)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(tables, 0);
        const char *sql = (const char *)sqlite3_column_text(tables, 1);
        h = fnv(h, sql, strlen(sql));
        char q[256];
        sqlite3_stmt *cnt;
        snprintf(q, sizeof q, "SELECT * FROM \"%s\" LIMIT 0", name);
        assert_int_equal(sqlite3_prepare_v2(db, q, -1, &cnt, NULL), SQLITE_OK);
        int ncol = sqlite3_column_count(cnt);
        sqlite3_finalize(cnt);
        char sel[1024];
        int w = snprintf(sel, sizeof sel, "SELECT * FROM \"%s\" ORDER BY 1", name);
        for (int c = 2; c <= ncol; c++) w += snprintf(sel + w, sizeof sel - (size_t)w, ",%d", c);
        sqlite3_stmt *rows;
        assert_int_equal(sqlite3_prepare_v2(db, sel, -1, &rows, NULL), SQLITE_OK);
        int rrc;
        while ((rrc = sqlite3_step(rows)) == SQLITE_ROW) {
            for (int c = 0; c < ncol; c++) {
                int type = sqlite3_column_type(rows, c);
                h = fnv(h, &type, sizeof type);
                const void *b = sqlite3_column_blob(rows, c);
                int n = sqlite3_column_bytes(rows, c);
                if (b) h = fnv(h, b, (size_t)n);
            }
        }
        assert_int_equal(rrc, SQLITE_DONE);
        assert_int_equal(sqlite3_finalize(rows), SQLITE_OK);
    }
    assert_int_equal(rc, SQLITE_DONE);
    assert_int_equal(sqlite3_finalize(tables), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return h;
}

static void assert_integrity(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL), SQLITE_OK);
    int rc, bad = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *res = (const char *)sqlite3_column_text(s, 0);
        if (strcmp(res, "ok") == 0) continue;
        /* SQLite 3.40 reports "NULL value in T.C" for a NOT NULL column of a WITHOUT ROWID
         * table that precedes the primary-key columns (diagnoses.subject_id) even when no
         * such NULL exists; a direct query tells the false alarm from a real one. */
        char table[64], column[64];
        if (sscanf(res, "NULL value in %63[^.].%63s", table, column) == 2) {
            char q[256];
            sqlite3_stmt *n;
            snprintf(q, sizeof q, "SELECT count(*) FROM \"%s\" WHERE \"%s\" IS NULL", table,
                     column);
            assert_int_equal(sqlite3_prepare_v2(db, q, -1, &n, NULL), SQLITE_OK);
            assert_int_equal(sqlite3_step(n), SQLITE_ROW);
            int64_t nulls = sqlite3_column_int64(n, 0);
            sqlite3_finalize(n);
            if (nulls == 0) continue;
        }
        fprintf(stderr, "integrity_check of %s: %s\n", path, res);
        bad++;
    }
    assert_int_equal(rc, SQLITE_DONE);
    assert_int_equal(bad, 0);
    sqlite3_finalize(s);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_DONE); /* no orphan rows */
    sqlite3_finalize(s);
    sqlite3_close(db);
}

/* hash[i]: content after batches 0..i-1, built without faults in t->ref. */
static void reference_hashes(Tmp *t, uint64_t *hash, int n)
{
    remove_store(t->ref);
    Store *st = open_store(t->ref, STORE_OPEN_CREATE);
    store_close(st);
    hash[0] = content_hash(t->ref);
    for (int i = 1; i < n; i++) {
        st = open_store(t->ref, STORE_OPEN_READWRITE);
        ok(st, write_batches(st, i - 1, i));
        store_close(st);
        hash[i] = content_hash(t->ref);
    }
}

/* hash[i]: content after batches 0..i-1 (i < 3), and t->path holding batch 0: where every fault
 * sweep on batch 1 starts. */
static void batch0_store(Tmp *t, uint64_t hash[3])
{
    reference_hashes(t, hash, 3);
    Store *st = open_store(t->path, STORE_OPEN_CREATE);
    ok(st, write_batches(st, 0, 1));
    store_close(st);
    assert_true(content_hash(t->path) == hash[1]);
}

/* ---- full disk and I/O errors ------------------------------------------------------------ */

/* Fails the k-th write (or sync) of batch 1, for k = 0, 1, 2, ... until the batch gets through
 * with no fault reached. The fault stays on through close, as a full disk would. */
static void sweep_faults(Tmp *t, int kind, int code)
{
    uint64_t hash[3];
    batch0_store(t, hash);
    Store *st;
    int failures = 0, k;
    for (k = 0; k < 2000; k++) {
        st = open_store(t->path, STORE_OPEN_READWRITE);
        testhooks_fault_set(kind, k, code);
        PsStatus rc = write_batches(st, 1, 2);
        if (rc == PS_OK && !testhooks_fault_fired()) {
            store_close(st);
            testhooks_fault_set(kind, -1, 0);
            break;
        }
        if (rc != PS_OK) {
            failures++;
            assert_true(testhooks_fault_fired());
            assert_int_equal(rc, PS_ERR_IO);
            assert_true(strlen(store_errmsg(st)) > 0);
        }
        /* rc == PS_OK with the fault fired: COMMIT was durable before the fault (e.g. the
         * WAL checkpoint on close failed). Both outcomes are fine; half of one is not. */
        store_close(st);
        testhooks_fault_set(kind, -1, 0);
        assert_integrity(t->path);
        uint64_t h = content_hash(t->path);
        if (rc != PS_OK) {
            if (h != hash[1]) fprintf(stderr, "fault at %s %d: store changed\n",
                                      kind == TESTHOOKS_WRITE ? "write" : "sync", k);
            assert_true(h == hash[1]);
        } else {
            assert_true(h == hash[2]);
            /* committed: undo by rebuilding the 1-batch store for the next index */
            remove_store(t->path);
            st = open_store(t->path, STORE_OPEN_CREATE);
            ok(st, write_batches(st, 0, 1));
            store_close(st);
        }
    }
    assert_true(k < 2000);
    assert_true(failures >= (kind == TESTHOOKS_WRITE ? 5 : 1)); /* the batch really wrote */
    assert_true(content_hash(t->path) == hash[2]);
}

static void disk_full_at_every_write(void **state)
{
    testhooks_vfs_install();
    sweep_faults(*state, TESTHOOKS_WRITE, SQLITE_FULL);
}

static void io_error_at_every_write(void **state)
{
    testhooks_vfs_install();
    sweep_faults(*state, TESTHOOKS_WRITE, SQLITE_IOERR_WRITE);
}

static void io_error_at_every_sync(void **state)
{
    testhooks_vfs_install();
    sweep_faults(*state, TESTHOOKS_SYNC, SQLITE_IOERR_FSYNC);
}

/* The k-th write of COMMIT itself fails with a full disk, for k = 0, 1, 2, ... until the commit
 * gets through (the batch is written inside the transaction first, so every page reaches the
 * file at COMMIT): each failed commit says "nothing was written" and leaves exactly the rows
 * that were there before. The fault is lifted before close, as when space is freed. */
static void full_disk_during_commit_writes_nothing(void **state)
{
    Tmp *t = *state;
    uint64_t hash[3];
    batch0_store(t, hash);
    Store *st;
    testhooks_vfs_install();
    int failures = 0, k;
    for (k = 0; k < 200; k++) {
        st = open_store(t->path, STORE_OPEN_READWRITE);
        ok(st, store_begin(st));
        ok(st, write_batch(st, 1));
        testhooks_fault_set(TESTHOOKS_WRITE, k, SQLITE_FULL);
        PsStatus rc = store_commit(st);
        int fired = testhooks_fault_fired();
        testhooks_fault_set(TESTHOOKS_WRITE, -1, 0);
        if (rc == PS_OK) {
            assert_false(fired);
            store_close(st);
            break;
        }
        failures++;
        assert_true(fired);
        assert_int_equal(rc, PS_ERR_IO);
        assert_non_null(strstr(store_errmsg(st), "nothing was written"));
        store_close(st);
        /* seen fresh, by a connection of our own: the old rows, nothing of the failed commit */
        assert_true(content_hash(t->path) == hash[1]);
    }
    assert_true(failures >= 3); /* the commit really wrote several pages */
    assert_true(k < 200);
    assert_true(content_hash(t->path) == hash[2]);
}

/* ---- out of memory ----------------------------------------------------------------------- */

/* The k-th SQLite allocation of batch 1 fails, for every k: the batch fails cleanly or
 * commits; the store never holds half of it. */
static void out_of_memory_at_every_allocation(void **state)
{
    Tmp *t = *state;
    uint64_t hash[3];
    batch0_store(t, hash);
    /* how many allocations the batch makes */
    Store *st = open_store(t->path, STORE_OPEN_READWRITE);
    testhooks_malloc_fail_at(-1);
    ok(st, write_batches(st, 1, 2));
    int64_t total = testhooks_malloc_count();
    store_close(st);
    remove_store(t->path);
    st = open_store(t->path, STORE_OPEN_CREATE);
    ok(st, write_batches(st, 0, 1));
    store_close(st);
    assert_true(total > 10);
    /* every index in the long run; about 300 spread over the batch otherwise */
    int64_t stride = getenv("PS_TEST_LONG") || total <= 300 ? 1 : total / 300 + 1;
    print_message("batch makes %lld SQLite allocations; failing every %lld-th\n",
                  (long long)total, (long long)stride);
    int failures = 0;
    for (int64_t k = 0; k <= total + 5; k += stride) {
        st = open_store(t->path, STORE_OPEN_READWRITE);
        testhooks_malloc_fail_at(k);
        PsStatus rc = write_batches(st, 1, 2);
        int fired = testhooks_malloc_fired();
        store_close(st); /* still failing: close must cope */
        testhooks_malloc_fail_at(-1);
        assert_integrity(t->path);
        uint64_t h = content_hash(t->path);
        if (rc != PS_OK) {
            failures++;
            assert_true(fired);
            assert_true(h == hash[1]);
        } else {
            assert_true(h == hash[2]);
            remove_store(t->path);
            st = open_store(t->path, STORE_OPEN_CREATE);
            ok(st, write_batches(st, 0, 1));
            store_close(st);
        }
    }
    assert_true(failures > 10);
}

static int count_stay(void *ctx, const StoreStay *s)
{
    (void)s;
    (*(int *)ctx)++;
    return 0;
}
static int count_event(void *ctx, const StoreEvent *e)
{
    (void)e;
    (*(int *)ctx)++;
    return 0;
}
static int count_cxr(void *ctx, const StoreRadiograph *r)
{
    (void)r;
    (*(int *)ctx)++;
    return 0;
}

/* ---- SIGKILL ------------------------------------------------------------------------------ */

#define KILL_BATCHES 5

/* A writer in a child process: resumes after the last complete batch in the store (the
 * store itself is the progress record: a batch is there entirely or not at all) and writes
 * up to KILL_BATCHES. Exit 0 when done; dies by SIGKILL when a hook says so. */
static void child_writer(const char *path, int kind, int64_t kill_at)
{
    Store *st = NULL;
    PsErr err = {{0}};
    if (store_open(&st, path, STORE_OPEN_CREATE, &err)) _exit(3);
    int stays = 0;
    if (store_each_stay(st, -1, count_stay, &stays)) _exit(4);
    if (stays % BATCH_STAYS) _exit(5); /* half a batch: the very thing that must not be */
    if (kill_at >= 0) testhooks_fault_set(kind, kill_at, TESTHOOKS_KILL);
    if (write_batches(st, (int)(stays / BATCH_STAYS), KILL_BATCHES)) _exit(6);
    store_close(st);
    _exit(0);
}

/* Runs child_writer; returns 1 when it was killed, 0 when it finished. */
static int run_child(const char *path, const char *killpoint, int kind, int64_t kill_at,
                     double kill_after_s)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka's handlers would turn a crash of the child into a test run of its own */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
        if (killpoint)
            setenv("PHENOSCOPE_KILLPOINT", killpoint, 1);
        else
            unsetenv("PHENOSCOPE_KILLPOINT");
        child_writer(path, kind, kill_at);
    }
    if (kill_after_s > 0) {
        struct timespec ts = {0, (long)(kill_after_s * 1e9)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
        if (WTERMSIG(status) != SIGKILL) fprintf(stderr, "writer died of signal %d\n", WTERMSIG(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
        return 1;
    }
    if (WEXITSTATUS(status) != 0) fprintf(stderr, "writer exited %d\n", WEXITSTATUS(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return 0;
}

/* After a kill: integrity ok and the content equals some whole number of batches. */
static int batches_in(const char *path, const uint64_t *hash)
{
    struct stat sb;
    /* killed before the schema was committed: no store yet (open will create it) */
    if (stat(path, &sb) != 0 || sb.st_size == 0) return 0;
    assert_integrity(path);
    uint64_t h = content_hash(path);
    for (int i = 0; i <= KILL_BATCHES; i++)
        if (h == hash[i]) return i;
    sqlite3 *db = NULL;
    int64_t tables = -1, stays = -1, events = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *q = NULL;
        if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_schema", -1, &q, NULL) ==
                SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW)
            tables = sqlite3_column_int64(q, 0);
        sqlite3_finalize(q);
        q = NULL;
        if (tables > 0 &&
            sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM stays), "
                               "(SELECT count(*) FROM events)",
                               -1, &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW) {
            stays = sqlite3_column_int64(q, 0);
            events = sqlite3_column_int64(q, 1);
        }
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    /* killed inside store_open before the schema's transaction committed: no store yet */
    if (tables == 0) return 0;
    fprintf(stderr, "%s holds no whole number of batches (%lld tables, %lld stays, %lld events)\n",
            path, (long long)tables, (long long)stays, (long long)events);
    fail();
    return -1;
}

/* Every kill point, on every hit: the store keeps exactly the batches whose COMMIT returned
 * (and, at store.commit.before, not the one about to commit); resuming completes it. */
static void kill_at_every_killpoint(void **state)
{
    Tmp *t = *state;
    uint64_t hash[KILL_BATCHES + 1];
    reference_hashes(t, hash, KILL_BATCHES + 1);
    static const char *const points[] = {"store.begin.after", "store.commit.before",
                                         "store.commit.after"};
    for (int p = 0; p < 3; p++) {
        for (int hit = 1; hit <= KILL_BATCHES; hit++) {
            char kp[64];
            snprintf(kp, sizeof kp, "%s:%d", points[p], hit);
            remove_store(t->path);
            assert_int_equal(run_child(t->path, kp, 0, -1, 0), 1);
            int n = batches_in(t->path, hash);
            /* commit.after of batch `hit` follows its COMMIT; the other two precede it */
            assert_int_equal(n, p == 2 ? hit : hit - 1);
            assert_int_equal(run_child(t->path, NULL, 0, -1, 0), 0);
            assert_true(content_hash(t->path) == hash[KILL_BATCHES]);
        }
    }
}

/* SIGKILL in the middle of the k-th write (half of it on disk) and at the k-th sync, for
 * every k of a whole run. */
static void kill_at_every_write_and_sync(void **state)
{
    Tmp *t = *state;
    uint64_t hash[KILL_BATCHES + 1];
    reference_hashes(t, hash, KILL_BATCHES + 1);
    for (int kind = 0; kind < 2; kind++) {
        int killed = 0;
        for (int64_t k = 0; k < 1000; k++) {
            remove_store(t->path);
            if (!run_child(t->path, NULL, kind, k, 0)) break; /* k is past the last one */
            killed++;
            int n = batches_in(t->path, hash);
            assert_true(n >= 0 && n < KILL_BATCHES + 1);
            assert_int_equal(run_child(t->path, NULL, 0, -1, 0), 0);
            assert_true(content_hash(t->path) == hash[KILL_BATCHES]);
        }
        print_message("killed at each of %d %s\n", killed, kind ? "syncs" : "writes");
        assert_true(killed >= KILL_BATCHES);
    }
}

/* SIGKILL from outside at pseudo-random moments (seeded: a failure names its delay). */
static void kill_at_random_moments(void **state)
{
    Tmp *t = *state;
    uint64_t hash[KILL_BATCHES + 1];
    reference_hashes(t, hash, KILL_BATCHES + 1);
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    int rounds = getenv("PS_TEST_LONG") ? 200 : 25;
    for (int i = 0; i < rounds; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double delay = 0.0005 + (double)(x % 30000) * 1e-6; /* 0.5 .. 30.5 ms */
        remove_store(t->path);
        int killed = run_child(t->path, NULL, 0, -1, delay);
        int n = batches_in(t->path, hash);
        if (n < 0) fprintf(stderr, "after a kill at %.4f s\n", delay);
        if (!killed) assert_int_equal(n, KILL_BATCHES);
        assert_int_equal(run_child(t->path, NULL, 0, -1, 0), 0);
        assert_true(content_hash(t->path) == hash[KILL_BATCHES]);
    }
}

/* ---- corrupt files ------------------------------------------------------------------------ */

/* Garbage over one page at a time (every page but the header page, which test_store covers):
 * opening and reading everything either works or fails with a message; never a crash
 * (this test runs under ASan in CI). */
static void garbage_in_every_page_never_crashes(void **state)
{
    Tmp *t = *state;
    Store *st = open_store(t->path, STORE_OPEN_CREATE);
    ok(st, write_batches(st, 0, 3));
    store_close(st);
    struct stat sb;
    assert_int_equal(stat(t->path, &sb), 0);
    int page = 4096, pages = (int)(sb.st_size / page);
    assert_true(pages > 5);
    char copy[600];
    snprintf(copy, sizeof copy, "%s/pristine.db", t->dir);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", t->path, copy);
    assert_int_equal(system(cmd), 0);
    int failed_reads = 0;
    uint64_t x = 88172645463325252ULL;
    for (int p = 1; p < pages; p++) {
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", copy, t->path);
        assert_int_equal(system(cmd), 0);
        unsigned char junk[512];
        for (size_t i = 0; i < sizeof junk; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            junk[i] = (unsigned char)x;
        }
        int fd = open(t->path, O_WRONLY);
        assert_true(fd >= 0);
        off_t at = (off_t)p * page + (off_t)(x % (uint64_t)(page - sizeof junk));
        assert_int_equal(pwrite(fd, junk, sizeof junk, at), (ssize_t)sizeof junk);
        close(fd);
        PsErr err = {{0}};
        st = NULL;
        PsStatus rc = store_open(&st, t->path, STORE_OPEN_READONLY, &err);
        if (rc) {
            assert_null(st);
            assert_true(strlen(err.msg) > 0);
            assert_null(strchr(err.msg, '\n'));
            failed_reads++;
            continue;
        }
        int n = 0, bad = 0;
        StoreSplitCounts c[STORE_N_SPLITS];
        bad |= store_split_counts(st, c) != PS_OK;
        bad |= store_each_stay(st, -1, count_stay, &n) != PS_OK;
        for (int b = 0; b < 3; b++)
            for (int i = 0; i < BATCH_STAYS; i++)
                bad |= store_each_event(st, 30000000 + b * 100 + i, count_event, &n) != PS_OK;
        bad |= store_each_radiograph(st, -1, 1, count_cxr, &n) != PS_OK;
        if (bad) {
            assert_true(strlen(store_errmsg(st)) > 0);
            failed_reads++;
        }
        store_close(st);
    }
    assert_true(failed_reads > 0); /* the garbage was noticed somewhere */
}

int main(void)
{
    /* SQLite's allocator can only be replaced before SQLite initialises. */
    if (testhooks_sqlite_malloc_install() != SQLITE_OK) {
        fprintf(stderr, "cannot install the failing allocator\n");
        return 1;
    }
    if (testhooks_vfs_install() != SQLITE_OK) {
        fprintf(stderr, "cannot install the fault VFS\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(disk_full_at_every_write, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(io_error_at_every_write, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(io_error_at_every_sync, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(full_disk_during_commit_writes_nothing, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(out_of_memory_at_every_allocation, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(kill_at_every_killpoint, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(kill_at_every_write_and_sync, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(kill_at_random_moments, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(garbage_in_every_page_never_crashes, tmp_setup,
                                        tmp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
