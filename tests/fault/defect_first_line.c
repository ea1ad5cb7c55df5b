/* Defect 10: the first line of the log is the start line. 64 threads wait at a barrier, then
 * each runs 50 captures (every begin and end is a log line), so that many threads write their
 * first lines while the log is being opened. */
#include "scen.h"

#define THREADS 64
static pthread_barrier_t bar;

static void *worker(void *arg)
{
    cudaStream_t s;
    void *p = NULL;
    (void)arg;
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    pthread_barrier_wait(&bar);
    for (int i = 0; i < 50; i++) {
        cudaGraph_t g = NULL;
        MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
        if (i == 0)
            (void)cudaMalloc(&p, 64);
        if (cudaStreamEndCapture(s, &g) == cudaSuccess && g)
            cudaGraphDestroy(g);
    }
    return NULL;
}

int main(void)
{
    MUST(cudaSetDevice(0));
    pthread_barrier_init(&bar, NULL, THREADS);
    scen_threads(THREADS, worker);
    return 0;
}
