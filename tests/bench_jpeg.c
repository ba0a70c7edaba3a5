/* bench_jpeg.c — the most one JPEG decode can cost under the limits in store/jpeg.h, for the
 * "one image decode under 1 s and bounded memory" guarantee:
 *   jpeg_decode_max         the largest image decoded at full size: 8192 x 8192 gray
 *                           (JPEG_MAX_OUT_PIXELS), radiograph-like texture with noise
 *   jpeg_decode_max_scaled  the largest accepted declared size, 14000 x 14000
 *                           (under JPEG_MAX_PIXELS), decoded with DCT scaling to >= 512 px as the
 *                           importer asks for it (1/8: 1750 x 1750)
 * Each workload runs in its own child process; the file is encoded there first, a row at a
 * time. Prints `PSBENCH <name> ms=<median of 3> peak_rss_mb=<n> file_mb=<n> cpu_s=<n>`; the
 * peak is the child's whole high water, the encoded file included. Not a unit test: a timing
 * figure, under whatever load the machine has. */
#include <stdint.h>
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

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* A smooth vignette with 4 bits of noise per pixel: about as hard to decode as a radiograph.
 * ctx: the Vignette (rows come in order, so the noise generator runs on across them). */
typedef struct {
    uint32_t s;
    int h;
} Vignette;

static void vignette_row(void *ctx, int y, unsigned char *row, int w)
{
    Vignette *v = ctx;
    for (int x = 0; x < w; x++) {
        v->s = v->s * 1664525u + 1013904223u;
        double dx = (double)x / w - 0.5, dy = (double)y / v->h - 0.5;
        int val = (int)(200.0 * (1.0 - 2.0 * (dx * dx + dy * dy))) + (int)(v->s >> 28);
        row[x] = (unsigned char)(val < 0 ? 0 : val > 255 ? 255 : val);
    }
}

static int encode(int w, int h, unsigned char **out, unsigned long *n)
{
    Vignette v = {12345, h};
    JpegFixtureOptions o = {.quality = 90};
    return jpeg_fixture_encode(w, h, &o, vignette_row, &v, out, n);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int workload(const char *name, int w, int h, int min_side)
{
    unsigned char *jpg = NULL;
    unsigned long n = 0;
    if (encode(w, h, &jpg, &n) != 0) return 1;
    double ms[3];
    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    for (int i = 0; i < 3; i++) {
        unsigned char *pix = NULL;
        int ow = 0, oh = 0;
        PsErr err = {{0}};
        double t = now();
        if (jpeg_decode_gray(&pix, &ow, &oh, jpg, n, min_side, min_side, name, &err) != PS_OK) {
            fprintf(stderr, "bench_jpeg: %s\n", err.msg);
            return 1;
        }
        ms[i] = (now() - t) * 1e3;
        free(pix);
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    qsort(ms, 3, sizeof ms[0], cmp);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ((double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) * 1e-9) / 3;
    printf("PSBENCH %s ms=%.0f peak_rss_mb=%ld file_mb=%.1f cpu_s=%.3f\n", name, ms[1],
           ru.ru_maxrss / 1024, (double)n / (1 << 20), cpu);
    fflush(stdout);
    free(jpg);
    return 0;
}

int main(void)
{
    struct {
        const char *name;
        int w, h, min_side;
    } runs[] = {
        {"jpeg_decode_max", 8192, 8192, 0},
        {"jpeg_decode_max_scaled", 14000, 14000, 512},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) _exit(workload(runs[i].name, runs[i].w, runs[i].h, runs[i].min_side));
        int st = 0;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) rc = 1;
    }
    return rc;
}
