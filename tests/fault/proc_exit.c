/* exit() while other threads are inside hooks (process.sh). Thread Q captures on its stream
 * (Global) and loops for ever on cudaStreamQuery of that stream and cudaEventQuery of an event
 * recorded in the capture (hooked calls capguard judges and reports). Thread W, also for ever,
 * once Q's capture is in progress, calls cudaStreamSynchronize on a stream whose only work is a
 * host function that never returns (it blocks reading a pipe no one writes): capguard relaxes the
 * thread around it, so W is inside the hook, blocked in CUDA. When Q has
 * made argv[1] calls (default 200) and W has entered its synchronize, main prints "exiting"
 * and calls exit(3). The process must end with status 3, at once. */
#include <stdint.h>
#include <unistd.h>
#include "scen.h"

static cudaStream_t sq, sw;
static cudaEvent_t eq;
static int block_fds[2], ready_fds[2];
static volatile unsigned long q_calls;
static pthread_barrier_t capturing;

static void CUDART_CB blocker(void *arg)
{
    char c;
    (void)arg;
    while (read(block_fds[0], &c, 1) != 0) /* no writer ever writes: blocks until exit */
        ;
}

static void *querier(void *arg)
{
    unsigned long target = (unsigned long)(uintptr_t)arg;
    int told = 0;
    MUST(cudaStreamBeginCapture(sq, cudaStreamCaptureModeGlobal));
    MUST(cudaLaunchHostFunc(sq, scen_noop, NULL));
    MUST(cudaEventRecord(eq, sq));
    pthread_barrier_wait(&capturing);
    for (;;) {
        cudaStreamQuery(sq);
        cudaEventQuery(eq);
        if (++q_calls >= target && !told) {
            told = 1;
            if (write(ready_fds[1], "q", 1) != 1)
                abort();
        }
    }
    return NULL;
}

static void *waiter(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&capturing); /* Q's capture is in progress: the sync below is judged */
    MUST(cudaLaunchHostFunc(sw, blocker, NULL));
    if (write(ready_fds[1], "w", 1) != 1)
        abort();
    for (;;)
        cudaStreamSynchronize(sw);
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long target = argc > 1 ? strtoul(argv[1], NULL, 10) : 200;
    pthread_t q, w;
    char c;
    if (pipe(block_fds) != 0 || pipe(ready_fds) != 0)
        return 4;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&sq, cudaStreamNonBlocking));
    MUST(cudaStreamCreateWithFlags(&sw, cudaStreamNonBlocking));
    MUST(cudaEventCreate(&eq));
    pthread_barrier_init(&capturing, NULL, 2);
    pthread_create(&w, NULL, waiter, NULL);
    pthread_create(&q, NULL, querier, (void *)(uintptr_t)target);
    for (int i = 0; i < 2; i++)
        if (read(ready_fds[0], &c, 1) != 1)
            return 6;
    printf("exiting\n");
    fflush(stdout);
    exit(3);
}
