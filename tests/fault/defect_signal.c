/* Defect 5: hooked calls made from a signal handler. A timer signal fires every 50 us while
 * the main thread, inside a Global capture, either makes calls capguard judges and reports
 * ("busy": queries of the capturing stream, each one a violation answered as complete under
 * CAPGUARD=1) or computes without CUDA ("idle"). The handler queries the capturing stream too.
 * Prints how many handler calls ran and what they returned ("handler calls N ok N refused N"),
 * then the capture's end. Every handler call must be judged (ok) or forwarded and counted
 * (refused = the summary's signal_calls_unjudged). */
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include "scen.h"

static cudaStream_t cap;
static volatile sig_atomic_t calls, ok, refused;

static volatile sig_atomic_t usr1;
static void on_usr1(int sig) { (void)sig; usr1++; }

static void on_alarm(int sig)
{
    (void)sig;
    calls++;
    if (cudaStreamQuery(cap) == cudaSuccess)
        ok++;
    else
        refused++;
}

int main(int argc, char **argv)
{
    int busy = argc < 2 || strcmp(argv[1], "idle") != 0;
    volatile unsigned long spin = 0;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&cap, cudaStreamNonBlocking));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    /* capguard wraps the handler, but the program must get its own back, and it must run */
    struct sigaction q;
    sigaction(SIGALRM, NULL, &q);
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    printf("own_handler_back %d signal_returns_own %d usr1_ran %d\n",
           q.sa_handler == on_alarm && !(q.sa_flags & SA_SIGINFO), signal(SIGUSR1, SIG_DFL) == on_usr1, (int)usr1);
    MUST(cudaStreamBeginCapture(cap, cudaStreamCaptureModeGlobal));
    struct itimerval it = {{0, 50}, {0, 50}};
    setitimer(ITIMER_REAL, &it, NULL);
    for (long i = 0; i < 200000000L && calls < 2000; i++) {
        if (busy)
            (void)cudaStreamQuery(cap);
        else
            spin += (unsigned long)i;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    printf("handler calls %d ok %d refused %d\n", (int)calls, (int)ok, (int)refused);
    scen_end(cap, "end");
    return 0;
}
