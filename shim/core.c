/* The life of one judged call, shared by every generated wrapper: enter (depth guard, errno),
 * relax around the real call when the policy says so, and leave (model bookkeeping, the
 * report, the end-of-capture cause and deferred work, errno). Also the policy class names.
 * Must never: hold the capture lock across the real call, or change errno on its own. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "asfmt.h"
#include "core.h"

const struct cg_kind_desc cg_kinds[K_COUNT] = {
#define KIND(name, cls, always, memo, defer, track, query, model, watch, help) \
    [K_##name] = {#name, help, CG_CLASS_##cls, always, memo, defer, track, query, model, watch},
#include "kinds.def"
#undef KIND
};

static const char *const class_names[CG_CLASS_COUNT] = {
#define CLASS(name, help) #name,
#include "classes.def"
#undef CLASS
};

const char *cg_class_name(enum cg_class c) { return c < CG_CLASS_COUNT ? class_names[c] : "?"; }

int cg_enter_slow(struct cg_call *c)
{
    c->saved_errno = errno;
    c->cap = -1;
    cg_tls.depth++;
    cg_tls.outer_lib = cg_hooks[c->hook].lib;
    cg_set_busy(1);
    return 1;
}

/* ---- hooked calls from a signal handler that interrupted capguard's own code ----
 * The interrupted code may hold a capguard lock or be inside the unwinder or the loader, so
 * the handler's call is forwarded without judging, counted, and said once; a capture that then
 * fails names it. Everything here is async-signal-safe: atomics and write(2). */
static unsigned signal_unjudged, signal_said;
static int signal_last_hook = -1;

void cg_signal_passthrough(int hook)
{
    __atomic_add_fetch(&signal_unjudged, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&signal_last_hook, hook, __ATOMIC_RELAXED);
    if (__atomic_exchange_n(&signal_said, 1, __ATOMIC_ACQ_REL) || cg_cfg.quiet)
        return;
    struct asbuf o = {.n = 0};
    put_s(&o, "capguard: ");
    put_s(&o, cg_hooks[hook].name);
    put_s(&o, " was called from a signal handler that interrupted capguard: forwarded unjudged (such calls are "
              "counted in the summary)\n");
    ssize_t w = write(2, o.b, o.n);
    (void)w;
}

/* A hooked call made by a wrapped signal handler (signals.c). If the handler interrupted capguard,
 * or the call is one whose handling allocates (capture bookkeeping, the memo's calls), it is
 * forwarded and counted; else it is judged on the path that allocates nothing (in_handler). */
int cg_wants_in_handler(int hook)
{
    enum cg_kind k = cg_hooks[hook].kind;
    const struct cg_kind_desc *d = &cg_kinds[k];
    int judgeable = !d->model && !d->track && (!d->memo || k == K_ALLOC || k == K_FREE);
    if (cg_tls.sig_from || !judgeable) {
        cg_signal_passthrough(hook);
        return CG_WANT_SIGNAL;
    }
    return __atomic_load_n(&cg_active_captures, __ATOMIC_ACQUIRE) ? CG_WANT_HANDLER : CG_WANT_NO;
}

unsigned cg_signal_unjudged(void) { return __atomic_load_n(&signal_unjudged, __ATOMIC_RELAXED); }

const char *cg_signal_last(void)
{
    int h = __atomic_load_n(&signal_last_hook, __ATOMIC_RELAXED);
    return h >= 0 ? cg_hooks[h].name : NULL;
}

static int exchange_mode(int mode)
{
    static int (*cached)(int *);
    int (*xchg)(int *) = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (!xchg) {
        xchg = (int (*)(int *))cg_drv_sym("cuThreadExchangeStreamCaptureMode");
        if (!xchg)
            xchg = (int (*)(int *))cg_real(HK_cudaThreadExchangeStreamCaptureMode);
        __atomic_store_n(&cached, xchg, __ATOMIC_RELEASE);
    }
    if (xchg) {
        cg_set_busy(0);
        xchg(&mode);
        cg_set_busy(1);
    }
    return mode;
}

void cg_before_forward(struct cg_call *c, enum cg_action a)
{
    if (cg_hooks[c->hook].kind == K_XMODE && c->pmode)
        c->mode = *c->pmode; /* the mode asked for; the real call overwrites it with the old one */
    if (cg_hooks[c->hook].kind == K_BEGIN) {
        cg_cap_query_blocking(c);
        cg_cap_before_begin(); /* no deferred work runs from here until the begin is tracked */
    }
    if (a == CG_ACT_RELAX)
        c->relaxed_from = exchange_mode(CG_MODE_RELAXED);
    cg_set_busy(0); /* the real call: hooks it makes are inner calls */
    errno = c->saved_errno;
}

void cg_after_forward(struct cg_call *c, enum cg_action a)
{
    c->saved_errno = errno;
    cg_set_busy(1);
    c->forwarded = 1;
    if (a == CG_ACT_RELAX)
        exchange_mode(c->relaxed_from);
}

static int is_capture_error(int rc)
{
    return rc == CG_ERR_CAPTURE_UNSUPPORTED || rc == CG_ERR_CAPTURE_IMPLICIT || rc == CG_ERR_CAPTURED_EVENT;
}

static void leave_end(struct cg_call *c)
{
    uint64_t id = 0;
    char cause[320];
    cg_cap_lock();
    int slot = c->real_ret == CG_ERR_CAPTURE_WRONG_THREAD ? -1 : cg_cap_end(c, &id, cause, sizeof cause);
    cg_cap_unlock();
    if (slot >= 0)
        cg_report_capture_end(c, id, cause);
    cg_after_captures();
}

/* No capture is active (or one just failed to begin): run what waited for that. */
void cg_after_captures(void)
{
    cg_defer_run_if_idle();
    cg_memo_capture_ended();
}

/* Track a call that changes the model; takes the lock itself (several rounds: the table grows
 * with the lock dropped, and a device-to-host copy's site is taken with it dropped). */
static void track(struct cg_call *c)
{
    int r;
    do {
        cg_cap_lock();
        r = cg_cap_track(c);
        cg_cap_unlock();
    } while (r == CG_TRACK_FULL);
    if (r == CG_TRACK_D2H) {
        struct cg_site s;
        cg_site_capture(&s, 3);
        cg_cap_lock();
        cg_cap_set_d2h_site(c->cap_id, s.brief);
        cg_cap_unlock();
    } else if (r == CG_TRACK_UNTRACKED) {
        cg_report_untracked(c);
    }
    if (cg_hooks[c->hook].kind == K_BEGIN && c->real_ret == 0 && c->cap >= 0)
        cg_report_capture_begin(c);
    else if (cg_hooks[c->hook].kind == K_BEGIN)
        cg_after_captures(); /* the failed begin held deferred work back */
}

int cg_leave(struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    if (c->forwarded)
        c->ret = c->real_ret;
    if (k == K_XMODE && c->forwarded && c->real_ret == 0)
        cg_tls.mode = c->mode;
    else if (k == K_END && c->forwarded)
        leave_end(c);
    else if (c->forwarded && cg_kinds[k].track && !c->in_handler)
        track(c);
    if (c->forwarded && cg_kinds[k].memo && !c->in_handler)
        cg_memo_after(c);
    if (c->verdict || (c->forwarded && is_capture_error(c->real_ret) && k != K_BEGIN && k != K_END)) {
        if (c->in_handler)
            cg_report_in_handler(c);
        else
            cg_report_violation(c);
    }
    cg_set_busy(0);
    cg_tls.depth--;
    errno = c->saved_errno;
    return c->ret;
}
