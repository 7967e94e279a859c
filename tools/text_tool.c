/* text_tool.c -- the text side of Scry's own code, for the training tools
 * (tools/train_concepts.py), so that they tokenise, stem and encode exactly
 * as the product does instead of approximating it in Python.
 *
 *   scry-text terms   < LINES    each line's words as keyword-index terms
 *                                (kw_term: lowercased, stopwords dropped,
 *                                stemmed), space-separated, one line out per
 *                                line in
 *   scry-text lemma   < WORDS    each word's first WordNet base form (or the
 *                                word itself), one per line
 *   scry-text coco    < WORDS    how each word reaches the detector's COCO
 *                                labels through the lexicon (the query
 *                                side's mapping): "how label,label", then
 *                                "implies label,..." for what an activity
 *                                or agent implies, or "-"
 *   scry-text encode WORDVEC OUT < LINES
 *                                each line's SIF sentence vector (the
 *                                product's encoder) as float32 rows in OUT */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/labels.h"
#include "search/kwindex.h"
#include "text/encoder.h"
#include "text/lexicon.h"
#include "text/wordvec.h"

static void chomp(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
}

static int terms(void) {
    static char line[65536];
    while (fgets(line, sizeof line, stdin)) {
        chomp(line);
        int first = 1;
        for (char *p = line; *p;) {
            while (*p && !isalnum((unsigned char)*p) && (unsigned char)*p < 0x80) p++;
            char w[128];
            size_t n = 0;
            while (*p && (isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80)) {
                if (n + 1 < sizeof w) w[n++] = *p;
                p++;
            }
            w[n] = 0;
            if (!n) continue;
            char t[128];
            kw_term(w, t, sizeof t);
            if (!*t) continue;
            printf("%s%s", first ? "" : " ", t);
            first = 0;
        }
        printf("\n");
    }
    return 0;
}

static scry_lexicon *open_lexicon(void) {
    scry_err err = {0};
    scry_lexicon *lex = NULL;
    if (scry_lexicon_open(&lex, &err)) fprintf(stderr, "scry-text: %s\n", err.msg);
    return lex;
}

static int lemma(void) {
    scry_lexicon *lex = open_lexicon();
    if (!lex) return 1;
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        chomp(line);
        char forms[4][SCRY_LEX_WORD_MAX];
        int n = scry_lexicon_lemmas(lex, line, forms, 4);
        printf("%s\n", n > 0 ? forms[0] : line);
    }
    scry_lexicon_close(lex);
    return 0;
}

static int coco(void) {
    static const char *const how_names[] = {"-", "exact", "table", "synonym", "hyponym", "hypernym"};
    scry_lexicon *lex = open_lexicon();
    if (!lex) return 1;
    char line[256];
    while (fgets(line, sizeof line, stdin)) {
        chomp(line);
        scry_lex_match m;
        scry_lexicon_map(lex, line, &m);
        if (!m.ncoco && !m.implied[0] && !m.implied[1]) {
            printf("-\n");
            continue;
        }
        int first = 1;
        if (m.ncoco) {
            printf("%s ", how_names[m.coco_how]);
            for (int l = 0; l < SCRY_COCO_COUNT; l++)
                if (scry_lex_has(&m, l)) printf("%s%s", first ? "" : ",", scry_coco_labels[l]), first = 0;
        }
        if (m.implied[0] || m.implied[1]) {
            printf("%simplies ", m.ncoco ? " " : "");
            first = 1;
            for (int l = 0; l < SCRY_COCO_COUNT; l++)
                if (m.implied[l / 64] >> (l % 64) & 1)
                    printf("%s%s", first ? "" : ",", scry_coco_labels[l]), first = 0;
        }
        printf("\n");
    }
    scry_lexicon_close(lex);
    return 0;
}

static int encode(const char *wvpath, const char *out) {
    scry_err err = {0};
    scry_lexicon *lex = NULL;
    scry_wordvec *wv = NULL;
    scry_encoder *enc = NULL;
    if (scry_lexicon_open(&lex, &err) || scry_wordvec_open(wvpath, &wv, &err) ||
        scry_sif_encoder_new(wv, lex, NULL, &enc, &err)) {
        fprintf(stderr, "scry-text: %s\n", err.msg);
        return 1;
    }
    FILE *f = fopen(out, "wb");
    if (!f) {
        fprintf(stderr, "scry-text: cannot write %s\n", out);
        return 1;
    }
    float *v = malloc((size_t)enc->dim * sizeof *v);
    static char line[65536];
    int n = 0;
    while (fgets(line, sizeof line, stdin)) {
        chomp(line);
        if (scry_encode(enc, line, v, &err) < 0) memset(v, 0, (size_t)enc->dim * sizeof *v);
        fwrite(v, sizeof *v, (size_t)enc->dim, f);
        n++;
    }
    fclose(f);
    fprintf(stderr, "scry-text: encoded %d lines, dim %d, encoder %s\n", n, enc->dim, enc->name);
    free(v);
    scry_encoder_free(enc);
    scry_wordvec_close(wv);
    scry_lexicon_close(lex);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "terms") == 0) return terms();
    if (argc >= 2 && strcmp(argv[1], "lemma") == 0) return lemma();
    if (argc >= 2 && strcmp(argv[1], "coco") == 0) return coco();
    if (argc >= 4 && strcmp(argv[1], "encode") == 0) return encode(argv[2], argv[3]);
    fprintf(stderr, "usage: scry-text terms|lemma|coco < lines; scry-text encode WORDVEC OUT < lines\n");
    return 2;
}
