/* fork() from a multithreaded parent while a capture is in progress (process.sh).
 * The main thread (A) captures on stream sa (Global mode) and records event ea in it. Threads B
 * (argv[2] of them, default 3) make hooked calls without pause whenever A is about to fork:
 * queries of the capturing stream and of the captured event (capguard answers them: its model,
 * report and log paths, with their locks, run, and the B threads contend for those locks), and,
 * through a gate of their own, a query of an unrelated stream and an event record in the
 * capture (these reach the CUDA test double, whose own lock is not fork-safe: the gates, taken
 * by a pthread_atfork handler, keep the B threads out of the double at the fork, not out of
 * capguard).
 * A forks argv[1] times (default 50), each time while the B threads are in their loop; the child runs
 * its own Global capture with a cudaDeviceSynchronize inside and exits; the parent waits for
 * it at most 3 s (a pipe closed by the child's exit, polled with a timeout) and kills it if
 * it hangs. At the end the parent's own capture ends.
 * Printed: per child "rc child_sync N", "rc child_end N" (by the child), "child_exit N" or
 * "child_hung" (by the parent); then "rc parent_end N" and "b_calls N" (B made calls); first of
 * all "parent_pid N" (which log is the parent's). */
#include <poll.h>
#include <stdlib.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "scen.h"

static cudaStream_t sa, su;
static cudaEvent_t ea, eb;
#define MAXB 16
static int nb = 3;
static pthread_mutex_t gate[MAXB];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int round_no, acked, quit;     /* under mu: A's round, B threads done with it */
static volatile int stop;             /* A has forked: the B threads end their burst */
static volatile unsigned long b_calls, burst_calls;

static void gates_lock(void)
{
    for (int k = 0; k < nb; k++)
        pthread_mutex_lock(&gate[k]);
}
static void gates_unlock(void)
{
    for (int k = nb - 1; k >= 0; k--)
        pthread_mutex_unlock(&gate[k]);
}
static void gates_reset(void)
{
    for (int k = 0; k < nb; k++)
        pthread_mutex_init(&gate[k], NULL);
}

static void *busy(void *arg)
{
    pthread_mutex_t *my_gate = &gate[(intptr_t)arg];
    for (int r = 1;; r++) {
        pthread_mutex_lock(&mu);
        while (round_no < r && !quit)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        if (quit)
            return NULL;
        while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
            cudaStreamQuery(sa); /* the capturing stream: answered by capguard */
            cudaEventQuery(ea);  /* an event recorded in the capture: answered */
            pthread_mutex_lock(my_gate);
            cudaStreamQuery(su);      /* an unrelated stream: relaxed, reaches the double */
            cudaEventRecord(eb, sa);  /* recorded in the capture */
            pthread_mutex_unlock(my_gate);
            __atomic_add_fetch(&b_calls, 4, __ATOMIC_RELAXED);
            __atomic_add_fetch(&burst_calls, 1, __ATOMIC_RELEASE);
        }
        pthread_mutex_lock(&mu);
        acked++;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
}

static void child(void)
{
    cudaStream_t s;
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    MUST(cudaLaunchHostFunc(s, scen_noop, NULL));
    RC("child_sync", cudaDeviceSynchronize());
    scen_end(s, "child_end");
    exit(0); /* a normal exit: capguard's destructor (summary) runs in the child */
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 50;
    pthread_t b[MAXB];
    nb = argc > 2 ? atoi(argv[2]) : 3;
    if (nb < 1 || nb > MAXB)
        return 2;
    gates_reset();
    printf("parent_pid %d\n", (int)getpid());
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&sa, cudaStreamNonBlocking));
    MUST(cudaStreamCreateWithFlags(&su, cudaStreamNonBlocking));
    MUST(cudaEventCreate(&ea));
    MUST(cudaEventCreate(&eb));
    MUST(cudaStreamBeginCapture(sa, cudaStreamCaptureModeGlobal));
    MUST(cudaLaunchHostFunc(sa, scen_noop, NULL));
    MUST(cudaEventRecord(ea, sa));
    pthread_atfork(gates_lock, gates_unlock, gates_reset);
    for (int k = 0; k < nb; k++)
        pthread_create(&b[k], NULL, busy, (void *)(intptr_t)k);
    for (int r = 1; r <= rounds; r++) {
        int fds[2];
        if (pipe(fds) != 0)
            return 4;
        __atomic_store_n(&stop, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&burst_calls, 0, __ATOMIC_RELEASE);
        pthread_mutex_lock(&mu);
        round_no = r;
        acked = 0;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        while (__atomic_load_n(&burst_calls, __ATOMIC_ACQUIRE) < (unsigned long)(r % 7)) /* B threads busy */
            sched_yield();
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            child();
        }
        __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
        close(fds[1]);
        struct pollfd pf = {.fd = fds[0], .events = POLLIN};
        int st = 0, hung = poll(&pf, 1, 3000) == 0;
        if (hung) {
            /* where it waits (tests/fault/hung_where.sh PID), or a debugger: "gdb -p %d -batch ..." */
            const char *cmd = getenv("CG_FORK_HUNG_CMD");
            char line[512];
            fflush(stdout);
            if (cmd && snprintf(line, sizeof line, cmd, (int)pid) < (int)sizeof line && system(line) != 0)
                printf("CG_FORK_HUNG_CMD failed\n");
            kill(pid, SIGKILL);
        }
        waitpid(pid, &st, 0);
        close(fds[0]);
        if (hung)
            printf("child_hung\n");
        else
            printf("child_exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
        fflush(stdout);
        pthread_mutex_lock(&mu);
        while (acked < nb)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
    }
    pthread_mutex_lock(&mu);
    quit = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    for (int k = 0; k < nb; k++)
        pthread_join(b[k], NULL);
    scen_end(sa, "parent_end");
    printf("b_calls %lu\n", b_calls > 0 ? 1UL : 0UL);
    return 0;
}
