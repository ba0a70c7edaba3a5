/* fuzz_jpeg.c — libFuzzer harness for the JPEG wrapper (store/jpeg.c over libjpeg-turbo).
 *
 * Input: one byte choosing the requested minimum size (0 = full size, else DCT scaling), then
 * the file. Invariants: never exits or crashes (libjpeg's errors longjmp back); a failure
 * returns no buffer and a one-line message naming the input; a success returns a buffer of
 * exactly w x h bytes (every byte is read, so ASan checks the size) within the declared-size
 * and output limits, consistent with jpeg_read_size and the chosen scale; a decoded image
 * re-encodes and decodes to the same size. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "store/jpeg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static const int mins[8] = {0, 0, 0, 16, 64, 256, 1, 1000};
    int min = mins[data[0] & 7];
    data++;
    size--;
    PsErr err = {{0}};
    int rw = 0, rh = 0;
    PsStatus src = jpeg_read_size(data, size, "in.jpg", &rw, &rh, &err);
    if (src == PS_OK) {
        FUZZ_CHECK(rw > 0 && rh > 0 && rw <= JPEG_MAX_DIM && rh <= JPEG_MAX_DIM);
        FUZZ_CHECK((long long)rw * rh <= JPEG_MAX_PIXELS);
    } else {
        FUZZ_CHECK(rw == 0 && rh == 0);
        FUZZ_CHECK(strncmp(err.msg, "in.jpg:", 7) == 0 && !strchr(err.msg, '\n'));
    }
    unsigned char *out = (unsigned char *)1;
    int w = -1, h = -1;
    err.msg[0] = 0;
    PsStatus rc = jpeg_decode_gray(&out, &w, &h, data, size, min, min, "in.jpg", &err);
    if (rc != PS_OK) {
        FUZZ_CHECK(out == NULL);
        FUZZ_CHECK(strncmp(err.msg, "in.jpg:", 7) == 0 && !strchr(err.msg, '\n'));
        return 0;
    }
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(src == PS_OK); /* what decodes has a readable header */
    FUZZ_CHECK((long long)w * h <= JPEG_MAX_OUT_PIXELS);
    int scale_ok = 0;
    for (int d = 1; d <= 8; d *= 2)
        if (w == (rw + d - 1) / d && h == (rh + d - 1) / d) scale_ok = 1;
    FUZZ_CHECK(scale_ok);
    if (min == 0) FUZZ_CHECK(w == rw && h == rh);
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) sum += out[i];
    (void)sum;
    if ((long long)w * h <= 1 << 20) {
        unsigned char *jpg = NULL, *back = NULL;
        size_t n = 0;
        FUZZ_CHECK(jpeg_encode_gray(&jpg, &n, out, w, h, 90, &err) == PS_OK);
        int bw = 0, bh = 0;
        FUZZ_CHECK(jpeg_decode_gray(&back, &bw, &bh, jpg, n, 0, 0, "again", &err) == PS_OK);
        FUZZ_CHECK(bw == w && bh == h);
        free(back);
        free(jpg);
    }
    free(out);
    return 0;
}
