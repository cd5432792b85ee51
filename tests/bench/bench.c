/* bench: `make bench`. Speed measured, never asserted: every figure is the median of several runs,
 * with the fastest and slowest beside it. Nothing here can fail on a number.
 *
 *   0. the core's fp32 peak: a loop of independent fused multiply-adds on the widest vectors the
 *      build uses (the same width as the matrix kernel's); every GFLOP/s below is also printed as a
 *      share of it
 *   1. matmul GFLOP/s: square sizes 64 .. 1024, and the shapes of config S's layers (all three
 *      forms); OpenBLAS's sgemm beside it when the build found OpenBLAS (HAVE_OPENBLAS)
 *   2. training tokens/s, GFLOP/s and peak memory, config S (4 blocks, 4 heads, d_model 128, vocab
 *      256, learned positions, pre-norm, GELU, tied, AdamW), B=4 T=64 and B=16 T=128, and config L
 *      (6 blocks, 8 heads, d_model 256, context 256) at B=8 T=256, 1 and 2 threads; beside the one-
 *      thread runs of B=16 T=128 and of config L, the same model in PyTorch (tests/bench/torch_peer.py)
 *      when python3 can import torch, run in turns with this project's, and the ratio of each pair
 *   3. generation tokens/s, 256 tokens with and without the key/value cache
 *   4. n-gram counting tokens/s (chapter 1), order 5 over 4 M characters of the synthetic language
 *   5. byte-level BPE (chapter 0): training 4 MiB of the synthetic language to a vocabulary of 4096
 *      (wall and CPU seconds, one thread), and encoding MB/s with that vocabulary; GPT-2's
 *      tokenizer's encoding speed too when `make gpt2-data` has fetched it into data/gpt2
 *
 * `./build/bench matmul train` runs only the sections named (matmul, train, generate, ngram, bpe);
 * the peak is measured first whatever the sections. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef HAVE_OPENBLAS
#include <cblas.h>
#endif

#include "bpe.h"
#include "corpus.h"
#include "gemm.h"
#include "generate.h"
#include "model.h"
#include "ngram.h"
#include "optim.h"
#include "synth.h"
#include "train.h"

enum { REPS = 5 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median, min and max of v[0..n) */
static void stats(double *v, int n, double *med, double *lo, double *hi) {
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    *med = v[n / 2], *lo = v[0], *hi = v[n - 1];
}

static void set_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n);
#else
    (void)n;
#endif
}

/* ---- 0. the core's peak ---- */
/* Vectors as wide as the matrix kernel's (gemm.c): 16 floats with AVX-512, else 8. */
#ifdef __AVX512F__
#define PEAK_VW 16
#else
#define PEAK_VW 8
#endif
typedef float peak_vf __attribute__((vector_size(PEAK_VW * sizeof(float))));

static double peak_gflops; /* the median measured by bench_peak, 0 before */

/* GFLOP/s of one thread doing nothing but multiply-adds: twelve independent accumulators, enough to
 * keep every FMA pipe busy through the instruction's latency (two pipes times four cycles). The
 * factors come through a volatile so that nothing is folded at compile time; with
 * -ffp-contract=fast each line is one fused multiply-add. */
static double fma_loop(long iters) {
    volatile float vm = 0.999999f, va = 1e-7f, v0[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    const peak_vf m = (peak_vf){0} + vm, a = (peak_vf){0} + va;
    /* twelve different starting values: equal ones would let the compiler merge the chains */
    peak_vf c0 = a + v0[0], c1 = a + v0[1], c2 = a + v0[2], c3 = a + v0[3], c4 = a + v0[4], c5 = a + v0[5];
    peak_vf c6 = a + v0[6], c7 = a + v0[7], c8 = a + v0[8], c9 = a + v0[9], c10 = a + v0[10], c11 = a + v0[11];
    const double t0 = now();
    for (long i = 0; i < iters; i++) {
        c0 = c0 * m + a, c1 = c1 * m + a, c2 = c2 * m + a, c3 = c3 * m + a, c4 = c4 * m + a, c5 = c5 * m + a;
        c6 = c6 * m + a, c7 = c7 * m + a, c8 = c8 * m + a, c9 = c9 * m + a, c10 = c10 * m + a, c11 = c11 * m + a;
    }
    const double dt = now() - t0;
    const peak_vf all = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
    volatile float sink = all[0];
    (void)sink;
    return 12.0 * PEAK_VW * 2.0 * (double)iters / dt / 1e9;
}

static void bench_peak(void) {
    set_threads(1);
    double g[REPS];
    fma_loop(1L << 20); /* warm-up: let the clock rise */
    for (int r = 0; r < REPS; r++) g[r] = fma_loop(1L << 23);
    double lo, hi;
    stats(g, REPS, &peak_gflops, &lo, &hi);
    printf("0. the core's fp32 peak, 1 thread: %.1f GFLOP/s (%.1f .. %.1f), fused multiply-adds on %d-float vectors\n\n",
           peak_gflops, lo, hi, PEAK_VW);
}

/* g as a percentage of the peak (0 when the peak was not measured) */
static double share(double g) { return peak_gflops > 0 ? 100.0 * g / peak_gflops : 0.0; }

/* ---- 1. matmul ---- */
enum { PAIRS = 15 }; /* rounds of ours then OpenBLAS, in turns, so that both see the same minutes */

typedef struct {
    double ours, lo, hi;    /* our GFLOP/s: the median round, the slowest and the fastest */
    double blas, blo, bhi;  /* OpenBLAS's, the same way (0 without it) */
    double ratio;           /* the median of the rounds' ratios, ours / OpenBLAS */
} MatmulResult;

/* One round of one side: about 1e8 flops of the product, timed. */
static double matmul_round(Tensor *C, const Tensor *A, const Tensor *B, bool ta, bool tb, bool blas, int inner) {
    const double t0 = now();
    for (int i = 0; i < inner; i++) {
#ifdef HAVE_OPENBLAS
        if (blas) {
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, C->rows, C->cols,
                        ta ? A->rows : A->cols, 1.0f, A->data, A->stride, B->data, B->stride, 0.0f, C->data, C->stride);
            continue;
        }
#else
        (void)blas;
#endif
        gemm(C, A, B, (GemmOptions){.flags = (ta ? GEMM_TRANS_A : 0) | (tb ? GEMM_TRANS_B : 0)});
    }
    return 2.0 * C->rows * C->cols * (ta ? A->rows : A->cols) * inner / (now() - t0) / 1e9;
}

static MatmulResult matmul_gflops(int M, int K, int N, bool ta, bool tb) {
    Rng rng;
    rng_seed(&rng, 1, 1);
    Tensor A = ta ? tensor_new(K, M) : tensor_new(M, K), B = tb ? tensor_new(N, K) : tensor_new(K, N), C = tensor_new(M, N);
    tensor_randn(&A, &rng, 1.0f), tensor_randn(&B, &rng, 1.0f);
    const double flops = 2.0 * M * K * N;
    const int inner = flops < 1e8 ? (int)(1e8 / flops) + 1 : 1;
    double g[PAIRS], b[PAIRS], ratio[PAIRS];
    matmul_round(&C, &A, &B, ta, tb, false, inner); /* warm-up: the operands into cache, the clock up */
    for (int r = 0; r < PAIRS; r++) {
        g[r] = matmul_round(&C, &A, &B, ta, tb, false, inner);
#ifdef HAVE_OPENBLAS
        b[r] = matmul_round(&C, &A, &B, ta, tb, true, inner);
#else
        b[r] = g[r];
#endif
        ratio[r] = g[r] / b[r];
    }
    MatmulResult res;
    double unused;
    stats(g, PAIRS, &res.ours, &res.lo, &res.hi);
    stats(b, PAIRS, &res.blas, &res.blo, &res.bhi);
    stats(ratio, PAIRS, &res.ratio, &unused, &unused);
    tensor_free(&A), tensor_free(&B), tensor_free(&C);
    return res;
}

static void bench_matmul(void) {
    printf("1. matmul, 1 thread, GFLOP/s: %d rounds, ours and OpenBLAS in turns; the median round (slowest ..\n"
           "   fastest), and the median of the rounds' ratios\n\n", PAIRS);
    set_threads(1);
#ifdef HAVE_OPENBLAS
    openblas_set_num_threads(1); /* else it takes OMP_NUM_THREADS or every core */
    /* OpenBLAS picks its kernels by the CPU it recognises, unless OPENBLAS_CORETYPE names another
     * core: then it takes that core's kernels, older and slower ones on some machines (Haswell's
     * AVX2 kernels where AVX-512 ones exist). main runs the bench again without the variable, so
     * that the comparison is with OpenBLAS's best (BENCH_KEEP_CORETYPE=1 keeps it: on a virtual CPU
     * that names no model, OpenBLAS may otherwise fall back to a generic kernel). */
    printf("  %s; kernels for %s\n", openblas_get_config(), openblas_get_corename());
    const char *core = getenv("OPENBLAS_CORETYPE");
    if (core) printf("  (OPENBLAS_CORETYPE=%s kept: OpenBLAS runs that core's kernels, perhaps not its best)\n", core);
    else printf("  (OPENBLAS_CORETYPE unset: OpenBLAS chose its kernels for this CPU itself)\n");
    printf("\n");
#endif
    printf("  %-40s %22s %7s", "shape M x K x N", "ours", "of peak");
#ifdef HAVE_OPENBLAS
    printf(" %22s %8s", "OpenBLAS sgemm", "ratio");
#endif
    printf("\n");
    struct {
        int M, K, N;
        bool ta, tb;
        const char *what;
    } shapes[] = {
        {64, 64, 64, false, false, "square"}, {128, 128, 128, false, false, "square"},
        {256, 256, 256, false, false, "square"}, {512, 512, 512, false, false, "square"},
        {1024, 1024, 1024, false, false, "square"},
        {2048, 128, 384, false, false, "S: x Wqkv (forward)"},
        {2048, 128, 512, false, false, "S: x W1 (forward)"},
        {2048, 512, 128, false, false, "S: a W2 (forward)"},
        {2048, 512, 128, false, true, "S: dh W1^T (backward)"},
        {128, 2048, 512, true, false, "S: x^T dh (backward)"},
        {128, 2048, 128, true, false, "S: x^T dq (backward)"},
        {128, 32, 128, false, true, "S: q k^T (one head)"},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const MatmulResult r = matmul_gflops(shapes[i].M, shapes[i].K, shapes[i].N, shapes[i].ta, shapes[i].tb);
        char label[64];
        snprintf(label, sizeof label, "%d x %d x %d %s", shapes[i].M, shapes[i].K, shapes[i].N, shapes[i].what);
        printf("  %-40s %8.1f (%5.1f .. %5.1f) %6.0f%%", label, r.ours, r.lo, r.hi, share(r.ours));
#ifdef HAVE_OPENBLAS
        printf(" %8.1f (%5.1f .. %5.1f) %8.2f", r.blas, r.blo, r.bhi, r.ratio);
#endif
        printf("\n");
    }
#ifndef HAVE_OPENBLAS
    printf("  (OpenBLAS was not found at build time: apt-get install libopenblas-dev, then make bench again)\n");
#endif
}

/* ---- 2. training, each run in a child process so that its peak memory is its own ---- */
static ModelConfig config_s(int max_len) {
    ModelConfig c = {.vocab = 256, .d_model = 128, .heads = 4, .d_ff = 512, .layers = 4, .max_len = max_len, .causal = true,
                     .norm = NORM_PRE, .pos = POS_LEARNED, .act = ACT_GELU, .tied = true};
    return c;
}

/* Config L: the same kind of model, larger in every direction but the head size (32, as S's). */
static ModelConfig config_l(void) {
    ModelConfig c = config_s(256);
    c.d_model = 256, c.heads = 8, c.d_ff = 1024, c.layers = 6;
    return c;
}

/* Floating-point operations per token of a training step, counted as the PyTorch peer counts them:
 * 6 per weight of a product (2 forward, 4 backward), the output layer included, and 12 T C per block
 * for attention's two products over the whole (T, T) square, masked half included. */
static double flops_per_token(const ModelConfig *c, int T) {
    const double C = c->d_model, L = c->layers;
    return 6.0 * (L * (4.0 * C * C + 2.0 * C * c->d_ff) + (double)c->vocab * C) + 12.0 * L * T * C;
}

typedef struct {
    double med, lo, hi; /* tokens/s: the median step, the slowest and the fastest */
    double mib;         /* the process's peak resident memory */
    bool ok;
} TrainResult;

static void train_child(const ModelConfig *c, int B, int T, int threads, int steps, int fd) {
    set_threads(threads);
    Model m;
    model_init(&m, c, B, 1);
    AdamW opt;
    adamw_init(&opt, m.n_params, 0.9f, 0.95f, 1e-8f, 0.1f);
    int *ids = malloc(sizeof(int) * (size_t)B * T), *tg = malloc(sizeof(int) * (size_t)B * T);
    Rng rng;
    rng_seed(&rng, 2, 2);
    for (int i = 0; i < B * T; i++) ids[i] = (int)rng_below(&rng, 256), tg[i] = (int)rng_below(&rng, 256);
    const Schedule s = {.steps = 1000000, .warmup = 0, .lr = 1e-3, .clip = 1.0, .lr_min = 1e-4};
    train_step(&m, &opt, ids, tg, B, T, 1, &s); /* warm-up: page in the memory */
    double tps[32];
    for (int r = 0; r < steps; r++) {
        const double t0 = now();
        train_step(&m, &opt, ids, tg, B, T, r + 2, &s);
        tps[r] = (double)B * T / (now() - t0);
    }
    TrainResult res = {.ok = true};
    stats(tps, steps, &res.med, &res.lo, &res.hi);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    res.mib = (double)ru.ru_maxrss / 1024.0;
    if (write(fd, &res, sizeof res) != (ssize_t)sizeof res) _exit(1);
    _exit(0);
}

/* fork with a pipe from the child to the parent: *fd is the writing end in the child, the reading
 * end in the parent (-1 when the pipe or the fork failed: then returns -1). */
static pid_t fork_piped(int *fd) {
    int p[2];
    *fd = -1;
    if (pipe(p) != 0) return -1;
    fflush(stdout);
    const pid_t pid = fork();
    close(p[pid == 0 ? 0 : 1]);
    *fd = p[pid == 0 ? 1 : 0];
    if (pid < 0) close(*fd), *fd = -1;
    return pid;
}

/* Our training run, in a process of its own: forked, then the bench itself run again (exec) as
 * `bench --train-child VOCAB D_MODEL HEADS D_FF LAYERS MAX_LEN B T THREADS STEPS FD` (the sizes of
 * a config S-like model), so that its peak memory counts none of the pages a fork shares with this
 * process (the matmul section's, OpenBLAS's buffers). Without exec (it failed), the forked child
 * trains itself. */
enum { CHILD_ARGS = 11 };
static TrainResult run_ours(const ModelConfig *c, int B, int T, int threads, int steps) {
    TrainResult res = {0};
    int fd;
    const pid_t pid = fork_piped(&fd);
    if (pid == 0) {
        const int v[CHILD_ARGS] = {c->vocab, c->d_model, c->heads, c->d_ff, c->layers, c->max_len, B, T, threads, steps, fd};
        char a[CHILD_ARGS][24];
        for (int i = 0; i < CHILD_ARGS; i++) snprintf(a[i], sizeof a[i], "%d", v[i]);
        execl("/proc/self/exe", "bench", "--train-child", a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10],
              (char *)NULL);
        train_child(c, B, T, threads, steps, fd);
    }
    if (pid < 0) return res;
    if (read(fd, &res, sizeof res) != (ssize_t)sizeof res) res.ok = false;
    close(fd);
    waitpid(pid, NULL, 0);
    return res;
}

/* The other end of run_ours: config S with the sizes given. */
static int train_child_main(int argc, char **argv) {
    if (argc != 2 + CHILD_ARGS) return 2;
    int v[CHILD_ARGS];
    for (int i = 0; i < CHILD_ARGS; i++) v[i] = atoi(argv[2 + i]);
    ModelConfig c = config_s(v[5]);
    c.vocab = v[0], c.d_model = v[1], c.heads = v[2], c.d_ff = v[3], c.layers = v[4];
    train_child(&c, v[6], v[7], v[8], v[9], v[10]);
    return 1; /* not reached: train_child ends the process */
}

/* ---- the PyTorch peer: tests/bench/torch_peer.py, run by Debian's python3 with python3-torch ---- */
static const char *const PEER_SCRIPT = "tests/bench/torch_peer.py";

static const char *peer_python(void) {
    const char *p = getenv("BENCH_PYTHON"); /* another interpreter that has torch */
    return p ? p : access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

static bool peer_available(void) {
    if (access(PEER_SCRIPT, R_OK) != 0) return false;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s -c 'import torch' >/dev/null 2>&1", peer_python());
    return system(cmd) == 0;
}

/* One run of the peer, with the settings that let it run at its best (tests/bench/torch_peer.py
 * says why): OpenBLAS left to choose its own kernels, glibc's malloc keeping its memory. */
static TrainResult run_peer(const ModelConfig *c, int B, int T, int threads, int steps) {
    TrainResult res = {0};
    int fd;
    const pid_t pid = fork_piped(&fd);
    if (pid == 0) {
        dup2(fd, STDOUT_FILENO);
        close(fd);
        if (!freopen("/dev/null", "w", stderr)) _exit(127);
        unsetenv("OPENBLAS_CORETYPE"), unsetenv("OPENBLAS_L2_SIZE");
        setenv("MALLOC_MMAP_THRESHOLD_", "1073741824", 1), setenv("MALLOC_TRIM_THRESHOLD_", "2147483647", 1);
        char a[8][16];
        const int v[8] = {c->layers, c->heads, c->d_model, c->vocab, B, T, threads, steps};
        for (int i = 0; i < 8; i++) snprintf(a[i], sizeof a[i], "%d", v[i]);
        execlp(peer_python(), peer_python(), PEER_SCRIPT, "--layers", a[0], "--heads", a[1], "--d_model", a[2], "--vocab",
               a[3], "--B", a[4], "--T", a[5], "--threads", a[6], "--steps", a[7], (char *)NULL);
        _exit(127);
    }
    if (pid < 0) return res;
    char out[4096] = "";
    size_t n = 0;
    ssize_t got;
    while (n + 1 < sizeof out && ((got = read(fd, out + n, sizeof out - 1 - n)) > 0 || (got < 0 && errno == EINTR)))
        if (got > 0) n += (size_t)got;
    out[n] = '\0';
    close(fd);
    int st = 0;
    if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        const char *line = strstr(out, "RESULT tokens/s");
        res.ok = line && sscanf(line, "RESULT tokens/s %lf %lf %lf %lf", &res.med, &res.lo, &res.hi, &res.mib) == 4;
        res.mib /= 1024.0; /* the script prints KiB */
    }
    return res;
}

static void print_result(const char *name, int B, int T, int threads, const TrainResult *r, double flops) {
    if (!r->ok) {
        printf("  %-8s B=%-3d T=%-4d %d thread%s  failed\n", name, B, T, threads, threads > 1 ? "s" : " ");
        return;
    }
    const double g = r->med * flops / 1e9;
    /* the share of the peak of the cores used: one core's peak times the threads */
    printf("  %-8s B=%-3d T=%-4d %d thread%s %8.0f tokens/s (%6.0f .. %6.0f) %6.1f GFLOP/s %4.0f%% of peak  memory %6.1f MiB\n",
           name, B, T, threads, threads > 1 ? "s" : " ", r->med, r->lo, r->hi, g, share(g / threads), r->mib);
}

/* This project and the peer in turns, `pairs` times: the machine's load drifts, so each pair's
 * ratio is taken from runs a few seconds apart, and their median is the figure. */
/* Runs of two kinds in turns, so that both see the same minutes of a shared machine: the medians
 * (with the slowest and fastest) of each kind and of the pairs' ratios, first over second. */
typedef TrainResult (*Runner)(const ModelConfig *c, int B, int T, int threads, int steps);
typedef struct {
    int n;                            /* pairs where both ran */
    double first[3], second[3], ratio[3]; /* median, slowest, fastest */
    double second_mib;                /* the largest peak memory of the second kind */
} InTurns;

static InTurns in_turns(Runner run1, int threads1, Runner run2, int threads2, const ModelConfig *c, int B, int T,
                        int steps, int pairs) {
    enum { MAX_PAIRS = 9 };
    double x[MAX_PAIRS], y[MAX_PAIRS], r[MAX_PAIRS];
    InTurns t = {0};
    for (int i = 0; i < pairs && i < MAX_PAIRS; i++) {
        const TrainResult a = run1(c, B, T, threads1, steps), b = run2(c, B, T, threads2, steps);
        if (!a.ok || !b.ok) continue;
        x[t.n] = a.med, y[t.n] = b.med, r[t.n] = a.med / b.med, t.n++;
        t.second_mib = b.mib > t.second_mib ? b.mib : t.second_mib;
    }
    if (t.n == 0) return t;
    stats(x, t.n, &t.first[0], &t.first[1], &t.first[2]);
    stats(y, t.n, &t.second[0], &t.second[1], &t.second[2]);
    stats(r, t.n, &t.ratio[0], &t.ratio[1], &t.ratio[2]);
    return t;
}

static void versus_peer(const char *name, const ModelConfig *c, int B, int T, int steps, int pairs) {
    const InTurns t = in_turns(run_ours, 1, run_peer, 1, c, B, T, steps, pairs);
    if (t.n == 0) {
        printf("  %-8s B=%-3d T=%-4d against PyTorch: the peer did not run (try %s %s)\n", name, B, T, peer_python(), PEER_SCRIPT);
        return;
    }
    printf("  %-8s B=%-3d T=%-4d 1 thread, %d pairs in turns: ours %.0f tokens/s (%.0f .. %.0f), PyTorch %.0f (%.0f .. %.0f,\n"
           "  %*s memory %.1f MiB): ratio %.2f (%.2f .. %.2f)\n",
           name, B, T, t.n, t.first[0], t.first[1], t.first[2], t.second[0], t.second[1], t.second[2], 8, "", t.second_mib,
           t.ratio[0], t.ratio[1], t.ratio[2]);
}

/* Two threads against one (a 2-thread run collapses whenever another job takes a core, hence turns). */
static void versus_one_thread(const char *name, const ModelConfig *c, int B, int T, int steps, int pairs) {
    const InTurns t = in_turns(run_ours, 2, run_ours, 1, c, B, T, steps, pairs);
    if (t.n == 0) return;
    printf("  %-8s B=%-3d T=%-4d %d pairs in turns: 2 threads %.0f tokens/s (%.0f .. %.0f), 1 thread %.0f (%.0f .. %.0f):\n"
           "  %*s ratio %.2f (%.2f .. %.2f)\n", name, B, T, t.n, t.first[0], t.first[1], t.first[2], t.second[0],
           t.second[1], t.second[2], 8, "", t.ratio[0], t.ratio[1], t.ratio[2]);
}

static void bench_training(void) {
    printf("\n2. training: tokens per second (the median step, and the slowest .. fastest), the products' GFLOP/s\n"
           "   (6 per weight per token, attention's whole T x T counted, as the PyTorch peer counts them) as a share\n"
           "   of the peak of the cores used (one core's times the threads), and the process's peak memory. Config S: 4 blocks, 4 heads, d_model 128, vocab 256,\n"
           "   learned positions, pre-norm, GELU, tied, AdamW; config L: the same with 6 blocks, 8 heads,\n"
           "   d_model 256, d_ff 1024, context 256\n\n");
    const ModelConfig s64 = config_s(64), s128 = config_s(128), l256 = config_l();
    const struct {
        const char *name;
        const ModelConfig *cfg;
        int B, T, threads, steps;
    } runs[] = {{"config S", &s64, 4, 64, 1, 15},    {"config S", &s64, 4, 64, 2, 15}, {"config S", &s128, 16, 128, 1, 10},
                {"config S", &s128, 16, 128, 2, 10}, {"config L", &l256, 8, 256, 1, 5}, {"config L", &l256, 8, 256, 2, 5}};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        const TrainResult r = run_ours(runs[i].cfg, runs[i].B, runs[i].T, runs[i].threads, runs[i].steps);
        print_result(runs[i].name, runs[i].B, runs[i].T, runs[i].threads, &r, flops_per_token(runs[i].cfg, runs[i].T));
    }
    printf("\n   two threads against one:\n\n");
    versus_one_thread("config S", &s128, 16, 128, 10, 5);
    versus_one_thread("config L", &l256, 8, 256, 5, 3);
    printf("\n   against the same model in PyTorch (%s), one thread:\n\n", PEER_SCRIPT);
    if (!peer_available()) {
        printf("  not measured: %s cannot import torch (apt-get install python3-torch libopenblas-dev; without OpenBLAS\n"
               "  PyTorch falls back to the reference BLAS, a baseline too slow to mean anything)\n", peer_python());
        return;
    }
    versus_peer("config S", &s128, 16, 128, 10, 3);
    versus_peer("config L", &l256, 8, 256, 5, 3);
}

/* ---- 3. generation ---- */
static void bench_generation(void) {
    printf("\n3. generation, config S with a context of 256, 1 thread: 256 tokens\n\n");
    set_threads(1);
    ModelConfig c = config_s(256);
    Model m;
    model_init(&m, &c, 1, 3);
    int ids[256];
    for (int i = 0; i < 256; i++) ids[i] = (i * 37) % 256;
    double cached[REPS], full[REPS];
    for (int r = 0; r < REPS; r++) {
        KvCache kv;
        kv_init(&kv, &m);
        double t0 = now();
        for (int t = 0; t < 256; t++) model_step(&m, &kv, ids[t]);
        cached[r] = 256 / (now() - t0);
        kv_free(&kv);
        if (r >= 2) { full[r] = full[r - 1]; continue; } /* recomputing is slow: time it twice */
        t0 = now();
        for (int t = 0; t < 256; t++) model_forward(&m, ids, NULL, 1, t + 1);
        full[r] = 256 / (now() - t0);
    }
    double cm, cl, ch, fm, fl, fh;
    stats(cached, REPS, &cm, &cl, &ch);
    stats(full, REPS, &fm, &fl, &fh);
    printf("  with the key/value cache  %8.0f tokens/s (%.0f .. %.0f)\n", cm, cl, ch);
    printf("  recomputing the prefix    %8.0f tokens/s (%.0f .. %.0f)\n", fm, fl, fh);
    printf("  speed-up                  %8.1f x\n", cm / fm);
    model_free(&m);
}

/* ---- 4. n-gram counting ---- */
static void bench_ngram(void) {
    printf("\n4. n-gram counting (chapter 1), order 5, the synthetic language\n\n");
    SynthCorpus sc;
    synth_generate(&sc, 190000, 1);
    char *text = synth_text(&sc);
    Lines l;
    lines_split(&l, text);
    Vocab v;
    vocab_init(&v);
    TokenStream s;
    corpus_encode(&s, &v, l.line, l.n, LEVEL_CHAR, true);
    double tps[REPS];
    for (int r = 0; r < REPS; r++) {
        NgramModel m;
        const double t0 = now();
        ngram_build(&m, &s, v.size, 5, 1.0);
        tps[r] = (double)s.n / (now() - t0);
        ngram_free(&m);
    }
    double med, lo, hi;
    stats(tps, REPS, &med, &lo, &hi);
    printf("  %ld tokens: %.2f M tokens/s (%.2f .. %.2f)\n", s.n, med / 1e6, lo / 1e6, hi / 1e6);
    token_stream_free(&s), vocab_free(&v), lines_free(&l), synth_free(&sc), free(text);
}

/* ---- 5. byte-level BPE ---- */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static char *read_whole(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    const long len = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)len + 1);
    *n = buf ? fread(buf, 1, (size_t)len, f) : 0;
    fclose(f);
    return buf;
}

static void bench_bpe(void) {
    enum { BYTES = 4 << 20, VOCAB = 4096, TRAIN_REPS = 3 };
    printf("\n5. byte-level BPE (chapter 0), the synthetic language, one thread\n\n");
    SynthCorpus sc;
    synth_generate(&sc, 200000, 1);
    char *text = synth_text(&sc);
    size_t n = strlen(text);
    if (n > BYTES) { /* cut at the line end before 4 MiB */
        n = BYTES;
        while (n > 0 && text[n - 1] != '\n') n--;
    }
    int nc;
    BpeChunk *chunks = bpe_chunk_lines((const uint8_t *)text, n, &nc);
    double wall[TRAIN_REPS], cpu[TRAIN_REPS];
    Bpe b;
    for (int r = 0; r < TRAIN_REPS; r++) {
        const double t0 = now(), c0 = cpu_now();
        bpe_train(&b, chunks, nc, VOCAB);
        wall[r] = now() - t0, cpu[r] = cpu_now() - c0;
        if (r + 1 < TRAIN_REPS) bpe_free(&b);
    }
    double med, lo, hi, cmed, clo, chi;
    stats(wall, TRAIN_REPS, &med, &lo, &hi);
    stats(cpu, TRAIN_REPS, &cmed, &clo, &chi);
    printf("  training %zu bytes (%d lines) to %d tokens: %.2f s wall (%.2f .. %.2f), %.2f s CPU (%.2f .. %.2f)\n",
           n, nc, bpe_vocab_size(&b), med, lo, hi, cmed, clo, chi);
    int32_t *ids = malloc(sizeof(int32_t) * n);
    double mbs[REPS], cmbs[REPS];
    size_t n_ids = 0;
    for (int r = 0; r < REPS; r++) {
        const double t0 = now(), c0 = cpu_now();
        n_ids = 0;
        for (int q = 0; q < nc; q++) n_ids += bpe_encode(&b, chunks[q].s, chunks[q].n, ids);
        mbs[r] = (double)n / (now() - t0) / 1e6, cmbs[r] = (double)n / (cpu_now() - c0) / 1e6;
    }
    stats(mbs, REPS, &med, &lo, &hi);
    stats(cmbs, REPS, &cmed, &clo, &chi);
    printf("  encoding the same text line by line: %.1f MB/s wall (%.1f .. %.1f), %.1f MB/s CPU (%.1f .. %.1f),\n"
           "  %.3f tokens per byte\n", med, lo, hi, cmed, clo, chi, (double)n_ids / (double)n);
    size_t jn = 0, vn = 0;
    char *json = read_whole("data/gpt2/encoder.json", &jn), *vocab = read_whole("data/gpt2/vocab.bpe", &vn);
    Bpe g;
    char err[256];
    if (json && vocab && bpe_gpt2_parse(&g, json, jn, vocab, vn, err, sizeof err)) {
        for (int r = 0; r < REPS; r++) {
            const double t0 = now(), c0 = cpu_now();
            n_ids = bpe_gpt2_encode(&g, (const uint8_t *)text, n, ids);
            mbs[r] = (double)n / (now() - t0) / 1e6, cmbs[r] = (double)n / (cpu_now() - c0) / 1e6;
        }
        stats(mbs, REPS, &med, &lo, &hi);
        stats(cmbs, REPS, &cmed, &clo, &chi);
        printf("  GPT-2's tokenizer (pre-tokens, %d merges) on the same text: %.1f MB/s wall (%.1f .. %.1f),\n"
               "  %.1f MB/s CPU (%.1f .. %.1f), %.3f tokens per byte\n", g.n_merges, med, lo, hi, cmed, clo, chi,
               (double)n_ids / (double)n);
        bpe_free(&g);
    } else {
        printf("  GPT-2's tokenizer: not measured (run `make gpt2-data` first)\n");
    }
    free(json), free(vocab), free(ids), free(chunks), free(text);
    bpe_free(&b);
    synth_free(&sc);
}

/* OpenBLAS reads OPENBLAS_CORETYPE when it is loaded, before main: to let it pick its best kernels,
 * the bench runs itself again without the variable (see bench_matmul). Returns only if it did not. */
static void without_coretype(char **argv) {
#ifdef HAVE_OPENBLAS
    const char *core = getenv("OPENBLAS_CORETYPE");
    if (!core || getenv("BENCH_KEEP_CORETYPE")) return;
    char was[64];
    snprintf(was, sizeof was, "%s", core);
    setenv("BENCH_UNSET_CORETYPE", was, 1);
    unsetenv("OPENBLAS_CORETYPE"), unsetenv("OPENBLAS_L2_SIZE");
    execv("/proc/self/exe", argv);
    setenv("OPENBLAS_CORETYPE", was, 1); /* the exec failed: go on as we were */
#else
    (void)argv;
#endif
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--train-child") == 0) return train_child_main(argc, argv);
    without_coretype(argv);
    static const char *const names[] = {"matmul", "train", "generate", "ngram", "bpe"};
    static void (*const sections[])(void) = {bench_matmul, bench_training, bench_generation, bench_ngram, bench_bpe};
    enum { N_SECTIONS = 5 };
    bool run[N_SECTIONS];
    for (int s = 0; s < N_SECTIONS; s++) run[s] = argc == 1;
    for (int a = 1; a < argc; a++) {
        int s = 0;
        while (s < N_SECTIONS && strcmp(argv[a], names[s]) != 0) s++;
        if (s == N_SECTIONS) {
            fprintf(stderr, "bench: unknown section '%s' (expected matmul, train, generate, ngram or bpe)\n", argv[a]);
            return 2;
        }
        run[s] = true;
    }
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (strncmp(line, "model name", 10) == 0) {
                char *colon = strchr(line, ':');
                if (colon) snprintf(model, sizeof model, "%s", colon + 2);
                model[strcspn(model, "\n")] = '\0';
                break;
            }
        fclose(f);
    }
    const int threads = threads_available();
    printf("make bench: %s, %ld cores online, OpenMP threads %d%s\n\n", model, sysconf(_SC_NPROCESSORS_ONLN), threads,
#ifdef _OPENMP
           ""
#else
           " (built without OpenMP)"
#endif
    );
    const char *unset = getenv("BENCH_UNSET_CORETYPE");
    if (unset)
        printf("OPENBLAS_CORETYPE=%s was unset for this run (and OPENBLAS_L2_SIZE), so that OpenBLAS and the PyTorch\n"
               "peer choose their best kernels; BENCH_KEEP_CORETYPE=1 keeps it\n\n", unset);
    bench_peak();
    for (int s = 0; s < N_SECTIONS; s++)
        if (run[s]) sections[s]();
    return 0;
}
