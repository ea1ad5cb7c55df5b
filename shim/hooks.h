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
#include "vocab.h"
#define CG_CLASS_ENUM_(name, help) CG_CLASS_##name
enum cg_class { CG_CLASS_NONE, CG_CLASSES(CG_CLASS_ENUM_, CG_COMMA_), CG_CLASS_COUNT };

struct cg_kind_desc {
    const char *name, *help;
    enum cg_class cls;
    unsigned char always, memo, defer, track, query, model, watch, fp, rec, dev;
};
extern const struct cg_kind_desc cg_kinds[K_COUNT];

/* The gate: one word every wrapper tests before anything else (base/state.c keeps it). A
 * wrapper whose kind's mask meets none of its bits is a plain forward. */
enum {
    CG_GATE_INIT = 1,    /* not yet initialised: every hook goes to its slow path once */
    CG_GATE_ON = 2,      /* capguard is on: kinds always judged, and watched kinds (observer) */
    CG_GATE_CAPTURE = 4, /* a capture is active */
    CG_GATE_MEMO = 8,    /* the memo holds buffers or knows workspaces: allocations and frees look */
    CG_GATE_FP = 16,     /* a fingerprinted graph waits for its first launch: instantiations and launches look */
    CG_GATE_DEV = 32,    /* more than one device may be visible: allocations look (features/devices.c) */
};
/* The kinds' columns as constants, for the wrappers (folded at compile time). */
enum {
#define KIND(name, cls, always, memo, defer, track, query, model, watch, fp, rec, dev, help) \
    CG_ALWAYS_K_##name = always, CG_MEMO_K_##name = memo, CG_MODEL_K_##name = model, CG_WATCH_K_##name = watch, \
    CG_FP_K_##name = fp, CG_DEV_K_##name = dev,
#include "kinds.def"
#undef KIND
};
enum {
#define KIND(name, cls, always, memo, defer, track, query, model, watch, fp, rec, dev, help)              \
    CG_MASK_K_##name = CG_GATE_INIT | CG_GATE_CAPTURE | ((always) || (watch) ? CG_GATE_ON : 0) | \
                       ((memo) && !(always) ? CG_GATE_MEMO : 0) | ((fp) ? CG_GATE_FP : 0) |            \
                       ((dev) && !(always) ? CG_GATE_DEV : 0),
#include "kinds.def"
#undef KIND
};

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
};

/* Arguments passed by value as structs: same size and layout as CUDA's / NCCL's. */
typedef struct { char b[128]; } cg_nccl_id;  /* ncclUniqueId */
typedef struct { char b[64]; } cg_ipc_handle; /* cudaIpcMemHandle_t, CUipcMemHandle */

#define CG_KEY_MAX 256

/* The call's strings, on the slow path's stack beside the record (never zeroed as a whole: each
 * starts empty). What a later stage needs travels here, not in thread-locals. */
struct cg_call_text {
    char key[CG_KEY_MAX + 64]; /* the memo's key of the call (or a collective's record id) */
    char site[256];            /* the call's site, brief ("file.py:12 in f" or "module+0x1234") */
    char d2h_site[160];        /* the captured device-to-host copy that made a sync's rejection */
    char cause[320];           /* K_END: the first call CUDA refused in the capture, and where */
    char viol_site[256];       /* a violation's one-line site, as the report wrote it */
};

/* One intercepted call, as the wrapper saw it: the record every stage reads and fills. The
 * wrapper zeroes it (keep it small: the hot fields only) and points `text` at its strings. */
/* The call's arguments, as hooks.def's `info` fills them: the part of the record the model's
 * lock-free check reads (a small struct, zeroed before the rest of the record exists). */
#define CG_CALL_ARGS                                                                            \
    void *stream;   /* stream argument, raw handle */                                           \
    void *event;                                                                                \
    void *ptr;                                                                                  \
    int *pmode;     /* cudaThreadExchangeStreamCaptureMode argument */                          \
    int mode;       /* capture mode argument of a begin */                                      \
    int pt;         /* per-thread-default-stream variant (_ptsz/_ptds) */                       \
    int d2h;        /* device-to-host copy */                                                   \
    int blocking;   /* a begin's stream synchronizes with the legacy stream */                  \
    int devmem;     /* an allocation of device memory on the current device */                  \
    size_t bytes;                                                                               \
    uintptr_t a[8];  /* raw arguments the communicator/workspace model needs (the memo) */      \
    uintptr_t arg0; /* the single argument of a deferrable call */
struct cg_args {
    CG_CALL_ARGS
};

struct cg_call {
    int hook;
    union { /* the arguments, by name (c->stream) or as one struct (c->args) */
        struct cg_args args;
        struct {
            CG_CALL_ARGS
        };
    };
    void *ra;       /* the caller's return address: the call site, unsymbolized */
    /* the pipeline */
    int ret;        /* what the wrapper returns */
    int real_ret;   /* what the real call returned (when it ran) */
    int forwarded;
    int saved_errno;
    int act;        /* enum cg_action: what the features decided */
    int decided;    /* a feature decided (later features' on_enter do not run) */
    int in_handler; /* made by a signal handler that interrupted the program (signals.c): judged
                     * without allocating, symbolizing or the memo; reported async-signal-safely */
    int relaxed_from; /* the thread's mode before a relaxed call */
    uint64_t watch_prev; /* the observer slot before this call (restored when it returns) */
    uint64_t rec_i;  /* the flight recorder's entry of this call, + 1 (0: none) */
    /* the model */
    int verdict;    /* what CUDA returns for this call now (0 = legal) */
    int reason;     /* enum cg_reason */
    int cap;        /* capture slot the verdict concerns, -1 none */
    uint64_t cap_id;      /* that capture, copied while the model was locked */
    int cap_mode;
    uintptr_t cap_stream;
    int began;      /* K_BEGIN: the capture was tracked (cap, cap_id) */
    int untracked;  /* K_BEGIN: beyond the model's bound: not guarded */
    int capturing_already; /* K_BEGIN: its stream captures already (a second begin, which CUDA
                            * refuses): nothing may be asked of that stream (the model, on_enter) */
    int dev_known;  /* dev is known: */
    int dev;        /* K_BEGIN: the origin stream's device; a device allocation's device */
    int ended;      /* K_END: the capture the model forgot (cap_id; its cause in text->cause) */
    int after_captures; /* no capture may be active any more: work held back may run */
    /* the guard and the memo */
    int policy;     /* enum cg_policy applied */
    int action;     /* enum cg_outcome taken */
    int queue_full; /* a deferral refused: the deferred-call queue is at CAPGUARD_DEFER_MAX */
    int memo_seen;  /* the memo decided this call (it sees the result) */
    int reported;   /* the report wrote the call's violation before the real call (it may block) */
    int cap_ok_before; /* its capture was not invalidated when the real call began */
    int site_done;  /* text->site and call_hash are filled */
    uint64_t call_hash; /* the call's site as a hash (memo keys: the same on every rank) */
    struct cg_call_text *text;
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
/* The same lists after a first parameter: ", T1 a1, ..." (empty for none). */
#define CG_PARAMS_TAIL_0()
#define CG_PARAMS_TAIL_1(...) , CG_PARAMS_1(__VA_ARGS__)
#define CG_PARAMS_TAIL_2(...) , CG_PARAMS_2(__VA_ARGS__)
#define CG_PARAMS_TAIL_3(...) , CG_PARAMS_3(__VA_ARGS__)
#define CG_PARAMS_TAIL_4(...) , CG_PARAMS_4(__VA_ARGS__)
#define CG_PARAMS_TAIL_5(...) , CG_PARAMS_5(__VA_ARGS__)
#define CG_PARAMS_TAIL_6(...) , CG_PARAMS_6(__VA_ARGS__)
#define CG_PARAMS_TAIL_7(...) , CG_PARAMS_7(__VA_ARGS__)
#define CG_PARAMS_TAIL_8(...) , CG_PARAMS_8(__VA_ARGS__)
#define CG_ARGS_TAIL_0()
#define CG_ARGS_TAIL_1(...) , CG_ARGS_1(__VA_ARGS__)
#define CG_ARGS_TAIL_2(...) , CG_ARGS_2(__VA_ARGS__)
#define CG_ARGS_TAIL_3(...) , CG_ARGS_3(__VA_ARGS__)
#define CG_ARGS_TAIL_4(...) , CG_ARGS_4(__VA_ARGS__)
#define CG_ARGS_TAIL_5(...) , CG_ARGS_5(__VA_ARGS__)
#define CG_ARGS_TAIL_6(...) , CG_ARGS_6(__VA_ARGS__)
#define CG_ARGS_TAIL_7(...) , CG_ARGS_7(__VA_ARGS__)
#define CG_ARGS_TAIL_8(...) , CG_ARGS_8(__VA_ARGS__)
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
