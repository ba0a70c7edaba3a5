/* jpeg.h — 8-bit grayscale JPEG in and out of memory (libjpeg-turbo), safe on hostile input.
 *
 * Decoding never exits the process and never trusts the file: errors and warnings (a truncated
 * file "decodes" with a warning) both fail with a message naming the input; the declared size is
 * checked against JPEG_MAX_DIM / JPEG_MAX_PIXELS before anything large is allocated. Colour
 * JPEGs (YCbCr, RGB, CMYK, YCCK) come out as grayscale.
 *
 * Thread safety: every function is reentrant (no shared state); call from any thread.
 */
#ifndef JPEG_H
#define JPEG_H

#include <stddef.h>

#include "store/ps.h"

#define JPEG_MAX_DIM 32768          /* per side; real radiographs are about 3000 */
#define JPEG_MAX_PIXELS 200000000LL /* declared width x height */
/* Bounds on one decode whatever the file says, so that a small hostile file costs neither
 * much memory nor much time: the decoded (possibly DCT-scaled) output, libjpeg's own working
 * memory (a progressive image keeps all its coefficients: 2 bytes per pixel and component),
 * and the number of scans (each scan of a progressive image is a pass over the whole image;
 * encoders write about 10; "scan bombs" write thousands). The first warning ends a decode. */
#define JPEG_MAX_OUT_PIXELS (64LL << 20)
#define JPEG_MAX_MEMORY (96L << 20)
#define JPEG_MAX_SCANS 32

/* Encodes w x h gray pixels (row-major, w bytes per row) at quality 1..100 into *out, a malloc'd
 * buffer of *out_size bytes that the caller frees with free(). On failure *out is NULL. */
PsStatus jpeg_encode_gray(unsigned char **out, size_t *out_size, const unsigned char *pix, int w,
                          int h, int quality, PsErr *err);

/* Reads the declared dimensions without decoding the image data. name (may be NULL) is used
 * in messages, e.g. a file path or dicom_id. */
PsStatus jpeg_read_size(const unsigned char *data, size_t size, const char *name, int *w, int *h,
                        PsErr *err);

/* Decodes data (size bytes) to grayscale into *out (malloc'd, caller frees; *w x *h bytes).
 * When min_w/min_h are > 0, DCT scaling by 1/2, 1/4 or 1/8 is used, choosing the strongest
 * reduction that still leaves the result at least min_w x min_h (a 3000 px radiograph wanted at
 * 256 px decodes at 1/8 in a fraction of the time). On failure *out is NULL and err names the
 * input: "NAME: JPEG: Premature end of JPEG file". */
PsStatus jpeg_decode_gray(unsigned char **out, int *w, int *h, const unsigned char *data,
                          size_t size, int min_w, int min_h, const char *name, PsErr *err);

#endif
