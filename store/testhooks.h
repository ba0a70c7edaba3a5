/* testhooks.h — fault injection for tests: named kill points, a failing SQLite VFS, and
 * failing SQLite allocations. Compiled only into test builds (-DPS_TEST_HOOKS); in a release
 * build PS_KILLPOINT() expands to nothing and no testhooks_* symbol exists.
 *
 * Kill points. Code that must survive a crash at a given moment marks it:
 *
 *     PS_KILLPOINT("import.before_commit");
 *
 * When the environment variable PHENOSCOPE_KILLPOINT names that point, the process raises
 * SIGKILL there (no clean-up, no atexit, exactly as a power cut or the OOM killer). "name:N"
 * kills on the N-th hit (1-based), "name" on the first. Names are "module.moment"; the list of
 * points that exist is in README "Reliability" and in testhooks.c. PHENOSCOPE_KILLPOINT_LOG=FILE
 * appends the name of every point passed to FILE (one line each), so a test can count them.
 *
 * Fault VFS. testhooks_vfs_install() registers a VFS wrapping the default one and makes it the
 * default, so every store opened afterwards goes through it. testhooks_fault_set() arms it:
 * the k-th xWrite (or xSync) from now (0-based) fails with the given SQLite code, or, with
 * TESTHOOKS_KILL, raises SIGKILL in the middle of the I/O — before the k-th write reaches the
 * file. Once fired, the fault stays fired ("sticky") until re-armed: a full disk stays full.
 * From the environment (for the hooks binary): PHENOSCOPE_FAULT="write:K:full",
 * "write:K:ioerr", "sync:K:ioerr", "write:K:kill", read by testhooks_init_from_env(). A suffix
 * "@point" or "@point:N" arms the fault only when kill point `point` is passed (the N-th time),
 * so K counts from a known moment, e.g. "write:3:full@checkpoint.before_begin:2" fails the
 * fourth write of the second checkpoint's transaction (and every write after it).
 *
 * Allocation faults. testhooks_sqlite_malloc_install() replaces SQLite's allocator (it must be
 * called before SQLite is initialised, or after sqlite3_shutdown) with one that fails the k-th
 * allocation from testhooks_malloc_fail_at(k) on, as a process out of memory would.
 *
 * Thread safety: the counters are atomics, so hooks may fire on any thread; arming and
 * installing happen on one thread before the work starts.
 */
#ifndef TESTHOOKS_H
#define TESTHOOKS_H

#ifdef PS_TEST_HOOKS

#include <stdint.h>

#define PS_KILLPOINT(name) testhooks_killpoint(name)

/* Raises SIGKILL when PHENOSCOPE_KILLPOINT names this point (and the hit count matches). */
void testhooks_killpoint(const char *name);

enum { TESTHOOKS_WRITE = 0, TESTHOOKS_SYNC = 1 };
#define TESTHOOKS_KILL (-1) /* as the fail code: SIGKILL instead of an error */

/* Registers the fault VFS as the default; idempotent. Returns an SQLite result code. */
int testhooks_vfs_install(void);
/* Restores the previous default VFS. */
void testhooks_vfs_remove(void);
/* Arms a fault: the k-th (0-based, counted from now) operation of kind (TESTHOOKS_WRITE or
 * TESTHOOKS_SYNC) and every later one fails with code (SQLITE_FULL, SQLITE_IOERR_WRITE, ...)
 * or kills the process (TESTHOOKS_KILL). k < 0 disarms. */
void testhooks_fault_set(int kind, int64_t k, int code);
/* Whether the armed fault has fired; operations of each kind seen since arming. */
int testhooks_fault_fired(void);
int64_t testhooks_fault_count(int kind);

/* Replaces SQLite's allocator with a counting one (see above). Returns an SQLite code. */
int testhooks_sqlite_malloc_install(void);
/* The k-th SQLite allocation from now (0-based) and all later ones fail; k < 0 disarms. */
void testhooks_malloc_fail_at(int64_t k);
int testhooks_malloc_fired(void);
int64_t testhooks_malloc_count(void);

/* Reads PHENOSCOPE_FAULT and installs and arms the fault VFS accordingly; also notes
 * PHENOSCOPE_KILLPOINT. Returns 0, or -1 when PHENOSCOPE_FAULT is malformed. */
int testhooks_init_from_env(void);

/* PHENOSCOPE_FLUSH_EVERY as a positive number of iterations, or 0 (unset): the trainer then
 * writes its losses every N iterations instead of every couple of seconds. */
int testhooks_flush_every(void);

/* PHENOSCOPE_CRASH_AFTER_MS=N: the first call starts a clock; a call N ms or more later crashes
 * the process with PHENOSCOPE_CRASH_SIGNAL (segv, the default, abrt, bus or fpe), as a bug
 * would, so a test can check what a crash leaves behind (the terminal's modes). */
void testhooks_crash_check(void);

#else

#define PS_KILLPOINT(name) ((void)0)

#endif

#endif
