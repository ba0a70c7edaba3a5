/* test_parity_discretize.c — the discretizer against an independent Python rendering of the
 * benchmark's rules (tests/parity_discretize.py): 16 random stays, 1 h and 2 h bins, with and
 * without an explicit end, events before admission, after the end and on bin boundaries. The
 * matrices must be identical. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "engine/discretize.h"
#include "fixture.h"

static void matches_reference(void **state)
{
    (void)state;
    Fixture f;
    assert_int_equal(fixture_load(&f, "discretize.bin"), 0);
    const FixtureTensor *ns = fixture_get(&f, "stays");
    assert_non_null(ns);
    DiscretizeConfig cfg = {.bin_hours = 2, .max_bins = 4096};
    float *x = malloc(sizeof(float) * 4096 * DISCRETIZE_COLS);
    int ok = 1;
    for (int s = 0; s < (int)ns->data[0]; s++) {
        char key[64];
        snprintf(key, sizeof key, "s%d.events", s);
        const FixtureTensor *ev = fixture_get(&f, key);
        snprintf(key, sizeof key, "s%d.meta", s);
        const FixtureTensor *meta = fixture_get(&f, key);
        snprintf(key, sizeof key, "s%d.out", s);
        const FixtureTensor *want = fixture_get(&f, key);
        assert_true(ev && meta && want);
        size_t n = ev->numel / 4;
        StoreEvent *e = calloc(n ? n : 1, sizeof *e);
        for (size_t i = 0; i < n; i++) {
            const double *r = ev->data + 4 * i;
            e[i].hours = (float)r[0];
            e[i].channel = (int)r[1];
            e[i].value = (float)r[2];
            int k = (int)r[3];
            if (k >= 0) e[i].text = catalog_channels[e[i].channel].categories[k].text;
        }
        cfg.bin_hours = meta->data[1];
        DiscretizeStats st;
        PsErr err;
        assert_int_equal(discretize_stay(x, &st, e, n, meta->data[0], &cfg, &err), PS_OK);
        assert_int_equal(st.bins, want->dims[0]);
        snprintf(key, sizeof key, "stay %d", s);
        /* exact: the tiny bound only keeps the worst-element report finite */
        ok &= fixture_close(key, x, want->data, want->numel, 1e-30, 0);
        free(e);
    }
    assert_true(ok);
    free(x);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
