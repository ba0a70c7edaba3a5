/* cmd_demo.c — `phenoscope demo`: write the synthetic demo cohort into a store.
 *
 * The cohort is built in a temporary file beside the store and renamed over it at the end, so a
 * failed or interrupted run leaves no half-written store (and `--if-absent` never mistakes one
 * for a finished cohort). A run killed before it could clean up (SIGKILL) leaves its file; the
 * next run removes every such file whose process is gone. Refuses to replace a store that holds
 * data unless --force.
 */
#include "ui/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/cxr_synth.h"
#include "store/demo.h"
#include "store/sanitize.h"
#include "store/store.h"

typedef struct {
    int tty;
    struct timespec start;
    int shown;          /* anything printed yet */
    int last_pct;
    char last_phase[32];
} Bar;

static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* A bar on a terminal, a plain line every 25% otherwise; nothing in the first second. */
static void on_progress(void *ctx, const char *phase, int64_t done, int64_t total)
{
    Bar *b = ctx;
    int pct = total > 0 ? (int)(100 * done / total) : 100;
    int new_phase = strcmp(phase, b->last_phase) != 0;
    if (new_phase) {
        if (b->tty && b->shown) fputc('\n', stderr);
        snprintf(b->last_phase, sizeof b->last_phase, "%s", phase);
        b->last_pct = -1;
    }
    if (since(&b->start) < 1.0 || pct == b->last_pct || total <= 1) return;
    if (b->tty) {
        int w = 30, fill = pct * w / 100;
        fprintf(stderr, "\r  %-12s [%.*s%*s] %3d%%  %lld/%lld", phase, fill,
                "##############################", w - fill, "", pct, (long long)done,
                (long long)total);
        b->shown = 1;
    } else if (pct / 25 != b->last_pct / 25 || b->last_pct < 0) {
        fprintf(stderr, "demo: %s %d%% (%lld/%lld)\n", phase, pct, (long long)done, (long long)total);
    }
    b->last_pct = pct;
    fflush(stderr);
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: phenoscope [--store PATH] demo [--stays N] [--seed S] [--if-absent] [--force]\n"
               "\n"
               "Writes a synthetic cohort (ICU stays, phenotypes, chest radiographs) to the store.\n"
               "The same seed and size always give the same data.\n"
               "\n"
               "  --stays N      ICU stays to generate (default %d; radiographs ~2.8 per stay)\n"
               "  --seed S       random seed (default %d)\n"
               "  --store PATH   the store to write (same as the global option)\n"
               "  --if-absent    do nothing when the store already holds data\n"
               "  --force        replace a store that already holds data\n"
               "  --threads N    drawing threads (default: one per CPU)\n"
               "  --image-size S side of the stored radiographs in pixels (default %d, at least %d;\n"
               "                 small images make a large cohort quick to build)\n",
            DEMO_DEFAULT_STAYS, DEMO_DEFAULT_SEED, CXR_SYNTH_DEFAULT_SIZE, CXR_SYNTH_MIN_SIZE);
}

static int parse_long(const char *s, long long lo, long long hi, long long *out)
{
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno || e == s || *e || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static void remove_db(const char *path)
{
    char side[4200];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-journal", path);
    unlink(side);
}


int cmd_demo_run(const CmdGlobal *g, int argc, char **argv)
{
    DemoConfig cfg;
    demo_config_init(&cfg);
    const char *store_opt = NULL;
    int if_absent = 0, force = 0;
    static const struct option opts[] = {
        {"stays", required_argument, NULL, 'n'}, {"seed", required_argument, NULL, 's'},
        {"store", required_argument, NULL, 'p'}, {"if-absent", no_argument, NULL, 'a'},
        {"force", no_argument, NULL, 'f'},       {"threads", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},        {"image-size", required_argument, NULL, 'i'},
        {NULL, 0, NULL, 0},
    };
    int c;
    long long v;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!parse_long(optarg, 1, DEMO_MAX_STAYS, &v)) {
                fprintf(stderr, "phenoscope demo: --stays must be a whole number from 1 to %d, not '%s'\n",
                        DEMO_MAX_STAYS, optarg);
                return 2;
            }
            cfg.n_stays = (int)v;
            break;
        case 's':
            if (!parse_long(optarg, 0, INT64_MAX, &v)) {
                fprintf(stderr, "phenoscope demo: --seed must be a non-negative whole number, not '%s'\n",
                        optarg);
                return 2;
            }
            cfg.seed = (uint64_t)v;
            break;
        case 't':
            if (!parse_long(optarg, 1, 64, &v)) {
                fprintf(stderr, "phenoscope demo: --threads must be 1..64, not '%s'\n", optarg);
                return 2;
            }
            cfg.threads = (int)v;
            break;
        case 'i':
            if (!parse_long(optarg, CXR_SYNTH_MIN_SIZE, 4096, &v)) {
                fprintf(stderr, "phenoscope demo: --image-size must be %d..4096 pixels, not '%s'\n",
                        CXR_SYNTH_MIN_SIZE, optarg);
                return 2;
            }
            cfg.image_size = (int)v;
            break;
        case 'p': store_opt = optarg; break;
        case 'a': if_absent = 1; break;
        case 'f': force = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "phenoscope demo: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    char path[4096];
    PsErr err = {{0}};
    const char *p = store_opt ? store_opt : g->store_path;
    if (p) {
        snprintf(path, sizeof path, "%s", p);
    } else if (store_default_path(path, sizeof path, &err)) {
        fprintf(stderr, "phenoscope demo: %s\n", err.msg);
        return 1;
    }

    /* A demo killed before it could clean up (SIGKILL, a crash) left its file behind; not
     * fatal when one cannot be removed (it only costs disk space). */
    if (demo_remove_stale_temps(path, NULL, &err)) cmd_error("demo: %s", err.msg);
    char shown[4 * sizeof path]; /* the path as printed: it may hold anything */
    sanitize_for_terminal(shown, sizeof shown, path);

    /* An existing store with data is left alone unless --force. */
    struct stat sb;
    if (stat(path, &sb) == 0) {
        Store *old = NULL;
        int64_t rows = 0;
        PsStatus rc = store_open(&old, path, STORE_OPEN_READONLY, &err);
        if (!rc) rc = demo_store_rows(old, &rows, &err);
        store_close(old);
        if (rc && !force) {
            cmd_error("demo: %s (use --force to replace it)", err.msg);
            return 1;
        }
        if (rows > 0 && if_absent) {
            printf("phenoscope: store %s already exists; not regenerating the demo\n", shown);
            return 0;
        }
        if (rows > 0 && !force) {
            cmd_error("demo: %s already holds a cohort (%lld rows); use --force to replace it", path,
                      (long long)rows);
            return 1;
        }
    }

    char tmp[4200];
    if (demo_temp_path(tmp, sizeof tmp, path, (long)getpid(), &err)) {
        cmd_error("demo: %s", err.msg);
        return 1;
    }
    remove_db(tmp);
    Store *st = NULL;
    if (store_open(&st, tmp, STORE_OPEN_CREATE, &err)) {
        cmd_error("demo: cannot write %s: %s", path, err.msg);
        return 1;
    }
    Bar bar = {0};
    bar.tty = isatty(STDERR_FILENO);
    clock_gettime(CLOCK_MONOTONIC, &bar.start);
    cfg.progress = on_progress;
    cfg.progress_ctx = &bar;
    interrupted = 0;
    cfg.cancel = &interrupted;
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    DemoSummary sum;
    PsStatus rc = demo_generate(st, &cfg, &sum, &err);
    store_close(st);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (bar.tty && bar.shown) fputc('\n', stderr);
    if (rc) {
        remove_db(tmp);
        cmd_error("demo: %s", rc == PS_ERR_CANCELLED ? "interrupted; nothing written" : err.msg);
        return 1;
    }
    /* the old store's journal files must not be replayed into the new file */
    char side[4200];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    if (rename(tmp, path) != 0) {
        cmd_error("demo: cannot move %s to %s: %s", tmp, path, strerror(errno));
        remove_db(tmp);
        return 1;
    }
    printf("demo: %lld stays of %lld subjects, %lld radiographs, %lld pairs (seed %llu) in %s [%.1f s]\n",
           (long long)sum.stays, (long long)sum.subjects, (long long)sum.radiographs,
           (long long)sum.pairs, (unsigned long long)cfg.seed, shown, since(&bar.start));
    return 0;
}
