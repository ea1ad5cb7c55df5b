/* Host synchronization inside a capture, the way engines do it "to be safe":
 *   other      cudaStreamSynchronize of a stream that is not capturing (capturing thread, Global)
 *   device     cudaDeviceSynchronize (Triton autotuning inside a capture)
 *   capturing  cudaStreamSynchronize of the capturing stream itself
 *   query      cudaStreamQuery of the capturing stream (a blocking-wait poll loop)
 *   poll       the same query 1000 times at one site (rc of the first and of the last)
 *   d2h        a device-to-host copy captured, then a sync of the capturing stream
 *              (PyTorch .item() / masked_select / SyncBatchNorm: the host would read data the
 *              capture has not produced)
 *   order      cudaDeviceSynchronize while another stream runs a host function that waits for
 *              the main thread: prints whether that work had completed before and after EndCapture
 *              (proves a deferred sync runs at the capture's end, and waits for real work then) */
#include <string.h>
#include "scen.h"

static int release_flag, done_flag;

static void CUDART_CB wait_for_release(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&release_flag, __ATOMIC_ACQUIRE))
        sched_yield();
    __atomic_store_n(&done_flag, 1, __ATOMIC_RELEASE);
}

int main(int argc, char **argv)
{
    const char *v = argc > 1 ? argv[1] : "device";
    cudaStream_t cap, other;
    int *dev, host = -1;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&cap, cudaStreamNonBlocking));
    MUST(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking));
    MUST(cudaMalloc((void **)&dev, 64));
    if (strcmp(v, "order") == 0)
        MUST(cudaLaunchHostFunc(other, wait_for_release, NULL));

    MUST(cudaStreamBeginCapture(cap, cudaStreamCaptureModeGlobal));
    MUST(cudaLaunchHostFunc(cap, scen_noop, NULL));
    if (strcmp(v, "other") == 0)
        RC("sync", cudaStreamSynchronize(other));
    else if (strcmp(v, "device") == 0 || strcmp(v, "order") == 0)
        RC("sync", cudaDeviceSynchronize());
    else if (strcmp(v, "capturing") == 0)
        RC("sync", cudaStreamSynchronize(cap));
    else if (strcmp(v, "query") == 0)
        RC("sync", cudaStreamQuery(cap));
    else if (strcmp(v, "poll") == 0) {
        cudaError_t first = cudaStreamQuery(cap), last = first;
        for (int i = 1; i < 1000; i++)
            last = cudaStreamQuery(cap);
        printf("rc sync %d\nrc poll_last %d\n", (int)first, (int)last);
    }
    else if (strcmp(v, "d2h") == 0) {
        MUST(cudaMemsetAsync(dev, 7, sizeof(int), cap));
        MUST(cudaMemcpyAsync(&host, dev, sizeof(int), cudaMemcpyDeviceToHost, cap));
        RC("sync", cudaStreamSynchronize(cap));
    }
    if (strcmp(v, "order") == 0) {
        printf("done_before_end %d\n", __atomic_load_n(&done_flag, __ATOMIC_ACQUIRE));
        __atomic_store_n(&release_flag, 1, __ATOMIC_RELEASE);
    }
    scen_end(cap, "end");
    if (strcmp(v, "order") == 0)
        printf("done_after_end %d\n", __atomic_load_n(&done_flag, __ATOMIC_ACQUIRE));
    __atomic_store_n(&release_flag, 1, __ATOMIC_RELEASE);
    MUST(cudaDeviceSynchronize());
    return 0;
}
