/* lexicon.h -- WordNet 3.0: lemmas, and free words -> Scry's closed vocabularies.
 *
 * Query understanding needs to know that "puppies" means the detector's
 * "dog", "vehicles" means {bicycle, car, motorcycle, ...}, "furious" is the
 * emotion "angry" and "crimson" the colour "red". The mapping is computed from
 * WordNet's graph, not listed by hand:
 *
 *   - every COCO label is anchored to one or two WordNet noun synsets
 *     (an explicit table: "mouse" is sense 4, the computer mouse; "kite" is
 *     sense 3, the toy);
 *   - at open, the hypernym closure of every anchor is walked once, giving
 *     for each ancestor synset the set of labels below it ("canine" -> dog,
 *     "animal" -> ten labels, "vehicle" -> seven). An ancestor that covers more
 *     than SCRY_LEX_MAX_COVER labels ("object", "artifact") is too vague to be
 *     a constraint and maps to nothing;
 *   - a word more specific than a label ("puppy", "poodle", "kid") is found by
 *     walking up from the word's own synsets to the nearest anchor: cheaper
 *     than materialising the whole hyponym tree under "person";
 *   - which of a word's senses count: those whose SemCor tag count is at least
 *     half of the word's most frequent sense (so "star" is a celestial body,
 *     not a performer), or every sense when WordNet has no tag counts for the
 *     word (so "canine" reaches dog through its second sense);
 *   - emotions: adjective clusters (a satellite's head, "also see" links) and
 *     noun hypernyms reaching an emotion anchor (furious -> angry, scared ->
 *     afraid -> fear, fury -> anger);
 *   - colours: the adjective synset containing a palette name, or a noun
 *     whose hypernym (<= 2 steps) is one (crimson -> red);
 *   - activities and agents: a word with no object sense of its own implies
 *     the objects its definition names -- "skiing: a sport in which
 *     participants must travel on skis", "cyclist: a person who rides a
 *     bicycle", "tennis: a game played with rackets" -- each gloss word
 *     counted when it names exactly one label; a gloss word that is itself
 *     such an activity is followed once ("surfer: someone who engages in
 *     surfboarding" -> "surfboarding: the sport of riding a surfboard");
 *   - a short explicit table, each entry documented in lexicon.c, covers the
 *     places where WordNet's graph is wrong for our purpose ("people" is a
 *     group in WordNet, not a person; "train" is "public transport", not a
 *     vehicle).
 *
 * WordNet's C library keeps global state (open files, static buffers) and is
 * not thread-safe: every call into it in the whole process goes through one
 * mutex owned by this module. The precomputed tables are immutable, so a
 * scry_lexicon may be shared by any number of threads. */
#ifndef SCRY_LEXICON_H
#define SCRY_LEXICON_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define SCRY_LEX_WORD_MAX 64   /* longest word/phrase the lexicon looks up */
#define SCRY_LEX_MAX_COVER 12  /* a hypernym covering more labels is ignored */

typedef struct scry_lexicon scry_lexicon;

/* How a word reached its labels (for the query explanation). */
typedef enum {
    SCRY_LEX_NONE = 0,
    SCRY_LEX_EXACT,     /* the word is the label's own name */
    SCRY_LEX_TABLE,     /* explicit table entry */
    SCRY_LEX_SYNONYM,   /* same WordNet synset as a label anchor */
    SCRY_LEX_HYPONYM,   /* more specific than a label: puppy -> dog */
    SCRY_LEX_HYPERNYM,  /* more general, covering several labels: animal */
    SCRY_LEX_IMPLIED,   /* implied by an activity or agent whose definition names the
                           object: surfing, a skier, cycling, tennis (see implied) */
} scry_lex_how;

typedef struct scry_lex_match {
    uint64_t coco[2];   /* bitset over scry_coco_labels indices (bit i of coco[i/64]) */
    int ncoco;          /* number of bits set */
    scry_lex_how coco_how;
    uint64_t implied[2]; /* objects the word implies (SCRY_LEX_IMPLIED): for an activity
                            ("surfing": surfboard; coco empty) or an agent ("skier": skis;
                            coco = person) */
    int emotion;        /* index into scry_emotion_labels, or -1 */
    int color;          /* index into scry_color_names, or -1 */
    char lemma[SCRY_LEX_WORD_MAX]; /* the base form that matched ("" if none) */
} scry_lex_match;

/* Initialise WordNet (once per process) and precompute the label closures.
 * Fails with SCRY_ENOTFOUND naming the data directory when WordNet's files
 * are missing (install wordnet-base: ./scripts/setup.sh). */
int scry_lexicon_open(scry_lexicon **out, scry_err *err);
void scry_lexicon_close(scry_lexicon *lex);

/* Base forms of a word (lowercase, words may be joined by spaces), in
 * WordNet's order over noun, verb, adjective, adverb, duplicates removed.
 * A word that is already a base form gives no entries. Returns the count
 * written (<= max). Thread-safe. */
int scry_lexicon_lemmas(const scry_lexicon *lex, const char *word, char forms[][SCRY_LEX_WORD_MAX], int max);

/* Map a word or phrase ("puppies", "hot dog", "furious", "crimson") to the
 * closed vocabularies. Returns 1 when anything matched (coco, emotion or
 * colour), else 0; *out is always filled. Thread-safe. */
int scry_lexicon_map(const scry_lexicon *lex, const char *word, scry_lex_match *out);

static inline int scry_lex_has(const scry_lex_match *m, int label) {
    return label >= 0 && label < 128 && (m->coco[label / 64] >> (label % 64) & 1);
}

#endif
