/* ch02_neural_lm: the feed-forward neural language model (Bengio et al. 2003), source document
 * §1.1.2 and §2.1.2.
 *
 *   e = [E[w_{t-N}], ..., E[w_{t-1}]]        (B, N D)   the N previous tokens' embeddings, side by side
 *   h = act(e W1 + b1)                       (B, N D) x (N D, H) -> (B, H)
 *   p(w_t | context) = softmax(h W2 + b2)    (B, H) x (H, V) -> (B, V)
 *   loss = mean over the batch of -ln p(w_t | context)
 *
 * The same context as an n-gram model of order N+1, but instead of a table of counts, a function
 * with shared parameters: similar tokens get similar embeddings, so a context never seen in
 * training still gets sensible predictions. Trained here with AdamW and backpropagation written by
 * hand (common/layers.c), on chapter 1's corpus and split, and compared with chapter 1's n-gram.
 *
 * Sections, in the order they print (main, at the end, is the table of contents):
 *   1 the corpus   2 the model   3 the backward pass, checked   4 training   5 contexts never seen
 *   6 the embeddings   7 summary
 *
 * Run: make ch02 && ./ch02_neural_lm [--context N] [--embed D] [--hidden H] [--steps S] [--batch B]
 *                                    [--lr LR] [--act tanh|relu] [--corpus FILE] [--level char|word|bpe] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dataset.h"
#include "gradcheck.h"
#include "interrupt.h"
#include "layers.h"
#include "ngram.h"
#include "optim.h"
#include "plot.h"
#include "print.h"
#include "progress.h"
#include "util.h"

#define CHAPTER "ch02_neural_lm"
#define EVAL_BATCH 1024

/* The model's parameters and activations (section 2 prints them, with their shapes). */
typedef struct {
    Tensor E;      /* (V, D) one embedding row per token */
    Tensor W1, b1; /* (N D, H), (1, H) */
    Tensor W2, b2; /* (H, V), (1, V) */
} Params;

typedef struct {
    int V, N, D, H, max_batch;
    bool relu;
    Params p, g;           /* parameters and gradients, each one allocation */
    float *pmem, *gmem;
    size_t n_params;
    Tensor emb, h, a, logits, probs;            /* activations for max_batch rows */
    Tensor demb, dh, da, dlogits;
    int *ctx, *targets;    /* (max_batch, N) and (max_batch) */
} Nlm;

/* Everything the sections share: the flags, then what the sections build. */
typedef struct {
    /* flags */
    DatasetFlags data_flags;
    CliCommon common;
    long long context, embed, hidden, steps, batch, eval_every;
    double lr;
    int act;
    /* state */
    Dataset data;
    Nlm model;
    NgramModel ngram;
    double ngram_nats;   /* MKN cross-entropy of the order-(N+1) n-gram on validation */
    PrintOpts po;
    Plotter plot;
} Chapter;

/* A token for printing: a space or a line end made visible. */
static const char *show(const Vocab *v, int id) {
    if (id == VOCAB_EOS) return "</s>";
    if (strcmp(v->word[id], " ") == 0) return "\xe2\x90\xa3";
    return v->word[id];
}

/* ==== the flags ==== */

static void parse_flags(Chapter *ch, int argc, char **argv) {
    memset(ch, 0, sizeof *ch);
    ch->common = cli_common_defaults();
    ch->data_flags = dataset_flags_default();
    ch->data_flags.level = LEVEL_WORD; /* word vectors: the level at which Bengio's argument is made */
    ch->context = 4, ch->embed = 16, ch->hidden = 128, ch->steps = 3000, ch->batch = 64, ch->eval_every = 500, ch->lr = 3e-3;
    CliOption opts[DATASET_N_OPTIONS + 8];
    int n = dataset_cli_options(opts, &ch->data_flags);
    opts[n++] = cli_int("--context", &ch->context, 1, NGRAM_MAX_ORDER - 1, "N", "previous tokens the model sees (an n-gram of order N+1)");
    opts[n++] = cli_int("--embed", &ch->embed, 1, 512, "D", "embedding width");
    opts[n++] = cli_int("--hidden", &ch->hidden, 1, 4096, "H", "hidden units");
    opts[n++] = cli_int("--steps", &ch->steps, 1, 1000000, "S", "training steps");
    opts[n++] = cli_int("--batch", &ch->batch, 1, EVAL_BATCH, "B", "examples per step");
    opts[n++] = cli_real("--lr", &ch->lr, 1e-6, 1.0, "LR", "peak learning rate of AdamW");
    opts[n++] = cli_choice("--act", &ch->act, "tanh|relu", "hidden activation");
    opts[n++] = cli_int("--eval-every", &ch->eval_every, 1, 1000000, "S", "steps between validation losses");
    CliSpec spec = {CHAPTER, "The neural language model (source document §1.1.2, §2.1.2): embeddings, a hidden\n"
                             "layer and a softmax, trained with hand-written backpropagation and compared with\n"
                             "chapter 1's n-gram on the same data.",
                    opts, n};
    cli_parse(&spec, &ch->common, argc, argv);
    dataset_check_flags(&ch->data_flags, opts, n);
    ch->po = print_defaults();
    ch->po.precision = (int)ch->common.precision;
    plot_init(&ch->plot, &ch->common, CHAPTER, stdout);
}

/* ==== 1. The corpus ==== */

/* Chapter 1's corpus and split, and chapter 1's n-gram of the same order on it: the baseline that
 * sections 2, 4 and 5 compare with. */
static void section_1_corpus(Chapter *ch) {
    print_section(stdout, 1, "The corpus (chapter 1's), at the word level by default");
    printf("  Words, as in Bengio et al.: with about 60 word types there are far more possible contexts\n"
           "  of 4 words than training sentences, so many validation contexts are new (section 5).\n"
           "  --level char runs on characters instead, --level bpe on chapter 0's BPE tokens.\n\n");
    dataset_load(&ch->data, &ch->data_flags, (uint64_t)ch->common.seed, false, stdout);
    const int N = (int)ch->context;
    const int order = N + 1 <= NGRAM_MAX_ORDER ? N + 1 : NGRAM_MAX_ORDER;
    ngram_build(&ch->ngram, &ch->data.train, ch->data.vocab.size, order, 1.0);
    ch->ngram_nats = -ngram_score(&ch->ngram, SMOOTH_MKN, order, &ch->data.val).log10_sum * log(10.0) / (double)ch->data.val.n;
}

/* ==== 2. The model ==== */

static void layout(Params *p, int V, int N, int D, int H, Arena *a) {
    p->E = arena_take(a, V, D);
    p->W1 = arena_take(a, N * D, H), p->b1 = arena_take(a, 1, H);
    p->W2 = arena_take(a, H, V), p->b2 = arena_take(a, 1, V);
}

static void nlm_init(Nlm *m, int V, int N, int D, int H, bool relu, int max_batch, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->V = V, m->N = N, m->D = D, m->H = H, m->relu = relu, m->max_batch = max_batch;
    Arena count = {NULL, 0};
    layout(&m->p, V, N, D, H, &count);
    m->n_params = count.used;
    m->pmem = xcalloc(m->n_params, sizeof(float));
    m->gmem = xcalloc(m->n_params, sizeof(float));
    Arena pa = {m->pmem, 0}, ga = {m->gmem, 0};
    layout(&m->p, V, N, D, H, &pa);
    layout(&m->g, V, N, D, H, &ga);
    Rng rng;
    rng_seed(&rng, seed, 0x6e6c6d);
    tensor_randn(&m->p.E, &rng, 1.0f);                           /* embeddings of unit scale */
    tensor_randn(&m->p.W1, &rng, 1.0f / sqrtf((float)(N * D)));  /* 1/sqrt(fan-in) */
    tensor_randn(&m->p.W2, &rng, 0.1f / sqrtf((float)H));        /* small: start near uniform */
    const int B = max_batch;
    m->emb = tensor_new(B, N * D), m->h = tensor_new(B, H), m->a = tensor_new(B, H);
    m->logits = tensor_new(B, V), m->probs = tensor_new(B, V);
    m->demb = tensor_new(B, N * D), m->dh = tensor_new(B, H), m->da = tensor_new(B, H), m->dlogits = tensor_new(B, V);
    m->ctx = xmalloc(sizeof(int) * (size_t)B * (size_t)N);
    m->targets = xmalloc(sizeof(int) * (size_t)B);
}

static void nlm_free(Nlm *m) {
    free(m->pmem), free(m->gmem), free(m->ctx), free(m->targets);
    Tensor *all[] = {&m->emb, &m->h, &m->a, &m->logits, &m->probs, &m->demb, &m->dh, &m->da, &m->dlogits};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
}

/* The first B rows of an activation. */
static Tensor rows(const Tensor *t, int B) { return tensor_view(t, 0, 0, B, t->cols); }

/* Forward over m->ctx and m->targets (B rows); returns the mean loss in nats. */
static double nlm_forward(Nlm *m, int B) {
    Tensor emb = rows(&m->emb, B), h = rows(&m->h, B), a = rows(&m->a, B);
    Tensor logits = rows(&m->logits, B), probs = rows(&m->probs, B);
    /* (B, N D) is (B N, D) in memory: row b, slot k is the embedding of the k-th context token */
    Tensor slots = {emb.data, B * m->N, m->D, m->D, false};
    embedding_forward(&slots, &m->p.E, m->ctx);
    linear_forward(&h, &emb, &m->p.W1, &m->p.b1);          /* (B, N D) -> (B, H) */
    if (m->relu) relu_forward(&a, &h);
    else tanh_forward(&a, &h);
    linear_forward(&logits, &a, &m->p.W2, &m->p.b2);       /* (B, H) -> (B, V) */
    for (int b = 0; b < B; b++) *tensor_at(&logits, b, VOCAB_BOS) = -INFINITY; /* <s> is never next */
    return crossentropy_forward(&probs, &logits, m->targets);
}

static void nlm_backward(Nlm *m, int B) {
    Tensor emb = rows(&m->emb, B), h = rows(&m->h, B), a = rows(&m->a, B), probs = rows(&m->probs, B);
    Tensor demb = rows(&m->demb, B), dh = rows(&m->dh, B), da = rows(&m->da, B), dlogits = rows(&m->dlogits, B);
    tensor_fill(&dlogits, 0.0f), tensor_fill(&da, 0.0f), tensor_fill(&dh, 0.0f), tensor_fill(&demb, 0.0f);
    crossentropy_backward(&dlogits, &probs, m->targets, 1.0f);
    linear_backward(&da, &m->g.W2, &m->g.b2, &dlogits, &a, &m->p.W2);
    if (m->relu) relu_backward(&dh, &da, &h);
    else tanh_backward(&dh, &da, &a);
    linear_backward(&demb, &m->g.W1, &m->g.b1, &dh, &emb, &m->p.W1);
    Tensor slots = {demb.data, B * m->N, m->D, m->D, false};
    embedding_backward(&m->g.E, &slots, m->ctx);
}

/* The N tokens before position pos of a stream, within its line, padded with <s>. */
static void context_of(const TokenStream *s, long pos, int N, int *out) {
    long q = pos - 1;
    for (int k = N - 1; k >= 0; k--) {
        if (q >= 0 && s->id[q] != VOCAB_EOS) out[k] = s->id[q--];
        else {
            out[k] = VOCAB_BOS;
            q = -1; /* the line started: everything further back is <s> too */
        }
    }
}

static void section_2_model(Chapter *ch) {
    nlm_init(&ch->model, ch->data.vocab.size, (int)ch->context, (int)ch->embed, (int)ch->hidden, ch->act == 1, EVAL_BATCH,
             (uint64_t)ch->common.seed);
    Nlm *m = &ch->model;
    const int N = m->N, D = m->D, H = m->H, V = m->V;
    print_section(stdout, 2, "The model: embeddings, a hidden layer, a softmax");
    printf("  context: the previous N = %d tokens (<s> before the line starts)\n", N);
    printf("  V = |V| + 1 = %d: the %d tokens of |V| (section 1), and <s>, which fills the context\n"
           "  before a line starts and is never predicted (its logit is -inf, its column of W2 unused)\n\n",
           V, V - 1);
    printf("  E   (V, D)     = (%d, %d)    one embedding row per token, <s> included\n"
           "  e   (B, N D)   = (B, %d)     the N context embeddings side by side\n"
           "  W1  (N D, H)   = (%d, %d)   h = %s(e W1 + b1)\n"
           "  W2  (H, V)     = (%d, %d)    p = softmax(h W2 + b2)\n\n",
           V, D, N * D, N * D, H, m->relu ? "ReLU" : "tanh", H, V);
    printf("  parameters: %zu  (V D + N D H + H + H V + V, with V = %d)\n", m->n_params, V);
    printf("  the order-%d n-gram of chapter 1 on the same data stores %llu distinct %d-grams, out of\n"
           "  |V|^%d = %.3g possible ones; its table grows with the data, the network's size does not.\n",
           N + 1, (unsigned long long)ch->ngram.distinct[N + 1], N + 1, N + 1, pow(V - 1, N + 1));
}

/* ==== 3. Is the gradient right? ==== */

typedef struct {
    Nlm *m;
    int B;
} LossCtx;

static double loss_fn(void *p) {
    LossCtx *l = p;
    return nlm_forward(l->m, l->B);
}

static void section_3_gradcheck(Chapter *ch) {
    print_section(stdout, 3, "The backward pass, checked by finite differences");
    const int V = ch->model.V;
    Nlm t;
    nlm_init(&t, V, 2, 3, 5, ch->act == 1, 8, (uint64_t)ch->common.seed + 1);
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 21);
    tensor_randn(&t.p.W2, &rng, 0.5f);
    tensor_randn(&t.p.b1, &rng, 0.3f);
    for (int b = 0; b < 8; b++) { /* 8 training examples */
        const long pos = (long)rng_below(&rng, (uint32_t)ch->data.train.n);
        context_of(&ch->data.train, pos, 2, t.ctx + 2 * b);
        t.targets[b] = ch->data.train.id[pos];
    }
    memset(t.gmem, 0, sizeof(float) * t.n_params);
    LossCtx l = {&t, 8};
    loss_fn(&l);
    nlm_backward(&t, 8);
    GradPair pairs[5] = {{"E", &t.p.E, &t.g.E}, {"W1", &t.p.W1, &t.g.W1}, {"b1", &t.p.b1, &t.g.b1},
                         {"W2", &t.p.W2, &t.g.W2}, {"b2", &t.p.b2, &t.g.b2}};
    printf("  A tiny copy (N = 2, D = 3, H = 5) on 8 training examples; every tensor sampled:\n\n");
    double worst = 0;
    for (int i = 0; i < 5; i++) {
        GradResult r = gradcheck(loss_fn, &l, &pairs[i], 1, 40, ch->act == 1, &rng);
        printf("    %-3s %4d elements, largest error %.2e\n", pairs[i].name, r.checked, r.max_error);
        worst = fmax(worst, r.max_error);
    }
    printf("\n  Largest error %.2e (tolerance %g): %s.\n", worst, GRADCHECK_TOL,
           worst < GRADCHECK_TOL ? "the backward pass agrees" : "MISMATCH");
    /* and the gradient points downhill: one small step against it lowers the loss on this batch */
    const double before = loss_fn(&l);
    for (size_t i = 0; i < t.n_params; i++) t.pmem[i] -= 0.1f * t.gmem[i];
    printf("  One step of plain gradient descent (lr 0.1) on the same 8 examples: loss %.4f -> %.4f.\n", before,
           loss_fn(&l));
    nlm_free(&t);
}

/* ==== 4. Training ==== */

/* Mean loss over a whole stream (every token, </s> included), in nats. */
static double nlm_evaluate(Nlm *m, const TokenStream *s) {
    double total = 0;
    for (long start = 0; start < s->n; start += m->max_batch) {
        const int B = (int)((s->n - start) < m->max_batch ? (s->n - start) : m->max_batch);
        for (int b = 0; b < B; b++) {
            context_of(s, start + b, m->N, m->ctx + (size_t)b * m->N);
            m->targets[b] = s->id[start + b];
        }
        total += nlm_forward(m, B) * B;
    }
    return total / (double)s->n;
}

/* figures/ch02_neural_lm/loss.png: training and validation loss against the step, with the n-gram
 * and the floor as levels; the y axis zoomed on where they meet (step 0, at ln |V|, is left above). */
static void plot_loss(Chapter *ch, const double *x, const double *train, const double *val, int n) {
    double *ng = xmalloc(sizeof(double) * (size_t)n), *fl = xmalloc(sizeof(double) * (size_t)n);
    double lo = ch->ngram_nats, hi = ch->ngram_nats;
    for (int i = 0; i < n; i++) {
        ng[i] = ch->ngram_nats, fl[i] = ch->data.floor_nats;
        if (i == 0) continue;
        lo = fmin(lo, fmin(train[i], val[i])), hi = fmax(hi, fmax(train[i], val[i]));
    }
    if (!isnan(ch->data.floor_nats)) lo = fmin(lo, ch->data.floor_nats);
    const double pad = 0.08 * (hi - lo) + 1e-3;
    LineSeries series[4] = {{"training (mean of the steps)", train, false},
                            {"validation", val, false},
                            {"n-gram, same context", ng, true},
                            {"floor (true process)", fl, true}};
    char title[160], zoom[64];
    snprintf(title, sizeof title, "Training the neural language model (zoomed: step 0, at %.2f, is above the top)",
             val[0]);
    snprintf(zoom, sizeof zoom, "set yrange [%.9g:%.9g]", lo - pad, hi + pad);
    const LinePanel chart = {title, {"training step", "cross-entropy (nats per token)", false, false}, zoom, x, n,
                             series, NULL, isnan(ch->data.floor_nats) ? 3 : 4};
    plot_line_chart(&ch->plot, "loss", &chart);
    free(ng), free(fl);
}

static void section_4_train(Chapter *ch) {
    Nlm *m = &ch->model;
    const long steps = ch->steps;
    const int B = (int)ch->batch;
    print_section(stdout, 4, "Training with AdamW");
    printf("  %ld steps of %d random training positions; AdamW (lr %g, betas 0.9 0.999, no weight\n"
           "  decay on biases), the learning rate decayed by a cosine to a tenth; the loss on the whole\n"
           "  validation split every %lld steps. Cross-entropy in nats; perplexity = e^loss.\n\n",
           steps, B, ch->lr, ch->eval_every);
    const double initial = nlm_evaluate(m, &ch->data.val);
    printf("  before training: validation loss %.4f nats (ln |V| = %.4f: a uniform guess)\n\n", initial,
           log((double)m->V - 1));
    AdamW opt;
    adamw_init(&opt, m->n_params, 0.9f, 0.999f, 1e-8f, 0.0f);
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 22);
    const int n_evals = (int)(steps / ch->eval_every) + 2;
    double *ex = xmalloc(sizeof(double) * (size_t)n_evals), *ey = xmalloc(sizeof(double) * (size_t)n_evals);
    double *ty = xmalloc(sizeof(double) * (size_t)n_evals);
    int ne = 0;
    ex[ne] = 0, ey[ne] = initial, ty[ne] = initial, ne++;
    printf("  %8s %12s %12s %12s\n", "step", "train loss", "val loss", "val ppl");
    Progress prog;
    progress_start(&prog, steps);
    double running = 0;
    long count = 0;
    interrupt_watch(); /* Ctrl-C: the step in progress finishes, then the run stops (exit 130) */
    for (long s = 1; s <= steps; s++) {
        interrupt_exit_if_requested("after step %ld of %ld; nothing saved (this chapter keeps no checkpoint)", s - 1, (long)steps);
        for (int b = 0; b < B; b++) {
            const long pos = (long)rng_below(&rng, (uint32_t)ch->data.train.n);
            context_of(&ch->data.train, pos, m->N, m->ctx + (size_t)b * m->N);
            m->targets[b] = ch->data.train.id[pos];
        }
        const double loss = nlm_forward(m, B);
        if (!isfinite(loss)) die(EXIT_RUNTIME, "the training loss became %g at step %ld; lower --lr", loss, s);
        memset(m->gmem, 0, sizeof(float) * m->n_params);
        nlm_backward(m, B);
        adamw_begin_step(&opt);
        const float lr = lr_schedule(s - 1, 0, steps, (float)ch->lr, (float)ch->lr / 10);
        /* weight decay 0 here; biases and embeddings would be exempt anyway */
        adamw_update(&opt, m->pmem, m->gmem, 0, m->n_params, lr, false);
        running += loss, count++;
        progress_update(&prog, s, loss, B);
        if (s % ch->eval_every == 0 || s == steps) {
            const double val = nlm_evaluate(m, &ch->data.val);
            progress_end(&prog);
            printf("  %8ld %12.4f %12.4f %12.4f\n", s, running / count, val, exp(val));
            ex[ne] = (double)s, ey[ne] = val, ty[ne] = running / count, ne++;
            running = 0, count = 0;
        }
    }
    progress_end(&prog);
    const double final = ey[ne - 1];
    printf("\n  validation perplexity: neural %.4f, n-gram (order %d, modified KN) %.4f", exp(final), m->N + 1,
           exp(ch->ngram_nats));
    if (!isnan(ch->data.floor_nats)) printf(", true process %.4f", exp(ch->data.floor_nats));
    printf("\n");
    char note[400];
    snprintf(note, sizeof note, "Notice: with the same %d tokens of context, the network is %s the n-gram's "
             "perplexity (%.4f against %.4f), with %zu parameters instead of a table.", m->N,
             final < ch->ngram_nats ? "below" : "above", exp(final), exp(ch->ngram_nats), m->n_params);
    print_note(stdout, note);
    putchar('\n');
    plot_loss(ch, ex, ty, ey, ne);
    free(ex), free(ey), free(ty);
    adamw_free(&opt);
}

/* ==== 5. Contexts never seen in training ==== */

static void section_5_unseen(Chapter *ch) {
    Nlm *m = &ch->model;
    const int N = m->N;
    print_section(stdout, 5, "What the n-gram cannot do: contexts never seen in training");
    printf("  Validation positions whose %d-token context never occurs in training. The n-gram must back\n"
           "  off to a shorter context; the network computes with the embeddings it learned.\n\n", N);
    const TokenStream *val = &ch->data.val;
    int shown = 0;
    long unseen = 0;
    double nlm_sum = 0, ngram_sum = 0;
    uint32_t ctx32[16];
    for (long pos = 0; pos < val->n; pos++) {
        int ctx[16];
        context_of(val, pos, N, ctx);
        /* the n-gram's view of the context: cut at <s>, oldest first */
        int start = 0;
        while (start < N && ctx[start] == VOCAB_BOS) start++;
        const int L = start > 0 ? N - start + 1 : N; /* keep one <s> when the line starts inside */
        for (int k = 0; k < L; k++) ctx32[k] = (uint32_t)ctx[N - L + k];
        const NgramEntry *e = ngram_find(&ch->ngram, ctx32, L);
        if (e && e->sum_raw > 0) continue;
        unseen++;
        memcpy(m->ctx, ctx, sizeof(int) * (size_t)N);
        m->targets[0] = val->id[pos];
        nlm_forward(m, 1);
        const double pn = *tensor_at(&m->probs, 0, val->id[pos]);
        const double pg = ngram_prob(&ch->ngram, SMOOTH_MKN, N + 1, ctx32, L, val->id[pos]);
        nlm_sum += log(pn), ngram_sum += log(pg);
        if (shown < 6) {
            printf("  context \"");
            for (int k = 0; k < N; k++) printf("%s%s", k && ch->data.level == LEVEL_WORD ? " " : "", show(&ch->data.vocab, ctx[k]));
            printf("\" -> \"%s\":  P_neural = %.4f   P_ngram = %.4f\n", show(&ch->data.vocab, val->id[pos]), pn, pg);
            shown++;
        }
    }
    if (unseen == 0) {
        printf("  None: every validation context of %d tokens also occurs in training (try --level word\n"
               "  or a larger --context).\n", N);
        return;
    }
    printf("\n  Over all %ld such positions, the mean log-probability of the true next token:\n"
           "    neural %.4f, n-gram %.4f  (higher is better)\n", unseen, nlm_sum / unseen, ngram_sum / unseen);
}

/* ==== 6. Embeddings ==== */

/* Cosine similarity of the embedding rows of tokens a and b. */
static double cosine(const Nlm *m, int a, int b) {
    const float *x = tensor_at(&m->p.E, a, 0), *y = tensor_at(&m->p.E, b, 0);
    double xy = 0, xx = 0, yy = 0;
    for (int c = 0; c < m->D; c++) xy += (double)x[c] * y[c], xx += (double)x[c] * x[c], yy += (double)y[c] * y[c];
    return xy / sqrt(xx * yy + 1e-30);
}

/* The 6 most frequent tokens of the training text, each with its 3 nearest (</s> and words; not
 * <unk> or <s>). */
static void nearest_table(const Chapter *ch) {
    const Nlm *m = &ch->model;
    long *freq = xcalloc((size_t)m->V, sizeof(long));
    for (long i = 0; i < ch->data.train.n; i++) freq[ch->data.train.id[i]]++;
    int picked[6], np = 0;
    while (np < 6 && np < m->V - 3) {
        int best = -1;
        for (int w = 3; w < m->V; w++) {
            bool used = false;
            for (int k = 0; k < np; k++) used |= picked[k] == w;
            if (!used && (best < 0 || freq[w] > freq[best])) best = w;
        }
        if (best < 0) break;
        picked[np++] = best;
    }
    for (int k = 0; k < np; k++) {
        const int w = picked[k];
        double sim[3] = {-2, -2, -2};
        int who[3] = {-1, -1, -1};
        for (int u = 2; u < m->V; u++) {
            if (u == w) continue;
            const double cs = cosine(m, w, u);
            for (int r = 0; r < 3; r++)
                if (cs > sim[r]) {
                    for (int q = 2; q > r; q--) sim[q] = sim[q - 1], who[q] = who[q - 1];
                    sim[r] = cs, who[r] = u;
                    break;
                }
        }
        printf("    ");
        print_padded(stdout, show(&ch->data.vocab, w), 8);
        for (int r = 0; r < 3 && who[r] >= 0; r++) {
            printf("  ");
            print_padded(stdout, show(&ch->data.vocab, who[r]), 6);
            printf(" %.3f", sim[r]);
        }
        printf("\n");
    }
    free(freq);
}

/* The grammar's word classes, for the figure's colours and the check below; "other" for the full
 * stop and </s>. Without the synthetic language's words, one group of every token. */
static const char *const class_names[] = {"marker", "determiner", "adjective", "noun", "verb", "closer", "other"};
enum { N_CLASSES = 7, CLASS_OTHER = 6 };

static int token_class(const Chapter *ch, int id) {
    if (!ch->data.synthetic || ch->data.level != LEVEL_WORD) return CLASS_OTHER;
    const char *c = synth_word_class(ch->data.vocab.word[id]);
    for (int k = 0; c && k < CLASS_OTHER; k++)
        if (strcmp(c, class_names[k]) == 0) return k;
    return CLASS_OTHER;
}

/* Of the words with a class, how many have a nearest neighbour (among them) of their own class;
 * *chance gets the share a neighbour drawn at random would give. Returns the share; *n the words. */
static double class_agreement(const Chapter *ch, double *chance, int *n) {
    const Nlm *m = &ch->model;
    int same = 0, size[N_CLASSES] = {0};
    *n = 0;
    for (int w = 2; w < m->V; w++) {
        const int cw = token_class(ch, w);
        if (cw == CLASS_OTHER) continue;
        size[cw]++, (*n)++;
        int best = -1;
        double best_cs = -2;
        for (int u = 2; u < m->V; u++) {
            if (u == w || token_class(ch, u) == CLASS_OTHER) continue;
            const double cs = cosine(m, w, u);
            if (cs > best_cs) best_cs = cs, best = u;
        }
        same += best >= 0 && token_class(ch, best) == cw;
    }
    *chance = 0;
    for (int k = 0; k < CLASS_OTHER && *n > 1; k++) *chance += (double)size[k] * (size[k] - 1) / ((double)*n * (*n - 1));
    return *n ? (double)same / *n : 0;
}

/* figures/ch02_neural_lm/embeddings.png: the first two principal components of every token's
 * embedding but <unk> and <s>, coloured by class. Prints the share of variance they hold. */
static void plot_embeddings(Chapter *ch) {
    const Nlm *m = &ch->model;
    const int n = m->V - 2;
    Tensor X = tensor_new(n, m->D), P = tensor_new(n, 2);
    const char **labels = xmalloc(sizeof(char *) * (size_t)n);
    int *group = xmalloc(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        Tensor dst = tensor_row(&X, i), src = tensor_row(&m->p.E, i + 2);
        tensor_copy(&dst, &src);
        labels[i] = show(&ch->data.vocab, i + 2), group[i] = token_class(ch, i + 2);
    }
    double var[2];
    tensor_pca2(&P, var, &X);
    double total = 0;
    for (int c = 0; c < m->D; c++) {
        double mu = 0, s2 = 0;
        for (int i = 0; i < n; i++) mu += *tensor_at(&X, i, c) / n;
        for (int i = 0; i < n; i++) s2 += pow(*tensor_at(&X, i, c) - mu, 2) / n;
        total += s2;
    }
    printf("\n  Principal components of the %d embeddings (computed here by power iteration): the first\n"
           "  two directions hold %.1f%% and %.1f%% of the variance; figures/%s/embeddings.png plots them.\n",
           n, 100 * var[0] / total, 100 * var[1] / total, CHAPTER);
    double *x = xmalloc(sizeof(double) * (size_t)n), *y = xmalloc(sizeof(double) * (size_t)n);
    for (int i = 0; i < n; i++) x[i] = *tensor_at(&P, i, 0), y[i] = *tensor_at(&P, i, 1);
    const bool classes = ch->data.synthetic && ch->data.level == LEVEL_WORD;
    const char *const one[1] = {ch->data.level == LEVEL_WORD ? "word" : ch->data.level == LEVEL_CHAR ? "character" : "BPE token"};
    if (!classes)
        for (int i = 0; i < n; i++) group[i] = 0;
    plot_labeled_groups(&ch->plot, "embeddings", "Token embeddings, first two principal components", "PC 1", "PC 2",
                        x, y, labels, group, classes ? class_names : one, classes ? N_CLASSES : 1, n);
    free(x), free(y), free(labels), free(group);
    tensor_free(&X), tensor_free(&P);
}

static void section_6_embeddings(Chapter *ch) {
    print_section(stdout, 6, "What the embeddings learned");
    printf("  Cosine similarity of embedding rows: the 3 nearest tokens of the 6 most frequent ones.\n\n");
    nearest_table(ch);
    plot_embeddings(ch);
    double chance;
    int n;
    const double share = class_agreement(ch, &chance, &n);
    if (n < 2) {
        print_note(stdout, "Notice: word classes are known for the synthetic language's words only (the "
                           "default run); here, read the neighbours above: tokens that can stand in the same "
                           "contexts should end up close.");
        return;
    }
    const double margin = 2 * sqrt(chance * (1 - chance) / n);
    printf("\n  Of the %d words the grammar gives a class (marker, determiner, adjective, noun, verb, closer),\n"
           "  %.0f%% have as nearest neighbour a word of their own class; a neighbour drawn at random would\n"
           "  share it %.0f%% of the time (two standard errors: %.0f points).\n", n, 100 * share, 100 * chance,
           100 * margin);
    if (share > chance + margin)
        print_note(stdout, "Notice: nobody told the model which words are alike; words of one class end up "
                           "with similar embeddings, because what helps predict after one word helps after the "
                           "words that stand in the same contexts.");
    else
        print_note(stdout, "Notice: in this run the nearest neighbours share a class no more often than chance "
                           "allows: it could not show that the embeddings group words by class.");
}

/* ==== 7. Summary ==== */

static void section_7_summary(Chapter *ch) {
    print_section(stdout, 7, "Summary");
    const double val = nlm_evaluate(&ch->model, &ch->data.val);
    printf("corpus: %s\nlevel: %s\ncontext: %d\nparameters: %zu\nsteps: %lld\n", ch->data.synthetic ? "synthetic" : ch->data_flags.corpus_path,
           level_name(ch->data.level), ch->model.N, ch->model.n_params, ch->steps);
    printf("validation_perplexity: %.6g\nngram_perplexity: %.6g\n", exp(val), exp(ch->ngram_nats));
    printf("validation_bits_per_byte: %.6g\nngram_bits_per_byte: %.6g\n", dataset_bits_per_byte(&ch->data, val),
           dataset_bits_per_byte(&ch->data, ch->ngram_nats));
    if (!isnan(ch->data.floor_nats)) printf("true_perplexity: %.6g\n", exp(ch->data.floor_nats));
}

/* Whoever allocates frees: everything the sections made. */
static void chapter_free(Chapter *ch) {
    nlm_free(&ch->model);
    ngram_free(&ch->ngram);
    dataset_free(&ch->data);
}

/* ==== the table of contents ==== */

int main(int argc, char **argv) {
    Chapter ch;
    parse_flags(&ch, argc, argv);

    printf("Chapter 2: the neural language model (source document §1.1.2 and §2.1.2)\n");
    section_1_corpus(&ch);
    section_2_model(&ch);
    section_3_gradcheck(&ch);
    section_4_train(&ch);
    section_5_unseen(&ch);
    section_6_embeddings(&ch);
    section_7_summary(&ch);

    chapter_free(&ch);
    return 0;
}
