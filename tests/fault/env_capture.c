/* The fault suites' small CUDA program: some legal calls, then one Global capture with a device
 * synchronization inside (the call capguard guards), then legal calls again. Prints what CUDA
 * returned ("rc LABEL N"); without capguard the sync is refused (900) and the capture ends 901,
 * under CAPGUARD=1 the sync is deferred (0) and the capture ends 0. Everything else is legal,
 * so its result is the same in every run.
 * Used by environment.sh (hostile CAPGUARD_* values, log locations) and process.sh (spawned
 * child, double preload). */
#include "scen.h"

int main(void)
{
    cudaStream_t s, other;
    void *p = NULL;
    int n = -1;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking));
    RC("device_count", cudaGetDeviceCount(&n));
    RC("malloc", cudaMalloc(&p, 4096));
    RC("query_idle", cudaStreamQuery(other));
    RC("free", cudaFree(p)); /* nothing allocated while the log opens: a run killed there leaves no /dev/shm file */
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    MUST(cudaLaunchHostFunc(s, scen_noop, NULL));
    RC("sync", cudaDeviceSynchronize());
    scen_end(s, "end");
    RC("stream_sync", cudaStreamSynchronize(other));
    RC("device_sync", cudaDeviceSynchronize());
    MUST(cudaStreamDestroy(other));
    MUST(cudaStreamDestroy(s));
    return 0;
}
