/* A capture begun on a device its warm-up did not use (issue 14, part 7: features/devices.c): the
 * model's memory and work are on device 1, the capture's stream on device 0, so the graph gets none
 * of the work (PyTorch: "The CUDA Graph is empty ... captured on wrong device or stream"). Needs two
 * devices (FAKECUDA_DEVICES=2 on the test doubles); with one it prints "skip devices".
 *   wrong   warm-up allocates on device 1, two captures at one begin site on a device-0 stream
 *   right   warm-up and capture on device 1
 *   robin   warm-up on devices 0 and 1 (one thread drives both), a capture on each
 *   later   warm-up on 1, a capture on 1, then one on 0 with no allocation between
 *   vmm     warm-up memory from cuMemCreate on device 1 (VMM), a capture on device 0
 *   thread  the main thread warms up on device 1; another thread, which allocated nothing,
 *           captures on device 0 (compared with the process's warm-up, all on one device)
 *   twice   a second begin on a stream that is already capturing (CUDA refuses it; asking the
 *           driver for that stream's device would invalidate the capture: measured); runs with
 *           any number of devices
 * Prints "rc begin N" and "rc end N" per capture: capguard must change none of them. */
#include <cuda.h>
#include <dlfcn.h>
#include <string.h>
#include "scen.h"

static void warm_up(int dev)
{
    void *p = NULL;
    MUST(cudaSetDevice(dev));
    MUST(cudaMalloc(&p, 1 << 20));
    MUST(cudaMemset(p, 0, 1 << 20));
}

/* A stream on dev, made current; one capture on it (the begin is always at this one site). */
static void capture_on(int dev)
{
    cudaStream_t s;
    MUST(cudaSetDevice(dev));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    RC("begin", cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    MUST(cudaLaunchHostFunc(s, scen_noop, NULL));
    scen_end(s, "end");
    MUST(cudaStreamDestroy(s));
}

static CUmemGenericAllocationHandle warm_up_vmm(int dev)
{
    CUresult (*create)(CUmemGenericAllocationHandle *, size_t, const CUmemAllocationProp *, unsigned long long) =
        (CUresult(*)(CUmemGenericAllocationHandle *, size_t, const CUmemAllocationProp *, unsigned long long))dlsym(
            RTLD_DEFAULT, "cuMemCreate");
    CUresult (*gran)(size_t *, const CUmemAllocationProp *, CUmemAllocationGranularity_flags) =
        (CUresult(*)(size_t *, const CUmemAllocationProp *, CUmemAllocationGranularity_flags))dlsym(
            RTLD_DEFAULT, "cuMemGetAllocationGranularity");
    CUmemAllocationProp prop;
    memset(&prop, 0, sizeof prop);
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = dev;
    size_t g = 0;
    CUmemGenericAllocationHandle h;
    if (!create || !gran || gran(&g, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM) != CUDA_SUCCESS ||
        create(&h, g, &prop, 0) != CUDA_SUCCESS) {
        fprintf(stderr, "cuMemCreate on device %d failed\n", dev);
        exit(3);
    }
    return h;
}

static void release_vmm(CUmemGenericAllocationHandle h)
{
    CUresult (*release)(CUmemGenericAllocationHandle) =
        (CUresult(*)(CUmemGenericAllocationHandle))dlsym(RTLD_DEFAULT, "cuMemRelease");
    if (!release || release(h) != CUDA_SUCCESS)
        fprintf(stderr, "cuMemRelease failed\n");
}

static void *capture_dev0(void *arg)
{
    (void)arg;
    capture_on(0);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *v = argc > 1 ? argv[1] : "wrong";
    int n = 0;
    if (strcmp(v, "twice") == 0) { /* any number of devices */
        cudaStream_t s;
        MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
        RC("begin", cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
        RC("again", cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
        RC("launch", cudaLaunchHostFunc(s, scen_noop, NULL));
        scen_end(s, "end");
        return 0;
    }
    MUST(cudaGetDeviceCount(&n));
    if (n < 2) {
        printf("skip devices %d\n", n);
        return 0;
    }
    if (!dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL)) {
        fprintf(stderr, "libcuda.so.1: %s\n", dlerror());
        return 3;
    }
    if (strcmp(v, "wrong") == 0) {
        warm_up(1);
        for (int i = 0; i < 2; i++)
            capture_on(0);
    } else if (strcmp(v, "right") == 0) {
        warm_up(1);
        capture_on(1);
    } else if (strcmp(v, "robin") == 0) {
        warm_up(0);
        warm_up(1);
        capture_on(0);
        capture_on(1);
    } else if (strcmp(v, "later") == 0) {
        warm_up(1);
        capture_on(1);
        capture_on(0);
    } else if (strcmp(v, "vmm") == 0) {
        CUmemGenericAllocationHandle h = warm_up_vmm(1);
        capture_on(0);
        release_vmm(h);
    } else if (strcmp(v, "thread") == 0) {
        warm_up(1);
        scen_threads(1, capture_dev0);
    }
    return 0;
}
