/* signals.c: SIGTERM/SIGUSR1 capture for batch jobs. The handler only records the signal
 * (async-signal-safe); the progress loop turns it into a stop of the whole job (rank 0) or a
 * RAYC__M_STOP record to rank 0 (other ranks), so no rayc state is touched in the handler. */
#include "config.h"

#include <signal.h>
#include <string.h>

#include "rt.h"

static volatile sig_atomic_t pending_signal;
static struct sigaction old_term, old_usr1;
static int installed;

static void on_signal(int signum)
{
    if (!pending_signal)
        pending_signal = signum;
}

void rayc__signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGUSR1, &sa, &old_usr1);
    installed = 1;
}

void rayc__signals_restore(void)
{
    if (!installed)
        return;
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGUSR1, &old_usr1, NULL);
    installed = 0;
}

int rayc__signals_take(void)
{
    int s = pending_signal;
    return s;
}
