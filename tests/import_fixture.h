/* import_fixture.h — what the importer tests share: a sink for bad-row messages and progress
 * calls that can SIGKILL the process at a chosen moment, a temporary directory holding a store
 * path, shell commands, one-value queries, and running an import in a child process that kills
 * itself part-way (the resume tests). Static inline, for the test binaries only; include after
 * <cmocka.h>. */
#ifndef IMPORT_FIXTURE_H
#define IMPORT_FIXTURE_H

#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/ps.h"

typedef struct {
    char msgs[64][PS_ERRMSG_MAX]; /* the first bad-row messages */
    int n;                        /* bad rows reported */
    int kill_at_bad;      /* SIGKILL this process at the k-th bad row (mid-transaction), 0: never */
    int kill_at_progress; /* SIGKILL at the k-th progress call (after a commit), 0: never */
    int progress;         /* progress calls */
} Sink;

static inline void sink_bad(void *ctx, const char *msg)
{
    Sink *s = ctx;
    if (s->n < 64) snprintf(s->msgs[s->n], sizeof s->msgs[0], "%s", msg);
    s->n++;
    if (s->kill_at_bad && s->n == s->kill_at_bad) raise(SIGKILL);
}

static inline int sink_progress(void *ctx, const char *file, int64_t records, uint64_t bytes,
                                uint64_t total)
{
    (void)file, (void)records, (void)bytes, (void)total;
    Sink *s = ctx;
    s->progress++;
    if (s->kill_at_progress && s->progress == s->kill_at_progress) raise(SIGKILL);
    return 0;
}

/* A fresh directory dir with db = dir/store.db and sub = dir/<sub> (not created). */
typedef struct {
    char dir[256], db[300], sub[300];
} Tmp;

static inline void tmp_make_named(Tmp *t, const char *sub)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/ps_test_import.XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->db, sizeof t->db, "%s/store.db", t->dir);
    snprintf(t->sub, sizeof t->sub, "%s/%s", t->dir, sub);
}

static inline void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void sh(const char *fmt, ...)
{
    char cmd[1500];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    assert_int_equal(system(cmd), 0);
}

static inline void tmp_clean(Tmp *t)
{
    sh("rm -rf '%s'", t->dir);
}

/* The first column of the first row of sql on db, INT64_MIN when none or NULL. */
static inline int64_t q_i64(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK);
    int64_t v = INT64_MIN;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return v;
}

/* Runs import(arg, sink) in a child whose sink SIGKILLs it at the at_bad-th bad row or the
 * at_progress-th progress call. Returns 1 when the child died by SIGKILL, 0 when it finished
 * cleanly (the point lay beyond the run); anything else fails the test. */
typedef PsStatus (*FixtureImport)(void *arg, Sink *sink);

static inline int killed_import(FixtureImport import, void *arg, int at_bad, int at_progress)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        Sink sink = {0};
        sink.kill_at_bad = at_bad;
        sink.kill_at_progress = at_progress;
        _exit(import(arg, &sink) == PS_OK ? 0 : 3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
        assert_int_equal(WTERMSIG(status), SIGKILL);
        return 1;
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return 0;
}

#endif
