/* The model layer: pure state, no output. Capture legality (model/capture.c: which captures are
 * active, thread modes, joins through events, device-to-host copies, the gate between captures
 * and the work run after them) and the MPI ABI (model/mpi.c). Uses only the base. */
#ifndef CG_MODEL_H
#define CG_MODEL_H
#include "base.h"

/* ---- capture.c ---- */
extern int cg_active_captures; /* captures begun and not ended, process-wide */
void cg_cap_lock(void);
void cg_cap_unlock(void);
void cg_cap_lock_raw(void);   /* for a signal handler's call: prepares no memory */
void cg_cap_unlock_raw(void);
void cg_judge(struct cg_call *c);             /* lock held */
int cg_cap_quick_legal(int hook, const struct cg_args *a); /* no lock: 1 = surely legal, nothing to track */
/* 0: the model has no verdict for this call whatever the captures are (an event recorded on, or a
 * wait of, a stream other than the legacy one): the guard need not judge it. No lock. */
int cg_cap_judgeable(const struct cg_call *c);
int cg_cap_relaxable(const struct cg_call *c);
int cg_cap_d2h_pending(int slot, char *site, size_t n); /* lock held */
int cg_cap_any_d2h(char *site, size_t n);               /* lock held */
void cg_cap_name_any(struct cg_call *c);                /* lock held */
void cg_cap_note_violation(uint64_t id, const struct cg_call *c, const char *site); /* takes the lock */
/* A failure the driver's error log told of (features/witness.c), on this thread, with CUDA's code:
 * the id of the first capture such a failure concerns (the legacy-stream rule: the blocking
 * captures; else the thread's own capture, or with the thread Global every Global one), 0 if none;
 * cause (if not NULL) becomes the cause of each that has none yet. */
uint64_t cg_cap_witness(int code, const char *cause);
int cg_cap_invalidated(const struct cg_call *c); /* the call's capture is invalidated now (asks the driver) */
unsigned cg_cap_ruined(void); /* active captures known invalidated (async-signal-safe) */
int cg_cap_work_begin(void); /* may work after captures run now? (then held until work_end) */
void cg_cap_work_end(void);
unsigned cg_cap_untracked(void);
uint64_t cg_cap_id_of_stream(const struct cg_args *a); /* takes the lock; 0: not capturing */

/* ---- mpi.c: which MPI is loaded, and what its handles mean ---- */
enum { CG_MPI_UNKNOWN, CG_MPI_OPENMPI, CG_MPI_MPICH };
struct cg_mpi {
    int abi;
    size_t handle_size;
    uintptr_t comm_world, comm_self, comm_null, in_place;
    uintptr_t request_null, status_ignore; /* MPI_REQUEST_NULL, MPI_STATUS_IGNORE */
    int err_other; /* MPI_ERR_OTHER */
    int (*comm_rank)(uintptr_t, int *);
    int (*comm_size)(uintptr_t, int *);
    int (*type_size)(uintptr_t, int *);
    int (*comm_free)(void *);
};
const struct cg_mpi *cg_mpi(void);
uintptr_t cg_mpi_handle(uintptr_t h);
uintptr_t cg_mpi_read_comm(const void *p);
void cg_mpi_write_comm(void *p, uintptr_t h); /* any handle (a communicator, a request) */
int cg_mpi_rank_size(uintptr_t comm, int *rank, int *size);
size_t cg_mpi_type_size(uintptr_t type);
int cg_mpi_comm_builtin(uintptr_t comm, char *out, size_t n); /* "WORLD"/"SELF"; -1: not a built-in */
#endif
