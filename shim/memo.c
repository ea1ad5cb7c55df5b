/* Memoization of communicators and workspaces by (rank, world_size, dtype) plus what tells two
 * groups or buffers apart (DESIGN.md "Memoization"), and the guard of host collectives.
 * Objects the program creates (MPI and NCCL communicators, IPC mappings, exported workspaces,
 * NCCL buffers and registrations) are remembered with their key and a reference count. When the
 * program releases one while a capture is in progress (scope capture) or at any time (scope
 * always), the real release is held back; a later initialisation with the same key, while
 * serving is allowed, gets the held object back instead of a real (blocking, capture-breaking)
 * call. MPI collectives are recorded per (call, communicator, site, arguments); inside a capture
 * a repeat with byte-identical input is answered from the record. Every rank sees the same
 * sequence and so takes the same decisions; each decision is logged with its key.
 * Runs under its own lock, never held across a forwarded call.
 * Must never: hand out a buffer the program still uses (only released ones are served), serve
 * anything while MPI's ABI is unknown, or release an object twice. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "table.h"
#include "core.h"
#include "memo.h"
#include "mpi_abi.h"

#define NCCL_SUCCESS 0
#define NCCL_INVALID_USAGE 5

enum obj_type { OBJ_MPI_COMM, OBJ_NCCL_COMM, OBJ_IPC_MAP, OBJ_WORKSPACE, OBJ_NCCL_MEM, OBJ_REG, OBJ_TYPES };

struct obj {
    uint64_t id;
    int type;
    char key[CG_KEY_MAX];
    uintptr_t handle;
    uintptr_t aux;  /* the communicator of a registration */
    size_t size;
    int refs;       /* references the program holds */
    int held;       /* released by the program; the real release is held back */
    int release_hook;
    UT_hash_handle hh; /* by handle */
};

struct hist { /* every key ever initialised: repeats are reported even when nothing is served */
    char key[CG_KEY_MAX];
    unsigned count, served;
    char first_site[160];
    UT_hash_handle hh;
};

static struct obj *objs;
static struct hist *hists;
static unsigned n_objs;
static uint64_t next_obj_id = 1;
static int workspaces_held; /* any held workspace or NCCL buffer: cudaMalloc must look */
static int workspaces_known; /* any IPC-exported workspace: cudaFree must look */
static pthread_mutex_t memo_mutex = PTHREAD_MUTEX_INITIALIZER;
static unsigned objs_untracked, keys_evicted, bound_said;

/* The memo's tables change only under this lock, with memory reserved before it (table.h). */
void memo_lock(void)
{
    cg_mem_reserve();
    pthread_mutex_lock(&memo_mutex);
}

void memo_unlock(void)
{
    pthread_mutex_unlock(&memo_mutex);
    cg_mem_flush();
}

/* A table reached its bound (CAPGUARD_MEMO_*): said once, counted in the summary. */
void cg_memo_bound_reached(enum cg_memo_bound which, const char *what)
{
    unsigned bit = 1u << which;
    if (!(__atomic_fetch_or(&bound_said, bit, __ATOMIC_ACQ_REL) & bit))
        cg_say("capguard: the memo reached its bound (%s); the summary counts what it forgot or did not track\n",
               what);
}

/* A forked child: another thread of the parent may have held the lock, or been changing a
 * table. The child starts with an empty memo (the parent's MPI and NCCL objects are not usable
 * in it, and what the parent held is the parent's to release); the tables are dropped, not
 * freed. */
void cg_memo_reset_after_fork(void)
{
    pthread_mutex_init(&memo_mutex, NULL);
    cg_mem_orphan(objs);
    cg_mem_orphan(hists);
    objs = NULL;
    hists = NULL;
    n_objs = 0;
    __atomic_store_n(&workspaces_held, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&workspaces_known, 0, __ATOMIC_RELEASE);
    cg_coll_reset_after_fork();
}

static const char *const memo_scopes[] = {"capture", "always", "off"};
const char *cg_memo_scope_name(int s) { return s >= 0 && s < 3 ? memo_scopes[s] : "?"; }

/* The key and site of the call being decided, for its after-step (calls do not nest: depth guard). */
__thread char t_key[CG_KEY_MAX + 64], t_site[256];

const char *cg_memo_current_key(void) { return t_key; }

int cg_memo_capturing(void) { return __atomic_load_n(&cg_active_captures, __ATOMIC_ACQUIRE) > 0; }
int cg_memo_serving(void) { return cg_cfg.memo == CG_MEMO_ALWAYS || (cg_cfg.memo == CG_MEMO_CAPTURE && cg_memo_capturing()); }
/* Hold a released object back instead of releasing it for real: only while a capture is in
 * progress (the real release would break it); held objects still unclaimed when the last capture
 * ends are released then. Outside captures the last release is the real one, in every scope. */
static int holding(void) { return cg_cfg.memo != CG_MEMO_OFF && cg_memo_capturing(); }

uint64_t cg_fnv(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

int cg_memo_name_of(uintptr_t handle, char *out, size_t n)
{
    struct obj *o = NULL;
    memo_lock();
    HASH_FIND(hh, objs, &handle, sizeof handle, o);
    if (o)
        snprintf(out, n, "#%llu", (unsigned long long)o->id);
    memo_unlock();
    return o ? 0 : -1;
}

/* ---- logging: every decision, with its key ---- */
void cg_memo_log(const struct cg_call *c, const char *decision, const char *key, const char *site, int refs)
{
    char body[1200], qk[CG_KEY_MAX + 40], qs[300];
    cg_json_str(qk, sizeof qk, key);
    cg_json_str(qs, sizeof qs, site ? site : "");
    snprintf(body, sizeof body,
             "\"ev\":\"memo\",\"call\":\"%s\",\"decision\":\"%s\",\"key\":%s,\"scope\":\"%s\",\"capturing\":%d,"
             "\"refs\":%d,\"site\":%s",
             cg_hooks[c->hook].name, decision, qk, cg_memo_scope_name(cg_cfg.memo), cg_memo_capturing(), refs, qs);
    cg_log_event(body);
}

/* Count an initialisation of `key`; report the repeat (first and this site, count). */
static void note_init(const struct cg_call *c, const char *key, const char *site, int served)
{
    struct hist *h = NULL;
    unsigned count, srv;
    char first[160];
    int evicted = 0;
    memo_lock();
    HASH_FIND_STR(hists, key, h);
    if (h) { /* most recently seen goes last: the head is the eviction candidate */
        HASH_DEL(hists, h);
        HASH_ADD_STR(hists, key, h);
    } else if ((h = cg_mem_take(sizeof *h)) != NULL) {
        memset(h, 0, sizeof *h);
        snprintf(h->key, sizeof h->key, "%s", key);
        snprintf(h->first_site, sizeof h->first_site, "%s", site);
        if (HASH_COUNT(hists) >= cg_cfg.memo_keys) {
            struct hist *old = hists;
            HASH_DEL(hists, old);
            cg_mem_drop(old);
            keys_evicted++;
            evicted = 1;
        }
        HASH_ADD_STR(hists, key, h);
    }
    if (!h) {
        memo_unlock();
        return;
    }
    count = ++h->count;
    srv = h->served += (unsigned)served;
    snprintf(first, sizeof first, "%s", h->first_site);
    memo_unlock();
    if (evicted)
        cg_memo_bound_reached(CG_BOUND_KEYS, "CAPGUARD_MEMO_KEYS: the least recently seen initialisation keys are forgotten");
    if (count < 2)
        return;
    char body[900], qk[CG_KEY_MAX + 40], qf[200], qs[300];
    cg_json_str(qk, sizeof qk, key);
    cg_json_str(qf, sizeof qf, first);
    cg_json_str(qs, sizeof qs, site);
    snprintf(body, sizeof body,
             "\"ev\":\"repeat\",\"call\":\"%s\",\"key\":%s,\"count\":%u,\"served\":%u,\"first_site\":%s,\"site\":%s",
             cg_hooks[c->hook].name, qk, count, srv, qf, qs);
    cg_log_event(body);
    if (count <= cg_cfg.stderr_limit + 1)
        cg_say("capguard: [rank %d] %s repeated (%u times) for %s: first at %s, now at %s; %s\n", cg_rank(),
               cg_hooks[c->hook].name, count, key, first, site,
               served ? "served from the memo" : "run for real");
}

/* ---- objects ---- */
static struct obj *obj_by_handle(uintptr_t h)
{
    struct obj *o = NULL;
    HASH_FIND(hh, objs, &h, sizeof h, o);
    return o;
}

/* An object with this key to serve: a held one, or (split communicators, NCCL communicators and
 * registrations, which may be shared) a live one. Buffers, mappings and MPI dups (whose point is
 * isolation) are only ever served once released. */
static struct obj *obj_to_serve(int type, const char *key, size_t size)
{
    struct obj *o, *tmp, *live = NULL;
    HASH_ITER(hh, objs, o, tmp)
    {
        if (o->type != type || (key && strcmp(o->key, key) != 0) || (size && o->size != size))
            continue;
        if (o->held)
            return o;
        if (!live && (type == OBJ_NCCL_COMM || type == OBJ_REG ||
                      (type == OBJ_MPI_COMM && strncmp(o->key, "MPI_Comm_split", 14) == 0)))
            live = o;
    }
    return live;
}

/* Take the object to serve for this key, if any: it leaves the held state and gains a reference.
 * Returns its handle (0: nothing to serve) and the references it now has. */
static uintptr_t take_served(int type, const char *key, int *refs)
{
    uintptr_t h = 0;
    memo_lock();
    struct obj *o = obj_to_serve(type, key, 0);
    if (o) {
        o->held = 0;
        *refs = ++o->refs;
        h = o->handle;
    }
    memo_unlock();
    return h;
}

/* Track an object the program created (memo lock held). Returns -1 when the table is at
 * CAPGUARD_MEMO_OBJECTS: the object is then not memoized (its release is forwarded as usual). */
static int obj_add(int type, const char *key, uintptr_t handle, uintptr_t aux, size_t size)
{
    if (!handle || obj_by_handle(handle))
        return 0;
    if (n_objs >= cg_cfg.memo_objects) {
        objs_untracked++;
        return -1;
    }
    struct obj *o = cg_mem_take(sizeof *o);
    if (!o)
        return 0;
    memset(o, 0, sizeof *o);
    o->id = next_obj_id++;
    o->type = type;
    snprintf(o->key, sizeof o->key, "%s", key);
    o->handle = handle;
    o->aux = aux;
    o->size = size;
    o->refs = 1;
    HASH_ADD(hh, objs, handle, sizeof o->handle, o);
    n_objs++;
    if (type == OBJ_WORKSPACE)
        __atomic_add_fetch(&workspaces_known, 1, __ATOMIC_ACQ_REL);
    return 0;
}

/* obj_add under the lock, and the bound said after it. */
static void obj_add_locked(int type, const char *key, uintptr_t handle, uintptr_t aux, size_t size)
{
    memo_lock();
    int full = obj_add(type, key, handle, aux, size);
    memo_unlock();
    if (full)
        cg_memo_bound_reached(CG_BOUND_OBJECTS, "CAPGUARD_MEMO_OBJECTS: further communicators and workspaces are not memoized");
}

static void obj_drop(struct obj *o)
{
    if (o->type == OBJ_WORKSPACE)
        __atomic_sub_fetch(&workspaces_known, 1, __ATOMIC_ACQ_REL);
    HASH_DEL(objs, o);
    cg_mem_drop(o); /* freed once the lock is dropped */
    n_objs--;
}

static void recount_held_buffers(void)
{
    struct obj *o, *tmp;
    int n = 0;
    HASH_ITER(hh, objs, o, tmp)
    if (o->held && (o->type == OBJ_WORKSPACE || o->type == OBJ_NCCL_MEM))
        n++;
    __atomic_store_n(&workspaces_held, n, __ATOMIC_RELEASE);
}

int cg_memo_buffers_held(void) { return __atomic_load_n(&workspaces_held, __ATOMIC_ACQUIRE) > 0; }
int cg_memo_workspaces_known(void) { return __atomic_load_n(&workspaces_known, __ATOMIC_ACQUIRE) > 0; }

/* ---- keys ---- */
void cg_memo_site(struct cg_site *s) { cg_site_capture(s, 3); }

static int comm_key(const struct cg_call *c, char *key, size_t n, const char *site_hash)
{
    const char *name = cg_hooks[c->hook].name;
    if (name[0] == 'p')
        name++; /* pnccl* and nccl* are one entry point */
    if (cg_hooks[c->hook].lib == CG_LIB_MPI) {
        const char *base = strchr(name, '_') + 1; /* MPI_X / PMPI_X -> X */
        char parent[40];
        int rank, size;
        if (cg_mpi()->abi == CG_MPI_UNKNOWN || cg_mpi_rank_size(c->a[1], &rank, &size) != 0)
            return -1;
        cg_mpi_comm_name(c->a[1], parent, sizeof parent);
        if (strcmp(base, "Comm_split") == 0 || strcmp(base, "Comm_split_type") == 0)
            snprintf(key, n, "MPI_%s rank=%d world=%d dtype=ANY parent=%s %s=%d key=%d", base, rank, size, parent,
                     strcmp(base, "Comm_split") == 0 ? "color" : "type", (int)c->a[2], (int)c->a[3]);
        else /* dup, create_group: nothing but the call site tells one from the next */
            snprintf(key, n, "MPI_%s rank=%d world=%d dtype=ANY parent=%s group=0x%llx site=%s", base, rank, size,
                     parent, (unsigned long long)c->a[2], site_hash);
        return 0;
    }
    if (strcmp(name, "ncclCommSplit") == 0) {
        char parent[40];
        if (cg_memo_name_of(c->a[1], parent, sizeof parent) != 0)
            snprintf(parent, sizeof parent, "0x%llx", (unsigned long long)c->a[1]);
        snprintf(key, n, "ncclCommSplit dtype=ANY parent=%s color=%d key=%d", parent, (int)c->a[2], (int)c->a[3]);
    } else if (strcmp(name, "ncclCommInitAll") == 0) {
        snprintf(key, n, "ncclCommInitAll world=%d dtype=ANY site=%s", (int)c->a[1], site_hash);
    } else { /* a fresh unique id each time: the call site tells a repeat */
        snprintf(key, n, "%s rank=%d world=%d dtype=ANY site=%s", name, (int)c->a[3], (int)c->a[1], site_hash);
    }
    return 0;
}

static int obj_type_of_init(const struct cg_call *c)
{
    return cg_hooks[c->hook].lib == CG_LIB_MPI ? OBJ_MPI_COMM : OBJ_NCCL_COMM;
}

/* The value the init wrote (or would write) through its out-parameter. */
static uintptr_t read_out(const struct cg_call *c, int type)
{
    if (type == OBJ_MPI_COMM)
        return cg_mpi_read_comm((void *)c->a[0]);
    if (type == OBJ_NCCL_COMM || type == OBJ_REG)
        return c->a[0] ? (uintptr_t) * (void **)c->a[0] : 0;
    return 0;
}

static void write_out(const struct cg_call *c, int type, uintptr_t h)
{
    if (type == OBJ_MPI_COMM)
        cg_mpi_write_comm((void *)c->a[0], h);
    else if (c->a[0])
        *(void **)c->a[0] = (void *)h;
}

static int success_code(const struct cg_call *c) { (void)c; return 0; /* MPI_SUCCESS, ncclSuccess, cudaSuccess */ }

static int refusal_code(const struct cg_call *c)
{
    if (cg_hooks[c->hook].lib == CG_LIB_MPI)
        return cg_mpi()->err_other;
    return NCCL_INVALID_USAGE;
}

/* A communicator init / collective that nothing served, while a capture is in progress:
 * policy (default reject, with a named error instead of a hang). */
enum cg_action cg_memo_guard(struct cg_call *c, int reason)
{
    cg_cap_lock();
    cg_cap_name_any(c);
    cg_cap_unlock();
    c->reason = reason;
    c->verdict = cg_mpi_unknown_for(c) ? -1 : refusal_code(c); /* -1: no MPI error code known */
    c->policy = cg_policy_of[c->hook];
    if (c->policy == CG_POL_OBSERVE || cg_mpi_unknown_for(c)) {
        c->action = CG_OUT_OBSERVED;
        return CG_ACT_FORWARD;
    }
    c->action = CG_OUT_REJECTED;
    c->ret = c->verdict;
    return CG_ACT_RETURN;
}

int cg_mpi_unknown_for(const struct cg_call *c)
{
    static int said;
    if (cg_hooks[c->hook].lib != CG_LIB_MPI || cg_mpi()->abi != CG_MPI_UNKNOWN)
        return 0;
    if (!__atomic_exchange_n(&said, 1, __ATOMIC_ACQ_REL)) {
        cg_say("capguard: the MPI in this process is neither Open MPI nor MPICH: its calls are forwarded "
               "untouched (named during captures, never memoized or refused)\n");
        cg_log_event("\"ev\":\"note\",\"what\":\"mpi_abi_unknown\"");
    }
    return 1;
}

enum cg_action cg_memo_served(struct cg_call *c, const char *decision, const char *key, const char *site, int refs)
{
    cg_memo_log(c, decision, key, site, refs);
    c->ret = success_code(c);
    c->action = CG_OUT_SERVED;
    return CG_ACT_RETURN;
}

/* ---- communicator init / split / dup ---- */
static enum cg_action decide_init(struct cg_call *c)
{
    struct cg_site s;
    char key[CG_KEY_MAX], sh[24];
    int type = obj_type_of_init(c);
    cg_memo_site(&s);
    snprintf(sh, sizeof sh, "%016llx", (unsigned long long)s.call_hash);
    if (cg_mpi_unknown_for(c) || comm_key(c, key, sizeof key, sh) != 0)
        return cg_memo_capturing() ? cg_memo_guard(c, R_COMM_INIT) : CG_ACT_FORWARD;
    snprintf(t_key, sizeof t_key, "%s", key);
    snprintf(t_site, sizeof t_site, "%s", s.brief);
    if (strstr(key, "ncclCommInitAll") == NULL && cg_memo_serving()) {
        int refs = 0;
        uintptr_t h = take_served(type, key, &refs);
        if (h) {
            write_out(c, type, h);
            note_init(c, key, s.brief, 1);
            return cg_memo_served(c, "serve", key, s.brief, refs);
        }
    }
    note_init(c, key, s.brief, 0);
    if (cg_memo_capturing()) {
        cg_memo_log(c, "miss", key, s.brief, 0);
        return cg_memo_guard(c, R_COMM_INIT);
    }
    return CG_ACT_FORWARD;
}

static void after_init(struct cg_call *c)
{
    int type = obj_type_of_init(c);
    if (!t_key[0])
        return;
    uintptr_t h = read_out(c, type);
    if (!h || (type == OBJ_MPI_COMM && h == cg_mpi()->comm_null))
        return;
    obj_add_locked(type, t_key, h, 0, 0);
    cg_memo_log(c, "record", t_key, t_site, 1);
}

/* ---- release of communicators, mappings, buffers, registrations ---- */
static uintptr_t released_handle(const struct cg_call *c)
{
    switch (cg_hooks[c->hook].kind) {
    case K_COMM_FREE:
        return cg_hooks[c->hook].lib == CG_LIB_MPI ? cg_mpi_read_comm((void *)c->a[0]) : c->a[0];
    case K_DEREGISTER: return c->a[0];
    default: return (uintptr_t)c->ptr;
    }
}

/* The program releases an object: keep it (held) if it may be served again, or let the real
 * release run. Returns -1 when the object is not the memo's (the caller goes on as usual). */
static int decide_release(struct cg_call *c, enum cg_action *act)
{
    uintptr_t h = released_handle(c);
    char key[CG_KEY_MAX];
    int refs, keep, abort_ = strstr(cg_hooks[c->hook].name, "Abort") != NULL;
    if (cg_mpi_unknown_for(c))
        return -1;
    memo_lock();
    struct obj *o = h ? obj_by_handle(h) : NULL;
    if (!o || o->held) { /* not ours, or the program released a held one again: CUDA/MPI/NCCL */
        if (o) {          /* answer as they would without capguard, which then never releases it */
            obj_drop(o);
            recount_held_buffers();
        }
        memo_unlock();
        return -1;
    }
    snprintf(key, sizeof key, "%s", o->key);
    refs = --o->refs;
    keep = refs > 0 || (!abort_ && holding());
    if (keep && refs == 0) {
        o->held = 1;
        o->release_hook = c->hook;
    }
    if (!keep)
        obj_drop(o);
    recount_held_buffers();
    memo_unlock();
    if (!keep) {
        cg_memo_log(c, "release", key, "", 0);
        return -1;
    }
    if (cg_hooks[c->hook].kind == K_COMM_FREE && cg_hooks[c->hook].lib == CG_LIB_MPI)
        cg_mpi_write_comm((void *)c->a[0], cg_mpi()->comm_null); /* as MPI_Comm_free does */
    cg_memo_log(c, refs > 0 ? "unref" : "hold", key, "", refs);
    c->ret = success_code(c);
    c->action = CG_OUT_SERVED;
    *act = CG_ACT_RETURN;
    return 0;
}

/* ---- workspaces: IPC-exported buffers, NCCL buffers ---- */
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
    memo_lock();
    int fresh = !obj_by_handle((uintptr_t)c->ptr);
    int full = obj_add(OBJ_WORKSPACE, key, (uintptr_t)c->ptr, 0, size);
    memo_unlock();
    if (full)
        cg_memo_bound_reached(CG_BOUND_OBJECTS, "CAPGUARD_MEMO_OBJECTS: further communicators and workspaces are not memoized");
    if (fresh)
        cg_memo_log(c, "record", key, "", 1);
}

/* cudaMalloc / cuMemAlloc_v2 / ncclMemAlloc of a size a held buffer has: hand that back. */
static int decide_buffer_alloc(struct cg_call *c, enum cg_action *act, int type)
{
    char key[CG_KEY_MAX];
    if (!cg_memo_serving() || !c->a[0] || !c->bytes)
        return -1;
    memo_lock();
    struct obj *o = NULL, *it, *tmp;
    HASH_ITER(hh, objs, it, tmp)
    if (!o && it->held && it->type == type && it->size == c->bytes)
        o = it;
    if (o) {
        o->held = 0;
        o->refs = 1;
        snprintf(key, sizeof key, "%s", o->key);
        if (c->hook == HK_cuMemAlloc_v2)
            *(unsigned long long *)c->a[0] = o->handle;
        else
            *(void **)c->a[0] = (void *)o->handle;
        recount_held_buffers();
    }
    memo_unlock();
    if (!o)
        return -1;
    struct cg_site s;
    cg_memo_site(&s);
    note_init(c, key, s.brief, 1);
    *act = cg_memo_served(c, "serve", key, s.brief, 1);
    return 0;
}

static void after_buffer_alloc(struct cg_call *c)
{
    char key[CG_KEY_MAX];
    void *p = c->a[0] ? *(void **)c->a[0] : NULL;
    snprintf(key, sizeof key, "nccl_mem size=%zu dtype=ANY", c->bytes);
    obj_add_locked(OBJ_NCCL_MEM, key, (uintptr_t)p, 0, c->bytes);
}

/* cudaIpcOpenMemHandle: the handle's bytes are the key. */
static void import_key(const struct cg_call *c, char *key, size_t n)
{
    snprintf(key, n, "ipc_open handle=%016llx dtype=ANY",
             (unsigned long long)cg_fnv((const void *)c->a[1], sizeof(cg_ipc_handle), FNV0));
}

static enum cg_action decide_import(struct cg_call *c)
{
    char key[CG_KEY_MAX];
    import_key(c, key, sizeof key);
    snprintf(t_key, sizeof t_key, "%s", key);
    struct cg_site s;
    cg_memo_site(&s);
    snprintf(t_site, sizeof t_site, "%s", s.brief);
    if (cg_memo_serving()) {
        int refs = 0;
        uintptr_t h = take_served(OBJ_IPC_MAP, key, &refs); /* mappings: held ones only */
        if (h) {
            if (cg_hooks[c->hook].lib == CG_LIB_DRV)
                *(unsigned long long *)c->a[0] = h;
            else
                *(void **)c->a[0] = (void *)h;
            note_init(c, key, s.brief, 1);
            return cg_memo_served(c, "serve", key, s.brief, 1);
        }
    }
    note_init(c, key, s.brief, 0);
    return CG_ACT_FORWARD; /* opening a handle is legal during a capture */
}

static void after_import(struct cg_call *c)
{
    uintptr_t h = cg_hooks[c->hook].lib == CG_LIB_DRV ? *(unsigned long long *)c->a[0] : (uintptr_t) * (void **)c->a[0];
    obj_add_locked(OBJ_IPC_MAP, t_key, h, 0, 0);
    cg_memo_log(c, "record", t_key, t_site, 1);
}

/* ---- NCCL registrations ---- */
static enum cg_action decide_register(struct cg_call *c)
{
    char key[CG_KEY_MAX], comm[40];
    struct cg_site s;
    if (cg_memo_name_of(c->a[1], comm, sizeof comm) != 0)
        snprintf(comm, sizeof comm, "0x%llx", (unsigned long long)c->a[1]);
    snprintf(key, sizeof key, "%s comm=%s ptr=0x%llx size=%zu flags=%d dtype=ANY", cg_hooks[c->hook].name[0] == 'p' ?
             cg_hooks[c->hook].name + 1 : cg_hooks[c->hook].name, comm, (unsigned long long)c->a[2], c->bytes, (int)c->a[3]);
    snprintf(t_key, sizeof t_key, "%s", key);
    cg_memo_site(&s);
    snprintf(t_site, sizeof t_site, "%s", s.brief);
    if (cg_memo_serving()) {
        int refs = 0;
        uintptr_t h = take_served(OBJ_REG, key, &refs);
        if (h) {
            *(void **)c->a[0] = (void *)h;
            note_init(c, key, s.brief, 1);
            return cg_memo_served(c, "serve", key, s.brief, refs);
        }
    }
    note_init(c, key, s.brief, 0);
    if (cg_memo_capturing() && strstr(key, "CommWindowRegister")) { /* collective, and refused by NCCL in a capture */
        cg_memo_log(c, "miss", key, s.brief, 0);
        return cg_memo_guard(c, R_COMM_INIT);
    }
    return CG_ACT_FORWARD;
}

static void after_register(struct cg_call *c)
{
    uintptr_t h = c->a[0] ? (uintptr_t) * (void **)c->a[0] : 0;
    obj_add_locked(OBJ_REG, t_key, h, c->a[1], c->bytes);
    cg_memo_log(c, "record", t_key, t_site, 1);
}

/* ---- entry points from core.c / policy.c ---- */

/* Returns -1 when the memo has nothing to say about the call (the CUDA model decides). */
int cg_memo_decide(struct cg_call *c, enum cg_action *act)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    t_key[0] = 0;
    t_site[0] = 0;
    switch (k) {
    case K_COMM_INIT: *act = decide_init(c); return 0;
    case K_HOST_COLL: *act = cg_coll_decide(c); return 0;
    case K_NCCL_ID: *act = cg_unique_id_decide(c); return 0;
    case K_WS_IMPORT: *act = decide_import(c); return 0;
    case K_REGISTER: *act = decide_register(c); return 0;
    case K_COMM_FREE:
    case K_DEREGISTER:
    case K_WS_CLOSE:
    case K_BUF_FREE:
        if (decide_release(c, act) == 0)
            return 0;
        *act = CG_ACT_FORWARD;
        return k == K_COMM_FREE || k == K_DEREGISTER || k == K_WS_CLOSE || k == K_BUF_FREE ? 0 : -1;
    case K_FREE:
        return decide_release(c, act);
    case K_ALLOC:
        return decide_buffer_alloc(c, act, OBJ_WORKSPACE);
    case K_BUF_ALLOC:
        if (decide_buffer_alloc(c, act, OBJ_NCCL_MEM) == 0)
            return 0;
        *act = CG_ACT_FORWARD;
        return 0;
    case K_COMM_FINALIZE: {
        char name[40];
        if (cg_memo_name_of(c->a[0], name, sizeof name) == 0 && holding()) {
            *act = cg_memo_served(c, "finalize_skipped", name, "", 0); /* the communicator may be served again */
            return 0;
        }
        *act = cg_memo_capturing() ? cg_memo_guard(c, R_COMM_INIT) : CG_ACT_FORWARD;
        return 0;
    }
    case K_NCCL_COLL: cg_nccl_count(c); *act = CG_ACT_FORWARD; return 0;
    case K_MPI_FINALIZE: cg_memo_forget_mpi(); *act = CG_ACT_FORWARD; return 0;
    case K_WS_EXPORT:
    case K_VMM: *act = CG_ACT_FORWARD; return 0;
    default: return -1;
    }
}

void cg_memo_after(struct cg_call *c)
{
    if (c->real_ret != 0 || c->action == CG_OUT_REJECTED)
        return;
    switch (cg_hooks[c->hook].kind) {
    case K_COMM_INIT: after_init(c); break;
    case K_HOST_COLL: cg_coll_after(c); break;
    case K_NCCL_ID: cg_unique_id_after(c); break;
    case K_WS_EXPORT: after_export(c); break;
    case K_WS_IMPORT: after_import(c); break;
    case K_BUF_ALLOC: after_buffer_alloc(c); break;
    case K_REGISTER: after_register(c); break;
    default: break;
    }
}

/* MPI_Finalize frees every MPI object: forget ours without releasing them again. */
void cg_memo_forget_mpi(void)
{
    struct obj *o, *tmp;
    memo_lock();
    HASH_ITER(hh, objs, o, tmp)
    if (o->type == OBJ_MPI_COMM)
        obj_drop(o);
    memo_unlock();
}

/* The real release of a held object, with the entry point the program used. */
static int real_release_call(struct obj *o);
static int real_release(struct obj *o)
{
    cg_set_busy(0); /* a real call: the hooks it reaches are its inner calls */
    int rc = real_release_call(o);
    cg_set_busy(1);
    return rc;
}

static int real_release_call(struct obj *o)
{
    void *fn = cg_real(o->release_hook);
    if (!fn)
        return -1;
    switch (cg_hooks[o->release_hook].kind) {
    case K_COMM_FREE:
        if (o->type == OBJ_MPI_COMM) {
            uintptr_t h = o->handle;
            return ((int (*)(void *))fn)(&h);
        }
        return ((int (*)(void *))fn)((void *)o->handle);
    case K_DEREGISTER: return ((int (*)(void *, void *))fn)((void *)o->aux, (void *)o->handle);
    default: return cg_replay(o->release_hook, o->handle);
    }
}

/* The last capture ended: what was released inside it and not served again is
 * released for real now, in the order it was held. Called inside a hook (depth > 0). */
void cg_memo_capture_ended(void)
{
    for (;;) {
        struct obj *o, *tmp, *pick = NULL;
        memo_lock();
        if (cg_memo_capturing()) {
            memo_unlock();
            return;
        }
        HASH_ITER(hh, objs, o, tmp)
        if (o->held && (!pick || o->id < pick->id))
            pick = o;
        struct obj copy;
        if (pick) {
            copy = *pick;
            obj_drop(pick);
        }
        recount_held_buffers();
        memo_unlock();
        if (!pick)
            return;
        int rc = real_release(&copy);
        char body[CG_KEY_MAX + 200], qk[CG_KEY_MAX + 40];
        cg_json_str(qk, sizeof qk, copy.key);
        snprintf(body, sizeof body, "\"ev\":\"memo\",\"call\":\"%s\",\"decision\":\"real_release\",\"key\":%s,\"rc\":%d",
                 cg_hooks[copy.release_hook].name, qk, rc);
        cg_log_event(body);
    }
}

/* Summary lines: every key initialised more than once, and the NCCL collectives. */
void cg_memo_summary(void)
{
    struct hist *h, *copy;
    char body[900], qk[CG_KEY_MAX + 40], qf[200];
    unsigned got, evicted, untracked;
    CG_TABLE_SNAPSHOT(memo_lock, memo_unlock, hists, struct hist, copy, got);
    evicted = keys_evicted;
    untracked = objs_untracked;
    memo_unlock();
    for (unsigned i = 0; i < got; i++) {
        h = &copy[i];
        cg_json_str(qk, sizeof qk, h->key);
        cg_json_str(qf, sizeof qf, h->first_site);
        snprintf(body, sizeof body, "\"ev\":\"summary_init\",\"key\":%s,\"count\":%u,\"served\":%u,\"first_site\":%s",
                 qk, h->count, h->served, qf);
        cg_log_event(body);
        if (h->count > 1)
            cg_say("capguard:   %6u x init of %s (%u served from the memo; first at %s)\n", h->count, h->key,
                   h->served, h->first_site);
    }
    free(copy);
    if (evicted || untracked) {
        snprintf(body, sizeof body, "\"ev\":\"summary_memo_bounds\",\"keys_forgotten\":%u,\"objects_not_tracked\":%u,"
                 "\"memo_keys\":%u,\"memo_objects\":%u", evicted, untracked, cg_cfg.memo_keys, cg_cfg.memo_objects);
        cg_log_event(body);
        cg_say("capguard:   memo bounds: %u initialisation keys forgotten (CAPGUARD_MEMO_KEYS=%u), %u objects not tracked "
               "(CAPGUARD_MEMO_OBJECTS=%u)\n", evicted, cg_cfg.memo_keys, untracked, cg_cfg.memo_objects);
    }
    cg_coll_summary();
}

int cg_memo_has_history(void)
{
    return hists != NULL;
}
