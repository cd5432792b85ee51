/* bench: `make bench`. Speed measured, never asserted: every figure is the median of several runs,
 * with the fastest and slowest beside it. Nothing here can fail on a number.
 *
 *   1. matmul GFLOP/s: square sizes 64 .. 1024, and the shapes of config S's layers (all three
 *      forms); OpenBLAS's sgemm beside it when the build found OpenBLAS (HAVE_OPENBLAS)
 *   2. training tokens/s and peak memory, config S (4 blocks, 4 heads, d_model 128, vocab 256,
 *      learned positions, pre-norm, GELU, tied, AdamW), B=4 T=64 and B=16 T=128, 1 and 2 threads
 *   3. generation tokens/s, 256 tokens with and without the key/value cache
 *   4. n-gram counting tokens/s (chapter 1), order 5 over 4 M characters of the synthetic language
 *   5. byte-level BPE (chapter 0): training 4 MiB of the synthetic language to a vocabulary of 4096
 *      (wall and CPU seconds, one thread), and encoding MB/s with that vocabulary; GPT-2's
 *      tokenizer's encoding speed too when `make gpt2-data` has fetched it into data/gpt2
 *
 * `./build/bench matmul train` runs only the sections named (matmul, train, generate, ngram, bpe). */
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

/* ---- 1. matmul ---- */
static double matmul_gflops(int M, int K, int N, bool ta, bool tb, bool blas, double *lo, double *hi) {
    Rng rng;
    rng_seed(&rng, 1, 1);
    Tensor A = ta ? tensor_new(K, M) : tensor_new(M, K), B = tb ? tensor_new(N, K) : tensor_new(K, N), C = tensor_new(M, N);
    tensor_randn(&A, &rng, 1.0f), tensor_randn(&B, &rng, 1.0f);
    const double flops = 2.0 * M * K * N;
    const int inner = flops < 1e8 ? (int)(1e8 / flops) + 1 : 1;
    double g[REPS];
    for (int r = 0; r < REPS; r++) {
        const double t0 = now();
        for (int i = 0; i < inner; i++) {
#ifdef HAVE_OPENBLAS
            if (blas) {
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
                            A.data, A.stride, B.data, B.stride, 0.0f, C.data, C.stride);
                continue;
            }
#else
            (void)blas;
#endif
            gemm(&C, &A, &B, (GemmOptions){.flags = (ta ? GEMM_TRANS_A : 0) | (tb ? GEMM_TRANS_B : 0)});
        }
        g[r] = flops * inner / (now() - t0) / 1e9;
    }
    double med;
    stats(g, REPS, &med, lo, hi);
    tensor_free(&A), tensor_free(&B), tensor_free(&C);
    return med;
}

static void bench_matmul(void) {
    printf("1. matmul, 1 thread, GFLOP/s: median of %d (min .. max)\n\n", REPS);
    set_threads(1);
#ifdef HAVE_OPENBLAS
    openblas_set_num_threads(1); /* else it takes OMP_NUM_THREADS or every core */
    /* OpenBLAS picks its kernels by the CPU it recognises; on a CPU newer than the library it may
     * fall back to a slow generic one (OPENBLAS_CORETYPE=SkylakeX forces the AVX-512 kernels) */
    printf("  %s; kernels for %s\n\n", openblas_get_config(), openblas_get_corename());
#endif
    printf("  %-40s %22s", "shape M x K x N", "ours");
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
        {128, 32, 128, false, true, "S: q k^T (one head)"},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        double lo, hi, blo = 0, bhi = 0;
        const double g = matmul_gflops(shapes[i].M, shapes[i].K, shapes[i].N, shapes[i].ta, shapes[i].tb, false, &lo, &hi);
        char label[64];
        snprintf(label, sizeof label, "%d x %d x %d %s", shapes[i].M, shapes[i].K, shapes[i].N, shapes[i].what);
        printf("  %-40s %8.1f (%5.1f .. %5.1f)", label, g, lo, hi);
#ifdef HAVE_OPENBLAS
        const double b = matmul_gflops(shapes[i].M, shapes[i].K, shapes[i].N, shapes[i].ta, shapes[i].tb, true, &blo, &bhi);
        printf(" %8.1f (%5.1f .. %5.1f) %8.2f", b, blo, bhi, g / b);
#else
        (void)blo, (void)bhi;
#endif
        printf("\n");
    }
#ifndef HAVE_OPENBLAS
    printf("  (OpenBLAS was not found at build time: apt-get install libopenblas-dev, then make bench again)\n");
#endif
}

/* ---- 2. training, in a child process so that its peak memory is its own ---- */
static ModelConfig config_s(int max_len) {
    ModelConfig c = {.vocab = 256, .d_model = 128, .heads = 4, .d_ff = 512, .layers = 4, .max_len = max_len, .causal = true,
                     .norm = NORM_PRE, .pos = POS_LEARNED, .act = ACT_GELU, .tied = true};
    return c;
}

static void train_child(int B, int T, int threads, int steps) {
    set_threads(threads);
    ModelConfig c = config_s(T);
    Model m;
    model_init(&m, &c, B, 1);
    AdamW opt;
    adamw_init(&opt, m.n_params, 0.9f, 0.95f, 1e-8f, 0.1f);
    int *ids = malloc(sizeof(int) * (size_t)B * T), *tg = malloc(sizeof(int) * (size_t)B * T);
    Rng rng;
    rng_seed(&rng, 2, 2);
    for (int i = 0; i < B * T; i++) ids[i] = (int)rng_below(&rng, 256), tg[i] = (int)rng_below(&rng, 256);
    const Schedule s = {1000000, 0, 1e-3, 1.0};
    train_step(&m, &opt, ids, tg, B, T, 1, &s); /* warm-up: page in the memory */
    double tps[32];
    for (int r = 0; r < steps; r++) {
        const double t0 = now();
        train_step(&m, &opt, ids, tg, B, T, r + 2, &s);
        tps[r] = (double)B * T / (now() - t0);
    }
    double med, lo, hi;
    stats(tps, steps, &med, &lo, &hi);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("  B=%-3d T=%-4d %d thread%s  %9.0f tokens/s (%6.0f .. %6.0f)   peak memory %6.1f MiB\n", B, T, threads,
           threads > 1 ? "s" : " ", med, lo, hi, (double)ru.ru_maxrss / 1024.0);
    fflush(stdout);
    exit(0);
}

static void bench_training(void) {
    printf("\n2. training config S (4 blocks, 4 heads, d_model 128, vocab 256, learned positions, pre-norm,\n"
           "   GELU, tied, AdamW): tokens per second, median of the timed steps (min .. max)\n\n");
    const int configs[][3] = {{4, 64, 1}, {4, 64, 2}, {16, 128, 1}, {16, 128, 2}};
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        fflush(stdout);
        const pid_t pid = fork();
        if (pid == 0) train_child(configs[i][0], configs[i][1], configs[i][2], configs[i][0] == 4 ? 15 : 10);
        int st;
        waitpid(pid, &st, 0);
    }
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

int main(int argc, char **argv) {
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
    for (int s = 0; s < N_SECTIONS; s++)
        if (run[s]) sections[s]();
    return 0;
}
