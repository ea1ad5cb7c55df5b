/* The flight recorder: a ring of the process's recent judged calls (CAPGUARD_RECORDER entries),
 * each written when the call enters (so a call that never returns is in it) and completed when
 * it returns: when, which thread, the call, its stream or communicator, the captures active, its
 * caller (symbolized once per address: a shared cache), then its capture, outcome, return code
 * and duration, and the memo's site (the Python line) where the memo took one. Kinds a capture makes by the
 * thousand (kinds.def `rec` 0: copies, event records and waits, queries, allocations) are counted
 * per kind instead, unless the model found the call illegal. Watched calls that were not judged
 * (a sync outside any capture) are counted per thread by the observer slots.
 * Dumped to the log, oldest first, when the watchdog names a blocked call, on SIGTERM, SIGINT,
 * SIGABRT and SIGUSR1 (pipeline/signals.c), and at exit: a `recorder` line, one `rec` line per
 * entry, and (outside signal handlers) one `recorder_thread` line per thread seen.
 * The ring is lock-free: a writer claims an index with one atomic add and marks its entry busy
 * while it writes; a reader takes an entry only if its mark is the same before and after.
 * Must never: take a lock, allocate or format with stdio on the dump path (it runs in signal
 * handlers), or write a line longer than a page. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "asfmt.h"
#include "features.h"
#include "module.h"

#define CG_REC_SITE_WORDS 12 /* a site's JSON string, 96 bytes, stored word by word */
#define CG_REC_SIGNAL_DUMPS 16 /* dumps from signal handlers at most (a program's own SIGUSR1 traffic) */
#define CG_REC_THREADS 64 /* threads named at most in a dump */

struct rec_entry { /* every field read and written atomically: a dump may race its writer */
    uint64_t mark;  /* the call's index + 1 while it is whole, 0 while it is written */
    uint64_t mono;  /* monotonic clock at entry (the dump turns it into wall-clock time) */
    uint64_t cap_id;
    uint64_t arg;
    int tid, hook, outcome, ret, captures, done;
    unsigned us;
    uint64_t site[CG_REC_SITE_WORDS];
};

/* Call sites as the entries hold them (a JSON string in words), by return address: a direct-mapped
 * cache shared by every thread, so that a call recorded again costs a look-up, not a symbolizing.
 * A slot's tag is cleared while it is written; a reader takes it only if the tag matches after. */
#define CG_REC_SITES 1024
struct site_slot {
    uintptr_t tag; /* the return address, 0 while written */
    uint64_t words[CG_REC_SITE_WORDS];
};
static struct site_slot site_cache[CG_REC_SITES];

static struct rec_entry *ring;
static unsigned ring_n;
static uint64_t head;             /* calls recorded so far (the next index) */
static uint64_t counted[K_COUNT]; /* calls of kinds counted, not recorded */
static unsigned dumps, signal_dumps;

static uint64_t clock_ns(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

#define PUT(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)
#define GET(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

static void recorder_init(void)
{
    if (cg_cfg.recorder)
        ring = calloc(cg_cfg.recorder, sizeof *ring);
    ring_n = ring ? cg_cfg.recorder : 0;
}

/* A forked child's log is its own: the parent's calls are not the child's history. */
static void recorder_after_fork(void)
{
    if (ring)
        memset(ring, 0, ring_n * sizeof *ring); /* the site cache stays valid: same mappings */
    head = dumps = signal_dumps = 0;
    memset(counted, 0, sizeof counted);
}

static uintptr_t arg_of(const struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    if (k == K_HOST_COLL || k == K_NCCL_COLL || k == K_COMM_FREE || k == K_COMM_FINALIZE)
        return c->a[0]; /* the communicator */
    return c->stream ? (uintptr_t)c->stream : c->event ? (uintptr_t)c->event : c->arg0;
}

static void put_words(struct rec_entry *e, const char *site)
{
    char q[CG_REC_SITE_WORDS * 8];
    uint64_t words[CG_REC_SITE_WORDS] = {0};
    cg_json_str(q, sizeof q, site);
    memcpy(words, q, sizeof q);
    for (int i = 0; i < CG_REC_SITE_WORDS; i++)
        PUT(e->site[i], words[i]);
}

/* The caller's site (module+offset and symbol), from the cache or symbolized once. */
static void put_caller(struct rec_entry *e, void *ra)
{
    struct site_slot *slot = &site_cache[((uintptr_t)ra >> 2) % CG_REC_SITES];
    uint64_t words[CG_REC_SITE_WORDS];
    if (ra && __atomic_load_n(&slot->tag, __ATOMIC_ACQUIRE) == (uintptr_t)ra) {
        for (int i = 0; i < CG_REC_SITE_WORDS; i++)
            words[i] = GET(slot->words[i]);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&slot->tag, __ATOMIC_RELAXED) == (uintptr_t)ra) {
            for (int i = 0; i < CG_REC_SITE_WORDS; i++)
                PUT(e->site[i], words[i]);
            return;
        }
    }
    char brief[160];
    cg_caller_brief(ra, brief, sizeof brief);
    put_words(e, brief);
    if (!ra)
        return;
    __atomic_store_n(&slot->tag, (uintptr_t)0, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    for (int i = 0; i < CG_REC_SITE_WORDS; i++)
        PUT(slot->words[i], GET(e->site[i]));
    __atomic_store_n(&slot->tag, (uintptr_t)ra, __ATOMIC_RELEASE);
}

/* A new entry for this call (the ring's oldest is overwritten). */
static void record(struct cg_call *c)
{
    if (!ring_n)
        return;
    if (!__atomic_load_n(&head, __ATOMIC_RELAXED))
        cg_log_open(); /* a signal's dump can then be written */
    uint64_t i = __atomic_fetch_add(&head, 1, __ATOMIC_ACQ_REL);
    struct rec_entry *e = &ring[i % ring_n];
    __atomic_store_n(&e->mark, 0, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE); /* the mark cleared before any field changes */
    PUT(e->mono, clock_ns(CLOCK_MONOTONIC));
    PUT(e->cap_id, (uint64_t)0);
    PUT(e->arg, (uint64_t)arg_of(c));
    PUT(e->tid, cg_tid());
    PUT(e->hook, c->hook);
    PUT(e->outcome, 0);
    PUT(e->ret, 0);
    PUT(e->done, 0);
    PUT(e->us, 0u);
    PUT(e->captures, __atomic_load_n(&cg_active_captures, __ATOMIC_ACQUIRE));
    if (c->in_handler)
        put_words(e, "signal handler");
    else
        put_caller(e, c->ra);
    __atomic_store_n(&e->mark, i + 1, __ATOMIC_RELEASE);
    c->rec_i = i + 1;
}

static void recorder_enter(struct cg_call *c)
{
    if (cg_kinds[cg_hooks[c->hook].kind].rec)
        record(c);
}

/* The call returned (or was answered): its entry completed, if the ring still holds it. */
static void recorder_leave(struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    if (!ring_n)
        return;
    if (!cg_kinds[k].rec && !c->verdict) {
        __atomic_add_fetch(&counted[k], 1, __ATOMIC_RELAXED);
        return;
    }
    if (!c->rec_i)
        record(c); /* an illegal call of a counted kind */
    if (!ring_n || !c->rec_i)
        return;
    struct rec_entry *e = &ring[(c->rec_i - 1) % ring_n];
    uint64_t want = c->rec_i;
    if (!__atomic_compare_exchange_n(&e->mark, &want, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        return; /* overwritten by a newer call meanwhile */
    uint64_t us = (clock_ns(CLOCK_MONOTONIC) - GET(e->mono)) / 1000;
    PUT(e->us, us > 0xffffffffu ? 0xffffffffu : (unsigned)us);
    PUT(e->cap_id, c->cap >= 0 || c->began || c->ended ? c->cap_id : 0);
    PUT(e->outcome, c->action ? c->action : c->forwarded ? -1 : 0);
    PUT(e->ret, c->ret);
    PUT(e->done, 1);
    if (c->site_done && !c->in_handler)
        put_words(e, c->text->site); /* the memo's: the Python line where there is one */
    __atomic_store_n(&e->mark, c->rec_i, __ATOMIC_RELEASE);
}

/* ---- the dump: async-signal-safe (asfmt.h, cg_log_raw) ---- */
static int copy_entry(uint64_t i, struct rec_entry *out)
{
    struct rec_entry *e = &ring[i % ring_n];
    if (__atomic_load_n(&e->mark, __ATOMIC_ACQUIRE) != i + 1)
        return 0;
    out->mono = GET(e->mono);
    out->cap_id = GET(e->cap_id);
    out->arg = GET(e->arg);
    out->tid = GET(e->tid);
    out->hook = GET(e->hook);
    out->outcome = GET(e->outcome);
    out->ret = GET(e->ret);
    out->done = GET(e->done);
    out->us = GET(e->us);
    out->captures = GET(e->captures);
    for (int k = 0; k < CG_REC_SITE_WORDS; k++)
        out->site[k] = GET(e->site[k]);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&e->mark, __ATOMIC_RELAXED) == i + 1 && out->hook >= 0 && out->hook < HK_COUNT;
}

static void put_entry(struct asbuf *o, unsigned dump, uint64_t i, const struct rec_entry *e, uint64_t wall_minus_mono)
{
    uint64_t t_ns = e->mono + wall_minus_mono;
    char site[CG_REC_SITE_WORDS * 8 + 1];
    memcpy(site, e->site, CG_REC_SITE_WORDS * 8);
    site[CG_REC_SITE_WORDS * 8] = 0;
    cg_log_head(o);
    put_s(o, "\"ev\":\"rec\",\"dump\":");
    put_u(o, dump);
    put_s(o, ",\"i\":");
    put_u(o, i);
    put_s(o, ",\"t\":");
    put_time(o, (long long)(t_ns / 1000000000ull), (long)(t_ns % 1000000000ull));
    put_s(o, ",\"call_tid\":");
    put_i(o, e->tid);
    put_s(o, ",\"call\":\"");
    put_s(o, cg_hooks[e->hook].name);
    put_s(o, "\",\"capture\":");
    put_u(o, e->cap_id);
    put_s(o, ",\"captures_active\":");
    put_i(o, e->captures);
    put_s(o, ",\"outcome\":");
    put_s(o, !e->done ? "null" : e->outcome < 0 ? "\"forwarded\"" : e->outcome == 0 ? "\"none\"" : "\"");
    if (e->done && e->outcome > 0) {
        put_s(o, cg_outcome_name(e->outcome));
        put_s(o, "\"");
    }
    put_s(o, ",\"ret\":");
    if (e->done)
        put_i(o, e->ret);
    else
        put_s(o, "null");
    put_s(o, ",\"us\":");
    if (e->done)
        put_u(o, e->us);
    else
        put_s(o, "null");
    put_s(o, ",\"arg\":\"");
    put_hex(o, e->arg);
    put_s(o, "\",\"site\":");
    put_s(o, site[0] == '"' ? site : "null");
}

static void put_header(struct asbuf *o, unsigned dump, const char *reason, uint64_t recorded, uint64_t kept)
{
    cg_log_head(o);
    put_s(o, "\"ev\":\"recorder\",\"reason\":\"");
    put_s(o, reason);
    put_s(o, "\",\"dump\":");
    put_u(o, dump);
    put_s(o, ",\"recorded\":");
    put_u(o, recorded);
    put_s(o, ",\"kept\":");
    put_u(o, kept);
    put_s(o, ",\"size\":");
    put_u(o, ring_n);
    put_s(o, ",\"counted\":{");
    int first = 1;
    for (int k = 0; k < K_COUNT; k++) {
        uint64_t n = __atomic_load_n(&counted[k], __ATOMIC_RELAXED);
        if (!n)
            continue;
        put_s(o, first ? "\"" : ",\"");
        put_s(o, cg_kinds[k].name);
        put_s(o, "\":");
        put_u(o, n);
        first = 0;
    }
    put_s(o, "}");
}

/* The threads that made watched calls: how many each, and the one it is inside now. */
static void dump_threads(unsigned dump)
{
    struct cg_observed obs[CG_REC_THREADS];
    unsigned n = cg_observe(obs, CG_REC_THREADS);
    for (unsigned i = 0; i < n; i++) {
        struct asbuf o = {.n = 0};
        cg_log_head(&o);
        put_s(&o, "\"ev\":\"recorder_thread\",\"dump\":");
        put_u(&o, dump);
        put_s(&o, ",\"thread_tid\":");
        put_i(&o, obs[i].tid);
        put_s(&o, ",\"watched\":");
        put_u(&o, obs[i].seq);
        put_s(&o, ",\"in\":");
        int inside = obs[i].hook >= 0 && obs[i].hook < HK_COUNT;
        put_s(&o, inside ? "\"" : "null");
        if (inside) {
            put_s(&o, cg_hooks[obs[i].hook].name);
            put_s(&o, "\"");
        }
        cg_log_raw(o.b, o.n);
    }
}

void cg_recorder_dump(const char *reason, int in_handler)
{
    if (!ring_n && !in_handler)
        return;
    uint64_t recorded = __atomic_load_n(&head, __ATOMIC_ACQUIRE);
    if (!recorded && !ring_n)
        return;
    if (in_handler && __atomic_add_fetch(&signal_dumps, 1, __ATOMIC_RELAXED) > CG_REC_SIGNAL_DUMPS)
        return;
    unsigned dump = __atomic_add_fetch(&dumps, 1, __ATOMIC_RELAXED);
    uint64_t kept = recorded < ring_n ? recorded : ring_n;
    struct asbuf o = {.n = 0};
    uint64_t wall_minus_mono = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
    put_header(&o, dump, reason, recorded, kept);
    cg_log_raw(o.b, o.n);
    for (uint64_t i = recorded - kept; i < recorded; i++) {
        struct rec_entry e;
        if (!copy_entry(i, &e))
            continue;
        o.n = 0;
        put_entry(&o, dump, i, &e, wall_minus_mono);
        cg_log_raw(o.b, o.n);
    }
    if (!in_handler)
        dump_threads(dump);
}

static void recorder_summary(void)
{
    int any = __atomic_load_n(&head, __ATOMIC_ACQUIRE) != 0;
    for (int k = 0; k < K_COUNT && !any; k++)
        any = __atomic_load_n(&counted[k], __ATOMIC_RELAXED) != 0;
    if (any)
        cg_recorder_dump("exit", 0);
}

CG_MODULE(recorder, .init = recorder_init, .after_fork = recorder_after_fork, .on_enter = recorder_enter,
          .on_leave = recorder_leave, .summary = recorder_summary);
