/* dist: data-parallel helpers over MPI (see dist.h). */
#include "dist.h"

#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interrupt.h"
#include "util.h"

static bool dist_running; /* between MPI_Init and MPI_Finalize: an exit now must abort the job */
static int solo_status;   /* inside a solo phase on rank 0: the status an exit there means, else 0 */

/* atexit: a rank leaving while the others may still wait for it (die(), an early return) ends the
 * whole job instead of leaving them blocked in a collective. Inside a solo phase the others wait
 * in dist_solo_end for exactly this news: they get the status and end as rank 0 does. */
static void abort_if_running(void) {
    if (!dist_running) return;
    dist_running = false;
    fflush(stdout);
    fflush(stderr);
    if (solo_status != 0) {
        MPI_Bcast(&solo_status, 1, MPI_INT, 0, MPI_COMM_WORLD);
        MPI_Finalize();
        return; /* exit goes on with die()'s status */
    }
    MPI_Abort(MPI_COMM_WORLD, EXIT_RUNTIME);
}

void dist_start(Dist *d, int *argc, char ***argv) {
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    dist_running = true;
    atexit(abort_if_running);
}

void dist_finish(void) {
    dist_running = false;
    MPI_Finalize();
}

void dist_share(size_t n, int p, int r, size_t *lo, size_t *hi) {
    *lo = n * (size_t)r / (size_t)p;
    *hi = n * (size_t)(r + 1) / (size_t)p;
}

bool dist_solo_begin(const Dist *d, int status_if_it_exits) {
    CHECK(status_if_it_exits != 0, "a solo phase needs the non-zero status its exit would mean");
    if (d->rank == 0) solo_status = status_if_it_exits;
    return d->rank == 0;
}

void dist_solo_end(const Dist *d) {
    int status = 0; /* rank 0 reached the end: nobody exits */
    if (d->rank == 0) solo_status = 0;
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (status != 0) dist_exit(status, true); /* rank 0 said why; it exits with the same status */
}

void dist_bcast(void *buf, size_t n) {
    for (size_t done = 0; done < n;) {
        const size_t k = n - done < (size_t)INT_MAX ? n - done : (size_t)INT_MAX;
        MPI_Bcast((char *)buf + done, (int)k, MPI_BYTE, 0, MPI_COMM_WORLD);
        done += k;
    }
}

static volatile sig_atomic_t got_sigterm = 0;

static void on_sigterm(int sig) {
    (void)sig;
    got_sigterm = 1;
}

void dist_watch_interrupts(void) {
    interrupt_watch();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigterm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* a second SIGTERM ends the rank at once */
    sigaction(SIGTERM, &sa, NULL);
}

int dist_interrupt_local(void) { return got_sigterm ? DIST_SIGTERM : interrupt_requested() ? DIST_SIGINT : DIST_RUN; }

int dist_interrupt_any(void) {
    int mine = dist_interrupt_local(), any = DIST_RUN;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
}

void dist_exit(int status, bool finalize) {
    fflush(stdout);
    fflush(stderr);
    dist_running = false;
    if (finalize) MPI_Finalize();
    exit(status);
}

void dist_parse(const Dist *d, CliSpec *spec, CliCommon *common, int argc, char **argv) {
    util_set_program(spec->program);
    char err[512] = "";
    const CliResult res = cli_parse_args(spec, common, argc, argv, err, sizeof err);
    /* the lowest rank whose parse failed (size: none), and whether any asked for --help */
    int failed = res == CLI_ERROR ? d->rank : d->size, first = 0, help = res == CLI_HELP, any_help = 0;
    MPI_Allreduce(&failed, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&help, &any_help, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (first < d->size) {
        if (d->rank == first) {
            if (d->size > 1 && first > 0) fprintf(stderr, "%s: rank %d: %s\n", spec->program, first, err);
            else fprintf(stderr, "%s: %s\n", spec->program, err);
        }
        dist_exit(EXIT_USAGE, true);
    }
    if (any_help) {
        if (d->rank == 0) cli_print_help(stdout, spec, common);
        dist_exit(0, true);
    }
}

void dist_usage_check(const Dist *d, bool cond, const char *fmt, ...) {
    if (!cond) return;
    if (d->rank == 0) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s: ", util_program());
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    dist_exit(EXIT_USAGE, true);
}

size_t dist_ring_allreduce(float *buf, size_t n, const Dist *d) {
    const int p = d->size, r = d->rank, right = (r + 1) % p, left = (r + p - 1) % p;
    if (p == 1) return 0;
    size_t max_chunk = 0;
    for (int c = 0; c < p; c++) {
        size_t lo, hi;
        dist_share(n, p, c, &lo, &hi);
        if (hi - lo > max_chunk) max_chunk = hi - lo;
    }
    CHECK(max_chunk <= INT_MAX, "ring chunk of %zu floats is larger than one MPI message", max_chunk);
    float *in = xmalloc(sizeof(float) * (max_chunk > 0 ? max_chunk : 1));
    size_t sent = 0;
    /* Reduce-scatter. At step s rank r sends chunk (r - s) mod p, which already holds the sum of s + 1
     * ranks' values, and adds what it receives into chunk (r - s - 1) mod p. After p - 1 steps chunk
     * (r + 1) mod p on rank r holds the sum over every rank. */
    for (int s = 0; s < p - 1; s++) {
        const int send_c = ((r - s) % p + p) % p, recv_c = ((r - s - 1) % p + p) % p;
        size_t slo, shi, rlo, rhi;
        dist_share(n, p, send_c, &slo, &shi);
        dist_share(n, p, recv_c, &rlo, &rhi);
        MPI_Sendrecv(buf + slo, (int)(shi - slo), MPI_FLOAT, right, s, in, (int)(rhi - rlo), MPI_FLOAT, left, s,
                     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        for (size_t i = 0; i < rhi - rlo; i++) buf[rlo + i] += in[i];
        sent += (shi - slo) * sizeof(float);
    }
    /* All-gather. At step s rank r passes on the finished chunk (r + 1 - s) mod p and receives the
     * finished chunk (r - s) mod p in its place. */
    for (int s = 0; s < p - 1; s++) {
        const int send_c = ((r + 1 - s) % p + p) % p, recv_c = ((r - s) % p + p) % p;
        size_t slo, shi, rlo, rhi;
        dist_share(n, p, send_c, &slo, &shi);
        dist_share(n, p, recv_c, &rlo, &rhi);
        MPI_Sendrecv(buf + slo, (int)(shi - slo), MPI_FLOAT, right, p + s, buf + rlo, (int)(rhi - rlo), MPI_FLOAT, left,
                     p + s, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        sent += (shi - slo) * sizeof(float);
    }
    free(in);
    return sent;
}

void dist_allreduce_sum(float *buf, size_t n) {
    for (size_t done = 0; done < n;) {
        const size_t k = n - done < (size_t)INT_MAX ? n - done : (size_t)INT_MAX;
        MPI_Allreduce(MPI_IN_PLACE, buf + done, (int)k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        done += k;
    }
}

void dist_allgather_shares(float *buf, size_t n, const Dist *d) {
    int *counts = xmalloc(sizeof(int) * (size_t)d->size), *displs = xmalloc(sizeof(int) * (size_t)d->size);
    CHECK(n <= INT_MAX, "all-gather of %zu floats is larger than one MPI message", n);
    for (int c = 0; c < d->size; c++) {
        size_t lo, hi;
        dist_share(n, d->size, c, &lo, &hi);
        counts[c] = (int)(hi - lo), displs[c] = (int)lo;
    }
    MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, MPI_COMM_WORLD);
    free(counts), free(displs);
}
