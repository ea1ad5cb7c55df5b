/* driver_capture.c - fake libcuda: stream capture sequences and the legality rules of CUDA 13
 * (DEVICE-FACTS.md, "The full legality matrix"; cuda.h docs of cuStreamBeginCapture,
 * cuThreadExchangeStreamCaptureMode, cuStreamIsCapturing, cuStreamEndCapture).
 * The rules are written once here and applied by the entry points in the other driver files.
 * They model CUDA, never what capguard would like CUDA to do. */
#include "driver.h"

#include <stdlib.h>
#include <string.h>

/* active (begun, not yet ended) captures, including invalidated ones */
struct fk_capture *fk_captures;
static uint64_t fk_next_capture_id = 1;
static __thread CUstreamCaptureMode fk_thread_mode = CU_STREAM_CAPTURE_MODE_GLOBAL;

void fk_invalidate(struct fk_capture *c)
{
	c->invalidated = 1;
}

/* "Potentially unsafe" call made by this thread (cuda.h, cuThreadExchangeStreamCaptureMode):
 * prohibited unless the thread is Relaxed, when the thread owns a capture not begun Relaxed, or
 * (thread Global) when any thread has a Global capture. A prohibited call fails with 900 and
 * invalidates the captures that prohibited it (measured: EndCapture then returns 901). */
CUresult fk_rule_unsafe(void)
{
	pthread_t self = pthread_self();
	struct fk_capture *c;
	int hit = 0, own = 0;

	if (fk_thread_mode == CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_SUCCESS;
	for (c = fk_captures; c; c = c->next) {
		int mine = c->mode != CU_STREAM_CAPTURE_MODE_RELAXED && pthread_equal(c->owner, self);
		int global = fk_thread_mode == CU_STREAM_CAPTURE_MODE_GLOBAL &&
			     c->mode == CU_STREAM_CAPTURE_MODE_GLOBAL;

		if (mine || global) {
			fk_invalidate(c);
			hit = 1;
			own |= mine;
		}
	}
	if (!hit)
		return CUDA_SUCCESS;
	fk_log_error(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED,
		     own ? "API call conflicts with a stream capture sequence initiated from the calling thread"
			 : "API call conflicts with a stream capture sequence initiated from another thread");
	return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
}

/* A capture with a stream not created CU_STREAM_NON_BLOCKING (origin or joined): the legacy
 * stream would implicitly depend on it (cuda.h, cuStreamIsCapturing). */
static int fk_capture_blocking(const struct fk_capture *c)
{
	int i;

	for (i = 0; i < c->nstreams; i++)
		if (fk_is_blocking(c->streams[i]))
			return 1;
	return 0;
}

int fk_blocking_capture_active(void)
{
	struct fk_capture *c;

	for (c = fk_captures; c; c = c->next)
		if (fk_capture_blocking(c))
			return 1;
	return 0;
}

/* Work on the legacy stream: 906 and invalidation of every capture it would depend on, in
 * every mode (measured with a blocking capture stream); allowed otherwise. */
CUresult fk_rule_legacy(void)
{
	struct fk_capture *c;
	int hit = 0;

	for (c = fk_captures; c; c = c->next) {
		if (fk_capture_blocking(c)) {
			fk_invalidate(c);
			hit = 1;
		}
	}
	if (!hit)
		return CUDA_SUCCESS;
	fk_log_error(CUDA_ERROR_STREAM_CAPTURE_IMPLICIT, "Call cannot be made against CU_STREAM_LEGACY while a "
			 "blocking stream in the same context is capturing");
	return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
}

CUresult fk_graph_append(struct CUgraph_st *g, const struct fk_op *op)
{
	if (g->n == g->cap) {
		size_t ncap = g->cap ? 2 * g->cap : 16;
		struct fk_op *nodes = realloc(g->nodes, ncap * sizeof(*nodes));

		if (!nodes)
			return CUDA_ERROR_OUT_OF_MEMORY;
		g->nodes = nodes;
		g->cap = ncap;
	}
	g->nodes[g->n] = *op;
	g->nodes[g->n].next = NULL;
	g->n++;
	return CUDA_SUCCESS;
}

/* Work enqueued on a capturing stream becomes a node; on an invalidated capture it fails. */
CUresult fk_capture_record(struct CUstream_st *s, const struct fk_op *op)
{
	struct fk_capture *c = s->cap;
	CUresult r;

	if (c->invalidated)
		return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
	if (op->kind == FK_OP_WAIT)
		return CUDA_SUCCESS;
	r = fk_graph_append(c->graph, op);
	if (r == CUDA_SUCCESS)
		s->vc[s->cap_idx]++;
	return r;
}

FK_EXPORT CUresult cuThreadExchangeStreamCaptureMode(CUstreamCaptureMode *mode)
{
	CUstreamCaptureMode old;

	if (!mode || (unsigned int)*mode > CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_ERROR_INVALID_VALUE;
	old = fk_thread_mode;
	fk_thread_mode = *mode;
	*mode = old;
	return CUDA_SUCCESS;
}

static CUresult fk_begin(CUstream h, int ptds, CUstreamCaptureMode mode, CUgraph user_graph)
{
	struct CUstream_st *s;
	struct fk_capture *c;
	CUresult r;

	if ((unsigned int)mode > CU_STREAM_CAPTURE_MODE_RELAXED)
		return CUDA_ERROR_INVALID_VALUE;
	if (user_graph && user_graph->magic != FK_GRAPH_MAGIC)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_mu);
	r = fk_stream_get(h, ptds, &s);
	if (r != CUDA_SUCCESS)
		goto out;
	if (fk_is_legacy(s)) {
		r = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED; /* the legacy stream cannot capture */
		goto out;
	}
	if (s->cap) {
		r = CUDA_ERROR_ILLEGAL_STATE;
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		r = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	if (user_graph) {
		c->graph = user_graph;
		c->user_graph = 1;
	} else {
		c->graph = calloc(1, sizeof(*c->graph));
		if (!c->graph) {
			free(c);
			r = CUDA_ERROR_OUT_OF_MEMORY;
			goto out;
		}
		c->graph->magic = FK_GRAPH_MAGIC;
	}
	c->id = fk_next_capture_id++;
	c->mode = mode;
	c->owner = pthread_self();
	c->streams[0] = s;
	c->nstreams = 1;
	c->next = fk_captures;
	fk_captures = c;
	s->cap = c;
	s->cap_idx = 0;
	memset(s->vc, 0, sizeof(s->vc));
out:
	pthread_mutex_unlock(&fk_mu);
	return r;
}

/* v1 ABI (CUDA 10.0): no mode argument, the capture is Global */
/* The one-argument begin of CUDA 10.0 captures in Relaxed mode: measured on an H100 (CUDA 13,
 * driver 580): after cuStreamBeginCapture_ptsz(s), cuMemAlloc on the capturing thread returns 0
 * where a Global capture gives 900 (docs/gpu-runs/2026-11-25-h100-issue2-b.md). */
FK_EXPORT CUresult cuStreamBeginCapture(CUstream hStream)
{
	return fk_begin(hStream, 0, CU_STREAM_CAPTURE_MODE_RELAXED, NULL);
}

FK_EXPORT CUresult cuStreamBeginCapture_ptsz(CUstream hStream)
{
	return fk_begin(hStream, 1, CU_STREAM_CAPTURE_MODE_RELAXED, NULL);
}

FK_EXPORT CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode)
{
	return fk_begin(hStream, 0, mode, NULL);
}

FK_EXPORT CUresult cuStreamBeginCapture_v2_ptsz(CUstream hStream, CUstreamCaptureMode mode)
{
	return fk_begin(hStream, 1, mode, NULL);
}

/* Dependencies into the existing graph are accepted and not modelled (nodes are a list). */
static CUresult fk_begin_to_graph(CUstream h, int ptds, CUgraph g, size_t ndeps,
				  const CUgraphNode *deps, CUstreamCaptureMode mode)
{
	if (!g || (ndeps && !deps))
		return CUDA_ERROR_INVALID_VALUE;
	return fk_begin(h, ptds, mode, g);
}

FK_EXPORT CUresult cuStreamBeginCaptureToGraph(CUstream hStream, CUgraph hGraph,
					       const CUgraphNode *dependencies,
					       const CUgraphEdgeData *dependencyData,
					       size_t numDependencies, CUstreamCaptureMode mode)
{
	(void)dependencyData;
	return fk_begin_to_graph(hStream, 0, hGraph, numDependencies, dependencies, mode);
}

FK_EXPORT CUresult cuStreamBeginCaptureToGraph_ptsz(CUstream hStream, CUgraph hGraph,
						    const CUgraphNode *dependencies,
						    const CUgraphEdgeData *dependencyData,
						    size_t numDependencies, CUstreamCaptureMode mode)
{
	(void)dependencyData;
	return fk_begin_to_graph(hStream, 1, hGraph, numDependencies, dependencies, mode);
}

static void fk_capture_unlink(struct fk_capture *c)
{
	struct fk_capture **pp;
	int i;

	for (pp = &fk_captures; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	for (i = 0; i < c->nstreams; i++)
		c->streams[i]->cap = NULL;
	c->ended = 1;
}

static CUresult fk_end(CUstream h, int ptds, CUgraph *phGraph)
{
	struct CUstream_st *s, *origin;
	struct fk_capture *c;
	CUresult r;
	int i;

	if (!phGraph)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_mu);
	r = fk_stream_get(h, ptds, &s);
	if (r != CUDA_SUCCESS)
		goto out;
	c = s->cap;
	if (!c) {
		r = CUDA_ERROR_ILLEGAL_STATE;
		goto out;
	}
	origin = c->streams[0];
	if (origin != s) {
		/* ended from a joined stream: not where it began */
		fk_invalidate(c);
		r = CUDA_ERROR_STREAM_CAPTURE_UNMATCHED;
		goto out;
	}
	if (c->mode != CU_STREAM_CAPTURE_MODE_RELAXED && !pthread_equal(c->owner, pthread_self())) {
		r = CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD; /* the capture goes on */
		goto out;
	}
	fk_capture_unlink(c);
	*phGraph = NULL;
	if (c->invalidated) {
		r = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
		fk_log_error(r, "Capture was invalidated by a prior API call");
	} else {
		/* every joined stream's last work must be ordered before the origin's end */
		for (i = 1; i < c->nstreams; i++)
			if (c->streams[i]->vc[i] > origin->vc[i])
				r = CUDA_ERROR_STREAM_CAPTURE_UNJOINED;
	}
	if (r == CUDA_SUCCESS) {
		*phGraph = c->graph;
	} else if (!c->user_graph) {
		free(c->graph->nodes);
		c->graph->magic = 0;
		free(c->graph);
	}
	c->graph = NULL;
out:
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph)
{
	return fk_end(hStream, 0, phGraph);
}

FK_EXPORT CUresult cuStreamEndCapture_ptsz(CUstream hStream, CUgraph *phGraph)
{
	return fk_end(hStream, 1, phGraph);
}

/* Capture status; on the legacy stream while a blocking stream captures: 906, and (cuda.h) the
 * capture is NOT invalidated. */
static CUresult fk_capture_info(CUstream h, int ptds, CUstreamCaptureStatus *st, cuuint64_t *id,
				CUgraph *graph, const CUgraphNode **deps,
				const CUgraphEdgeData **edges, size_t *ndeps)
{
	struct CUstream_st *s;
	CUresult r;

	if (!st || (edges && !deps))
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_mu);
	r = fk_stream_get(h, ptds, &s);
	if (r != CUDA_SUCCESS)
		goto out;
	if (fk_is_legacy(s)) {
		if (fk_blocking_capture_active()) {
			r = CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
			goto out;
		}
		*st = CU_STREAM_CAPTURE_STATUS_NONE;
	} else if (!s->cap) {
		*st = CU_STREAM_CAPTURE_STATUS_NONE;
	} else {
		*st = s->cap->invalidated ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
					  : CU_STREAM_CAPTURE_STATUS_ACTIVE;
		if (id)
			*id = s->cap->id;
		if (graph)
			*graph = s->cap->graph;
	}
	/* graph nodes are not handed out by this fake: the dependency set reads as empty */
	if (deps)
		*deps = NULL;
	if (edges)
		*edges = NULL;
	if (ndeps)
		*ndeps = 0;
out:
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
	return fk_capture_info(hStream, 0, captureStatus, NULL, NULL, NULL, NULL, NULL);
}

FK_EXPORT CUresult cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus)
{
	return fk_capture_info(hStream, 1, captureStatus, NULL, NULL, NULL, NULL, NULL);
}

FK_EXPORT CUresult cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
					  cuuint64_t *id_out)
{
	return fk_capture_info(hStream, 0, captureStatus_out, id_out, NULL, NULL, NULL, NULL);
}

FK_EXPORT CUresult cuStreamGetCaptureInfo_ptsz(CUstream hStream,
					       CUstreamCaptureStatus *captureStatus_out,
					       cuuint64_t *id_out)
{
	return fk_capture_info(hStream, 1, captureStatus_out, id_out, NULL, NULL, NULL, NULL);
}

FK_EXPORT CUresult cuStreamGetCaptureInfo_v2(CUstream hStream,
					     CUstreamCaptureStatus *captureStatus_out,
					     cuuint64_t *id_out, CUgraph *graph_out,
					     const CUgraphNode **dependencies_out,
					     size_t *numDependencies_out)
{
	return fk_capture_info(hStream, 0, captureStatus_out, id_out, graph_out, dependencies_out,
			       NULL, numDependencies_out);
}

FK_EXPORT CUresult cuStreamGetCaptureInfo_v2_ptsz(CUstream hStream,
						  CUstreamCaptureStatus *captureStatus_out,
						  cuuint64_t *id_out, CUgraph *graph_out,
						  const CUgraphNode **dependencies_out,
						  size_t *numDependencies_out)
{
	return fk_capture_info(hStream, 1, captureStatus_out, id_out, graph_out, dependencies_out,
			       NULL, numDependencies_out);
}

FK_EXPORT CUresult cuStreamGetCaptureInfo_v3(CUstream hStream,
					     CUstreamCaptureStatus *captureStatus_out,
					     cuuint64_t *id_out, CUgraph *graph_out,
					     const CUgraphNode **dependencies_out,
					     const CUgraphEdgeData **edgeData_out,
					     size_t *numDependencies_out)
{
	return fk_capture_info(hStream, 0, captureStatus_out, id_out, graph_out, dependencies_out,
			       edgeData_out, numDependencies_out);
}

FK_EXPORT CUresult cuStreamGetCaptureInfo_v3_ptsz(CUstream hStream,
						  CUstreamCaptureStatus *captureStatus_out,
						  cuuint64_t *id_out, CUgraph *graph_out,
						  const CUgraphNode **dependencies_out,
						  const CUgraphEdgeData **edgeData_out,
						  size_t *numDependencies_out)
{
	return fk_capture_info(hStream, 1, captureStatus_out, id_out, graph_out, dependencies_out,
			       edgeData_out, numDependencies_out);
}

/* Device-wide synchronization: 900 and every active capture invalidated, from any thread in any
 * mode (measured, even Relaxed thread during a Relaxed capture). */
static CUresult fk_ctx_sync(void)
{
	struct fk_capture *c;
	CUresult r = CUDA_SUCCESS;

	pthread_mutex_lock(&fk_mu);
	for (c = fk_captures; c; c = c->next) {
		fk_invalidate(c);
		r = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	}
	if (r == CUDA_SUCCESS)
		fk_wait_all();
	else
		fk_log_error(r, "API call conflicts with a stream capture sequence");
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuCtxSynchronize(void)
{
	return fk_ctx_sync();
}

/* CUDA 13 variant with a context argument (cudaTypedefs.h: PFN_cuCtxSynchronize_v13000) */
FK_EXPORT CUresult cuCtxSynchronize_v2(CUcontext ctx)
{
	(void)ctx;
	return fk_ctx_sync();
}

/* cudaDeviceSetLimit's driver call: potentially unsafe during a capture (measured on an H200: 900
 * and the capture invalidated). The limits themselves are kept nowhere: the fake has no device. */
FK_EXPORT CUresult cuCtxSetLimit(CUlimit limit, size_t value)
{
	CUresult r;

	(void)value;
	pthread_mutex_lock(&fk_mu);
	r = fk_rule_unsafe(); /* before the argument: an invalid limit in a capture is 900 (measured, H200) */
	pthread_mutex_unlock(&fk_mu);
	if (r == CUDA_SUCCESS && ((int)limit < 0 || (int)limit >= CU_LIMIT_MAX))
		r = CUDA_ERROR_INVALID_VALUE;
	return r;
}

/* A query, legal during a capture; an attribute that does not exist is an error that concerns no
 * capture (logged as the driver logs its errors). The values are the fake device's: 1. */
FK_EXPORT CUresult cuDeviceGetAttribute(int *v, CUdevice_attribute attrib, CUdevice dev)
{
	if (!v || dev != 0 || (int)attrib <= 0 || (int)attrib >= CU_DEVICE_ATTRIBUTE_MAX) {
		fk_log_error(CUDA_ERROR_INVALID_VALUE, "Invalid device attribute enum value"); /* measured, H200 */
		return CUDA_ERROR_INVALID_VALUE;
	}
	*v = 1;
	return CUDA_SUCCESS;
}
