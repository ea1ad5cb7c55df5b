/* A program that reaches the driver only the way statically linked cudart (any plain nvcc
 * build) and pip NCCL do: dlopen("libcuda.so.1"), dlsym(handle, "cuGetProcAddress_v2"), ask it
 * for "cuGetProcAddress" itself (4-argument ABI at 11030), then every entry point through that.
 * Inside a Global capture it synchronizes the context and allocates, like a library's lazy
 * set-up. No exported CUDA symbol is ever called. argv[1] = ptsz: the capture entry points are
 * asked for with the per-thread-default-stream flag, as static cudart does for some of them
 * (it gets cuStreamBeginCapture_ptsz, the one-argument begin, which captures Relaxed). */
#include <cuda.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef CUresult (*proc5_t)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);
typedef CUresult (*proc4_t)(const char *, void **, int, cuuint64_t);
static proc4_t get;

static cuuint64_t flags = CU_GET_PROC_ADDRESS_DEFAULT;

static void *sym_flags(const char *name, int ver, cuuint64_t f)
{
    void *p = NULL;
    if (get(name, &p, ver, f) != CUDA_SUCCESS || !p) {
        fprintf(stderr, "driver_only: no %s\n", name);
        exit(3);
    }
    return p;
}

static void *sym(const char *name, int ver) { return sym_flags(name, ver, CU_GET_PROC_ADDRESS_DEFAULT); }

static void CUDA_CB noop(void *arg) { (void)arg; }

int main(int argc, char **argv)
{
    int ptsz = argc > 1 && argv[1][0] == 'p';
    if (ptsz)
        flags = CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
    void *h = dlopen("libcuda.so.1", RTLD_NOW);
    if (!h) {
        fprintf(stderr, "driver_only: %s\n", dlerror());
        return 3;
    }
    proc5_t get5 = (proc5_t)dlsym(h, "cuGetProcAddress_v2");
    CUdriverProcAddressQueryResult st;
    if (!get5 || get5("cuGetProcAddress", (void **)&get, 11030, 0, &st) != CUDA_SUCCESS || !get)
        return 3;
    CUresult (*init)(unsigned) = sym("cuInit", 2000);
    CUresult (*dev_get)(CUdevice *, int) = sym("cuDeviceGet", 2000);
    CUresult (*retain)(CUcontext *, CUdevice) = sym("cuDevicePrimaryCtxRetain", 7000);
    CUresult (*set_cur)(CUcontext) = sym("cuCtxSetCurrent", 4000);
    CUresult (*stream_create)(CUstream *, unsigned) = sym("cuStreamCreate", 2000);
    CUresult (*begin)(CUstream, CUstreamCaptureMode) = sym("cuStreamBeginCapture", 10010);
    CUresult (*begin_pt)(CUstream) = sym_flags("cuStreamBeginCapture", 10000, flags); /* _ptsz: no mode */
    CUresult (*end)(CUstream, CUgraph *) = sym_flags("cuStreamEndCapture", 10000, flags);
    CUresult (*host_func)(CUstream, CUhostFn, void *) = sym("cuLaunchHostFunc", 10000);
    CUresult (*ctx_sync)(void) = sym("cuCtxSynchronize", 2000);
    CUresult (*mem_alloc)(CUdeviceptr *, size_t) = sym("cuMemAlloc", 3020);
    CUresult (*mem_free)(CUdeviceptr) = sym("cuMemFree", 3020);
    CUresult (*graph_destroy)(CUgraph) = sym("cuGraphDestroy", 10000);

    CUdevice dev;
    CUcontext ctx;
    CUstream s;
    CUdeviceptr p = 0;
    CUgraph g = NULL;
    if (init(0) || dev_get(&dev, 0) || retain(&ctx, dev) || set_cur(ctx) || stream_create(&s, CU_STREAM_NON_BLOCKING))
        return 3;
    if ((ptsz ? begin_pt(s) : begin(s, CU_STREAM_CAPTURE_MODE_GLOBAL)) || host_func(s, noop, NULL))
        return 3;
    printf("rc ctxsync %d\n", (int)ctx_sync());
    CUresult ra = mem_alloc(&p, 1 << 20);
    printf("rc alloc %d\n", (int)ra);
    CUresult re = end(s, &g);
    printf("rc end %d\n", (int)re);
    if (g)
        graph_destroy(g);
    if (ra == CUDA_SUCCESS)
        mem_free(p);
    return ctx_sync() == CUDA_SUCCESS ? 0 : 4;
}
