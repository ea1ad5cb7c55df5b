/* Which MPI is loaded, and what its handles mean. MPI's ABI differs by implementation: Open
 * MPI's handles are pointers to exported objects (MPI_COMM_WORLD is &ompi_mpi_comm_world),
 * MPICH's are 32-bit ints with fixed values. The hooks declare handles uintptr_t so that any
 * ABI is forwarded unchanged; only here are they interpreted, and only for an MPI recognised at
 * run time. An unrecognised MPI gets pass-through only: nothing read, nothing written.
 * Must never: write an MPI_Comm out-parameter wider than the ABI's handle. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include "model.h"

static struct cg_mpi mpi;
static int detected;

#define MPICH_COMM_WORLD 0x44000000u
#define MPICH_COMM_SELF 0x44000001u
#define MPICH_COMM_NULL 0x04000000u
#define MPICH_ERR_OTHER 15
#define MPICH_REQUEST_NULL 0x2c000000u
#define OMPI_ERR_OTHER 16

/* A data symbol's address as the program sees it: a program linked against libmpi may hold a
 * copy of ompi_mpi_comm_world in its own image (copy relocation), and MPI_COMM_WORLD is then that
 * copy's address; the global scope finds it first, the library's handle only the original. */
static void *data_sym(const char *name)
{
    void *p = dlsym(RTLD_DEFAULT, name);
    return p ? p : cg_lib_sym(CG_LIB_MPI, name);
}

const struct cg_mpi *cg_mpi(void)
{
    if (__atomic_load_n(&detected, __ATOMIC_ACQUIRE))
        return &mpi;
    struct cg_mpi m = {.abi = CG_MPI_UNKNOWN};
    void *world = data_sym("ompi_mpi_comm_world");
    if (world) {
        m.abi = CG_MPI_OPENMPI;
        m.handle_size = sizeof(void *);
        m.comm_world = (uintptr_t)world;
        m.comm_self = (uintptr_t)data_sym("ompi_mpi_comm_self");
        m.comm_null = (uintptr_t)data_sym("ompi_mpi_comm_null");
        m.in_place = 1; /* (void *)1 */
        m.request_null = (uintptr_t)data_sym("ompi_request_null");
        m.status_ignore = 0; /* (MPI_Status *)0 */
        m.err_other = OMPI_ERR_OTHER;
    } else if (cg_lib_sym(CG_LIB_MPI, "MPIR_Err_return_comm") || cg_lib_sym(CG_LIB_MPI, "MPIR_Process")) {
        m.abi = CG_MPI_MPICH;
        m.handle_size = sizeof(int);
        m.comm_world = MPICH_COMM_WORLD;
        m.comm_self = MPICH_COMM_SELF;
        m.comm_null = MPICH_COMM_NULL;
        m.in_place = (uintptr_t)-1; /* (void *)-1 */
        m.request_null = MPICH_REQUEST_NULL;
        m.status_ignore = 1; /* (MPI_Status *)1 */
        m.err_other = MPICH_ERR_OTHER;
    }
    m.comm_rank = (int (*)(uintptr_t, int *))cg_lib_sym(CG_LIB_MPI, "PMPI_Comm_rank");
    m.comm_size = (int (*)(uintptr_t, int *))cg_lib_sym(CG_LIB_MPI, "PMPI_Comm_size");
    m.type_size = (int (*)(uintptr_t, int *))cg_lib_sym(CG_LIB_MPI, "PMPI_Type_size");
    m.comm_free = (int (*)(void *))cg_lib_sym(CG_LIB_MPI, "PMPI_Comm_free");
    if (!m.comm_rank || !m.comm_size || !m.type_size || !m.comm_free || (m.abi == CG_MPI_OPENMPI && (!m.comm_null || !m.request_null)))
        m.abi = CG_MPI_UNKNOWN;
    mpi = m;
    if (m.abi != CG_MPI_UNKNOWN) /* MPI may be loaded later: keep asking until it is known */
        __atomic_store_n(&detected, 1, __ATOMIC_RELEASE);
    return &mpi;
}

uintptr_t cg_mpi_handle(uintptr_t h)
{
    const struct cg_mpi *m = cg_mpi();
    return m->handle_size == sizeof(int) ? (uintptr_t)(uint32_t)h : h;
}

uintptr_t cg_mpi_read_comm(const void *p)
{
    const struct cg_mpi *m = cg_mpi();
    if (m->abi == CG_MPI_UNKNOWN || !p)
        return 0;
    if (m->handle_size == sizeof(int))
        return *(const uint32_t *)p;
    return *(const uintptr_t *)p;
}

void cg_mpi_write_comm(void *p, uintptr_t h)
{
    const struct cg_mpi *m = cg_mpi();
    if (m->abi == CG_MPI_UNKNOWN || !p)
        return;
    if (m->handle_size == sizeof(int))
        *(uint32_t *)p = (uint32_t)h;
    else
        *(uintptr_t *)p = h;
}

int cg_mpi_rank_size(uintptr_t comm, int *rank, int *size)
{
    const struct cg_mpi *m = cg_mpi();
    *rank = *size = -1;
    if (m->abi == CG_MPI_UNKNOWN)
        return -1;
    if (m->comm_rank(comm, rank) != 0 || m->comm_size(comm, size) != 0)
        return -1;
    return 0;
}

size_t cg_mpi_type_size(uintptr_t type)
{
    const struct cg_mpi *m = cg_mpi();
    int s = 0;
    if (m->abi == CG_MPI_UNKNOWN || m->type_size(type, &s) != 0 || s < 0)
        return 0;
    return (size_t)s;
}

/* A built-in communicator's name, the same on every rank ("WORLD", "SELF"); -1 for any other
 * (the memo names those by their creation). */
int cg_mpi_comm_builtin(uintptr_t comm, char *out, size_t n)
{
    const struct cg_mpi *m = cg_mpi();
    comm = cg_mpi_handle(comm);
    if (m->abi != CG_MPI_UNKNOWN && comm == m->comm_world)
        snprintf(out, n, "WORLD");
    else if (m->abi != CG_MPI_UNKNOWN && comm == m->comm_self)
        snprintf(out, n, "SELF");
    else
        return -1;
    return 0;
}
