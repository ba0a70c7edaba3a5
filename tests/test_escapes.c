/* test_escapes.c — escape injection through every screen, checked in the raw terminal bytes.
 *
 * A demo store (with one tiny trained run) has every string that can reach the screen
 * replaced by hostile text: care units, ICD codes and titles, charted text, radiograph view
 * positions and dicom ids, funnel labels, source names, run methods, statuses, messages,
 * configs, phases and epoch metrics; one radiograph's JPEG is damaged so error messages quote
 * a hostile dicom id. The payloads are OSC title sets (ESC ] 0 ; .. BEL and ESC ] 2 ; .. ST),
 * CSI sequences (ESC [ 2 J, ESC [ 31 m), raw C1 bytes 0x9b / 0x9d, U+009B / U+009D as UTF-8,
 * DEL, U+202E and invalid UTF-8, and some strings are thousands of bytes long.
 *
 * The real binary ($PHENOSCOPE_BIN, else ./phenoscope) then runs on a pseudo-terminal that
 * records every byte it writes while keys are typed: the cohort with search, filters and sort,
 * a stay, its radiographs (symbols and sixel), the training list and runs, predictions and
 * help, with and without --mask-ids, in UTF-8 and ASCII locales; and the headless verbs (info,
 * predict, eval, export, import error paths) on the terminal and into pipes. The byte stream
 * must be valid UTF-8 (no raw 0x9b / 0x9d), hold no OSC (ESC ]) at all, so the title is never
 * set, no C1 or bidi control character, no ncurses caret form of ESC (^[), and no payload
 * introducer followed by its marker; and every payload must show up in its neutralised form
 * (so the data was really drawn). Removing the sanitiser from one draw call fails it.
 *
 * Needs the built binary and the sqlite3 library; takes about half a minute.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/sanitize.h"

/* ---- payloads ------------------------------------------------------------------------------ */

typedef struct {
    const char *intro;  /* the bytes a terminal would act on */
    const char *marker; /* printable text right after them, unique in the program's output */
    const char *tail;   /* what ends the sequence (OSC) */
    const char *safe;   /* how the sanitiser shows intro + marker */
} Payload;

/* Octal escapes where digits follow: "\23331m" is the byte 0x9b, then "31m". */
static const Payload payloads[] = {
    {"\033]0;", "QPA", "\007", "?]0;QPA"},   /* OSC 0: set the title, BEL-terminated */
    {"\033]2;", "QPB", "\033\\", "?]2;QPB"}, /* OSC 2, ST-terminated */
    {"\033[2J", "QCL", "", "?[2JQCL"},       /* CSI: erase the screen */
    {"\033[31m", "QRD", "", "?[31mQRD"},     /* CSI: red */
    {"\23331m", "QKS", "", "?31mQKS"},       /* a raw 8-bit CSI byte (invalid UTF-8) */
    {"\2350;", "QKO", "\007", "?0;QKO"},     /* a raw 8-bit OSC byte */
    {"\302\23331m", "QUS", "", "?31mQUS"},   /* U+009B CSI as UTF-8 */
    {"\302\2350;", "QUO", "\007", "?0;QUO"}, /* U+009D OSC as UTF-8 */
    {"\x7f", "QDL", "", "?QDL"},             /* DEL */
    {"\xe2\x80\xae", "QRL", "", "?QRL"},     /* U+202E RIGHT-TO-LEFT OVERRIDE */
    {"\xff\xc0\xaf", "QBD", "", "???QBD"},   /* invalid UTF-8 and an overlong '/' */
};
#define N_PAYLOADS (int)(sizeof payloads / sizeof payloads[0])
#define FIRST_PAYLOAD 9 /* U+202E */

/* One payload: intro, marker, tail. */
static void one(char *dst, size_t n, int v)
{
    const Payload *p = &payloads[v % N_PAYLOADS];
    snprintf(dst, n, "%s%s%s", p->intro, p->marker, p->tail);
}

/* Every payload after a short label; with pad > 0, followed by that many bytes of filler and
 * every payload again, so a long string's far end is hostile too. Caller frees. */
static char *all(const char *label, size_t pad)
{
    size_t n = strlen(label) + 2 * 64 * N_PAYLOADS + pad + 16;
    char *s = malloc(n), one_s[64];
    assert_non_null(s);
    size_t o = (size_t)snprintf(s, n, "%s ", label);
    /* The bidi override first: a narrow column shows only the start of a string, and a
     * zero-width U+202E is the one payload curses itself would pass on to the terminal (ESC,
     * C1, DEL and broken UTF-8 it draws as '?' or ^X), so it is what shows a missed call. */
    for (int i = 0; i < N_PAYLOADS; i++) {
        one(one_s, sizeof one_s, i + FIRST_PAYLOAD);
        o += (size_t)snprintf(s + o, n - o, "%s ", one_s);
    }
    if (pad) {
        memset(s + o, 'w', pad);
        o += pad;
        for (int v = 0; v < N_PAYLOADS; v++) {
            one(one_s, sizeof one_s, v);
            o += (size_t)snprintf(s + o, n - o, "%s ", one_s);
        }
    }
    s[o] = 0;
    return s;
}

/* ---- the store ----------------------------------------------------------------------------- */

typedef struct {
    char dir[128];
    char store[192];
    const char *bin;
    long long stay_a, stay_b; /* the first two paired stays; b's radiograph JPEG is damaged */
    char dicom_a[128];        /* a's (hostile) dicom id */
} Fixture;

static Fixture fx;

/* Runs argv with stdout and stderr to /dev/null; returns the exit status (-1: not exited). */
static int run_quiet(const char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void sql(sqlite3 *db, const char *q, const char *a, const char *b)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, q, -1, &s, NULL);
    if (rc != SQLITE_OK) fail_msg("%s: %s", q, sqlite3_errmsg(db));
    /* text bound with its byte length: SQLite keeps invalid UTF-8 as it is */
    if (a)
        assert_int_equal(sqlite3_bind_text(s, 1, a, (int)strlen(a), SQLITE_TRANSIENT), SQLITE_OK);
    if (b)
        assert_int_equal(sqlite3_bind_text(s, 2, b, (int)strlen(b), SQLITE_TRANSIENT), SQLITE_OK);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) fail_msg("%s: %s", q, sqlite3_errmsg(db));
    sqlite3_finalize(s);
}

static long long sql_int(sqlite3 *db, const char *q)
{
    sqlite3_stmt *s = NULL;
    long long v = -1;
    if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", q, sqlite3_errmsg(db));
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* Row-by-row payloads for short fields: q binds the payload as ?1 and picks rows where
 * (key % ?2) = ?3, so each payload lands on some rows. */
static void per_row(sqlite3 *db, const char *q)
{
    char one_s[64];
    for (int v = 0; v < N_PAYLOADS; v++) {
        one(one_s, sizeof one_s, v);
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
            fail_msg("%s: %s", q, sqlite3_errmsg(db));
        sqlite3_bind_text(s, 1, one_s, (int)strlen(one_s), SQLITE_TRANSIENT);
        sqlite3_bind_int(s, 2, N_PAYLOADS);
        sqlite3_bind_int(s, 3, v);
        if (sqlite3_step(s) != SQLITE_DONE) fail_msg("%s: %s", q, sqlite3_errmsg(db));
        sqlite3_finalize(s);
    }
}

static void poison(void)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx.store, &db), SQLITE_OK);
    sql(db, "PRAGMA foreign_keys = OFF", NULL, NULL);
    sql(db, "BEGIN", NULL, NULL);
    fx.stay_a = sql_int(db, "SELECT min(stay_id) FROM pairs");
    fx.stay_b = sql_int(
        db, "SELECT min(stay_id) FROM pairs WHERE stay_id > (SELECT min(stay_id) FROM pairs)");
    assert_true(fx.stay_a > 0 && fx.stay_b > 0);

    /* care units: a name with an abbreviation in parentheses (the cohort shows the latter) */
    per_row(db, "UPDATE stays SET first_careunit = 'Hostile ' || ?1 || ' (' || ?1 || ')', "
                "last_careunit = ?1 || ' unit' WHERE stay_id % ?2 = ?3");
    per_row(db, "UPDATE events SET text = ?1 WHERE rowid % ?2 = ?3");
    /* ICD codes (a prefix keeps the join to the titles) and titles, some very long */
    sql(db, "UPDATE diagnoses SET icd_code = ?1 || icd_code", "\xe2\x80\xae\033[31m", NULL);
    sql(db, "UPDATE icd_titles SET icd_code = ?1 || icd_code", "\xe2\x80\xae\033[31m", NULL);
    char *t = all("title", 0), *tl = all("long title", 6000);
    sql(db, "UPDATE icd_titles SET title = ?1", t, NULL);
    sql(db,
        "UPDATE icd_titles SET title = ?1 WHERE icd_code IN (SELECT icd_code FROM diagnoses "
        "WHERE seq_num % 3 = 2)",
        tl, NULL);
    /* radiographs: view positions and dicom ids, everywhere a dicom id is stored */
    per_row(db, "UPDATE radiographs SET view = ?1 WHERE study_id % ?2 = ?3");
    /* the same new id everywhere one is stored: images and pairs first, radiographs last */
    per_row(
        db,
        "UPDATE radiograph_images SET dicom_id = substr(?1 || dicom_id, 1, 95) WHERE dicom_id IN "
        "(SELECT dicom_id FROM radiographs WHERE subject_id % ?2 = ?3)");
    per_row(db, "UPDATE pairs SET dicom_id = substr(?1 || dicom_id, 1, 95) WHERE dicom_id IN "
                "(SELECT dicom_id FROM radiographs WHERE subject_id % ?2 = ?3)");
    per_row(db, "UPDATE radiographs SET dicom_id = substr(?1 || dicom_id, 1, 95) "
                "WHERE subject_id % ?2 = ?3");
    {
        char b[32];
        snprintf(b, sizeof b, "%lld", fx.stay_b);
        sql(db,
            "UPDATE radiograph_images SET jpeg = x'ffd8ffe000104a464946' WHERE dicom_id = "
            "(SELECT dicom_id FROM pairs WHERE stay_id = CAST(?1 AS INTEGER))",
            b, NULL);
        snprintf(b, sizeof b, "%lld", fx.stay_a);
        sqlite3_stmt *s = NULL;
        assert_int_equal(
            sqlite3_prepare_v2(db, "SELECT dicom_id FROM pairs WHERE stay_id = CAST(?1 AS INTEGER)",
                               -1, &s, NULL),
            SQLITE_OK);
        sqlite3_bind_text(s, 1, b, -1, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        snprintf(fx.dicom_a, sizeof fx.dicom_a, "%s", (const char *)sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
    }
    /* the import funnel and the sources */
    char *rule = all("rule", 0);
    sql(db, "UPDATE funnel SET rule = ?1 || rule", rule, NULL);
    sql(db, "UPDATE funnel SET source = ?1", "demo\033]0;QPA\007", NULL);
    sql(db, "UPDATE sources SET name = ?1, detail = ?2", "demo\302\23331mQUS", rule);
    /* runs: the trained run keeps its method and status (predictions use it); a second,
     * stopped run and a third with a hostile status carry the rest */
    char *msg = all("message", 3000);
    sql(db, "UPDATE runs SET message = ?1, code_version = ?2", msg, "v\033[2JQCL\xe2\x80\xae");
    const char *cfg = "{\"method\":\"\\u001b]0;QPA\\u0007\",\"name\":\"\\u009b31mQKS\","
                      "\"note\":\"\\u202eQRL\\u001b[31mQRD\"}";
    sql(db,
        "INSERT INTO runs(run_id, method, config, seed, code_version, status, message, created, "
        "updated) "
        "SELECT 2, ?1, ?2, 7, code_version, 'stopped', message, created + 1, updated + 1 FROM runs "
        "WHERE run_id = 1",
        "\033]0;QPA\007unified", cfg);
    sql(db,
        "INSERT INTO runs(run_id, method, config, seed, code_version, status, message, created, "
        "updated) "
        "SELECT 3, 'ehr', config, 7, code_version, ?1, message, created + 2, updated + 2 FROM runs "
        "WHERE run_id = 1",
        "\23331mQKS", NULL);
    sql(db,
        "INSERT INTO run_progress(run_id, time, pid, phase, iteration, iterations, epoch, epochs) "
        "SELECT 2, time, 0, ?1, 1, 2, 1, 1 FROM run_progress WHERE run_id = 1",
        "\033]2;QPB\033\\", NULL);
    sql(db,
        "INSERT INTO run_epochs(run_id, epoch, metrics) VALUES (2, 1, "
        "'{\"val_auroc\":0.5,\"\\u001b]0;QPA\\u0007\":1,\"phase\":\"\\u009d0;QUO\"}')",
        NULL, NULL);
    sql(db, "COMMIT", NULL, NULL);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    free(t);
    free(tl);
    free(rule);
    free(msg);
}

static int setup(void **state)
{
    (void)state;
    const char *b = getenv("PHENOSCOPE_BIN");
    fx.bin = b && *b ? b : "./phenoscope";
    if (access(fx.bin, X_OK) != 0) {
        fprintf(stderr, "test_escapes: no binary at %s (set PHENOSCOPE_BIN)\n", fx.bin);
        return -1;
    }
    snprintf(fx.dir, sizeof fx.dir, "/tmp/ps_escapes_XXXXXX");
    if (!mkdtemp(fx.dir)) return -1;
    snprintf(fx.store, sizeof fx.store, "%s/s.db", fx.dir);
    const char *demo[] = {fx.bin, "--store", fx.store, "demo", "--stays",
                          "60",   "--seed",  "3",      NULL};
    if (run_quiet(demo) != 0) return -1;
    const char *train[] = {fx.bin,     "--store",    fx.store,  "train",       "--method",
                           "unified",  "--epochs",   "1",       "--max-iters", "2",
                           "--quick",  "--img-size", "32",      "--width",     "4",
                           "--hidden", "16",         "--batch", "8",           "--threads",
                           "1",        NULL};
    if (run_quiet(train) != 0) return -1;
    poison();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (getenv("PS_KEEP_ESCAPES")) return 0; /* to look at the store by hand */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- recording a pseudo-terminal ------------------------------------------------------------ */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} Buf;

static void buf_add(Buf *b, const void *d, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->n + n + 1)
            cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        assert_non_null(p);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = 0;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Reads the master until it has been quiet for quiet_ms (or max_ms passed, or EOF). Returns 0
 * at EOF (the program closed the terminal), 1 otherwise. */
static int pump(int m, Buf *b, int quiet_ms, int max_ms)
{
    long start = now_ms(), last = start;
    unsigned char chunk[8192];
    for (;;) {
        long t = now_ms();
        if (t - last >= quiet_ms || t - start >= max_ms) return 1;
        struct pollfd pf = {.fd = m, .events = POLLIN};
        int r = poll(&pf, 1, 20);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        ssize_t k = read(m, chunk, sizeof chunk);
        if (k > 0) {
            buf_add(b, chunk, (size_t)k);
            last = now_ms();
        } else if (k == 0 || errno != EINTR) {
            return 0; /* EIO: the slave side is closed */
        }
    }
}

/* Starts the binary on a new pseudo-terminal of cols x rows with a clean environment (TERM,
 * LANG and LC_ALL as given). argv[0] is replaced by the binary. */
static pid_t start_pty(const char *const argv[], const char *lang, int cols, int rows, int *master)
{
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    pid_t pid = forkpty(master, NULL, NULL, &ws);
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *keep[] = {"PATH",
                              "HOME",
                              "XDG_DATA_HOME",
                              "XDG_STATE_HOME",
                              "OPENBLAS_NUM_THREADS",
                              "ASAN_OPTIONS",
                              "UBSAN_OPTIONS",
                              "LSAN_OPTIONS",
                              "TSAN_OPTIONS"};
        const char *env[24];
        int n = 0;
        for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
            const char *v = getenv(keep[i]);
            if (!v) continue;
            size_t len = strlen(keep[i]) + strlen(v) + 2;
            char *e = malloc(len);
            if (!e) _exit(126);
            snprintf(e, len, "%s=%s", keep[i], v);
            env[n++] = e;
        }
        static char lang_v[64], lc_v[64];
        snprintf(lang_v, sizeof lang_v, "LANG=%s", lang);
        snprintf(lc_v, sizeof lc_v, "LC_ALL=%s", lang);
        env[n++] = "TERM=xterm-256color";
        env[n++] = lang_v;
        env[n++] = lc_v;
        env[n++] = "PHENOSCOPE_PROBE_TIMEOUT_MS=100"; /* nobody answers the sixel probe here */
        env[n] = NULL;
        execve(fx.bin, (char *const *)argv, (char *const *)env);
        _exit(127);
    }
    return pid;
}

/* Waits for pid (a child of ours) up to ms; then SIGKILLs it. Returns its wait status. */
static int reap(pid_t pid, int m, Buf *b, int ms)
{
    long start = now_ms();
    int st = 0;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) break;
        if (now_ms() - start > ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        if (m >= 0 && b)
            pump(m, b, 50, 50);
        else
            usleep(20000);
    }
    return st;
}

/* Runs the TUI with extra arguments, typing keys one at a time and letting the screen settle
 * after each; the last key must quit. Everything written to the terminal is appended to out. */
static void tui(Buf *out, const char *const *args, const char *lang, const char *const *keys,
                int cols, int rows)
{
    const char *argv[16];
    int n = 0;
    argv[n++] = fx.bin;
    argv[n++] = "--store";
    argv[n++] = fx.store;
    for (; args && *args && n < 14; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    int m = -1;
    pid_t pid = start_pty(argv, lang, cols, rows, &m);
    pump(m, out, 600, 10000); /* the first frame and the cohort load */
    int open = 1;
    for (; *keys && open; keys++) {
        size_t len = strlen(*keys);
        if (write(m, *keys, len) != (ssize_t)len) break;
        open = pump(m, out, 200, 6000);
    }
    int st = reap(pid, m, out, 10000);
    close(m);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("the TUI did not quit cleanly (status %d) after its keys", st);
}

/* Keeps a recording beside the store (PS_KEEP_ESCAPES=1 leaves them for a look). */
static void save(const Buf *b, const char *name)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s.bin", fx.dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (b->n) fwrite(b->p, 1, b->n, f);
    fclose(f);
}

/* ---- what may not reach a terminal ---------------------------------------------------------- */

static void hexdump_at(const Buf *b, size_t at)
{
    size_t lo = at > 48 ? at - 48 : 0, hi = at + 48 < b->n ? at + 48 : b->n;
    char line[512];
    size_t o = 0;
    for (size_t i = lo; i < hi && o + 5 < sizeof line; i++) {
        unsigned c = b->p[i];
        o +=
            (size_t)snprintf(line + o, sizeof line - o, c >= 0x20 && c < 0x7f ? "%c" : "<%02x>", c);
    }
    print_message("  near byte %zu: %s\n", at, line);
}

static int bidi(unsigned cp)
{
    return cp == 0x061c || cp == 0x200e || cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) ||
           (cp >= 0x2066 && cp <= 0x2069);
}

/* The stream's bytes: valid UTF-8 throughout (so no raw 0x9b / 0x9d), no C1 or bidi control,
 * no OSC, no caret-escaped ESC from curses, no payload's introducer right before its marker.
 * With no_esc (a pipe), no ESC at all. Returns the number of problems, each printed. */
static int bad_bytes(const Buf *b, const char *what, int no_esc, int ascii)
{
    int bad = 0;
    if (b->n == 0) return 0; /* nothing written (memmem takes no NULL) */
    for (size_t i = 0; i < b->n;) {
        unsigned cp = 0;
        int k = sanitize_utf8_decode(b->p + i, b->n - i, &cp);
        const char *why = NULL;
        if (k == 0)
            why = "invalid UTF-8 (raw 8-bit control?)";
        else if (cp == 0x1b && i + 1 < b->n && b->p[i + 1] == ']')
            why = "an OSC sequence (ESC ])";
        else if (cp == 0x1b && no_esc)
            why = "an ESC";
        else if (cp >= 0x80 && cp <= 0x9f)
            why = "a C1 control character";
        else if (bidi(cp))
            why = "a bidi control character";
        else if (ascii && cp >= 0x80)
            why = "non-ASCII in an ASCII locale";
        if (why) {
            if (bad < 5) {
                print_message("%s: %s\n", what, why);
                hexdump_at(b, i);
            }
            bad++;
        }
        i += k ? (size_t)k : 1;
    }
    /* ^[ as text, outside sixel images (DCS ESC P .. ESC \, where '^' and '[' are pixels) */
    int in_dcs = 0;
    for (size_t i = 0; i + 1 < b->n; i++) {
        if (b->p[i] == 0x1b)
            in_dcs = b->p[i + 1] == 'P' ? 1 : b->p[i + 1] == '\\' ? 0 : in_dcs;
        else if (!in_dcs && b->p[i] == '^' && b->p[i + 1] == '[') {
            print_message("%s: ESC reached curses, which drew it as ^[\n", what);
            hexdump_at(b, i);
            bad++;
            break;
        }
    }
    for (int v = 0; v < N_PAYLOADS; v++) {
        char raw[64];
        snprintf(raw, sizeof raw, "%s%s", payloads[v].intro, payloads[v].marker);
        const unsigned char *hit = memmem(b->p, b->n, raw, strlen(raw));
        if (hit) {
            print_message("%s: payload %s arrived as it is\n", what, payloads[v].marker);
            hexdump_at(b, (size_t)(hit - b->p));
            bad++;
        }
    }
    return bad;
}

/* How many payloads never showed up in their neutralised form; each printed. */
static int unseen(const Buf *b, const char *what)
{
    int n = 0;
    for (int v = 0; v < N_PAYLOADS; v++) {
        if (b->n == 0 || !memmem(b->p, b->n, payloads[v].safe, strlen(payloads[v].safe))) {
            print_message("%s: never saw '%s' (payload %s drawn neutralised)\n", what,
                          payloads[v].safe, payloads[v].marker);
            n++;
        }
    }
    return n;
}

/* ---- the screens ---------------------------------------------------------------------------- */

#define ESC "\033"

/* Every screen: cohort (search, split and paired filters, phenotype picker, sort), a paired
 * stay (panels), its radiographs, the training list and each run, predictions (withhold,
 * sort), help; then the second paired stay, whose image is damaged, through the same screens. */
static const char *const tour[] = {
    "/", "Q", "R", "\r", ESC, "t",  "t",  "t",  "t",  "f",  "j",  "\r", "c", ">",
    ">", ">", "r", "<",  "<", "<",  "r",  "p",  "\r", "\t", "\t", "\t", "x", "j",
    "k", "p", "4", "\r", ESC, "j",  "\r", ESC,  "j",  "\r", ESC,  "5",  "w", "s",
    "s", "?", "q", "1",  "j", "\r", "\t", "\t", "x",  "5",  "3",  "1",  "q", NULL,
};

static void every_screen_utf8(void **state)
{
    (void)state;
    Buf b = {0};
    const char *args[] = {"--graphics=symbols", NULL};
    tui(&b, args, "C.UTF-8", tour, 200, 50);
    save(&b, "tour-utf8");
    int bad = bad_bytes(&b, "UTF-8 tour", 0, 0);
    int miss = unseen(&b, "UTF-8 tour");
    print_message("UTF-8 tour: %zu bytes recorded\n", b.n);
    free(b.p);
    assert_int_equal(bad, 0);
    assert_int_equal(miss, 0);
}

static void every_screen_masked_ids(void **state)
{
    (void)state;
    Buf b = {0};
    const char *args[] = {"--graphics=symbols", "--mask-ids", NULL};
    tui(&b, args, "C.UTF-8", tour, 160, 50);
    save(&b, "tour-masked");
    int bad = bad_bytes(&b, "--mask-ids tour", 0, 0);
    /* the dicom ids are hidden here, so not every payload need show: those in titles do */
    free(b.p);
    assert_int_equal(bad, 0);
}

static void every_screen_ascii_locale(void **state)
{
    (void)state;
    Buf b = {0};
    const char *args[] = {"--graphics=symbols", NULL};
    tui(&b, args, "C", tour, 200, 50);
    save(&b, "tour-ascii");
    int bad = bad_bytes(&b, "ASCII tour", 0, 1);
    int miss = unseen(&b, "ASCII tour");
    free(b.p);
    assert_int_equal(bad, 0);
    assert_int_equal(miss, 0);
}

static void radiographs_as_sixel(void **state)
{
    (void)state;
    Buf b = {0};
    const char *args[] = {"--graphics=sixel", NULL};
    const char *const keys[] = {"p", "\r", "x", "j", "k", "1", "j", "\r", "x", "1", "q", NULL};
    tui(&b, args, "C.UTF-8", keys, 160, 50);
    save(&b, "sixel");
    int bad = bad_bytes(&b, "sixel", 0, 0);
    int sixel =
        b.n > 0 && memmem(b.p, b.n, ESC "P", 2) != NULL; /* the image really went out as sixel */
    free(b.p);
    assert_int_equal(bad, 0);
    assert_true(sixel);
}

/* ---- the headless verbs --------------------------------------------------------------------- */

/* Runs a verb on a pseudo-terminal (stdout and stderr both); appends what it wrote. */
static void verb_pty(Buf *out, const char *store, const char *const *args)
{
    const char *argv[24];
    int n = 0;
    argv[n++] = fx.bin;
    argv[n++] = "--store";
    argv[n++] = store;
    for (; *args && n < 23; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    int m = -1;
    pid_t pid = start_pty(argv, "C.UTF-8", 120, 40, &m);
    while (pump(m, out, 5000, 60000)) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            pid = -1;
            break;
        }
    }
    if (pid > 0) reap(pid, -1, NULL, 10000);
    close(m);
}

/* Runs a verb with stdout and stderr into pipes (files); appends each to its buffer. */
static void verb_pipe(Buf *out, Buf *err, const char *store, const char *const *args)
{
    char o[256], e[256];
    snprintf(o, sizeof o, "%s/out", fx.dir);
    snprintf(e, sizeof e, "%s/err", fx.dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *argv[24];
        int n = 0;
        argv[n++] = fx.bin;
        argv[n++] = "--store";
        argv[n++] = store;
        for (; *args && n < 23; args++)
            argv[n++] = *args;
        argv[n] = NULL;
        int fo = open(o, O_WRONLY | O_CREAT | O_TRUNC, 0600),
            fe = open(e, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fi = open("/dev/null", O_RDONLY);
        if (fo < 0 || fe < 0 || fi < 0) _exit(126);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(fx.bin, (char *const *)argv);
        _exit(127);
    }
    reap(pid, -1, NULL, 60000);
    const char *files[2] = {o, e};
    Buf *bufs[2] = {out, err};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "rb");
        assert_non_null(f);
        char chunk[8192];
        size_t k;
        while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
            buf_add(bufs[i], chunk, k);
        fclose(f);
    }
}

static void hostile_dir(char *dst, size_t n)
{
    snprintf(dst, n,
             "%s/in" ESC "]0;QPA\007\23331mQKS"
             "\xe2\x80\xaeQRL",
             fx.dir);
}

static void headless_verbs(void **state)
{
    (void)state;
    char sa[32], sb[32], hdir[256], path[300];
    snprintf(sa, sizeof sa, "%lld", fx.stay_a);
    snprintf(sb, sizeof sb, "%lld", fx.stay_b);
    /* an import directory whose name is hostile, holding MIMIC-CXR tables whose rows are too:
     * the importer's bad-row lines quote the offending fields */
    hostile_dir(hdir, sizeof hdir);
    assert_int_equal(mkdir(hdir, 0700), 0);
    static const char *const tables[3][2] = {
        {"metadata", "dicom_id,subject_id,study_id,ViewPosition,StudyDate,StudyTime\n"
                     "d1,1,2,AP,2100" ESC "]0;QPA\007,00\23331mQKS\n"},
        {"chexpert", "subject_id,study_id,Atelectasis,Cardiomegaly,Consolidation,Edema,"
                     "Enlarged Cardiomediastinum,Fracture,Lung Lesion,Lung Opacity,No Finding,"
                     "Pleural Effusion,Pleural Other,Pneumonia,Pneumothorax,Support Devices\n"
                     "1,2" ESC "[2JQCL,1.0"
                     "\xe2\x80\xaeQRL,,,,,,,,,,,,,\n"},
        {"split", "dicom_id,study_id,subject_id,split\n"
                  "d1,2,1,tr"
                  "\302\2350;QUO\007ain\n"},
    };
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof path, "%s/mimic-cxr-2.0.0-%s.csv", hdir, tables[k][0]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(tables[k][1], f);
        assert_int_equal(fclose(f), 0);
    }
    char istore[300]; /* imports go to a store of their own: the others read the hostile one */
    snprintf(istore, sizeof istore, "%s/import.db", fx.dir);
    char missing[300];
    snprintf(missing, sizeof missing, "%s/none", hdir);
    char hstore[300];
    snprintf(hstore, sizeof hstore,
             "%s/demo" ESC "[2JQCL"
             "\302\2350;QUO.db",
             hdir);
    char dicom_opt[160];
    snprintf(dicom_opt, sizeof dicom_opt,
             "%s"
             "\302\2350;QUO",
             fx.dicom_a);
    const char *const runs[][8] = {
        {"info", NULL},
        {"predict", "--stay", sa, NULL},
        {"predict", "--stay", sb, NULL},
        {"predict", "--stay", sa, "--radiograph", dicom_opt, NULL},
        {"predict", "--stay", sa, "--json", NULL},
        {"eval", "1", "--bootstrap", "10", NULL},
        {"eval", "2", NULL},
        {"eval", "3", NULL},
        {"export", "radiographs", NULL},
        {"export", "pairs", NULL},
        {"export", "stay", sa, NULL},
        {"export", "radiograph", dicom_opt, "x.jpg", NULL},
        {"import", "mimic-cxr", hdir, "--metadata-only", NULL},
        {"demo", "--stays", "3", "--store", hstore, NULL}, /* then again: "already holds" */
        {"import", "mimic-cxr", missing, NULL},
        {"import", "mimic-iv", missing, "--resources", missing, NULL},
    };
    int bad = 0;
    Buf all_tty = {0};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s %s on a terminal", runs[i][0],
                 runs[i][1] ? runs[i][1] : "");
        Buf t = {0};
        const char *st = strcmp(runs[i][0], "import") == 0 ? istore : fx.store;
        verb_pty(&t, st, runs[i]);
        bad += bad_bytes(&t, what, 0, 0);
        buf_add(&all_tty, t.p ? t.p : (unsigned char *)"", t.n);
        free(t.p);
        /* into pipes: stderr always sanitised; stdout too, except export's CSV, which is data */
        Buf o = {0}, e = {0};
        verb_pipe(&o, &e, st, runs[i]);
        snprintf(what, sizeof what, "%s %s stderr", runs[i][0], runs[i][1] ? runs[i][1] : "");
        bad += bad_bytes(&e, what, 1, 0);
        if (strcmp(runs[i][0], "export") != 0) {
            snprintf(what, sizeof what, "%s %s stdout", runs[i][0], runs[i][1] ? runs[i][1] : "");
            bad += bad_bytes(&o, what, 1, 0);
        }
        free(o.p);
        free(e.p);
    }
    int miss = unseen(&all_tty, "headless verbs");
    free(all_tty.p);
    assert_int_equal(bad, 0);
    assert_int_equal(miss, 0);
}

/* Export into a pipe is data, not display: the hostile dicom id leaves byte for byte. */
static void export_to_a_pipe_is_verbatim(void **state)
{
    (void)state;
    Buf o = {0}, e = {0};
    const char *const args[] = {"export", "pairs", NULL};
    verb_pipe(&o, &e, fx.store, args);
    int found = o.n > 0 && memmem(o.p, o.n, fx.dicom_a, strlen(fx.dicom_a)) != NULL;
    free(o.p);
    free(e.p);
    assert_true(found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_screen_utf8),
        cmocka_unit_test(every_screen_masked_ids),
        cmocka_unit_test(every_screen_ascii_locale),
        cmocka_unit_test(radiographs_as_sixel),
        cmocka_unit_test(headless_verbs),
        cmocka_unit_test(export_to_a_pipe_is_verbatim),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
