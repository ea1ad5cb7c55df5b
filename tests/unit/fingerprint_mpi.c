/* Two ranks capture NCCL collectives (each on a one-rank communicator of the test doubles), the
 * same ones ("same") or a different second one on rank 1 ("diverge": a Broadcast where rank 0
 * does an AllReduce, the SGLang #37933 shape). capguard logs each capture's fingerprint at its
 * end and compares them at the graph's first launch (both ranks have ended their captures:
 * a barrier first); tests/run.sh reads the logs. Prints "rank R end RC" and "rank R launch RC". */
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
    MPI_Barrier(MPI_COMM_WORLD); /* both fingerprints are in the logs before either launches */
    cudaGraphExec_t exec;
    if (argc > 2 && strcmp(argv[2], "params") == 0) { /* CUDA 12's instantiation (vLLM/SGLang via torch) */
        cudaGraphInstantiateParams p;
        memset(&p, 0, sizeof p);
        cudaGraphInstantiateWithParams(&exec, g, &p);
    } else {
        cudaGraphInstantiate(&exec, g, 0);
    }
    int rc = (int)cudaGraphLaunch(exec, s);
    cudaStreamSynchronize(s);
    printf("rank %d launch %d\n", rank, rc);
    ncclCommDestroy(comm);
    MPI_Finalize();
    return 0;
}
