/* The test runner: every suite, one report, a non-zero exit status when anything failed.
 * Run from the repository root (make test), where the chapter binaries are. */
#include <stdlib.h>

#include "tests.h"

int main(void) {
    SRunner *sr = srunner_create(tensor_suite());
    srunner_add_suite(sr, softmax_suite());
    srunner_add_suite(sr, attention_suite());
    srunner_add_suite(sr, rng_suite());
    srunner_add_suite(sr, print_suite());
    srunner_add_suite(sr, cli_suite());
    srunner_add_suite(sr, layers_suite());
    srunner_add_suite(sr, model_suite());
    srunner_add_suite(sr, training_suite());
    srunner_add_suite(sr, corpus_suite());
    srunner_add_suite(sr, synth_suite());
    srunner_add_suite(sr, plot_suite());
    srunner_add_suite(sr, ngram_suite());
    srunner_add_suite(sr, chapters_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
