/* jpeg_fixture.h — writing gray JPEG test images with libjpeg, shared by the JPEG limit tests
 * and the JPEG decode benchmark: the image comes a row at a time from a callback, so a 14000 x
 * 14000 file never has its pixels in memory, and the encoder can be asked for a progressive
 * file or a scan script of its own (the hostile-file tests). Static inline, for the test and
 * benchmark binaries only; no cmocka here, so a benchmark can use it too. Include after
 * <stdio.h> (jpeglib.h needs it). Deliberately gray only: phenoscope stores gray radiographs. */
#ifndef JPEG_FIXTURE_H
#define JPEG_FIXTURE_H

#include <jpeglib.h>
#include <stdlib.h>
#include <string.h>

/* Fills row (w bytes) with image row y. */
typedef void (*JpegFixtureRow)(void *ctx, int y, unsigned char *row, int w);

typedef struct {
    int quality;                 /* 1..100 */
    int progressive;             /* 1: libjpeg's progressive script (jpeg_simple_progression) */
    const jpeg_scan_info *scans; /* a scan script of the caller's, or NULL */
    int nscans;
} JpegFixtureOptions;

/* Encodes a w x h gray JPEG into *out (libjpeg's malloc'ed buffer: the caller frees it) of *n
 * bytes. Returns 0, or -1 when the row buffer cannot be allocated (then *out is NULL). */
static inline int jpeg_fixture_encode(int w, int h, const JpegFixtureOptions *o,
                                      JpegFixtureRow fill, void *ctx, unsigned char **out,
                                      unsigned long *n)
{
    *out = NULL;
    *n = 0;
    unsigned char *row = malloc((size_t)w);
    if (!row) return -1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr em;
    c.err = jpeg_std_error(&em);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, out, n);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 1;
    c.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, o->quality, TRUE);
    if (o->progressive) jpeg_simple_progression(&c);
    if (o->scans) {
        c.scan_info = o->scans;
        c.num_scans = o->nscans;
    }
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        fill(ctx, (int)c.next_scanline, row, w);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(row);
    return 0;
}

/* A JpegFixtureRow for an image already in memory: ctx is its w x h pixels. */
static inline void jpeg_fixture_row_of(void *ctx, int y, unsigned char *row, int w)
{
    memcpy(row, (const unsigned char *)ctx + (size_t)y * (size_t)w, (size_t)w);
}

#endif
