/* stages_vision.c -- the model stages: objects (COCO-80, with the colour of
 * each object), faces with their expression, age, gender and descriptor,
 * text in the image (OCR), and the caption composed from every fact found.
 *
 * Detections are made on the decoded working copy; boxes are stored in the
 * original image's pixel coordinates (scaled back), so clients can draw them
 * over /content. Per-image results the caption needs are kept in a scratch
 * struct hung on the stage context (ctx->vision). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/labels.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "jobs/stage.h"
#include "vision/caption.h"
#include "vision/concepts.h"
#include "vision/emotion.h"
#include "vision/faceres.h"
#include "vision/faces.h"
#include "vision/objects.h"
#include "vision/ocr.h"
#include "vision/relations.h"
#include "vision/onnx.h"

#define MAX_CAPTION_OBJECTS 12
#define MAX_RELATIONS 16
/* The caption names an expression only when the classifier is this sure of
 * it (it is weak apart from "happy": docs/vision-objects.md). */
#define CAPTION_EMOTION_MIN 0.5f
/* ...and any other expression only at this: on 400 unlabelled COCO photos
 * the expression model calls a quarter of all faces sad, while the captions
 * of the 855 training photos say "smiling" or "laughing" of 60 of them and
 * "sad" of one (surprised, angry, scared: none) -- a sad face in a caption
 * would nearly always be wrong. The faces keep every score for search. */
#define CAPTION_EMOTION_OTHER 0.9f

/* Faces kept in a photo without a detected person need this score (instead
 * of the detector's 0.6). On 239 COCO photos, 17 faces were found in 15
 * photos without a detected person -- 12 of those photos have no person at
 * all in COCO's labels (horses, cats, a bear, a teddy bear) -- and 16 of the
 * 17 scored 0.61-0.72; true faces with people score that low too, so the
 * stricter bar applies only where nobody was seen (docs/vision-faces-ocr.md). */
#define FACES_NO_PERSON_MIN_SCORE 0.75f

/* A concept is stored as a tag when the head gives it this calibrated
 * probability (a weak fact: the keyword index weighs it by its score), and
 * said in the caption from CAPTION_CONCEPT_MIN (docs/concepts.md). */
#define CONCEPT_TAG_MIN 0.25f
#define CAPTION_CONCEPT_MIN 0.6f

/* Faces per photo that get age, gender and a descriptor (faceres, ~7 ms of
 * CPU each), largest first; faces narrower than FACERES_MIN_FACE_PX are
 * skipped (they would get no person word anyway). Measured on COCO in
 * docs/vision-faces-ocr.md. */
#define FACES_MAX_DESCRIBED 6

typedef struct vision_scratch {
    det_box *objects;
    int *object_colors;
    int nobjects;
    objects_features *features; /* the detector's pooled inner tensors (concepts stage) */
    relation relations[MAX_RELATIONS];
    int nrelations;
    int *person_upper;          /* upper-body clothing colour per detection (-1: none) */
    int *face_emotions;         /* per face: emotion index or -1 (not sure enough) */
    int *face_person;           /* per face: scry_person_labels index or -1 (no word) */
    face_box *face_boxes;       /* working-copy pixels, nfaces of them */
    int nfaces;
    float *concept_probs;       /* per concept of the head, or NULL */
} vision_scratch;

static void scratch_free(void *p) {
    vision_scratch *vs = p;
    if (!vs) return;
    free(vs->objects);
    free(vs->object_colors);
    free(vs->features);
    free(vs->person_upper);
    free(vs->face_emotions);
    free(vs->face_boxes);
    free(vs->concept_probs);
    free(vs->face_person);
    free(vs);
}

static vision_scratch *scratch(stage_ctx *ctx) {
    if (!ctx->vision) {
        ctx->vision = calloc(1, sizeof(vision_scratch));
        ctx->vision_free = scratch_free;
    }
    return ctx->vision;
}

/* Load one model if its file is there (or required). */
static int load_one(const scry_config *cfg, const char *file,
                    int (*load)(const char *, void **, scry_err *), void **out, scry_err *err) {
    *out = NULL;
    if (cfg->vision == 0) return SCRY_OK;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", cfg->models_dir, file);
    if (cfg->vision < 0 && access(path, R_OK) != 0) {
        log_warn("vision.model_missing", "file=%s fix=\"./scripts/setup.sh\" stage_skipped=1", path);
        return SCRY_OK;
    }
    return load(cfg->models_dir, out, err);
}

static int load_objects(const char *dir, void **out, scry_err *err) {
    return objects_load(dir, (objects_model **)out, err);
}
static int load_emotion(const char *dir, void **out, scry_err *err) {
    return emotion_load(dir, (emotion_model **)out, err);
}
static int load_faces(const char *dir, void **out, scry_err *err) {
    return faces_load(dir, (faces_model **)out, err);
}
static int load_faceres(const char *dir, void **out, scry_err *err) {
    return faceres_load(dir, (faceres_model **)out, err);
}
static int load_ocr(const char *dir, void **out, scry_err *err) {
    return ocr_load(dir, (ocr_model **)out, err);
}

int vision_models_load(vision_models *vm, const scry_config *cfg, scry_err *err) {
    memset(vm, 0, sizeof *vm);
    if (cfg->vision != 0) {
        int orc = onnx_global_init(cfg->ort_threads, err);
        if (orc != SCRY_OK) return cfg->vision > 0 ? orc : SCRY_OK;
    }
    int rc = load_one(cfg, OBJECTS_MODEL_FILE, load_objects, (void **)&vm->objects, err);
    if (rc == SCRY_OK)
        rc = load_one(cfg, EMOTION_FACEAPI_FILE, load_emotion, (void **)&vm->emotion, err);
    if (rc == SCRY_OK)
        rc = load_one(cfg, "blazeface_back_256.onnx", load_faces, (void **)&vm->faces, err);
    if (rc == SCRY_OK && cfg->face_attributes)
        rc = load_one(cfg, FACERES_MODEL_FILE, load_faceres, (void **)&vm->faceres, err);
    if (rc == SCRY_OK && cfg->ocr)
        rc = load_one(cfg, "ppocrv4_det.onnx", load_ocr, (void **)&vm->ocr, err);
    if (rc != SCRY_OK) vision_models_free(vm);
    return rc;
}

void vision_models_free(vision_models *vm) {
    objects_free(vm->objects);
    emotion_free(vm->emotion);
    faces_free(vm->faces);
    faceres_free(vm->faceres);
    ocr_free(vm->ocr);
    memset(vm, 0, sizeof *vm);
}

/* Working-copy pixels -> original pixels. */
static double scale_of(const stage_ctx *ctx) {
    return ctx->dec.work.w > 0 ? (double)ctx->dec.width / ctx->dec.work.w : 1.0;
}

/* A working-copy box in original pixels, rounded as the JSON gives it. */
static void box_px(double s, float x, float y, float w, float h, int out[4]) {
    out[0] = (int)(x * s + 0.5);
    out[1] = (int)(y * s + 0.5);
    out[2] = (int)(w * s + 0.5);
    out[3] = (int)(h * s + 0.5);
}

static json_t *box_json(double s, float x, float y, float w, float h) {
    int px[4];
    box_px(s, x, y, w, h, px);
    json_t *b = json_array();
    for (int k = 0; k < 4; k++) json_array_append_new(b, json_integer(px[k]));
    return b;
}

static json_t *real3(double v) { return json_real((double)(int)(v * 1000 + 0.5) / 1000); }

/* Which faces get faceres: at most FACES_MAX_DESCRIBED of those at least
 * FACERES_MIN_FACE_PX wide, the widest first. Sets pick[i]; returns how
 * many. */
static int pick_described(const face_box *b, int n, int *pick) {
    int count = 0;
    for (int i = 0; i < n; i++) pick[i] = 0;
    while (count < FACES_MAX_DESCRIBED) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!pick[i] && b[i].w >= FACERES_MIN_FACE_PX && (best < 0 || b[i].w > b[best].w))
                best = i;
        if (best < 0) break;
        pick[best] = 1;
        count++;
    }
    return count;
}

/* Age, gender, person word and descriptor of face i into f (JSON), the
 * scratch and the next row of ctx->faces_rows. */
static int describe_face(stage_ctx *ctx, vision_scratch *vs, const face_box *b, int i, double s,
                         json_t *f, scry_err *err) {
    faceres_result *r = malloc(sizeof *r);
    if (!r) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    double t0 = scry_mono_s();
    int rc = faceres_describe(ctx->models->faceres, &ctx->dec.work, b->x, b->y, b->w, b->h, r, err);
    /* one run per face: /metrics gives the time per face */
    metrics_stage("faceres", scry_mono_s() - t0, rc == SCRY_OK);
    if (rc == SCRY_OK) {
        json_object_set_new(f, "age", json_integer(r->age > 0 ? (json_int_t)(r->age + 0.5) : 0));
        json_object_set_new(f, "gender", json_string(scry_gender_labels[r->gender]));
        json_object_set_new(f, "gender_score", real3(r->gender_score));
        int word = faceres_person_word(r, b->w);
        if (word >= 0) json_object_set_new(f, "person", json_string(scry_person_labels[word]));
        vs->face_person[i] = word;
        meta_face *row = &ctx->faces_rows[ctx->faces_update.n];
        row->face_index = i;
        box_px(s, b->x, b->y, b->w, b->h, row->box);
        row->dim = FACERES_DIM;
        row->vec = ctx->faces_vecs + (size_t)ctx->faces_update.n * FACERES_DIM;
        memcpy(row->vec, r->descriptor, sizeof r->descriptor);
        ctx->faces_update.n++;
    }
    free(r);
    return rc;
}

static int run_objects(stage_ctx *ctx, scry_err *err) {
    vision_scratch *vs = scratch(ctx);
    if (!vs) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    objects_params op;
    objects_default_params(&op);
    if (ctx->models->concepts && !vs->features && !(vs->features = malloc(sizeof *vs->features)))
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    int rc = objects_detect_features(ctx->models->objects, &ctx->dec.work, &op, &vs->objects,
                                     &vs->nobjects, ctx->models->concepts ? vs->features : NULL, err);
    if (rc != SCRY_OK) {
        free(vs->features);     /* the concepts stage then says why it cannot run */
        vs->features = NULL;
        return rc;
    }
    size_t nalloc = (size_t)(vs->nobjects ? vs->nobjects : 1);
    vs->object_colors = calloc(nalloc, sizeof(int));
    vs->person_upper = calloc(nalloc, sizeof(int));
    if (!vs->object_colors || !vs->person_upper)
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    double s = scale_of(ctx);
    json_t *tags = json_array();
    /* object colours: white point corrected, background discounted */
    const img_color_opts copts = {img_white_gain(&ctx->dec.work), 1, 0};
    for (int i = 0; i < vs->nobjects; i++) {
        const det_box *d = &vs->objects[i];
        vs->object_colors[i] = img_object_color(&ctx->dec.work, (int)d->x, (int)d->y, (int)d->w,
                                                (int)d->h, &copts);
        vs->person_upper[i] = d->label == 0 ? relations_clothing(&ctx->dec.work, d, copts.gain) : -1;
        json_t *t = json_object();
        json_object_set_new(t, "label", json_string(scry_coco_labels[d->label]));
        json_object_set_new(t, "score", real3(d->score));
        json_object_set_new(t, "box", box_json(s, d->x, d->y, d->w, d->h));
        int c = vs->object_colors[i];
        json_object_set_new(t, "color", c >= 0 ? json_string(scry_color_names[c]) : json_null());
        if (vs->person_upper[i] >= 0)
            json_object_set_new(t, "upper", json_string(scry_color_names[vs->person_upper[i]]));
        json_array_append_new(tags, t);
    }
    /* relations between the detections just listed (indices into them) */
    vs->nrelations = relations_find(vs->objects, vs->nobjects, vs->relations, MAX_RELATIONS);
    for (int i = 0; i < vs->nrelations; i++) {
        const relation *r = &vs->relations[i];
        char label[96];
        snprintf(label, sizeof label, "%s %s", rel_names[r->kind],
                 scry_coco_labels[vs->objects[r->object].label]);
        json_t *t = json_object();
        json_object_set_new(t, "label", json_string(label));
        json_object_set_new(t, "score", json_real((double)(int)(r->score * 1000 + 0.5) / 1000));
        json_object_set_new(t, "kind", json_string("relation"));
        json_object_set_new(t, "relation", json_string(rel_names[r->kind]));
        json_object_set_new(t, "subject", json_integer(r->subject));
        json_object_set_new(t, "object", json_integer(r->object));
        json_array_append_new(tags, t);
    }
    free(ctx->rec.tags_json);
    ctx->rec.tags_json = json_dumps(tags, JSON_COMPACT);
    json_decref(tags);
    return ctx->rec.tags_json ? SCRY_OK : scry_fail(err, SCRY_ENOMEM, "out of memory");
}

static int run_faces(stage_ctx *ctx, scry_err *err) {
    vision_scratch *vs = scratch(ctx);
    if (!vs) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    face_box *boxes = NULL;
    int n = 0;
    /* The tiled pass finds small faces in group photos but costs ~4x the
     * whole-image pass. When the object detector ran, only tiles over a
     * person whose face the whole pass may have missed are run (none in a
     * photo without people): measured in docs/vision-faces-ocr.md. */
    face_box *people = NULL;
    int npeople = -1;
    if (ctx->models->objects) {
        people = malloc((size_t)(vs->nobjects ? vs->nobjects : 1) * sizeof *people);
        if (!people) return scry_fail(err, SCRY_ENOMEM, "out of memory");
        npeople = 0;
        for (int i = 0; i < vs->nobjects; i++)
            if (vs->objects[i].label == 0)
                people[npeople++] = (face_box){vs->objects[i].x, vs->objects[i].y,
                                               vs->objects[i].w, vs->objects[i].h,
                                               vs->objects[i].score};
    }
    int rc = faces_detect_guided(ctx->models->faces, &ctx->dec.work, people, npeople, &boxes, &n,
                                 err);
    free(people);
    if (rc != SCRY_OK) return rc;
    /* A face in a photo where the object detector saw nobody is most often
     * an animal's or a toy's (boxes sorted by score: keep the confident). */
    if (npeople == 0)
        while (n > 0 && boxes[n - 1].score < FACES_NO_PERSON_MIN_SCORE) n--;
    const size_t nn = (size_t)(n ? n : 1);
    free(vs->face_emotions);
    free(vs->face_person);
    vs->face_emotions = calloc(nn, sizeof(int));
    vs->face_person = calloc(nn, sizeof(int));
    int *pick = calloc(nn, sizeof(int));
    int ndesc = ctx->models->faceres ? pick_described(boxes, n, pick) : 0;
    free(ctx->faces_rows);
    free(ctx->faces_vecs);
    ctx->faces_update = (meta_faces_update){0};
    ctx->faces_rows = calloc((size_t)(ndesc ? ndesc : 1), sizeof *ctx->faces_rows);
    ctx->faces_vecs = malloc((size_t)(ndesc ? ndesc : 1) * FACERES_DIM * sizeof(float));
    if (!vs->face_emotions || !vs->face_person || !pick || !ctx->faces_rows || !ctx->faces_vecs) {
        free(boxes);
        free(pick);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    double s = scale_of(ctx);
    json_t *faces = json_array();
    for (int i = 0; i < n && rc == SCRY_OK; i++) {
        const face_box *b = &boxes[i];
        json_t *f = json_object();
        json_object_set_new(f, "box", box_json(s, b->x, b->y, b->w, b->h));
        json_object_set_new(f, "score", real3(b->score));
        vs->face_emotions[i] = -1;
        vs->face_person[i] = -1;
        if (ctx->models->emotion) {
            float scores[SCRY_EMOTION_COUNT];
            rc = emotion_classify(ctx->models->emotion, &ctx->dec.work, b->x, b->y, b->w, b->h,
                                  scores, err);
            if (rc == SCRY_OK) {
                int top = emotion_top(scores);
                json_object_set_new(f, "emotion", json_string(scry_emotion_labels[top]));
                json_t *sc = json_object();
                for (int e = 0; e < SCRY_EMOTION_COUNT; e++)
                    json_object_set_new(sc, scry_emotion_labels[e], real3(scores[e]));
                json_object_set_new(f, "scores", sc);
                if (scores[top] >= (top == scry_emotion_index("happy") ? CAPTION_EMOTION_MIN : CAPTION_EMOTION_OTHER))
                    vs->face_emotions[i] = top;
            }
        }
        if (rc == SCRY_OK && pick[i]) rc = describe_face(ctx, vs, b, i, s, f, err);
        json_array_append_new(faces, f);
    }
    vs->nfaces = rc == SCRY_OK ? n : 0;
    free(vs->face_boxes);
    vs->face_boxes = boxes;     /* kept: the caption stage reads their sizes */
    free(pick);
    if (rc == SCRY_OK) {
        free(ctx->rec.faces_json);
        ctx->rec.faces_json = json_dumps(faces, JSON_COMPACT);
        if (!ctx->rec.faces_json) rc = scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    json_decref(faces);
    /* The faces found now replace the stored ones (with their descriptors,
     * none without the faceres model: the old ones would name faces that
     * faces_json no longer lists). With --people 0 no descriptor is stored
     * and the stored faces (and their people) are left as they are. */
    if (rc == SCRY_OK && ctx->cfg->people) {
        ctx->faces_update.model = FACERES_MODEL_NAME;
        ctx->faces_update.dim = FACERES_DIM;
        ctx->faces_update.faces = ctx->faces_rows;
    } else {
        ctx->faces_update = (meta_faces_update){0};
    }
    return rc;
}

/* Append {"label","score","kind":"concept"} tags to a tags JSON array
 * (the detector's, or none yet). */
static int add_concept_tags(stage_ctx *ctx, const float *probs, scry_err *err) {
    const concepts_model *cm = ctx->models->concepts;
    json_t *tags = ctx->rec.tags_json ? json_loads(ctx->rec.tags_json, 0, NULL) : NULL;
    if (!json_is_array(tags)) {
        json_decref(tags);
        tags = json_array();
    }
    /* most probable first */
    int n = concepts_count(cm), *order = malloc((size_t)(n ? n : 1) * sizeof *order), k = 0;
    if (!order) {
        json_decref(tags);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++)
        if (probs[i] >= CONCEPT_TAG_MIN) order[k++] = i;
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && probs[order[j]] > probs[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    for (int i = 0; i < k; i++) {
        json_t *t = json_object();
        json_object_set_new(t, "label", json_string(concepts_word(cm, order[i])));
        json_object_set_new(t, "score", json_real((double)(int)(probs[order[i]] * 1000 + 0.5) / 1000));
        json_object_set_new(t, "kind", json_string("concept"));
        json_array_append_new(tags, t);
    }
    free(order);
    free(ctx->rec.tags_json);
    ctx->rec.tags_json = json_dumps(tags, JSON_COMPACT);
    json_decref(tags);
    return ctx->rec.tags_json ? SCRY_OK : scry_fail(err, SCRY_ENOMEM, "out of memory");
}

static int run_concepts(stage_ctx *ctx, scry_err *err) {
    const concepts_model *cm = ctx->models->concepts;
    vision_scratch *vs = scratch(ctx);
    if (!vs) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    if (!vs->features)
        return scry_fail(err, SCRY_EUNSUPPORTED, "no detector features (the objects stage failed)");
    float *feat = malloc(CONCEPT_FEAT_DIM * sizeof *feat);
    float *probs = malloc(((size_t)concepts_count(cm) + 1) * sizeof *probs);
    float *proj = malloc((size_t)concepts_proj_dim(cm) * sizeof *proj);
    if (!feat || !probs || !proj) {
        free(feat);
        free(probs);
        free(proj);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    img_stats st;
    if (ctx->stats) st = *ctx->stats;
    else img_stats_compute(&ctx->dec.work, &st);
    concepts_features(vs->features, vs->objects, vs->nobjects, ctx->dec.work.w, ctx->dec.work.h,
                      &st, feat);
    concepts_apply(cm, feat, probs, proj);
    free(feat);
    free(vs->concept_probs);
    vs->concept_probs = probs;
    free(ctx->image_vec);
    ctx->image_vec = proj;
    ctx->image_vec_dim = concepts_proj_dim(cm);
    return add_concept_tags(ctx, probs, err);
}

static int run_ocr(stage_ctx *ctx, scry_err *err) {
    ocr_word *words = NULL;
    int n = 0;
    int rc = ocr_read(ctx->models->ocr, &ctx->dec.work, &words, &n, err);
    if (rc != SCRY_OK) return rc;
    double s = scale_of(ctx);
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *w = json_object();
        json_t *t = json_string(words[i].text ? words[i].text : "");
        json_object_set_new(w, "text", t ? t : json_string("?"));
        json_object_set_new(w, "box", box_json(s, words[i].x, words[i].y, words[i].w, words[i].h));
        json_object_set_new(w, "conf", real3(words[i].conf));
        json_array_append_new(arr, w);
    }
    free(ctx->rec.text);
    ctx->rec.text = n ? ocr_join(words, n) : strdup("");
    free(ctx->rec.text_json);
    ctx->rec.text_json = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    ocr_words_free(words, n);
    return ctx->rec.text && ctx->rec.text_json ? SCRY_OK : scry_fail(err, SCRY_ENOMEM, "out of memory");
}

/* A close-up: one detection fills most of the frame, or a face a good
 * part of it (a portrait). */
#define CLOSEUP_BOX_FRACTION 0.55f
#define CLOSEUP_FACE_FRACTION 0.12f
static int closeup(const stage_ctx *ctx, const vision_scratch *vs) {
    double area = (double)ctx->dec.work.w * ctx->dec.work.h;
    if (!vs || area <= 0) return 0;
    for (int i = 0; i < vs->nobjects; i++) {
        const det_box *d = &vs->objects[i];
        if (d->w * d->h >= CLOSEUP_BOX_FRACTION * area &&
            (d->w >= 0.75f * ctx->dec.work.w || d->h >= 0.75f * ctx->dec.work.h))
            return 1;
    }
    for (int i = 0; i < vs->nfaces && vs->face_boxes; i++)
        if ((double)vs->face_boxes[i].w * vs->face_boxes[i].h >= CLOSEUP_FACE_FRACTION * area) return 1;
    return 0;
}

/* {"label": "black and white", "kind": "photo", "score": 1} per attribute,
 * after the other tags. */
static int add_photo_tags(stage_ctx *ctx, int attrs, scry_err *err) {
    if (!attrs) return SCRY_OK;
    json_t *tags = ctx->rec.tags_json ? json_loads(ctx->rec.tags_json, 0, NULL) : NULL;
    if (!json_is_array(tags)) {
        json_decref(tags);
        tags = json_array();
    }
    for (int i = 0; i < IMG_ATTR_COUNT; i++) {
        if (!(attrs >> i & 1)) continue;
        json_t *t = json_object();
        json_object_set_new(t, "label", json_string(img_attr_names[i]));
        json_object_set_new(t, "score", json_real(1.0));
        json_object_set_new(t, "kind", json_string("photo"));
        json_array_append_new(tags, t);
    }
    free(ctx->rec.tags_json);
    ctx->rec.tags_json = json_dumps(tags, JSON_COMPACT);
    json_decref(tags);
    return ctx->rec.tags_json ? SCRY_OK : scry_fail(err, SCRY_ENOMEM, "out of memory");
}

/* The person word of each person detection: that of a face with a word
 * whose centre is inside the person's box (the smallest such box takes
 * it, each face names one person). words[i] NULL when none. */
static void person_words(const vision_scratch *vs, const char **words) {
    for (int i = 0; i < vs->nobjects; i++) words[i] = NULL;
    for (int f = 0; f < vs->nfaces && vs->face_person && vs->face_boxes; f++) {
        if (vs->face_person[f] < 0) continue;
        float cx = vs->face_boxes[f].x + vs->face_boxes[f].w / 2;
        float cy = vs->face_boxes[f].y + vs->face_boxes[f].h / 2;
        int best = -1;
        for (int i = 0; i < vs->nobjects; i++) {
            const det_box *d = &vs->objects[i];
            if (d->label != 0 || words[i] || cx < d->x || cx > d->x + d->w || cy < d->y || cy > d->y + d->h)
                continue;
            if (best < 0 || d->w * d->h < vs->objects[best].w * vs->objects[best].h) best = i;
        }
        if (best >= 0) words[best] = scry_person_labels[vs->face_person[f]];
    }
}

/* The caption group of detection i (caption_tally's grouping). */
static int group_of(const caption_object *g, int ng, const det_box *d, const char *person) {
    for (int k = 0; k < ng; k++)
        if (g[k].label == d->label && (d->label != 0 || g[k].person == person ||
                                       (g[k].person && person && !strcmp(g[k].person, person))))
            return k;
    return -1;
}

/* What the caption says people do: the relations read from the boxes
 * (their score at least CAPTION_RELATION_MIN), then the activity concepts
 * the head is sure of, said of the first living subject. */
#define CAPTION_RELATION_MIN 0.5f
static int caption_actions(const stage_ctx *ctx, const vision_scratch *vs, const caption_object *g,
                           int ng, const char *const *persons, caption_action *out, int max) {
    int n = 0;
    for (int i = 0; i < vs->nrelations && n < max; i++) {
        const relation *r = &vs->relations[i];
        if (r->score < CAPTION_RELATION_MIN) continue;
        int s = group_of(g, ng, &vs->objects[r->subject], persons ? persons[r->subject] : NULL);
        int o = group_of(g, ng, &vs->objects[r->object], NULL);
        int again = 0;          /* two people each holding a racket: said once */
        for (int j = 0; j < n && !again; j++)
            again = out[j].subject == s && out[j].object == o && out[j].verb == rel_names[r->kind];
        if (s >= 0 && o >= 0 && !again) out[n++] = (caption_action){s, rel_names[r->kind], o};
    }
    const concepts_model *cm = ctx->models->concepts;
    if (!cm || !vs->concept_probs) return n;
    int subject = -1;
    for (int k = 0; k < ng && subject < 0; k++)
        if (g[k].label == 0 || (g[k].label >= 14 && g[k].label <= 23)) subject = k;
    for (int i = 0; subject >= 0 && i < concepts_count(cm) && n < max; i++) {
        const char *w = concepts_word(cm, i);
        if (vs->concept_probs[i] < CAPTION_CONCEPT_MIN || !caption_is_activity(w)) continue;
        int said = 0;           /* "sitting" when "sitting on the bench" is said */
        for (int j = 0; j < n && !said; j++) said = !strncmp(out[j].verb, w, strlen(w));
        if (!said) out[n++] = (caption_action){subject, w, -1};
    }
    return n;
}

static int run_caption(stage_ctx *ctx, scry_err *err) {
    vision_scratch *vs = ctx->vision;
    int attrs = ctx->photo_attrs | (closeup(ctx, vs) ? IMG_ATTR_CLOSEUP : 0);
    int rc = add_photo_tags(ctx, attrs, err);
    if (rc != SCRY_OK) return rc;
    if (!vs && !(ctx->rec.text && *ctx->rec.text) && !attrs) return SCRY_OK;   /* nothing to say */
    caption_object objs[MAX_CAPTION_OBJECTS];
    caption_action actions[4];
    int nobjs = 0, nactions = 0;
    const char *scene = NULL;
    if (vs && vs->nobjects) {
        int *labels = malloc((size_t)vs->nobjects * sizeof *labels);
        const char **clothing = calloc((size_t)vs->nobjects, sizeof *clothing);
        const char **who = calloc((size_t)vs->nobjects, sizeof *who);
        if (!labels || !clothing || !who) {
            free(labels);
            free(clothing);
            free(who);
            return scry_fail(err, SCRY_ENOMEM, "out of memory");
        }
        person_words(vs, who);
        for (int i = 0; i < vs->nobjects; i++) {
            labels[i] = vs->objects[i].label;
            if (vs->person_upper && vs->person_upper[i] >= 0)
                clothing[i] = scry_color_names[vs->person_upper[i]];
        }
        nobjs = caption_tally(labels, vs->object_colors, who, clothing, vs->nobjects, objs,
                              MAX_CAPTION_OBJECTS);
        nactions = caption_actions(ctx, vs, objs, nobjs, who, actions, 4);
        free(labels);
        free(clothing);
        free(who);
    }
    const concepts_model *cm = ctx->models->concepts;
    float best = CAPTION_CONCEPT_MIN;
    for (int i = 0; vs && cm && vs->concept_probs && i < concepts_count(cm); i++)
        if (vs->concept_probs[i] >= best && caption_scene_phrase(concepts_word(cm, i))) {
            best = vs->concept_probs[i];
            scene = concepts_word(cm, i);
        }
    caption_input in = {.objects = objs, .n_objects = nobjs,
                        .face_emotions = vs ? vs->face_emotions : NULL,
                        .n_faces = vs ? vs->nfaces : 0,
                        .ocr_text = ctx->rec.text && *ctx->rec.text ? ctx->rec.text : NULL,
                        .actions = actions, .n_actions = nactions, .scene = scene,
                        .photo_attrs = attrs};
    char *sentence = NULL;
    rc = caption_composed.caption(caption_composed.self, &in, &sentence, err);
    if (rc != SCRY_OK) return rc;
    free(ctx->rec.caption);
    ctx->rec.caption = sentence;
    return SCRY_OK;
}

const stage stage_objects = {"objects", 0, run_objects};
const stage stage_faces = {"faces", 0, run_faces};
const stage stage_concepts = {"concepts", 0, run_concepts};
const stage stage_ocr = {"ocr", 0, run_ocr};
const stage stage_caption = {"caption", 0, run_caption};
