/* The base layer: what every other layer may use, and which uses nothing above it.
 * Configuration and vocabulary (the tables), process and thread state (the gate, thread-locals),
 * output (the JSONL log, stderr), native and Python frames, the real entry points, and the
 * memory capguard's tables take under their locks (table.h). Files: shim/base/. */
#ifndef CG_BASE_H
#define CG_BASE_H

#include <errno.h>
#include <execinfo.h> /* backtrace: cg_raw_frames */
#include <stdint.h>
#include <sys/types.h>
/* Everything declared here is internal: hidden, so that the wrappers reach the gate with one
 * instruction (no GOT). */
#pragma GCC visibility push(hidden)
#include "hooks.h"

/* ---- vocabulary (base/vocab.c; the .def tables) ---- */
enum cg_state { CG_UNINIT, CG_OFF, CG_ON, CG_DOWN };
#define CG_POL_ENUM_(name, ...) CG_POL_##name
enum cg_policy { CG_POLICIES(CG_POL_ENUM_, CG_COMMA_), CG_POL_COUNT };
#define CG_POL_AUTO CG_POL_auto
#define CG_POL_OBSERVE CG_POL_observe
#define CG_SCOPE_ENUM_(name, serve, hold, help) CG_MEMO_##name
enum cg_memo_scope { CG_SCOPES(CG_SCOPE_ENUM_, CG_COMMA_), CG_MEMO_COUNT };
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
struct cg_policy_desc {
    const char *name, *help;
    int coll; /* enum cg_outcome of a memo-guarded call */
    int init; /* enum cg_outcome of a memo-guarded NCCL communicator init */
};
struct cg_scope_desc {
    const char *name, *help;
    int serve, hold;
};
extern const struct cg_policy_desc cg_policies[CG_POL_COUNT];
extern const struct cg_scope_desc cg_scopes[CG_MEMO_COUNT];
const char *cg_policy_name(int p);
int cg_policy_parse(const char *s, size_t n); /* -1: not a policy */
const char *cg_memo_scope_name(int s);
const char *cg_class_name(enum cg_class c);
const char *cg_reason_text(int r);
const char *cg_outcome_name(int o);
const char *cg_cap_mode_name(int mode);
int cg_hook_by_name(const char *name);
int cg_hook_plain(int hook); /* pncclX -> ncclX, any other hook itself */

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

/* ---- process and thread state (base/state.c) ---- */
#define CG_PUB_FRAMES 16 /* native frames a judged watched call publishes at most */
struct cg_pub { /* what a judged watched call publishes for the watchdog (base/observer.c) */
    uintptr_t stream, a[4];
    void *ra;       /* its caller's return address */
    uint64_t cap;   /* the capture it is inside (capguard's id), 0: none known */
    int npcs;       /* native frames taken at entry (0: only ra), capguard's own left out */
    void *pcs[CG_PUB_FRAMES];
};
struct cg_tls {
    int depth;    /* > 0 while inside a judged hook: inner hooks pass through */
    int busy;     /* capguard's own code runs (locks may be held): a hook entered now comes from a
                   * signal handler, and is forwarded without touching capguard's state */
    int outer_lib; /* the library of the judged call in progress (enum cg_lib) */
    int sig_at;   /* the depth at which a wrapped signal handler runs (signals.c), 0: none */
    int sig_from; /* that handler interrupted capguard (its code or a real call it made) */
    int mode;     /* the thread's capture interaction mode as the program set it */
    int tid;      /* cached gettid(), 0 = not yet */
    int watched;  /* the observer slot is registered (pipeline/observer.c) */
    uint64_t slot; /* the observer slot: (sequence << 16) | (hook + 1) while inside a watched
                    * call, (sequence << 16) between them; read by other threads */
    /* A judged watched call's arguments that matter, published for the watchdog (atomics; the
     * judged path only, never the fast path): valid when pub_seq is the slot's sequence. */
    uint64_t pub_seq;
    struct cg_pub pub;
};
extern __thread struct cg_tls cg_tls __attribute__((tls_model("initial-exec")));
extern int cg_state;     /* enum cg_state */
extern unsigned cg_gate; /* CG_GATE_* bits (hooks.h) */
int cg_tid_slow(void);
static inline int cg_tid(void) { return __builtin_expect(cg_tls.tid != 0, 1) ? cg_tls.tid : cg_tid_slow(); }
static inline void cg_gate_set(unsigned bit, int on)
{
    if (on)
        __atomic_fetch_or(&cg_gate, bit, __ATOMIC_ACQ_REL);
    else
        __atomic_fetch_and(&cg_gate, ~bit, __ATOMIC_ACQ_REL);
}

/* Mark capguard's own code on this thread (compiler barriers: a signal handler on this thread
 * must see the flag as program order has it). A real call made from capguard's code clears it. */
static inline void cg_set_busy(int on)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    cg_tls.busy = on;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* A real call made from capguard's own code: the thread is not marked busy meanwhile (a signal
 * handler that interrupts it is the program's). */
#define cg_real_from_self(expr)    \
    ({                             \
        cg_set_busy(0);            \
        __typeof__(expr) rf_ = (expr); \
        cg_set_busy(1);            \
        rf_;                       \
    })

/* ---- configuration (base/config.c, config.def) ---- */
#define CG_PATH_MAX 512
struct cg_config {
    int mode; /* -1 off, else enum cg_policy */
    char policy[1024];
    char log_dir[CG_PATH_MAX];
    char log_file[CG_PATH_MAX];
    unsigned stack_depth;
    unsigned python;
    unsigned py_depth;     /* Python frames kept per violation */
    char lib_paths[1024];  /* more library directories, ':'-separated */
    unsigned stderr_limit;
    unsigned quiet;
    int memo; /* enum cg_memo_scope */
    unsigned memo_keys;    /* initialisation keys remembered for repeat reports (LRU) */
    unsigned memo_objects; /* live communicators/workspaces tracked */
    unsigned coll_bytes;   /* bytes of recorded collective outputs (LRU) */
    unsigned coll_record_max; /* a collective with more output than this is not recorded */
    unsigned sites;        /* violation sites counted */
    unsigned defer_max;    /* deferred calls queued at most */
    unsigned watchdog_ms;  /* a watched call in flight longer is named; 0: no watchdog */
    unsigned recorder;     /* the flight recorder's ring entries; 0: none */
    unsigned witness;      /* the driver's error-log callback is registered (features/witness.c) */
    unsigned device_check; /* a capture's device compared with its warm-up's (features/devices.c) */
};
extern struct cg_config cg_cfg;
extern unsigned char cg_policy_of[HK_COUNT]; /* enum cg_policy per hook */
void cg_config_load(void);
const char *cg_env(const char *name); /* secure_getenv */
void cg_show_value(char *out, size_t n, const char *v, size_t len);

/* ---- real entry points (base/real.c) ---- */
extern void *cg_real_ptr[HK_COUNT];
extern void *(*cg_real_dlsym)(void *, const char *);
void *cg_real(int hook);
void *cg_drv_sym(const char *name);
/* The same, looked up once into *cache (a static of the caller; NULL stays unknown: asked again). */
void *cg_drv_sym_once(void **cache, const char *name);
void *cg_lib_sym(int lib, const char *name); /* a real symbol of an already-loaded library, or NULL */
int cg_missing(int hook);
unsigned cg_proc_unmatched(void);
void cg_proc_unmatched_add(void);
int cg_is_self(const void *addr); /* an address inside libcapguard itself */
/* base/fds.c: descriptors the memo keeps open (a program's close() of one does nothing) */
#define CG_KEPT_FDS 4096
void cg_fd_keep(int fd, int on);
int cg_fd_kept(int fd); /* one load while nothing is kept */
int cg_fd_close_real(int fd);
void cg_fds_after_fork(void);
void cg_ensure_real_dlsym(void);
int cg_lib_of_path(const char *path);  /* enum cg_lib of a library's file name, -1: none */
int cg_real_claim(int h, void *real); /* remember `real` as hook h's (pinned); 0: another is known */
/* The real function, resolved once (NULL: missing); the slow paths' start. */
static inline void *cg_real_fast(int hook)
{
    void *p = __atomic_load_n(&cg_real_ptr[hook], __ATOMIC_ACQUIRE);
    return __builtin_expect(p != NULL, 1) ? p : cg_real(hook);
}

/* ---- the last failed judged call (base/failure.c) ---- */
struct cg_failure {
    int hook, rc;
    uint64_t cap, ms_ago;
    char site[160];
};
void cg_failure_note(int hook, int rc, uint64_t cap, void *ra); /* not in a signal handler */
int cg_failure_last(struct cg_failure *out);                     /* async-signal-safe; 0: none */

/* ---- replaying a held-back call (base/replay.c) ---- */
int cg_replay(int hook, uintptr_t arg);

/* ---- output (base/log.c) ---- */
void cg_log_event(const char *json_body); /* one JSONL line: {"ts":..,"pid":..,"rank":.., <body>} */
void cg_log_raw(const char *line, size_t n); /* async-signal-safe: a line without its "}\n", only if the log is open */
struct asbuf;
void cg_log_head(struct asbuf *o); /* async-signal-safe: {"ts":..,"pid":..,"rank":..,"tid":.., */
void cg_log_open(void); /* open the log now (not in a signal handler), so that a handler can write to it later */
void cg_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cg_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cg_rank(void);
int cg_world(void);
size_t cg_json_str(char *out, size_t n, const char *s);
const char *cg_log_path(void);
unsigned cg_log_lines_lost(void);

/* ---- frames (base/frames.c, base/pyframes.c) ---- */
#define CG_FRAME_JSON_MAX 200 /* one native frame's JSON: module and symbol are shortened to fit */
#define CG_NATIVE_MAX (64 * CG_FRAME_JSON_MAX) /* CAPGUARD_STACK_DEPTH's maximum */
#define CG_PY_JSON_MAX 8192 /* the Python frames' JSON: frames beyond it are left out of the log */
#define CG_PY_CALL_FRAMES 4 /* Python frames a call's own site walks at most (memo keys: every call) */
struct cg_site {
    const char *native; /* JSON array body of native frames (symbolized once per site, cached) */
    char python[CG_PY_JSON_MAX]; /* JSON array body of Python frames */
    char brief[256];    /* one-line "file.py:12 in f" or "module+0x1234" */
    uint64_t hash;      /* the raw return addresses (this process only) */
    int py_brief_user;  /* the brief names a frame outside library code (pyframes.c) */
    uint64_t call_hash; /* the call itself: innermost Python line, else innermost native frame
                         * as module+offset (the same on every rank: memo keys) */
};
/* A violation's site: raw return addresses hashed, symbolized the first time that hash is seen. */
void cg_site_capture(struct cg_site *s);
/* The same, leaving out the innermost frames inside libraries whose base names start with one of
 * skip (a NULL-terminated list): the site of whoever called into them. */
void cg_site_capture_outside(struct cg_site *s, const char *const *skip);
/* The call's own site, cheaply (memo keys): the innermost Python line, else the caller's return
 * address, symbolized once per address. */
void cg_call_site(void *ra, uint64_t *call_hash, char *brief, size_t n);
void cg_python_frames(struct cg_site *s, unsigned max); /* at most max frames */
/* The caller at ra as "module+0xoff (symbol)", symbolized once per address (no Python frames). */
void cg_caller_brief(void *ra, char *brief, size_t n);
unsigned cg_sites_symbolized(void);
/* This thread's raw return addresses, capguard's own frames left out (no symbolizing). Inlined
 * into its callers: a frame of its own would be one more to unwind (about 2600 instructions). */
#define CG_SELF_FRAMES 16 /* capguard's own frames at most, skipped */
#define CG_MAX_FRAMES (64 + CG_SELF_FRAMES)
static inline __attribute__((always_inline)) int cg_raw_frames(void **pcs, int max)
{
    void *all[CG_MAX_FRAMES];
    int n = max > 0 ? backtrace(all, (max < 64 ? max : 64) + CG_SELF_FRAMES) : 0, first = 0;
    /* capguard's own frames (and a sanitizer's backtrace interceptor before them) */
    for (int i = 0; i < n && i < CG_SELF_FRAMES; i++)
        if (cg_is_self(all[i]))
            first = i + 1;
    n = n - first > max ? max : n - first;
    for (int i = 0; i < n; i++)
        pcs[i] = all[first + i];
    return n > 0 ? n : 0;
}
/* Frames taken by cg_raw_frames (any thread's), symbolized now as the log's `native` array body
 * into out (cap bytes); not cached. */
void cg_frames_json(void *const *pcs, int n, char *out, size_t cap);
/* The index of the first of pcs whose module's base name starts with none of prefixes (a NULL-
 * terminated list): the caller of a library. 0 when every frame is inside them. */
int cg_first_frame_outside(void *const *pcs, int n, const char *const *prefixes);
/* This thread's Python thread state (NULL: none, or not a Python process). */
void *cg_python_tstate(void);
/* Another thread's innermost Python frames, read from its thread state while that thread is
 * blocked in C: the one-line brief and the `python` array body (either may stay empty). */
void cg_python_frames_of(void *tstate, struct cg_site *s);

/* A fast hash of a buffer (the same bytes give the same value on every rank). */
uint64_t cg_hash_bytes(const void *p, size_t n, uint64_t seed);
#define CG_HASH_SEED 1469598103934665603ull

/* ---- base/observer.c: which watched call each thread is inside (issue 10's watchdog samples it) ---- */
void cg_observer_register(void); /* this thread's slot joins the registry (once per thread) */
extern void (*cg_on_first_watch)(void); /* called on the process's first watched call (the watchdog) */
#define CG_OBSERVED_MAX 4096 /* threads whose slots are readable at once; more are counted */
struct cg_observed {
    int tid;
    int hook;      /* -1: not inside a watched call */
    uint64_t seq;  /* the call's sequence number on its thread */
    int judged;    /* pub belongs to this call (it was judged) */
    struct cg_pub pub;
    void *tstate;  /* the thread's Python thread state (NULL: none), for its Python frames */
};
/* Copy a publication field by field (atomics: the other side may be writing or reading it). */
static inline void cg_pub_copy(struct cg_pub *to, const struct cg_pub *from)
{
    __atomic_store_n(&to->stream, __atomic_load_n(&from->stream, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    for (int i = 0; i < 4; i++)
        __atomic_store_n(&to->a[i], __atomic_load_n(&from->a[i], __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    __atomic_store_n(&to->ra, __atomic_load_n(&from->ra, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    __atomic_store_n(&to->cap, __atomic_load_n(&from->cap, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    int n = __atomic_load_n(&from->npcs, __ATOMIC_RELAXED);
    n = n < 0 ? 0 : n > CG_PUB_FRAMES ? CG_PUB_FRAMES : n;
    for (int i = 0; i < n; i++)
        __atomic_store_n(&to->pcs[i], __atomic_load_n(&from->pcs[i], __ATOMIC_RELAXED), __ATOMIC_RELAXED);
    __atomic_store_n(&to->npcs, n, __ATOMIC_RELAXED);
}
/* Publish a judged watched call's arguments for the watchdog (after cg_watch_enter). */
static inline void cg_watch_publish(uint64_t seq, const struct cg_pub *p)
{
    cg_pub_copy(&cg_tls.pub, p);
    __atomic_store_n(&cg_tls.pub_seq, seq, __ATOMIC_RELEASE);
}
/* Copy at most n threads' slots out (the registry's lock held only while copying). */
unsigned cg_observe(struct cg_observed *out, unsigned n);

/* Entry into a watched call: at most two plain stores for the pair (this and cg_watch_leave);
 * no clock, no lock, no syscall. Returns the slot as it was (a handler's call restores it). */
static inline uint64_t cg_watch_enter(int hook)
{
    if (__builtin_expect(!cg_tls.watched, 0))
        cg_observer_register();
    uint64_t prev = __atomic_load_n(&cg_tls.slot, __ATOMIC_RELAXED);
    __atomic_store_n(&cg_tls.slot, ((prev >> 16) + 1) << 16 | (uint64_t)(hook + 1), __ATOMIC_RELAXED);
    return prev;
}
static inline void cg_watch_leave(uint64_t prev)
{
    /* the sequence goes on from this call's; the hook is the one this call interrupted, if any */
    uint64_t now = __atomic_load_n(&cg_tls.slot, __ATOMIC_RELAXED);
    __atomic_store_n(&cg_tls.slot, (now & ~(uint64_t)0xffff) | (prev & 0xffff), __ATOMIC_RELAXED);
}

#pragma GCC visibility pop
#endif
