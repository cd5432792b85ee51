/* ch00_tokenization: from text to tokens with byte-level byte-pair encoding (BPE), and bits per
 * byte, the yardstick that compares models over different tokens fairly.
 *
 *   text -> UTF-8 bytes (256 symbols, nothing is ever unknown)
 *        -> merge the most frequent adjacent pair into a new token, again and again (training)
 *   bits per byte = (sum over the text of -ln p(token | context)) / (bytes of the text) / ln 2
 *
 * The source document takes its tokens for granted: §2.1.1 writes a sentence's probability as a
 * product over its words, and §3.5's loss is an average over tokens. This chapter shows what the
 * tokens of a real model are, trains GPT-2's kind of tokenizer (common/bpe.c), and measures why a
 * loss per token cannot compare two tokenizations while a loss per byte can: chapter 1's n-gram
 * scored at the character, the word and six BPE levels on the same validation text. With
 * `--gpt2-vocab DIR` it loads GPT-2's published vocabulary (`make gpt2-data` fetches it) and,
 * with `--encode FILE`, prints the ids GPT-2 gives a file.
 *
 * Run: make ch00 && ./ch00_tokenization [--corpus FILE] [--val-file FILE] [--lines N]
 *          [--vocab-size N] [--gpt2-vocab DIR [--encode FILE]] [--seed S] [--no-plot]          */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bpe.h"
#include "cli.h"
#include "corpus.h"
#include "dataset.h"
#include "ngram.h"
#include "plot.h"
#include "print.h"
#include "rng.h"
#include "util.h"

#define CHAPTER "ch00_tokenization"
#define MAX_N NGRAM_MAX_ORDER
enum { SWEEP_MAX = 8192, N_SWEEP = 6, N_LEVELS = N_SWEEP + 2 }; /* BPE 256..8192, characters, words */

static const char ENGLISH[] = "The cat sat on the mat.";
static const char CHINESE[] = "一只猫坐在垫子上。"; /* "A cat sits on the mat." */

typedef struct {
    DatasetFlags flags;
    long long vocab_size;
    const char *gpt2_dir, *encode_path;
    CliCommon common;
    Dataset data;   /* the corpus, its split, and its character-level streams */
    Bpe bpe;        /* trained on the training lines to max(vocab_size, 8192) tokens (or fewer) */
    Plotter plot;
} Chapter;

/* One level of the sweep: its token streams and the n-gram's score at every order. */
typedef struct {
    char name[32];
    int vocab;             /* types the model predicts over, as chapter 1 counts them (|V| + <s>) */
    double tokens_per_byte;
    double bpb[MAX_N + 1]; /* bits per byte at order n */
    double nats_per_token[MAX_N + 1];
    long oov;              /* validation tokens scored as <unk> */
} Level;

/* A token of b as a reader sees it (free it). */
static char *show(const Bpe *b, int t) {
    size_t len;
    const uint8_t *s = bpe_token(b, t, &len);
    return bpe_escape(s, len);
}

/* The tokens of a sequence separated by '|' (-1 between chunks prints as " / "). */
static void print_pieces(const Bpe *b, const int32_t *ids, long n) {
    printf("    ");
    for (long i = 0; i < n; i++) {
        if (ids[i] < 0) { printf(" / "); continue; }
        char *p = show(b, ids[i]);
        printf("%s%s", i && ids[i - 1] >= 0 ? "|" : "", p);
        free(p);
    }
    printf("\n");
}

/* ---- 1. Text is bytes ---- */
static void utf8_table(const char *label, const char *s) {
    printf("  %s \"%s\"\n    %-6s %-9s %s\n", label, s, "char", "code", "UTF-8 bytes");
    int chars = 0;
    for (size_t i = 0; s[i];) {
        const unsigned char c = (unsigned char)s[i];
        const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        uint32_t cp = len == 1 ? c : (uint32_t)(c & (0x3F >> (len - 1)));
        for (size_t k = 1; k < len; k++) cp = cp << 6 | ((unsigned char)s[i + k] & 0x3F);
        char *shown = bpe_escape((const uint8_t *)s + i, len);
        printf("    ");
        print_padded(stdout, shown, 6);
        printf(" U+%04X   ", (unsigned)cp);
        for (size_t k = 0; k < len; k++) printf(" %02X", (unsigned char)s[i + k]);
        printf("\n");
        free(shown);
        chars++, i += len;
    }
    printf("    %d characters, %zu bytes\n\n", chars, strlen(s));
}

static void section_1_bytes(Chapter *ch) {
    print_section(stdout, 1, "Text is bytes: UTF-8, and why 256 byte tokens never meet an unknown");
    printf("  A file holds bytes. UTF-8 writes each Unicode character (code point) as 1 to 4 of them:\n"
           "  U+0000..U+007F in 1 (ASCII), ..U+07FF in 2, ..U+FFFF in 3 (most Chinese), the rest in 4.\n\n");
    utf8_table("English:", ENGLISH);
    utf8_table("Chinese:", CHINESE);
    /* a character vocabulary from the training text against the Chinese sentence */
    char **tok;
    const int n = tokenize_line(CHINESE, LEVEL_CHAR, &tok);
    int unknown = 0;
    for (int i = 0; i < n; i++) unknown += vocab_find(&ch->data.vocab, tok[i]) < 0;
    tokens_free(tok, n);
    printf("  A character vocabulary built from the training text (%d characters) meets %d unknown\n"
           "  characters of the %d in the Chinese sentence: each would become <unk>, and be lost.\n"
           "  A byte vocabulary has all 256 byte values, so every file, even invalid UTF-8 or NUL bytes,\n"
           "  is a sequence of known tokens.\n", ch->data.vocab.size - 3, unknown, n);
    char note[400];
    const int n_en = tokenize_line(ENGLISH, LEVEL_CHAR, &tok);
    tokens_free(tok, n_en);
    const double per_char = (double)strlen(CHINESE) / n;
    snprintf(note, sizeof note, "Notice: the Chinese sentence is %d characters but %zu bytes (%.1f per character), "
             "the English one %d characters in %zu bytes. Bytes cost a model of Chinese %.1f predictions per "
             "character; merging frequent byte sequences into tokens (BPE, next) buys that back.", n, strlen(CHINESE),
             per_char, n_en, strlen(ENGLISH), per_char);
    print_note(stdout, note);
}

/* ---- 2. BPE training: step by step, then on the corpus ---- */
static void section_2_training(Chapter *ch) {
    print_section(stdout, 2, "Byte-pair encoding: training, one merge at a time");
    static const char small[] = "the cat sat on the mat. the rat sat on the hat.";
    printf("  Start from the bytes of a small text. Count every adjacent pair of tokens, merge the most\n"
           "  frequent pair into a new token (id 256, 257, ...), repeat. Ties go to the pair with the\n"
           "  smaller left id, then the smaller right id (so a run is the same every time).\n\n"
           "  text: \"%s\" (%zu bytes)\n", small, strlen(small));
    const BpeChunk chunk = {(const uint8_t *)small, strlen(small)};
    long n;
    int32_t *seq = bpe_chunks_to_seq(&chunk, 1, &n);
    Bpe final;
    bpe_train_plain(&final, &chunk, 1, BPE_BYTES + 8);
    for (int k = 0; k < final.n_merges && k < 6; k++) {
        BpePairCount *p;
        const int np = bpe_pair_counts(seq, n, &p);
        printf("\n  step %d: %ld tokens; the most frequent of the %d distinct pairs:\n   ", k + 1, n, np);
        for (int i = 0; i < np && i < 6; i++) {
            char *l = show(&final, p[i].left), *r = show(&final, p[i].right);
            printf(" (%s,%s) %ld", l, r, p[i].count);
            free(l), free(r);
        }
        char *z = show(&final, BPE_BYTES + k);
        printf("\n    merge (%ld, %ld) -> token %d \"%s\"\n", (long)final.merge[k][0], (long)final.merge[k][1],
               BPE_BYTES + k, z);
        free(z);
        free(p);
        n = bpe_merge_seq(seq, n, final.merge[k][0], final.merge[k][1], BPE_BYTES + k);
        print_pieces(&final, seq, n);
    }
    Bpe fast;
    bpe_train(&fast, &chunk, 1, BPE_BYTES + 8);
    bool same = fast.n_merges == final.n_merges;
    for (int k = 0; same && k < fast.n_merges; k++)
        same = fast.merge[k][0] == final.merge[k][0] && fast.merge[k][1] == final.merge[k][1];
    printf("\n  The fast trainer (pair counts updated after each merge, a priority queue; no rescan)\n"
           "  learns %s merges on this text.\n", same ? "the same" : "DIFFERENT");
    bpe_free(&fast), bpe_free(&final), free(seq);

    /* the whole corpus */
    const int want = ch->vocab_size > SWEEP_MAX ? (int)ch->vocab_size : SWEEP_MAX;
    BpeChunk *chunks = xmalloc(sizeof(BpeChunk) * (size_t)ch->data.n_train);
    size_t bytes = 0;
    for (int i = 0; i < ch->data.n_train; i++) {
        chunks[i] = (BpeChunk){(const uint8_t *)ch->data.train_lines[i], strlen(ch->data.train_lines[i])};
        bytes += chunks[i].n;
    }
    bpe_train(&ch->bpe, chunks, ch->data.n_train, want);
    free(chunks);
    const int V = bpe_vocab_size(&ch->bpe);
    printf("\n  On the corpus: the %d training lines (%zu bytes; each line is a chunk, so no token\n"
           "  crosses a line end), trained once to %d tokens%s.\n"
           "  Training to a smaller size stops earlier on the same path, so every smaller vocabulary\n"
           "  below is a prefix of these merges.\n",
           ch->data.n_train, bytes, V, V < want ? " (then no pair occurred twice any more)" : "");
    printf("\n  The first 12 merges:\n   ");
    for (int k = 0; k < 12 && k < ch->bpe.n_merges; k++) {
        char *z = show(&ch->bpe, BPE_BYTES + k);
        printf(" \"%s\"", z);
        free(z);
    }
    const int used = ch->vocab_size < V ? (int)ch->vocab_size : V;
    int longest = 0;
    size_t len, best_len = 0;
    for (int t = 0; t < used; t++)
        if (bpe_token(&ch->bpe, t, &len), len > best_len) best_len = len, longest = t;
    char *z = show(&ch->bpe, longest);
    printf("\n  With --vocab-size %lld (%d tokens): the longest token is \"%s\", %zu bytes.\n", ch->vocab_size, used,
           z, best_len);
    free(z);
    int spaced = 0, shown = 0; /* of the first merges, how many hold a space */
    for (int k = 0; k < 12 && k < ch->bpe.n_merges; k++, shown++)
        if (bpe_token(&ch->bpe, BPE_BYTES + k, &len), memchr(ch->bpe.bytes + ch->bpe.offset[BPE_BYTES + k], ' ', len))
            spaced++;
    char note[400];
    snprintf(note, sizeof note, "Notice: %d of the first %d merges hold a space%s. Each merge joins two tokens made "
             "before it, so tokens grow with every merge; with %d tokens the longest is %zu bytes.", spaced, shown,
             2 * spaced > shown ? ": the commonest pairs sit at the edges of words" : "", used, best_len);
    print_note(stdout, note);
}

/* ---- 3. Encoding and decoding ---- */
static void encode_and_show(const Bpe *b, const char *label, const uint8_t *s, size_t n) {
    int32_t *ids = xmalloc(sizeof(int32_t) * (n ? n : 1));
    uint8_t *back = xmalloc(n ? n : 1);
    const size_t m = bpe_encode(b, s, n, ids);
    const size_t nb = bpe_decode(b, ids, m, back);
    printf("  %s: %zu bytes -> %zu tokens; decoded: %s\n   ", label, n, m,
           nb == n && memcmp(back, s, n) == 0 ? "identical" : "DIFFERENT");
    for (size_t i = 0; i < m && i < 16; i++) printf(" %d", ids[i]);
    printf("%s\n", m > 16 ? " ..." : "");
    print_pieces(b, ids, (long)(m < 16 ? m : 16));
    free(ids), free(back);
}

static void section_3_encode_decode(Chapter *ch) {
    print_section(stdout, 3, "Encoding and decoding");
    Bpe b;
    const int used = ch->vocab_size < bpe_vocab_size(&ch->bpe) ? (int)ch->vocab_size : bpe_vocab_size(&ch->bpe);
    bpe_prefix(&b, &ch->bpe, used - BPE_BYTES);
    printf("  encode: apply the merges in the order they were learned (equal to GPT-2's rule: merge the\n"
           "  lowest-ranked pair present, again and again); decode: concatenate each token's bytes.\n"
           "  The corpus tokenizer with %d tokens:\n\n", used);
    const char *line = ch->data.val_lines[0];
    encode_and_show(&b, "first validation line", (const uint8_t *)line, strlen(line));
    encode_and_show(&b, "the Chinese sentence", (const uint8_t *)CHINESE, strlen(CHINESE));
    Rng rng;
    rng_seed(&rng, (uint64_t)ch->common.seed, 3);
    uint8_t junk[24];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (uint8_t)rng_below(&rng, 256);
    junk[3] = 0, junk[4] = 0xFF; /* a NUL byte, a byte that never occurs in UTF-8 */
    encode_and_show(&b, "random bytes with NUL", junk, sizeof junk);
    bpe_free(&b);

    /* a tokenizer trained on Chinese learns tokens that end in the middle of a character */
    static const char zh[] = "一只猫坐在垫子上。一只狗坐在垫子下。猫和狗都在垫子上。";
    const BpeChunk c = {(const uint8_t *)zh, strlen(zh)};
    Bpe z;
    bpe_train(&z, &c, 1, BPE_BYTES + 10);
    printf("\n  A tokenizer trained on Chinese (%d merges on \"%s\"):\n", z.n_merges, zh);
    int32_t ids[256];
    const size_t m = bpe_encode(&z, c.s, c.n, ids);
    int partial = 0;
    for (size_t i = 0; i < m; i++) {
        size_t len;
        const uint8_t *t = bpe_token(&z, ids[i], &len);
        partial += util_utf8_invalid_at((const char *)t, len) >= 0;
    }
    print_pieces(&z, ids, (long)m);
    printf("  A piece printed as \\xNN is a byte that is not part of a whole character inside that token.\n");
    bpe_free(&z);
    char note[400];
    snprintf(note, sizeof note, "Notice: %d of these %zu tokens are not whole characters (they start or end inside one): printed "
             "alone they are not text, yet the decoded sequence is. A model that emits tokens one at a time must "
             "hold back such bytes until the character is complete before it prints.", partial, m);
    print_note(stdout, note);
}

/* ---- 4. The sweep: tokens per byte and bits per byte ---- */

/* Every validation and training line as BPE ids + 3 (ids 0..2 are <unk>, <s>, </s>), each line
 * followed by </s>, so chapter 1's n-gram reads them like any other token stream. */
static void bpe_stream(TokenStream *out, const Bpe *b, char *const *lines, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) total += strlen(lines[i]) + 1;
    out->id = xmalloc(sizeof(int) * (total ? total : 1));
    out->n = 0, out->n_lines = n, out->n_oov = 0;
    int32_t *ids = xmalloc(sizeof(int32_t) * (total ? total : 1));
    for (int i = 0; i < n; i++) {
        const size_t m = bpe_encode(b, (const uint8_t *)lines[i], strlen(lines[i]), ids);
        for (size_t k = 0; k < m; k++) out->id[out->n++] = ids[k] + 3;
        out->id[out->n++] = VOCAB_EOS;
    }
    free(ids);
}

static void score_level(Level *lv, const TokenStream *train, const TokenStream *val, int vocab, double bytes) {
    NgramModel m;
    ngram_build(&m, train, vocab, MAX_N, 1.0);
    lv->vocab = vocab;
    lv->tokens_per_byte = (double)val->n / bytes;
    lv->oov = val->n_oov;
    for (int n = 1; n <= MAX_N; n++) {
        const NgramScore s = ngram_score(&m, SMOOTH_MKN, n, val);
        const double nats = -s.log10_sum * log(10.0);
        lv->bpb[n] = nats / bytes / log(2.0);
        lv->nats_per_token[n] = nats / (double)s.tokens;
    }
    ngram_free(&m);
}

static int best_order(const Level *lv) {
    int b = 1;
    for (int n = 2; n <= MAX_N; n++)
        if (lv->bpb[n] < lv->bpb[b]) b = n;
    return b;
}

static void section_4_sweep(Chapter *ch) {
    print_section(stdout, 4, "The sweep: tokens per byte, and the n-gram in bits per byte");
    Dataset *d = &ch->data;
    double bytes = 0; /* every validation line and its line end */
    for (int i = 0; i < d->n_val; i++) bytes += (double)strlen(d->val_lines[i]) + 1;
    printf("  Chapter 1's n-gram (modified Kneser-Ney, orders 1..%d) at each level, on the same %d\n"
           "  validation lines (%.0f bytes with their line ends):\n"
           "    nats per token  = (sum of -ln p over the validation tokens) / tokens\n"
           "    bits per byte   = (the same sum) / bytes / ln 2\n"
           "  A line end is one token at every level (</s>). Word level drops spaces and lower-cases, and\n"
           "  characters or words never seen in training are scored as one <unk>: both flatter them.\n\n",
           MAX_N, d->n_val, bytes);
    Level lv[N_LEVELS];
    int nl = 0;
    const int V = bpe_vocab_size(&ch->bpe);
    for (int k = 0, size = BPE_BYTES; k < N_SWEEP && size <= V; k++, size *= 2) {
        Bpe b;
        bpe_prefix(&b, &ch->bpe, size - BPE_BYTES);
        TokenStream tr, va;
        bpe_stream(&tr, &b, d->train_lines, d->n_train);
        bpe_stream(&va, &b, d->val_lines, d->n_val);
        snprintf(lv[nl].name, sizeof lv[nl].name, "BPE %d", size);
        score_level(&lv[nl++], &tr, &va, size + 3, bytes);
        token_stream_free(&tr), token_stream_free(&va), bpe_free(&b);
    }
    const int n_bpe = nl;
    snprintf(lv[nl].name, sizeof lv[nl].name, "characters");
    score_level(&lv[nl++], &d->train, &d->val, d->vocab.size, bytes);
    Vocab wv;
    vocab_init(&wv);
    TokenStream wt, wva;
    corpus_encode(&wt, &wv, d->train_lines, d->n_train, LEVEL_WORD, true);
    corpus_encode(&wva, &wv, d->val_lines, d->n_val, LEVEL_WORD, false);
    snprintf(lv[nl].name, sizeof lv[nl].name, "words");
    score_level(&lv[nl++], &wt, &wva, wv.size, bytes);
    token_stream_free(&wt), token_stream_free(&wva), vocab_free(&wv);

    printf("  %-11s %6s %9s %6s | %-41s | %s\n", "", "", "", "", "bits per byte, n-gram of order n",
           "at the best n");
    printf("  %-11s %6s %9s %6s |", "level", "|V|", "tok/byte", "<unk>");
    for (int n = 1; n <= MAX_N; n++) printf("  n=%d  ", n);
    printf("| n nats/tok bits/byte\n");
    for (int l = 0; l < nl; l++) {
        const int bo = best_order(&lv[l]);
        printf("  %-11s %6d %9.4f %6ld |", lv[l].name, lv[l].vocab - 1, lv[l].tokens_per_byte, lv[l].oov);
        for (int n = 1; n <= MAX_N; n++) printf(" %6.4f", lv[l].bpb[n]);
        printf(" | %d %8.4f %9.4f\n", bo, lv[l].nats_per_token[bo], lv[l].bpb[bo]);
    }
    double floor_bpb = NAN;
    if (d->val_synth_index) {
        floor_bpb = d->floor_nats * (double)d->val.n / bytes / log(2.0);
        printf("\n  The true process (the synthetic language's generator): %.4f bits per byte.\n", floor_bpb);
    }
    /* figures: tokens per byte, and bits per byte against the vocabulary size */
    double x[N_SWEEP], tpb[N_SWEEP], bpb_best[N_SWEEP], bpb3[N_SWEEP], chr[N_SWEEP], wrd[N_SWEEP], flo[N_SWEEP];
    const Level *cl = &lv[n_bpe], *wl = &lv[n_bpe + 1];
    for (int l = 0; l < n_bpe; l++) {
        x[l] = lv[l].vocab - 3, tpb[l] = lv[l].tokens_per_byte;
        bpb_best[l] = lv[l].bpb[best_order(&lv[l])], bpb3[l] = lv[l].bpb[3];
        chr[l] = cl->bpb[best_order(cl)], wrd[l] = wl->bpb[best_order(wl)], flo[l] = floor_bpb;
    }
    putchar('\n');
    LineAxes ax1 = {"BPE vocabulary size (log scale)", "validation tokens per byte", true, false};
    LineSeries s1 = {"BPE", tpb, false};
    plot_lines(&ch->plot, "tokens_per_byte", "Longer tokens: fewer of them per byte", &ax1, x, n_bpe, &s1, 1);
    /* (order 1 is left out of the figure: its fall from bytes to 512 tokens would flatten the rest) */
    LineSeries s2[5] = {{"BPE, n-gram of order 3", bpb3, false}, {"BPE, best order", bpb_best, false},
                        {"characters, best order (flat: one level)", chr, false},
                        {"words, best order (flat: one level)", wrd, false}, {"true process", flo, true}};
    LineAxes ax2 = {"BPE vocabulary size (log scale)", "validation bits per byte", true, false};
    plot_lines(&ch->plot, "bits_per_byte", "The n-gram in bits per byte at each token level", &ax2, x, n_bpe, s2,
               d->val_synth_index ? 5 : 4);

    /* what the numbers say */
    const Level *first = &lv[0], *last = &lv[n_bpe - 1];
    int best_bpe = 0;
    for (int l = 1; l < n_bpe; l++)
        if (bpb_best[l] < bpb_best[best_bpe]) best_bpe = l;
    const int fo = best_order(first), lo_ = best_order(last);
    char note[1400];
    const double tok_ratio = last->nats_per_token[lo_] / first->nats_per_token[fo];
    const double byte_change = 100 * (last->bpb[lo_] / first->bpb[fo] - 1);
    int len = 0;
    if (n_bpe == 1) {
        len = snprintf(note, sizeof note, "Notice: training stopped at %d tokens (no pair occurred twice), so the sweep "
                       "has one BPE level. ", V);
    } else {
        len = snprintf(note, sizeof note,
                       "Notice: from %s to %s (each at its best n) the loss per token went from %.3f to %.3f nats "
                       "(x %.2f), while bits per byte changed by %+.1f%% (%.4f to %.4f): ",
                       first->name, last->name, first->nats_per_token[fo], last->nats_per_token[lo_], tok_ratio,
                       byte_change, first->bpb[fo], last->bpb[lo_]);
        if ((tok_ratio > 1) != (byte_change > 0))
            len += snprintf(note + len, sizeof note - (size_t)len, "the two measures disagree about which is better. ");
        else if (fabs(log(tok_ratio)) > 4 * fabs(log1p(byte_change / 100)))
            len += snprintf(note + len, sizeof note - (size_t)len, "a loss per token mostly measures how long the "
                            "tokens are, not how well the text is predicted. ");
        else
            len += snprintf(note + len, sizeof note - (size_t)len, "here both move alike, but only the one per byte "
                            "compares the same text. ");
    }
    const double cb = cl->bpb[best_order(cl)], wb = wl->bpb[best_order(wl)];
    len += snprintf(note + len, sizeof note - (size_t)len,
                    "The best BPE level for the n-gram is %s (%.4f bits per byte, at n = %d); characters give "
                    "%.4f and words %.4f%s.",
                    lv[best_bpe].name, bpb_best[best_bpe], best_order(&lv[best_bpe]), cb, wb,
                    bpb_best[best_bpe] < cb && bpb_best[best_bpe] < wb ? ": BPE beats both"
                    : bpb_best[best_bpe] < cb                           ? ": BPE beats characters, not words"
                                                                        : "");
    if (wb < bpb_best[best_bpe] && wl->oov > 0)
        len += snprintf(note + len, sizeof note - (size_t)len, " Words look best, but %ld of their validation tokens "
                        "are <unk> (one probability for every unseen word) and their text lost its spaces and "
                        "capitals: they predict less than all the bytes.", wl->oov);
    if (d->val_synth_index) {
        int below = -1; /* a level under the floor: possible on a finite sample, never on average */
        for (int l = 0; l < nl; l++)
            if (lv[l].bpb[best_order(&lv[l])] < floor_bpb) below = l;
        len += snprintf(note + len, sizeof note - (size_t)len, " What does not change: the text, its %.0f bytes and "
                        "the true process's %.4f bits per byte, ", bytes, floor_bpb);
        if (below < 0) snprintf(note + len, sizeof note - (size_t)len, "the floor every level stays above.");
        else snprintf(note + len, sizeof note - (size_t)len, "a floor that %s dips below on this sample.", lv[below].name);
    }
    print_note(stdout, note);
    putchar('\n');
    printf("sweep_best_bpe_level: %s\nsweep_best_bpe_bits_per_byte: %.6f\nchar_bits_per_byte: %.6f\n"
           "word_bits_per_byte: %.6f\n", lv[best_bpe].name, bpb_best[best_bpe], cb, wb);
    if (d->val_synth_index) printf("true_bits_per_byte: %.6f\n", floor_bpb);
}

/* ---- GPT-2's published tokenizer ---- */

/* The whole file (any bytes), or exit 1 with one line: a regular file only, read through
 * util_read_file (a FIFO or a device is refused, not waited on or read without end). */
static uint8_t *read_bytes(const char *path, size_t *n) {
    struct stat st;
    if (stat(path, &st) != 0) die(EXIT_RUNTIME, "cannot read %s: no such file", path);
    if (S_ISDIR(st.st_mode)) die(EXIT_RUNTIME, "%s is a directory, not a file", path);
    uint8_t *buf = (uint8_t *)util_read_file(path, UTIL_MAX_FILE_BYTES, n, NULL);
    if (*n == 0) {
        free(buf); /* whoever allocates frees, on the way out too */
        die(EXIT_RUNTIME, "%s is empty", path);
    }
    return buf;
}

static void load_gpt2(Bpe *b, const char *dir) {
    char pj[4096], pb[4096], err[256];
    snprintf(pj, sizeof pj, "%s/encoder.json", dir);
    snprintf(pb, sizeof pb, "%s/vocab.bpe", dir);
    size_t nj, nb;
    uint8_t *json = read_bytes(pj, &nj), *bpe = read_bytes(pb, &nb);
    if (!bpe_gpt2_parse(b, (const char *)json, nj, (const char *)bpe, nb, err, sizeof err))
        die(EXIT_RUNTIME, "%s: %s", dir, err);
    free(json), free(bpe);
}

/* --encode FILE: the ids of the whole file, one line, nothing else. */
static void gpt2_encode_file(const char *dir, const char *path) {
    size_t n;
    uint8_t *s = read_bytes(path, &n);
    Bpe b;
    load_gpt2(&b, dir);
    int32_t *ids = xmalloc(sizeof(int32_t) * n);
    const size_t m = bpe_gpt2_encode(&b, s, n, ids);
    for (size_t i = 0; i < m; i++) printf(i ? " %d" : "%d", ids[i]);
    printf("\n");
    free(ids), free(s);
    bpe_free(&b);
}

static void section_5_gpt2(Chapter *ch) {
    print_section(stdout, 5, "A real tokenizer: GPT-2's");
    if (!ch->gpt2_dir) {
        printf("  GPT-2's published vocabulary (50,000 merges, 50,257 ids) loads with --gpt2-vocab DIR,\n"
               "  where DIR holds encoder.json and vocab.bpe: `make gpt2-data` fetches them into data/gpt2.\n");
        return;
    }
    Bpe b;
    load_gpt2(&b, ch->gpt2_dir);
    printf("  %s: %d merges, so %d tokens (bytes and merges), with published ids 0..%d. Other\n"
           "  entries of encoder.json (<|endoftext|>) are special: never made from text.\n", ch->gpt2_dir,
           b.n_merges, bpe_vocab_size(&b), b.n_ext - 1);
    printf("  GPT-2 first cuts the text into pre-tokens (contractions, letters, numbers, other symbols,\n"
           "  white space; a space sticks to the word after it), then runs BPE inside each:\n\n");
    static const char *const texts[] = {ENGLISH, CHINESE, "It's 2024, and we'll   see!"};
    size_t count[3];
    for (int t = 0; t < 3; t++) {
        const size_t n = strlen(texts[t]);
        int32_t ids[256];
        const size_t m = count[t] = bpe_gpt2_encode(&b, (const uint8_t *)texts[t], n, ids);
        printf("  \"%s\": %zu bytes -> %zu tokens\n   ", texts[t], n, m);
        for (size_t i = 0; i < m; i++) printf(" %d", ids[i]);
        printf("\n");
    }
    char **tok;
    const int chars = tokenize_line(CHINESE, LEVEL_CHAR, &tok);
    tokens_free(tok, chars);
    char note[300];
    snprintf(note, sizeof note, "Notice: GPT-2's merges were learned on mostly English web text: the English "
             "sentence takes %.1f bytes per token, the Chinese one %.2f tokens per character.",
             (double)strlen(ENGLISH) / (double)count[0], (double)count[1] / chars);
    print_note(stdout, note);
    bpe_free(&b);
}

int main(int argc, char **argv) {
    Chapter ch;
    memset(&ch, 0, sizeof ch);
    ch.common = cli_common_defaults();
    ch.flags = dataset_flags_default();
    ch.flags.lines = 60000; /* enough text for 8192 tokens */
    ch.vocab_size = 1024;
    CliOption opts[DATASET_N_OPTIONS + 3];
    CliOption data_opts[DATASET_N_OPTIONS];
    dataset_cli_options(data_opts, &ch.flags);
    int n = 0;
    for (int i = 0; i < DATASET_N_OPTIONS; i++) /* all levels are compared: not --level, and --vocab-size is ours */
        if (strcmp(data_opts[i].name, "--level") != 0 && strcmp(data_opts[i].name, "--vocab-size") != 0) opts[n++] = data_opts[i];
    opts[n++] = cli_int("--vocab-size", &ch.vocab_size, BPE_BYTES, BPE_MAX_VOCAB, "N", "tokens of the trained BPE vocabulary");
    opts[n++] = cli_string("--gpt2-vocab", &ch.gpt2_dir, "DIR", "a folder with GPT-2's encoder.json and vocab.bpe");
    opts[n++] = cli_string("--encode", &ch.encode_path, "FILE", "with --gpt2-vocab: print only GPT-2's ids of FILE");
    CliSpec spec = {CHAPTER, "Tokenization (chapter 0): UTF-8 bytes, byte-level BPE trained step by step and on\n"
                             "a corpus, encoding and decoding, the n-gram in bits per byte at every token level,\n"
                             "and GPT-2's published tokenizer.", opts, n};
    cli_parse(&spec, &ch.common, argc, argv);
    if (ch.encode_path) {
        if (!ch.gpt2_dir) {
            fprintf(stderr, "%s: --encode needs --gpt2-vocab DIR (the vocabulary to encode with)\n", CHAPTER);
            return EXIT_USAGE;
        }
        gpt2_encode_file(ch.gpt2_dir, ch.encode_path);
        return 0;
    }
    plot_init(&ch.plot, &ch.common, CHAPTER, stdout);

    printf("Chapter 0: tokenization, byte-level BPE, and bits per byte\n");
    print_section(stdout, 0, "The corpus");
    dataset_load(&ch.data, &ch.flags, (uint64_t)ch.common.seed, false, stdout);
    section_1_bytes(&ch);
    section_2_training(&ch);
    section_3_encode_decode(&ch);
    section_4_sweep(&ch);
    section_5_gpt2(&ch);

    bpe_free(&ch.bpe);
    dataset_free(&ch.data);
    return 0;
}
