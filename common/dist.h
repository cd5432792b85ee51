/* dist: the pieces of data-parallel training over MPI (chapter 14), built with mpicc only: this
 * module is NOT part of build/libnotebook.a, which builds without MPI.
 *
 * Everything here is collective (every rank of MPI_COMM_WORLD calls it, in the same order) unless
 * it says otherwise. A rank that leaves without dist_finish (an exit from die(), a crash in a
 * library) takes the whole job down through MPI_Abort, so that no other rank waits for it forever.
 *
 * The splits. n items over p ranks: rank r owns [r n / p, (r + 1) n / p) (integer division), so
 * the shares differ by at most one and cover 0 .. n-1 once, in order. The same split cuts a batch
 * of windows (data parallelism), a gradient into ring chunks, and AdamW's state (ZeRO stage 1).  */
#ifndef DIST_H
#define DIST_H

#include <stdbool.h>
#include <stddef.h>

#include <mpi.h>

#include "cli.h"

typedef struct {
    int rank, size; /* this process's rank in MPI_COMM_WORLD, and how many there are */
} Dist;

/* MPI_Init, the rank and size, and the abort-on-early-exit guard. */
void dist_start(Dist *d, int *argc, char ***argv);
/* MPI_Finalize (after which an exit is an ordinary one). */
void dist_finish(void);

/* The share of rank r in n items over p: [*lo, *hi). */
void dist_share(size_t n, int p, int r, size_t *lo, size_t *hi);

/* Parse the command line on every rank without exiting there; then, together: if any rank's
 * parse failed, the lowest such rank prints its one line and every rank exits 2; --help is printed
 * by rank 0 and every rank exits 0. Sets the program name for die(). */
void dist_parse(const Dist *d, CliSpec *spec, CliCommon *common, int argc, char **argv);

/* A usage error every rank sees the same way (it depends on flags and the size only): rank 0
 * prints "program: message", every rank exits 2. Returns when cond is false. */
void dist_usage_check(const Dist *d, bool cond, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- rank 0 alone: reading a file, checking a flag against it ----
 * Between dist_solo_begin and dist_solo_end rank 0 does work that may end it through die() (a file
 * it cannot read, a flag that disagrees with a checkpoint), with the status the caller names; the
 * other ranks wait in dist_solo_end. If rank 0 exits there, its last act (an atexit handler) tells
 * them, and every rank ends with that status, rank 0 having printed the one line: no MPI_Abort and
 * its banner. dist_solo_begin returns true on rank 0 only, so a phase reads
 *     if (dist_solo_begin(d, EXIT_RUNTIME)) checkpoint_load(&ck, path);
 *     dist_solo_end(d);
 * Rank 0 makes no collective call in between. */
bool dist_solo_begin(const Dist *d, int status_if_it_exits);
void dist_solo_end(const Dist *d);

/* Rank 0's n bytes at buf copied into every rank's buf (MPI_Bcast, in pieces of at most INT_MAX). */
void dist_bcast(void *buf, size_t n);

/* ---- Ctrl-C over MPI ----
 * A Ctrl-C at the terminal reaches mpirun, not the ranks (each runs in a process group of its own):
 * mpirun sends every rank SIGTERM, then SIGKILL odls_base_sigkill_timeout seconds later (1 by
 * default; `mpirun --mca odls_base_sigkill_timeout 30` gives a large model time to save). A SIGINT
 * sent to a rank itself (kill -INT, or a rank started without mpirun) is the same request.
 * dist_watch_interrupts installs both handlers (interrupt.h's for SIGINT); the program reads the
 * request at a step boundary, combines it across the ranks (they must stop at the same step, and a
 * signal reaches them at slightly different moments), saves, and ends with dist_exit. */
enum { DIST_RUN = 0, DIST_SIGINT = 1, DIST_SIGTERM = 2 };
void dist_watch_interrupts(void);
/* What this rank has received: DIST_RUN, DIST_SIGINT, or DIST_SIGTERM (which wins over SIGINT). */
int dist_interrupt_local(void);
/* Together: the strongest request on any rank (an MPI_Allreduce of dist_interrupt_local). */
int dist_interrupt_any(void);
/* End this rank with `status` (every rank calls it). After a SIGTERM mpirun is already tearing the
 * job down and MPI_Finalize would wait for it until the SIGKILL: finalize false skips it. */
_Noreturn void dist_exit(int status, bool finalize);

/* The ring all-reduce, by hand: buf (n floats) becomes the sum over the ranks, with point-to-point
 * messages only. Reduce-scatter (p - 1 steps: send one chunk to the right, receive one from the
 * left, add it), then all-gather (p - 1 steps: pass the finished chunks around). Returns the bytes
 * this rank sent: 2 (p - 1) chunks, about 2 (p - 1) / p of the buffer. */
size_t dist_ring_allreduce(float *buf, size_t n, const Dist *d);

/* MPI_Allreduce (sum, in place) of n floats, in pieces of at most INT_MAX elements. */
void dist_allreduce_sum(float *buf, size_t n);
/* Every rank's share (dist_share of n) of buf gathered into every rank's buf. */
void dist_allgather_shares(float *buf, size_t n, const Dist *d);

#endif
