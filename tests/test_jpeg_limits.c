/* test_jpeg_limits.c — one hostile JPEG costs little: a small file declaring a huge image
 * (16000 x 12000, and 16384 x 16384 beyond the declared-pixel limit), a progressive file with
 * hundreds of scans, a progressive file whose coefficients would need hundreds of megabytes.
 * Each is refused in well under a second of CPU and without the process's peak memory growing
 * by more than a few tens of megabytes; honest files of the same kinds still decode. A valid
 * 12000 x 12000 image of 1-2 MB (a decompression bomb: 144 MB of pixels) is refused at full
 * size and decodes with DCT scaling at 1/8 within a memory cap, measured with getrusage in a
 * child process that does nothing else. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h> /* before jpeglib.h */
#include <jpeglib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/jpeg.h"
#include "tests/jpeg_fixture.h"

static unsigned char *gradient(int w, int h)
{
    unsigned char *p = malloc((size_t)w * (size_t)h);
    assert_non_null(p);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) p[(size_t)y * w + x] = (unsigned char)((x * 7 + y * 3) & 255);
    return p;
}

/* A gray JPEG of pix at quality 90; progressive and scans as in JpegFixtureOptions. */
static void encode(const unsigned char *pix, int w, int h, int progressive,
                   const jpeg_scan_info *scans, int nscans, unsigned char **out,
                   unsigned long *n)
{
    JpegFixtureOptions o = {.quality = 90, .progressive = progressive, .scans = scans,
                            .nscans = nscans};
    assert_int_equal(jpeg_fixture_encode(w, h, &o, jpeg_fixture_row_of, (void *)pix, out, n), 0);
}

/* Rewrites the frame size in the SOF0 (baseline) or SOF2 (progressive) marker. */
static void patch_size(unsigned char *jpg, size_t n, unsigned w, unsigned h)
{
    for (size_t i = 2; i + 9 < n; i++) {
        if (jpg[i] == 0xFF && (jpg[i + 1] == 0xC0 || jpg[i + 1] == 0xC2)) {
            jpg[i + 5] = (unsigned char)(h >> 8), jpg[i + 6] = (unsigned char)h;
            jpg[i + 7] = (unsigned char)(w >> 8), jpg[i + 8] = (unsigned char)w;
            return;
        }
    }
    fail_msg("no SOF marker");
}

/* The cost of one decode: CPU seconds and growth of the peak resident set (VmHWM, reset
 * through /proc/self/clear_refs first; -1 where the kernel does not offer that). */
typedef struct {
    PsStatus rc;
    double cpu_s;
    long peak_kb;
    char msg[PS_ERRMSG_MAX];
    int w, h;
} Cost;

/* The "<field>: N kB" line of /proc/self/status (VmRSS, VmHWM), or -1. */
static long status_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kb = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

static Cost decode_cost(const unsigned char *jpg, size_t n, int min_w, int min_h)
{
    Cost c = {0};
    FILE *cr = fopen("/proc/self/clear_refs", "w");
    int reset = cr && fputs("5", cr) >= 0;
    if (cr && fclose(cr) != 0) reset = 0;
    long before = status_kb("VmRSS");
    struct timespec a, b;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
    unsigned char *out = NULL;
    PsErr err = {{0}};
    c.rc = jpeg_decode_gray(&out, &c.w, &c.h, jpg, n, min_w, min_h, "hostile.jpg", &err);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
    long after = status_kb("VmHWM");
    c.cpu_s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
    c.peak_kb = reset && before >= 0 && after >= 0 ? after - before : -1;
    snprintf(c.msg, sizeof c.msg, "%s", err.msg);
    if (c.rc != PS_OK) assert_null(out);
    free(out);
    print_message("  %s: %.3f s CPU, peak +%ld kB: %s\n", c.rc == PS_OK ? "decoded" : "refused",
                  c.cpu_s, c.peak_kb, c.rc == PS_OK ? "" : c.msg);
    return c;
}

#define CPU_LIMIT_S 1.0
#define PEAK_LIMIT_KB (48L * 1024)

static void assert_cheap(const Cost *c)
{
    assert_true(c->cpu_s < CPU_LIMIT_S);
    if (c->peak_kb >= 0) assert_true(c->peak_kb < PEAK_LIMIT_KB);
}

/* 64x64 pixels of data under a header declaring 16000 x 12000 (192 million pixels, inside
 * the per-side and declared-pixel limits). */
static void huge_declared_size_is_cheap(void **state)
{
    (void)state;
    unsigned char *pix = gradient(64, 64), *jpg;
    unsigned long n;
    encode(pix, 64, 64, 0, NULL, 0, &jpg, &n);
    patch_size(jpg, n, 16000, 12000);
    /* full size: 192 MB of output is refused from the header */
    Cost c = decode_cost(jpg, n, 0, 0);
    assert_int_equal(c.rc, PS_ERR_PARSE);
    assert_non_null(strstr(c.msg, "too large to decode"));
    assert_non_null(strstr(c.msg, "hostile.jpg"));
    assert_cheap(&c);
    /* scaled to 1/8 (2000 x 1500): decoding starts, and stops at the end of the data */
    c = decode_cost(jpg, n, 256, 256);
    assert_int_equal(c.rc, PS_ERR_PARSE);
    assert_cheap(&c);
    free(pix);
    free(jpg);
}

/* A valid progressive file with 192 scans: every AC coefficient in its own band, each sent
 * in three successive-approximation passes. */
static void scan_bomb_refused(void **state)
{
    (void)state;
    static jpeg_scan_info scans[3 + 63 * 3];
    int k = 0;
    for (int al = 2; al >= 0; al--) /* DC: first pass at Al=2, then two refinements */
        scans[k++] = (jpeg_scan_info){1, {0}, 0, 0, al == 2 ? 0 : al + 1, al};
    for (int s = 1; s <= 63; s++)
        for (int al = 2; al >= 0; al--)
            scans[k++] = (jpeg_scan_info){1, {0}, s, s, al == 2 ? 0 : al + 1, al};
    unsigned char *pix = gradient(256, 256), *jpg;
    unsigned long n;
    encode(pix, 256, 256, 1, scans, k, &jpg, &n);
    Cost c = decode_cost(jpg, n, 0, 0);
    assert_int_equal(c.rc, PS_ERR_PARSE);
    assert_non_null(strstr(c.msg, "scans"));
    assert_cheap(&c);
    free(jpg);
    /* libjpeg's own progressive script (6 scans for gray) decodes */
    encode(pix, 256, 256, 1, NULL, 0, &jpg, &n);
    c = decode_cost(jpg, n, 0, 0);
    assert_int_equal(c.rc, PS_OK);
    assert_int_equal(c.w, 256);
    assert_int_equal(c.h, 256);
    free(jpg);
    free(pix);
}

/* A progressive file keeps every coefficient until the last scan: 2 bytes per pixel. One
 * declaring 9000 x 9000, decoded at 1/8, would need 162 MB of coefficients: refused before
 * they are allocated. */
static void progressive_memory_capped(void **state)
{
    (void)state;
    unsigned char *pix = gradient(64, 64), *jpg;
    unsigned long n;
    encode(pix, 64, 64, 1, NULL, 0, &jpg, &n);
    patch_size(jpg, n, 9000, 9000);
    Cost c = decode_cost(jpg, n, 256, 256);
    assert_int_equal(c.rc, PS_ERR_PARSE);
    assert_non_null(strstr(c.msg, "working memory"));
    assert_cheap(&c);
    free(jpg);
    free(pix);
}

/* An honest large baseline image (4000 x 3000, a big radiograph) decodes at full size and at
 * 1/8: the limits leave real data alone. */
static void honest_large_image_decodes(void **state)
{
    (void)state;
    unsigned char *pix = gradient(4000, 3000), *jpg;
    unsigned long n;
    encode(pix, 4000, 3000, 0, NULL, 0, &jpg, &n);
    free(pix);
    Cost c = decode_cost(jpg, n, 0, 0);
    assert_int_equal(c.rc, PS_OK);
    assert_int_equal(c.w, 4000);
    c = decode_cost(jpg, n, 256, 256);
    assert_int_equal(c.rc, PS_OK);
    assert_int_equal(c.w, 500);
    free(jpg);
}

/* ---- one decode alone in a child: its peak memory from getrusage ------------------------- */

typedef struct {
    PsStatus rc;
    int w, h;
    long grew_kb; /* ru_maxrss after the decode minus before it (the child's own high water) */
    double cpu_s;
    char msg[PS_ERRMSG_MAX];
} ChildCost;

static ChildCost child_cost(const unsigned char *jpg, size_t n, int min_w, int min_h)
{
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fd[0]);
        ChildCost c = {0};
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru); /* the high water a forked child starts from */
        long before = ru.ru_maxrss;
        struct timespec a, b;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
        unsigned char *out = NULL;
        PsErr err = {{0}};
        c.rc = jpeg_decode_gray(&out, &c.w, &c.h, jpg, n, min_w, min_h, "bomb.jpg", &err);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
        getrusage(RUSAGE_SELF, &ru);
        c.grew_kb = ru.ru_maxrss - before;
        c.cpu_s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
        snprintf(c.msg, sizeof c.msg, "%s", err.msg);
        free(out);
        _exit(write(fd[1], &c, sizeof c) == (ssize_t)sizeof c ? 0 : 1);
    }
    close(fd[1]);
    ChildCost c;
    size_t got = 0;
    while (got < sizeof c) {
        ssize_t k = read(fd[0], (char *)&c + got, sizeof c - got);
        if (k <= 0) break;
        got += (size_t)k;
    }
    close(fd[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(got, sizeof c);
    print_message("  child: %s %dx%d, %.3f s CPU, peak +%ld kB %s\n", c.rc == PS_OK ? "decoded" : "refused",
                  c.w, c.h, c.cpu_s, c.grew_kb, c.rc == PS_OK ? "" : c.msg);
    return c;
}

/* A generous sanity bound only: the time figure itself is `make bench` (jpeg_decode_max). */
#define SANITY_CPU_S 20.0
#define SCALED_PEAK_LIMIT_KB (32L * 1024)

/* Flat 64-pixel tiles: a smooth image whose file is tiny for its size. */
static void smooth_row(void *ctx, int y, unsigned char *row, int w)
{
    (void)ctx;
    for (int x = 0; x < w; x++) row[x] = (unsigned char)(((x >> 6) * 5 + (y >> 6) * 3) & 255);
}

/* Encodes a smooth w x h gray baseline JPEG a row at a time (never w x h bytes in memory). */
static void encode_smooth(int w, int h, unsigned char **out, unsigned long *n)
{
    JpegFixtureOptions o = {.quality = 75};
    assert_int_equal(jpeg_fixture_encode(w, h, &o, smooth_row, NULL, out, n), 0);
}

/* 16384 x 16384 declared (268 million pixels, over JPEG_MAX_PIXELS) in a 64 x 64 file: refused
 * from the header, before the output or libjpeg's buffers are allocated, scaled or not. */
static void header_16k_square_refused_before_allocation(void **state)
{
    (void)state;
    unsigned char *pix = gradient(64, 64), *jpg;
    unsigned long n;
    encode(pix, 64, 64, 0, NULL, 0, &jpg, &n);
    patch_size(jpg, n, 16384, 16384);
    for (int scaled = 0; scaled < 2; scaled++) {
        ChildCost c = child_cost(jpg, n, scaled ? 256 : 0, scaled ? 256 : 0);
        assert_int_equal(c.rc, PS_ERR_PARSE);
        assert_non_null(strstr(c.msg, "declares 16384x16384"));
        assert_true(c.grew_kb < 4096); /* nothing image-sized was allocated */
        assert_true(c.cpu_s < SANITY_CPU_S);
    }
    int w = 0, h = 0;
    PsErr err = {{0}};
    assert_int_equal(jpeg_read_size(jpg, n, "x.jpg", &w, &h, &err), PS_ERR_PARSE);
    free(jpg);
    free(pix);
}

/* A valid 12000 x 12000 image that compresses to a megabyte or two: at full size it would be
 * 144 MB of pixels (over JPEG_MAX_OUT_PIXELS: refused before allocating them); at 1/8, as the
 * importer and the screens ask for it, 1500 x 1500 decodes in bounded memory. */
static void bomb_refused_full_and_bounded_scaled(void **state)
{
    (void)state;
    unsigned char *jpg;
    unsigned long n;
    encode_smooth(12000, 12000, &jpg, &n);
    print_message("  12000x12000 smooth JPEG: %lu bytes\n", n);
    assert_true(n < 8UL << 20);
    ChildCost c = child_cost(jpg, n, 0, 0);
    assert_int_equal(c.rc, PS_ERR_PARSE);
    assert_non_null(strstr(c.msg, "too large to decode"));
    assert_true(c.grew_kb < 4096);
    c = child_cost(jpg, n, 512, 512);
    assert_int_equal(c.rc, PS_OK);
    assert_int_equal(c.w, 1500);
    assert_int_equal(c.h, 1500);
    assert_true(c.grew_kb < SCALED_PEAK_LIMIT_KB);
    assert_true(c.cpu_s < SANITY_CPU_S);
    free(jpg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(huge_declared_size_is_cheap),
        cmocka_unit_test(scan_bomb_refused),
        cmocka_unit_test(progressive_memory_capped),
        cmocka_unit_test(honest_large_image_decodes),
        cmocka_unit_test(header_16k_square_refused_before_allocation),
        cmocka_unit_test(bomb_refused_full_and_bounded_scaled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
