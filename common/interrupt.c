/* interrupt: the SIGINT request flag (see interrupt.h). */
#include "interrupt.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static volatile sig_atomic_t requested = 0;

static void on_sigint(int sig) {
    (void)sig;
    requested = 1;
}

void interrupt_watch(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND; /* the second Ctrl-C gets the default action: the program ends */
    sigaction(SIGINT, &sa, NULL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
}

bool interrupt_requested(void) { return requested != 0; }

void interrupt_exit_if_requested(const char *fmt, ...) {
    if (!requested) return;
    fflush(stdout);
    if (isatty(STDERR_FILENO)) fputc('\n', stderr); /* below a progress line */
    fprintf(stderr, "%s: interrupted ", util_program());
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_INTERRUPTED);
}
