/* The test suites, one per area; tests/run_tests.c runs them all. */
#ifndef TESTS_H
#define TESTS_H

#include <check.h>

Suite *tensor_suite(void);
Suite *softmax_suite(void);
Suite *attention_suite(void);
Suite *rng_suite(void);
Suite *print_suite(void);
Suite *cli_suite(void);
Suite *chapters_suite(void);
Suite *ngram_suite(void);
Suite *corpus_suite(void);
Suite *synth_suite(void);
Suite *layers_suite(void);
Suite *model_suite(void);
Suite *training_suite(void);
Suite *plot_suite(void);

#endif
