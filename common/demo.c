/* demo: the worked example of the attention chapters (see demo.h). */
#include "demo.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

DemoFlags demo_flags_default(void) {
    DemoFlags f = {.sentence = DEMO_DEFAULT_TEXT, .tokens = 6, .d_model = 8, .d_k = 4,
                   .tokens_option = NULL};
    return f;
}

int demo_cli_options(CliOption out[DEMO_N_OPTIONS], DemoFlags *f, bool with_dk) {
    out[0] = cli_string("--sentence", &f->sentence, "TEXT", "the words to attend over, separated by spaces");
    out[1] = cli_int("--tokens", &f->tokens, 2, DEMO_MAX_TOKENS, "N",
                     "use the first N words of the sentence (all of --sentence when it is given)");
    out[2] = cli_int("--d-model", &f->d_model, 1, 1024, "D", "embedding width d_model");
    if (with_dk) out[3] = cli_int("--d-k", &f->d_k, 1, 1024, "K", "width d_k of queries, keys, values");
    f->tokens_option = &out[1];
    return with_dk ? 4 : 3;
}

/* Split on spaces, tabs and newlines into at most DEMO_MAX_TOKENS + 1 words (one more than allowed,
 * so that too many can be reported). Returns the count. */
static int split_words(const char *text, char **words) {
    int n = 0;
    const char *p = text;
    while (*p && n <= DEMO_MAX_TOKENS) {
        p += strspn(p, " \t\r\n");
        size_t len = strcspn(p, " \t\r\n");
        if (len == 0) break;
        words[n] = xmalloc(len + 1);
        memcpy(words[n], p, len);
        words[n][len] = '\0';
        n++;
        p += len;
    }
    return n;
}

void demo_embed_word(float *row, int d_model, const char *word, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed, rng_hash_string(word));
    for (int c = 0; c < d_model; c++) row[c] = (float)rng_normal(&rng);
}

void demo_changed_word(float *row, const AttnDemo *d, int j) {
    Rng rng;
    rng_seed(&rng, d->seed, 0x5eedc0deULL + (uint64_t)j); /* a stream no word hashes to in practice */
    for (int c = 0; c < d->d_model; c++) row[c] = (float)rng_normal(&rng);
}

void demo_build(AttnDemo *d, const DemoFlags *f, uint64_t seed) {
    memset(d, 0, sizeof *d);
    long bad = util_utf8_invalid_at(f->sentence, strlen(f->sentence));
    if (bad >= 0) die(EXIT_USAGE, "--sentence: not valid UTF-8 at byte %ld", bad);
    char *words[DEMO_MAX_TOKENS + 1];
    int n = split_words(f->sentence, words);
    bool tokens_given = f->tokens_option && f->tokens_option->seen;
    bool sentence_given = strcmp(f->sentence, DEMO_DEFAULT_TEXT) != 0;
    int T = (sentence_given && !tokens_given) ? n : (int)f->tokens;
    for (int i = T; i < n; i++) free(words[i]);
    if (n > DEMO_MAX_TOKENS && T > DEMO_MAX_TOKENS)
        die(EXIT_USAGE, "--sentence: more than %d words; use --tokens N to keep the first N",
            DEMO_MAX_TOKENS);
    if (n < 2) {
        for (int i = 0; i < n; i++) free(words[i]);
        die(EXIT_USAGE, "--sentence: needs at least 2 words, got %d", n);
    }
    if (T > n) {
        for (int i = 0; i < n; i++) free(words[i]);
        die(EXIT_USAGE, "--tokens: %d is more than the %d words of the sentence; expected 2 to %d", T,
            n, n);
    }
    d->T = T;
    d->d_model = (int)f->d_model;
    d->d_k = (int)f->d_k;
    d->seed = seed;
    d->tokens = xmalloc(sizeof(char *) * (size_t)T);
    memcpy(d->tokens, words, sizeof(char *) * (size_t)T);

    d->X = tensor_new(T, d->d_model);
    for (int t = 0; t < T; t++) demo_embed_word(tensor_at(&d->X, t, 0), d->d_model, d->tokens[t], seed);
    Tensor *W[3] = {&d->Wq, &d->Wk, &d->Wv};
    for (int w = 0; w < 3; w++) {
        Rng rng;
        rng_seed(&rng, seed, (uint64_t)w + 1); /* W^Q, W^K, W^V: streams 1, 2, 3 */
        *W[w] = tensor_new(d->d_model, d->d_k);
        tensor_randn(W[w], &rng, 1.0f / sqrtf((float)d->d_model));
    }
    d->Q = tensor_new(T, d->d_k);
    d->K = tensor_new(T, d->d_k);
    d->V = tensor_new(T, d->d_k);
    tensor_matmul(&d->Q, &d->X, &d->Wq); /* (T, d_model) x (d_model, d_k) -> (T, d_k) */
    tensor_matmul(&d->K, &d->X, &d->Wk);
    tensor_matmul(&d->V, &d->X, &d->Wv);
}

void demo_free(AttnDemo *d) {
    if (!d) return;
    for (int t = 0; t < d->T; t++) free(d->tokens[t]);
    free(d->tokens);
    Tensor *all[] = {&d->X, &d->Wq, &d->Wk, &d->Wv, &d->Q, &d->K, &d->V};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
    memset(d, 0, sizeof *d);
}

void demo_attend(Tensor *out, const AttnDemo *d, const Tensor *X, const Tensor *mask) {
    const int T = X->rows;
    Tensor Q = tensor_new(T, d->d_k), K = tensor_new(T, d->d_k), V = tensor_new(T, d->d_k);
    Tensor S = tensor_new(T, T), A = tensor_new(T, T);
    tensor_matmul(&Q, X, &d->Wq);
    tensor_matmul(&K, X, &d->Wk);
    tensor_matmul(&V, X, &d->Wv);
    int bad = -1;
    SoftmaxStatus st = attention_forward(out, &S, &A, &Q, &K, &V, mask, &bad);
    if (st != SOFTMAX_OK) die(EXIT_RUNTIME, "attention row %d: %s", bad, softmax_status_text(st));
    Tensor *all[] = {&Q, &K, &V, &S, &A};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
}

void demo_influence(Tensor *D, const AttnDemo *d, const Tensor *mask) {
    const int T = d->T;
    CHECK(D->rows == T && D->cols == T, "influence matrix must be (%d, %d)", T, T);
    Tensor base = tensor_new(T, d->d_k), changed = tensor_new(T, d->d_k);
    Tensor X = tensor_new(T, d->d_model);
    demo_attend(&base, d, &d->X, mask);
    for (int j = 0; j < T; j++) {
        tensor_copy(&X, &d->X);
        demo_changed_word(tensor_at(&X, j, 0), d, j); /* word j becomes a different word */
        demo_attend(&changed, d, &X, mask);
        for (int i = 0; i < T; i++)
            *tensor_at(D, i, j) = tensor_rows_identical(&base, &changed, i) ? 0.0f : 1.0f;
    }
    tensor_free(&base);
    tensor_free(&changed);
    tensor_free(&X);
}
