/* synth: the synthetic language (see synth.h). */
#include "synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "util.h"

/* ==== the grammar ==== */

typedef enum { CAT_DET, CAT_ADJ, CAT_NOUN, CAT_VERB, CAT_CLOSE, N_CAT } Category;
typedef enum { ST_START, ST_DET, ST_NOUN, ST_VERB, N_STATE } State;

static const char *const cat_name[N_CAT] = {"DET", "ADJ", "NOUN", "VERB", "CLOSE"};
static const char *const state_name[N_STATE] = {"after the marker", "after DET/ADJ", "after NOUN",
                                                "after VERB"};

/* P(next category | state). Rows sum to 1. */
static const double transition[N_STATE][N_CAT] = {
    /*              DET   ADJ   NOUN  VERB  CLOSE */
    [ST_START] = {0.45, 0.10, 0.35, 0.00, 0.10},
    [ST_DET]   = {0.00, 0.35, 0.65, 0.00, 0.00},
    [ST_NOUN]  = {0.00, 0.00, 0.00, 0.55, 0.45},
    [ST_VERB]  = {0.45, 0.00, 0.20, 0.00, 0.35},
};
static const State after[N_CAT] = {ST_DET, ST_DET, ST_NOUN, ST_VERB, ST_START};

/* Words of each category, most frequent first. No z, x, q or v anywhere. */
static const char *const det_words[] = {"a", "o", "ti", "nu"};
static const char *const adj_words[] = {"brin", "olo", "tesk", "mai", "gufe", "saldo", "penn", "ruk"};
static const char *const noun_words[] = {"ba",   "lemo", "sika", "dunar", "e",    "pel",  "hobi", "muta", "renk",
                                         "gal",  "fiso", "todu", "nabe",  "kir",  "spelo", "wadi", "jorn",
                                         "bemi", "luta", "farn", "doki",  "mesh", "yul",  "ponta", "ribe"};
static const char *const verb_words[] = {"tak", "semi", "horo", "ulp",  "gedi", "manu",
                                         "wok", "ferro", "ilt", "bunda", "rasp", "kewi"};
static const char *const *const words[N_CAT] = {det_words, adj_words, noun_words, verb_words, NULL};
static const int n_words[N_CAT] = {4, 8, 25, 12, 0};

static const char *const markers[SYNTH_CLASSES] = {"zo", "xa", "qi", "vu"};
static const char *const closers[SYNTH_CLASSES] = {"ze", "xe", "qe", "ve"};

const char *synth_closer_letters(void) { return "zxqv"; }
const char *synth_closer(int cls) { return closers[cls]; }

/* P(word r | category) = (1/(r+1)) / H, H = sum of 1/(r+1) over the category. */
static double zipf_prob(Category c, int r) {
    double h = 0;
    for (int i = 0; i < n_words[c]; i++) h += 1.0 / (i + 1);
    return (1.0 / (r + 1)) / h;
}

/* Draw an index from probabilities p[0..n) with a uniform u in [0, 1). */
static int draw(const double *p, int n, double u) {
    double acc = 0;
    for (int i = 0; i < n; i++) {
        acc += p[i];
        if (u < acc) return i;
    }
    for (int i = n - 1; i >= 0; i--) /* rounding left u above the total: the last possible one */
        if (p[i] > 0) return i;
    return 0;
}

static double uniform01(Rng *rng) { return rng_u32(rng) / 4294967296.0; }

/* ==== generation ==== */

void synth_generate(SynthCorpus *c, int n, uint64_t seed) {
    memset(c, 0, sizeof *c);
    c->n = n;
    c->line = xcalloc((size_t)n, sizeof(char *));
    c->logp = xcalloc((size_t)n, sizeof(double));
    c->closer_pos = xcalloc((size_t)n, sizeof(int));
    c->body_words = xcalloc((size_t)n, sizeof(int));
    c->cls = xcalloc((size_t)n, sizeof(int));
    Rng rng;
    rng_seed(&rng, seed, 0x5717); /* the synthetic language's own stream */
    char buf[4096];
    for (int i = 0; i < n; i++) {
        int k = (int)rng_below(&rng, SYNTH_CLASSES);
        double lp = log(1.0 / SYNTH_CLASSES);
        int len = snprintf(buf, sizeof buf, "%s", markers[k]);
        State st = ST_START;
        int body = 0;
        for (;;) {
            Category cat = (Category)draw(transition[st], N_CAT, uniform01(&rng));
            lp += log(transition[st][cat]);
            if (cat == CAT_CLOSE || len > (int)sizeof buf - 64) {
                /* (a sentence of thousands of words would have probability below 1e-300; the
                 * length guard is never reached in practice but keeps the buffer safe) */
                c->closer_pos[i] = len + 1;
                len += snprintf(buf + len, sizeof buf - (size_t)len, " %s.", closers[k]);
                break;
            }
            double p[32];
            for (int r = 0; r < n_words[cat]; r++) p[r] = zipf_prob(cat, r);
            int r = draw(p, n_words[cat], uniform01(&rng));
            lp += log(p[r]);
            len += snprintf(buf + len, sizeof buf - (size_t)len, " %s", words[cat][r]);
            body++;
            st = after[cat];
        }
        c->line[i] = xstrdup(buf);
        c->logp[i] = lp;
        c->body_words[i] = body;
        c->cls[i] = k;
    }
}

void synth_free(SynthCorpus *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->line[i]);
    free(c->line);
    free(c->logp);
    free(c->closer_pos);
    free(c->body_words);
    free(c->cls);
    memset(c, 0, sizeof *c);
}

char *synth_text(const SynthCorpus *c) {
    size_t total = 1;
    for (int i = 0; i < c->n; i++) total += strlen(c->line[i]) + 1;
    char *text = xmalloc(total), *p = text;
    for (int i = 0; i < c->n; i++) {
        size_t l = strlen(c->line[i]);
        memcpy(p, c->line[i], l);
        p += l;
        *p++ = '\n';
    }
    *p = '\0';
    return text;
}

/* ==== scoring by parsing ==== */

static int find_word(Category c, const char *w, size_t len) {
    for (int r = 0; r < n_words[c]; r++)
        if (strlen(words[c][r]) == len && strncmp(words[c][r], w, len) == 0) return r;
    return -1;
}

double synth_score_line(const char *line) {
    /* First word: the marker. */
    size_t len = strcspn(line, " ");
    int k = -1;
    for (int i = 0; i < SYNTH_CLASSES; i++)
        if (strlen(markers[i]) == len && strncmp(markers[i], line, len) == 0) k = i;
    if (k < 0 || line[len] != ' ') return -INFINITY;
    double lp = log(1.0 / SYNTH_CLASSES);
    const char *p = line + len + 1;
    State st = ST_START;
    for (;;) {
        len = strcspn(p, " ");
        if (p[len] == '\0') { /* the last word: closer and full stop */
            if (strlen(closers[k]) + 1 != len || strncmp(p, closers[k], len - 1) != 0 || p[len - 1] != '.')
                return -INFINITY;
            if (transition[st][CAT_CLOSE] == 0) return -INFINITY;
            return lp + log(transition[st][CAT_CLOSE]);
        }
        int cat = -1, r = -1;
        for (int c = 0; c < CAT_CLOSE && r < 0; c++) {
            r = find_word((Category)c, p, len);
            if (r >= 0) cat = c;
        }
        if (cat < 0 || transition[st][cat] == 0) return -INFINITY;
        lp += log(transition[st][cat]) + log(zipf_prob((Category)cat, r));
        st = after[cat];
        p += len + 1;
    }
}

/* ==== word classes ==== */

const char *synth_word_class(const char *word) {
    static const char *const class_name[CAT_CLOSE] = {"determiner", "adjective", "noun", "verb"};
    for (int i = 0; i < SYNTH_CLASSES; i++) {
        if (strcmp(word, markers[i]) == 0) return "marker";
        if (strcmp(word, closers[i]) == 0) return "closer";
    }
    for (int c = 0; c < CAT_CLOSE; c++)
        if (find_word((Category)c, word, strlen(word)) >= 0) return class_name[c];
    return NULL;
}

/* ==== description ==== */

void synth_describe(FILE *f) {
    fprintf(f, "  Each line is a sentence:  MARKER  word ... word  CLOSER.\n");
    fprintf(f, "  MARKER is one of");
    for (int i = 0; i < SYNTH_CLASSES; i++) fprintf(f, " %s", markers[i]);
    fprintf(f, " (1/%d each); the CLOSER must agree with it:", SYNTH_CLASSES);
    for (int i = 0; i < SYNTH_CLASSES; i++) fprintf(f, " %s..%s", markers[i], closers[i]);
    fprintf(f, ".\n  Between them, each next category is drawn given the previous one:\n\n    %-17s", "");
    for (int c = 0; c < N_CAT; c++) fprintf(f, " %6s", cat_name[c]);
    fputc('\n', f);
    for (int s = 0; s < N_STATE; s++) {
        fprintf(f, "    %-17s", state_name[s]);
        for (int c = 0; c < N_CAT; c++) {
            if (transition[s][c] > 0) fprintf(f, " %6.2f", transition[s][c]);
            else fprintf(f, " %6s", "-");
        }
        fputc('\n', f);
    }
    fprintf(f, "\n  Words (Zipf: the r-th word of a category has weight 1/r):\n");
    for (int c = 0; c < CAT_CLOSE; c++) {
        fprintf(f, "    %-5s", cat_name[c]);
        int col = 10;
        for (int r = 0; r < n_words[c]; r++) {
            char item[40];
            int w = snprintf(item, sizeof item, " %s %.3f", words[c][r], zipf_prob((Category)c, r));
            if (col + w > 78) {
                fprintf(f, "\n         ");
                col = 9;
            }
            fputs(item, f);
            col += w;
        }
        fputc('\n', f);
    }
}
