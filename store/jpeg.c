/* jpeg.c — libjpeg-turbo behind a setjmp/longjmp error manager.
 *
 * Implements: encode gray to memory, read the header, decode to gray with DCT scaling. libjpeg's
 * default error handler prints and calls exit(); ours records the message and longjmps back, and
 * counts warnings (corrupt data, premature end) so that they fail the decode as well.
 * Deliberately not here: resizing to arbitrary sizes (callers scale the result), colour output,
 * progressive display, EXIF orientation (radiographs are stored upright).
 */
#include "store/jpeg.h"

#include <limits.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h> /* before jpeglib.h, which uses FILE */

#include <jpeglib.h>
#include <jerror.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int warnings;
    char msg[JMSG_LENGTH_MAX];
} ErrMgr;

/* The progress monitor is libjpeg's only hook between scans: it ends a decode with too many
 * scans before the next pass over the image. */
static void on_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (cinfo->is_decompressor && d->input_scan_number > JPEG_MAX_SCANS) {
        ErrMgr *e = (ErrMgr *)cinfo->err;
        snprintf(e->msg, sizeof e->msg, "more than %d scans (a progressive-scan bomb?)",
                 JPEG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

static void on_error_exit(j_common_ptr cinfo)
{
    ErrMgr *e = (ErrMgr *)cinfo->err;
    if (cinfo->err->msg_code == JERR_NO_BACKING_STORE)
        snprintf(e->msg, sizeof e->msg, "needs more than %ld MB of working memory to decode",
                 JPEG_MAX_MEMORY >> 20);
    else
        (*cinfo->err->format_message)(cinfo, e->msg);
    longjmp(e->jump, 1);
}

/* msg_level < 0 is a warning: the data is damaged, even if libjpeg can carry on. Trace messages
 * (>= 0) are ignored. The first warning's text is kept for the error message. */
static void on_emit_message(j_common_ptr cinfo, int msg_level)
{
    ErrMgr *e = (ErrMgr *)cinfo->err;
    if (msg_level >= 0) return;
    if (e->warnings++ == 0) (*cinfo->err->format_message)(cinfo, e->msg);
    /* A warning fails the decode anyway: stop now rather than decode (say) 200 million
     * pixels of a truncated file into grey. */
    if (cinfo->is_decompressor) longjmp(e->jump, 1);
}

static void on_output_message(j_common_ptr cinfo)
{
    (void)cinfo; /* never print: store/ has no terminal */
}

static void err_init(ErrMgr *e, j_common_ptr cinfo)
{
    memset(e, 0, sizeof *e);
    cinfo->err = jpeg_std_error(&e->pub);
    e->pub.error_exit = on_error_exit;
    e->pub.emit_message = on_emit_message;
    e->pub.output_message = on_output_message;
}

PsStatus jpeg_encode_gray(unsigned char **out, size_t *out_size, const unsigned char *pix, int w,
                          int h, int quality, PsErr *err)
{
    PS_CHECK(err, out && out_size && pix);
    *out = NULL;
    *out_size = 0;
    if (w <= 0 || h <= 0 || w > JPEG_MAX_DIM || h > JPEG_MAX_DIM || quality < 1 || quality > 100)
        return ps_err(err, PS_ERR_INVALID, "jpeg_encode_gray: bad size %dx%d or quality %d", w, h,
                      quality);
    struct jpeg_compress_struct cinfo;
    ErrMgr em;
    /* volatile: these are read after longjmp */
    unsigned char *volatile buf = NULL;
    unsigned long volatile len = 0;
    err_init(&em, (j_common_ptr)&cinfo);
    if (setjmp(em.jump)) {
        jpeg_destroy_compress(&cinfo);
        free(buf);
        return ps_err(err, PS_ERR_INVALID, "JPEG encode: %s", em.msg);
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, (unsigned char **)&buf, (unsigned long *)&len);
    cinfo.image_width = (JDIMENSION)w;
    cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = 1;
    cinfo.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pix + (size_t)cinfo.next_scanline * (size_t)w);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = buf;
    *out_size = len;
    return PS_OK;
}

/* Header checks shared by read_size and decode; returns non-zero with err set when the
 * declared image is one we refuse. */
static PsStatus check_dims(const struct jpeg_decompress_struct *cinfo, const char *name,
                           PsErr *err)
{
    long long w = cinfo->image_width, h = cinfo->image_height;
    if (w <= 0 || h <= 0 || w > JPEG_MAX_DIM || h > JPEG_MAX_DIM || w * h > JPEG_MAX_PIXELS)
        return ps_err(err, PS_ERR_PARSE, "%s: JPEG declares %lldx%lld pixels (limit %dx%d, %lld)",
                      name, w, h, JPEG_MAX_DIM, JPEG_MAX_DIM, (long long)JPEG_MAX_PIXELS);
    return PS_OK;
}

PsStatus jpeg_read_size(const unsigned char *data, size_t size, const char *name_in, int *w,
                        int *h, PsErr *err)
{
    PS_CHECK(err, data && w && h);
    /* volatile: gcc cannot prove an argument survives longjmp */
    const char *volatile name = name_in ? name_in : "jpeg";
    *w = *h = 0;
    if (size < 4 || size > (size_t)ULONG_MAX)
        return ps_err(err, PS_ERR_PARSE, "%s: not a JPEG (%zu bytes)", name, size);
    struct jpeg_decompress_struct cinfo;
    ErrMgr em;
    err_init(&em, (j_common_ptr)&cinfo);
    if (setjmp(em.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return ps_err(err, PS_ERR_PARSE, "%s: JPEG: %s", name, em.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    PsStatus rc = check_dims(&cinfo, name, err);
    if (rc == PS_OK && em.warnings)
        rc = ps_err(err, PS_ERR_PARSE, "%s: JPEG: %s", name, em.msg);
    if (rc == PS_OK) {
        *w = (int)cinfo.image_width;
        *h = (int)cinfo.image_height;
    }
    jpeg_destroy_decompress(&cinfo);
    return rc;
}

PsStatus jpeg_decode_gray(unsigned char **out, int *w, int *h, const unsigned char *data,
                          size_t size, int min_w, int min_h, const char *name_in, PsErr *err)
{
    PS_CHECK(err, out && w && h && data);
    /* volatile: gcc cannot prove an argument survives longjmp */
    const char *volatile name = name_in ? name_in : "jpeg";
    *out = NULL;
    *w = *h = 0;
    if (size < 4 || size > (size_t)ULONG_MAX)
        return ps_err(err, PS_ERR_PARSE, "%s: not a JPEG (%zu bytes)", name, size);
    struct jpeg_decompress_struct cinfo;
    ErrMgr em;
    unsigned char *volatile pix = NULL;
    unsigned char *volatile row = NULL;
    err_init(&em, (j_common_ptr)&cinfo);
    if (setjmp(em.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(pix);
        free(row);
        return ps_err(err, PS_ERR_PARSE, "%s: JPEG: %s", name, em.msg);
    }
    jpeg_create_decompress(&cinfo);
    cinfo.mem->max_memory_to_use = JPEG_MAX_MEMORY;
    struct jpeg_progress_mgr progress = {.progress_monitor = on_progress};
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    PsStatus rc = check_dims(&cinfo, name, err);
    if (rc != PS_OK) goto done;

    /* libjpeg converts YCbCr/RGB/gray to gray itself; it cannot do CMYK/YCCK, so those come
     * out as CMYK and are converted below. */
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_GRAYSCALE;

    cinfo.scale_num = 1;
    cinfo.scale_denom = 1;
    if (min_w > 0 || min_h > 0) {
        for (unsigned d = 8; d >= 2; d /= 2) {
            unsigned long sw = (cinfo.image_width + d - 1) / d;
            unsigned long sh = (cinfo.image_height + d - 1) / d;
            if (sw >= (unsigned long)(min_w > 0 ? min_w : 0) &&
                sh >= (unsigned long)(min_h > 0 ? min_h : 0)) {
                cinfo.scale_denom = d;
                break;
            }
        }
    }
    jpeg_calc_output_dimensions(&cinfo);
    size_t ow = cinfo.output_width, oh = cinfo.output_height;
    size_t comps = (size_t)cinfo.output_components;
    if ((long long)ow * (long long)oh > JPEG_MAX_OUT_PIXELS) {
        rc = ps_err(err, PS_ERR_PARSE,
                    "%s: JPEG of %ux%u pixels is too large to decode at %zux%zu (limit %lld "
                    "pixels)",
                    name, cinfo.image_width, cinfo.image_height, ow, oh,
                    (long long)JPEG_MAX_OUT_PIXELS);
        goto done;
    }
    pix = malloc(ow * oh);
    if (cmyk) row = malloc(ow * comps);
    if (!pix || (cmyk && !row)) {
        rc = ps_err(err, PS_ERR_NOMEM, "%s: JPEG: no memory for %zux%zu pixels", name, ow, oh);
        goto done;
    }
    jpeg_start_decompress(&cinfo);
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW r = cmyk ? (JSAMPROW)row : (JSAMPROW)(pix + y * ow);
        if (jpeg_read_scanlines(&cinfo, &r, 1) != 1) break;
        if (cmyk) {
            /* Adobe writes CMYK inverted (255 = no ink), which is what nearly every CMYK JPEG
             * in the wild is: then R = C*K/255 etc. */
            int inverted = cinfo.saw_Adobe_marker;
            for (size_t x = 0; x < ow; x++) {
                unsigned c = row[4 * x], m = row[4 * x + 1], yy = row[4 * x + 2], k = row[4 * x + 3];
                if (!inverted) {
                    c = 255 - c;
                    m = 255 - m;
                    yy = 255 - yy;
                    k = 255 - k;
                }
                unsigned rr = c * k / 255, gg = m * k / 255, bb = yy * k / 255;
                pix[y * ow + x] = (unsigned char)((299 * rr + 587 * gg + 114 * bb + 500) / 1000);
            }
        }
    }
    if (cinfo.output_scanline < cinfo.output_height) {
        rc = ps_err(err, PS_ERR_PARSE, "%s: JPEG: stopped at row %u of %u", name,
                    cinfo.output_scanline, cinfo.output_height);
        goto done;
    }
    jpeg_finish_decompress(&cinfo);
    if (em.warnings) {
        rc = ps_err(err, PS_ERR_PARSE, "%s: JPEG: %s", name, em.msg);
        goto done;
    }
    *out = pix;
    pix = NULL;
    *w = (int)ow;
    *h = (int)oh;
done:
    jpeg_destroy_decompress(&cinfo);
    free(pix);
    free(row);
    return rc;
}
