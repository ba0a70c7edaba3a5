/* test_safetensors.c — weights I/O: round trips (buffer and file, int64 num_batches_tracked),
 * a file written by PyTorch with torchvision's names, and hostile files — each rejected with a
 * message naming the problem, the model left untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/resnet.h"
#include "engine/safetensors.h"
#include "fixture.h"

static void round_trip_resnet(void **state)
{
    (void)state;
    ResnetConfig cfg;
    Resnet a, b;
    PsErr err;
    Rng r;
    resnet_config_default(&cfg, 32, 14);
    cfg.width = 8;
    assert_int_equal(resnet_init(&a, &cfg, &err), PS_OK);
    assert_int_equal(resnet_init(&b, &cfg, &err), PS_OK);
    rng_seed(&r, 1);
    resnet_init_weights(&a, &r);
    rng_seed(&r, 2);
    resnet_init_weights(&b, &r);
    a.buffers.w[a.stem.nbt] = 12345;
    ParamSet *sa[2] = {&a.params, &a.buffers}, *sb[2] = {&b.params, &b.buffers};
    uint8_t *buf;
    size_t len;
    assert_int_equal(safetensors_save(&buf, &len, sa, 2, &err), PS_OK);
    /* header length is a multiple of 8 and the JSON names torch's dtype for the counter */
    uint64_t hl;
    memcpy(&hl, buf, 8);
    assert_int_equal(hl % 8, 0);
    assert_non_null(memmem(buf + 8, hl, "\"bn1.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[]", 51));
    assert_int_equal(safetensors_load(buf, len, "mem", sb, 2, NULL, &err), PS_OK);
    assert_int_equal(params_checksum(&a.params), params_checksum(&b.params));
    assert_int_equal(params_checksum(&a.buffers), params_checksum(&b.buffers));
    assert_float_equal(b.buffers.w[b.stem.nbt], 12345, 0);
    free(buf);

    /* through a file */
    char dir[] = "/tmp/ps_st_XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
    rng_seed(&r, 3);
    resnet_init_weights(&b, &r);
    assert_int_equal(safetensors_save_file(path, sa, 2, &err), PS_OK);
    assert_int_equal(safetensors_load_file(path, sb, 2, NULL, &err), PS_OK);
    assert_int_equal(params_checksum(&a.params), params_checksum(&b.params));
    /* PS_C_SAFETENSORS (make parity) asks for a real-size file for the Python side to load */
    const char *keep = getenv("PS_C_SAFETENSORS");
    if (keep && *keep) {
        Resnet full;
        resnet_config_default(&cfg, 224, 14);
        assert_int_equal(resnet_init(&full, &cfg, &err), PS_OK);
        resnet_init_weights(&full, &r);
        ParamSet *sf[2] = {&full.params, &full.buffers};
        assert_int_equal(safetensors_save_file(keep, sf, 2, &err), PS_OK);
        resnet_done(&full);
    }
    assert_int_not_equal(safetensors_load_file("/nonexistent/w.safetensors", sb, 2, NULL, &err), PS_OK);
    assert_non_null(strstr(err.msg, "/nonexistent/w.safetensors"));
    unlink(path);
    rmdir(dir);
    resnet_done(&a);
    resnet_done(&b);
}

static void loads_pytorch_file(void **state)
{
    (void)state;
    /* written by tests/parity_resnet.py from a torchvision-style state dict (width 4) */
    ResnetConfig cfg;
    Resnet m;
    PsErr err;
    resnet_config_default(&cfg, 64, 14);
    cfg.width = 4;
    assert_int_equal(resnet_init(&m, &cfg, &err), PS_OK);
    char path[1024];
    snprintf(path, sizeof path, "%s/resnet_weights.safetensors", fixture_dir());
    ParamSet *s[2] = {&m.params, &m.buffers};
    if (safetensors_load_file(path, s, 2, NULL, &err) != PS_OK) fail_msg("%s", err.msg);
    assert_float_equal(m.buffers.w[m.stem.nbt], 3, 0); /* int64 3 in the file */
    /* loading into a model of another width names the first mismatching tensor */
    Resnet w8;
    cfg.width = 8;
    assert_int_equal(resnet_init(&w8, &cfg, &err), PS_OK);
    ParamSet *s8[2] = {&w8.params, &w8.buffers};
    uint64_t before = params_checksum(&w8.params);
    assert_int_not_equal(safetensors_load_file(path, s8, 2, NULL, &err), PS_OK);
    assert_non_null(strstr(err.msg, "has shape ["));
    assert_int_equal(params_checksum(&w8.params), before);
    /* a backbone without its classifier: skip "fc." on both sides */
    resnet_done(&m);
    cfg.width = 4;
    cfg.n_out = 1000;
    assert_int_equal(resnet_init(&m, &cfg, &err), PS_OK);
    assert_int_not_equal(safetensors_load_file(path, s, 2, NULL, &err), PS_OK);
    assert_non_null(strstr(err.msg, "fc.weight"));
    SafetensorsOpts o = {.skip_prefix = "fc."};
    if (safetensors_load_file(path, s, 2, &o, &err) != PS_OK) fail_msg("%s", err.msg);
    resnet_done(&m);
    resnet_done(&w8);
}

/* ---- hostile files against a two-tensor model: "w" (2, 3) F32 and "bn.num_batches_tracked" */

typedef struct {
    ParamSet p, b;
    ParamSet *sets[2];
} Tiny;

static void tiny_open(Tiny *t)
{
    PsErr err;
    params_init(&t->p);
    params_init(&t->b);
    int64_t sh[2] = {2, 3};
    assert_int_equal(params_add(&t->p, "w", 2, sh, NULL, &err), PS_OK);
    assert_int_equal(params_add(&t->b, "bn.num_batches_tracked", 0, sh, NULL, &err), PS_OK);
    assert_int_equal(params_alloc(&t->p, 1, &err), PS_OK);
    assert_int_equal(params_alloc(&t->b, 0, &err), PS_OK);
    for (int i = 0; i < 6; i++) t->p.w[i] = (float)(i + 1);
    t->b.w[0] = 7;
    t->sets[0] = &t->p;
    t->sets[1] = &t->b;
}

static void tiny_close(Tiny *t)
{
    params_free(&t->p);
    params_free(&t->b);
}

/* header + data_len bytes of data (values 0x3f800000 = 1.0f repeating, or int64 5) */
static uint8_t *make(const char *header, size_t data_len, size_t *len)
{
    size_t hl = strlen(header);
    *len = 8 + hl + data_len;
    uint8_t *b = calloc(*len + 1, 1);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    float one = 1.0f;
    for (size_t k = 0; k + 4 <= data_len; k += 4) memcpy(b + 8 + hl + k, &one, 4);
    return b;
}

#define W_OK_REC "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"
#define NBT_REC(b, e) "\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[" #b "," #e "]}"

static void expect_reject(const char *header, size_t data_len, const char *needle)
{
    Tiny t;
    PsErr err;
    size_t len;
    tiny_open(&t);
    uint8_t *b = make(header, data_len, &len);
    uint64_t c0 = params_checksum(&t.p), c1 = params_checksum(&t.b);
    err.msg[0] = 0;
    PsStatus rc = safetensors_load(b, len, "hostile.safetensors", t.sets, 2, NULL, &err);
    if (rc == PS_OK) fail_msg("accepted: %s", header);
    if (!strstr(err.msg, needle) || !strstr(err.msg, "hostile.safetensors"))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, needle);
    assert_int_equal(params_checksum(&t.p), c0);
    assert_int_equal(params_checksum(&t.b), c1);
    free(b);
    tiny_close(&t);
}

static void valid_tiny_file_loads(void **state)
{
    (void)state;
    Tiny t;
    PsErr err;
    size_t len;
    tiny_open(&t);
    uint8_t *b = make("{\"__metadata__\":{\"format\":\"pt\"}, " W_OK_REC ", " NBT_REC(24, 32) "}  ", 32, &len);
    int64_t five = 5;
    memcpy(b + len - 8, &five, 8);
    if (safetensors_load(b, len, "ok", t.sets, 2, NULL, &err) != PS_OK) fail_msg("%s", err.msg);
    assert_float_equal(t.p.w[5], 1.0f, 0);
    assert_float_equal(t.b.w[0], 5.0f, 0);
    free(b);
    tiny_close(&t);
}

static void hostile_headers_rejected(void **state)
{
    (void)state;
    const char *good_tail = NBT_REC(24, 32) "}";
    char h[1024];
    /* JSON syntax */
    expect_reject("{" W_OK_REC ", " NBT_REC(24, 32), 32, "expected");                  /* no '}' */
    expect_reject("{" W_OK_REC ", " NBT_REC(24, 32) ",}", 32, "expected a string");      /* trailing comma */
    expect_reject("{" W_OK_REC ", " NBT_REC(24, 32) "}x", 32, "after the header");
    expect_reject("[]", 0, "expected '{'");
    expect_reject("{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0,3],\"data_offsets\":[0,24]}, " NBT_REC(24, 32) "}", 32, "fraction");
    expect_reject("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2,3],\"data_offsets\":[0,24]}, " NBT_REC(24, 32) "}", 32, "non-negative integer");
    expect_reject("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24],\"x\":1}, " NBT_REC(24, 32) "}", 32, "unknown key");
    expect_reject("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,24]}, " NBT_REC(24, 32) "}", 32, "lacks");
    expect_reject("{\"w\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}, " NBT_REC(24, 32) "}", 32, "duplicate key");
    expect_reject("{\"w\x01\":{}}", 0, "control character");
    expect_reject("{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,99999999999999999999999]}}", 0, "too large");
    /* dtypes */
    snprintf(h, sizeof h, "{\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,12]}, %s", NBT_REC(12, 20) "}");
    expect_reject(h, 20, "dtype F16 is not supported");
    snprintf(h, sizeof h, "{\"w\":{\"dtype\":\"I64\",\"shape\":[2,3],\"data_offsets\":[0,48]}, %s", NBT_REC(48, 56) "}");
    expect_reject(h, 56, "dtype I64, expected F32");
    expect_reject("{" W_OK_REC ", \"bn.num_batches_tracked\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[24,28]}}", 28, "dtype F32, expected I64");
    /* shapes */
    snprintf(h, sizeof h, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]}, %s", good_tail);
    expect_reject(h, 32, "has shape [3, 2], the model needs [2, 3]");
    snprintf(h, sizeof h, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,24]}, %s", good_tail);
    expect_reject(h, 32, "needs 32 bytes, data_offsets span 24");
    /* offsets: out of range, overlapping, a gap, bytes after the last tensor, reversed */
    expect_reject("{" W_OK_REC ", " NBT_REC(24, 32) "}", 30, "outside the 30 data bytes");
    expect_reject("{" W_OK_REC ", " NBT_REC(16, 24) "}", 32, "overlaps");
    expect_reject("{" W_OK_REC ", " NBT_REC(28, 36) "}", 36, "belong to no tensor");
    expect_reject("{" W_OK_REC ", " NBT_REC(24, 32) "}", 40, "8 data bytes after the last tensor");
    expect_reject("{" W_OK_REC ", " NBT_REC(32, 24) "}", 32, "outside");
    /* the model's view: missing, extra, duplicate */
    expect_reject("{" W_OK_REC "}", 24, "bn.num_batches_tracked is missing");
    expect_reject("{" W_OK_REC ", " NBT_REC(24, 32) ", \"z\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[32,36]}}", 36, "z is not part of this model");
    expect_reject("{" W_OK_REC ", " W_OK_REC "}", 24, "overlaps");
}

static void hostile_lengths_rejected(void **state)
{
    (void)state;
    Tiny t;
    PsErr err;
    tiny_open(&t);
    uint8_t b[64] = {0};
    /* shorter than the length field */
    assert_int_not_equal(safetensors_load(b, 5, "short", t.sets, 2, NULL, &err), PS_OK);
    assert_non_null(strstr(err.msg, "too short"));
    /* a header length of 2^62 */
    b[7] = 0x40;
    assert_int_not_equal(safetensors_load(b, sizeof b, "huge", t.sets, 2, NULL, &err), PS_OK);
    assert_non_null(strstr(err.msg, "exceeds the"));
    /* truncated: a valid file cut inside the header and inside the data */
    size_t len;
    uint8_t *f = make("{" W_OK_REC ", " NBT_REC(24, 32) "}", 32, &len);
    int64_t one = 1;
    memcpy(f + len - 8, &one, 8);
    assert_int_equal(safetensors_load(f, len, "whole", t.sets, 2, NULL, &err), PS_OK);
    assert_int_not_equal(safetensors_load(f, 20, "cut.safetensors", t.sets, 2, NULL, &err), PS_OK);
    assert_non_null(strstr(err.msg, "truncated"));
    assert_int_not_equal(safetensors_load(f, len - 3, "cut.safetensors", t.sets, 2, NULL, &err), PS_OK);
    assert_non_null(strstr(err.msg, "outside"));
    /* a negative step counter */
    int64_t neg = -1;
    memcpy(f + len - 8, &neg, 8);
    assert_int_not_equal(safetensors_load(f, len, "neg", t.sets, 2, NULL, &err), PS_OK);
    assert_non_null(strstr(err.msg, "out of range"));
    /* extra tensors may be ignored on request */
    free(f);
    f = make("{" W_OK_REC ", " NBT_REC(24, 32) ", \"z\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[32,36]}}", 36, &len);
    memset(f + len - 12, 0, 8);
    SafetensorsOpts o = {.ignore_extra = 1};
    assert_int_equal(safetensors_load(f, len, "extra", t.sets, 2, &o, &err), PS_OK);
    free(f);
    tiny_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip_resnet),
        cmocka_unit_test(loads_pytorch_file),
        cmocka_unit_test(valid_tiny_file_loads),
        cmocka_unit_test(hostile_headers_rejected),
        cmocka_unit_test(hostile_lengths_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
