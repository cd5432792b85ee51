/* interrupt: the SIGINT request flag (see interrupt.h). */
#include "interrupt.h"

#include <signal.h>
#include <string.h>

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
}

bool interrupt_requested(void) { return requested != 0; }
