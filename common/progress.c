/* progress: the in-place progress line (see progress.h). */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void progress_start(Progress *p, long total) {
    p->active = isatty(STDERR_FILENO);
    p->start = p->last = now();
    p->total = total;
}

double progress_seconds(const Progress *p) { return now() - p->start; }

void progress_update(Progress *p, long step, double loss, double tokens_per_step) {
    if (!p->active) return;
    const double t = now();
    if (t - p->last < 0.1 && step < p->total) return;
    p->last = t;
    const double elapsed = t - p->start, rate = step > 0 ? elapsed / (double)step : 0;
    const double left = rate * (double)(p->total - step);
    fprintf(stderr, "\r  step %ld/%ld  loss %.4f  %.0f tokens/s  %.0f s left   ", step, p->total, loss,
            elapsed > 0 ? tokens_per_step * (double)step / elapsed : 0.0, left);
    fflush(stderr);
}

void progress_end(Progress *p) {
    if (!p->active) return;
    fprintf(stderr, "\r%*s\r", 72, "");
    fflush(stderr);
}
