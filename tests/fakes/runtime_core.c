/* runtime_core.c - fake libcudart.so.13: finding the driver (dlopen + dlsym("cuGetProcAddress_v2")
 * + cuGetProcAddress for everything else, like statically linked cudart), the per-thread last
 * error, CUresult -> cudaError_t, error strings, device and version queries.
 * Must never call a driver function by symbol: only through rt_drv. */
#include "runtime.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define RT_RUNTIME_VERSION 13000
/* static cudart asks the 5-argument entry point for the 4-argument one at this version */
#define RT_PROCADDR_VERSION 11030

typedef CUresult (*rt_getproc_v2_fn)(const char *, void **, int, cuuint64_t,
				     CUdriverProcAddressQueryResult *);
typedef CUresult (*rt_getproc_fn)(const char *, void **, int, cuuint64_t);

struct rt_driver rt_drv;
static pthread_once_t rt_once = PTHREAD_ONCE_INIT;
static cudaError_t rt_load_error = cudaSuccess;
static __thread cudaError_t rt_last_error = cudaSuccess;
static __thread int rt_ctx_ready;

static void rt_load(void)
{
	rt_getproc_v2_fn getproc_v2;
	rt_getproc_fn getproc;
	CUdriverProcAddressQueryResult st;
	void *h = dlopen("libcuda.so.1", RTLD_NOW);

	if (!h) {
		rt_load_error = cudaErrorInsufficientDriver;
		return;
	}
	getproc_v2 = (rt_getproc_v2_fn)dlsym(h, "cuGetProcAddress_v2");
	if (!getproc_v2 ||
	    getproc_v2("cuGetProcAddress", (void **)&getproc, RT_PROCADDR_VERSION, 0, &st) !=
		    CUDA_SUCCESS ||
	    !getproc) {
		rt_load_error = cudaErrorInsufficientDriver;
		return;
	}
#define RT_LOOKUP(name, version, params) \
	if (getproc(#name, (void **)&rt_drv.p_##name, version, CU_GET_PROC_ADDRESS_DEFAULT) != \
		    CUDA_SUCCESS || !rt_drv.p_##name) { \
		rt_load_error = cudaErrorInsufficientDriver; \
		return; \
	}
	RT_DRIVER_FNS(RT_LOOKUP)
#undef RT_LOOKUP
	if (rt_drv.p_cuInit(0) != CUDA_SUCCESS)
		rt_load_error = cudaErrorInitializationError;
}

cudaError_t rt_init(void)
{
	CUcontext ctx;
	CUdevice dev;

	pthread_once(&rt_once, rt_load);
	if (rt_load_error != cudaSuccess)
		return rt_load_error;
	if (!rt_ctx_ready) {
		if (rt_drv.p_cuDeviceGet(&dev, 0) != CUDA_SUCCESS ||
		    rt_drv.p_cuDevicePrimaryCtxRetain(&ctx, dev) != CUDA_SUCCESS ||
		    rt_drv.p_cuCtxSetCurrent(ctx) != CUDA_SUCCESS)
			return cudaErrorInitializationError;
		rt_ctx_ready = 1;
	}
	return cudaSuccess;
}

/* Records e as the thread's last error (cudaErrorNotReady is not an error and is not kept). */
cudaError_t rt_error(cudaError_t e)
{
	if (e != cudaSuccess && e != cudaErrorNotReady)
		rt_last_error = e;
	return e;
}

static cudaError_t rt_map(CUresult r)
{
	switch (r) {
	case CUDA_SUCCESS: return cudaSuccess;
	case CUDA_ERROR_INVALID_VALUE: return cudaErrorInvalidValue;
	case CUDA_ERROR_OUT_OF_MEMORY: return cudaErrorMemoryAllocation;
	case CUDA_ERROR_NOT_INITIALIZED: return cudaErrorInitializationError;
	case CUDA_ERROR_DEINITIALIZED: return cudaErrorCudartUnloading;
	case CUDA_ERROR_NO_DEVICE: return cudaErrorNoDevice;
	case CUDA_ERROR_INVALID_DEVICE: return cudaErrorInvalidDevice;
	case CUDA_ERROR_INVALID_CONTEXT: return cudaErrorDeviceUninitialized;
	case CUDA_ERROR_MAP_FAILED: return cudaErrorMapBufferObjectFailed;
	case CUDA_ERROR_INVALID_HANDLE: return cudaErrorInvalidResourceHandle;
	case CUDA_ERROR_ILLEGAL_STATE: return cudaErrorIllegalState;
	case CUDA_ERROR_NOT_FOUND: return cudaErrorSymbolNotFound;
	case CUDA_ERROR_NOT_READY: return cudaErrorNotReady;
	case CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED: return cudaErrorHostMemoryAlreadyRegistered;
	case CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED: return cudaErrorHostMemoryNotRegistered;
	case CUDA_ERROR_NOT_SUPPORTED: return cudaErrorNotSupported;
	case CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED: return cudaErrorStreamCaptureUnsupported;
	case CUDA_ERROR_STREAM_CAPTURE_INVALIDATED: return cudaErrorStreamCaptureInvalidated;
	case CUDA_ERROR_STREAM_CAPTURE_MERGE: return cudaErrorStreamCaptureMerge;
	case CUDA_ERROR_STREAM_CAPTURE_UNMATCHED: return cudaErrorStreamCaptureUnmatched;
	case CUDA_ERROR_STREAM_CAPTURE_UNJOINED: return cudaErrorStreamCaptureUnjoined;
	case CUDA_ERROR_STREAM_CAPTURE_ISOLATION: return cudaErrorStreamCaptureIsolation;
	case CUDA_ERROR_STREAM_CAPTURE_IMPLICIT: return cudaErrorStreamCaptureImplicit;
	case CUDA_ERROR_CAPTURED_EVENT: return cudaErrorCapturedEvent;
	case CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD: return cudaErrorStreamCaptureWrongThread;
	default: return cudaErrorUnknown;
	}
}

cudaError_t rt_result(CUresult r)
{
	return rt_error(rt_map(r));
}

#define RT_ERRORS(X) \
	X(cudaSuccess, "no error") \
	X(cudaErrorInvalidValue, "invalid argument") \
	X(cudaErrorMemoryAllocation, "out of memory") \
	X(cudaErrorInitializationError, "initialization error") \
	X(cudaErrorCudartUnloading, "driver shutting down") \
	X(cudaErrorInvalidMemcpyDirection, "invalid copy direction for memcpy") \
	X(cudaErrorInsufficientDriver, \
	  "CUDA driver version is insufficient for CUDA runtime version") \
	X(cudaErrorNoDevice, "no CUDA-capable device is detected") \
	X(cudaErrorInvalidDevice, "invalid device ordinal") \
	X(cudaErrorDeviceUninitialized, "invalid device context") \
	X(cudaErrorMapBufferObjectFailed, "mapping of buffer object failed") \
	X(cudaErrorInvalidResourceHandle, "invalid resource handle") \
	X(cudaErrorIllegalState, "the operation cannot be performed in the present state") \
	X(cudaErrorSymbolNotFound, "named symbol not found") \
	X(cudaErrorNotReady, "device not ready") \
	X(cudaErrorHostMemoryAlreadyRegistered, \
	  "part or all of the requested memory range is already mapped") \
	X(cudaErrorHostMemoryNotRegistered, \
	  "pointer does not correspond to a registered memory region") \
	X(cudaErrorNotSupported, "operation not supported") \
	X(cudaErrorStreamCaptureUnsupported, "operation not permitted when stream is capturing") \
	X(cudaErrorStreamCaptureInvalidated, \
	  "operation failed due to a previous error during capture") \
	X(cudaErrorStreamCaptureMerge, \
	  "operation would result in a merge of separate capture sequences") \
	X(cudaErrorStreamCaptureUnmatched, "capture was not ended in the same stream as it began") \
	X(cudaErrorStreamCaptureUnjoined, "capturing stream has unjoined work") \
	X(cudaErrorStreamCaptureIsolation, \
	  "dependency created on uncaptured work in another stream") \
	X(cudaErrorStreamCaptureImplicit, \
	  "operation would make the legacy stream depend on a capturing blocking stream") \
	X(cudaErrorCapturedEvent, \
	  "operation not permitted on an event last recorded in a capturing stream") \
	X(cudaErrorStreamCaptureWrongThread, \
	  "attempt to terminate a thread-local capture sequence from another thread") \
	X(cudaErrorUnknown, "unknown error")

struct rt_err {
	cudaError_t code;
	const char *name;
	const char *str;
};

#define RT_ERR_ROW(code, str) { code, #code, str },
static const struct rt_err rt_errs[] = { RT_ERRORS(RT_ERR_ROW) };
#undef RT_ERR_ROW

static const struct rt_err *rt_err_find(cudaError_t e)
{
	size_t i;

	for (i = 0; i < sizeof(rt_errs) / sizeof(rt_errs[0]); i++)
		if (rt_errs[i].code == e)
			return &rt_errs[i];
	return NULL;
}

RT_EXPORT const char *cudaGetErrorString(cudaError_t error)
{
	const struct rt_err *e = rt_err_find(error);

	return e ? e->str : "unrecognized error code";
}

RT_EXPORT const char *cudaGetErrorName(cudaError_t error)
{
	const struct rt_err *e = rt_err_find(error);

	return e ? e->name : "unrecognized error code";
}

RT_EXPORT cudaError_t cudaGetLastError(void)
{
	cudaError_t e = rt_last_error;

	rt_last_error = cudaSuccess;
	return e;
}

RT_EXPORT cudaError_t cudaPeekAtLastError(void)
{
	return rt_last_error;
}

RT_EXPORT cudaError_t cudaRuntimeGetVersion(int *runtimeVersion)
{
	if (!runtimeVersion)
		return rt_error(cudaErrorInvalidValue);
	*runtimeVersion = RT_RUNTIME_VERSION;
	return cudaSuccess;
}

RT_EXPORT cudaError_t cudaDriverGetVersion(int *driverVersion)
{
	if (!driverVersion)
		return rt_error(cudaErrorInvalidValue);
	pthread_once(&rt_once, rt_load);
	if (rt_load_error != cudaSuccess) {
		*driverVersion = 0; /* documented: 0 when no driver is installed */
		return cudaSuccess;
	}
	return RT_CALL(cuDriverGetVersion, driverVersion);
}

RT_EXPORT cudaError_t cudaGetDeviceCount(int *count)
{
	if (!count)
		return rt_error(cudaErrorInvalidValue);
	RT_INIT();
	return RT_CALL(cuDeviceGetCount, count);
}

RT_EXPORT cudaError_t cudaGetDevice(int *device)
{
	if (!device)
		return rt_error(cudaErrorInvalidValue);
	RT_INIT();
	return RT_CALL(cuCtxGetDevice, device);
}

/* The device's primary context becomes the thread's current one (as the real runtime does). */
RT_EXPORT cudaError_t cudaSetDevice(int device)
{
	CUdevice d;
	CUcontext ctx;
	cudaError_t e;

	RT_INIT();
	if ((e = RT_CALL(cuDeviceGet, &d, device)) != cudaSuccess)
		return e;
	if ((e = RT_CALL(cuDevicePrimaryCtxRetain, &ctx, d)) != cudaSuccess)
		return e;
	return RT_CALL(cuCtxSetCurrent, ctx);
}

RT_EXPORT cudaError_t cudaDeviceSynchronize(void)
{
	RT_INIT();
	return RT_CALL(cuCtxSynchronize);
}

/* cudaDeviceAttr and CUdevice_attribute share their values. */
RT_EXPORT cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
{
	RT_INIT();
	return RT_CALL(cuDeviceGetAttribute, value, (CUdevice_attribute)attr, (CUdevice)device);
}

/* cudaLimit and CUlimit share their values. */
RT_EXPORT cudaError_t cudaDeviceSetLimit(enum cudaLimit limit, size_t value)
{
	RT_INIT();
	return RT_CALL(cuCtxSetLimit, (CUlimit)limit, value);
}
