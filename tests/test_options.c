/* The shared model and training flags (common/options.c): the table parses into the flags, the
 * flags give the configuration and schedule they name, and given flags are told from defaults. */
#include <string.h>

#include "options.h"
#include "tests.h"

START_TEST(test_flags_to_config) {
    ModelFlags mf = options_model_defaults();
    TrainFlags tf = options_train_defaults();
    CliOption opts[OPTIONS_N_MODEL + OPTIONS_N_TRAIN];
    int n = options_model(opts, &mf);
    ck_assert_int_eq(n, OPTIONS_N_MODEL);
    n += options_train(opts + n, &tf);
    ck_assert_int_eq(n, OPTIONS_N_MODEL + OPTIONS_N_TRAIN);
    CliSpec spec = {"prog", "test", opts, n};
    CliCommon common = cli_common_defaults();
    const char *argv[] = {"prog", "--d-model", "32", "--norm", "post", "--pos", "learned", "--steps", "7", "--lr", "0.5",
                          "--lr-end", "0.25"};
    char err[256];
    ck_assert_int_eq(cli_parse_args(&spec, &common, 13, (char **)argv, err, sizeof err), CLI_PARSED);
    ck_assert(options_given(opts, n, "--d-model") && options_given(opts, n, "--steps"));
    ck_assert(!options_given(opts, n, "--heads") && !options_given(opts, n, "--no-such-flag"));
    const ModelConfig c = options_config(&mf, 30, true);
    ck_assert_int_eq(c.vocab, 30);
    ck_assert_int_eq(c.d_model, 32);
    ck_assert_int_eq(c.d_ff, 4 * 32); /* --d-ff 0 means 4 x d_model */
    ck_assert_int_eq(c.heads, 4);
    ck_assert_int_eq(c.layers, 2);
    ck_assert_int_eq(c.max_len, 64);
    ck_assert(c.causal && c.tied);
    ck_assert_int_eq(c.norm, NORM_POST);
    ck_assert_int_eq(c.pos, POS_LEARNED);
    ck_assert_int_eq(c.act, ACT_GELU);
    ck_assert_ptr_null(model_config_error(&c));
    const Schedule s = options_schedule(&tf);
    ck_assert_int_eq(s.steps, 7);
    ck_assert_int_eq(s.warmup, 100);
    ck_assert_double_eq(s.lr, 0.5);
    ck_assert_double_eq(s.clip, 1.0);
    ck_assert_double_eq(s.lr_min, 0.125); /* --lr-end 0.25 of the peak 0.5 */
    tf = options_train_defaults();
    ck_assert_double_eq(options_schedule(&tf).lr_min, tf.lr / 10); /* a tenth unless told otherwise */
}
END_TEST

START_TEST(test_bad_flag_values) {
    ModelFlags mf = options_model_defaults();
    CliOption opts[OPTIONS_N_MODEL];
    const int n = options_model(opts, &mf);
    CliSpec spec = {"prog", "test", opts, n};
    CliCommon common = cli_common_defaults();
    char err[256];
    const char *argv[] = {"prog", "--context", "1"};
    ck_assert_int_eq(cli_parse_args(&spec, &common, 3, (char **)argv, err, sizeof err), CLI_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "--context: 1 is out of range"));
    const char *argv2[] = {"prog", "--act", "tanh"};
    ck_assert_int_eq(cli_parse_args(&spec, &common, 3, (char **)argv2, err, sizeof err), CLI_ERROR);
    ck_assert_ptr_nonnull(strstr(err, "relu|gelu"));
}
END_TEST

Suite *options_suite(void) {
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("flags");
    tcase_add_test(tc, test_flags_to_config);
    tcase_add_test(tc, test_bad_flag_values);
    suite_add_tcase(s, tc);
    return s;
}
