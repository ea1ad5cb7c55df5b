/* runtime_memory.c - fake libcudart.so.13: allocation, copies, memsets, pointer attributes and
 * IPC, forwarded to the driver through rt_drv. cudaMemcpy/cudaMemset are legacy-stream
 * operations (the driver applies the capture rules). */
#include "runtime.h"

#include <stdint.h>
#include <string.h>

/* cudaMalloc(p, 0) succeeds with *p = NULL (CUDA behaviour); the fake runtime does not reach
 * the driver then, so no capture rule applies to it (unmeasured on a GPU). */
RT_EXPORT cudaError_t cudaMalloc(void **devPtr, size_t size)
{
	CUdeviceptr d = 0;
	cudaError_t e;

	if (!devPtr)
		return rt_error(cudaErrorInvalidValue);
	RT_INIT();
	if (size == 0) {
		*devPtr = NULL;
		return cudaSuccess;
	}
	e = RT_CALL(cuMemAlloc, &d, size);
	if (e == cudaSuccess)
		*devPtr = (void *)(uintptr_t)d;
	return e;
}

/* cudaFree(NULL) is forwarded like any free: the driver applies the capture rule to it first
 * (unmeasured whether real CUDA does), then it is a no-op. */
RT_EXPORT cudaError_t cudaFree(void *devPtr)
{
	RT_INIT();
	return RT_CALL(cuMemFree, RT_DPTR(devPtr));
}

RT_EXPORT cudaError_t cudaMallocHost(void **ptr, size_t size)
{
	if (!ptr)
		return rt_error(cudaErrorInvalidValue);
	RT_INIT();
	if (size == 0) {
		*ptr = NULL; /* as cudaMalloc; unmeasured */
		return cudaSuccess;
	}
	return RT_CALL(cuMemAllocHost, ptr, size);
}

RT_EXPORT cudaError_t cudaHostAlloc(void **pHost, size_t size, unsigned int flags)
{
	if (!pHost)
		return rt_error(cudaErrorInvalidValue);
	RT_INIT();
	if (size == 0) {
		*pHost = NULL; /* as cudaMalloc; unmeasured */
		return cudaSuccess;
	}
	return RT_CALL(cuMemHostAlloc, pHost, size, flags);
}

RT_EXPORT cudaError_t cudaFreeHost(void *ptr)
{
	RT_INIT();
	if (!ptr)
		return cudaSuccess; /* a no-op without the driver: unmeasured under capture */
	return RT_CALL(cuMemFreeHost, ptr);
}

RT_EXPORT cudaError_t cudaMallocManaged(void **devPtr, size_t size, unsigned int flags)
{
	CUdeviceptr d = 0;
	cudaError_t e;

	if (!devPtr)
		return rt_error(cudaErrorInvalidValue);
	RT_INIT();
	e = RT_CALL(cuMemAllocManaged, &d, size, flags);
	if (e == cudaSuccess)
		*devPtr = (void *)(uintptr_t)d;
	return e;
}

RT_EXPORT cudaError_t cudaMallocAsync(void **devPtr, size_t size, cudaStream_t hStream)
{
	CUdeviceptr d = 0;
	cudaError_t e;

	if (!devPtr)
		return rt_error(cudaErrorInvalidValue);
	RT_INIT();
	e = RT_CALL(cuMemAllocAsync, &d, size, hStream);
	if (e == cudaSuccess)
		*devPtr = (void *)(uintptr_t)d;
	return e;
}

RT_EXPORT cudaError_t cudaFreeAsync(void *devPtr, cudaStream_t hStream)
{
	RT_INIT();
	return RT_CALL(cuMemFreeAsync, RT_DPTR(devPtr), hStream);
}

RT_EXPORT cudaError_t cudaHostRegister(void *ptr, size_t size, unsigned int flags)
{
	RT_INIT();
	return RT_CALL(cuMemHostRegister, ptr, size, flags);
}

RT_EXPORT cudaError_t cudaHostUnregister(void *ptr)
{
	RT_INIT();
	return RT_CALL(cuMemHostUnregister, ptr);
}

static int rt_kind_ok(enum cudaMemcpyKind kind)
{
	return (unsigned int)kind <= cudaMemcpyDefault;
}

RT_EXPORT cudaError_t cudaMemcpy(void *dst, const void *src, size_t count,
				 enum cudaMemcpyKind kind)
{
	if (!rt_kind_ok(kind))
		return rt_error(cudaErrorInvalidMemcpyDirection);
	RT_INIT();
	switch (kind) {
	case cudaMemcpyHostToDevice:
		return RT_CALL(cuMemcpyHtoD, RT_DPTR(dst), src, count);
	case cudaMemcpyDeviceToHost:
		return RT_CALL(cuMemcpyDtoH, dst, RT_DPTR(src), count);
	case cudaMemcpyDeviceToDevice:
		return RT_CALL(cuMemcpyDtoD, RT_DPTR(dst), RT_DPTR(src), count);
	default:
		return RT_CALL(cuMemcpy, RT_DPTR(dst), RT_DPTR(src), count);
	}
}

RT_EXPORT cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count,
				      enum cudaMemcpyKind kind, cudaStream_t stream)
{
	if (!rt_kind_ok(kind))
		return rt_error(cudaErrorInvalidMemcpyDirection);
	RT_INIT();
	switch (kind) {
	case cudaMemcpyHostToDevice:
		return RT_CALL(cuMemcpyHtoDAsync, RT_DPTR(dst), src, count, stream);
	case cudaMemcpyDeviceToHost:
		return RT_CALL(cuMemcpyDtoHAsync, dst, RT_DPTR(src), count, stream);
	default:
		return RT_CALL(cuMemcpyAsync, RT_DPTR(dst), RT_DPTR(src), count, stream);
	}
}

RT_EXPORT cudaError_t cudaMemset(void *devPtr, int value, size_t count)
{
	RT_INIT();
	return RT_CALL(cuMemsetD8, RT_DPTR(devPtr), (unsigned char)value, count);
}

RT_EXPORT cudaError_t cudaMemsetAsync(void *devPtr, int value, size_t count, cudaStream_t stream)
{
	RT_INIT();
	return RT_CALL(cuMemsetD8Async, RT_DPTR(devPtr), (unsigned char)value, count, stream);
}

RT_EXPORT cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total)
{
	RT_INIT();
	return RT_CALL(cuMemGetInfo, free_b, total);
}

/* Since CUDA 11 an unregistered host pointer is success with type cudaMemoryTypeUnregistered. */
RT_EXPORT cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *attributes,
					       const void *ptr)
{
	unsigned int type = 0, managed = 0;
	CUresult r;

	if (!attributes)
		return rt_error(cudaErrorInvalidValue);
	RT_INIT();
	memset(attributes, 0, sizeof(*attributes));
	r = rt_drv.p_cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, RT_DPTR(ptr));
	if (r == CUDA_ERROR_INVALID_VALUE && ptr) {
		attributes->type = cudaMemoryTypeUnregistered;
		attributes->device = -2;
		attributes->hostPointer = (void *)(uintptr_t)ptr;
		return cudaSuccess;
	}
	if (r != CUDA_SUCCESS)
		return rt_result(r);
	r = rt_drv.p_cuPointerGetAttribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, RT_DPTR(ptr));
	if (r != CUDA_SUCCESS)
		return rt_result(r);
	attributes->device = 0;
	if (managed) {
		attributes->type = cudaMemoryTypeManaged;
		attributes->devicePointer = attributes->hostPointer = (void *)(uintptr_t)ptr;
	} else if (type == CU_MEMORYTYPE_DEVICE) {
		attributes->type = cudaMemoryTypeDevice;
		attributes->devicePointer = (void *)(uintptr_t)ptr;
	} else {
		attributes->type = cudaMemoryTypeHost;
		attributes->devicePointer = attributes->hostPointer = (void *)(uintptr_t)ptr;
	}
	return cudaSuccess;
}

RT_EXPORT cudaError_t cudaIpcGetMemHandle(cudaIpcMemHandle_t *handle, void *devPtr)
{
	CUipcMemHandle h;
	cudaError_t e;

	if (!handle)
		return rt_error(cudaErrorInvalidValue);
	RT_INIT();
	e = RT_CALL(cuIpcGetMemHandle, &h, RT_DPTR(devPtr));
	if (e == cudaSuccess)
		memcpy(handle->reserved, h.reserved, sizeof(handle->reserved));
	return e;
}

RT_EXPORT cudaError_t cudaIpcOpenMemHandle(void **devPtr, cudaIpcMemHandle_t handle,
					   unsigned int flags)
{
	CUipcMemHandle h;
	CUdeviceptr d = 0;
	cudaError_t e;

	if (!devPtr)
		return rt_error(cudaErrorInvalidValue);
	RT_INIT();
	memcpy(h.reserved, handle.reserved, sizeof(h.reserved));
	e = RT_CALL(cuIpcOpenMemHandle, &d, h, flags);
	if (e == cudaSuccess)
		*devPtr = (void *)(uintptr_t)d;
	return e;
}

RT_EXPORT cudaError_t cudaIpcCloseMemHandle(void *devPtr)
{
	RT_INIT();
	return RT_CALL(cuIpcCloseMemHandle, RT_DPTR(devPtr));
}
