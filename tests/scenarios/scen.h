/* Shared helpers of the scenario programs: plain CUDA runtime programs that misbehave like
 * real engines. Built twice: against tests/fakes (CI) and against real CUDA (tests/gpu).
 * They print what CUDA returned ("rc LABEL N") and never decide pass/fail themselves: the
 * runner compares their output across runs (bare, observe, reject, auto). */
#ifndef SCEN_H
#define SCEN_H
#include <cuda_runtime_api.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define RC(label, expr)                                          \
    do {                                                         \
        cudaError_t rc_ = (expr);                                \
        printf("rc %s %d\n", (label), (int)rc_);                 \
        fflush(stdout);                                          \
    } while (0)

/* Setup steps must succeed; a failure here is a broken scenario, not a finding. */
#define MUST(expr)                                                                       \
    do {                                                                                 \
        cudaError_t rc_ = (expr);                                                        \
        if (rc_ != cudaSuccess) {                                                        \
            fprintf(stderr, "%s:%d: %s failed: %d\n", __FILE__, __LINE__, #expr, (int)rc_); \
            exit(3);                                                                     \
        }                                                                                \
    } while (0)

static inline void CUDART_CB scen_noop(void *arg) { (void)arg; }

/* End a capture, print its result, drop the graph. */
static inline int scen_end(cudaStream_t s, const char *label)
{
    cudaGraph_t g = NULL;
    cudaError_t rc = cudaStreamEndCapture(s, &g);
    printf("rc %s %d\n", label, (int)rc);
    fflush(stdout);
    if (g)
        cudaGraphDestroy(g);
    return (int)rc;
}

/* Run n threads of fn at once and wait for them all (n at most 1024). */
static inline void scen_threads(int n, void *(*fn)(void *))
{
    pthread_t t[1024];
    for (int i = 0; i < n && i < 1024; i++)
        pthread_create(&t[i], NULL, fn, NULL);
    for (int i = 0; i < n && i < 1024; i++)
        pthread_join(t[i], NULL);
}

static inline void scen_set_mode(enum cudaStreamCaptureMode m)
{
    enum cudaStreamCaptureMode x = m;
    MUST(cudaThreadExchangeStreamCaptureMode(&x));
}
#endif
