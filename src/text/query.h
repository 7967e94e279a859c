/* query.h -- query understanding: free text -> structured constraints.
 *
 * "two smiling kids and a red car, no dogs, sign saying "open", summer 2019"
 * becomes: person x2 (happy faces), car (red), not dog, OCR text "open", a
 * date range, and a residual "smiling kids and a red car sign open" for
 * semantic matching. The search layer uses the structured part for filters
 * and boosts, and ALWAYS the residual for the vector + BM25 match, so that a
 * word the parser does not understand never breaks a query: it simply stays
 * in the residual.
 *
 * Semantics (documented in docs/text.md):
 *   - counts: "a dog"/"dogs" -> >= 1 ("a dog" marked singular: a photo of
 *     one dog, large in the frame, ranks above a pack); "two dogs" -> >= 2 with 2 preferred
 *     (the detector misses and double-counts, so exact counts rank first
 *     rather than filter); "exactly two" -> [2,2]; "at least 3" -> >= 3;
 *     "more than 3"/"over 3" -> >= 4; "at most 2"/"fewer than 3" -> <= 2;
 *     "a few"/"a couple of" -> >= 2; "several"/"many"/"lots of"/"a group
 *     of" -> >= 3; "a crowd" -> person >= 5;
 *   - a hypernym ("animals") is one constraint satisfied by ANY of its labels;
 *   - negations ("no", "not", "without", "excluding") exclude labels; "no
 *     text"/"without text" sets has_text = 0;
 *   - a colour word right before an object colours it ("red car"), otherwise
 *     it is a whole-image colour; an emotion word next to a person word
 *     ("smiling kids", "a man smiling") sets that person's emotion, otherwise
 *     it implies a person with that emotion ("happy faces");
 *   - who: man/men/guy, woman/women/lady, boy, girl, child/kid (any young
 *     person: boy, girl, child, baby), baby/infant ask for people whose
 *     faces say so (vision/faceres.h), counted like any object;
 *   - clothing: a colour before a garment word ("a man in a red shirt", "a
 *     woman wearing a blue jacket") or after "in" following a person ("a
 *     woman in red") is what a person wears, not a colour of the photo;
 *   - photo attributes: "black and white" (monochrome, b&w), "at night"
 *     (night, dark), "blurry" (blurred, out of focus), "close-up",
 *     "overexposed" ask for photos with that attribute (vision/image.h);
 *   - OCR text: quoted strings, or the words after says/saying/reads/
 *     reading/"with the word"/"that says"/"written";
 *   - dates are [from, to) in unix seconds, UTC, relative to `now`. Seasons
 *     are meteorological, northern hemisphere (summer = Jun-Aug; "winter
 *     2018" = Dec 2018 - Feb 2019); "last summer" is the most recent summer
 *     that has ended; "last year"/"last month" are the previous calendar
 *     year/month; "last week" is the 7 days before today. */
#ifndef SCRY_QUERY_H
#define SCRY_QUERY_H

#include <stdint.h>

#include "core/err.h"
#include "text/lexicon.h"

#define SCRY_Q_MAX_OBJECTS 8
#define SCRY_Q_MAX_TEXTS 4
#define SCRY_Q_MAX_COLORS 4
#define SCRY_Q_TEXT_MAX 128
#define SCRY_Q_RESIDUAL_MAX 512

typedef struct scry_query_object {
    uint64_t labels[2];   /* satisfied by ANY of these COCO labels (bitset) */
    int min_count;        /* >= this many; 0 only with a max ("at most 2") */
    int max_count;        /* <= this many, or -1 for no bound */
    int preferred_count;  /* the exact number asked for, ranked first; 0 if none */
    int singular;         /* "a man": one of them, prominent, ranks first (not a crowd) */
    int color;            /* scry_color_names index or -1 */
    int clothing;         /* people: colour they wear ("a man in a red shirt"), or -1 */
    unsigned person_kinds; /* people: bit k = scry_person_labels[k] ("a man", "kids"); 0 = anyone */
    int emotion;          /* scry_emotion_labels index (faces) or -1 */
    scry_lex_how how;     /* how the word mapped (for explanations) */
    char word[SCRY_LEX_WORD_MAX]; /* the query word(s) */
} scry_query_object;

typedef struct scry_query {
    scry_query_object objects[SCRY_Q_MAX_OBJECTS];
    int nobjects;
    uint64_t excluded[2];           /* COCO labels that must be absent */
    int has_text;                   /* 1 required, 0 forbidden, -1 don't care */
    char texts[SCRY_Q_MAX_TEXTS][SCRY_Q_TEXT_MAX]; /* required OCR text, as typed */
    int ntexts;
    int colors[SCRY_Q_MAX_COLORS];  /* whole-image colours */
    int ncolors;
    int has_date;
    int64_t date_from, date_to;     /* [from, to), unix seconds, UTC */
    int photo_attrs;                /* IMG_ATTR_* bits asked for: "black and white", "at night" */
    char residual[SCRY_Q_RESIDUAL_MAX]; /* text for semantic matching; never NULL */
} scry_query;

/* Parse text. now is the reference for relative dates (unix seconds; tests
 * pass a fixed value). lex may be NULL: then only counts, quotes, negations of
 * exact label names and dates are understood. Fails only on NULL/oversized
 * input (SCRY_EINVAL); anything not understood goes to the residual. */
int scry_query_parse(const scry_lexicon *lex, const char *text, int64_t now, scry_query *out, scry_err *err);

/* The parse as one line of JSON (for logs and the API's "explain"), e.g.
 * {"objects":[{"labels":["dog"],"min":2,"max":null,"preferred":2,...}],...}.
 * Returns a malloc'ed string (caller frees), NULL when out of memory. */
char *scry_query_to_json(const scry_query *q);

#endif
