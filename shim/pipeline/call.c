/* The life of one judged call, shared by every generated wrapper: enter (depth guard, errno),
 * the modules' on_enter in modules.def order until one decides, the real call (relaxed around
 * it when the guard says so; the observer slot set for a watched call), the modules' on_leave in
 * reverse, errno restored. The modules are found in the linker's cg_modules section (module.h).
 * Also: the signal-handler passthrough counts, and the modules' init/after_fork/summary rounds.
 * Must never: hold a lock across the real call, or change errno on its own. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "asfmt.h"
#include "module.h"
#include "pipeline.h"

extern const struct cg_module __start_cg_modules[] __attribute__((weak, visibility("hidden")));
extern const struct cg_module __stop_cg_modules[] __attribute__((weak, visibility("hidden")));

static const struct cg_module *by_id[CG_MOD_COUNT];
static void (*enter_fns[CG_MOD_COUNT])(struct cg_call *);
static void (*leave_fns[CG_MOD_COUNT])(struct cg_call *);
static void (*before_fns[CG_MOD_COUNT])(struct cg_call *);
static int n_enter, n_leave, n_before;

static const char *const module_names[CG_MOD_COUNT] = {
#define MODULE(name, layer, help) #name,
#include "modules.def"
#undef MODULE
};

/* The registrations, in modules.def order; a row without one is named (a build defect). */
void cg_modules_init(void)
{
    for (const struct cg_module *m = __start_cg_modules; m && m < __stop_cg_modules; m++)
        if (m->id >= 0 && m->id < CG_MOD_COUNT)
            by_id[m->id] = m;
    n_enter = n_leave = n_before = 0;
    for (int i = 0; i < CG_MOD_COUNT; i++) {
        if (!by_id[i]) {
            cg_err("capguard: module %s is listed in modules.def but not registered (CG_MODULE); it is skipped\n",
                   module_names[i]);
            continue;
        }
        if (by_id[i]->on_enter)
            enter_fns[n_enter++] = by_id[i]->on_enter;
        if (by_id[i]->before_forward)
            before_fns[n_before++] = by_id[i]->before_forward;
    }
    for (int i = CG_MOD_COUNT - 1; i >= 0; i--)
        if (by_id[i] && by_id[i]->on_leave)
            leave_fns[n_leave++] = by_id[i]->on_leave;
    for (int i = 0; i < CG_MOD_COUNT; i++)
        if (by_id[i] && by_id[i]->init)
            by_id[i]->init();
}

void cg_modules_after_fork(void)
{
    for (int i = 0; i < CG_MOD_COUNT; i++)
        if (by_id[i] && by_id[i]->after_fork)
            by_id[i]->after_fork();
}

void cg_modules_summary(void)
{
    for (int i = CG_MOD_COUNT - 1; i >= 0; i--)
        if (by_id[i] && by_id[i]->summary)
            by_id[i]->summary();
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

/* ---- one judged call ---- */
static int exchange_mode(int mode)
{
    static void *cache;
    int (*xchg)(int *) = (int (*)(int *))cg_drv_sym_once(&cache, "cuThreadExchangeStreamCaptureMode");
    if (!xchg)
        xchg = (int (*)(int *))cg_real(HK_cudaThreadExchangeStreamCaptureMode);
    if (xchg)
        cg_real_from_self(xchg(&mode));
    return mode;
}

void cg_call_enter(struct cg_call *c)
{
    c->saved_errno = errno;
    c->cap = -1;
    cg_tls.depth++;
    cg_tls.outer_lib = cg_hooks[c->hook].lib;
    cg_set_busy(1);
    /* a module that decided ends the round (the model's own calls are decided by none) */
    for (int i = 0; i < n_enter && !c->decided; i++)
        enter_fns[i](c);
}

/* A judged watched call's arguments, capture and caller for the watchdog; its native frames too
 * where taking them (an unwind, about 20000 instructions) costs nothing that matters: inside a
 * capture, and for communicator inits and finalizes; not for every host collective, collective
 * enqueue or buffer registration (make bench: memo_miss_10 went from 32.9k to 52.8k with them). */
static void publish(const struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    struct cg_pub p; /* not zeroed: cg_pub_copy reads npcs frames only */
    p.stream = (uintptr_t)c->stream;
    p.ra = c->ra;
    p.cap = c->cap >= 0 ? c->cap_id : 0;
    p.npcs = 0;
    for (int i = 0; i < 4; i++)
        p.a[i] = c->a[i];
    int capturing = (__atomic_load_n(&cg_gate, __ATOMIC_ACQUIRE) & CG_GATE_CAPTURE) != 0;
    if (!c->in_handler && (capturing || k == K_COMM_INIT || k == K_COMM_FINALIZE || k == K_MPI_FINALIZE))
        p.npcs = cg_raw_frames(p.pcs, CG_PUB_FRAMES);
    cg_watch_publish((c->watch_prev >> 16) + 1, &p); /* the sequence entered */
}

void cg_call_before_forward(struct cg_call *c)
{
    for (int i = 0; i < n_before; i++)
        before_fns[i](c);
    if (c->act == CG_ACT_RELAX)
        c->relaxed_from = exchange_mode(CG_MODE_RELAXED);
    if (cg_kinds[cg_hooks[c->hook].kind].watch) {
        c->watch_prev = cg_watch_enter(c->hook);
        publish(c);
    }
    cg_set_busy(0); /* the real call: hooks it makes are inner calls */
    errno = c->saved_errno;
}

void cg_call_after_forward(struct cg_call *c)
{
    c->saved_errno = errno;
    if (cg_kinds[cg_hooks[c->hook].kind].watch)
        cg_watch_leave(c->watch_prev);
    cg_set_busy(1);
    c->forwarded = 1;
    if (c->act == CG_ACT_RELAX)
        exchange_mode(c->relaxed_from);
}

int cg_call_leave(struct cg_call *c)
{
    if (c->forwarded)
        c->ret = c->real_ret;
    for (int i = 0; i < n_leave; i++)
        leave_fns[i](c);
    cg_set_busy(0);
    cg_tls.depth--;
    errno = c->saved_errno;
    return c->ret;
}
