/* Hook identities and the per-call record, generated from hooks.def.
 * Holds: enum cg_hook (HK_<name>), the hook descriptor table, struct cg_call (what a wrapper
 * knows about one intercepted call) and the arity macros that turn hooks.def signatures into
 * parameter and argument lists. Never include CUDA headers here: their macros rename symbols. */
#ifndef CG_HOOKS_H
#define CG_HOOKS_H

#include <stddef.h>
#include <stdint.h>

enum cg_lib { CG_LIB_RT, CG_LIB_DRV, CG_LIB_NCCL, CG_LIB_MPI, CG_LIB_LIBC, CG_LIB_COUNT };

/* What the legality model does with a call: one row each in kinds.def. */
enum cg_kind {
#define KIND(name, ...) K_##name,
#include "kinds.def"
#undef KIND
    K_COUNT
};

/* Policy classes: what CAPGUARD_POLICY names (besides entry points); classes.def. */
enum cg_class {
#define CLASS(name, help) CG_CLASS_##name,
#include "classes.def"
#undef CLASS
    CG_CLASS_COUNT
};

struct cg_kind_desc {
    const char *name, *help;
    enum cg_class cls;
    unsigned char always, memo, defer, track, query, model, watch;
};
extern const struct cg_kind_desc cg_kinds[K_COUNT];

enum cg_hook {
#define HOOK(lib, name, kind, info, n, sig) HK_##name,
#define HOOK_CUSTOM(lib, name, kind) HK_##name,
#include "hooks.def"
    HK_COUNT
};

struct cg_hook_desc {
    const char *name;
    enum cg_lib lib;
    enum cg_kind kind;
    int nargs;
    void *wrapper; /* capguard's exported wrapper */
};

/* Arguments passed by value as structs: same size and layout as CUDA's / NCCL's. */
typedef struct { char b[128]; } cg_nccl_id;  /* ncclUniqueId */
typedef struct { char b[64]; } cg_ipc_handle; /* cudaIpcMemHandle_t, CUipcMemHandle */

/* One intercepted call, as the wrapper saw it. */
struct cg_call {
    int hook;
    void *stream;   /* stream argument, raw handle */
    void *event;
    void *ptr;
    int *pmode;     /* cudaThreadExchangeStreamCaptureMode argument */
    int mode;       /* capture mode argument of a begin */
    int pt;         /* per-thread-default-stream variant (_ptsz/_ptds) */
    int d2h;        /* device-to-host copy */
    int blocking;   /* a begin's stream synchronizes with the legacy stream */
    size_t bytes;
    uintptr_t a[8];  /* raw arguments the communicator/workspace model needs (memo.c) */
    uintptr_t arg0; /* the single argument of a deferrable call */
    int ret;        /* what the wrapper returns */
    int real_ret;   /* what the real call returned (when it ran) */
    int forwarded;
    int saved_errno;
    /* filled by the judge and the policy */
    int verdict;    /* what CUDA returns for this call now (0 = legal) */
    int reason;     /* enum cg_reason */
    int cap;        /* capture slot the verdict concerns, -1 none */
    uint64_t cap_id;      /* that capture, copied while the model was locked */
    int cap_mode;
    uintptr_t cap_stream;
    int policy;     /* enum cg_policy applied */
    int action;     /* enum cg_outcome taken */
    int relaxed_from; /* the thread's mode before a relaxed call */
    int queue_full;   /* a deferral refused: the deferred-call queue is at CAPGUARD_DEFER_MAX */
    int in_handler;   /* made by a signal handler that interrupted the program (signals.c): judged
                       * without allocating, symbolizing or the memo; reported async-signal-safely */
    char d2h_site[160]; /* the captured device-to-host copy that made a sync's rejection */
};

enum cg_action { CG_ACT_FORWARD, CG_ACT_RELAX, CG_ACT_RETURN };

extern const struct cg_hook_desc cg_hooks[HK_COUNT];
static inline enum cg_class cg_kind_class(enum cg_kind k) { return cg_kinds[k].cls; }
const char *cg_class_name(enum cg_class c);
int cg_hook_by_name(const char *name);

/* Arity macros: hooks.def signatures are flat (T1, a1, T2, a2, ...) lists. */
#define CG_PARAMS_0() void
#define CG_PARAMS_1(T1, a1) T1 a1
#define CG_PARAMS_2(T1, a1, T2, a2) T1 a1, T2 a2
#define CG_PARAMS_3(T1, a1, T2, a2, T3, a3) T1 a1, T2 a2, T3 a3
#define CG_PARAMS_4(T1, a1, T2, a2, T3, a3, T4, a4) T1 a1, T2 a2, T3 a3, T4 a4
#define CG_PARAMS_5(T1, a1, T2, a2, T3, a3, T4, a4, T5, a5) T1 a1, T2 a2, T3 a3, T4 a4, T5 a5
#define CG_PARAMS_6(T1, a1, T2, a2, T3, a3, T4, a4, T5, a5, T6, a6) \
    T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6
#define CG_PARAMS_7(T1, a1, T2, a2, T3, a3, T4, a4, T5, a5, T6, a6, T7, a7) \
    T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7
#define CG_PARAMS_8(T1, a1, T2, a2, T3, a3, T4, a4, T5, a5, T6, a6, T7, a7, T8, a8) \
    T1 a1, T2 a2, T3 a3, T4 a4, T5 a5, T6 a6, T7 a7, T8 a8
#define CG_ARGS_0()
#define CG_ARGS_1(T1, a1) a1
#define CG_ARGS_2(T1, a1, T2, a2) a1, a2
#define CG_ARGS_3(T1, a1, T2, a2, T3, a3) a1, a2, a3
#define CG_ARGS_4(T1, a1, T2, a2, T3, a3, T4, a4) a1, a2, a3, a4
#define CG_ARGS_5(T1, a1, T2, a2, T3, a3, T4, a4, T5, a5) a1, a2, a3, a4, a5
#define CG_ARGS_6(T1, a1, T2, a2, T3, a3, T4, a4, T5, a5, T6, a6) a1, a2, a3, a4, a5, a6
#define CG_ARGS_7(T1, a1, T2, a2, T3, a3, T4, a4, T5, a5, T6, a6, T7, a7) a1, a2, a3, a4, a5, a6, a7
#define CG_ARGS_8(T1, a1, T2, a2, T3, a3, T4, a4, T5, a5, T6, a6, T7, a7, T8, a8) a1, a2, a3, a4, a5, a6, a7, a8
/* The single argument of a one-argument call, as an integer (for the deferred queue). */
#define CG_ARG0_0() 0
#define CG_ARG0_1(T1, a1) ((uintptr_t)(a1))
#define CG_ARG0_2(...) 0
#define CG_ARG0_3(...) 0
#define CG_ARG0_4(...) 0
#define CG_ARG0_5(...) 0
#define CG_ARG0_6(...) 0
#define CG_ARG0_7(...) 0
#define CG_ARG0_8(...) 0
/* Replaying a deferred call: only zero- and one-argument calls can be deferred. */
#define CG_REPLAY_0(fn, ...) ((int (*)(void))(fn))()
#define CG_REPLAY_1(fn, T1, a1) ((int (*)(T1))(fn))((T1)arg)
#define CG_REPLAY_2(fn, ...) -1
#define CG_REPLAY_3(fn, ...) -1
#define CG_REPLAY_4(fn, ...) -1
#define CG_REPLAY_5(fn, ...) -1
#define CG_REPLAY_6(fn, ...) -1
#define CG_REPLAY_7(fn, ...) -1
#define CG_REPLAY_8(fn, ...) -1

#define CG_EXPAND(...) __VA_ARGS__
#define CG_CALL(m, ...) m(__VA_ARGS__)
#define CG_NOINFO ()

#endif
