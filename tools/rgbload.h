/* rgbload.h -- decode an image file to an owned interleaved RGB8 raster with
 * libvips, for tools, benchmarks and tests that must not depend on the
 * product's own decoder (vision/image.c). Header-only (static functions) so
 * each small program just includes it. Grey and alpha images are converted
 * to 3-band sRGB; EXIF orientation is not applied (COCO/FER/darknet samples
 * are stored upright). Returns 0 on success; px is malloc'ed. */
#ifndef SCRY_TOOLS_RGBLOAD_H
#define SCRY_TOOLS_RGBLOAD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <vips/vips.h>

static int rgbload(const char *path, int *w, int *h, uint8_t **px) {
    static int inited;
    if (!inited) {
        if (VIPS_INIT("scry-rgbload")) return -1;
        vips_concurrency_set(1);
        inited = 1;
    }
    *px = NULL;
    VipsImage *in = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!in) return -1;
    VipsImage *t1 = NULL, *t2 = NULL, *t3 = NULL;
    int rc = -1;
    if (vips_colourspace(in, &t1, VIPS_INTERPRETATION_sRGB, NULL)) goto out;
    if (vips_image_hasalpha(t1)) {
        if (vips_flatten(t1, &t2, NULL)) goto out;
    } else {
        t2 = t1;
        g_object_ref(t2);
    }
    if (vips_cast(t2, &t3, VIPS_FORMAT_UCHAR, NULL)) goto out;
    if (t3->Bands != 3) goto out;
    size_t n = 0;
    void *mem = vips_image_write_to_memory(t3, &n);
    if (!mem) goto out;
    *w = t3->Xsize;
    *h = t3->Ysize;
    *px = malloc(n);
    if (*px) {
        memcpy(*px, mem, n);
        rc = 0;
    }
    g_free(mem);
out:
    if (t3) g_object_unref(t3);
    if (t2) g_object_unref(t2);
    if (t1) g_object_unref(t1);
    g_object_unref(in);
    return rc;
}

#endif
