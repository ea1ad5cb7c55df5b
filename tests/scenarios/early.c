/* A library whose constructor and destructor make CUDA calls (as a framework's static
 * initialisers and atexit clean-up do). Preloaded after capguard, its constructor runs before
 * capguard's and its destructor after capguard's: hooks must work before capguard's
 * constructor and pass straight through after its destructor. */
#include <cuda_runtime_api.h>
#include <stdio.h>

static void capture_with_sync(const char *when)
{
    cudaStream_t s;
    cudaGraph_t g = NULL;
    if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess ||
        cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) != cudaSuccess)
        return;
    int sync = (int)cudaDeviceSynchronize();
    int end = (int)cudaStreamEndCapture(s, &g);
    printf("rc %s_sync %d\nrc %s_end %d\n", when, sync, when, end);
    fflush(stdout);
    if (g)
        cudaGraphDestroy(g);
    cudaStreamDestroy(s);
}

__attribute__((constructor)) static void early_ctor(void) { capture_with_sync("ctor"); }
__attribute__((destructor)) static void early_dtor(void) { capture_with_sync("dtor"); }
