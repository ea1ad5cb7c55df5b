/* Inside the memo (features/store.c, memo.c, coll.c): the object store and what the memo's files
 * share. Nothing outside the memo includes it. store.c is the bottom (locks, objects, keys'
 * history, the memo's log lines and guard); memo.c (the module: one operations table per call
 * kind and per object kind) and coll.c (collective records, NCCL counters) use it. */
#ifndef CG_MEMO_H
#define CG_MEMO_H
#include <pthread.h>
#include "features.h"
#include "table.h"

enum obj_type {
    OBJ_MPI_COMM, OBJ_NCCL_COMM, OBJ_IPC_MAP, OBJ_WORKSPACE, OBJ_NCCL_MEM, OBJ_REG,
    OBJ_VMM_ALLOC, OBJ_VMM_VA, OBJ_VMM_MAP, OBJ_VMM_IMPORT, /* virtual memory (memo.c's vmm_*_key) */
    OBJ_TYPES
};

struct cg_keyset;
struct cg_obj {
    uint64_t id;
    int type;         /* enum obj_type */
    char key[CG_KEY_MAX];
    uintptr_t handle;
    uintptr_t aux;    /* a registration's communicator; an NCCL communicator's unique id (a hash); a VMM
                       * allocation's kept fd + 1 */
    size_t size;
    int refs;         /* references the program holds */
    int held;         /* released by the program; the real release is held back */
    int shareable;    /* a live one may be handed to a second initialisation with its key */
    int release_hook;
    struct cg_keyset *set;            /* the objects with this key */
    struct cg_obj *knext, *kprev;     /* in set */
    struct cg_obj *hnext, *hprev;     /* in the held list, oldest first */
    UT_hash_handle hh;                /* by handle */
};

void cg_memo_lock(void);   /* reserves lockmem spares, then locks */
void cg_memo_unlock(void); /* unlocks, then frees what was dropped under it */
enum cg_memo_bound { CG_BOUND_KEYS, CG_BOUND_OBJECTS, CG_BOUND_COLL, CG_BOUND_NCCL };
void cg_memo_bound_reached(enum cg_memo_bound which, const char *what); /* said once per bound */

/* store.c: objects (lock held unless said) */
struct cg_obj *cg_objs(void); /* every object (by handle): iterate with HASH_ITER(hh, ...) */
struct cg_obj *cg_obj_by_handle(uintptr_t h);
struct cg_obj *cg_obj_to_serve(int type, const char *key); /* a held one, else a live shareable one */
int cg_obj_add(int type, const char *key, uintptr_t handle, uintptr_t aux, size_t size, int shareable); /* -1: at the bound */
void cg_obj_add_locked(int type, const char *key, uintptr_t handle, uintptr_t aux, size_t size, int shareable);
void cg_obj_drop(struct cg_obj *o);
void cg_obj_hold(struct cg_obj *o, int release_hook);
void cg_obj_unhold(struct cg_obj *o);
struct cg_obj *cg_obj_oldest_held(void);
void cg_obj_forget_type(int type); /* takes the lock */
int cg_memo_name_of(uintptr_t handle, char *out, size_t n); /* "#id"; takes the lock */
uint64_t cg_memo_id_of(uintptr_t handle);                   /* lock held; 0: not ours */
void cg_store_after_fork(void);
void cg_store_summary(void);
int cg_store_has_history(void);

/* store.c: the memo's decisions */
int cg_memo_capturing(void);
int cg_memo_serving(void);
int cg_memo_holding(void);
void cg_memo_log(const struct cg_call *c, const char *decision, const char *key, const char *site, int refs);
void cg_memo_note_init(const struct cg_call *c, const char *key, const char *site, int served);
void cg_memo_guard(struct cg_call *c, int reason);
void cg_memo_served(struct cg_call *c, const char *decision, const char *key, const char *site, int refs);
int cg_mpi_unknown_for(const struct cg_call *c);
uint64_t cg_memo_site(struct cg_call *c); /* fills c->text->site once; the call's site hash */

/* coll.c */
int cg_coll_decide(struct cg_call *c);
void cg_coll_after(struct cg_call *c);
int cg_wait_decide(struct cg_call *c); /* MPI_Wait: an MPI_Irecv's output is recorded when it completes */
void cg_wait_after(struct cg_call *c);
int cg_unique_id_decide(struct cg_call *c);
uintptr_t cg_nccl_id_of_init(const struct cg_call *c); /* the hash of an init's unique id, 0: none */
void cg_unique_id_after(struct cg_call *c);
void cg_nccl_count(const struct cg_call *c);
void cg_coll_summary(void);
void cg_coll_after_fork(void);
#endif
