/* Shared internals of libcapguard: global state, thread-local state, the call lifecycle
 * used by the generated wrappers, and the interfaces between the shim's files.
 * Nothing here is exported (the build uses -fvisibility=hidden and a version script). */
#ifndef CG_CORE_H
#define CG_CORE_H

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>
#include "hooks.h"

enum cg_state { CG_UNINIT, CG_OFF, CG_ON, CG_DOWN };
enum cg_policy { CG_POL_AUTO, CG_POL_OBSERVE, CG_POL_REJECT, CG_POL_DEFER, CG_POL_RELAX, CG_POL_COUNT };
enum cg_reason {
    R_NONE,
    R_DEVICE_SYNC,     /* device/context sync while any capture is active */
    R_SYNC_CAPTURING,  /* sync or query of a stream that is capturing */
    R_CAPTURED_EVENT,  /* sync or query of an event recorded in an active capture */
    R_UNSAFE_MODE,     /* potentially unsafe call prohibited by the thread's interaction mode */
    R_IMPLICIT_LEGACY, /* legacy-stream work while a blocking stream captures */
    R_HOST_COLL,       /* host collective during a capture, not answerable from the memo */
    R_COMM_INIT,       /* communicator init / split / window registration during a capture, not served */
    R_COUNT
};
enum cg_outcome {
    CG_OUT_NONE,
    CG_OUT_OBSERVED,  /* forwarded unchanged */
    CG_OUT_REJECTED,  /* not forwarded, error returned */
    CG_OUT_DEFERRED,  /* queued until the last capture ends */
    CG_OUT_RELAXED,   /* forwarded with the thread relaxed */
    CG_OUT_ANSWERED,  /* a query of the capturing stream answered as complete */
    CG_OUT_SERVED,    /* answered by the memo (communicator, workspace, collective) */
    CG_OUT_COUNT
};

/* CUDA's numbers (runtime and driver agree on these). */
#define CG_ERR_CAPTURE_UNSUPPORTED 900
#define CG_ERR_CAPTURE_INVALIDATED 901
#define CG_ERR_CAPTURE_IMPLICIT 906
#define CG_ERR_CAPTURED_EVENT 907
#define CG_ERR_CAPTURE_WRONG_THREAD 908
#define CG_ERR_UNKNOWN 999
#define CG_MODE_GLOBAL 0
#define CG_MODE_THREAD_LOCAL 1
#define CG_MODE_RELAXED 2

struct cg_tls {
    int depth;    /* > 0 while inside a judged hook: inner hooks pass through */
    int busy;     /* capguard's own code runs (locks may be held): a hook entered now comes from a
                   * signal handler, and is forwarded without touching capguard's state */
    int outer_lib; /* the library of the judged call in progress (enum cg_lib) */
    int sig_at;   /* the depth at which a wrapped signal handler runs (signals.c), 0: none */
    int sig_from; /* that handler interrupted capguard (its code or a real call it made) */
    int mode;     /* the thread's capture interaction mode as the program set it */
    int tid;      /* cached gettid(), 0 = not yet */
};
extern __thread struct cg_tls cg_tls __attribute__((tls_model("initial-exec")));
extern int cg_state;           /* enum cg_state */
extern int cg_active_captures; /* captures begun and not ended, process-wide */

#define CG_PATH_MAX 512
struct cg_config {
    int mode; /* -1 off, else enum cg_policy */
    char policy[1024];
    char log_dir[CG_PATH_MAX];
    char log_file[CG_PATH_MAX];
    unsigned stack_depth;
    unsigned python;
    unsigned stderr_limit;
    unsigned quiet;
    int memo; /* enum cg_memo_scope */
    unsigned memo_keys;    /* initialisation keys remembered for repeat reports (LRU) */
    unsigned memo_objects; /* live communicators/workspaces tracked */
    unsigned coll_bytes;   /* bytes of recorded collective outputs (LRU) */
    unsigned sites;        /* violation sites counted */
    unsigned defer_max;    /* deferred calls queued at most */
};
enum cg_memo_scope { CG_MEMO_CAPTURE, CG_MEMO_ALWAYS, CG_MEMO_OFF };
extern struct cg_config cg_cfg;
extern unsigned char cg_policy_of[HK_COUNT]; /* enum cg_policy per hook */

/* after fork, in the child: locks re-made */
void cg_memo_reset_after_fork(void);
void cg_report_reset_after_fork(void);
void cg_log_reset_after_fork(void);
void cg_policy_reset_after_fork(void);

/* init.c */
int cg_init(void);
int cg_tid(void);

/* config.c */
void cg_config_load(void);
const char *cg_env(const char *name); /* secure_getenv */
void cg_show_value(char *out, size_t n, const char *v, size_t len);
const char *cg_policy_name(int p);

/* resolve.c */
void *cg_real(int hook);
void *cg_drv_sym(const char *name);
void *cg_lib_sym(int lib, const char *name); /* a real symbol of an already-loaded library, or NULL */
int cg_missing(int hook);

/* capture.c: the model (call with the capture lock held) */
void cg_cap_lock(void);
void cg_cap_unlock(void);
void cg_cap_lock_raw(void);
void cg_cap_unlock_raw(void);
void cg_cap_reset_after_fork(void);
void cg_judge(struct cg_call *c);
enum { CG_TRACK_OK, CG_TRACK_FULL, CG_TRACK_UNTRACKED, CG_TRACK_D2H };
int cg_cap_track(struct cg_call *c);
void cg_cap_set_d2h_site(uint64_t id, const char *site);
void cg_cap_before_begin(void);
int cg_cap_work_begin(void);
void cg_cap_work_end(void);
int cg_cap_end(const struct cg_call *c, uint64_t *id, char *cause, size_t n);
int cg_cap_relaxable(const struct cg_call *c);
int cg_cap_d2h_pending(int slot, char *site, size_t n);
int cg_cap_any_d2h(char *site, size_t n);
void cg_cap_note_violation(uint64_t id, const struct cg_call *c, const char *site);
const char *cg_cap_mode_name(int mode);
void cg_cap_query_blocking(struct cg_call *c);

void cg_cap_name_any(struct cg_call *c);

/* memo.c */
int cg_memo_decide(struct cg_call *c, enum cg_action *act);
void cg_memo_after(struct cg_call *c);
void cg_memo_capture_ended(void);
void cg_memo_summary(void);
void cg_memo_forget_mpi(void);
int cg_memo_buffers_held(void);
int cg_memo_workspaces_known(void);
int cg_memo_has_history(void);
int cg_mpi_unknown_for(const struct cg_call *c);
const char *cg_memo_scope_name(int s);
const char *cg_memo_current_key(void); /* the key of the call being decided */

/* policy.c */
enum cg_action cg_decide(struct cg_call *c);
void cg_defer_run_if_idle(void);
const char *cg_reason_text(int r);
const char *cg_outcome_name(int o);

/* core.c: wrapper lifecycle */
int cg_enter_slow(struct cg_call *c);
void cg_before_forward(struct cg_call *c, enum cg_action a);
void cg_after_forward(struct cg_call *c, enum cg_action a);
int cg_leave(struct cg_call *c);
int cg_replay(int hook, uintptr_t arg);
void cg_after_captures(void);
unsigned cg_signal_unjudged(void);
const char *cg_signal_last(void);

/* attrib.c */
#define CG_FRAME_JSON_MAX 200 /* one native frame's JSON: module and symbol are shortened to fit */
#define CG_NATIVE_MAX (64 * CG_FRAME_JSON_MAX) /* CAPGUARD_STACK_DEPTH's maximum */
struct cg_site {
    char native[CG_NATIVE_MAX]; /* JSON array body of native frames (CAPGUARD_STACK_DEPTH of them) */
    char python[512];  /* JSON array body of Python frames */
    char brief[256];   /* one-line "file.py:12 in f" or "module+0x1234" */
    uint64_t hash;
    int py_brief_user; /* the brief names a frame outside the framework's own package */
    uint64_t call_hash; /* the call itself: innermost Python line, else innermost native frame (memo) */
};
void cg_site_capture(struct cg_site *s, int skip);
void cg_attrib_init(void);

/* pyframes.c */
void cg_python_frames(struct cg_site *s);

/* counters and paths for the summary */
unsigned cg_proc_unmatched(void);
unsigned cg_defer_refused(void);
unsigned cg_cap_untracked(void);
const char *cg_log_path(void);
unsigned cg_log_lines_lost(void);

/* resolve.c: hand-written hooks */
int cuGetProcAddress(const char *sym, void **pfn, int ver, unsigned long long flags);
int cuGetProcAddress_v2(const char *sym, void **pfn, int ver, unsigned long long flags, int *status);

/* log.c */
void cg_log_init(void);
void cg_log_event(const char *json_body); /* one JSONL line: {"ts":..,"pid":..,"rank":.., <body>} */
void cg_log_raw(const char *line, size_t n); /* async-signal-safe: a line without its "}\n", only if the log is open */
void cg_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cg_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cg_rank(void);
int cg_world(void);
size_t cg_json_str(char *out, size_t n, const char *s);

/* signals.c */
void cg_report_in_handler(const struct cg_call *c);
unsigned cg_handler_reports(void);

/* report.c */
void cg_report_violation(struct cg_call *c);
void cg_report_capture_begin(const struct cg_call *c);
void cg_report_untracked(const struct cg_call *c);
void cg_report_capture_end(const struct cg_call *c, uint64_t id, const char *cause);
void cg_summary(void);

/* Mark capguard's own code on this thread (compiler barriers: a signal handler on this thread
 * must see the flag as program order has it). A real call made from capguard's code clears it. */
static inline void cg_set_busy(int on)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    cg_tls.busy = on;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}
void cg_signal_passthrough(int hook); /* async-signal-safe */
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

/* The hot path of every wrapper, before anything else is built: does this call need judging?
 * CG_WANT_SIGNAL: forward it as a signal handler's call (cg_forward_signal). */
enum { CG_WANT_NO, CG_WANT_JUDGE, CG_WANT_SIGNAL, CG_WANT_HANDLER };
int cg_wants_in_handler(int hook);
static inline int cg_wants(int hook)
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
    /* With no capture anywhere, only the model's bookkeeping and the memo need the slow path. */
    enum cg_kind k = cg_hooks[hook].kind;
    if (cg_kinds[k].always || __atomic_load_n(&cg_active_captures, __ATOMIC_ACQUIRE) != 0)
        return CG_WANT_JUDGE;
    return (k == K_ALLOC && cg_memo_buffers_held()) || (k == K_FREE && cg_memo_workspaces_known()) ? CG_WANT_JUDGE
                                                                                                  : CG_WANT_NO;
}

extern void *cg_real_ptr[HK_COUNT];
static inline void *cg_real_fast(int hook)
{
    void *p = __atomic_load_n(&cg_real_ptr[hook], __ATOMIC_ACQUIRE);
    return __builtin_expect(p != NULL, 1) ? p : cg_real(hook);
}

#endif
