/* cli: the strict command-line parser shared by every chapter.
 *
 * A chapter lists its own options in a table; the parser adds the common ones (--help, --seed,
 * --precision, --no-plot, --text-plot, --figures, --html). Values come as "--name value" or "--name=value".
 * Parsing is strict: a value that is not entirely a number, a number outside the option's range, a
 * missing value, an unknown option or a stray argument is a usage error: one line on stderr naming
 * the option and its valid range, exit status 2. --help prints every option with its range and
 * default, and exits 0.
 *
 * Numbers are decimal (a real option refuses "0x10", "inf" and "nan" as a whole-number one does).
 * A string option whose meta is "FILE" or "DIR" names a path: any bytes, but not an empty name.
 * Every other string option is text a program reads (a sentence, a prompt): it must be valid UTF-8,
 * checked here once, the same check as a text file's (util_utf8_invalid_at). */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum { CLI_INT, CLI_REAL, CLI_FLAG, CLI_STRING, CLI_CHOICE } CliKind;

typedef struct {
    const char *name;   /* with its dashes: "--tokens" */
    CliKind kind;
    void *value;        /* long long * (INT), double * (REAL), bool * (FLAG), const char ** (STRING),
                           int * (CHOICE: the index of the chosen word); holds the default before
                           parsing */
    long long min, max; /* CLI_INT: the valid range, inclusive */
    double lo, hi;      /* CLI_REAL: the valid range, inclusive */
    const char *meta;   /* the value's name in --help: "N" */
    const char *help;   /* one line */
    bool seen;          /* set when the option was given */
    const char *choices; /* CLI_CHOICE: the accepted words separated by '|': "char|word" */
} CliOption;

/* The options every chapter has. Fill with cli_common_defaults() before parsing. */
typedef struct {
    long long seed;      /* --seed: every random draw of the run starts from it */
    long long precision; /* --precision: digits printed after the decimal point */
    bool no_plot;        /* --no-plot: write no figure files */
    bool text_plot;      /* --text-plot: also draw line plots in the terminal (gnuplot's dumb) */
    const char *figures; /* --figures: the folder that receives figures/<chapter>/ */
    bool html;           /* --html: the output is an HTML page (common/print.h, print_html_begin) */
} CliCommon;

typedef struct {
    const char *program; /* the binary's name, used in every message */
    const char *summary; /* what the program does, printed first by --help */
    CliOption *options;
    int n_options;
} CliSpec;

/* Table entries, one constructor per kind: the range is inclusive, meta names the value in --help. */
CliOption cli_int(const char *name, long long *value, long long min, long long max, const char *meta,
                  const char *help);
CliOption cli_real(const char *name, double *value, double lo, double hi, const char *meta,
                   const char *help);
CliOption cli_flag(const char *name, bool *value, const char *help);
CliOption cli_string(const char *name, const char **value, const char *meta, const char *help);
CliOption cli_choice(const char *name, int *value, const char *choices, const char *help);

typedef enum { CLI_PARSED, CLI_HELP, CLI_ERROR } CliResult;

/* True for a string option that names a file or folder (meta "FILE" or "DIR"), not text. */
bool cli_is_path(const CliOption *o);

CliCommon cli_common_defaults(void);

/* Parse without exiting: on CLI_ERROR, err holds the one-line message (without the program name).
 * Used by the tests; programs call cli_parse. */
CliResult cli_parse_args(CliSpec *spec, CliCommon *common, int argc, char **argv, char *err,
                         size_t err_size);

/* Parse, and exit: 0 after printing --help, 2 after a usage error. Sets the program name for die. */
void cli_parse(CliSpec *spec, CliCommon *common, int argc, char **argv);

/* Parse text as o's value, with the same checks as the command line (o->seen is left alone); false
 * with a one-line message in err when it is not one. Used to apply presets (common/presets.h). */
bool cli_set_value(CliOption *o, const char *text, char *err, size_t err_size);

void cli_print_help(FILE *f, const CliSpec *spec, const CliCommon *common);

#endif
