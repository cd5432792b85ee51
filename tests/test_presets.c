/* Presets (common/presets.c): the named real-text recipes. A preset sets the flags the user did not
 * give and keeps the ones given; every preset's values are valid for chapter 10; and the recipe
 * path runs end to end: a few steps of `--preset kjv` on a small English text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chapter_run.h"
#include "cli.h"
#include "presets.h"
#include "tests.h"

START_TEST(test_presets_names) {
    ck_assert_int_ge(preset_count(), 3);
    const char *choices = preset_choices();
    ck_assert_str_eq(strtok(strdup(choices), "|"), "none"); /* leaked on purpose: one small string */
    for (int i = 0; i < preset_count(); i++) {
        const Preset *p = preset_at(i);
        ck_assert_ptr_eq(preset_find(p->name), p);
        ck_assert_ptr_nonnull(strstr(choices, p->name));
        ck_assert_ptr_nonnull(preset_value(p, "--corpus"));
        ck_assert_ptr_nonnull(preset_value(p, "--steps"));
    }
    ck_assert_ptr_null(preset_find("none"));
    ck_assert_ptr_null(preset_find("KJV"));
    ck_assert_ptr_null(preset_at(preset_count()));
    ck_assert_ptr_null(preset_value(preset_find("kjv"), "--no-such-flag"));
}
END_TEST

/* A table like a chapter's: the preset sets what was not given, keeps what was, says which. */
START_TEST(test_presets_apply) {
    long long steps = 7, layers = 1, context = 8, batch = 1, heads = 1, d_model = 8, warmup = 0, every = 1, sample = 0;
    double lr = 0.5, lr_end = 0.1;
    const char *corpus = NULL;
    CliOption opts[] = {
        cli_string("--corpus", &corpus, "FILE", ""), cli_int("--steps", &steps, 0, 100000, "S", ""),
        cli_int("--layers", &layers, 1, 64, "L", ""), cli_int("--heads", &heads, 1, 64, "H", ""),
        cli_int("--d-model", &d_model, 4, 2048, "C", ""), cli_int("--context", &context, 2, 4096, "T", ""),
        cli_int("--batch", &batch, 1, 1024, "B", ""), cli_real("--lr", &lr, 1e-7, 1, "LR", ""),
        cli_real("--lr-end", &lr_end, 0, 1, "F", ""), cli_int("--warmup", &warmup, 0, 100000, "S", ""), cli_int("--eval-every", &every, 1, 100000, "S", ""),
        cli_int("--sample", &sample, 0, 1000, "N", "")};
    const int n = (int)(sizeof opts / sizeof opts[0]);
    opts[0].seen = true, corpus = "mine.txt"; /* given: --corpus mine.txt --steps 7 */
    opts[1].seen = true;
    const Preset *p = preset_find("kjv");
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    preset_apply(p, opts, n, out);
    fclose(out);
    ck_assert_str_eq(corpus, "mine.txt");
    ck_assert_int_eq(steps, 7);
    ck_assert_int_eq(layers, atoll(preset_value(p, "--layers")));
    ck_assert_int_eq(context, atoll(preset_value(p, "--context")));
    ck_assert_int_eq(batch, atoll(preset_value(p, "--batch")));
    ck_assert_double_eq(lr, atof(preset_value(p, "--lr")));
    ck_assert_double_eq(lr_end, atof(preset_value(p, "--lr-end")));
    ck_assert_int_eq(opts[2].seen, false); /* set by the preset, not by the user */
    ck_assert_ptr_nonnull(strstr(text, "Preset kjv"));
    char kept[128];
    snprintf(kept, sizeof kept, "--steps (yours; the recipe: %s)", preset_value(p, "--steps"));
    ck_assert_msg(strstr(text, kept), "no '%s' in: %s", kept, text);
    ck_assert_ptr_nonnull(strstr(text, "--layers "));
    free(text);
}
END_TEST

/* A preset naming a flag the program lacks is refused (exit 1), not ignored. */
START_TEST(test_presets_unknown_flag) {
    long long steps = 0;
    CliOption opts[] = {cli_int("--steps", &steps, 0, 10, "S", "")};
    FILE *out = fopen("/dev/null", "w");
    ck_assert_ptr_nonnull(freopen("/dev/null", "w", stderr)); /* the expected refusal, kept out of the log */
    preset_apply(preset_find("kjv"), opts, 1, out);
}
END_TEST

/* The recipe path end to end, a few steps: chapter 10 with --preset kjv on a small English text
 * (every preset flag is accepted by chapter 10, the recipe is announced, the user's flags win). */
START_TEST(test_presets_chapter10) {
    char dir[] = "/tmp/llm-notebook-preset-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char text[256];
    snprintf(text, sizeof text, "%s/english.txt", dir);
    FILE *f = fopen(text, "w");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 60; i++)
        fprintf(f, "In the beginning %d the heaven and the earth were made, and it was good.\n", i % 7);
    fclose(f);
    for (int i = 0; i < preset_count(); i++) {
        const char *name = preset_at(i)->name;
        Run r = run("ch10_gpt_pretraining",
                    (const char *[]){"--preset", name, "--corpus", text, "--steps", "3", "--eval-every", "3", "--layers",
                                     "1", "--d-model", "16", "--context", "16", "--batch", "2", "--sample", "1",
                                     "--no-plot", NULL});
        ck_assert_msg(r.status == 0, "--preset %s: exit %d: %s", name, r.status, r.err);
        char said[64];
        snprintf(said, sizeof said, "Preset %s", name);
        ck_assert_ptr_nonnull(strstr(r.out, said));
        ck_assert_ptr_nonnull(strstr(r.out, "--steps (yours"));
        ck_assert_ptr_nonnull(strstr(r.out, "3 steps of 2 random windows of 16 tokens"));
        run_free(&r);
    }
    /* a bad name is a usage error naming the choices */
    Run r = run("ch10_gpt_pretraining", (const char *[]){"--preset", "bible", NULL});
    ck_assert_int_eq(r.status, 2);
    ck_assert_ptr_nonnull(strstr(r.err, "--preset: 'bible' is not one of none|kjv"));
    run_free(&r);
    remove_dir(dir);
}
END_TEST

Suite *presets_suite(void) {
    Suite *s = suite_create("presets");
    TCase *tc = tcase_create("presets");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_presets_names);
    tcase_add_test(tc, test_presets_apply);
    tcase_add_exit_test(tc, test_presets_unknown_flag, 1);
    tcase_add_test(tc, test_presets_chapter10);
    suite_add_tcase(s, tc);
    return s;
}
