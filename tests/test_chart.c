/* test_chart.c — charts read as text: the title carries the unit and the last value, the y axis
 * the range and the normal band, the x axis hours; data outside the normal range is marked;
 * braille in UTF-8 and pure ASCII otherwise; sparklines and categorical strips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ui/chart.h"

#define HR 8
#define GCS_EYE 3
#define PH 16

static ChartGrid render(const ChartSpec *s, int rows, int cols, int utf8)
{
    ChartGrid g;
    assert_int_equal(chart_grid_alloc(&g, rows, cols, NULL), PS_OK);
    chart_render(&g, s, utf8);
    return g;
}

static int grid_has(const ChartGrid *g, const char *needle)
{
    char line[1024];
    for (int r = 0; r < g->rows; r++) {
        chart_grid_row_text(g, r, line, sizeof line);
        if (strstr(line, needle)) return r;
    }
    return -1;
}

static void y_range_is_display_range_widened_to_data(void **state)
{
    (void)state;
    double lo, hi;
    const float inside[] = {70, 90, 120};
    chart_y_range(&catalog_channels[HR], inside, 3, &lo, &hi);
    assert_true(lo == 30 && hi == 180);
    const float wide[] = {20, 90, 210, NAN};
    chart_y_range(&catalog_channels[HR], wide, 4, &lo, &hi);
    assert_true(lo < 20 && lo > 0);
    assert_true(hi > 210 && hi < 250);
    chart_y_range(&catalog_channels[HR], NULL, 0, &lo, &hi);
    assert_true(lo == 30 && hi == 180);
}

static void title_units_last_value_and_hours(void **state)
{
    (void)state;
    const float x[] = {0.5f, 3, 10, 47}, y[] = {110, 95, 90, 80};
    ChartSpec s;
    chart_spec_for_channel(&s, HR, x, y, 4, 0, 48);
    ChartGrid g = render(&s, 10, 60, 1);
    char top[1024], bottom[1024];
    chart_grid_row_text(&g, 0, top, sizeof top);
    assert_non_null(strstr(top, "Heart Rate (bpm)"));
    assert_non_null(strstr(top, "80 bpm @47h"));
    assert_non_null(strstr(top, "normal 60\u2013100"));
    chart_grid_row_text(&g, g.rows - 1, bottom, sizeof bottom);
    assert_non_null(strstr(bottom, "0h"));
    assert_non_null(strstr(bottom, "24h"));
    /* the y axis names the range and the normal band's edges */
    assert_true(grid_has(&g, "180") == 1);
    assert_true(grid_has(&g, "30") == g.rows - 2);
    int r100 = grid_has(&g, "100\u2524"), r60 = grid_has(&g, " 60\u2524");
    assert_true(r100 > 1 && r60 > r100 && r60 < g.rows - 2);
    chart_grid_free(&g);
}

static void braille_line_and_out_of_range_marks(void **state)
{
    (void)state;
    const float x[] = {0, 12, 24}, y[] = {80, 170, 80};
    ChartSpec s;
    chart_spec_for_channel(&s, HR, x, y, 3, 0, 24);
    ChartGrid g = render(&s, 12, 50, 1);
    int data = 0, out = 0, band = 0;
    for (int r = 1; r < g.rows - 1; r++)
        for (int c = 0; c < g.cols; c++) {
            const ChartCell *cl = &g.cells[(size_t)r * g.cols + c];
            if (c >= 4 && (cl->role == CHART_LINE || cl->role == CHART_OUT || cl->role == CHART_BAND))
                assert_true(cl->ch >= 0x2800 && cl->ch <= 0x28ff); /* braille only in the plot */
            data += cl->role == CHART_LINE;
            out += cl->role == CHART_OUT;
            band += cl->role == CHART_BAND;
        }
    assert_true(data > 0);
    assert_true(out > 0); /* 170 bpm is above the normal 100 */
    assert_true(band > 0);
    /* the peak is on the top plot rows, in the middle column region, and it is "out" */
    int found = 0;
    for (int r = 1; r <= 2; r++)
        for (int c = 0; c < g.cols; c++) {
            const ChartCell *cl = &g.cells[(size_t)r * g.cols + c];
            if (cl->role == CHART_OUT && c > g.cols / 3 && c < g.cols * 3 / 4) found = 1;
        }
    assert_true(found);
    chart_grid_free(&g);
}

static void ascii_locale_gets_only_ascii(void **state)
{
    (void)state;
    const float x[] = {0, 5, 9, 30}, y[] = {7.2f, 7.5f, 7.41f, 7.3f};
    ChartSpec s;
    chart_spec_for_channel(&s, PH, x, y, 4, -2, 30);
    assert_int_equal(s.decimals, 2);
    ChartGrid g = render(&s, 8, 50, 0);
    for (size_t i = 0; i < (size_t)g.rows * g.cols; i++) assert_true(g.cells[i].ch < 128);
    assert_true(grid_has(&g, "7.30 @30h") == 0);
    assert_true(grid_has(&g, "normal 7.35-7.45") == 0);
    assert_true(grid_has(&g, "*") > 0);
    ChartGrid sp;
    assert_int_equal(chart_grid_alloc(&sp, 1, 20, NULL), PS_OK);
    chart_sparkline(&sp, 0, 0, 20, &s, 0);
    chart_strip(&sp, 0, 0, 20, &s, 0);
    for (int i = 0; i < 20; i++) assert_true(sp.cells[i].ch < 128);
    chart_grid_free(&sp);
    chart_grid_free(&g);
}

/* Two points more than a day apart are not joined: the eye must see the gap. */
static void long_gaps_stay_open(void **state)
{
    (void)state;
    const float x[] = {0, 60}, y[] = {80, 80};
    ChartSpec s;
    chart_spec_for_channel(&s, HR, x, y, 2, 0, 60);
    s.has_band = 0;
    ChartGrid g = render(&s, 6, 40, 0);
    int cells = 0;
    for (size_t i = 0; i < (size_t)g.rows * g.cols; i++) cells += g.cells[i].role == CHART_LINE;
    assert_int_equal(cells, 2);
    s.x = (const float[]){0, 20};
    s.x1 = 20;
    chart_render(&g, &s, 0);
    cells = 0;
    for (size_t i = 0; i < (size_t)g.rows * g.cols; i++) cells += g.cells[i].role == CHART_LINE;
    assert_true(cells > 20);
    chart_grid_free(&g);
}

static void sparkline_heights_follow_values(void **state)
{
    (void)state;
    const float x[] = {0.2f, 0.7f, 9.5f}, y[] = {40, 60, 170};
    ChartSpec s;
    chart_spec_for_channel(&s, HR, x, y, 3, 0, 10);
    ChartGrid g;
    assert_int_equal(chart_grid_alloc(&g, 1, 10, NULL), PS_OK);
    chart_sparkline(&g, 0, 0, 10, &s, 1);
    /* column 0: mean 50 -> low bar, out of range; column 9: 170 -> high bar; others blank */
    assert_true(g.cells[0].ch >= 0x2581 && g.cells[0].ch <= 0x2588);
    assert_true(g.cells[9].ch > g.cells[0].ch);
    assert_int_equal(g.cells[0].role, CHART_OUT);
    assert_int_equal(g.cells[9].role, CHART_OUT);
    for (int c = 1; c < 9; c++) assert_int_equal(g.cells[c].ch, ' ');
    chart_grid_free(&g);
}

static void gcs_strip_digits_and_severity(void **state)
{
    (void)state;
    const float x[] = {0, 4, 8, 8.5f}, y[] = {4, 3, 2, 1};
    ChartSpec s;
    chart_spec_for_channel(&s, GCS_EYE, x, y, 4, 0, 12);
    ChartGrid g;
    assert_int_equal(chart_grid_alloc(&g, 1, 12, NULL), PS_OK);
    chart_strip(&g, 0, 0, 12, &s, 1);
    char text[64];
    chart_grid_row_text(&g, 0, text, sizeof text);
    assert_string_equal(text, "4\u00b7\u00b7\u00b73\u00b7\u00b7\u00b71\u00b7\u00b7\u00b7");
    assert_int_equal(g.cells[0].role, CHART_GOOD);
    assert_int_equal(g.cells[4].role, CHART_WARN);
    assert_int_equal(g.cells[8].role, CHART_BAD); /* the later score in the column wins */
    assert_int_equal(g.cells[1].role, CHART_GAP);
    /* GCS total (3..15) cannot be one digit: bar heights instead */
    const float yt[] = {15, 3};
    chart_spec_for_channel(&s, 5, x, yt, 2, 0, 12);
    chart_strip(&g, 0, 0, 12, &s, 1);
    assert_int_equal(g.cells[0].ch, 0x2588);
    assert_int_equal(g.cells[0].role, CHART_GOOD);
    assert_int_equal(g.cells[4].ch, 0x2581);
    assert_int_equal(g.cells[4].role, CHART_BAD);
    chart_grid_free(&g);
}

static void tiny_and_empty_charts_do_not_crash(void **state)
{
    (void)state;
    ChartSpec s;
    chart_spec_for_channel(&s, HR, NULL, NULL, 0, 0, 0);
    for (int rows = 1; rows <= 4; rows++)
        for (int cols = 1; cols <= 12; cols++) {
            ChartGrid g = render(&s, rows, cols, cols % 2);
            chart_grid_free(&g);
        }
    ChartGrid g = render(&s, 6, 40, 1);
    assert_true(grid_has(&g, "no data") == 0);
    chart_grid_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(y_range_is_display_range_widened_to_data),
        cmocka_unit_test(title_units_last_value_and_hours),
        cmocka_unit_test(braille_line_and_out_of_range_marks),
        cmocka_unit_test(ascii_locale_gets_only_ascii),
        cmocka_unit_test(long_gaps_stay_open),
        cmocka_unit_test(sparkline_heights_follow_values),
        cmocka_unit_test(gcs_strip_digits_and_severity),
        cmocka_unit_test(tiny_and_empty_charts_do_not_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
