/* The exported wrappers, generated from hooks.def: one body for all of them.
 * The fast path is the wrapper itself: one test of the gate (base/state.c) against the mask of
 * the hook's kind, then a tail jump through the hook's forward pointer. Everything else is the
 * hook's slow path (a separate cold function): the real pointer resolved, the question of
 * whether the call needs judging (cg_wants), the observer slot for a watched call, the model's
 * lock-free judgement of a call no capture concerns, and the pipeline (pipeline/call.c).
 * Never put per-hook logic here: it belongs in the model, a feature or the report. */
#include <signal.h> /* sigaction and signal: hand-written hooks (signals.c) */
#include "pipeline.h"

#define CG_EXPORT __attribute__((visibility("default")))

/* Where a wrapper's fast path jumps: the real function once a slow path has resolved it, the
 * hook's first-call adaptor (into its slow path) until then. */
static void *fwd[HK_COUNT];

/* The slow path of a hook, after the gate sent the call here. */
#define CG_SLOW_BODY(name, kind, info, n, sig)                                                  \
    typedef int (*real_t)(CG_PARAMS_##n sig);                                                 \
    real_t real_ = (real_t)cg_real_fast(HK_##name);                                           \
    if (real_)                                                                                \
        __atomic_store_n(&fwd[HK_##name], (void *)real_, __ATOMIC_RELEASE);                   \
    int want_ = cg_wants(HK_##name);                                                          \
    if (__builtin_expect(want_ == CG_WANT_NO, 1))                                             \
        return real_ ? real_(CG_ARGS_##n sig) : cg_missing(HK_##name);                        \
    if (want_ == CG_WANT_SIGNAL)                                                              \
        return cg_forward_signal(real_ ? real_(CG_ARGS_##n sig) : cg_missing(HK_##name));     \
    if (want_ == CG_WANT_WATCH) {                                                             \
        uint64_t prev_ = cg_watch_enter(HK_##name);                                           \
        int rc_ = real_ ? real_(CG_ARGS_##n sig) : cg_missing(HK_##name);                     \
        cg_watch_leave(prev_);                                                                \
        return rc_;                                                                           \
    }                                                                                         \
    struct cg_call c_ = {.hook = HK_##name, .arg0 = CG_ARG0_##n sig, .ra = ra_,               \
                         .in_handler = want_ == CG_WANT_HANDLER, CG_EXPAND info};              \
    if (want_ == CG_WANT_JUDGE && cg_quick(&c_)) { /* no capture concerns it */               \
        if (!cg_kinds[kind].watch)                                                            \
            return real_ ? real_(CG_ARGS_##n sig) : cg_missing(HK_##name);                    \
        uint64_t prev_ = cg_watch_enter(HK_##name);                                           \
        int rc_ = real_ ? real_(CG_ARGS_##n sig) : cg_missing(HK_##name);                     \
        cg_watch_leave(prev_);                                                                \
        return rc_;                                                                           \
    }                                                                                         \
    struct cg_call_text t_;                                                                   \
    t_.key[0] = t_.site[0] = t_.d2h_site[0] = t_.cause[0] = 0;                                \
    c_.text = &t_;                                                                            \
    cg_call_enter(&c_);                                                                       \
    if (c_.act != CG_ACT_RETURN) {                                                            \
        cg_call_before_forward(&c_);                                                          \
        c_.real_ret = real_ ? real_(CG_ARGS_##n sig) : cg_missing(HK_##name);                 \
        cg_call_after_forward(&c_);                                                           \
    }                                                                                         \
    return cg_call_leave(&c_);

/* A call the gate sent to the slow path only because a capture is active somewhere: judged
 * without the lock when the model can tell no capture concerns it. */
static inline int cg_quick(const struct cg_call *c)
{
    const struct cg_kind_desc *d = &cg_kinds[cg_hooks[c->hook].kind];
    if (d->always || d->model || (d->memo && (__atomic_load_n(&cg_gate, __ATOMIC_ACQUIRE) & CG_GATE_MEMO)))
        return 0;
    return cg_cap_quick_legal(c);
}

#define HOOK(lib, name, kind, info, n, sig)                                                      \
    static int cg_slow_##name(void *ra_ CG_PARAMS_TAIL_##n sig) __attribute__((noinline, cold)); \
    CG_EXPORT int name(CG_PARAMS_##n sig);                                                       \
    CG_EXPORT int name(CG_PARAMS_##n sig)                                                        \
    {                                                                                            \
        if (__builtin_expect(!(__atomic_load_n(&cg_gate, __ATOMIC_RELAXED) & CG_MASK_##kind), 1)) \
            return ((int (*)(CG_PARAMS_##n sig))__atomic_load_n(&fwd[HK_##name], __ATOMIC_RELAXED))( \
                CG_ARGS_##n sig);                                                                \
        return cg_slow_##name(__builtin_return_address(0) CG_ARGS_TAIL_##n sig);                 \
    }                                                                                            \
    /* the fast path's target until the real function is known (reached by a tail jump: its  \
     * return address is the caller's) */                                                   \
    static int cg_first_##name(CG_PARAMS_##n sig) __attribute__((noinline, cold));             \
    static int cg_first_##name(CG_PARAMS_##n sig)                                               \
    {                                                                                            \
        return cg_slow_##name(__builtin_return_address(0) CG_ARGS_TAIL_##n sig);                 \
    }                                                                                            \
    static int cg_slow_##name(void *ra_ CG_PARAMS_TAIL_##n sig)                                  \
    {                                                                                            \
        CG_SLOW_BODY(name, kind, info, n, sig)                                                   \
    }
#include "hooks.def"

static void *fwd[HK_COUNT] = {
#define HOOK(lib, name, kind, info, n, sig) [HK_##name] = (void *)cg_first_##name,
#include "hooks.def"
};

/* capguard's wrapper of each hook (the redirections hand these out) */
void *const cg_wrapper[HK_COUNT] = {
#define HOOK(lib, name, kind, info, n, sig) [HK_##name] = (void *)name,
#define HOOK_CUSTOM(lib, name, kind) [HK_##name] = (void *)name,
#include "hooks.def"
};
