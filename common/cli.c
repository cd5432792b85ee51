/* cli: the strict option parser (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

CliCommon cli_common_defaults(void) {
    CliCommon c = {.seed = 42, .precision = 3, .no_plot = false, .text_plot = false,
                   .figures = "figures"};
    return c;
}

CliOption cli_int(const char *name, long long *value, long long min, long long max, const char *meta,
                  const char *help) {
    CliOption o = {.name = name, .kind = CLI_INT, .value = value, .min = min, .max = max, .meta = meta,
                   .help = help};
    return o;
}

CliOption cli_real(const char *name, double *value, double lo, double hi, const char *meta,
                   const char *help) {
    CliOption o = {.name = name, .kind = CLI_REAL, .value = value, .lo = lo, .hi = hi, .meta = meta,
                   .help = help};
    return o;
}

CliOption cli_flag(const char *name, bool *value, const char *help) {
    CliOption o = {.name = name, .kind = CLI_FLAG, .value = value, .help = help};
    return o;
}

CliOption cli_string(const char *name, const char **value, const char *meta, const char *help) {
    CliOption o = {.name = name, .kind = CLI_STRING, .value = value, .meta = meta, .help = help};
    return o;
}

CliOption cli_choice(const char *name, int *value, const char *choices, const char *help) {
    CliOption o = {.name = name, .kind = CLI_CHOICE, .value = value, .meta = "WORD", .help = help,
                   .choices = choices};
    return o;
}

/* The common options, pointing into `common`. Kept in one place so that --help lists them too. */
enum { N_COMMON = 6 };
static void common_options(CliOption out[N_COMMON], CliCommon *common) {
    out[0] = cli_int("--seed", &common->seed, 0, LLONG_MAX, "S",
                     "seed of every random draw (same seed, same output)");
    out[1] = cli_int("--precision", &common->precision, 0, 9, "P", "digits printed after the decimal point");
    out[2] = cli_flag("--no-plot", &common->no_plot, "write no figures");
    out[3] = cli_flag("--text-plot", &common->text_plot,
                      "also draw the line plots in the terminal (needs gnuplot)");
    out[4] = cli_string("--figures", &common->figures, "DIR", "folder for the figures (a subfolder per chapter)");
    out[5] = cli_flag("--html", &common->html, "print the output as an HTML page (docs/notebook.md)");
}

/* "a whole number from 2 to 17", "a number from 0 to 1", ... */
static void describe_range(char *buf, size_t size, const CliOption *o) {
    switch (o->kind) {
    case CLI_INT: snprintf(buf, size, "a whole number from %lld to %lld", o->min, o->max); break;
    case CLI_REAL: snprintf(buf, size, "a number from %g to %g", o->lo, o->hi); break;
    case CLI_STRING: snprintf(buf, size, "a text value"); break;
    case CLI_FLAG: snprintf(buf, size, "no value"); break;
    case CLI_CHOICE: snprintf(buf, size, "one of %s", o->choices); break;
    }
}

/* The index of word among the '|'-separated choices, or -1. */
static int choice_index(const char *choices, const char *word) {
    size_t len = strlen(word);
    int index = 0;
    for (const char *p = choices; *p; index++) {
        size_t n = strcspn(p, "|");
        if (n == len && len > 0 && strncmp(p, word, n) == 0) return index;
        p += n;
        if (*p == '|') p++;
    }
    return -1;
}

/* The index-th of the '|'-separated choices, copied into buf. */
static const char *choice_name(const char *choices, int index, char *buf, size_t size) {
    const char *p = choices;
    for (int i = 0; i < index && *p; i++) {
        p += strcspn(p, "|");
        if (*p == '|') p++;
    }
    snprintf(buf, size, "%.*s", (int)strcspn(p, "|"), p);
    return buf;
}

/* A user's argument as it appears in a message: control characters as \xNN (a newline in an
 * argument must not break the message's one line), at most 60 bytes of it. */
static const char *shown(const char *text, size_t len, char *buf, size_t size) {
    size_t o = 0;
    for (size_t i = 0; i < len && text[i] && o + 8 < size; i++) {
        const unsigned char c = (unsigned char)text[i];
        if (i == 60) {
            o += (size_t)snprintf(buf + o, size - o, "...");
            break;
        }
        if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
        else buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return buf;
}

bool cli_is_path(const CliOption *o) {
    return o->kind == CLI_STRING && o->meta && (strcmp(o->meta, "FILE") == 0 || strcmp(o->meta, "DIR") == 0);
}

/* A decimal number as a person writes it: [sign] digits [. digits] [e [sign] digits]. strtod would
 * also take hexadecimal ("0x10" is 16), "inf" and "nan", which no whole-number flag accepts either. */
static bool decimal(const char *t) {
    if (*t == '+' || *t == '-') t++;
    const size_t whole = strspn(t, "0123456789");
    t += whole;
    size_t frac = 0;
    if (*t == '.') frac = strspn(++t, "0123456789"), t += frac;
    if (whole + frac == 0) return false;
    if (*t == 'e' || *t == 'E') {
        t++;
        if (*t == '+' || *t == '-') t++;
        const size_t exp = strspn(t, "0123456789");
        if (exp == 0) return false;
        t += exp;
    }
    return *t == '\0';
}

bool cli_set_value(CliOption *o, const char *text, char *err, size_t err_size) {

    char range[128], t[256];
    describe_range(range, sizeof range, o);
    if (o->kind == CLI_STRING) {
        if (cli_is_path(o)) {
            if (text[0] == '\0') {
                snprintf(err, err_size, "%s: an empty name; expected a %s name", o->name, strcmp(o->meta, "DIR") == 0 ? "folder" : "file");
                return false;
            }
        } else {
            const long bad = util_utf8_invalid_at(text, strlen(text));
            if (bad >= 0) {
                snprintf(err, err_size, "%s: not valid UTF-8 at byte %ld (0x%02x); expected UTF-8 text", o->name, bad,
                         (unsigned char)text[bad]);
                return false;
            }
        }
        *(const char **)o->value = text;
        return true;
    }
    if (o->kind == CLI_CHOICE) {
        int k = choice_index(o->choices, text);
        if (k < 0) {
            snprintf(err, err_size, "%s: '%s' is not %s", o->name, shown(text, SIZE_MAX, t, sizeof t), range);
            return false;
        }
        *(int *)o->value = k;
        return true;
    }
    char *end = NULL;
    errno = 0;
    bool blank = text[0] == '\0' || text[0] == ' ' || text[0] == '\t' || text[0] == '\n';
    if (o->kind == CLI_INT) {
        long long v = blank ? 0 : strtoll(text, &end, 10);
        if (blank || *end != '\0') {
            snprintf(err, err_size, "%s: '%s' is not a whole number; expected %s", o->name,
                     shown(text, SIZE_MAX, t, sizeof t), range);
            return false;
        }
        if (errno == ERANGE || v < o->min || v > o->max) {
            snprintf(err, err_size, "%s: %s is out of range; expected %s", o->name, shown(text, SIZE_MAX, t, sizeof t), range);
            return false;
        }
        *(long long *)o->value = v;
    } else {
        double v = blank || !decimal(text) ? 0 : strtod(text, &end);
        if (blank || !decimal(text) || *end != '\0' || isnan(v)) {
            snprintf(err, err_size, "%s: '%s' is not a number; expected %s", o->name, shown(text, SIZE_MAX, t, sizeof t),
                     range);
            return false;
        }
        if (errno == ERANGE || !isfinite(v) || v < o->lo || v > o->hi) {
            snprintf(err, err_size, "%s: %s is out of range; expected %s", o->name, shown(text, SIZE_MAX, t, sizeof t), range);
            return false;
        }
        *(double *)o->value = v;
    }
    return true;
}

static CliOption *find(CliOption *opts, int n, const char *name, size_t len) {
    for (int i = 0; i < n; i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0) return &opts[i];
    return NULL;
}

CliResult cli_parse_args(CliSpec *spec, CliCommon *common, int argc, char **argv, char *err,
                         size_t err_size) {
    CliOption shared[N_COMMON];
    common_options(shared, common);
    /* --help anywhere wins, before any value is changed, so that it shows the defaults; but not as
     * the value of an option (--prompt -h is a prompt: found by fuzz_text) */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return CLI_HELP;
        if (strncmp(argv[i], "--", 2) != 0 || strchr(argv[i], '=')) continue;
        const CliOption *o = find(spec->options, spec->n_options, argv[i], strlen(argv[i]));
        if (!o) o = find(shared, N_COMMON, argv[i], strlen(argv[i]));
        if (o && o->kind != CLI_FLAG) i++; /* its value */
    }
    char t[256];
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(err, err_size, "unexpected argument '%s' (options start with --; see --help)",
                     shown(arg, SIZE_MAX, t, sizeof t));
            return CLI_ERROR;
        }
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        CliOption *o = find(spec->options, spec->n_options, arg, len);
        if (!o) o = find(shared, N_COMMON, arg, len);
        if (!o) {
            snprintf(err, err_size, "unknown option '%s' (see --help for the list)", shown(arg, len, t, sizeof t));
            return CLI_ERROR;
        }
        o->seen = true;
        if (o->kind == CLI_FLAG) {
            if (eq) {
                snprintf(err, err_size, "%s takes no value (got '%s')", o->name, shown(eq + 1, SIZE_MAX, t, sizeof t));
                return CLI_ERROR;
            }
            *(bool *)o->value = true;
            continue;
        }
        const char *text = eq ? eq + 1 : NULL;
        if (!text) {
            if (i + 1 >= argc) {
                char range[128];
                describe_range(range, sizeof range, o);
                snprintf(err, err_size, "%s: missing value; expected %s", o->name, range);
                return CLI_ERROR;
            }
            text = argv[++i];
        }
        if (!cli_set_value(o, text, err, err_size)) return CLI_ERROR;
    }
    return CLI_PARSED;
}

static void print_option(FILE *f, const CliOption *o) {
    char left[64], range[128] = "", dflt[96] = "";
    snprintf(left, sizeof left, "%s%s%s", o->name, o->meta ? " " : "", o->meta ? o->meta : "");
    switch (o->kind) {
    case CLI_INT:
        snprintf(range, sizeof range, ", %lld..%lld", o->min, o->max);
        snprintf(dflt, sizeof dflt, " (default %lld)", *(long long *)o->value);
        break;
    case CLI_REAL:
        snprintf(range, sizeof range, ", %g..%g", o->lo, o->hi);
        snprintf(dflt, sizeof dflt, " (default %g)", *(double *)o->value);
        break;
    case CLI_STRING: {
        const char *v = *(const char **)o->value;
        if (v) snprintf(dflt, sizeof dflt, " (default \"%.60s%s\")", v, strlen(v) > 60 ? "..." : "");
        break;
    }
    case CLI_CHOICE: {
        char name[64];
        snprintf(range, sizeof range, ": %s", o->choices);
        snprintf(dflt, sizeof dflt, " (default %s)", choice_name(o->choices, *(int *)o->value, name, sizeof name));
        break;
    }
    case CLI_FLAG: break;
    }
    fprintf(f, "  %-18s %s%s%s\n", left, o->help, range, dflt);
}

void cli_print_help(FILE *f, const CliSpec *spec, const CliCommon *common) {
    CliCommon copy = *common;
    CliOption shared[N_COMMON];
    common_options(shared, &copy);
    fprintf(f, "usage: ./%s [options]\n%s\n\noptions:\n", spec->program, spec->summary);
    for (int i = 0; i < spec->n_options; i++) print_option(f, &spec->options[i]);
    for (int i = 0; i < N_COMMON; i++) print_option(f, &shared[i]);
    fprintf(f, "  %-18s %s\n", "--help", "print this help and exit");
}

void cli_parse(CliSpec *spec, CliCommon *common, int argc, char **argv) {
    util_set_program(spec->program);
    char err[512];
    switch (cli_parse_args(spec, common, argc, argv, err, sizeof err)) {
    case CLI_PARSED: return;
    case CLI_HELP:
        cli_print_help(stdout, spec, common);
        exit(0);
    case CLI_ERROR: die(EXIT_USAGE, "%s", err);
    }
}
