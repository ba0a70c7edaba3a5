/* test_json.c — the JSON writer produces valid, exact JSON (checked with SQLite's parser). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/json.h"

/* Runs fn on a memory stream and returns the text (caller frees). */
static char *capture(void (*fn)(JsonWriter *w, int *rc), int pretty, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    JsonWriter w;
    json_init(&w, f, pretty);
    fn(&w, rc);
    *rc = json_finish(&w) || *rc;
    fclose(f);
    return buf;
}

static int json_valid_sqlite(const char *text, const char *path, char *value, size_t n)
{
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return -1;
    sqlite3_stmt *s;
    int ok = -1;
    if (sqlite3_prepare_v2(db, "SELECT json_valid(?1), json_extract(?1, ?2)", -1, &s, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) {
            ok = sqlite3_column_int(s, 0);
            const unsigned char *v = sqlite3_column_text(s, 1);
            snprintf(value, n, "%s", v ? (const char *)v : "(null)");
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return ok;
}

/* The value of a top-level key, matched against the unescaped key by SQLite's json_each. */
static int top_value(const char *text, const char *key, char *value, size_t n)
{
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) return -1;
    sqlite3_stmt *s;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "SELECT value FROM json_each(?1) WHERE key = ?2", -1, &s, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(s, 1, text, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) {
            snprintf(value, n, "%s", (const char *)sqlite3_column_text(s, 0));
            rc = 0;
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return rc;
}

static void doc(JsonWriter *w, int *rc)
{
    *rc = 0;
    json_begin_object(w);
    json_key(w, "schema");
    json_int(w, 1);
    json_key(w, "splits");
    json_begin_object(w);
    json_key(w, "train");
    json_begin_object(w);
    json_key(w, "cxr");
    json_int(w, 325188);
    json_end_object(w);
    json_end_object(w);
    json_key(w, "name \"q\" \\ \n\t\x01");
    json_string(w, "caf\xc3\xa9 \xff end");
    json_key(w, "list");
    json_begin_array(w);
    json_double(w, 0.1);
    json_double(w, NAN);
    json_bool(w, 1);
    json_null(w);
    json_string(w, NULL);
    json_begin_array(w);
    json_end_array(w);
    json_end_array(w);
    json_end_object(w);
}

static void writes_valid_json(void **state)
{
    (void)state;
    for (int pretty = 0; pretty < 2; pretty++) {
        int rc;
        char *text = capture(doc, pretty, &rc);
        assert_int_equal(rc, 0);
        char v[128];
        assert_int_equal(json_valid_sqlite(text, "$.splits.train.cxr", v, sizeof v), 1);
        assert_string_equal(v, "325188");
        assert_int_equal(json_valid_sqlite(text, "$.schema", v, sizeof v), 1);
        assert_string_equal(v, "1");
        assert_int_equal(json_valid_sqlite(text, "$.list[0]", v, sizeof v), 1);
        assert_string_equal(v, "0.1");
        assert_int_equal(json_valid_sqlite(text, "$.list[1]", v, sizeof v), 1);
        assert_string_equal(v, "(null)");
        assert_int_equal(top_value(text, "name \"q\" \\ \n\t\x01", v, sizeof v), 0);
        assert_string_equal(v, "caf\xc3\xa9 \xef\xbf\xbd end");
        if (!pretty) {
            assert_true(strchr(text, '\n') == text + strlen(text) - 1); /* one line */
            assert_non_null(strstr(text, "\"list\":[0.1,null,true,null,null,[]]"));
        } else {
            assert_non_null(strstr(text, "{\n  \"schema\": 1,\n  \"splits\": {\n"));
        }
        free(text);
    }
}

static void unbalanced(JsonWriter *w, int *rc)
{
    *rc = 0;
    json_begin_object(w);
    json_key(w, "a");
}

static void value_without_key(JsonWriter *w, int *rc)
{
    *rc = 0;
    json_begin_object(w);
    json_key(w, "a");
    json_int(w, 1);
    json_end_object(w);
    json_int(w, 2); /* a second top-level value */
}

static void misuse_reported(void **state)
{
    (void)state;
    int rc;
    free(capture(unbalanced, 0, &rc));
    assert_int_not_equal(rc, 0);
    free(capture(value_without_key, 0, &rc));
    assert_int_not_equal(rc, 0);
}

static void write_error_reported(void **state)
{
    (void)state;
    FILE *f = fopen("/dev/full", "w");
    if (!f) skip();
    JsonWriter w;
    json_init(&w, f, 0);
    json_begin_array(&w);
    for (int i = 0; i < 10000; i++) json_string(&w, "filling the buffer until it is flushed");
    json_end_array(&w);
    assert_int_not_equal(json_finish(&w), 0);
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(writes_valid_json),
        cmocka_unit_test(misuse_reported),
        cmocka_unit_test(write_error_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
