/* runtime_stream.c - fake libcudart.so.13: streams, capture, events, host functions and graphs,
 * each a thin forward to the driver entry point obtained through cuGetProcAddress (rt_drv).
 * Capture rules are the driver's: this file never decides legality itself. */
#include "runtime.h"

#include <stdint.h>

RT_EXPORT cudaError_t cudaStreamCreate(cudaStream_t *pStream)
{
	RT_INIT();
	return RT_CALL(cuStreamCreate, pStream, CU_STREAM_DEFAULT);
}

RT_EXPORT cudaError_t cudaStreamCreateWithFlags(cudaStream_t *pStream, unsigned int flags)
{
	RT_INIT();
	return RT_CALL(cuStreamCreate, pStream, flags);
}

RT_EXPORT cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
	RT_INIT();
	return RT_CALL(cuStreamDestroy, stream);
}

RT_EXPORT cudaError_t cudaStreamGetFlags(cudaStream_t hStream, unsigned int *flags)
{
	RT_INIT();
	return RT_CALL(cuStreamGetFlags, hStream, flags);
}

RT_EXPORT cudaError_t cudaStreamBeginCapture(cudaStream_t stream, enum cudaStreamCaptureMode mode)
{
	RT_INIT();
	return RT_CALL(cuStreamBeginCapture, stream, (CUstreamCaptureMode)mode);
}

RT_EXPORT cudaError_t cudaStreamBeginCaptureToGraph(cudaStream_t stream, cudaGraph_t graph,
						    const cudaGraphNode_t *dependencies,
						    const cudaGraphEdgeData *dependencyData,
						    size_t numDependencies,
						    enum cudaStreamCaptureMode mode)
{
	RT_INIT();
	return RT_CALL(cuStreamBeginCaptureToGraph, stream, graph, dependencies,
		       (const CUgraphEdgeData *)dependencyData, numDependencies,
		       (CUstreamCaptureMode)mode);
}

RT_EXPORT cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *pGraph)
{
	RT_INIT();
	return RT_CALL(cuStreamEndCapture, stream, pGraph);
}

RT_EXPORT cudaError_t cudaStreamIsCapturing(cudaStream_t stream,
					    enum cudaStreamCaptureStatus *pCaptureStatus)
{
	CUstreamCaptureStatus st;
	cudaError_t e;

	if (!pCaptureStatus)
		return rt_error(cudaErrorInvalidValue);
	RT_INIT();
	e = RT_CALL(cuStreamIsCapturing, stream, &st);
	if (e == cudaSuccess)
		*pCaptureStatus = (enum cudaStreamCaptureStatus)st;
	return e;
}

RT_EXPORT cudaError_t cudaStreamGetCaptureInfo(cudaStream_t stream,
					       enum cudaStreamCaptureStatus *captureStatus_out,
					       unsigned long long *id_out, cudaGraph_t *graph_out,
					       const cudaGraphNode_t **dependencies_out,
					       const cudaGraphEdgeData **edgeData_out,
					       size_t *numDependencies_out)
{
	CUstreamCaptureStatus st;
	cuuint64_t id;
	cudaError_t e;

	if (!captureStatus_out)
		return rt_error(cudaErrorInvalidValue);
	RT_INIT();
	e = RT_CALL(cuStreamGetCaptureInfo, stream, &st, &id, graph_out, dependencies_out,
		    (const CUgraphEdgeData **)edgeData_out, numDependencies_out);
	if (e == cudaSuccess) {
		*captureStatus_out = (enum cudaStreamCaptureStatus)st;
		if (id_out && st != CU_STREAM_CAPTURE_STATUS_NONE)
			*id_out = id;
	}
	return e;
}

RT_EXPORT cudaError_t cudaThreadExchangeStreamCaptureMode(enum cudaStreamCaptureMode *mode)
{
	CUstreamCaptureMode m;
	cudaError_t e;

	if (!mode)
		return rt_error(cudaErrorInvalidValue);
	RT_INIT();
	m = (CUstreamCaptureMode)*mode;
	e = RT_CALL(cuThreadExchangeStreamCaptureMode, &m);
	if (e == cudaSuccess)
		*mode = (enum cudaStreamCaptureMode)m;
	return e;
}

RT_EXPORT cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
	RT_INIT();
	return RT_CALL(cuStreamSynchronize, stream);
}

RT_EXPORT cudaError_t cudaStreamQuery(cudaStream_t stream)
{
	RT_INIT();
	return RT_CALL(cuStreamQuery, stream);
}

RT_EXPORT cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event,
					  unsigned int flags)
{
	RT_INIT();
	return RT_CALL(cuStreamWaitEvent, stream, event, flags);
}

RT_EXPORT cudaError_t cudaEventCreate(cudaEvent_t *event)
{
	RT_INIT();
	return RT_CALL(cuEventCreate, event, CU_EVENT_DEFAULT);
}

RT_EXPORT cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags)
{
	RT_INIT();
	return RT_CALL(cuEventCreate, event, flags);
}

RT_EXPORT cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
	RT_INIT();
	return RT_CALL(cuEventRecord, event, stream);
}

RT_EXPORT cudaError_t cudaEventRecordWithFlags(cudaEvent_t event, cudaStream_t stream,
					       unsigned int flags)
{
	RT_INIT();
	return RT_CALL(cuEventRecordWithFlags, event, stream, flags);
}

RT_EXPORT cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
	RT_INIT();
	return RT_CALL(cuEventSynchronize, event);
}

RT_EXPORT cudaError_t cudaEventQuery(cudaEvent_t event)
{
	RT_INIT();
	return RT_CALL(cuEventQuery, event);
}

RT_EXPORT cudaError_t cudaEventDestroy(cudaEvent_t event)
{
	RT_INIT();
	return RT_CALL(cuEventDestroy, event);
}

RT_EXPORT cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void *userData)
{
	RT_INIT();
	return RT_CALL(cuLaunchHostFunc, stream, fn, userData);
}

RT_EXPORT cudaError_t cudaGraphInstantiate(cudaGraphExec_t *pGraphExec, cudaGraph_t graph,
					   unsigned long long flags)
{
	RT_INIT();
	return RT_CALL(cuGraphInstantiateWithFlags, pGraphExec, graph, flags);
}

RT_EXPORT cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t *pGraphExec,
						    cudaGraph_t graph, unsigned long long flags)
{
	RT_INIT();
	return RT_CALL(cuGraphInstantiateWithFlags, pGraphExec, graph, flags);
}

/* The runtime's params struct has the driver's layout (flags, upload stream, error node, result). */
RT_EXPORT cudaError_t cudaGraphInstantiateWithParams(cudaGraphExec_t *pGraphExec, cudaGraph_t graph,
						     cudaGraphInstantiateParams *params)
{
	RT_INIT();
	return RT_CALL(cuGraphInstantiateWithParams, pGraphExec, graph, (CUDA_GRAPH_INSTANTIATE_PARAMS *)params);
}

RT_EXPORT cudaError_t cudaGraphLaunch(cudaGraphExec_t graphExec, cudaStream_t stream)
{
	RT_INIT();
	return RT_CALL(cuGraphLaunch, graphExec, stream);
}

RT_EXPORT cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
	RT_INIT();
	return RT_CALL(cuGraphDestroy, graph);
}

RT_EXPORT cudaError_t cudaGraphExecDestroy(cudaGraphExec_t graphExec)
{
	RT_INIT();
	return RT_CALL(cuGraphExecDestroy, graphExec);
}
