/* The test suites, one per area; tests/run_tests.c runs them all. */
#ifndef TESTS_H
#define TESTS_H

#include <check.h>

Suite *tensor_suite(void);
Suite *gemm_suite(void);
Suite *softmax_suite(void);
Suite *attention_suite(void);
Suite *rng_suite(void);
Suite *print_suite(void);
Suite *cli_suite(void);
Suite *ngram_suite(void);
Suite *bpe_suite(void);
Suite *bpe_level_suite(void);
Suite *corpus_suite(void);
Suite *synth_suite(void);
Suite *plot_suite(void);
Suite *layers_suite(void);
Suite *model_suite(void);
Suite *classifier_suite(void);
Suite *generate_suite(void);
Suite *training_suite(void);
Suite *presets_suite(void);
Suite *options_suite(void);
Suite *probe_suite(void);
Suite *notebook_suite(void);
/* one per chapter binary (tests/test_chNN.c) */
Suite *ch00_suite(void);
Suite *ch01_suite(void);
Suite *ch02_suite(void);
Suite *ch03_suite(void);
Suite *ch04_suite(void);
Suite *ch05_suite(void);
Suite *ch06_suite(void);
Suite *ch07_suite(void);
Suite *ch08_suite(void);
Suite *ch09_suite(void);
Suite *ch10_suite(void);
Suite *ch11_suite(void);
Suite *ch12_suite(void);
Suite *ch13_suite(void);
Suite *reliability_suite(void);
Suite *ch14_suite(void);
Suite *figures_suite(void);
Suite *docs_suite(void);
Suite *style_suite(void);

#endif
