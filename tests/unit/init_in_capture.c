/* A communicator init inside a capture (a lazy init, as torch.distributed's first collective
 * makes): the init's own device allocation, below capguard's depth guard, ruins the capture. Under
 * CAPGUARD=observe the init is forwarded; the capture's 901 must name it as the cause (issue 14).
 * Prints "init RC" and "end RC"; tests/run.sh reads them, stderr and the log. */
#include <cuda_runtime_api.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <nccl.h>
#pragma GCC diagnostic pop
#include <stdio.h>

int main(void)
{
    cudaStream_t s;
    ncclUniqueId id;
    ncclComm_t comm;
    cudaGraph_t g = NULL;
    cudaSetDevice(0);
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    ncclGetUniqueId(&id);
    cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
    int init = (int)ncclCommInitRank(&comm, 1, id, 0); /* the lazy init */
    int end = (int)cudaStreamEndCapture(s, &g);
    printf("init %d\nend %d\n", init, end);
    return 0;
}
