/* driver_core.c - fake libcuda: initialization, the devices, contexts, error strings.
 * FAKECUDA_DEVICES devices (1 when unset or not 1..FK_MAX_DEVICES), each with one primary
 * context; a thread has no current context until it sets one. The driver reports CUDA 13.0. */
#include "driver.h"

#include <stddef.h>
#include <stdlib.h>

#define FK_DRIVER_VERSION 13000

struct CUctx_st {
	int device;
};

static struct CUctx_st fk_primary_ctx[FK_MAX_DEVICES] = { {0}, {1}, {2}, {3}, {4}, {5}, {6}, {7} };
static __thread CUcontext fk_current_ctx;

int fk_device_count(void)
{
	const char *v = getenv("FAKECUDA_DEVICES");
	int n = v ? atoi(v) : 1;

	return n >= 1 && n <= FK_MAX_DEVICES ? n : 1;
}

int fk_current_device(void)
{
	return fk_current_ctx ? fk_current_ctx->device : 0;
}

FK_EXPORT CUresult cuInit(unsigned int Flags)
{
	return Flags ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

FK_EXPORT CUresult cuDriverGetVersion(int *driverVersion)
{
	if (!driverVersion)
		return CUDA_ERROR_INVALID_VALUE;
	*driverVersion = FK_DRIVER_VERSION;
	return CUDA_SUCCESS;
}

FK_EXPORT CUresult cuDeviceGetCount(int *count)
{
	if (!count)
		return CUDA_ERROR_INVALID_VALUE;
	*count = fk_device_count();
	return CUDA_SUCCESS;
}

FK_EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal)
{
	if (!device)
		return CUDA_ERROR_INVALID_VALUE;
	if (ordinal < 0 || ordinal >= fk_device_count())
		return CUDA_ERROR_INVALID_DEVICE;
	*device = ordinal;
	return CUDA_SUCCESS;
}

FK_EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	if (dev < 0 || dev >= fk_device_count())
		return CUDA_ERROR_INVALID_DEVICE;
	*pctx = &fk_primary_ctx[dev];
	return CUDA_SUCCESS;
}

FK_EXPORT CUresult cuCtxGetCurrent(CUcontext *pctx)
{
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	*pctx = fk_current_ctx;
	return CUDA_SUCCESS;
}

FK_EXPORT CUresult cuCtxSetCurrent(CUcontext ctx)
{
	if (ctx && (ctx < fk_primary_ctx || ctx >= fk_primary_ctx + fk_device_count()))
		return CUDA_ERROR_INVALID_CONTEXT;
	fk_current_ctx = ctx;
	return CUDA_SUCCESS;
}

FK_EXPORT CUresult cuCtxGetDevice(CUdevice *device)
{
	if (!device)
		return CUDA_ERROR_INVALID_VALUE;
	if (!fk_current_ctx)
		return CUDA_ERROR_INVALID_CONTEXT;
	*device = fk_current_ctx->device;
	return CUDA_SUCCESS;
}

/* names and strings as the real driver spells them */
#define FK_ERRORS(X) \
	X(CUDA_SUCCESS, "no error") \
	X(CUDA_ERROR_INVALID_VALUE, "invalid argument") \
	X(CUDA_ERROR_OUT_OF_MEMORY, "out of memory") \
	X(CUDA_ERROR_NOT_INITIALIZED, "initialization error") \
	X(CUDA_ERROR_DEINITIALIZED, "driver shutting down") \
	X(CUDA_ERROR_NO_DEVICE, "no CUDA-capable device is detected") \
	X(CUDA_ERROR_INVALID_DEVICE, "invalid device ordinal") \
	X(CUDA_ERROR_INVALID_CONTEXT, "invalid device context") \
	X(CUDA_ERROR_MAP_FAILED, "mapping of buffer object failed") \
	X(CUDA_ERROR_INVALID_HANDLE, "invalid resource handle") \
	X(CUDA_ERROR_ILLEGAL_STATE, "the operation cannot be performed in the present state") \
	X(CUDA_ERROR_NOT_FOUND, "named symbol not found") \
	X(CUDA_ERROR_NOT_READY, "device not ready") \
	X(CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, \
	  "part or all of the requested memory range is already mapped") \
	X(CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED, "pointer does not correspond to a registered memory region") \
	X(CUDA_ERROR_NOT_SUPPORTED, "operation not supported") \
	X(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "operation not permitted when stream is capturing") \
	X(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED, \
	  "operation failed due to a previous error during capture") \
	X(CUDA_ERROR_STREAM_CAPTURE_MERGE, "operation would result in a merge of separate capture sequences") \
	X(CUDA_ERROR_STREAM_CAPTURE_UNMATCHED, "capture was not ended in the same stream as it began") \
	X(CUDA_ERROR_STREAM_CAPTURE_UNJOINED, \
	  "capturing stream has unjoined work") \
	X(CUDA_ERROR_STREAM_CAPTURE_ISOLATION, \
	  "dependency created on uncaptured work in another stream") \
	X(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, \
	  "operation would make the legacy stream depend on a capturing blocking stream") \
	X(CUDA_ERROR_CAPTURED_EVENT, "operation not permitted on an event last recorded in a capturing stream") \
	X(CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD, \
	  "attempt to terminate a thread-local capture sequence from another thread") \
	X(CUDA_ERROR_UNKNOWN, "unknown error")

struct fk_error {
	CUresult code;
	const char *name;
	const char *str;
};

#define FK_ERROR_ROW(code, str) { code, #code, str },
static const struct fk_error fk_errors[] = { FK_ERRORS(FK_ERROR_ROW) };

static const struct fk_error *fk_error_find(CUresult e)
{
	size_t i;

	for (i = 0; i < sizeof(fk_errors) / sizeof(fk_errors[0]); i++)
		if (fk_errors[i].code == e)
			return &fk_errors[i];
	return NULL;
}

FK_EXPORT CUresult cuGetErrorString(CUresult error, const char **pStr)
{
	const struct fk_error *e = fk_error_find(error);

	if (!pStr)
		return CUDA_ERROR_INVALID_VALUE;
	*pStr = e ? e->str : NULL;
	return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

FK_EXPORT CUresult cuGetErrorName(CUresult error, const char **pStr)
{
	const struct fk_error *e = fk_error_find(error);

	if (!pStr)
		return CUDA_ERROR_INVALID_VALUE;
	*pStr = e ? e->name : NULL;
	return e ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
