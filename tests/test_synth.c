/* The synthetic language: what the generator says a line's probability is, checked by parsing the
 * line independently; the agreement it promises; its determinism. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "synth.h"
#include "tests.h"

START_TEST(test_logp_matches_parser) {
    SynthCorpus c;
    synth_generate(&c, 3000, 11);
    double gen = 0, parsed = 0;
    for (int i = 0; i < c.n; i++) {
        double lp = synth_score_line(c.line[i]);
        ck_assert_msg(isfinite(lp), "line %d is not in the language: %s", i, c.line[i]);
        ck_assert_double_eq_tol(lp, c.logp[i], 1e-9);
        gen -= c.logp[i];
        parsed -= lp;
    }
    /* the entropy per line the generator reports equals the parser's mean of -log p */
    ck_assert_double_eq_tol(gen / c.n, parsed / c.n, 1e-9);
    synth_free(&c);
}
END_TEST

START_TEST(test_agreement_and_positions) {
    SynthCorpus c;
    synth_generate(&c, 2000, 5);
    for (int i = 0; i < c.n; i++) {
        const char *line = c.line[i];
        const int k = c.cls[i];
        ck_assert_int_eq(line[0], synth_closer_letters()[k]);
        ck_assert_int_eq(line[c.closer_pos[i]], synth_closer_letters()[k]);
        char ending[8];
        snprintf(ending, sizeof ending, "%s.", synth_closer(k));
        ck_assert_str_eq(line + c.closer_pos[i], ending);
        int spaces = 0;
        for (const char *p = line; *p; p++) spaces += *p == ' ';
        ck_assert_int_eq(spaces, c.body_words[i] + 1);
        /* the class letters appear nowhere else */
        for (int p = 1; p < c.closer_pos[i]; p++) ck_assert_ptr_null(strchr("zxqv", line[p]));
    }
    synth_free(&c);
}
END_TEST

START_TEST(test_same_seed_same_text) {
    SynthCorpus a, b, d;
    synth_generate(&a, 200, 9);
    synth_generate(&b, 200, 9);
    synth_generate(&d, 200, 10);
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        ck_assert_str_eq(a.line[i], b.line[i]);
        differ += strcmp(a.line[i], d.line[i]) != 0;
    }
    ck_assert_int_gt(differ, 100);
    synth_free(&a), synth_free(&b), synth_free(&d);
}
END_TEST

START_TEST(test_parser_rejects) {
    ck_assert(isfinite(synth_score_line("zo ze.")));
    ck_assert(isinf(synth_score_line("zo xe.")));      /* disagreement */
    ck_assert(isinf(synth_score_line("zo a ze.")));    /* a determiner must be followed by a noun */
    ck_assert(isinf(synth_score_line("zo ba ze")));    /* no full stop */
    ck_assert(isinf(synth_score_line("hello world."))); /* no marker */
    /* "zo ze.": 1/4 for the marker, then CLOSE from the start state with 0.10 */
    ck_assert_double_eq_tol(synth_score_line("zo ze."), log(0.25 * 0.10), 1e-12);
}
END_TEST

/* Every word of a generated line has a class: the marker first, the closer last, and after a
 * determiner an adjective or a noun (the grammar's rows); nothing else has one. */
START_TEST(test_word_classes) {
    SynthCorpus c;
    synth_generate(&c, 500, 3);
    for (int i = 0; i < c.n; i++) {
        char buf[4096], *save = NULL, *prev = NULL;
        snprintf(buf, sizeof buf, "%s", c.line[i]);
        buf[strlen(buf) - 1] = '\0'; /* the full stop */
        int k = 0;
        for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save), k++) {
            const char *cls = synth_word_class(w);
            ck_assert_ptr_nonnull(cls);
            if (k == 0) ck_assert_str_eq(cls, "marker");
            else ck_assert_str_ne(cls, "marker");
            if (prev && strcmp(synth_word_class(prev), "determiner") == 0)
                ck_assert_msg(strcmp(cls, "adjective") == 0 || strcmp(cls, "noun") == 0, "%s after %s", w, prev);
            prev = w;
        }
        ck_assert_str_eq(synth_word_class(prev), "closer");
    }
    synth_free(&c);
    ck_assert_ptr_null(synth_word_class("."));
    ck_assert_ptr_null(synth_word_class("z"));
    ck_assert_ptr_null(synth_word_class("hello"));
    ck_assert_ptr_null(synth_word_class(""));
}
END_TEST

Suite *synth_suite(void) {
    Suite *s = suite_create("synth");
    TCase *tc = tcase_create("language");
    tcase_add_test(tc, test_logp_matches_parser);
    tcase_add_test(tc, test_agreement_and_positions);
    tcase_add_test(tc, test_same_seed_same_text);
    tcase_add_test(tc, test_parser_rejects);
    tcase_add_test(tc, test_word_classes);
    suite_add_tcase(s, tc);
    return s;
}
