/* ch11_masked_lm: masked language modelling (BERT), source document §2.3.2, §2.3.3 and §3.5.
 *
 *   choose 15% of the positions, M; of those, 80% become [MASK], 10% a random token, 10% stay;
 *   L = -(1/|M|) sum_{i in M} ln P(w_i | the corrupted sequence)
 *
 * A bidirectional Transformer (common/model.c with causal = false) reads the whole corrupted
 * sequence and is scored only where something was chosen. The chapter shows the corruption, the
 * loss by hand, what the model really conditions on (not what §3.5's formula says), trains the
 * masked-LM loss against the denoising loss over all positions with the same budget, and fills in
 * blanks, including ones that only the right-hand context can fill.
 *
 * Sections, in the order they print (main, at the end, is the table of contents):
 *   1 the corpus and [MASK]   2 the corruption   3 the loss by hand   4 what the model conditions on
 *   5 training: masked LM against denoising   6 the right-hand context   7 fill in the blanks
 *   8 checkpoint   9 summary
 *
 * Run: make ch11 && ./ch11_masked_lm [--steps S] [--mask-rate R] [--blanks "_ lemo tak a pel ze ."]
 *                                    [--save FILE] [--load FILE] [--corpus FILE] [--seed S]      */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "interrupt.h"
#include "cli.h"
#include "dataset.h"
#include "model.h"
#include "optim.h"
#include "options.h"
#include "plot.h"
#include "print.h"
#include "progress.h"
#include "train.h"
#include "util.h"

#define CHAPTER "ch11_masked_lm"

enum { CHAPTER_N_OPTIONS = 4 }; /* the options of this chapter alone: --mask-rate, --blanks, --save, --load */

enum { KEEP = MLM_KEEP }; /* the kinds of corruption: common/train.h */

/* The masked LM's and the denoiser's curves over training (section 5): one point per evaluation. */
typedef struct {
    double *x, *loss[2], *acc[2]; /* [0] the masked LM, [1] the denoiser */
    int n;
} Curves;

/* Everything the sections share: the flags, then what the sections build. */
typedef struct {
    /* flags */
    DatasetFlags data_flags;
    CliCommon common;
    ModelFlags mf;           /* the model and training flags, shared with chapter 10 (options.h) */
    TrainFlags tf;
    double mask_rate;
    const char *blanks, *save, *load;
    CliOption opts[DATASET_N_OPTIONS + OPTIONS_N_MODEL + OPTIONS_N_TRAIN + CHAPTER_N_OPTIONS];
    int n_opts;
    /* state */
    Checkpoint ck;           /* --load: the masked LM's checkpoint */
    Dataset data;
    int mask_id, V;          /* [MASK] and the vocabulary size with it */
    int *train_ext, *val_ext;
    long n_train_ext, n_val_ext;
    long *unigram;           /* (V) training counts of each token */
    ModelConfig cfg;
    Model mlm, dae;          /* the masked LM and the denoising auto-encoder (untrained when loaded) */
    Curves cv;               /* all NULL when the model was loaded */
    bool interrupted;        /* Ctrl-C stopped training: which (0 the masked LM, 1 the denoiser), at step */
    int which;
    long step;
    Plotter plot;
} Chapter;

/* ==== the flags ==== */

/* The defaults (chapter 10's model and training flags, with learned positions and 1200 steps),
 * the option table (data, model, training, then this chapter's own), parsing and the checks that
 * need more than one flag. */
static void parse_flags(Chapter *ch, int argc, char **argv) {
    memset(ch, 0, sizeof *ch);
    ch->common = cli_common_defaults();
    ch->data_flags = dataset_flags_default();
    ch->data_flags.level = LEVEL_WORD; /* whole words to fill in, as in BERT */
    ch->mf = options_model_defaults();
    ch->mf.pos = 1; /* learned positions, as in BERT */
    ch->tf = options_train_defaults();
    ch->tf.steps = 1200, ch->tf.eval_every = 200;
    ch->mask_rate = 0.15;
    ch->blanks = "_ lemo tak a pel ze .";
    CliOption *o = ch->opts;
    int n = dataset_cli_options(o, &ch->data_flags);
    n += options_model(o + n, &ch->mf);
    const int train_flags = n;
    n += options_train(o + n, &ch->tf);
    for (int i = train_flags; i < n; i++) /* no resuming here: each model trains for --steps */
        if (strcmp(o[i].name, "--steps") == 0) o[i].min = 1, o[i].help = "training steps of each model";
    o[n++] = cli_real("--mask-rate", &ch->mask_rate, 0.01, 0.9, "R", "share of positions chosen");
    o[n++] = cli_string("--blanks", &ch->blanks, "TEXT", "a line with _ for each blank token to fill");
    o[n++] = cli_string("--save", &ch->save, "FILE", "write the masked LM's checkpoint (chapter 10's format)");
    o[n++] = cli_string("--load", &ch->load, "FILE", "use a saved masked LM instead of training one");
    ch->n_opts = n;
    CliSpec spec = {CHAPTER, "Masked language modelling (source document §2.3.2, §2.3.3, §3.5): the 80/10/10\n"
                             "corruption, the loss on the chosen positions, masked LM against denoising, and a\n"
                             "bidirectional model that fills in blanks.",
                    o, n};
    cli_parse(&spec, &ch->common, argc, argv);
    if (!ch->load) dataset_check_flags(&ch->data_flags, ch->opts, ch->n_opts); /* with --load: the checkpoint's level */
    if (ch->save) util_check_output("--save", ch->save); /* before any work, not after training */
    if (!ch->load) options_check_heads(&ch->mf);
    plot_init(&ch->plot, &ch->common, CHAPTER, stdout);
}

/* --load: the checkpoint, which must hold a masked LM; the corpus is read at its level. */
static void load_checkpoint(Chapter *ch) {
    checkpoint_load(&ch->ck, ch->load);
    if (ch->ck.cfg.causal) die(EXIT_RUNTIME, "%s holds a causal (GPT) model; a masked LM is bidirectional", ch->load);
    if (vocab_find(&ch->ck.vocab, "[MASK]") != ch->ck.vocab.size - 1)
        die(EXIT_RUNTIME, "%s has no [MASK] token: not a masked LM", ch->load);
    options_check_checkpoint(&ch->mf, ch->opts, ch->n_opts, &ch->ck.cfg, ch->load);
    dataset_flags_from_checkpoint(&ch->data_flags, ch->opts, ch->n_opts, ch->ck.level, &ch->ck.vocab, ch->load);
}

/* ==== 1. The corpus and the [MASK] token ==== */

static void section_1_corpus(Chapter *ch) {
    print_section(stdout, 1, "The corpus (chapter 1's) and the [MASK] token");
    if (!ch->load) printf("  Words by default, as in BERT (--level char masks single letters, which learn slowly).\n\n");
    dataset_load(&ch->data, &ch->data_flags, (uint64_t)ch->common.seed, false, stdout);
    ch->mask_id = vocab_add(&ch->data.vocab, "[MASK]");
    ch->V = ch->data.vocab.size;
    printf("\n  [MASK] joins the vocabulary as id %d; it never occurs in the text. The model's\n"
           "  embedding table (also its output layer) has %d rows: the %d tokens of |V|, [MASK], and <s>\n"
           "  (id %d), which no window here contains (each line follows a </s>) but which keeps every id\n"
           "  as in chapter 10, so that chapter 12 can load both models with one vocabulary.\n", ch->mask_id, ch->V, ch->V - 2, VOCAB_BOS);
    if (ch->load) {
        bool same = ch->ck.vocab.size == ch->V;
        for (int i = 0; same && i < ch->V; i++) same = strcmp(ch->ck.vocab.word[i], ch->data.vocab.word[i]) == 0;
        if (!same) die(EXIT_RUNTIME, "%s was trained on another vocabulary than this corpus gives", ch->load);
    }
    ch->train_ext = token_stream_with_eos(&ch->data.train, &ch->n_train_ext);
    ch->val_ext = token_stream_with_eos(&ch->data.val, &ch->n_val_ext);
    ch->unigram = xcalloc((size_t)ch->V, sizeof(long));
    for (long i = 0; i < ch->data.train.n; i++) ch->unigram[ch->data.train.id[i]]++;
}

/* The ids of --blanks at the BPE level (free them): the text between the _ encoded with the merges,
 * each _ a [MASK]. */
static int blanks_bpe(const Chapter *ch, int **ids) {
    *ids = xmalloc(sizeof(int) * (strlen(ch->blanks) + 1));
    int k = 0;
    for (const char *p = ch->blanks;;) {
        const char *u = strchr(p, '_');
        char *piece = xstrdup(p);
        piece[u ? (size_t)(u - p) : strlen(p)] = '\0';
        int *part;
        const long m = corpus_encode_text(&ch->data.vocab, piece, LEVEL_BPE, &part);
        memcpy(*ids + k, part, sizeof(int) * (size_t)m);
        k += (int)m;
        free(part), free(piece);
        if (!u) break;
        (*ids)[k++] = ch->mask_id;
        p = u + 1;
    }
    return k;
}

/* The tokens of --blanks (free them with tokens_free; at the BPE level *tok is NULL and *ids holds
 * them, else *ids is NULL); a line too long for the context is a usage error, found before training
 * (build_models calls this once the context is known). */
static int blanks_tokens(const Chapter *ch, char ***tok, int **ids) {
    *tok = NULL, *ids = NULL;
    const int k = ch->data.level == LEVEL_BPE ? blanks_bpe(ch, ids) : tokenize_line(ch->blanks, ch->data.level, tok);
    if (k + 2 > ch->cfg.max_len) die(EXIT_USAGE, "--blanks: %d tokens do not fit in the context of %d", k, ch->cfg.max_len);
    return k;
}

/* The masked LM and the denoiser: the same bidirectional Transformer, from the same seed (the
 * checkpoint's configuration with --load; its parameters arrive in section 5). */
static void build_models(Chapter *ch) {
    ch->cfg = ch->load ? ch->ck.cfg : options_config(&ch->mf, ch->V, false);
    char **blank_tok;
    int *blank_ids;
    const int k = blanks_tokens(ch, &blank_tok, &blank_ids);
    if (blank_tok) tokens_free(blank_tok, k);
    free(blank_ids);
    if (ch->n_train_ext <= ch->cfg.max_len + 1 || ch->n_val_ext <= ch->cfg.max_len + 1)
        die(EXIT_RUNTIME, "the text is too short for windows of --context %d", ch->cfg.max_len);
    model_init(&ch->mlm, &ch->cfg, (int)ch->tf.batch, (uint64_t)ch->common.seed);
    model_init(&ch->dae, &ch->cfg, (int)ch->tf.batch, (uint64_t)ch->common.seed);
}

/* ==== 2. The corruption ==== */

/* B windows of T tokens from a stream, corrupted. */
static void make_batch(const Chapter *ch, const int *ext, long n_ext, int *ids, int *tg, int *kind, int B, bool all, Rng *rng) {
    const int T = ch->cfg.max_len;
    for (int b = 0; b < B; b++) {
        const long start = (long)rng_below(rng, (uint32_t)(n_ext - T));
        memcpy(ids + b * T, ext + start, sizeof(int) * (size_t)T);
        mlm_corrupt(ids + b * T, tg + b * T, kind + b * T, T, ch->mask_rate, ch->mask_id, ch->V, all, rng);
    }
}

/* ---- printing a corrupted sequence ---- */

static const char *shown(const Chapter *ch, int id) {
    if (id == ch->mask_id) return "_";
    if (id == VOCAB_EOS) return "/";
    return ch->data.vocab.word[id];
}

/* Three aligned rows: the original tokens, what the model sees, and what was done where. */
static void print_corruption(const Chapter *ch, const int *orig, const int *input, const int *kind, int n) {
    static const char *const mark[4] = {" ", "M", "R", "S"};
    const char *rows[3] = {"original ", "model in ", "chosen   "};
    for (int r = 0; r < 3; r++) {
        printf("    %s", rows[r]);
        for (int i = 0; i < n; i++) {
            const char *a = shown(ch, orig[i]), *b = shown(ch, input[i]);
            int w = print_display_width(a) > print_display_width(b) ? print_display_width(a) : print_display_width(b);
            if (ch->data.level == LEVEL_WORD) w++;
            print_padded(stdout, r == 0 ? a : r == 1 ? b : mark[kind[i]], w);
        }
        printf("\n");
    }
    printf("    (M: [MASK], shown as _; R: a random token; S: chosen but left as it was; / is </s>)\n");
}

static void section_2_corruption(const Chapter *ch) {
    print_section(stdout, 2, "The corruption: 15% chosen; of those 80% [MASK], 10% random, 10% unchanged");
    const int n = (int)(ch->data.val_line_start[1] - ch->data.val_line_start[0]) - 1; /* the first line, without </s> */
    int *orig = xmalloc(sizeof(int) * (size_t)n), *in = xmalloc(sizeof(int) * (size_t)n);
    int *tg = xmalloc(sizeof(int) * (size_t)n), *kind = xmalloc(sizeof(int) * (size_t)n);
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 31);
    memcpy(orig, ch->data.val.id, sizeof(int) * (size_t)n);
    memcpy(in, orig, sizeof(int) * (size_t)n);
    /* a rate of 0.3 for this display only, so that a short line shows a few of each kind */
    mlm_corrupt(in, tg, kind, n, 0.3, ch->mask_id, ch->V, false, &rng);
    printf("  One validation line, corrupted at a rate of 0.3 so that a short line shows a few:\n\n");
    print_corruption(ch, orig, in, kind, n);
    long counts[4] = {0}, total = 0;
    int *buf = xmalloc(sizeof(int) * 4096), *t2 = xmalloc(sizeof(int) * 4096), *k2 = xmalloc(sizeof(int) * 4096);
    const int span = ch->n_train_ext < 4096 ? (int)ch->n_train_ext : 4096; /* a short text has fewer (ASan) */
    for (int rep = 0; rep < 100; rep++) {
        memcpy(buf, ch->train_ext, sizeof(int) * (size_t)span);
        mlm_corrupt(buf, t2, k2, span, ch->mask_rate, ch->mask_id, ch->V, false, &rng);
        for (int i = 0; i < span; i++)
            if (ch->train_ext[i] != VOCAB_EOS) counts[k2[i]]++, total++;
    }
    const long chosen = counts[1] + counts[2] + counts[3];
    printf("\n  Over %ld positions at the rate %g: chosen %.2f%%; of the chosen, [MASK] %.1f%%, random %.1f%%,\n"
           "  unchanged %.1f%%.\n", total, ch->mask_rate, 100.0 * chosen / total, 100.0 * counts[1] / chosen,
           100.0 * counts[2] / chosen, 100.0 * counts[3] / chosen);
    print_note(stdout, "Notice: the random and the unchanged 10% keep the model honest: [MASK] never occurs "
                       "when the model is used, so it must predict every position from its context, not "
                       "only the ones that say [MASK].");
    free(orig), free(in), free(tg), free(kind), free(buf), free(t2), free(k2);
}

/* ==== 3. The loss by hand ==== */

static void section_3_loss(Chapter *ch) {
    Model *m = &ch->mlm;
    const int T = ch->cfg.max_len;
    print_section(stdout, 3, "The loss over the chosen positions only, by hand and by the library");
    printf("  L = -(1/|M|) sum_{i in M} ln P(w_i | corrupted input); other positions have target -1.\n"
           "  One window of the validation text, the untrained model:\n\n");
    int *ids = xmalloc(sizeof(int) * (size_t)T), *tg = xmalloc(sizeof(int) * (size_t)T), *kind = xmalloc(sizeof(int) * (size_t)T);
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 32);
    memcpy(ids, ch->val_ext + 1, sizeof(int) * (size_t)T);
    mlm_corrupt(ids, tg, kind, T, ch->mask_rate, ch->mask_id, ch->V, false, &rng);
    const double lib = model_forward(m, ids, tg, 1, T);
    printf("  %8s %10s %10s %14s %10s\n", "position", "original", "input", "P(original)", "-ln P");
    double sum = 0;
    int n = 0;
    for (int i = 0; i < T; i++) {
        if (tg[i] < 0) continue;
        const double p = *tensor_at(&m->probs, i, tg[i]);
        printf("  %8d %10s %10s %14.6f %10.4f\n", i, shown(ch, tg[i]), shown(ch, ids[i]), p, -log(p));
        sum -= log(p);
        n++;
    }
    printf("\n  by hand: sum %.6f over |M| = %d positions, mean %.6f\n  model_forward (common/model.c): %.6f"
           "   difference %.2g\n", sum, n, n ? sum / n : 0.0, lib, fabs(lib - (n ? sum / n : 0.0)));
    free(ids), free(tg), free(kind);
}

/* ==== 4. What the model conditions on ==== */

static void section_4_condition(const Chapter *ch) {
    print_section(stdout, 4, "Erratum: what the model conditions on");
    print_wrapped(stdout, 2,
                  "§3.5 writes the masked-LM loss as -sum_{i in M} log P(w_i | w_1 .. w_{i-1}, w_{i+1} .. "
                  "w_n): every other original token as the condition. But all the chosen positions are "
                  "corrupted at once, so when the model predicts w_i, the other chosen positions are "
                  "[MASK], a random token, or (10%) themselves; it conditions on the corrupted sequence. "
                  "A line with two or more chosen positions shows the difference:");
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 33);
    for (int line = 0; line + 1 < ch->data.n_val + 1 && line < ch->data.n_val; line++) {
        const int n = (int)(ch->data.val_line_start[line + 1] - ch->data.val_line_start[line]) - 1;
        const int *orig = ch->data.val.id + ch->data.val_line_start[line];
        int in[512], tg[512], kind[512];
        if (n > 512) continue;
        memcpy(in, orig, sizeof(int) * (size_t)n);
        mlm_corrupt(in, tg, kind, n, ch->mask_rate, ch->mask_id, ch->V, false, &rng);
        int chosen[512], c = 0;
        for (int i = 0; i < n; i++)
            if (kind[i] != KEEP) chosen[c++] = i;
        if (c < 2) continue;
        printf("\n");
        print_corruption(ch, orig, in, kind, n);
        const int i = chosen[0];
        printf("\n  To predict position %d ('%s'), the source's formula conditions on every other original\n"
               "  token, including '%s' at position %d. The model is given '%s' there instead.\n", i, shown(ch, orig[i]),
               shown(ch, orig[chosen[1]]), chosen[1], shown(ch, in[chosen[1]]));
        print_note(stdout, "Notice: the right condition is the corrupted sequence x~: L = -sum_{i in M} "
                           "log P(w_i | x~). Chosen positions hide each other, which is one reason only 15% "
                           "are chosen.");
        return;
    }
    printf("\n  (no validation line had two chosen positions at this rate)\n");
}

/* ==== 5. Masked LM against denoising, the same budget ==== */

/* Loss and accuracy on the chosen positions of validation windows, corrupted the same way every
 * time (a fixed generator), so that numbers from different steps and runs compare. */
typedef struct {
    double loss, accuracy, unigram_accuracy;
    long chosen;
} Eval;

static Eval evaluate(const Chapter *ch, Model *m, int windows) {
    const int T = ch->cfg.max_len, Bmax = m->max_batch;
    int *ids = xmalloc(sizeof(int) * (size_t)Bmax * T), *tg = xmalloc(sizeof(int) * (size_t)Bmax * T);
    int *kind = xmalloc(sizeof(int) * (size_t)Bmax * T);
    Rng rng;
    rng_seed(&rng, 1234, 77);
    int most = 3;
    for (int v = 3; v < ch->V - 1; v++)
        if (ch->unigram[v] > ch->unigram[most]) most = v;
    Eval e = {0, 0, 0, 0};
    for (int done = 0; done < windows; done += Bmax) {
        const int B = windows - done < Bmax ? windows - done : Bmax;
        make_batch(ch, ch->val_ext, ch->n_val_ext, ids, tg, kind, B, false, &rng);
        long n = 0;
        for (int i = 0; i < B * T; i++) n += tg[i] >= 0;
        e.loss += model_forward(m, ids, tg, B, T) * (double)n;
        for (int i = 0; i < B * T; i++) {
            if (tg[i] < 0) continue;
            const float *p = tensor_at(&m->probs, i, 0);
            int best = 0;
            for (int v = 1; v < ch->V; v++)
                if (p[v] > p[best]) best = v;
            e.accuracy += best == tg[i];
            e.unigram_accuracy += most == tg[i];
        }
        e.chosen += n;
    }
    e.loss /= (double)e.chosen, e.accuracy /= (double)e.chosen, e.unigram_accuracy /= (double)e.chosen;
    free(ids), free(tg), free(kind);
    return e;
}

/* Returns the steps done: fewer than --steps when Ctrl-C stopped it (see interrupt.h). */
static long train(const Chapter *ch, Model *m, bool all_positions, Curves *cv, int variant) {
    const int B = (int)ch->tf.batch, T = ch->cfg.max_len;
    int *ids = xmalloc(sizeof(int) * (size_t)B * T), *tg = xmalloc(sizeof(int) * (size_t)B * T);
    int *kind = xmalloc(sizeof(int) * (size_t)B * T);
    AdamW opt;
    adamw_init(&opt, m->n_params, 0.9f, 0.95f, 1e-8f, (float)ch->tf.weight_decay);
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 40); /* the same windows for both variants */
    const Schedule sched = options_schedule(&ch->tf);
    Progress prog;
    progress_start(&prog, ch->tf.steps);
    int k = 0;
    long s = 1;
    for (; s <= ch->tf.steps; s++) {
        make_batch(ch, ch->train_ext, ch->n_train_ext, ids, tg, kind, B, all_positions, &rng);
        const double loss = train_step(m, &opt, ids, tg, B, T, s, &sched);
        progress_update(&prog, s, loss, (double)B * T);
        if (s % ch->tf.eval_every == 0 || s == ch->tf.steps) {
            progress_end(&prog);
            const Eval e = evaluate(ch, m, 256);
            cv->x[k] = (double)s, cv->loss[variant][k] = e.loss, cv->acc[variant][k] = 100 * e.accuracy;
            k++;
        }
        if (interrupt_requested()) break; /* this step is done */
    }
    progress_end(&prog);
    cv->n = k;
    adamw_free(&opt);
    free(ids), free(tg), free(kind);
    return s > ch->tf.steps ? ch->tf.steps : s;
}

/* The table of both curves, the baseline, what to notice, and the two figures. */
static void report_curves(Chapter *ch) {
    const Curves *cv = &ch->cv;
    printf("  %8s %14s %14s %16s %16s\n", "step", "MLM loss", "MLM accuracy", "denoising loss", "denoising acc.");
    for (int k = 0; k < cv->n; k++)
        printf("  %8.0f %14.4f %13.1f%% %16.4f %15.1f%%\n", cv->x[k], cv->loss[0][k], cv->acc[0][k], cv->loss[1][k], cv->acc[1][k]);
    const Eval u = evaluate(ch, &ch->mlm, 256);
    printf("\n  Always guessing the most frequent token: %.1f%% of the chosen positions.\n", 100 * u.unigram_accuracy);
    /* both models are scored on the same u.chosen positions; an accuracy over n of them has a standard
     * error of at most 0.5 / sqrt(n) */
    const double margin = 100 / sqrt((double)u.chosen), mlm = cv->acc[0][cv->n - 1], dae = cv->acc[1][cv->n - 1];
    printf("  Two standard errors of an accuracy over these %ld positions: at most %.1f points.\n", u.chosen, margin);
    char note[500];
    if (mlm - dae > margin)
        snprintf(note, sizeof note, "Notice: with the same budget, the masked LM ends at %.1f%% and the denoising "
                 "auto-encoder at %.1f%% on the chosen positions. The denoiser spends most of its loss on the 85%% "
                 "of positions that were not touched, where the answer is in the input.", mlm, dae);
    else if (dae - mlm > margin)
        snprintf(note, sizeof note, "Notice: with the same budget, the denoising auto-encoder ends ahead on the chosen "
                 "positions, %.1f%% against %.1f%% for the masked LM: this run could not show the masked LM's "
                 "advantage.", dae, mlm);
    else
        snprintf(note, sizeof note, "Notice: with the same budget, the masked LM ends at %.1f%% and the denoising "
                 "auto-encoder at %.1f%% on the chosen positions, within %.1f points of each other: this run could "
                 "not tell them apart.", mlm, dae, margin);
    print_note(stdout, note);
    putchar('\n');
    LineSeries acc[2] = {{"masked LM (loss on the chosen positions)", cv->acc[0], false},
                         {"denoising (loss on every position)", cv->acc[1], false}};
    LineAxes ax = {"training step", "accuracy on the chosen positions (%)", false, false};
    plot_lines(&ch->plot, "accuracy", "Masked LM against denoising: accuracy on the chosen tokens", &ax, cv->x, cv->n, acc, 2);
    LineSeries loss[2] = {{"masked LM", cv->loss[0], false}, {"denoising", cv->loss[1], false}};
    LineAxes al = {"training step", "loss on the chosen positions (nats)", false, false};
    plot_lines(&ch->plot, "loss", "Masked LM against denoising: loss on the chosen tokens", &al, cv->x, cv->n, loss, 2);
}

/* Trains the masked LM, then the denoiser; Ctrl-C stops it after a whole step and sets
 * ch->interrupted, ch->which and ch->step. */
static void section_5_train(Chapter *ch) {
    print_section(stdout, 5, "Training: the masked-LM loss against the denoising loss, same budget");
    printf("  Both models are the same bidirectional Transformer (%lld block%s, d_model %lld, %lld head%s,\n"
           "  context %lld), see the same corrupted windows, %lld steps of %lld. The masked LM is scored on\n"
           "  the chosen positions only; the denoising auto-encoder (§2.3.2) on every position of the\n"
           "  corrupted input. Both are evaluated the same way: loss and accuracy on the chosen positions\n"
           "  of 256 validation windows corrupted with a fixed seed.\n\n", ch->mf.layers, ch->mf.layers == 1 ? "" : "s",
           ch->mf.d_model, ch->mf.heads, ch->mf.heads == 1 ? "" : "s", ch->mf.context, ch->tf.steps, ch->tf.batch);
    Curves *cv = &ch->cv;
    const int points = (int)(ch->tf.steps / ch->tf.eval_every) + 2;
    cv->x = xmalloc(sizeof(double) * (size_t)points);
    for (int v = 0; v < 2; v++) cv->loss[v] = xmalloc(sizeof(double) * (size_t)points), cv->acc[v] = xmalloc(sizeof(double) * (size_t)points);
    for (int v = 0; v < 2; v++) {
        ch->which = v, ch->step = train(ch, v == 0 ? &ch->mlm : &ch->dae, v == 1, cv, v);
        if (ch->step < ch->tf.steps) {
            ch->interrupted = true;
            return;
        }
    }
    report_curves(ch);
}

/* With --load: no training; the checkpoint's parameters, evaluated the same way. */
static void section_5_loaded(Chapter *ch) {
    memcpy(ch->mlm.param_mem, ch->ck.params, sizeof(float) * ch->ck.n_params);
    print_section(stdout, 5, "Training: skipped, the masked LM comes from the checkpoint");
    const Eval e = evaluate(ch, &ch->mlm, 256);
    printf("  %s: loss %.4f, accuracy %.1f%% on the chosen positions (the most frequent token: %.1f%%)\n", ch->load,
           e.loss, 100 * e.accuracy, 100 * e.unigram_accuracy);
}

/* ==== 6. Right-hand context ==== */

/* The share of validation sentences whose hidden marker the model names right (see below). */
static double right_context_accuracy(const Chapter *ch, Model *m, long *total) {
    const int T = ch->cfg.max_len;
    static const char *const markers[SYNTH_CLASSES] = {"zo", "xa", "qi", "vu"};
    int cand[SYNTH_CLASSES]; /* the marker's first letter (char level) or the marker word */
    for (int c = 0; c < SYNTH_CLASSES; c++) {
        char tok[3] = {markers[c][0], 0, 0};
        cand[c] = vocab_find(&ch->data.vocab, ch->data.level == LEVEL_CHAR ? tok : markers[c]);
        if (cand[c] < 0) die(EXIT_RUNTIME, "the marker '%s' never occurs in training", markers[c]);
    }
    int *ids = xmalloc(sizeof(int) * (size_t)T);
    long right = 0;
    *total = 0;
    for (int i = 0; i < ch->data.n_val; i++) {
        const long start = ch->data.val_line_start[i];
        const int n = (int)(ch->data.val_line_start[i + 1] - start); /* with its </s> */
        if (n + 1 > T) continue; /* the whole sentence must fit in the window */
        ids[0] = VOCAB_EOS;
        memcpy(ids + 1, ch->data.val.id + start, sizeof(int) * (size_t)n);
        ids[1] = ch->mask_id; /* the marker word, or both letters of the marker */
        if (ch->data.level == LEVEL_CHAR) ids[2] = ch->mask_id;
        model_forward(m, ids, NULL, 1, n + 1);
        const float *p = tensor_at(&m->probs, 1, 0);
        int best = 0;
        for (int c = 1; c < SYNTH_CLASSES; c++)
            if (p[cand[c]] > p[cand[best]]) best = c;
        right += best == ch->data.synth.cls[ch->data.val_synth_index[i]];
        (*total)++;
    }
    free(ids);
    return *total ? (double)right / (double)*total : 0.0;
}

/* dae: the denoiser, NULL when the masked LM was loaded. */
static void section_6_right_context(const Chapter *ch, Model *mlm, Model *dae) {
    print_section(stdout, 6, "What only the right-hand context can tell");
    if (!dataset_has_closers(&ch->data)) {
        printf("  This needs the synthetic language at the char or word level.\n");
        return;
    }
    printf("  Hide each validation sentence's marker (zo, xa, qi, vu: the word, or both its letters):\n"
           "  only the closer at the end of the sentence (ze, xe, qe, ve) can tell which it was. A\n"
           "  left-to-right model sees none of it when it predicts the marker, so it cannot beat 25%%.\n\n");
    long total;
    const double a = right_context_accuracy(ch, mlm, &total);
    printf("  masked LM:               %.1f%% of %ld sentences\n", 100 * a, total);
    if (dae) printf("  denoising auto-encoder:  %.1f%%\n", 100 * right_context_accuracy(ch, dae, &total));
}

/* ==== 7. Fill in the blanks ==== */

/* The last block's attention from the first blank (after section 7's forward pass over the n tokens
 * of ids): of its heads, the one whose row for the blank is most focused (the largest weight on
 * another token), printed and drawn with that row framed. */
static void attention_of_blank(Chapter *ch, const int *ids, const char *const *labels, int n) {
    const Model *m = &ch->mlm;
    const int L = m->cfg.layers - 1;
    int blank = 0, head = 0;
    while (blank < n && ids[blank] != ch->mask_id) blank++;
    if (blank == n) return; /* nothing to fill, nothing to show */
    float focus = -1;
    for (int h = 0; h < m->cfg.heads; h++)
        for (int j = 0; j < n; j++) {
            const float w = *tensor_at(&m->cache[L].attn.weights[h], blank, j);
            if (j != blank && w > focus) focus = w, head = h;
        }
    const Tensor *A = &m->cache[L].attn.weights[head];
    printf("  Block %d's attention from the blank at position %d, head %d (of %d: the one whose row for\n"
           "  the blank is most focused), over the line's tokens:\n   ", L, blank - 1, head, m->cfg.heads);
    int most = blank == 0 ? 1 : 0;
    for (int j = 0; j < n; j++) {
        printf(" %s %.2f", labels[j], (double)*tensor_at(A, blank, j));
        if (j != blank && *tensor_at(A, blank, j) > *tensor_at(A, blank, most)) most = j;
    }
    putchar('\n');
    const char *cls = synth_word_class(labels[most]);
    char note[300];
    snprintf(note, sizeof note, "Notice: the blank's largest weight, %.2f, is on '%s'%s", (double)*tensor_at(A, blank, most),
             labels[most], cls && strcmp(cls, "closer") == 0 ? ", the closer: the word at the other end of the "
             "sentence that decides which marker it began with." : ".");
    print_note(stdout, note);
    putchar('\n');
    char title[96];
    snprintf(title, sizeof title, "Masked LM, block %d, head %d, on the blanks line", L, head);
    const HeatPanel panel = {"fill_attention", "the blank's row framed in red", A, labels, labels, "key (what is read)",
                             "query (who reads)", HEAT_SCALED};
    plot_heatmap_marked(&ch->plot, "fill_attention", title, &panel, blank);
}

static void section_7_fill(Chapter *ch) {
    Model *m = &ch->mlm;
    print_section(stdout, 7, "Fill in the blanks");
    char **tok;
    int *bpe_ids;
    const int k = blanks_tokens(ch, &tok, &bpe_ids);
    int *ids = xmalloc(sizeof(int) * (size_t)(k + 2));
    const char **labels = xmalloc(sizeof(char *) * (size_t)(k + 2));
    ids[0] = VOCAB_EOS, labels[0] = "/";
    int blanks = 0;
    for (int i = 0; i < k && bpe_ids; i++) { /* the BPE level: the tokens by their names */
        ids[i + 1] = bpe_ids[i], labels[i + 1] = shown(ch, bpe_ids[i]);
        blanks += bpe_ids[i] == ch->mask_id;
    }
    for (int i = 0; i < k && !bpe_ids; i++) {
        const bool blank = strcmp(tok[i], "_") == 0;
        const int id = blank ? ch->mask_id : vocab_find(&ch->data.vocab, tok[i]);
        ids[i + 1] = id < 0 ? VOCAB_UNK : id;
        labels[i + 1] = blank ? "_" : tok[i];
        blanks += blank;
    }
    ids[k + 1] = VOCAB_EOS, labels[k + 1] = "/";
    printf("  \"%s\"  (each _ is a [MASK]; the model sees the whole line at once)\n\n", ch->blanks);
    if (!blanks) printf("  (no _ in --blanks: nothing to fill)\n");
    model_forward(m, ids, NULL, 1, k + 2);
    for (int i = 1; i <= k; i++) {
        if (ids[i] != ch->mask_id) continue;
        const float *p = tensor_at(&m->probs, i, 0);
        printf("  blank at position %d:", i - 1);
        bool used[4096] = {false};
        for (int r = 0; r < 5 && r < ch->V; r++) {
            int best = -1;
            for (int v = 0; v < ch->V && v < 4096; v++)
                if (!used[v] && v != ch->mask_id && (best < 0 || p[v] > p[best])) best = v;
            used[best] = true;
            printf("  %s %.3f", shown(ch, best), p[best]);
        }
        printf("\n");
    }
    putchar('\n');
    attention_of_blank(ch, ids, labels, k + 2);
    if (tok) tokens_free(tok, k);
    free(ids), free(labels), free(bpe_ids);
}


/* ==== 8. Checkpoint ==== */

static void section_8_checkpoint(const Chapter *ch) {
    print_section(stdout, 8, "Checkpoint");
    if (ch->save) {
        checkpoint_save(ch->save, &ch->mlm, &ch->data.vocab, ch->data.level, NULL, NULL);
        printf("  wrote %s: the masked LM in chapter 10's format (bidirectional, with [MASK] as the last word).\n", ch->save);
    } else {
        printf("  (--save FILE keeps the masked LM; --load FILE uses it again without training)\n");
    }
}

/* ==== 9. Summary ==== */

static void section_9_summary(Chapter *ch) {
    print_section(stdout, 9, "Summary");
    const Eval e = evaluate(ch, &ch->mlm, 256);
    printf("corpus: %s\nlevel: %s\nmasked_accuracy: %.4f\nmasked_loss: %.6g\nunigram_accuracy: %.4f\n",
           ch->data.synthetic ? "synthetic" : ch->data_flags.corpus_path, level_name(ch->data.level), e.accuracy, e.loss,
           e.unigram_accuracy);
    if (!ch->load) printf("denoising_accuracy: %.4f\n", ch->cv.acc[1][ch->cv.n - 1] / 100);
    if (dataset_has_closers(&ch->data)) {
        long total;
        printf("right_context_accuracy: %.4f\n", right_context_accuracy(ch, &ch->mlm, &total));
    }
}

/* ==== the end of a run ==== */

/* Ctrl-C stopped training after a whole step: save the masked LM with --save, say where (stderr). */
static void report_interruption(const Chapter *ch) {
    if (ch->save) checkpoint_save(ch->save, &ch->mlm, &ch->data.vocab, ch->data.level, NULL, NULL);
    fflush(stdout);
    fprintf(stderr, "%s: interrupted after step %ld of %lld of the %s; %s\n", CHAPTER, ch->step, ch->tf.steps,
            ch->which == 0 ? "masked LM" : "denoiser (the masked LM had finished)",
            ch->save ? "saved the masked LM" : "nothing saved (no --save)");
}

/* Whoever allocates frees: everything the sections made. */
static void chapter_free(Chapter *ch) {
    free(ch->cv.x);
    for (int v = 0; v < 2; v++) free(ch->cv.loss[v]), free(ch->cv.acc[v]);
    if (ch->load) checkpoint_free(&ch->ck);
    free(ch->unigram), free(ch->train_ext), free(ch->val_ext);
    model_free(&ch->mlm), model_free(&ch->dae);
    dataset_free(&ch->data);
}

/* ==== the table of contents ==== */

int main(int argc, char **argv) {
    Chapter ch;
    parse_flags(&ch, argc, argv);
    if (ch.load) load_checkpoint(&ch);

    printf("Chapter 11: masked language modelling (source document §2.3.2, §2.3.3 and §3.5)\n");
    section_1_corpus(&ch);
    build_models(&ch);
    section_2_corruption(&ch);
    section_3_loss(&ch);
    section_4_condition(&ch);
    if (ch.load) {
        section_5_loaded(&ch);
    } else {
        interrupt_watch();
        section_5_train(&ch);
    }
    if (ch.interrupted) {
        report_interruption(&ch);
    } else { /* sections 6 to 9, once the masked LM is trained or loaded */
        section_6_right_context(&ch, &ch.mlm, ch.load ? NULL : &ch.dae);
        section_7_fill(&ch);
        section_8_checkpoint(&ch);
        section_9_summary(&ch);
    }
    chapter_free(&ch);
    return ch.interrupted ? EXIT_INTERRUPTED : 0;
}
