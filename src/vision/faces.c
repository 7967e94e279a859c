/* faces.c -- see faces.h.
 *
 * BlazeFace (both the front 128 and the back 256 model) is an SSD with 896
 * anchors: a 16x16 grid with 2 anchors per cell and an 8x8 grid with 6, all
 * centred in their cell (offset 0.5) and of fixed unit size, in the order
 * (layer, row, column, anchor). Each anchor regresses 16 numbers: box centre
 * offset and size in input pixels (divided by the input size to get
 * normalised units), then 6 keypoints (x, y) decoded the same way, returned
 * by faces_detect_landmarks for face alignment. Scores are logits,
 * clipped to +-100 before the sigmoid as MediaPipe does.
 *
 * Input: NHWC RGB scaled to [-1, 1]. The whole image is letterboxed (centred,
 * black borders) into the square input; tiles are square crops of the image
 * scaled to the input size.
 *
 * Merging: MediaPipe's weighted NMS -- take the best remaining detection, let
 * every detection overlapping it with IoU >= 0.3 vote for the box with its
 * score as weight, keep the best score. We run it once over the detections of
 * all passes, which also merges a face seen by the whole-image pass and by a
 * tile.
 *
 * Tiles partition the image into "cores" (each point belongs to the tile in
 * which it is furthest from a cut); a tile keeps only detections centred in
 * its core and no larger than the tile overlap, so a face cut by a tile edge
 * is always seen whole by a neighbour and large faces are left to the
 * whole-image pass. */
#include "vision/faces.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "vision/onnx.h"
#include "vision/warp.h"

#define N_ANCHORS 896
#define NMS_IOU 0.3f

struct faces_model {
    onnx_model *net;
    faces_opts opts;
    int size;                   /* input side: 128 or 256 */
    int out_index[4];           /* scores16, scores8, boxes16, boxes8 */
    float anchors[N_ANCHORS][2];
};

void faces_default_opts(faces_opts *o) {
    o->model = FACES_BACK_256;
    o->min_score = 0.6f;
    o->tile = -1;
    o->max_faces = 64;
}

static void make_anchors(faces_model *m) {
    int k = 0;
    static const int grid[2] = {16, 8}, per_cell[2] = {2, 6};
    for (int l = 0; l < 2; l++)
        for (int y = 0; y < grid[l]; y++)
            for (int x = 0; x < grid[l]; x++)
                for (int a = 0; a < per_cell[l]; a++, k++) {
                    m->anchors[k][0] = ((float)x + 0.5f) / (float)grid[l];
                    m->anchors[k][1] = ((float)y + 0.5f) / (float)grid[l];
                }
}

int faces_load(const char *models_dir, faces_model **out, scry_err *err) {
    return faces_load_opts(models_dir, NULL, out, err);
}

int faces_load_opts(const char *models_dir, const faces_opts *opts, faces_model **out,
                    scry_err *err) {
    *out = NULL;
    faces_model *m = calloc(1, sizeof *m);
    if (!m) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    if (opts) m->opts = *opts;
    else faces_default_opts(&m->opts);
    if (m->opts.max_faces <= 0) m->opts.max_faces = 64;
    int front = m->opts.model == FACES_FRONT_128;
    m->size = front ? 128 : 256;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", models_dir,
             front ? "blazeface_front_128.onnx" : "blazeface_back_256.onnx");
    int rc = onnx_model_load(path, &m->net, err);
    if (rc) {
        free(m);
        return rc;
    }
    static const char *names[4] = {"Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"};
    for (int k = 0; k < 4; k++) {
        m->out_index[k] = -1;
        for (int i = 0; i < onnx_output_count(m->net); i++)
            if (strcmp(onnx_output_name(m->net, i), names[k]) == 0) m->out_index[k] = i;
        if (m->out_index[k] < 0 || onnx_input_count(m->net) != 1) {
            faces_free(m);
            return scry_fail(err, SCRY_EUNSUPPORTED,
                             "%s is not the BlazeFace model we expect (no output %s)", path,
                             names[k]);
        }
    }
    make_anchors(m);
    *out = m;
    return SCRY_OK;
}

void faces_free(faces_model *m) {
    if (!m) return;
    onnx_model_free(m->net);
    free(m);
}

/* A detection: its box and its keypoints (image pixels). */
typedef struct det {
    face_box b;
    face_landmarks lm;
} det;

/* A growable array of candidate detections. */
typedef struct cands {
    det *v;
    int n, cap;
} cands;

static int push(cands *c, const det *d) {
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 64;
        det *v = realloc(c->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        c->v = v, c->cap = cap;
    }
    c->v[c->n++] = *d;
    return 0;
}

/* A region of the image to run the network on, and which of its detections
 * to keep (centre inside [kx0,kx1) x [ky0,ky1), size <= max_side). */
typedef struct pass {
    warp_affine map;
    float kx0, ky0, kx1, ky1;
    float max_side;
} pass;

static int run_pass(faces_model *m, const img_rgb *img, const pass *p, float *input, cands *c,
                    scry_err *err) {
    static const warp_format fmt = {{0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}, 0, 0, {0, 0, 0}};
    int S = m->size;
    warp_to_tensor(img, &p->map, S, S, &fmt, input);
    onnx_tensor in = {input, {1, S, S, 3}, 4};
    onnx_tensor out[4];
    memset(out, 0, sizeof out);
    int rc = onnx_run(m->net, &in, 1, out, 4, err);
    if (rc) return rc;
    const float *scores[2] = {out[m->out_index[0]].data, out[m->out_index[1]].data};
    const float *boxes[2] = {out[m->out_index[2]].data, out[m->out_index[3]].data};
    size_t count[2] = {onnx_tensor_count(&out[m->out_index[0]]),
                       onnx_tensor_count(&out[m->out_index[1]])};
    if (count[0] != 512 || count[1] != 384 || onnx_tensor_count(&out[m->out_index[2]]) != 512 * 16 ||
        onnx_tensor_count(&out[m->out_index[3]]) != 384 * 16) {
        rc = scry_fail(err, SCRY_EUNSUPPORTED, "unexpected BlazeFace output shapes");
        goto done;
    }
    float logit_min = logf(m->opts.min_score / (1.0f - m->opts.min_score));
    for (int l = 0, k = 0; l < 2; l++) {
        for (size_t i = 0; i < count[l]; i++, k++) {
            float s = scores[l][i];
            if (s < logit_min) continue;
            if (s > 100.0f) s = 100.0f;
            const float *r = boxes[l] + i * 16;
            /* Normalised centre/size in the input square, then input pixels,
             * then image pixels through the pass's map (axis-aligned). */
            float cx = (m->anchors[k][0] + r[0] / (float)S) * (float)S;
            float cy = (m->anchors[k][1] + r[1] / (float)S) * (float)S;
            float w = r[2], h = r[3];
            if (w <= 0 || h <= 0) continue;
            float icx = p->map.a * cx + p->map.c, icy = p->map.e * cy + p->map.f;
            float iw = p->map.a * w, ih = p->map.e * h;
            if (icx < p->kx0 || icx >= p->kx1 || icy < p->ky0 || icy >= p->ky1) continue;
            if (iw > p->max_side || ih > p->max_side) continue;
            det d = {{icx - iw / 2, icy - ih / 2, iw, ih, 1.0f / (1.0f + expf(-s))}, {{{0}}}};
            for (int q = 0; q < FACES_KEYPOINTS; q++) {
                float kx = (m->anchors[k][0] + r[4 + 2 * q] / (float)S) * (float)S;
                float ky = (m->anchors[k][1] + r[5 + 2 * q] / (float)S) * (float)S;
                d.lm.pt[q][0] = p->map.a * kx + p->map.c;
                d.lm.pt[q][1] = p->map.e * ky + p->map.f;
            }
            if (push(c, &d)) {
                rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
                goto done;
            }
        }
    }
done:
    for (int i = 0; i < 4; i++) onnx_tensor_free(&out[i]);
    return rc;
}

static float iou(const face_box *a, const face_box *b) {
    float x0 = fmaxf(a->x, b->x), y0 = fmaxf(a->y, b->y);
    float x1 = fminf(a->x + a->w, b->x + b->w), y1 = fminf(a->y + a->h, b->y + b->h);
    float inter = fmaxf(0, x1 - x0) * fmaxf(0, y1 - y0);
    float uni = a->w * a->h + b->w * b->h - inter;
    return uni > 0 ? inter / uni : 0;
}

static int by_score_desc(const void *pa, const void *pb) {
    float a = ((const det *)pa)->b.score, b = ((const det *)pb)->b.score;
    return (a < b) - (a > b);
}

/* Weighted NMS in place (boxes and keypoints alike, as MediaPipe does);
 * returns the number of merged detections kept at the front of c->v. */
static int weighted_nms(cands *c, int max_keep) {
    qsort(c->v, (size_t)c->n, sizeof *c->v, by_score_desc);
    char *used = calloc((size_t)c->n + 1, 1);
    if (!used) return -1;
    int kept = 0;
    for (int i = 0; i < c->n && kept < max_keep; i++) {
        if (used[i]) continue;
        face_box top = c->v[i].b;
        float sw = 0, x0 = 0, y0 = 0, x1 = 0, y1 = 0;
        face_landmarks lm = {{{0}}};
        for (int j = i; j < c->n; j++) {
            if (used[j] || iou(&top, &c->v[j].b) < NMS_IOU) continue;
            const face_box *b = &c->v[j].b;
            used[j] = 1;
            sw += b->score;
            x0 += b->score * b->x, y0 += b->score * b->y;
            x1 += b->score * (b->x + b->w), y1 += b->score * (b->y + b->h);
            for (int q = 0; q < FACES_KEYPOINTS; q++) {
                lm.pt[q][0] += b->score * c->v[j].lm.pt[q][0];
                lm.pt[q][1] += b->score * c->v[j].lm.pt[q][1];
            }
        }
        det merged = {{x0 / sw, y0 / sw, (x1 - x0) / sw, (y1 - y0) / sw, top.score}, lm};
        for (int q = 0; q < FACES_KEYPOINTS; q++) merged.lm.pt[q][0] /= sw, merged.lm.pt[q][1] /= sw;
        c->v[kept++] = merged;
    }
    free(used);
    return kept;
}

/* Tile starts along one axis: n tiles of side t evenly spread over len so
 * that neighbours overlap by at least t/3. */
static int tile_starts(int len, int t, float *starts, int max) {
    if (len <= t) {
        starts[0] = (float)(len - t) / 2.0f;
        return 1;
    }
    float stride = (float)t * 2.0f / 3.0f;
    int n = (int)ceilf((float)(len - t) / stride) + 1;
    if (n > max) n = max;
    for (int i = 0; i < n; i++) starts[i] = (float)(len - t) * (float)i / (float)(n - 1);
    return n;
}

/* Estimated face side, in whole-pass input pixels, below which a tile is
 * pointless: ~8 px in a tile's input, half what BlazeFace finds. */
#define FACES_TILE_MIN_FACE 5.0f

/* A face the whole pass found narrower than this (input px) is re-examined
 * by the tile over its person: found, but poorly boxed. */
#define FACES_WHOLE_PASS_GOOD_BOX 20.0f

/* Does the whole-image pass need help from tiles for this person? Not when
 * it already found a face inside the person's box, nor when the person is so
 * large that its face is well within what the whole pass sees: the face side
 * is estimated as a third of the box's shorter side (a standing person is
 * ~2.5 heads wide, a seated or cropped one wider, so this errs small, i.e.
 * towards tiling), and compared in the whole pass's input pixels. */
static int person_needs_tiles(const face_box *person, const cands *whole, float whole_scale) {
    float est_face = fminf(person->w, person->h) / 3.0f * whole_scale;
    if (est_face >= FACES_WHOLE_PASS_MIN_FACE) return 0;
    /* Nor when the person is so small that even a tile (~1.7x finer) would
     * show the face below what the detector can find: most people in street
     * and crowd scenes, where tiles would cost passes and find nothing. */
    if (est_face < FACES_TILE_MIN_FACE) return 0;
    for (int i = 0; i < whole->n; i++) {
        /* A face the whole pass saw tiny is found but poorly boxed: the
         * tile pass refines it. */
        const face_box *f = &whole->v[i].b;
        if (f->w * whole_scale < FACES_WHOLE_PASS_GOOD_BOX) continue;
        float cx = f->x + f->w / 2, cy = f->y + f->h / 2;
        if (cx >= person->x && cx < person->x + person->w && cy >= person->y &&
            cy < person->y + person->h)
            return 0;
    }
    return 1;
}

static int overlaps(const face_box *b, float x0, float y0, float x1, float y1) {
    return b->x < x1 && b->x + b->w > x0 && b->y < y1 && b->y + b->h > y0;
}

int faces_detect(faces_model *m, const img_rgb *img, face_box **out, int *n, scry_err *err) {
    return faces_detect_landmarks(m, img, NULL, -1, out, NULL, n, err);
}

int faces_detect_guided(faces_model *m, const img_rgb *img, const face_box *people, int npeople,
                        face_box **out, int *n, scry_err *err) {
    return faces_detect_landmarks(m, img, people, npeople, out, NULL, n, err);
}

int faces_detect_landmarks(faces_model *m, const img_rgb *img, const face_box *people,
                           int npeople, face_box **out, face_landmarks **lm, int *n,
                           scry_err *err) {
    *out = NULL;
    if (lm) *lm = NULL;
    *n = 0;
    if (!img || !img->px || img->w <= 0 || img->h <= 0)
        return scry_fail(err, SCRY_EINVAL, "faces_detect: empty image");
    int S = m->size;
    float *input = malloc((size_t)S * (size_t)S * 3 * sizeof(float));
    if (!input) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    cands c = {0};
    int rc;
    /* Whole image, letterboxed into the square. */
    float side = (float)(img->w > img->h ? img->w : img->h);
    pass whole = {warp_rect(((float)img->w - side) / 2, ((float)img->h - side) / 2, side, side,
                            S, S),
                  -1e9f, -1e9f, 1e9f, 1e9f, 1e9f};
    rc = run_pass(m, img, &whole, input, &c, err);
    /* Finer pass on tiles when they are meaningfully smaller than the image. */
    int T = m->opts.tile;
    if (T < 0) T = side > 1.25f * (float)S ? (int)(0.6f * side + 0.5f) : 0;
    if (rc == SCRY_OK && T > 0 && side > 1.25f * (float)T && npeople != 0) {
        /* With people given, only tiles over a person the whole pass may
         * have failed count. */
        char need_any = npeople < 0;
        char *needs = NULL;
        if (npeople > 0) {
            needs = calloc((size_t)npeople, 1);
            if (!needs) rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
            for (int i = 0; needs && i < npeople; i++)
                need_any |= needs[i] = (char)person_needs_tiles(&people[i], &c, (float)S / side);
        }
        enum { MAXT = 16 };
        float xs[MAXT], ys[MAXT];
        int nx = tile_starts(img->w, T, xs, MAXT), ny = tile_starts(img->h, T, ys, MAXT);
        for (int ty = 0; need_any && ty < ny && rc == SCRY_OK; ty++) {
            for (int tx = 0; tx < nx && rc == SCRY_OK; tx++) {
                pass p = {warp_rect(xs[tx], ys[ty], (float)T, (float)T, S, S), -1e9f, -1e9f,
                          1e9f, 1e9f, (float)T / 3.0f};
                if (tx > 0) p.kx0 = (xs[tx - 1] + (float)T + xs[tx]) / 2;
                if (tx + 1 < nx) p.kx1 = (xs[tx] + (float)T + xs[tx + 1]) / 2;
                if (ty > 0) p.ky0 = (ys[ty - 1] + (float)T + ys[ty]) / 2;
                if (ty + 1 < ny) p.ky1 = (ys[ty] + (float)T + ys[ty + 1]) / 2;
                int wanted = npeople < 0;
                for (int i = 0; !wanted && i < npeople; i++)
                    wanted = needs[i] && overlaps(&people[i], p.kx0, p.ky0, p.kx1, p.ky1);
                if (wanted) rc = run_pass(m, img, &p, input, &c, err);
            }
        }
        free(needs);
    }
    free(input);
    if (rc) {
        free(c.v);
        return rc;
    }
    int kept = c.n ? weighted_nms(&c, m->opts.max_faces) : 0;
    if (kept < 0) {
        free(c.v);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    if (kept == 0) {
        free(c.v);
        return SCRY_OK;
    }
    face_box *boxes = malloc((size_t)kept * sizeof *boxes);
    face_landmarks *marks = lm ? malloc((size_t)kept * sizeof *marks) : NULL;
    if (!boxes || (lm && !marks)) {
        free(boxes);
        free(marks);
        free(c.v);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    for (int i = 0; i < kept; i++) {
        boxes[i] = c.v[i].b;
        if (marks) marks[i] = c.v[i].lm;
    }
    free(c.v);
    *out = boxes;
    if (lm) *lm = marks;
    *n = kept;
    return SCRY_OK;
}

face_box face_box_expand(face_box b, float margin, int w, int h) {
    float x0 = b.x - margin * b.w, y0 = b.y - margin * b.h;
    float x1 = b.x + b.w * (1 + margin), y1 = b.y + b.h * (1 + margin);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > (float)w) x1 = (float)w;
    if (y1 > (float)h) y1 = (float)h;
    face_box r = {x0, y0, x1 > x0 ? x1 - x0 : 0, y1 > y0 ? y1 - y0 : 0, b.score};
    return r;
}
