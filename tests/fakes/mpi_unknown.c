/* A stand-in for an MPI whose ABI capguard does not know (not Open MPI, not MPICH): int handles,
 * none of the symbols capguard detects an MPI by. capguard must forward its calls untouched:
 * never read or write a handle as if it were another ABI's, never memoize, never refuse.
 * Built as build/fakes/unknown-mpi/libmpi.so.12. */
#include <stdint.h>

#define EXPORT __attribute__((visibility("default")))
#define UNKNOWN_COMM_WORLD 91

static int next_comm = 100;

EXPORT int MPI_Comm_split(int comm, int color, int key, int *newcomm);
EXPORT int MPI_Comm_split(int comm, int color, int key, int *newcomm)
{
    (void)key;
    if (comm != UNKNOWN_COMM_WORLD || !newcomm)
        return 5;
    *newcomm = next_comm++ + color;
    return 0;
}
EXPORT int PMPI_Comm_split(int comm, int color, int key, int *newcomm) __attribute__((alias("MPI_Comm_split")));

EXPORT int MPI_Barrier(int comm);
EXPORT int MPI_Barrier(int comm) { return comm >= 100 ? 0 : 5; }
EXPORT int PMPI_Barrier(int comm) __attribute__((alias("MPI_Barrier")));

EXPORT int MPI_Comm_free(int *comm);
EXPORT int MPI_Comm_free(int *comm)
{
    if (!comm || *comm < 100)
        return 5;
    *comm = 0;
    return 0;
}
EXPORT int PMPI_Comm_free(int *comm) __attribute__((alias("MPI_Comm_free")));

EXPORT int PMPI_Comm_rank(int comm, int *rank);
EXPORT int PMPI_Comm_rank(int comm, int *rank) { (void)comm; *rank = 0; return 0; }
EXPORT int PMPI_Comm_size(int comm, int *size);
EXPORT int PMPI_Comm_size(int comm, int *size) { (void)comm; *size = 1; return 0; }
EXPORT int PMPI_Type_size(int type, int *size);
EXPORT int PMPI_Type_size(int type, int *size) { (void)type; *size = 1; return 0; }
