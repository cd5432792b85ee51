/* demo: the small worked example that the attention chapters share.
 *
 * A sentence of T words; each word gets an embedding row drawn from N(0, 1) by a generator seeded
 * with (seed, hash of the word), so the same word always gets the same row (there is no position
 * information yet: that is chapter 6). W^Q, W^K, W^V are drawn from N(0, 1/d_model) so that the
 * entries of Q, K and V have a variance of about 1. The chapters print every matrix of it. */
#ifndef DEMO_H
#define DEMO_H

#include <stdbool.h>
#include <stdint.h>

#include "attention.h"
#include "cli.h"
#include "tensor.h"

#define DEMO_DEFAULT_TEXT "the cat sat on the mat because it was tired and the dog slept by the door"
#define DEMO_MAX_TOKENS 64

/* The command-line options of the example, shared by the attention chapters. */
typedef struct {
    const char *sentence; /* --sentence: words separated by spaces */
    long long tokens;     /* --tokens: how many of its words to use */
    long long d_model;    /* --d-model: embedding width */
    long long d_k;        /* --d-k: width of queries, keys and values */
    const CliOption *tokens_option; /* to tell whether --tokens was given */
} DemoFlags;

enum { DEMO_N_OPTIONS = 4 };
DemoFlags demo_flags_default(void);
/* Write the example's options into out[0..DEMO_N_OPTIONS), pointing at f; without --d-k when
 * with_dk is false (a chapter whose projections are d_model wide). Returns how many it wrote. */
int demo_cli_options(CliOption out[DEMO_N_OPTIONS], DemoFlags *f, bool with_dk);

typedef struct {
    int T, d_model, d_k;
    char **tokens;      /* T words, owned */
    Tensor X;           /* (T, d_model) embeddings, one row per word */
    Tensor Wq, Wk, Wv;  /* (d_model, d_k) projections */
    Tensor Q, K, V;     /* (T, d_k) = X W */
    uint64_t seed;
} AttnDemo;

/* Build the example from parsed flags. A sentence that cannot be used (fewer than 2 words, more
 * than DEMO_MAX_TOKENS, invalid UTF-8, --tokens beyond its length) is a usage error: exit 2. */
void demo_build(AttnDemo *d, const DemoFlags *f, uint64_t seed);
void demo_free(AttnDemo *d);

/* The embedding row of a word: N(0, 1) entries from the generator seeded by (seed, hash(word)). */
void demo_embed_word(float *row, int d_model, const char *word, uint64_t seed);

/* out (T, d_k) = attention over the words whose embeddings are X (T, d_model), through the
 * example's W^Q, W^K, W^V, under mask (NULL: none). Dies if a row has nothing to look at. */
void demo_attend(Tensor *out, const AttnDemo *d, const Tensor *X, const Tensor *mask);

/* Which outputs depend on which inputs, found by experiment: for each word j, replace row j of X by
 * a different random embedding and recompute; D[i][j] = 1 when any bit of output row i changed,
 * else 0. D is (T, T). A correct causal mask gives a lower-triangular D. */
void demo_influence(Tensor *D, const AttnDemo *d, const Tensor *mask);

/* The replacement embedding that demo_influence gives word j (a "different word"). */
void demo_changed_word(float *row, const AttnDemo *d, int j);

#endif
