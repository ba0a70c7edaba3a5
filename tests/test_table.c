/* test_table.c — the table widget over the cohort model: 50,000 synthetic stays sort by every
 * column in both directions, filters and search give exactly the rows a brute-force pass
 * gives, the cursor behaves, columns fit narrow and wide terminals, masked ids stay hidden. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <math.h>

#include "store/catalog.h"
#include "ui/screen_cohort.h"

#define N_ROWS 50000

static const char *const units[] = {
    "Medical Intensive Care Unit (MICU)", "Surgical Intensive Care Unit (SICU)",
    "Cardiac Vascular Intensive Care Unit (CVICU)", "Neuro Stepdown", "Trauma SICU (TSICU)",
    "Medical/Surgical Intensive Care Unit (MICU/SICU)",
};

typedef struct {
    CohortRow *rows;
    CohortModel model;
    Table table;
} Fx;

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

static int setup(void **state)
{
    Fx *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->rows = calloc(N_ROWS, sizeof *f->rows);
    if (!f->rows) return -1;
    uint64_t s = 42;
    for (size_t i = 0; i < N_ROWS; i++) {
        CohortRow *r = &f->rows[i];
        r->stay_id = 30000000 + (int64_t)(lcg(&s) % 9000000); /* not in row order */
        r->subject_id = 10000000 + (int64_t)(lcg(&s) % 40000);
        r->age = 18 + (int)(lcg(&s) % 80);
        if (i % 97 == 0) r->age = -1;
        r->gender = "MF?"[lcg(&s) % 3];
        snprintf(r->unit, sizeof r->unit, "%s", units[lcg(&s) % 6]);
        r->los_days = (double)(lcg(&s) % 4000) / 100.0;
        r->n_cxr = (int)(lcg(&s) % 4);
        r->paired = r->n_cxr > 0 && lcg(&s) % 2;
        r->split = (int)(lcg(&s) % 10) < 7 ? SPLIT_TRAIN : (lcg(&s) % 2 ? SPLIT_VAL : SPLIT_TEST);
        if (i % 11 == 0) {
            r->n_pos = -1;
        } else {
            r->pheno_mask = (uint32_t)(lcg(&s) & lcg(&s) & lcg(&s)) & ((1u << CATALOG_N_PHENOTYPES) - 1);
            r->n_pos = __builtin_popcount(r->pheno_mask);
        }
    }
    PsErr err;
    if (cohort_model_init(&f->model, f->rows, N_ROWS, 0, 1, &err) != PS_OK) return -1;
    table_init(&f->table, &cohort_table_spec, &f->model);
    if (table_set_rows(&f->table, N_ROWS, &err) != PS_OK) return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    Fx *f = *state;
    table_done(&f->table);
    cohort_model_done(&f->model);
    free(f->rows);
    free(f);
    return 0;
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void sorts_every_column_both_ways(void **state)
{
    Fx *f = *state;
    const TableSpec *s = &cohort_table_spec;
    for (int col = 0; col < COHORT_N_COLS; col++)
        for (int desc = 0; desc <= 1; desc++) {
            struct timespec t0;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            table_sort(&f->table, col, desc);
            double ms = ms_since(&t0);
            if (col == COHORT_COL_UNIT && desc) printf("# sort 50,000 rows by unit: %.1f ms\n", ms);
            assert_int_equal(f->table.n_view, N_ROWS);
            assert_int_equal(f->table.cursor, 0);
            for (size_t i = 1; i < f->table.n_view; i++) {
                int c = s->compare(&f->model, f->table.view[i - 1], f->table.view[i], col);
                if (desc) c = -c;
                if (c > 0) fail_msg("column %d desc %d: rows %zu and %zu out of order", col, desc, i - 1, i);
                /* ties by row index, exactly as the compare-based sort orders them */
                if (c == 0 && f->table.view[i - 1] > f->table.view[i])
                    fail_msg("column %d desc %d: tie at %zu not in row order", col, desc, i);
            }
        }
    /* A known column: descending age puts the oldest first, unknown ages (-1) last. */
    table_sort(&f->table, COHORT_COL_AGE, 1);
    assert_true(f->rows[f->table.view[0]].age >= 97 - 1);
    assert_int_equal(f->rows[f->table.view[N_ROWS - 1]].age, -1);
}

/* The radix keys order numbers as the numbers are ordered. */
static void sort_keys_preserve_order(void **state)
{
    (void)state;
    const int64_t iv[] = {INT64_MIN, -5000000000LL, -1, 0, 1, 255, 256, 30000000, INT64_MAX};
    for (size_t i = 1; i < sizeof iv / sizeof iv[0]; i++)
        assert_true(table_key_i64(iv[i - 1]) < table_key_i64(iv[i]));
    const double dv[] = {-INFINITY, -1e300, -2.5, -1e-300, 0.0, 1e-300, 0.01, 1.0, 39.99, 1e300, INFINITY};
    for (size_t i = 1; i < sizeof dv / sizeof dv[0]; i++)
        assert_true(table_key_dbl(dv[i - 1]) < table_key_dbl(dv[i]));
    assert_true(table_key_dbl(NAN) > table_key_dbl(INFINITY));
}

static size_t brute(const Fx *f, int split, int paired, int pheno, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < N_ROWS; i++) {
        const CohortRow *r = &f->rows[i];
        if (split != COHORT_SPLIT_ALL && r->split != split) continue;
        if (paired && !r->paired) continue;
        if (pheno >= 0 && (r->n_pos < 0 || !(r->pheno_mask & (1u << pheno)))) continue;
        if (needle) {
            char a[32], b[32];
            snprintf(a, sizeof a, "%lld", (long long)r->stay_id);
            snprintf(b, sizeof b, "%lld", (long long)r->subject_id);
            int hit = strstr(a, needle) || strstr(b, needle) || strcasestr(r->unit, needle);
            for (int k = 0; k < CATALOG_N_PHENOTYPES && !hit; k++)
                if ((r->pheno_mask & (1u << k)) && (strcasestr(catalog_phenotypes[k].brief, needle) ||
                                                    strcasestr(catalog_phenotypes[k].name, needle)))
                    hit = 1;
            if (!hit) continue;
        }
        n++;
    }
    return n;
}

static void filters_match_brute_force(void **state)
{
    Fx *f = *state;
    f->model.split = SPLIT_VAL;
    table_refilter(&f->table);
    assert_int_equal(f->table.n_view, brute(f, SPLIT_VAL, 0, -1, NULL));
    for (size_t i = 0; i < f->table.n_view; i++) assert_int_equal(f->rows[f->table.view[i]].split, SPLIT_VAL);

    f->model.paired_only = 1;
    table_refilter(&f->table);
    assert_int_equal(f->table.n_view, brute(f, SPLIT_VAL, 1, -1, NULL));

    f->model.pheno = 2;
    table_refilter(&f->table);
    size_t want = brute(f, SPLIT_VAL, 1, 2, NULL);
    assert_true(want > 0 && want < N_ROWS / 10);
    assert_int_equal(f->table.n_view, want);
    for (size_t i = 0; i < f->table.n_view; i++) {
        const CohortRow *r = &f->rows[f->table.view[i]];
        assert_true(r->paired && (r->pheno_mask & (1u << 2)) && r->split == SPLIT_VAL);
    }
    /* Filters keep the sort order. */
    table_sort(&f->table, COHORT_COL_LOS, 0);
    for (size_t i = 1; i < f->table.n_view; i++)
        assert_true(f->rows[f->table.view[i - 1]].los_days <= f->rows[f->table.view[i]].los_days);

    f->model.split = COHORT_SPLIT_ALL;
    f->model.paired_only = 0;
    f->model.pheno = COHORT_PHENO_ANY;
    table_refilter(&f->table);
    assert_int_equal(f->table.n_view, N_ROWS);
}

static void incremental_search_narrows(void **state)
{
    Fx *f = *state;
    const char *steps[] = {"m", "mi", "mic", "micu"};
    size_t prev = N_ROWS + 1;
    double ms = 0;
    for (int i = 0; i < 4; i++) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        table_set_search(&f->table, steps[i]);
        ms += ms_since(&t0);
        assert_int_equal(f->table.n_view, brute(f, COHORT_SPLIT_ALL, 0, -1, steps[i]));
        assert_true(f->table.n_view <= prev); /* each keystroke narrows */
        prev = f->table.n_view;
    }
    printf("# 4 incremental searches over 50,000 rows: %.1f ms in all\n", ms);
    assert_true(prev > 0);
    for (size_t i = 0; i < f->table.n_view; i++)
        assert_non_null(strcasestr(f->rows[f->table.view[i]].unit, "micu"));

    /* An id fragment finds the stay; a phenotype name finds stays positive for it. */
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)f->rows[1234].stay_id);
    table_set_search(&f->table, id);
    assert_true(f->table.n_view >= 1);
    int found = 0;
    for (size_t i = 0; i < f->table.n_view; i++) found |= f->table.view[i] == 1234;
    assert_true(found);
    table_set_search(&f->table, "septicemia");
    assert_int_equal(f->table.n_view, brute(f, COHORT_SPLIT_ALL, 0, -1, "septicemia"));
    assert_true(f->table.n_view > 0);

    table_set_search(&f->table, "no such thing");
    assert_int_equal(f->table.n_view, 0);
    assert_int_equal(table_selected(&f->table), TABLE_NONE);
    table_set_search(&f->table, "");
    assert_int_equal(f->table.n_view, N_ROWS);
}

static void masked_ids_are_not_shown_or_searchable(void **state)
{
    Fx *f = *state;
    char buf[64], id[32];
    ThemeRole role = THEME_NORMAL;
    f->model.mask_ids = 1;
    snprintf(id, sizeof id, "%lld", (long long)f->rows[7].stay_id);
    cohort_table_spec.cell(&f->model, 7, COHORT_COL_STAY, buf, sizeof buf, &role);
    assert_null(strstr(buf, id));
    assert_null(strpbrk(buf, "0123456789"));
    cohort_table_spec.cell(&f->model, 7, COHORT_COL_SUBJECT, buf, sizeof buf, &role);
    assert_null(strpbrk(buf, "0123456789"));
    /* Searching by id would reveal which rows hold it. */
    table_set_search(&f->table, id);
    assert_int_equal(f->table.n_view, 0);
    f->model.mask_ids = 0;
    table_set_search(&f->table, id);
    assert_true(f->table.n_view >= 1);
}

static void cursor_keeps_its_row_and_moves_by_pages(void **state)
{
    Fx *f = *state;
    table_set_search(&f->table, "");
    f->table.page = 20;
    assert_true(table_key(&f->table, KEY_NPAGE));
    assert_int_equal(f->table.cursor, 19);
    assert_true(table_key(&f->table, KEY_END));
    assert_int_equal(f->table.cursor, N_ROWS - 1);
    assert_true(table_key(&f->table, KEY_DOWN)); /* stays on the last row */
    assert_int_equal(f->table.cursor, N_ROWS - 1);
    assert_true(table_key(&f->table, 'g'));
    assert_int_equal(f->table.cursor, 0);
    assert_false(table_key(&f->table, 'x'));

    /* Put the cursor on a val stay; filtering to val keeps it selected. */
    size_t pos = 0;
    while (f->rows[f->table.view[pos]].split != SPLIT_VAL) pos++;
    for (size_t i = 0; i < pos; i++) table_key(&f->table, KEY_DOWN);
    size_t row = table_selected(&f->table);
    f->model.split = SPLIT_VAL;
    table_refilter(&f->table);
    assert_int_equal(table_selected(&f->table), row);
    f->model.split = COHORT_SPLIT_ALL;
    table_refilter(&f->table);
    assert_int_equal(table_selected(&f->table), row);
}

static void columns_fit_narrow_and_wide(void **state)
{
    (void)state;
    int w[COHORT_N_COLS];
    for (int width = 40; width <= 240; width += 20) {
        int shown = table_layout(&cohort_table_spec, width, w), sum = 0, count = 0;
        for (int i = 0; i < COHORT_N_COLS; i++)
            if (w[i]) {
                sum += w[i];
                count++;
            }
        assert_int_equal(shown, count);
        if (count) sum += count - 1;
        assert_true(sum <= width);
        /* the stay id, age, LOS, radiographs, split and label count never drop */
        assert_true(w[COHORT_COL_STAY] > 0 && w[COHORT_COL_CXR] > 0 && w[COHORT_COL_SPLIT] > 0);
        if (width >= 80) {
            assert_int_equal(count, COHORT_N_COLS); /* everything at 80 columns */
            assert_int_equal(sum, width);            /* and the flexible column fills the line */
        }
    }
    table_layout(&cohort_table_spec, 50, w);
    assert_int_equal(w[COHORT_COL_PHENOTYPES], 0); /* the first to go */
}

static void unit_short_names(void **state)
{
    (void)state;
    char b[32];
    cohort_unit_short(b, sizeof b, "Medical Intensive Care Unit (MICU)", 1);
    assert_string_equal(b, "MICU");
    cohort_unit_short(b, sizeof b, "Neuro Stepdown", 1);
    assert_string_equal(b, "Neuro Stepdown");
    cohort_unit_short(b, sizeof b, "Evil (\033[2J)", 1);
    assert_null(strchr(b, 0x1b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sorts_every_column_both_ways, setup, teardown),
        cmocka_unit_test(sort_keys_preserve_order),
        cmocka_unit_test_setup_teardown(filters_match_brute_force, setup, teardown),
        cmocka_unit_test_setup_teardown(incremental_search_narrows, setup, teardown),
        cmocka_unit_test_setup_teardown(masked_ids_are_not_shown_or_searchable, setup, teardown),
        cmocka_unit_test_setup_teardown(cursor_keeps_its_row_and_moves_by_pages, setup, teardown),
        cmocka_unit_test(columns_fit_narrow_and_wide),
        cmocka_unit_test(unit_short_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
