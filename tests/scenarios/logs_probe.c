/* What the driver's error-log callback (cuLogsRegisterCallback, CUDA 12.9+) gives, measured on a
 * real GPU (issue 14, part 1): the message text, its level, and which thread runs the callback,
 * for calls that fail inside a capture: cudaDeviceSetLimit (which capguard does not hook), an
 * event recorded on the legacy stream while a blocking stream captures, a driver allocation, and
 * a prohibited call made by another thread. Prints one "cb" line per message and one "rc" line
 * per call.
 * Built against the test doubles too (tests/scenarios/scenarios.mk): tests/run.sh compares both with
 * the H200 output kept in tests/fakes/logs_probe.h200.txt. */
#define _GNU_SOURCE
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long main_tid;
static __thread const char *doing = "none"; /* what this thread is calling now */

static long tid(void) { return syscall(SYS_gettid); }

static void CUDA_CB on_log(void *data, CUlogLevel level, char *msg, size_t len)
{
    (void)data;
    printf("cb level=%d thread=%s doing=%s len=%zu msg=[%.*s]\n", (int)level, tid() == main_tid ? "main" : "other",
           doing, len, (int)len, msg);
    fflush(stdout);
}

#define CALL(label, expr)                                          \
    do {                                                           \
        doing = (label);                                           \
        int rc_ = (int)(expr);                                     \
        doing = "none";                                            \
        printf("rc %s %d\n", (label), rc_);                        \
        fflush(stdout);                                            \
    } while (0)

static void end(cudaStream_t s, const char *label)
{
    cudaGraph_t g = NULL;
    CALL(label, cudaStreamEndCapture(s, &g));
    if (g)
        cudaGraphDestroy(g);
}

static void *other_thread(void *arg)
{
    void *p = NULL;
    (void)arg;
    CALL("other.cudaMalloc", cudaMalloc(&p, 256));
    if (p)
        cudaFree(p);
    return NULL;
}

int main(void)
{
    CUlogsCallbackHandle h = NULL;
    cudaStream_t nb, blk;
    cudaEvent_t ev;
    main_tid = tid();
    printf("main tid %ld\n", main_tid);
    CALL("cudaFree(0)", cudaFree(0));
    CALL("cuLogsRegisterCallback", cuLogsRegisterCallback(on_log, NULL, &h));
    CALL("outside.cuMemAlloc(0 bytes)", cuMemAlloc(NULL, 0));

    cudaStreamCreateWithFlags(&nb, cudaStreamNonBlocking);
    cudaStreamCreate(&blk);
    cudaEventCreate(&ev);

    cudaStreamBeginCapture(nb, cudaStreamCaptureModeGlobal);
    CALL("capture.cudaDeviceSetLimit", cudaDeviceSetLimit(cudaLimitStackSize, 4096));
    end(nb, "end.after_setlimit");

    cudaStreamBeginCapture(blk, cudaStreamCaptureModeGlobal);
    CALL("capture.cudaEventRecord(legacy)", cudaEventRecord(ev, 0));
    CALL("capture.cudaEventSynchronize(legacy event)", cudaEventSynchronize(ev));
    end(blk, "end.after_legacy_event");

    cudaStreamBeginCapture(nb, cudaStreamCaptureModeGlobal);
    CUdeviceptr d = 0;
    CALL("capture.cuMemAlloc", cuMemAlloc(&d, 256));
    end(nb, "end.after_cuMemAlloc");

    cudaStreamBeginCapture(nb, cudaStreamCaptureModeGlobal);
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    end(nb, "end.after_other_thread");

    char buf[25600];
    size_t n = sizeof buf;
    CUlogIterator it = 0;
    CALL("cuLogsDumpToMemory", cuLogsDumpToMemory(NULL, buf, &n, 0));
    printf("dump %zu bytes:\n%.*s\n", n, (int)n, buf);
    (void)it;
    CALL("cuLogsUnregisterCallback", cuLogsUnregisterCallback(h));
    return 0;
}
