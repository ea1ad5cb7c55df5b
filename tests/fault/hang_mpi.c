/* A rank alone in a host collective inside a capture, the hang capguard's watchdog must name:
 * under CAPGUARD=observe the guard forwards, so rank 0's MPI_Barrier really blocks. Rank 0
 * begins a capture (the test doubles' runtime) and enters the barrier; rank 1 waits until rank
 * 0's log shows the watchdog naming it (polling $CAPGUARD_LOG_DIR, at most 20 s), then enters
 * the barrier too, which releases both. Prints "rank R named N" (rank 1) and "rank R done". */
#include <cuda_runtime.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "logscan.h"

static int rank0_named(void)
{
    return logscan_has(getenv("CAPGUARD_LOG_DIR"), "\"rank\":0,", "\"ev\":\"watchdog\"", "MPI_Barrier", (char *)NULL);
}

int main(int argc, char **argv)
{
    int rank;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) {
        cudaStream_t s;
        cudaGraph_t g;
        cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
        cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
        MPI_Barrier(MPI_COMM_WORLD); /* alone until rank 1 sees the watchdog's line */
        printf("rank 0 end %d\n", (int)cudaStreamEndCapture(s, &g));
    } else {
        int named = 0;
        for (int i = 0; i < 2000 && !(named = rank0_named()); i++) {
            struct timespec t = {0, 10 * 1000000L};
            nanosleep(&t, NULL);
        }
        printf("rank 1 named %d\n", named);
        fflush(stdout);
        MPI_Barrier(MPI_COMM_WORLD);
    }
    printf("rank %d done\n", rank);
    MPI_Finalize();
    return 0;
}
