/* Defect 12: more frees inside one capture than the deferred-call queue holds. A free that
 * cannot be deferred must not run during the capture (the memory may be used by captured
 * work): it is refused, named. Prints "frees N deferred N refused N" and the capture's end. */
#include "scen.h"

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 5000;
    cudaStream_t s;
    void **p = calloc((size_t)n, sizeof *p);
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    for (int i = 0; i < n; i++)
        MUST(cudaMalloc(&p[i], 64));
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    int ok = 0, refused = 0;
    for (int i = 0; i < n; i++) {
        cudaError_t rc = cudaFree(p[i]);
        ok += rc == cudaSuccess;
        refused += rc == cudaErrorStreamCaptureUnsupported;
    }
    printf("frees %d deferred %d refused %d\n", n, ok, refused);
    scen_end(s, "end");
    free(p);
    return 0;
}
