/* runtime.h - internal interface of the fake libcudart.so.13 (runtime_*.c): the table of driver
 * entry points it uses, each obtained ONLY through cuGetProcAddress, as static cudart does:
 * dlopen("libcuda.so.1"), dlsym "cuGetProcAddress_v2", ask it for "cuGetProcAddress" (11030),
 * then every name below at its version. Never reference a driver symbol directly here. */
#ifndef FAKECUDA_RUNTIME_H
#define FAKECUDA_RUNTIME_H

#include <cuda.h>
#include <cuda_runtime_api.h>

#define RT_EXPORT __attribute__((visibility("default")))

/* X(name looked up, cudaVersion asked for, parameter list of the variant that version gets) */
#define RT_DRIVER_FNS(X) \
	X(cuInit, 2000, (unsigned int)) \
	X(cuDriverGetVersion, 13000, (int *)) \
	X(cuDeviceGet, 13000, (CUdevice *, int)) \
	X(cuDeviceGetCount, 13000, (int *)) \
	X(cuDevicePrimaryCtxRetain, 13000, (CUcontext *, CUdevice)) \
	X(cuCtxSetCurrent, 13000, (CUcontext)) \
	X(cuCtxGetDevice, 2000, (CUdevice *)) \
	X(cuStreamGetDevice, 12080, (CUstream, CUdevice *)) \
	X(cuCtxSynchronize, 2000, (void)) \
	X(cuCtxSetLimit, 3010, (CUlimit, size_t)) \
	X(cuDeviceGetAttribute, 2000, (int *, CUdevice_attribute, CUdevice)) \
	X(cuStreamCreate, 13000, (CUstream *, unsigned int)) \
	X(cuStreamDestroy, 13000, (CUstream)) \
	X(cuStreamGetFlags, 13000, (CUstream, unsigned int *)) \
	X(cuStreamBeginCapture, 10010, (CUstream, CUstreamCaptureMode)) \
	X(cuStreamBeginCaptureToGraph, 13000, (CUstream, CUgraph, const CUgraphNode *, \
					       const CUgraphEdgeData *, size_t, CUstreamCaptureMode)) \
	X(cuStreamEndCapture, 13000, (CUstream, CUgraph *)) \
	X(cuStreamIsCapturing, 13000, (CUstream, CUstreamCaptureStatus *)) \
	X(cuStreamGetCaptureInfo, 13000, (CUstream, CUstreamCaptureStatus *, cuuint64_t *, \
					  CUgraph *, const CUgraphNode **, \
					  const CUgraphEdgeData **, size_t *)) \
	X(cuThreadExchangeStreamCaptureMode, 13000, (CUstreamCaptureMode *)) \
	X(cuStreamSynchronize, 13000, (CUstream)) \
	X(cuStreamQuery, 13000, (CUstream)) \
	X(cuStreamWaitEvent, 13000, (CUstream, CUevent, unsigned int)) \
	X(cuEventCreate, 13000, (CUevent *, unsigned int)) \
	X(cuEventRecord, 13000, (CUevent, CUstream)) \
	X(cuEventRecordWithFlags, 13000, (CUevent, CUstream, unsigned int)) \
	X(cuEventSynchronize, 13000, (CUevent)) \
	X(cuEventQuery, 13000, (CUevent)) \
	X(cuEventDestroy, 13000, (CUevent)) \
	X(cuMemAlloc, 3020, (CUdeviceptr *, size_t)) \
	X(cuMemFree, 3020, (CUdeviceptr)) \
	X(cuMemAllocHost, 3020, (void **, size_t)) \
	X(cuMemHostAlloc, 13000, (void **, size_t, unsigned int)) \
	X(cuMemFreeHost, 13000, (void *)) \
	X(cuMemHostRegister, 13000, (void *, size_t, unsigned int)) \
	X(cuMemHostUnregister, 13000, (void *)) \
	X(cuMemAllocManaged, 13000, (CUdeviceptr *, size_t, unsigned int)) \
	X(cuMemAllocAsync, 13000, (CUdeviceptr *, size_t, CUstream)) \
	X(cuMemFreeAsync, 13000, (CUdeviceptr, CUstream)) \
	X(cuMemcpy, 13000, (CUdeviceptr, CUdeviceptr, size_t)) \
	X(cuMemcpyHtoD, 3020, (CUdeviceptr, const void *, size_t)) \
	X(cuMemcpyDtoH, 3020, (void *, CUdeviceptr, size_t)) \
	X(cuMemcpyDtoD, 3020, (CUdeviceptr, CUdeviceptr, size_t)) \
	X(cuMemcpyAsync, 13000, (CUdeviceptr, CUdeviceptr, size_t, CUstream)) \
	X(cuMemcpyHtoDAsync, 3020, (CUdeviceptr, const void *, size_t, CUstream)) \
	X(cuMemcpyDtoHAsync, 3020, (void *, CUdeviceptr, size_t, CUstream)) \
	X(cuMemsetD8, 3020, (CUdeviceptr, unsigned char, size_t)) \
	X(cuMemsetD8Async, 13000, (CUdeviceptr, unsigned char, size_t, CUstream)) \
	X(cuLaunchHostFunc, 13000, (CUstream, CUhostFn, void *)) \
	X(cuGraphInstantiateWithFlags, 13000, (CUgraphExec *, CUgraph, unsigned long long)) \
	X(cuGraphInstantiateWithParams, 12000, (CUgraphExec *, CUgraph, CUDA_GRAPH_INSTANTIATE_PARAMS *)) \
	X(cuGraphLaunch, 13000, (CUgraphExec, CUstream)) \
	X(cuGraphDestroy, 13000, (CUgraph)) \
	X(cuGraphExecDestroy, 13000, (CUgraphExec)) \
	X(cuMemGetInfo, 3020, (size_t *, size_t *)) \
	X(cuPointerGetAttribute, 13000, (void *, CUpointer_attribute, CUdeviceptr)) \
	X(cuIpcGetMemHandle, 13000, (CUipcMemHandle *, CUdeviceptr)) \
	X(cuIpcOpenMemHandle, 13000, (CUdeviceptr *, CUipcMemHandle, unsigned int)) \
	X(cuIpcCloseMemHandle, 13000, (CUdeviceptr))

#define RT_MEMBER(name, version, params) CUresult (*p_##name) params;
struct rt_driver {
	RT_DRIVER_FNS(RT_MEMBER)
};
#undef RT_MEMBER

/* runtime_core.c */
extern struct rt_driver rt_drv __attribute__((visibility("hidden")));
__attribute__((visibility("hidden"))) cudaError_t rt_init(void);
__attribute__((visibility("hidden"))) cudaError_t rt_result(CUresult r);
__attribute__((visibility("hidden"))) cudaError_t rt_error(cudaError_t e);

/* Every API function starts so: load the driver once, make the context current. */
#define RT_INIT() \
	do { \
		cudaError_t rt_e_ = rt_init(); \
		if (rt_e_ != cudaSuccess) \
			return rt_error(rt_e_); \
	} while (0)

/* call driver function `name` through its pointer and return its result as cudaError_t */
#define RT_CALL(name, ...) rt_result(rt_drv.p_##name(__VA_ARGS__))

#define RT_DPTR(p) ((CUdeviceptr)(uintptr_t)(p))

#endif
