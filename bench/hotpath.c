/* Per-call cost of the entry points an inference server calls in its hot path, outside any
 * capture: the same loop runs bare, with capguard preloaded but off, and enabled (bench/run.sh).
 * Prints "CALL NS_PER_CALL" lines (the best of REPS timed rounds of N calls each). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../tests/scenarios/scen.h"

#define REPS 5

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    cudaStream_t s;
    cudaEvent_t e;
    void *dev;
    int host[16] = {0}, devno;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    MUST(cudaMalloc(&dev, sizeof host));
    static const char *const names[] = {"cudaGetDevice (not hooked)", "cudaStreamQuery", "cudaEventRecord",
                                        "cudaMemcpyAsync H2D 64 B", "cudaFree(NULL)"};
    for (int k = 0; k < 5; k++) {
        double best = 1e30;
        for (int r = 0; r < REPS; r++) {
            double t0 = now();
            for (long i = 0; i < n; i++) {
                switch (k) {
                case 0: cudaGetDevice(&devno); break;
                case 1: cudaStreamQuery(s); break;
                case 2: cudaEventRecord(e, s); break;
                case 3: cudaMemcpyAsync(dev, host, sizeof host, cudaMemcpyHostToDevice, s); break;
                default: cudaFree(NULL); break;
                }
            }
            double dt = (now() - t0) / (double)n;
            if (dt < best)
                best = dt;
            MUST(cudaStreamSynchronize(s));
        }
        printf("%s\t%.1f\n", names[k], best);
    }
    return 0;
}
