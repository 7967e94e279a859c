/* query.c -- see query.h for the semantics.
 *
 * The parser is a few left-to-right passes over a token array, each claiming
 * the tokens it understands (marking them "syntax" when they should leave the
 * residual): quoted/said text, dates, negations, then counts + colours +
 * emotions + objects. Hand-written rules over a closed set of constructions
 * are predictable and explainable, and whatever they miss stays in the
 * residual for semantic matching, so a rule that does not fire costs
 * precision, never a failed query. Word meaning comes from the lexicon
 * (WordNet), so "puppies", "automobile" or "vehicles" need no rule here. */
#include "text/query.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/labels.h"
#include "vision/image.h"

#define MAX_TOKENS 96
#define QUERY_MAX 2000

enum { T_WORD, T_NUM, T_QUOTE, T_PUNCT };

typedef struct {
    int kind;
    char text[SCRY_Q_TEXT_MAX]; /* as typed (quotes: the inside) */
    char low[SCRY_Q_TEXT_MAX];  /* lowercase */
    long num;                   /* T_NUM value */
    int decade;                 /* T_NUM written "1990s"/"90s" */
    int syntax;                 /* consumed: not part of the residual */
    int used;                   /* claimed by a pass (may still be residual) */
} token;

typedef struct {
    token t[MAX_TOKENS];
    int n;
} tokens;

/* ---- tokenising ------------------------------------------------------------ */

static size_t quote_open(const unsigned char *p, const unsigned char **close_seq, size_t *close_len) {
    if (*p == '"') { *close_seq = (const unsigned char *)"\""; *close_len = 1; return 1; }
    if (p[0] == 0xE2 && p[1] == 0x80 && p[2] == 0x9C) { *close_seq = (const unsigned char *)"\xE2\x80\x9D"; *close_len = 3; return 3; }
    if (p[0] == 0xE2 && p[1] == 0x80 && p[2] == 0x98) { *close_seq = (const unsigned char *)"\xE2\x80\x99"; *close_len = 3; return 3; }
    return 0;
}

static int word_byte(unsigned char c) { return isalnum(c) || c >= 0x80 || c == '-' || c == '\''; }

static void tokenize(const char *text, tokens *tk) {
    const unsigned char *p = (const unsigned char *)text;
    tk->n = 0;
    while (*p && tk->n < MAX_TOKENS) {
        const unsigned char *close;
        size_t cl, ol = quote_open(p, &close, &cl);
        /* A single quote opens a quotation only at a word start ('OPEN'),
         * never inside a word (don't). */
        int single = *p == '\'' && (p == (const unsigned char *)text || !word_byte(p[-1]));
        if (single) { close = (const unsigned char *)"'"; cl = 1; ol = 1; }
        if (ol) {
            const unsigned char *s = p + ol, *e = (const unsigned char *)strstr((const char *)s, (const char *)close);
            /* a closing single quote must end a word, not be an apostrophe */
            while (e && single && word_byte(e[1])) e = (const unsigned char *)strstr((const char *)e + 1, "'");
            if (e && e > s) {
                token *t = &tk->t[tk->n++];
                memset(t, 0, sizeof *t);
                t->kind = T_QUOTE;
                size_t n = (size_t)(e - s) < SCRY_Q_TEXT_MAX - 1 ? (size_t)(e - s) : SCRY_Q_TEXT_MAX - 1;
                memcpy(t->text, s, n);
                for (size_t i = 0; i < n; i++) t->low[i] = (char)tolower((unsigned char)t->text[i]);
                p = e + cl;
                continue;
            }
            p += ol;
            continue;
        }
        if (*p == ',' || *p == ';' || *p == '.' || *p == '!' || *p == '?' || *p == ':') {
            token *t = &tk->t[tk->n++];
            memset(t, 0, sizeof *t);
            t->kind = T_PUNCT;
            t->text[0] = t->low[0] = (char)*p++;
            continue;
        }
        if (!word_byte(*p) || *p == '-' || *p == '\'') {
            p++;
            continue;
        }
        token *t = &tk->t[tk->n++];
        memset(t, 0, sizeof *t);
        size_t n = 0;
        while (word_byte(*p)) {
            if (n + 1 < SCRY_Q_TEXT_MAX) t->text[n++] = (char)*p;
            p++;
        }
        while (n && (t->text[n - 1] == '-' || t->text[n - 1] == '\'')) n--;   /* trailing ' of a quote */
        t->text[n] = 0;
        for (size_t i = 0; i < n; i++) t->low[i] = (char)tolower((unsigned char)t->text[i]);
        /* "dog's" -> dog */
        if (n > 2 && t->low[n - 2] == '\'' && t->low[n - 1] == 's') t->low[n - 2] = 0;
        char *end;
        long v = strtol(t->low, &end, 10);
        if (isdigit((unsigned char)t->low[0]) && (!*end || (!strcmp(end, "s") && v % 10 == 0))) {
            t->kind = T_NUM;
            t->num = v;
            t->decade = *end == 's';
        } else {
            t->kind = T_WORD;
        }
    }
}

/* Appends w to buf (space-separated), truncating at cap. */
static void append_word(char *buf, size_t cap, const char *w) {
    size_t l = strlen(buf);
    if (l && l + 1 < cap) buf[l++] = ' ';
    size_t n = strlen(w);
    if (n > cap - 1 - l) n = cap - 1 - l;
    memcpy(buf + l, w, n);
    buf[l + n] = 0;
}

static int is(const token *t, const char *w) { return t->kind == T_WORD && strcmp(t->low, w) == 0; }
static int is_any(const token *t, const char *const *ws) {
    for (; *ws; ws++)
        if (is(t, *ws)) return 1;
    return 0;
}
static const token *at(const tokens *tk, int i) {
    static const token none = {.kind = T_PUNCT};
    return i >= 0 && i < tk->n ? &tk->t[i] : &none;
}

/* ---- numbers ---------------------------------------------------------------- */

static const char *const number_words[] = {"zero", "one", "two", "three", "four", "five", "six", "seven",
                                           "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen",
                                           "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"};

/* Count value of token (1..100), or 0. Years are not counts. */
static int count_value(const token *t) {
    if (t->kind == T_NUM && !t->decade && t->num >= 1 && t->num <= 100) return (int)t->num;
    for (int i = 1; i <= 20; i++)
        if (is(t, number_words[i])) return i;
    if (is(t, "a") || is(t, "an") || is(t, "single") || is(t, "lone")) return -1;   /* "a" = at least one */
    if (is(t, "both") || is(t, "pair")) return 2;
    return 0;
}

/* ---- OCR text ------------------------------------------------------------- */

static const char *const text_stop[] = {"and", "or", "in", "on", "at", "with", "from", "near", "by", "of",
                                        "under", "next", "behind", "taken", "during", "but", NULL};

static void add_text(scry_query *q, const char *s) {
    if (q->ntexts < SCRY_Q_MAX_TEXTS && *s) snprintf(q->texts[q->ntexts++], SCRY_Q_TEXT_MAX, "%s", s);
    q->has_text = 1;
}

static const char *const articles[] = {"a", "an", "the", "his", "her", "their", "my", "our", "its", "some",
                                       "this", "these", "those", NULL};

/* Whether a token was typed with a capital letter ("SALE", "Open"). */
static int has_upper(const token *t) {
    for (const char *c = t->text; *c; c++)
        if (*c >= 'A' && *c <= 'Z') return 1;
    return 0;
}

/* "reading", "writing": an activity ("a man reading a newspaper", "a woman
 * writing a letter") more often than a sign's words. They introduce text
 * only after "that"/"which" ("a sign that reads open"), before a quote, or
 * before a word typed with a capital that is no article ("a sign reading
 * STOP"); "says" and the rest always do. */
static int text_trigger(const tokens *tk, int i) {
    static const char *const says[] = {"says", "saying", "say", "written", "labeled", "labelled", NULL};
    static const char *const acts[] = {"reads", "reading", "read", "writing", "writes", NULL};
    const token *t = &tk->t[i];
    if (is_any(t, says)) return 1;
    if (!is_any(t, acts)) return 0;
    const token *next = at(tk, i + 1);
    if (is(at(tk, i - 1), "that") || is(at(tk, i - 1), "which") || next->kind == T_QUOTE) return 1;
    return next->kind == T_WORD && has_upper(next) && !is_any(next, articles);
}

static void pass_text(tokens *tk, scry_query *q) {
    for (int i = 0; i < tk->n; i++) {
        token *t = &tk->t[i];
        if (t->kind == T_QUOTE) {
            add_text(q, t->text);
            t->used = 1;
            continue;
        }
        int trigger = text_trigger(tk, i);
        /* "with the word(s) X", "with the text X", "with text X" */
        if (is(t, "with") && (is(at(tk, i + 1), "word") || is(at(tk, i + 1), "words") || is(at(tk, i + 1), "text"))) trigger = 2;
        if (is(t, "with") && is(at(tk, i + 1), "the") && (is(at(tk, i + 2), "word") || is(at(tk, i + 2), "words") || is(at(tk, i + 2), "text"))) trigger = 3;
        if (!trigger) continue;
        int j = i + trigger;
        if (is(at(tk, j), "that") || is(at(tk, j), "the") || is(at(tk, j), "words") || is(at(tk, j), "word")) j++;
        if (at(tk, j)->kind == T_QUOTE) {   /* the quote pass takes it; only the trigger is syntax */
            for (int k = i; k < j; k++) tk->t[k].syntax = 1;
            continue;
        }
        char buf[SCRY_Q_TEXT_MAX] = "";
        int k = j;
        for (; k < tk->n && k < j + 4; k++) {
            const token *w = &tk->t[k];
            if (w->kind == T_PUNCT || w->kind == T_QUOTE || is_any(w, text_stop)) break;
            append_word(buf, sizeof buf, w->text);
        }
        if (k == j) continue;     /* "text" with nothing after: handled as has_text */
        for (int m = i; m < j; m++) tk->t[m].syntax = 1;
        for (int m = j; m < k; m++) tk->t[m].used = 1;
        /* "that says": "that" before the trigger is syntax too */
        if (is(at(tk, i - 1), "that") || is(at(tk, i - 1), "which")) tk->t[i - 1].syntax = 1;
        add_text(q, buf);
        i = k - 1;
    }
}

/* ---- dates ------------------------------------------------------------------- */

static const char *const months[] = {"january", "february", "march", "april", "may", "june", "july",
                                     "august", "september", "october", "november", "december"};
static const char *const month_abbr[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};

static int month_of(const token *t) {
    if (t->kind != T_WORD) return -1;
    for (int i = 0; i < 12; i++)
        if (!strcmp(t->low, months[i]) || (!strcmp(t->low, month_abbr[i]) && i != 2 && i != 4) ||
            (i == 8 && !strcmp(t->low, "sept")))
            return i;
    return -1;
}

/* Season -> first month (0-based) of it, or -1. */
static int season_of(const token *t) {
    if (is(t, "spring")) return 2;
    if (is(t, "summer")) return 5;
    if (is(t, "autumn") || is(t, "fall")) return 8;
    if (is(t, "winter")) return 11;
    return -1;
}

static int64_t utc(int year, int month0, int day) {
    struct tm tm = {0};
    /* normalise month overflow (winter 2018 ends in March 2019) */
    year += month0 / 12;
    month0 %= 12;
    tm.tm_year = year - 1900;
    tm.tm_mon = month0;
    tm.tm_mday = day;
    return (int64_t)timegm(&tm);
}

static int year_of(const token *t) {
    return t->kind == T_NUM && !t->decade && t->num >= 1900 && t->num <= 2100 ? (int)t->num : 0;
}

static void set_date(scry_query *q, int64_t from, int64_t to) {
    q->has_date = 1;
    q->date_from = from;
    q->date_to = to;
}

/* Tries a date expression at i; returns tokens consumed (0 = none). */
static int date_at(const tokens *tk, int i, int64_t now, scry_query *q) {
    time_t nt = (time_t)now;
    struct tm n;
    gmtime_r(&nt, &n);
    int cy = n.tm_year + 1900, cm = n.tm_mon;
    int64_t today = utc(cy, cm, n.tm_mday);
    const token *t = at(tk, i), *t1 = at(tk, i + 1);
    int y, m, s;
    if (is(t, "yesterday")) { set_date(q, today - 86400, today); return 1; }
    if (is(t, "today")) { set_date(q, today, today + 86400); return 1; }
    if (is(t, "last") || is(t, "past") || is(t, "this")) {
        int last = !is(t, "this");
        if (is(t1, "year")) {
            if (last) set_date(q, utc(cy - 1, 0, 1), utc(cy, 0, 1));
            else set_date(q, utc(cy, 0, 1), utc(cy + 1, 0, 1));
            return 2;
        }
        if (is(t1, "month")) {
            if (!last) set_date(q, utc(cy, cm, 1), utc(cy, cm + 1, 1));
            else if (cm == 0) set_date(q, utc(cy - 1, 11, 1), utc(cy, 0, 1));
            else set_date(q, utc(cy, cm - 1, 1), utc(cy, cm, 1));
            return 2;
        }
        if (is(t1, "week")) {
            if (last) set_date(q, today - 7 * 86400, today);
            else set_date(q, today - (int64_t)((n.tm_wday + 6) % 7) * 86400, today + 86400);
            return 2;
        }
        if ((s = season_of(t1)) >= 0) {
            /* season start in year Y is (Y, s); it ends 3 months later */
            int ys = cy;
            if (utc(ys, s, 1) > now) ys--;                     /* latest season that has started */
            if (last && utc(ys, s + 3, 1) > now) ys--;         /* ...and has ended */
            set_date(q, utc(ys, s, 1), utc(ys, s + 3, 1));
            return 2;
        }
        if ((m = month_of(t1)) >= 0) {
            int ym = cy;
            if (last ? utc(ym, m + 1, 1) > now : 0) ym--;
            set_date(q, utc(ym, m, 1), utc(ym, m + 1, 1));
            return 2;
        }
        return 0;
    }
    if ((s = season_of(t)) >= 0 && (y = year_of(t1))) { set_date(q, utc(y, s, 1), utc(y, s + 3, 1)); return 2; }
    if ((m = month_of(t)) >= 0 && (y = year_of(t1))) { set_date(q, utc(y, m, 1), utc(y, m + 1, 1)); return 2; }
    if ((m = month_of(t)) >= 0 && t1->kind == T_NUM && t1->num >= 1 && t1->num <= 31 && (y = year_of(at(tk, i + 2)))) {
        set_date(q, utc(y, m, (int)t1->num), utc(y, m, (int)t1->num + 1));
        return 3;
    }
    if ((y = year_of(t))) { set_date(q, utc(y, 0, 1), utc(y + 1, 0, 1)); return 1; }
    if (t->kind == T_NUM && t->decade) {
        long d = t->num < 100 ? (t->num >= 30 ? 1900 + t->num : 2000 + t->num) : t->num;
        if (d >= 1900 && d <= 2090) { set_date(q, utc((int)d, 0, 1), utc((int)d + 10, 0, 1)); return 1; }
    }
    return 0;
}

static void pass_dates(tokens *tk, int64_t now, scry_query *q) {
    static const char *const preps[] = {"in", "from", "during", "of", "on", "taken", "since", "after", "before", "between", NULL};
    for (int i = 0; i < tk->n; i++) {
        if (tk->t[i].used || tk->t[i].syntax) continue;
        const token *t = &tk->t[i];
        /* bare month names ("march", "may") only count after a preposition */
        int bare_month = month_of(t) >= 0 && year_of(at(tk, i + 1)) == 0 && !(at(tk, i + 1)->kind == T_NUM);
        if (bare_month && !is_any(at(tk, i - 1), preps)) continue;
        int n = 0;
        if (bare_month) {
            /* "in march": the most recent March that has started */
            time_t nt = (time_t)now;
            struct tm tm;
            gmtime_r(&nt, &tm);
            int m = month_of(t), y = tm.tm_year + 1900;
            if (utc(y, m, 1) > now) y--;
            set_date(q, utc(y, m, 1), utc(y, m + 1, 1));
            n = 1;
        } else {
            n = date_at(tk, i, now, q);
        }
        if (!n) continue;
        const token *p = at(tk, i - 1);
        /* "between 2018 and 2020": from the first to the end of the second */
        if (is(p, "between") && is(at(tk, i + n), "and")) {
            int64_t from = q->date_from;
            int m = date_at(tk, i + n + 1, now, q);
            if (m) {
                q->date_from = from;
                for (int k = i - 1; k < i + n + 1 + m; k++) tk->t[k].syntax = tk->t[k].used = 1;
                i += n + m;
                continue;
            }
        }
        if (is(p, "since") || is(p, "after")) q->date_to = now + 1;
        if (is(p, "before")) { q->date_to = q->date_from; q->date_from = 0; }
        for (int k = i; k < i + n; k++) tk->t[k].syntax = tk->t[k].used = 1;
        if (is_any(p, preps)) tk->t[i - 1].syntax = tk->t[i - 1].used = 1;
        if (is(p, "the") && is_any(at(tk, i - 2), preps)) tk->t[i - 1].syntax = tk->t[i - 2].syntax = 1;
        i += n - 1;
    }
}

/* ---- photo attributes ----------------------------------------------------- */

/* Phrases naming an attribute of the photo itself. Matched before colours,
 * so that "black and white" is not two colours. */
static const struct { const char *words[4]; int attr; } attr_phrases[] = {
    {{"black", "and", "white"}, IMG_ATTR_BW},     {{"b", "w"}, IMG_ATTR_BW},   /* b&w */
    {{"monochrome"}, IMG_ATTR_BW},
    {{"grayscale"}, IMG_ATTR_BW},                 {{"greyscale"}, IMG_ATTR_BW},
    {{"night"}, IMG_ATTR_DARK},                   {{"nighttime"}, IMG_ATTR_DARK},
    {{"dark"}, IMG_ATTR_DARK},                    {{"blurry"}, IMG_ATTR_BLURRY},
    {{"blurred"}, IMG_ATTR_BLURRY},               {{"out", "of", "focus"}, IMG_ATTR_BLURRY},
    {{"close-up"}, IMG_ATTR_CLOSEUP},             {{"closeup"}, IMG_ATTR_CLOSEUP},
    {{"close", "up"}, IMG_ATTR_CLOSEUP},          {{"overexposed"}, IMG_ATTR_OVEREXPOSED},
    {{"over-exposed"}, IMG_ATTR_OVEREXPOSED},
};

static void pass_attributes(tokens *tk, scry_query *q) {
    for (int i = 0; i < tk->n; i++) {
        if (tk->t[i].used) continue;
        for (size_t p = 0; p < sizeof attr_phrases / sizeof *attr_phrases; p++) {
            int k = 0;
            while (k < 4 && attr_phrases[p].words[k] && is(at(tk, i + k), attr_phrases[p].words[k]) &&
                   !at(tk, i + k)->used)
                k++;
            if (k == 0 || (k < 4 && attr_phrases[p].words[k])) continue;
            /* "a dark dog" is a dark-coated dog, not a dark photo: "dark" only
             * counts when no object follows (the objects pass decides colours) */
            if (attr_phrases[p].attr == IMG_ATTR_DARK && is(at(tk, i), "dark") &&
                at(tk, i + 1)->kind == T_WORD && !is(at(tk, i + 1), "photo") &&
                !is(at(tk, i + 1), "photos") && !is(at(tk, i + 1), "picture") &&
                !is(at(tk, i + 1), "image"))
                continue;
            /* syntax: "black" and "white" must not go on to match colours */
            q->photo_attrs |= attr_phrases[p].attr;
            for (int m = i; m < i + k; m++) tk->t[m].used = tk->t[m].syntax = 1;
            if (is(at(tk, i - 1), "at") && attr_phrases[p].attr == IMG_ATTR_DARK) tk->t[i - 1].syntax = 1;
            i += k - 1;
            break;
        }
    }
}

/* ---- objects, counts, colours, emotions, negations ------------------------ */

/* Words for the kinds of people faces tell apart (core/labels.h person
 * words), as bits over scry_person_labels. */
#define PW(k) (1u << SCRY_PERSON_##k)
static const struct { const char *word; unsigned kinds; } person_kind_words[] = {
    {"man", PW(MAN)}, {"men", PW(MAN)}, {"guy", PW(MAN)}, {"guys", PW(MAN)}, {"gentleman", PW(MAN)},
    {"gentlemen", PW(MAN)}, {"male", PW(MAN)}, {"males", PW(MAN)},
    {"woman", PW(WOMAN)}, {"women", PW(WOMAN)}, {"lady", PW(WOMAN)}, {"ladies", PW(WOMAN)},
    {"female", PW(WOMAN)}, {"females", PW(WOMAN)},
    {"boy", PW(BOY)}, {"boys", PW(BOY)}, {"girl", PW(GIRL)}, {"girls", PW(GIRL)},
    {"child", PW(BOY) | PW(GIRL) | PW(CHILD) | PW(BABY)}, {"children", PW(BOY) | PW(GIRL) | PW(CHILD) | PW(BABY)},
    {"kid", PW(BOY) | PW(GIRL) | PW(CHILD) | PW(BABY)}, {"kids", PW(BOY) | PW(GIRL) | PW(CHILD) | PW(BABY)},
    {"toddler", PW(CHILD) | PW(BABY)}, {"toddlers", PW(CHILD) | PW(BABY)},
    {"baby", PW(BABY)}, {"babies", PW(BABY)}, {"infant", PW(BABY)}, {"infants", PW(BABY)},
};
#undef PW

static unsigned person_kinds_of(const token *t) {
    for (size_t i = 0; i < sizeof person_kind_words / sizeof *person_kind_words; i++)
        if (is(t, person_kind_words[i].word)) return person_kind_words[i].kinds;
    return 0;
}

/* What people wear on the upper body, as captions and queries name it. */
static const char *const garments[] = {"shirt", "shirts", "t-shirt", "tshirt", "jacket", "jackets", "coat",
                                       "coats", "top", "sweater", "sweatshirt", "hoodie", "jersey", "vest",
                                       "blouse", "uniform", "uniforms", "dress", "dresses", "suit",
                                       "raincoat", NULL};

typedef struct {
    int ok;
    int len;                  /* tokens covered */
    scry_lex_match m;
} phrase;

static const char *const stopwords[] = {"a", "an", "the", "of", "in", "on", "at", "with", "and", "or", "is", "are",
                                        "to", "for", "by", "from", "some", "any", "who", "that", "which", "while",
                                        "photo", "photos", "picture", "pictures", "image", "images", "show", "me",
                                        "find", "shot", "shots", "his", "her", "their", "its", "my", "our",
                                        "there", "it", "be", "being", "very", "but", "as", "up", "out", NULL};

/* Phrase at i: a COCO label written in 2-3 words ("hot dogs", "teddy bear"),
 * else the single word through the lexicon. */
static phrase phrase_at(const scry_lexicon *lex, const tokens *tk, int i) {
    phrase ph = {0};
    ph.m.emotion = ph.m.color = -1;
    const token *t = at(tk, i);
    if (t->kind != T_WORD || t->used || is_any(t, stopwords)) return ph;
    for (int len = 3; len >= 2; len--) {
        char buf[SCRY_LEX_WORD_MAX] = "";
        int k;
        for (k = 0; k < len; k++) {
            const token *w = at(tk, i + k);
            if (w->kind != T_WORD || w->used) break;
            append_word(buf, sizeof buf, w->low);
        }
        if (k < len) continue;
        size_t l = strlen(buf);
        int label = scry_coco_index(buf);
        if (label < 0 && l > 1 && buf[l - 1] == 's') { buf[l - 1] = 0; label = scry_coco_index(buf); }
        if (label < 0 && l > 2 && !strcmp(buf + l - 2, "es")) { buf[l - 2] = 0; label = scry_coco_index(buf); }
        if (label < 0 && !strcmp(buf, "hair dryer")) label = scry_coco_index("hair drier");
        if (label < 0 && !strcmp(buf, "mobile phone")) label = scry_coco_index("cell phone");
        if (label >= 0) {
            ph.ok = 1;
            ph.len = len;
            ph.m.coco[label / 64] |= 1ULL << (label % 64);
            ph.m.ncoco = 1;
            ph.m.coco_how = SCRY_LEX_EXACT;
            snprintf(ph.m.lemma, sizeof ph.m.lemma, "%s", scry_coco_labels[label]);
            return ph;
        }
    }
    if (lex) {
        ph.ok = scry_lexicon_map(lex, t->low, &ph.m);
    } else {
        int label = scry_coco_index(t->low);
        if (label < 0 && strlen(t->low) > 1 && t->low[strlen(t->low) - 1] == 's') {
            char b[SCRY_Q_TEXT_MAX];
            snprintf(b, sizeof b, "%s", t->low);
            b[strlen(b) - 1] = 0;
            label = scry_coco_index(b);
        }
        if (label >= 0) { ph.m.coco[label / 64] |= 1ULL << (label % 64); ph.m.ncoco = 1; ph.ok = 1; }
        ph.m.color = scry_color_index(t->low);
        ph.m.emotion = scry_emotion_index(t->low);
        ph.ok |= ph.m.color >= 0 || ph.m.emotion >= 0;
    }
    ph.len = 1;
    return ph;
}

static int is_person_only(const uint64_t b[2]) {
    int p = scry_coco_index("person");
    return b[0] == (1ULL << p) && b[1] == 0;
}

/* kinds: for people, which kinds (person_kinds; 0 = anyone). */
static scry_query_object *add_object(scry_query *q, const scry_lex_match *m, const char *word,
                                     unsigned kinds) {
    /* Same label set (and kind of person) as an existing constraint: merge
     * ("a crowd of people"); "a man and a woman" stay two. */
    for (int i = 0; i < q->nobjects; i++)
        if (q->objects[i].labels[0] == m->coco[0] && q->objects[i].labels[1] == m->coco[1] &&
            q->objects[i].person_kinds == kinds)
            return &q->objects[i];
    if (q->nobjects == SCRY_Q_MAX_OBJECTS) return NULL;
    scry_query_object *o = &q->objects[q->nobjects++];
    memset(o, 0, sizeof *o);
    o->labels[0] = m->coco[0];
    o->labels[1] = m->coco[1];
    o->min_count = 1;
    o->max_count = -1;
    o->color = -1;
    o->clothing = -1;
    o->emotion = -1;
    o->how = m->coco_how;
    o->person_kinds = kinds;
    snprintf(o->word, sizeof o->word, "%s", word);
    return o;
}

static const char *const negators[] = {"no", "not", "without", "excluding", "except", "never", "nobody", "none", NULL};
static const char *const text_words[] = {"text", "writing", "words", "letters", "lettering", "caption", "captions", "sign", "signs", NULL};

static void pass_negations(const scry_lexicon *lex, tokens *tk, scry_query *q) {
    for (int i = 0; i < tk->n; i++) {
        token *t = &tk->t[i];
        if (t->used || !is_any(t, negators)) continue;
        if (is(t, "nobody")) {
            int p = scry_coco_index("person");
            q->excluded[p / 64] |= 1ULL << (p % 64);
            t->syntax = t->used = 1;
            continue;
        }
        /* scope: optional article/quantifier, up to 3 words (adjectives + noun) */
        int j = i + 1;
        while (is(at(tk, j), "a") || is(at(tk, j), "an") || is(at(tk, j), "any") || is(at(tk, j), "the") ||
               is(at(tk, j), "other") || is(at(tk, j), "visible"))
            j++;
        int hit = 0;
        for (int k = j; k < j + 3 && k < tk->n && !hit; k++) {
            const token *w = &tk->t[k];
            if (w->kind != T_WORD || w->used) break;
            if (is_any(w, text_words) && (k == j || !is(w, "sign"))) {
                if (is(w, "sign") || is(w, "signs")) break;   /* "no sign" is an object, not OCR */
                q->has_text = 0;
                hit = k + 1;
                break;
            }
            phrase ph = phrase_at(lex, tk, k);
            if (ph.ok && ph.m.ncoco) {
                q->excluded[0] |= ph.m.coco[0];
                q->excluded[1] |= ph.m.coco[1];
                hit = k + ph.len;
            }
        }
        if (!hit) continue;
        for (int k = i; k < hit; k++) tk->t[k].syntax = tk->t[k].used = 1;
    }
}

typedef struct { int min, max, preferred; int set; int singular; } count_spec;

/* Count phrase at i ("at least 3", "two", "a few", "a crowd of"); returns
 * tokens consumed and fills c. */
static int count_at(const tokens *tk, int i, count_spec *c) {
    const token *t = at(tk, i), *t1 = at(tk, i + 1), *t2 = at(tk, i + 2);
    int v;
    memset(c, 0, sizeof *c);
    c->max = -1;
    c->set = 1;
    if (is(t, "at") && (is(t1, "least") || is(t1, "most")) && (v = count_value(t2)) > 0) {
        if (is(t1, "least")) c->min = v;
        else { c->min = 0; c->max = v; }
        return 3;
    }
    if ((is(t, "more") || is(t, "over")) && ((is(t1, "than") && (v = count_value(t2)) > 0) || (is(t, "over") && (v = count_value(t1)) > 0))) {
        c->min = v + 1;
        return is(t1, "than") ? 3 : 2;
    }
    if ((is(t, "fewer") || is(t, "less")) && is(t1, "than") && (v = count_value(t2)) > 0) {
        c->min = 0;
        c->max = v - 1;
        return 3;
    }
    if ((is(t, "exactly") || is(t, "only") || is(t, "just")) && (v = count_value(t1)) > 0) {
        c->min = c->max = c->preferred = v;
        return 2;
    }
    if (is(t, "a") && (is(t1, "few") || is(t1, "couple"))) {
        c->min = 2;
        if (is(t1, "couple")) c->preferred = 2;
        return is(t2, "of") ? 3 : 2;
    }
    if (is(t, "a") && (is(t1, "lot") || is(t1, "group") || is(t1, "bunch") || is(t1, "number")) && is(t2, "of")) {
        c->min = 3;
        return 3;
    }
    if (is(t, "lots") && is(t1, "of")) { c->min = 3; return 2; }
    if (is(t, "several") || is(t, "many") || is(t, "multiple") || is(t, "numerous") || is(t, "various")) { c->min = 3; return 1; }
    if (is(t, "couple") && is(t1, "of")) { c->min = c->preferred = 2; return 2; }
    if (is(t, "pair") && is(t1, "of")) { c->min = c->preferred = 2; return 2; }
    if ((v = count_value(t)) != 0) {
        if (v < 0) { c->min = 1; c->singular = 1; }     /* "a dog" */
        else { c->min = v; c->preferred = v; }
        return 1;
    }
    c->set = 0;
    return 0;
}

/* Objects implied by activity and agent words ("surfing", "a skier"), as
 * constraints of their own, unless the query names an object itself: in "a
 * man riding a bike" the bike is what was asked for, whatever "riding" may
 * imply on its own. */
static void add_implied(scry_query *q, const uint64_t implied[2], const char *word) {
    int person = scry_coco_index("person");
    for (int i = 0; i < q->nobjects; i++)
        if (!is_person_only(q->objects[i].labels) && q->objects[i].how != SCRY_LEX_IMPLIED) return;
    for (int l = 0; l < SCRY_COCO_COUNT; l++) {
        if (!(implied[l / 64] >> (l % 64) & 1) || l == person) continue;
        scry_lex_match m = {0};
        m.coco[l / 64] |= 1ULL << (l % 64);
        m.coco_how = SCRY_LEX_IMPLIED;
        add_object(q, &m, word, 0);
    }
}

static void pass_objects(const scry_lexicon *lex, tokens *tk, scry_query *q) {
    uint64_t implied[2] = {0, 0};
    char implied_by[SCRY_LEX_WORD_MAX] = "";
    count_spec pending = {0, -1, 0, 0, 0};
    int pending_color = -1, pending_emotion = -1;
    int person = scry_coco_index("person");
    scry_query_object *last_person = NULL;
    int unattached_emotion = -1;
    for (int i = 0; i < tk->n; i++) {
        token *t = &tk->t[i];
        if (t->kind == T_PUNCT || is(t, "and") || is(t, "or") || is(t, "with")) {
            if (pending_color >= 0 && q->ncolors < SCRY_Q_MAX_COLORS) q->colors[q->ncolors++] = pending_color;
            if (pending_emotion >= 0) unattached_emotion = pending_emotion;
            pending_color = pending_emotion = -1;
            pending.set = 0;
            continue;
        }
        if (t->used) continue;
        count_spec c;
        int n = count_at(tk, i, &c);
        if (n) {
            /* "a crowd", "a group of" are handled above or below; a count
             * word standing alone ("one person") applies to the next object */
            pending = c;
            int is_article = n == 1 && (is(t, "a") || is(t, "an"));
            for (int k = i; k < i + n; k++) tk->t[k].used = 1, tk->t[k].syntax = !is_article && !is(&tk->t[k], "of") ? 1 : tk->t[k].syntax;
            for (int k = i; k < i + n; k++) if (is(&tk->t[k], "of")) tk->t[k].syntax = 1;
            i += n - 1;
            continue;
        }
        if (is(t, "crowd") || is(t, "crowds")) {
            scry_lex_match m = {0};
            m.coco[person / 64] |= 1ULL << (person % 64);
            m.coco_how = SCRY_LEX_TABLE;
            scry_query_object *o = add_object(q, &m, t->low, 0);
            if (o) {
                if (o->min_count < 5) o->min_count = 5;
                last_person = o;
            }
            t->used = 1;
            if (is(at(tk, i + 1), "of")) tk->t[i + 1].used = 1;
            pending.set = 0;
            continue;
        }
        /* "a red shirt", "in red": what a person wears */
        int wear = scry_color_index(t->low);
        if (wear < 0 && lex) {
            scry_lex_match cm;
            if (scry_lexicon_map(lex, t->low, &cm) && cm.color >= 0 && !cm.ncoco) wear = cm.color;
        }
        if (wear >= 0 && (is_any(at(tk, i + 1), garments) ||
                          (is(at(tk, i - 1), "in") && last_person && !phrase_at(lex, tk, i + 1).m.ncoco))) {
            scry_query_object *o = last_person;
            if (!o) {
                scry_lex_match m = {0};
                m.coco[person / 64] |= 1ULL << (person % 64);
                m.coco_how = SCRY_LEX_TABLE;
                o = last_person = add_object(q, &m, "person", 0);
            }
            if (o) o->clothing = wear;
            t->used = 1;
            if (is_any(at(tk, i + 1), garments)) tk->t[i + 1].used = 1;
            continue;
        }
        phrase ph = phrase_at(lex, tk, i);
        if (!ph.ok) continue;
        for (int k = i; k < i + ph.len; k++) tk->t[k].used = 1;
        if (ph.m.implied[0] || ph.m.implied[1]) {
            implied[0] |= ph.m.implied[0];
            implied[1] |= ph.m.implied[1];
            if (!implied_by[0]) snprintf(implied_by, sizeof implied_by, "%s", t->low);
            if (!ph.m.ncoco && ph.m.emotion < 0 && ph.m.color < 0) continue;
        }
        const phrase *next = NULL;
        phrase nph;
        /* A colour is a modifier when an object follows (possibly after an
         * emotion/other adjective): "red car", "orange cat". */
        if (ph.m.color >= 0) {
            int k = i + ph.len;
            nph = phrase_at(lex, tk, k);
            if (nph.ok && nph.m.ncoco) next = &nph;
            if (next || !ph.m.ncoco) {
                pending_color = ph.m.color;
                i += ph.len - 1;
                continue;
            }
        }
        if (ph.m.ncoco) {
            scry_query_object *o = add_object(q, &ph.m, ph.m.lemma[0] ? ph.m.lemma : t->low,
                                              is_person_only(ph.m.coco) ? person_kinds_of(t) : 0);
            if (!o) continue;
            if (pending.set) {
                if (pending.min > o->min_count || pending.max >= 0) o->min_count = pending.min;
                if (pending.max >= 0) o->max_count = pending.max;
                if (pending.preferred) o->preferred_count = pending.preferred;
                o->singular = pending.singular;
            }
            if (pending_color >= 0) o->color = pending_color;
            if (is_person_only(o->labels)) {
                last_person = o;
                if (pending_emotion >= 0) o->emotion = pending_emotion;
                /* the face word itself may carry the emotion ("smiley") */
                if (ph.m.emotion >= 0 && o->emotion < 0) o->emotion = ph.m.emotion;
                if (unattached_emotion >= 0 && o->emotion < 0) { o->emotion = unattached_emotion; unattached_emotion = -1; }
            }
            pending.set = 0;
            pending_color = pending_emotion = -1;
            i += ph.len - 1;
            continue;
        }
        if (ph.m.emotion >= 0) {
            /* "smiling kids" (before) or "a man smiling" (after) */
            if (last_person && last_person->emotion < 0 && !pending.set) last_person->emotion = ph.m.emotion;
            else pending_emotion = ph.m.emotion;
        }
    }
    if (pending_color >= 0 && q->ncolors < SCRY_Q_MAX_COLORS) q->colors[q->ncolors++] = pending_color;
    if (pending_emotion >= 0) unattached_emotion = pending_emotion;
    if (implied[0] || implied[1]) add_implied(q, implied, implied_by);
    if (unattached_emotion >= 0) {
        /* an emotion with no person word implies a person with that face */
        scry_query_object *o = last_person;
        if (!o) {
            scry_lex_match m = {0};
            m.coco[person / 64] |= 1ULL << (person % 64);
            m.coco_how = SCRY_LEX_TABLE;
            o = add_object(q, &m, scry_emotion_labels[unattached_emotion], 0);
        }
        if (o && o->emotion < 0) o->emotion = unattached_emotion;
    }
}

/* "with text", "text" (not after a negation) -> has_text = 1; "writing"
 * before an article is the act ("writing a letter"), not the text. */
static void pass_has_text(tokens *tk, scry_query *q) {
    static const char *const txt[] = {"text", "writing", "lettering", "words", NULL};
    for (int i = 0; i < tk->n; i++) {
        if (tk->t[i].used || !is_any(&tk->t[i], txt) || q->has_text == 0) continue;
        if (is(&tk->t[i], "writing") && is_any(at(tk, i + 1), articles)) continue;
        q->has_text = 1;
    }
}

int scry_query_parse(const scry_lexicon *lex, const char *text, int64_t now, scry_query *q, scry_err *err) {
    memset(q, 0, sizeof *q);
    q->has_text = -1;
    if (!text) return scry_fail(err, SCRY_EINVAL, "query: no text");
    if (strlen(text) > QUERY_MAX) return scry_fail(err, SCRY_EINVAL, "query longer than %d bytes", QUERY_MAX);
    tokens *tk = malloc(sizeof *tk);
    if (!tk) return scry_fail(err, SCRY_ENOMEM, "out of memory");
    tokenize(text, tk);
    pass_text(tk, q);
    pass_dates(tk, now, q);
    pass_negations(lex, tk, q);
    pass_attributes(tk, q);
    pass_objects(lex, tk, q);
    pass_has_text(tk, q);
    /* Boilerplate that is pure syntax for the residual. */
    static const char *const boiler[] = {"photo", "photos", "picture", "pictures", "image", "images", "show",
                                         "me", "find", "pics", "pic", NULL};
    size_t len = 0;
    for (int i = 0; i < tk->n; i++) {
        const token *t = &tk->t[i];
        if (t->syntax || t->kind == T_PUNCT || is_any(t, boiler)) continue;
        if (is(t, "of") && i > 0 && is_any(&tk->t[i - 1], boiler)) continue;
        int w = snprintf(q->residual + len, sizeof q->residual - len, "%s%s", len ? " " : "", t->text);
        if (w < 0 || (size_t)w >= sizeof q->residual - len) break;
        len += (size_t)w;
    }
    free(tk);
    return SCRY_OK;
}

/* ---- JSON ------------------------------------------------------------------- */

static json_t *labels_json(const uint64_t b[2]) {
    json_t *a = json_array();
    for (int l = 0; l < SCRY_COCO_COUNT; l++)
        if (b[l / 64] >> (l % 64) & 1) json_array_append_new(a, json_string(scry_coco_labels[l]));
    return a;
}

static const char *how_name(scry_lex_how h) {
    switch (h) {
    case SCRY_LEX_EXACT: return "exact";
    case SCRY_LEX_TABLE: return "table";
    case SCRY_LEX_SYNONYM: return "synonym";
    case SCRY_LEX_HYPONYM: return "hyponym";
    case SCRY_LEX_HYPERNYM: return "hypernym";
    case SCRY_LEX_IMPLIED: return "implied";
    default: return "none";
    }
}

char *scry_query_to_json(const scry_query *q) {
    json_t *o = json_object(), *objs = json_array();
    for (int i = 0; i < q->nobjects; i++) {
        const scry_query_object *ob = &q->objects[i];
        json_t *j = json_object();
        json_object_set_new(j, "word", json_string(ob->word));
        json_object_set_new(j, "labels", labels_json(ob->labels));
        json_object_set_new(j, "how", json_string(how_name(ob->how)));
        json_object_set_new(j, "min", json_integer(ob->min_count));
        json_object_set_new(j, "max", ob->max_count >= 0 ? json_integer(ob->max_count) : json_null());
        json_object_set_new(j, "preferred", ob->preferred_count ? json_integer(ob->preferred_count) : json_null());
        json_object_set_new(j, "color", ob->color >= 0 ? json_string(scry_color_names[ob->color]) : json_null());
        if (ob->clothing >= 0) json_object_set_new(j, "wearing", json_string(scry_color_names[ob->clothing]));
        if (ob->person_kinds) {
            json_t *who = json_array();
            for (int k = 0; k < SCRY_PERSON_COUNT; k++)
                if (ob->person_kinds >> k & 1) json_array_append_new(who, json_string(scry_person_labels[k]));
            json_object_set_new(j, "who", who);
        }
        json_object_set_new(j, "emotion", ob->emotion >= 0 ? json_string(scry_emotion_labels[ob->emotion]) : json_null());
        json_array_append_new(objs, j);
    }
    json_object_set_new(o, "objects", objs);
    json_object_set_new(o, "excluded", labels_json(q->excluded));
    json_object_set_new(o, "has_text", q->has_text < 0 ? json_null() : json_boolean(q->has_text));
    json_t *texts = json_array(), *colors = json_array();
    for (int i = 0; i < q->ntexts; i++) json_array_append_new(texts, json_string(q->texts[i]));
    for (int i = 0; i < q->ncolors; i++) json_array_append_new(colors, json_string(scry_color_names[q->colors[i]]));
    json_object_set_new(o, "texts", texts);
    json_object_set_new(o, "colors", colors);
    json_t *attrs = json_array();
    for (int i = 0; i < IMG_ATTR_COUNT; i++)
        if (q->photo_attrs >> i & 1) json_array_append_new(attrs, json_string(img_attr_names[i]));
    json_object_set_new(o, "photo", attrs);
    if (q->has_date) {
        json_t *d = json_object();
        char from[32], to[32];
        time_t f = (time_t)q->date_from, t = (time_t)q->date_to;
        struct tm tf, tt;
        gmtime_r(&f, &tf);
        gmtime_r(&t, &tt);
        strftime(from, sizeof from, "%Y-%m-%dT%H:%M:%SZ", &tf);
        strftime(to, sizeof to, "%Y-%m-%dT%H:%M:%SZ", &tt);
        json_object_set_new(d, "from", json_string(from));
        json_object_set_new(d, "to", json_string(to));
        json_object_set_new(o, "date", d);
    } else {
        json_object_set_new(o, "date", json_null());
    }
    json_object_set_new(o, "residual", json_string(q->residual));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}
