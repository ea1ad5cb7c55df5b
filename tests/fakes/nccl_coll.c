/* nccl_coll.c - fake libnccl.so.2: collectives, point-to-point and groups.
 * A collective call only validates its arguments and enqueues, with the driver's
 * cuLaunchHostFunc on the caller's stream, a host function that does the work when the stream
 * reaches it: every rank copies its contribution into a shared-memory segment keyed by the
 * comm and the comm's collective sequence number, waits for all ranks, and reads the result
 * (device buffers of the fake driver are host memory, so the host function reads and writes
 * them directly). Made while the stream captures, the host function is recorded into the graph
 * (allowed during capture, DEVICE-FACTS) and runs at every graph launch, each time with the
 * next sequence number, taken when it runs. All ranks must therefore run their collectives on
 * a comm in the same order, as with real NCCL.
 * Point-to-point: a send leaves its bytes in a mailbox segment and never waits; a receive
 * waits for the matching send. Never waits for peers on the caller's thread. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes" /* nccl.h declares f() prototypes */
#include <nccl.h>
#pragma GCC diagnostic pop
#include <cuda.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NX_HIDDEN __attribute__((visibility("hidden")))
#define NX_API __attribute__((visibility("default")))
#define NX_ALIAS(name) \
	extern __typeof(p##name) name __attribute__((weak, alias("p" #name), visibility("default")))
#define NX_KEY_LEN 128

/* nccl.h declares these without (void); with it they have prototypes */
ncclResult_t pncclGroupStart(void);
ncclResult_t ncclGroupStart(void);
ncclResult_t pncclGroupEnd(void);
ncclResult_t ncclGroupEnd(void);

/* ---- the interface of nccl_shm.c, nccl_driver.c and nccl_comm.c (defined there) ---- */
NX_HIDDEN ncclResult_t nx_shm_gather(const char *key, int nranks, int rank, const void *mine,
				     size_t n, const char **base, size_t *stride, void **handle);
NX_HIDDEN void nx_shm_leave(void *handle);
NX_HIDDEN ncclResult_t nx_shm_put(const char *key, const void *buf, size_t n);
NX_HIDDEN ncclResult_t nx_shm_get(const char *key, void *buf, size_t n);
NX_HIDDEN void nx_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
NX_HIDDEN ncclResult_t nx_comm_check(ncclComm_t comm, uint64_t *serial, int *rank, int *nranks);
NX_HIDDEN ncclResult_t nx_comm_next(uint64_t serial, int kind, int peer, char *key, size_t len,
				    int *rank, int *nranks);
NX_HIDDEN ncclResult_t nx_cu_launch_host(CUstream stream, CUhostFn fn, void *arg);
NX_HIDDEN ncclResult_t nx_cu_capturing(CUstream stream, int *capturing);
/* ---- end of the interfaces ---- */

enum nx_kind { NX_ALLREDUCE, NX_BROADCAST, NX_REDUCE, NX_ALLGATHER, NX_REDUCESCATTER, NX_SEND,
	       NX_RECV };

/* One enqueued operation: the host function's argument. Ops recorded into a graph run at each
 * launch and are kept (reachable) for the life of the process; eager ops free themselves. */
struct nx_op {
	enum nx_kind kind;
	uint64_t serial;       /* the comm, looked up again when the op runs */
	const void *send;
	void *recv;
	size_t count;          /* elements: per rank for allgather, received for reduce-scatter */
	ncclDataType_t dt;
	ncclRedOp_t op;
	int root;              /* root, or peer for send/recv */
	CUstream stream;
	int persistent;
	struct nx_op *next;
};

static pthread_mutex_t nx_coll_mu = PTHREAD_MUTEX_INITIALIZER;
static struct nx_op *nx_recorded;     /* ops recorded into graphs */
static __thread int nx_group_depth;
static __thread struct nx_op *nx_group_head, *nx_group_tail;

/* ---- element types and reductions ---- */

static size_t nx_type_size(ncclDataType_t dt)
{
	switch (dt) {
	case ncclInt8: case ncclUint8: case ncclFloat8e4m3: case ncclFloat8e5m2: return 1;
	case ncclFloat16: case ncclBfloat16: return 2;
	case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
	case ncclInt64: case ncclUint64: case ncclFloat64: return 8;
	default: return 0;
	}
}

static float nx_half_to_float(uint16_t h)
{
	uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, f;
	float v;

	if (e == 0) {
		v = (float)m / 16777216.0f; /* subnormal: m * 2^-24 */
		return s ? -v : v;
	}
	f = e == 31 ? s | 0x7f800000u | (m << 13) : s | ((e + 112) << 23) | (m << 13);
	memcpy(&v, &f, sizeof(v));
	return v;
}

/* round to nearest, ties to even */
static uint16_t nx_float_to_half(float x)
{
	uint32_t f, m, s, rem, hm, shift;
	int32_t e;
	uint16_t h;

	memcpy(&f, &x, sizeof(f));
	s = (f >> 16) & 0x8000u;
	e = (int32_t)((f >> 23) & 0xff);
	m = f & 0x7fffffu;
	if (e == 255)
		return (uint16_t)(s | 0x7c00u | (m ? 0x200u : 0));
	e = e - 127 + 15;
	if (e >= 31)
		return (uint16_t)(s | 0x7c00u);
	if (e <= 0) {
		if (e < -10)
			return (uint16_t)s;
		m |= 0x800000u;
		shift = (uint32_t)(14 - e);
		hm = m >> shift;
		rem = m & ((1u << shift) - 1);
		if (rem > (1u << (shift - 1)) || (rem == (1u << (shift - 1)) && (hm & 1)))
			hm++;
		return (uint16_t)(s | hm);
	}
	h = (uint16_t)(s | ((uint32_t)e << 10) | (m >> 13));
	rem = m & 0x1fffu;
	if (rem > 0x1000u || (rem == 0x1000u && (h & 1)))
		h++; /* a carry into the exponent rounds up correctly, to infinity at the top */
	return h;
}

static float nx_bf16_to_float(uint16_t b)
{
	uint32_t f = (uint32_t)b << 16;
	float v;

	memcpy(&v, &f, sizeof(v));
	return v;
}

static uint16_t nx_float_to_bf16(float x)
{
	uint32_t f;

	memcpy(&f, &x, sizeof(f));
	if ((f & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((f >> 16) | 0x40u); /* quiet NaN */
	f += 0x7fffu + ((f >> 16) & 1);
	return (uint16_t)(f >> 16);
}

/* Integers add and multiply in their unsigned type (wrapping, as on the GPU). */
#define NX_ACC_INT(T, U) \
	do { \
		T *d_ = dst; \
		const T *s_ = src; \
		for (i = 0; i < count; i++) { \
			if (op == ncclSum || op == ncclAvg) \
				d_[i] = (T)((U)d_[i] + (U)s_[i]); \
			else if (op == ncclProd) \
				d_[i] = (T)((U)d_[i] * (U)s_[i]); \
			else if (op == ncclMax) \
				d_[i] = d_[i] > s_[i] ? d_[i] : s_[i]; \
			else \
				d_[i] = d_[i] < s_[i] ? d_[i] : s_[i]; \
		} \
	} while (0)

#define NX_APPLY(a, b) \
	(op == ncclSum || op == ncclAvg ? (a) + (b) : op == ncclProd ? (a) * (b) \
	 : op == ncclMax ? ((a) > (b) ? (a) : (b)) : ((a) < (b) ? (a) : (b)))

#define NX_ACC_FLT(T) \
	do { \
		T *d_ = dst; \
		const T *s_ = src; \
		for (i = 0; i < count; i++) \
			d_[i] = NX_APPLY(d_[i], s_[i]); \
	} while (0)

/* 16-bit floats are combined in float and rounded back at each step. */
#define NX_ACC_16(TO_F, FROM_F) \
	do { \
		uint16_t *d_ = dst; \
		const uint16_t *s_ = src; \
		for (i = 0; i < count; i++) { \
			float a_ = TO_F(d_[i]), b_ = TO_F(s_[i]); \
			d_[i] = FROM_F(NX_APPLY(a_, b_)); \
		} \
	} while (0)

/* dst = dst (op) src, element-wise */
static void nx_accumulate(void *dst, const void *src, size_t count, ncclDataType_t dt,
			  ncclRedOp_t op)
{
	size_t i;

	switch (dt) {
	case ncclInt8: NX_ACC_INT(int8_t, uint8_t); break;
	case ncclUint8: NX_ACC_INT(uint8_t, uint8_t); break;
	case ncclInt32: NX_ACC_INT(int32_t, uint32_t); break;
	case ncclUint32: NX_ACC_INT(uint32_t, uint32_t); break;
	case ncclInt64: NX_ACC_INT(int64_t, uint64_t); break;
	case ncclUint64: NX_ACC_INT(uint64_t, uint64_t); break;
	case ncclFloat32: NX_ACC_FLT(float); break;
	case ncclFloat64: NX_ACC_FLT(double); break;
	case ncclFloat16: NX_ACC_16(nx_half_to_float, nx_float_to_half); break;
	case ncclBfloat16: NX_ACC_16(nx_bf16_to_float, nx_float_to_bf16); break;
	default: break; /* refused when enqueued */
	}
}

#define NX_DIV(T) \
	do { \
		T *d_ = dst; \
		for (i = 0; i < count; i++) \
			d_[i] = (T)(d_[i] / (T)n); \
	} while (0)

/* ncclAvg: the sum divided by the number of ranks */
static void nx_divide(void *dst, size_t count, ncclDataType_t dt, int n)
{
	uint16_t *h = dst;
	size_t i;

	switch (dt) {
	case ncclInt8: NX_DIV(int8_t); break;
	case ncclUint8: NX_DIV(uint8_t); break;
	case ncclInt32: NX_DIV(int32_t); break;
	case ncclUint32: NX_DIV(uint32_t); break;
	case ncclInt64: NX_DIV(int64_t); break;
	case ncclUint64: NX_DIV(uint64_t); break;
	case ncclFloat32: NX_DIV(float); break;
	case ncclFloat64: NX_DIV(double); break;
	case ncclFloat16:
		for (i = 0; i < count; i++)
			h[i] = nx_float_to_half(nx_half_to_float(h[i]) / (float)n);
		break;
	case ncclBfloat16:
		for (i = 0; i < count; i++)
			h[i] = nx_float_to_bf16(nx_bf16_to_float(h[i]) / (float)n);
		break;
	default: break;
	}
}

/* recv = slot[0] (op) slot[1] ... in rank order, identically on every rank */
static void nx_reduce_slots(void *recv, const char *base, size_t stride, size_t off,
			    size_t count, ncclDataType_t dt, ncclRedOp_t op, int nranks)
{
	int r;

	memcpy(recv, base + off, count * nx_type_size(dt));
	for (r = 1; r < nranks; r++)
		nx_accumulate(recv, base + (size_t)r * stride + off, count, dt, op);
	if (op == ncclAvg)
		nx_divide(recv, count, dt, nranks);
}

/* ---- running an op (on the stream's worker thread) ---- */

static ncclResult_t nx_run_collective(const struct nx_op *o, const char *key, int rank,
				      int nranks)
{
	size_t esz = nx_type_size(o->dt), bytes = o->count * esz, contrib = bytes, stride;
	const void *mine = o->send;
	const char *base;
	void *h;
	ncclResult_t r;
	int i;

	if (o->kind == NX_REDUCESCATTER)
		contrib = bytes * (size_t)nranks;
	if (o->kind == NX_BROADCAST && rank != o->root)
		mine = NULL;
	r = nx_shm_gather(key, nranks, rank, mine, contrib, &base, &stride, &h);
	if (r != ncclSuccess)
		return r;
	switch (o->kind) {
	case NX_ALLREDUCE:
		nx_reduce_slots(o->recv, base, stride, 0, o->count, o->dt, o->op, nranks);
		break;
	case NX_REDUCE:
		if (rank == o->root)
			nx_reduce_slots(o->recv, base, stride, 0, o->count, o->dt, o->op, nranks);
		break;
	case NX_REDUCESCATTER:
		nx_reduce_slots(o->recv, base, stride, (size_t)rank * bytes, o->count, o->dt, o->op,
				nranks);
		break;
	case NX_BROADCAST:
		memcpy(o->recv, base + (size_t)o->root * stride, bytes);
		break;
	case NX_ALLGATHER:
		for (i = 0; i < nranks; i++)
			memcpy((char *)o->recv + (size_t)i * bytes, base + (size_t)i * stride, bytes);
		break;
	default:
		break;
	}
	nx_shm_leave(h);
	return ncclSuccess;
}

static void nx_run(void *arg)
{
	static const char *const names[] = { "AllReduce", "Broadcast", "Reduce", "AllGather",
					     "ReduceScatter", "Send", "Recv" };
	struct nx_op *o = arg;
	char key[NX_KEY_LEN];
	int rank, nranks, kind = o->kind == NX_SEND ? 1 : o->kind == NX_RECV ? 2 : 0;
	size_t bytes = o->count * nx_type_size(o->dt);
	ncclResult_t r;

	r = nx_comm_next(o->serial, kind, o->root, key, sizeof(key), &rank, &nranks);
	if (r != ncclSuccess)
		nx_error("nccl%s ran after its communicator was destroyed", names[o->kind]);
	else if (o->kind == NX_SEND)
		r = nx_shm_put(key, o->send, bytes);
	else if (o->kind == NX_RECV)
		r = nx_shm_get(key, o->recv, bytes);
	else
		r = nx_run_collective(o, key, rank, nranks);
	/* nobody is left to return an error to: say it (the buffers are left as they were) */
	if (r != ncclSuccess)
		fprintf(stderr, "fake NCCL: %d: nccl%s failed on its stream: %s\n", (int)getpid(),
			names[o->kind], pncclGetErrorString(r));
	if (!o->persistent)
		free(o);
}

/* ---- enqueueing ---- */

static ncclResult_t nx_launch(struct nx_op *o)
{
	int capturing = 0;
	ncclResult_t r = nx_cu_capturing(o->stream, &capturing);

	if (r != ncclSuccess) {
		free(o);
		return r;
	}
	o->persistent = capturing;
	r = nx_cu_launch_host(o->stream, nx_run, o);
	if (r != ncclSuccess) {
		free(o);
		return r;
	}
	if (capturing) { /* not run before the graph is launched: safe to touch */
		pthread_mutex_lock(&nx_coll_mu);
		o->next = nx_recorded;
		nx_recorded = o;
		pthread_mutex_unlock(&nx_coll_mu);
	}
	return ncclSuccess;
}

/* Validates what all operations share, then launches (or, inside a group, queues) a copy. */
static ncclResult_t nx_enqueue(const struct nx_op *tmpl, ncclComm_t comm, int reduces)
{
	struct nx_op *o;
	uint64_t serial;
	int rank, nranks;
	ncclResult_t r = nx_comm_check(comm, &serial, &rank, &nranks);

	if (r != ncclSuccess)
		return r;
	if (!nx_type_size(tmpl->dt) || (reduces && ((unsigned int)tmpl->op >= ncclNumOps ||
						    tmpl->dt == ncclFloat8e4m3 ||
						    tmpl->dt == ncclFloat8e5m2))) {
		nx_error("unsupported datatype %d or reduction %d", (int)tmpl->dt, (int)tmpl->op);
		return ncclInvalidArgument;
	}
	if ((tmpl->kind != NX_ALLREDUCE && tmpl->kind != NX_ALLGATHER &&
	     tmpl->kind != NX_REDUCESCATTER) && (tmpl->root < 0 || tmpl->root >= nranks)) {
		nx_error("root or peer %d out of range (%d ranks)", tmpl->root, nranks);
		return ncclInvalidArgument;
	}
	if (tmpl->count == 0)
		return ncclSuccess; /* nothing to move; NCCL enqueues nothing either */
	if ((!tmpl->send && tmpl->kind != NX_RECV &&
	     (tmpl->kind != NX_BROADCAST || rank == tmpl->root)) ||
	    (!tmpl->recv && tmpl->kind != NX_SEND && (tmpl->kind != NX_REDUCE || rank == tmpl->root))) {
		nx_error("NULL buffer");
		return ncclInvalidArgument;
	}
	o = malloc(sizeof(*o));
	if (!o)
		return ncclSystemError;
	*o = *tmpl;
	o->serial = serial;
	o->next = NULL;
	if (nx_group_depth > 0) {
		if (nx_group_tail)
			nx_group_tail->next = o;
		else
			nx_group_head = o;
		nx_group_tail = o;
		return ncclSuccess;
	}
	return nx_launch(o);
}

#define NX_STREAM(s) ((CUstream)(s))

NX_API ncclResult_t pncclAllReduce(const void *sendbuff, void *recvbuff, size_t count,
				   ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
				   cudaStream_t stream)
{
	struct nx_op t = { .kind = NX_ALLREDUCE, .send = sendbuff, .recv = recvbuff,
			   .count = count, .dt = datatype, .op = op, .stream = NX_STREAM(stream) };

	return nx_enqueue(&t, comm, 1);
}
NX_ALIAS(ncclAllReduce);

NX_API ncclResult_t pncclBroadcast(const void *sendbuff, void *recvbuff, size_t count,
				   ncclDataType_t datatype, int root, ncclComm_t comm,
				   cudaStream_t stream)
{
	struct nx_op t = { .kind = NX_BROADCAST, .send = sendbuff, .recv = recvbuff,
			   .count = count, .dt = datatype, .root = root,
			   .stream = NX_STREAM(stream) };

	return nx_enqueue(&t, comm, 0);
}
NX_ALIAS(ncclBroadcast);

NX_API ncclResult_t pncclBcast(void *buff, size_t count, ncclDataType_t datatype, int root,
			       ncclComm_t comm, cudaStream_t stream)
{
	return pncclBroadcast(buff, buff, count, datatype, root, comm, stream);
}
NX_ALIAS(ncclBcast);

NX_API ncclResult_t pncclReduce(const void *sendbuff, void *recvbuff, size_t count,
				ncclDataType_t datatype, ncclRedOp_t op, int root, ncclComm_t comm,
				cudaStream_t stream)
{
	struct nx_op t = { .kind = NX_REDUCE, .send = sendbuff, .recv = recvbuff, .count = count,
			   .dt = datatype, .op = op, .root = root, .stream = NX_STREAM(stream) };

	return nx_enqueue(&t, comm, 1);
}
NX_ALIAS(ncclReduce);

NX_API ncclResult_t pncclAllGather(const void *sendbuff, void *recvbuff, size_t sendcount,
				   ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream)
{
	struct nx_op t = { .kind = NX_ALLGATHER, .send = sendbuff, .recv = recvbuff,
			   .count = sendcount, .dt = datatype, .stream = NX_STREAM(stream) };

	return nx_enqueue(&t, comm, 0);
}
NX_ALIAS(ncclAllGather);

NX_API ncclResult_t pncclReduceScatter(const void *sendbuff, void *recvbuff, size_t recvcount,
				       ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
				       cudaStream_t stream)
{
	struct nx_op t = { .kind = NX_REDUCESCATTER, .send = sendbuff, .recv = recvbuff,
			   .count = recvcount, .dt = datatype, .op = op,
			   .stream = NX_STREAM(stream) };

	return nx_enqueue(&t, comm, 1);
}
NX_ALIAS(ncclReduceScatter);

NX_API ncclResult_t pncclSend(const void *sendbuff, size_t count, ncclDataType_t datatype,
			      int peer, ncclComm_t comm, cudaStream_t stream)
{
	struct nx_op t = { .kind = NX_SEND, .send = sendbuff, .count = count, .dt = datatype,
			   .root = peer, .stream = NX_STREAM(stream) };

	return nx_enqueue(&t, comm, 0);
}
NX_ALIAS(ncclSend);

NX_API ncclResult_t pncclRecv(void *recvbuff, size_t count, ncclDataType_t datatype, int peer,
			      ncclComm_t comm, cudaStream_t stream)
{
	struct nx_op t = { .kind = NX_RECV, .recv = recvbuff, .count = count, .dt = datatype,
			   .root = peer, .stream = NX_STREAM(stream) };

	return nx_enqueue(&t, comm, 0);
}
NX_ALIAS(ncclRecv);

/* ---- groups ---- */

NX_API ncclResult_t pncclGroupStart(void)
{
	nx_group_depth++;
	return ncclSuccess;
}
NX_ALIAS(ncclGroupStart);

/* The outermost end launches the queued ops in call order, except that sends go first: a send
 * never waits, so a group of receives and sends in any order cannot deadlock (real NCCL runs
 * the whole group at once). */
NX_API ncclResult_t pncclGroupEnd(void)
{
	struct nx_op *o, *next, *rest = NULL, **rest_tail = &rest;
	ncclResult_t r = ncclSuccess, e;

	if (nx_group_depth == 0) {
		nx_error("ncclGroupEnd without ncclGroupStart");
		return ncclInvalidUsage;
	}
	if (--nx_group_depth > 0)
		return ncclSuccess;
	o = nx_group_head;
	nx_group_head = nx_group_tail = NULL;
	for (; o; o = next) {
		next = o->next;
		o->next = NULL;
		if (o->kind != NX_SEND) {
			*rest_tail = o;
			rest_tail = &o->next;
		} else if ((e = nx_launch(o)) != ncclSuccess && r == ncclSuccess) {
			r = e;
		}
	}
	for (o = rest; o; o = next) {
		next = o->next;
		o->next = NULL;
		if ((e = nx_launch(o)) != ncclSuccess && r == ncclSuccess)
			r = e;
	}
	return r;
}
NX_ALIAS(ncclGroupEnd);
