/* Chapter 14 (data parallelism over MPI), run on 1, 2 and 3 ranks with tiny sizes: the data-parallel
 * run equals one process (to the bit on one rank, to float rounding on more), ZeRO-1 equals plain
 * data parallelism to the bit, the overlapped all-reduce equals the same buckets sent after the
 * backward pass to the bit (and one MPI_Allreduce too, on 2 ranks), the ring's bytes match
 * 2 (p-1)/p, a checkpoint written with -np 2 loads in chapter 10, a run stopped by Ctrl-C and resumed
 * with --load ends in the same bytes as one never stopped, a rank that dies ends the job, a bad flag
 * or file gives one line and the right status. The model's backward hook, which the overlap rests
 * on, is tested here too (without MPI).
 * Without mpirun or without the binary (no mpicc at build time) every test records a skip on stderr
 * and passes: the rest of the project builds and tests without MPI. Under ASan, leak detection is off
 * for the MPI runs (Open MPI's own allocations at exit; see run_mpi). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chapter_run.h"
#include "checkpoint.h"
#include "model.h"
#include "model_fixtures.h"
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

/* mpi_ready, and a fresh temporary folder in dir (at least 32 bytes) for the test's files. */
static bool mpi_ready_with_dir(char *bin, size_t size, char *dir) {
    if (!mpi_ready(bin, size)) return false;
    strcpy(dir, "/tmp/llm-notebook-ch14-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    return true;
}

/* In a child: exec mpirun -np <np> <binary> args..., as root too (Open MPI's allow-run-as-root
 * settings), more ranks than cores allowed, mpirun's own help texts kept out of stderr where it can (-q). */
_Noreturn static void exec_mpirun(const char *bin, const char *np, const char *const *args) {
    const char *argv[64] = {"mpirun", "--oversubscribe", "-q", "-np", np, bin};
    int argc = 6;
    for (int i = 0; args[i] && argc < 63; i++) argv[argc++] = args[i];
    argv[argc] = NULL;
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1), setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    /* in a container without ptrace rights (CI's), shared memory's single-copy path fails: copy twice */
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
    /* when a rank exits non-zero, mpirun sends the others SIGTERM and waits this many seconds (1 by
     * default, even when they have all gone) before SIGKILL: the tests' ranks need no time to save */
    setenv("OMPI_MCA_odls_base_sigkill_timeout", "0", 0);
    /* under `make asan`: Open MPI leaves its own allocations (some in plugins it has unloaded, so
     * no suppression can name them) for the exit to reclaim; LeakSanitizer would fail every run */
    char asan[512];
    const char *was = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "%s%sdetect_leaks=0", was ? was : "", was && *was ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    execvp("mpirun", (char *const *)argv);
    _exit(127);
}

/* mpirun -np <np> <binary> args..., waited for, both outputs captured. */
static Run run_mpi(const char *bin, const char *np, const char *const *args) {
    FILE *out = tmpfile(), *err = tmpfile();
    ck_assert(out && err);
    fflush(NULL);
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fileno(out), STDOUT_FILENO);
        dup2(fileno(err), STDERR_FILENO);
        exec_mpirun(bin, np, args);
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
    char bin[512], dir[64];
    if (!mpi_ready_with_dir(bin, sizeof bin, dir)) return;
    char ckpt[256], text[256];
    snprintf(ckpt, sizeof ckpt, "%s/gpt.ckpt", dir), snprintf(text, sizeof text, "%s/text.txt", dir);
    Run a = run_mpi(bin, "2", (const char *[]){QUICK, "--batch", "6", "--save", ckpt, NULL});
    ck_assert_msg(a.status == 0, "exit %d: %s", a.status, a.err);
    for (int s = 1; s <= 9; s++) {
        char head[16];
        snprintf(head, sizeof head, "\n%d. ", s);
        ck_assert_msg(strstr(a.out, head) != NULL, "section %d missing", s);
    }
    ck_assert_double_eq(summary_value(a.out, "ranks"), 2);
    /* float rounding in another order, carried by 6 AdamW steps of size <= lr = 3e-3: far below 1e-5 */
    ck_assert_double_le(summary_value(a.out, "max_param_diff_vs_one_process"), 1e-5);
    ck_assert_double_eq(summary_value(a.out, "max_param_diff_zero1"), 0);
    /* overlapping changes when the sums are made, not which: with 2 ranks every order of adding two
     * floats is the same, so even one MPI_Allreduce gives the same bits */
    ck_assert_double_eq(summary_value(a.out, "max_param_diff_overlap_vs_buckets"), 0);
    ck_assert_double_eq(summary_value(a.out, "max_param_diff_overlap_vs_one_allreduce"), 0);
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
    /* three terms a sum: MPI may order them otherwise in a non-blocking all-reduce than in a blocking
     * one (float rounding, as against one process above); the same buckets give the same bits */
    ck_assert_double_eq(summary_value(b.out, "max_param_diff_overlap_vs_buckets"), 0);
    ck_assert_double_le(summary_value(b.out, "max_param_diff_overlap_vs_one_allreduce"), 1e-5);
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
    ck_assert_ptr_null(strstr(a.out, "\n9. Summary"));
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

/* --html under mpirun (how `make notebook` runs the chapter): one page, rank 0's, whole; another
 * rank's (empty) page must not follow it on the output mpirun gathers. */
START_TEST(test_ch14_html_is_one_page) {
    char bin[512];
    if (!mpi_ready(bin, sizeof bin)) return;
    Run a = run_mpi(bin, "2", (const char *[]){QUICK, "--batch", "4", "--zero", "0", "--html", NULL});
    ck_assert_msg(a.status == 0, "exit %d: %s", a.status, a.err);
    ck_assert_msg(strncmp(a.out, "<!DOCTYPE html>", 15) == 0, "the output does not start with the page");
    ck_assert_ptr_null(strstr(a.out + 1, "<!DOCTYPE"));
    ck_assert_ptr_nonnull(strstr(a.out, "<h2>9. Summary</h2>"));
    const size_t n = strlen(a.out);
    ck_assert_msg(n > 8 && strcmp(a.out + n - 8, "</html>\n") == 0, "the page does not end with </html>");
    run_free(&a);
}
END_TEST

/* Ctrl-C on one rank only (--interrupt-rank: the others never see a signal) at step 3 of 6: every
 * rank stops after step 3, rank 0 saves and says so in one line, exit 130. Resumed with --load (no
 * --steps: to the stored total), the run ends in the same bytes as one never stopped: parameters,
 * moments, sampler state, schedule. The resumed file loads in chapter 10. */
START_TEST(test_ch14_interrupt_and_resume) {
    char bin[512], dir[64];
    if (!mpi_ready_with_dir(bin, sizeof bin, dir)) return;
    char a[256], b[256], c[256];
    snprintf(a, sizeof a, "%s/a.ckpt", dir), snprintf(b, sizeof b, "%s/b.ckpt", dir), snprintf(c, sizeof c, "%s/c.ckpt", dir);
    Run r = run_mpi(bin, "2", (const char *[]){QUICK, "--batch", "5", "--zero", "0", "--save", a, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    run_free(&r);
    r = run_mpi(bin, "2", (const char *[]){QUICK, "--batch", "5", "--zero", "0", "--save", b, "--interrupt-rank", "1",
                                           "--exit-step", "3", NULL});
    ck_assert_msg(r.status == 130, "exit %d: %s", r.status, r.err);
    char want[1024];
    snprintf(want, sizeof want, "ch14_data_parallel: interrupted after step 3 of 6; saved %s (resume with --load %s)\n", b, b);
    ck_assert_str_eq(r.err, want);
    ck_assert_ptr_null(strstr(r.out, "\n4. ")); /* stopped inside section 3 */
    run_free(&r);
    r = run_mpi(bin, "2", (const char *[]){QUICK, "--batch", "5", "--zero", "0", "--load", b, "--save", c, NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    snprintf(want, sizeof want, "loaded from %s after 3 training steps; training goes on to step 6", b);
    ck_assert_msg(strstr(r.out, want) != NULL, "no \"%s\" in the output", want);
    ck_assert_ptr_nonnull(strstr(r.out, "steps 4 to 6 of B = 5 windows"));
    run_free(&r);
    long la = 0, lc = 0;
    char *da = read_all(a, &la), *dc = read_all(c, &lc);
    ck_assert(da && dc);
    ck_assert_msg(la == lc && memcmp(da, dc, (size_t)la) == 0, "resumed training differs from training straight through");
    free(da), free(dc);
    /* a size flag that disagrees with the checkpoint: rank 0 says so, every rank exits 2 */
    r = run_mpi(bin, "2", (const char *[]){QUICK, "--batch", "5", "--load", c, "--d-model", "16", NULL});
    ck_assert_msg(r.status == 2, "exit %d: %s", r.status, r.err);
    ck_assert_msg(strstr(r.err, "ch14_data_parallel: --d-model: 16, but the checkpoint") == r.err && count_lines(r.err) == 1,
                  "stderr: %s", r.err);
    run_free(&r);
    Run g = run("ch10_gpt_pretraining", (const char *[]){"--load", c, "--generate", "10", NULL});
    ck_assert_msg(g.status == 0, "chapter 10 --generate: exit %d: %s", g.status, g.err);
    run_free(&g);
    remove_dir(dir);
}
END_TEST

/* A real Ctrl-C: SIGINT to mpirun, which passes it on to the ranks as SIGTERM. They stop after one
 * step together, rank 0 saves, and the checkpoint it names loads in chapter 10 at that step. */
START_TEST(test_ch14_ctrl_c_to_mpirun) {
    char bin[512], dir[64];
    if (!mpi_ready_with_dir(bin, sizeof bin, dir)) return;
    char ckpt[256], out[256], err[256];
    snprintf(ckpt, sizeof ckpt, "%s/run.ckpt", dir), snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    fflush(NULL);
    const pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr)) _exit(126);
        /* after a Ctrl-C mpirun sends the ranks SIGTERM, then SIGKILL this many seconds later (1 by
         * default; it waits them out even when every rank has gone): room for a slow sanitizer build */
        setenv("OMPI_MCA_odls_base_sigkill_timeout", "2", 1);
        exec_mpirun(bin, "2", (const char *[]){QUICK, "--batch", "4", "--steps", "1000000", "--eval-every", "1000000",
                                               "--save", ckpt, NULL});
    }
    bool training = false; /* wait (up to 5 minutes, for slow sanitizer builds) for section 3 */
    for (int i = 0; i < 3000 && !training; i++) {
        char *text = read_all(out, NULL);
        training = text && strstr(text, "3. Data-parallel training");
        free(text);
        if (!training) sleep_ms(100);
    }
    if (!training) kill(pid, SIGKILL);
    ck_assert_msg(training, "training never started");
    sleep_ms(300);
    kill(pid, SIGINT);
    int st = 0;
    waitpid(pid, &st, 0);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) != 0, "status %d", st); /* mpirun's own status: 1 */
    char *msg = read_all(err, NULL);
    ck_assert_ptr_nonnull(msg);
    const char *p = strstr(msg, "ch14_data_parallel: interrupted after step ");
    ck_assert_msg(p != NULL, "stderr: %s", msg);
    const long step = strtol(p + strlen("ch14_data_parallel: interrupted after step "), NULL, 10);
    ck_assert_int_gt(step, 0);
    free(msg);
    long len = 0;
    char *data = read_all(ckpt, &len);
    ck_assert_ptr_nonnull(data);
    Checkpoint ck;
    char why[256];
    ck_assert_msg(checkpoint_parse(&ck, (const unsigned char *)data, (size_t)len, why, sizeof why), "%s", why);
    ck_assert_int_eq(ck.train.steps_done, step); /* the step the message names */
    ck_assert_int_eq(ck.adam_step, step);
    checkpoint_free(&ck), free(data);
    Run r = run("ch10_gpt_pretraining", (const char *[]){"--load", ckpt, "--generate", "10", NULL});
    ck_assert_msg(r.status == 0, "chapter 10 --generate: exit %d: %s", r.status, r.err);
    run_free(&r);
    remove_dir(dir);
}
END_TEST

/* Bad files and flags that only rank 0 can judge (it alone reads --load and writes --save): one
 * line from rank 0, no MPI_Abort banner, every rank ends with the status it names. (A flag that
 * disagrees with a good checkpoint: test_ch14_interrupt_and_resume.) */
START_TEST(test_ch14_bad_load_and_save) {
    char bin[512];
    if (!mpi_ready(bin, sizeof bin)) return;
    const struct {
        const char *flag, *value;
        int status;
        const char *message;
    } cases[] = {{"--load", "/nonexistent/none.ckpt", 1, "cannot read checkpoint /nonexistent/none.ckpt"},
                 {"--save", "/nonexistent/gpt.ckpt", 2, "--save: cannot create a file in the folder /nonexistent"}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Run r = run_mpi(bin, "2", (const char *[]){QUICK, "--batch", "4", cases[k].flag, cases[k].value, NULL});
        ck_assert_msg(r.status == cases[k].status, "%s %s: exit %d: %s", cases[k].flag, cases[k].value, r.status, r.err);
        ck_assert_msg(strncmp(r.err, "ch14_data_parallel: ", 20) == 0 && strstr(r.err, cases[k].message) != NULL,
                      "stderr: %s", r.err);
        ck_assert_msg(count_lines(r.err) == 1, "not one line: %s", r.err);
        run_free(&r);
    }
}
END_TEST

/* The hook the overlap rests on (model.h's BackwardHook): called once per block, from the last to
 * the first, when that block's gradients are final (they equal what the whole pass leaves there),
 * and a pass with a hook gives the same gradient, to the bit, as one without. */
typedef struct {
    BackwardHook hook;
    Model *m;
    int calls, order[4];
    float *seen; /* the block's gradients as the hook saw them, each block's own stretch */
} HookLog;

static void log_block(BackwardHook *self, int layer) {
    HookLog *h = (HookLog *)self;
    const Tensor *first = block_tensor(&h->m->grads.block[layer], 0, NULL);
    const size_t off = (size_t)(first->data - h->m->grad_mem);
    const size_t n = (size_t)block_param_count(h->m->cfg.d_model, h->m->cfg.d_ff);
    memcpy(h->seen + off, h->m->grad_mem + off, sizeof(float) * n);
    if (h->calls < 4) h->order[h->calls] = layer;
    h->calls++;
}

START_TEST(test_backward_hook_sees_final_gradients) {
    for (int variant = 0; variant < 32; variant += 5) { /* causal or not, norms, positions, tying, activation */
        const ModelConfig c = tiny_config(variant);
        Model m;
        model_init(&m, &c, 2, 7);
        Rng rng;
        rng_seed(&rng, 3, 0);
        randomize_params(&m, &rng);
        int ids[12], tg[12];
        for (int i = 0; i < 12; i++) ids[i] = (int)rng_below(&rng, 11), tg[i] = (int)rng_below(&rng, 11);
        model_forward(&m, ids, tg, 2, 6);
        model_zero_grad(&m);
        model_backward(&m);
        float *plain = malloc(sizeof(float) * m.n_params);
        ck_assert_ptr_nonnull(plain);
        memcpy(plain, m.grad_mem, sizeof(float) * m.n_params);
        HookLog h = {{log_block}, &m, 0, {-1, -1, -1, -1}, calloc(m.n_params, sizeof(float))};
        ck_assert_ptr_nonnull(h.seen);
        m.backward_hook = &h.hook;
        model_forward(&m, ids, tg, 2, 6);
        model_zero_grad(&m);
        model_backward(&m);
        m.backward_hook = NULL;
        ck_assert_int_eq(h.calls, c.layers);
        for (int k = 0; k < c.layers; k++) ck_assert_int_eq(h.order[k], c.layers - 1 - k);
        ck_assert_msg(memcmp(plain, m.grad_mem, sizeof(float) * m.n_params) == 0, "variant %d: the hook changed the pass", variant);
        for (int l = 0; l < c.layers; l++) {
            const Tensor *first = block_tensor(&m.grads.block[l], 0, NULL);
            const size_t off = (size_t)(first->data - m.grad_mem), n = (size_t)block_param_count(c.d_model, c.d_ff);
            ck_assert_msg(memcmp(h.seen + off, m.grad_mem + off, sizeof(float) * n) == 0,
                          "variant %d: block %d's gradients changed after its hook", variant, l);
        }
        free(plain), free(h.seen);
        model_free(&m);
    }
}
END_TEST

Suite *ch14_suite(void) {
    Suite *s = suite_create("ch14");
    TCase *tc = tcase_create("data_parallel");
    tcase_set_timeout(tc, 600); /* several mpirun jobs each: far slower on a loaded machine or under a sanitizer */
    tcase_add_test(tc, test_ch14_two_and_three_ranks);
    tcase_add_test(tc, test_ch14_one_rank_is_exact);
    tcase_add_test(tc, test_ch14_failures_end_the_job);
    tcase_add_test(tc, test_ch14_html_is_one_page);
    tcase_add_test(tc, test_ch14_interrupt_and_resume);
    tcase_add_test(tc, test_ch14_ctrl_c_to_mpirun);
    tcase_add_test(tc, test_ch14_bad_load_and_save);
    tcase_add_test(tc, test_backward_hook_sees_final_gradients);
    suite_add_tcase(s, tc);
    return s;
}
