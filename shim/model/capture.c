/* The capture model: which captures are active (stream, mode, owning thread, blocking or not),
 * which streams joined them through events, which events were recorded in them, and the
 * legality rules of CUDA 13 (DESIGN.md "Capture state and legality", DEVICE-FACTS.md matrix).
 * Also the gate between captures and the work run after them (deferred calls, held releases):
 * that work runs only while no capture is active or being begun, and a begin waits for it.
 * The model runs with the capture lock held, and only while a capture is active or being
 * begun/ended: the hot path (no capture anywhere) never reaches this file. Calls on threads and
 * streams no capture concerns are judged without the lock (cg_cap_quick_legal), from counting
 * filters of the capturing streams and captured events and counts of the captures' modes.
 * Its module callbacks: on_enter prepares a begin (the gate) and a mode exchange, on_leave keeps
 * the bookkeeping after the real call, and leaves on the record what the report and the
 * features need (began, untracked, ended with its cause, after_captures).
 * Must never: log, symbolize or allocate with the lock held (the table grows before the lock is
 * taken; uthash draws on lockmem.c's spares). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "table.h"
#include "model.h"
#include "module.h"

#define CG_CAPTURES_MIN 64      /* first size of the table of active captures; it doubles */
#define CG_CAPTURES_MAX 65536   /* a process with more at once gets the rest named, counted failed */
#define CG_STREAM_LEGACY ((uintptr_t)1)
enum { CG_TRACK_OK, CG_TRACK_FULL, CG_TRACK_UNTRACKED, CG_TRACK_D2H };

#define CG_FILTER 4096        /* counters per filter: a key's counter > 0 means it may be in the set */

static int stream_blocking(uintptr_t key);
int cg_active_captures;

struct capture {
    int used;
    uint64_t id;
    uintptr_t stream; /* origin stream key */
    int mode;
    int owner;    /* tid that began it */
    int blocking; /* origin stream synchronizes with the legacy stream */
    int has_cause;
    char cause[320]; /* first violation that CUDA saw: "call at site" */
    int d2h;
    char d2h_site[256];
};

struct member { /* a stream that joined a capture, or an event recorded in one */
    uintptr_t key;
    int slot;
    UT_hash_handle hh;
};

static struct capture *caps;
static unsigned cap_n;   /* slots in caps (read unlocked as a hint only) */
static unsigned n_used;  /* slots in use */
static struct member *joined, *events;
static pthread_mutex_t cap_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int beginning;    /* begins between their gate and their bookkeeping */
static int replaying;    /* work after captures in flight (cg_cap_after_begin) */
static uint64_t next_id = 1;
static unsigned untracked;
/* Read without the lock: may this stream capture (or have joined a capture), this event be
 * recorded in one, this thread own a capture not begun Relaxed? How many captures are Global,
 * how many have a blocking origin stream? Changed only under the lock. */
static unsigned short stream_filter[CG_FILTER], event_filter[CG_FILTER], owner_filter[CG_FILTER];
static int global_captures, blocking_captures;

static unsigned filter_slot(uintptr_t key) { return (unsigned)((key >> 4) ^ (key >> 16) ^ (key >> 28)) & (CG_FILTER - 1); }
static void filter_add(unsigned short *f, uintptr_t key, int d) { __atomic_add_fetch(&f[filter_slot(key)], (unsigned short)d, __ATOMIC_RELEASE); }
static int filter_has(const unsigned short *f, uintptr_t key) { return __atomic_load_n(&f[filter_slot(key)], __ATOMIC_ACQUIRE) != 0; }

/* Room for one more capture, made before the lock is taken (never allocate under it). */
static void grow(void)
{
    for (;;) {
        unsigned n = __atomic_load_n(&cap_n, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&n_used, __ATOMIC_ACQUIRE) < n || n >= CG_CAPTURES_MAX)
            return;
        unsigned want = n ? n * 2 : CG_CAPTURES_MIN;
        struct capture *fresh = calloc(want, sizeof *fresh), *old = NULL;
        if (!fresh)
            return;
        pthread_mutex_lock(&cap_mutex);
        if (cap_n < want) {
            if (cap_n)
                memcpy(fresh, caps, cap_n * sizeof *caps);
            old = caps;
            caps = fresh;
            __atomic_store_n(&cap_n, want, __ATOMIC_RELEASE);
        } else {
            old = fresh;
        }
        pthread_mutex_unlock(&cap_mutex);
        free(old);
    }
}

void cg_cap_lock(void)
{
    cg_mem_reserve(); /* a membership node and uthash's tables come from these spares */
    grow();
    pthread_mutex_lock(&cap_mutex);
}

/* The lock without preparing memory: for a signal handler's call, which allocates nothing. */
void cg_cap_lock_raw(void) { pthread_mutex_lock(&cap_mutex); }
void cg_cap_unlock_raw(void) { pthread_mutex_unlock(&cap_mutex); }

void cg_cap_unlock(void)
{
    pthread_mutex_unlock(&cap_mutex);
    cg_mem_flush();
}

static unsigned ruined_active; /* active captures CUDA invalidated (a cause noted), not ended yet */
unsigned cg_cap_ruined(void) { return __atomic_load_n(&ruined_active, __ATOMIC_RELAXED); }

static void capture_after_fork(void)
{
    /* CUDA does not survive fork: the child starts with no capture and fresh locks.
     * The tables' memory is dropped, not freed (the parent's other threads may have been
     * inside malloc). */
    pthread_mutex_init(&cap_mutex, NULL);
    pthread_cond_init(&gate_cond, NULL);
    cg_mem_orphan(caps);
    cg_mem_orphan(joined);
    cg_mem_orphan(events);
    caps = NULL;
    cap_n = n_used = 0;
    ruined_active = 0;
    joined = events = NULL;
    beginning = replaying = 0;
    memset(stream_filter, 0, sizeof stream_filter);
    memset(event_filter, 0, sizeof event_filter);
    memset(owner_filter, 0, sizeof owner_filter);
    global_captures = blocking_captures = 0;
    __atomic_store_n(&cg_active_captures, 0, __ATOMIC_RELEASE);
    cg_gate_set(CG_GATE_CAPTURE, 0);
}

/* ---- the gate: work after captures never overlaps one ---- */

/* Before a real begin: wait for work after captures in flight, then hold it off. */
static void before_begin(void)
{
    pthread_mutex_lock(&cap_mutex);
    while (replaying)
        pthread_cond_wait(&gate_cond, &cap_mutex);
    beginning++;
    pthread_mutex_unlock(&cap_mutex);
}

/* May work after captures (a deferred call, a held release) run now? If so it is in flight
 * until cg_cap_after_work, and no capture can begin meanwhile. */
int cg_cap_work_begin(void)
{
    int go;
    pthread_mutex_lock(&cap_mutex);
    go = !replaying && !beginning && __atomic_load_n(&cg_active_captures, __ATOMIC_ACQUIRE) == 0;
    if (go)
        replaying = 1;
    pthread_mutex_unlock(&cap_mutex);
    return go;
}

void cg_cap_work_end(void)
{
    pthread_mutex_lock(&cap_mutex);
    replaying = 0;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&cap_mutex);
}

static uintptr_t stream_key(void *s, int pt)
{
    uintptr_t h = (uintptr_t)s;
    if (h == 2 || (h == 0 && pt))
        return ((uintptr_t)cg_tid() << 8) | 2; /* the calling thread's per-thread stream */
    return h == 0 ? CG_STREAM_LEGACY : h;
}

static struct member *find(struct member *set, uintptr_t key)
{
    struct member *m = NULL;
    HASH_FIND(hh, set, &key, sizeof key, m);
    return m;
}

static unsigned short *filter_of(struct member **set) { return set == &joined ? stream_filter : event_filter; }

static void put(struct member **set, uintptr_t key, int slot)
{
    struct member *m = find(*set, key);
    if (!m) {
        if ((m = cg_mem_take(sizeof *m)) == NULL)
            return; /* out of memory: the join is not tracked */
        memset(m, 0, sizeof *m);
        m->key = key;
        HASH_ADD(hh, *set, key, sizeof m->key, m);
        filter_add(filter_of(set), key, 1);
    }
    m->slot = slot;
}

static void drop(struct member **set, struct member *m)
{
    filter_add(filter_of(set), m->key, -1);
    HASH_DEL(*set, m);
    cg_mem_drop(m); /* freed once the lock is dropped */
}

static int slot_of_stream(uintptr_t key)
{
    for (int i = 0; i < (int)cap_n; i++)
        if (caps[i].used && caps[i].stream == key)
            return i;
    struct member *m = find(joined, key);
    return m ? m->slot : -1;
}

static int stream_capturing_slot(const struct cg_call *c)
{
    return slot_of_stream(stream_key(c->stream, c->pt));
}

static void set_verdict(struct cg_call *c, int code, int reason, int slot)
{
    c->verdict = code;
    c->reason = reason;
    c->cap = slot;
    c->cap_id = caps[slot].id;
    c->cap_mode = caps[slot].mode;
    c->cap_stream = caps[slot].stream;
}

/* A potentially unsafe call: prohibited when the thread is not Relaxed and it has a capture
 * not begun Relaxed, or it is Global and any thread has a Global capture. */
static void judge_unsafe(struct cg_call *c)
{
    int tmode = cg_tls.mode, me = cg_tid(), global = -1;
    if (tmode == CG_MODE_RELAXED)
        return;
    for (int i = 0; i < (int)cap_n; i++) {
        if (!caps[i].used)
            continue;
        if (caps[i].owner == me && caps[i].mode != CG_MODE_RELAXED) {
            set_verdict(c, CG_ERR_CAPTURE_UNSUPPORTED, R_UNSAFE_MODE, i);
            return;
        }
        if (global < 0 && caps[i].mode == CG_MODE_GLOBAL)
            global = i;
    }
    if (tmode == CG_MODE_GLOBAL && global >= 0)
        set_verdict(c, CG_ERR_CAPTURE_UNSUPPORTED, R_UNSAFE_MODE, global);
}

static void judge_implicit(struct cg_call *c)
{
    for (int i = 0; i < (int)cap_n; i++)
        if (caps[i].used && caps[i].blocking) {
            set_verdict(c, CG_ERR_CAPTURE_IMPLICIT, R_IMPLICIT_LEGACY, i);
            return;
        }
}

static int own_or_first(void)
{
    int first = -1, me = cg_tid();
    for (int i = 0; i < (int)cap_n; i++) {
        if (!caps[i].used)
            continue;
        if (caps[i].owner == me)
            return i;
        if (first < 0)
            first = i;
    }
    return first;
}

/* Name the capture a communicator / collective guard concerns (the caller's own, else any). */
void cg_cap_name_any(struct cg_call *c)
{
    int slot = own_or_first();
    if (slot >= 0)
        set_verdict(c, 0, R_NONE, slot);
}

void cg_judge(struct cg_call *c)
{
    c->verdict = 0;
    c->reason = R_NONE;
    c->cap = -1;
    int slot;
    switch (cg_hooks[c->hook].kind) {
    case K_SYNC_DEVICE:
        if ((slot = own_or_first()) >= 0)
            set_verdict(c, CG_ERR_CAPTURE_UNSUPPORTED, R_DEVICE_SYNC, slot);
        break;
    case K_SYNC_STREAM:
    case K_QUERY_STREAM:
        if ((slot = stream_capturing_slot(c)) >= 0)
            set_verdict(c, CG_ERR_CAPTURE_UNSUPPORTED, R_SYNC_CAPTURING, slot);
        else
            judge_unsafe(c);
        break;
    case K_SYNC_EVENT:
    case K_QUERY_EVENT: {
        struct member *m = find(events, (uintptr_t)c->event);
        if (m)
            set_verdict(c, CG_ERR_CAPTURED_EVENT, R_CAPTURED_EVENT, m->slot);
        else
            judge_unsafe(c);
        break;
    }
    case K_ALLOC:
    case K_FREE:
        judge_unsafe(c);
        break;
    case K_LEGACY:
        judge_implicit(c);
        break;
    case K_ASYNC:
        if (stream_key(c->stream, c->pt) == CG_STREAM_LEGACY)
            judge_implicit(c);
        break;
    case K_EVREC: /* on the legacy stream: 906 while a blocking stream captures (measured, H200) */
        if (stream_key(c->stream, c->pt) == CG_STREAM_LEGACY)
            judge_implicit(c);
        break;
    case K_WAIT: /* the legacy stream waiting on an event no capture holds: legacy-stream work */
        if (stream_key(c->stream, c->pt) == CG_STREAM_LEGACY && !find(events, (uintptr_t)c->event))
            judge_implicit(c);
        break;
    default:
        break;
    }
}

int cg_cap_judgeable(const struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    return (k != K_EVREC && k != K_WAIT) || stream_key(c->stream, c->pt) == CG_STREAM_LEGACY;
}

int cg_cap_relaxable(const struct cg_call *c)
{
    return c->reason == R_UNSAFE_MODE;
}


static int stream_blocking(uintptr_t key)
{
    if ((key & 0xff) == 2 && key > 0xff)
        return 1; /* per-thread default stream synchronizes with the legacy stream */
    static void *cache;
    int (*get_flags)(void *, unsigned *) = (int (*)(void *, unsigned *))cg_drv_sym_once(&cache, "cuStreamGetFlags");
    unsigned flags = 0;
    if (!get_flags || get_flags((void *)key, &flags) != 0)
        return 0;
    return (flags & 1u) == 0; /* CU_STREAM_NON_BLOCKING = 1 */
}

/* Begin: a new capture on c->stream (the real begin succeeded). Returns the slot or -1. */
static int begin(const struct cg_call *c, int mode)
{
    uintptr_t key = stream_key(c->stream, c->pt);
    for (int i = 0; i < (int)cap_n; i++) {
        if (caps[i].used)
            continue;
        memset(&caps[i], 0, sizeof caps[i]);
        caps[i].used = 1;
        caps[i].id = next_id++;
        caps[i].stream = key;
        caps[i].mode = mode;
        caps[i].owner = cg_tid();
        caps[i].blocking = c->blocking;
        filter_add(stream_filter, key, 1);
        if (mode != CG_MODE_RELAXED)
            filter_add(owner_filter, (uintptr_t)caps[i].owner << 4, 1);
        if (mode == CG_MODE_GLOBAL)
            __atomic_add_fetch(&global_captures, 1, __ATOMIC_RELEASE);
        if (c->blocking)
            __atomic_add_fetch(&blocking_captures, 1, __ATOMIC_RELEASE);
        __atomic_add_fetch(&n_used, 1, __ATOMIC_ACQ_REL);
        if (__atomic_add_fetch(&cg_active_captures, 1, __ATOMIC_ACQ_REL) == 1)
            cg_gate_set(CG_GATE_CAPTURE, 1);
        return i;
    }
    return -1;
}

/* End: forget the capture begun on c->stream; copy what a report needs first. */
static int cap_end(const struct cg_call *c, uint64_t *id, char *cause, size_t n)
{
    int slot = -1;
    uintptr_t key = stream_key(c->stream, c->pt);
    for (int i = 0; i < (int)cap_n; i++)
        if (caps[i].used && caps[i].stream == key)
            slot = i;
    if (slot < 0)
        return -1;
    *id = caps[slot].id;
    snprintf(cause, n, "%s", caps[slot].has_cause ? caps[slot].cause : "");
    if (caps[slot].has_cause)
        __atomic_sub_fetch(&ruined_active, 1, __ATOMIC_RELAXED);
    struct member *m, *tmp;
    HASH_ITER(hh, joined, m, tmp)
    if (m->slot == slot)
        drop(&joined, m);
    HASH_ITER(hh, events, m, tmp)
    if (m->slot == slot)
        drop(&events, m);
    caps[slot].used = 0;
    filter_add(stream_filter, key, -1);
    if (caps[slot].mode != CG_MODE_RELAXED)
        filter_add(owner_filter, (uintptr_t)caps[slot].owner << 4, -1);
    if (caps[slot].mode == CG_MODE_GLOBAL)
        __atomic_sub_fetch(&global_captures, 1, __ATOMIC_RELEASE);
    if (caps[slot].blocking)
        __atomic_sub_fetch(&blocking_captures, 1, __ATOMIC_RELEASE);
    __atomic_sub_fetch(&n_used, 1, __ATOMIC_ACQ_REL);
    if (__atomic_sub_fetch(&cg_active_captures, 1, __ATOMIC_ACQ_REL) == 0)
        cg_gate_set(CG_GATE_CAPTURE, 0);
    return slot;
}

/* Bookkeeping after a forwarded call that changes the model (lock held). Returns CG_TRACK_OK,
 * CG_TRACK_FULL (no slot: unlock, which grows the table, and call again), CG_TRACK_UNTRACKED
 * (CG_CAPTURES_MAX reached) or CG_TRACK_D2H (the capture's first device-to-host copy: take its
 * site with the lock dropped and hand it to cg_cap_set_d2h_site). A begin is tracked whether it
 * succeeded or not: it leaves the gate here. */
static int cap_track(struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    if (k == K_BEGIN) {
        if (c->real_ret == 0) {
            c->cap = begin(c, c->mode);
            if (c->cap < 0 && cap_n < CG_CAPTURES_MAX)
                return CG_TRACK_FULL;
            if (c->cap < 0)
                untracked++;
            else
                c->cap_id = caps[c->cap].id;
        }
        beginning--;
        return c->cap < 0 && c->real_ret == 0 ? CG_TRACK_UNTRACKED : CG_TRACK_OK;
    }
    if (c->real_ret != 0)
        return CG_TRACK_OK;
    switch (k) {
    case K_EVREC: {
        int slot = slot_of_stream(stream_key(c->stream, c->pt));
        struct member *m = find(events, (uintptr_t)c->event);
        if (slot >= 0)
            put(&events, (uintptr_t)c->event, slot);
        else if (m)
            drop(&events, m);
        break;
    }
    case K_WAIT: {
        struct member *m = find(events, (uintptr_t)c->event);
        uintptr_t key = stream_key(c->stream, c->pt);
        if (m && slot_of_stream(key) < 0)
            put(&joined, key, m->slot);
        break;
    }
    case K_ASYNC: {
        int slot = slot_of_stream(stream_key(c->stream, c->pt));
        if (slot >= 0 && c->d2h && !caps[slot].d2h) {
            caps[slot].d2h = 1; /* at once: a sync judged from now on is rejected */
            snprintf(caps[slot].d2h_site, sizeof caps[slot].d2h_site, "(site not yet recorded)");
            c->cap_id = caps[slot].id;
            return CG_TRACK_D2H;
        }
        break;
    }
    default:
        break;
    }
    return CG_TRACK_OK;
}

static void set_d2h_site(uint64_t id, const char *site)
{
    for (int i = 0; i < (int)cap_n; i++)
        if (caps[i].used && caps[i].id == id)
            snprintf(caps[i].d2h_site, sizeof caps[i].d2h_site, "%s", site);
}

int cg_cap_d2h_pending(int slot, char *site, size_t n)
{
    if (slot < 0 || !caps[slot].used || !caps[slot].d2h)
        return 0;
    snprintf(site, n, "%s", caps[slot].d2h_site);
    return 1;
}

/* Any capture with a device-to-host copy pending (a device sync waits on all of them). */
int cg_cap_any_d2h(char *site, size_t n)
{
    for (int i = 0; i < (int)cap_n; i++)
        if (cg_cap_d2h_pending(i, site, n))
            return 1;
    return 0;
}

/* CUDA refused a call and invalidated the capture (id; 0: every active one): remember the
 * first such call. Takes the lock. */
void cg_cap_note_violation(uint64_t id, const struct cg_call *c, const char *site)
{
    cg_cap_lock();
    for (int i = 0; i < (int)cap_n; i++) {
        int hit = caps[i].used && (id == 0 || caps[i].id == id);
        if (!hit || caps[i].has_cause)
            continue;
        caps[i].has_cause = 1;
        __atomic_add_fetch(&ruined_active, 1, __ATOMIC_RELAXED);
        snprintf(caps[i].cause, sizeof caps[i].cause, "%s at %s", cg_hooks[c->hook].name, site);
    }
    cg_cap_unlock();
}

uint64_t cg_cap_witness(int code, const char *cause)
{
    uint64_t first = 0;
    int me = cg_tid(), tmode = cg_tls.mode;
    cg_cap_lock();
    for (int i = 0; i < (int)cap_n; i++) {
        if (!caps[i].used)
            continue;
        int hit = code == CG_ERR_CAPTURE_IMPLICIT
                      ? caps[i].blocking
                      : (caps[i].owner == me && caps[i].mode != CG_MODE_RELAXED) ||
                            (tmode == CG_MODE_GLOBAL && caps[i].mode == CG_MODE_GLOBAL);
        if (!hit)
            continue;
        if (!first)
            first = caps[i].id;
        if (cause && !caps[i].has_cause) {
            caps[i].has_cause = 1;
            snprintf(caps[i].cause, sizeof caps[i].cause, "%s", cause);
        }
    }
    cg_cap_unlock();
    return first;
}

/* Is the capture the call concerned invalidated now (CUDA's own answer, asked of the driver)? For a
 * call whose own return said nothing of it: its inner calls (below the depth guard) may have. */
int cg_cap_invalidated(const struct cg_call *c)
{
    uintptr_t key = c->cap_stream;
    static void *cache;
    if (c->cap < 0 || key == CG_STREAM_LEGACY || ((key & 0xff) == 2 && key > 0xff && key >> 8 != (uintptr_t)cg_tid()))
        return 0;
    int (*is_capturing)(void *, int *) = (int (*)(void *, int *))cg_drv_sym_once(&cache, "cuStreamIsCapturing");
    int status = 0;
    void *stream = (key & 0xff) == 2 && key > 0xff ? (void *)2 : (void *)key; /* CU_STREAM_PER_THREAD */
    return is_capturing && is_capturing(stream, &status) == 0 && status == 2; /* CU_STREAM_CAPTURE_STATUS_INVALIDATED */
}

unsigned cg_cap_untracked(void) { return untracked; }

/* The capture a stream's work is recorded into (origin or joined), 0: none. Takes the lock. */
uint64_t cg_cap_id_of_stream(const struct cg_args *a)
{
    uint64_t id = 0;
    cg_cap_lock();
    int slot = slot_of_stream(stream_key(a->stream, a->pt));
    if (slot >= 0)
        id = caps[slot].id;
    cg_cap_unlock();
    return id;
}

/* ---- without the lock: calls no capture concerns ---- */

/* Could the potentially-unsafe rule prohibit a call on this thread? (judge_unsafe, from counts) */
static int unsafe_possible(void)
{
    int tmode = cg_tls.mode;
    if (tmode == CG_MODE_RELAXED)
        return 0;
    if (filter_has(owner_filter, (uintptr_t)cg_tid() << 4))
        return 1;
    return tmode == CG_MODE_GLOBAL && __atomic_load_n(&global_captures, __ATOMIC_ACQUIRE) > 0;
}

/* Work on the legacy stream while a blocking stream captures (judge_implicit's rule, from counts). */
static int legacy_blocked(uintptr_t key)
{
    return key == CG_STREAM_LEGACY && __atomic_load_n(&blocking_captures, __ATOMIC_ACQUIRE) > 0;
}

/* 1: the call is legal whatever the captures are, and the model has nothing to record for it
 * (judge and track under the lock would conclude the same). 0: ask under the lock. */
int cg_cap_quick_legal(int hook, const struct cg_args *c)
{
    uintptr_t key = stream_key(c->stream, c->pt), ev = (uintptr_t)c->event;
    switch (cg_hooks[hook].kind) {
    case K_SYNC_STREAM:
    case K_QUERY_STREAM: return !filter_has(stream_filter, key) && !unsafe_possible();
    case K_SYNC_EVENT:
    case K_QUERY_EVENT: return !filter_has(event_filter, ev) && !unsafe_possible();
    case K_ALLOC:
    case K_FREE: return !unsafe_possible();
    case K_LEGACY: return __atomic_load_n(&blocking_captures, __ATOMIC_ACQUIRE) == 0;
    case K_ASYNC: return !filter_has(stream_filter, key) && !legacy_blocked(key);
    case K_EVREC:
        return !filter_has(stream_filter, key) && !filter_has(event_filter, ev) && !legacy_blocked(key);
    case K_WAIT: return !filter_has(event_filter, ev) && !legacy_blocked(key);
    default: return 0;
    }
}

/* ---- the module ---- */

/* Before a forwarded begin or mode exchange (the model's kinds are never decided otherwise). */
static void capture_enter(struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    if (k == K_XMODE && c->pmode)
        c->mode = *c->pmode; /* the mode asked for; the real call overwrites it with the old one */
    if (k == K_BEGIN) {
        /* CUDA refuses (and invalidates the capture for) queries of a stream already capturing:
         * asked before the begin, and never of a stream capturing already (a second begin, which
         * CUDA refuses: its flags do not matter) */
        uintptr_t key = stream_key(c->stream, c->pt);
        cg_cap_lock();
        c->capturing_already = slot_of_stream(key) >= 0;
        cg_cap_unlock();
        c->blocking = c->capturing_already ? 0 : stream_blocking(key);
        before_begin(); /* no work after captures runs from here until the begin is tracked */
    }
}

static void leave_end(struct cg_call *c)
{
    cg_cap_lock();
    int slot = c->real_ret == CG_ERR_CAPTURE_WRONG_THREAD ? -1 : cap_end(c, &c->cap_id, c->text->cause, sizeof c->text->cause);
    cg_cap_unlock();
    c->ended = slot >= 0;
    c->after_captures = 1;
}

/* Track a call that changes the model; takes the lock itself (several rounds: the table grows
 * with the lock dropped, and a device-to-host copy's site is taken with it dropped). */
static void track(struct cg_call *c)
{
    int r;
    do {
        cg_cap_lock();
        r = cap_track(c);
        cg_cap_unlock();
    } while (r == CG_TRACK_FULL);
    if (r == CG_TRACK_D2H) {
        struct cg_site s;
        cg_site_capture(&s);
        cg_cap_lock();
        set_d2h_site(c->cap_id, s.brief);
        cg_cap_unlock();
    }
    if (cg_hooks[c->hook].kind == K_BEGIN) {
        c->untracked = r == CG_TRACK_UNTRACKED;
        c->began = c->real_ret == 0 && c->cap >= 0;
        c->after_captures = !c->began; /* a failed begin held work after captures back */
    }
}

static void capture_leave(struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    if (!c->forwarded)
        return;
    if (k == K_XMODE && c->real_ret == 0)
        cg_tls.mode = c->mode;
    else if (k == K_END)
        leave_end(c);
    else if (cg_kinds[k].track && !c->in_handler && (k == K_BEGIN || !cg_cap_quick_legal(c->hook, &c->args)))
        track(c); /* (a call no capture concerns has nothing to record) */
}

CG_MODULE(capture, .after_fork = capture_after_fork, .on_enter = capture_enter, .on_leave = capture_leave);
