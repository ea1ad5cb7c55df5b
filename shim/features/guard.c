/* The guard: what happens to a call the model judged illegal (one outcome function per row of
 * policies.def), and the deferred-work queue replayed, in order, when the last capture ends.
 * Its module callbacks: on_enter judges the call under the capture lock and applies the policy
 * (unless the memo decided it); on_leave runs the deferred calls once no capture is active.
 * Must never: change the result of a call under observe, run deferred work while any capture
 * is active or being begun (capture.c's gate), run a deferred call early when the queue is
 * full (the call is rejected, named, instead), or allocate with the lock held (the queue grows
 * before the lock is taken). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pipeline.h"
#include "module.h"
#include "table.h"

#define CG_DEFER_FIRST 64 /* first size of the queue; it doubles up to CAPGUARD_DEFER_MAX */

struct deferred {
    int hook;
    uintptr_t arg;
    uint64_t cap_id;
};
/* A ring: `queued` entries from `head`; `qcap` slots (read unlocked as a hint only). */
static struct deferred *queue;
static unsigned qcap, head, queued, refused, full_said;

static int is_query(enum cg_kind k) { return cg_kinds[k].query; }

static int deferrable(const struct cg_call *c)
{
    return cg_hooks[c->hook].nargs <= 1 && cg_kinds[cg_hooks[c->hook].kind].defer;
}

/* Would waiting for this call mean waiting for the capture's own (recorded, unrun) work? */
static int waits_on_capture(const struct cg_call *c)
{
    return c->reason == R_DEVICE_SYNC || c->reason == R_SYNC_CAPTURING || c->reason == R_CAPTURED_EVENT;
}

static int d2h_pending(struct cg_call *c)
{
    if (c->reason == R_DEVICE_SYNC)
        return cg_cap_any_d2h(c->text->d2h_site, sizeof c->text->d2h_site);
    return cg_cap_d2h_pending(c->cap, c->text->d2h_site, sizeof c->text->d2h_site);
}

/* Room for one more deferred call, made before the capture lock is taken. */
static void queue_grow(void)
{
    for (;;) {
        unsigned n = __atomic_load_n(&qcap, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&queued, __ATOMIC_ACQUIRE) < n || n >= cg_cfg.defer_max)
            return;
        unsigned want = n ? n * 2 : CG_DEFER_FIRST;
        if (want > cg_cfg.defer_max)
            want = cg_cfg.defer_max;
        struct deferred *fresh = malloc(want * sizeof *fresh), *old;
        if (!fresh)
            return;
        cg_cap_lock();
        if (qcap < want) {
            for (unsigned i = 0; i < queued; i++)
                fresh[i] = queue[(head + i) % qcap];
            old = queue;
            queue = fresh;
            head = 0;
            __atomic_store_n(&qcap, want, __ATOMIC_RELEASE);
        } else {
            old = fresh;
        }
        cg_cap_unlock();
        free(old);
    }
}

static int push(struct cg_call *c)
{
    if (queued >= qcap) {
        refused++;
        c->queue_full = 1;
        return -1;
    }
    queue[(head + queued) % qcap] = (struct deferred){c->hook, c->arg0, c->cap_id};
    __atomic_add_fetch(&queued, 1, __ATOMIC_ACQ_REL);
    return 0;
}

/* The next deferred call, if one may run now (the gate is then held: cg_cap_work_end). */
static int pop(struct deferred *out)
{
    if (!__atomic_load_n(&queued, __ATOMIC_ACQUIRE) || !cg_cap_work_begin())
        return 0;
    int got = 0;
    cg_cap_lock();
    if (queued) {
        *out = queue[head];
        head = (head + 1) % qcap;
        __atomic_sub_fetch(&queued, 1, __ATOMIC_ACQ_REL);
        got = 1;
    }
    cg_cap_unlock();
    if (!got)
        cg_cap_work_end();
    return got;
}

/* A forked child runs none of its parent's deferred work (the memory is dropped, not freed). */
static void guard_after_fork(void)
{
    cg_mem_orphan(queue);
    queue = NULL;
    qcap = head = queued = refused = full_said = 0;
}

/* One outcome function per policy (policies.def): the enum cg_outcome for an illegal call. */
static int outcome_observe(struct cg_call *c) { (void)c; return CG_OUT_OBSERVED; }
static int outcome_reject(struct cg_call *c) { (void)c; return CG_OUT_REJECTED; }
static int outcome_relax(struct cg_call *c) { return cg_cap_relaxable(c) ? CG_OUT_RELAXED : CG_OUT_REJECTED; }

/* defer: what can wait waits (a query of captured work is answered as complete), what
 * cannot is relaxed where that makes it legal, the rest is rejected. */
static int outcome_defer(struct cg_call *c)
{
    if (is_query(cg_hooks[c->hook].kind) && waits_on_capture(c))
        return CG_OUT_ANSWERED;
    if (deferrable(c))
        return CG_OUT_DEFERRED;
    return cg_cap_relaxable(c) ? CG_OUT_RELAXED : CG_OUT_REJECTED;
}

/* auto (the default table): keep the capture alive where that is exact. */
static int outcome_auto(struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    if (waits_on_capture(c))
        return d2h_pending(c) ? CG_OUT_REJECTED : (is_query(k) ? CG_OUT_ANSWERED : CG_OUT_DEFERRED);
    if (c->reason == R_UNSAFE_MODE)
        return k == K_FREE ? CG_OUT_DEFERRED : CG_OUT_RELAXED;
    return CG_OUT_REJECTED;
}

#define OUTCOME_FN_(name, coll, init, help) [CG_POL_##name] = outcome_##name
static int (*const outcome_of[CG_POL_COUNT])(struct cg_call *) = {CG_POLICIES(OUTCOME_FN_, CG_COMMA_)};

static enum cg_action decide(struct cg_call *c)
{
    for (;;) {
        if (deferrable(c) && !c->in_handler)
            queue_grow();
        /* in a signal handler: nothing may allocate (the queue and the tables are not grown) */
        c->in_handler ? cg_cap_lock_raw() : cg_cap_lock();
        cg_judge(c);
        if (c->verdict == 0) {
            c->in_handler ? cg_cap_unlock_raw() : cg_cap_unlock();
            return CG_ACT_FORWARD;
        }
        c->policy = cg_policy_of[c->hook];
        c->action = outcome_of[c->policy < CG_POL_COUNT ? c->policy : CG_POL_AUTO](c);
        /* other threads filled the room grown for this call: grow again and judge afresh */
        if (c->action == CG_OUT_DEFERRED && queued >= qcap && qcap < cg_cfg.defer_max && !c->in_handler) {
            cg_cap_unlock();
            continue;
        }
        if (c->action == CG_OUT_DEFERRED && push(c) != 0)
            c->action = CG_OUT_REJECTED; /* never run early: the reason it was deferred still holds */
        c->in_handler ? cg_cap_unlock_raw() : cg_cap_unlock();
        break;
    }
    if (c->queue_full && !c->in_handler && !__atomic_exchange_n(&full_said, 1, __ATOMIC_ACQ_REL))
        cg_say("capguard: the deferred-call queue is full (CAPGUARD_DEFER_MAX=%u): calls that would be deferred are "
               "rejected with CUDA's error until the captures end (counted in the summary)\n", cg_cfg.defer_max);
    switch (c->action) {
    case CG_OUT_OBSERVED: return CG_ACT_FORWARD;
    case CG_OUT_RELAXED: return CG_ACT_RELAX;
    case CG_OUT_REJECTED: c->ret = c->verdict; return CG_ACT_RETURN;
    default: c->ret = 0; return CG_ACT_RETURN;
    }
}

unsigned cg_defer_refused(void) { return refused; }

/* The last capture has ended: run what was deferred, in order, on this thread, one call at a
 * time through the gate (a capture begun meanwhile holds the rest until it ends). The caller
 * is inside a hook (depth > 0), so the replayed calls are not judged again. */
static void defer_run_if_idle(void)
{
    struct deferred d;
    while (pop(&d)) {
        int rc = cg_replay(d.hook, d.arg);
        cg_cap_work_end();
        char body[256];
        snprintf(body, sizeof body,
                 "\"ev\":\"deferred_run\",\"call\":\"%s\",\"arg\":\"0x%llx\",\"capture\":%llu,\"rc\":%d",
                 cg_hooks[d.hook].name, (unsigned long long)d.arg, (unsigned long long)d.cap_id, rc);
        cg_log_event(body);
        if (rc != 0)
            cg_say("capguard: deferred %s(0x%llx) from capture %llu returned %d when run after the capture\n",
                   cg_hooks[d.hook].name, (unsigned long long)d.arg, (unsigned long long)d.cap_id, rc);
    }
}

static void guard_enter(struct cg_call *c)
{
    if (cg_kinds[cg_hooks[c->hook].kind].model || __atomic_load_n(&cg_active_captures, __ATOMIC_ACQUIRE) == 0 ||
        !cg_cap_judgeable(c))
        return; /* the model's own calls (or ones it has no verdict for); or a free or an allocation the memo had nothing for */
    c->act = decide(c);
    c->decided = 1;
}

static void guard_leave(struct cg_call *c)
{
    if (c->after_captures)
        defer_run_if_idle();
}

CG_MODULE(guard, .after_fork = guard_after_fork, .on_enter = guard_enter, .on_leave = guard_leave);
