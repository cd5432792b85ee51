/* fuzz_cli: the command-line parser on arbitrary arguments.
 *
 * The input is cut at NUL bytes into up to 32 arguments and parsed against a table with one option
 * of every kind. Promises checked: the parser returns (it is the exiting cli_parse's engine); an
 * error comes with a one-line message; a parse that succeeds leaves every value inside its
 * declared range, a text value valid UTF-8 and a path not empty, and an option not given keeps
 * its default. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "cli.h"
#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *copy = malloc(size + 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *argv[34] = {"fuzz_cli"};
    int argc = 1;
    for (char *p = copy; p < copy + size && argc < 33; p += strlen(p) + 1) argv[argc++] = p;
    argv[argc] = NULL;

    long long count = 5;
    double rate = 0.5;
    bool flag = false;
    const char *name = "default";
    int level = 1;
    CliOption opts[5] = {
        cli_int("--count", &count, -3, 100, "N", "an int"),
        cli_real("--rate", &rate, 1e-3, 1.0, "R", "a real"),
        cli_flag("--flag", &flag, "a flag"),
        cli_string("--name", &name, "S", "a string"),
        cli_choice("--level", &level, "char|word|byte", "a choice"),
    };
    CliSpec spec = {"fuzz_cli", "the fuzz target's table", opts, 5};
    CliCommon common = cli_common_defaults();
    char err[512] = "";
    const CliResult r = cli_parse_args(&spec, &common, argc, argv, err, sizeof err);
    if (r == CLI_ERROR) {
        FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
    } else if (r == CLI_PARSED) {
        FUZZ_CHECK(count >= -3 && count <= 100);
        FUZZ_CHECK(rate >= 1e-3 && rate <= 1.0 && !isnan(rate));
        FUZZ_CHECK(level >= 0 && level <= 2);
        FUZZ_CHECK(name != NULL && util_utf8_invalid_at(name, strlen(name)) < 0); /* text is UTF-8 */
        FUZZ_CHECK(common.figures[0] != '\0');                                   /* a path is not empty */
        FUZZ_CHECK(opts[0].seen || count == 5);
        FUZZ_CHECK(opts[1].seen || rate == 0.5);
        FUZZ_CHECK(opts[2].seen || !flag);
        FUZZ_CHECK(opts[4].seen || level == 1);
        FUZZ_CHECK(common.seed >= 0 && common.precision >= 0);
    }
    free(copy);
    return 0;
}
