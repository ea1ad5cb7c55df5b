/* The null CUDA driver and NCCL the benchmark runs against: each entry point the benchmark calls
 * returns success at once, so a column's figure is the cost of what sits in front of it (capguard,
 * the pass-through wrapper, nothing). Built twice: -DNULL_CUDA as libcuda.so.1, -DNULL_NCCL as
 * libnccl.so.2. capguard's model follows the return codes, so a begin that returns 0 is a capture
 * to it; nothing here pretends to be CUDA beyond that. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define EXPORT __attribute__((visibility("default")))

#ifdef NULL_CUDA
EXPORT int cuStreamQuery(void *s) { (void)s; return 0; }
EXPORT int cuStreamSynchronize(void *s) { (void)s; return 0; }
EXPORT int cuStreamBeginCapture_v2(void *s, int mode) { (void)s; (void)mode; return 0; }
EXPORT int cuStreamEndCapture(void *s, void **g) { (void)s; if (g) *g = (void *)0x1; return 0; }
EXPORT int cuEventRecord(void *e, void *s) { (void)e; (void)s; return 0; }
EXPORT int cuGraphLaunch(void *e, void *s) { (void)e; (void)s; return 0; }
EXPORT int cuStreamGetFlags(void *s, unsigned *f) { (void)s; *f = 1; return 0; } /* non-blocking */
EXPORT int cuMemAlloc_v2(unsigned long long *p, size_t n) { *p = 0x10000 + n; return 0; }
EXPORT int cuDeviceGetCount(int *n) { const char *v = getenv("NULL_DEVICES"); *n = v ? atoi(v) : 1; return 0; }
EXPORT int cuCtxGetDevice(int *d) { *d = 0; return 0; }
EXPORT int cuThreadExchangeStreamCaptureMode(int *m) { static __thread int cur; int old = cur; cur = *m; *m = old; return 0; }
#endif

#ifdef NULL_NCCL
EXPORT int ncclCommRegister(void *comm, void *buff, size_t size, void **handle)
{
    (void)comm; (void)size;
    *handle = (char *)buff + 1; /* a distinct handle per buffer */
    return 0;
}
EXPORT int ncclCommDeregister(void *comm, void *handle) { (void)comm; (void)handle; return 0; }
EXPORT int ncclAllReduce(const void *sb, void *rb, size_t n, int dt, int op, void *comm, void *s)
{
    (void)sb; (void)rb; (void)n; (void)dt; (void)op; (void)comm; (void)s;
    return 0;
}
#endif
