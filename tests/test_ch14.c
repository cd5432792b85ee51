/* Chapter 14 (data parallelism over MPI), run on 1, 2 and 3 ranks with tiny sizes: the data-parallel
 * run equals one process (to the bit on one rank, to float rounding on more), ZeRO-1 equals plain
 * data parallelism to the bit, the ring's bytes match 2 (p-1)/p, a checkpoint written with -np 2
 * loads in chapter 10, a rank that dies ends the job, a bad flag gives one line and exit 2.
 * Without mpirun or without the binary (no mpicc at build time) every test records a skip on stderr
 * and passes: the rest of the project builds and tests without MPI. Under ASan, leak detection is off
 * for the MPI runs (Open MPI's own allocations at exit; see run_mpi). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chapter_run.h"
#include "tests.h"

static const char chapter[] = "ch14_data_parallel";

#define QUICK "--steps", "6", "--eval-every", "3", "--lines", "300", "--layers", "1", "--d-model", "8", "--heads", "2", \
              "--context", "8", "--no-plot"

/* The chapter's binary and mpirun on PATH; false (after saying why on stderr) when either is missing. */
static bool mpi_ready(char *bin, size_t size) {
    const char *dir = getenv("NOTEBOOK_BINDIR");
    snprintf(bin, size, "%s/%s", dir && *dir ? dir : ".", chapter);
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "ch14: SKIPPED: %s is not built (no working mpicc: apt-get install openmpi-bin libopenmpi-dev)\n", bin);
        return false;
    }
    const char *path = getenv("PATH");
    char *copy = strdup(path ? path : "/usr/bin:/bin"), *save = NULL;
    bool found = false;
    for (char *d = strtok_r(copy, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char p[1024];
        snprintf(p, sizeof p, "%s/mpirun", d);
        found = access(p, X_OK) == 0;
    }
    free(copy);
    if (!found) fprintf(stderr, "ch14: SKIPPED: mpirun is not on PATH (apt-get install openmpi-bin)\n");
    return found;
}

/* mpirun -np <np> <binary> args..., as root too (Open MPI's allow-run-as-root settings), more ranks
 * than cores allowed, mpirun's own help texts kept out of stderr where it can (-q). */
static Run run_mpi(const char *bin, const char *np, const char *const *args) {
    const char *argv[64] = {"mpirun", "--oversubscribe", "-q", "-np", np, bin};
    int argc = 6;
    for (int i = 0; args[i] && argc < 63; i++) argv[argc++] = args[i];
    argv[argc] = NULL;
    FILE *out = tmpfile(), *err = tmpfile();
    ck_assert(out && err);
    fflush(NULL);
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fileno(out), STDOUT_FILENO);
        dup2(fileno(err), STDERR_FILENO);
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1), setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
        /* in a container without ptrace rights (CI's), shared memory's single-copy path fails: copy twice */
        setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
        /* under `make asan`: Open MPI leaves its own allocations (some in plugins it has unloaded, so
         * no suppression can name them) for the exit to reclaim; LeakSanitizer would fail every run */
        char asan[512];
        const char *was = getenv("ASAN_OPTIONS");
        snprintf(asan, sizeof asan, "%s%sdetect_leaks=0", was ? was : "", was && *was ? ":" : "");
        setenv("ASAN_OPTIONS", asan, 1);
        execvp("mpirun", (char *const *)argv);
        _exit(127);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    Run r = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), NULL, NULL};
    for (int k = 0; k < 2; k++) {
        FILE *f = k ? err : out;
        fseek(f, 0, SEEK_END);
        const long n = ftell(f);
        rewind(f);
        char *buf = malloc((size_t)n + 1);
        ck_assert_ptr_nonnull(buf);
        buf[fread(buf, 1, (size_t)n, f)] = '\0';
        fclose(f);
        if (k) r.err = buf;
        else r.out = buf;
    }
    return r;
}

START_TEST(test_ch14_two_and_three_ranks) {
    char bin[512];
    if (!mpi_ready(bin, sizeof bin)) return;
    char dir[] = "/tmp/llm-notebook-ch14-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ckpt[256], text[256];
    snprintf(ckpt, sizeof ckpt, "%s/gpt.ckpt", dir), snprintf(text, sizeof text, "%s/text.txt", dir);
    Run a = run_mpi(bin, "2", (const char *[]){QUICK, "--batch", "6", "--save", ckpt, NULL});
    ck_assert_msg(a.status == 0, "exit %d: %s", a.status, a.err);
    for (int s = 1; s <= 8; s++) {
        char head[16];
        snprintf(head, sizeof head, "\n%d. ", s);
        ck_assert_msg(strstr(a.out, head) != NULL, "section %d missing", s);
    }
    ck_assert_double_eq(summary_value(a.out, "ranks"), 2);
    /* float rounding in another order, carried by 6 AdamW steps of size <= lr = 3e-3: far below 1e-5 */
    ck_assert_double_le(summary_value(a.out, "max_param_diff_vs_one_process"), 1e-5);
    ck_assert_double_eq(summary_value(a.out, "max_param_diff_zero1"), 0);
    ck_assert_ptr_nonnull(strstr(a.out, "largest |difference|: 0 on small integers"));
    /* P = 1128 parameters, p = 2: each rank sends 2 (p-1)/p 4 P = 4512 bytes */
    ck_assert_double_eq(summary_value(a.out, "parameters"), 1128);
    ck_assert_ptr_nonnull(strstr(a.out, "         0           4512                   4512.0"));
    /* the checkpoint is chapter 10's: it generates and evaluates there */
    write_file(text, "zo ba ze.\n", 10);
    Run g = run("ch10_gpt_pretraining", (const char *[]){"--load", ckpt, "--generate", "20", NULL});
    ck_assert_msg(g.status == 0, "chapter 10 --generate: exit %d: %s", g.status, g.err);
    Run e = run("ch10_gpt_pretraining", (const char *[]){"--load", ckpt, "--eval", text, NULL});
    ck_assert_msg(e.status == 0, "chapter 10 --eval: exit %d: %s", e.status, e.err);
    ck_assert_ptr_nonnull(strstr(e.out, "nats per token"));
    /* three ranks, an uneven split of 7 windows (2, 2, 3) */
    Run b = run_mpi(bin, "3", (const char *[]){QUICK, "--batch", "7", NULL});
    ck_assert_msg(b.status == 0, "exit %d: %s", b.status, b.err);
    ck_assert_ptr_nonnull(strstr(b.out, "         2    4..6              3         0.4286"));
    ck_assert_double_le(summary_value(b.out, "max_param_diff_vs_one_process"), 1e-5);
    ck_assert_double_eq(summary_value(b.out, "max_param_diff_zero1"), 0);
    run_free(&a), run_free(&g), run_free(&e), run_free(&b);
    remove_dir(dir);
}
END_TEST

/* One rank: the weight B_r / B is 1 and the all-reduce of one rank changes nothing: bit for bit. */
START_TEST(test_ch14_one_rank_is_exact) {
    char bin[512];
    if (!mpi_ready(bin, sizeof bin)) return;
    Run a = run_mpi(bin, "1", (const char *[]){QUICK, "--batch", "4", NULL});
    ck_assert_msg(a.status == 0, "exit %d: %s", a.status, a.err);
    ck_assert_double_eq(summary_value(a.out, "max_param_diff_vs_one_process"), 0);
    run_free(&a);
}
END_TEST

/* A rank that dies (no clean-up, no message to the others) ends the job; a bad flag gives one line
 * from one rank and exit 2. Either would hang the test (and fail it by its time limit) otherwise. */
START_TEST(test_ch14_failures_end_the_job) {
    char bin[512];
    if (!mpi_ready(bin, sizeof bin)) return;
    Run a = run_mpi(bin, "2", (const char *[]){QUICK, "--batch", "4", "--exit-rank", "1", NULL});
    ck_assert_int_ne(a.status, 0);
    ck_assert_ptr_nonnull(strstr(a.err, "ch14_data_parallel: rank 1: dying at step 1"));
    ck_assert_ptr_null(strstr(a.out, "\n8. Summary"));
    Run b = run_mpi(bin, "2", (const char *[]){"--steps", "x", NULL});
    ck_assert_int_eq(b.status, 2);
    ck_assert_msg(strncmp(b.err, "ch14_data_parallel: --steps:", 28) == 0, "stderr: %s", b.err);
    ck_assert_ptr_null(strstr(strchr(b.err, '\n') + 1, "ch14_data_parallel:")); /* one rank spoke */
    ck_assert_str_eq(b.out, "");
    Run c = run_mpi(bin, "3", (const char *[]){"--batch", "2", NULL});
    ck_assert_int_eq(c.status, 2);
    ck_assert_ptr_nonnull(strstr(c.err, "--batch 2: fewer windows than the 3 ranks"));
    run_free(&a), run_free(&b), run_free(&c);
}
END_TEST

Suite *ch14_suite(void) {
    Suite *s = suite_create("ch14");
    TCase *tc = tcase_create("data_parallel");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ch14_two_and_three_ranks);
    tcase_add_test(tc, test_ch14_one_rank_is_exact);
    tcase_add_test(tc, test_ch14_failures_end_the_job);
    suite_add_tcase(s, tc);
    return s;
}
