/* A four-thread flood of log lines, to be killed with SIGKILL at a random moment (kill.sh).
 * Each thread, on its own non-blocking stream, loops for ever: begin a Global capture, record an
 * event in it, then 64 times a query of the capturing stream, a query of the captured event
 * (both answered by capguard: a violation line each) and a synchronize of an idle stream of its
 * own that is not capturing (relaxed: a violation line); end the capture (capture_begin /
 * capture_end lines). Nothing is allocated: a killed process leaves no shared memory behind.
 * When all four threads have started flooding, "flooding" is written to the file argv[1]
 * (a FIFO the runner holds open), so that the kill lands while lines are being written. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include "scen.h"

#define NTHREADS 4
static pthread_barrier_t started;

static void *flood(void *arg)
{
    cudaStream_t s, idle;
    cudaEvent_t e;
    int first = 1;
    (void)arg;
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaStreamCreateWithFlags(&idle, cudaStreamNonBlocking));
    MUST(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    for (;;) {
        cudaGraph_t g = NULL;
        MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
        cudaLaunchHostFunc(s, scen_noop, NULL);
        cudaEventRecord(e, s);
        for (int i = 0; i < 64; i++) {
            cudaStreamQuery(s);
            cudaEventQuery(e);
            cudaStreamSynchronize(idle);
            if (first) {
                first = 0;
                pthread_barrier_wait(&started);
            }
        }
        cudaStreamEndCapture(s, &g);
        if (g)
            cudaGraphDestroy(g);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t t[NTHREADS];
    if (argc < 2)
        return 2;
    int fd = open(argv[1], O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return 3;
    MUST(cudaSetDevice(0));
    pthread_barrier_init(&started, NULL, NTHREADS + 1);
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&t[i], NULL, flood, NULL);
    pthread_barrier_wait(&started);
    if (write(fd, "flooding\n", 9) != 9)
        return 4;
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    return 0;
}
