/* Two threads: thread A captures (Global or ThreadLocal, argv[1] = global|threadlocal);
 * thread B, in its default (Global) mode, allocates meanwhile (a telemetry or KV-offload
 * daemon). Printed: B's cudaMalloc result and A's EndCapture result. */
#include <string.h>
#include "scen.h"

static pthread_barrier_t begun, called;
static enum cudaStreamCaptureMode mode;

static void *capturer(void *arg)
{
    cudaStream_t s;
    (void)arg;
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaStreamBeginCapture(s, mode));
    MUST(cudaLaunchHostFunc(s, scen_noop, NULL));
    pthread_barrier_wait(&begun);
    pthread_barrier_wait(&called);
    scen_end(s, "end");
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t a;
    void *p = NULL;
    mode = argc > 1 && strcmp(argv[1], "threadlocal") == 0 ? cudaStreamCaptureModeThreadLocal
                                                          : cudaStreamCaptureModeGlobal;
    MUST(cudaSetDevice(0));
    pthread_barrier_init(&begun, NULL, 2);
    pthread_barrier_init(&called, NULL, 2);
    pthread_create(&a, NULL, capturer, NULL);
    pthread_barrier_wait(&begun);
    RC("alloc", cudaMalloc(&p, 4096));
    pthread_barrier_wait(&called);
    pthread_join(a, NULL);
    MUST(cudaDeviceSynchronize());
    return 0;
}
