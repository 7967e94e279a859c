/* lexicon.c -- see lexicon.h for what the mapping does and why.
 *
 * Implementation notes:
 *   - WordNet (libwordnet, Debian's wordnet-dev) reads its data files with
 *     fseek/fgets into static buffers; morphstr() even keeps an iterator in
 *     statics. All calls take wn_lock, which is process-wide (not per
 *     lexicon) because the library's state is.
 *   - Synsets are identified by their byte offset in data.noun / data.adj;
 *     the precomputed closure is a small open-addressing table keyed by
 *     (pos, offset) holding an 80-bit label set, built from ~90 anchors and
 *     their ~600 ancestors in a few milliseconds.
 *   - Queries walk at most MAX_DEPTH hypernym steps per sense and look at no
 *     more than MAX_SENSES senses, so a lookup is a few dozen synset reads
 *     (~0.1-0.5 ms), fine for query parsing; the hot path (encoding) only
 *     uses scry_lexicon_lemmas(), a handful of binary searches. */
#include "text/lexicon.h"

#include <ctype.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <wn.h>

#include "core/labels.h"
#include "core/log.h"
#include "core/util.h"

#define MAX_SENSES 8
#define MAX_DEPTH 16
#define TABLE_SLOTS 4096     /* > 2x the closure size (~700 synsets) */

static pthread_mutex_t wn_lock = PTHREAD_MUTEX_INITIALIZER;
static int wn_ready;         /* wninit() succeeded; guarded by wn_lock */

/* ---- explicit tables ------------------------------------------------------
 * Where WordNet's graph disagrees with what a photo search means. Each entry
 * says why. Lookups try these before WordNet; a table hit for the objects
 * replaces the WordNet answer for the objects (not for emotion/colour). */

/* Anchor synsets of the COCO labels: lemma and noun sense number (1-based).
 * Sense 1 unless the label means a less frequent sense. */
static const struct { const char *label, *lemma; int sense; const char *lemma2; int sense2; } anchors[] = {
    {"person", "person", 1, NULL, 0},        {"bicycle", "bicycle", 1, NULL, 0},
    {"car", "car", 1, NULL, 0},              {"motorcycle", "motorcycle", 1, NULL, 0},
    {"airplane", "airplane", 1, NULL, 0},    {"bus", "bus", 1, NULL, 0},
    {"train", "train", 1, NULL, 0},          {"truck", "truck", 1, NULL, 0},
    {"boat", "boat", 1, NULL, 0},            {"traffic light", "traffic_light", 1, NULL, 0},
    {"fire hydrant", "fire_hydrant", 1, NULL, 0},
    /* "stop sign" has no synset; anchoring it at "street sign" would make
     * every "sign" (which in our queries means text on a sign) a stop sign. */
    {"parking meter", "parking_meter", 1, NULL, 0}, {"bench", "bench", 1, NULL, 0},
    {"bird", "bird", 1, NULL, 0},            {"cat", "cat", 1, NULL, 0},
    {"dog", "dog", 1, NULL, 0},              {"horse", "horse", 1, NULL, 0},
    {"sheep", "sheep", 1, NULL, 0},          {"cow", "cow", 1, NULL, 0},
    {"elephant", "elephant", 1, NULL, 0},    {"bear", "bear", 1, NULL, 0},
    {"zebra", "zebra", 1, NULL, 0},          {"giraffe", "giraffe", 1, NULL, 0},
    {"backpack", "backpack", 1, NULL, 0},    {"umbrella", "umbrella", 1, NULL, 0},
    {"handbag", "handbag", 1, NULL, 0},      {"tie", "necktie", 1, NULL, 0},
    {"suitcase", "suitcase", 1, NULL, 0},    {"frisbee", "frisbee", 1, NULL, 0},
    {"skis", "ski", 1, NULL, 0},             {"snowboard", "snowboard", 1, NULL, 0},
    {"sports ball", "ball", 1, NULL, 0},     {"kite", "kite", 3, NULL, 0},          /* 3: the toy */
    {"baseball bat", "baseball_bat", 1, NULL, 0}, {"baseball glove", "baseball_glove", 1, NULL, 0},
    {"skateboard", "skateboard", 1, NULL, 0}, {"surfboard", "surfboard", 1, NULL, 0},
    {"tennis racket", "tennis_racket", 1, NULL, 0}, {"bottle", "bottle", 1, NULL, 0},
    {"wine glass", "wineglass", 1, NULL, 0}, {"cup", "cup", 1, NULL, 0},
    {"fork", "fork", 1, NULL, 0},            {"knife", "knife", 1, NULL, 0},
    {"spoon", "spoon", 1, NULL, 0},          {"bowl", "bowl", 1, "bowl", 3},
    {"banana", "banana", 2, NULL, 0},        /* 2: the fruit, 1 is the tree */
    {"apple", "apple", 1, NULL, 0},          {"sandwich", "sandwich", 1, NULL, 0},
    {"orange", "orange", 1, NULL, 0},        {"broccoli", "broccoli", 2, NULL, 0},  /* 2: the food */
    {"carrot", "carrot", 1, NULL, 0},        {"hot dog", "hot_dog", 2, NULL, 0},    /* 2: the food */
    {"pizza", "pizza", 1, NULL, 0},          {"donut", "doughnut", 1, NULL, 0},
    {"cake", "cake", 3, NULL, 0},            /* 3: baked goods, 1 is "a cake of soap" */
    {"chair", "chair", 1, NULL, 0},          {"couch", "couch", 1, NULL, 0},
    {"potted plant", "houseplant", 1, "pot_plant", 1},
    {"bed", "bed", 1, NULL, 0},              {"dining table", "dining_table", 1, NULL, 0},
    {"toilet", "toilet", 2, NULL, 0},        /* 2: the fixture, 1 is the room */
    {"tv", "television_receiver", 1, NULL, 0}, {"laptop", "laptop", 1, NULL, 0},
    {"mouse", "mouse", 4, NULL, 0},          /* 4: the computer mouse */
    {"remote", "remote_control", 1, NULL, 0}, {"keyboard", "keyboard", 1, NULL, 0},
    {"cell phone", "cellular_telephone", 1, NULL, 0},
    {"microwave", "microwave", 2, NULL, 0},  /* 2: the oven, 1 is the wave */
    {"oven", "oven", 1, NULL, 0},            {"toaster", "toaster", 2, NULL, 0},    /* 1 is a person */
    {"sink", "sink", 1, NULL, 0},            {"refrigerator", "refrigerator", 1, NULL, 0},
    {"book", "book", 1, "book", 2},          /* the work and the bound object */
    {"clock", "clock", 1, NULL, 0},          {"vase", "vase", 1, NULL, 0},
    {"scissors", "scissors", 1, NULL, 0},    {"teddy bear", "teddy", 1, NULL, 0},
    {"hair drier", "hair_dryer", 1, NULL, 0}, {"toothbrush", "toothbrush", 1, NULL, 0},
};

/* Words -> labels, overriding WordNet for the objects. */
static const struct { const char *word; const char *labels[11]; } coco_table[] = {
    /* WordNet's "people"/"crowd"/"group" are groups, not hyponyms of person;
     * "human" is homo (the primate), a sibling branch of person. */
    {"people", {"person"}}, {"persons", {"person"}}, {"crowd", {"person"}}, {"human", {"person"}},
    {"humans", {"person"}}, {"folks", {"person"}}, {"someone", {"person"}}, {"somebody", {"person"}},
    {"couple", {"person"}}, {"family", {"person"}}, {"group", {"person"}}, {"selfie", {"person"}},
    {"portrait", {"person"}}, {"face", {"person"}}, {"faces", {"person"}},
    /* Young animals are "young mammal" in WordNet, not hyponyms of the adult. */
    {"kitten", {"cat"}}, {"kitty", {"cat"}}, {"calf", {"cow"}}, {"cattle", {"cow"}},
    {"bull", {"cow"}}, {"ox", {"cow"}}, {"lamb", {"sheep"}}, {"foal", {"horse"}},
    /* "train" is "public transport" in WordNet, outside "vehicle". */
    {"vehicle", {"bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"}},
    {"transport", {"bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat"}},
    /* "food" by tag counts is only "nutrient", which misses the fruit and
     * vegetables (under "solid food"); list COCO's food classes. */
    {"food", {"banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake"}},
    {"meal", {"sandwich", "hot dog", "pizza", "broccoli", "carrot", "cake", "dining table"}},
    {"vegetable", {"broccoli", "carrot"}},
    /* A ship is a "vessel", a sibling of "boat"; COCO's boat covers ships. */
    {"ship", {"boat"}}, {"ferry", {"boat"}}, {"yacht", {"boat"}},
    /* "television" sense 1 is broadcasting; the set is sense 2. */
    {"television", {"tv"}}, {"telly", {"tv"}}, {"monitor", {"tv"}},
    /* Not in WordNet 3.0 (2006). */
    {"smartphone", {"cell phone"}}, {"iphone", {"cell phone"}}, {"phone", {"cell phone"}},
    {"stopsign", {"stop sign"}},
    /* COCO's only plant class; "plant" sense 1 is a factory. */
    {"plant", {"potted plant"}}, {"houseplant", {"potted plant"}},
    /* "table" sense 1 is a table of data. */
    {"table", {"dining table"}},
    /* "bike" ties between bicycle and motorcycle in WordNet; people mostly mean a bicycle. */
    {"bike", {"bicycle"}}, {"motorbike", {"motorcycle"}},
    {"hairdryer", {"hair drier"}}, {"hair dryer", {"hair drier"}}, {"fridge", {"refrigerator"}},
    {"sofa", {"couch"}}, {"doughnut", {"donut"}}, {"racket", {"tennis racket"}},
};

/* Emotion anchors: adjective and noun synsets (lemma, sense) per emotion. */
static const struct { const char *emotion; int pos; const char *lemma; int sense; } emotion_anchors[] = {
    {"happy", ADJ, "happy", 1},    {"happy", ADJ, "cheerful", 1}, {"happy", ADJ, "glad", 1},
    {"happy", ADJ, "joyful", 1},   {"happy", ADJ, "joyous", 1},   {"happy", ADJ, "elated", 1},
    {"happy", NOUN, "happiness", 1}, {"happy", NOUN, "joy", 1},
    {"angry", ADJ, "angry", 1},    {"angry", NOUN, "anger", 1},
    {"fear", ADJ, "afraid", 1},    {"fear", ADJ, "fearful", 1},   {"fear", NOUN, "fear", 1},
    {"sad", ADJ, "sad", 1},        {"sad", ADJ, "unhappy", 1},    {"sad", ADJ, "dejected", 1},
    {"sad", ADJ, "sorrowful", 1},  {"sad", NOUN, "sadness", 1},   {"sad", NOUN, "sorrow", 1},
    {"surprise", ADJ, "surprised", 1}, {"surprise", NOUN, "surprise", 1},
    {"disgust", ADJ, "disgusted", 1},  {"disgust", NOUN, "disgust", 1},
};

/* Facial expressions are verbs or nouns WordNet does not link to the emotion
 * adjectives; "neutral" has no emotion sense at all in WordNet. */
static const struct { const char *word, *emotion; } emotion_table[] = {
    {"smile", "happy"}, {"smiling", "happy"}, {"smiley", "happy"}, {"laugh", "happy"},
    {"laughing", "happy"}, {"grin", "happy"}, {"grinning", "happy"}, {"joy", "happy"},
    {"cry", "sad"}, {"crying", "sad"}, {"tears", "sad"}, {"weep", "sad"}, {"weeping", "sad"},
    {"frown", "sad"}, {"frowning", "sad"}, {"mad", "angry"}, {"scowl", "angry"}, {"scowling", "angry"},
    {"shocked", "surprise"}, {"surprised", "surprise"}, {"scared", "fear"}, {"afraid", "fear"},
    {"disgusted", "disgust"}, {"neutral", "neutral"}, {"expressionless", "neutral"},
    {"blank", "neutral"}, {"calm", "neutral"}, {"serious", "neutral"}, {"deadpan", "neutral"},
    {"straight-faced", "neutral"},
};

/* Colour words WordNet does not tie to a palette name (or ties to two). */
static const struct { const char *word, *color; } color_table[] = {
    {"grey", "gray"}, {"silver", "gray"}, {"gold", "yellow"}, {"golden", "yellow"},
    {"beige", "brown"}, {"tan", "brown"}, {"khaki", "brown"}, {"violet", "purple"},
    {"lavender", "purple"}, {"lilac", "purple"}, {"magenta", "pink"}, {"navy", "blue"},
    {"turquoise", "blue"}, {"teal", "green"}, {"olive", "green"}, {"maroon", "red"},
    {"burgundy", "red"}, {"scarlet", "red"}, {"crimson", "red"},
    /* "blonde" hair reads as yellow, "ginger" as orange in the colour stage's palette. */
    {"blonde", "yellow"}, {"blond", "yellow"}, {"ginger", "orange"},
};

/* ---- the precomputed closure --------------------------------------------- */
typedef struct {
    long off;            /* 0 = empty */
    int pos;
    int anchor_label;    /* label whose anchor this synset is, or -1 */
    int emotion;         /* emotion whose anchor this synset is, or -1 */
    uint64_t below[2];   /* labels having this synset as ancestor-or-self */
} node;

/* Query-time cache of scry_lexicon_map results. A lookup walks WordNet's
 * files (fseek/fgets, 0.5-5 ms a word), and query words repeat (a Zipf
 * vocabulary), so answers are kept: open addressing on the normalised word,
 * guarded by wn_lock like everything else here; emptied when 3/4 full
 * (bounded memory, ~1.5 MB). Results are a pure function of the word, so a
 * cached answer is always right. */
#define MAP_CACHE_SLOTS 8192
typedef struct map_cached {
    char word[SCRY_LEX_WORD_MAX];   /* "" = empty slot */
    scry_lex_match m;
    int ok;
} map_cached;

struct scry_lexicon {
    node *table;         /* TABLE_SLOTS */
    int nodes;
    map_cached *cache;   /* MAP_CACHE_SLOTS, NULL if out of memory (no caching) */
    int ncached;
    /* The labels each word of a definition names (gloss_objects): an
     * activity's or agent's senses have a dozen glosses of a dozen words,
     * most of them shared ("someone", "game", "ball"), and each costs a
     * WordNet walk. Same rules as the cache above, MAP_CACHE_SLOTS too. */
    map_cached *gloss_cache;
    int ngloss;
    /* scry_lexicon_lemmas answers (the encoder asks for every word of
     * every query and document, the query side for the projection's keys
     * again): same rules, LEMMA_CACHE_SLOTS. */
    struct lemma_cached *lemma_cache;
    int nlemmas;
};

#define LEMMA_CACHE_SLOTS 4096
#define LEMMA_CACHE_FORMS 4     /* callers asking for more bypass the cache */
typedef struct lemma_cached {
    char word[SCRY_LEX_WORD_MAX];   /* "" = empty slot */
    char forms[LEMMA_CACHE_FORMS][SCRY_LEX_WORD_MAX];
    int n;                          /* forms found, out of LEMMA_CACHE_FORMS asked */
} lemma_cached;

/* The caches are open-addressing tables of entries that begin with their
 * word ("" = empty): the slot of word in one (slots a power of two), and a
 * slot to fill, the table emptied first when 3/4 full. The caller holds
 * wn_lock, the lexicon's one lock over its one mutable part. */
static void *probe_in(void *table, size_t elem, size_t slots, const char *word) {
    uint32_t i = (uint32_t)scry_fnv1a(SCRY_FNV1A_INIT, word, strlen(word)) & (uint32_t)(slots - 1);
    for (;; i = (i + 1) & (uint32_t)(slots - 1)) {
        char *w = (char *)table + (size_t)i * elem;
        if (!w[0] || strcmp(w, word) == 0) return w;
    }
}

static void *claim_in(void *table, size_t elem, size_t slots, int *n, const char *word) {
    if (*n >= (int)(slots * 3 / 4)) {
        memset(table, 0, slots * elem);
        *n = 0;
    }
    char *c = probe_in(table, elem, slots, word);
    if (!c[0]) (*n)++;
    return c;
}

_Static_assert(offsetof(map_cached, word) == 0 && offsetof(lemma_cached, word) == 0,
               "cache entries begin with their word");

static map_cached *slot_in(map_cached *table, const char *word) {
    return probe_in(table, sizeof *table, MAP_CACHE_SLOTS, word);
}

static map_cached *cache_slot(const scry_lexicon *lex, const char *word) { return slot_in(lex->cache, word); }

static map_cached *cache_claim(map_cached *table, int *n, const char *word) {
    return claim_in(table, sizeof *table, MAP_CACHE_SLOTS, n, word);
}

static uint32_t slot_of(long off, int pos) {
    uint64_t h = ((uint64_t)off << 3 | (uint64_t)pos) * 0x9E3779B97F4A7C15ULL;
    return (uint32_t)(h >> 40) & (TABLE_SLOTS - 1);
}

static node *find_node(const scry_lexicon *lex, long off, int pos) {
    for (uint32_t s = slot_of(off, pos), n = 0; n < TABLE_SLOTS; s = (s + 1) & (TABLE_SLOTS - 1), n++) {
        node *e = &lex->table[s];
        if (!e->off) return NULL;
        if (e->off == off && e->pos == pos) return e;
    }
    return NULL;
}

static node *add_node(scry_lexicon *lex, long off, int pos) {
    for (uint32_t s = slot_of(off, pos), n = 0; n < TABLE_SLOTS; s = (s + 1) & (TABLE_SLOTS - 1), n++) {
        node *e = &lex->table[s];
        if (e->off == off && e->pos == pos) return e;
        if (!e->off) {
            if (lex->nodes * 2 >= TABLE_SLOTS) return NULL;
            e->off = off;
            e->pos = pos;
            e->anchor_label = -1;
            e->emotion = -1;
            lex->nodes++;
            return e;
        }
    }
    return NULL;
}

static int popcount2(const uint64_t b[2]) { return __builtin_popcountll(b[0]) + __builtin_popcountll(b[1]); }

/* ---- WordNet helpers (caller holds wn_lock) ------------------------------ */

static void copy_word(char dst[SCRY_LEX_WORD_MAX], const char *src) {
    size_t n = strnlen(src, SCRY_LEX_WORD_MAX - 1);
    memcpy(dst, src, n);
    dst[n] = 0;
}

static void to_wn(const char *in, char *out, size_t n) {
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++) out[i] = in[i] == ' ' ? '_' : (char)tolower((unsigned char)in[i]);
    out[i] = 0;
}

static void from_wn(const char *in, char *out, size_t n) {
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++) out[i] = in[i] == '_' ? ' ' : in[i];
    out[i] = 0;
}

/* Offset of lemma's sense (1-based) in pos, or 0. */
static long sense_offset(const char *lemma, int pos, int sense) {
    char w[SCRY_LEX_WORD_MAX];
    to_wn(lemma, w, sizeof w);
    IndexPtr idx = index_lookup(w, pos);
    if (!idx) return 0;
    long off = sense >= 1 && sense <= idx->off_cnt ? (long)idx->offset[sense - 1] : 0;
    free_index(idx);
    return off;
}

/* 1 when the synset spells the word only capitalised: a proper noun sense
 * ("Pole" the Pole, "Cook" the navigator), never what a lowercase query
 * word means. */
static int proper_noun_sense(const char *w, int pos, long off) {
    SynsetPtr ss = read_synset(pos, off, NULL);
    if (!ss) return 0;
    int lower = 0, upper = 0;
    for (int i = 0; i < ss->wcount; i++) {
        if (strcmp(ss->words[i], w) == 0) lower = 1;
        else if (strcasecmp(ss->words[i], w) == 0) upper = 1;
    }
    free_synset(ss);
    return upper && !lower;
}

/* The largest SemCor tag count among word's senses in pos (0: none tagged,
 * or no such word). */
static int top_tagcount(const char *word, int pos) {
    char w[SCRY_LEX_WORD_MAX];
    to_wn(word, w, sizeof w);
    IndexPtr idx = index_lookup(w, pos);
    if (!idx) return 0;
    int top = 0;
    for (int i = 0; i < idx->tagged_cnt && i < idx->off_cnt; i++) {
        int t = GetTagcnt(idx, i + 1);
        if (t > top) top = t;
    }
    free_index(idx);
    return top;
}

/* A word that is mostly something else than a noun ("modern", "dry": an
 * adjective; "have", "wear": a verb) does not name objects through its rare
 * noun senses ("a modern" is a person, so is "a dry"; "wear" is clothing):
 * its noun senses count only when its best-tagged noun sense is at least a
 * quarter as frequent as its best-tagged sense in another part of speech. */
static int mostly_not_a_noun(const char *word) {
    int other = 0;
    const int pos[] = {VERB, ADJ, ADV};
    for (int k = 0; k < 3; k++) {
        int t = top_tagcount(word, pos[k]);
        if (t > other) other = t;
    }
    return other > 0 && top_tagcount(word, NOUN) * 4 < other;
}

/* The senses of word that count (see lexicon.h): fills offs, returns n. */
static int considered_senses(const char *word, int pos, long *offs) {
    char w[SCRY_LEX_WORD_MAX];
    to_wn(word, w, sizeof w);
    IndexPtr idx = index_lookup(w, pos);
    if (!idx) return 0;
    int n = idx->off_cnt < MAX_SENSES ? idx->off_cnt : MAX_SENSES;
    int tags[MAX_SENSES], top = 0, k = 0;
    for (int i = 0; i < n; i++) {
        tags[i] = i < idx->tagged_cnt ? GetTagcnt(idx, i + 1) : 0;
        if (tags[i] > top) top = tags[i];
    }
    for (int i = 0; i < n; i++)
        if ((top == 0 || tags[i] * 2 >= top) && !proper_noun_sense(w, pos, (long)idx->offset[i]))
            offs[k++] = (long)idx->offset[i];
    free_index(idx);
    return k;
}

/* Calls visit(ctx, synset-offset, depth) for off and its hypernym ancestors
 * (nouns: @ and @i), breadth first, each once; stops when visit returns 1. */
typedef int (*visit_fn)(void *ctx, long off, int depth);
static void walk_up(long start, int max_depth, visit_fn visit, void *ctx) {
    long queue[512];
    int depth[512], head = 0, tail = 0;
    queue[tail] = start;
    depth[tail++] = 0;
    while (head < tail) {
        long off = queue[head];
        int d = depth[head++];
        if (visit(ctx, off, d)) return;
        if (d >= max_depth) continue;
        SynsetPtr ss = read_synset(NOUN, off, NULL);
        if (!ss) continue;
        for (int i = 0; i < ss->ptrcount && tail < 512; i++) {
            if ((ss->ptrtyp[i] != HYPERPTR && ss->ptrtyp[i] != INSTANCE) || ss->ppos[i] != NOUN) continue;
            int seen = 0;
            for (int j = 0; j < tail && !seen; j++) seen = queue[j] == ss->ptroff[i];
            if (!seen) {
                queue[tail] = ss->ptroff[i];
                depth[tail++] = d + 1;
            }
        }
        free_synset(ss);
    }
}

typedef struct { scry_lexicon *lex; int label; int failed; } closure_ctx;
static int mark_ancestor(void *vctx, long off, int depth) {
    (void)depth;
    closure_ctx *c = vctx;
    node *e = add_node(c->lex, off, NOUN);
    if (!e) { c->failed = 1; return 1; }
    e->below[c->label / 64] |= 1ULL << (c->label % 64);
    return 0;
}

static int quiet_message(char *msg) {
    log_debug("wordnet.message", "msg=\"%.200s\"", msg);
    return -1;
}

/* ---- open/close ------------------------------------------------------------ */

int scry_lexicon_open(scry_lexicon **out, scry_err *err) {
    *out = NULL;
    scry_lexicon *lex = calloc(1, sizeof *lex);
    if (lex) { /* NULL caches: no caching */
        lex->cache = calloc(MAP_CACHE_SLOTS, sizeof *lex->cache);
        lex->gloss_cache = calloc(MAP_CACHE_SLOTS, sizeof *lex->gloss_cache);
        lex->lemma_cache = calloc(LEMMA_CACHE_SLOTS, sizeof *lex->lemma_cache);
    }
    if (!lex || !(lex->table = calloc(TABLE_SLOTS, sizeof *lex->table))) {
        if (lex) free(lex->cache), free(lex->gloss_cache), free(lex->lemma_cache);
        free(lex);
        return scry_fail(err, SCRY_ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&wn_lock);
    if (!wn_ready) {
        display_message = quiet_message;
        const char *dir = getenv("WNSEARCHDIR");
        IndexPtr probe = wninit() == 0 ? index_lookup("dog", NOUN) : NULL;
        if (!probe) {
            pthread_mutex_unlock(&wn_lock);
            scry_lexicon_close(lex);
            return scry_fail(err, SCRY_ENOTFOUND,
                             "WordNet data not found in %s; install wordnet-base (./scripts/setup.sh)",
                             dir && *dir ? dir : "/usr/share/wordnet");
        }
        free_index(probe);
        wn_ready = 1;
    }
    int rc = SCRY_OK;
    for (size_t i = 0; i < sizeof anchors / sizeof anchors[0] && rc == SCRY_OK; i++) {
        int label = scry_coco_index(anchors[i].label);
        for (int k = 0; k < 2 && rc == SCRY_OK; k++) {
            const char *lemma = k ? anchors[i].lemma2 : anchors[i].lemma;
            int sense = k ? anchors[i].sense2 : anchors[i].sense;
            if (!lemma) continue;
            long off = label >= 0 ? sense_offset(lemma, NOUN, sense) : 0;
            if (!off) {
                rc = scry_fail(err, SCRY_ECORRUPT, "WordNet has no %s#%d for label '%s' (wrong WordNet version?)",
                               lemma, sense, anchors[i].label);
                break;
            }
            closure_ctx c = {lex, label, 0};
            walk_up(off, MAX_DEPTH, mark_ancestor, &c);
            node *e = find_node(lex, off, NOUN);
            if (c.failed || !e) rc = scry_fail(err, SCRY_ENOMEM, "lexicon closure table full");
            else e->anchor_label = label;
        }
    }
    for (size_t i = 0; i < sizeof emotion_anchors / sizeof emotion_anchors[0] && rc == SCRY_OK; i++) {
        long off = sense_offset(emotion_anchors[i].lemma, emotion_anchors[i].pos, emotion_anchors[i].sense);
        node *e = off ? add_node(lex, off, emotion_anchors[i].pos) : NULL;
        if (!e) rc = scry_fail(err, SCRY_ECORRUPT, "WordNet has no emotion anchor %s#%d",
                               emotion_anchors[i].lemma, emotion_anchors[i].sense);
        else e->emotion = scry_emotion_index(emotion_anchors[i].emotion);
    }
    pthread_mutex_unlock(&wn_lock);
    if (rc != SCRY_OK) {
        scry_lexicon_close(lex);
        return rc;
    }
    log_debug("lexicon.open", "synsets=%d", lex->nodes);
    *out = lex;
    return SCRY_OK;
}

void scry_lexicon_close(scry_lexicon *lex) {
    if (!lex) return;
    free(lex->cache);
    free(lex->gloss_cache);
    free(lex->lemma_cache);
    free(lex->table);
    free(lex);
}

/* ---- lemmas ----------------------------------------------------------------- */

static int lemmas_locked(const char *word, char forms[][SCRY_LEX_WORD_MAX], int max) {
    char w[SCRY_LEX_WORD_MAX];
    int n = 0;
    static const int poses[] = {NOUN, VERB, ADJ, ADV};
    for (int p = 0; p < 4 && n < max; p++) {
        to_wn(word, w, sizeof w);
        for (char *r = morphstr(w, poses[p]); r; r = morphstr(NULL, poses[p])) {
            char f[SCRY_LEX_WORD_MAX];
            from_wn(r, f, sizeof f);
            int dup = strcmp(f, word) == 0;
            for (int i = 0; i < n && !dup; i++) dup = strcmp(forms[i], f) == 0;
            if (!dup && n < max) copy_word(forms[n++], f);
        }
    }
    return n;
}

int scry_lexicon_lemmas(const scry_lexicon *lex, const char *word, char forms[][SCRY_LEX_WORD_MAX], int max) {
    /* the lexicon's existence proves WordNet is initialised */
    if (!word || !*word || strlen(word) >= SCRY_LEX_WORD_MAX || max <= 0) return 0;
    scry_lexicon *w = (scry_lexicon *)lex;      /* only its cache changes */
    pthread_mutex_lock(&wn_lock);
    int n;
    if (!w || !w->lemma_cache || max > LEMMA_CACHE_FORMS) {
        n = lemmas_locked(word, forms, max);
    } else {
        lemma_cached *c = probe_in(w->lemma_cache, sizeof *c, LEMMA_CACHE_SLOTS, word);
        if (!c->word[0]) {
            c = claim_in(w->lemma_cache, sizeof *c, LEMMA_CACHE_SLOTS, &w->nlemmas, word);
            c->n = lemmas_locked(word, c->forms, LEMMA_CACHE_FORMS);
            snprintf(c->word, sizeof c->word, "%s", word);
        }
        n = c->n < max ? c->n : max;
        memcpy(forms, c->forms, (size_t)n * sizeof forms[0]);
    }
    pthread_mutex_unlock(&wn_lock);
    return n;
}

/* ---- mapping ---------------------------------------------------------------- */

typedef struct { const scry_lexicon *lex; int label; } nearest_ctx;
static int find_anchor(void *vctx, long off, int depth) {
    (void)depth;
    nearest_ctx *c = vctx;
    node *e = find_node(c->lex, off, NOUN);
    if (e && e->anchor_label >= 0) {
        c->label = e->anchor_label;
        return 1;
    }
    return 0;
}

/* Objects via WordNet for one form; caller holds wn_lock. */
static int wn_coco(const scry_lexicon *lex, const char *form, scry_lex_match *m) {
    long offs[MAX_SENSES];
    int n = considered_senses(form, NOUN, offs);
    if (n && mostly_not_a_noun(form)) return 0;     /* asked only of words with noun senses */
    for (int i = 0; i < n; i++) {
        node *e = find_node(lex, offs[i], NOUN);
        if (e && popcount2(e->below) > 0) {
            if (popcount2(e->below) > SCRY_LEX_MAX_COVER) continue; /* too vague */
            m->coco[0] |= e->below[0];
            m->coco[1] |= e->below[1];
            scry_lex_how how = e->anchor_label >= 0 ? SCRY_LEX_SYNONYM : SCRY_LEX_HYPERNYM;
            if (m->coco_how == SCRY_LEX_NONE || how == SCRY_LEX_SYNONYM) m->coco_how = how;
            continue;
        }
        nearest_ctx c = {lex, -1};
        walk_up(offs[i], MAX_DEPTH, find_anchor, &c);
        if (c.label >= 0) {
            m->coco[c.label / 64] |= 1ULL << (c.label % 64);
            if (m->coco_how == SCRY_LEX_NONE) m->coco_how = SCRY_LEX_HYPONYM;
        }
    }
    return popcount2(m->coco) > 0;
}

static int table_coco(const char *form, scry_lex_match *m);

/* Which senses define an activity or an agent: acts (sports, games),
 * persons, and verbs of motion, contact and competition. A beach, grass or
 * snow is defined by what it is near or made of, not by what it implies. */
static int activity_sense(const SynsetPtr ss) {
    const char *f = ss->fnum >= 0 ? lexfiles[ss->fnum] : "";
    return !strcmp(f, "noun.act") || !strcmp(f, "noun.person") || !strcmp(f, "verb.motion") ||
           !strcmp(f, "verb.contact") || !strcmp(f, "verb.competition");
}

/* The labels one word of a definition names (its first base form that
 * names any); caller holds wn_lock. */
static void gloss_word_labels(const scry_lexicon *lex, const char *word, scry_lex_match *g) {
    scry_lexicon *w = (scry_lexicon *)lex;      /* only its cache changes */
    map_cached *c = w->gloss_cache ? slot_in(w->gloss_cache, word) : NULL;
    if (c && c->word[0]) {
        *g = c->m;
        return;
    }
    char forms[4][SCRY_LEX_WORD_MAX];
    copy_word(forms[0], word);
    int nf = 1 + lemmas_locked(word, forms + 1, 3);
    for (int f = 0; f < nf && !popcount2(g->coco); f++) {
        int l = scry_coco_index(forms[f]);
        if (l >= 0) g->coco[l / 64] |= 1ULL << (l % 64);
        else if (!table_coco(forms[f], g)) wn_coco(lex, forms[f], g);
    }
    if (!w->gloss_cache) return;
    c = cache_claim(w->gloss_cache, &w->ngloss, word);
    copy_word(c->word, word);
    c->m = *g;
}

/* The objects one gloss names (wn_implied); agent: the sense is a person,
 * whose gloss words that are activities are followed once (depth 0 -> 1). */
static int wn_implied(const scry_lexicon *lex, const char *form, scry_lex_match *m, int depth);
static void gloss_objects(const scry_lexicon *lex, const char *defn, const char *form, int agent,
                          int depth, uint64_t out[2]) {
    const int person = scry_coco_index("person");
    char gloss[512];
    snprintf(gloss, sizeof gloss, "%s", defn ? defn : "");
    char *cut = strpbrk(gloss, ";\"");
    if (cut) *cut = 0;
    for (char *w = gloss; *w;) {
        while (*w && !isalpha((unsigned char)*w)) w++;
        char word[SCRY_LEX_WORD_MAX];
        size_t k = 0;
        for (; isalpha((unsigned char)*w); w++)
            if (k + 1 < sizeof word) word[k++] = (char)tolower((unsigned char)*w);
        word[k] = 0;
        if (k < 3 || !strcmp(word, form)) continue;
        scry_lex_match g = {0};
        gloss_word_labels(lex, word, &g);
        if (popcount2(g.coco) == 1 && !(g.coco[person / 64] >> (person % 64) & 1) &&
            g.coco_how != SCRY_LEX_HYPONYM) {
            out[0] |= g.coco[0];
            out[1] |= g.coco[1];
        } else if (!popcount2(g.coco) && agent && depth == 0) {
            scry_lex_match h = {0};
            if (wn_implied(lex, word, &h, 1)) out[0] |= h.coco[0], out[1] |= h.coco[1];
        }
    }
}

/* Objects an activity or agent implies, from the definitions (glosses) of
 * the word's considered senses (lexicon.h) in its main part of speech
 * (noun, else verb); caller holds wn_lock. Every one of those senses must
 * be an activity or an agent (activity_sense) and name the object: a word
 * that may also be a thing or a place ("field", "grass", "beach") or an
 * unrelated act ("running": a football play, or going on foot) implies
 * nothing. A gloss is read up to its first example or semicolon, word by
 * word; a word counts when it names exactly one label (its name, a synonym,
 * or a term covering only that label: "racket", "ball"), other than person
 * (every agent's gloss says "someone"). */
static int wn_implied(const scry_lexicon *lex, const char *form, scry_lex_match *m, int depth) {
    long offs[MAX_SENSES];
    int pos = NOUN, n = considered_senses(form, NOUN, offs);
    if (n == 0) n = considered_senses(form, pos = VERB, offs);
    uint64_t common[2] = {~0ULL, ~0ULL};
    for (int i = 0; i < n; i++) {
        SynsetPtr ss = read_synset(pos, offs[i], NULL);
        if (!ss) return 0;
        uint64_t found[2] = {0, 0};
        if (activity_sense(ss))
            gloss_objects(lex, ss->defn, form, ss->fnum >= 0 && !strcmp(lexfiles[ss->fnum], "noun.person"),
                          depth, found);
        free_synset(ss);
        common[0] &= found[0];
        common[1] &= found[1];
    }
    if (n == 0 || !popcount2(common)) return 0;
    m->coco[0] |= common[0];
    m->coco[1] |= common[1];
    return 1;
}

/* Emotion via WordNet for one form; caller holds wn_lock. */
static int wn_emotion(const scry_lexicon *lex, const char *form) {
    long offs[MAX_SENSES];
    int n = considered_senses(form, ADJ, offs);
    for (int i = 0; i < n; i++) {
        node *e = find_node(lex, offs[i], ADJ);
        if (e && e->emotion >= 0) return e->emotion;
        /* One hop: a satellite's head (&) or an "also see" (^) link. */
        SynsetPtr ss = read_synset(ADJ, offs[i], NULL);
        if (!ss) continue;
        int found = -1;
        for (int p = 0; p < ss->ptrcount && found < 0; p++) {
            if ((ss->ptrtyp[p] != SIMPTR && ss->ptrtyp[p] != SEEALSOPTR) || ss->ppos[p] != ADJ) continue;
            node *t = find_node(lex, ss->ptroff[p], ADJ);
            if (t && t->emotion >= 0) found = t->emotion;
        }
        free_synset(ss);
        if (found >= 0) return found;
    }
    n = considered_senses(form, NOUN, offs);
    for (int i = 0; i < n; i++) {
        /* Nouns: the sense or a hypernym within 3 steps is an emotion anchor
         * (fury -> anger, terror -> fear). */
        long cur[1] = {offs[i]};
        for (int d = 0; d <= 3; d++) {
            node *e = find_node(lex, cur[0], NOUN);
            if (e && e->emotion >= 0) return e->emotion;
            SynsetPtr ss = read_synset(NOUN, cur[0], NULL);
            if (!ss) break;
            long up = 0;
            for (int p = 0; p < ss->ptrcount && !up; p++)
                if (ss->ptrtyp[p] == HYPERPTR && ss->ppos[p] == NOUN) up = ss->ptroff[p];
            free_synset(ss);
            if (!up) break;
            cur[0] = up;
        }
    }
    return -1;
}

static int palette_in_synset(SynsetPtr ss) {
    for (int w = 0; w < ss->wcount; w++) {
        int c = scry_color_index(ss->words[w]);
        if (c >= 0) return c;
    }
    return -1;
}

/* Colour via WordNet for one form; caller holds wn_lock. Only sense 1: the
 * colour senses of "blue" (sad) or "green" (inexperienced) are not sense 1. */
static int wn_color(const char *form) {
    char w[SCRY_LEX_WORD_MAX];
    to_wn(form, w, sizeof w);
    long off = sense_offset(w, ADJ, 1);
    if (off) {
        SynsetPtr ss = read_synset(ADJ, off, NULL);
        if (ss) {
            int c = palette_in_synset(ss);
            free_synset(ss);
            if (c >= 0) return c;
        }
    }
    off = sense_offset(w, NOUN, 1);
    for (int d = 0; off && d <= 2; d++) {
        SynsetPtr ss = read_synset(NOUN, off, NULL);
        if (!ss) break;
        int c = d > 0 ? palette_in_synset(ss) : -1;
        /* the synset itself counts only through a hypernym: "orange" (noun
         * sense 1) is the fruit, and its words include "orange". */
        long up = 0;
        for (int p = 0; p < ss->ptrcount && !up; p++)
            if (ss->ptrtyp[p] == HYPERPTR && ss->ppos[p] == NOUN) up = ss->ptroff[p];
        free_synset(ss);
        if (c >= 0) return c;
        off = up;
    }
    return -1;
}

static int table_coco(const char *form, scry_lex_match *m) {
    for (size_t i = 0; i < sizeof coco_table / sizeof coco_table[0]; i++) {
        if (strcmp(coco_table[i].word, form) != 0) continue;
        for (int k = 0; k < 11 && coco_table[i].labels[k]; k++) {
            int l = scry_coco_index(coco_table[i].labels[k]);
            if (l >= 0) m->coco[l / 64] |= 1ULL << (l % 64);
        }
        m->coco_how = SCRY_LEX_TABLE;
        return 1;
    }
    return 0;
}

/* Palette name or colour-table word -> colour index, else -1. */
static int table_color(const char *form) {
    int c = scry_color_index(form);
    for (size_t i = 0; c < 0 && i < sizeof color_table / sizeof color_table[0]; i++)
        if (strcmp(color_table[i].word, form) == 0) c = scry_color_index(color_table[i].color);
    return c;
}

int scry_lexicon_map(const scry_lexicon *lex, const char *word, scry_lex_match *m) {
    memset(m, 0, sizeof *m);
    m->emotion = -1;
    m->color = -1;
    if (!word || !*word || strlen(word) >= SCRY_LEX_WORD_MAX) return 0;
    char norm[SCRY_LEX_WORD_MAX];
    size_t n = 0;
    for (; word[n]; n++) norm[n] = (char)tolower((unsigned char)word[n]);
    norm[n] = 0;

    char forms[6][SCRY_LEX_WORD_MAX];
    copy_word(forms[0], norm);
    pthread_mutex_lock(&wn_lock);
    if (lex && lex->cache) {
        map_cached *c = cache_slot(lex, norm);
        if (c->word[0]) {
            *m = c->m;
            int ok = c->ok;
            pthread_mutex_unlock(&wn_lock);
            return ok;
        }
    }
    int nforms = 1 + lemmas_locked(norm, forms + 1, 5);

    /* Objects: the first form that yields anything wins. A colour word
     * ("grey", "green") only names an object when it is a label itself
     * ("orange"): its noun senses (a grey horse, a Grey) are not what a
     * query means. */
    int colour_word = table_color(norm) >= 0;
    for (int f = 0; f < nforms && !popcount2(m->coco); f++) {
        int l = scry_coco_index(forms[f]);
        if (l >= 0) {
            m->coco[l / 64] |= 1ULL << (l % 64);
            m->coco_how = SCRY_LEX_EXACT;
        } else if (!colour_word && !table_coco(forms[f], m)) {
            wn_coco(lex, forms[f], m);
        }
        if (popcount2(m->coco)) copy_word(m->lemma, forms[f]);
    }
    /* An activity (no object of its own) or an agent (a kind of person):
     * the objects it implies ("surfing", "a surfer" -> surfboard). */
    const int person = scry_coco_index("person");
    int agent = m->coco[0] == 1ULL << person && m->coco[1] == 0 && m->coco_how == SCRY_LEX_HYPONYM;
    /* The word itself when WordNet has it ("running" the act, not "run"
     * the baseball score), else its first base form. */
    long any[MAX_SENSES];
    const char *af = nforms > 1 && !considered_senses(norm, NOUN, any) &&
                             !considered_senses(norm, VERB, any)
                         ? forms[1]
                         : norm;
    scry_lex_match im = {0};
    if ((agent || !popcount2(m->coco)) && !colour_word && lex && wn_implied(lex, af, &im, 0)) {
        m->implied[0] = im.coco[0];
        m->implied[1] = im.coco[1];
        if (!m->lemma[0]) copy_word(m->lemma, af);
    }
    for (int f = 0; f < nforms && m->emotion < 0; f++) {
        m->emotion = scry_emotion_index(forms[f]);
        for (size_t i = 0; m->emotion < 0 && i < sizeof emotion_table / sizeof emotion_table[0]; i++)
            if (strcmp(emotion_table[i].word, forms[f]) == 0) m->emotion = scry_emotion_index(emotion_table[i].emotion);
        if (m->emotion < 0) m->emotion = wn_emotion(lex, forms[f]);
    }
    for (int f = 0; f < nforms && m->color < 0; f++) {
        m->color = table_color(forms[f]);
        if (m->color < 0) m->color = wn_color(forms[f]);
    }
    m->ncoco = popcount2(m->coco);
    if (!m->ncoco) m->coco_how = SCRY_LEX_NONE;
    if (!m->lemma[0] && nforms > 1) copy_word(m->lemma, forms[1]);
    int ok = m->ncoco > 0 || m->emotion >= 0 || m->color >= 0 || popcount2(m->implied) > 0;
    if (lex && lex->cache) {
        /* The lexicon is shared read-only by design; its cache is the one
         * mutable part, and wn_lock serialises every access to it. */
        scry_lexicon *w = (scry_lexicon *)lex;
        map_cached *c = cache_claim(w->cache, &w->ncached, norm);
        copy_word(c->word, norm);
        c->m = *m;
        c->ok = ok;
    }
    pthread_mutex_unlock(&wn_lock);
    return ok;
}
