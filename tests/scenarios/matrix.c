/* Every cell of the legality matrix (DEVICE-FACTS.md): capture mode G/T/R x calling thread
 * (the capturing one or another) x that thread's interaction mode G/T/R x call, on a blocking
 * and a non-blocking capture stream. One line per cell: "cell CAP THR TMODE CALL STREAM rc end". */
#include <string.h>
#include "scen.h"

enum call {
    C_MALLOC, C_FREE, C_MALLOCHOST, C_FREEHOST, C_HOSTREGISTER, C_MALLOCMANAGED,
    C_SYNC_OTHER, C_QUERY_OTHER, C_EVSYNC_OUT, C_EVQUERY_OUT,
    C_DEVSYNC, C_SYNC_CAP, C_QUERY_CAP, C_EVSYNC_IN, C_EVQUERY_IN,
    C_MEMCPY_LEGACY, C_MEMSET_LEGACY, C_MALLOCASYNC_CAP, C_MEMGETINFO, C_STREAMCREATE, C_EVENTCREATE,
    C_EVRECORD_LEGACY, C_WAIT_LEGACY, C_COUNT
};
static const char *const call_names[C_COUNT] = {
    "malloc", "free", "mallochost", "freehost", "hostregister", "mallocmanaged",
    "sync_other", "query_other", "evsync_out", "evquery_out",
    "devsync", "sync_cap", "query_cap", "evsync_in", "evquery_in",
    "memcpy_legacy", "memset_legacy", "mallocasync_cap", "memgetinfo", "streamcreate", "eventcreate",
    "evrecord_legacy", "wait_legacy"};

struct cell {
    enum call call;
    enum cudaStreamCaptureMode tmode;
    cudaStream_t cap, other;
    cudaEvent_t ev_in, ev_out;
    void *dev, *host;
    char *reg;
    cudaError_t rc;
};

static cudaError_t do_call(struct cell *c)
{
    void *p = NULL;
    size_t fr, tot;
    cudaStream_t s;
    cudaEvent_t e;
    char buf[64] = {0};
    switch (c->call) {
    case C_MALLOC: return cudaMalloc(&p, 256);
    case C_FREE: return cudaFree(c->dev);
    case C_MALLOCHOST: return cudaMallocHost(&p, 256);
    case C_FREEHOST: return cudaFreeHost(c->host);
    case C_HOSTREGISTER: return cudaHostRegister(c->reg, 4096, 0);
    case C_MALLOCMANAGED: return cudaMallocManaged(&p, 256, cudaMemAttachGlobal);
    case C_SYNC_OTHER: return cudaStreamSynchronize(c->other);
    case C_QUERY_OTHER: return cudaStreamQuery(c->other);
    case C_EVSYNC_OUT: return cudaEventSynchronize(c->ev_out);
    case C_EVQUERY_OUT: return cudaEventQuery(c->ev_out);
    case C_DEVSYNC: return cudaDeviceSynchronize();
    case C_SYNC_CAP: return cudaStreamSynchronize(c->cap);
    case C_QUERY_CAP: return cudaStreamQuery(c->cap);
    case C_EVSYNC_IN: return cudaEventSynchronize(c->ev_in);
    case C_EVQUERY_IN: return cudaEventQuery(c->ev_in);
    case C_MEMCPY_LEGACY: return cudaMemcpy(c->dev, buf, sizeof buf, cudaMemcpyHostToDevice);
    case C_MEMSET_LEGACY: return cudaMemset(c->dev, 0, 64);
    case C_MALLOCASYNC_CAP: {
        cudaError_t r = cudaMallocAsync(&p, 256, c->cap);
        if (r == cudaSuccess)
            cudaFreeAsync(p, c->cap);
        return r;
    }
    case C_MEMGETINFO: return cudaMemGetInfo(&fr, &tot);
    case C_STREAMCREATE: return cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking); /* one handle leaks */
    case C_EVENTCREATE: return cudaEventCreate(&e);
    case C_EVRECORD_LEGACY: return cudaEventRecord(c->ev_out, 0); /* measured on an H200: 906 */
    case C_WAIT_LEGACY: return cudaStreamWaitEvent(0, c->ev_out, 0);
    default: return cudaErrorInvalidValue;
    }
}

static void *other_thread(void *arg)
{
    struct cell *c = arg;
    enum cudaStreamCaptureMode old = c->tmode;
    if (cudaThreadExchangeStreamCaptureMode(&old) != cudaSuccess)
        exit(3);
    c->rc = do_call(c);
    if (cudaThreadExchangeStreamCaptureMode(&old) != cudaSuccess)
        exit(3);
    return NULL;
}

static void run_cell(enum cudaStreamCaptureMode cmode, int same, enum cudaStreamCaptureMode tmode, enum call call,
                     int blocking)
{
    static const char mname[] = "GTR";
    struct cell c = {.call = call, .tmode = tmode};
    MUST(cudaStreamCreateWithFlags(&c.cap, blocking ? cudaStreamDefault : cudaStreamNonBlocking));
    MUST(cudaStreamCreateWithFlags(&c.other, cudaStreamNonBlocking));
    MUST(cudaEventCreate(&c.ev_in));
    MUST(cudaEventCreate(&c.ev_out));
    MUST(cudaMalloc(&c.dev, 4096));
    MUST(cudaMallocHost(&c.host, 4096));
    c.reg = aligned_alloc(4096, 4096);
    MUST(cudaLaunchHostFunc(c.other, scen_noop, NULL));
    MUST(cudaEventRecord(c.ev_out, c.other));
    MUST(cudaStreamSynchronize(c.other));

    MUST(cudaStreamBeginCapture(c.cap, cmode));
    MUST(cudaLaunchHostFunc(c.cap, scen_noop, NULL));
    MUST(cudaEventRecord(c.ev_in, c.cap));
    if (same) {
        enum cudaStreamCaptureMode old = tmode;
        MUST(cudaThreadExchangeStreamCaptureMode(&old));
        c.rc = do_call(&c);
        MUST(cudaThreadExchangeStreamCaptureMode(&old));
    } else {
        pthread_t t;
        pthread_create(&t, NULL, other_thread, &c);
        pthread_join(t, NULL);
    }
    cudaGraph_t g = NULL;
    cudaError_t end = cudaStreamEndCapture(c.cap, &g);
    if (g)
        cudaGraphDestroy(g);
    printf("cell %c %s %c %s %s %d %d\n", mname[cmode], same ? "same" : "other", mname[tmode], call_names[call],
           blocking ? "blocking" : "nonblocking", (int)c.rc, (int)end);
    fflush(stdout);
    cudaDeviceSynchronize(); /* deferred work (capguard defer) has run by now; settle the device */
    if (call == C_HOSTREGISTER && c.rc == cudaSuccess)
        cudaHostUnregister(c.reg);
    if (call != C_FREE)
        cudaFree(c.dev);
    if (call != C_FREEHOST)
        cudaFreeHost(c.host);
    free(c.reg);
    cudaEventDestroy(c.ev_in);
    cudaEventDestroy(c.ev_out);
    cudaStreamDestroy(c.cap);
    cudaStreamDestroy(c.other);
    cudaGetLastError();
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL; /* optional: one call name */
    MUST(cudaSetDevice(0));
    for (int blocking = 0; blocking < 2; blocking++)
        for (int cm = 0; cm < 3; cm++)
            for (int same = 1; same >= 0; same--)
                for (int tm = 0; tm < 3; tm++)
                    for (int call = 0; call < C_COUNT; call++)
                        if (!only || strcmp(only, call_names[call]) == 0)
                            run_cell((enum cudaStreamCaptureMode)cm, same, (enum cudaStreamCaptureMode)tm,
                                     (enum call)call, blocking);
    return 0;
}
