/* The BPE token level (issue 19, item 5): token names, encoding and decoding through the corpus
 * loader, printing generated tokens that cut a character, the checkpoint's required 'BPEM'
 * section and what it refuses, and chapters 1, 2, 10, 11 and 12 run with --level bpe. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpe.h"
#include "chapter_run.h"
#include "checkpoint.h"
#include "corpus.h"
#include "model_fixtures.h"
#include "tests.h"

/* Lines with a space, Chinese, U+2423 itself and text that looks like special tokens. */
static char *const LINES[] = {"<s> and <s>", "[MASK]", "[MASK]", "中文中文中文 ␣␣ the the the", "a\\tb a\\tb",
                              "<unk></s><unk></s>"};
enum { N_LINES = 6 };

/* A BPE vocabulary trained on LINES to 300 tokens (or fewer). */
static void trained_vocab(Vocab *v) {
    BpeChunk chunks[N_LINES];
    for (int i = 0; i < N_LINES; i++) chunks[i] = (BpeChunk){(const uint8_t *)LINES[i], strlen(LINES[i])};
    Bpe b;
    bpe_train(&b, chunks, N_LINES, 300);
    ck_assert_int_gt(b.n_merges, 10);
    vocab_init_bpe(v, &b);
    bpe_free(&b);
}

/* Every token has a distinct name, none of them a special token's, and the names that must be
 * escaped are. */
START_TEST(test_token_names) {
    Vocab v;
    trained_vocab(&v);
    const int V = bpe_vocab_size(v.bpe);
    ck_assert_int_eq(v.size, 3 + V);
    for (int i = 0; i < v.size; i++) ck_assert_int_eq(vocab_find(&v, v.word[i]), i); /* distinct */
    ck_assert_int_eq(vocab_find(&v, "<unk>"), VOCAB_UNK);
    ck_assert_int_eq(vocab_find(&v, "<s>"), VOCAB_BOS);
    ck_assert_int_eq(vocab_find(&v, "</s>"), VOCAB_EOS);
    ck_assert_int_eq(vocab_find(&v, "[MASK]"), -1);
    ck_assert_str_eq(v.word[3 + 0], "\\x00");
    ck_assert_str_eq(v.word[3 + ' '], "\xe2\x90\xa3");
    ck_assert_str_eq(v.word[3 + '\\'], "\\\\");
    ck_assert_str_eq(v.word[3 + 0xE4], "\\xE4");
    int looks_special = 0, visible_space = 0;
    for (int t = 256; t < V; t++) {
        size_t n;
        const uint8_t *s = bpe_token(v.bpe, t, &n);
        if (n == 3 && memcmp(s, "<s>", 3) == 0) {
            ck_assert_str_eq(v.word[3 + t], "\\x3Cs>");
            looks_special++;
        }
        if (n == 6 && memcmp(s, "[MASK]", 6) == 0) {
            ck_assert_str_eq(v.word[3 + t], "\\x5BMASK]");
            looks_special++;
        }
        if (n == 3 && memcmp(s, "\xe2\x90\xa3", 3) == 0) {
            ck_assert_str_eq(v.word[3 + t], "\\u2423");
            visible_space++;
        }
    }
    ck_assert_int_eq(looks_special, 2); /* both were learned, so the rule was exercised */
    ck_assert_int_eq(visible_space, 1);
    vocab_free(&v);
}
END_TEST

/* corpus_encode at the BPE level: ids in range, one </s> per line, nothing unknown, and decoding
 * gives back the lines; corpus_encode_text is the same without the </s>. */
START_TEST(test_encode_decode) {
    Vocab v;
    trained_vocab(&v);
    TokenStream s;
    corpus_encode(&s, &v, LINES, N_LINES, LEVEL_BPE, false);
    ck_assert_int_eq(s.n_lines, N_LINES);
    ck_assert_int_eq(s.n_oov, 0);
    long eos = 0, bytes = 0;
    for (long i = 0; i < s.n; i++) {
        ck_assert(s.id[i] == VOCAB_EOS || (s.id[i] >= 3 && s.id[i] < v.size));
        eos += s.id[i] == VOCAB_EOS;
    }
    ck_assert_int_eq(eos, N_LINES);
    char want[512] = "";
    for (int i = 0; i < N_LINES; i++) strcat(want, LINES[i]), strcat(want, "\n"), bytes += (long)strlen(LINES[i]) + 1;
    ck_assert_int_lt(s.n, bytes); /* merges made the text shorter */
    char *text = corpus_decode(&v, s.id, s.n, LEVEL_BPE);
    ck_assert_str_eq(text, want);
    free(text);
    /* a token that ends mid-character decodes alone to \xNN; whole, the bytes are the character */
    const int cut[3] = {3 + 0xE4, 3 + 0xB8, 3 + 0xAD}; /* 中 = E4 B8 AD, byte by byte */
    text = corpus_decode(&v, cut, 1, LEVEL_BPE);
    ck_assert_str_eq(text, "\\xE4");
    free(text);
    text = corpus_decode(&v, cut, 3, LEVEL_BPE);
    ck_assert_str_eq(text, "中");
    free(text);
    const int specials[3] = {VOCAB_UNK, 3 + 'a', VOCAB_EOS};
    text = corpus_decode(&v, specials, 3, LEVEL_BPE);
    ck_assert_str_eq(text, "<unk>a\n");
    free(text);
    token_stream_free(&s);
    vocab_free(&v);
}
END_TEST

/* corpus_encode_text at the BPE level equals each line's stream without its </s>. */
START_TEST(test_encode_text) {
    Vocab v;
    trained_vocab(&v);
    for (int i = 0; i < N_LINES; i++) {
        TokenStream s;
        corpus_encode(&s, &v, &LINES[i], 1, LEVEL_BPE, false);
        int *ids;
        const long k = corpus_encode_text(&v, LINES[i], LEVEL_BPE, &ids);
        ck_assert_int_eq(k, s.n - 1);
        for (long j = 0; j < k; j++) ck_assert_int_eq(ids[j], s.id[j]);
        free(ids);
        token_stream_free(&s);
    }
    vocab_free(&v);
}
END_TEST

/* Generated tokens are printed once their bytes end on a whole character. */
START_TEST(test_print_whole) {
    static const uint8_t zhong[3] = {0xE4, 0xB8, 0xAD};
    ck_assert_uint_eq(bpe_complete_prefix(zhong, 1), 0);
    ck_assert_uint_eq(bpe_complete_prefix(zhong, 2), 0);
    ck_assert_uint_eq(bpe_complete_prefix(zhong, 3), 3);
    ck_assert_uint_eq(bpe_complete_prefix((const uint8_t *)"ab\xE4", 3), 2);
    ck_assert_uint_eq(bpe_complete_prefix((const uint8_t *)"\xAD", 1), 1); /* a lone continuation byte: print it */
    Vocab v;
    trained_vocab(&v);
    const int ids[4] = {3 + 'x', 3 + 0xE4, 3 + 0xB8, 3 + 0xAD};
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    ck_assert_int_eq(corpus_print_whole(f, &v, ids, 2, false), 0); /* x then half a character: wait */
    ck_assert_int_eq(corpus_print_whole(f, &v, ids, 3, false), 0);
    ck_assert_int_eq(corpus_print_whole(f, &v, ids, 4, false), 4);
    ck_assert_int_eq(corpus_print_whole(f, &v, ids + 1, 1, true), 1); /* the end: as it is */
    fclose(f);
    ck_assert_str_eq(buf, "x中\\xE4");
    free(buf);
    vocab_free(&v);
}
END_TEST

/* ==== the checkpoint's 'BPEM' section ==== */

/* A BPE checkpoint of a tiny causal model over v. */
static unsigned char *bpe_checkpoint(const Vocab *v, size_t *len) {
    ModelConfig cfg = tiny_config(1);
    cfg.vocab = v->size;
    Model m;
    model_init(&m, &cfg, 1, 7);
    unsigned char *data = checkpoint_serialize(&m, v, LEVEL_BPE, NULL, NULL, len);
    model_free(&m);
    return data;
}

/* The checksum written again after a change. */
static void reseal(unsigned char *data, size_t len) {
    const uint64_t h = checkpoint_checksum(data, len - 8);
    for (int i = 0; i < 8; i++) data[len - 8 + i] = (unsigned char)(h >> (8 * i));
}

/* The offset of vocabulary entry i (its u32 length): entries start at byte 64. */
static size_t entry_at(const unsigned char *data, int i) {
    size_t at = 64;
    for (int k = 0; k < i; k++) at += 4 + (size_t)(data[at] | data[at + 1] << 8);
    return at;
}

/* good with its BPEM section's text replaced by `text`; *n the new length. */
static unsigned char *with_merges(const unsigned char *good, size_t len, size_t at, const char *text, size_t *n) {
    const size_t old = 12 + (size_t)(good[at + 4] | good[at + 5] << 8 | good[at + 6] << 16), t = strlen(text);
    *n = len - old + 12 + t;
    unsigned char *bad = malloc(*n);
    memcpy(bad, good, at + 4);
    for (int i = 0; i < 8; i++) bad[at + 4 + i] = (unsigned char)((uint64_t)t >> (8 * i));
    memcpy(bad + at + 12, text, t);
    memcpy(bad + at + 12 + t, good + at + old, len - at - old);
    reseal(bad, *n);
    return bad;
}

/* Where the section's tag is (the bytes "BPEM" followed by its length). */
static size_t section_at(const unsigned char *data, size_t len) {
    for (size_t i = len - 8; i-- > 4;)
        if (memcmp(data + i, "BPEM", 4) == 0) return i;
    ck_abort_msg("no BPEM section");
    return 0;
}

static void refused(const unsigned char *data, size_t len, const char *message) {
    Checkpoint ck;
    char err[256];
    ck_assert_msg(!checkpoint_parse(&ck, data, len, err, sizeof err), "accepted; want \"%s\"", message);
    ck_assert_msg(strstr(err, message) != NULL, "got \"%s\", want \"%s\"", err, message);
}

START_TEST(test_checkpoint_round_trip) {
    Vocab v;
    trained_vocab(&v);
    vocab_add(&v, "[MASK]"); /* chapter 11 adds one after the tokens: allowed */
    size_t len;
    unsigned char *data = bpe_checkpoint(&v, &len);
    Checkpoint ck;
    char err[256];
    ck_assert_msg(checkpoint_parse(&ck, data, len, err, sizeof err), "%s", err);
    ck_assert_int_eq(ck.level, LEVEL_BPE);
    ck_assert_ptr_nonnull(ck.vocab.bpe);
    ck_assert_int_eq(ck.vocab.bpe->n_merges, v.bpe->n_merges);
    for (int k = 0; k < v.bpe->n_merges; k++)
        ck_assert(ck.vocab.bpe->merge[k][0] == v.bpe->merge[k][0] && ck.vocab.bpe->merge[k][1] == v.bpe->merge[k][1]);
    ck_assert_int_eq(ck.vocab.size, v.size);
    const int ids[3] = {3 + 0xE4, 3 + 0xB8, 3 + 0xAD};
    char *text = corpus_decode(&ck.vocab, ids, 3, LEVEL_BPE);
    ck_assert_str_eq(text, "中");
    free(text);
    checkpoint_free(&ck);
    free(data);
    vocab_free(&v);
}
END_TEST

START_TEST(test_checkpoint_refusals) {
    Vocab v;
    trained_vocab(&v);
    size_t len;
    unsigned char *good = bpe_checkpoint(&v, &len), *bad = malloc(len);
    const size_t at = section_at(good, len);
    /* an older program's view: a required section it does not know */
    memcpy(bad, good, len);
    memcpy(bad + at, "BPEX", 4);
    reseal(bad, len);
    refused(bad, len, "needs section 'BPEX'");
    /* the section cut out: the BPE level without its merges */
    const size_t n_section = 12 + (size_t)(good[at + 4] | good[at + 5] << 8 | good[at + 6] << 16);
    memcpy(bad, good, at);
    memcpy(bad + at, good + at + n_section, len - at - n_section);
    reseal(bad, len - n_section);
    refused(bad, len - n_section, "without its merges");
    /* merges the parser refuses: one naming a token not yet made, and one more than the vocabulary */
    size_t n;
    unsigned char *other = with_merges(good, len, at, "bpe-merges 1\n1\n300 1\n", &n);
    refused(other, n, "section 'BPEM' (the BPE merges)");
    free(other);
    char *table = bpe_serialise(v.bpe, &n);
    table = realloc(table, n + 16);
    char *count = strchr(table, '\n') + 1;
    char fixed[4096];
    snprintf(fixed, sizeof fixed, "%d\n%s", v.bpe->n_merges + 1, strchr(count, '\n') + 1);
    snprintf(count, n + 16 - (size_t)(count - table), "%s97 98\n", fixed); /* "ab" is no merge of LINES */
    other = with_merges(good, len, at, table, &n);
    free(table);
    refused(other, n, "make");
    free(other);
    /* the merges under the character level */
    memcpy(bad, good, len);
    bad[56] = 0;
    reseal(bad, len);
    refused(bad, len, "section 'BPEM' (BPE merges) in a checkpoint of character tokens");
    /* a vocabulary that is not the merges' tokens: the names of bytes 'a' and 'b' swapped */
    memcpy(bad, good, len);
    unsigned char *a = bad + entry_at(bad, 3 + 'a'), *b = bad + entry_at(bad, 3 + 'b');
    ck_assert(a[0] == 1 && a[4] == 'a' && b[0] == 1 && b[4] == 'b');
    a[4] = 'b', b[4] = 'a';
    reseal(bad, len);
    refused(bad, len, "vocabulary entry 100 is 'b', but the merges make token 97 'a'");
    free(good), free(bad);
    vocab_free(&v);
}
END_TEST

/* ==== the chapters at --level bpe ==== */

START_TEST(test_ch01_bpe) {
    Run r = run("ch01_ngram", (const char *[]){"--level", "bpe", "--vocab-size", "300", "--lines", "2000", "--sample", "2",
                                               "--no-plot", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "\nlevel: bpe\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "44 merges learned on the training lines, 300 tokens"));
    ck_assert_ptr_nonnull(strstr(r.out, "(a BPE token can hold a closer with its neighbours)"));
    const double bpb = summary_value(r.out, "bits_per_byte");
    ck_assert_msg(bpb > 0.5 && bpb < 3, "bits per byte %g", bpb);
    run_free(&r);
    /* --vocab-size belongs to the BPE level */
    r = run("ch01_ngram", (const char *[]){"--vocab-size", "300", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--vocab-size: 300, but it sets the BPE vocabulary: give --level bpe too"));
    ck_assert_int_eq(count_lines(r.err), 1);
    run_free(&r);
    r = run("ch01_ngram", (const char *[]){"--level", "bpe", "--vocab-size", "255", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--vocab-size"));
    run_free(&r);
}
END_TEST

START_TEST(test_ch02_bpe) {
    Run r = run_quick("ch02_neural_lm", (const char *[]){"--level", "bpe", "--vocab-size", "300", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "\nlevel: bpe\n"));
    const double gpt = summary_value(r.out, "validation_bits_per_byte"), ng = summary_value(r.out, "ngram_bits_per_byte");
    ck_assert(isfinite(gpt) && isfinite(ng) && gpt > 0 && ng > 0);
    run_free(&r);
}
END_TEST

/* Chapter 10: bits per byte equal bits per character on ASCII text; a BPE model saved, loaded to
 * generate and to train on another text (encoded with the stored merges), and the flags that
 * contradict it refused. */
START_TEST(test_ch10_bpe) {
    const char *chapter = "ch10_gpt_pretraining";
    char dir[] = "/tmp/llm-notebook-bpe10-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ckpt[256], text[256];
    snprintf(ckpt, sizeof ckpt, "%s/bpe.ckpt", dir), snprintf(text, sizeof text, "%s/zh.txt", dir);
    Run r = run_quick(chapter, (const char *[]){"--sample", "0", NULL});
    ck_assert_int_eq(r.status, 0);
    ck_assert_double_eq_tol(summary_value(r.out, "validation_bits_per_byte"), summary_value(r.out, "validation_bits_per_char"), 1e-5);
    run_free(&r);
    r = run_quick(chapter, (const char *[]){"--level", "bpe", "--vocab-size", "300", "--save", ckpt, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "\nlevel: bpe\n"));
    ck_assert_ptr_nonnull(strstr(r.out, "at the char or word level"));
    const double bpb = summary_value(r.out, "validation_bits_per_byte"), bpc = summary_value(r.out, "validation_bits_per_char");
    ck_assert_double_eq_tol(bpb, bpc, 1e-5); /* the synthetic language is ASCII */
    run_free(&r);
    r = run(chapter, (const char *[]){"--load", ckpt, "--generate", "30", "--prompt", "zo 中", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_msg(strncmp(r.out, "zo 中", strlen("zo 中")) == 0, "%s", r.out);
    run_free(&r);
    /* real text the merges never saw: every byte still has a token */
    FILE *f = fopen(text, "w");
    for (int i = 0; i < 40; i++) fprintf(f, "中文的句子 %d, with English.\n", i);
    fclose(f);
    r = run_quick(chapter, (const char *[]){"--load", ckpt, "--corpus", text, "--steps", "22", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "the checkpoint's 44 merges encode this text"));
    ck_assert_ptr_nonnull(strstr(r.out, "0 of them never seen in training (<unk>)"));
    run_free(&r);
    r = run_quick(chapter, (const char *[]){"--load", ckpt, "--level", "char", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--level: char, but the checkpoint"));
    run_free(&r);
    r = run_quick(chapter, (const char *[]){"--load", ckpt, "--vocab-size", "512", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "holds 300 BPE tokens"));
    run_free(&r);
    remove_dir(dir);
}
END_TEST

START_TEST(test_ch11_bpe) {
    const char *chapter = "ch11_masked_lm";
    char dir[] = "/tmp/llm-notebook-bpe11-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ckpt[256];
    snprintf(ckpt, sizeof ckpt, "%s/mlm.ckpt", dir);
    Run r = run_quick(chapter, (const char *[]){"--level", "bpe", "--vocab-size", "300", "--save", ckpt, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "\nlevel: bpe\n"));
    ck_assert_ptr_null(strstr(r.out, "right_context_accuracy"));
    run_free(&r);
    r = run_quick(chapter, (const char *[]){"--load", ckpt, "--blanks", "zo _ tak _ ze.", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "blank at position "));
    run_free(&r);
    remove_dir(dir);
}
END_TEST

START_TEST(test_ch12_bpe) {
    Run r = run_quick("ch12_fine_tuning", (const char *[]){"--level", "bpe", "--vocab-size", "300", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    ck_assert_ptr_nonnull(strstr(r.out, "BPE (chapter 0)"));
    /* a swapped closer still makes a sentence of about the same length: the length rule is near chance */
    const char *p = strstr(r.out, "length): ");
    ck_assert_ptr_nonnull(p);
    const double by_length = strtod(p + 9, NULL);
    ck_assert_msg(by_length > 30 && by_length < 70, "length rule %g%%", by_length);
    run_free(&r);
}
END_TEST

Suite *bpe_level_suite(void) {
    Suite *s = suite_create("bpe_level");
    TCase *lib = tcase_create("library");
    tcase_add_test(lib, test_token_names);
    tcase_add_test(lib, test_encode_decode);
    tcase_add_test(lib, test_encode_text);
    tcase_add_test(lib, test_print_whole);
    tcase_add_test(lib, test_checkpoint_round_trip);
    tcase_add_test(lib, test_checkpoint_refusals);
    suite_add_tcase(s, lib);
    TCase *chapters = tcase_create("chapters");
    tcase_set_timeout(chapters, 120);
    tcase_add_test(chapters, test_ch01_bpe);
    tcase_add_test(chapters, test_ch02_bpe);
    tcase_add_test(chapters, test_ch10_bpe);
    tcase_add_test(chapters, test_ch11_bpe);
    tcase_add_test(chapters, test_ch12_bpe);
    suite_add_tcase(s, chapters);
    return s;
}
