/* Real two-rank NCCL (issue 15): one rank per GPU (rank % devices), a communicator between them.
 *   mpirun -np 2 allreduce_graph sweep MAXBYTES N R
 *       one communicator; for each size from 8 B up by 8x to MAXBYTES (and MAXBYTES itself), N
 *       all-reduces of it captured into one graph, replayed R times after one warm replay. Prints
 *       "bw BYTES US_PER_ALLREDUCE BUSBW_GBS", "check BYTES ok|bad" (the sum of every rank's
 *       values) and "sum BYTES HASH" (the result's bytes: the same bare and under capguard)
 *   mpirun -np 2 allreduce_graph init K [keep]
 *       K constructions of a communicator (ncclGetUniqueId on rank 0, MPI_Bcast, ncclCommInitRank,
 *       then ncclCommDestroy; with keep, none is destroyed: a wrapper rebuilt per call that never
 *       frees the old one) at one site: prints "init US_PER_CONSTRUCTION" (with keep, under
 *       CAPGUARD_MEMO=always every repeat is a memo hit)
 *   mpirun -np 2 allreduce_graph diverge
 *       rank 0 captures an all-reduce, the others a broadcast, on one communicator (SGLang PR
 *       #37933's shape), then launch the graph once: prints "endcapture rc N", "launch rc N" and
 *       "replayed" (a launch that cannot match may never return: the runner bounds it)
 * Lines are "rank R ..."; never exits on a CUDA or NCCL error (prints it). */
#include <mpi.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <nccl.h>
#pragma GCC diagnostic pop
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "scen.h"

static int rank, world;

#define SAY(...)                      \
    do {                              \
        printf("rank %d ", rank);     \
        printf(__VA_ARGS__);          \
        printf("\n");                 \
        fflush(stdout);               \
    } while (0)

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int make_comm(ncclComm_t *comm)
{
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (rank == 0 && ncclGetUniqueId(&id) != ncclSuccess)
        return -1;
    if (MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        return -2;
    ncclResult_t r = ncclCommInitRank(comm, world, id, rank);
    return r == ncclSuccess ? 0 : (int)r;
}

static uint64_t fnv(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* N all-reduces of `bytes` captured into one graph, replayed R times. */
static void sweep_one(ncclComm_t comm, cudaStream_t s, size_t bytes, int n, int r, float *host)
{
    size_t count = bytes / sizeof(float);
    float *send = NULL, *recv = NULL;
    cudaGraph_t g = NULL;
    cudaGraphExec_t e = NULL;
    for (size_t i = 0; i < count; i++)
        host[i] = (float)((rank + 1) * (int)(i % 13 + 1));
    MUST(cudaMalloc((void **)&send, bytes));
    MUST(cudaMalloc((void **)&recv, bytes));
    MUST(cudaMemcpy(send, host, bytes, cudaMemcpyHostToDevice));
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    for (int k = 0; k < n; k++)
        if (ncclAllReduce(send, recv, count, ncclFloat, ncclSum, comm, s) != ncclSuccess)
            SAY("allreduce %zu failed", bytes);
    cudaError_t rc = cudaStreamEndCapture(s, &g);
    if (rc != cudaSuccess || cudaGraphInstantiate(&e, g, 0) != cudaSuccess) {
        SAY("endcapture %zu rc %d", bytes, (int)rc);
        return;
    }
    MUST(cudaGraphLaunch(e, s));
    MUST(cudaStreamSynchronize(s));
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    for (int k = 0; k < r; k++)
        MUST(cudaGraphLaunch(e, s));
    MUST(cudaStreamSynchronize(s));
    double t = (now_s() - t0) / ((double)r * n);
    MUST(cudaMemcpy(host, recv, bytes, cudaMemcpyDeviceToHost));
    int good = 1;
    for (size_t i = 0; i < count && good; i++)
        good = host[i] == (float)(world * (world + 1) / 2 * (int)(i % 13 + 1));
    SAY("bw %zu %.2f %.6g", bytes, t * 1e6, (double)bytes / t * 2.0 * (world - 1) / world / 1e9);
    SAY("check %zu %s", bytes, good ? "ok" : "bad");
    SAY("sum %zu %016llx", bytes, (unsigned long long)fnv(host, bytes));
    cudaGraphExecDestroy(e);
    cudaGraphDestroy(g);
    cudaFree(send);
    cudaFree(recv);
}

static void sweep(size_t max, int n, int r)
{
    ncclComm_t comm;
    cudaStream_t s;
    float *host = malloc(max);
    int rc = make_comm(&comm);
    if (rc || !host) {
        SAY("init rc %d", rc);
        return;
    }
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    size_t b = 8;
    for (; b < max; b *= 8)
        sweep_one(comm, s, b, n, r, host);
    sweep_one(comm, s, max, n, r, host);
    ncclCommDestroy(comm);
    free(host);
}

static void inits(int k, int keep)
{
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    for (int i = 0; i < k; i++) {
        ncclComm_t comm;
        int rc = make_comm(&comm);
        if (rc) {
            SAY("init rc %d", rc);
            return;
        }
        if (!keep)
            ncclCommDestroy(comm);
    }
    SAY("init %.1f", (now_s() - t0) / k * 1e6);
}

static void diverge(void)
{
    ncclComm_t comm;
    cudaStream_t s;
    cudaGraph_t g = NULL;
    cudaGraphExec_t e = NULL;
    float *buf = NULL;
    int rc = make_comm(&comm);
    if (rc) {
        SAY("init rc %d", rc);
        return;
    }
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaMalloc((void **)&buf, 4096));
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
    if (rank == 0)
        ncclAllReduce(buf, buf, 1024, ncclFloat, ncclSum, comm, s);
    else
        ncclBroadcast(buf, buf, 1024, ncclFloat, 0, comm, s);
    SAY("endcapture rc %d", (int)cudaStreamEndCapture(s, &g));
    if (g && cudaGraphInstantiate(&e, g, 0) == cudaSuccess) {
        SAY("launch rc %d", (int)cudaGraphLaunch(e, s));
        cudaStreamSynchronize(s);
        SAY("replayed");
    }
}

int main(int argc, char **argv)
{
    int ndev = 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    MUST(cudaGetDeviceCount(&ndev));
    MUST(cudaSetDevice(ndev > 0 ? rank % ndev : 0));
    const char *m = argc > 1 ? argv[1] : "";
    if (strcmp(m, "sweep") == 0 && argc == 5)
        sweep(strtoull(argv[2], NULL, 10), atoi(argv[3]), atoi(argv[4]));
    else if (strcmp(m, "init") == 0 && (argc == 3 || (argc == 4 && strcmp(argv[3], "keep") == 0)))
        inits(atoi(argv[2]), argc == 4);
    else if (strcmp(m, "diverge") == 0)
        diverge();
    else
        fprintf(stderr, "usage: allreduce_graph sweep MAXBYTES N R | init K [keep] | diverge\n");
    SAY("done");
    MPI_Finalize();
    return 0;
}
