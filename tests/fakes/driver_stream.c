/* driver_stream.c - fake libcuda: streams, their FIFO of work and the worker threads that run it.
 * Each stream gets one detached worker (started on its first piece of work) that runs the ops in
 * order; host functions therefore never run on the caller's thread. The legacy stream orders
 * itself after every blocking stream and blocking streams after it, with FK_OP_WAIT ops.
 * Never holds fk_mu while running an op; capture rules live in driver_capture.c. */
#include "driver.h"

#include <stdlib.h>
#include <string.h>

pthread_mutex_t fk_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t fk_cv = PTHREAD_COND_INITIALIZER;

static struct CUstream_st fk_legacy = {
	.magic = FK_STREAM_MAGIC, .kind = FK_STREAM_LEGACY, .flags = CU_STREAM_DEFAULT,
};
/* every stream ever made, legacy first; streams are never freed, so pointers stay valid */
static struct CUstream_st *fk_all = &fk_legacy;
static __thread struct CUstream_st *fk_ptds;

int fk_is_legacy(const struct CUstream_st *s)
{
	return s->kind == FK_STREAM_LEGACY;
}

/* the per-thread default stream synchronizes with the legacy stream like a blocking stream */
int fk_is_blocking(const struct CUstream_st *s)
{
	return s->kind != FK_STREAM_LEGACY && !(s->flags & CU_STREAM_NON_BLOCKING);
}

static struct CUstream_st *fk_new_stream(enum fk_stream_kind kind, unsigned int flags)
{
	struct CUstream_st *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->magic = FK_STREAM_MAGIC;
	s->kind = kind;
	s->flags = flags;
	s->device = fk_current_device();
	s->next_all = fk_legacy.next_all;
	fk_legacy.next_all = s;
	return s;
}

/* Resolves a handle (caller holds fk_mu). ptds: the entry point is a _ptsz/_ptds variant, for
 * which stream 0 means the calling thread's per-thread default stream. */
CUresult fk_stream_get(CUstream h, int ptds, struct CUstream_st **out)
{
	if (h == CU_STREAM_LEGACY || (h == NULL && !ptds)) {
		*out = &fk_legacy;
		return CUDA_SUCCESS;
	}
	if (h == CU_STREAM_PER_THREAD || h == NULL) {
		if (!fk_ptds)
			fk_ptds = fk_new_stream(FK_STREAM_PER_THREAD, CU_STREAM_DEFAULT);
		if (!fk_ptds)
			return CUDA_ERROR_OUT_OF_MEMORY;
		*out = fk_ptds;
		return CUDA_SUCCESS;
	}
	if (h->magic != FK_STREAM_MAGIC || h->destroyed)
		return CUDA_ERROR_INVALID_HANDLE;
	*out = h;
	return CUDA_SUCCESS;
}

static void fk_run_op(const struct fk_op *op)
{
	switch (op->kind) {
	case FK_OP_HOST:
		op->fn(op->ud);
		break;
	case FK_OP_MEMSET:
		memset(op->dst, op->val, op->n);
		break;
	case FK_OP_MEMCPY:
		memmove(op->dst, op->src, op->n);
		break;
	case FK_OP_FREE:
		fk_mem_free_now(op->dst);
		break;
	case FK_OP_NOP:
	case FK_OP_WAIT:
		break;
	}
}

static void *fk_worker(void *arg)
{
	struct CUstream_st *s = arg;

	pthread_mutex_lock(&fk_mu);
	for (;;) {
		struct fk_op *op;

		while (!s->head && !s->destroyed)
			pthread_cond_wait(&fk_cv, &fk_mu);
		if (!s->head)
			break;
		op = s->head;
		if (op->kind == FK_OP_WAIT) {
			while (op->wait_stream->done < op->wait_ticket)
				pthread_cond_wait(&fk_cv, &fk_mu);
		} else {
			pthread_mutex_unlock(&fk_mu);
			fk_run_op(op);
			pthread_mutex_lock(&fk_mu);
		}
		s->head = op->next;
		if (!s->head)
			s->tail = NULL;
		s->done++;
		free(op);
		pthread_cond_broadcast(&fk_cv);
	}
	s->worker_running = 0;
	pthread_mutex_unlock(&fk_mu);
	return NULL;
}

static CUresult fk_push(struct CUstream_st *s, const struct fk_op *src)
{
	struct fk_op *op = malloc(sizeof(*op));

	if (!op)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*op = *src;
	op->next = NULL;
	if (!s->worker_running) {
		pthread_attr_t a;
		pthread_t t;
		int rc;

		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &a, fk_worker, s);
		pthread_attr_destroy(&a);
		if (rc != 0) {
			free(op);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		s->worker_running = 1;
	}
	if (s->tail)
		s->tail->next = op;
	else
		s->head = op;
	s->tail = op;
	s->enq++;
	pthread_cond_broadcast(&fk_cv);
	return CUDA_SUCCESS;
}

static CUresult fk_push_wait(struct CUstream_st *s, struct CUstream_st *on)
{
	struct fk_op w = { .kind = FK_OP_WAIT, .wait_stream = on, .wait_ticket = on->enq };

	return fk_push(s, &w);
}

/* Implicit synchronization between the legacy stream and blocking streams (CUDA's documented
 * legacy-default-stream semantics): the new op waits for the other side's earlier work. */
static CUresult fk_implicit_waits(struct CUstream_st *s)
{
	CUresult r = CUDA_SUCCESS;

	if (fk_is_legacy(s)) {
		struct CUstream_st *b;

		for (b = fk_all; b && r == CUDA_SUCCESS; b = b->next_all)
			if (fk_is_blocking(b) && !b->cap && b->done < b->enq)
				r = fk_push_wait(s, b);
	} else if (fk_is_blocking(s) && fk_legacy.done < fk_legacy.enq) {
		r = fk_push_wait(s, &fk_legacy);
	}
	return r;
}

/* Enqueues one op (caller holds fk_mu): recorded if s is capturing, else run by the worker.
 * Work on the legacy stream is refused (906) while a blocking stream captures. */
CUresult fk_submit(struct CUstream_st *s, const struct fk_op *op)
{
	CUresult r;

	if (s->cap)
		return fk_capture_record(s, op);
	if (fk_is_legacy(s) && (r = fk_rule_legacy()) != CUDA_SUCCESS)
		return r;
	if ((r = fk_implicit_waits(s)) != CUDA_SUCCESS)
		return r;
	return fk_push(s, op);
}

void fk_wait_ticket(struct CUstream_st *s, uint64_t ticket)
{
	while (s->done < ticket)
		pthread_cond_wait(&fk_cv, &fk_mu);
}

/* Ticket that completes when all work submitted to s so far (and, for the legacy stream, all
 * earlier work of blocking streams) has completed. Caller holds fk_mu; s is not capturing. */
uint64_t fk_stream_fence(struct CUstream_st *s)
{
	if (fk_is_legacy(s)) {
		struct fk_op nop = { .kind = FK_OP_NOP };

		if (fk_implicit_waits(s) == CUDA_SUCCESS)
			fk_push(s, &nop);
	}
	return s->enq;
}

/* A synchronous copy/memset: runs on the legacy (or per-thread) stream after its earlier work
 * and returns when done. Takes and releases fk_mu itself. */
CUresult fk_sync_legacy_op(const struct fk_op *op, int ptds)
{
	struct CUstream_st *s;
	CUresult r;

	pthread_mutex_lock(&fk_mu);
	r = fk_stream_get(NULL, ptds, &s);
	if (r == CUDA_SUCCESS && s->cap) {
		/* a synchronous operation on a capturing stream cannot be recorded */
		fk_invalidate(s->cap);
		r = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	}
	if (r == CUDA_SUCCESS)
		r = fk_submit(s, op);
	if (r == CUDA_SUCCESS)
		fk_wait_ticket(s, s->enq);
	pthread_mutex_unlock(&fk_mu);
	return r;
}

/* Waits for all work submitted so far on every stream (caller holds fk_mu). */
void fk_wait_all(void)
{
	struct CUstream_st *s;

	for (s = fk_all; s; s = s->next_all)
		fk_wait_ticket(s, s->enq); /* a capturing stream's enq no longer grows */
}

FK_EXPORT CUresult cuStreamCreate(CUstream *phStream, unsigned int Flags)
{
	struct CUstream_st *s;

	if (!phStream || (Flags & ~(unsigned int)CU_STREAM_NON_BLOCKING))
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_mu);
	s = fk_new_stream(FK_STREAM_USER, Flags);
	pthread_mutex_unlock(&fk_mu);
	if (!s)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*phStream = s;
	return CUDA_SUCCESS;
}

/* Pending work still completes (CUDA documents that); the struct is kept for late tickets. */
static CUresult fk_stream_destroy(CUstream h)
{
	CUresult r = CUDA_ERROR_INVALID_HANDLE;

	pthread_mutex_lock(&fk_mu);
	if (h && h != CU_STREAM_LEGACY && h != CU_STREAM_PER_THREAD &&
	    h->magic == FK_STREAM_MAGIC && !h->destroyed && h->kind == FK_STREAM_USER) {
		if (h->cap)
			fk_invalidate(h->cap); /* unmeasured: destroying a capturing stream */
		h->destroyed = 1;
		pthread_cond_broadcast(&fk_cv);
		r = CUDA_SUCCESS;
	}
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuStreamDestroy(CUstream hStream)
{
	return fk_stream_destroy(hStream);
}

FK_EXPORT CUresult cuStreamDestroy_v2(CUstream hStream)
{
	return fk_stream_destroy(hStream);
}

/* A query of a stream's properties: flags (what = 0) or device (what = 1). A user stream's device
 * is the one current when it was made; the legacy and per-thread streams are the current
 * context's. Asked of a capturing stream, both return 900 and invalidate the capture (measured on
 * an H200, docs/gpu-runs/2026-12-02-h200-issue14-part7.md; cuStreamGetId too; cuStreamGetPriority
 * and cuStreamGetCtx answer). */
static CUresult fk_stream_property(CUstream h, int ptds, int what, int *out)
{
	struct CUstream_st *s;
	CUresult r;

	if (!out)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_mu);
	r = fk_stream_get(h, ptds, &s);
	if (r == CUDA_SUCCESS && s->cap) {
		fk_invalidate(s->cap);
		r = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
	} else if (r == CUDA_SUCCESS && what == 0)
		*out = (int)s->flags;
	else if (r == CUDA_SUCCESS)
		*out = s->kind == FK_STREAM_USER ? s->device : fk_current_device();
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuStreamGetFlags(CUstream hStream, unsigned int *flags)
{
	return fk_stream_property(hStream, 0, 0, (int *)flags);
}

FK_EXPORT CUresult cuStreamGetFlags_ptsz(CUstream hStream, unsigned int *flags)
{
	return fk_stream_property(hStream, 1, 0, (int *)flags);
}

FK_EXPORT CUresult cuStreamGetDevice(CUstream hStream, CUdevice *device)
{
	return fk_stream_property(hStream, 0, 1, device);
}

FK_EXPORT CUresult cuStreamGetDevice_ptsz(CUstream hStream, CUdevice *device)
{
	return fk_stream_property(hStream, 1, 1, device);
}

/* Synchronize (query == 0) or query a stream, after the capture rules:
 * a capturing stream: 900 and its capture is invalidated, whatever the modes;
 * any other stream: the "potentially unsafe" rule (900 where the thread's mode forbids it);
 * the legacy stream while a blocking stream captures: 906 (implicit dependency). */
static CUresult fk_stream_wait(CUstream h, int ptds, int query)
{
	struct CUstream_st *s;
	CUresult r;

	pthread_mutex_lock(&fk_mu);
	r = fk_stream_get(h, ptds, &s);
	if (r != CUDA_SUCCESS)
		goto out;
	if (s->cap) {
		fk_invalidate(s->cap);
		r = CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
		goto out;
	}
	if ((r = fk_rule_unsafe()) != CUDA_SUCCESS)
		goto out;
	if (fk_is_legacy(s) && (r = fk_rule_legacy()) != CUDA_SUCCESS)
		goto out;
	if (query) {
		uint64_t t = s->enq;

		r = s->done < t ? CUDA_ERROR_NOT_READY : CUDA_SUCCESS;
	} else {
		fk_wait_ticket(s, fk_stream_fence(s));
	}
out:
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuStreamSynchronize(CUstream hStream)
{
	return fk_stream_wait(hStream, 0, 0);
}

FK_EXPORT CUresult cuStreamSynchronize_ptsz(CUstream hStream)
{
	return fk_stream_wait(hStream, 1, 0);
}

FK_EXPORT CUresult cuStreamQuery(CUstream hStream)
{
	return fk_stream_wait(hStream, 0, 1);
}

FK_EXPORT CUresult cuStreamQuery_ptsz(CUstream hStream)
{
	return fk_stream_wait(hStream, 1, 1);
}

/* Enqueue one operation on a stream handle: the asynchronous entry points' common path. */
CUresult fk_submit_on(CUstream h, int ptds, const struct fk_op *op)
{
	struct CUstream_st *s;
	CUresult r;

	pthread_mutex_lock(&fk_mu);
	r = fk_stream_get(h, ptds, &s);
	if (r == CUDA_SUCCESS)
		r = fk_submit(s, op);
	pthread_mutex_unlock(&fk_mu);
	return r;
}

static CUresult fk_launch_host(CUstream h, CUhostFn fn, void *ud, int ptds)
{
	struct fk_op op = { .kind = FK_OP_HOST, .fn = fn, .ud = ud };

	if (!fn)
		return CUDA_ERROR_INVALID_VALUE;
	return fk_submit_on(h, ptds, &op);
}

FK_EXPORT CUresult cuLaunchHostFunc(CUstream hStream, CUhostFn fn, void *userData)
{
	return fk_launch_host(hStream, fn, userData, 0);
}

FK_EXPORT CUresult cuLaunchHostFunc_ptsz(CUstream hStream, CUhostFn fn, void *userData)
{
	return fk_launch_host(hStream, fn, userData, 1);
}
