/* json.h — writing JSON to a stream: objects, arrays, escaped strings, numbers.
 *
 * A small state machine puts the commas and indentation; the caller states the structure:
 *     JsonWriter w; json_init(&w, stdout, 1);
 *     json_begin_object(&w); json_key(&w, "schema"); json_int(&w, 1); json_end_object(&w);
 *     if (json_finish(&w)) ... a write failed or the nesting was wrong
 * Strings are written as valid JSON whatever the input: control characters escaped, invalid
 * UTF-8 replaced by U+FFFD. Non-finite doubles are written as null.
 */
#ifndef JSON_H
#define JSON_H

#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

typedef struct {
    FILE *f;
    int pretty;                     /* 1: newlines and two-space indentation */
    int depth;
    int count[JSON_MAX_DEPTH + 1];  /* values written at each level (for commas) */
    int after_key;                  /* a key was written; the value follows without a comma */
    int failed;                     /* sticky: a write failed or the structure was misused */
} JsonWriter;

void json_init(JsonWriter *w, FILE *f, int pretty);
void json_begin_object(JsonWriter *w);
void json_end_object(JsonWriter *w);
void json_begin_array(JsonWriter *w);
void json_end_array(JsonWriter *w);
void json_key(JsonWriter *w, const char *key);
void json_string(JsonWriter *w, const char *s); /* NULL writes null */
void json_int(JsonWriter *w, int64_t v);
void json_double(JsonWriter *w, double v);
void json_bool(JsonWriter *w, int v);
void json_null(JsonWriter *w);
/* Ends the document (a newline) and returns 0 when everything was written and balanced. */
int json_finish(JsonWriter *w);

/* Writes s as a quoted JSON string to f; returns 0 on success, -1 on a write error. */
int json_write_string(FILE *f, const char *s);

#endif
