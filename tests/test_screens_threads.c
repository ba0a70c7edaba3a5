/* test_screens_threads.c — every screen's worker (ui/worker.h) driven through the real app loop
 * (headless, keys from a script) over a small demo store: each screen shows the data its worker
 * read, and, run under ThreadSanitizer by `make test-tsan` (TSAN_TESTS), the hand-offs between
 * the UI thread and the five workers are race-free, symbol pictures included (chafa draws on the
 * UI thread: ui/image.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/demo.h"
#include "store/store.h"
#include "ui/app.h"

typedef struct {
    char dir[64];
    char path[128];
    char dump[128];
    Store *st;
} Fix;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int setup(void **state)
{
    Fix *f = calloc(1, sizeof *f);
    if (!f) return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/ps_scrthr_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->path, sizeof f->path, "%s/store.db", f->dir);
    snprintf(f->dump, sizeof f->dump, "%s/screen.txt", f->dir);
    Store *st = NULL;
    PsErr err;
    if (store_open(&st, f->path, STORE_OPEN_CREATE, &err) != PS_OK) return -1;
    DemoConfig cfg;
    demo_config_init(&cfg);
    cfg.n_stays = 60;
    cfg.image_size = 64;
    cfg.threads = 1;
    PsStatus rc = demo_generate(st, &cfg, NULL, &err);
    store_close(st);
    if (rc != PS_OK) {
        fprintf(stderr, "demo: %s\n", err.msg);
        return -1;
    }
    if (store_open(&f->st, f->path, STORE_OPEN_READONLY, &err) != PS_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fix *f = *state;
    store_close(f->st);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) return -1;
    free(f);
    return 0;
}

/* Runs the app headless on the key script; returns the last screen as text. */
static const char *run_keys(Fix *f, const char *keys)
{
    AppOptions o = {.store_path = f->path, .store = f->st, .graphics = "symbols", .headless = 1,
                    .rows = 40, .cols = 120, .keys = keys, .dump_path = f->dump};
    unlink(f->dump);
    int rc = app_run(&o);
    assert_int_equal(rc, 0);
    const char *text = slurp(f->dump);
    assert_non_null(text);
    return text;
}

/* The stay id on the k-th row (0-based) of the cohort table in a dump. */
static long long cohort_row_id(const char *text, int k)
{
    const char *p = strstr(text, "Stay  Subject");
    if (!p) return -1;
    for (int row = -1; row < k; row++) {
        p = strchr(p, '\n');
        if (!p) return -1;
        p++;
    }
    return atoll(p);
}

static void cohort_and_stay_workers(void **state)
{
    Fix *f = *state;
    char want[64];
    const char *s = run_keys(f, "");
    assert_non_null(strstr(s, "All 60 stays"));
    long long third = cohort_row_id(s, 2);
    assert_true(third > 0);
    /* the stay screen's worker read the channels */
    s = run_keys(f, "jj<Enter>");
    snprintf(want, sizeof want, "Stay %lld ", third);
    assert_non_null(strstr(s, want));
    assert_non_null(strstr(s, "Heart Rate"));
    assert_non_null(strstr(s, "events"));
    /* other stays asked for while one is shown: the last one asked for is the one shown */
    s = run_keys(f, "<Enter>1j<Enter>1j<Enter>");
    assert_non_null(strstr(s, want));
}

static void radiograph_worker(void **state)
{
    Fix *f = *state;
    /* a paired stay (p: paired only): its list, findings and the image's decode */
    const char *s = run_keys(f, "p<Enter>3");
    assert_non_null(strstr(s, "CheXpert findings"));
    assert_non_null(strstr(s, "paired"));
    /* the decoded image, drawn as symbols: a full block in the picture */
    assert_non_null(strstr(s, "\xe2\x96\x88"));
    s = run_keys(f, "p<Enter>3jjkk");
    assert_non_null(strstr(s, "CheXpert findings"));
    assert_null(strstr(s, "Cannot read"));
}

static void training_and_predictions_workers(void **state)
{
    Fix *f = *state;
    const char *s = run_keys(f, "4");
    assert_non_null(strstr(s, "No training runs in this store yet."));
    /* no finished run in this store: the predictions worker listed none and says so */
    s = run_keys(f, "<Enter>5");
    assert_non_null(strstr(s, "No finished training run in this store."));
}

int main(void)
{
    /* as `phenoscope tui` does, in a UTF-8 locale (the test's own choice, not the user's) */
    if (!setlocale(LC_ALL, "C.UTF-8")) {
        fprintf(stderr, "test_screens_threads: no C.UTF-8 locale\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cohort_and_stay_workers),
        cmocka_unit_test(radiograph_worker),
        cmocka_unit_test(training_and_predictions_workers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
