/* NCCL symmetric-memory windows registered again and again (vLLM #54626: registered during a
 * capture; NCCL #2331: the same window registered repeatedly until the VA space runs out).
 * One rank, one communicator. Prints: the registration made inside a capture and whether it is
 * the window registered before it; EndCapture; then the handles of 4 repeated registrations
 * outside any capture (each followed by nothing: the program keeps registering). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#include <nccl.h>
#pragma GCC diagnostic pop
#include "scen.h"

int main(void)
{
    ncclUniqueId id;
    ncclComm_t comm;
    ncclWindow_t w0 = NULL, w1 = NULL, again[4] = {NULL};
    cudaStream_t s;
    void *buf = NULL;
    MUST(cudaSetDevice(0));
    if (ncclGetUniqueId(&id) != ncclSuccess || ncclCommInitRank(&comm, 1, id, 0) != ncclSuccess)
        return 3;
    MUST(cudaMalloc(&buf, 1 << 20));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    printf("rc register %d\n", (int)ncclCommWindowRegister(comm, buf, 1 << 20, &w0, 0));
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    MUST(cudaLaunchHostFunc(s, scen_noop, NULL));
    printf("rc register_in_capture %d\n", (int)ncclCommWindowRegister(comm, buf, 1 << 20, &w1, 0));
    printf("fact same_window %d\n", w1 != NULL && w1 == w0);
    scen_end(s, "end");
    int same = 1;
    for (int i = 0; i < 4; i++) {
        ncclResult_t r = ncclCommWindowRegister(comm, buf, 1 << 20, &again[i], 0);
        same &= r == ncclSuccess && again[i] == w0;
    }
    printf("fact repeats_same_window %d\n", same);
    fflush(stdout);
    return 0;
}
