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
 *   1 the corpus   2 the model   3 pre-training   4 against the n-gram and the floor
 *   5 the long-range dependency   6 samples   7 the key/value cache   8 checkpoint   9 summary
 * and, with --load, the two ways to use a trained model alone: --eval and --generate.
 *
 * Run: make ch10 && ./ch10_gpt_pretraining                      train with the defaults (~25 s)
 *      ./ch10_gpt_pretraining --save gpt.ckpt                    ... and keep the model
 *      ./ch10_gpt_pretraining --load gpt.ckpt --generate 200     sample from it
 *      ./ch10_gpt_pretraining --load gpt.ckpt --eval text.txt    its loss on a text            */
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

enum { CHAPTER_N_OPTIONS = 11 }; /* the options of this chapter alone: sampling, files, --timing, --preset */

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
    Checkpoint ck;
    bool loaded;
    bool interrupted;         /* Ctrl-C during training: save (with --save) and stop */
    Vocab *vocab;             /* the dataset's or the checkpoint's */
    TokenLevel level;
    int *train_ext, *val_ext; /* the streams with one leading </s>: every line follows a </s> */
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
    o[n++] = cli_string("--eval", &ch->eval_path, "FILE", "with --load: print the loss on a text file, nothing else");
    o[n++] = cli_int("--generate", &ch->generate, 0, 1000000, "N", "with --load: generate N tokens, nothing else");
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
    if ((ch->eval_path || ch->generate) && !ch->load) die(EXIT_USAGE, "--eval and --generate need --load FILE (a trained model)");
    if (!ch->load) options_check_heads(&ch->mf);
    plot_init(&ch->plot, &ch->common, CHAPTER, stdout);
}

/* --load: the checkpoint, which must hold a causal model; its vocabulary and level until the corpus
 * is loaded (then the corpus must give the same vocabulary). */
static void load_checkpoint(Chapter *ch) {
    checkpoint_load(&ch->ck, ch->load);
    if (!ch->ck.cfg.causal)
        die(EXIT_RUNTIME, "%s holds a bidirectional model (chapter 11's masked LM); a GPT is causal", ch->load);
    ch->loaded = true;
    ch->vocab = &ch->ck.vocab;
    ch->level = ch->ck.level;
}

/* ==== 1. The corpus ==== */

static void section_1_corpus(Chapter *ch) {
    print_section(stdout, 1, "The corpus (chapter 1's)");
    if (ch->preset_text) printf("%s\n", ch->preset_text);
    if (ch->loaded) {
        if (options_given(ch->opts, ch->n_opts, "--level") && ch->data_flags.level != (int)ch->level)
            die(EXIT_USAGE, "--level: %s, but the checkpoint %s was trained on %s tokens", level_name(ch->data_flags.level),
                ch->load, level_name(ch->level));
        ch->data_flags.level = ch->level;
    }
    dataset_load(&ch->data, &ch->data_flags, (uint64_t)ch->common.seed, false, stdout);
    if (ch->loaded) { /* resuming: the data must give the same vocabulary */
        bool same = ch->data.vocab.size == ch->ck.vocab.size;
        for (int i = 0; same && i < ch->data.vocab.size; i++) same = strcmp(ch->data.vocab.word[i], ch->ck.vocab.word[i]) == 0;
        if (!same) die(EXIT_RUNTIME, "%s was trained on another vocabulary than this corpus gives (%d words here, %d there)",
                       ch->load, ch->data.vocab.size, ch->ck.vocab.size);
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
    if (!ch->loaded) return;
    memcpy(ch->model.param_mem, ch->ck.params, sizeof(float) * ch->ck.n_params);
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
    printf("  causal attention, %s, %s positions, %s, output tied to the token embedding\n",
           c->norm == NORM_PRE ? "pre-norm" : "post-norm", c->pos == POS_LEARNED ? "learned" : "sinusoidal",
           c->act == ACT_GELU ? "GELU" : "ReLU");
    printf("  parameters: %zu (formula: %ld)\n", ch->model.n_params, model_param_count(c));
    if (ch->loaded) printf("  loaded from %s after %ld training steps\n", ch->load, ch->ts.steps_done);
}

/* ==== 3. Pre-training ==== */

/* Mean cross-entropy (nats) over every token of a stream that follows a leading </s>: windows of T
 * tokens advancing by T/2; each token is scored once, in the first window that reaches it, so
 * every prediction sees at least T/2 tokens of context (or its whole past, at the start). */
static double evaluate(Model *m, const int *ext, long n_ext) {
    const int T = m->cfg.max_len, half = T / 2 > 0 ? T / 2 : 1, Bmax = m->max_batch;
    int *ids = xmalloc(sizeof(int) * (size_t)Bmax * (size_t)T), *tg = xmalloc(sizeof(int) * (size_t)Bmax * (size_t)T);
    double total = 0;
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
    }
    free(ids), free(tg);
    return total / (double)scored;
}

static void one_batch(Chapter *ch, int *ids, int *tg) {
    const int B = (int)ch->tf.batch, T = ch->cfg.max_len;
    for (int b = 0; b < B; b++) { /* a random window of T + 1 tokens: inputs and next tokens */
        const long start = (long)rng_below(&ch->ts.data_rng, (uint32_t)(ch->n_train_ext - T));
        for (int t = 0; t < T; t++) ids[b * T + t] = ch->train_ext[start + t], tg[b * T + t] = ch->train_ext[start + t + 1];
    }
}

typedef struct {
    double *x, *train, *val;
    int n;
} Curve;

static void section_3_train(Chapter *ch, Curve *curve) {
    Model *m = &ch->model;
    const int B = (int)ch->tf.batch, T = ch->cfg.max_len;
    print_section(stdout, 3, "Pre-training: predict every next token");
    printf("  %lld steps of %d random windows of %d tokens; AdamW (betas 0.9, 0.95; weight decay %g on\n"
           "  matrices only); learning rate warmed up over %lld steps to %g, then a cosine down to a\n"
           "  tenth; gradients clipped to a global norm of %g. Loss in nats per token.\n\n",
           ch->tf.steps, B, T, ch->tf.weight_decay, ch->tf.warmup, ch->tf.lr, ch->tf.clip);
    int *ids = xmalloc(sizeof(int) * (size_t)B * (size_t)T), *tg = xmalloc(sizeof(int) * (size_t)B * (size_t)T);
    const int max_points = (int)(ch->tf.steps / ch->tf.eval_every) + 3;
    curve->x = xmalloc(sizeof(double) * (size_t)max_points), curve->train = xmalloc(sizeof(double) * (size_t)max_points);
    curve->val = xmalloc(sizeof(double) * (size_t)max_points);
    curve->n = 0;
    if (ch->ts.steps_done == 0) {
        one_batch(ch, ids, tg);
        const double first = model_forward(m, ids, tg, B, T);
        printf("  at random initialisation: loss %.4f on a batch (ln %d = %.4f: a uniform guess)\n\n", first,
               ch->cfg.vocab, log((double)ch->cfg.vocab));
        rng_seed(&ch->ts.data_rng, (uint64_t)ch->common.seed, 10); /* the same batches as without this look */
        const double v0 = evaluate(m, ch->val_ext, ch->n_val_ext);
        curve->x[curve->n] = 0, curve->train[curve->n] = first, curve->val[curve->n] = v0, curve->n++;
    }
    if (ch->ts.steps_done >= ch->tf.steps) {
        printf("  nothing to train: the checkpoint has done %ld of --steps %lld\n", ch->ts.steps_done, ch->tf.steps);
        free(ids), free(tg);
        return;
    }
    printf("  %8s %12s %12s %12s\n", "step", "train loss", "val loss", "val ppl");
    fflush(stdout); /* training starts here: whoever watches the output (or sends Ctrl-C) can see it */
    Progress prog;
    progress_start(&prog, ch->tf.steps);
    double running = 0;
    long count = 0;
    for (long s = ch->ts.steps_done + 1; s <= ch->tf.steps; s++) {
        one_batch(ch, ids, tg);
        const Schedule sched = options_schedule(&ch->tf);
        const double loss = train_step(m, &ch->opt, ids, tg, B, T, s, &sched);
        ch->ts.steps_done = s;
        running += loss, count++;
        progress_update(&prog, s, loss, (double)B * T);
        if (s % ch->tf.eval_every == 0 || s == ch->tf.steps) {
            const double val = evaluate(m, ch->val_ext, ch->n_val_ext);
            progress_end(&prog);
            printf("  %8ld %12.4f %12.4f %12.4f\n", s, running / count, val, exp(val));
            fflush(stdout);
            curve->x[curve->n] = (double)s, curve->train[curve->n] = running / count, curve->val[curve->n] = val, curve->n++;
            running = 0, count = 0;
        }
        if (interrupt_requested()) { /* Ctrl-C: this step is done; main saves and stops */
            ch->interrupted = true;
            break;
        }
    }
    progress_end(&prog);
    free(ids), free(tg);
}

/* ==== 4. Against the n-gram and the floor ==== */

/* The best n-gram of chapter 1 on this split: every order 1..6 with KN and modified KN. */
static double best_ngram(Chapter *ch, NgramModel *ng, int *best_order) {
    ngram_build(ng, &ch->data.train, ch->data.vocab.size, NGRAM_MAX_ORDER, 1.0);
    double best = INFINITY;
    for (int n = 1; n <= NGRAM_MAX_ORDER; n++)
        for (int s = SMOOTH_KN; s <= SMOOTH_MKN; s++) {
            const double nats = -ngram_score(ng, (Smoothing)s, n, &ch->data.val).log10_sum * log(10.0) / (double)ch->data.val.n;
            if (nats < best) best = nats, *best_order = n;
        }
    return best;
}

static void section_4_compare(Chapter *ch, const Curve *curve, double final, double ngram_nats, int ngram_order) {
    print_section(stdout, 4, "Against chapter 1's n-gram and the true floor");
    printf("  validation cross-entropy (nats per token, every validation token, </s> included):\n");
    printf("    GPT                        %.4f   (perplexity %.4f)\n", final, exp(final));
    printf("    best n-gram (n = %d)        %.4f   (perplexity %.4f)\n", ngram_order, ngram_nats, exp(ngram_nats));
    if (!isnan(ch->data.floor_nats)) {
        printf("    true process (the floor)   %.4f   (perplexity %.4f)\n", ch->data.floor_nats, exp(ch->data.floor_nats));
        const double over = 100 * (final / ch->data.floor_nats - 1);
        printf("\n  The GPT is %.1f%% above the floor (%s 5%%) and %s the best n-gram.\n", over,
               over <= 5 ? "within" : "NOT within", final < ngram_nats ? "below" : "NOT below");
    }
    putchar('\n');
    double *ng = xmalloc(sizeof(double) * (size_t)curve->n), *fl = xmalloc(sizeof(double) * (size_t)curve->n);
    for (int i = 0; i < curve->n; i++) ng[i] = ngram_nats, fl[i] = ch->data.floor_nats;
    LineSeries s[4] = {{"GPT, training loss (mean since the last point)", curve->train, false},
                       {"GPT, validation loss", curve->val, false},
                       {"best n-gram of chapter 1, validation", ng, true},
                       {"true process (the floor)", fl, true}};
    LineAxes ax = {"training step", "cross-entropy (nats per token)", false, false};
    plot_lines(&ch->plot, "loss", "Pre-training a small GPT", &ax, curve->x, curve->n, s, isnan(ch->data.floor_nats) ? 3 : 4);
    free(ng), free(fl);
}

/* ==== 5. The long-range dependency ==== */

static void section_5_long_range(Chapter *ch, NgramModel *ng) {
    print_section(stdout, 5, "The long-range dependency: GPT against the n-gram");
    if (!ch->data.val_synth_index) {
        printf("  This needs the synthetic language (run without --corpus and --val-file).\n");
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
    long far_right = 0, far_seen = 0;
    for (int b = 0; b < GAP_BINS; b++) {
        if (!seen[b]) continue;
        char label[32];
        gap_label(b, label, sizeof label);
        printf("  %9s %8ld %9.0f%% %9.0f%%\n", label, seen[b], 100.0 * right_ng[b] / seen[b], 100.0 * right_gpt[b] / seen[b]);
        x[nx] = gap_center(b), yn[nx] = 100.0 * right_ng[b] / seen[b], yg[nx] = 100.0 * right_gpt[b] / seen[b];
        chance[nx] = 25, nx++;
        if (gap_center(b) > n - 1) far_right += right_gpt[b], far_seen += seen[b];
    }
    char note[400];
    snprintf(note, sizeof note, "Notice: beyond the n-gram's reach (gaps over %d) the GPT picks the right closer "
             "%.1f%% of the time, where the n-gram is at chance: attention looks back to the marker "
             "wherever it is in the context.", n - 1, far_seen ? 100.0 * far_right / far_seen : 0.0);
    print_note(stdout, note);
    putchar('\n');
    LineSeries s[3] = {{"GPT", yg, false}, {"n-gram, n = 6", yn, false}, {"chance", chance, true}};
    LineAxes ax = {"gap between the marker and the closer (tokens)", "closer predicted right (%)", false, false};
    plot_lines(&ch->plot, "long_range", "The long-range agreement: GPT against the n-gram", &ax, x, nx, s, 3);
    free(ids), free(ctx);
}

/* ==== 6. Samples ==== */

/* Draw a token from logits (V) with temperature (0: the most likely), top-k (0: all) and top-p
 * (1: all): keep the k likeliest, then the smallest set of those whose probabilities reach p. */
static int sample_token(const float *logits, int V, double temperature, int top_k, double top_p, Rng *rng) {
    int best = -1;
    for (int v = 0; v < V; v++)
        if (v != VOCAB_BOS && (best < 0 || logits[v] > logits[best])) best = v;
    if (temperature <= 0) return best;
    int *order = xmalloc(sizeof(int) * (size_t)V);
    double *p = xmalloc(sizeof(double) * (size_t)V);
    int n = 0;
    for (int v = 0; v < V; v++)
        if (v != VOCAB_BOS) order[n++] = v;
    for (int i = 1; i < n; i++) { /* sort by logit, descending (insertion sort: V is small) */
        const int v = order[i];
        int j = i;
        while (j > 0 && logits[order[j - 1]] < logits[v]) order[j] = order[j - 1], j--;
        order[j] = v;
    }
    if (top_k > 0 && top_k < n) n = top_k;
    double z = 0;
    for (int i = 0; i < n; i++) z += p[i] = exp(((double)logits[order[i]] - logits[best]) / temperature);
    double acc = 0;
    int keep = n;
    for (int i = 0; i < n; i++) {
        acc += p[i] / z;
        if (acc >= top_p) { keep = i + 1; break; }
    }
    double zk = 0;
    for (int i = 0; i < keep; i++) zk += p[i];
    double u = (double)rng_uniform(rng) * zk, c = 0;
    int pick = order[keep - 1];
    for (int i = 0; i < keep; i++) {
        c += p[i];
        if (u < c) { pick = order[i]; break; }
    }
    free(order), free(p);
    return pick;
}

/* On real text, under each sampled line: the best n-gram's sample of exactly as many tokens (its </s>
 * not drawn), so that the two read side by side at the same length. */
static void ngram_beside(Chapter *ch, const NgramModel *ng, int order, int n_tokens, Rng *rng) {
    if (ch->data.synthetic || n_tokens == 0) return;
    int *ids = xmalloc(sizeof(int) * (size_t)n_tokens);
    const int len = ngram_sample(ng, SMOOTH_MKN, order, rng, n_tokens, true, ids);
    char *text = corpus_decode(ch->vocab, ids, len, ch->level);
    printf("    %-7s %s\n", "n-gram", text);
    free(text), free(ids);
}

static void section_6_samples(Chapter *ch, const NgramModel *ng, int ngram_order) {
    print_section(stdout, 6, "Text sampled from the model");
    printf("  %lld lines, each started after a </s> (temperature %g, top-k %lld, top-p %g):\n\n", ch->sample,
           ch->temperature, ch->top_k, ch->top_p);
    if (!ch->data.synthetic && ch->sample > 0)
        printf("  Each GPT line is followed by the best n-gram's (n = %d, modified Kneser-Ney) of as many tokens.\n\n",
               ngram_order);
    Rng rng, ngram_rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 11);
    rng_seed(&ngram_rng, (uint64_t)ch->common.seed, 12);
    int grammatical = 0, agree = 0;
    for (long i = 0; i < ch->sample; i++) {
        /* one line: generate until </s> or 200 tokens */
        Model *m = &ch->model;
        KvCache kv;
        kv_init(&kv, m);
        int tok = VOCAB_EOS, n = 0, ids[256];
        model_step(m, &kv, tok);
        while (n < 200 && kv.len < kv.max_len) {
            tok = sample_token(kv.logits.data, m->cfg.vocab, ch->temperature, (int)ch->top_k, ch->top_p, &rng);
            if (tok == VOCAB_EOS) break;
            ids[n++] = tok;
            model_step(m, &kv, tok);
        }
        kv_free(&kv);
        char *text = corpus_decode(ch->vocab, ids, n, ch->level);
        printf(ch->data.synthetic ? "    %s\n" : "    GPT     %s\n", text);
        ngram_beside(ch, ng, ngram_order, n, &ngram_rng);
        if (ch->data.synthetic && ch->level == LEVEL_CHAR) {
            grammatical += isfinite(synth_score_line(text));
            const char *last = strrchr(text, ' ');
            agree += last && strchr("zxqv", text[0]) && text[0] && last[1] == text[0];
        }
        free(text);
    }
    if (ch->data.synthetic && ch->level == LEVEL_CHAR && ch->sample > 0)
        printf("\n  Sentences of the language (the grammar parses them): %d of %lld; closer agrees with the\n"
               "  marker: %d of %lld (chapter 1's n-gram: 25%% by chance).\n", grammatical, ch->sample, agree, ch->sample);
}

/* ==== 7. The key/value cache ==== */

static void section_7_cache(Chapter *ch) {
    Model *m = &ch->model;
    const int T = ch->cfg.max_len;
    print_section(stdout, 7, "Generation with a key/value cache");
    printf("  Each new token needs the keys and values of all earlier positions. Without a cache the whole\n"
           "  prefix is recomputed (a forward pass of t tokens for token t); with one, only the new row is.\n");
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 12);
    int *ids = xmalloc(sizeof(int) * (size_t)T);
    KvCache kv;
    kv_init(&kv, m);
    ids[0] = VOCAB_EOS;
    double worst = 0;
    double *t_cached = xmalloc(sizeof(double) * (size_t)T), *t_full = xmalloc(sizeof(double) * (size_t)T), *xs = xmalloc(sizeof(double) * (size_t)T);
    for (int t = 0; t < T; t++) {
        struct timespec a, b, c;
        clock_gettime(CLOCK_MONOTONIC, &a);
        model_step(m, &kv, ids[t]);
        clock_gettime(CLOCK_MONOTONIC, &b);
        model_forward(m, ids, NULL, 1, t + 1); /* uncached: the whole prefix again */
        clock_gettime(CLOCK_MONOTONIC, &c);
        t_cached[t] = 1e6 * ((double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec));
        t_full[t] = 1e6 * ((double)(c.tv_sec - b.tv_sec) + 1e-9 * (double)(c.tv_nsec - b.tv_nsec));
        xs[t] = t;
        Tensor last = tensor_row(&m->logits, t), cached = tensor_row(&kv.logits, 0);
        worst = fmax(worst, tensor_max_abs_diff(&last, &cached));
        if (t + 1 < T) ids[t + 1] = sample_token(kv.logits.data, m->cfg.vocab, 1.0, 0, 1.0, &rng);
    }
    printf("\n  %d tokens generated; largest difference between cached and uncached logits: %.3g\n", T, worst);
    if (ch->timing) {
        printf("\n  time per token (microseconds; varies with the machine and its load):\n  %8s %10s %10s\n",
               "position", "cached", "uncached");
        for (int t = 0; t < T; t += T / 8 > 0 ? T / 8 : 1) printf("  %8d %10.1f %10.1f\n", t, t_cached[t], t_full[t]);
        LineSeries s[2] = {{"with the key/value cache", t_cached, false}, {"recomputing the prefix", t_full, false}};
        LineAxes ax = {"position of the new token", "microseconds per token (log scale)", false, true};
        putchar('\n');
        plot_lines(&ch->plot, "generation_time", "Time per generated token", &ax, xs, T, s, 2);
    } else {
        printf("  (--timing prints and plots the time per token against the position for both)\n");
    }
    kv_free(&kv);
    free(ids), free(t_cached), free(t_full), free(xs);
}

/* ==== 8. Checkpoint ==== */

static void section_8_checkpoint(Chapter *ch) {
    print_section(stdout, 8, "Checkpoint");
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

/* ==== 9. Summary ==== */

static void section_9_summary(Chapter *ch, double final, double ngram_nats) {
    print_section(stdout, 9, "Summary");
    printf("corpus: %s\nlevel: %s\nparameters: %zu\nsteps: %ld\n", ch->data.synthetic ? "synthetic" : ch->data_flags.corpus_path,
           level_name(ch->level), ch->model.n_params, ch->ts.steps_done);
    printf("validation_loss: %.6g\nvalidation_perplexity: %.6g\nngram_loss: %.6g\n", final, exp(final), ngram_nats);
    if (!isnan(ch->data.floor_nats)) printf("true_loss: %.6g\n", ch->data.floor_nats);
}

/* ==== using a trained model alone: --load with --eval or --generate ==== */

/* --load FILE with --eval TEXTFILE: the loss on a text */
static void eval_file(Chapter *ch) {
    char *text = corpus_read_file(ch->eval_path, NULL);
    Lines lines;
    lines_split(&lines, text);
    free(text);
    if (lines.n == 0) die(EXIT_RUNTIME, "%s has no line with text in it", ch->eval_path);
    TokenStream s;
    corpus_encode(&s, ch->vocab, lines.line, lines.n, ch->level, false);
    long n_ext;
    int *ext = token_stream_with_eos(&s, &n_ext);
    const double loss = evaluate(&ch->model, ext, n_ext);
    printf("%s: %d lines, %ld tokens (%ld not in the vocabulary), loss %.4f nats per token, perplexity %.4f\n",
           ch->eval_path, lines.n, s.n, s.n_oov, loss, exp(loss));
    free(ext);
    token_stream_free(&s);
    lines_free(&lines);
}

/* Encode a prompt with the model's vocabulary (unknown tokens become <unk>), after a </s>. */
static int encode_prompt(const Chapter *ch, const char *prompt, int *out, int max) {
    int n = 0;
    out[n++] = VOCAB_EOS;
    char **tok;
    const int k = tokenize_line(prompt, ch->level, &tok);
    for (int i = 0; i < k && n < max; i++) {
        const int id = vocab_find(ch->vocab, tok[i]);
        out[n++] = id < 0 ? VOCAB_UNK : id;
    }
    tokens_free(tok, k);
    return n;
}

/* Generate n tokens after the prompt with the key/value cache, printing the text. When the context
 * is full, the cache restarts from the last half of the text. Returns the generated ids. */
static int *generate(Chapter *ch, const char *prompt, long n, Rng *rng, FILE *out) {
    Model *m = &ch->model;
    const int T = m->cfg.max_len;
    int *text = xmalloc(sizeof(int) * (size_t)(n + T + 1));
    int len = encode_prompt(ch, prompt ? prompt : "", text, T);
    if (prompt && *prompt) {
        char *shown = corpus_decode(ch->vocab, text + 1, len - 1, ch->level);
        fprintf(out, "%s", shown);
        free(shown);
    }
    KvCache kv;
    kv_init(&kv, m);
    int fed = 0; /* tokens of text in the cache */
    for (long i = 0; i < n; i++) {
        if (len - fed > kv.max_len - kv.len || kv.len == kv.max_len) { /* full: restart from the recent half */
            kv.len = 0;
            fed = len - T / 2 > 0 ? len - T / 2 : 0;
        }
        while (fed < len) model_step(m, &kv, text[fed++]);
        const int tok = sample_token(kv.logits.data, m->cfg.vocab, ch->temperature, (int)ch->top_k, ch->top_p, rng);
        text[len++] = tok;
        char *piece = corpus_decode(ch->vocab, &tok, 1, ch->level);
        fprintf(out, "%s%s", ch->level == LEVEL_WORD && tok != VOCAB_EOS ? " " : "", piece);
        free(piece);
    }
    kv_free(&kv);
    return text;
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


/* --load with --eval or --generate: the model alone, no corpus and no training. */
static int use_the_model(Chapter *ch) {
    configure(ch);
    ch->tf.batch = ch->tf.batch < 16 ? ch->tf.batch : 16;
    build_model(ch);
    if (ch->eval_path) eval_file(ch);
    if (ch->generate) {
        Rng rng;
        rng_seed(&rng, (uint64_t)ch->common.seed, 13);
        free(generate(ch, ch->prompt, ch->generate, &rng, stdout));
        printf("\n");
    }
    model_free(&ch->model), adamw_free(&ch->opt), checkpoint_free(&ch->ck);
    free(ch->preset_text);
    return 0;
}

/* Whoever allocates frees: everything main's sections made. */
static void chapter_free(Chapter *ch, Curve *curve) {
    free(curve->x), free(curve->train), free(curve->val);
    free(ch->train_ext), free(ch->val_ext);
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
    Curve curve = {0};
    interrupt_watch();
    section_3_train(&ch, &curve);
    if (ch.interrupted) {
        report_interruption(&ch);
    } else { /* sections 4 to 9, once training has run to its end */
        const double final = evaluate(&ch.model, ch.val_ext, ch.n_val_ext);
        NgramModel ng;
        int ngram_order = 1;
        const double ngram_nats = best_ngram(&ch, &ng, &ngram_order);
        section_4_compare(&ch, &curve, final, ngram_nats, ngram_order);
        section_5_long_range(&ch, &ng);
        section_6_samples(&ch, &ng, ngram_order);
        section_7_cache(&ch);
        section_8_checkpoint(&ch);
        section_9_summary(&ch, final, ngram_nats);
        ngram_free(&ng);
    }
    chapter_free(&ch, &curve);
    return ch.interrupted ? EXIT_INTERRUPTED : 0;
}
