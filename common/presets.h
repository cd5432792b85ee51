/* presets: named training recipes for real text (`--preset kjv`), each a list of flags with the
 * values chosen from the measurements in docs/realtext.md.
 *
 * A preset is applied to a chapter's option table after parsing: every flag it names that the user
 * did not give is set to the preset's value; a flag the user gave keeps the user's value. The
 * recipe's corpus (a file `make data` writes) is one of its flags, `--corpus`, and follows the same
 * rule, so `--preset kjv --corpus other.txt` trains the KJV recipe on another text. What was set and
 * what was kept is printed, so a run's output says which recipe made it.
 *
 * Errors: an unknown preset name is a usage error (exit 2); a preset flag the table lacks, or a
 * value outside the option's range, is a programming error (exit 1, the tests run every preset
 * through chapter 10); a recipe corpus that does not exist yet says to run `make data` (exit 1). */
#ifndef PRESETS_H
#define PRESETS_H

#include <stdio.h>

#include "cli.h"

enum { PRESET_MAX_FLAGS = 16 };

typedef struct {
    const char *name;    /* what --preset takes: "kjv" */
    const char *what;    /* one line: the corpus and what the recipe is for */
    const char *flags[PRESET_MAX_FLAGS][2]; /* {"--layers", "4"}, ...; ends at a NULL name */
} Preset;

/* The presets, in the order --help lists them, and their names joined by '|' ("none|kjv|...",
 * "none" first: no preset), for cli_choice. */
int preset_count(void);
const Preset *preset_at(int i);
const char *preset_choices(void);

/* The preset with this name, or NULL. */
const Preset *preset_find(const char *name);

/* The value the preset gives flag (e.g. "--steps"), or NULL when it gives none. */
const char *preset_value(const Preset *p, const char *flag);

/* Apply p to the parsed table (see above) and print one line per flag to out: "--steps 3000" or
 * "--steps 40 (yours; the recipe says 3000)". `program` names the caller in error messages. */
void preset_apply(const Preset *p, CliOption *opts, int n_opts, FILE *out);

#endif
