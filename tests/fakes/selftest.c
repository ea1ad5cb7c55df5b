/* selftest.c - proves the CUDA test doubles (tests/fakes) behave as DEVICE-FACTS.md measured:
 * every cell of "The full legality matrix" (capture mode x caller thread x caller mode x call,
 * on a non-blocking and a blocking capture stream), capture joins/ends, asynchronous execution,
 * graph replay, IPC between two processes, and that the runtime reaches the driver only through
 * cuGetProcAddress. Prints one line per failed check and "N passed, N failed". */
#include <cuda.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fakecuda.h"

static int npass, nfail;

#define CHECK(cond, ...) \
	do { \
		if (cond) { \
			npass++; \
		} else { \
			nfail++; \
			printf("FAIL line %d: ", __LINE__); \
			printf(__VA_ARGS__); \
			printf("\n"); \
		} \
	} while (0)

#define EXPECT(call, want) \
	do { \
		cudaError_t got_ = (call); \
		CHECK(got_ == (want), "%s = %d (%s), want %d", #call, got_, \
		      cudaGetErrorName(got_), (want)); \
	} while (0)

static void noop_fn(void *arg)
{
	(void)arg;
}

/* ---- the legality matrix ---- */

enum cls { UNSAFE, SYNC_CAP, EVENT_IN, ALWAYS, LEGACY };

enum call_id {
	C_MALLOC, C_FREE, C_MALLOCHOST, C_FREEHOST, C_HOSTREGISTER, C_MALLOCMANAGED,
	C_SYNC_OTHER, C_QUERY_OTHER, C_EVSYNC_OUT, C_EVQUERY_OUT,
	C_DEVSYNC, C_SYNC_CAP, C_QUERY_CAP,
	C_EVSYNC_IN, C_EVQUERY_IN,
	C_MALLOCASYNC_CAP, C_MEMCPYASYNC_OTHER, C_MEMGETINFO, C_STREAMCREATE, C_EVENTCREATE,
	C_IPCGET, C_LAUNCH_OTHER,
	C_MEMCPY_H2D, C_MEMCPY_D2H, C_MEMSET, C_LAUNCH_LEGACY,
	C_COUNT
};

static const struct {
	const char *name;
	enum cls cls;
} calls[C_COUNT] = {
	[C_MALLOC] = { "cudaMalloc", UNSAFE },
	[C_FREE] = { "cudaFree", UNSAFE },
	[C_MALLOCHOST] = { "cudaMallocHost", UNSAFE },
	[C_FREEHOST] = { "cudaFreeHost", UNSAFE },
	[C_HOSTREGISTER] = { "cudaHostRegister", UNSAFE },
	[C_MALLOCMANAGED] = { "cudaMallocManaged", UNSAFE },
	[C_SYNC_OTHER] = { "cudaStreamSynchronize(other)", UNSAFE },
	[C_QUERY_OTHER] = { "cudaStreamQuery(other)", UNSAFE },
	[C_EVSYNC_OUT] = { "cudaEventSynchronize(ev_out)", UNSAFE },
	[C_EVQUERY_OUT] = { "cudaEventQuery(ev_out)", UNSAFE },
	[C_DEVSYNC] = { "cudaDeviceSynchronize", SYNC_CAP },
	[C_SYNC_CAP] = { "cudaStreamSynchronize(cap)", SYNC_CAP },
	[C_QUERY_CAP] = { "cudaStreamQuery(cap)", SYNC_CAP },
	[C_EVSYNC_IN] = { "cudaEventSynchronize(ev_in)", EVENT_IN },
	[C_EVQUERY_IN] = { "cudaEventQuery(ev_in)", EVENT_IN },
	[C_MALLOCASYNC_CAP] = { "cudaMallocAsync(cap)", ALWAYS },
	[C_MEMCPYASYNC_OTHER] = { "cudaMemcpyAsync(other)", ALWAYS },
	[C_MEMGETINFO] = { "cudaMemGetInfo", ALWAYS },
	[C_STREAMCREATE] = { "cudaStreamCreate", ALWAYS },
	[C_EVENTCREATE] = { "cudaEventCreate", ALWAYS },
	[C_IPCGET] = { "cudaIpcGetMemHandle", ALWAYS },
	[C_LAUNCH_OTHER] = { "launch on other stream", ALWAYS },
	[C_MEMCPY_H2D] = { "cudaMemcpy H2D", LEGACY },
	[C_MEMCPY_D2H] = { "cudaMemcpy D2H", LEGACY },
	[C_MEMSET] = { "cudaMemset", LEGACY },
	[C_LAUNCH_LEGACY] = { "launch on legacy stream", LEGACY },
};

/* DEVICE-FACTS.md, "unsafe calls" column, literally: [capture mode][same thread][caller mode] */
static const int unsafe_table[3][2][3] = {
	/* G */ { /* other: G, T, R */ { 900, 0, 0 }, /* same */ { 900, 900, 0 } },
	/* T */ { { 0, 0, 0 }, { 900, 900, 0 } },
	/* R */ { { 0, 0, 0 }, { 0, 0, 0 } },
};

static int expected_call(enum call_id c, int capmode, int same, int callermode, int blocking)
{
	switch (calls[c].cls) {
	case UNSAFE: return unsafe_table[capmode][same][callermode];
	case SYNC_CAP: return 900;
	case EVENT_IN: return 907;
	case ALWAYS: return 0;
	case LEGACY: return blocking ? 906 : 0;
	}
	return -1;
}

struct cell {
	enum call_id call;
	int callermode;
	cudaStream_t cap, other;
	cudaEvent_t ev_in, ev_out;
	void *dev, *dev2, *pinned, *result;
	cudaStream_t new_stream;
	cudaEvent_t new_event;
	char host[256], reg[4096];
	cudaError_t rc;
};

static cudaError_t do_call(struct cell *c)
{
	cudaIpcMemHandle_t h;
	size_t f, t;

	switch (c->call) {
	case C_MALLOC: return cudaMalloc(&c->result, 256);
	case C_FREE: return cudaFree(c->dev);
	case C_MALLOCHOST: return cudaMallocHost(&c->result, 256);
	case C_FREEHOST: return cudaFreeHost(c->pinned);
	case C_HOSTREGISTER: return cudaHostRegister(c->reg, sizeof(c->reg), 0);
	case C_MALLOCMANAGED: return cudaMallocManaged(&c->result, 256, cudaMemAttachGlobal);
	case C_SYNC_OTHER: return cudaStreamSynchronize(c->other);
	case C_QUERY_OTHER: return cudaStreamQuery(c->other);
	case C_EVSYNC_OUT: return cudaEventSynchronize(c->ev_out);
	case C_EVQUERY_OUT: return cudaEventQuery(c->ev_out);
	case C_DEVSYNC: return cudaDeviceSynchronize();
	case C_SYNC_CAP: return cudaStreamSynchronize(c->cap);
	case C_QUERY_CAP: return cudaStreamQuery(c->cap);
	case C_EVSYNC_IN: return cudaEventSynchronize(c->ev_in);
	case C_EVQUERY_IN: return cudaEventQuery(c->ev_in);
	case C_MALLOCASYNC_CAP: return cudaMallocAsync(&c->result, 256, c->cap);
	case C_MEMCPYASYNC_OTHER:
		return cudaMemcpyAsync(c->host, c->dev2, 64, cudaMemcpyDeviceToHost, c->other);
	case C_MEMGETINFO: return cudaMemGetInfo(&f, &t);
	case C_STREAMCREATE: return cudaStreamCreate(&c->new_stream);
	case C_EVENTCREATE: return cudaEventCreate(&c->new_event);
	case C_IPCGET: return cudaIpcGetMemHandle(&h, c->dev2);
	case C_LAUNCH_OTHER: return cudaLaunchHostFunc(c->other, noop_fn, NULL);
	case C_MEMCPY_H2D: return cudaMemcpy(c->dev2, c->host, 64, cudaMemcpyHostToDevice);
	case C_MEMCPY_D2H: return cudaMemcpy(c->host, c->dev2, 64, cudaMemcpyDeviceToHost);
	case C_MEMSET: return cudaMemset(c->dev2, 0x5a, 64);
	case C_LAUNCH_LEGACY: return cudaLaunchHostFunc(0, noop_fn, NULL);
	case C_COUNT: break;
	}
	return cudaErrorUnknown;
}

static void *other_thread(void *arg)
{
	struct cell *c = arg;
	enum cudaStreamCaptureMode m = (enum cudaStreamCaptureMode)c->callermode;

	if (cudaThreadExchangeStreamCaptureMode(&m) != cudaSuccess)
		c->rc = cudaErrorUnknown;
	else
		c->rc = do_call(c);
	return NULL;
}

static const char mode_name[] = "GTR";

static void play_cell(enum call_id call, int capmode, int same, int callermode, int blocking)
{
	struct cell c;
	cudaGraph_t g = NULL;
	cudaError_t end;
	int want = expected_call(call, capmode, same, callermode, blocking);
	enum cudaStreamCaptureStatus st;
	char tag[160];
	int ok = 1;

	snprintf(tag, sizeof(tag), "[%s cap=%c %s caller=%c %s]", calls[call].name,
		 mode_name[capmode], same ? "same" : "other", mode_name[callermode],
		 blocking ? "blocking" : "non-blocking");
	memset(&c, 0, sizeof(c));
	c.call = call;
	c.callermode = callermode;
	memset(c.host, 0x11, sizeof(c.host));
	ok &= cudaStreamCreateWithFlags(&c.cap, blocking ? cudaStreamDefault
							 : cudaStreamNonBlocking) == cudaSuccess;
	ok &= cudaStreamCreateWithFlags(&c.other, cudaStreamNonBlocking) == cudaSuccess;
	ok &= cudaEventCreate(&c.ev_in) == cudaSuccess;
	ok &= cudaEventCreate(&c.ev_out) == cudaSuccess;
	ok &= cudaEventRecord(c.ev_out, c.other) == cudaSuccess;
	ok &= cudaMalloc(&c.dev, 256) == cudaSuccess;
	ok &= cudaMalloc(&c.dev2, 256) == cudaSuccess;
	ok &= cudaMallocHost(&c.pinned, 256) == cudaSuccess;
	ok &= cudaStreamBeginCapture(c.cap, (enum cudaStreamCaptureMode)capmode) == cudaSuccess;
	ok &= cudaLaunchHostFunc(c.cap, noop_fn, NULL) == cudaSuccess; /* "a kernel" */
	ok &= cudaEventRecord(c.ev_in, c.cap) == cudaSuccess;
	CHECK(ok, "%s set-up failed", tag);
	if (same) {
		enum cudaStreamCaptureMode m = (enum cudaStreamCaptureMode)callermode;

		cudaThreadExchangeStreamCaptureMode(&m);
		c.rc = do_call(&c);
		cudaThreadExchangeStreamCaptureMode(&m);
	} else {
		pthread_t t;

		pthread_create(&t, NULL, other_thread, &c);
		pthread_join(t, NULL);
	}
	CHECK((int)c.rc == want, "%s call returned %d, want %d", tag, c.rc, want);
	if (want != 0) {
		CHECK(cudaStreamIsCapturing(c.cap, &st) == cudaSuccess &&
			      st == cudaStreamCaptureStatusInvalidated,
		      "%s capture not reported invalidated", tag);
		CHECK(cudaLaunchHostFunc(c.cap, noop_fn, NULL) == cudaErrorStreamCaptureInvalidated,
		      "%s work on an invalidated capture did not fail with 901", tag);
	}
	end = cudaStreamEndCapture(c.cap, &g);
	CHECK((int)end == (want ? 901 : 0), "%s EndCapture returned %d, want %d", tag, end,
	      want ? 901 : 0);
	CHECK((end == cudaSuccess) == (g != NULL), "%s EndCapture graph %p with result %d", tag,
	      (void *)g, end);
	if (g)
		cudaGraphDestroy(g);
	if (call == C_MEMCPY_H2D && c.rc == cudaSuccess)
		CHECK(memcmp(c.dev2, c.host, 64) == 0, "%s copy did not run at once", tag);
	if (call == C_MEMSET && c.rc == cudaSuccess)
		CHECK(((unsigned char *)c.dev2)[63] == 0x5a, "%s memset did not run at once", tag);
	/* errors 900/906/907 are not sticky: the context works after EndCapture */
	cudaGetLastError();
	CHECK(cudaDeviceSynchronize() == cudaSuccess && cudaGetLastError() == cudaSuccess,
	      "%s context unusable after EndCapture", tag);

	if (!(call == C_FREE && c.rc == cudaSuccess))
		cudaFree(c.dev);
	if (!(call == C_FREEHOST && c.rc == cudaSuccess))
		cudaFreeHost(c.pinned);
	if (call == C_HOSTREGISTER && c.rc == cudaSuccess)
		cudaHostUnregister(c.reg);
	if (c.result && (call == C_MALLOC || call == C_MALLOCMANAGED))
		cudaFree(c.result);
	if (c.result && call == C_MALLOCHOST)
		cudaFreeHost(c.result);
	if (c.new_stream)
		cudaStreamDestroy(c.new_stream);
	if (c.new_event)
		cudaEventDestroy(c.new_event);
	cudaFree(c.dev2);
	cudaEventDestroy(c.ev_in);
	cudaEventDestroy(c.ev_out);
	cudaStreamDestroy(c.cap);
	cudaStreamDestroy(c.other);
}

static void test_matrix(void)
{
	int call, capmode, same, callermode, blocking;

	for (blocking = 0; blocking < 2; blocking++)
		for (call = 0; call < C_COUNT; call++)
			for (capmode = 0; capmode < 3; capmode++)
				for (same = 0; same < 2; same++)
					for (callermode = 0; callermode < 3; callermode++)
						play_cell((enum call_id)call, capmode, same,
							  callermode, blocking);
}

/* ---- captures: ends, joins, legacy stream ---- */

struct end_arg {
	cudaStream_t s;
	cudaGraph_t g;
	cudaError_t rc;
};

static void *end_other(void *arg)
{
	struct end_arg *a = arg;

	a->rc = cudaStreamEndCapture(a->s, &a->g);
	return NULL;
}

static void test_capture_ends(void)
{
	enum cudaStreamCaptureStatus st;
	cudaStream_t s, s2;
	cudaEvent_t e1, e2;
	cudaGraph_t g = NULL;
	struct end_arg a;
	pthread_t t;
	int mode;

	cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
	cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking);
	cudaEventCreate(&e1);
	cudaEventCreate(&e2);
	EXPECT(cudaStreamBeginCapture(0, cudaStreamCaptureModeGlobal),
	       cudaErrorStreamCaptureUnsupported);
	EXPECT(cudaStreamEndCapture(s, &g), cudaErrorIllegalState);

	for (mode = 0; mode < 3; mode++) {
		EXPECT(cudaStreamBeginCapture(s, (enum cudaStreamCaptureMode)mode), cudaSuccess);
		memset(&a, 0, sizeof(a));
		a.s = s;
		pthread_create(&t, NULL, end_other, &a);
		pthread_join(t, NULL);
		if (mode == cudaStreamCaptureModeRelaxed) {
			CHECK(a.rc == cudaSuccess && a.g, "Relaxed capture ended by another thread: %d",
			      a.rc);
			if (a.g)
				cudaGraphDestroy(a.g);
		} else {
			CHECK(a.rc == cudaErrorStreamCaptureWrongThread,
			      "mode %d EndCapture from another thread: %d, want 908", mode, a.rc);
			EXPECT(cudaStreamEndCapture(s, &g), cudaSuccess);
			cudaGraphDestroy(g);
		}
	}

	/* a stream joins through a captured event and must rejoin before the end */
	EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
	EXPECT(cudaEventRecord(e1, s), cudaSuccess);
	EXPECT(cudaStreamWaitEvent(s2, e1, 0), cudaSuccess);
	CHECK(cudaStreamIsCapturing(s2, &st) == cudaSuccess && st == cudaStreamCaptureStatusActive,
	      "joined stream not capturing");
	EXPECT(cudaLaunchHostFunc(s2, noop_fn, NULL), cudaSuccess);
	EXPECT(cudaEventRecord(e2, s2), cudaSuccess);
	EXPECT(cudaStreamWaitEvent(s, e2, 0), cudaSuccess);
	EXPECT(cudaStreamEndCapture(s2, &g), cudaErrorStreamCaptureUnmatched);
	EXPECT(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);

	EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
	EXPECT(cudaEventRecord(e1, s), cudaSuccess);
	EXPECT(cudaStreamWaitEvent(s2, e1, 0), cudaSuccess);
	EXPECT(cudaLaunchHostFunc(s2, noop_fn, NULL), cudaSuccess);
	EXPECT(cudaEventRecord(e2, s2), cudaSuccess);
	EXPECT(cudaStreamWaitEvent(s, e2, 0), cudaSuccess);
	g = NULL;
	EXPECT(cudaStreamEndCapture(s, &g), cudaSuccess);
	CHECK(g != NULL, "joined capture gave no graph");
	if (g)
		cudaGraphDestroy(g);
	CHECK(cudaStreamIsCapturing(s2, &st) == cudaSuccess && st == cudaStreamCaptureStatusNone,
	      "joined stream still capturing after EndCapture");

	EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
	EXPECT(cudaEventRecord(e1, s), cudaSuccess);
	EXPECT(cudaStreamWaitEvent(s2, e1, 0), cudaSuccess);
	EXPECT(cudaLaunchHostFunc(s2, noop_fn, NULL), cudaSuccess); /* never waited on */
	g = (cudaGraph_t)&g;
	EXPECT(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureUnjoined);
	CHECK(g == NULL, "unjoined capture returned a graph");
	CHECK(cudaStreamIsCapturing(s2, &st) == cudaSuccess && st == cudaStreamCaptureStatusNone,
	      "unjoined stream still capturing after EndCapture");

	/* a capturing stream may not wait on an event recorded outside the capture */
	EXPECT(cudaEventRecord(e2, s2), cudaSuccess);
	EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
	EXPECT(cudaStreamWaitEvent(s, e2, 0), cudaErrorStreamCaptureIsolation);
	EXPECT(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
	cudaGetLastError();

	/* cuda.h: IsCapturing(legacy) while a blocking stream captures is 906, not invalidating */
	cudaStreamDestroy(s2);
	cudaStreamCreate(&s2);
	EXPECT(cudaStreamBeginCapture(s2, cudaStreamCaptureModeRelaxed), cudaSuccess);
	EXPECT(cudaStreamIsCapturing(0, &st), cudaErrorStreamCaptureImplicit);
	EXPECT(cudaStreamEndCapture(s2, &g), cudaSuccess);
	cudaGraphDestroy(g);
	EXPECT(cudaStreamIsCapturing(0, &st), cudaSuccess);
	cudaGetLastError();

	cudaEventDestroy(e1);
	cudaEventDestroy(e2);
	cudaStreamDestroy(s);
	cudaStreamDestroy(s2);
}

/* ---- asynchronous execution and graph replay ---- */

static atomic_int counter, release_flag, started_flag, after_flag;
static pthread_t spin_thread;

static void count_fn(void *arg)
{
	(void)arg;
	atomic_fetch_add(&counter, 1);
}

static void spin_fn(void *arg)
{
	(void)arg;
	spin_thread = pthread_self();
	atomic_store(&started_flag, 1);
	while (!atomic_load(&release_flag))
		;
}

static void after_fn(void *arg)
{
	(void)arg;
	atomic_store(&after_flag, 1);
}

static void *releaser(void *arg)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	(void)arg;
	while (!atomic_load(&started_flag))
		;
	nanosleep(&ts, NULL); /* lets the main thread enter cudaStreamSynchronize; not needed for correctness */
	atomic_store(&release_flag, 1);
	return NULL;
}

static void test_async(void)
{
	unsigned char *dev, host[64];
	cudaStream_t s;
	cudaEvent_t e;
	pthread_t t;

	cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
	cudaEventCreate(&e);

	/* a host function runs on a worker thread; query says not ready while it spins */
	atomic_store(&release_flag, 0);
	atomic_store(&after_flag, 0);
	EXPECT(cudaLaunchHostFunc(s, spin_fn, NULL), cudaSuccess);
	EXPECT(cudaLaunchHostFunc(s, after_fn, NULL), cudaSuccess);
	EXPECT(cudaEventRecord(e, s), cudaSuccess);
	EXPECT(cudaStreamQuery(s), cudaErrorNotReady);
	EXPECT(cudaEventQuery(e), cudaErrorNotReady);
	CHECK(cudaGetLastError() == cudaSuccess, "cudaErrorNotReady was kept as last error");
	atomic_store(&release_flag, 1);
	EXPECT(cudaStreamSynchronize(s), cudaSuccess);
	CHECK(atomic_load(&after_flag) == 1, "cudaStreamSynchronize returned before the work");
	CHECK(!pthread_equal(spin_thread, pthread_self()), "host function ran on the caller");
	EXPECT(cudaEventQuery(e), cudaSuccess);

	/* cudaStreamSynchronize waits while the main thread is blocked in it */
	atomic_store(&release_flag, 0);
	atomic_store(&started_flag, 0);
	atomic_store(&after_flag, 0);
	EXPECT(cudaLaunchHostFunc(s, spin_fn, NULL), cudaSuccess);
	EXPECT(cudaLaunchHostFunc(s, after_fn, NULL), cudaSuccess);
	pthread_create(&t, NULL, releaser, NULL);
	EXPECT(cudaStreamSynchronize(s), cudaSuccess);
	CHECK(atomic_load(&after_flag) == 1 && atomic_load(&release_flag) == 1,
	      "cudaStreamSynchronize did not wait for the spinning host function");
	pthread_join(t, NULL);

	/* a synchronous cudaMemcpy waits for earlier legacy-stream work */
	cudaMalloc((void **)&dev, 64);
	atomic_store(&release_flag, 0);
	atomic_store(&started_flag, 0);
	EXPECT(cudaLaunchHostFunc(0, spin_fn, NULL), cudaSuccess);
	EXPECT(cudaMemsetAsync(dev, 42, 64, 0), cudaSuccess);
	pthread_create(&t, NULL, releaser, NULL);
	memset(host, 0, sizeof(host));
	EXPECT(cudaMemcpy(host, dev, 64, cudaMemcpyDeviceToHost), cudaSuccess);
	CHECK(host[0] == 42 && host[63] == 42, "cudaMemcpy did not wait for legacy work");
	pthread_join(t, NULL);

	/* captured work is recorded, not run; each replay runs it */
	{
		cudaGraph_t g = NULL;
		cudaGraphExec_t x = NULL;

		atomic_store(&counter, 0);
		memset(host, 0, sizeof(host));
		EXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
		EXPECT(cudaLaunchHostFunc(s, count_fn, NULL), cudaSuccess);
		EXPECT(cudaMemsetAsync(dev, 7, 64, s), cudaSuccess);
		EXPECT(cudaMemcpyAsync(host, dev, 64, cudaMemcpyDeviceToHost, s), cudaSuccess);
		EXPECT(cudaLaunchHostFunc(s, count_fn, NULL), cudaSuccess);
		EXPECT(cudaStreamEndCapture(s, &g), cudaSuccess);
		CHECK(atomic_load(&counter) == 0 && host[0] == 0, "captured work ran during capture");
		EXPECT(cudaGraphInstantiate(&x, g, 0), cudaSuccess);
		EXPECT(cudaGraphLaunch(x, s), cudaSuccess);
		EXPECT(cudaGraphLaunch(x, s), cudaSuccess);
		EXPECT(cudaStreamSynchronize(s), cudaSuccess);
		CHECK(atomic_load(&counter) == 4 && host[0] == 7 && host[63] == 7,
		      "replay: counter %d host[0] %d", atomic_load(&counter), host[0]);
		cudaGraphExecDestroy(x);
		cudaGraphDestroy(g);
	}
	cudaFree(dev);
	cudaEventDestroy(e);
	cudaStreamDestroy(s);
}

/* ---- memory odds and ends ---- */

static void test_memory(void)
{
	struct cudaPointerAttributes pa;
	void *d = (void *)1, *h;
	char stack_buf[16];

	EXPECT(cudaMalloc(&d, 0), cudaSuccess);
	CHECK(d == NULL, "cudaMalloc(0) gave %p", d);
	EXPECT(cudaFree(NULL), cudaSuccess);
	EXPECT(cudaMalloc(&d, 100), cudaSuccess);
	EXPECT(cudaPointerGetAttributes(&pa, d), cudaSuccess);
	CHECK(pa.type == cudaMemoryTypeDevice, "device pointer type %d", pa.type);
	EXPECT(cudaMallocHost(&h, 100), cudaSuccess);
	EXPECT(cudaPointerGetAttributes(&pa, h), cudaSuccess);
	CHECK(pa.type == cudaMemoryTypeHost, "pinned pointer type %d", pa.type);
	EXPECT(cudaPointerGetAttributes(&pa, stack_buf), cudaSuccess);
	CHECK(pa.type == cudaMemoryTypeUnregistered, "host pointer type %d", pa.type);
	EXPECT(cudaFree(h), cudaErrorInvalidValue);
	cudaGetLastError();
	EXPECT(cudaFreeHost(h), cudaSuccess);
	EXPECT(cudaFree(d), cudaSuccess);
}

/* ---- IPC between two processes ---- */

static int ipc_child(const char *hex)
{
	cudaIpcMemHandle_t h;
	unsigned char *p;
	unsigned int i, v;

	for (i = 0; i < sizeof(h.reserved); i++) {
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return 2;
		h.reserved[i] = (char)v;
	}
	if (cudaIpcOpenMemHandle((void **)&p, h, cudaIpcMemLazyEnablePeerAccess) != cudaSuccess)
		return 3;
	for (i = 0; i < 64; i++)
		if (p[i] != (unsigned char)i)
			return 4;
	if (cudaMemset(p, 0xee, 64) != cudaSuccess)
		return 5;
	return cudaIpcCloseMemHandle(p) == cudaSuccess ? 0 : 6;
}

static void test_ipc(const char *self)
{
	unsigned char src[64], *d, *p;
	cudaIpcMemHandle_t h;
	char hex[2 * sizeof(h.reserved) + 1];
	int i, status = -1;
	pid_t pid;

	for (i = 0; i < 64; i++)
		src[i] = (unsigned char)i;
	d = NULL;
	EXPECT(cudaMalloc((void **)&d, 64), cudaSuccess);
	if (!d)
		return;
	EXPECT(cudaMemcpy(d, src, 64, cudaMemcpyHostToDevice), cudaSuccess);
	EXPECT(cudaIpcGetMemHandle(&h, d), cudaSuccess);
	EXPECT(cudaIpcOpenMemHandle((void **)&p, h, cudaIpcMemLazyEnablePeerAccess),
	       cudaErrorDeviceUninitialized); /* same process */
	cudaGetLastError();
	for (i = 0; i < (int)sizeof(h.reserved); i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)h.reserved[i]);
	pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", self, "--ipc-child", hex, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 1000 && pid > 0; i++) { /* bounded: 10 s */
		struct timespec ts = { 0, 10 * 1000 * 1000 };

		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		nanosleep(&ts, NULL);
	}
	if (i == 1000) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "IPC child failed (status %d)", status);
	EXPECT(cudaMemcpy(src, d, 64, cudaMemcpyDeviceToHost), cudaSuccess);
	CHECK(src[0] == 0xee && src[63] == 0xee, "IPC child's write not seen");
	EXPECT(cudaFree(d), cudaSuccess);
}

/* ---- the runtime reaches the driver only through cuGetProcAddress ---- */

static const struct fakecuda_lookup *find_lookup(const struct fakecuda_stats *st,
						 const char *name, int version)
{
	unsigned int i;

	for (i = 0; i < st->nlookups; i++)
		if (strcmp(st->lookups[i].name, name) == 0 && st->lookups[i].version == version)
			return &st->lookups[i];
	return NULL;
}

typedef CUresult (*getproc5_t)(const char *, void **, int, cuuint64_t,
			       CUdriverProcAddressQueryResult *);

static void check_proc(void *lib, getproc5_t gp, const char *name, int ver, cuuint64_t flags,
		       const char *want_sym)
{
	CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
	void *fn = NULL, *want = dlsym(lib, want_sym);
	CUresult r = gp(name, &fn, ver, flags, &st);

	CHECK(r == CUDA_SUCCESS && fn == want && want && st == CU_GET_PROC_ADDRESS_SUCCESS,
	      "cuGetProcAddress(%s, %d, %llu) did not give %s", name, ver,
	      (unsigned long long)flags, want_sym);
}

static void test_procaddr(void)
{
	struct fakecuda_stats *st = calloc(1, sizeof(*st));
	const struct fakecuda_lookup *l;
	void (*stats)(struct fakecuda_stats *);
	CUdriverProcAddressQueryResult qs;
	void *lib;
	getproc5_t gp;
	void *fn;
	int dv;

	EXPECT(cudaDriverGetVersion(&dv), cudaSuccess); /* loads the driver */
	lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
	CHECK(lib != NULL, "libcuda.so.1 not loaded by the runtime");
	if (!lib || !st)
		return;
	stats = (void (*)(struct fakecuda_stats *))dlsym(lib, "fakecuda_stats");
	CHECK(stats != NULL, "fakecuda_stats not exported");
	if (!stats)
		return;
	stats(st);
	CHECK(st->procaddr_calls_v2 == 1 && st->nlookups > 0 && st->lookups[0].abi == 5 &&
		      strcmp(st->lookups[0].name, "cuGetProcAddress") == 0 &&
		      st->lookups[0].version == 11030,
	      "runtime did not start with cuGetProcAddress_v2(\"cuGetProcAddress\", 11030)");
	CHECK(st->procaddr_calls_v1 >= 50, "runtime got only %lu functions via cuGetProcAddress",
	      st->procaddr_calls_v1);
	l = find_lookup(st, "cuMemAlloc", 3020);
	CHECK(l && l->abi == 4 && l->found, "cuMemAlloc@3020 not looked up via cuGetProcAddress");
	l = find_lookup(st, "cuCtxSynchronize", 2000);
	CHECK(l && l->abi == 4 && l->found, "cuCtxSynchronize@2000 not looked up");
	l = find_lookup(st, "cuStreamBeginCapture", 10010);
	CHECK(l && l->abi == 4 && l->found, "cuStreamBeginCapture@10010 not looked up");
	free(st);

	gp = (getproc5_t)dlsym(lib, "cuGetProcAddress_v2");
	CHECK(gp != NULL, "cuGetProcAddress_v2 not exported");
	if (!gp)
		return;
	check_proc(lib, gp, "cuMemAlloc", 3020, 0, "cuMemAlloc_v2");
	check_proc(lib, gp, "cuMemAlloc", 2000, 0, "cuMemAlloc");
	check_proc(lib, gp, "cuMemAlloc", 13000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM,
		   "cuMemAlloc_v2");
	check_proc(lib, gp, "cuMemcpyHtoD", 3020, 0, "cuMemcpyHtoD_v2");
	check_proc(lib, gp, "cuMemcpyHtoD", 3010, 0, "cuMemcpyHtoD");
	check_proc(lib, gp, "cuStreamBeginCapture", 10010, 0, "cuStreamBeginCapture_v2");
	check_proc(lib, gp, "cuStreamBeginCapture", 10000, 0, "cuStreamBeginCapture");
	check_proc(lib, gp, "cuStreamBeginCapture", 12000,
		   CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, "cuStreamBeginCapture_v2_ptsz");
	check_proc(lib, gp, "cuGetProcAddress", 11030, 0, "cuGetProcAddress");
	check_proc(lib, gp, "cuGetProcAddress", 12000, 0, "cuGetProcAddress_v2");
	check_proc(lib, gp, "cuCtxSynchronize", 2000, 0, "cuCtxSynchronize");
	check_proc(lib, gp, "cuCtxSynchronize", 13000, 0, "cuCtxSynchronize_v2");
	check_proc(lib, gp, "cuStreamSynchronize", 13000,
		   CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, "cuStreamSynchronize_ptsz");
	check_proc(lib, gp, "cuStreamSynchronize", 13000, CU_GET_PROC_ADDRESS_LEGACY_STREAM,
		   "cuStreamSynchronize");
	check_proc(lib, gp, "cuMemcpyAsync", 13000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM,
		   "cuMemcpyAsync_ptsz");
	check_proc(lib, gp, "cuLaunchHostFunc", 13000,
		   CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, "cuLaunchHostFunc_ptsz");
	check_proc(lib, gp, "cuStreamGetCaptureInfo", 13000, 0, "cuStreamGetCaptureInfo_v3");
	fn = (void *)1;
	qs = CU_GET_PROC_ADDRESS_SUCCESS;
	CHECK(gp("cuNoSuchThing", &fn, 13000, 0, &qs) == CUDA_ERROR_NOT_FOUND && fn == NULL &&
		      qs == CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND,
	      "unknown symbol not reported NOT_FOUND");
	fn = (void *)1;
	CHECK(gp("cuMemAllocAsync", &fn, 11000, 0, &qs) == CUDA_ERROR_NOT_FOUND && fn == NULL &&
		      qs == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT,
	      "too-old version not reported VERSION_NOT_SUFFICIENT");
}

/* ---- several devices (FAKECUDA_DEVICES): current device per thread, a stream's device ---- */

static void test_devices(void)
{
	typedef CUresult (*get_device_t)(CUstream, CUdevice *);
	void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
	get_device_t stream_device = lib ? (get_device_t)dlsym(lib, "cuStreamGetDevice") : NULL;
	cudaStream_t s0, s1;
	CUdevice d = -1;
	int n = 0, cur = -1;

	CHECK(stream_device != NULL, "cuStreamGetDevice not exported");
	if (!stream_device)
		return;
	setenv("FAKECUDA_DEVICES", "2", 1);
	EXPECT(cudaGetDeviceCount(&n), cudaSuccess);
	CHECK(n == 2, "FAKECUDA_DEVICES=2: %d devices", n);
	EXPECT(cudaGetDevice(&cur), cudaSuccess);
	CHECK(cur == 0, "current device %d at first", cur);
	EXPECT(cudaStreamCreate(&s0), cudaSuccess);
	EXPECT(cudaSetDevice(1), cudaSuccess);
	EXPECT(cudaGetDevice(&cur), cudaSuccess);
	CHECK(cur == 1, "current device %d after cudaSetDevice(1)", cur);
	EXPECT(cudaStreamCreate(&s1), cudaSuccess);
	CHECK(stream_device((CUstream)s0, &d) == CUDA_SUCCESS && d == 0, "stream made on device 0: device %d", d);
	CHECK(stream_device((CUstream)s1, &d) == CUDA_SUCCESS && d == 1, "stream made on device 1: device %d", d);
	CHECK(stream_device(NULL, &d) == CUDA_SUCCESS && d == 1, "legacy stream with device 1 current: %d", d);
	EXPECT(cudaSetDevice(2), cudaErrorInvalidDevice);
	cudaGetLastError();
	EXPECT(cudaSetDevice(0), cudaSuccess);
	CHECK(stream_device(NULL, &d) == CUDA_SUCCESS && d == 0, "legacy stream with device 0 current: %d", d);
	/* a capturing stream's device or flags: 900, and the capture is invalidated (the H200) */
	{
		typedef CUresult (*get_flags_t)(CUstream, unsigned int *);
		get_flags_t get_flags = (get_flags_t)dlsym(lib, "cuStreamGetFlags");
		unsigned int fl;
		cudaGraph_t g = NULL;
		EXPECT(cudaStreamBeginCapture(s0, cudaStreamCaptureModeRelaxed), cudaSuccess);
		CHECK(stream_device((CUstream)s0, &d) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "device of a capturing stream");
		EXPECT(cudaStreamEndCapture(s0, &g), cudaErrorStreamCaptureInvalidated);
		cudaGetLastError();
		EXPECT(cudaStreamBeginCapture(s0, cudaStreamCaptureModeRelaxed), cudaSuccess);
		CHECK(get_flags && get_flags((CUstream)s0, &fl) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED, "flags of a capturing stream");
		EXPECT(cudaStreamEndCapture(s0, &g), cudaErrorStreamCaptureInvalidated);
		cudaGetLastError();
	}
	EXPECT(cudaStreamDestroy(s0), cudaSuccess);
	EXPECT(cudaStreamDestroy(s1), cudaSuccess);
	unsetenv("FAKECUDA_DEVICES");
	EXPECT(cudaSetDevice(1), cudaErrorInvalidDevice);
	cudaGetLastError();
	dlclose(lib);
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--ipc-child") == 0)
		return ipc_child(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_procaddr(); /* first: it checks how the runtime loaded the driver */
	test_matrix();
	test_capture_ends();
	test_async();
	test_memory();
	test_ipc(argv[0]);
	test_devices();
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}
