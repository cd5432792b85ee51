/* ch10_gpt_pretraining: pre-train a small GPT, source document §2.3.1 (autoregressive language
 * model) and §3.5 (its loss).
 *
 *   L = -(1/N) sum_i ln P(w_i | w_1 .. w_{i-1})      every position predicts the next token
 *
 * A decoder-only Transformer (common/model.c: causal, pre-norm by default) trained from random
 * weights on chapter 1's corpus with AdamW, warm-up and cosine decay, gradient clipping; measured
 * against chapter 1's n-gram and the synthetic language's true entropy floor; then text generation
 * (greedy, temperature, top-k, top-p) with a key/value cache, and checkpoints that resume training.
 *
 * Sections, in the order they print (main, at the end, is the table of contents):
 *   1 the corpus   2 the model   3 the learning-rate schedule   4 the first steps, dissected
 *   (clipping, AdamW on one parameter)   5 pre-training   6 against the n-gram and the floor
 *   7 the chain rule on one line   8 the long-range dependency   9 attention on a long-gap
 *   sentence   10 samples   11 the source's mask (§4.2) trained   12 the key/value cache
 *   13 checkpoint   14 summary
 * and, with --load, the two ways to use a trained model alone: --eval (every line, and the closer
 * it prefers) and --generate. docs/ch10.md describes each section and what the default run measured.
 *
 * Run: make ch10 && ./ch10_gpt_pretraining                      train with the defaults (~30 s of CPU)
 *      ./ch10_gpt_pretraining --save gpt.ckpt                    ... and keep the model
 *      ./ch10_gpt_pretraining --load gpt.ckpt --generate 200     sample from it
 *      ./ch10_gpt_pretraining --load gpt.ckpt --eval text.txt    its loss on a text
 *      ./ch10_gpt_pretraining --load gpt.ckpt --new-text --corpus F   go on with text F   */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"
#include "cli.h"
#include "dataset.h"
#include "interrupt.h"
#include "model.h"
#include "generate.h"
#include "ngram.h"
#include "optim.h"
#include "options.h"
#include "plot.h"
#include "presets.h"
#include "print.h"
#include "progress.h"
#include "train.h"
#include "util.h"

#define CHAPTER "ch10_gpt_pretraining"

enum { CHAPTER_N_OPTIONS = 12 }; /* the options of this chapter alone: sampling, files, --timing, --preset, --new-text */

typedef struct {
    /* flags */
    DatasetFlags data_flags;
    CliCommon common;
    ModelFlags mf;
    TrainFlags tf;
    long long sample, generate, top_k;
    double temperature, top_p;
    const char *save, *load, *eval_path, *prompt;
    bool timing;
    bool new_text;            /* --new-text: with --load, a new run on --corpus in the checkpoint's vocabulary */
    int preset;               /* --preset: 0 none, else presets.h's preset_at(preset - 1) */
    char *preset_text;        /* what the preset set, printed in section 1 */
    CliOption opts[DATASET_N_OPTIONS + OPTIONS_N_MODEL + OPTIONS_N_TRAIN + CHAPTER_N_OPTIONS];
    int n_opts;
    /* state */
    Dataset data;
    ModelConfig cfg;
    Model model;
    AdamW opt;
    TrainState ts;
    Schedule sched;           /* the learning-rate schedule training follows (the checkpoint's, resuming) */
    char sched_note[512];     /* what section 3 says about it when resuming */
    LossPoint *history;       /* the loss table so far, for the checkpoint (ts.history points here) */
    Checkpoint ck;
    bool loaded;
    bool interrupted;         /* Ctrl-C during training: save (with --save) and stop */
    Vocab *vocab;             /* the dataset's or the checkpoint's */
    TokenLevel level;
    int *train_ext, *val_ext; /* the streams with one leading </s>: every line follows a </s> */
    int *ids, *tg;            /* (B T) a training batch: inputs and next tokens */
    long n_train_ext, n_val_ext;
    Plotter plot;
} Chapter;

/* ==== the flags ==== */

/* --preset NAME: a real-text recipe (common/presets.h) fills in the flags not given; what it set is
 * kept for section 1 (nothing is printed with --eval or --generate). */
static void apply_preset(Chapter *ch) {
    if (ch->preset == 0) return;
    size_t size = 0;
    FILE *f = open_memstream(&ch->preset_text, &size);
    if (!f) die(EXIT_RUNTIME, "out of memory");
    preset_apply(preset_at(ch->preset - 1), ch->opts, ch->n_opts, f);
    fclose(f);
}

/* The defaults, the option table (data, model, training, then this chapter's own), parsing and the
 * checks that need more than one flag. */
static void parse_flags(Chapter *ch, int argc, char **argv) {
    memset(ch, 0, sizeof *ch);
    ch->common = cli_common_defaults();
    ch->data_flags = dataset_flags_default();
    ch->mf = options_model_defaults();
    ch->tf = options_train_defaults();
    ch->sample = 8, ch->generate = 0, ch->top_k = 0, ch->temperature = 1.0, ch->top_p = 1.0;
    CliOption *o = ch->opts;
    int n = dataset_cli_options(o, &ch->data_flags);
    n += options_model(o + n, &ch->mf);
    n += options_train(o + n, &ch->tf);
    o[n++] = cli_string("--save", &ch->save, "FILE", "write a checkpoint after training");
    o[n++] = cli_string("--load", &ch->load, "FILE", "start from a checkpoint (resumes training up to --steps)");
    o[n++] = cli_flag("--new-text", &ch->new_text, "with --load: train on --corpus in the checkpoint's vocabulary, a new schedule");
    o[n++] = cli_string("--eval", &ch->eval_path, "FILE", "with --load: print the loss on a text file, nothing else");
    o[n++] = cli_int("--generate", &ch->generate, 0, 1000000, "N", "with --load: generate N tokens, nothing else (with --corpus: the n-gram's too)");
    o[n++] = cli_string("--prompt", &ch->prompt, "TEXT", "text to continue when generating");
    o[n++] = cli_int("--sample", &ch->sample, 0, 1000, "N", "lines sampled after training");
    o[n++] = cli_real("--temperature", &ch->temperature, 0, 100, "T", "sampling temperature (0: always the likeliest)");
    o[n++] = cli_int("--top-k", &ch->top_k, 0, 1000000, "K", "sample among the K likeliest (0: all)");
    o[n++] = cli_real("--top-p", &ch->top_p, 1e-6, 1.0, "P", "sample among the likeliest with total probability P");
    o[n++] = cli_flag("--timing", &ch->timing, "print and plot the time per generated token (varies run to run)");
    o[n++] = cli_choice("--preset", &ch->preset, preset_choices(), "a real-text recipe (docs/realtext.md; make data first)");
    ch->n_opts = n;
    CliSpec spec = {CHAPTER, "Pre-train a small GPT (source document §2.3.1, §3.5): training loop, AdamW, the n-gram\n"
                             "and the true floor, the long-range dependency, sampling with a KV cache, checkpoints.",
                    o, n};
    cli_parse(&spec, &ch->common, argc, argv);
    apply_preset(ch);
    if (!ch->load) dataset_check_flags(&ch->data_flags, ch->opts, ch->n_opts); /* with --load: the checkpoint's level */
    if (ch->save) util_check_output("--save", ch->save); /* before any work, not after training */
    ch->sched = options_schedule(&ch->tf);               /* a new run's; --load replaces it */
    if ((ch->eval_path || ch->generate) && !ch->load) die(EXIT_USAGE, "--eval and --generate need --load FILE (a trained model)");
    if (ch->new_text && !ch->load) die(EXIT_USAGE, "--new-text continues a trained model on another text: it needs --load FILE");
    if (ch->new_text && (ch->eval_path || ch->generate))
        die(EXIT_USAGE, "--new-text trains on --corpus; --eval and --generate train on nothing: give one or the other");
    if (!ch->load) options_check_heads(&ch->mf);
    plot_init(&ch->plot, &ch->common, CHAPTER, stdout);
}

/* --load: the checkpoint, which must hold a causal model; its vocabulary and level until the corpus
 * is loaded (then the corpus must give the same vocabulary, or, with --new-text, is encoded in it).
 * Resuming continues the stored schedule; --new-text starts the flags' schedule afresh. */
static void load_checkpoint(Chapter *ch) {
    checkpoint_load(&ch->ck, ch->load);
    if (!ch->ck.cfg.causal)
        die(EXIT_RUNTIME, "%s holds a bidirectional model (chapter 11's masked LM); a GPT is causal", ch->load);
    ch->loaded = true;
    ch->vocab = &ch->ck.vocab;
    ch->level = ch->ck.level;
    if (ch->new_text) {
        snprintf(ch->sched_note, sizeof ch->sched_note,
                 "  --new-text: a new run, from the weights of %s (trained %ld steps on its own\n"
                 "  text). Its steps count from 1 on this corpus, its schedule is the one above (the checkpoint's\n"
                 "  is not continued), and AdamW's moments start again from zero.\n", ch->load, ch->ck.train.steps_done);
        return;
    }
    long stop;
    ch->sched = checkpoint_schedule(&ch->ck, ch->load, options_schedule(&ch->tf), ch->opts, ch->n_opts, &stop, ch->sched_note,
                                    sizeof ch->sched_note);
    ch->tf.steps = stop;
}

/* ==== 1. The corpus ==== */

static void section_1_corpus(Chapter *ch) {
    print_section(stdout, 1, "The corpus (chapter 1's)");
    if (ch->preset_text) printf("%s\n", ch->preset_text);
    if (ch->loaded) dataset_flags_from_checkpoint(&ch->data_flags, ch->opts, ch->n_opts, ch->level, ch->vocab, ch->load);
    if (ch->new_text) ch->data_flags.vocab = &ch->ck.vocab; /* encode this text in the checkpoint's vocabulary */
    dataset_load(&ch->data, &ch->data_flags, (uint64_t)ch->common.seed, false, stdout);
    if (ch->loaded && !ch->new_text) { /* resuming: the data must give the same vocabulary */
        bool same = ch->data.vocab.size == ch->ck.vocab.size;
        for (int i = 0; same && i < ch->data.vocab.size; i++) same = strcmp(ch->data.vocab.word[i], ch->ck.vocab.word[i]) == 0;
        if (!same) die(EXIT_RUNTIME, "%s was trained on another vocabulary than this corpus gives (%d words here, %d there); "
                       "--new-text trains on this text in the checkpoint's vocabulary", ch->load, ch->data.vocab.size,
                       ch->ck.vocab.size);
    }
    ch->vocab = &ch->data.vocab;
    ch->level = ch->data.level;
    ch->train_ext = token_stream_with_eos(&ch->data.train, &ch->n_train_ext);
    ch->val_ext = token_stream_with_eos(&ch->data.val, &ch->n_val_ext);
}

/* ==== 2. The model ==== */

/* The configuration from the flags, or from the checkpoint (then size flags must agree with it). */
static void configure(Chapter *ch) {
    if (ch->loaded) {
        ch->cfg = ch->ck.cfg;
        options_check_checkpoint(&ch->mf, ch->opts, ch->n_opts, &ch->cfg, ch->load);
    } else {
        ch->cfg = options_config(&ch->mf, ch->vocab->size, true);
    }
}

/* The model and AdamW from the seed, then, with --load, the checkpoint's weights, moments and
 * training state. */
static void build_model(Chapter *ch) {
    model_init(&ch->model, &ch->cfg, (int)ch->tf.batch, (uint64_t)ch->common.seed);
    adamw_init(&ch->opt, ch->model.n_params, 0.9f, 0.95f, 1e-8f, (float)ch->tf.weight_decay);
    rng_seed(&ch->ts.data_rng, (uint64_t)ch->common.seed, 10);
    ch->ts.steps_done = 0;
    ch->ids = xmalloc(sizeof(int) * (size_t)ch->tf.batch * (size_t)ch->cfg.max_len);
    ch->tg = xmalloc(sizeof(int) * (size_t)ch->tf.batch * (size_t)ch->cfg.max_len);
    if (!ch->loaded) return;
    memcpy(ch->model.param_mem, ch->ck.params, sizeof(float) * ch->ck.n_params);
    if (ch->new_text) return; /* the weights only: a new run with its own optimizer and sampler */
    memcpy(ch->opt.m, ch->ck.adam_m, sizeof(float) * ch->ck.n_params);
    memcpy(ch->opt.v, ch->ck.adam_v, sizeof(float) * ch->ck.n_params);
    ch->opt.step = ch->ck.adam_step;
    if (ch->ck.train.steps_done > 0) ch->ts = ch->ck.train;
}

static void section_2_model(Chapter *ch) {
    configure(ch);
    if (ch->n_train_ext <= ch->cfg.max_len + 1)
        die(EXIT_RUNTIME, "the training text has %ld tokens, too few for windows of --context %d", ch->n_train_ext, ch->cfg.max_len);
    build_model(ch);
    const ModelConfig *c = &ch->cfg;
    print_section(stdout, 2, "The model: a decoder-only Transformer (common/model.c)");
    printf("  vocabulary %d, d_model %d, %d heads, d_ff %d, %d blocks, context %d tokens\n", c->vocab, c->d_model,
           c->heads, c->d_ff, c->layers, c->max_len);
    printf("  (vocabulary %d = the |V| = %d of section 1 + <s>: the vocabulary keeps a row\n"
           "  for <s>, chapter 1's start-of-line padding, which this model never reads and is never asked\n"
           "  to predict; its softmax still has %d outputs, so the untrained model spreads probability\n"
           "  over %d, and sampling skips <s>)\n",
           c->vocab, c->vocab - 1, c->vocab, c->vocab);
    printf("  causal attention, %s, %s positions, %s, output tied to the token embedding\n",
           c->norm == NORM_PRE ? "pre-norm" : "post-norm", c->pos == POS_LEARNED ? "learned" : "sinusoidal",
           c->act == ACT_GELU ? "GELU" : "ReLU");
    printf("  parameters: %zu (formula: %ld)\n", ch->model.n_params, model_param_count(c));
    if (ch->new_text) printf("  its weights from %s (trained %ld steps on another text)\n", ch->load, ch->ck.train.steps_done);
    else if (ch->loaded) printf("  loaded from %s after %ld training steps\n", ch->load, ch->ts.steps_done);
}

/* ==== 3. The learning-rate schedule ==== */

static void section_3_schedule(Chapter *ch) {
    const long S = ch->sched.steps, W = ch->sched.warmup, run = (long)ch->tf.steps > S ? (long)ch->tf.steps : S;
    const double hi = ch->sched.lr, lo = ch->sched.lr_min;
    print_section(stdout, 3, "The learning-rate schedule (common/optim.c)");
    printf("  Step t = 1 .. S uses the rate lr(s) at s = t - 1 (s counts from 0):\n"
           "    lr(s) = lr_max (s + 1) / W                                           when s < W  (warm-up)\n"
           "    lr(s) = lr_min + (lr_max - lr_min) (1 + cos(pi (s - W) / (S - W))) / 2  when s >= W (cosine)\n"
           "  with lr_max = %g (--lr), lr_min = %g lr_max = %g (--lr-end), W = %ld (--warmup),\n"
           "  S = %ld (--steps).\n%s\n",
           hi, lo / hi, lo, W, S, ch->sched_note);
    const long at[] = {1, 2, W / 2, W, W + 1, W + (S - W) / 2 + 1, S, run};
    printf("  %8s %8s %12s\n", "step t", "s", "lr(s)");
    long shown = 0;
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
        if (at[i] >= 1 && at[i] <= run && at[i] > shown) {
            printf("  %8ld %8ld %12.6g\n", at[i], at[i] - 1, (double)lr_schedule(at[i] - 1, W, S, (float)hi, (float)lo));
            shown = at[i];
        }
    if (run < 1) return;
    double *x = xmalloc(sizeof(double) * (size_t)run), *y = xmalloc(sizeof(double) * (size_t)run);
    double *floor = xmalloc(sizeof(double) * (size_t)run);
    for (long t = 1; t <= run; t++)
        x[t - 1] = (double)t, y[t - 1] = lr_schedule(t - 1, W, S, (float)hi, (float)lo), floor[t - 1] = (float)lo;
    putchar('\n');
    const LineSeries s[2] = {{"lr(t - 1)", y, false}, {"lr_min", floor, true}};
    const char *const with[2] = {"lines lw 2", NULL};
    const LinePanel chart = {"The learning rate: linear warm-up, then a cosine to lr_min",
                             {"training step t", "learning rate", false, false}, NULL, x, (int)run, s, with, 2};
    plot_line_chart(&ch->plot, "lr", &chart);
    free(x), free(y), free(floor);
}

/* ==== 4. The first steps, dissected ==== */

/* The validation loss, printed every --eval-every steps and in section 6. With bos_prob, also the
 * mean probability the softmax gives <s> at the scored positions (never the answer: see section 2).
 * Mean cross-entropy (nats) over every token of a stream that follows a leading </s>: windows of T
 * tokens advancing by T/2; each token is scored once, in the first window that reaches it, so
 * every prediction sees at least T/2 tokens of context (or its whole past, at the start). */
static double evaluate(Model *m, const int *ext, long n_ext, double *bos_prob) {
    const int T = m->cfg.max_len, half = T / 2 > 0 ? T / 2 : 1, Bmax = m->max_batch;
    int *ids = xmalloc(sizeof(int) * (size_t)Bmax * (size_t)T), *tg = xmalloc(sizeof(int) * (size_t)Bmax * (size_t)T);
    double total = 0, bos = 0;
    long scored = 0, next = 1, s = 0; /* next: the first target not yet scored */
    while (next < n_ext) {
        int B = 0;
        long counted = 0;
        for (; B < Bmax && next < n_ext; B++, s += half) {
            for (int t = 0; t < T; t++) {
                const long target = s + t + 1;
                ids[B * T + t] = s + t < n_ext ? ext[s + t] : VOCAB_EOS;
                const bool score = target < n_ext && target >= next;
                tg[B * T + t] = score ? ext[target] : -1;
                counted += score;
            }
            next = s + T + 1 < n_ext ? s + T + 1 : n_ext;
        }
        total += model_forward(m, ids, tg, B, T) * (double)counted;
        scored += counted;
        for (int i = 0; bos_prob && i < B * T; i++)
            if (tg[i] >= 0) bos += *tensor_at(&m->probs, i, VOCAB_BOS);
    }
    free(ids), free(tg);
    if (bos_prob) *bos_prob = bos / (double)scored;
    return total / (double)scored;
}

static void one_batch(Chapter *ch, int *ids, int *tg) {
    const int B = (int)ch->tf.batch, T = ch->cfg.max_len;
    for (int b = 0; b < B; b++) { /* a random window of T + 1 tokens: inputs and next tokens */
        const long start = (long)rng_below(&ch->ts.data_rng, (uint32_t)(ch->n_train_ext - T));
        for (int t = 0; t < T; t++) ids[b * T + t] = ch->train_ext[start + t], tg[b * T + t] = ch->train_ext[start + t + 1];
    }
}

/* The loss curve of this run, and what the steps did. */
typedef struct {
    double *x, *train, *val; /* (n) step, mean training loss since the last point, validation loss */
    int n, printed;          /* points, and how many of them section 5's table has shown */
    double running;          /* training losses since the last point */
    long count;
    long stepped, clipped;   /* steps of this run, and those whose gradient norm exceeded --clip */
} Curve;

static void curve_add(Curve *c, double x, double train, double val) {
    c->x[c->n] = x, c->train[c->n] = train, c->val[c->n] = val, c->n++;
}

/* An empty curve; resuming, it starts with the checkpoint's rows (and the steps after the last). */
static Curve curve_new(const Chapter *ch) {
    const size_t cap = (size_t)(ch->tf.steps / ch->tf.eval_every) + 3 + (size_t)ch->ts.n_history;
    Curve c = {0};
    c.x = xmalloc(sizeof(double) * cap), c.train = xmalloc(sizeof(double) * cap), c.val = xmalloc(sizeof(double) * cap);
    for (int i = 0; i < ch->ts.n_history; i++) curve_add(&c, (double)ch->ts.history[i].step, ch->ts.history[i].train, ch->ts.history[i].val);
    if (ch->ts.steps_done > 0) c.running = ch->ts.running_loss, c.count = ch->ts.running_steps;
    return c;
}

/* The loss table so far (and the steps after its last row) into the training state, which a
 * checkpoint stores with the schedule: a resumed run's table and figure start at step 0. */
static void keep_history(Chapter *ch, const Curve *curve) {
    free(ch->history);
    ch->history = xmalloc(sizeof(LossPoint) * (size_t)(curve->n + 1));
    for (int i = 0; i < curve->n; i++) ch->history[i] = (LossPoint){(long)curve->x[i], curve->train[i], curve->val[i]};
    ch->ts.history = ch->history, ch->ts.n_history = curve->n;
    ch->ts.running_loss = curve->running, ch->ts.running_steps = curve->count;
    ch->ts.has_schedule = true, ch->ts.schedule = ch->sched;
}

/* Training step ts.steps_done + 1 on a fresh batch; a validation point every --eval-every steps and
 * at the last one. */
static void take_step(Chapter *ch, Curve *curve, StepReport *rep) {
    const long s = ch->ts.steps_done + 1;
    one_batch(ch, ch->ids, ch->tg);
    train_step_report(&ch->model, &ch->opt, ch->ids, ch->tg, (int)ch->tf.batch, ch->cfg.max_len, s, &ch->sched, rep);
    ch->ts.steps_done = s;
    curve->running += rep->loss, curve->count++;
    curve->stepped++, curve->clipped += rep->grad_norm > ch->sched.clip;
    if (s % ch->tf.eval_every == 0 || s == ch->tf.steps) {
        curve_add(curve, (double)s, curve->running / (double)curve->count, evaluate(&ch->model, ch->val_ext, ch->n_val_ext, NULL));
        curve->running = 0, curve->count = 0;
    }
}

enum { DISSECT_STEPS = 2 };

/* What AdamW did to one parameter in one step, recomputed here in double from its equations. */
typedef struct {
    double g, m0, m, v0, v, c1, c2, mhat, vhat, lr, p0, p, formula, norm, norm_after;
} AdamTrace;

static void print_trace_row(const char *label, const AdamTrace *tr, int n, size_t field) {
    printf("    %-34s", label);
    for (int k = 0; k < n; k++) printf(" %14.7g", *(const double *)((const char *)&tr[k] + field));
    putchar('\n');
}

static void section_4_first_steps(Chapter *ch, Curve *curve) {
    Model *m = &ch->model;
    const int B = (int)ch->tf.batch, T = ch->cfg.max_len;
    print_section(stdout, 4, "The first steps, dissected: the loss, clipping, AdamW");
    if (ch->ts.steps_done > 0) {
        printf("  (resumed after step %ld: the first steps were taken by the run that saved %s)\n", ch->ts.steps_done, ch->load);
        return;
    }
    one_batch(ch, ch->ids, ch->tg);
    const double first = model_forward(m, ch->ids, ch->tg, B, T);
    if (ch->new_text)
        printf("  with the checkpoint's weights, before any step on this text: loss %.4f on a batch\n"
               "  (ln %d = %.4f: a uniform guess over the %d outputs of the softmax)\n", first, ch->cfg.vocab,
               log((double)ch->cfg.vocab), ch->cfg.vocab);
    else
        printf("  at random initialisation: loss %.4f on a batch (ln %d = %.4f: a uniform guess over the %d\n"
               "  outputs of the softmax)\n", first, ch->cfg.vocab, log((double)ch->cfg.vocab), ch->cfg.vocab);
    rng_seed(&ch->ts.data_rng, (uint64_t)ch->common.seed, 10); /* the same batches as without this look */
    curve_add(curve, 0, first, evaluate(m, ch->val_ext, ch->n_val_ext, NULL));
    const int n = ch->tf.steps < DISSECT_STEPS ? (int)ch->tf.steps : DISSECT_STEPS;
    if (n == 0) return;
    /* the parameter to follow: the element of block 0's W^Q (a matrix) with the largest gradient at
     * step 1, chosen after that step from a copy of the matrix taken before it */
    const ModelTensor *pt = &m->tensors[0];
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, "block0.attn.Wq") == 0) pt = &m->tensors[i];
    const size_t base = (size_t)(pt->param->data - m->param_mem), count = (size_t)pt->param->rows * (size_t)pt->param->cols;
    float *before = xmalloc(sizeof(float) * count);
    memcpy(before, pt->param->data, sizeof(float) * count);
    size_t at = base;
    const double b1 = ch->opt.beta1, b2 = ch->opt.beta2, eps = ch->opt.eps, wd = pt->decay ? ch->opt.weight_decay : 0;
    AdamTrace tr[DISSECT_STEPS];
    for (int k = 0; k < n; k++) {
        AdamTrace *r = &tr[k];
        r->m0 = ch->opt.m[at], r->v0 = ch->opt.v[at], r->p0 = m->param_mem[at];
        StepReport rep;
        take_step(ch, curve, &rep);
        if (k == 0) { /* moments start at 0 everywhere */
            for (size_t i = base; i < base + count; i++)
                if (fabsf(m->grad_mem[i]) > fabsf(m->grad_mem[at])) at = i;
            r->p0 = before[at - base];
        }
        double sq = 0;
        for (size_t i = 0; i < m->n_params; i++) sq += (double)m->grad_mem[i] * m->grad_mem[i];
        const long t = ch->opt.step;
        r->norm = rep.grad_norm, r->norm_after = sqrt(sq), r->lr = rep.lr, r->g = m->grad_mem[at];
        r->m = b1 * r->m0 + (1 - b1) * r->g, r->v = b2 * r->v0 + (1 - b2) * r->g * r->g;
        r->c1 = 1 - pow(b1, (double)t), r->c2 = 1 - pow(b2, (double)t), r->mhat = r->m / r->c1, r->vhat = r->v / r->c2;
        r->formula = r->p0 - r->lr * (r->mhat / (sqrt(r->vhat) + eps) + wd * r->p0);
        r->p = m->param_mem[at];
    }
    printf("\n  Gradient clipping (common/optim.c): g <- g min(1, clip / ||g||), ||g|| over all %zu gradients.\n",
           m->n_params);
    for (int k = 0; k < n; k++)
        printf("    step %d: ||g|| = %.4f %s --clip %g, so g is scaled by %.4f; ||g|| after (recomputed): %.4f\n", k + 1,
               tr[k].norm, tr[k].norm > ch->tf.clip ? ">" : "<=", ch->tf.clip,
               tr[k].norm > ch->tf.clip ? ch->tf.clip / tr[k].norm : 1.0, tr[k].norm_after);
    free(before);
    const int row = (int)((at - base) / (size_t)pt->param->cols), col = (int)((at - base) % (size_t)pt->param->cols);
    printf("\n  AdamW on one parameter, %s[%d][%d] (a %s, so weight decay %g applies), at step t:\n"
           "    m_t = b1 m_t-1 + (1 - b1) g        v_t = b2 v_t-1 + (1 - b2) g^2        b1 = %g, b2 = %g\n"
           "    mhat = m_t / (1 - b1^t)            vhat = v_t / (1 - b2^t)              (bias correction)\n"
           "    p_t = p_t-1 - lr(t-1) (mhat / (sqrt(vhat) + eps) + wd p_t-1)             eps = %g\n\n",
           pt->name, row, col, pt->decay ? "matrix" : "vector", wd, b1, b2, eps);
    printf("    %-34s", "");
    for (int k = 0; k < n; k++) printf(" %14s", k == 0 ? "step 1" : "step 2");
    putchar('\n');
    const struct { const char *label; size_t field; } rows[] = {
        {"g (after clipping)", offsetof(AdamTrace, g)},      {"m_t-1", offsetof(AdamTrace, m0)},
        {"m_t", offsetof(AdamTrace, m)},                      {"v_t-1", offsetof(AdamTrace, v0)},
        {"v_t", offsetof(AdamTrace, v)},                      {"1 - b1^t", offsetof(AdamTrace, c1)},
        {"1 - b2^t", offsetof(AdamTrace, c2)},                {"mhat", offsetof(AdamTrace, mhat)},
        {"vhat", offsetof(AdamTrace, vhat)},                  {"lr(t-1)", offsetof(AdamTrace, lr)},
        {"p_t-1", offsetof(AdamTrace, p0)},                   {"p_t by the equations (double)", offsetof(AdamTrace, formula)},
        {"p_t by AdamW's code (float)", offsetof(AdamTrace, p)}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) print_trace_row(rows[i].label, tr, n, rows[i].field);
    /* the step without its decay, in units of the learning rate: mhat / (sqrt(vhat) + eps) */
    const double unit = (tr[0].p - tr[0].p0 + tr[0].lr * wd * tr[0].p0) / tr[0].lr;
    char note[600];
    snprintf(note, sizeof note, "Notice: at step 1 the bias correction gives mhat = g and vhat = g^2, so the step "
             "without its decay is lr x mhat / (sqrt(vhat) + eps) = lr x %.4f: the sign of g, not its size (%.3g). "
             "Adam moves each parameter by about the learning rate whatever the scale of its gradient, so at step 1 "
             "clipping, which scales every gradient alike, changes nothing; later it damps a sudden large gradient "
             "against the moments of the steps before.", unit, tr[0].g);
    print_note(stdout, note);
}

/* ==== 5. Pre-training ==== */

static void section_5_train(Chapter *ch, Curve *curve) {
    const int B = (int)ch->tf.batch, T = ch->cfg.max_len;
    print_section(stdout, 5, "Pre-training: predict every next token");
    printf("  %lld steps of %d random windows of %d tokens; AdamW (betas 0.9, 0.95; weight decay %g on\n"
           "  the blocks' weight matrices and an untied output head, not on the embeddings, gains or\n"
           "  biases); learning rate warmed up over %lld steps to %g, then a cosine down to\n"
           "  %g; gradients clipped to a global norm of %g. Loss in nats per token.\n\n",
           ch->tf.steps, B, T, ch->tf.weight_decay, (long long)ch->sched.warmup, ch->sched.lr, ch->sched.lr_min, ch->sched.clip);
    keep_history(ch, curve); /* what a save stores, whenever it happens */
    if (ch->ts.steps_done >= ch->tf.steps && curve->stepped == 0) {
        printf("  nothing to train: %s %ld of --steps %lld\n", ch->loaded ? "the checkpoint has done" : "done", ch->ts.steps_done,
               ch->tf.steps);
        return;
    }
    if (ch->loaded && !ch->new_text && curve->n > 1) printf("  (the rows up to step %.0f come from %s)\n", curve->x[curve->n - 1], ch->load);
    printf("  %8s %12s %12s %12s\n", "step", "train loss", "val loss", "val ppl");
    fflush(stdout); /* training starts here: whoever watches the output (or sends Ctrl-C) can see it */
    Progress prog;
    progress_start(&prog, ch->tf.steps);
    for (;;) {
        for (; curve->printed < curve->n; curve->printed++) {
            const int i = curve->printed;
            if (curve->x[i] == 0) continue;
            progress_end(&prog);
            printf("  %8.0f %12.4f %12.4f %12.4f\n", curve->x[i], curve->train[i], curve->val[i], exp(curve->val[i]));
            fflush(stdout);
        }
        if (interrupt_requested()) ch->interrupted = true; /* Ctrl-C: the last step is done; main saves and stops */
        if (ch->ts.steps_done >= ch->tf.steps || ch->interrupted) break;
        StepReport rep;
        take_step(ch, curve, &rep);
        progress_update(&prog, ch->ts.steps_done, rep.loss, (double)B * T);
    }
    progress_end(&prog);
    keep_history(ch, curve);
    if (!ch->interrupted)
        printf("\n  Clipping scaled the gradient in %ld of the %ld steps of this run (its norm above %g).\n", curve->clipped,
               curve->stepped, ch->sched.clip);
}

/* ==== 6. Against the n-gram and the floor ==== */

/* Unicode characters of a UTF-8 string: the bytes that do not continue a character. */
static long utf8_chars(const char *s) {
    long n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* The verse form of lines of Chinese text (section 10): a verse is a run of Chinese characters
 * between punctuation marks (a line of the Tang poems is a couplet of two verses of 5 or 7). */
typedef struct {
    long lines, verses, regular; /* lines read, verses in them, verses of 5 or 7 characters */
    long chars, unseen;          /* tokens (characters) of the lines, those never seen in training */
} VerseCount;

/* What sections 6 to 14 compare: the trained GPT and chapter 1's best n-gram on the validation text. */
typedef struct {
    double gpt;         /* the GPT's validation cross-entropy, nats per token */
    double bos_prob;    /* the mean probability its softmax gives <s> */
    double ngram;       /* the best n-gram's, nats per token */
    int ngram_order;
    Smoothing ngram_smoothing;
    NgramModel ng;      /* every order 1..6, counted on the training text */
    double val_chars;   /* characters of the validation text, one per line end included */
    double val_bytes;   /* and its bytes: bits per byte compare token levels fairly */
    bool verse;         /* Chinese text at the character level: section 10 measured the verse form */
    VerseCount verses[3]; /* the GPT's lines, the n-gram's, the validation lines (section 10) */
} Results;

/* Chapter 1's best n-gram on a split: every order 1..6 counted on the training text, with KN and
 * modified KN, scored on the validation text; the lowest loss wins. */
static void best_ngram(const Dataset *d, Results *r) {
    ngram_build(&r->ng, &d->train, d->vocab.size, NGRAM_MAX_ORDER, 1.0);
    r->ngram = INFINITY, r->ngram_order = 1, r->ngram_smoothing = SMOOTH_KN;
    for (int n = 1; n <= NGRAM_MAX_ORDER; n++)
        for (int s = SMOOTH_KN; s <= SMOOTH_MKN; s++) {
            const double nats = -ngram_score(&r->ng, (Smoothing)s, n, &d->val).log10_sum * log(10.0) / (double)d->val.n;
            if (nats < r->ngram) r->ngram = nats, r->ngram_order = n, r->ngram_smoothing = (Smoothing)s;
        }
}

/* The GPT's validation loss and the best n-gram on this split. */
static void measure(Chapter *ch, Results *r) {
    r->gpt = evaluate(&ch->model, ch->val_ext, ch->n_val_ext, &r->bos_prob);
    best_ngram(&ch->data, r);
    r->val_chars = 0;
    for (int i = 0; i < ch->data.n_val; i++) r->val_chars += utf8_chars(ch->data.val_lines[i]) + 1;
    r->val_bytes = dataset_val_bytes(&ch->data);
}

/* The Notice of section 6, chosen by the numbers: the GPT against the floor (when known) and the
 * n-gram, then, if the validation loss rose after its lowest point while the training loss fell,
 * that the model over-fits. */
static void compare_notice(const Chapter *ch, const Curve *curve, double final, double ngram_nats, int ngram_order) {
    char note[900];
    int k = 0;
    const double vs_ngram = 100 * (final / ngram_nats - 1);
    if (!isnan(ch->data.floor_nats)) {
        const double over = 100 * (final / ch->data.floor_nats - 1);
        k += snprintf(note + k, sizeof note - (size_t)k, "Notice: the GPT is %.1f%% above the floor (%s 5%%) and %.1f%% %s the best n-gram.",
                      over, over <= 5 ? "within" : "NOT within", fabs(vs_ngram), final < ngram_nats ? "below" : "above");
    } else if (vs_ngram <= -0.5) {
        k += snprintf(note + k, sizeof note - (size_t)k, "Notice: the GPT's validation loss is %.1f%% below the best n-gram's "
                      "(n = %d): on this text it predicts better than counting.", -vs_ngram, ngram_order);
    } else if (vs_ngram < 0.5) {
        k += snprintf(note + k, sizeof note - (size_t)k, "Notice: the GPT and the best n-gram (n = %d) are level on this text "
                      "(%+.1f%%): the GPT could not show that it predicts better than counting.", ngram_order, vs_ngram);
    } else {
        k += snprintf(note + k, sizeof note - (size_t)k, "Notice: the GPT could not beat chapter 1's n-gram on this text: its "
                      "validation loss is %.1f%% above the best n-gram's (n = %d). After %ld steps this model has not "
                      "learned what counting %d-grams already knows.", vs_ngram, ngram_order, ch->ts.steps_done, ngram_order);
    }
    int lo = 0; /* the lowest validation point */
    for (int i = 1; i < curve->n; i++)
        if (curve->val[i] < curve->val[lo]) lo = i;
    const int last = curve->n - 1;
    if (last > lo && curve->val[last] > 1.01 * curve->val[lo] && curve->train[last] < curve->train[lo])
        snprintf(note + k, sizeof note - (size_t)k, " The validation loss rose from %.4f at step %.0f to %.4f while the training "
                 "loss fell from %.4f to %.4f: the model over-fits, learning its training text by heart rather than the "
                 "language; this run's best model was the one at step %.0f.", curve->val[lo], curve->x[lo], curve->val[last],
                 curve->train[lo], curve->train[last], curve->x[lo]);
    print_note(stdout, note);
}

static void section_6_compare(Chapter *ch, const Curve *curve, const Results *r) {
    print_section(stdout, 6, isnan(ch->data.floor_nats) ? "Against chapter 1's n-gram" : "Against chapter 1's n-gram and the true floor");
    /* bits per character: the text's total nats over its characters, in base 2 */
    const double to_bpc = (double)ch->data.val.n / r->val_chars / log(2.0), to_bpb = (double)ch->data.val.n / r->val_bytes / log(2.0);
    printf("  validation cross-entropy, every validation token (</s> included), every character and every\n"
           "  byte (the line end included: %.0f characters in %ld %s tokens, %.0f bytes):\n\n", r->val_chars,
           ch->data.val.n, level_name(ch->level), r->val_bytes);
    printf("    %-28s %15s %12s %14s %14s\n", "", "nats per token", "perplexity", "bits per char", "bits per byte");
    printf("    %-28s %15.4f %12.4f %14.4f %14.4f\n", "GPT", r->gpt, exp(r->gpt), r->gpt * to_bpc, r->gpt * to_bpb);
    char label[64];
    snprintf(label, sizeof label, "best n-gram (n = %d, %s)", r->ngram_order, smoothing_name[r->ngram_smoothing]);
    printf("    %-28s %15.4f %12.4f %14.4f %14.4f\n", label, r->ngram, exp(r->ngram), r->ngram * to_bpc, r->ngram * to_bpb);
    if (!isnan(ch->data.floor_nats))
        printf("    %-28s %15.4f %12.4f %14.4f %14.4f\n", "true process (the floor)", ch->data.floor_nats, exp(ch->data.floor_nats),
               ch->data.floor_nats * to_bpc, ch->data.floor_nats * to_bpb);
    printf("\n  The GPT's softmax gives <s>, never the answer, a mean probability of %.2g per validation token.\n", r->bos_prob);
    compare_notice(ch, curve, r->gpt, r->ngram, r->ngram_order);
    putchar('\n');
    double *ng = xmalloc(sizeof(double) * (size_t)curve->n), *fl = xmalloc(sizeof(double) * (size_t)curve->n);
    for (int i = 0; i < curve->n; i++) ng[i] = r->ngram, fl[i] = ch->data.floor_nats;
    LineSeries s[4] = {{"GPT, training loss (mean since the last point)", curve->train, false},
                       {"GPT, validation loss", curve->val, false},
                       {"best n-gram of chapter 1, validation", ng, true},
                       {"true process (the floor)", fl, true}};
    const int n_series = isnan(ch->data.floor_nats) ? 3 : 4;
    /* the references apart in the legend: the n-gram red dashes, the floor black dots */
    const char *const with[4] = {NULL, NULL, "lines dt 2 lw 2 lc rgb '#d62728'", "lines dt 3 lw 3 lc rgb '#000000'"};
    /* beside the whole run, a zoom on where the curves meet the references */
    const double lo = isnan(ch->data.floor_nats) ? r->ngram : fmin(r->ngram, ch->data.floor_nats);
    const double hi = fmax(r->ngram, r->gpt);
    char zoom[120];
    snprintf(zoom, sizeof zoom, "unset key\nset yrange [%.4f:%.4f]", lo - 0.15 * (hi - lo) - 0.01, hi + 0.6 * (hi - lo) + 0.02);
    const LinePanel panels[2] = {
        {"the whole run", {"training step", "cross-entropy (nats per token)", false, false}, "set key inside top right box",
         curve->x, curve->n, s, with, n_series},
        {"zoomed on the references", {"training step", "cross-entropy (nats per token)", false, false}, zoom, curve->x,
         curve->n, s, with, n_series}};
    plot_line_panels(&ch->plot, "loss", "Pre-training a small GPT", panels, 2);
    free(ng), free(fl);
}

/* ==== 7. The chain rule ==== */

/* ln P(line) under the model by the chain rule: the sum, over the line's n tokens and the </s> that
 * ends it, of ln P(w_i | </s> w_1 .. w_i-1), the line read after a </s> as every line is in
 * training. factors (n + 1), when given, receives each P(w_i | ...); a line longer than the context
 * is scored in evaluate's windows (then factors must be NULL). */
static double line_logprob(Model *m, const int *line, int n, double *factors) {
    int *ext = xmalloc(sizeof(int) * (size_t)(n + 2));
    ext[0] = VOCAB_EOS, ext[n + 1] = VOCAB_EOS;
    memcpy(ext + 1, line, sizeof(int) * (size_t)n);
    double lp = 0;
    if (n + 1 <= m->cfg.max_len) {
        model_forward(m, ext, ext + 1, 1, n + 1); /* inputs ext[0..n], targets ext[1..n+1] */
        for (int t = 0; t <= n; t++) {
            const double p = *tensor_at(&m->probs, t, ext[t + 1]);
            lp += log(p);
            if (factors) factors[t] = p;
        }
    } else {
        CHECK(!factors, "line_logprob: a line of %d tokens has no factors past the context", n);
        lp = -evaluate(m, ext, n + 2, NULL) * (double)(n + 1);
    }
    free(ext);
    return lp;
}

/* A token as the tables show it: quoted, so that a space is seen. */
static void token_label(const Chapter *ch, int id, char *buf, size_t size) {
    char *s = corpus_decode(ch->vocab, &id, 1, ch->level);
    snprintf(buf, size, id == VOCAB_EOS ? "%s" : "'%s'", id == VOCAB_EOS ? "</s>" : s);
    free(s);
}

static void section_7_chain_rule(Chapter *ch, const Results *r) {
    print_section(stdout, 7, "The chain rule: the probability of a whole line");
    printf("  A language model gives a line its probability one token at a time (§2.3.1):\n"
           "    P(w_1 .. w_n </s>) = P(w_1) P(w_2 | w_1) ... P(</s> | w_1 .. w_n) = prod_i P(w_i | w_<i)\n"
           "  The GPT conditions on everything before w_i (up to its context), the n-gram on the last n-1\n"
           "  tokens. Both, factor by factor, on the first validation line of 8 to 16 tokens (when there is\n"
           "  none, the shortest one that fits the context):\n\n");
    int line = -1, shortest = -1;
    for (int i = 0; i < ch->data.n_val && line < 0; i++) {
        const long len = ch->data.val_line_start[i + 1] - ch->data.val_line_start[i] - 1;
        if (len < 1 || len + 1 > ch->cfg.max_len) continue;
        if (len >= 8 && len <= 16) line = i;
        if (shortest < 0 || len < ch->data.val_line_start[shortest + 1] - ch->data.val_line_start[shortest] - 1) shortest = i;
    }
    if (line < 0) line = shortest;
    if (line < 0) {
        printf("  (no validation line that fits the context of %d tokens)\n", ch->cfg.max_len);
        return;
    }
    const int *ids = ch->data.val.id + ch->data.val_line_start[line];
    const int n = (int)(ch->data.val_line_start[line + 1] - ch->data.val_line_start[line] - 1);
    double *gpt = xmalloc(sizeof(double) * (size_t)(n + 1)), *ngp = xmalloc(sizeof(double) * (size_t)(n + 1)), lg = 0, ln = 0;
    line_logprob(&ch->model, ids, n, gpt);
    uint32_t *ctx = xmalloc(sizeof(uint32_t) * (size_t)(n + 2));
    ctx[0] = VOCAB_BOS;
    char head[48];
    snprintf(head, sizeof head, "n-gram (n = %d)", r->ngram_order);
    printf("    %3s  %-8s %16s %16s\n", "i", "w_i", "GPT P(w_i | w_<i)", head);
    for (int t = 0; t <= n; t++) {
        const int w = t < n ? ids[t] : VOCAB_EOS;
        ngp[t] = ngram_prob(&r->ng, r->ngram_smoothing, r->ngram_order, ctx, t + 1, w);
        ctx[t + 1] = (uint32_t)w;
        lg += log(gpt[t]), ln += log(ngp[t]);
        char tok[32];
        token_label(ch, w, tok, sizeof tok);
        printf("    %3d  %-8s %16.4f %16.4f\n", t + 1, tok, gpt[t], ngp[t]);
    }
    printf("    %-13s %16.4f %16.4f   (sum of ln P(w_i | w_<i))\n", "ln P(line)", lg, ln);
    printf("    %-13s %16.4g %16.4g\n", "P(line)", exp(lg), exp(ln));
    const double check = line_logprob(&ch->model, ids, n, NULL);
    char note[500];
    if (ch->data.val_synth_index) {
        const double truth = ch->data.synth.logp[ch->data.val_synth_index[line]];
        printf("    %-13s %16.4f                    (the generator's own probability of this line)\n", "true ln P", truth);
        snprintf(note, sizeof note, "Notice: multiplying the GPT's %d factors gives ln P = %.4f (%.4f computed again in one "
                 "call); it is %.4f from the true ln P, the n-gram %.4f: the %s is closer to the true probability of this line.",
                 n + 1, lg, check, fabs(lg - truth), fabs(ln - truth), fabs(lg - truth) < fabs(ln - truth) ? "GPT" : "n-gram");
    } else {
        snprintf(note, sizeof note, "Notice: multiplying the GPT's %d factors gives ln P = %.4f (%.4f computed again in one "
                 "call); the n-gram gives this line %s probability (ln P = %.4f).", n + 1, lg, check,
                 ln > lg ? "a higher" : "a lower", ln);
    }
    print_note(stdout, note);
    putchar('\n');
    free(gpt), free(ngp), free(ctx);
}

/* ==== 8. The long-range dependency ==== */

static void section_8_long_range(Chapter *ch, NgramModel *ng) {
    print_section(stdout, 8, "The long-range dependency: GPT against the n-gram");
    if (!dataset_has_closers(&ch->data)) {
        printf("  This needs the synthetic language (run without --corpus and --val-file) at the char or word level.\n");
        return;
    }
    Model *m = &ch->model;
    const int T = ch->cfg.max_len, n = NGRAM_MAX_ORDER;
    int cand[SYNTH_CLASSES];
    dataset_closer_ids(&ch->data, cand);
    long right_gpt[GAP_BINS] = {0}, right_ng[GAP_BINS] = {0}, seen[GAP_BINS] = {0};
    int *ids = xmalloc(sizeof(int) * (size_t)T);
    uint32_t *ctx = xmalloc(sizeof(uint32_t) * 4100);
    for (int i = 0; i < ch->data.n_val; i++) {
        int pos, gap;
        dataset_closer(&ch->data, i, &pos, &gap);
        const int *line = ch->data.val.id + ch->data.val_line_start[i];
        const int bin = gap_bin(gap);
        seen[bin]++;
        /* GPT: </s> then the line up to the closer (the last T tokens of it) */
        int len = 0;
        const int from = pos + 1 > T ? pos + 1 - T : 0;
        if (from == 0) ids[len++] = VOCAB_EOS;
        for (int t = from == 0 ? 0 : from - 1; t < pos; t++) ids[len++] = line[t];
        model_forward(m, ids, NULL, 1, len);
        const float *p = tensor_at(&m->probs, len - 1, 0);
        int best = 0;
        for (int c = 1; c < SYNTH_CLASSES; c++)
            if (p[cand[c]] > p[cand[best]]) best = c;
        right_gpt[bin] += best == ch->data.synth.cls[ch->data.val_synth_index[i]];
        /* n-gram of order 6, modified KN: <s> then the line up to the closer */
        int cl = 0;
        ctx[cl++] = VOCAB_BOS;
        for (int t = 0; t < pos && cl < 4096; t++) ctx[cl++] = (uint32_t)line[t];
        best = 0;
        for (int c = 1; c < SYNTH_CLASSES; c++)
            if (ngram_prob(ng, SMOOTH_MKN, n, ctx, cl, cand[c]) > ngram_prob(ng, SMOOTH_MKN, n, ctx, cl, cand[best])) best = c;
        right_ng[bin] += best == ch->data.synth.cls[ch->data.val_synth_index[i]];
    }
    printf("  Which of the four closers does each model rank first, by the gap since the marker gave the\n"
           "  class away? (chapter 1, section 7; chance is 25%%; the GPT sees %d tokens back)\n\n", T);
    printf("  %9s %8s %10s %10s\n", "gap", "cases", "n-gram n=6", "GPT");
    double x[GAP_BINS], yg[GAP_BINS], yn[GAP_BINS], chance[GAP_BINS];
    int nx = 0;
    long far_right = 0, far_ngram = 0, far_seen = 0;
    for (int b = 0; b < GAP_BINS; b++) {
        if (!seen[b]) continue;
        char label[32];
        gap_label(b, label, sizeof label);
        printf("  %9s %8ld %9.0f%% %9.0f%%\n", label, seen[b], 100.0 * right_ng[b] / seen[b], 100.0 * right_gpt[b] / seen[b]);
        x[nx] = gap_center(b), yn[nx] = 100.0 * right_ng[b] / seen[b], yg[nx] = 100.0 * right_gpt[b] / seen[b];
        chance[nx] = 25, nx++;
        if (gap_center(b) > n - 1) far_right += right_gpt[b], far_ngram += right_ng[b], far_seen += seen[b];
    }
    char note[400];
    const double gpt_far = far_seen ? 100.0 * far_right / far_seen : 0, ng_far = far_seen ? 100.0 * far_ngram / far_seen : 0;
    if (gpt_far >= ng_far + 20)
        snprintf(note, sizeof note, "Notice: beyond the n-gram's reach (gaps over %d) the GPT picks the right closer "
                 "%.1f%% of the time, the n-gram %.1f%% (chance: 25%%): attention looks back to the marker wherever "
                 "it is in the context.", n - 1, gpt_far, ng_far);
    else
        snprintf(note, sizeof note, "Notice: beyond the n-gram's reach (gaps over %d) the GPT picks the right closer "
                 "%.1f%% of the time, the n-gram %.1f%% (chance: 25%%): this run could not show attention reaching "
                 "further than counting (train longer).", n - 1, gpt_far, ng_far);
    print_note(stdout, note);
    putchar('\n');
    LineSeries s[3] = {{"GPT", yg, false}, {"n-gram, n = 6", yn, false}, {"chance", chance, true}};
    LineAxes ax = {"gap between the marker and the closer (tokens)", "closer predicted right (%)", false, false};
    plot_lines(&ch->plot, "long_range", "The long-range agreement: GPT against the n-gram", &ax, x, nx, s, 3);
    free(ids), free(ctx);
}

/* ==== 9. Attention on a long-gap sentence ==== */

static void section_9_attention(Chapter *ch) {
    Model *m = &ch->model;
    const int T = ch->cfg.max_len, H = ch->cfg.heads, L = ch->cfg.layers;
    print_section(stdout, 9, "Attention on a long-gap sentence: where the closer looks");
    if (!dataset_has_closers(&ch->data)) {
        printf("  This needs the synthetic language (run without --corpus and --val-file) at the char or word level.\n");
        return;
    }
    int line = -1, pos = 0, gap = 0; /* the validation line with the longest gap that fits the context */
    for (int i = 0; i < ch->data.n_val; i++) {
        int p, g;
        dataset_closer(&ch->data, i, &p, &g);
        if (p + 1 <= T && p <= 40 && g > gap) line = i, pos = p, gap = g;
    }
    if (line < 0) {
        printf("  (no validation line fits the context of %d tokens)\n", T);
        return;
    }
    const int *tok = ch->data.val.id + ch->data.val_line_start[line];
    const int len = pos + 1, marker = ch->level == LEVEL_CHAR ? 2 : 1; /* the marker's tokens: ids[1 .. marker] */
    int *ids = xmalloc(sizeof(int) * (size_t)len);
    ids[0] = VOCAB_EOS;
    memcpy(ids + 1, tok, sizeof(int) * (size_t)pos);
    model_forward(m, ids, NULL, 1, len);
    const int q = len - 1; /* the query whose output predicts the closer */
    char **labels = xmalloc(sizeof(char *) * (size_t)len), shown[256];
    for (int t = 0; t < len; t++) {
        char *s = corpus_decode(ch->vocab, &ids[t], 1, ch->level);
        labels[t] = xmalloc(16);
        snprintf(labels[t], 16, "%s", ids[t] == VOCAB_EOS ? "</s>" : strcmp(s, " ") == 0 ? "_" : s);
        free(s);
    }
    char *text = corpus_decode(ch->vocab, tok, pos, ch->level);
    snprintf(shown, sizeof shown, "%s", text);
    free(text);
    printf("  Validation line %d, the longest gap that fits in 40 tokens, up to its closer:\n    %s\n"
           "  (%d tokens after </s>; the marker gave the class away %d tokens before the closer). The last\n"
           "  position, '%s', must predict the closer. Its attention weights on the marker (%d token%s), in\n"
           "  every block and head:\n\n", line, shown, pos, gap, labels[q], marker, marker > 1 ? "s" : "");
    printf("    %6s %5s %18s %26s\n", "block", "head", "weight on marker", "most weight on position");
    int best_l = 0, best_h = 0;
    double best = -1;
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            const float *row = tensor_at(&m->cache[l].attn.weights[h], q, 0);
            double w = 0;
            int top = 0;
            for (int t = 1; t <= marker; t++) w += row[t];
            for (int t = 1; t < len; t++)
                if (row[t] > row[top]) top = t;
            printf("    %6d %5d %18.3f %18d ('%s')\n", l, h, w, top, labels[top]);
            if (w > best) best = w, best_l = l, best_h = h;
        }
    const float *p = tensor_at(&m->probs, q, 0);
    int cand[SYNTH_CLASSES], right = ch->data.synth.cls[ch->data.val_synth_index[line]];
    dataset_closer_ids(&ch->data, cand);
    double wrong = 0; /* the three closers that do not agree */
    for (int c = 0; c < SYNTH_CLASSES; c++) wrong += c == right ? 0 : p[cand[c]];
    char note[700];
    if (best >= 0.3)
        snprintf(note, sizeof note, "Notice: in block %d, head %d, the position that predicts the closer puts %.0f%% of its "
                 "attention on the marker %d tokens back, past every word in between. The next token is the agreeing "
                 "closer with probability %.3f, one of the three others with %.3g (the rest: the sentence goes on). This "
                 "is the dependency no n-gram of order 6 can see.", best_l, best_h, 100 * best, gap, p[cand[right]], wrong);
    else
        snprintf(note, sizeof note, "Notice: no head puts more than %.0f%% of this position's attention on the marker. The "
                 "next token is the agreeing closer with probability %.3f, one of the three others with %.3g: the class "
                 "reaches this position through other positions' states, if at all.", 100 * best, p[cand[right]], wrong);
    print_note(stdout, note);
    putchar('\n');
    char title[160];
    snprintf(title, sizeof title, "Block %d, head %d: attention weights (row: query, column: key)", best_l, best_h);
    HeatPanel panel = {"attention", title, &m->cache[best_l].attn.weights[best_h], (const char *const *)labels,
                       (const char *const *)labels, "key (the token looked at)", "query", HEAT_WEIGHTS};
    plot_heatmaps(&ch->plot, "attention", "The trained GPT on a long-gap sentence", &panel, 1);
    for (int t = 0; t < len; t++) free(labels[t]);
    free(labels), free(ids);
}

/* ==== 10. Samples ==== */

/* A token and its logit, sorted by logit (descending), ties by id: the order a stable sort gives. */
typedef struct {
    float logit;
    int id;
} LogitRank;

static int by_logit_descending(const void *a, const void *b) {
    const LogitRank *x = a, *y = b;
    if (x->logit != y->logit) return x->logit < y->logit ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Draw a token from logits (V) with temperature (0: the most likely), top-k (0: all) and top-p
 * (1: all): keep the k likeliest, then the smallest set of those whose probabilities reach p.
 * Logits that are not finite (finite weights can still overflow: a crafted checkpoint) end the
 * program with one line: there is no distribution to draw from. */
static int sample_token(const float *logits, int V, double temperature, int top_k, double top_p, Rng *rng) {
    int best = -1;
    for (int v = 0; v < V; v++) {
        if (!isfinite(logits[v]))
            die(EXIT_RUNTIME, "the model's output is %g for token %d: its weights overflow; nothing can be sampled from it",
                (double)logits[v], v);
        if (v != VOCAB_BOS && (best < 0 || logits[v] > logits[best])) best = v;
    }
    if (temperature <= 0) return best;
    LogitRank *order = xmalloc(sizeof(LogitRank) * (size_t)V);
    double *p = xmalloc(sizeof(double) * (size_t)V);
    int n = 0;
    for (int v = 0; v < V; v++)
        if (v != VOCAB_BOS) order[n++] = (LogitRank){logits[v], v};
    qsort(order, (size_t)n, sizeof *order, by_logit_descending); /* V is thousands for Chinese characters */
    if (top_k > 0 && top_k < n) n = top_k;
    double z = 0;
    for (int i = 0; i < n; i++) z += p[i] = exp(((double)order[i].logit - logits[best]) / temperature);
    double acc = 0;
    int keep = n;
    for (int i = 0; i < n; i++) {
        acc += p[i] / z;
        if (acc >= top_p) { keep = i + 1; break; }
    }
    double zk = 0;
    for (int i = 0; i < keep; i++) zk += p[i];
    double u = (double)rng_uniform(rng) * zk, c = 0;
    int pick = order[keep - 1].id;
    for (int i = 0; i < keep; i++) {
        c += p[i];
        if (u < c) { pick = order[i].id; break; }
    }
    free(order), free(p);
    return pick;
}

/* Text written token by token with the key/value cache. text[0 .. len) holds the ids so far (the
 * first is the </s> every line follows, then any prompt); the cache holds text[fed - kv.len .. fed).
 * When the context is full the window slides: the cache restarts from the last half of the text,
 * and from then on the model no longer sees the beginning. */
typedef struct {
    KvCache kv;
    int *text;  /* (cap) */
    long len, cap, fed;
    int slides; /* times the window slid */
} Writer;

static void writer_init(Writer *w, const Model *m, long cap) {
    kv_init(&w->kv, m);
    w->text = xmalloc(sizeof(int) * (size_t)cap);
    w->text[0] = VOCAB_EOS;
    w->len = 1, w->cap = cap, w->fed = 0, w->slides = 0;
}

static void writer_free(Writer *w) {
    kv_free(&w->kv);
    free(w->text);
}

/* Feed what the cache has not seen (sliding when it would overflow), sample the next token, append
 * it and return it. */
static int writer_next(Writer *w, Chapter *ch, Rng *rng) {
    Model *m = &ch->model;
    const int T = m->cfg.max_len;
    CHECK(w->len < w->cap, "writer_next: the text is full");
    if (w->len - w->fed > w->kv.max_len - w->kv.len || w->kv.len == w->kv.max_len) { /* full: the recent half */
        w->kv.len = 0;
        w->fed = w->len - T / 2 > 0 ? w->len - T / 2 : 0;
        w->slides++;
    }
    while (w->fed < w->len) model_step(m, &w->kv, w->text[w->fed++]);
    const int tok = sample_token(w->kv.logits.data, m->cfg.vocab, ch->temperature, (int)ch->top_k, ch->top_p, rng);
    w->text[w->len++] = tok;
    return tok;
}

enum { SAMPLE_MAX_TOKENS = 200 }; /* a sampled line stops at </s> or here */

/* On real text, under each sampled line: the best n-gram's sample of exactly as many tokens (its </s>
 * not drawn), so that the two read side by side at the same length. */
static void ngram_beside(Chapter *ch, const Results *r, int n_tokens, Rng *rng) {
    if (ch->data.synthetic || n_tokens == 0) return;
    int *ids = xmalloc(sizeof(int) * (size_t)n_tokens);
    const int len = ngram_sample(&r->ng, r->ngram_smoothing, r->ngram_order, rng, n_tokens, true, ids);
    char *text = corpus_decode(ch->vocab, ids, len, ch->level);
    printf("    %-7s %s\n", "n-gram", text);
    free(text), free(ids);
}

static const char *smoothing_long_name(Smoothing s) { return s == SMOOTH_MKN ? "modified Kneser-Ney" : "Kneser-Ney"; }

/* ---- On Chinese text: the form of the verse (issue 18: the poems) ---- */

enum { VERSE_LINES = 200 }; /* lines each model writes to be measured */

/* The code point of the UTF-8 character at *s; *s moves past it. */
static uint32_t utf8_next(const char **s) {
    const unsigned char *p = (const unsigned char *)*s;
    const int len = p[0] >= 0xF0 ? 4 : p[0] >= 0xE0 ? 3 : p[0] >= 0xC0 ? 2 : 1;
    uint32_t c = len == 1 ? p[0] : p[0] & (0x7F >> len);
    int i = 1;
    for (; i < len && (p[i] & 0xC0) == 0x80; i++) c = c << 6 | (p[i] & 0x3F);
    *s += i;
    return c;
}

/* A Chinese character: the CJK unified ideographs (and extension A, B and later) and the
 * compatibility ideographs; punctuation, digits and letters are not. */
static bool is_han(uint32_t c) {
    return (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x20000 && c <= 0x3FFFF);
}

/* Chinese text: at least half the characters of the validation lines that are not spaces are Chinese. */
static bool chinese_text(const Chapter *ch) {
    long han = 0, visible = 0;
    for (int i = 0; i < ch->data.n_val; i++)
        for (const char *s = ch->data.val_lines[i]; *s;) {
            const uint32_t c = utf8_next(&s);
            visible += c != ' ' && c != 0x3000 && c != 0xA0 && c != '\t';
            han += is_han(c);
        }
    return visible > 0 && 2 * han >= visible;
}

/* Count one line: its verses (runs of Chinese characters), those of 5 or 7, and its tokens
 * ids[0..n) that never occur in the training text (seen, indexed by id; <unk> is never seen). */
static void verse_count(VerseCount *v, const char *line, const int *ids, long n, const bool *seen) {
    int run = 0;
    for (const char *s = line;;) {
        const bool end = *s == '\0';
        if (!end && is_han(utf8_next(&s))) {
            run++;
            continue;
        }
        if (run > 0) v->verses++, v->regular += run == 5 || run == 7;
        run = 0;
        if (end) break;
    }
    v->lines++, v->chars += n;
    for (long t = 0; t < n; t++) v->unseen += !seen[ids[t]];
}

static double share(long part, long whole) { return whole > 0 ? 100.0 * (double)part / (double)whole : 0; }

/* VERSE_LINES lines from the GPT (the sampling flags of section 10) and from the best n-gram, each
 * until its </s> (or 200 tokens), and the validation lines, measured alike; printed as a table. */
static void verse_measure(Chapter *ch, Results *r, const bool *seen) {
    Rng rng, ngram_rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 16);
    rng_seed(&ngram_rng, (uint64_t)ch->common.seed, 17);
    int ids[SAMPLE_MAX_TOKENS];
    for (int i = 0; i < VERSE_LINES; i++) {
        Writer w;
        writer_init(&w, &ch->model, SAMPLE_MAX_TOKENS + 2);
        bool ended = false;
        while (!ended && w.len - 1 < SAMPLE_MAX_TOKENS) ended = writer_next(&w, ch, &rng) == VOCAB_EOS;
        const long n = w.len - 1 - ended;
        char *text = corpus_decode(ch->vocab, w.text + 1, n, ch->level);
        verse_count(&r->verses[0], text, w.text + 1, n, seen);
        free(text);
        writer_free(&w);
        const int m = ngram_sample(&r->ng, r->ngram_smoothing, r->ngram_order, &ngram_rng, SAMPLE_MAX_TOKENS, false, ids);
        text = corpus_decode(ch->vocab, ids, m, ch->level);
        verse_count(&r->verses[1], text, ids, m, seen);
        free(text);
    }
    for (int i = 0; i < ch->data.n_val; i++) {
        const long start = ch->data.val_line_start[i], n = ch->data.val_line_start[i + 1] - start - 1;
        verse_count(&r->verses[2], ch->data.val_lines[i], ch->data.val.id + start, n, seen);
    }
}

static void verse_form(Chapter *ch, Results *r) {
    if (ch->level != LEVEL_CHAR || !chinese_text(ch)) return;
    bool *seen = xcalloc((size_t)ch->cfg.vocab, sizeof(bool));
    for (long t = 0; t < ch->data.train.n; t++) seen[ch->data.train.id[t]] = true;
    seen[VOCAB_UNK] = false; /* <unk> stands for characters the vocabulary lacks */
    verse_measure(ch, r, seen);
    free(seen);
    r->verse = true;
    const VerseCount *v = r->verses;
    char head[64];
    snprintf(head, sizeof head, "n-gram (n = %d, %s)", r->ngram_order, smoothing_name[r->ngram_smoothing]);
    printf("\n  The form of the verse (the text is Chinese): %d lines written by each model until its </s>,\n"
           "  against the %d validation lines. A verse is a run of Chinese characters between punctuation\n"
           "  marks: a line of the Tang poems is a couplet, two verses of 5 or 7 characters each.\n\n",
           VERSE_LINES, ch->data.n_val);
    printf("    %-36s %10s %22s %12s\n", "", "GPT", head, "validation");
    printf("    %-36s %10ld %22ld %12ld\n", "verses", v[0].verses, v[1].verses, v[2].verses);
    printf("    %-36s %9.1f%% %21.1f%% %11.1f%%\n", "verses of 5 or 7 characters", share(v[0].regular, v[0].verses),
           share(v[1].regular, v[1].verses), share(v[2].regular, v[2].verses));
    printf("    %-36s %10ld %22ld %12ld\n", "characters", v[0].chars, v[1].chars, v[2].chars);
    printf("    %-36s %9.1f%% %21.1f%% %11.1f%%\n", "never seen in the training text", share(v[0].unseen, v[0].chars),
           share(v[1].unseen, v[1].chars), share(v[2].unseen, v[2].chars));
    printf("    %-36s %10.4f %22.4f %12s\n", "validation loss (nats per character)", r->gpt, r->ngram, "");
    const double g = share(v[0].regular, v[0].verses), n = share(v[1].regular, v[1].verses), real = share(v[2].regular, v[2].verses);
    const double gu = share(v[0].unseen, v[0].chars), nu = share(v[1].unseen, v[1].chars);
    char note[700];
    snprintf(note, sizeof note, "Notice: %.1f%% of the GPT's verses have 5 or 7 characters, %s the n-gram's %.1f%% "
             "(the real lines: %.1f%%); %.1f%% of its characters never occur in the training text, %s the n-gram's "
             "%.1f%%; and its validation loss is %.1f%% %s the n-gram's. %s", g, g > n ? "more than" : g < n ? "fewer than" : "as many as",
             n, real, gu, gu < nu ? "fewer than" : gu > nu ? "more than" : "as many as", nu, fabs(100 * (r->gpt / r->ngram - 1)),
             r->gpt < r->ngram ? "below" : "above",
             g > n && r->gpt < r->ngram ? "The GPT keeps the form of the verse better than counting does, and predicts the real poems better."
             : g > n ? "The GPT keeps the form better, but could not predict the real poems better than counting."
             : r->gpt < r->ngram ? "The GPT predicts the real poems better, but could not keep their form better than counting."
             : "On this run the GPT could not show that it writes or predicts verse better than counting.");
    print_note(stdout, note);
}

static void section_10_samples(Chapter *ch, Results *r) {
    const int T = ch->cfg.max_len;
    print_section(stdout, 10, "Text sampled from the model");
    printf("  %lld lines, each started after a </s> and written until the model writes </s> (temperature %g,\n"
           "  top-k %lld, top-p %g). A line longer than the context (%d tokens) slides the window: the\n"
           "  model then writes on without seeing the line's start; such lines are marked [slid].\n\n",
           ch->sample, ch->temperature, ch->top_k, ch->top_p, T);
    if (!ch->data.synthetic && ch->sample > 0)
        printf("  Each GPT line is followed by as many tokens from section 6's best n-gram, the one that\n"
               "  predicts the validation text best: n = %d, %s.\n\n", r->ngram_order, smoothing_long_name(r->ngram_smoothing));
    Rng rng, ngram_rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 11);
    rng_seed(&ngram_rng, (uint64_t)ch->common.seed, 12);
    const bool judge = ch->data.synthetic && ch->level != LEVEL_WORD; /* lines decoded as written */
    int grammatical = 0, agree = 0, finished = 0, slid = 0, slid_agree = 0;
    for (long i = 0; i < ch->sample; i++) {
        Writer w;
        writer_init(&w, &ch->model, SAMPLE_MAX_TOKENS + 2);
        bool ended = false;
        while (!ended && w.len - 1 < SAMPLE_MAX_TOKENS) ended = writer_next(&w, ch, &rng) == VOCAB_EOS;
        const long n = w.len - 1 - ended; /* the line's tokens, without the </s> around it */
        char *text = corpus_decode(ch->vocab, w.text + 1, (int)n, ch->level);
        printf("    %s%s%s%s\n", ch->data.synthetic ? "" : "GPT     ", text, w.slides ? "   [slid]" : "",
               ended ? "" : "   [no </s> within 200 tokens]");
        ngram_beside(ch, r, (int)n, &ngram_rng);
        finished += ended, slid += ended && w.slides > 0;
        if (judge && ended) {
            grammatical += isfinite(synth_score_line(text));
            const char *last = strrchr(text, ' ');
            const bool agrees = last && strchr("zxqv", text[0]) && text[0] && last[1] == text[0];
            agree += agrees, slid_agree += agrees && w.slides;
        }
        free(text);
        writer_free(&w);
    }
    verse_form(ch, r);
    if (!judge || ch->sample == 0) return;
    printf("\n  %d of %lld lines ended with </s>; of those, %d parse under the grammar and %d have the closer\n"
           "  that agrees with their marker (chapter 1's n-gram: 25%% by chance).\n", finished, ch->sample, grammatical, agree);
    if (slid)
        printf("  %d of them grew longer than the context, so the window slid past their start; %d of those agree.\n",
               slid, slid_agree);
}

/* ==== 11. The §4.2 mask, trained ==== */

enum { LEAK_STEPS = 300, LEAK_SAMPLES = 4, LEAK_EVAL_TOKENS = 4096 };

/* Windows of the stream at `starts`, reversed: §4.2's mask (query i sees keys i..T-1) is the causal
 * mask read right to left. Position k holds x[start + T-1-k] and its target is the token after it
 * in the text, x[start + T-k], which sits at position k-1: in plain sight. */
static void reversed_window(const int *ext, long start, int T, int *ids, int *tg) {
    for (int k = 0; k < T; k++) ids[k] = ext[start + T - 1 - k], tg[k] = ext[start + T - k];
}

/* What the leaky model can do when it generates: position t sees only itself under §4.2's mask (the
 * tokens after it are not written yet), so P(x_t+1 | x_t) is all it has. Mean over the first
 * LEAK_EVAL_TOKENS validation predictions, 16 one-token sequences at a time. */
static double leak_generation_loss(Model *m, const int *ext, long n_ext) {
    const int B = m->max_batch;
    const long n = n_ext - 1 < LEAK_EVAL_TOKENS ? n_ext - 1 : LEAK_EVAL_TOKENS;
    double total = 0;
    int ids[1024], tg[1024];
    for (long i = 0; i < n; i += B) {
        const int b = (int)(n - i < B ? n - i : B);
        for (int k = 0; k < b; k++) ids[k] = ext[i + k], tg[k] = ext[i + k + 1];
        total += model_forward(m, ids, tg, b, 1) * b;
    }
    return total / (double)n;
}

static void section_11_leak(Chapter *ch, const Results *r) {
    const int B = (int)ch->tf.batch, T = ch->cfg.max_len;
    const long steps = ch->tf.steps < LEAK_STEPS ? (long)ch->tf.steps : LEAK_STEPS;
    print_section(stdout, 11, "The source's mask (§4.2), trained for real");
    printf("  §4.2 writes the mask as M[i][j] = -inf where i > j, the transpose of the causal mask: position\n"
           "  i then sees positions i .. T-1, its own future (chapter 4, section 7). Read right to left, that\n"
           "  is the causal mask, so a model with §4.2's mask is this chapter's model fed each window reversed\n"
           "  (its positions then count from the window's end). Trained for %ld steps, same sizes and rate:\n\n", steps);
    if (steps < 1) {
        printf("  (--steps 0: the chapter's model was not trained, so neither is this one; nothing to compare)\n");
        return;
    }
    Model leak;
    model_init(&leak, &ch->cfg, B, (uint64_t)ch->common.seed);
    AdamW opt;
    adamw_init(&opt, leak.n_params, 0.9f, 0.95f, 1e-8f, (float)ch->tf.weight_decay);
    Schedule sched = options_schedule(&ch->tf); /* the flags' rate, end and clipping, over this run's steps */
    sched.steps = steps, sched.warmup = ch->tf.warmup < steps / 10 ? (long)ch->tf.warmup : steps / 10;
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 14);
    double first = 0, last = 0;
    const long tail = steps < 50 ? steps : 50;
    for (long s = 1; s <= steps; s++) {
        for (int b = 0; b < B; b++)
            reversed_window(ch->train_ext, (long)rng_below(&rng, (uint32_t)(ch->n_train_ext - T)), T, ch->ids + b * T, ch->tg + b * T);
        const double loss = train_step(&leak, &opt, ch->ids, ch->tg, B, T, s, &sched);
        if (s == 1) first = loss;
        if (s > steps - tail) last += loss / (double)tail;
    }
    double seen = 0; /* validation, with the future in sight as in training: B windows */
    const long room = ch->n_val_ext - T;
    for (int b = 0; b < B && room > 0; b++) reversed_window(ch->val_ext, room * b / B, T, ch->ids + b * T, ch->tg + b * T);
    if (room > 0) seen = model_forward(&leak, ch->ids, ch->tg, B, T);
    const double blind = leak_generation_loss(&leak, ch->val_ext, ch->n_val_ext);
    printf("    %-62s %8.4f\n", "training loss, step 1", first);
    char label[64];
    snprintf(label, sizeof label, "training loss, mean of the last %ld steps", tail);
    printf("    %-62s %8.4f\n", label, last);
    printf("    %-62s %8.4f\n", "validation loss, the future in sight (as in training)", seen);
    printf("    %-62s %8.4f\n", "validation loss, predicting from the past (as when generating)", blind);
    printf("    %-62s %8.4f\n", "this chapter's causal model (section 6)", r->gpt);
    if (!isnan(ch->data.floor_nats)) printf("    %-62s %8.4f\n", "the true process (the floor)", ch->data.floor_nats);
    printf("\n  Lines it writes (each token from the one before it: when generating, the future is not there):\n");
    Rng srng;
    rng_seed(&srng, (uint64_t)ch->common.seed, 15);
    int parsed = 0;
    for (int i = 0; i < LEAK_SAMPLES; i++) {
        int line[SAMPLE_MAX_TOKENS], n = 0, tok = VOCAB_EOS;
        while (n < SAMPLE_MAX_TOKENS) {
            model_forward(&leak, &tok, NULL, 1, 1);
            tok = sample_token(leak.logits.data, ch->cfg.vocab, ch->temperature, (int)ch->top_k, ch->top_p, &srng);
            if (tok == VOCAB_EOS) break;
            line[n++] = tok;
        }
        char *text = corpus_decode(ch->vocab, line, n, ch->level);
        printf("    %.100s%s\n", n ? text : "(an empty line: </s> came first)", n == SAMPLE_MAX_TOKENS ? "   [no </s> within 200 tokens]" : "");
        if (ch->data.synthetic && ch->level == LEVEL_CHAR && n < SAMPLE_MAX_TOKENS) parsed += isfinite(synth_score_line(text));
        free(text);
    }
    char note[600];
    const double bar = isnan(ch->data.floor_nats) ? r->ngram : ch->data.floor_nats;
    char lines_note[120] = "";
    if (ch->data.synthetic && ch->level == LEVEL_CHAR)
        snprintf(lines_note, sizeof lines_note, "; %d of its %d lines parse under the grammar", parsed, LEAK_SAMPLES);
    if (last < 0.5 * bar && blind > r->gpt)
        snprintf(note, sizeof note, "Notice: the training loss fell to %.4f, far below %s (%.4f), which no model "
                 "predicting honestly can beat: the model reads the answer, which the mask leaves in sight. Asked to "
                 "predict as it must when it writes, it scores %.4f, worse than the causal model's %.4f%s.", last,
                 isnan(ch->data.floor_nats) ? "the best n-gram" : "the floor", bar, blind, r->gpt, lines_note);
    else
        snprintf(note, sizeof note, "Notice: in %ld steps the leak did not show clearly (training loss %.4f against %.4f, "
                 "predicting from the past %.4f against the causal model's %.4f%s): train longer.", steps, last, bar, blind,
                 r->gpt, lines_note);
    print_note(stdout, note);
    adamw_free(&opt);
    model_free(&leak);
}

/* ==== 12. The key/value cache ==== */

enum { TIMING_REPEATS = 9 }; /* --timing: each time is the median of this many measurements */

static double seconds_between(const struct timespec *a, const struct timespec *b) {
    return (double)(b->tv_sec - a->tv_sec) + 1e-9 * (double)(b->tv_nsec - a->tv_nsec);
}

static int compare_doubles(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of n measurements (sorted in place). */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof(double), compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void section_12_cache(Chapter *ch) {
    Model *m = &ch->model;
    const int T = ch->cfg.max_len, R = ch->timing ? TIMING_REPEATS : 1;
    print_section(stdout, 12, "Generation with a key/value cache");
    printf("  Each new token needs the keys and values of all earlier positions. Without a cache the whole\n"
           "  prefix is recomputed (a forward pass of t tokens for token t); with one, only the new row is.\n");
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 12);
    int *ids = xmalloc(sizeof(int) * (size_t)T);
    KvCache kv;
    kv_init(&kv, m);
    ids[0] = VOCAB_EOS;
    double worst = 0, cached[TIMING_REPEATS], full[TIMING_REPEATS];
    double *t_cached = xmalloc(sizeof(double) * (size_t)T), *t_full = xmalloc(sizeof(double) * (size_t)T), *xs = xmalloc(sizeof(double) * (size_t)T);
    for (int t = 0; t < T; t++) {
        for (int r = 0; r < R; r++) { /* a repeat writes row t of the cache again: the same numbers */
            struct timespec a, b, c;
            kv.len = t;
            clock_gettime(CLOCK_MONOTONIC, &a);
            model_step(m, &kv, ids[t]);
            clock_gettime(CLOCK_MONOTONIC, &b);
            model_forward(m, ids, NULL, 1, t + 1); /* uncached: the whole prefix again */
            clock_gettime(CLOCK_MONOTONIC, &c);
            cached[r] = 1e6 * seconds_between(&a, &b), full[r] = 1e6 * seconds_between(&b, &c);
        }
        t_cached[t] = median(cached, R), t_full[t] = median(full, R), xs[t] = t;
        Tensor last = tensor_row(&m->logits, t), row = tensor_row(&kv.logits, 0);
        worst = fmax(worst, tensor_max_abs_diff(&last, &row));
        if (t + 1 < T) ids[t + 1] = sample_token(kv.logits.data, m->cfg.vocab, 1.0, 0, 1.0, &rng);
    }
    printf("\n  %d tokens generated; largest difference between cached and uncached logits: %.3g\n", T, worst);
    if (ch->timing) {
        printf("\n  time per token, the median of %d measurements (microseconds; varies with the machine and its\n"
               "  load):\n  %8s %10s %10s\n", R, "position", "cached", "uncached");
        for (int t = 0; t < T; t += T / 8 > 0 ? T / 8 : 1) printf("  %8d %10.1f %10.1f\n", t, t_cached[t], t_full[t]);
        LineSeries s[2] = {{"with the key/value cache", t_cached, false}, {"recomputing the prefix", t_full, false}};
        char ylabel[80];
        snprintf(ylabel, sizeof ylabel, "microseconds per token, median of %d (log scale)", R);
        LineAxes ax = {"position of the new token", ylabel, false, true};
        putchar('\n');
        plot_lines(&ch->plot, "generation_time", "Time per generated token", &ax, xs, T, s, 2);
    } else {
        printf("  (--timing prints and plots the time per token against the position for both)\n");
    }
    kv_free(&kv);
    free(ids), free(t_cached), free(t_full), free(xs);
}

/* ==== 13. Checkpoint ==== */

static void section_13_checkpoint(Chapter *ch) {
    print_section(stdout, 13, "Checkpoint");
    if (!ch->save) {
        printf("  (--save FILE keeps the trained model: format in README.md, section Checkpoints)\n");
        return;
    }
    checkpoint_save(ch->save, &ch->model, ch->vocab, ch->level, &ch->opt, &ch->ts);
    struct stat st;
    stat(ch->save, &st);
    printf("  wrote %s (%lld bytes): configuration, vocabulary, %zu parameters, AdamW's moments, the\n"
           "  data sampler's state. Resume with --load %s --steps N; generate with --load %s --generate N.\n",
           ch->save, (long long)st.st_size, ch->model.n_params, ch->save, ch->save);
}

/* ==== 14. Summary ==== */

static void section_14_summary(Chapter *ch, const Results *r) {
    print_section(stdout, 14, "Summary");
    printf("corpus: %s\nlevel: %s\nparameters: %zu\nsteps: %ld\n", ch->data.synthetic ? "synthetic" : ch->data_flags.corpus_path,
           level_name(ch->level), ch->model.n_params, ch->ts.steps_done);
    printf("validation_loss: %.6g\nvalidation_perplexity: %.6g\nngram_loss: %.6g\n", r->gpt, exp(r->gpt), r->ngram);
    const double to_bpc = (double)ch->data.val.n / r->val_chars / log(2.0);
    printf("validation_bits_per_char: %.6g\nngram_bits_per_char: %.6g\n", r->gpt * to_bpc, r->ngram * to_bpc);
    printf("validation_bits_per_byte: %.6g\nngram_bits_per_byte: %.6g\n", dataset_bits_per_byte(&ch->data, r->gpt),
           dataset_bits_per_byte(&ch->data, r->ngram));
    if (!isnan(ch->data.floor_nats)) printf("true_loss: %.6g\n", ch->data.floor_nats);
    if (r->verse) {
        const char *who[3] = {"gpt", "ngram", "validation"};
        for (int i = 0; i < 3; i++)
            printf("verses_5_or_7_%s: %.4g\nunseen_chars_%s: %.4g\n", who[i], share(r->verses[i].regular, r->verses[i].verses) / 100,
                   who[i], share(r->verses[i].unseen, r->verses[i].chars) / 100);
    }
}

/* ==== using a trained model alone: --load with --eval or --generate ==== */

/* A synthetic-language line ending in a closer ("zo ... ze."): the byte offset of the closer's
 * letter, or -1. The closer that agrees is the one whose letter starts the line (the marker's). */
static int closer_at(const char *line) {
    const size_t n = strlen(line);
    const char *letters = synth_closer_letters();
    if (n < 5 || !strchr(letters, line[0]) || strcmp(line + n - 2, "e.") != 0 || line[n - 4] != ' ') return -1;
    return strchr(letters, line[n - 3]) ? (int)n - 3 : -1;
}

/* ln P of one line of text, read alone after a </s>; *n_tokens its tokens. */
static double text_logprob(Chapter *ch, const char *line, long *n_tokens) {
    TokenStream s;
    corpus_encode(&s, ch->vocab, (char **)&line, 1, ch->level, false);
    const double lp = line_logprob(&ch->model, s.id, (int)s.n - 1, NULL); /* without its </s> */
    if (n_tokens) *n_tokens = s.n - 1;
    token_stream_free(&s);
    return lp;
}

/* --load FILE with --eval TEXTFILE: every line's probability, read alone, then the whole text's loss
 * as section 6 measures it; on lines of the synthetic language, which closer the model prefers. */
static void eval_file(Chapter *ch) {
    char *text = corpus_read_file(ch->eval_path, NULL);
    Lines lines;
    lines_split(&lines, text);
    free(text);
    if (lines.n == 0) die(EXIT_RUNTIME, "%s has no line with text in it", ch->eval_path);
    printf("%s, line by line, each read alone after a </s> (nats: -ln P(line </s>); bits per character\n"
           "count the line end as one; closer: for a line of the synthetic language, the closer the model\n"
           "prefers when the four are swapped in, and whether it agrees with the marker):\n\n", ch->eval_path);
    printf("  %5s %7s %10s %10s %8s  %s\n", "line", "tokens", "nats", "bits/char", "closer", "text");
    const char *letters = synth_closer_letters();
    int judged = 0, agreed = 0, long_judged = 0;
    for (int i = 0; i < lines.n; i++) {
        long n;
        const double lp = text_logprob(ch, lines.line[i], &n);
        if (!isfinite(lp)) /* finite weights can still overflow (a crafted checkpoint): no loss to report */
            die(EXIT_RUNTIME, "%s: the model gives line %d of %s a log-probability of %g: its weights overflow", ch->load,
                i + 1, ch->eval_path, lp);
        char pick[16] = "";
        const int at = closer_at(lines.line[i]);
        if (at >= 0) {
            char *variant = xstrdup(lines.line[i]);
            int best = 0;
            double best_lp = -INFINITY;
            for (int c = 0; c < SYNTH_CLASSES; c++) {
                variant[at] = letters[c];
                const double v = text_logprob(ch, variant, NULL);
                if (v > best_lp) best_lp = v, best = c;
            }
            free(variant);
            const bool agrees = letters[best] == lines.line[i][0];
            snprintf(pick, sizeof pick, "%ce %s", letters[best], agrees ? "yes" : "no");
            judged++, agreed += agrees, long_judged += n + 1 > ch->cfg.max_len;
        }
        printf("  %5d %7ld %10.4f %10.4f %8s  %.40s%s\n", i + 1, n, -lp, -lp / log(2.0) / (double)(utf8_chars(lines.line[i]) + 1),
               pick, lines.line[i], strlen(lines.line[i]) > 40 ? "..." : "");
    }
    TokenStream s;
    corpus_encode(&s, ch->vocab, lines.line, lines.n, ch->level, false);
    long n_ext, chars = 0;
    for (int i = 0; i < lines.n; i++) chars += utf8_chars(lines.line[i]) + 1;
    int *ext = token_stream_with_eos(&s, &n_ext);
    const double loss = evaluate(&ch->model, ext, n_ext, NULL);
    printf("\n%s: %d lines, %ld tokens (%ld not in the vocabulary), loss %.4f nats per token, perplexity %.4f;\n"
           "%ld characters: %.4f bits per character (the lines read one after another, as in section 6)\n",
           ch->eval_path, lines.n, s.n, s.n_oov, loss, exp(loss), chars, loss * (double)s.n / (double)chars / log(2.0));
    if (judged)
        printf("closers: with the four swapped in, the model prefers the one that agrees with the marker in %d of %d lines\n",
               agreed, judged);
    if (long_judged)
        printf("(%d of those lines are longer than the context of %d tokens: scored in windows, their closer is\n"
               "predicted without the marker in sight)\n", long_judged, ch->cfg.max_len);
    free(ext);
    token_stream_free(&s);
    lines_free(&lines);
}

/* The whole prompt in the model's vocabulary (unknown tokens become <unk>; BPE: the stored merges)
 * after a </s>; *len is its length with the </s>. */
static int *encode_prompt(const Chapter *ch, const char *prompt, long *len) {
    int *ids;
    const long k = corpus_encode_text(ch->vocab, prompt, ch->level, &ids);
    int *out = xmalloc(sizeof(int) * (size_t)(k + 1));
    out[0] = VOCAB_EOS;
    memcpy(out + 1, ids, sizeof(int) * (size_t)k);
    free(ids);
    *len = k + 1;
    return out;
}

/* --generate N: N tokens after the prompt, printed as they come. A prompt longer than the context
 * slides the window at once (the writer keeps its last T/2 tokens): said on stderr, never cut
 * silently. */
static void generate(Chapter *ch, const char *prompt, long n, Rng *rng, FILE *out) {
    const int T = ch->cfg.max_len;
    long len;
    int *ids = encode_prompt(ch, prompt ? prompt : "", &len);
    Writer w;
    writer_init(&w, &ch->model, len + n + 1);
    memcpy(w.text, ids, sizeof(int) * (size_t)len);
    w.len = len;
    free(ids);
    if (w.len > T)
        fprintf(stderr, "%s: --prompt: %ld tokens, more than the context of %d: generation starts from its last %d\n",
                CHAPTER, w.len - 1, T, T / 2);
    if (prompt && *prompt) {
        char *shown = corpus_decode(ch->vocab, w.text + 1, (int)w.len - 1, ch->level);
        fprintf(out, "%s", shown);
        free(shown);
    }
    long from = w.len; /* BPE: tokens from here on are not printed yet (a character may be cut) */
    for (long i = 0; i < n; i++) {
        const int tok = writer_next(&w, ch, rng);
        if (ch->level == LEVEL_BPE) {
            from += corpus_print_whole(out, ch->vocab, w.text + from, w.len - from, i == n - 1);
            continue;
        }
        char *piece = corpus_decode(ch->vocab, &tok, 1, ch->level);
        fprintf(out, "%s%s", ch->level == LEVEL_WORD && tok != VOCAB_EOS ? " " : "", piece);
        free(piece);
    }
    writer_free(&w);
}

/* --generate with --corpus FILE: the best n-gram of FILE's split (counted in the checkpoint's
 * vocabulary) continues the same prompt for as many tokens, line ends included, so that the two
 * texts read side by side as section 10's lines do. */
static void ngram_generate(Chapter *ch, const char *prompt, long n, Rng *rng, FILE *out) {
    Dataset d;
    char *said = NULL;
    size_t size = 0;
    FILE *log = open_memstream(&said, &size); /* what loading the corpus says: not part of the text */
    if (!log) die(EXIT_RUNTIME, "out of memory");
    ch->data_flags.vocab = &ch->ck.vocab; /* the flags were matched to the checkpoint by use_the_model */
    dataset_load(&d, &ch->data_flags, (uint64_t)ch->common.seed, false, log);
    fclose(log);
    free(said);
    Results r;
    best_ngram(&d, &r);
    long len;
    int *ids = encode_prompt(ch, prompt ? prompt : "", &len);
    int *text = xmalloc(sizeof(int) * (size_t)(len + n)); /* </s>, the prompt, then what is drawn */
    memcpy(text, ids, sizeof(int) * (size_t)len);
    free(ids);
    const long from = len;
    while (len < from + n) { /* a line at a time: a </s> drawn ends it, and the next starts after it */
        const int drawn = ngram_continue(&r.ng, r.ngram_smoothing, r.ngram_order, rng, text, (int)len, (int)(from + n - len),
                                         false, text + len);
        len += drawn;
        if (len < from + n) text[len++] = VOCAB_EOS;
    }
    fprintf(out, "\nThe best n-gram of %s (n = %d, %s,\n%.4f nats per token on its validation lines), the same "
                 "prompt, %ld tokens:\n\n", ch->data_flags.corpus_path, r.ngram_order, smoothing_long_name(r.ngram_smoothing),
            r.ngram, n);
    char *shown = corpus_decode(ch->vocab, text + 1, (int)(len - 1), ch->level);
    fprintf(out, "%s\n", shown);
    free(shown), free(text);
    ngram_free(&r.ng);
    dataset_free(&d);
}

/* ==== the end of a run ==== */

/* Ctrl-C stopped training after a whole step: save with --save, say where it stopped (stderr). */
static void report_interruption(Chapter *ch) {
    if (ch->save) checkpoint_save(ch->save, &ch->model, ch->vocab, ch->level, &ch->opt, &ch->ts);
    fflush(stdout);
    if (ch->save)
        fprintf(stderr, "%s: interrupted after step %ld of %lld; saved %s (resume with --load %s)\n", CHAPTER,
                ch->ts.steps_done, ch->tf.steps, ch->save, ch->save);
    else
        fprintf(stderr, "%s: interrupted after step %ld of %lld; nothing saved (no --save)\n", CHAPTER,
                ch->ts.steps_done, ch->tf.steps);
}

/* Ctrl-C during the sections after training: the same as during it (save with --save, say so,
 * status 130), checked between sections. */
static bool stopped(Chapter *ch) {
    if (!ch->interrupted && interrupt_requested()) {
        ch->interrupted = true;
        report_interruption(ch);
    }
    return ch->interrupted;
}

/* --load with --eval or --generate: the model alone, no training (a corpus only for the n-gram
 * beside --generate, when --corpus is given). */
static int use_the_model(Chapter *ch) {
    /* --level and --vocab-size must agree with the checkpoint here too (exit 2), as when training */
    dataset_flags_from_checkpoint(&ch->data_flags, ch->opts, ch->n_opts, ch->level, ch->vocab, ch->load);
    configure(ch);
    ch->tf.batch = ch->tf.batch < 16 ? ch->tf.batch : 16;
    build_model(ch);
    if (ch->eval_path) eval_file(ch);
    if (ch->generate) {
        Rng rng;
        rng_seed(&rng, (uint64_t)ch->common.seed, 13);
        if (ch->data_flags.corpus_path) printf("The GPT of %s, %lld tokens after the prompt:\n\n", ch->load, ch->generate);
        generate(ch, ch->prompt, ch->generate, &rng, stdout);
        printf("\n");
        if (ch->data_flags.corpus_path) {
            rng_seed(&rng, (uint64_t)ch->common.seed, 14);
            ngram_generate(ch, ch->prompt, ch->generate, &rng, stdout);
        }
    }
    free(ch->ids), free(ch->tg);
    model_free(&ch->model), adamw_free(&ch->opt), checkpoint_free(&ch->ck);
    free(ch->preset_text);
    return 0;
}

/* Whoever allocates frees: everything main's sections made. */
static void chapter_free(Chapter *ch, Curve *curve) {
    free(curve->x), free(curve->train), free(curve->val), free(ch->history);
    free(ch->train_ext), free(ch->val_ext), free(ch->ids), free(ch->tg);
    model_free(&ch->model);
    adamw_free(&ch->opt);
    if (ch->loaded) checkpoint_free(&ch->ck);
    dataset_free(&ch->data);
    free(ch->preset_text);
}

/* ==== the table of contents ==== */

int main(int argc, char **argv) {
    Chapter ch;
    parse_flags(&ch, argc, argv);
    if (ch.load) load_checkpoint(&ch);
    if (ch.load && (ch.eval_path || ch.generate)) return use_the_model(&ch);

    printf("Chapter 10: pre-training a small GPT (source document §2.3.1 and §3.5)\n");
    section_1_corpus(&ch);
    section_2_model(&ch);
    section_3_schedule(&ch);
    Curve curve = curve_new(&ch);
    interrupt_watch();
    section_4_first_steps(&ch, &curve);
    section_5_train(&ch, &curve);
    if (ch.interrupted) {
        report_interruption(&ch);
    } else { /* sections 6 to 14, once training has run to its end */
        Results res;
        measure(&ch, &res);
        if (!stopped(&ch)) section_6_compare(&ch, &curve, &res);
        if (!stopped(&ch)) section_7_chain_rule(&ch, &res);
        if (!stopped(&ch)) section_8_long_range(&ch, &res.ng);
        if (!stopped(&ch)) section_9_attention(&ch);
        if (!stopped(&ch)) section_10_samples(&ch, &res);
        if (!stopped(&ch)) section_11_leak(&ch, &res);
        if (!stopped(&ch)) section_12_cache(&ch);
        if (!stopped(&ch)) section_13_checkpoint(&ch);
        if (!stopped(&ch)) section_14_summary(&ch, &res);
        ngram_free(&res.ng);
    }
    chapter_free(&ch, &curve);
    return ch.interrupted ? EXIT_INTERRUPTED : 0;
}
