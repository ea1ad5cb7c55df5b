/* The program's signal handlers, wrapped, so that a hooked call knows it runs in one.
 * sigaction() and signal() are interposed: a handler the program installs is kept in a table and
 * a trampoline is installed in its place, with the program's mask and flags (SA_SIGINFO added);
 * the trampoline marks the thread (cg_tls.sig_at, sig_from) and calls the program's handler.
 * Asked for the current action, the program gets its own back. A hooked call made directly by
 * a wrapped handler is then either forwarded and counted (the handler interrupted capguard's own
 * code) or judged on a path that allocates nothing, symbolizes nothing, skips the memo, and
 * reports with write() only (cg_report_in_handler).
 * Handlers installed before capguard loaded, or with the raw system call, are not wrapped: the
 * wrappers' depth and busy rules still apply to them (pipeline.h, cg_wants).
 * Must never: change a disposition the program did not ask for (beyond the dump signals' default,
 * which dump_default keeps: the dump, then the default action), return the trampoline or
 * dump_default to the program, or call anything that is not async-signal-safe in them. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "asfmt.h"
#include "pipeline.h"

#define CG_NSIG 65

/* the program's handler per signal, as it installed it (atomics: read by the trampoline) */
static void *user_fn[CG_NSIG];
static int user_siginfo[CG_NSIG];

typedef int (*sigaction_t)(int, const struct sigaction *, struct sigaction *);

/* ---- the flight recorder's signals: SIGTERM, SIGINT, SIGABRT and SIGUSR1 dump the ring first ----
 * A dump signal the program leaves at its default gets capguard's handler (dump_default): the
 * dump, then the default action (SIGUSR1's is to dump and go on: it is the user's way to ask for
 * one). A handler of the program's own is chained: the trampoline dumps, then calls it. A signal
 * the program ignores stays ignored. Asked, the program is told SIG_DFL where dump_default is. */
static const struct {
    int sig;
    const char *name;
} dump_sigs[] = {{SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"}, {SIGABRT, "SIGABRT"}, {SIGUSR1, "SIGUSR1"}};

static const char *dump_name(int sig)
{
    if (!cg_cfg.recorder)
        return NULL;
    for (size_t i = 0; i < sizeof dump_sigs / sizeof dump_sigs[0]; i++)
        if (dump_sigs[i].sig == sig)
            return dump_sigs[i].name;
    return NULL;
}

static void dump_default(int sig, siginfo_t *info, void *ctx)
{
    (void)info;
    (void)ctx;
    int saved_errno = errno;
    const char *name = dump_name(sig);
    if (name)
        cg_recorder_dump(name, 1);
    if (sig != SIGUSR1) { /* the default action, as without capguard: delivered when this returns */
        struct sigaction d;
        memset(&d, 0, sizeof d);
        d.sa_handler = SIG_DFL;
        sigemptyset(&d.sa_mask);
        sigaction_t real = (sigaction_t)cg_real(HK_sigaction);
        if (real)
            real(sig, &d, NULL);
        raise(sig);
    }
    errno = saved_errno;
}

static void install_dump_default(sigaction_t real, int sig)
{
    struct sigaction a;
    memset(&a, 0, sizeof a);
    a.sa_sigaction = dump_default;
    a.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&a.sa_mask);
    real(sig, &a, NULL);
}

static void trampoline(int sig, siginfo_t *info, void *ctx);

/* At start-up (capguard on, the recorder on): each dump signal's current disposition looked at. */
void cg_dump_signals_install(void)
{
    sigaction_t real = (sigaction_t)cg_real(HK_sigaction);
    for (size_t i = 0; real && cg_cfg.recorder && i < sizeof dump_sigs / sizeof dump_sigs[0]; i++) {
        int sig = dump_sigs[i].sig;
        struct sigaction cur;
        if (real(sig, NULL, &cur) != 0)
            continue;
        if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL) {
            install_dump_default(real, sig);
        } else if ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_IGN) { /* installed before capguard */
            void *fn = (cur.sa_flags & SA_SIGINFO) ? (void *)cur.sa_sigaction : (void *)cur.sa_handler;
            if (fn == (void *)trampoline || fn == (void *)dump_default)
                continue;
            __atomic_store_n(&user_siginfo[sig], (cur.sa_flags & SA_SIGINFO) != 0, __ATOMIC_RELEASE);
            __atomic_store_n(&user_fn[sig], fn, __ATOMIC_RELEASE);
            struct sigaction k = cur;
            k.sa_sigaction = trampoline;
            k.sa_flags |= SA_SIGINFO;
            real(sig, &k, NULL);
        }
    }
}

static void trampoline(int sig, siginfo_t *info, void *ctx)
{
    const char *dump = dump_name(sig);
    if (dump) {
        int saved_errno = errno;
        cg_recorder_dump(dump, 1); /* before the program's handler, which may not return */
        errno = saved_errno;
    }
    struct cg_tls saved = cg_tls;
    void *fn = __atomic_load_n(&user_fn[sig], __ATOMIC_ACQUIRE);
    int siginfo = __atomic_load_n(&user_siginfo[sig], __ATOMIC_ACQUIRE);
    cg_tls.sig_from = cg_tls.depth > 0; /* it interrupted capguard (its code or a real call) */
    cg_tls.depth++;
    cg_tls.sig_at = cg_tls.depth;
    cg_set_busy(0);
    if (fn && siginfo)
        ((void (*)(int, siginfo_t *, void *))fn)(sig, info, ctx);
    else if (fn)
        ((void (*)(int))fn)(sig);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    cg_tls = saved;
}

static int is_function(const struct sigaction *a)
{
    return a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

CG_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *oact)
{
    sigaction_t real = (sigaction_t)cg_real(HK_sigaction);
    if (!real)
        return -1;
    /* before capguard's initialisation (another library's start-up, a sanitizer's) the handler
     * is the caller's own business: not wrapped, and nothing decided on its behalf */
    int st = __atomic_load_n(&cg_state, __ATOMIC_ACQUIRE);
    if (st != CG_ON || sig <= 0 || sig >= CG_NSIG || sig == SIGKILL || sig == SIGSTOP)
        return real(sig, act, oact);
    void *prev_fn = __atomic_load_n(&user_fn[sig], __ATOMIC_ACQUIRE);
    int prev_siginfo = __atomic_load_n(&user_siginfo[sig], __ATOMIC_ACQUIRE);
    struct sigaction k, old;
    int rc;
    if (act && is_function(act)) {
        k = *act;
        __atomic_store_n(&user_siginfo[sig], (act->sa_flags & SA_SIGINFO) != 0, __ATOMIC_RELEASE);
        __atomic_store_n(&user_fn[sig], (act->sa_flags & SA_SIGINFO) ? (void *)act->sa_sigaction : (void *)act->sa_handler,
                         __ATOMIC_RELEASE);
        k.sa_sigaction = trampoline;
        k.sa_flags |= SA_SIGINFO;
        rc = real(sig, &k, &old);
    } else if (act && !(act->sa_flags & SA_SIGINFO) && act->sa_handler == SIG_DFL && dump_name(sig)) {
        rc = real(sig, NULL, &old); /* the default, with the dump first */
        if (rc == 0) {
            __atomic_store_n(&user_fn[sig], NULL, __ATOMIC_RELEASE);
            install_dump_default(real, sig);
        }
    } else {
        rc = real(sig, act, &old);
    }
    if (rc == 0 && oact) {
        *oact = old;
        if (old.sa_sigaction == dump_default) { /* the default, as the program left it */
            oact->sa_handler = SIG_DFL;
            oact->sa_flags = 0;
            sigemptyset(&oact->sa_mask);
        }
        if (old.sa_sigaction == trampoline) { /* the program's own handler, never ours */
            if (prev_siginfo)
                oact->sa_sigaction = (void (*)(int, siginfo_t *, void *))prev_fn;
            else
                oact->sa_handler = (void (*)(int))prev_fn;
            if (!prev_siginfo)
                oact->sa_flags &= ~SA_SIGINFO;
        }
    }
    return rc;
}

/* glibc's signal(): BSD semantics (the signal blocked in its handler, SA_RESTART). */
CG_EXPORT sighandler_t signal(int sig, sighandler_t handler)
{
    struct sigaction a, old;
    memset(&a, 0, sizeof a);
    a.sa_handler = handler;
    sigemptyset(&a.sa_mask);
    if (sig > 0 && sig < CG_NSIG)
        sigaddset(&a.sa_mask, sig);
    a.sa_flags = SA_RESTART;
    if (sigaction(sig, &a, &old) != 0)
        return SIG_ERR;
    return old.sa_handler;
}

/* ---- reporting a call judged in a handler: write() only (asfmt.h) ---- */
static unsigned handler_reports;

void cg_report_in_handler(const struct cg_call *c)
{
    struct asbuf o = {.n = 0};
    unsigned seen = __atomic_add_fetch(&handler_reports, 1, __ATOMIC_RELAXED);
    const char *name = cg_hooks[c->hook].name;
    if (seen <= cg_cfg.stderr_limit && !cg_cfg.quiet) {
        put_s(&o, "capguard: [rank ");
        put_i(&o, cg_rank());
        put_s(&o, " tid ");
        put_i(&o, cg_tid());
        put_s(&o, "] ");
        put_s(&o, name);
        put_s(&o, " called from a signal handler during capture ");
        put_u(&o, c->cap_id);
        put_s(&o, ": ");
        put_s(&o, cg_reason_text(c->reason));
        put_s(&o, "; policy ");
        put_s(&o, cg_policy_name(c->policy));
        put_s(&o, ": ");
        put_s(&o, cg_outcome_name(c->action));
        put_s(&o, " (returned ");
        put_i(&o, c->ret);
        put_s(&o, "); no stack is taken inside a handler\n");
        ssize_t w = write(2, o.b, o.n);
        (void)w;
    }
    o.n = 0;
    cg_log_head(&o);
    put_s(&o, "\"ev\":\"violation\",\"call\":\"");
    put_s(&o, name);
    put_s(&o, "\",\"class\":\"");
    put_s(&o, cg_class_name(cg_kind_class(cg_hooks[c->hook].kind)));
    put_s(&o, "\",\"capture\":");
    put_u(&o, c->cap_id);
    put_s(&o, ",\"reason\":\"");
    put_s(&o, cg_reason_text(c->reason));
    put_s(&o, "\",\"predicted\":");
    put_i(&o, c->verdict);
    put_s(&o, ",\"policy\":\"");
    put_s(&o, cg_policy_name(c->policy));
    put_s(&o, "\",\"action\":\"");
    put_s(&o, cg_outcome_name(c->action));
    put_s(&o, "\",\"returned\":");
    put_i(&o, c->ret);
    put_s(&o, ",\"in_signal_handler\":true,\"site\":\"signal handler\",\"native\":[],\"python\":[]");
    cg_log_raw(o.b, o.n);
}

unsigned cg_handler_reports(void) { return __atomic_load_n(&handler_reports, __ATOMIC_RELAXED); }
