/* An MPI capguard does not know (tests/fakes/mpi_unknown.c: int handles, no Open MPI or MPICH
 * symbols), called inside a capture: capguard must forward every call untouched. The handle
 * out-parameter sits between two guard words: nothing may be written beside it. */
#include "scen.h"

int MPI_Comm_split(int comm, int color, int key, int *newcomm);
int MPI_Barrier(int comm);
int MPI_Comm_free(int *comm);

int main(void)
{
    struct {
        int before, comm, after;
    } box = {0x11111111, -1, 0x22222222};
    cudaStream_t s;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    MUST(cudaLaunchHostFunc(s, scen_noop, NULL));
    printf("rc split %d\n", MPI_Comm_split(91, 2, 0, &box.comm));
    printf("rc barrier %d\n", MPI_Barrier(box.comm));
    printf("fact comm %d\nfact guards_intact %d\n", box.comm, box.before == 0x11111111 && box.after == 0x22222222);
    printf("rc free %d\n", MPI_Comm_free(&box.comm));
    printf("fact comm_after_free %d\n", box.comm);
    scen_end(s, "end");
    return 0;
}
