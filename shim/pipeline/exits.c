/* The process's end: exit(), _exit(), _Exit() and abort() are interposed, so that a process that
 * ends right after a failure (a library's exit() after a failed call: vLLM, ROCm BLAS; CASES.md B
 * and D) or while a capture is ruined says so first: one line in the log and on stderr naming the
 * last failed judged call, what it returned, its capture, how long ago, and its site. Then the
 * real function runs, unchanged.
 * Must never: take a lock (another thread may have died holding one, or this may be a signal
 * handler), allocate, or change how the process ends. Formatting is asfmt.h's; writes are write(). */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "asfmt.h"
#include "pipeline.h"

#define CG_EXIT_WINDOW_MS 10000 /* a failure this recent is named at any end */

static void last_words(const char *how, int status, int has_status)
{
    if (__atomic_load_n(&cg_state, __ATOMIC_ACQUIRE) != CG_ON)
        return;
    struct cg_failure f;
    int have = cg_failure_last(&f);
    unsigned ruined = cg_cap_ruined();
    if (!(have && f.ms_ago <= CG_EXIT_WINDOW_MS) && !ruined)
        return;
    struct asbuf o = {.n = 0};
    cg_log_head(&o);
    put_s(&o, "\"ev\":\"exit_after_failure\",\"how\":\"");
    put_s(&o, how);
    put_s(&o, "\",\"status\":");
    if (has_status)
        put_i(&o, status);
    else
        put_s(&o, "null");
    put_s(&o, ",\"captures_ruined\":");
    put_u(&o, ruined);
    put_s(&o, ",\"call\":");
    put_s(&o, have ? "\"" : "null");
    if (have) {
        put_s(&o, cg_hooks[f.hook].name);
        put_s(&o, "\",\"rc\":");
        put_i(&o, f.rc);
        put_s(&o, ",\"capture\":");
        put_u(&o, f.cap);
        put_s(&o, ",\"ms_ago\":");
        put_u(&o, f.ms_ago);
        put_s(&o, ",\"site\":\"");
        for (const char *p = f.site; *p; p++) /* a module+offset (symbol): no quotes, but be sure */
            if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) {
                char ch[2] = {*p, 0};
                put_s(&o, ch);
            }
        put_s(&o, "\"");
    }
    cg_log_raw(o.b, o.n);
    if (cg_cfg.quiet)
        return;
    o.n = 0;
    put_s(&o, "capguard: [rank ");
    put_i(&o, cg_rank());
    put_s(&o, "] the process ends (");
    put_s(&o, how);
    if (has_status) {
        put_s(&o, " ");
        put_i(&o, status);
    }
    put_s(&o, ")");
    if (have) {
        put_s(&o, " ");
        put_u(&o, f.ms_ago);
        put_s(&o, " ms after ");
        put_s(&o, cg_hooks[f.hook].name);
        put_s(&o, " returned ");
        put_i(&o, f.rc);
        if (f.cap) {
            put_s(&o, " in capture ");
            put_u(&o, f.cap);
        }
        put_s(&o, " at ");
        put_s(&o, f.site);
    }
    if (ruined) {
        put_s(&o, have ? "; " : ": ");
        put_u(&o, ruined);
        put_s(&o, " capture(s) ruined and not ended");
    }
    put_s(&o, "\n");
    ssize_t w = write(2, o.b, o.n);
    (void)w;
}

typedef void (*end_fn)(int);

/* Resolved at start-up (capguard on), not first at the end: abort() may come from a signal handler. */
void cg_exits_init(void)
{
    cg_real(HK_exit);
    cg_real(HK__exit);
    cg_real(HK__Exit);
    cg_real(HK_abort);
}

/* The real one, or the system call when no libc end is found (it never is missing in practice). */
__attribute__((noreturn)) static void end_now(int hook, int status)
{
    end_fn real = (end_fn)cg_real(hook);
    if (real)
        real(status);
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

#define CG_END(name)                                \
    CG_EXPORT void name(int status)                 \
    {                                               \
        last_words(#name, status, 1);               \
        end_now(HK_##name, status);                 \
    }
CG_END(exit)
CG_END(_exit)
CG_END(_Exit)

CG_EXPORT void abort(void)
{
    last_words("abort", 0, 0);
    void (*real)(void) = (void (*)(void))cg_real(HK_abort);
    if (real)
        real();
    syscall(SYS_exit_group, 134);
    __builtin_unreachable();
}
