/* Defect 7: work deferred to the end of the last capture must not run while another thread's
 * new capture is active. 16 threads each run 500 Global captures on their own stream, each
 * with a cudaFree (deferred under CAPGUARD=1) and a sync of the capturing stream (deferred)
 * inside. Prints "captures N failed N". Every capture must end 0. */
#include "scen.h"

#define THREADS 16
#define ROUNDS 500
static int failed;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t bar; /* every allocation is made before any capture begins */

static void *worker(void *arg)
{
    cudaStream_t s;
    (void)arg;
    void *p[ROUNDS];
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    for (int i = 0; i < ROUNDS; i++)
        MUST(cudaMalloc(&p[i], 256));
    pthread_barrier_wait(&bar);
    for (int i = 0; i < ROUNDS; i++) {
        cudaGraph_t g = NULL;
        MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
        (void)cudaFree(p[i]);
        (void)cudaStreamSynchronize(s);
        cudaError_t rc = cudaStreamEndCapture(s, &g);
        if (g)
            cudaGraphDestroy(g);
        if (rc != cudaSuccess) {
            pthread_mutex_lock(&mu);
            failed++;
            pthread_mutex_unlock(&mu);
        }
    }
    return NULL;
}

int main(void)
{
    MUST(cudaSetDevice(0));
    pthread_barrier_init(&bar, NULL, THREADS);
    scen_threads(THREADS, worker);
    printf("captures %d failed %d\n", THREADS * ROUNDS, failed);
    return 0;
}
