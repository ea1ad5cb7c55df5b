/* driver_event.c - fake libcuda: events (record, wait, query, synchronize; capture joins through
 * events) and graphs (create, instantiate, launch = replay of the recorded nodes, destroy).
 * Capture legality comes from driver_capture.c; this file only applies it. */
#include "driver.h"

#include <stdlib.h>
#include <string.h>

static int fk_event_ok(CUevent e)
{
	return e && e->magic == FK_EVENT_MAGIC;
}

static int fk_event_in_capture(CUevent e)
{
	return e->cap && !e->cap->ended;
}

FK_EXPORT CUresult cuEventCreate(CUevent *phEvent, unsigned int Flags)
{
	const unsigned int known = CU_EVENT_BLOCKING_SYNC | CU_EVENT_DISABLE_TIMING |
				   CU_EVENT_INTERPROCESS;
	struct CUevent_st *e;

	if (!phEvent || (Flags & ~known))
		return CUDA_ERROR_INVALID_VALUE;
	e = calloc(1, sizeof(*e));
	if (!e)
		return CUDA_ERROR_OUT_OF_MEMORY;
	e->magic = FK_EVENT_MAGIC;
	e->flags = Flags;
	*phEvent = e;
	return CUDA_SUCCESS;
}

static CUresult fk_event_destroy(CUevent e)
{
	if (!fk_event_ok(e))
		return CUDA_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&fk_mu);
	e->magic = 0;
	pthread_mutex_unlock(&fk_mu);
	free(e);
	return CUDA_SUCCESS;
}

FK_EXPORT CUresult cuEventDestroy(CUevent hEvent)
{
	return fk_event_destroy(hEvent);
}

FK_EXPORT CUresult cuEventDestroy_v2(CUevent hEvent)
{
	return fk_event_destroy(hEvent);
}

/* Recording in a capturing stream marks the event as captured (it then stands for the
 * stream's capture position, used by joins); outside capture it gets a completion ticket. */
static CUresult fk_event_record(CUevent e, CUstream h, int ptds)
{
	struct CUstream_st *s;
	CUresult r;

	if (!fk_event_ok(e))
		return CUDA_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&fk_mu);
	r = fk_stream_get(h, ptds, &s);
	if (r != CUDA_SUCCESS)
		goto out;
	if (s->cap) {
		if (s->cap->invalidated) {
			r = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
			goto out;
		}
		e->cap = s->cap;
		e->cap_idx = s->cap_idx;
		memcpy(e->vc, s->vc, sizeof(e->vc));
		e->stream = NULL;
		goto out;
	}
	if (fk_is_legacy(s) && (r = fk_rule_legacy()) != CUDA_SUCCESS)
		goto out;
	e->cap = NULL;
	e->stream = s;
	e->ticket = fk_stream_fence(s);
out:
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuEventRecord(CUevent hEvent, CUstream hStream)
{
	return fk_event_record(hEvent, hStream, 0);
}

FK_EXPORT CUresult cuEventRecord_ptsz(CUevent hEvent, CUstream hStream)
{
	return fk_event_record(hEvent, hStream, 1);
}

FK_EXPORT CUresult cuEventRecordWithFlags(CUevent hEvent, CUstream hStream, unsigned int flags)
{
	if (flags & ~(unsigned int)CU_EVENT_RECORD_EXTERNAL)
		return CUDA_ERROR_INVALID_VALUE;
	return fk_event_record(hEvent, hStream, 0);
}

FK_EXPORT CUresult cuEventRecordWithFlags_ptsz(CUevent hEvent, CUstream hStream,
					       unsigned int flags)
{
	if (flags & ~(unsigned int)CU_EVENT_RECORD_EXTERNAL)
		return CUDA_ERROR_INVALID_VALUE;
	return fk_event_record(hEvent, hStream, 1);
}

/* Synchronize (query == 0) or query an event: recorded in an active capture -> 907 and that
 * capture invalidated (measured); otherwise a "potentially unsafe" call. */
static CUresult fk_event_wait(CUevent e, int query)
{
	CUresult r = CUDA_SUCCESS;

	if (!fk_event_ok(e))
		return CUDA_ERROR_INVALID_HANDLE;
	pthread_mutex_lock(&fk_mu);
	if (fk_event_in_capture(e)) {
		fk_invalidate(e->cap);
		r = CUDA_ERROR_CAPTURED_EVENT;
	} else if ((r = fk_rule_unsafe()) == CUDA_SUCCESS && e->stream) {
		if (query)
			r = e->stream->done < e->ticket ? CUDA_ERROR_NOT_READY : CUDA_SUCCESS;
		else
			fk_wait_ticket(e->stream, e->ticket);
	}
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuEventSynchronize(CUevent hEvent)
{
	return fk_event_wait(hEvent, 0);
}

FK_EXPORT CUresult cuEventQuery(CUevent hEvent)
{
	return fk_event_wait(hEvent, 1);
}

/* s joins (or already is in) the capture of captured event e (caller holds fk_mu). */
static CUresult fk_join(struct CUstream_st *s, CUevent e)
{
	struct fk_capture *c = e->cap;
	int i;

	if (s->cap && s->cap != c) {
		/* two capture sequences would merge (cuda.h: CUDA_ERROR_STREAM_CAPTURE_MERGE) */
		fk_invalidate(s->cap);
		fk_invalidate(c);
		return CUDA_ERROR_STREAM_CAPTURE_MERGE;
	}
	if (c->invalidated)
		return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
	if (!s->cap) {
		if (fk_is_legacy(s)) {
			fk_invalidate(c);
			return CUDA_ERROR_STREAM_CAPTURE_IMPLICIT;
		}
		if (c->nstreams == FK_MAX_CAP_STREAMS)
			return CUDA_ERROR_OUT_OF_MEMORY; /* a limit of this fake only */
		s->cap = c;
		s->cap_idx = c->nstreams;
		c->streams[c->nstreams++] = s;
		memset(s->vc, 0, sizeof(s->vc));
	}
	for (i = 0; i < FK_MAX_CAP_STREAMS; i++)
		if (e->vc[i] > s->vc[i])
			s->vc[i] = e->vc[i];
	return CUDA_SUCCESS;
}

static CUresult fk_stream_wait_event(CUstream h, CUevent e, unsigned int flags, int ptds)
{
	struct CUstream_st *s;
	CUresult r;

	if (!fk_event_ok(e))
		return CUDA_ERROR_INVALID_HANDLE;
	if (flags & ~(unsigned int)CU_EVENT_WAIT_EXTERNAL)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_mu);
	r = fk_stream_get(h, ptds, &s);
	if (r != CUDA_SUCCESS)
		goto out;
	if (fk_event_in_capture(e)) {
		r = fk_join(s, e);
	} else if (s->cap) {
		/* A capturing stream may wait only on events of its own capture, unless the wait is
		 * external (CUDA programming guide, "Prohibited and Unhandled Operations"). */
		if (s->cap->invalidated) {
			r = CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
		} else if (!(flags & CU_EVENT_WAIT_EXTERNAL)) {
			fk_invalidate(s->cap);
			r = CUDA_ERROR_STREAM_CAPTURE_ISOLATION;
		}
	} else if (e->stream) {
		struct fk_op w = { .kind = FK_OP_WAIT, .wait_stream = e->stream,
				   .wait_ticket = e->ticket };

		r = fk_submit(s, &w);
	} else if (fk_is_legacy(s)) {
		r = fk_rule_legacy();
	}
out:
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuStreamWaitEvent(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
	return fk_stream_wait_event(hStream, hEvent, Flags, 0);
}

FK_EXPORT CUresult cuStreamWaitEvent_ptsz(CUstream hStream, CUevent hEvent, unsigned int Flags)
{
	return fk_stream_wait_event(hStream, hEvent, Flags, 1);
}

FK_EXPORT CUresult cuGraphCreate(CUgraph *phGraph, unsigned int flags)
{
	struct CUgraph_st *g;

	if (!phGraph || flags)
		return CUDA_ERROR_INVALID_VALUE;
	g = calloc(1, sizeof(*g));
	if (!g)
		return CUDA_ERROR_OUT_OF_MEMORY;
	g->magic = FK_GRAPH_MAGIC;
	*phGraph = g;
	return CUDA_SUCCESS;
}

FK_EXPORT CUresult cuGraphDestroy(CUgraph hGraph)
{
	if (!hGraph || hGraph->magic != FK_GRAPH_MAGIC)
		return CUDA_ERROR_INVALID_VALUE;
	hGraph->magic = 0;
	free(hGraph->nodes);
	free(hGraph);
	return CUDA_SUCCESS;
}

static CUresult fk_instantiate(CUgraphExec *ph, CUgraph g)
{
	struct CUgraphExec_st *x;

	if (!ph || !g || g->magic != FK_GRAPH_MAGIC)
		return CUDA_ERROR_INVALID_VALUE;
	x = calloc(1, sizeof(*x));
	if (!x)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&fk_mu);
	x->n = g->n;
	x->nodes = g->n ? malloc(g->n * sizeof(*x->nodes)) : NULL;
	if (x->nodes)
		memcpy(x->nodes, g->nodes, g->n * sizeof(*x->nodes));
	pthread_mutex_unlock(&fk_mu);
	if (g->n && !x->nodes) {
		free(x);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	x->magic = FK_EXEC_MAGIC;
	*ph = x;
	return CUDA_SUCCESS;
}

FK_EXPORT CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
					       unsigned long long flags)
{
	(void)flags; /* auto-free-on-launch, upload, device-launch, priority: not modelled */
	return fk_instantiate(phGraphExec, hGraph);
}

/* CUDA 12's: the flags in a struct, the result written back */
FK_EXPORT CUresult cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
						CUDA_GRAPH_INSTANTIATE_PARAMS *params)
{
	CUresult rc = fk_instantiate(phGraphExec, hGraph);
	if (params) {
		params->hErrNode_out = NULL;
		params->result_out = rc == CUDA_SUCCESS ? CUDA_GRAPH_INSTANTIATE_SUCCESS : CUDA_GRAPH_INSTANTIATE_ERROR;
	}
	return rc;
}

/* CUDA 10/11 ABI: error node and log buffer */
FK_EXPORT CUresult cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph,
				      CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize)
{
	if (phErrorNode)
		*phErrorNode = NULL;
	if (logBuffer && bufferSize)
		logBuffer[0] = '\0';
	return fk_instantiate(phGraphExec, hGraph);
}

FK_EXPORT CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph,
					 CUgraphNode *phErrorNode, char *logBuffer,
					 size_t bufferSize)
{
	return cuGraphInstantiate(phGraphExec, hGraph, phErrorNode, logBuffer, bufferSize);
}

FK_EXPORT CUresult cuGraphExecDestroy(CUgraphExec hGraphExec)
{
	if (!hGraphExec || hGraphExec->magic != FK_EXEC_MAGIC)
		return CUDA_ERROR_INVALID_VALUE;
	hGraphExec->magic = 0;
	free(hGraphExec->nodes);
	free(hGraphExec);
	return CUDA_SUCCESS;
}

/* Enqueues the recorded nodes in recorded order (into the capture if the stream captures:
 * CUDA then adds a child-graph node; here the nodes are copied). */
static CUresult fk_graph_launch(CUgraphExec x, CUstream h, int ptds)
{
	struct CUstream_st *s;
	CUresult r;
	size_t i;

	if (!x || x->magic != FK_EXEC_MAGIC)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_mu);
	r = fk_stream_get(h, ptds, &s);
	if (r == CUDA_SUCCESS && fk_is_legacy(s))
		r = fk_rule_legacy();
	for (i = 0; r == CUDA_SUCCESS && i < x->n; i++)
		r = fk_submit(s, &x->nodes[i]);
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream)
{
	return fk_graph_launch(hGraphExec, hStream, 0);
}

FK_EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream)
{
	return fk_graph_launch(hGraphExec, hStream, 1);
}
