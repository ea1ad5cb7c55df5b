/* The seed (TensorRT-LLM #8781 / PR #8803): an allreduce wrapper constructed per call, in graph
 * warm-up and inside the capture, the previous instance destroyed first (an object going out of
 * scope), with a "to be safe" cudaDeviceSynchronize in its construction.
 *   mpirun -np N seed PATH MODE
 *   PATH ipc   MNNVL/custom-allreduce style: MPI_Comm_split, cudaMalloc workspace, H2D copy,
 *              cudaIpcGetMemHandle, MPI_Allgather, cudaIpcOpenMemHandle, sync, MPI_Barrier
 *   PATH nccl  ncclGetUniqueId on rank 0, MPI_Bcast, ncclCommInitRank, sync
 *   MODE symmetric   every rank constructs inside the capture on its main thread
 *   MODE asymmetric  the last rank constructs inside the capture on a new thread (joined at once)
 *                    and for another dtype (a workspace twice the size): its memo misses where
 *                    the other ranks' hit (ipc path; the nccl path only changes the thread)
 *   MODE cached      the program's own cache (TensorRT-LLM's fix by hand): the wrapper is built in
 *                    the first warm-up and reused; inside the capture the last rank asks for
 *                    another dtype, misses, and builds one alone: its MPI_Comm_split waits for
 *                    ranks that went on (to the replays and the final MPI_Barrier): a hang, as
 *                    with a real per-dtype cache that one rank misses
 * Prints, per rank: warm-up results, the capture-time construction's first failing call, the
 * EndCapture code, replay results, "done". Expected result with N ranks: N(N+1)/2. Never exits on
 * an error and never calls MPI_Abort: the run must reach its end, the runner judges. */
#include <mpi.h>
/* nccl.h declares ncclGroupStart() and others without (void). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <nccl.h>
#pragma GCC diagnostic pop
#include <string.h>
#include "scen.h"

#define WS_BYTES (1u << 20) /* the wrapper's workspace, as a custom allreduce's buffer */
static size_t ws_bytes = WS_BYTES; /* the asymmetric rank's capture-time wrapper: 2 x (another dtype) */
#define WARMUPS 3
#define REPLAYS 2

enum path { PATH_IPC, PATH_NCCL };

struct wrapper {
    int built;              /* construction ran to its end */
    const char *fail_call;  /* first failing call of the construction, NULL if none */
    int fail_code;
    MPI_Comm comm;          /* ipc */
    void *ws;               /* ipc: own workspace */
    void **peer;            /* ipc: [world], peers' workspaces opened through IPC */
    ncclComm_t nc;          /* nccl */
};

static int rank, world;
static enum path path;
static int *pinned; /* [world] pinned host, allocated once outside any capture */
static int *dbuf;   /* nccl: one int on the device, allocated once outside any capture */
static int result;  /* written by the host functions, on the stream's thread */

/* A failed step ends the construction (as an exception would) and is remembered. */
#define STEP(w, name, ok_value, expr)                 \
    do {                                              \
        int e_ = (int)(expr);                         \
        if (e_ != (int)(ok_value)) {                  \
            (w)->fail_call = (name);                  \
            (w)->fail_code = e_;                      \
            return;                                   \
        }                                             \
    } while (0)

/* Outside the construction: report on stderr, go on. */
static int diag(const char *what, int code)
{
    if (code != 0)
        fprintf(stderr, "rank %d: %s returned %d\n", rank, what, code);
    return code;
}

static void CUDART_CB sum_fn(void *arg)
{
    (void)arg;
    for (int r = 0; r < world; r++)
        __atomic_fetch_add(&result, __atomic_load_n(&pinned[r], __ATOMIC_RELAXED),
                           __ATOMIC_RELEASE);
}

static void CUDART_CB copy_fn(void *arg)
{
    (void)arg;
    __atomic_store_n(&result, __atomic_load_n(&pinned[0], __ATOMIC_RELAXED), __ATOMIC_RELEASE);
}

static void construct_ipc(struct wrapper *w)
{
    cudaIpcMemHandle_t h, *all;
    int value = rank + 1;

    STEP(w, "MPI_Comm_split", MPI_SUCCESS, MPI_Comm_split(MPI_COMM_WORLD, 0, rank, &w->comm));
    STEP(w, "cudaMalloc", cudaSuccess, cudaMalloc(&w->ws, ws_bytes));
    STEP(w, "cudaMemcpy", cudaSuccess,
         cudaMemcpy(w->ws, &value, sizeof(int), cudaMemcpyHostToDevice));
    STEP(w, "cudaIpcGetMemHandle", cudaSuccess, cudaIpcGetMemHandle(&h, w->ws));
    all = calloc((size_t)world, sizeof(*all));
    STEP(w, "calloc", 1, all != NULL);
    {
        int e = MPI_Allgather(&h, sizeof(h), MPI_BYTE, all, sizeof(h), MPI_BYTE, w->comm);
        if (e != MPI_SUCCESS) {
            free(all);
            STEP(w, "MPI_Allgather", MPI_SUCCESS, e);
        }
    }
    for (int r = 0; r < world; r++) {
        cudaError_t e;
        if (r == rank)
            continue;
        e = cudaIpcOpenMemHandle(&w->peer[r], all[r], cudaIpcMemLazyEnablePeerAccess);
        if (e != cudaSuccess) {
            w->peer[r] = NULL;
            free(all);
            STEP(w, "cudaIpcOpenMemHandle", cudaSuccess, e);
        }
    }
    free(all);
    STEP(w, "cudaDeviceSynchronize", cudaSuccess, cudaDeviceSynchronize());
    STEP(w, "MPI_Barrier", MPI_SUCCESS, MPI_Barrier(w->comm));
    w->built = 1;
}

static void construct_nccl(struct wrapper *w)
{
    ncclUniqueId id;

    memset(&id, 0, sizeof(id));
    if (rank == 0)
        STEP(w, "ncclGetUniqueId", ncclSuccess, ncclGetUniqueId(&id));
    STEP(w, "MPI_Bcast", MPI_SUCCESS, MPI_Bcast(&id, sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD));
    {
        ncclResult_t e = ncclCommInitRank(&w->nc, world, id, rank);
        if (e != ncclSuccess) {
            w->nc = NULL; /* not a communicator to destroy; leaked rather than freed twice */
            STEP(w, "ncclCommInitRank", ncclSuccess, e);
        }
    }
    STEP(w, "cudaDeviceSynchronize", cudaSuccess, cudaDeviceSynchronize());
    w->built = 1;
}

static void construct(struct wrapper *w)
{
    void **peer = w->peer;

    memset(w, 0, sizeof(*w));
    w->comm = MPI_COMM_NULL;
    w->peer = peer;
    memset(w->peer, 0, (size_t)world * sizeof(*w->peer));
    if (path == PATH_IPC)
        construct_ipc(w);
    else
        construct_nccl(w);
}

static void *construct_thread(void *arg)
{
    construct(arg);
    return NULL;
}

/* Releases whatever the construction got, as a destructor would; errors go to stderr (inside the
 * capture, cudaFree of the workspace is itself a capture-unsafe call). */
static void destroy(struct wrapper *w)
{
    for (int r = 0; r < world; r++)
        if (w->peer[r]) {
            diag("cudaIpcCloseMemHandle", cudaIpcCloseMemHandle(w->peer[r]));
            w->peer[r] = NULL;
        }
    if (w->ws)
        diag("cudaFree", cudaFree(w->ws));
    w->ws = NULL;
    if (w->comm != MPI_COMM_NULL)
        diag("MPI_Comm_free", MPI_Comm_free(&w->comm));
    w->comm = MPI_COMM_NULL;
    if (w->nc)
        diag("ncclCommDestroy", ncclCommDestroy(w->nc));
    w->nc = NULL;
    w->built = 0;
}

static void use(struct wrapper *w, cudaStream_t s)
{
    if (path == PATH_IPC) {
        for (int r = 0; r < world; r++) {
            void *p = r == rank ? w->ws : w->peer[r];
            diag("cudaMemcpyAsync", cudaMemcpyAsync(&pinned[r], p, sizeof(int),
                                                    cudaMemcpyDeviceToHost, s));
        }
        diag("cudaLaunchHostFunc", cudaLaunchHostFunc(s, sum_fn, NULL));
    } else {
        diag("ncclAllReduce", ncclAllReduce(dbuf, dbuf, 1, ncclInt32, ncclSum, w->nc, s));
        diag("cudaMemcpyAsync", cudaMemcpyAsync(pinned, dbuf, sizeof(int),
                                                cudaMemcpyDeviceToHost, s));
        diag("cudaLaunchHostFunc", cudaLaunchHostFunc(s, copy_fn, NULL));
    }
}

/* Inputs of one run, set outside any capture: a stale value can never look like a result. */
static void prepare_run(void)
{
    int value = rank + 1;

    __atomic_store_n(&result, 0, __ATOMIC_RELEASE);
    for (int r = 0; r < world; r++)
        pinned[r] = 0;
    if (path == PATH_NCCL)
        diag("cudaMemcpy (input)", cudaMemcpy(dbuf, &value, sizeof(int),
                                              cudaMemcpyHostToDevice));
}

static void line(const char *fmt, int a, int b)
{
    printf("rank %d ", rank);
    printf(fmt, a, b);
    printf("\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct wrapper w;
    cudaStream_t s;
    cudaGraph_t graph = NULL;
    int ndev = 0, asym, cached, have = 0;

    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN); /* errors are findings */
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (argc != 3 || (strcmp(argv[1], "ipc") && strcmp(argv[1], "nccl")) ||
        (strcmp(argv[2], "symmetric") && strcmp(argv[2], "asymmetric") && strcmp(argv[2], "cached"))) {
        fprintf(stderr, "usage: mpirun -np N seed ipc|nccl symmetric|asymmetric|cached\n");
        MPI_Finalize();
        return 2;
    }
    path = strcmp(argv[1], "ipc") == 0 ? PATH_IPC : PATH_NCCL;
    asym = strcmp(argv[2], "asymmetric") == 0;
    cached = strcmp(argv[2], "cached") == 0;

    MUST(cudaGetDeviceCount(&ndev));
    MUST(cudaSetDevice(ndev > 0 ? rank % ndev : 0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaMallocHost((void **)&pinned, (size_t)world * sizeof(int)));
    if (path == PATH_NCCL)
        MUST(cudaMalloc((void **)&dbuf, sizeof(int)));
    memset(&w, 0, sizeof(w));
    w.comm = MPI_COMM_NULL;
    w.peer = calloc((size_t)world, sizeof(*w.peer));
    if (!w.peer) {
        fprintf(stderr, "rank %d: out of memory\n", rank);
        exit(3);
    }

    for (int k = 1; k <= WARMUPS; k++) {
        if (have && !cached)
            destroy(&w);
        if (!have || !cached)
            construct(&w);
        have = 1;
        prepare_run();
        if (w.built) {
            use(&w, s);
            diag("cudaStreamSynchronize", cudaStreamSynchronize(s));
        } else {
            fprintf(stderr, "rank %d: warm-up %d construct failed: %s %d\n", rank, k,
                    w.fail_call, w.fail_code);
        }
        line("warmup %d result %d", k, __atomic_load_n(&result, __ATOMIC_ACQUIRE));
        /* Not part of the seed: no rank frees its workspace while a peer still reads it. */
        MPI_Barrier(MPI_COMM_WORLD);
    }

    diag("cudaStreamBeginCapture", cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    if (cached) {
        if (rank == world - 1) { /* its cache has no wrapper for this dtype: a new one (the old one stays cached) */
            ws_bytes = 2 * WS_BYTES;
            construct(&w);
        }
    } else if (destroy(&w), asym && rank == world - 1) {
        pthread_t t;
        ws_bytes = 2 * WS_BYTES;
        if (pthread_create(&t, NULL, construct_thread, &w) == 0) {
            pthread_join(t, NULL);
        } else {
            fprintf(stderr, "rank %d: pthread_create failed; constructing on main\n", rank);
            construct(&w);
        }
    } else {
        construct(&w);
    }
    if (w.built) {
        printf("rank %d construct capture rc OK\n", rank);
    } else {
        printf("rank %d construct capture rc FAIL %s %d\n", rank, w.fail_call, w.fail_code);
    }
    fflush(stdout);
    if (w.built)
        use(&w, s);
    printf("rank %d endcapture rc %d\n", rank, (int)cudaStreamEndCapture(s, &graph));
    fflush(stdout);

    if (graph) {
        cudaGraphExec_t exec = NULL;
        int e = diag("cudaGraphInstantiate", cudaGraphInstantiate(&exec, graph, 0));
        for (int k = 1; k <= REPLAYS; k++) {
            prepare_run();
            if (e == cudaSuccess && diag("cudaGraphLaunch", cudaGraphLaunch(exec, s)) == 0)
                diag("cudaStreamSynchronize", cudaStreamSynchronize(s));
            line("replay %d result %d", k, __atomic_load_n(&result, __ATOMIC_ACQUIRE));
        }
        if (exec)
            diag("cudaGraphExecDestroy", cudaGraphExecDestroy(exec));
        diag("cudaGraphDestroy", cudaGraphDestroy(graph));
    }

    diag("MPI_Barrier", MPI_Barrier(MPI_COMM_WORLD));
    destroy(&w);
    free(w.peer);
    diag("cudaFreeHost", cudaFreeHost(pinned));
    if (dbuf)
        diag("cudaFree", cudaFree(dbuf));
    diag("cudaStreamDestroy", cudaStreamDestroy(s));
    printf("rank %d done\n", rank);
    fflush(stdout);
    MPI_Finalize();
    return 0;
}
