/* fuzz_checkpoint: the checkpoint reader on arbitrary bytes and on mutations of a valid checkpoint,
 * and then the code that uses what it read.
 *
 * The first byte chooses the mode: when it is odd, the rest gets a correct checksum written over
 * its last 8 bytes before parsing, so that mutations reach the fields behind the checksum test
 * instead of all stopping there. Promises checked: the parser returns, never exits or crashes; a
 * refusal comes with a one-line reason and leaves nothing allocated; an accepted checkpoint is
 * consistent (vocabulary size, parameter count, every word found under its own id, every
 * parameter and moment finite, the schedule and history in range). Then, as the chapters do with
 * a loaded checkpoint: the model is built with its parameters, scores a few tokens (a line
 * ending in </s>, as chapter 10's --eval does), generates a few after a </s> with the key/value
 * cache (causal models, as --generate) and decodes them to text as --generate prints them (a BPE
 * checkpoint: its stored merges; the input's bytes are also encoded with them and decoded back),
 * and takes one training step from the stored optimiser
 * state and schedule (as a resume does). Under ASan and UBSan, so a configuration that passes the
 * reader but breaks the model (a vocabulary without the special tokens, an AdamW step that
 * overflows, a context too long for memory) is found here and not by a user. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "checkpoint.h"
#include "fuzz.h"
#include "util.h"
#include "generate.h"
#include "train.h"

/* A model whose activations need more than this many floats is not built: the fuzzer's memory is
 * small. The reader's limits (checkpoint.h) are what keep a real run within reason. */
#define MAX_ACT_FLOATS 4e6

/* The generated ids as --generate prints them: decoded text is valid UTF-8 (a token that ends
 * mid-character shows as \xNN); at the BPE level also as printed piece by piece. */
static void decode_generated(const Checkpoint *ck, const int *gen, int n) {
    char *text = corpus_decode(&ck->vocab, gen, n, ck->level);
    FUZZ_CHECK(util_utf8_invalid_at(text, strlen(text)) < 0);
    if (ck->level == LEVEL_BPE) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        FUZZ_CHECK(f != NULL);
        long from = 0;
        for (int i = 0; i < n; i++) from += corpus_print_whole(f, &ck->vocab, gen + from, i + 1 - from, i == n - 1);
        fclose(f);
        FUZZ_CHECK(from == n && strcmp(buf, text) == 0); /* piece by piece prints the same text */
        free(buf);
    }
    free(text);
}

/* A BPE checkpoint's merges on the input's bytes (up to the first NUL): every id a token, and the
 * decoded text the bytes as bpe_escape_text shows them. */
static void encode_with_merges(const Checkpoint *ck, const uint8_t *data, size_t size) {
    if (ck->level != LEVEL_BPE) return;
    FUZZ_CHECK(ck->vocab.bpe && ck->vocab.size >= 3 + bpe_vocab_size(ck->vocab.bpe));
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    int *ids;
    const long k = corpus_encode_text(&ck->vocab, text, LEVEL_BPE, &ids);
    FUZZ_CHECK(k >= 0 && (size_t)k <= strlen(text));
    for (long i = 0; i < k; i++) FUZZ_CHECK(ids[i] >= 3 && ids[i] < 3 + bpe_vocab_size(ck->vocab.bpe));
    char *back = corpus_decode(&ck->vocab, ids, k, LEVEL_BPE), *want = bpe_escape_text((const uint8_t *)text, strlen(text));
    FUZZ_CHECK(strcmp(back, want) == 0);
    free(back), free(want), free(ids), free(text);
}

static void use_model(const Checkpoint *ck, const uint8_t *data, size_t size) {
    const ModelConfig *c = &ck->cfg;
    const int T = c->max_len < 6 ? c->max_len : 6;
    const double L = c->max_len; /* model_init lays out activations for a whole context */
    const double acts = (double)c->layers * ((double)c->heads * L * L + L * (12.0 * c->d_model + 3.0 * c->d_ff)) +
                        L * c->d_model + 4.0 * L * c->vocab;
    if (acts > MAX_ACT_FLOATS || 4.0 * (double)ck->n_params > MAX_ACT_FLOATS) return;
    Model m;
    model_init(&m, c, 1, 1);
    memcpy(m.param_mem, ck->params, sizeof(float) * ck->n_params);
    /* a line of tokens from the input, ending in </s>, and the next token of each as the target */
    int ids[6], tg[6];
    for (int t = 0; t < T; t++) ids[t] = t == 0 ? VOCAB_EOS : (int)(data[t % size] % (unsigned)c->vocab);
    for (int t = 0; t < T; t++) tg[t] = t + 1 < T ? ids[t + 1] : VOCAB_EOS;
    const double loss = model_forward(&m, ids, tg, 1, T);
    (void)loss; /* finite parameters can still overflow; a NaN loss is reported by the chapters */
    if (c->causal) {
        KvCache kv;
        kv_init(&kv, &m);
        int tok = VOCAB_EOS, gen[6];
        for (int i = 0; i < T; i++) {
            model_step(&m, &kv, tok);
            int best = VOCAB_EOS; /* the likeliest token other than <s>, as greedy sampling picks */
            for (int v = 0; v < c->vocab; v++)
                if (v != VOCAB_BOS && kv.logits.data[v] > kv.logits.data[best]) best = v;
            FUZZ_CHECK(best >= 0 && best < c->vocab);
            tok = gen[i] = best;
        }
        kv_free(&kv);
        decode_generated(ck, gen, T);
    }
    /* one training step from the stored state, when its gradients are finite (train_step stops
     * the program otherwise, which is the chapters' promise, not a crash) */
    model_forward(&m, ids, tg, 1, T);
    model_zero_grad(&m);
    model_backward(&m);
    long elem;
    if (isfinite(model_forward(&m, ids, tg, 1, T)) && model_nonfinite_grad(&m, &elem) == NULL) {
        model_zero_grad(&m);
        AdamW opt;
        adamw_init(&opt, m.n_params, 0.9f, 0.95f, 1e-8f, 0.1f);
        memcpy(opt.m, ck->adam_m, sizeof(float) * ck->n_params);
        memcpy(opt.v, ck->adam_v, sizeof(float) * ck->n_params);
        opt.step = ck->adam_step;
        const long step = ck->train.steps_done + 1;
        const Schedule s = ck->train.has_schedule ? ck->train.schedule : (Schedule){.steps = step, .warmup = 0, .lr = 1e-3, .clip = 1.0, .lr_min = 1e-4};
        train_step(&m, &opt, ids, tg, 1, T, step, &s);
        FUZZ_CHECK(opt.step == ck->adam_step + 1);
        adamw_free(&opt);
    }
    model_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const size_t n = size - 1;
    unsigned char *buf = malloc(n ? n : 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data + 1, n);
    if ((data[0] & 1) && n >= 8) {
        const uint64_t h = checkpoint_checksum(buf, n - 8);
        for (int i = 0; i < 8; i++) buf[n - 8 + i] = (unsigned char)(h >> (8 * i));
    }
    Checkpoint ck;
    char err[256] = "";
    if (checkpoint_parse(&ck, buf, n, err, sizeof err)) {
        FUZZ_CHECK(ck.vocab.size == ck.cfg.vocab && ck.cfg.vocab >= 3);
        FUZZ_CHECK((long)ck.n_params == model_param_count(&ck.cfg));
        FUZZ_CHECK(ck.params && ck.adam_m && ck.adam_v);
        FUZZ_CHECK(model_config_error(&ck.cfg) == NULL && ck.cfg.max_len <= CHECKPOINT_MAX_LEN);
        FUZZ_CHECK(ck.adam_step >= 0 && ck.adam_step <= CHECKPOINT_MAX_STEPS);
        FUZZ_CHECK(ck.train.steps_done >= 0 && ck.train.steps_done <= CHECKPOINT_MAX_STEPS);
        for (size_t i = 0; i < ck.n_params; i++)
            FUZZ_CHECK(isfinite(ck.params[i]) && isfinite(ck.adam_m[i]) && isfinite(ck.adam_v[i]) && ck.adam_v[i] >= 0);
        for (int id = 0; id < ck.vocab.size; id++) FUZZ_CHECK(vocab_find(&ck.vocab, ck.vocab.word[id]) == id);
        for (int i = 0; i < ck.train.n_history; i++)
            FUZZ_CHECK(ck.train.history[i].step <= ck.train.steps_done && isfinite(ck.train.history[i].val));
        encode_with_merges(&ck, data, size);
        use_model(&ck, data, size);
        checkpoint_free(&ck);
    } else {
        FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
        FUZZ_CHECK(ck.params == NULL && ck.adam_m == NULL && ck.adam_v == NULL && ck.vocab.word == NULL);
        FUZZ_CHECK(ck.train.history == NULL);
    }
    free(buf);
    return 0;
}
