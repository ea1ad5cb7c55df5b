/* Defect 9 and the stack depth of defect 14: violations from many distinct sites (one per
 * recursion depth: each depth is a different stack), then one more site repeated many times.
 * With CAPGUARD_STDERR_LIMIT lines per site and CAPGUARD_SITES sites, stderr stays bounded
 * whatever the number of sites. "deep N" makes one violation N frames deep (for
 * CAPGUARD_STACK_DEPTH). Usage: defect_sites SITES REPEATS | defect_sites deep N */
#include <string.h>
#include "scen.h"

static cudaStream_t cap;

__attribute__((noinline)) static void violate(int depth)
{
    if (depth > 0) {
        violate(depth - 1);
        __asm__ volatile("" ::: "memory"); /* not a tail call: every level keeps its frame */
        return;
    }
    void *p = NULL;
    (void)cudaMalloc(&p, 16);
}

int main(int argc, char **argv)
{
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&cap, cudaStreamNonBlocking));
    MUST(cudaStreamBeginCapture(cap, cudaStreamCaptureModeGlobal));
    if (argc > 2 && strcmp(argv[1], "deep") == 0) {
        violate(atoi(argv[2]));
    } else {
        int sites = argc > 1 ? atoi(argv[1]) : 300, repeats = argc > 2 ? atoi(argv[2]) : 20000;
        for (int d = 0; d < sites; d++)
            violate(d);
        for (int i = 0; i < repeats; i++)
            violate(sites + 1);
    }
    scen_end(cap, "end");
    return 0;
}
