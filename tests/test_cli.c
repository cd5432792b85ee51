/* The strict option parser: good values land, every kind of bad value is refused with a message
 * naming the option and its range. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tests.h"

typedef struct {
    long long tokens;
    double rate;
    bool verbose;
    const char *name;
    int level;
    CliOption opts[5];
    CliSpec spec;
    CliCommon common;
    char err[512];
} Fixture;

static void setup(Fixture *f) {
    memset(f, 0, sizeof *f);
    f->tokens = 6;
    f->rate = 0.5;
    f->name = "x";
    f->level = 0;
    f->opts[0] = cli_int("--tokens", &f->tokens, 2, 17, "N", "words");
    f->opts[1] = cli_real("--rate", &f->rate, 0.0, 1.0, "R", "a rate");
    f->opts[2] = cli_flag("--verbose", &f->verbose, "talk");
    f->opts[3] = cli_string("--name", &f->name, "S", "a name");
    f->opts[4] = cli_choice("--level", &f->level, "char|word", "token level");
    f->spec = (CliSpec){"prog", "a test program", f->opts, 5};
    f->common = cli_common_defaults();
}

static CliResult parse(Fixture *f, int argc, const char **argv) {
    return cli_parse_args(&f->spec, &f->common, argc, (char **)argv, f->err, sizeof f->err);
}

START_TEST(test_good_values) {
    Fixture f;
    setup(&f);
    const char *argv[] = {"prog", "--tokens", "17", "--rate=0.25", "--verbose", "--name", "hi",
                          "--seed", "7", "--no-plot", "--precision", "0", "--level", "word"};
    ck_assert_int_eq(parse(&f, 14, argv), CLI_PARSED);
    ck_assert_int_eq(f.level, 1);
    ck_assert_int_eq(f.tokens, 17);
    ck_assert_double_eq(f.rate, 0.25);
    ck_assert(f.verbose && f.common.no_plot && !f.common.text_plot);
    ck_assert_str_eq(f.name, "hi");
    ck_assert_int_eq(f.common.seed, 7);
    ck_assert_int_eq(f.common.precision, 0);
    ck_assert(f.opts[0].seen && f.opts[1].seen && f.opts[3].seen);
}
END_TEST

START_TEST(test_defaults_untouched) {
    Fixture f;
    setup(&f);
    const char *argv[] = {"prog"};
    ck_assert_int_eq(parse(&f, 1, argv), CLI_PARSED);
    ck_assert_int_eq(f.tokens, 6);
    ck_assert(!f.opts[0].seen);
    ck_assert_int_eq(f.common.seed, 42);
}
END_TEST

/* Each bad command line and a piece its message must contain. */
static const struct {
    const char *args[3];
    const char *message;
} bad[] = {
    {{"--tokens", "5x"}, "--tokens: '5x' is not a whole number; expected a whole number from 2 to 17"},
    {{"--tokens", "-1"}, "--tokens: -1 is out of range; expected a whole number from 2 to 17"},
    {{"--tokens", "100000000"}, "--tokens: 100000000 is out of range"},
    {{"--tokens", "99999999999999999999999"}, "--tokens: 99999999999999999999999 is out of range"},
    {{"--tokens", ""}, "--tokens: '' is not a whole number"},
    {{"--tokens", " 5"}, "--tokens: ' 5' is not a whole number"},
    {{"--tokens"}, "--tokens: missing value; expected a whole number from 2 to 17"},
    {{"--rate", "1.5"}, "--rate: 1.5 is out of range; expected a number from 0 to 1"},
    {{"--rate", "nan"}, "--rate: 'nan' is not a number"},
    {{"--rate", "inf"}, "--rate: 'inf' is not a number"},
    {{"--rate", "0x0.1"}, "--rate: '0x0.1' is not a number"}, /* decimal only, as the whole numbers */
    {{"--rate", "1e999"}, "--rate: 1e999 is out of range"},
    {{"--name", "caf\xe9"}, "--name: not valid UTF-8 at byte 3 (0xe9)"},
    {{"--figures", ""}, "--figures: an empty name; expected a folder name"},
    {{"--rate", "0.5.1"}, "--rate: '0.5.1' is not a number"},
    {{"--seed", "-3"}, "--seed: -3 is out of range; expected a whole number from 0 to"},
    {{"--precision", "10"}, "--precision: 10 is out of range; expected a whole number from 0 to 9"},
    {{"--bogus"}, "unknown option '--bogus'"},
    {{"--tok", "5"}, "unknown option '--tok'"},
    {{"stray"}, "unexpected argument 'stray'"},
    {{"--verbose=1"}, "--verbose takes no value"},
    {{"--level", "byte"}, "--level: 'byte' is not one of char|word"},
    {{"--level", ""}, "--level: '' is not one of char|word"},
    {{"--level"}, "--level: missing value; expected one of char|word"},
    /* a control character in an argument is shown escaped, so the message stays one line (found by
       the fuzzer: tests/fuzz/regress/cli/), and a long one is cut */
    {{"--\n"}, "unknown option '--\\x0a'"},
    {{"--tokens", "1\n2"}, "--tokens: '1\\x0a2' is not a whole number"},
    {{"--level", "\x1b[31m"}, "--level: '\\x1b[31m' is not one of"},
    {{"--rate", "0.0000000000000000000000000000000000000000000000000000000000000000000001x"},
     "--rate: '0.0000000000000000000000000000000000000000000000000000000000...' is not a number"},
};

START_TEST(test_bad_values) {
    Fixture f;
    setup(&f);
    const char *argv[4] = {"prog", bad[_i].args[0], bad[_i].args[1], bad[_i].args[2]};
    int argc = 1;
    while (argc < 4 && argv[argc]) argc++;
    ck_assert_int_eq(parse(&f, argc, argv), CLI_ERROR);
    ck_assert_msg(strstr(f.err, bad[_i].message) != NULL, "got \"%s\", want \"%s\"", f.err, bad[_i].message);
    ck_assert_ptr_null(strchr(f.err, '\n'));
}
END_TEST

START_TEST(test_help_wins) {
    Fixture f;
    setup(&f);
    const char *value[] = {"prog", "--name", "-h"}; /* -h as a value is a value (found by fuzz_text) */
    ck_assert_int_eq(parse(&f, 3, value), CLI_PARSED);
    ck_assert_str_eq(f.name, "-h");
    setup(&f);
    const char *argv[] = {"prog", "--tokens", "9", "--bogus", "--help"};
    ck_assert_int_eq(parse(&f, 5, argv), CLI_HELP);
    ck_assert_int_eq(f.tokens, 6); /* nothing was parsed: --help shows the defaults */
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    cli_print_help(out, &f.spec, &f.common);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(buf, "usage: ./prog [options]"));
    ck_assert_ptr_nonnull(strstr(buf, "--tokens N"));
    ck_assert_ptr_nonnull(strstr(buf, "2..17 (default 6)"));
    ck_assert_ptr_nonnull(strstr(buf, "--seed S"));
    ck_assert_ptr_nonnull(strstr(buf, "--level WORD"));
    ck_assert_ptr_nonnull(strstr(buf, ": char|word (default char)"));
    free(buf);
}
END_TEST

Suite *cli_suite(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, test_good_values);
    tcase_add_test(tc, test_defaults_untouched);
    tcase_add_loop_test(tc, test_bad_values, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_help_wins);
    suite_add_tcase(s, tc);
    return s;
}
