/* presets: named training recipes for real text; see presets.h and docs/realtext.md (the sweep
 * that chose each value, and what each recipe reached). */
#include "presets.h"

#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

/* The English recipe is one set of sizes and one schedule for every English text (docs/realtext.md:
 * chosen by a sweep on the KJV and fortunes, checked untouched on the Jargon File); only the corpus
 * and the number of steps (the time budget: 10 minutes for kjv, 15 for fortunes on 2 cores) differ. */
#define ENGLISH_SIZES                                                                                            \
    {"--layers", "4"}, {"--heads", "4"}, {"--d-model", "128"}, {"--context", "64"}, {"--batch", "32"},           \
        {"--lr", "0.006"}, {"--lr-end", "0"}, {"--warmup", "100"}, {"--eval-every", "3000"}, {"--sample", "4"}

static const Preset presets[] = {
    {"kjv", "the King James Bible (data/kjv.txt), characters, 7000 steps (10 minutes on 2 cores)",
     {{"--corpus", "data/kjv.txt"}, {"--steps", "7000"}, ENGLISH_SIZES}},
    {"fortunes", "English fortunes (data/fortunes.txt), characters; the KJV recipe, 14000 steps (15 minutes on 2 cores)",
     {{"--corpus", "data/fortunes.txt"}, {"--steps", "14000"}, ENGLISH_SIZES}},
    {"poems", "modern Chinese and the Tang training lines (data/poems-pretrain.txt): pre-training",
     {{"--corpus", "data/poems-pretrain.txt"},
      {"--steps", "2000"},
      {"--layers", "4"},
      {"--heads", "4"},
      {"--d-model", "128"},
      {"--context", "64"},
      {"--batch", "32"},
      {"--lr", "0.003"},
      {"--warmup", "100"},
      {"--eval-every", "500"},
      {"--sample", "8"}}},
};
enum { N_PRESETS = (int)(sizeof presets / sizeof presets[0]) };

int preset_count(void) { return N_PRESETS; }

const Preset *preset_at(int i) { return i >= 0 && i < N_PRESETS ? &presets[i] : NULL; }

const char *preset_choices(void) {
    static char buf[256];
    if (!buf[0]) {
        strcpy(buf, "none");
        for (int i = 0; i < N_PRESETS; i++) {
            if (strlen(buf) + 1 + strlen(presets[i].name) >= sizeof buf) die(EXIT_RUNTIME, "presets: too many names");
            strcat(buf, "|");
            strcat(buf, presets[i].name);
        }
    }
    return buf;
}

const Preset *preset_find(const char *name) {
    for (int i = 0; i < N_PRESETS; i++)
        if (strcmp(presets[i].name, name) == 0) return &presets[i];
    return NULL;
}

const char *preset_value(const Preset *p, const char *flag) {
    for (int i = 0; i < PRESET_MAX_FLAGS && p->flags[i][0]; i++)
        if (strcmp(p->flags[i][0], flag) == 0) return p->flags[i][1];
    return NULL;
}

static CliOption *find_option(CliOption *opts, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(opts[i].name, name) == 0) return &opts[i];
    return NULL;
}

void preset_apply(const Preset *p, CliOption *opts, int n_opts, FILE *out) {
    fprintf(out, "  Preset %s: %s.\n  It sets (a flag you give wins; docs/realtext.md says how each was chosen):\n   ",
            p->name, p->what);
    int column = 3;
    for (int i = 0; i < PRESET_MAX_FLAGS && p->flags[i][0]; i++) {
        const char *flag = p->flags[i][0], *value = p->flags[i][1];
        CliOption *o = find_option(opts, n_opts, flag);
        if (!o) die(EXIT_RUNTIME, "preset %s: this program has no %s", p->name, flag);
        char err[256], item[160];
        if (o->seen) {
            snprintf(item, sizeof item, " %s (yours; the recipe: %s)", flag, value);
        } else {
            if (!cli_set_value(o, value, err, sizeof err)) die(EXIT_RUNTIME, "preset %s: %s", p->name, err);
            snprintf(item, sizeof item, " %s %s", flag, value);
        }
        if (column + (int)strlen(item) > 100) fprintf(out, "\n   "), column = 3;
        fputs(item, out);
        column += (int)strlen(item);
    }
    fputc('\n', out);
    const char *corpus = preset_value(p, "--corpus");
    CliOption *c = find_option(opts, n_opts, "--corpus");
    struct stat st;
    if (corpus && c && !c->seen && stat(corpus, &st) != 0)
        die(EXIT_RUNTIME, "--preset %s: %s is missing; run `make data` first (it makes the real-text corpora)", p->name,
            corpus);
}
