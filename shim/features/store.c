/* The memo's store: the objects the program created (MPI and NCCL communicators, IPC mappings,
 * exported workspaces, NCCL buffers, registrations) by handle and by key, the held ones oldest
 * first, every key ever initialised (for repeat reports), and the memo's own log lines and guard.
 * Look-ups are O(1): by handle (hash), by key (hash of key sets; a set is the few objects that
 * share one key). Runs under its own lock, never held across a forwarded call.
 * Must never: allocate, log or take another lock with the lock held (uthash draws on lockmem's
 * spares), hand out a buffer the program still uses, or release an object twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memo.h"

#define NCCL_INVALID_USAGE 5

struct cg_keyset {
    char key[CG_KEY_MAX];
    struct cg_obj *objs;
    UT_hash_handle hh;
};

struct hist { /* every key ever initialised: repeats are reported even when nothing is served */
    char key[CG_KEY_MAX];
    unsigned count, served;
    char first_site[160];
    UT_hash_handle hh;
};

static struct cg_obj *objs, *held_head;
static struct cg_keyset *sets;
static struct hist *hists;
static unsigned n_objs, n_buffers_held, n_workspaces;
static uint64_t next_obj_id = 1;
static pthread_mutex_t memo_mutex = PTHREAD_MUTEX_INITIALIZER;
static unsigned objs_untracked, keys_evicted, bound_said;

void cg_memo_lock(void)
{
    cg_mem_reserve();
    pthread_mutex_lock(&memo_mutex);
}

void cg_memo_unlock(void)
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

/* Allocations and frees must look at the memo while it holds buffers or knows workspaces. */
static void update_gate(void) { cg_gate_set(CG_GATE_MEMO, n_buffers_held > 0 || n_workspaces > 0); }

/* A forked child starts with an empty memo (the parent's MPI and NCCL objects are not usable in
 * it); the tables are dropped, not freed (another thread of the parent may have been changing
 * them). */
void cg_store_after_fork(void)
{
    pthread_mutex_init(&memo_mutex, NULL);
    cg_mem_orphan(objs);
    cg_mem_orphan(sets);
    cg_mem_orphan(hists);
    objs = held_head = NULL;
    sets = NULL;
    hists = NULL;
    n_objs = n_buffers_held = n_workspaces = 0;
    update_gate();
}

int cg_memo_capturing(void) { return __atomic_load_n(&cg_active_captures, __ATOMIC_ACQUIRE) > 0; }
int cg_memo_serving(void)
{
    int serve = cg_scopes[cg_cfg.memo].serve;
    return serve == 2 || (serve == 1 && cg_memo_capturing());
}
/* Hold a released object back instead of releasing it for real: only while a capture is in
 * progress (the real release would break it); held objects still unclaimed when the last capture
 * ends are released then. Outside captures the last release is the real one, in every scope. */
int cg_memo_holding(void) { return cg_scopes[cg_cfg.memo].hold && cg_memo_capturing(); }

/* ---- objects ---- */
static int is_buffer(int type) { return type == OBJ_WORKSPACE || type == OBJ_NCCL_MEM; }

struct cg_obj *cg_objs(void) { return objs; }

struct cg_obj *cg_obj_by_handle(uintptr_t h)
{
    struct cg_obj *o = NULL;
    HASH_FIND(hh, objs, &h, sizeof h, o);
    return o;
}

struct cg_obj *cg_obj_to_serve(int type, const char *key)
{
    struct cg_keyset *ks = NULL;
    struct cg_obj *live = NULL;
    HASH_FIND_STR(sets, key, ks);
    for (struct cg_obj *o = ks ? ks->objs : NULL; o; o = o->knext) {
        if (o->type != type)
            continue;
        if (o->held)
            return o;
        if (!live && o->shareable)
            live = o;
    }
    return live;
}

int cg_obj_add(int type, const char *key, uintptr_t handle, uintptr_t aux, size_t size, int shareable)
{
    if (!handle || cg_obj_by_handle(handle))
        return 0;
    if (n_objs >= cg_cfg.memo_objects) {
        objs_untracked++;
        return -1;
    }
    struct cg_keyset *ks = NULL;
    HASH_FIND_STR(sets, key, ks);
    if (!ks) {
        if ((ks = cg_mem_take(sizeof *ks)) == NULL)
            return 0;
        memset(ks, 0, sizeof *ks);
        snprintf(ks->key, sizeof ks->key, "%s", key);
        HASH_ADD_STR(sets, key, ks);
    }
    struct cg_obj *o = cg_mem_take(sizeof *o);
    if (!o) {
        if (!ks->objs) {
            HASH_DEL(sets, ks);
            cg_mem_drop(ks);
        }
        return 0;
    }
    memset(o, 0, sizeof *o);
    o->id = next_obj_id++;
    o->type = type;
    snprintf(o->key, sizeof o->key, "%s", key);
    o->handle = handle;
    o->aux = aux;
    o->size = size;
    o->refs = 1;
    o->shareable = shareable;
    o->set = ks;
    o->knext = ks->objs;
    if (ks->objs)
        ks->objs->kprev = o;
    ks->objs = o;
    HASH_ADD(hh, objs, handle, sizeof o->handle, o);
    n_objs++;
    if (type == OBJ_WORKSPACE) {
        n_workspaces++;
        update_gate();
    }
    return 0;
}

void cg_obj_add_locked(int type, const char *key, uintptr_t handle, uintptr_t aux, size_t size, int shareable)
{
    cg_memo_lock();
    int full = cg_obj_add(type, key, handle, aux, size, shareable);
    cg_memo_unlock();
    if (full)
        cg_memo_bound_reached(CG_BOUND_OBJECTS, "CAPGUARD_MEMO_OBJECTS: further communicators and workspaces are not memoized");
}

void cg_obj_hold(struct cg_obj *o, int release_hook)
{
    if (o->held)
        return;
    o->held = 1;
    o->release_hook = release_hook;
    o->hnext = NULL;
    if (!held_head) {
        held_head = o;
        o->hprev = o; /* the head's hprev is the tail */
    } else {
        o->hprev = held_head->hprev;
        held_head->hprev->hnext = o;
        held_head->hprev = o;
    }
    if (is_buffer(o->type)) {
        n_buffers_held++;
        update_gate();
    }
}

void cg_obj_unhold(struct cg_obj *o)
{
    if (!o->held)
        return;
    o->held = 0;
    if (o == held_head) {
        held_head = o->hnext;
        if (held_head)
            held_head->hprev = o->hprev;
    } else {
        o->hprev->hnext = o->hnext;
        if (o->hnext)
            o->hnext->hprev = o->hprev;
        else
            held_head->hprev = o->hprev;
    }
    o->hnext = o->hprev = NULL;
    if (is_buffer(o->type)) {
        n_buffers_held--;
        update_gate();
    }
}

struct cg_obj *cg_obj_oldest_held(void) { return held_head; }

void cg_obj_drop(struct cg_obj *o)
{
    cg_obj_unhold(o);
    struct cg_keyset *ks = o->set;
    if (o->kprev)
        o->kprev->knext = o->knext;
    else
        ks->objs = o->knext;
    if (o->knext)
        o->knext->kprev = o->kprev;
    if (!ks->objs) {
        HASH_DEL(sets, ks);
        cg_mem_drop(ks);
    }
    if (o->type == OBJ_WORKSPACE) {
        n_workspaces--;
        update_gate();
    }
    HASH_DEL(objs, o);
    cg_mem_drop(o); /* freed once the lock is dropped */
    n_objs--;
}

void cg_obj_forget_type(int type)
{
    struct cg_obj *o, *tmp;
    cg_memo_lock();
    HASH_ITER(hh, objs, o, tmp)
    if (o->type == type)
        cg_obj_drop(o);
    cg_memo_unlock();
}

uint64_t cg_memo_id_of(uintptr_t handle)
{
    struct cg_obj *o = cg_obj_by_handle(handle);
    return o ? o->id : 0;
}

int cg_memo_name_of(uintptr_t handle, char *out, size_t n)
{
    cg_memo_lock();
    uint64_t id = cg_memo_id_of(handle);
    cg_memo_unlock();
    if (id)
        snprintf(out, n, "#%llu", (unsigned long long)id);
    return id ? 0 : -1;
}

/* ---- the memo's lines: every decision, with its key ---- */
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

uint64_t cg_memo_site(struct cg_call *c)
{
    if (!c->site_done) {
        cg_call_site(c->ra, &c->call_hash, c->text->site, sizeof c->text->site);
        c->site_done = 1;
    }
    return c->call_hash;
}

/* Count an initialisation of `key`; report the repeat (first and this site, count). */
void cg_memo_note_init(const struct cg_call *c, const char *key, const char *site, int served)
{
    struct hist *h = NULL;
    unsigned count, srv;
    char first[160];
    int evicted = 0;
    cg_memo_lock();
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
        cg_memo_unlock();
        return;
    }
    count = ++h->count;
    srv = h->served += (unsigned)served;
    snprintf(first, sizeof first, "%s", h->first_site);
    cg_memo_unlock();
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

static int refusal_code(const struct cg_call *c)
{
    if (cg_hooks[c->hook].lib == CG_LIB_MPI)
        return cg_mpi()->err_other;
    return NCCL_INVALID_USAGE;
}

/* An NCCL communicator init or split (not ncclGetUniqueId, a finalize or a window registration):
 * the calls the policy's `init` outcome applies to. */
static int nccl_init(const struct cg_call *c)
{
    return cg_hooks[c->hook].lib == CG_LIB_NCCL && cg_hooks[c->hook].kind == K_COMM_INIT;
}

/* A communicator init / collective that nothing served, while a capture is in progress: the
 * policy's `coll` outcome (policies.def) — a named error instead of a hang, unless observe —
 * or for an NCCL init its `init` outcome, which can also be the real init run relaxed. */
void cg_memo_guard(struct cg_call *c, int reason)
{
    cg_cap_lock();
    cg_cap_name_any(c);
    cg_cap_unlock();
    c->reason = reason;
    c->verdict = cg_mpi_unknown_for(c) ? -1 : refusal_code(c); /* -1: no MPI error code known */
    c->policy = cg_policy_of[c->hook];
    c->decided = 1;
    const struct cg_policy_desc *p = &cg_policies[c->policy < CG_POL_COUNT ? c->policy : 0];
    c->action = nccl_init(c) ? p->init : p->coll;
    if (c->action == CG_OUT_RELAXED) {
        c->act = CG_ACT_RELAX;
        return;
    }
    if (c->action == CG_OUT_OBSERVED || cg_mpi_unknown_for(c)) {
        c->action = CG_OUT_OBSERVED;
        c->act = CG_ACT_FORWARD;
        return;
    }
    c->action = CG_OUT_REJECTED;
    c->ret = c->verdict;
    c->act = CG_ACT_RETURN;
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

/* Answered by the memo: success (MPI_SUCCESS, ncclSuccess and cudaSuccess are all 0). */
void cg_memo_served(struct cg_call *c, const char *decision, const char *key, const char *site, int refs)
{
    cg_memo_log(c, decision, key, site, refs);
    c->ret = 0;
    c->action = CG_OUT_SERVED;
    c->act = CG_ACT_RETURN;
    c->decided = 1;
}

/* Summary lines: every key initialised more than once, and the bounds. */
void cg_store_summary(void)
{
    struct hist *h, *copy;
    char body[900], qk[CG_KEY_MAX + 40], qf[200];
    unsigned got, evicted, untracked;
    CG_TABLE_SNAPSHOT(cg_memo_lock, cg_memo_unlock, hists, struct hist, copy, got);
    evicted = keys_evicted;
    untracked = objs_untracked;
    cg_memo_unlock();
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
}

int cg_store_has_history(void) { return __atomic_load_n(&hists, __ATOMIC_ACQUIRE) != NULL; }
