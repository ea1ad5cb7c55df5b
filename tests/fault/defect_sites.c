/* Defect 9 and the stack depth of defect 14: violations from 512 distinct call sites (each
 * cudaMalloc below is its own return address), then one more site repeated REPEATS times.
 * With CAPGUARD_STDERR_LIMIT lines per site and CAPGUARD_SITES sites, stderr stays bounded
 * whatever the number of sites. "deep N" makes one violation N frames deep (for
 * CAPGUARD_STACK_DEPTH). Usage: defect_sites REPEATS | defect_sites deep N */
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

#define SITE(n)                                 \
    case n:                                     \
        __asm__ volatile("" ::: "memory");      \
        (void)cudaMalloc(&p, (size_t)(n) + 1);  \
        __asm__ volatile("" ::: "memory");      \
        break;
#define SITE8(n) SITE(n) SITE(n + 1) SITE(n + 2) SITE(n + 3) SITE(n + 4) SITE(n + 5) SITE(n + 6) SITE(n + 7)
#define SITE64(n) SITE8(n) SITE8(n + 8) SITE8(n + 16) SITE8(n + 24) SITE8(n + 32) SITE8(n + 40) SITE8(n + 48) SITE8(n + 56)
#define SITES 512

__attribute__((noinline, optimize("O0"))) static void site(int n)
{
    void *p = NULL;
    switch (n) {
        SITE64(0) SITE64(64) SITE64(128) SITE64(192) SITE64(256) SITE64(320) SITE64(384) SITE64(448)
    }
}

int main(int argc, char **argv)
{
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&cap, cudaStreamNonBlocking));
    MUST(cudaStreamBeginCapture(cap, cudaStreamCaptureModeGlobal));
    if (argc > 2 && strcmp(argv[1], "deep") == 0) {
        violate(atoi(argv[2]));
    } else {
        int repeats = argc > 1 ? atoi(argv[1]) : 20000;
        for (int n = 0; n < SITES - 1; n++)
            site(n);
        for (int i = 0; i < repeats; i++)
            site(SITES - 1);
    }
    scen_end(cap, "end");
    return 0;
}
