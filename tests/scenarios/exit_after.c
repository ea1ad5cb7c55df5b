/* A process that ends right after a failed call, as a library's exit() after a failed CUDA or
 * NCCL call does (vLLM, ROCm BLAS; CASES.md B/D): under CAPGUARD=observe a cudaMalloc inside a
 * capture returns 900 and ruins it, then the program ends at once:
 *   exit | _exit | abort   that way, with status 3 (exit), 4 (_exit) or SIGABRT
 *   clean                  no failure: exit(0) with nothing to name
 * capguard must name the failed call (its code, capture and site) before the process ends. */
#include <string.h>
#include <unistd.h>
#include "scen.h"

int main(int argc, char **argv)
{
    const char *v = argc > 1 ? argv[1] : "exit";
    cudaStream_t s;
    void *p = NULL;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    if (strcmp(v, "clean") == 0)
        exit(0);
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    RC("malloc", cudaMalloc(&p, 64)); /* 900: refused, the capture ruined */
    if (strcmp(v, "_exit") == 0)
        _exit(4);
    if (strcmp(v, "abort") == 0)
        abort();
    exit(3);
}
