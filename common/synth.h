/* synth: a small synthetic language whose true probabilities are known exactly.
 *
 * Every line is one sentence:   MARKER word word ... word CLOSER.
 *   - MARKER is one of "zo" "xa" "qi" "vu", each with probability 1/4;
 *   - the words in between follow a phrase grammar: a finite automaton over word categories
 *     (determiner, adjective, noun, verb) with fixed transition probabilities; within a category
 *     the r-th word has weight 1/r (a Zipf law);
 *   - the sentence ends when the automaton draws CLOSE: then comes the CLOSER that agrees with the
 *     marker ("zo" ... "ze", "xa" ... "xe", "qi" ... "qe", "vu" ... "ve") and a full stop.
 * The letters z, x, q, v appear in markers and closers only, so which closer comes is decided by
 * the first word of the sentence, any number of tokens earlier: a long-range dependency that a model
 * seeing only the last n-1 tokens cannot learn once the gap is longer than that.
 *
 * Because the generator makes every choice itself, it knows the exact probability of every line it
 * writes; the mean of -log p per token over a text is the cross-entropy of the true process, the
 * floor that no model can beat on average.                                                        */
#ifndef SYNTH_H
#define SYNTH_H

#include <stdint.h>
#include <stdio.h>

enum { SYNTH_CLASSES = 4 };

typedef struct {
    char **line;      /* n lines, owned, without newlines */
    int n;
    double *logp;     /* natural log of each line's probability under the true process */
    int *closer_pos;  /* byte offset of the closer's first letter (the marker starts at 0) */
    int *body_words;  /* words between the marker and the closer */
    int *cls;         /* the marker's class, 0..3 */
} SynthCorpus;

/* n lines of the language from the given seed. */
void synth_generate(SynthCorpus *c, int n, uint64_t seed);
void synth_free(SynthCorpus *c);

/* All lines joined with '\n' (owned). */
char *synth_text(const SynthCorpus *c);

/* The exact natural-log probability of a line, found by parsing it (independently of the
 * generator's own bookkeeping); -INFINITY when the line is not a sentence of the language. */
double synth_score_line(const char *line);

/* The first letters of the four closers, in class order: "zxqv". */
const char *synth_closer_letters(void);
/* The closer word of a class: "ze", ... */
const char *synth_closer(int cls);

/* The class of a word of the language: "marker", "determiner", "adjective", "noun", "verb" or
 * "closer" (static strings); NULL for anything else (the full stop, a letter, a word not in it). */
const char *synth_word_class(const char *word);

/* Print the grammar from its tables: markers, transition probabilities, words with weights. */
void synth_describe(FILE *f);

#endif
