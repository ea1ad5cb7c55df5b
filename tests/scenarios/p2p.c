/* TensorRT-LLM's non-fabric workspace exchange, point to point: a wrapper built per call, in
 * warm-up and inside the capture, whose construction broadcasts a 64-byte handle from rank 0 with
 * MPI_Send / MPI_Recv and then meets the peer in a group barrier of MPI_Isend / MPI_Irecv +
 * MPI_Wait (issue 14, part 4).
 *   mpirun -np 2 p2p MODE
 *   MODE symmetric   the handle is the same every time: inside the capture every exchange is a
 *                    repeat, answered from its record on both ranks
 *   MODE asymmetric  inside the capture rank 0's handle is new: its send cannot be answered
 * Prints, per rank: "rank R construct K rc C handle H token T" (K = warmup1.. or capture; C the
 * first failing call's code, 0 if none; H the handle's first byte; T the token received) and
 * "rank R endcapture rc N", "rank R done". Never exits on an error. */
#include <mpi.h>
#include <string.h>
#include "scen.h"

static int rank, world;

static int construct(const char *when, int gen)
{
    unsigned char handle[64];
    int token = rank + 10, got = -1, rc;
    MPI_Request rq[2];
    memset(handle, rank == 0 ? 'A' + gen : 0, sizeof handle);
    if (rank == 0) {
        rc = MPI_Send(handle, sizeof handle, MPI_BYTE, 1, 7, MPI_COMM_WORLD);
    } else {
        rc = MPI_Recv(handle, sizeof handle, MPI_BYTE, 0, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    }
    if (rc == MPI_SUCCESS)
        rc = MPI_Isend(&token, 1, MPI_INT, 1 - rank, 8, MPI_COMM_WORLD, &rq[0]);
    if (rc == MPI_SUCCESS)
        rc = MPI_Irecv(&got, 1, MPI_INT, 1 - rank, 8, MPI_COMM_WORLD, &rq[1]);
    if (rc == MPI_SUCCESS)
        rc = MPI_Wait(&rq[0], MPI_STATUS_IGNORE);
    if (rc == MPI_SUCCESS)
        rc = MPI_Wait(&rq[1], MPI_STATUS_IGNORE);
    printf("rank %d construct %s rc %d handle %c token %d\n", rank, when, rc, handle[0] ? handle[0] : '0', got);
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int asym = argc > 1 && strcmp(argv[1], "asymmetric") == 0;
    if (world != 2) {
        fprintf(stderr, "p2p: needs 2 ranks\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    cudaStream_t s;
    cudaGraph_t g = NULL;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    char when[16];
    for (int i = 1; i <= 3; i++) {
        snprintf(when, sizeof when, "warmup%d", i);
        construct(when, 0);
    }
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    MUST(cudaLaunchHostFunc(s, scen_noop, NULL));
    construct("capture", asym && rank == 0 ? 1 : 0);
    printf("rank %d endcapture rc %d\n", rank, (int)cudaStreamEndCapture(s, &g));
    if (g)
        cudaGraphDestroy(g);
    MPI_Barrier(MPI_COMM_WORLD);
    printf("rank %d done\n", rank);
    fflush(stdout);
    MPI_Finalize();
    return 0;
}
