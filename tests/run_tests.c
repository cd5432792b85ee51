/* The test runner: every suite, one report, a non-zero exit status when anything failed.
 * Run from the repository root (make test), where the chapter binaries are.
 *
 *   run_tests            every suite, one after the other
 *   run_tests --jobs N   the suites shared among N processes that run at the same time (make test
 *                        uses 2, one per core), each given about the same number of seconds by the
 *                        costs below (the longest suite first, always to the part with least so far)
 *   CK_RUN_SUITE=ch10 run_tests   one suite; CK_RUN_CASE too, as Check defines them
 *
 * Each suite announces itself before it runs ("[1/2] ch10: running (about 30 s)"), so a long one
 * is never silent, and reports when it ends: its checks, the failures (each with its file and line),
 * the seconds it took. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests.h"

typedef struct {
    const char *name;   /* as suite_create names it: CK_RUN_SUITE=<name> */
    Suite *(*make)(void);
    int seconds;        /* about how long it runs on one idle core, to share the work out (from
                           the seconds each suite reports, scaled by the machine's load) */
} Entry;

static const Entry suites[] = {
    {"tensor", tensor_suite, 1},
    {"gemm", gemm_suite, 2},
    {"softmax", softmax_suite, 1},
    {"attention", attention_suite, 1},
    {"rng", rng_suite, 1},
    {"print", print_suite, 1},
    {"cli", cli_suite, 1},
    {"layers", layers_suite, 1},
    {"model", model_suite, 2},
    {"classifier", classifier_suite, 1},
    {"generate", generate_suite, 1},
    {"training", training_suite, 3},
    {"options", options_suite, 1},
    {"corpus", corpus_suite, 1},
    {"synth", synth_suite, 1},
    {"plot", plot_suite, 1},
    {"ngram", ngram_suite, 1},
    {"presets", presets_suite, 2},
    {"bpe", bpe_suite, 1},
    {"ch00", ch00_suite, 10},
    {"bpe_level", bpe_level_suite, 4},
    {"probe", probe_suite, 1},
    {"ch01", ch01_suite, 5},
    {"ch02", ch02_suite, 4},
    {"ch03", ch03_suite, 6},
    {"ch04", ch04_suite, 2},
    {"ch05", ch05_suite, 1},
    {"ch06", ch06_suite, 2},
    {"ch07", ch07_suite, 1},
    {"ch08", ch08_suite, 2},
    {"ch09", ch09_suite, 3},
    {"ch10", ch10_suite, 35},
    {"ch11", ch11_suite, 27},
    {"ch12", ch12_suite, 44},
    {"ch13", ch13_suite, 3},
    {"reliability", reliability_suite, 12},
    {"ch14", ch14_suite, 11},
    {"figures", figures_suite, 1},
    {"docs", docs_suite, 1},
    {"style", style_suite, 1},
    {"notebook", notebook_suite, 3},
};
enum { N_SUITES = sizeof suites / sizeof suites[0] };

/* Run the suites whose part is `part` (all of them when part < 0); returns the number of failures. */
static int run_part(const int *part_of, int part, int jobs) {
    const char *only = getenv("CK_RUN_SUITE");
    int failed = 0;
    for (int i = 0; i < N_SUITES; i++) {
        if ((part >= 0 && part_of[i] != part) || (only && *only && strcmp(only, suites[i].name) != 0)) continue;
        printf("[%d/%d] %s: running (about %d s)\n", part + 1, jobs, suites[i].name, suites[i].seconds);
        const time_t start = time(NULL);
        SRunner *sr = srunner_create(suites[i].make());
        srunner_run_all(sr, CK_SILENT);
        const int n = srunner_ntests_failed(sr);
        TestResult **bad = srunner_failures(sr);
        for (int k = 0; k < n; k++) {
            printf("%s:%d: %s %s: %s\n", tr_lfile(bad[k]), tr_lno(bad[k]), suites[i].name, tr_tcname(bad[k]),
                   tr_msg(bad[k]));
        }
        free(bad);
        printf("[%d/%d] %s: %d checks, %d failed, %.0f s\n", part + 1, jobs, suites[i].name, srunner_ntests_run(sr), n,
               difftime(time(NULL), start));
        failed += n;
        srunner_free(sr);
    }
    return failed;
}

/* Share the suites among `jobs` parts: the longest first, each to the part with the least so far. */
static void share_out(int *part_of, int jobs) {
    int load[16] = {0}, done[N_SUITES] = {0};
    for (int n = 0; n < N_SUITES; n++) {
        int pick = -1;
        for (int i = 0; i < N_SUITES; i++)
            if (!done[i] && (pick < 0 || suites[i].seconds > suites[pick].seconds)) pick = i;
        int least = 0;
        for (int j = 1; j < jobs; j++)
            if (load[j] < load[least]) least = j;
        part_of[pick] = least, load[least] += suites[pick].seconds, done[pick] = 1;
    }
}

int main(int argc, char **argv) {
    int jobs = 1;
    if (argc == 3 && strcmp(argv[1], "--jobs") == 0) jobs = atoi(argv[2]);
    if (argc != 1 && !(argc == 3 && jobs >= 1 && jobs <= 16)) {
        fprintf(stderr, "usage: %s [--jobs N]   (N from 1 to 16)\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* whole lines, so that parts running at once do not mix them */
    int part_of[N_SUITES];
    share_out(part_of, jobs);
    if (jobs == 1) return run_part(part_of, 0, 1) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    for (int j = 0; j < jobs; j++) {
        const pid_t pid = fork();
        if (pid < 0) {
            perror("run_tests: fork");
            return EXIT_FAILURE;
        }
        if (pid == 0) _exit(run_part(part_of, j, jobs) == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
    }
    int ok = 1, status;
    while (wait(&status) > 0) ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf(ok ? "every suite passed\n" : "some tests FAILED (see above)\n");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
