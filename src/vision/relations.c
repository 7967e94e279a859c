/* relations.c -- see relations.h.
 *
 * Boxes are (x, y, w, h), y down. The thresholds below are the ones the
 * rules were measured with (docs/concepts.md); each is a plain geometric
 * condition rather than a learned score, because the training photos are
 * too few to learn relations from and a rule can be read and checked. */
#include "vision/relations.h"

#include <math.h>
#include <pthread.h>

#include "core/labels.h"

const char *const rel_names[REL_COUNT] = {"riding", "holding", "sitting on"};

/* The role a label can play in a relation. */
enum { K_OTHER, K_PERSON, K_MOUNT, K_BOARD, K_HANDHELD, K_SEAT };
static unsigned char kind_of[SCRY_COCO_COUNT];
static pthread_once_t kinds_once = PTHREAD_ONCE_INIT;

static void init_kinds(void) {
    static const char *const mounts[] = {"bicycle", "motorcycle", "horse", "elephant", NULL};
    static const char *const boards[] = {"skateboard", "surfboard", "snowboard", "skis", NULL};
    static const char *const handheld[] = {
        "cell phone", "umbrella", "frisbee", "tennis racket", "baseball bat", "baseball glove",
        "cup", "bottle", "wine glass", "remote", "knife", "fork", "spoon", "banana", "donut",
        "sandwich", "hot dog", "teddy bear", "book", "toothbrush", "hair drier", "scissors",
        "kite", "handbag", "sports ball", "apple", "orange", "pizza", "mouse", NULL};
    static const char *const seats[] = {"chair", "couch", "bench", "bed", "toilet", NULL};
    static const struct { const char *const *names; int kind; } groups[] = {
        {mounts, K_MOUNT}, {boards, K_BOARD}, {handheld, K_HANDHELD},
        {seats, K_SEAT}};
    for (size_t g = 0; g < sizeof groups / sizeof *groups; g++)
        for (const char *const *n = groups[g].names; *n; n++) {
            int l = scry_coco_index(*n);
            if (l >= 0) kind_of[l] = (unsigned char)groups[g].kind;
        }
    kind_of[scry_coco_index("person")] = K_PERSON;
}

static int kind(const det_box *d) {
    return d->label >= 0 && d->label < SCRY_COCO_COUNT ? kind_of[d->label] : K_OTHER;
}
static int is_mount(const det_box *d) { return kind(d) == K_MOUNT; }

static float overlap(float a0, float a1, float b0, float b1) {
    float o = fminf(a1, b1) - fmaxf(a0, b0);
    return o > 0 ? o : 0;
}

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

/* Person p over mount m: centred over it, above it, feet inside it. */
static float riding_mount(const det_box *p, const det_box *m) {
    float pcx = p->x + p->w / 2, mcx = m->x + m->w / 2;
    float pbot = p->y + p->h, mbot = m->y + m->h;
    if (pcx < m->x || pcx > m->x + m->w) return 0;             /* over it */
    if (p->y + p->h / 2 > m->y + m->h / 2) return 0;           /* centre above its centre */
    if (pbot < m->y + 0.15f * m->h || pbot > mbot + 0.1f * m->h) return 0;  /* feet in it */
    if (p->w > 2.5f * m->w) return 0;                          /* a big person by a toy */
    return clamp01(1.0f - fabsf(pcx - mcx) / (m->w / 2 + 1e-3f) * 0.5f);
}

/* Person p on board b: the board under their feet. */
static float riding_board(const det_box *p, const det_box *b) {
    float bcx = b->x + b->w / 2, bcy = b->y + b->h / 2, pbot = p->y + p->h;
    if (bcx < p->x - 0.2f * p->w || bcx > p->x + 1.2f * p->w) return 0;
    float d = fabsf(bcy - pbot) / (p->h + 1e-3f);
    if (d > 0.25f) return 0;
    return clamp01(1.0f - d * 2.0f);
}

static float holding(const det_box *p, const det_box *o) {
    float ocx = o->x + o->w / 2, ocy = o->y + o->h / 2;
    if (ocx < p->x || ocx > p->x + p->w || ocy < p->y || ocy > p->y + 0.8f * p->h) return 0;
    float ratio = (o->w * o->h) / (p->w * p->h + 1e-3f);
    if (ratio > 0.35f) return 0;
    return clamp01(1.0f - ratio * 2.0f);
}

static float sitting_on(const det_box *p, const det_box *s) {
    /* the lower half of the person overlaps the seat */
    float ly0 = p->y + p->h / 2, ly1 = p->y + p->h;
    float ix = overlap(p->x, p->x + p->w, s->x, s->x + s->w);
    float iy = overlap(ly0, ly1, s->y, s->y + s->h);
    float frac = ix * iy / (p->w * (ly1 - ly0) + 1e-3f);
    if (frac < 0.3f || p->y > s->y) return 0;
    return clamp01(frac);
}

int relations_find(const det_box *d, int n, relation *out, int max) {
    pthread_once(&kinds_once, init_kinds);
    int k = 0;
    for (int i = 0; i < n && k < max; i++) {
        if (kind(&d[i]) != K_PERSON) continue;
        int best_ride = -1, best_seat = -1;
        float ride = 0, seat = 0;
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            float s = 0;
            if (is_mount(&d[j])) s = riding_mount(&d[i], &d[j]);
            else if (kind(&d[j]) == K_BOARD) s = riding_board(&d[i], &d[j]);
            if (s > ride) ride = s, best_ride = j;
            if (kind(&d[j]) == K_SEAT && (s = sitting_on(&d[i], &d[j])) > seat) seat = s, best_seat = j;
        }
        if (best_ride >= 0 && k < max) out[k++] = (relation){REL_RIDING, i, best_ride, ride};
        if (best_seat >= 0 && best_ride < 0 && k < max)
            out[k++] = (relation){REL_SITTING_ON, i, best_seat, seat};
        for (int j = 0; j < n && k < max; j++) {
            float s;
            if (kind(&d[j]) == K_HANDHELD && (s = holding(&d[i], &d[j])) > 0)
                out[k++] = (relation){REL_HOLDING, i, j, s};
        }
    }
    return k;
}

int relations_clothing(const img_rgb *img, const det_box *p, float gain) {
    if (!img || p->h < RELATIONS_MIN_PERSON_PX) return -1;
    const img_color_opts o = {gain, 1, 1};
    return img_object_color(img, (int)(p->x + p->w * 0.25f), (int)(p->y + p->h * 0.20f),
                            (int)(p->w * 0.5f), (int)(p->h * 0.30f), &o);
}
