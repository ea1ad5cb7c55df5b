/* The pipeline layer: the generated wrappers (pipeline/wrappers.c) and the life of one judged
 * call (pipeline/call.c): enter, the modules' on_enter in order, the real call (or not), their
 * on_leave in reverse, errno restored. Also the observer slots (observer.c), the hand-written
 * hooks (signals.c, redirect.c) and the process's life (init.c). Uses every layer below; the
 * report is reached only through its module registration. */
#ifndef CG_PIPELINE_H
#define CG_PIPELINE_H

/* An entry point the program reaches (the wrappers, sigaction, close): everything else is hidden. */
#define CG_EXPORT __attribute__((visibility("default")))
#include "features.h"

int cg_init(void);
extern void *const cg_wrapper[HK_COUNT]; /* capguard's wrapper of each hook (wrappers.c) */

/* ---- call.c: one judged call ---- */
void cg_call_enter(struct cg_call *c);
void cg_call_before_forward(struct cg_call *c);
void cg_call_after_forward(struct cg_call *c);
int cg_call_leave(struct cg_call *c);
void cg_modules_init(void);
void cg_modules_after_fork(void);
void cg_modules_summary(void);
unsigned cg_signal_unjudged(void);
const char *cg_signal_last(void);
void cg_signal_passthrough(int hook); /* async-signal-safe */
int cg_wants_in_handler(int hook);
void cg_report_in_handler(const struct cg_call *c); /* signals.c */
unsigned cg_handler_reports(void);
void cg_dump_signals_install(void); /* signals.c: the flight recorder's dump signals */
void cg_exits_init(void);           /* exits.c: the real exit, _exit, _Exit, abort resolved */
/* redirect.c: hand-written hooks */
int cuGetProcAddress(const char *sym, void **pfn, int ver, unsigned long long flags);
int cuGetProcAddress_v2(const char *sym, void **pfn, int ver, unsigned long long flags, int *status);

/* While a signal handler's call is forwarded, the hooks it reaches are its inner calls. */
#define cg_forward_signal(expr)         \
    ({                                  \
        int busy_ = cg_tls.busy;        \
        cg_tls.depth++;                 \
        cg_set_busy(0);                 \
        int rc_ = (expr);               \
        cg_set_busy(busy_);             \
        cg_tls.depth--;                 \
        rc_;                            \
    })

/* ---- the hot path's question, asked on the slow path (the gate sent the call there); the
 *      kind's columns (always, memo, watch, fp, dev) are the caller's constants ---- */
enum { CG_WANT_NO, CG_WANT_JUDGE, CG_WANT_SIGNAL, CG_WANT_HANDLER, CG_WANT_WATCH };
static inline int cg_wants(int hook, int always, int memo, int watch, int fp, int dev)
{
    int st = __atomic_load_n(&cg_state, __ATOMIC_ACQUIRE);
    if (__builtin_expect(st == CG_UNINIT, 0))
        st = cg_init();
    if (st != CG_ON)
        return CG_WANT_NO;
    if (__builtin_expect(cg_tls.depth != 0, 0)) {
        if (cg_tls.sig_at == cg_tls.depth) /* called by a wrapped signal handler itself */
            return cg_wants_in_handler(hook);
        /* Inner calls go down (runtime -> driver). A hook entered while capguard's own code runs,
         * or a runtime/driver call inside the real call of its own library, is a signal handler's
         * (or a library re-entering itself): forwarded, as always, but counted. */
        if (cg_tls.busy || ((int)cg_hooks[hook].lib == cg_tls.outer_lib && cg_hooks[hook].lib <= CG_LIB_DRV)) {
            cg_signal_passthrough(hook);
            return CG_WANT_SIGNAL;
        }
        return CG_WANT_NO;
    }
    unsigned gate = __atomic_load_n(&cg_gate, __ATOMIC_ACQUIRE);
    if (always || (gate & CG_GATE_CAPTURE) || (memo && (gate & CG_GATE_MEMO)) || (fp && (gate & CG_GATE_FP)) ||
        (dev && (gate & CG_GATE_DEV)))
        return CG_WANT_JUDGE;
    return watch ? CG_WANT_WATCH : CG_WANT_NO;
}
#endif
