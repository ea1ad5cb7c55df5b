/* Two ranks capture NCCL collectives (each on a one-rank communicator of the test doubles), the
 * same ones ("same") or a different second one on rank 1 ("diverge": a Broadcast where rank 0
 * does an AllReduce, the SGLang #37933 shape). capguard logs each capture's fingerprint at its
 * end; tests/run.sh compares the ranks'. Prints "rank R end RC". */
#include <cuda_runtime.h>
#include <mpi.h>
#include <nccl.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    int rank, diverge = argc > 1 && strcmp(argv[1], "diverge") == 0;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    ncclUniqueId id;
    ncclComm_t comm;
    cudaStream_t s;
    cudaGraph_t g;
    float *buf;
    ncclGetUniqueId(&id);
    ncclCommInitRank(&comm, 1, id, 0);
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    cudaMalloc((void **)&buf, 64 * sizeof(float));
    cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
    ncclAllReduce(buf, buf, 16, ncclFloat, ncclSum, comm, s);
    if (diverge && rank == 1)
        ncclBroadcast(buf, buf, 32, ncclFloat, 0, comm, s);
    else
        ncclAllReduce(buf, buf, 32, ncclFloat, ncclSum, comm, s);
    printf("rank %d end %d\n", rank, (int)cudaStreamEndCapture(s, &g));
    ncclCommDestroy(comm);
    MPI_Finalize();
    return 0;
}
