/* The corpus layer: tokenisers, vocabulary, encoding round trips, the split rule. The file errors
 * are tested through the chapter binary (tests/test_chapters.c), since they exit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus.h"
#include "tests.h"

static void assert_tokens(const char *line, TokenLevel level, int n, const char *const *want) {
    char **tok;
    int k = tokenize_line(line, level, &tok);
    ck_assert_int_eq(k, n);
    for (int i = 0; i < n; i++) ck_assert_str_eq(tok[i], want[i]);
    tokens_free(tok, k);
}

START_TEST(test_char_tokens) {
    assert_tokens("ab c", LEVEL_CHAR, 4, (const char *const[]){"a", "b", " ", "c"});
    assert_tokens("床前明月光", LEVEL_CHAR, 5, (const char *const[]){"床", "前", "明", "月", "光"});
    assert_tokens("é!", LEVEL_CHAR, 2, (const char *const[]){"é", "!"});
}
END_TEST

START_TEST(test_word_tokens) {
    assert_tokens("The cat's HAT, 42 times!", LEVEL_WORD, 7,
                  (const char *const[]){"the", "cat's", "hat", ",", "42", "times", "!"});
    assert_tokens("Hello,world", LEVEL_WORD, 3, (const char *const[]){"hello", ",", "world"});
    assert_tokens("床前明月光，疑是地上霜。", LEVEL_WORD, 12,
                  (const char *const[]){"床", "前", "明", "月", "光", "，", "疑", "是", "地", "上", "霜", "。"});
    assert_tokens("   ", LEVEL_WORD, 0, NULL);
    assert_tokens("café au lait", LEVEL_WORD, 3, (const char *const[]){"café", "au", "lait"});
}
END_TEST

START_TEST(test_vocab) {
    Vocab v;
    vocab_init(&v);
    ck_assert_int_eq(vocab_find(&v, "<unk>"), VOCAB_UNK);
    ck_assert_int_eq(vocab_find(&v, "<s>"), VOCAB_BOS);
    ck_assert_int_eq(vocab_find(&v, "</s>"), VOCAB_EOS);
    ck_assert_int_eq(vocab_find(&v, "x"), -1);
    char word[16];
    for (int i = 0; i < 1000; i++) { /* enough to rehash several times */
        snprintf(word, sizeof word, "w%d", i);
        ck_assert_int_eq(vocab_add(&v, word), 3 + i);
    }
    ck_assert_int_eq(vocab_add(&v, "w500"), 503);
    ck_assert_int_eq(vocab_find(&v, "w999"), 1002);
    vocab_free(&v);
}
END_TEST

/* Encoding then decoding gives back the text (char level: exactly; word level: lower-cased tokens
 * joined by spaces); tokens unseen in training become <unk> and are counted. */
START_TEST(test_round_trip) {
    const char *const lines[] = {"床前 明月光", "a b.c"};
    Vocab v;
    vocab_init(&v);
    TokenStream s;
    corpus_encode(&s, &v, (char *const *)lines, 2, LEVEL_CHAR, true);
    ck_assert_int_eq(s.n, 6 + 1 + 5 + 1);
    char *text = corpus_decode(&v, s.id, s.n, LEVEL_CHAR);
    ck_assert_str_eq(text, "床前 明月光\na b.c\n");
    free(text);
    TokenStream u;
    const char *const other[] = {"明天"};
    corpus_encode(&u, &v, (char *const *)other, 1, LEVEL_CHAR, false);
    ck_assert_int_eq(u.n, 3);
    ck_assert_int_eq(u.n_oov, 1);
    ck_assert_int_eq(u.id[1], VOCAB_UNK);
    token_stream_free(&s);
    token_stream_free(&u);
    vocab_free(&v);

    vocab_init(&v);
    const char *const words[] = {"The cat, the HAT."};
    corpus_encode(&s, &v, (char *const *)words, 1, LEVEL_WORD, true);
    text = corpus_decode(&v, s.id, s.n, LEVEL_WORD);
    ck_assert_str_eq(text, "the cat , the hat .\n");
    ck_assert_int_eq(s.id[0], s.id[3]); /* "The" and "the" are one type */
    free(text);
    token_stream_free(&s);
    vocab_free(&v);
}
END_TEST

START_TEST(test_lines_and_split) {
    Lines l;
    lines_split(&l, "one\r\n\n   \ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\neleven");
    ck_assert_int_eq(l.n, 11); /* the empty and the blank line are skipped */
    ck_assert_str_eq(l.line[0], "one");  /* '\r' dropped */
    char **train, **val;
    int nt, nv;
    corpus_split(&l, &train, &nt, &val, &nv);
    ck_assert_int_eq(nt, 10);
    ck_assert_int_eq(nv, 1);
    ck_assert_str_eq(val[0], "ten");  /* line 9 (from 0) */
    ck_assert_str_eq(train[9], "eleven");
    free(train);
    free(val);
    lines_free(&l);
}
END_TEST

Suite *corpus_suite(void) {
    Suite *s = suite_create("corpus");
    TCase *tc = tcase_create("tokens");
    tcase_add_test(tc, test_char_tokens);
    tcase_add_test(tc, test_word_tokens);
    tcase_add_test(tc, test_vocab);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_lines_and_split);
    suite_add_tcase(s, tc);
    return s;
}
