/* Many captures at once (process.sh): argv[1] threads (default 512), each on its own
 * non-blocking stream, each a Global capture, all in progress at the same time (barriers), each
 * with one illegal call inside: a cudaDeviceSynchronize (even threads) or a cudaMalloc (odd).
 * Printed: counts of the results, "rc_sync N x COUNT", "rc_malloc N x COUNT", "rc_end N x COUNT",
 * sorted, so that a run's output does not depend on the threads' order. */
#include <stdint.h>
#include <string.h>
#include "scen.h"

#define MAXT 4096
static pthread_barrier_t created, begun, called;
static int res_call[MAXT], res_end[MAXT], setup_failed;

static void *worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    cudaStream_t s;
    cudaGraph_t g = NULL;
    void *p = NULL;
    int ok = cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess;
    pthread_barrier_wait(&created);
    ok = ok && cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal) == cudaSuccess;
    if (ok)
        cudaLaunchHostFunc(s, scen_noop, NULL);
    pthread_barrier_wait(&begun); /* every capture is in progress now */
    if (ok)
        res_call[i] = i % 2 ? (int)cudaMalloc(&p, 256) : (int)cudaDeviceSynchronize();
    pthread_barrier_wait(&called);
    if (ok) {
        res_end[i] = (int)cudaStreamEndCapture(s, &g);
        if (g)
            cudaGraphDestroy(g);
    } else {
        __atomic_add_fetch(&setup_failed, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

static void print_counts(const char *label, const int *v, int n, int parity)
{
    int seen[MAXT], count[MAXT], k = 0;
    for (int i = 0; i < n; i++) {
        if (parity >= 0 && i % 2 != parity)
            continue;
        int j = 0;
        while (j < k && seen[j] != v[i])
            j++;
        if (j == k) {
            seen[k] = v[i];
            count[k++] = 0;
        }
        count[j]++;
    }
    for (int a = 0; a < k; a++) /* ascending by value */
        for (int b = a + 1; b < k; b++)
            if (seen[b] < seen[a]) {
                int t = seen[a]; seen[a] = seen[b]; seen[b] = t;
                t = count[a]; count[a] = count[b]; count[b] = t;
            }
    for (int a = 0; a < k; a++)
        printf("%s %d x %d\n", label, seen[a], count[a]);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 512;
    static pthread_t t[MAXT];
    if (n < 1 || n > MAXT)
        return 2;
    MUST(cudaSetDevice(0));
    pthread_barrier_init(&created, NULL, (unsigned)n);
    pthread_barrier_init(&begun, NULL, (unsigned)n);
    pthread_barrier_init(&called, NULL, (unsigned)n);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 512 * 1024);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], &a, worker, (void *)(intptr_t)i) != 0) {
            printf("thread_create_failed %d\n", i);
            return 5; /* the barriers would never open */
        }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    print_counts("rc_sync", res_call, n, 0);
    print_counts("rc_malloc", res_call, n, 1);
    print_counts("rc_end", res_end, n, -1);
    printf("setup_failed %d\n", setup_failed);
    return 0;
}
