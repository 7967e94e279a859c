/* image.c -- decoding and the cheap per-image facts, on libvips.
 *
 * Decoding (img_decode) is three steps over the same input buffer:
 *
 *   1. Sniff the magic bytes and refuse anything that is not one of the
 *      formats we accept. libvips would happily pick a loader for SVG, PDF,
 *      CSV, matrix files and more; we never let bytes reach a loader we did
 *      not choose, and we check afterwards that the loader libvips picked is
 *      the one the magic bytes promised.
 *   2. Open the header only (vips_image_new_from_buffer is lazy: no pixel is
 *      decoded until something asks for one). Width x height is compared with
 *      max_pixels here, so a 20000x20000 PNG of a few KB -- a decompression
 *      bomb -- costs a few microseconds and no memory. EXIF is parsed here
 *      too, from the raw blob, with libexif's typed entries (rationals for GPS)
 *      rather than by re-parsing vips' human-readable "exif-ifd0-Make"
 *      strings, whose value part cannot be delimited reliably.
 *   3. Build the working copy with vips_thumbnail_buffer: it shrinks on load
 *      (libjpeg decodes at 1/2, 1/4, 1/8 scale directly; WebP and HEIF too),
 *      which is the single biggest saving for camera photos, applies the EXIF
 *      orientation and never upscales. The result is flattened onto white,
 *      converted to sRGB (grey, 16-bit, CMYK, Lab...) and cast to 3 x uchar.
 *
 * Truncation: libjpeg only *warns* on a truncated file and pads it with grey,
 * and libvips by default accepts that. Every load here runs with
 * fail_on=error so a truncated or damaged file is an error (SCRY_ECORRUPT,
 * with the decoder's message) instead of a silently half-grey image.
 *
 * Threads: the pipeline runs with vips concurrency 1 -- the job workers
 * parallelise across images, which scales better than threading inside one
 * small image -- and with the operation cache off, because an indexer sees
 * each image once and cached results would only hold memory. libvips' error
 * buffer is process-global; we take a copy and clear it right after a
 * failure (vips_error_buffer_copy does both under its lock), so a message may
 * at worst carry a line from another thread's simultaneous failure.
 *
 * The facts computed from the working copy (colours, pHash) are plain C over
 * the RGB buffer: they are small loops, and keeping them out of vips keeps
 * them deterministic and easy to test.
 *
 * Colour naming: pixels are classified in OkLCh (Oklab in polar form; its
 * hue is uniform where CIELAB bends blue towards purple), with a 32^3 lookup
 * table over quantised RGB built once. Low chroma maps to black/white/gray by
 * lightness; hue bins give red/orange/yellow/green/blue/purple; lightness
 * and chroma split pink (light red/magenta) and brown (dark or dull
 * orange/red/yellow) off their hue neighbours. Pixels are subsampled on a
 * grid of at most ~64k points. */
#include "vision/image.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libexif/exif-data.h>
#include <vips/vips.h>

#include "core/labels.h"
#include "core/log.h"
#include "vision/warp.h"

#define DEFAULT_MAX_PIXELS 100000000LL
#define DEFAULT_WORK_SIZE 1280

/* ---------------------------------------------------------------- init -- */

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static int vips_started, vips_stopped;

/* The last libvips warning seen on this thread. Some loaders (libpng's
 * header reader) fail with only a warning and an empty error buffer; the
 * warning is then the best reason we have. */
static __thread char last_warning[200];

/* vips warnings (e.g. a corrupt-but-recoverable chunk) go to our log rather
 * than raw to stderr. */
static void vips_log_handler(const gchar *domain, GLogLevelFlags level, const gchar *msg,
                             gpointer user) {
    (void)user;
    if (level & G_LOG_LEVEL_WARNING) snprintf(last_warning, sizeof last_warning, "%s", msg);
    if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL))
        log_error("vips.error", "domain=%s msg=\"%s\"", domain ? domain : "-", msg);
    else if (level & G_LOG_LEVEL_WARNING)
        log_warn("vips.warning", "domain=%s msg=\"%s\"", domain ? domain : "-", msg);
    else
        log_debug("vips.message", "domain=%s msg=\"%s\"", domain ? domain : "-", msg);
}

int img_global_init(const char *argv0, scry_err *err) {
    int rc = SCRY_OK;
    pthread_mutex_lock(&init_lock);
    if (vips_stopped) {
        /* libvips cannot be restarted after vips_shutdown(). */
        rc = scry_fail(err, SCRY_EINVAL, "libvips was already shut down in this process");
    } else if (!vips_started) {
        if (VIPS_INIT(argv0 ? argv0 : "scry")) {
            char *m = vips_error_buffer_copy();
            rc = scry_fail(err, SCRY_EIO, "libvips init: %s", m);
            g_free(m);
        } else {
            vips_concurrency_set(1);
            vips_cache_set_max(0);
            vips_cache_set_max_mem(0);
            vips_cache_set_max_files(0);
            g_log_set_handler("VIPS", G_LOG_LEVEL_MASK, vips_log_handler, NULL);
            vips_started = 1;
            log_debug("image.init", "vips=%s", vips_version_string());
        }
    }
    pthread_mutex_unlock(&init_lock);
    return rc;
}

void img_global_shutdown(void) {
    pthread_mutex_lock(&init_lock);
    if (vips_started && !vips_stopped) {
        vips_shutdown();
        vips_stopped = 1;
    }
    pthread_mutex_unlock(&init_lock);
}

void img_thread_done(void) {
    if (vips_started && !vips_stopped) vips_thread_shutdown();
}

/* Take (and clear) libvips' error buffer as one line into err. */
static int vips_fail(scry_err *err, int code, const char *what) {
    char *m = vips_error_buffer_copy();
    if (m) {
        size_t n = strlen(m);
        for (size_t i = 0; i < n; i++)
            if (m[i] == '\n') m[i] = (i + 1 == n) ? '\0' : ' ';
    }
    const char *why = m && *m ? m : last_warning[0] ? last_warning : "invalid data";
    int rc = scry_fail(err, code, "%s: %s", what, why);
    g_free(m);
    return rc;
}

/* --------------------------------------------------------------- sniff -- */

static int brand_is(const uint8_t *b, const char *s) { return memcmp(b, s, 4) == 0; }

/* ISO-BMFF "ftyp" box: major brand at 8, compatible brands from 16 to the
 * end of the box. AVIF is HEIF with AV1 inside; both go to libheif. */
static const char *sniff_ftyp(const uint8_t *p, size_t n) {
    if (n < 12 || memcmp(p + 4, "ftyp", 4) != 0) return NULL;
    uint32_t box = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    if (box < 16 || box > 4096) return NULL;
    static const char *const heif_brands[] = {"heic", "heix", "hevc", "hevx", "heim",
                                              "heis", "mif1", "msf1"};
    const uint8_t *major = p + 8;
    if (brand_is(major, "avif") || brand_is(major, "avis")) return "avif";
    int heif = 0;
    for (size_t i = 0; i < sizeof heif_brands / sizeof *heif_brands; i++)
        if (brand_is(major, heif_brands[i])) heif = 1;
    /* mif1/msf1 are generic: the compatible list says whether it is AVIF. */
    size_t end = box < n ? box : n;
    for (size_t off = 16; off + 4 <= end; off += 4) {
        if (brand_is(p + off, "avif") || brand_is(p + off, "avis")) return "avif";
        for (size_t i = 0; i < sizeof heif_brands / sizeof *heif_brands; i++)
            if (brand_is(p + off, heif_brands[i])) heif = 1;
    }
    return heif ? "heif" : NULL;
}

const char *img_sniff(const void *data, size_t n) {
    const uint8_t *p = data;
    if (!p) return NULL;
    if (n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return "jpeg";
    if (n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return "png";
    if (n >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0)) return "gif";
    if (n >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0) return "webp";
    /* Classic TIFF (42) and BigTIFF (43), both byte orders. */
    if (n >= 4 && ((p[0] == 'I' && p[1] == 'I' && (p[2] == 42 || p[2] == 43) && p[3] == 0) ||
                   (p[0] == 'M' && p[1] == 'M' && p[2] == 0 && (p[3] == 42 || p[3] == 43))))
        return "tiff";
    const char *f = sniff_ftyp(p, n);
    if (f) return f;
    /* "BM" alone matches plenty of text; require a known DIB header size. */
    if (n >= 18 && p[0] == 'B' && p[1] == 'M') {
        uint32_t dib = p[14] | (uint32_t)p[15] << 8 | (uint32_t)p[16] << 16 | (uint32_t)p[17] << 24;
        if (dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 ||
            dib == 124)
            return "bmp";
    }
    return NULL;
}

const char *img_mime(const char *format) {
    static const char *const map[][2] = {
        {"jpeg", "image/jpeg"}, {"png", "image/png"},   {"gif", "image/gif"},
        {"webp", "image/webp"}, {"tiff", "image/tiff"}, {"heif", "image/heif"},
        {"avif", "image/avif"}, {"bmp", "image/bmp"},
    };
    if (format)
        for (size_t i = 0; i < sizeof map / sizeof *map; i++)
            if (strcmp(format, map[i][0]) == 0) return map[i][1];
    return "application/octet-stream";
}

/* The libvips loader (its nickname minus "load_buffer") each sniffed format
 * must end up in. BMP has no native loader; ImageMagick reads it. */
static const char *expected_loader(const char *format) {
    if (strcmp(format, "avif") == 0 || strcmp(format, "heif") == 0) return "heif";
    if (strcmp(format, "bmp") == 0) return "magick";
    return format;
}

/* ---------------------------------------------------------------- EXIF -- */

/* Printable ASCII of an ASCII entry, trimmed; 0 when absent or empty. */
static int exif_text(ExifData *ed, ExifIfd ifd, ExifTag tag, char *out, size_t cap) {
    ExifEntry *e = exif_content_get_entry(ed->ifd[ifd], tag);
    out[0] = '\0';
    if (!e || !e->data || (e->format != EXIF_FORMAT_ASCII && e->format != EXIF_FORMAT_UNDEFINED))
        return 0;
    size_t k = 0;
    for (size_t i = 0; i < e->size && e->data[i] && k + 1 < cap; i++) {
        unsigned char c = e->data[i];
        out[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : ' ';
    }
    out[k] = '\0';
    while (k > 0 && out[k - 1] == ' ') out[--k] = '\0';
    size_t lead = strspn(out, " ");
    if (lead) memmove(out, out + lead, k - lead + 1);
    return out[0] != '\0';
}

/* "YYYY:MM:DD HH:MM:SS" -> ISO 8601 and unix seconds (taken as UTC: EXIF has
 * no zone unless OffsetTimeOriginal, which few files carry). */
static int exif_date(const char *s, char iso[32], int64_t *unix_s) {
    int Y, M, D, h, m, sec;
    if (sscanf(s, "%4d:%2d:%2d %2d:%2d:%2d", &Y, &M, &D, &h, &m, &sec) != 6) return 0;
    if (Y < 1800 || Y > 2200 || M < 1 || M > 12 || D < 1 || D > 31 || h < 0 || h > 23 ||
        m < 0 || m > 59 || sec < 0 || sec > 60)
        return 0;
    snprintf(iso, 32, "%04d-%02d-%02dT%02d:%02d:%02d", Y, M, D, h, m, sec);
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                    .tm_hour = h, .tm_min = m, .tm_sec = sec};
    *unix_s = (int64_t)timegm(&tm);
    return 1;
}

/* Degrees/minutes/seconds rationals + N/S/E/W ref -> signed degrees. */
static int exif_gps(ExifData *ed, ExifTag tag, ExifTag ref_tag, double limit, double *out) {
    ExifEntry *e = exif_content_get_entry(ed->ifd[EXIF_IFD_GPS], tag);
    if (!e || !e->data || e->format != EXIF_FORMAT_RATIONAL || e->components < 1 ||
        e->size < 8 * e->components)
        return 0;
    ExifByteOrder bo = exif_data_get_byte_order(ed);
    double part[3] = {0, 0, 0};
    for (unsigned i = 0; i < 3 && i < e->components; i++) {
        ExifRational r = exif_get_rational(e->data + 8 * i, bo);
        if (r.denominator == 0) {
            if (i == 0) return 0;
            continue;
        }
        part[i] = (double)r.numerator / r.denominator;
    }
    double v = part[0] + part[1] / 60.0 + part[2] / 3600.0;
    char ref[8];
    if (exif_text(ed, EXIF_IFD_GPS, ref_tag, ref, sizeof ref) &&
        (toupper((unsigned char)ref[0]) == 'S' || toupper((unsigned char)ref[0]) == 'W'))
        v = -v;
    if (!(fabs(v) <= limit)) return 0;
    *out = round(v * 1e6) / 1e6;
    return 1;
}

/* Camera name: "Canon" + "Canon EOS 5D" -> "Canon EOS 5D"; "NIKON
 * CORPORATION" + "NIKON D750" -> "NIKON D750"; "Apple" + "iPhone 12" ->
 * "Apple iPhone 12". */
static void camera_name(const char *make, const char *model, char *out, size_t cap) {
    size_t first = strcspn(make, " ");
    if (!*model)
        snprintf(out, cap, "%s", make);
    else if (!*make || (first > 0 && strncasecmp(model, make, first) == 0))
        snprintf(out, cap, "%s", model);
    else
        snprintf(out, cap, "%s %s", make, model);
}

/* Fill d->exif_json / d->taken_at from a raw EXIF blob. */
static void parse_exif(const void *blob, size_t len, img_decoded *d) {
    /* libexif wants the "Exif\0\0" APP1 prefix; PNG/WebP carry bare TIFF. */
    uint8_t *tmp = NULL;
    if (len >= 4 && (memcmp(blob, "II", 2) == 0 || memcmp(blob, "MM", 2) == 0)) {
        tmp = malloc(len + 6);
        if (!tmp) return;
        memcpy(tmp, "Exif\0\0", 6);
        memcpy(tmp + 6, blob, len);
        blob = tmp;
        len += 6;
    }
    ExifData *ed = exif_data_new();
    if (!ed) {
        free(tmp);
        return;
    }
    /* FOLLOW_SPECIFICATION would "fix" the data by adding mandatory tags with
     * default values -- including DateTime = now. Read what is there only. */
    exif_data_unset_option(ed, EXIF_DATA_OPTION_FOLLOW_SPECIFICATION);
    exif_data_load_data(ed, blob, (unsigned)len);
    free(tmp);

    json_t *o = json_object();
    char buf[128], make[64], model[64];
    if (exif_text(ed, EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_ORIGINAL, buf, sizeof buf) ||
        exif_text(ed, EXIF_IFD_EXIF, EXIF_TAG_DATE_TIME_DIGITIZED, buf, sizeof buf) ||
        exif_text(ed, EXIF_IFD_0, EXIF_TAG_DATE_TIME, buf, sizeof buf)) {
        char iso[32];
        int64_t t;
        if (exif_date(buf, iso, &t)) {
            json_object_set_new(o, "date_taken", json_string(iso));
            d->taken_at = t;
        }
    }
    int has_make = exif_text(ed, EXIF_IFD_0, EXIF_TAG_MAKE, make, sizeof make);
    int has_model = exif_text(ed, EXIF_IFD_0, EXIF_TAG_MODEL, model, sizeof model);
    if (has_make || has_model) {
        camera_name(make, model, buf, sizeof buf);
        json_object_set_new(o, "camera", json_string(buf));
    }
    double lat, lon;
    if (exif_gps(ed, EXIF_TAG_GPS_LATITUDE, EXIF_TAG_GPS_LATITUDE_REF, 90, &lat) &&
        exif_gps(ed, EXIF_TAG_GPS_LONGITUDE, EXIF_TAG_GPS_LONGITUDE_REF, 180, &lon) &&
        !(lat == 0 && lon == 0)) {  /* 0,0 is what GPS-less cameras write */
        json_t *g = json_object();
        json_object_set_new(g, "lat", json_real(lat));
        json_object_set_new(g, "lon", json_real(lon));
        json_object_set_new(o, "gps", g);
    }
    exif_data_unref(ed);
    if (json_object_size(o) > 0)
        d->exif_json = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(o);
}

/* -------------------------------------------------------------- decode -- */

/* The thumbnail's output as owned interleaved sRGB8: flatten alpha onto
 * white, any colourspace to sRGB, any depth to 8 bits, exactly 3 bands. */
static int to_rgb8(VipsImage *in, img_rgb *out, scry_err *err) {
    VipsImage *ctx = vips_image_new();
    VipsImage **t = (VipsImage **)vips_object_local_array(VIPS_OBJECT(ctx), 6);
    VipsImage *img = in;
    int rc = SCRY_OK;

    if (vips_image_hasalpha(img)) {
        double max_alpha = img->BandFmt == VIPS_FORMAT_USHORT ? 65535.0 : 255.0;
        double white[8];
        int nb = img->Bands - 1 < 8 ? img->Bands - 1 : 8;
        for (int i = 0; i < nb; i++) white[i] = max_alpha;
        VipsArrayDouble *bg = vips_array_double_new(white, nb);
        int r = vips_flatten(img, &t[0], "background", bg, "max_alpha", max_alpha, NULL);
        vips_area_unref(VIPS_AREA(bg));
        if (r) { rc = vips_fail(err, SCRY_ECORRUPT, "flatten"); goto done; }
        img = t[0];
    }
    VipsInterpretation src = vips_image_guess_interpretation(img);
    if (src != VIPS_INTERPRETATION_sRGB || img->BandFmt != VIPS_FORMAT_UCHAR) {
        if (img->Bands < 3 && src != VIPS_INTERPRETATION_GREY16)
            src = VIPS_INTERPRETATION_B_W;
        if (vips_colourspace(img, &t[1], VIPS_INTERPRETATION_sRGB, "source_space", src, NULL)) {
            rc = vips_fail(err, SCRY_ECORRUPT, "colourspace");
            goto done;
        }
        img = t[1];
    }
    if (img->BandFmt != VIPS_FORMAT_UCHAR) {
        if (vips_cast_uchar(img, &t[2], NULL)) { rc = vips_fail(err, SCRY_ECORRUPT, "cast"); goto done; }
        img = t[2];
    }
    if (img->Bands == 1) {
        VipsImage *three[3] = {img, img, img};
        if (vips_bandjoin(three, &t[3], 3, NULL)) { rc = vips_fail(err, SCRY_ECORRUPT, "bandjoin"); goto done; }
        img = t[3];
    } else if (img->Bands != 3) {
        if (vips_extract_band(img, &t[4], 0, "n", 3, NULL)) {
            rc = vips_fail(err, SCRY_ECORRUPT, "extract_band");
            goto done;
        }
        img = t[4];
    }
    /* This is where the pixels are actually decoded: load errors (truncated
     * files) surface here. */
    size_t size = 0;
    void *px = vips_image_write_to_memory(img, &size);
    if (!px) { rc = vips_fail(err, SCRY_ECORRUPT, "decode"); goto done; }
    out->w = vips_image_get_width(img);
    out->h = vips_image_get_height(img);
    /* g_malloc is the system malloc (GLib >= 2.46), so the buffer is an
     * ordinary malloc'ed block that callers release with free(). */
    out->px = px;
done:
    g_object_unref(ctx);
    return rc;
}

int img_decode(const void *data, size_t n, const img_limits *lim, img_decoded *out,
               scry_err *err) {
    memset(out, 0, sizeof *out);
    if (!data || n == 0) return scry_fail(err, SCRY_EUNSUPPORTED, "empty input");
    int64_t max_pixels = lim && lim->max_pixels > 0 ? lim->max_pixels : DEFAULT_MAX_PIXELS;
    int work = lim && lim->work_size > 0 ? lim->work_size : DEFAULT_WORK_SIZE;
    last_warning[0] = '\0';
    const char *format = img_sniff(data, n);
    if (!format) return scry_fail(err, SCRY_EUNSUPPORTED, "not a supported image format");

    VipsImage *hdr = vips_image_new_from_buffer(data, n, "", "access", VIPS_ACCESS_SEQUENTIAL,
                                                "fail_on", VIPS_FAIL_ON_ERROR, NULL);
    if (!hdr) return vips_fail(err, SCRY_ECORRUPT, format);

    const char *loader = NULL;
    const char *want = expected_loader(format);
    if (vips_image_get_string(hdr, VIPS_META_LOADER, &loader) || !loader ||
        strncmp(loader, want, strlen(want)) != 0 ||
        strncmp(loader + strlen(want), "load", 4) != 0) {
        log_warn("image.loader_mismatch", "sniffed=%s loader=%s", format, loader ? loader : "-");
        g_object_unref(hdr);
        return scry_fail(err, SCRY_EUNSUPPORTED, "%s bytes opened by an unexpected loader", format);
    }
    int64_t w = vips_image_get_width(hdr), h = vips_image_get_height(hdr);
    if (w <= 0 || h <= 0) {
        g_object_unref(hdr);
        return scry_fail(err, SCRY_ECORRUPT, "%s: bad dimensions", format);
    }
    if (w * h > max_pixels) {
        g_object_unref(hdr);
        return scry_fail(err, SCRY_ETOOBIG, "%s is %lldx%lld, over the %lld pixel limit", format,
                         (long long)w, (long long)h, (long long)max_pixels);
    }
    if (vips_image_get_orientation_swap(hdr)) {
        out->width = (int)h;
        out->height = (int)w;
    } else {
        out->width = (int)w;
        out->height = (int)h;
    }
    snprintf(out->format, sizeof out->format, "%s", format);
    if (vips_image_get_typeof(hdr, VIPS_META_EXIF_NAME)) {
        const void *blob = NULL;
        size_t blen = 0;
        if (vips_image_get_blob(hdr, VIPS_META_EXIF_NAME, &blob, &blen) == 0 && blob && blen > 0)
            parse_exif(blob, blen, out);
    }
    g_object_unref(hdr);

    VipsImage *thumb = NULL;
    /* fail_on goes through the loader option string: libvips 8.14 does not
     * forward thumbnail_buffer's own fail_on property to the loader. */
    if (vips_thumbnail_buffer((void *)data, n, &thumb, work, "height", work, "size",
                              VIPS_SIZE_DOWN, "option_string", "fail_on=error", NULL)) {
        int rc = vips_fail(err, SCRY_ECORRUPT, format);
        img_decoded_free(out);
        return rc;
    }
    int rc = to_rgb8(thumb, &out->work, err);
    g_object_unref(thumb);
    if (rc != SCRY_OK) {
        /* Keep the decoder's words but say which format failed. */
        char reason[sizeof err->msg];
        if (err) {
            snprintf(reason, sizeof reason, "%s", err->msg);
            scry_fail(err, rc, "%s %s", format, reason);
        }
        img_decoded_free(out);
        return rc;
    }
    return SCRY_OK;
}

void img_decoded_free(img_decoded *d) {
    if (!d) return;
    free(d->work.px);
    free(d->exif_json);
    d->work.px = NULL;
    d->work.w = d->work.h = 0;
    d->exif_json = NULL;
}

/* ----------------------------------------------------------- thumbnail -- */

int img_thumbnail_jpeg(const img_rgb *src, int max_side, void **jpeg, size_t *len,
                       scry_err *err) {
    *jpeg = NULL;
    *len = 0;
    if (!src || !src->px || src->w <= 0 || src->h <= 0 || max_side <= 0)
        return scry_fail(err, SCRY_EINVAL, "thumbnail: empty image or bad size");
    /* Never upscale. The shrink is our separable area-averaging resampler
     * (vision/warp.h) rather than libvips's lanczos3: on a 640-px photo
     * libvips took ~8 ms of CPU per thumbnail through its per-call pipeline
     * set-up, ours ~1 ms, and at thumbnail size the difference in filter
     * (no ringing, slightly softer) does not show. libvips encodes. */
    int longest = src->w > src->h ? src->w : src->h;
    double scale = longest > max_side ? (double)max_side / longest : 1.0;
    img_rgb small = *src;
    uint8_t *owned = NULL;
    if (scale < 1.0) {
        int dw = (int)lround(src->w * scale), dh = (int)lround(src->h * scale);
        if (dw < 1) dw = 1;
        if (dh < 1) dh = 1;
        size_t n = (size_t)dw * (size_t)dh * 3;
        float *f = malloc(n * sizeof(float));
        owned = malloc(n);
        if (!f || !owned) {
            free(f);
            free(owned);
            return scry_fail(err, SCRY_ENOMEM, "out of memory");
        }
        static const warp_format raw = {{0, 0, 0}, {1 / 255.f, 1 / 255.f, 1 / 255.f}, 0, 0,
                                        {0, 0, 0}};
        warp_affine m = warp_rect(0, 0, (float)src->w, (float)src->h, dw, dh);
        warp_to_tensor(src, &m, dw, dh, &raw, f);
        for (size_t i = 0; i < n; i++) {
            float v = f[i] + 0.5f;
            owned[i] = (uint8_t)(v <= 0 ? 0 : v >= 255 ? 255 : v);
        }
        free(f);
        small = (img_rgb){dw, dh, owned};
    }
    VipsImage *ctx = vips_image_new();
    VipsImage **t = (VipsImage **)vips_object_local_array(VIPS_OBJECT(ctx), 2);
    int rc = SCRY_OK;
    t[0] = vips_image_new_from_memory(small.px, (size_t)small.w * small.h * 3, small.w, small.h,
                                      3, VIPS_FORMAT_UCHAR);
    if (!t[0] ||
        vips_copy(t[0], &t[1], "interpretation", VIPS_INTERPRETATION_sRGB, NULL) ||
        vips_jpegsave_buffer(t[1], jpeg, len, "Q", 80, "strip", TRUE, "optimize_coding", TRUE,
                             NULL))
        rc = vips_fail(err, SCRY_EIO, "thumbnail");
    g_object_unref(ctx);
    free(owned);
    return rc;
}

/* -------------------------------------------------------------- colours -- */

enum { K_BLACK, K_WHITE, K_GRAY, K_RED, K_ORANGE, K_YELLOW, K_GREEN, K_BLUE, K_PURPLE, K_PINK,
       K_BROWN, K_COUNT };
static const char *const kind_names[K_COUNT] = {"black", "white", "gray",  "red",
                                                "orange", "yellow", "green", "blue",
                                                "purple", "pink",   "brown"};

static double srgb_to_linear(double c) {
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

/* sRGB8 -> OkLCh (L 0..1, C ~0..0.32, h degrees). */
static void oklch(double r8, double g8, double b8, double *L, double *C, double *h) {
    double r = srgb_to_linear(r8 / 255.0), g = srgb_to_linear(g8 / 255.0),
           b = srgb_to_linear(b8 / 255.0);
    double l = cbrt(0.4122214708 * r + 0.5363325363 * g + 0.0514459929 * b);
    double m = cbrt(0.2119034982 * r + 0.6806995451 * g + 0.1073969566 * b);
    double s = cbrt(0.0883024619 * r + 0.2817188376 * g + 0.6299787005 * b);
    double A = 1.9779984951 * l - 2.4285922050 * m + 0.4505937099 * s;
    double B = 0.0259040371 * l + 0.7827717662 * m - 0.8086757660 * s;
    *L = 0.2104542553 * l + 0.7936177850 * m - 0.0040720468 * s;
    *C = hypot(A, B);
    *h = fmod(atan2(B, A) * 180.0 / M_PI + 360.0, 360.0);
}

/* The naming rules. Thresholds were set against the CSS named colours
 * (e.g. saddlebrown/sienna/tan -> brown, hotpink/pink -> pink, navy -> blue,
 * olive -> green, blueviolet/indigo -> purple) and checked on photos. */
static int classify(double L, double C, double h) {
    if (L < 0.22) return K_BLACK;
    if (C < 0.04 || (L < 0.35 && C < 0.06)) {
        if (L < 0.35) return K_BLACK;
        return L > 0.86 ? K_WHITE : K_GRAY;
    }
    if (L > 0.93 && C < 0.06) return K_WHITE;         /* ivory, beige, lavender */
    if (h >= 345 || h < 15) return L >= 0.65 ? K_PINK : K_RED;
    if (h < 45) {
        if (L >= 0.80) return K_PINK;                  /* light salmon/pink */
        if (C < 0.08 && L < 0.75) return K_BROWN;      /* dull red: rosy brown */
        if (L < 0.55 && C < 0.13) return K_BROWN;      /* sienna */
        return K_RED;
    }
    if (h < 80) {
        if (L < 0.58) return K_BROWN;                  /* dark orange is brown */
        if (C < 0.09 && L < 0.82) return K_BROWN;      /* tan */
        return K_ORANGE;
    }
    if (h < 120) {
        /* Shaded yellow (a mustard wall in shadow) is still seen as yellow;
         * only really dark ones turn ochre-brown or olive-green. */
        if (C < 0.065) return L > 0.80 ? K_WHITE : K_BROWN;  /* khaki, dry grass */
        if (L >= 0.55) return K_YELLOW;
        return h < 100 ? K_BROWN : K_GREEN;
    }
    if (h < 190) return K_GREEN;
    if (h < 290) return K_BLUE;
    return (L >= 0.80 && h >= 320) ? K_PINK : K_PURPLE;
}

/* 32x32x32 table of colour-name indices (into scry_color_names) over RGB
 * quantised to 5 bits, each cell classified at its centre. */
static uint8_t color_lut[32 * 32 * 32];
/* 1 where the cell's colour is in the range of human skin (OkLCh hue
 * 20-80 degrees, moderate chroma and lightness): clothing colours are read
 * without the arms and necks in the band (relations_clothing). */
static uint8_t skin_lut[32 * 32 * 32];
static pthread_once_t color_lut_once = PTHREAD_ONCE_INIT;

static void build_color_lut(void) {
    int to_label[K_COUNT];
    for (int k = 0; k < K_COUNT; k++) to_label[k] = scry_color_index(kind_names[k]);
    for (int r = 0; r < 32; r++)
        for (int g = 0; g < 32; g++)
            for (int b = 0; b < 32; b++) {
                double L, C, h;
                oklch(r * 8 + 3.5, g * 8 + 3.5, b * 8 + 3.5, &L, &C, &h);
                color_lut[(r << 10) | (g << 5) | b] = (uint8_t)to_label[classify(L, C, h)];
                skin_lut[(r << 10) | (g << 5) | b] =
                    h >= 20 && h <= 80 && C >= 0.03 && C <= 0.15 && L >= 0.35 && L <= 0.9;
            }
}

static inline int color_of(const uint8_t *p) {
    return color_lut[((p[0] >> 3) << 10) | ((p[1] >> 3) << 5) | (p[2] >> 3)];
}

/* The colour name of p seen under a brighter exposure (gain >= 1, white
 * point correction; 1 = as is). */
static inline int color_of_gain(const uint8_t *p, float gain) {
    if (gain <= 1.0f) return color_of(p);
    uint8_t q[3];
    for (int c = 0; c < 3; c++) {
        float v = p[c] * gain;
        q[c] = v >= 255.0f ? 255 : (uint8_t)v;
    }
    return color_of(q);
}

typedef struct color_hist {
    double weight[SCRY_COLOR_COUNT];
    double rgb[SCRY_COLOR_COUNT][3];    /* weighted sums, for the mean hex */
    double total;
} color_hist;

/* Histogram of the box [x0,x1) x [y0,y1), on a grid of at most ~max_samples
 * points. centre != 0 weights each sample by a tent that is 1 at the box
 * centre and falls to 0 at its edges (objects fill the middle of their
 * detection box; the edges are mostly background). */
static void histogram_opts(const img_rgb *src, int x0, int y0, int x1, int y1, int centre,
                           double max_samples, float gain, int skip_skin, color_hist *hist) {
    pthread_once(&color_lut_once, build_color_lut);
    memset(hist, 0, sizeof *hist);
    double area = (double)(x1 - x0) * (y1 - y0);
    int step = (int)ceil(sqrt(area / max_samples));
    if (step < 1) step = 1;
    double cx = (x0 + x1 - 1) / 2.0, cy = (y0 + y1 - 1) / 2.0;
    double hw = (x1 - x0) / 2.0, hh = (y1 - y0) / 2.0;
    for (int y = y0 + step / 2; y < y1; y += step) {
        double wy = centre ? 1.0 - fabs(y - cy) / (hh + 0.5) : 1.0;
        const uint8_t *row = src->px + (size_t)y * src->w * 3;
        for (int x = x0 + step / 2; x < x1; x += step) {
            double wx = centre ? 1.0 - fabs(x - cx) / (hw + 0.5) : 1.0;
            double wgt = wx * wy;
            const uint8_t *p = row + (size_t)x * 3;
            if (skip_skin && skin_lut[((p[0] >> 3) << 10) | ((p[1] >> 3) << 5) | (p[2] >> 3)])
                continue;
            int k = color_of_gain(p, gain);
            hist->weight[k] += wgt;
            hist->rgb[k][0] += wgt * p[0];
            hist->rgb[k][1] += wgt * p[1];
            hist->rgb[k][2] += wgt * p[2];
            hist->total += wgt;
        }
    }
}

static void histogram(const img_rgb *src, int x0, int y0, int x1, int y1, int centre,
                      double max_samples, color_hist *hist) {
    histogram_opts(src, x0, y0, x1, y1, centre, max_samples, 1.0f, 0, hist);
}

#define COLOR_MIN_FRACTION 0.05

char *img_colors_json(const img_rgb *src, int max_colors) {
    if (!src || !src->px || src->w <= 0 || src->h <= 0 || max_colors <= 0) return strdup("[]");
    color_hist hist;
    histogram(src, 0, 0, src->w, src->h, 0, 65536.0, &hist);
    int order[SCRY_COLOR_COUNT];
    for (int i = 0; i < SCRY_COLOR_COUNT; i++) order[i] = i;
    for (int i = 1; i < SCRY_COLOR_COUNT; i++)      /* insertion sort, by weight desc */
        for (int j = i; j > 0 && hist.weight[order[j]] > hist.weight[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    size_t cap = 128 + (size_t)SCRY_COLOR_COUNT * 96, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    len += (size_t)snprintf(s + len, cap - len, "[");
    int emitted = 0;
    for (int i = 0; i < SCRY_COLOR_COUNT && emitted < max_colors; i++) {
        int k = order[i];
        double frac = hist.total > 0 ? hist.weight[k] / hist.total : 0;
        if (frac < COLOR_MIN_FRACTION) break;
        int r = (int)lround(hist.rgb[k][0] / hist.weight[k]);
        int g = (int)lround(hist.rgb[k][1] / hist.weight[k]);
        int b = (int)lround(hist.rgb[k][2] / hist.weight[k]);
        /* Floor to 3 decimals so the fractions never sum above 1. */
        len += (size_t)snprintf(s + len, cap - len,
                                "%s{\"name\":\"%s\",\"hex\":\"#%02x%02x%02x\",\"fraction\":%.3f}",
                                emitted ? "," : "", scry_color_names[k], r, g, b,
                                floor(frac * 1000.0) / 1000.0);
        emitted++;
    }
    snprintf(s + len, cap - len, "]");
    return s;
}

float img_white_gain(const img_rgb *src) {
    if (!src || !src->px || src->w <= 0 || src->h <= 0) return 1.0f;
    /* 98th percentile of the brightest channel on a grid of ~16k samples */
    int hist[256] = {0}, n = 0;
    int step = (int)ceil(sqrt((double)src->w * src->h / 16384.0));
    if (step < 1) step = 1;
    for (int y = step / 2; y < src->h; y += step)
        for (int x = step / 2; x < src->w; x += step) {
            const uint8_t *p = src->px + ((size_t)y * src->w + x) * 3;
            int m = p[0] > p[1] ? p[0] : p[1];
            hist[m > p[2] ? m : p[2]]++;
            n++;
        }
    int want = n - n / 50, seen = 0, p98 = 255;
    for (int v = 0; v < 256; v++)
        if ((seen += hist[v]) >= want) {
            p98 = v;
            break;
        }
    float gain = p98 > 0 ? 235.0f / (float)p98 : 1.0f;
    return gain < 1.0f ? 1.0f : gain > 1.6f ? 1.6f : gain;
}

int img_region_color(const img_rgb *src, int x, int y, int w, int h) {
    return img_object_color(src, x, y, w, h, NULL);
}

int img_object_color(const img_rgb *src, int x, int y, int w, int h, const img_color_opts *o) {
    const img_color_opts plain = {1.0f, 0, 0};
    if (!o) o = &plain;
    const float gain = o->gain;
    if (!src || !src->px) return -1;
    if (w <= 0 || h <= 0) return -1;
    int64_t xe = (int64_t)x + w, ye = (int64_t)y + h;     /* no int overflow */
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = xe < src->w ? (int)xe : src->w, y1 = ye < src->h ? (int)ye : src->h;
    if (x0 >= x1 || y0 >= y1) return -1;
    color_hist hist;
    histogram_opts(src, x0, y0, x1, y1, 1, 16384.0, gain, o->skip_skin, &hist);
    if (hist.total <= 0) return -1;
    if (o->surround) {
        /* What is also all around the box is mostly background seen
         * through it: each colour's share of the box is weighed by how much
         * more of the box than of the ring around it it covers (the log of
         * that lift; none when it is no more common inside). On the
         * training photos' captions this beat plain shares (0.46), and
         * subtracting half or all of the ring's share (0.61, 0.65): 0.66. */
        int mx = (x1 - x0) / 5 + 4, my = (y1 - y0) / 5 + 4;
        int rx0 = x0 - mx < 0 ? 0 : x0 - mx, ry0 = y0 - my < 0 ? 0 : y0 - my;
        int rx1 = x1 + mx > src->w ? src->w : x1 + mx, ry1 = y1 + my > src->h ? src->h : y1 + my;
        color_hist all, inner;
        histogram_opts(src, rx0, ry0, rx1, ry1, 0, 16384.0, gain, o->skip_skin, &all);
        histogram_opts(src, x0, y0, x1, y1, 0, 16384.0, gain, o->skip_skin, &inner);
        /* each sampled on its own grid: compare shares, not weights */
        double r = ((double)(x1 - x0) * (y1 - y0)) / ((double)(rx1 - rx0) * (ry1 - ry0));
        double ring_total = 0, rw[SCRY_COLOR_COUNT];
        for (int k = 0; k < SCRY_COLOR_COUNT; k++) {
            rw[k] = all.total > 0 && inner.total > 0
                        ? all.weight[k] / all.total - r * inner.weight[k] / inner.total
                        : 0;
            if (rw[k] < 0) rw[k] = 0;
            ring_total += rw[k];
        }
        if (ring_total > 0) {
            /* nothing stands out from the surroundings (a white plate on a
             * white cloth): the box's own colours say it */
            color_hist lifted = hist;
            double total = 0;
            for (int k = 0; k < SCRY_COLOR_COUNT; k++) {
                double bs = hist.weight[k] / hist.total, rs = rw[k] / ring_total;
                double f = bs * log((bs + 0.01) / (rs + 0.01));
                lifted.weight[k] = f > 0 ? f : 0;
                total += lifted.weight[k];
            }
            if (total > 1e-3) {
                lifted.total = total;
                hist = lifted;
            }
        }
    }
    int best = 0, best_chroma = -1;
    for (int k = 0; k < SCRY_COLOR_COUNT; k++) {
        if (hist.weight[k] > hist.weight[best]) best = k;
        int achromatic = k == scry_color_index("black") || k == scry_color_index("white") ||
                         k == scry_color_index("gray");
        if (!achromatic && (best_chroma < 0 || hist.weight[k] > hist.weight[best_chroma]))
            best_chroma = k;
    }
    /* People name an object by its paint, not its tyres and windows: a
     * chromatic colour that covers a good part of the box beats a somewhat
     * larger black/gray/white share. */
    if (best_chroma >= 0 && best_chroma != best &&
        hist.weight[best_chroma] >= 0.25 * hist.total &&
        hist.weight[best_chroma] >= 0.6 * hist.weight[best])
        return best_chroma;
    return best;
}

/* ---------------------------------------------------------- photo stats -- */

/* sRGB8 -> Oklab; oklch() above is the same transform in polar form. */
static void oklab(double r8, double g8, double b8, float lab[3]) {
    double L, C, h;
    oklch(r8, g8, b8, &L, &C, &h);
    lab[0] = (float)L;
    lab[1] = (float)(C * cos(h * M_PI / 180.0));
    lab[2] = (float)(C * sin(h * M_PI / 180.0));
}

void img_stats_compute(const img_rgb *src, img_stats *st) {
    memset(st, 0, sizeof *st);
    if (!src || !src->px || src->w <= 0 || src->h <= 0) return;
    pthread_once(&color_lut_once, build_color_lut);
    /* Area means over a gw x gh grid of cells (at most 128 a side): each
     * sample is the mean colour of its cell, so noise and resolution matter
     * little; sharpness is then measured at this fixed scale. */
    const int gw = src->w < IMG_STATS_GRID ? src->w : IMG_STATS_GRID;
    const int gh = src->h < IMG_STATS_GRID ? src->h : IMG_STATS_GRID;
    float (*lab)[3] = malloc((size_t)gw * gh * sizeof *lab);
    if (!lab) return;
    double names[SCRY_COLOR_COUNT] = {0};
    for (int j = 0; j < gh; j++) {
        int y0 = (int)((int64_t)j * src->h / gh), y1 = (int)((int64_t)(j + 1) * src->h / gh);
        for (int i = 0; i < gw; i++) {
            int x0 = (int)((int64_t)i * src->w / gw), x1 = (int)((int64_t)(i + 1) * src->w / gw);
            /* at most 4x4 source pixels per cell: enough for a mean colour */
            int sy = (y1 - y0 + 3) / 4, sx = (x1 - x0 + 3) / 4;
            double sum[3] = {0, 0, 0};
            int n = 0;
            for (int y = y0; y < y1; y += sy)
                for (int x = x0; x < x1; x += sx) {
                    const uint8_t *p = src->px + ((size_t)y * src->w + x) * 3;
                    sum[0] += p[0], sum[1] += p[1], sum[2] += p[2];
                    names[color_of(p)] += 1.0;
                    n++;
                }
            oklab(sum[0] / n, sum[1] / n, sum[2] / n, lab[(size_t)j * gw + i]);
        }
    }
    double total_names = 0;
    for (int k = 0; k < SCRY_COLOR_COUNT; k++) total_names += names[k];
    for (int k = 0; k < SCRY_COLOR_COUNT; k++)
        st->color_fraction[k] = total_names > 0 ? (float)(names[k] / total_names) : 0;
    const int n = gw * gh, L = IMG_STATS_LAYOUT;
    double cell_n[IMG_STATS_LAYOUT * IMG_STATS_LAYOUT] = {0}, lsum = 0, lsq = 0, csum = 0;
    double top = 0, bottom = 0;
    int ntop = 0, nbottom = 0, grey = 0, dark = 0, bright = 0, edges = 0;
    double lap = 0;
    int nlap = 0;
    for (int j = 0; j < gh; j++)
        for (int i = 0; i < gw; i++) {
            const float *v = lab[(size_t)j * gw + i];
            int c = (j * L / gh) * L + i * L / gw;
            for (int k = 0; k < 3; k++) st->layout[c][k] += v[k];
            cell_n[c] += 1;
            double chroma = hypot(v[1], v[2]);
            lsum += v[0], lsq += (double)v[0] * v[0], csum += chroma;
            grey += chroma < 0.03;
            dark += v[0] < 0.25f;
            bright += v[0] > 0.95f;
            if (j < gh / 3) top += v[0], ntop++;
            if (j >= gh - gh / 3) bottom += v[0], nbottom++;
            if (i > 0 && j > 0 && i + 1 < gw && j + 1 < gh) {
                double l4 = lab[(size_t)j * gw + i - 1][0] + lab[(size_t)j * gw + i + 1][0] +
                            lab[(size_t)(j - 1) * gw + i][0] + lab[(size_t)(j + 1) * gw + i][0];
                lap += fabs(l4 - 4.0 * v[0]);
                nlap++;
                double gx = lab[(size_t)j * gw + i + 1][0] - lab[(size_t)j * gw + i - 1][0];
                double gy = lab[(size_t)(j + 1) * gw + i][0] - lab[(size_t)(j - 1) * gw + i][0];
                edges += hypot(gx, gy) > 0.1;
            }
        }
    free(lab);
    for (int c = 0; c < L * L; c++)
        for (int k = 0; k < 3; k++)
            st->layout[c][k] = cell_n[c] > 0 ? (float)(st->layout[c][k] / cell_n[c]) : 0;
    st->l_mean = (float)(lsum / n);
    double var = lsq / n - (lsum / n) * (lsum / n);
    st->l_std = (float)sqrt(var > 0 ? var : 0);
    st->chroma_mean = (float)(csum / n);
    st->grey_fraction = (float)grey / n;
    st->dark_fraction = (float)dark / n;
    st->bright_fraction = (float)bright / n;
    st->top_minus_bottom = ntop && nbottom ? (float)(top / ntop - bottom / nbottom) : 0;
    st->sharpness = nlap ? (float)(100.0 * lap / nlap) : 0;
    st->edge_fraction = nlap ? (float)edges / nlap : 0;
}

const char *const img_attr_names[IMG_ATTR_COUNT] = {"black and white", "dark", "overexposed",
                                                     "blurry", "close-up"};

int img_photo_attributes(const img_stats *st) {
    int a = 0;
    if (st->chroma_mean < 0.006f && st->grey_fraction > 0.99f) a |= IMG_ATTR_BW;
    if (st->l_mean < 0.30f && st->dark_fraction > 0.5f) a |= IMG_ATTR_DARK;
    if (st->bright_fraction > 0.30f) a |= IMG_ATTR_OVEREXPOSED;
    if (st->sharpness > 0 && st->sharpness < 3.0f && st->edge_fraction < 0.1f) a |= IMG_ATTR_BLURRY;
    return a;
}

int img_attr_index(const char *name) {
    for (int i = 0; name && i < IMG_ATTR_COUNT; i++)
        if (strcmp(img_attr_names[i], name) == 0) return i;
    return -1;
}

void img_stats_flatten(const img_stats *st, float *out) {
    size_t k = 0;
    for (int c = 0; c < IMG_STATS_LAYOUT * IMG_STATS_LAYOUT; c++)
        for (int i = 0; i < 3; i++) out[k++] = st->layout[c][i];
    for (int i = 0; i < SCRY_COLOR_COUNT; i++) out[k++] = st->color_fraction[i];
    const float tail[] = {st->l_mean, st->l_std, st->chroma_mean, st->grey_fraction,
                          st->dark_fraction, st->bright_fraction, st->top_minus_bottom,
                          st->sharpness, st->edge_fraction};
    for (size_t i = 0; i < sizeof tail / sizeof *tail; i++) out[k++] = tail[i];
}

/* ---------------------------------------------------------------- pHash -- */

/* 32x32 luma by area averaging (every source pixel counts once, so the
 * reduction itself is a low-pass filter), DCT-II of that, then the 8x8
 * lowest frequencies without the DC row/column (DC only says "how bright",
 * and its first row/column would always compare the same way), each bit = the
 * coefficient is above the median of the 64. */
uint64_t img_phash(const img_rgb *src) {
    if (!src || !src->px || src->w <= 0 || src->h <= 0) return 0;
    enum { N = 32 };
    double grey[N][N];
    for (int j = 0; j < N; j++) {
        int y0 = (int)((int64_t)j * src->h / N), y1 = (int)((int64_t)(j + 1) * src->h / N);
        if (y1 <= y0) y1 = y0 + 1;
        for (int i = 0; i < N; i++) {
            int x0 = (int)((int64_t)i * src->w / N), x1 = (int)((int64_t)(i + 1) * src->w / N);
            if (x1 <= x0) x1 = x0 + 1;
            double sum = 0;
            for (int y = y0; y < y1; y++) {
                const uint8_t *p = src->px + ((size_t)y * src->w + x0) * 3;
                for (int x = x0; x < x1; x++, p += 3)
                    sum += 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
            }
            grey[j][i] = sum / ((double)(y1 - y0) * (x1 - x0));
        }
    }
    double cosv[9][N];
    for (int u = 0; u < 9; u++)
        for (int x = 0; x < N; x++) cosv[u][x] = cos((2 * x + 1) * u * M_PI / (2.0 * N));
    double rows[N][9];      /* 1-D DCT along x of every row, u = 0..8 */
    for (int y = 0; y < N; y++)
        for (int u = 0; u < 9; u++) {
            double s = 0;
            for (int x = 0; x < N; x++) s += grey[y][x] * cosv[u][x];
            rows[y][u] = s;
        }
    double coef[64], sorted[64];
    for (int v = 1; v < 9; v++)
        for (int u = 1; u < 9; u++) {
            double s = 0;
            for (int y = 0; y < N; y++) s += rows[y][u] * cosv[v][y];
            coef[(v - 1) * 8 + (u - 1)] = s;
        }
    memcpy(sorted, coef, sizeof coef);
    for (int i = 1; i < 64; i++)
        for (int j = i; j > 0 && sorted[j] < sorted[j - 1]; j--) {
            double t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    double median = (sorted[31] + sorted[32]) / 2.0;
    uint64_t hash = 0;
    for (int i = 0; i < 64; i++)
        if (coef[i] > median) hash |= 1ULL << i;
    return hash;
}

int img_phash_distance(uint64_t a, uint64_t b) { return __builtin_popcountll(a ^ b); }
