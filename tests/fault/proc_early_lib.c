/* Preloaded beside capguard (process.sh): its constructor starts four threads that make CUDA
 * calls at once (released together by a barrier), concurrently with capguard's lazy
 * initialisation when this constructor runs before capguard's. Each thread: a stream, a Global
 * capture with a cudaDeviceSynchronize inside, a cudaMalloc (another thread's Global capture
 * makes it unsafe), the capture's end. The constructor waits for the threads.
 * Printed, per thread i: "rc early_sync N", "rc early_malloc N", "rc early_end N"
 * (the runner sorts them; the threads' order varies). */
#include "scen.h"

#define NTHREADS 4
static pthread_barrier_t start, begun, called;

static void *worker(void *arg)
{
    cudaStream_t s;
    void *p = NULL;
    (void)arg;
    pthread_barrier_wait(&start);
    if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess ||
        cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) != cudaSuccess) {
        printf("early_setup_failed\n");
        pthread_barrier_wait(&begun);
        pthread_barrier_wait(&called);
        return NULL;
    }
    pthread_barrier_wait(&begun); /* every capture is in progress */
    cudaLaunchHostFunc(s, scen_noop, NULL);
    RC("early_sync", cudaDeviceSynchronize());
    RC("early_malloc", cudaMalloc(&p, 4096));
    pthread_barrier_wait(&called);
    scen_end(s, "early_end");
    return NULL;
}

__attribute__((constructor)) static void early_threads(void)
{
    pthread_t t[NTHREADS];
    pthread_barrier_init(&start, NULL, NTHREADS);
    pthread_barrier_init(&begun, NULL, NTHREADS);
    pthread_barrier_init(&called, NULL, NTHREADS);
    for (int i = 0; i < NTHREADS; i++)
        pthread_create(&t[i], NULL, worker, NULL);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
}
