/* A lazy communicator init inside a capture (issue 14, part 3): torch.distributed's first
 * collective inside torch.cuda.graph. Each rank begins a Global capture, and its first
 * collective makes the communicator there: rank 0's ncclGetUniqueId, the id passed through a
 * file store (as torch's TCPStore does, a channel capguard does not see), ncclCommInitRank,
 * then the captured ncclAllReduce. The graph is replayed and the result read back.
 *   mpirun -np N lazy_init STORE_DIR MODE
 *   MODE symmetric   every rank's first collective is inside its capture
 *   MODE asymmetric  only the last rank's is: it waits in the init for ranks that never come
 *                    (rank 0 still publishes the id, then goes on to the final barrier)
 * Prints, per rank ("rank R ..."): "init RC", "end RC", "result V" (expected N(N+1)/2), "done". MPI is used
 * only outside the captures (a barrier at the start and at the end). */
#include <mpi.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <nccl.h>
#pragma GCC diagnostic pop
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "scen.h"

/* The store: rank 0 writes the id to DIR/id (through a rename, so a reader never sees half of
 * it); the others poll for it, for at most a minute. */
static int store_set(const char *dir, const ncclUniqueId *id)
{
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/id.tmp", dir);
    snprintf(path, sizeof path, "%s/id", dir);
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(id, sizeof *id, 1, f) != 1) {
        if (f)
            fclose(f);
        return -1;
    }
    return fclose(f) == 0 && rename(tmp, path) == 0 ? 0 : -1;
}

static int store_get(const char *dir, ncclUniqueId *id)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/id", dir);
    for (int i = 0; i < 6000; i++) {
        FILE *f = fopen(path, "rb");
        if (f) {
            size_t got = fread(id, sizeof *id, 1, f);
            fclose(f);
            if (got == 1)
                return 0;
        }
        struct timespec d = {0, 10 * 1000 * 1000};
        nanosleep(&d, NULL);
    }
    return -1;
}

int main(int argc, char **argv)
{
    int rank, world;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (argc != 3 || (strcmp(argv[2], "symmetric") && strcmp(argv[2], "asymmetric"))) {
        fprintf(stderr, "usage: lazy_init STORE_DIR symmetric|asymmetric\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    int lazy = !strcmp(argv[2], "symmetric") || rank == world - 1;

    int *dbuf, *pinned, value = rank + 1;
    cudaStream_t s;
    cudaGraph_t g = NULL;
    cudaGraphExec_t x = NULL;
    ncclComm_t comm = NULL;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaMalloc((void **)&dbuf, sizeof(int)));
    MUST(cudaMallocHost((void **)&pinned, sizeof(int)));
    MUST(cudaMemcpy(dbuf, &value, sizeof(int), cudaMemcpyHostToDevice));
    MPI_Barrier(MPI_COMM_WORLD);

    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    int init = -1;
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (rank == 0) /* the store's owner: it publishes an id whether or not it goes on to use it */
        init = ncclGetUniqueId(&id) == ncclSuccess && store_set(argv[1], &id) == 0 ? -1 : -2;
    if (lazy) {
        int got = rank == 0 ? (init == -1 ? 0 : -1) : store_get(argv[1], &id);
        init = got != 0 ? -2 : (int)ncclCommInitRank(&comm, world, id, rank);
        printf("rank %d init %d\n", rank, init);
        fflush(stdout);
        if (init == 0)
            ncclAllReduce(dbuf, dbuf, 1, ncclInt32, ncclSum, comm, s);
    }
    cudaMemcpyAsync(pinned, dbuf, sizeof(int), cudaMemcpyDeviceToHost, s);
    int end = (int)cudaStreamEndCapture(s, &g);
    printf("rank %d end %d\n", rank, end);
    fflush(stdout);
    if (end == 0 && cudaGraphInstantiate(&x, g, 0) == cudaSuccess && cudaGraphLaunch(x, s) == cudaSuccess &&
        cudaStreamSynchronize(s) == cudaSuccess)
        printf("rank %d result %d\n", rank, *pinned);
    fflush(stdout);
    if (x)
        cudaGraphExecDestroy(x);
    if (g)
        cudaGraphDestroy(g);
    if (comm)
        ncclCommDestroy(comm);
    MPI_Barrier(MPI_COMM_WORLD);
    printf("rank %d done\n", rank);
    MPI_Finalize();
    return 0;
}
