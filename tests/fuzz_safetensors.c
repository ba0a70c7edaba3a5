/* fuzz_safetensors.c — libFuzzer harness for the safetensors reader (engine/safetensors.c).
 *
 * A small model (a linear layer and a batch-norm buffer with num_batches_tracked, in two
 * ParamSets, as the real models have) loads the fuzzed file. Input: one byte choosing the
 * options (skip prefix, ignore extra tensors), then the file. Invariants: a refused file
 * leaves every value of the model as it was (validation before any copy) and says why in one
 * line naming the file; an accepted file saves and loads back to the same values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/params.h"
#include "engine/safetensors.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void build(ParamSet *p, ParamSet *b)
{
    PsErr err;
    size_t off;
    int64_t w[2] = {3, 4}, bias[1] = {3}, rm[1] = {4}, nbt[1] = {1};
    params_init(p);
    params_init(b);
    FUZZ_CHECK(params_add(p, "fc.weight", 2, w, &off, &err) == PS_OK);
    FUZZ_CHECK(params_add(p, "fc.bias", 1, bias, &off, &err) == PS_OK);
    FUZZ_CHECK(params_add(b, "bn.running_mean", 1, rm, &off, &err) == PS_OK);
    FUZZ_CHECK(params_add(b, "bn.num_batches_tracked", 0, nbt, &off, &err) == PS_OK);
    FUZZ_CHECK(params_alloc(p, 1, &err) == PS_OK);
    FUZZ_CHECK(params_alloc(b, 0, &err) == PS_OK);
    for (size_t i = 0; i < p->n; i++) p->w[i] = (float)i * 0.25f - 1.0f;
    for (size_t i = 0; i < b->n; i++) b->w[i] = (float)i + 0.5f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    SafetensorsOpts o = {data[0] & 1 ? "fc." : NULL, (data[0] >> 1) & 1};
    const SafetensorsOpts *opts = data[0] & 4 ? &o : NULL;
    data++;
    size--;
    ParamSet p, b;
    build(&p, &b);
    ParamSet *sets[2] = {&p, &b};
    uint64_t before_p = params_checksum(&p), before_b = params_checksum(&b);
    PsErr err = {{0}};
    PsStatus rc = safetensors_load(data, size, "in.safetensors", sets, 2, opts, &err);
    if (rc != PS_OK) {
        FUZZ_CHECK(params_checksum(&p) == before_p && params_checksum(&b) == before_b);
        FUZZ_CHECK(strstr(err.msg, "in.safetensors") && !strchr(err.msg, '\n'));
    } else {
        uint8_t *buf = NULL;
        size_t len = 0;
        FUZZ_CHECK(safetensors_save(&buf, &len, sets, 2, &err) == PS_OK);
        ParamSet p2, b2;
        build(&p2, &b2);
        ParamSet *sets2[2] = {&p2, &b2};
        FUZZ_CHECK(safetensors_load(buf, len, "again", sets2, 2, NULL, &err) == PS_OK);
        /* NaN payloads compare by bytes: checksums are over the bytes */
        FUZZ_CHECK(params_checksum(&p2) == params_checksum(&p));
        FUZZ_CHECK(params_checksum(&b2) == params_checksum(&b));
        free(buf);
        params_free(&p2);
        params_free(&b2);
    }
    params_free(&p);
    params_free(&b);
    return 0;
}
