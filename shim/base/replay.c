/* Running a held-back call for real: a deferred call (its single argument kept) or a held
 * release, through its real entry point; generated from hooks.def. Only zero- and one-argument
 * calls can be replayed. The hooks the real call reaches are its inner calls (not judged).
 * Must never: be called outside a hook (depth > 0 keeps the inner calls unjudged). */
#include "base.h"

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
