/* Allocation and free inside a capture:
 *   malloc    cudaMalloc on the capturing thread (a library's lazy workspace)
 *   relaxed   cudaMalloc with the thread relaxed around it, as PyTorch's allocator does: legal,
 *             and must never be reported
 *   free      cudaFree of a block allocated before the capture (allocator OOM retry)
 *   worker    cudaMallocHost on another thread during a Global capture (pinned-memory worker) */
#include <string.h>
#include "scen.h"

static cudaError_t worker_rc;
static void *worker(void *arg)
{
    void *p = NULL;
    (void)arg;
    worker_rc = cudaMallocHost(&p, 4096);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *v = argc > 1 ? argv[1] : "malloc";
    cudaStream_t cap;
    void *p = NULL, *old = NULL;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&cap, cudaStreamNonBlocking));
    MUST(cudaMalloc(&old, 4096));
    MUST(cudaStreamBeginCapture(cap, cudaStreamCaptureModeGlobal));
    MUST(cudaLaunchHostFunc(cap, scen_noop, NULL));
    if (strcmp(v, "malloc") == 0) {
        RC("alloc", cudaMalloc(&p, 1 << 20));
    } else if (strcmp(v, "relaxed") == 0) {
        enum cudaStreamCaptureMode m = cudaStreamCaptureModeRelaxed;
        MUST(cudaThreadExchangeStreamCaptureMode(&m));
        RC("alloc", cudaMalloc(&p, 1 << 20));
        MUST(cudaThreadExchangeStreamCaptureMode(&m));
    } else if (strcmp(v, "free") == 0) {
        RC("free", cudaFree(old));
    } else if (strcmp(v, "worker") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, worker, NULL);
        pthread_join(t, NULL);
        printf("rc alloc %d\n", (int)worker_rc);
    }
    scen_end(cap, "end");
    MUST(cudaDeviceSynchronize());
    return 0;
}
