/* dataset: corpus loading shared by the training chapters (see dataset.h). */
#include "dataset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const char *level_name(int level) { return level == LEVEL_CHAR ? "char" : level == LEVEL_WORD ? "word" : "bpe"; }

DatasetFlags dataset_flags_default(void) {
    DatasetFlags f = {NULL, NULL, LEVEL_CHAR, 20000, DATASET_BPE_VOCAB, NULL};
    return f;
}

int dataset_cli_options(CliOption out[DATASET_N_OPTIONS], DatasetFlags *f) {
    out[0] = cli_string("--corpus", &f->corpus_path, "FILE", "UTF-8 text, one sentence per line (default: the synthetic language)");
    out[1] = cli_string("--val-file", &f->val_path, "FILE", "held-out text (default: every 10th line of the corpus)");
    out[2] = cli_choice("--level", &f->level, "char|word|bpe", "tokens: Unicode characters, words or byte-level BPE");
    out[3] = cli_int("--lines", &f->lines, 100, 2000000, "N", "lines of the synthetic language to generate");
    out[4] = cli_int("--vocab-size", &f->vocab_size, BPE_BYTES, BPE_MAX_VOCAB, "N",
                     "with --level bpe: tokens of the BPE vocabulary (256 bytes + merges)");
    return DATASET_N_OPTIONS;
}

static bool given(const CliOption *opts, int n_opts, const char *name) {
    for (int i = 0; i < n_opts; i++)
        if (strcmp(opts[i].name, name) == 0) return opts[i].seen;
    return false;
}

void dataset_check_flags(const DatasetFlags *f, const CliOption *opts, int n_opts) {
    if (given(opts, n_opts, "--vocab-size") && f->level != LEVEL_BPE)
        die(EXIT_USAGE, "--vocab-size: %lld, but it sets the BPE vocabulary: give --level bpe too", f->vocab_size);
}

void dataset_flags_from_checkpoint(DatasetFlags *f, const CliOption *opts, int n_opts, TokenLevel level, const Vocab *v,
                                   const char *path) {
    if (given(opts, n_opts, "--level") && f->level != (int)level)
        die(EXIT_USAGE, "--level: %s, but the checkpoint %s was trained on %s tokens", level_name(f->level), path,
            level_name(level));
    f->level = level;
    dataset_check_flags(f, opts, n_opts);
    if (level != LEVEL_BPE) return;
    if (given(opts, n_opts, "--vocab-size") && f->vocab_size != bpe_vocab_size(v->bpe))
        die(EXIT_USAGE, "--vocab-size: %lld, but the checkpoint %s holds %d BPE tokens, whose merges encode the text",
            f->vocab_size, path, bpe_vocab_size(v->bpe));
    f->merges = v->bpe;
}

/* The text: generated (the synthetic language, its grammar printed when asked) or read from
 * --corpus. The caller frees it. */
static char *dataset_text(Dataset *d, const DatasetFlags *f, uint64_t seed, bool grammar, FILE *out) {
    char *text;
    if (d->synthetic) {
        fprintf(out, "  No --corpus given: the built-in synthetic language (common/synth.c), %lld lines from seed %llu.\n",
                f->lines, (unsigned long long)seed);
        if (grammar) {
            fputc('\n', out);
            synth_describe(out);
        }
        synth_generate(&d->synth, (int)f->lines, seed);
        text = synth_text(&d->synth);
    } else {
        size_t len;
        text = corpus_read_file(f->corpus_path, &len);
        fprintf(out, "  corpus: %s (%zu bytes)\n", f->corpus_path, len);
    }
    return text;
}

/* Training and validation lines: --val-file, or every 10th line of the corpus. */
static void dataset_split(Dataset *d, const DatasetFlags *f, FILE *out) {
    if (f->val_path) {
        char *vt = corpus_read_file(f->val_path, NULL);
        lines_split(&d->val_file, vt);
        free(vt);
        if (d->val_file.n == 0) die(EXIT_RUNTIME, "%s has no line with text in it", f->val_path);
        d->train_lines = d->all.line, d->n_train = d->all.n;
        d->val_lines = d->val_file.line, d->n_val = d->val_file.n;
        fprintf(out, "\n  Split: every line of the corpus trains; validation is %s.\n", f->val_path);
    } else {
        corpus_split(&d->all, &d->train_lines, &d->n_train, &d->val_lines, &d->n_val);
        d->split_arrays = true;
        if (d->n_val == 0)
            die(EXIT_RUNTIME, "%s has %d lines: the validation split (every 10th line) needs at least 10; give --val-file",
                f->corpus_path ? f->corpus_path : "the corpus", d->all.n);
        fprintf(out, "\n  Split: line i goes to validation when i %% 10 == 9, else to training.\n");
        if (d->synthetic) { /* blank lines never occur in the generated text, so indices match */
            d->val_synth_index = xmalloc(sizeof(int) * (size_t)d->n_val);
            for (int i = 0; i < d->n_val; i++) d->val_synth_index[i] = 10 * i + 9;
        }
    }
}

void dataset_bpe_vocab(Vocab *v, char *const *lines, int n, const DatasetFlags *f, FILE *out) {
    if (f->merges) {
        vocab_init_bpe(v, f->merges);
        fprintf(out, "\n  BPE: the checkpoint's %d merges encode this text (%d tokens: 256 bytes + merges).\n",
                f->merges->n_merges, bpe_vocab_size(f->merges));
        return;
    }
    BpeChunk *chunks = xmalloc(sizeof(BpeChunk) * (size_t)(n ? n : 1));
    for (int i = 0; i < n; i++) chunks[i] = (BpeChunk){(const uint8_t *)lines[i], strlen(lines[i])};
    Bpe b;
    bpe_train(&b, chunks, n, (int)f->vocab_size);
    free(chunks);
    vocab_init_bpe(v, &b);
    fprintf(out, "\n  BPE (chapter 0): %d merges learned on the training lines, %d tokens (256 bytes + merges)%s.\n",
            b.n_merges, bpe_vocab_size(&b), bpe_vocab_size(&b) < f->vocab_size ? ": no pair occurs twice any more" : "");
    bpe_free(&b);
}

/* Tokens of both splits, the vocabulary, and where each validation line starts. */
static void dataset_encode(Dataset *d, const DatasetFlags *f, FILE *out) {
    fprintf(out, "\n  First lines of the training text:\n");
    for (int i = 0; i < 5 && i < d->n_train; i++) fprintf(out, "    %.74s\n", d->train_lines[i]);

    if (d->level == LEVEL_BPE) dataset_bpe_vocab(&d->vocab, d->train_lines, d->n_train, f, out);
    else vocab_init(&d->vocab);
    corpus_encode(&d->train, &d->vocab, d->train_lines, d->n_train, d->level, true);
    corpus_encode(&d->val, &d->vocab, d->val_lines, d->n_val, d->level, false);
    fprintf(out, "\n  level: %s tokens; each line ends with </s>, which is a token to predict.\n", level_name(d->level));
    fprintf(out, "  training:   %6d lines, %9ld tokens\n", d->n_train, d->train.n);
    fprintf(out, "  validation: %6d lines, %9ld tokens, %ld of them never seen in training (<unk>)\n", d->n_val,
            d->val.n, d->val.n_oov);
    fprintf(out, "  vocabulary: %d types + </s> + <unk> = |V| = %d (what a model predicts over)\n", d->vocab.size - 3,
            d->vocab.size - 1);
    d->val_line_start = xmalloc(sizeof(long) * (size_t)(d->n_val + 1));
    int line = 0;
    d->val_line_start[0] = 0;
    for (long t = 0; t < d->val.n; t++)
        if (d->val.id[t] == VOCAB_EOS) d->val_line_start[++line] = t + 1;
}

/* The synthetic language's true cross-entropy over the validation split: the floor. */
static void dataset_floor(Dataset *d, FILE *out) {
    if (!d->val_synth_index) return;
    double nats = 0;
    for (int i = 0; i < d->n_val; i++) nats -= d->synth.logp[d->val_synth_index[i]];
    d->floor_nats = nats / (double)d->val.n;
    fprintf(out, "\n  The generator knows the probability of every line it wrote. Over the validation\n"
                 "  split that is %.4f nats = %.4f bits per token: perplexity %.4f. This is the floor:\n"
                 "  no model of this language can have a lower perplexity on average.\n",
            d->floor_nats, d->floor_nats / log(2.0), exp(d->floor_nats));
}

void dataset_load(Dataset *d, const DatasetFlags *f, uint64_t seed, bool grammar, FILE *out) {
    memset(d, 0, sizeof *d);
    d->synthetic = f->corpus_path == NULL;
    d->level = (TokenLevel)f->level;
    d->floor_nats = NAN;
    char *text = dataset_text(d, f, seed, grammar, out);
    lines_split(&d->all, text);
    free(text);
    if (d->all.n == 0) die(EXIT_RUNTIME, "%s has no line with text in it", f->corpus_path);
    dataset_split(d, f, out);
    dataset_encode(d, f, out);
    dataset_floor(d, out);
}

void dataset_free(Dataset *d) {
    if (!d) return;
    token_stream_free(&d->train);
    token_stream_free(&d->val);
    vocab_free(&d->vocab);
    if (d->split_arrays) free(d->train_lines), free(d->val_lines);
    free(d->val_synth_index);
    free(d->val_line_start);
    lines_free(&d->all);
    lines_free(&d->val_file);
    synth_free(&d->synth);
    memset(d, 0, sizeof *d);
}

/* ==== the long-range agreement ==== */

static const int gap_lo[GAP_BINS] = {1, 2, 3, 4, 5, 6, 7, 8, 10, 13, 17, 25};
static const int gap_hi[GAP_BINS] = {1, 2, 3, 4, 5, 6, 7, 9, 12, 16, 24, 1 << 30};

int gap_bin(int gap) {
    int bin = 0;
    while (bin < GAP_BINS - 1 && gap > gap_hi[bin]) bin++;
    return bin;
}

void gap_label(int bin, char *buf, size_t size) {
    if (gap_lo[bin] == gap_hi[bin]) snprintf(buf, size, "%d", gap_lo[bin]);
    else if (bin == GAP_BINS - 1) snprintf(buf, size, "%d+", gap_lo[bin]);
    else snprintf(buf, size, "%d-%d", gap_lo[bin], gap_hi[bin]);
}

double gap_center(int bin) { return bin == GAP_BINS - 1 ? gap_lo[bin] : 0.5 * (gap_lo[bin] + gap_hi[bin]); }

double dataset_val_bytes(const Dataset *d) {
    double bytes = 0;
    for (int i = 0; i < d->n_val; i++) bytes += (double)strlen(d->val_lines[i]) + 1;
    return bytes;
}

double dataset_bits_per_byte(const Dataset *d, double nats) {
    return nats * (double)d->val.n / dataset_val_bytes(d) / log(2.0);
}

bool dataset_has_closers(const Dataset *d) { return d->val_synth_index && d->level != LEVEL_BPE; }

bool dataset_closer(const Dataset *d, int val_line, int *pos, int *gap) {
    if (!dataset_has_closers(d)) return false;
    const int s = d->val_synth_index[val_line];
    *pos = d->level == LEVEL_CHAR ? d->synth.closer_pos[s] : 1 + d->synth.body_words[s];
    /* each marker's second letter is unique, so at the char level the class is known one token in */
    *gap = d->level == LEVEL_CHAR ? *pos - 1 : *pos;
    return true;
}

void dataset_closer_ids(const Dataset *d, int ids[SYNTH_CLASSES]) {
    CHECK(dataset_has_closers(d), "dataset_closer_ids: no closer tokens at the %s level", level_name(d->level));
    for (int c = 0; c < SYNTH_CLASSES; c++) {
        char tok[8];
        if (d->level == LEVEL_CHAR) snprintf(tok, sizeof tok, "%c", synth_closer_letters()[c]);
        else snprintf(tok, sizeof tok, "%s", synth_closer(c));
        ids[c] = vocab_find(&d->vocab, tok);
        if (ids[c] < 0) die(EXIT_RUNTIME, "the closer '%s' never occurs in training: use more --lines", tok);
    }
}
