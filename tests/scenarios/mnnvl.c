/* The seed's real workspace (TensorRT-LLM's MNNVL, McastDeviceMemory): an allreduce wrapper built
 * per call, in warm-up and inside the capture, the previous one destroyed first. Its construction:
 * MPI_Comm_split, cuMemCreate, cuMemAddressReserve (room for every rank), the handle exported and
 * MPI_Allgather'ed, each peer's imported (FABRIC: by its bytes; POSIX fd: through pidfd_getfd),
 * every rank's memory mapped, cuMemSetAccess, a multicast object bound to the own memory, a "to be
 * safe" cudaDeviceSynchronize and MPI_Barrier (issue 14, part 4).
 *   mpirun -np N mnnvl HANDLE MODE
 *   HANDLE fabric | posix
 *   MODE   symmetric   every rank rebuilds alike inside the capture
 *          asymmetric  inside the capture the last rank asks for a workspace twice the size (a
 *                      workspace that grows): its memo must not serve the smaller one
 * Each rank writes rank+1 into its own memory through its mapping and, after the barrier, sums what
 * every rank's mapping holds (expected N(N+1)/2): the test doubles' VMM memory is shared host memory,
 * so this scenario runs on them only. Prints per rank: "rank R construct K rc OK sum S" or "rank R
 * construct K rc FAIL CALL CODE", "rank R endcapture rc N", "rank R done". Never exits on an error. */
#define _GNU_SOURCE
#include <cuda.h>
#include <mpi.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "scen.h"

#define MAXR 8

struct wrapper {
    MPI_Comm comm;
    CUmemGenericAllocationHandle own, peer[MAXR], mc;
    CUdeviceptr va;
    size_t size;
    int mapped[MAXR], have_mc;
    const char *fail;
    int code;
};

static int rank, world, fabric;

#define STEP(w, name, expr)                  \
    do {                                     \
        int e_ = (int)(expr);                \
        if (e_ != 0) {                       \
            (w)->fail = (name);              \
            (w)->code = e_;                  \
            return;                          \
        }                                    \
    } while (0)

/* Every peer's handle, exchanged over comm: a FABRIC handle's 64 bytes, or (pid, fd). */
struct exported {
    union {
        CUmemFabricHandle fh;
        struct {
            int pid, fd;
        } posix;
    } u;
};

static int import_peer(struct wrapper *w, const struct exported *e, int r)
{
    if (fabric)
        return (int)cuMemImportFromShareableHandle(&w->peer[r], (void *)&e->u.fh, CU_MEM_HANDLE_TYPE_FABRIC);
    int pidfd = (int)syscall(SYS_pidfd_open, e->u.posix.pid, 0);
    int fd = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, e->u.posix.fd, 0);
    int rc = fd < 0 ? 999 : (int)cuMemImportFromShareableHandle(&w->peer[r], (void *)(intptr_t)fd,
                                                                CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
    if (fd >= 0)
        close(fd);
    if (pidfd >= 0)
        close(pidfd);
    return rc;
}

static void construct(struct wrapper *w, size_t mult)
{
    CUmemAllocationProp prop;
    CUmulticastObjectProp mprop;
    CUmemAccessDesc access;
    struct exported me, all[MAXR];
    size_t g = 0;
    memset(w, 0, sizeof *w);
    memset(&prop, 0, sizeof prop);
    memset(&me, 0, sizeof me);
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 0;
    prop.requestedHandleTypes = fabric ? CU_MEM_HANDLE_TYPE_FABRIC : CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
    STEP(w, "MPI_Comm_split", MPI_Comm_split(MPI_COMM_WORLD, 0, rank, &w->comm));
    STEP(w, "cuMemGetAllocationGranularity",
         cuMemGetAllocationGranularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED));
    w->size = g * mult;
    STEP(w, "cuMemCreate", cuMemCreate(&w->own, w->size, &prop, 0));
    STEP(w, "cuMemAddressReserve", cuMemAddressReserve(&w->va, w->size * (size_t)world, 0, 0, 0));
    if (fabric) {
        STEP(w, "cuMemExportToShareableHandle", cuMemExportToShareableHandle(&me.u.fh, w->own, CU_MEM_HANDLE_TYPE_FABRIC, 0));
    } else {
        me.u.posix.pid = (int)getpid();
        STEP(w, "cuMemExportToShareableHandle",
             cuMemExportToShareableHandle(&me.u.posix.fd, w->own, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0));
    }
    STEP(w, "MPI_Allgather", MPI_Allgather(&me, sizeof me, MPI_BYTE, all, sizeof me, MPI_BYTE, w->comm));
    STEP(w, "MPI_Barrier", MPI_Barrier(w->comm)); /* every peer imported: the exported fds may be closed */
    for (int r = 0; r < world; r++) {
        if (r != rank)
            STEP(w, "cuMemImportFromShareableHandle", import_peer(w, &all[r], r));
        STEP(w, "cuMemMap", cuMemMap(w->va + (CUdeviceptr)r * w->size, w->size, 0, r == rank ? w->own : w->peer[r], 0));
        w->mapped[r] = 1;
    }
    MPI_Barrier(w->comm);
    if (!fabric)
        close(me.u.posix.fd);
    memset(&access, 0, sizeof access);
    access.location = prop.location;
    access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    STEP(w, "cuMemSetAccess", cuMemSetAccess(w->va, w->size * (size_t)world, &access, 1));
    memset(&mprop, 0, sizeof mprop);
    mprop.numDevices = (unsigned)world;
    mprop.size = w->size;
    mprop.handleTypes = prop.requestedHandleTypes;
    STEP(w, "cuMulticastCreate", cuMulticastCreate(&w->mc, &mprop));
    w->have_mc = 1;
    STEP(w, "cuMulticastAddDevice", cuMulticastAddDevice(w->mc, 0));
    STEP(w, "cuMulticastBindMem", cuMulticastBindMem(w->mc, 0, w->own, 0, w->size, 0));
    *(volatile int *)(uintptr_t)(w->va + (CUdeviceptr)rank * w->size) = rank + 1;
    STEP(w, "cudaDeviceSynchronize", cudaDeviceSynchronize());
    STEP(w, "MPI_Barrier", MPI_Barrier(w->comm));
}

static void destroy(struct wrapper *w)
{
    if (!w->size)
        return;
    if (w->have_mc) {
        cuMulticastUnbind(w->mc, 0, 0, w->size);
        cuMemRelease(w->mc);
    }
    for (int r = 0; r < world; r++) {
        if (w->mapped[r])
            cuMemUnmap(w->va + (CUdeviceptr)r * w->size, w->size);
        if (r != rank && w->peer[r])
            cuMemRelease(w->peer[r]);
    }
    if (w->va)
        cuMemAddressFree(w->va, w->size * (size_t)world);
    if (w->own)
        cuMemRelease(w->own);
    if (w->comm != MPI_COMM_NULL && w->comm)
        MPI_Comm_free(&w->comm);
    memset(w, 0, sizeof *w);
}

static void report(const struct wrapper *w, const char *when)
{
    if (w->fail) {
        printf("rank %d construct %s rc FAIL %s %d\n", rank, when, w->fail, w->code);
    } else {
        int sum = 0;
        for (int r = 0; r < world; r++)
            sum += *(volatile int *)(uintptr_t)(w->va + (CUdeviceptr)r * w->size);
        printf("rank %d construct %s rc OK sum %d\n", rank, when, sum);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (argc != 3 || world > MAXR) {
        fprintf(stderr, "usage: mpirun -np N (N <= %d) mnnvl fabric|posix symmetric|asymmetric\n", MAXR);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    fabric = strcmp(argv[1], "fabric") == 0;
    int asym = strcmp(argv[2], "asymmetric") == 0;
    cudaStream_t s;
    cudaGraph_t g = NULL;
    struct wrapper w;
    char when[16];
    memset(&w, 0, sizeof w);
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    for (int i = 1; i <= 3; i++) {
        destroy(&w);
        construct(&w, 2);
        snprintf(when, sizeof when, "warmup%d", i);
        report(&w, when);
    }
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    MUST(cudaLaunchHostFunc(s, scen_noop, NULL));
    destroy(&w);
    construct(&w, asym && rank == world - 1 ? 4 : 2);
    cudaError_t end = cudaStreamEndCapture(s, &g);
    report(&w, "capture");
    printf("rank %d endcapture rc %d\n", rank, (int)end);
    if (g)
        cudaGraphDestroy(g);
    MPI_Barrier(MPI_COMM_WORLD);
    destroy(&w);
    MPI_Barrier(MPI_COMM_WORLD);
    printf("rank %d done\n", rank);
    fflush(stdout);
    MPI_Finalize();
    return 0;
}
