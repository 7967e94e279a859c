/* image.h -- decoding and the cheap per-image facts, on libvips.
 *
 * Decoding produces one "working copy": 8-bit sRGB, EXIF orientation applied,
 * shrunk on load so that its longest side is at most work_size. Every later
 * stage (thumbnail, colours, perceptual hash, detectors, OCR) reads that copy,
 * so the file is parsed and decoded once per image. The reported width and
 * height are those of the original after orientation.
 *
 * Decompression bombs: the header is read first and an image whose pixel
 * count exceeds max_pixels is refused before any pixel is decoded.
 *
 * libvips is initialised once per process (img_global_init); everything here
 * is then thread-safe. */
#ifndef SCRY_IMAGE_H
#define SCRY_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/labels.h"

/* An owned interleaved RGB8 raster: px has w*h*3 bytes, row stride w*3. */
typedef struct img_rgb {
    int w, h;
    uint8_t *px;
} img_rgb;

typedef struct img_limits {
    int64_t max_pixels;         /* refuse larger originals; default 100M */
    int work_size;              /* longest side of the working copy; default 1280 */
} img_limits;

typedef struct img_decoded {
    int width, height;          /* original, after EXIF orientation */
    char format[16];            /* "jpeg", "png", "webp", "gif", "tiff", "heif", ... */
    img_rgb work;               /* working copy (owned) */
    char *exif_json;            /* {"date_taken":"2019-07-01T12:00:00","camera":"Canon EOS 5D",
                                   "gps":{"lat":..,"lon":..}} with only the keys present;
                                   NULL when the image has no EXIF */
    int64_t taken_at;           /* unix seconds of date_taken (as UTC), 0 if unknown */
} img_decoded;

int img_global_init(const char *argv0, scry_err *err);
void img_global_shutdown(void);
/* Release libvips' per-thread buffers. Call it once when a thread that used
 * these functions (a job worker) is about to exit; threads that libvips
 * created itself do not need it. */
void img_thread_done(void);

/* Format from magic bytes, or NULL when the bytes are not an image we accept.
 * Needs at most the first 32 bytes. */
const char *img_sniff(const void *data, size_t n);
/* MIME type for a sniffed format ("image/jpeg"), "application/octet-stream"
 * when unknown. */
const char *img_mime(const char *format);

/* Decode. A corrupt or truncated file fails with SCRY_ECORRUPT and the
 * decoder's own reason in err; over the pixel limit fails with SCRY_ETOOBIG;
 * bytes that are not one of the sniffed formats with SCRY_EUNSUPPORTED. lim
 * may be NULL (or hold zeros) for the defaults. exif_json is also NULL when
 * the EXIF holds none of its keys. On failure *out holds nothing to free. */
int img_decode(const void *data, size_t n, const img_limits *lim, img_decoded *out,
               scry_err *err);
void img_decoded_free(img_decoded *d);

/* A JPEG thumbnail of src, longest side max_side. *jpeg malloc'ed. */
int img_thumbnail_jpeg(const img_rgb *src, int max_side, void **jpeg, size_t *len,
                       scry_err *err);

/* Dominant colours as a JSON array, most dominant first, at most max_colors,
 * each {"name": one of scry_color_names, "hex": "#rrggbb", "fraction": 0.31}.
 * Malloc'ed string. */
char *img_colors_json(const img_rgb *src, int max_colors);
/* Dominant named colour inside a box (pixel coordinates of src), as an index
 * into scry_color_names, or -1 for an empty box. Used for "red car". */
int img_region_color(const img_rgb *src, int x, int y, int w, int h);
/* How img_object_color looks at a box. */
typedef struct img_color_opts {
    float gain;                 /* white point correction (img_white_gain); 1 = as is */
    int surround;               /* discount what the box shares with the ring around it
                                   (background seen through a bicycle, grass around a dog) */
    int skip_skin;              /* ignore skin-coloured pixels (clothing of a person) */
} img_color_opts;
/* img_region_color with options (NULL: as img_region_color). Measured
 * against captions in docs/concepts.md: the surround discount takes object
 * colours from 0.46 to 0.66 agreement on the training photos. */
int img_object_color(const img_rgb *src, int x, int y, int w, int h, const img_color_opts *o);
/* A brightness gain (1..1.6) that brings the photo's near-brightest pixels
 * to white: under indoor or overcast light a white shirt reads gray. */
float img_white_gain(const img_rgb *src);

/* What the pixels say about the photo as a whole, for the learned concept
 * heads (vision/concepts.h) and the photo-level facts ("black and white",
 * "dark", "blurry"). Colour in Oklab (L 0..1; a, b ~ -0.3..0.3), measured on
 * a grid of at most IMG_STATS_GRID x IMG_STATS_GRID samples (area means, so
 * a photo's size barely matters). */
#define IMG_STATS_GRID 128
#define IMG_STATS_LAYOUT 4          /* colour layout: 4x4 cells */
#define IMG_STATS_COUNT (IMG_STATS_LAYOUT * IMG_STATS_LAYOUT * 3 + SCRY_COLOR_COUNT + 9)
typedef struct img_stats {
    float layout[IMG_STATS_LAYOUT * IMG_STATS_LAYOUT][3]; /* mean L, a, b per cell, rows first */
    float color_fraction[SCRY_COLOR_COUNT];  /* share of each named colour */
    float l_mean, l_std;        /* lightness */
    float chroma_mean;          /* colourfulness */
    float grey_fraction;        /* samples with chroma < 0.03: all of a black-and-white photo */
    float dark_fraction;        /* L < 0.25 */
    float bright_fraction;      /* L > 0.95: blown highlights */
    float top_minus_bottom;     /* L of the top third minus the bottom third (sky above) */
    float sharpness;            /* mean |Laplacian| of L on the sample grid (x100) */
    float edge_fraction;        /* samples with a gradient above 0.1 */
} img_stats;

/* Fill *st from src (zeros for an empty image). */
void img_stats_compute(const img_rgb *src, img_stats *st);

/* What the pixels say about the photo itself, as a bit set: black and
 * white (no colour anywhere), dark (mostly in shadow: night, a dim room),
 * overexposed (a large blown-out area) and blurry (no fine detail even at
 * 128 samples a side). Thresholds were set from the distribution of these
 * statistics over 1,000 unlabelled COCO photos (each about the 1-3% tail)
 * and checked by eye on the photos they select (docs/concepts.md).
 * "Close-up" needs the detections and is decided by the pipeline. */
enum { IMG_ATTR_BW = 1, IMG_ATTR_DARK = 2, IMG_ATTR_OVEREXPOSED = 4, IMG_ATTR_BLURRY = 8,
       IMG_ATTR_CLOSEUP = 16 };
#define IMG_ATTR_COUNT 5
/* "black and white", "dark", "overexposed", "blurry", "close-up" (bit i) */
extern const char *const img_attr_names[IMG_ATTR_COUNT];
int img_photo_attributes(const img_stats *st);
/* Index of an attribute name, or -1. */
int img_attr_index(const char *name);
/* The same as a flat array of IMG_STATS_COUNT floats, in field order. */
void img_stats_flatten(const img_stats *st, float *out);

/* 64-bit perceptual hash (DCT of a 32x32 grey reduction, sign of the 8x8
 * low frequencies against their median). Near-duplicates differ in few bits. */
uint64_t img_phash(const img_rgb *src);
int img_phash_distance(uint64_t a, uint64_t b);

#endif
