/* fuzz_csv_gz.c — libFuzzer harness for the gzip + CSV pipeline (store/csv.c over zlib).
 *
 * Input: two bytes of limits, a mode byte, a parameter byte, then a payload.
 *   mode 0: the payload is the file as is (the seeds hold real .csv.gz files, so mutations
 *           reach zlib's header, block and trailer handling);
 *   mode 1: the payload gzipped (in two members when the parameter says so) must read
 *           exactly as the payload read plain: same records, same bad records, same lines;
 *   mode 2: the payload gzipped and cut short must end in an I/O error ("truncated gzip"),
 *           and what came before the error is a prefix of the plain reading;
 *   mode 3: the payload gzipped with one byte changed must read exactly as plain, or end in
 *           an I/O error (a corrupt .csv.gz is detected, never read as other data).
 * Everywhere: the limits hold, the reader terminates, memory stays bounded (libFuzzer's
 * -malloc_limit_mb catches a reader that buffers a whole decompressed line). */
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "fuzz_csv_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* gzip of in[0..n) appended to out as one member. */
static void gzip_member(Buf *out, const uint8_t *in, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    FUZZ_CHECK(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    size_t bound = deflateBound(&z, (uLong)n) + 64;
    unsigned char *tmp = malloc(bound);
    FUZZ_CHECK(tmp != NULL);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = tmp;
    z.avail_out = (uInt)bound;
    FUZZ_CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
    buf_put(out, tmp, bound - z.avail_out);
    deflateEnd(&z);
    free(tmp);
}

static void read_bytes(const void *p, size_t n, const CsvLimits *lim, size_t bound, Reading *r)
{
    char path[64];
    int fd = fuzz_memfile(p, n, path, sizeof path);
    read_all(path, lim, bound, r);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4) return 0;
    CsvLimits lim = limits_from(data);
    int mode = data[2] & 3;
    unsigned param = data[3];
    const uint8_t *pay = data + 4;
    size_t n = size - 4;

    if (mode == 0) {
        Reading r;
        read_bytes(pay, n, &lim, n, &r);
        if (r.io_error) FUZZ_CHECK(n >= 2 && pay[0] == 0x1f && pay[1] == 0x8b);
        reading_free(&r);
        return 0;
    }
    /* plain first; a payload that itself starts like gzip would be read as gzip */
    if (n >= 2 && pay[0] == 0x1f && pay[1] == 0x8b) return 0;
    Reading plain;
    read_bytes(pay, n, &lim, n, &plain);
    FUZZ_CHECK(!plain.io_error);

    Buf gz = {0};
    size_t split = param & 1 ? (n * (param >> 1)) / 128 : n;
    if (split > n) split = n;
    gzip_member(&gz, pay, split);
    size_t first_member = gz.n;
    if (split < n) gzip_member(&gz, pay + split, n - split);

    Reading r;
    if (mode == 1) {
        read_bytes(gz.b, gz.n, &lim, n, &r);
        FUZZ_CHECK(!r.io_error);
        FUZZ_CHECK(r.transcript.n == plain.transcript.n);
        FUZZ_CHECK(r.transcript.n == 0 ||
                   memcmp(r.transcript.b, plain.transcript.b, r.transcript.n) == 0);
    } else if (mode == 2) {
        /* keep at least the two magic bytes; cut anywhere before the end */
        size_t cut = 2 + (size_t)param * (gz.n - 2) / 256;
        /* cut exactly after a whole member: a valid (shorter) gzip file, not detectable */
        if (cut == first_member) cut--;
        read_bytes(gz.b, cut, &lim, n, &r);
        FUZZ_CHECK(r.io_error);
        size_t before = r.transcript.n - sizeof(uint64_t); /* without the final 'I' */
        FUZZ_CHECK(before <= plain.transcript.n);
        FUZZ_CHECK(before == 0 || memcmp(r.transcript.b, plain.transcript.b, before) == 0);
    } else {
        size_t at = 2 + (size_t)param * (gz.n - 2) / 256;
        uint8_t flip = data[0] | 1; /* never zero */
        gz.b[at] ^= flip;
        read_bytes(gz.b, gz.n, &lim, n, &r);
        if (!r.io_error) {
            FUZZ_CHECK(r.transcript.n == plain.transcript.n);
            FUZZ_CHECK(r.transcript.n == 0 ||
                   memcmp(r.transcript.b, plain.transcript.b, r.transcript.n) == 0);
        }
    }
    reading_free(&r);
    reading_free(&plain);
    free(gz.b);
    return 0;
}
