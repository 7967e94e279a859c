/* Unit tests for vision/image: sniffing, decoding real and generated files in
 * every accepted format, the decompression-bomb and corruption paths, EXIF,
 * thumbnails, colour naming and the perceptual hash. Inputs are the darknet
 * sample photos plus images generated here with libvips and libexif, so each
 * expected value comes from how the input was built, not from a previous run. */
#include "testutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libexif/exif-data.h>
#include <vips/vips.h>

#include "core/labels.h"
#include "vision/image.h"

static const img_limits default_limits = {0, 0};

/* ------------------------------------------------------------ helpers -- */

/* Encode a vips image with a saver chosen by suffix (".png[compression=9]"). */
static void *encode(VipsImage *img, const char *suffix, size_t *n) {
    void *buf = NULL;
    if (vips_image_write_to_buffer(img, suffix, &buf, n, NULL))
        fail_msg("encode %s: %s", suffix, vips_error_buffer());
    return buf;
}

/* A w x h image of one colour, with `bands` bands of `fmt`. */
static VipsImage *solid(int w, int h, const double *v, int bands, VipsBandFormat fmt) {
    VipsImage *black = NULL, *lin = NULL, *out = NULL;
    double zero[8] = {0};
    assert_int_equal(vips_black(&black, w, h, "bands", bands, NULL), 0);
    assert_int_equal(vips_linear(black, &lin, zero, (double *)v, bands, NULL), 0);
    assert_int_equal(vips_cast(lin, &out, fmt, NULL), 0);
    g_object_unref(black);
    g_object_unref(lin);
    return out;
}

static int decode_buf(const void *buf, size_t n, img_decoded *d, scry_err *err) {
    return img_decode(buf, n, &default_limits, d, err);
}

static const uint8_t *px_at(const img_rgb *r, int x, int y) {
    return r->px + ((size_t)y * r->w + x) * 3;
}

static void assert_rgb_near(const uint8_t *p, int r, int g, int b, int tol) {
    if (abs(p[0] - r) > tol || abs(p[1] - g) > tol || abs(p[2] - b) > tol)
        fail_msg("pixel %d,%d,%d not within %d of %d,%d,%d", p[0], p[1], p[2], tol, r, g, b);
}

/* An owned RGB raster filled with one colour. */
static img_rgb raster(int w, int h, int r, int g, int b) {
    img_rgb img = {w, h, malloc((size_t)w * h * 3)};
    for (size_t i = 0; i < (size_t)w * h; i++) {
        img.px[i * 3] = (uint8_t)r;
        img.px[i * 3 + 1] = (uint8_t)g;
        img.px[i * 3 + 2] = (uint8_t)b;
    }
    return img;
}

static void fill_rect(img_rgb *img, int x0, int y0, int x1, int y1, int r, int g, int b) {
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) {
            uint8_t *p = img->px + ((size_t)y * img->w + x) * 3;
            p[0] = (uint8_t)r, p[1] = (uint8_t)g, p[2] = (uint8_t)b;
        }
}

static uint32_t crc32_bytes(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* ------------------------------------------------------------- sniff -- */

static void test_sniff_table(void **state) {
    (void)state;
    static const struct { const char *bytes; size_t n; const char *want; } cases[] = {
        {"\xFF\xD8\xFF\xE0\0\x10JFIF", 10, "jpeg"},
        {"\xFF\xD8\xFF\xE1", 4, "jpeg"},
        {"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, "png"},
        {"GIF87a\x01\0\x01\0", 10, "gif"},
        {"GIF89a\x01\0\x01\0", 10, "gif"},
        {"RIFF\x24\0\0\0WEBPVP8 ", 16, "webp"},
        {"II*\0\x08\0\0\0", 8, "tiff"},
        {"MM\0*\0\0\0\x08", 8, "tiff"},
        {"II+\0\x08\0\0\0", 8, "tiff"},
        {"\0\0\0\x18" "ftypheic\0\0\0\0mif1heic", 24, "heif"},
        {"\0\0\0\x18" "ftypmif1\0\0\0\0mif1heic", 24, "heif"},
        {"\0\0\0\x1c" "ftypavif\0\0\0\0avifmif1miaf", 28, "avif"},
        {"\0\0\0\x1c" "ftypmif1\0\0\0\0mif1avifmiaf", 28, "avif"},
        {"BM\x46\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0", 18, "bmp"},
        {"BM\x46\0\0\0\0\0\0\0\x7a\0\0\0\x6c\0\0\0", 18, "bmp"},
        /* negatives */
        {"", 0, NULL},
        {"\xFF", 1, NULL},
        {"\xFF\xD8", 2, NULL},
        {"hello, world, this is text", 26, NULL},
        {"%PDF-1.4\n%\xE2\xE3", 12, NULL},
        {"PK\x03\x04\x14\0\0\0", 8, NULL},
        {"\0\0\0\x18" "ftypisom\0\0\x02\0isomiso2", 24, NULL},   /* MP4 video */
        {"\0\0\0\x18" "ftypqt  \0\0\x02\0qt  qt  ", 24, NULL},   /* QuickTime */
        {"BMW is a car maker and more text", 32, NULL},
        {"RIFF\x24\0\0\0WAVEfmt ", 16, NULL},
        {"GIF88a\x01\0", 8, NULL},
        {"\x89PNG\r\n", 6, NULL},
        {"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", 40, NULL},
        {"II*", 3, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *got = img_sniff(cases[i].bytes, cases[i].n);
        if (cases[i].want == NULL) {
            if (got) fail_msg("case %zu: sniffed %s, want none", i, got);
        } else {
            if (!got || strcmp(got, cases[i].want) != 0)
                fail_msg("case %zu: sniffed %s, want %s", i, got ? got : "(none)", cases[i].want);
        }
    }
    assert_null(img_sniff(NULL, 10));
    assert_string_equal(img_mime("jpeg"), "image/jpeg");
    assert_string_equal(img_mime("avif"), "image/avif");
    assert_string_equal(img_mime("bmp"), "image/bmp");
    assert_string_equal(img_mime("pdf"), "application/octet-stream");
    assert_string_equal(img_mime(NULL), "application/octet-stream");
}

/* ------------------------------------------------------------ decode -- */

static void test_decode_real_photo(void **state) {
    (void)state;
    size_t n;
    void *buf = tu_read(tu_darknet("dog.jpg"), &n);
    img_decoded d;
    scry_err err = {0};
    assert_int_equal(decode_buf(buf, n, &d, &err), SCRY_OK);
    assert_string_equal(d.format, "jpeg");
    assert_int_equal(d.width, 768);
    assert_int_equal(d.height, 576);
    /* Smaller than the working size: not upscaled. */
    assert_int_equal(d.work.w, 768);
    assert_int_equal(d.work.h, 576);
    /* dog.jpg carries Canon EXIF: Make "Canon", Model "Canon PowerShot S95",
     * DateTimeOriginal 2014:09:19 16:08:30 (`vipsheader -a` shows them). */
    assert_non_null(d.exif_json);
    json_t *j = json_loads(d.exif_json, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "camera")), "Canon PowerShot S95");
    assert_string_equal(json_string_value(json_object_get(j, "date_taken")), "2014-09-19T16:08:30");
    assert_null(json_object_get(j, "gps"));
    json_decref(j);
    assert_int_equal(d.taken_at, 1411142910);   /* date -u -d 2014-09-19T16:08:30 +%s */
    /* The porch floor at the bottom is light, the bike frame red. */
    const uint8_t *floor_px = px_at(&d.work, 500, 540);
    assert_true(floor_px[0] > 120 && floor_px[1] > 120 && floor_px[2] > 120);
    img_decoded_free(&d);
    assert_null(d.work.px);
    free(buf);
}

static void test_decode_shrinks_to_work_size(void **state) {
    (void)state;
    size_t n;
    void *buf = tu_read(tu_darknet("kite.jpg"), &n);   /* 1352 x 900 */
    img_limits lim = {0, 400};
    img_decoded d;
    scry_err err = {0};
    assert_int_equal(img_decode(buf, n, &lim, &d, &err), SCRY_OK);
    assert_int_equal(d.width, 1352);
    assert_int_equal(d.height, 900);
    assert_int_equal(d.work.w, 400);
    assert_in_range(d.work.h, 265, 267);
    img_decoded_free(&d);
    free(buf);
}

/* Stored 300 wide x 200 high, top half red, bottom half blue, with EXIF
 * orientation 6 ("rotate 90 clockwise to display"): the upright picture is
 * 200 x 300 with the red half on the right. */
static void test_orientation_swaps_and_rotates(void **state) {
    (void)state;
    double red[3] = {255, 0, 0}, blue[3] = {0, 0, 255};
    VipsImage *top = solid(300, 100, red, 3, VIPS_FORMAT_UCHAR);
    VipsImage *bottom = solid(300, 100, blue, 3, VIPS_FORMAT_UCHAR);
    VipsImage *both = NULL;
    assert_int_equal(vips_join(top, bottom, &both, VIPS_DIRECTION_VERTICAL, NULL), 0);
    VipsImage *img = NULL;
    assert_int_equal(vips_copy(both, &img, NULL), 0);
    vips_image_set_int(img, VIPS_META_ORIENTATION, 6);
    size_t n;
    void *jpg = encode(img, ".jpg[Q=95]", &n);
    img_decoded d;
    scry_err err = {0};
    assert_int_equal(decode_buf(jpg, n, &d, &err), SCRY_OK);
    assert_int_equal(d.width, 200);
    assert_int_equal(d.height, 300);
    assert_int_equal(d.work.w, 200);
    assert_int_equal(d.work.h, 300);
    assert_rgb_near(px_at(&d.work, 150, 150), 255, 0, 0, 40);
    assert_rgb_near(px_at(&d.work, 50, 150), 0, 0, 255, 40);
    img_decoded_free(&d);
    g_free(jpg);
    g_object_unref(img);
    g_object_unref(both);
    g_object_unref(top);
    g_object_unref(bottom);
}

/* A tiny file that declares a huge image is refused from its header. */
static void test_bomb_refused_before_decoding(void **state) {
    (void)state;
    /* PNG: a real 64x64 PNG whose IHDR is rewritten to 60000 x 60000 (with
     * its CRC fixed, so the header itself is valid). */
    double grey[1] = {128};
    VipsImage *small = solid(64, 64, grey, 1, VIPS_FORMAT_UCHAR);
    size_t n;
    uint8_t *png = encode(small, ".png", &n);
    assert_memory_equal(png + 12, "IHDR", 4);
    put_be32(png + 16, 60000);
    put_be32(png + 20, 60000);
    put_be32(png + 29, crc32_bytes(png + 12, 17));
    img_decoded d;
    scry_err err = {0};
    double t0 = g_get_monotonic_time();
    assert_int_equal(decode_buf(png, n, &d, &err), SCRY_ETOOBIG);
    assert_non_null(strstr(err.msg, "60000x60000"));
    assert_null(d.work.px);
    /* Refused from the header: far quicker than inflating 3.6 G pixels. */
    assert_true(g_get_monotonic_time() - t0 < 2e6);

    /* Same for JPEG: patch dog.jpg's SOF to 65000 x 65000. */
    size_t jn;
    uint8_t *jpg = tu_read(tu_darknet("dog.jpg"), &jn);
    size_t sof = 0;
    for (size_t i = 2; i + 9 < jn; i++)
        if (jpg[i] == 0xFF && (jpg[i + 1] == 0xC0 || jpg[i + 1] == 0xC2)) { sof = i; break; }
    assert_true(sof > 0);
    jpg[sof + 5] = 0xFD, jpg[sof + 6] = 0xE8;  /* height 65000 */
    jpg[sof + 7] = 0xFD, jpg[sof + 8] = 0xE8;  /* width 65000 */
    assert_int_equal(decode_buf(jpg, jn, &d, &err), SCRY_ETOOBIG);

    /* And an honest image over a small configured limit. */
    VipsImage *big = solid(2000, 1500, grey, 1, VIPS_FORMAT_UCHAR);
    size_t bn;
    void *bpng = encode(big, ".png", &bn);
    img_limits lim = {1000000, 0};
    assert_int_equal(img_decode(bpng, bn, &lim, &d, &err), SCRY_ETOOBIG);
    lim.max_pixels = 3000000;
    assert_int_equal(img_decode(bpng, bn, &lim, &d, &err), SCRY_OK);
    assert_int_equal(d.width, 2000);
    img_decoded_free(&d);
    g_free(bpng);
    g_object_unref(big);
    free(jpg);
    g_free(png);
    g_object_unref(small);
}

static void test_truncated_jpeg_is_corrupt(void **state) {
    (void)state;
    size_t n;
    void *buf = tu_read(tu_darknet("dog.jpg"), &n);
    img_decoded d;
    scry_err err = {0};
    assert_int_equal(decode_buf(buf, n / 2, &d, &err), SCRY_ECORRUPT);
    assert_int_equal(err.code, SCRY_ECORRUPT);
    assert_true(strlen(err.msg) > 10);
    assert_non_null(strstr(err.msg, "jpeg"));
    assert_null(d.work.px);
    assert_null(d.exif_json);
    /* The decoder's reason, on one line. */
    assert_null(strchr(err.msg, '\n'));
    free(buf);
}

static void test_garbage_after_magic_is_corrupt(void **state) {
    (void)state;
    uint8_t junk[4096];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        s = s * 1103515245u + 12345u;
        junk[i] = (uint8_t)(s >> 16);
    }
    static const struct { const char *magic; size_t n; } magics[] = {
        {"\xFF\xD8\xFF\xE0", 4}, {"\x89PNG\r\n\x1a\n", 8}, {"GIF89a", 6},
        {"RIFF\0\x10\0\0WEBPVP8 ", 16}, {"II*\0", 4}, {"MM\0*", 4}};
    for (size_t i = 0; i < sizeof magics / sizeof *magics; i++) {
        memcpy(junk, magics[i].magic, magics[i].n);
        img_decoded d;
        scry_err err = {0};
        int rc = decode_buf(junk, sizeof junk, &d, &err);
        if (rc != SCRY_ECORRUPT) fail_msg("magic %zu: rc %d (%s)", i, rc, err.msg);
        assert_true(strlen(err.msg) > 5);
        assert_null(d.work.px);
    }
    img_decoded d;
    scry_err err = {0};
    assert_int_equal(decode_buf("just some text", 14, &d, &err), SCRY_EUNSUPPORTED);
    assert_int_equal(decode_buf("", 0, &d, &err), SCRY_EUNSUPPORTED);
}

/* Left half opaque red, right half fully transparent: flattened onto white. */
static void test_png_alpha_flattened_on_white(void **state) {
    (void)state;
    double red[4] = {255, 0, 0, 255}, clear[4] = {0, 0, 0, 0};
    VipsImage *l = solid(50, 40, red, 4, VIPS_FORMAT_UCHAR);
    VipsImage *r = solid(50, 40, clear, 4, VIPS_FORMAT_UCHAR);
    VipsImage *both = NULL;
    assert_int_equal(vips_join(l, r, &both, VIPS_DIRECTION_HORIZONTAL, NULL), 0);
    size_t n;
    void *png = encode(both, ".png", &n);
    img_decoded d;
    scry_err err = {0};
    assert_int_equal(decode_buf(png, n, &d, &err), SCRY_OK);
    assert_string_equal(d.format, "png");
    assert_int_equal(d.work.w, 100);
    assert_rgb_near(px_at(&d.work, 10, 20), 255, 0, 0, 2);
    assert_rgb_near(px_at(&d.work, 90, 20), 255, 255, 255, 2);
    assert_null(d.exif_json);
    img_decoded_free(&d);
    g_free(png);
    g_object_unref(both);
    g_object_unref(l);
    g_object_unref(r);
}

static void test_grey_and_16bit(void **state) {
    (void)state;
    img_decoded d;
    scry_err err = {0};
    size_t n;
    /* 8-bit grey -> three equal bands. */
    double g[1] = {77};
    VipsImage *grey = solid(30, 20, g, 1, VIPS_FORMAT_UCHAR);
    void *png = encode(grey, ".png", &n);
    assert_int_equal(decode_buf(png, n, &d, &err), SCRY_OK);
    assert_rgb_near(px_at(&d.work, 5, 5), 77, 77, 77, 1);
    img_decoded_free(&d);
    g_free(png);
    /* 16-bit RGB, half-intensity green -> 8-bit ~128. */
    double c16[3] = {0, 32896, 65535};
    VipsImage *rgb16 = solid(30, 20, c16, 3, VIPS_FORMAT_USHORT);
    VipsImage *tagged = NULL;
    assert_int_equal(vips_copy(rgb16, &tagged, "interpretation", VIPS_INTERPRETATION_RGB16, NULL), 0);
    png = encode(tagged, ".png", &n);
    assert_int_equal(decode_buf(png, n, &d, &err), SCRY_OK);
    assert_rgb_near(px_at(&d.work, 5, 5), 0, 128, 255, 2);
    img_decoded_free(&d);
    g_free(png);
    /* 16-bit grey with alpha, half transparent black over white -> ~128. */
    double ga16[2] = {0, 32768};
    VipsImage *grey16 = solid(30, 20, ga16, 2, VIPS_FORMAT_USHORT);
    VipsImage *tagged2 = NULL;
    assert_int_equal(vips_copy(grey16, &tagged2, "interpretation", VIPS_INTERPRETATION_GREY16, NULL), 0);
    png = encode(tagged2, ".png", &n);
    assert_int_equal(decode_buf(png, n, &d, &err), SCRY_OK);
    assert_rgb_near(px_at(&d.work, 5, 5), 127, 127, 127, 3);
    img_decoded_free(&d);
    g_free(png);
    g_object_unref(tagged2);
    g_object_unref(grey16);
    g_object_unref(tagged);
    g_object_unref(rgb16);
    g_object_unref(grey);
}

/* dog.jpg, reduced to 192 x 144 (HEIF encoders are slow) and re-encoded as
 * each other format, decodes to the same picture. */
static void test_other_formats(void **state) {
    (void)state;
    size_t n;
    void *jpg = tu_read(tu_darknet("dog.jpg"), &n);
    VipsImage *full = vips_image_new_from_buffer(jpg, n, "", NULL), *src = NULL;
    assert_non_null(full);
    assert_int_equal(vips_resize(full, &src, 0.25, NULL), 0);
    size_t pn;
    void *png = encode(src, ".png", &pn);
    img_decoded ref;
    scry_err err = {0};
    assert_int_equal(decode_buf(png, pn, &ref, &err), SCRY_OK);
    uint64_t ref_hash = img_phash(&ref.work);
    static const struct { const char *suffix, *format; int optional; } fmts[] = {
        {".webp[Q=90]", "webp", 0}, {".gif", "gif", 0}, {".tif", "tiff", 0},
        {".tif[compression=lzw]", "tiff", 0}, {".jpg[Q=90]", "jpeg", 0},
        {".avif[Q=70,effort=0]", "avif", 1}, {".heic[Q=70]", "heif", 1},
    };
    for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++) {
        void *buf = NULL;
        size_t len = 0;
        if (vips_image_write_to_buffer(src, fmts[i].suffix, &buf, &len, NULL)) {
            /* HEIF/AVIF need a libheif encoder plugin; decode is what we test. */
            if (fmts[i].optional) {
                fprintf(stderr, "skipping %s: no encoder (%s)\n", fmts[i].suffix,
                        vips_error_buffer());
                vips_error_clear();
                continue;
            }
            fail_msg("encode %s: %s", fmts[i].suffix, vips_error_buffer());
        }
        assert_string_equal(img_sniff(buf, len), fmts[i].format);
        img_decoded d;
        int rc = decode_buf(buf, len, &d, &err);
        if (rc != SCRY_OK) fail_msg("%s: %s", fmts[i].suffix, err.msg);
        assert_string_equal(d.format, fmts[i].format);
        assert_int_equal(d.width, 192);
        assert_int_equal(d.height, 144);
        assert_int_equal(d.work.w, 192);
        /* GIF's 256-colour palette dithers; the rest are near-identical. */
        int dist = img_phash_distance(ref_hash, img_phash(&d.work));
        if (dist > 8) fail_msg("%s: phash distance %d", fmts[i].suffix, dist);
        img_decoded_free(&d);
        g_free(buf);
    }
    g_object_unref(src);
    g_object_unref(full);
    img_decoded_free(&ref);
    g_free(png);
    free(jpg);
}

/* BMP (through ImageMagick): a hand-written 24-bit 4x2 file, bottom-up rows
 * of BGR padded to 4 bytes. Top row red, bottom row blue. */
static void test_bmp(void **state) {
    (void)state;
    uint8_t bmp[54 + 2 * 12] = {0};
    memcpy(bmp, "BM", 2);
    bmp[2] = sizeof bmp;
    bmp[10] = 54;
    bmp[14] = 40;
    bmp[18] = 4;    /* width */
    bmp[22] = 2;    /* height, positive = bottom-up */
    bmp[26] = 1;    /* planes */
    bmp[28] = 24;   /* bits */
    bmp[34] = 24;   /* image size */
    for (int x = 0; x < 4; x++) {
        uint8_t *bottom = bmp + 54 + x * 3, *top = bmp + 54 + 12 + x * 3;
        bottom[0] = 255;            /* blue (BGR) */
        top[2] = 255;               /* red */
    }
    assert_string_equal(img_sniff(bmp, sizeof bmp), "bmp");
    img_decoded d;
    scry_err err = {0};
    int rc = decode_buf(bmp, sizeof bmp, &d, &err);
    if (rc != SCRY_OK) fail_msg("bmp: %s", err.msg);
    assert_string_equal(d.format, "bmp");
    assert_int_equal(d.width, 4);
    assert_int_equal(d.height, 2);
    assert_rgb_near(px_at(&d.work, 1, 0), 255, 0, 0, 2);
    assert_rgb_near(px_at(&d.work, 1, 1), 0, 0, 255, 2);
    img_decoded_free(&d);
}

/* ------------------------------------------------------------- EXIF -- */

static ExifEntry *exif_add(ExifData *ed, ExifMem *mem, ExifIfd ifd, ExifTag tag, ExifFormat f,
                           unsigned comps) {
    ExifEntry *e = exif_entry_new_mem(mem);
    e->tag = tag;
    e->format = f;
    e->components = comps;
    e->size = exif_format_get_size(f) * comps;
    e->data = exif_mem_alloc(mem, e->size);
    exif_content_add_entry(ed->ifd[ifd], e);
    exif_entry_unref(e);
    return e;
}

static void exif_ascii(ExifData *ed, ExifMem *mem, ExifIfd ifd, ExifTag tag, const char *s) {
    ExifEntry *e = exif_add(ed, mem, ifd, tag, EXIF_FORMAT_ASCII, (unsigned)strlen(s) + 1);
    memcpy(e->data, s, strlen(s) + 1);
}

static void exif_dms(ExifData *ed, ExifMem *mem, ExifTag tag, unsigned d, unsigned m,
                     unsigned s100) {
    ExifEntry *e = exif_add(ed, mem, EXIF_IFD_GPS, tag, EXIF_FORMAT_RATIONAL, 3);
    ExifByteOrder bo = exif_data_get_byte_order(ed);
    exif_set_rational(e->data, bo, (ExifRational){d, 1});
    exif_set_rational(e->data + 8, bo, (ExifRational){m, 1});
    exif_set_rational(e->data + 16, bo, (ExifRational){s100, 100});
}

/* A JPEG of a grey 64x48 image carrying the given EXIF (built with libexif). */
static void *jpeg_with_exif(ExifData *ed, size_t *n) {
    unsigned char *blob = NULL;
    unsigned int blen = 0;
    exif_data_save_data(ed, &blob, &blen);
    assert_non_null(blob);
    double g[3] = {128, 128, 128};
    VipsImage *img = solid(64, 48, g, 3, VIPS_FORMAT_UCHAR);
    vips_image_set_blob_copy(img, VIPS_META_EXIF_NAME, blob, blen);
    free(blob);
    void *jpg = encode(img, ".jpg", n);
    g_object_unref(img);
    return jpg;
}

static void test_exif_roundtrip(void **state) {
    (void)state;
    ExifMem *mem = exif_mem_new_default();
    ExifData *ed = exif_data_new_mem(mem);
    exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_set_byte_order(ed, EXIF_BYTE_ORDER_MOTOROLA);
    exif_ascii(ed, mem, EXIF_IFD_0, EXIF_TAG_MAKE, "Canon");
    exif_ascii(ed, mem, EXIF_IFD_0, EXIF_TAG_MODEL, "Canon EOS 5D");
    exif_ascii(ed, mem, EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_ORIGINAL, "2019:07:01 12:00:00");
    /* Sydney Opera House: 33 deg 51' 25.20" S, 151 deg 12' 54.36" E. */
    exif_ascii(ed, mem, EXIF_IFD_GPS, EXIF_TAG_GPS_LATITUDE_REF, "S");
    exif_dms(ed, mem, EXIF_TAG_GPS_LATITUDE, 33, 51, 2520);
    exif_ascii(ed, mem, EXIF_IFD_GPS, EXIF_TAG_GPS_LONGITUDE_REF, "E");
    exif_dms(ed, mem, EXIF_TAG_GPS_LONGITUDE, 151, 12, 5436);
    size_t n;
    void *jpg = jpeg_with_exif(ed, &n);
    exif_data_unref(ed);

    img_decoded d;
    scry_err err = {0};
    assert_int_equal(decode_buf(jpg, n, &d, &err), SCRY_OK);
    assert_non_null(d.exif_json);
    json_t *j = json_loads(d.exif_json, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "date_taken")), "2019-07-01T12:00:00");
    assert_string_equal(json_string_value(json_object_get(j, "camera")), "Canon EOS 5D");
    json_t *gps = json_object_get(j, "gps");
    assert_non_null(gps);
    double lat = json_real_value(json_object_get(gps, "lat"));
    double lon = json_real_value(json_object_get(gps, "lon"));
    assert_true(lat < -33.8569 && lat > -33.8571);   /* -(33 + 51/60 + 25.2/3600) = -33.857 */
    assert_true(lon > 151.2150 && lon < 151.2152);   /* 151 + 12/60 + 54.36/3600 = 151.2151 */
    json_decref(j);
    assert_int_equal(d.taken_at, 1561982400);         /* 2019-07-01T12:00:00Z */
    img_decoded_free(&d);
    g_free(jpg);

    /* Only a make and a model that does not repeat it; no date must be
     * invented (libexif's "fix the data" mode would add DateTime = now). */
    ed = exif_data_new_mem(mem);
    exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_set_byte_order(ed, EXIF_BYTE_ORDER_INTEL);
    exif_ascii(ed, mem, EXIF_IFD_0, EXIF_TAG_MAKE, "Apple  ");
    exif_ascii(ed, mem, EXIF_IFD_0, EXIF_TAG_MODEL, "iPhone 12");
    jpg = jpeg_with_exif(ed, &n);
    exif_data_unref(ed);
    assert_int_equal(decode_buf(jpg, n, &d, &err), SCRY_OK);
    assert_non_null(d.exif_json);
    assert_string_equal(d.exif_json, "{\"camera\":\"Apple iPhone 12\"}");
    assert_int_equal(d.taken_at, 0);
    img_decoded_free(&d);
    g_free(jpg);
    exif_mem_unref(mem);
}

/* -------------------------------------------------------- thumbnail -- */

static void test_thumbnail_is_a_small_jpeg(void **state) {
    (void)state;
    size_t n;
    void *buf = tu_read(tu_darknet("dog.jpg"), &n);
    img_decoded d;
    scry_err err = {0};
    assert_int_equal(decode_buf(buf, n, &d, &err), SCRY_OK);
    void *jpg = NULL;
    size_t len = 0;
    assert_int_equal(img_thumbnail_jpeg(&d.work, 256, &jpg, &len, &err), SCRY_OK);
    assert_non_null(jpg);
    assert_true(len > 2000 && len < 40000);
    assert_string_equal(img_sniff(jpg, len), "jpeg");
    img_decoded t;
    assert_int_equal(decode_buf(jpg, len, &t, &err), SCRY_OK);
    assert_int_equal(t.width, 256);
    assert_int_equal(t.height, 192);
    assert_null(t.exif_json);               /* metadata stripped */
    assert_true(img_phash_distance(img_phash(&d.work), img_phash(&t.work)) <= 6);
    img_decoded_free(&t);
    free(jpg);
    /* Never upscaled; bad arguments refused. */
    assert_int_equal(img_thumbnail_jpeg(&d.work, 4000, &jpg, &len, &err), SCRY_OK);
    assert_int_equal(decode_buf(jpg, len, &t, &err), SCRY_OK);
    assert_int_equal(t.width, 768);
    img_decoded_free(&t);
    free(jpg);
    assert_int_equal(img_thumbnail_jpeg(&d.work, 0, &jpg, &len, &err), SCRY_EINVAL);
    img_decoded_free(&d);
    free(buf);
}

/* ---------------------------------------------------------- colours -- */

typedef struct { char name[16]; double fraction; } named;

/* Parse img_colors_json, checking the contract on the way. */
static int parse_colors(char *json, named *out, int max) {
    json_t *arr = json_loads(json, 0, NULL);
    assert_non_null(arr);
    assert_true(json_is_array(arr));
    int k = (int)json_array_size(arr);
    assert_true(k <= max);
    double sum = 0, prev = 2;
    for (int i = 0; i < k; i++) {
        json_t *c = json_array_get(arr, i);
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *hex = json_string_value(json_object_get(c, "hex"));
        double f = json_real_value(json_object_get(c, "fraction"));
        assert_true(scry_color_index(name) >= 0);
        assert_int_equal(strlen(hex), 7);
        assert_true(f >= 0.05 && f <= prev);
        prev = f;
        sum += f;
        snprintf(out[i].name, sizeof out[i].name, "%s", name);
        out[i].fraction = f;
    }
    assert_true(sum <= 1.0 + 1e-9);
    json_decref(arr);
    free(json);
    return k;
}

static void test_colors_synthetic(void **state) {
    (void)state;
    named c[11];
    img_rgb red = raster(200, 100, 255, 0, 0);
    assert_int_equal(parse_colors(img_colors_json(&red, 5), c, 5), 1);
    assert_string_equal(c[0].name, "red");
    assert_true(c[0].fraction >= 0.99);
    assert_int_equal(img_region_color(&red, 10, 10, 50, 50), scry_color_index("red"));
    free(red.px);

    img_rgb half = raster(200, 100, 255, 255, 255);
    fill_rect(&half, 0, 0, 100, 100, 20, 60, 200);
    int k = parse_colors(img_colors_json(&half, 5), c, 5);
    assert_int_equal(k, 2);
    int blue = strcmp(c[0].name, "blue") == 0 ? 0 : 1;
    assert_string_equal(c[blue].name, "blue");
    assert_string_equal(c[1 - blue].name, "white");
    assert_true(c[0].fraction > 0.47 && c[1].fraction > 0.47);
    free(half.px);

    /* A red square in a green field: the square's box reads red even with
     * some field around it; the whole picture is mostly green. */
    img_rgb field = raster(300, 300, 40, 150, 40);
    fill_rect(&field, 100, 100, 200, 200, 220, 30, 30);
    assert_int_equal(img_region_color(&field, 100, 100, 100, 100), scry_color_index("red"));
    assert_int_equal(img_region_color(&field, 80, 80, 140, 140), scry_color_index("red"));
    assert_int_equal(img_region_color(&field, 0, 0, 90, 300), scry_color_index("green"));
    k = parse_colors(img_colors_json(&field, 5), c, 5);
    assert_int_equal(k, 2);
    assert_string_equal(c[0].name, "green");
    assert_string_equal(c[1].name, "red");
    assert_int_equal(parse_colors(img_colors_json(&field, 1), c, 1), 1);
    /* Boxes outside the picture, or empty. */
    assert_int_equal(img_region_color(&field, 400, 400, 10, 10), -1);
    assert_int_equal(img_region_color(&field, 10, 10, 0, 10), -1);
    assert_int_equal(img_region_color(&field, -50, -50, 100, 100), scry_color_index("green"));
    free(field.px);

    /* Basic colour terms for well-known colours. */
    static const struct { int r, g, b; const char *name; } table[] = {
        {0, 0, 0, "black"},        {20, 22, 25, "black"},      {255, 255, 255, "white"},
        {245, 245, 240, "white"},  {128, 128, 128, "gray"},    {190, 190, 195, "gray"},
        {255, 0, 0, "red"},        {128, 0, 0, "red"},         {220, 20, 60, "red"},
        {255, 165, 0, "orange"},   {255, 140, 0, "orange"},    {255, 255, 0, "yellow"},
        {255, 215, 0, "yellow"},   {0, 128, 0, "green"},       {0, 255, 0, "green"},
        {0, 100, 0, "green"},      {0, 0, 255, "blue"},        {0, 0, 128, "blue"},
        {135, 206, 235, "blue"},   {65, 105, 225, "blue"},     {128, 0, 128, "purple"},
        {138, 43, 226, "purple"},  {75, 0, 130, "purple"},     {255, 192, 203, "pink"},
        {255, 105, 180, "pink"},   {139, 69, 19, "brown"},     {160, 82, 45, "brown"},
        {210, 180, 140, "brown"},  {120, 70, 35, "brown"},
    };
    for (size_t i = 0; i < sizeof table / sizeof *table; i++) {
        img_rgb sw = raster(16, 16, table[i].r, table[i].g, table[i].b);
        int got = img_region_color(&sw, 0, 0, 16, 16);
        if (got != scry_color_index(table[i].name))
            fail_msg("rgb(%d,%d,%d) named %s, want %s", table[i].r, table[i].g, table[i].b,
                     got >= 0 ? scry_color_names[got] : "-", table[i].name);
        free(sw.px);
    }
}

static void test_colors_real_photos(void **state) {
    (void)state;
    size_t n;
    img_decoded d;
    scry_err err = {0};
    named c[11];
    void *buf = tu_read(tu_darknet("dog.jpg"), &n);
    assert_int_equal(decode_buf(buf, n, &d, &err), SCRY_OK);
    /* The pick-up truck behind the bike is white. */
    assert_int_equal(img_region_color(&d.work, 466, 76, 213, 98), scry_color_index("white"));
    /* The dog is dark (black and tan). */
    assert_int_equal(img_region_color(&d.work, 130, 220, 180, 320), scry_color_index("black"));
    /* Whole picture: the yellow wall and the green trees are both there. */
    int k = parse_colors(img_colors_json(&d.work, 6), c, 6);
    int has_yellow = 0, has_green = 0;
    for (int i = 0; i < k; i++) {
        has_yellow |= strcmp(c[i].name, "yellow") == 0;
        has_green |= strcmp(c[i].name, "green") == 0;
    }
    assert_true(has_yellow && has_green);
    img_decoded_free(&d);
    free(buf);

    buf = tu_read(tu_darknet("giraffe.jpg"), &n);
    assert_int_equal(decode_buf(buf, n, &d, &err), SCRY_OK);
    /* Giraffe body (x 165..450, y 30..440): brown/orange; background green. */
    int g = img_region_color(&d.work, 165, 30, 285, 410);
    assert_true(g == scry_color_index("brown") || g == scry_color_index("orange"));
    assert_int_equal(img_region_color(&d.work, 0, 0, 150, 300), scry_color_index("green"));
    parse_colors(img_colors_json(&d.work, 3), c, 3);
    assert_string_equal(c[0].name, "green");
    img_decoded_free(&d);
    free(buf);
}

/* A thin red frame (a bicycle's) inside its box over a yellow wall that
 * runs on past the box: the box is mostly wall, but the wall is all around
 * it too, so with the surround discounted the frame's colour wins. */
static void test_object_color_surround(void **state) {
    (void)state;
    img_rgb img = raster(400, 300, 230, 200, 40);           /* yellow wall */
    fill_rect(&img, 0, 250, 400, 300, 150, 150, 150);        /* grey floor */
    for (int k = 0; k < 3; k++)                              /* frame: three red bars */
        fill_rect(&img, 120 + k * 60, 100 + k * 20, 130 + k * 60, 220, 200, 20, 30);
    fill_rect(&img, 120, 150, 260, 160, 200, 20, 30);
    int yellow = scry_color_index("yellow"), red = scry_color_index("red");
    assert_int_equal(img_region_color(&img, 100, 90, 180, 140), yellow);
    img_color_opts o = {1.0f, 1, 0};
    assert_int_equal(img_object_color(&img, 100, 90, 180, 140, &o), red);
    /* a box of plain wall stays yellow */
    assert_int_equal(img_object_color(&img, 300, 20, 60, 60, &o), yellow);
    /* NULL options are img_region_color */
    assert_int_equal(img_object_color(&img, 100, 90, 180, 140, NULL), yellow);
    /* a white shirt in dim light reads gray, white with the gain */
    img_rgb dim = raster(200, 200, 60, 60, 60);
    fill_rect(&dim, 50, 50, 150, 150, 175, 175, 178);
    float gain = img_white_gain(&dim);
    assert_true(gain > 1.2f && gain <= 1.6f);
    assert_int_equal(img_region_color(&dim, 60, 60, 80, 80), scry_color_index("gray"));
    img_color_opts g = {gain, 0, 0};
    assert_int_equal(img_object_color(&dim, 60, 60, 80, 80, &g), scry_color_index("white"));
    free(dim.px);
    free(img.px);
}

/* Photo attributes from the statistics, on synthetic photos. */
static void test_photo_attributes(void **state) {
    (void)state;
    img_stats st;
    /* black and white: grey levels only, with detail */
    img_rgb bw = raster(300, 200, 0, 0, 0);
    for (int y = 0; y < 200; y++)
        for (int x = 0; x < 300; x++) memset(bw.px + ((size_t)y * 300 + x) * 3, (x * 7 + y * 13) % 256, 3);
    img_stats_compute(&bw, &st);
    assert_true(img_photo_attributes(&st) & IMG_ATTR_BW);
    assert_false(img_photo_attributes(&st) & IMG_ATTR_BLURRY);
    /* a colour photo is not black and white */
    img_rgb col = raster(300, 200, 40, 150, 40);
    fill_rect(&col, 0, 0, 150, 200, 220, 30, 30);
    img_stats_compute(&col, &st);
    assert_false(img_photo_attributes(&st) & IMG_ATTR_BW);
    /* dark: mostly shadow */
    img_rgb dark = raster(300, 200, 12, 14, 20);
    fill_rect(&dark, 140, 90, 160, 110, 250, 240, 200);      /* a street lamp */
    img_stats_compute(&dark, &st);
    assert_true(img_photo_attributes(&st) & IMG_ATTR_DARK);
    /* overexposed: a large blown-out area */
    img_rgb blown = raster(300, 200, 255, 255, 255);
    fill_rect(&blown, 0, 150, 300, 200, 90, 120, 60);
    img_stats_compute(&blown, &st);
    assert_true(img_photo_attributes(&st) & IMG_ATTR_OVEREXPOSED);
    assert_false(img_photo_attributes(&st) & IMG_ATTR_DARK);
    /* blurry: a smooth gradient has no fine detail; a checkerboard has */
    img_rgb soft = raster(256, 256, 0, 0, 0);
    for (int y = 0; y < 256; y++)
        for (int x = 0; x < 256; x++) {
            uint8_t *p = soft.px + ((size_t)y * 256 + x) * 3;
            p[0] = (uint8_t)(80 + x / 4), p[1] = (uint8_t)(60 + y / 4), p[2] = 90;
        }
    img_stats_compute(&soft, &st);
    assert_true(img_photo_attributes(&st) & IMG_ATTR_BLURRY);
    img_rgb sharp = raster(256, 256, 0, 0, 0);
    for (int y = 0; y < 256; y++)
        for (int x = 0; x < 256; x++) {
            uint8_t *p = sharp.px + ((size_t)y * 256 + x) * 3;
            p[0] = ((x / 4 + y / 4) & 1) ? 220 : 30, p[1] = 100, p[2] = 60;
        }
    img_stats_compute(&sharp, &st);
    assert_false(img_photo_attributes(&st) & IMG_ATTR_BLURRY);
    /* names and their indices agree */
    for (int i = 0; i < IMG_ATTR_COUNT; i++) assert_int_equal(img_attr_index(img_attr_names[i]), i);
    assert_int_equal(img_attr_index("sepia"), -1);
    free(bw.px);
    free(col.px);
    free(dark.px);
    free(blown.px);
    free(soft.px);
    free(sharp.px);
}

/* ------------------------------------------------------------ pHash -- */

static void test_phash_near_duplicates_and_distinct_photos(void **state) {
    (void)state;
    static const char *const photos[] = {"dog.jpg", "eagle.jpg", "giraffe.jpg", "horses.jpg",
                                         "kite.jpg", "person.jpg", "scream.jpg"};
    enum { P = sizeof photos / sizeof *photos };
    uint64_t h[P];
    scry_err err = {0};
    for (int i = 0; i < P; i++) {
        size_t n;
        void *buf = tu_read(tu_darknet(photos[i]), &n);
        img_decoded d;
        assert_int_equal(decode_buf(buf, n, &d, &err), SCRY_OK);
        h[i] = img_phash(&d.work);
        /* A 300-px JPEG thumbnail of it is a near-duplicate. */
        void *jpg;
        size_t jn;
        assert_int_equal(img_thumbnail_jpeg(&d.work, 300, &jpg, &jn, &err), SCRY_OK);
        img_decoded dup;
        assert_int_equal(decode_buf(jpg, jn, &dup, &err), SCRY_OK);
        assert_int_equal(dup.work.w > dup.work.h ? dup.work.w : dup.work.h, 300);
        int dist = img_phash_distance(h[i], img_phash(&dup.work));
        if (dist > 10) fail_msg("%s: near-duplicate at distance %d", photos[i], dist);
        img_decoded_free(&dup);
        free(jpg);
        img_decoded_free(&d);
        free(buf);
    }
    for (int i = 0; i < P; i++)
        for (int j = i + 1; j < P; j++) {
            int dist = img_phash_distance(h[i], h[j]);
            if (dist <= 20) fail_msg("%s vs %s: distance %d", photos[i], photos[j], dist);
        }
    assert_int_equal(img_phash_distance(0, ~0ULL), 64);
    assert_int_equal(img_phash_distance(h[0], h[0]), 0);
}

/* ---------------------------------------------- threads and leaks -- */

typedef struct { const void *buf; size_t n; uint64_t hash; int rc; } job;

static void *decode_thread(void *arg) {
    job *jb = arg;
    for (int i = 0; i < 2; i++) {
        img_decoded d;
        scry_err err = {0};
        jb->rc = decode_buf(jb->buf, jb->n, &d, &err);
        if (jb->rc != SCRY_OK) break;
        jb->hash = img_phash(&d.work);
        img_decoded_free(&d);
    }
    img_thread_done();
    return NULL;
}

static void *count_object(void *obj, void *a, void *b) {
    (void)obj; (void)b;
    (*(int *)a)++;
    return NULL;
}

static int live_vips_objects(void) {
    int n = 0;
    vips_object_map(count_object, &n, NULL);
    return n;
}

/* One round of work like a pair of job workers does: two threads decoding
 * different photos, plus a failure and a thumbnail on this thread. */
static void work_round(void *b1, size_t n1, void *b2, size_t n2, uint64_t want1) {
    job jobs[2] = {{b1, n1, 0, -1}, {b2, n2, 0, -1}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, decode_thread, &jobs[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    assert_int_equal(jobs[0].rc, SCRY_OK);
    assert_int_equal(jobs[1].rc, SCRY_OK);
    assert_true(jobs[0].hash == want1);
    img_decoded d;
    scry_err err = {0};
    assert_int_equal(decode_buf(b1, n1 / 2, &d, &err), SCRY_ECORRUPT);
    void *jpg;
    size_t len;
    assert_int_equal(decode_buf(b2, n2, &d, &err), SCRY_OK);
    assert_int_equal(img_thumbnail_jpeg(&d.work, 128, &jpg, &len, &err), SCRY_OK);
    free(jpg);
    img_decoded_free(&d);
}

/* Concurrent decodes agree with a single-threaded one, and the steady state
 * does not grow: after every round no vips object (image, operation, region)
 * is alive and no file is open, and vips' tracked pixel memory stays within
 * the buffer cache of its pooled worker threads (which an idle worker may or
 * may not have released yet: ~0.9 MB here) instead of growing per image. */
static void test_threads_and_no_leaks(void **state) {
    (void)state;
    size_t n1, n2;
    void *b1 = tu_read(tu_darknet("dog.jpg"), &n1);
    void *b2 = tu_read(tu_darknet("giraffe.jpg"), &n2);
    img_decoded d;
    scry_err err = {0};
    assert_int_equal(decode_buf(b1, n1, &d, &err), SCRY_OK);
    uint64_t want1 = img_phash(&d.work);
    img_decoded_free(&d);
    for (int r = 0; r < 3; r++) {
        work_round(b1, n1, b2, n2, want1);
        assert_int_equal(live_vips_objects(), 0);
        assert_int_equal(vips_tracked_get_files(), 0);
        assert_true(vips_tracked_get_mem() < 2u << 20);
        assert_true(vips_tracked_get_allocs() < 32);
    }
    free(b1);
    free(b2);
}

static int group_setup(void **state) {
    (void)state;
    scry_err err = {0};
    vips_leak_set(TRUE);        /* vips_shutdown reports anything left over */
    if (img_global_init("test_image", &err) != SCRY_OK) {
        fprintf(stderr, "img_global_init: %s\n", err.msg);
        return -1;
    }
    return img_global_init("test_image", &err);    /* idempotent */
}

static int group_teardown(void **state) {
    (void)state;
    img_global_shutdown();
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sniff_table),
        cmocka_unit_test(test_decode_real_photo),
        cmocka_unit_test(test_decode_shrinks_to_work_size),
        cmocka_unit_test(test_orientation_swaps_and_rotates),
        cmocka_unit_test(test_bomb_refused_before_decoding),
        cmocka_unit_test(test_truncated_jpeg_is_corrupt),
        cmocka_unit_test(test_garbage_after_magic_is_corrupt),
        cmocka_unit_test(test_png_alpha_flattened_on_white),
        cmocka_unit_test(test_grey_and_16bit),
        cmocka_unit_test(test_other_formats),
        cmocka_unit_test(test_bmp),
        cmocka_unit_test(test_exif_roundtrip),
        cmocka_unit_test(test_thumbnail_is_a_small_jpeg),
        cmocka_unit_test(test_colors_synthetic),
        cmocka_unit_test(test_colors_real_photos),
        cmocka_unit_test(test_object_color_surround),
        cmocka_unit_test(test_photo_attributes),
        cmocka_unit_test(test_phash_near_duplicates_and_distinct_photos),
        cmocka_unit_test(test_threads_and_no_leaks),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
