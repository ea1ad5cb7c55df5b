/* driver_procaddr.c - fake libcuda: cuGetProcAddress (4-argument ABI, CUDA 11.3) and
 * cuGetProcAddress_v2 (5 arguments, CUDA 12.0), with the table of which function a
 * (name, cudaVersion, flags) request gets. Versions are those of cudaTypedefs.h (PFN_<name>_v<N>):
 * the highest variant whose version <= the requested one; with
 * CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM the _ptsz/_ptds variant where the name has one.
 * Also the fake-only counters behind fakecuda_stats(). */
#include "driver.h"
#include "fakecuda.h"

#include <stdio.h>
#include <string.h>

struct fk_sym {
	const char *name;
	int version;
	int ptds;
	void *fn;
};

#define S(n, v, f) { #n, v, 0, (void *)f },
#define P(n, v, f) { #n, v, 1, (void *)f },
static const struct fk_sym fk_syms[] = {
	S(cuInit, 2000, cuInit)
	S(cuDriverGetVersion, 2020, cuDriverGetVersion)
	S(cuDeviceGet, 2000, cuDeviceGet)
	S(cuDeviceGetCount, 2000, cuDeviceGetCount)
	S(cuCtxGetCurrent, 4000, cuCtxGetCurrent)
	S(cuCtxSetCurrent, 4000, cuCtxSetCurrent)
	S(cuCtxGetDevice, 2000, cuCtxGetDevice)
	S(cuDevicePrimaryCtxRetain, 7000, cuDevicePrimaryCtxRetain)
	S(cuGetErrorString, 6000, cuGetErrorString)
	S(cuGetErrorName, 6000, cuGetErrorName)
	S(cuGetProcAddress, 11030, cuGetProcAddress)
	S(cuGetProcAddress, 12000, cuGetProcAddress_v2)
	S(cuStreamCreate, 2000, cuStreamCreate)
	S(cuStreamDestroy, 2000, cuStreamDestroy)
	S(cuStreamDestroy, 4000, cuStreamDestroy_v2)
	S(cuStreamGetFlags, 5050, cuStreamGetFlags)
	P(cuStreamGetFlags, 7000, cuStreamGetFlags_ptsz)
	S(cuStreamGetDevice, 12080, cuStreamGetDevice)
	P(cuStreamGetDevice, 12080, cuStreamGetDevice_ptsz)
	S(cuStreamBeginCapture, 10000, cuStreamBeginCapture)
	S(cuStreamBeginCapture, 10010, cuStreamBeginCapture_v2)
	P(cuStreamBeginCapture, 10000, cuStreamBeginCapture_ptsz)
	P(cuStreamBeginCapture, 10010, cuStreamBeginCapture_v2_ptsz)
	S(cuStreamBeginCaptureToGraph, 12030, cuStreamBeginCaptureToGraph)
	P(cuStreamBeginCaptureToGraph, 12030, cuStreamBeginCaptureToGraph_ptsz)
	S(cuStreamEndCapture, 10000, cuStreamEndCapture)
	P(cuStreamEndCapture, 10000, cuStreamEndCapture_ptsz)
	S(cuStreamIsCapturing, 10000, cuStreamIsCapturing)
	P(cuStreamIsCapturing, 10000, cuStreamIsCapturing_ptsz)
	S(cuStreamGetCaptureInfo, 10010, cuStreamGetCaptureInfo)
	S(cuStreamGetCaptureInfo, 11030, cuStreamGetCaptureInfo_v2)
	S(cuStreamGetCaptureInfo, 12030, cuStreamGetCaptureInfo_v3)
	P(cuStreamGetCaptureInfo, 10010, cuStreamGetCaptureInfo_ptsz)
	P(cuStreamGetCaptureInfo, 11030, cuStreamGetCaptureInfo_v2_ptsz)
	P(cuStreamGetCaptureInfo, 12030, cuStreamGetCaptureInfo_v3_ptsz)
	S(cuThreadExchangeStreamCaptureMode, 10010, cuThreadExchangeStreamCaptureMode)
	S(cuStreamSynchronize, 2000, cuStreamSynchronize)
	P(cuStreamSynchronize, 7000, cuStreamSynchronize_ptsz)
	S(cuStreamQuery, 2000, cuStreamQuery)
	P(cuStreamQuery, 7000, cuStreamQuery_ptsz)
	S(cuStreamWaitEvent, 3020, cuStreamWaitEvent)
	P(cuStreamWaitEvent, 7000, cuStreamWaitEvent_ptsz)
	S(cuEventCreate, 2000, cuEventCreate)
	S(cuEventRecord, 2000, cuEventRecord)
	P(cuEventRecord, 7000, cuEventRecord_ptsz)
	S(cuEventRecordWithFlags, 11010, cuEventRecordWithFlags)
	P(cuEventRecordWithFlags, 11010, cuEventRecordWithFlags_ptsz)
	S(cuEventSynchronize, 2000, cuEventSynchronize)
	S(cuEventQuery, 2000, cuEventQuery)
	S(cuEventDestroy, 2000, cuEventDestroy)
	S(cuEventDestroy, 4000, cuEventDestroy_v2)
	S(cuCtxSynchronize, 2000, cuCtxSynchronize)
	S(cuCtxSetLimit, 3010, cuCtxSetLimit)
	S(cuDeviceGetAttribute, 2000, cuDeviceGetAttribute)
	S(cuLogsRegisterCallback, 12090, cuLogsRegisterCallback)
	S(cuLogsUnregisterCallback, 12090, cuLogsUnregisterCallback)
	S(cuLogsCurrent, 12090, cuLogsCurrent)
	S(cuLogsDumpToMemory, 12090, cuLogsDumpToMemory)
	S(cuCtxSynchronize, 13000, cuCtxSynchronize_v2)
	S(cuMemAlloc, 2000, cuMemAlloc)
	S(cuMemAlloc, 3020, cuMemAlloc_v2)
	S(cuMemFree, 2000, cuMemFree)
	S(cuMemFree, 3020, cuMemFree_v2)
	S(cuMemAllocHost, 2000, cuMemAllocHost)
	S(cuMemAllocHost, 3020, cuMemAllocHost_v2)
	S(cuMemHostAlloc, 2020, cuMemHostAlloc)
	S(cuMemFreeHost, 2000, cuMemFreeHost)
	S(cuMemHostRegister, 4000, cuMemHostRegister)
	S(cuMemHostRegister, 6050, cuMemHostRegister_v2)
	S(cuMemHostUnregister, 4000, cuMemHostUnregister)
	S(cuMemAllocManaged, 6000, cuMemAllocManaged)
	S(cuMemAllocAsync, 11020, cuMemAllocAsync)
	P(cuMemAllocAsync, 11020, cuMemAllocAsync_ptsz)
	S(cuMemFreeAsync, 11020, cuMemFreeAsync)
	P(cuMemFreeAsync, 11020, cuMemFreeAsync_ptsz)
	S(cuMemcpy, 4000, cuMemcpy)
	P(cuMemcpy, 7000, cuMemcpy_ptds)
	S(cuMemcpyHtoD, 2000, cuMemcpyHtoD)
	S(cuMemcpyHtoD, 3020, cuMemcpyHtoD_v2)
	P(cuMemcpyHtoD, 7000, cuMemcpyHtoD_v2_ptds)
	S(cuMemcpyDtoH, 2000, cuMemcpyDtoH)
	S(cuMemcpyDtoH, 3020, cuMemcpyDtoH_v2)
	P(cuMemcpyDtoH, 7000, cuMemcpyDtoH_v2_ptds)
	S(cuMemcpyDtoD, 2000, cuMemcpyDtoD)
	S(cuMemcpyDtoD, 3020, cuMemcpyDtoD_v2)
	P(cuMemcpyDtoD, 7000, cuMemcpyDtoD_v2_ptds)
	S(cuMemcpyAsync, 4000, cuMemcpyAsync)
	P(cuMemcpyAsync, 7000, cuMemcpyAsync_ptsz)
	S(cuMemcpyHtoDAsync, 2000, cuMemcpyHtoDAsync)
	S(cuMemcpyHtoDAsync, 3020, cuMemcpyHtoDAsync_v2)
	P(cuMemcpyHtoDAsync, 7000, cuMemcpyHtoDAsync_v2_ptsz)
	S(cuMemcpyDtoHAsync, 2000, cuMemcpyDtoHAsync)
	S(cuMemcpyDtoHAsync, 3020, cuMemcpyDtoHAsync_v2)
	P(cuMemcpyDtoHAsync, 7000, cuMemcpyDtoHAsync_v2_ptsz)
	S(cuMemsetD8, 2000, cuMemsetD8)
	S(cuMemsetD8, 3020, cuMemsetD8_v2)
	P(cuMemsetD8, 7000, cuMemsetD8_v2_ptds)
	S(cuMemsetD8Async, 3020, cuMemsetD8Async)
	P(cuMemsetD8Async, 7000, cuMemsetD8Async_ptsz)
	S(cuLaunchHostFunc, 10000, cuLaunchHostFunc)
	P(cuLaunchHostFunc, 10000, cuLaunchHostFunc_ptsz)
	S(cuGraphCreate, 10000, cuGraphCreate)
	S(cuGraphInstantiate, 10000, cuGraphInstantiate)
	S(cuGraphInstantiate, 11000, cuGraphInstantiate_v2)
	/* cuda.h maps the name cuGraphInstantiate to cuGraphInstantiateWithFlags since 12.0 */
	S(cuGraphInstantiate, 12000, cuGraphInstantiateWithFlags)
	S(cuGraphInstantiateWithFlags, 11040, cuGraphInstantiateWithFlags)
	S(cuGraphInstantiateWithParams, 12000, cuGraphInstantiateWithParams)
	S(cuGraphLaunch, 10000, cuGraphLaunch)
	P(cuGraphLaunch, 10000, cuGraphLaunch_ptsz)
	S(cuGraphDestroy, 10000, cuGraphDestroy)
	S(cuGraphExecDestroy, 10000, cuGraphExecDestroy)
	S(cuMemGetInfo, 2000, cuMemGetInfo)
	S(cuMemGetInfo, 3020, cuMemGetInfo_v2)
	S(cuMemGetAddressRange, 3020, cuMemGetAddressRange_v2)
	S(cuPointerGetAttribute, 4000, cuPointerGetAttribute)
	S(cuIpcGetMemHandle, 4010, cuIpcGetMemHandle)
	S(cuIpcOpenMemHandle, 4010, cuIpcOpenMemHandle)
	S(cuIpcOpenMemHandle, 11000, cuIpcOpenMemHandle_v2)
	S(cuIpcCloseMemHandle, 4010, cuIpcCloseMemHandle)
};
#undef S
#undef P

static pthread_mutex_t fk_stats_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fakecuda_stats fk_stats;

/* Best variant of name for (version, per-thread?); *status says why when NULL. */
static void *fk_lookup(const char *name, int version, int want_ptds,
		       CUdriverProcAddressQueryResult *status)
{
	const struct fk_sym *best[2] = { NULL, NULL }; /* [ptds] */
	int known = 0;
	size_t i;

	for (i = 0; i < sizeof(fk_syms) / sizeof(fk_syms[0]); i++) {
		const struct fk_sym *e = &fk_syms[i];

		if (strcmp(e->name, name) != 0)
			continue;
		known = 1;
		if (e->version <= version && (!best[e->ptds] || e->version > best[e->ptds]->version))
			best[e->ptds] = e;
	}
	if (want_ptds && best[1]) {
		*status = CU_GET_PROC_ADDRESS_SUCCESS;
		return best[1]->fn;
	}
	if (best[0]) {
		*status = CU_GET_PROC_ADDRESS_SUCCESS;
		return best[0]->fn;
	}
	*status = known ? CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT
			: CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
	return NULL;
}

static CUresult fk_get_proc(const char *symbol, void **pfn, int version, cuuint64_t flags,
			    CUdriverProcAddressQueryResult *symbolStatus, int abi)
{
	const cuuint64_t known = CU_GET_PROC_ADDRESS_LEGACY_STREAM |
				 CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
	CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
	void *fn = NULL;

	if (symbol && pfn && !(flags & ~known))
		fn = fk_lookup(symbol, version,
			       (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0, &st);
	pthread_mutex_lock(&fk_stats_mu);
	if (abi == 4)
		fk_stats.procaddr_calls_v1++;
	else
		fk_stats.procaddr_calls_v2++;
	if (fk_stats.nlookups < FAKECUDA_MAX_LOOKUPS) {
		struct fakecuda_lookup *l = &fk_stats.lookups[fk_stats.nlookups++];

		snprintf(l->name, sizeof(l->name), "%s", symbol ? symbol : "(null)");
		l->version = version;
		l->flags = flags;
		l->abi = abi;
		l->found = fn != NULL;
	}
	pthread_mutex_unlock(&fk_stats_mu);
	if (!symbol || !pfn || (flags & ~known))
		return CUDA_ERROR_INVALID_VALUE;
	*pfn = fn;
	if (symbolStatus)
		*symbolStatus = st;
	return fn ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

FK_EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion,
				    cuuint64_t flags)
{
	return fk_get_proc(symbol, pfn, cudaVersion, flags, NULL, 4);
}

FK_EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion,
				       cuuint64_t flags,
				       CUdriverProcAddressQueryResult *symbolStatus)
{
	return fk_get_proc(symbol, pfn, cudaVersion, flags, symbolStatus, 5);
}

FK_EXPORT void fakecuda_stats(struct fakecuda_stats *out)
{
	if (!out)
		return;
	pthread_mutex_lock(&fk_stats_mu);
	*out = fk_stats;
	pthread_mutex_unlock(&fk_stats_mu);
}
