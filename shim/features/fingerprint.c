/* Captured-collective fingerprints (CASES.md E): the NCCL collectives a capture enqueued, in
 * order (op, count, dtype, communicator, root or peer), logged as a list and a hash when the
 * capture ends, per rank and per capture. Ranks whose graphs captured different collectives
 * deadlock at replay; their fingerprints differ (capguard report compares them across ranks).
 * The communicator is the memo's "#id" (its creation order: the same on every rank that makes
 * the same communicators), else its handle.
 * Must never: allocate or log with its lock held (entries come from lockmem's spares). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "memo.h"
#include "module.h"

#define CG_FP_ENTRIES_MAX 65536 /* collectives remembered over all active captures; more are counted */
#define CG_FP_LINE_MAX 16000    /* bytes of one fingerprint line's list (the log's line bound; "shown" says how many) */

struct fp_entry {
    int hook;
    int dtype;
    unsigned long long count;
    uint64_t comm_id;
    uintptr_t comm;
    int peer_kind; /* 0 none, 1 root, 2 peer */
    int peer;
    struct fp_entry *next;
};
struct fp_capture {
    uint64_t id;
    struct fp_entry *head, *tail;
    unsigned n;
    UT_hash_handle hh;
};
static struct fp_capture *caps;
static unsigned n_entries, entries_dropped;
static pthread_mutex_t fp_mutex = PTHREAD_MUTEX_INITIALIZER;

static void fp_lock(void)
{
    cg_mem_reserve();
    pthread_mutex_lock(&fp_mutex);
}
static void fp_unlock(void)
{
    pthread_mutex_unlock(&fp_mutex);
    cg_mem_flush();
}

static void fingerprint_after_fork(void)
{
    pthread_mutex_init(&fp_mutex, NULL);
    cg_mem_orphan(caps);
    caps = NULL;
    n_entries = 0;
}

/* A collective enqueued on a capturing stream: appended to its capture's list. */
static void add(const struct cg_call *c, uint64_t cap)
{
    uint64_t comm_id = 0;
    cg_memo_lock();
    comm_id = cg_memo_id_of(c->a[0]);
    cg_memo_unlock();
    const char *name = cg_hooks[c->hook].name;
    int hook = name[0] == 'p' ? cg_hook_by_name(name + 1) : c->hook;
    fp_lock();
    struct fp_capture *fc = NULL;
    HASH_FIND(hh, caps, &cap, sizeof cap, fc);
    if (!fc && (fc = cg_mem_take(sizeof *fc)) != NULL) {
        memset(fc, 0, sizeof *fc);
        fc->id = cap;
        HASH_ADD(hh, caps, id, sizeof fc->id, fc);
    }
    struct fp_entry *e = fc && n_entries < CG_FP_ENTRIES_MAX ? cg_mem_take(sizeof *e) : NULL;
    if (e) {
        *e = (struct fp_entry){hook, (int)c->a[1], (unsigned long long)c->a[2], comm_id, c->a[0], (int)c->a[4],
                               (int)c->a[3], NULL};
        if (fc->tail)
            fc->tail->next = e;
        else
            fc->head = e;
        fc->tail = e;
        fc->n++;
        n_entries++;
    } else {
        __atomic_add_fetch(&entries_dropped, 1, __ATOMIC_RELAXED);
    }
    fp_unlock();
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

/* The capture ended: its list and hash, written after the lock (the entries detached first). */
static void finish(const struct cg_call *c)
{
    uint64_t cap = c->cap_id;
    fp_lock();
    struct fp_capture *fc = NULL;
    HASH_FIND(hh, caps, &cap, sizeof cap, fc);
    if (fc)
        HASH_DEL(caps, fc);
    fp_unlock();
    if (!fc)
        return;
    static char list[CG_FP_LINE_MAX]; /* (one ending at a time: the lock below) */
    static pthread_mutex_t out_mutex = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&out_mutex);
    size_t used = 0;
    unsigned shown = 0;
    uint64_t h = CG_HASH_SEED;
    for (struct fp_entry *e = fc->head; e; e = e->next) {
        h = mix(mix(mix(mix(mix(mix(h, (uint64_t)e->hook), e->count), (uint64_t)e->dtype),
                        e->comm_id ? e->comm_id : e->comm), (uint64_t)e->peer_kind), (uint64_t)e->peer);
        char comm[40];
        if (e->comm_id)
            snprintf(comm, sizeof comm, "#%llu", (unsigned long long)e->comm_id);
        else
            snprintf(comm, sizeof comm, "0x%llx", (unsigned long long)e->comm);
        char peer[32] = "";
        if (e->peer_kind)
            snprintf(peer, sizeof peer, ",\"%s\":%d", e->peer_kind == 1 ? "root" : "peer", e->peer);
        int w = snprintf(list + used, sizeof list - used, "%s{\"op\":\"%s\",\"count\":%llu,\"dtype\":%d,\"comm\":\"%s\"%s}",
                         shown ? "," : "", cg_hooks[e->hook].name, e->count, e->dtype, comm, peer);
        if (w > 0 && (size_t)w < sizeof list - used) {
            used += (size_t)w;
            shown++;
        } else {
            list[used] = 0;
        }
    }
    char head[256];
    snprintf(head, sizeof head, "\"ev\":\"fingerprint\",\"capture\":%llu,\"colls\":%u,\"hash\":\"%016llx\",\"shown\":%u,\"list\":[",
             (unsigned long long)cap, fc->n, (unsigned long long)h, shown);
    static char line[CG_FP_LINE_MAX + 300];
    snprintf(line, sizeof line, "%s%s]", head, list);
    cg_log_event(line);
    pthread_mutex_unlock(&out_mutex);
    fp_lock();
    for (struct fp_entry *e = fc->head, *next; e; e = next) {
        next = e->next;
        cg_mem_drop(e);
        n_entries--;
    }
    cg_mem_drop(fc);
    fp_unlock();
}

static void fingerprint_leave(struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    if (k == K_NCCL_COLL && c->forwarded && c->real_ret == 0 && !c->in_handler &&
        __atomic_load_n(&cg_active_captures, __ATOMIC_ACQUIRE) > 0) {
        uint64_t cap = cg_cap_id_of_stream(&c->args);
        if (cap)
            add(c, cap);
    } else if (k == K_END && c->ended) {
        finish(c);
    }
}

static void fingerprint_summary(void)
{
    unsigned dropped = __atomic_load_n(&entries_dropped, __ATOMIC_RELAXED);
    if (!dropped)
        return;
    char body[160];
    snprintf(body, sizeof body, "\"ev\":\"summary_fingerprint\",\"collectives_not_recorded\":%u,\"entries_max\":%u",
             dropped, CG_FP_ENTRIES_MAX);
    cg_log_event(body);
}

CG_MODULE(fingerprint, .after_fork = fingerprint_after_fork, .on_leave = fingerprint_leave,
          .summary = fingerprint_summary);
