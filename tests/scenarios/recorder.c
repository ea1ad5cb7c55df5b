/* The flight recorder's dumps, on a signal, under the program's own signal handling:
 *   usr1     a capture with 20 device-to-device async copies (counted, not recorded) and one illegal sync
 *            (recorded), then raise(SIGUSR1) with no handler: capguard dumps and the program goes
 *            on ("after_signal")
 *   own      the program installs its own SIGUSR1 handler first: it still runs ("handler_ran 1"),
 *            the dump comes before it, and asking for the disposition gives the program its own
 *            handler back ("own_back 1"); SIGTERM, never set, reads as SIG_DFL ("term_dfl 1")
 *   term     raise(SIGTERM) with no handler: the dump, then the default action (killed by it)
 *   ignore   SIGTERM ignored by the program: it stays ignored (no dump, "after_signal")
 *   many     300 captures begun and ended: the ring keeps the newest CAPGUARD_RECORDER entries
 * Prints what it saw; tests/run.sh reads that, the exit status and the log. */
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include "scen.h"

static volatile sig_atomic_t handler_ran;
static void own_handler(int sig)
{
    (void)sig;
    handler_ran = 1;
}

static void capture_with_copies(cudaStream_t s, int *dev, int copies, int illegal)
{
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    for (int i = 0; i < copies; i++)
        MUST(cudaMemcpyAsync(dev + 32, dev, 128, cudaMemcpyDeviceToDevice, s));
    if (illegal)
        RC("sync", cudaStreamSynchronize(s)); /* deferred under capguard's default table */
    scen_end(s, "end");
}

int main(int argc, char **argv)
{
    const char *v = argc > 1 ? argv[1] : "usr1";
    cudaStream_t s;
    int *dev;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaMalloc((void **)&dev, 256));
    if (strcmp(v, "own") == 0) {
        struct sigaction a, back, term;
        memset(&a, 0, sizeof a);
        a.sa_handler = own_handler;
        sigemptyset(&a.sa_mask);
        sigaction(SIGUSR1, &a, NULL);
        sigaction(SIGUSR1, NULL, &back);
        sigaction(SIGTERM, NULL, &term);
        printf("own_back %d\nterm_dfl %d\n", back.sa_handler == own_handler, term.sa_handler == SIG_DFL);
    }
    if (strcmp(v, "ignore") == 0)
        signal(SIGTERM, SIG_IGN);
    if (strcmp(v, "many") == 0) {
        for (int i = 0; i < 300; i++)
            capture_with_copies(s, dev, 0, 0);
        return 0;
    }
    capture_with_copies(s, dev, 20, 1);
    fflush(stdout);
    raise(strcmp(v, "usr1") == 0 || strcmp(v, "own") == 0 ? SIGUSR1 : SIGTERM);
    printf("after_signal\nhandler_ran %d\n", (int)handler_ran);
    MUST(cudaDeviceSynchronize());
    return 0;
}
