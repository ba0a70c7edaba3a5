/* test_catalog.c — the compiled-in vocabulary agrees with assets/ and with the reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/assets.h"
#include "store/catalog.h"

/* Splits the CSV text of an embedded asset into lines; returns line k (0 = header) in buf. */
static int asset_line(const char *name, int k, char *buf, size_t n)
{
    const AssetFile *a = assets_get(name);
    if (!a) return 0;
    const char *p = (const char *)a->data, *end = p + a->size;
    for (int i = 0; i < k && p < end; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) return 0;
        p = nl + 1;
    }
    if (p >= end) return 0;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    if (len >= n) len = n - 1;
    memcpy(buf, p, len);
    buf[len] = 0;
    return 1;
}

static void phenotypes_match_asset(void **state)
{
    (void)state;
    char line[256], want[256];
    for (int i = 0; i < CATALOG_N_PHENOTYPES; i++) {
        assert_true(asset_line("phenotypes.csv", i + 1, line, sizeof line));
        const CatalogPhenotype *p = &catalog_phenotypes[i];
        snprintf(want, sizeof want, "%d,%s,%s", i, p->name, catalog_group_name(p->group));
        assert_string_equal(line, want);
    }
    assert_false(asset_line("phenotypes.csv", CATALOG_N_PHENOTYPES + 1, line, sizeof line));
}

static void groups_are_13_5_7(void **state)
{
    (void)state;
    int n[3] = {0};
    for (int i = 0; i < CATALOG_N_PHENOTYPES; i++) n[catalog_phenotypes[i].group]++;
    assert_int_equal(n[PHENO_ACUTE], 13);
    assert_int_equal(n[PHENO_MIXED], 5);
    assert_int_equal(n[PHENO_CHRONIC], 7);
}

static void chexpert_match_asset(void **state)
{
    (void)state;
    char line[256], want[256];
    for (int i = 0; i < CATALOG_N_CHEXPERT; i++) {
        assert_true(asset_line("chexpert_labels.csv", i + 1, line, sizeof line));
        snprintf(want, sizeof want, "%d,%s", i, catalog_chexpert[i]);
        assert_string_equal(line, want);
    }
}

static void channel_categories_match_asset(void **state)
{
    (void)state;
    char line[256], want[256];
    int row = 1;
    for (int ch = 0; ch < CATALOG_N_CHANNELS; ch++) {
        const CatalogChannel *c = &catalog_channels[ch];
        for (int k = 0; k < c->n_categories; k++) {
            assert_true(asset_line("channel_categories.csv", row++, line, sizeof line));
            snprintf(want, sizeof want, "%s,%d,%s,%d", c->name, k, c->categories[k].text,
                     c->categories[k].score);
            assert_string_equal(line, want);
        }
    }
}

static void input_width_is_76(void **state)
{
    (void)state;
    int w = 0;
    for (int ch = 0; ch < CATALOG_N_CHANNELS; ch++) {
        assert_int_equal(catalog_input_offset(ch), w);
        w += catalog_input_width(ch);
    }
    assert_int_equal(w + CATALOG_N_CHANNELS, CATALOG_N_INPUTS);
}

static void lookups(void **state)
{
    (void)state;
    assert_int_equal(catalog_channel_index("Heart Rate"), 8);
    assert_int_equal(catalog_channel_index("heart rate"), -1);
    assert_int_equal(catalog_phenotype_index("Shock"), 24);
    assert_int_equal(catalog_chexpert_index("Support Devices"), 13);
    int eye = catalog_channel_index("Glascow coma scale eye opening");
    assert_int_equal(catalog_category_index(eye, " 4 Spontaneously "), 3);
    assert_int_equal(catalog_category_index(eye, "5 Spontaneously"), -1);
}

/* The reference folder is beside the checkout in development and CI; skip when it is not. */
static void matches_shared_reference(void **state)
{
    (void)state;
    FILE *f = fopen("../shared/reference/phenotypes.csv", "r");
    if (!f) {
        skip();
    }
    char line[256], want[256];
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    for (int i = 0; i < CATALOG_N_PHENOTYPES; i++) {
        assert_non_null(fgets(line, sizeof line, f));
        line[strcspn(line, "\r\n")] = 0;
        snprintf(want, sizeof want, "%d,%s,%s", i, catalog_phenotypes[i].name,
                 catalog_group_name(catalog_phenotypes[i].group));
        assert_string_equal(line, want);
    }
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(phenotypes_match_asset),
        cmocka_unit_test(groups_are_13_5_7),
        cmocka_unit_test(chexpert_match_asset),
        cmocka_unit_test(channel_categories_match_asset),
        cmocka_unit_test(input_width_is_76),
        cmocka_unit_test(lookups),
        cmocka_unit_test(matches_shared_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
