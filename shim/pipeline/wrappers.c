/* The exported wrappers, generated from hooks.def: one body for all of them.
 * The fast path is the wrapper itself: one test of the gate (base/state.c) against the mask of
 * the hook's kind, then a tail jump through the hook's forward pointer. Everything else is the
 * hook's slow path (a separate cold function): the real pointer resolved, the question of
 * whether the call needs judging (cg_wants), the observer slot for a watched call, the model's
 * lock-free judgement of a call no capture concerns, and the pipeline (pipeline/call.c).
 * Never put per-hook logic here: it belongs in the model, a feature or the report. */
#include <signal.h> /* sigaction and signal: hand-written hooks (signals.c) */
#include <stdlib.h> /* exit, _Exit, abort: hand-written hooks (exits.c) */
#include <unistd.h> /* _exit */
#include "pipeline.h"


/* Where a wrapper's fast path jumps: the real function once a slow path has resolved it, the
 * hook's first-call adaptor (into its slow path) until then. */
static void *fwd[HK_COUNT];

/* The real call, or CUDA's "unknown" for a hook whose real function is missing. */
#define CG_REAL_CALL(name, n, sig) (real_ ? real_(CG_ARGS_##n sig) : cg_missing(HK_##name))
/* The real call inside the observer slot of a watched kind (two stores for the pair). */
#define CG_WATCHED_CALL(name, kind, n, sig)                  \
    ({                                                       \
        uint64_t prev_ = 0;                                  \
        if (CG_WATCH_##kind)                                 \
            prev_ = cg_watch_enter(HK_##name);               \
        int rc_ = CG_REAL_CALL(name, n, sig);                \
        if (CG_WATCH_##kind)                                 \
            cg_watch_leave(prev_);                           \
        rc_;                                                 \
    })

/* The slow path of a hook, after the gate sent the call here: the cases that need no record
 * (a plain or watched forward, a signal handler's call, a call no capture concerns while one is
 * active elsewhere), then the judged call in its own function. The kind's columns are constants
 * here, so each hook keeps only the branches its kind can take. */
#define CG_SLOW_BODY(name, kind, info, n, sig)                                                  \
    typedef int (*real_t)(CG_PARAMS_##n sig);                                                 \
    real_t real_ = (real_t)cg_real_fast(HK_##name);                                           \
    if (real_ && __atomic_load_n(&fwd[HK_##name], __ATOMIC_RELAXED) != (void *)real_)          \
        __atomic_store_n(&fwd[HK_##name], (void *)real_, __ATOMIC_RELEASE);                   \
    int want_ = cg_wants(HK_##name, CG_ALWAYS_##kind, CG_MEMO_##kind, CG_WATCH_##kind, CG_FP_##kind, CG_DEV_##kind); \
    if (__builtin_expect(want_ == CG_WANT_NO, 1))                                             \
        return CG_REAL_CALL(name, n, sig);                                                    \
    if (want_ == CG_WANT_SIGNAL)                                                              \
        return cg_forward_signal(CG_REAL_CALL(name, n, sig));                                 \
    if (want_ == CG_WANT_WATCH)                                                               \
        return CG_WATCHED_CALL(name, kind, n, sig);                                           \
    if (want_ == CG_WANT_JUDGE && !CG_ALWAYS_##kind && !CG_MODEL_##kind &&                    \
        !(CG_MEMO_##kind && (__atomic_load_n(&cg_gate, __ATOMIC_ACQUIRE) & CG_GATE_MEMO)) &&   \
        !(CG_DEV_##kind && (__atomic_load_n(&cg_gate, __ATOMIC_ACQUIRE) & CG_GATE_DEV))) {     \
        struct cg_args a_ = {.arg0 = CG_ARG0_##n sig, CG_EXPAND info};                        \
        if (cg_cap_quick_legal(HK_##name, &a_)) /* no capture concerns it */                  \
            return CG_WATCHED_CALL(name, kind, n, sig);                                       \
    }                                                                                         \
    return cg_judged_##name(ra_, want_ == CG_WANT_HANDLER CG_ARGS_TAIL_##n sig);

/* A judged call: the record, the pipeline (pipeline/call.c), the real call between. */
#define CG_JUDGED_BODY(name, kind, info, n, sig)                                                \
    typedef int (*real_t)(CG_PARAMS_##n sig);                                                 \
    real_t real_ = (real_t)cg_real_fast(HK_##name);                                           \
    struct cg_call c_ = {.hook = HK_##name, .arg0 = CG_ARG0_##n sig, .ra = ra_,               \
                         .in_handler = in_handler_, CG_EXPAND info};                          \
    struct cg_call_text t_;                                                                   \
    t_.key[0] = t_.site[0] = t_.d2h_site[0] = t_.cause[0] = t_.viol_site[0] = 0;              \
    c_.text = &t_;                                                                            \
    cg_call_enter(&c_);                                                                       \
    if (c_.act != CG_ACT_RETURN) {                                                            \
        cg_call_before_forward(&c_);                                                          \
        c_.real_ret = CG_REAL_CALL(name, n, sig);                                             \
        cg_call_after_forward(&c_);                                                           \
    }                                                                                         \
    return cg_call_leave(&c_);

#define HOOK(lib, name, kind, info, n, sig)                                                      \
    static int cg_slow_##name(void *ra_ CG_PARAMS_TAIL_##n sig) __attribute__((noinline));       \
    static int cg_judged_##name(void *ra_, int in_handler_ CG_PARAMS_TAIL_##n sig)               \
        __attribute__((noinline, cold));                                                         \
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
    }                                                                                            \
    static int cg_judged_##name(void *ra_, int in_handler_ CG_PARAMS_TAIL_##n sig)               \
    {                                                                                            \
        CG_JUDGED_BODY(name, kind, info, n, sig)                                                 \
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
