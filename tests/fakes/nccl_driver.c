/* nccl_driver.c - fake libnccl.so.2: how the library reaches CUDA, and what needs nothing
 * else: error strings and the last error, the version, ncclMemAlloc/ncclMemFree.
 * Like pip NCCL it has no libcudart: it reaches CUDA only through the DRIVER, found with
 * dlopen("libcuda.so.1") + dlsym(h, "cuGetProcAddress_v2") and then cuGetProcAddress_v2 (the
 * 5-argument ABI, as cudaGetDriverEntryPointByVersion asks) for every entry point. It must
 * never call a driver symbol directly (the library is linked with -z defs and no libcuda).
 * Never holds nx_err_mu while calling out. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes" /* nccl.h declares f() prototypes */
#include <nccl.h>
#pragma GCC diagnostic pop
#include <cuda.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NX_HIDDEN __attribute__((visibility("hidden")))
#define NX_API __attribute__((visibility("default")))
/* ncclX is a weak alias of the strong pncclX, as in the real library */
#define NX_ALIAS(name) \
	extern __typeof(p##name) name __attribute__((weak, alias("p" #name), visibility("default")))

/* ---- the interface of this file, also declared in nccl_comm.c, nccl_coll.c, nccl_shm.c ---- */
NX_HIDDEN void nx_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
NX_HIDDEN ncclResult_t nx_init(void);
NX_HIDDEN ncclResult_t nx_dev_alloc(CUdeviceptr *p, size_t n);
NX_HIDDEN ncclResult_t nx_dev_free(CUdeviceptr p);
NX_HIDDEN ncclResult_t nx_cu_launch_host(CUstream stream, CUhostFn fn, void *arg);
NX_HIDDEN ncclResult_t nx_cu_capturing(CUstream stream, int *capturing);
/* ---- end of the interface ---- */

/* driver entry points: (name, cudaVersion asked for, parameters of the variant it gets) */
#define NX_DRIVER_FNS(X) \
	X(cuInit, 2000, (unsigned int)) \
	X(cuGetErrorName, 6000, (CUresult, const char **)) \
	X(cuMemAlloc, 3020, (CUdeviceptr *, size_t)) \
	X(cuMemFree, 3020, (CUdeviceptr)) \
	X(cuThreadExchangeStreamCaptureMode, 10010, (CUstreamCaptureMode *)) \
	X(cuStreamIsCapturing, 10000, (CUstream, CUstreamCaptureStatus *)) \
	X(cuLaunchHostFunc, 10000, (CUstream, CUhostFn, void *))

#define NX_MEMBER(name, version, params) CUresult (*p_##name) params;
static struct {
	NX_DRIVER_FNS(NX_MEMBER)
} nx_drv;
#undef NX_MEMBER

typedef CUresult (*nx_getproc_fn)(const char *, void **, int, cuuint64_t,
				  CUdriverProcAddressQueryResult *);

static pthread_mutex_t nx_err_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t nx_once = PTHREAD_ONCE_INIT;
static ncclResult_t nx_load_result = ncclSuccess;
static char nx_last_error[512];

/* ---- errors ---- */

void nx_error(const char *fmt, ...)
{
	char buf[sizeof(nx_last_error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&nx_err_mu);
	memcpy(nx_last_error, buf, sizeof(buf));
	pthread_mutex_unlock(&nx_err_mu);
	if (getenv("NCCL_DEBUG")) /* real NCCL prints WARN lines only when asked to */
		fprintf(stderr, "%d NCCL WARN (fake) %s\n", (int)getpid(), buf);
}

/* A failed driver call: NCCL's CUDACHECK turns any of them into ncclUnhandledCudaError. */
static ncclResult_t nx_cuda_failed(const char *call, CUresult r)
{
	const char *name = NULL;

	if (nx_drv.p_cuGetErrorName)
		nx_drv.p_cuGetErrorName(r, &name);
	nx_error("Cuda failure %d '%s' in %s", (int)r, name ? name : "?", call);
	return ncclUnhandledCudaError;
}

NX_API const char *pncclGetErrorString(ncclResult_t result)
{
	switch (result) {
	case ncclSuccess: return "no error";
	case ncclUnhandledCudaError: return "unhandled cuda error (run with NCCL_DEBUG=INFO for details)";
	case ncclSystemError: return "unhandled system error (run with NCCL_DEBUG=INFO for details)";
	case ncclInternalError: return "internal error - please report this issue to the NCCL developers";
	case ncclInvalidArgument: return "invalid argument (run with NCCL_DEBUG=WARN for details)";
	case ncclInvalidUsage: return "invalid usage (run with NCCL_DEBUG=WARN for details)";
	case ncclRemoteError: return "remote process exited or there was a network error";
	case ncclInProgress: return "NCCL operation in progress";
	default: return "unknown result code";
	}
}
NX_ALIAS(ncclGetErrorString);

/* The comm argument is unused, as in the real library: the last error of the process. */
NX_API const char *pncclGetLastError(ncclComm_t comm)
{
	(void)comm;
	return nx_last_error;
}
NX_ALIAS(ncclGetLastError);

NX_API ncclResult_t pncclGetVersion(int *version)
{
	if (!version)
		return ncclInvalidArgument;
	*version = NCCL_VERSION_CODE;
	return ncclSuccess;
}
NX_ALIAS(ncclGetVersion);

/* ---- the driver ---- */

static void nx_load(void)
{
	CUdriverProcAddressQueryResult st;
	nx_getproc_fn getproc;
	void *h = dlopen("libcuda.so.1", RTLD_NOW);

	if (!h || !(getproc = (nx_getproc_fn)dlsym(h, "cuGetProcAddress_v2"))) {
		nx_error("libcuda.so.1 or its cuGetProcAddress_v2 not found");
		nx_load_result = ncclUnhandledCudaError;
		return;
	}
#define NX_LOOKUP(name, version, params) \
	if (getproc(#name, (void **)&nx_drv.p_##name, version, CU_GET_PROC_ADDRESS_DEFAULT, \
		    &st) != CUDA_SUCCESS || !nx_drv.p_##name) { \
		nx_error("driver entry point %s (%d) not found", #name, version); \
		nx_load_result = ncclUnhandledCudaError; \
		return; \
	}
	NX_DRIVER_FNS(NX_LOOKUP)
#undef NX_LOOKUP
	if (nx_drv.p_cuInit(0) != CUDA_SUCCESS) {
		nx_error("cuInit failed");
		nx_load_result = ncclUnhandledCudaError;
	}
}

ncclResult_t nx_init(void)
{
	pthread_once(&nx_once, nx_load);
	return nx_load_result;
}

ncclResult_t nx_cu_launch_host(CUstream stream, CUhostFn fn, void *arg)
{
	CUresult r;

	if (nx_init() != ncclSuccess)
		return nx_load_result;
	r = nx_drv.p_cuLaunchHostFunc(stream, fn, arg);
	return r == CUDA_SUCCESS ? ncclSuccess : nx_cuda_failed("cuLaunchHostFunc", r);
}

ncclResult_t nx_cu_capturing(CUstream stream, int *capturing)
{
	CUstreamCaptureStatus st = CU_STREAM_CAPTURE_STATUS_NONE;
	CUresult r;

	if (nx_init() != ncclSuccess)
		return nx_load_result;
	r = nx_drv.p_cuStreamIsCapturing(stream, &st);
	if (r != CUDA_SUCCESS)
		return nx_cuda_failed("cuStreamIsCapturing", r);
	*capturing = st != CU_STREAM_CAPTURE_STATUS_NONE;
	return ncclSuccess;
}

/* A device allocation as NCCL makes them at init: a plain driver call, so during a capture
 * the driver's rules apply (900 on a Global capture's thread, and the capture is invalidated). */
ncclResult_t nx_dev_alloc(CUdeviceptr *p, size_t n)
{
	CUresult r;

	if (nx_init() != ncclSuccess)
		return nx_load_result;
	r = nx_drv.p_cuMemAlloc(p, n);
	return r == CUDA_SUCCESS ? ncclSuccess : nx_cuda_failed("cuMemAlloc", r);
}

ncclResult_t nx_dev_free(CUdeviceptr p)
{
	CUresult r = nx_drv.p_cuMemFree(p);

	return r == CUDA_SUCCESS ? ncclSuccess : nx_cuda_failed("cuMemFree", r);
}

/* ---- memory ---- */

/* Real ncclMemAlloc uses the VMM calls (cuMemCreate/cuMemAddressReserve/cuMemMap), which are
 * legal during a capture (DEVICE-FACTS: ncclMemAlloc allowed). The fake driver has no VMM, and
 * its cuMemAlloc is refused during a Global capture on the calling thread; so the fake relaxes
 * the thread with cuThreadExchangeStreamCaptureMode around cuMemAlloc, which makes it allowed
 * exactly like the real one, and restores the caller's mode. ncclMemFree does the same for its
 * cuMemFree (real: cuMemUnmap/cuMemRelease; unmeasured during capture). */
static CUresult nx_relaxed_call(int alloc, CUdeviceptr *p, size_t size)
{
	CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_RELAXED;
	CUresult r = nx_drv.p_cuThreadExchangeStreamCaptureMode(&mode);

	if (r != CUDA_SUCCESS)
		return r;
	r = alloc ? nx_drv.p_cuMemAlloc(p, size) : nx_drv.p_cuMemFree(*p);
	nx_drv.p_cuThreadExchangeStreamCaptureMode(&mode);
	return r;
}

NX_API ncclResult_t pncclMemAlloc(void **ptr, size_t size)
{
	CUdeviceptr p = 0;
	CUresult cr;
	ncclResult_t r;

	if (!ptr || size == 0)
		return ncclInvalidArgument;
	if ((r = nx_init()) != ncclSuccess)
		return r;
	cr = nx_relaxed_call(1, &p, size);
	if (cr != CUDA_SUCCESS)
		return nx_cuda_failed("cuMemAlloc (ncclMemAlloc)", cr);
	*ptr = (void *)(uintptr_t)p;
	return ncclSuccess;
}
NX_ALIAS(ncclMemAlloc);

NX_API ncclResult_t pncclMemFree(void *ptr)
{
	CUdeviceptr p = (CUdeviceptr)(uintptr_t)ptr;
	CUresult cr;
	ncclResult_t r;

	if (!ptr)
		return ncclSuccess;
	if ((r = nx_init()) != ncclSuccess)
		return r;
	cr = nx_relaxed_call(0, &p, 0);
	return cr == CUDA_SUCCESS ? ncclSuccess : nx_cuda_failed("cuMemFree (ncclMemFree)", cr);
}
NX_ALIAS(ncclMemFree);
