/* The exported wrappers, generated from hooks.def: one body for all of them.
 * A wrapper asks the core (cg_wants) whether this call needs judging; if not, it is a plain
 * forward, before any record of the call is built. Otherwise the core decides (forward, relax the thread around the call, or return
 * without forwarding), and cg_leave records, reports and restores errno.
 * Never put per-hook logic here: it belongs in the model (capture.c) or the policy (policy.c). */
#include <signal.h> /* sigaction and signal: hand-written hooks (signals.c) */
#include "core.h"

#define CG_EXPORT __attribute__((visibility("default")))

#define HOOK(lib, name, kind, info, n, sig)                                                  \
    CG_EXPORT int name(CG_PARAMS_##n sig);                                                   \
    CG_EXPORT int name(CG_PARAMS_##n sig)                                                    \
    {                                                                                        \
        typedef int (*real_t)(CG_PARAMS_##n sig);                                            \
        real_t real_ = (real_t)cg_real_fast(HK_##name);                                      \
        int want_ = cg_wants(HK_##name);                                                     \
        if (__builtin_expect(want_ == CG_WANT_NO, 1))                                        \
            return real_ ? real_(CG_ARGS_##n sig) : cg_missing(HK_##name);                   \
        if (want_ == CG_WANT_SIGNAL)                                                         \
            return cg_forward_signal(real_ ? real_(CG_ARGS_##n sig) : cg_missing(HK_##name)); \
        struct cg_call c_ = {.hook = HK_##name, .arg0 = CG_ARG0_##n sig,                     \
                             .in_handler = want_ == CG_WANT_HANDLER, CG_EXPAND info};         \
        cg_enter_slow(&c_);                                                                  \
        enum cg_action act_ = cg_decide(&c_);                                                \
        if (act_ != CG_ACT_RETURN) {                                                         \
            cg_before_forward(&c_, act_);                                                    \
            c_.real_ret = real_ ? real_(CG_ARGS_##n sig) : cg_missing(HK_##name);            \
            cg_after_forward(&c_, act_);                                                     \
        }                                                                                    \
        return cg_leave(&c_);                                                                \
    }
#include "hooks.def"

const struct cg_hook_desc cg_hooks[HK_COUNT] = {
#define HOOK(lib, name, kind, info, n, sig) [HK_##name] = {#name, CG_LIB_##lib, kind, n, (void *)name},
#define HOOK_CUSTOM(lib, name, kind) [HK_##name] = {#name, CG_LIB_##lib, kind, -1, (void *)name},
#include "hooks.def"
};

static int replay(int hook, void *fn, uintptr_t arg)
{
    (void)arg;
    switch (hook) {
#define HOOK(lib, name, kind, info, n, sig) \
    case HK_##name:                         \
        return CG_CALL(CG_REPLAY_##n, fn, CG_EXPAND sig);
#include "hooks.def"
    default:
        return -1;
    }
}

/* Run a deferred call for real (the queue holds its single argument); the hooks it reaches
 * are its inner calls. */
int cg_replay(int hook, uintptr_t arg)
{
    void *fn = cg_real(hook);
    if (!fn)
        return cg_missing(hook);
    cg_set_busy(0);
    int rc = replay(hook, fn, arg);
    cg_set_busy(1);
    return rc;
}
