/* Memoization of communicators and workspaces by (rank, world_size, dtype) plus what tells two
 * groups or buffers apart (DESIGN.md "Memoization"), and the guard of host collectives: the memo
 * module. When the program releases an object while a capture is in progress (scope capture) or
 * at any time (scope always), the real release is held back; a later initialisation with the
 * same key, while serving is allowed, gets the held object back instead of a real (blocking,
 * capture-breaking) call. Every rank sees the same sequence and so takes the same decisions;
 * each decision is logged with its key.
 * Two tables drive it: one row per call kind (how the memo decides the call, what it does with
 * the result) and one row per object kind (its key, reading and writing the out-parameter,
 * whether a live one may be shared, its real release). The store is store.c; collectives coll.c.
 * Must never: hand out a buffer the program still uses (only released ones are served), serve
 * anything while MPI's ABI is unknown, or release an object twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>
#include "memo.h"
#include "module.h"

/* ---- object kinds ---- */
struct obj_ops {
    /* the key of an initialisation (-1: the ABI is unknown, nothing can be keyed) */
    int (*key)(struct cg_call *c, char *key, size_t n);
    uintptr_t (*read_out)(const struct cg_call *c); /* the handle the init wrote */
    void (*write_out)(const struct cg_call *c, uintptr_t h);
    int (*shareable)(const struct cg_call *c);      /* may a live one serve a second init? */
    int (*release)(const struct cg_obj *o, void *fn); /* the real release through entry point fn */
};

static const char *plain_name(int hook) { return cg_hooks[cg_hook_plain(hook)].name; }
static int is_hook(int hook, int a, int b) { return hook == a || hook == b; }

static int mpi_key(struct cg_call *c, char *key, size_t n)
{
    const char *base = strchr(cg_hooks[c->hook].name, '_') + 1; /* MPI_X / PMPI_X -> X */
    char parent[40];
    int rank, size;
    if (cg_mpi()->abi == CG_MPI_UNKNOWN || cg_mpi_rank_size(c->a[1], &rank, &size) != 0)
        return -1;
    if (cg_mpi_comm_builtin(c->a[1], parent, sizeof parent) != 0 &&
        cg_memo_name_of(cg_mpi_handle(c->a[1]), parent, sizeof parent) != 0)
        snprintf(parent, sizeof parent, "0x%llx", (unsigned long long)cg_mpi_handle(c->a[1]));
    int split = is_hook(c->hook, HK_MPI_Comm_split, HK_PMPI_Comm_split);
    if (split || is_hook(c->hook, HK_MPI_Comm_split_type, HK_PMPI_Comm_split_type))
        snprintf(key, n, "MPI_%s rank=%d world=%d dtype=ANY parent=%s %s=%d key=%d", base, rank, size, parent,
                 split ? "color" : "type", (int)c->a[2], (int)c->a[3]);
    else /* dup, create_group: nothing but the call site tells one from the next */
        snprintf(key, n, "MPI_%s rank=%d world=%d dtype=ANY parent=%s group=0x%llx site=%016llx", base, rank, size,
                 parent, (unsigned long long)c->a[2], (unsigned long long)cg_memo_site(c));
    return 0;
}

static int nccl_key(struct cg_call *c, char *key, size_t n)
{
    const char *name = plain_name(c->hook);
    if (is_hook(c->hook, HK_ncclCommSplit, HK_pncclCommSplit)) {
        char parent[40];
        if (cg_memo_name_of(c->a[1], parent, sizeof parent) != 0)
            snprintf(parent, sizeof parent, "0x%llx", (unsigned long long)c->a[1]);
        snprintf(key, n, "ncclCommSplit dtype=ANY parent=%s color=%d key=%d", parent, (int)c->a[2], (int)c->a[3]);
    } else if (is_hook(c->hook, HK_ncclCommInitAll, HK_pncclCommInitAll)) {
        snprintf(key, n, "ncclCommInitAll world=%d dtype=ANY site=%016llx", (int)c->a[1],
                 (unsigned long long)cg_memo_site(c));
    } else { /* a fresh unique id each time: the call site tells a repeat */
        snprintf(key, n, "%s rank=%d world=%d dtype=ANY site=%016llx", name, (int)c->a[3], (int)c->a[1],
                 (unsigned long long)cg_memo_site(c));
    }
    return 0;
}

static int ipc_key(struct cg_call *c, char *key, size_t n) /* the handle's bytes */
{
    snprintf(key, n, "ipc_open handle=%016llx dtype=ANY",
             (unsigned long long)cg_hash_bytes((const void *)c->a[1], sizeof(cg_ipc_handle), CG_HASH_SEED));
    return 0;
}

static int reg_key(struct cg_call *c, char *key, size_t n)
{
    char comm[40];
    if (cg_memo_name_of(c->a[1], comm, sizeof comm) != 0)
        snprintf(comm, sizeof comm, "0x%llx", (unsigned long long)c->a[1]);
    snprintf(key, n, "%s comm=%s ptr=0x%llx size=%zu flags=%d dtype=ANY", plain_name(c->hook), comm,
             (unsigned long long)c->a[2], c->bytes, (int)c->a[3]);
    return 0;
}

static int workspace_key(struct cg_call *c, char *key, size_t n)
{
    snprintf(key, n, "workspace size=%zu dtype=ANY", c->bytes);
    return 0;
}

static int nccl_mem_key(struct cg_call *c, char *key, size_t n)
{
    snprintf(key, n, "nccl_mem size=%zu dtype=ANY", c->bytes);
    return 0;
}

/* ---- virtual-memory workspaces: a[0] is where the call writes (create, reserve, import) or what
 *      it takes (release, free, map, unmap). A mapping's object is its address + 1, a range's the
 *      address itself (both are aligned to the 2 MiB granularity at least) ---- */
#define CG_VMM_PROP_BYTES 32 /* sizeof CUmemAllocationProp and CUmulticastObjectProp */
#define CG_VMM_POSIX_FD 1    /* CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR */
#define CG_VMM_FABRIC 8      /* CU_MEM_HANDLE_TYPE_FABRIC (a 64-byte CUmemFabricHandle) */
static int vmm_create_key(struct cg_call *c, char *key, size_t n)
{
    const unsigned char *prop = (const unsigned char *)c->a[1];
    if (c->a[3]) /* cuMulticastCreate: the size is in its properties */
        c->bytes = prop ? *(const size_t *)(const void *)(prop + 8) : 0;
    snprintf(key, n, "%s size=%zu prop=%016llx dtype=ANY site=%016llx", plain_name(c->hook), c->bytes,
             prop ? (unsigned long long)cg_hash_bytes(prop, CG_VMM_PROP_BYTES, CG_HASH_SEED) : 0ull,
             (unsigned long long)cg_memo_site(c));
    return 0;
}

static int vmm_va_key(struct cg_call *c, char *key, size_t n)
{
    snprintf(key, n, "cuMemAddressReserve size=%zu align=%zu dtype=ANY site=%016llx", c->bytes, (size_t)c->a[1],
             (unsigned long long)cg_memo_site(c));
    return 0;
}

static int vmm_map_key(struct cg_call *c, char *key, size_t n)
{
    snprintf(key, n, "cuMemMap va=0x%llx size=%zu offset=%zu handle=0x%llx dtype=ANY", (unsigned long long)c->a[0],
             c->bytes, (size_t)c->a[1], (unsigned long long)c->a[2]);
    return 0;
}

/* The identity of what is imported: a FABRIC handle's bytes. A POSIX fd has none: its number is
 * new each time, and its file too is no identity (on an H200 every exported fd is an open of
 * /dev/nvidiactl: docs/gpu-runs/2026-12-02-h200-issue14.md), so such an import is never served:
 * it is legal during a capture and runs for real (the served range's held mapping of the previous
 * import is then unmapped first: decide_vmm_map). */
static int vmm_import_key(struct cg_call *c, char *key, size_t n)
{
    if (c->a[2] != CG_VMM_FABRIC || !c->a[1])
        return -1;
    snprintf(key, n, "cuMemImportFromShareableHandle fabric=%016llx dtype=ANY",
             (unsigned long long)cg_hash_bytes((const void *)c->a[1], 64, CG_HASH_SEED));
    return 0;
}

static uintptr_t read_u64(const struct cg_call *c) { return c->a[0] ? (uintptr_t) * (unsigned long long *)c->a[0] : 0; }
static void write_u64(const struct cg_call *c, uintptr_t h)
{
    if (c->a[0])
        *(unsigned long long *)c->a[0] = h;
}
static uintptr_t read_mapping(const struct cg_call *c) { return c->a[0] + 1; }
static void write_none(const struct cg_call *c, uintptr_t h) { (void)c, (void)h; }

static uintptr_t read_mpi(const struct cg_call *c) { return cg_mpi_read_comm((void *)c->a[0]); }
static void write_mpi(const struct cg_call *c, uintptr_t h) { cg_mpi_write_comm((void *)c->a[0], h); }
static uintptr_t read_ptr(const struct cg_call *c) { return c->a[0] ? (uintptr_t) * (void **)c->a[0] : 0; }
static void write_ptr(const struct cg_call *c, uintptr_t h)
{
    if (c->a[0])
        *(void **)c->a[0] = (void *)h;
}
/* a driver entry point writes a CUdeviceptr (unsigned long long), the runtime's a pointer */
static uintptr_t read_dev(const struct cg_call *c)
{
    return cg_hooks[c->hook].lib == CG_LIB_DRV ? (uintptr_t) * (unsigned long long *)c->a[0] : read_ptr(c);
}
static void write_dev(const struct cg_call *c, uintptr_t h)
{
    if (cg_hooks[c->hook].lib == CG_LIB_DRV)
        *(unsigned long long *)c->a[0] = h;
    else
        write_ptr(c, h);
}
static int always_shared(const struct cg_call *c) { (void)c; return 1; }
static int never_shared(const struct cg_call *c) { (void)c; return 0; }
/* a split may be shared (same group and key); a dup's point is isolation */
static int mpi_shared(const struct cg_call *c)
{
    return is_hook(c->hook, HK_MPI_Comm_split, HK_PMPI_Comm_split) ||
           is_hook(c->hook, HK_MPI_Comm_split_type, HK_PMPI_Comm_split_type);
}

static int release_mpi(const struct cg_obj *o, void *fn)
{
    uintptr_t h = o->handle;
    return ((int (*)(void *))fn)(&h);
}
static int release_handle(const struct cg_obj *o, void *fn) { return ((int (*)(void *))fn)((void *)o->handle); }
static int release_reg(const struct cg_obj *o, void *fn)
{
    return ((int (*)(void *, void *))fn)((void *)o->aux, (void *)o->handle);
}
/* cuMemAddressFree / cuMemUnmap (address, size) */
static int release_range(const struct cg_obj *o, void *fn)
{
    return ((int (*)(unsigned long long, size_t))fn)(o->handle & ~(uintptr_t)1, o->size);
}
static int release_replay(const struct cg_obj *o, void *fn)
{
    (void)fn;
    return cg_replay(o->release_hook, o->handle);
}

static const struct obj_ops obj_ops[OBJ_TYPES] = {
    [OBJ_MPI_COMM] = {mpi_key, read_mpi, write_mpi, mpi_shared, release_mpi},
    [OBJ_NCCL_COMM] = {nccl_key, read_ptr, write_ptr, always_shared, release_handle},
    [OBJ_IPC_MAP] = {ipc_key, read_dev, write_dev, never_shared, release_replay},
    [OBJ_WORKSPACE] = {workspace_key, read_dev, write_dev, never_shared, release_replay},
    [OBJ_NCCL_MEM] = {nccl_mem_key, read_ptr, write_ptr, never_shared, release_replay},
    [OBJ_REG] = {reg_key, read_ptr, write_ptr, always_shared, release_reg},
    [OBJ_VMM_ALLOC] = {vmm_create_key, read_u64, write_u64, never_shared, release_replay},
    [OBJ_VMM_VA] = {vmm_va_key, read_u64, write_u64, never_shared, release_range},
    [OBJ_VMM_MAP] = {vmm_map_key, read_mapping, write_none, never_shared, release_range},
    [OBJ_VMM_IMPORT] = {vmm_import_key, read_u64, write_u64, never_shared, release_replay},
};

/* ---- initialisations: served from the store, else run and recorded ---- */
static int type_of_init(const struct cg_call *c) { return cg_hooks[c->hook].lib == CG_LIB_MPI ? OBJ_MPI_COMM : OBJ_NCCL_COMM; }
static int type_of_register(const struct cg_call *c) { (void)c; return OBJ_REG; }
static int type_of_import(const struct cg_call *c) { (void)c; return OBJ_IPC_MAP; }

/* Serve an initialisation of `type` from the store if its key has a servable object. Returns 1
 * when served (the out-parameter written); either way the key is on the record and counted. */
static int serve_init(struct cg_call *c, int type, int may_serve)
{
    const struct obj_ops *ops = &obj_ops[type];
    char *key = c->text->key;
    cg_memo_site(c);
    if (may_serve && cg_memo_serving()) {
        uintptr_t h = 0;
        int refs = 0;
        cg_memo_lock();
        struct cg_obj *o = cg_obj_to_serve(type, key);
        if (o) {
            cg_obj_unhold(o);
            refs = ++o->refs;
            h = o->handle;
        }
        cg_memo_unlock();
        if (h) {
            ops->write_out(c, h);
            cg_memo_note_init(c, key, c->text->site, 1);
            cg_memo_served(c, "serve", key, c->text->site, type == OBJ_IPC_MAP ? 1 : refs);
            return 1;
        }
    }
    cg_memo_note_init(c, key, c->text->site, 0);
    return 0;
}

/* Decide: 1 = decided (c->act), 0 = the guard goes on. */
static int decide_comm_init(struct cg_call *c)
{
    int type = type_of_init(c);
    if (cg_mpi_unknown_for(c) || obj_ops[type].key(c, c->text->key, sizeof c->text->key) != 0) {
        c->text->key[0] = 0;
        if (cg_memo_capturing())
            cg_memo_guard(c, R_COMM_INIT);
        return 1;
    }
    if (serve_init(c, type, !is_hook(c->hook, HK_ncclCommInitAll, HK_pncclCommInitAll)))
        return 1;
    if (cg_memo_capturing()) {
        cg_memo_log(c, "miss", c->text->key, c->text->site, 0);
        cg_memo_guard(c, R_COMM_INIT);
    }
    return 1;
}

static int decide_import(struct cg_call *c)
{
    obj_ops[OBJ_IPC_MAP].key(c, c->text->key, sizeof c->text->key);
    serve_init(c, OBJ_IPC_MAP, 1); /* opening a handle is legal during a capture */
    return 1;
}

static int decide_register(struct cg_call *c)
{
    reg_key(c, c->text->key, sizeof c->text->key);
    if (serve_init(c, OBJ_REG, 1))
        return 1;
    int window = is_hook(c->hook, HK_ncclCommWindowRegister, HK_pncclCommWindowRegister);
    if (cg_memo_capturing() && window) { /* collective, and refused by NCCL in a capture */
        cg_memo_log(c, "miss", c->text->key, c->text->site, 0);
        cg_memo_guard(c, R_COMM_INIT);
    }
    return 1;
}

/* After a real initialisation: the object it made is remembered with its key. */
static void record(struct cg_call *c, int type)
{
    if (!c->text->key[0])
        return;
    uintptr_t h = obj_ops[type].read_out(c);
    if (!h || (type == OBJ_MPI_COMM && h == cg_mpi()->comm_null))
        return;
    cg_obj_add_locked(type, c->text->key, h, type == OBJ_REG ? c->a[1] : type == OBJ_NCCL_COMM ? cg_nccl_id_of_init(c) : 0,
                      type == OBJ_REG || type == OBJ_VMM_VA || type == OBJ_VMM_MAP ? c->bytes : 0,
                      obj_ops[type].shareable(c));
    cg_memo_log(c, "record", c->text->key, c->text->site, 1);
}
static void after_comm_init(struct cg_call *c) { record(c, type_of_init(c)); }
static void after_register(struct cg_call *c) { record(c, type_of_register(c)); }
static void after_import(struct cg_call *c) { record(c, type_of_import(c)); }

/* ---- releases of communicators, mappings, buffers, registrations ---- */
static uintptr_t released_handle(const struct cg_call *c)
{
    switch (cg_hooks[c->hook].kind) {
    case K_COMM_FREE: return cg_hooks[c->hook].lib == CG_LIB_MPI ? cg_mpi_read_comm((void *)c->a[0]) : c->a[0];
    case K_DEREGISTER:
    case K_VMM_RELEASE:
    case K_VMM_VAFREE: return c->a[0];
    case K_VMM_UNMAP: return c->a[0] + 1;
    default: return (uintptr_t)c->ptr;
    }
}

/* The descriptor an allocation the memo knew kept open (after_vmm_export), -1 if none. */
static int kept_fd_of(const struct cg_obj *o)
{
    return o->type == OBJ_VMM_ALLOC && o->aux ? (int)o->aux - 1 : -1;
}

/* That allocation goes for real: its number is closed (no lock held). */
static void forget_fd(int fd)
{
    if (fd >= 0 && cg_fd_kept(fd)) {
        cg_fd_keep(fd, 0);
        cg_fd_close_real(fd);
    }
}

/* The program releases an object: keep it (held) if it may be served again, or let the real
 * release run. Returns 0 when the object is not the memo's (the caller goes on as usual). */
static int release(struct cg_call *c)
{
    uintptr_t h = released_handle(c);
    char key[CG_KEY_MAX];
    int refs, keep, abort_ = is_hook(c->hook, HK_ncclCommAbort, HK_pncclCommAbort);
    if (cg_mpi_unknown_for(c))
        return 0;
    cg_memo_lock();
    struct cg_obj *o = h ? cg_obj_by_handle(h) : NULL;
    int fd = o ? kept_fd_of(o) : -1;
    if (!o || o->held) { /* not ours, or the program released a held one again: CUDA/MPI/NCCL */
        if (o)            /* answer as they would without capguard, which then never releases it */
            cg_obj_drop(o);
        cg_memo_unlock();
        forget_fd(fd);
        return 0;
    }
    snprintf(key, sizeof key, "%s", o->key);
    refs = --o->refs;
    keep = refs > 0 || (!abort_ && cg_memo_holding());
    if (keep && refs == 0)
        cg_obj_hold(o, c->hook);
    if (!keep)
        cg_obj_drop(o);
    cg_memo_unlock();
    if (!keep)
        forget_fd(fd);
    if (!keep) {
        cg_memo_log(c, "release", key, "", 0);
        return 0;
    }
    if (cg_hooks[c->hook].kind == K_COMM_FREE && cg_hooks[c->hook].lib == CG_LIB_MPI)
        cg_mpi_write_comm((void *)c->a[0], cg_mpi()->comm_null); /* as MPI_Comm_free does */
    cg_memo_log(c, refs > 0 ? "unref" : "hold", key, "", refs);
    c->ret = 0;
    c->action = CG_OUT_SERVED;
    c->act = CG_ACT_RETURN;
    c->decided = 1;
    return 1;
}
/* NCCL's and MPI's releases are the memo's alone; a CUDA free the guard judges if not ours */
static int decide_release(struct cg_call *c) { release(c); return 1; }
static int decide_free(struct cg_call *c) { return release(c); }

/* cudaMalloc / cuMemAlloc_v2 / ncclMemAlloc of a size a held buffer has, a VMM handle, range or
 * mapping with a held one's key: hand that back (the key is on the record either way). */
static int serve_held(struct cg_call *c, int type)
{
    if (!c->a[0] || obj_ops[type].key(c, c->text->key, sizeof c->text->key) != 0) {
        c->text->key[0] = 0;
        return 0;
    }
    if (!cg_memo_serving())
        return 0;
    cg_memo_lock();
    struct cg_obj *o = cg_obj_to_serve(type, c->text->key);
    if (o) {
        cg_obj_unhold(o);
        o->refs = 1;
        obj_ops[type].write_out(c, o->handle);
    }
    cg_memo_unlock();
    if (!o)
        return 0;
    cg_memo_site(c);
    cg_memo_note_init(c, c->text->key, c->text->site, 1);
    cg_memo_served(c, "serve", c->text->key, c->text->site, 1);
    return 1;
}
static int decide_alloc(struct cg_call *c) { return c->bytes && serve_held(c, OBJ_WORKSPACE); }
static int decide_buf_alloc(struct cg_call *c)
{
    if (c->bytes)
        serve_held(c, OBJ_NCCL_MEM);
    return 1;
}

/* VMM calls are legal during a capture: what the memo does not serve is forwarded. */
static int decide_vmm_create(struct cg_call *c) { serve_held(c, OBJ_VMM_ALLOC); return 1; }
static int decide_vmm_reserve(struct cg_call *c) { serve_held(c, OBJ_VMM_VA); return 1; }
static int decide_vmm_import(struct cg_call *c) { serve_held(c, OBJ_VMM_IMPORT); return 1; }
static void after_vmm_create(struct cg_call *c) { record(c, OBJ_VMM_ALLOC); }
static void after_vmm_reserve(struct cg_call *c) { record(c, OBJ_VMM_VA); }
static void after_vmm_import(struct cg_call *c) { record(c, OBJ_VMM_IMPORT); }
static void after_vmm_map(struct cg_call *c) { record(c, OBJ_VMM_MAP); }

static int real_release(const struct cg_obj *o);

/* The number a POSIX fd exported from a handle the memo knows moves to the first time: from the
 * upper half of the descriptor table (the program's own opens take the lowest free numbers, so it
 * stays free while the program has it closed), a new one for each handle, so that two allocations
 * never look alike in an exchange (the 256 most recent at least, or half the table if smaller). */
static int export_fd_slot(void)
{
    static unsigned next;
    struct rlimit rl;
    rlim_t lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    int base = lim >= 1024 ? 512 : (int)(lim / 2), span = lim >= 1024 ? 256 : (int)(lim / 4);
    return base + (int)(__atomic_fetch_add(&next, 1, __ATOMIC_RELAXED) % (unsigned)(span > 0 ? span : 1));
}

/* A POSIX fd exported from an allocation the memo knows (the memo on) has one number for the
 * allocation's life, kept open (base/fds.c: the program's close of it does nothing): every export
 * hands back that number, so that the (pid, fd) exchange repeats byte for byte, and a peer's
 * pidfd_getfd finds it whatever the order of the ranks inside a capture (where the barriers that
 * ordered them are answered). The number is a new one for each allocation (export_fd_slot). The
 * same open file under another number: nothing else about the result changes. */
static void after_vmm_export(struct cg_call *c)
{
    if (c->a[2] != CG_VMM_POSIX_FD || !c->a[0] || !cg_scopes[cg_cfg.memo].serve)
        return;
    int *out = (int *)c->a[0], fd = *out, slot = -1, ours = 0;
    cg_memo_lock();
    struct cg_obj *o = cg_obj_by_handle(c->a[1]);
    if (o && o->type == OBJ_VMM_ALLOC) {
        ours = 1;
        slot = (int)o->aux - 1;
    }
    cg_memo_unlock();
    if (!ours)
        return;
    if (slot >= 0 && cg_fd_kept(slot)) { /* the allocation's number, still open: hand it back */
        cg_fd_close_real(fd);
        *out = slot;
        return;
    }
    int want = export_fd_slot(), d = fcntl(fd, F_DUPFD, want);
    if (d != want) { /* taken: this export keeps the number it has, unkept */
        if (d >= 0)
            cg_fd_close_real(d);
        return;
    }
    cg_fd_close_real(fd);
    cg_memo_lock();
    if ((o = cg_obj_by_handle(c->a[1])) != NULL && o->type == OBJ_VMM_ALLOC) {
        o->aux = (uintptr_t)d + 1;
        cg_fd_keep(d, 1);
    }
    cg_memo_unlock();
    *out = d;
}


/* A mapping held at this address is served if it is this one (range, offset, handle); a held
 * mapping of something else there is unmapped for real first, so that the new map can run. */
static int decide_vmm_map(struct cg_call *c)
{
    if (serve_held(c, OBJ_VMM_MAP))
        return 1;
    struct cg_obj copy, *o;
    cg_memo_lock();
    o = cg_obj_by_handle(c->a[0] + 1);
    int stale = o && o->held;
    if (stale) {
        copy = *o;
        cg_obj_drop(o);
    }
    cg_memo_unlock();
    if (stale)
        real_release(&copy);
    return 1;
}

static void after_buf_alloc(struct cg_call *c)
{
    char key[CG_KEY_MAX];
    nccl_mem_key(c, key, sizeof key);
    cg_obj_add_locked(OBJ_NCCL_MEM, key, read_ptr(c), 0, c->bytes, 0);
}

/* cudaIpcGetMemHandle of a whole allocation: the buffer becomes a workspace. */
static void after_export(struct cg_call *c)
{
    char key[CG_KEY_MAX];
    static int (*range)(unsigned long long *, size_t *, unsigned long long);
    unsigned long long base = 0;
    size_t size = 0;
    if (!range)
        range = (int (*)(unsigned long long *, size_t *, unsigned long long))cg_drv_sym("cuMemGetAddressRange_v2");
    if (!range || range(&base, &size, (unsigned long long)(uintptr_t)c->ptr) != 0 || base != (uintptr_t)c->ptr)
        return; /* only whole allocations become workspaces */
    snprintf(key, sizeof key, "workspace size=%zu dtype=ANY", size);
    cg_memo_lock();
    int fresh = !cg_obj_by_handle((uintptr_t)c->ptr);
    int full = cg_obj_add(OBJ_WORKSPACE, key, (uintptr_t)c->ptr, 0, size, 0);
    cg_memo_unlock();
    if (full)
        cg_memo_bound_reached(CG_BOUND_OBJECTS, "CAPGUARD_MEMO_OBJECTS: further communicators and workspaces are not memoized");
    if (fresh)
        cg_memo_log(c, "record", key, "", 1);
}

static int decide_finalize(struct cg_call *c)
{
    char name[40];
    if (cg_memo_name_of(c->a[0], name, sizeof name) == 0 && cg_memo_holding())
        cg_memo_served(c, "finalize_skipped", name, "", 0); /* the communicator may be served again */
    else if (cg_memo_capturing())
        cg_memo_guard(c, R_COMM_INIT);
    return 1;
}
static int decide_nccl_coll(struct cg_call *c) { cg_nccl_count(c); return 1; }
static int decide_mpi_finalize(struct cg_call *c) { (void)c; cg_obj_forget_type(OBJ_MPI_COMM); return 1; } /* MPI frees them all */
static int decide_forward(struct cg_call *c) { (void)c; return 1; }

/* ---- call kinds: how the memo decides a call, and what it does with the result ---- */
struct call_ops {
    int (*decide)(struct cg_call *c); /* 1: decided (c->act), 0: the guard judges it */
    void (*after)(struct cg_call *c); /* after a successful real call */
};
static const struct call_ops call_ops[K_COUNT] = {
    [K_COMM_INIT] = {decide_comm_init, after_comm_init},
    [K_HOST_COLL] = {cg_coll_decide, cg_coll_after},
    [K_NCCL_ID] = {cg_unique_id_decide, cg_unique_id_after},
    [K_WS_IMPORT] = {decide_import, after_import},
    [K_REGISTER] = {decide_register, after_register},
    [K_COMM_FREE] = {decide_release, NULL},
    [K_DEREGISTER] = {decide_release, NULL},
    [K_WS_CLOSE] = {decide_release, NULL},
    [K_BUF_FREE] = {decide_release, NULL},
    [K_FREE] = {decide_free, NULL},
    [K_ALLOC] = {decide_alloc, NULL},
    [K_BUF_ALLOC] = {decide_buf_alloc, after_buf_alloc},
    [K_COMM_FINALIZE] = {decide_finalize, NULL},
    [K_NCCL_COLL] = {decide_nccl_coll, NULL},
    [K_MPI_FINALIZE] = {decide_mpi_finalize, NULL},
    [K_MPI_WAIT] = {cg_wait_decide, cg_wait_after},
    [K_WS_EXPORT] = {decide_forward, after_export},
    [K_VMM_EXPORT] = {decide_forward, after_vmm_export},
    [K_VMM_CREATE] = {decide_vmm_create, after_vmm_create},
    [K_VMM_RESERVE] = {decide_vmm_reserve, after_vmm_reserve},
    [K_VMM_MAP] = {decide_vmm_map, after_vmm_map},
    [K_VMM_IMPORT] = {decide_vmm_import, after_vmm_import},
    [K_VMM_RELEASE] = {decide_release, NULL},
    [K_VMM_VAFREE] = {decide_release, NULL},
    [K_VMM_UNMAP] = {decide_release, NULL},
};

/* ---- held objects released for real once the last capture ends ---- */
static int real_release(const struct cg_obj *o)
{
    void *fn = cg_real(o->release_hook);
    if (!fn)
        return -1;
    cg_set_busy(0); /* a real call: the hooks it reaches are its inner calls */
    int rc = obj_ops[o->type].release(o, fn);
    cg_set_busy(1);
    return rc;
}

/* What was released inside captures and not served again is released for real now, in the
 * order it was held. Runs inside a hook (depth > 0). */
static void release_held(void)
{
    for (;;) {
        struct cg_obj copy, *pick;
        cg_memo_lock();
        if (cg_memo_capturing()) {
            cg_memo_unlock();
            return;
        }
        if ((pick = cg_obj_oldest_held()) != NULL) {
            copy = *pick;
            cg_obj_drop(pick);
        }
        cg_memo_unlock();
        if (!pick)
            return;
        int rc = real_release(&copy);
        forget_fd(kept_fd_of(&copy));
        char body[CG_KEY_MAX + 200], qk[CG_KEY_MAX + 40];
        cg_json_str(qk, sizeof qk, copy.key);
        snprintf(body, sizeof body, "\"ev\":\"memo\",\"call\":\"%s\",\"decision\":\"real_release\",\"key\":%s,\"rc\":%d",
                 cg_hooks[copy.release_hook].name, qk, rc);
        cg_log_event(body);
    }
}

/* ---- the module ---- */
static void memo_enter(struct cg_call *c)
{
    const struct call_ops *ops = &call_ops[cg_hooks[c->hook].kind];
    if (c->in_handler || !ops->decide)
        return;
    c->text->key[0] = 0;
    c->memo_seen = 1;
    if (ops->decide(c))
        c->decided = 1;
}

static void memo_leave(struct cg_call *c)
{
    const struct call_ops *ops = &call_ops[cg_hooks[c->hook].kind];
    if (c->memo_seen && c->forwarded && ops->after && c->real_ret == 0 && c->action != CG_OUT_REJECTED)
        ops->after(c);
    if (c->after_captures)
        release_held();
}

static void memo_after_fork(void)
{
    cg_store_after_fork();
    cg_coll_after_fork();
}

static void memo_summary(void)
{
    cg_store_summary();
    cg_coll_summary();
}

int cg_memo_has_history(void) { return cg_store_has_history(); }

CG_MODULE(memo, .after_fork = memo_after_fork, .on_enter = memo_enter, .on_leave = memo_leave,
          .summary = memo_summary);
