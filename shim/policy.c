/* Policies: what happens to a call the model judged illegal (observe, reject, defer, relax,
 * and auto = the default table), and the deferred-work queue replayed, in order, when the
 * last capture ends. Runs with the capture lock held (cg_decide) or after it (replay).
 * Must never: change the result of a call under observe, or run deferred work while any
 * capture is active. */
#include <stdio.h>
#include <string.h>
#include "core.h"

#define CG_DEFER_MAX 4096

struct deferred {
    int hook;
    uintptr_t arg;
    uint64_t cap_id;
};
static struct deferred queue[CG_DEFER_MAX];
static unsigned queued, dropped;

/* The site of the device-to-host copy that made the last rejection (thread-local). */
static __thread char d2h_site[256];

const char *cg_d2h_site(void) { return d2h_site; }

static const char *const reason_text[R_COUNT] = {
    [R_NONE] = "legal",
    [R_DEVICE_SYNC] = "device synchronization while a stream is capturing",
    [R_SYNC_CAPTURING] = "synchronization of a capturing stream",
    [R_CAPTURED_EVENT] = "synchronization of an event recorded in the capture",
    [R_UNSAFE_MODE] = "potentially unsafe call during a capture, prohibited by the thread's capture mode",
    [R_IMPLICIT_LEGACY] = "legacy-stream work while a blocking stream is capturing",
    [R_HOST_COLL] = "host collective while a capture is in progress, not answerable from the memo",
    [R_COMM_INIT] = "communicator initialisation while a capture is in progress, not served from the memo",
};
static const char *const outcome_names[CG_OUT_COUNT] = {"none",     "observed", "rejected", "deferred",
                                                       "relaxed",  "answered", "served"};

const char *cg_reason_text(int r) { return r >= 0 && r < R_COUNT ? reason_text[r] : "?"; }
const char *cg_outcome_name(int o) { return o >= 0 && o < CG_OUT_COUNT ? outcome_names[o] : "?"; }

static int is_query(enum cg_kind k) { return k == K_QUERY_STREAM || k == K_QUERY_EVENT; }

static int deferrable(const struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    return cg_hooks[c->hook].nargs <= 1 &&
           (k == K_SYNC_DEVICE || k == K_SYNC_STREAM || k == K_SYNC_EVENT || k == K_FREE);
}

/* Would waiting for this call mean waiting for the capture's own (recorded, unrun) work? */
static int waits_on_capture(const struct cg_call *c)
{
    return c->reason == R_DEVICE_SYNC || c->reason == R_SYNC_CAPTURING || c->reason == R_CAPTURED_EVENT;
}

static int d2h_pending(const struct cg_call *c)
{
    if (c->reason == R_DEVICE_SYNC)
        return cg_cap_any_d2h(d2h_site, sizeof d2h_site);
    return cg_cap_d2h_pending(c->cap, d2h_site, sizeof d2h_site);
}

static int push(const struct cg_call *c)
{
    if (queued >= CG_DEFER_MAX) {
        dropped++;
        return -1;
    }
    queue[queued++] = (struct deferred){c->hook, c->arg0, c->cap_id};
    return 0;
}

/* defer: what can wait waits (a query of captured work is answered as complete), what
 * cannot is relaxed where that makes it legal, the rest is rejected. */
static int outcome_defer(const struct cg_call *c)
{
    if (is_query(cg_hooks[c->hook].kind) && waits_on_capture(c))
        return CG_OUT_ANSWERED;
    if (deferrable(c))
        return CG_OUT_DEFERRED;
    return cg_cap_relaxable(c) ? CG_OUT_RELAXED : CG_OUT_REJECTED;
}

/* auto (the default table): keep the capture alive where that is exact. */
static int outcome_auto(const struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    if (waits_on_capture(c))
        return d2h_pending(c) ? CG_OUT_REJECTED : (is_query(k) ? CG_OUT_ANSWERED : CG_OUT_DEFERRED);
    if (c->reason == R_UNSAFE_MODE)
        return k == K_FREE ? CG_OUT_DEFERRED : CG_OUT_RELAXED;
    return CG_OUT_REJECTED;
}

enum cg_action cg_decide(struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    enum cg_action memo_act;
    if (k == K_BEGIN || k == K_END || k == K_XMODE || k == K_EVREC || k == K_WAIT || k == K_PROC)
        return CG_ACT_FORWARD;
    if (cg_memo_decide(c, &memo_act) == 0)
        return memo_act;
    if (__atomic_load_n(&cg_active_captures, __ATOMIC_ACQUIRE) == 0)
        return CG_ACT_FORWARD; /* a free or an allocation the memo had nothing for */
    d2h_site[0] = 0;
    cg_cap_lock();
    cg_judge(c);
    if (c->verdict == 0) {
        cg_cap_unlock();
        return CG_ACT_FORWARD;
    }
    c->policy = cg_policy_of[c->hook];
    switch (c->policy) {
    case CG_POL_OBSERVE: c->action = CG_OUT_OBSERVED; break;
    case CG_POL_REJECT: c->action = CG_OUT_REJECTED; break;
    case CG_POL_RELAX: c->action = cg_cap_relaxable(c) ? CG_OUT_RELAXED : CG_OUT_REJECTED; break;
    case CG_POL_DEFER: c->action = outcome_defer(c); break;
    default: c->action = outcome_auto(c); break;
    }
    if (c->action == CG_OUT_DEFERRED && push(c) != 0)
        c->action = cg_cap_relaxable(c) ? CG_OUT_RELAXED : CG_OUT_REJECTED;
    cg_cap_unlock();
    switch (c->action) {
    case CG_OUT_OBSERVED: return CG_ACT_FORWARD;
    case CG_OUT_RELAXED: return CG_ACT_RELAX;
    case CG_OUT_REJECTED: c->ret = c->verdict; return CG_ACT_RETURN;
    default: c->ret = 0; return CG_ACT_RETURN;
    }
}

unsigned cg_defer_dropped(void) { return dropped; }

/* The last capture has ended: run what was deferred, in order, on this thread. The caller
 * is inside a hook (depth > 0), so the replayed calls are not judged again. */
void cg_defer_run_if_idle(void)
{
    struct deferred batch[64];
    for (;;) {
        unsigned n = 0;
        cg_cap_lock();
        if (__atomic_load_n(&cg_active_captures, __ATOMIC_ACQUIRE) == 0 && queued) {
            n = queued < 64 ? queued : 64;
            memcpy(batch, queue, n * sizeof batch[0]);
            memmove(queue, queue + n, (queued - n) * sizeof queue[0]);
            queued -= n;
        }
        cg_cap_unlock();
        if (!n)
            return;
        for (unsigned i = 0; i < n; i++) {
            int rc = cg_replay(batch[i].hook, batch[i].arg);
            char body[256];
            snprintf(body, sizeof body,
                     "\"ev\":\"deferred_run\",\"call\":\"%s\",\"arg\":\"0x%llx\",\"capture\":%llu,\"rc\":%d",
                     cg_hooks[batch[i].hook].name, (unsigned long long)batch[i].arg,
                     (unsigned long long)batch[i].cap_id, rc);
            cg_log_event(body);
            if (rc != 0)
                cg_say("capguard: deferred %s(0x%llx) from capture %llu returned %d when run after the capture\n",
                       cg_hooks[batch[i].hook].name, (unsigned long long)batch[i].arg,
                       (unsigned long long)batch[i].cap_id, rc);
        }
    }
}
