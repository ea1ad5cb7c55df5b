/* The MPI in this process, as mpi.c detected it (see there). */
#ifndef CG_MPI_ABI_H
#define CG_MPI_ABI_H
#include <stddef.h>
#include <stdint.h>

enum { CG_MPI_UNKNOWN, CG_MPI_OPENMPI, CG_MPI_MPICH };

struct cg_mpi {
    int abi;
    size_t handle_size;
    uintptr_t comm_world, comm_self, comm_null, in_place;
    int err_other; /* MPI_ERR_OTHER */
    int (*comm_rank)(uintptr_t, int *);
    int (*comm_size)(uintptr_t, int *);
    int (*type_size)(uintptr_t, int *);
    int (*comm_free)(void *);
};

const struct cg_mpi *cg_mpi(void);
uintptr_t cg_mpi_handle(uintptr_t h);
uintptr_t cg_mpi_read_comm(const void *p);
void cg_mpi_write_comm(void *p, uintptr_t h);
int cg_mpi_rank_size(uintptr_t comm, int *rank, int *size);
size_t cg_mpi_type_size(uintptr_t type);
void cg_mpi_comm_name(uintptr_t comm, char *out, size_t n);
int cg_memo_name_of(uintptr_t handle, char *out, size_t n); /* memo.c: "#id" of a memo object */
#endif
