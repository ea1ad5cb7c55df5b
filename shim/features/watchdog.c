/* The watchdog: one thread that samples the observer slots (base/observer.c) and names every
 * watched call still in flight after CAPGUARD_WATCHDOG_MS, while it is blocked, then again at
 * doubling intervals (so it never floods), and once more when that call returns. The slots cost
 * the wrappers two plain stores a call; everything else is this thread's.
 * The thread is started on the process's first watched call, not at start-up: a process that
 * never makes one (a shell, a setuid tool run under LD_PRELOAD: setpriv drops per-thread
 * capabilities before setresgid, and glibc aborts when one thread's setxid fails) has no extra
 * thread. It blocks every signal (the program's handlers never run on it), is detached (it never
 * keeps the process alive: exit does not wait for it), and is started again in a forked child on
 * the child's first watched call.
 * What it knows of a call: the entry point, the thread, the call's sequence number on it, how
 * long it has been seen inside (at least), the rank, how many captures are active, the thread's
 * Python frames (read from its thread state when it is named), and for a judged call what it
 * published on entry (base.h cg_pub: arguments, capture, caller, native frames where taken).
 * Must never: take a lock a hook holds across a real call, or write while holding the registry's. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "features.h"
#include "module.h"

#define CG_WATCH_TABLE 8192   /* open-addressing table of them, by thread id */
#define CG_TICK_MIN_MS 10
#define CG_TICK_MAX_MS 1000

struct seen { /* a thread inside a watched call, as the watchdog follows it */
    int tid;       /* 0: free */
    int hook;
    uint64_t seq;
    uint64_t since_ns;  /* when the watchdog first saw it inside */
    uint64_t next_ns;   /* when it is named next */
    unsigned reports;   /* times named so far */
    unsigned mark;      /* carried into the next sample's table */
    int judged;         /* the call's publication is known (it was judged) */
    struct cg_pub pub;
    void *tstate;       /* the thread's Python state: its frames are read when it is named */
};

static pthread_t thread;
static int running;
static unsigned named, named_done; /* written by the watchdog thread, read at exit: atomics */

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static struct seen *slot_for(struct seen *tab, int tid)
{
    unsigned i = ((unsigned)tid * 2654435761u) & (CG_WATCH_TABLE - 1);
    while (tab[i].tid && tab[i].tid != tid)
        i = (i + 1) & (CG_WATCH_TABLE - 1);
    return &tab[i];
}

/* What a judged call's arguments say, as text ("" when unknown): its communicator (MPI's by
 * the name every rank shares), its stream, and where it was called from. */
static void describe(const struct seen *s, char *args, size_t an, char *site, size_t sn)
{
    args[0] = site[0] = 0;
    if (!s->judged)
        return;
    enum cg_kind k = cg_hooks[s->hook].kind;
    int mpi = cg_hooks[s->hook].lib == CG_LIB_MPI;
    const uintptr_t *a = s->pub.a;
    uintptr_t comm = k == K_HOST_COLL ? a[0] : k == K_COMM_INIT && mpi ? a[1] : k == K_NCCL_COLL ? a[0] : 0;
    char name[40] = "";
    if (mpi && comm && cg_mpi_comm_builtin(comm, name, sizeof name) != 0)
        snprintf(name, sizeof name, "0x%llx", (unsigned long long)cg_mpi_handle(comm));
    else if (!mpi && comm)
        snprintf(name, sizeof name, "%p", (void *)comm);
    if (name[0])
        snprintf(args, an, "comm %s", name);
    else if (s->pub.stream)
        snprintf(args, an, "stream %p", (void *)s->pub.stream);
    if (s->pub.ra) {
        uint64_t h;
        cg_call_site(s->pub.ra, &h, site, sn);
    }
}

static void say_blocked(const struct seen *s, uint64_t now)
{
    double secs = (double)(now - s->since_ns) / 1e9;
    int caps = __atomic_load_n(&cg_active_captures, __ATOMIC_ACQUIRE);
    static char body[CG_NATIVE_MAX + CG_PY_JSON_MAX + 2048], native[CG_NATIVE_MAX]; /* the watchdog's thread only */
    static struct cg_site py;
    char args[80], site[200], qargs[120], qsite[260], qpy[300], cap[24] = "null";
    memset(&py, 0, sizeof py);
    describe(s, args, sizeof args, site, sizeof site);
    cg_python_frames_of(s->tstate, &py); /* its thread is blocked in C: its Python frames hold still */
    native[0] = 0;
    if (s->judged)
        cg_frames_json(s->pub.pcs, s->pub.npcs, native, sizeof native);
    if (s->judged && s->pub.cap)
        snprintf(cap, sizeof cap, "%llu", (unsigned long long)s->pub.cap);
    cg_json_str(qargs, sizeof qargs, args);
    cg_json_str(qsite, sizeof qsite, site);
    cg_json_str(qpy, sizeof qpy, py.brief);
    snprintf(body, sizeof body,
             "\"ev\":\"watchdog\",\"blocked_tid\":%d,\"call\":\"%s\",\"seq\":%llu,\"ms\":%llu,\"report\":%u,"
             "\"captures_active\":%d,\"capture\":%s,\"args\":%s,\"site\":%s,\"py\":%s,\"python\":[%s],\"native\":[%s]",
             s->tid, cg_hooks[s->hook].name, (unsigned long long)s->seq,
             (unsigned long long)((now - s->since_ns) / 1000000), s->reports, caps, cap, args[0] ? qargs : "null",
             site[0] ? qsite : "null", py.brief[0] ? qpy : "null", py.python, native);
    cg_log_event(body);
    cg_say("capguard: [rank %d] watchdog: thread %d has been inside %s%s%s%s for %.1f s%s%s%s%s (its call #%llu; %d "
           "captures active%s%s)\n", cg_rank(), s->tid, cg_hooks[s->hook].name, args[0] ? "(" : "", args, args[0] ? ")" : "",
           secs, site[0] ? ", called at " : "", site, py.brief[0] ? ", from " : "", py.brief, (unsigned long long)s->seq,
           caps, strcmp(cap, "null") ? ", inside capture " : "", strcmp(cap, "null") ? cap : "");
}

static void say_done(const struct seen *s, uint64_t now)
{
    char body[300];
    snprintf(body, sizeof body, "\"ev\":\"watchdog_done\",\"blocked_tid\":%d,\"call\":\"%s\",\"seq\":%llu,\"ms\":%llu",
             s->tid, cg_hooks[s->hook].name, (unsigned long long)s->seq,
             (unsigned long long)((now - s->since_ns) / 1000000));
    cg_log_event(body);
    cg_say("capguard: [rank %d] watchdog: thread %d returned from %s after at least %.1f s\n", cg_rank(), s->tid,
           cg_hooks[s->hook].name, (double)(now - s->since_ns) / 1e9);
}

/* One sample: follow every thread inside a watched call (carried from the last sample's table
 * `was` into `now_tab`); name those past their next bound; close, if named, those that left. */
static void sample(struct seen *was, struct seen *now_tab, struct cg_observed *obs, uint64_t bound_ns)
{
    uint64_t now = now_ns();
    unsigned n = cg_observe(obs, CG_OBSERVED_MAX), dumped = 0;
    for (unsigned i = 0; i < n; i++) {
        if (obs[i].hook < 0 || obs[i].hook >= HK_COUNT)
            continue; /* not inside a watched call */
        struct seen *old = slot_for(was, obs[i].tid), *s = slot_for(now_tab, obs[i].tid);
        if (old->tid && old->seq == obs[i].seq && old->hook == obs[i].hook) {
            *s = *old; /* the same call as last time */
            old->mark = 1;
            if (!s->judged && obs[i].judged) { /* published after the first sample saw it */
                s->judged = 1;
                s->pub = obs[i].pub;
            }
        } else {
            *s = (struct seen){.tid = obs[i].tid, .hook = obs[i].hook, .seq = obs[i].seq, .since_ns = now,
                               .next_ns = now + bound_ns, .judged = obs[i].judged, .pub = obs[i].pub,
                               .tstate = obs[i].tstate};
        }
        if (now >= s->next_ns) {
            say_blocked(s, now);
            if (!s->reports && !dumped++)
                cg_recorder_dump("watchdog", 0); /* once a sample: what led here */
            __atomic_add_fetch(&named, 1, __ATOMIC_RELAXED);
            s->reports++;
            s->next_ns = s->since_ns + (bound_ns << (s->reports < 40 ? s->reports : 40)); /* 1, 2, 4... bounds */
        }
    }
    for (unsigned i = 0; i < CG_WATCH_TABLE; i++) { /* the calls named before and not seen again */
        if (was[i].tid && !was[i].mark && was[i].reports) {
            say_done(&was[i], now);
            __atomic_add_fetch(&named_done, 1, __ATOMIC_RELAXED);
        }
    }
    memset(was, 0, CG_WATCH_TABLE * sizeof *was);
}

static void *watch_main(void *arg)
{
    (void)arg;
    uint64_t bound_ns = (uint64_t)cg_cfg.watchdog_ms * 1000000ull;
    unsigned tick = cg_cfg.watchdog_ms / 10;
    tick = tick < CG_TICK_MIN_MS ? CG_TICK_MIN_MS : tick > CG_TICK_MAX_MS ? CG_TICK_MAX_MS : tick;
    struct seen *tab[2] = {calloc(CG_WATCH_TABLE, sizeof(struct seen)), calloc(CG_WATCH_TABLE, sizeof(struct seen))};
    struct cg_observed *obs = calloc(CG_OBSERVED_MAX, sizeof *obs);
    if (!tab[0] || !tab[1] || !obs) {
        free(tab[0]);
        free(tab[1]);
        free(obs);
        return NULL;
    }
    cg_tls.depth = 1; /* this thread's own calls (none are hooked) would pass straight through */
    pthread_setname_np(pthread_self(), "cg-watchdog");
    for (unsigned k = 0;; k ^= 1) {
        struct timespec t = {tick / 1000, (long)(tick % 1000) * 1000000L};
        nanosleep(&t, NULL);
        sample(tab[k], tab[k ^ 1], obs, bound_ns); /* from the last table into the other */
    }
    return NULL;
}

static void start(void)
{
    if (!cg_cfg.watchdog_ms)
        return;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread inherits a mask that blocks every signal */
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    running = pthread_create(&thread, &a, watch_main, NULL) == 0;
    pthread_attr_destroy(&a);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!running)
        cg_err("capguard: the watchdog thread could not be started; blocked calls will not be named\n");
}

static void watchdog_init(void)
{
    if (cg_cfg.watchdog_ms)
        __atomic_store_n(&cg_on_first_watch, start, __ATOMIC_RELEASE);
}

/* The parent's thread does not exist in a forked child: the child's first watched call starts
 * the child's own (base/observer.c re-arms that). */
static void watchdog_after_fork(void) { running = 0; }

static void watchdog_summary(void)
{
    unsigned n = __atomic_load_n(&named, __ATOMIC_RELAXED), done = __atomic_load_n(&named_done, __ATOMIC_RELAXED);
    if (!n)
        return;
    char body[160];
    snprintf(body, sizeof body, "\"ev\":\"summary_watchdog\",\"named\":%u,\"returned\":%u,\"watchdog_ms\":%u", n, done,
             cg_cfg.watchdog_ms);
    cg_log_event(body);
}

CG_MODULE(watchdog, .init = watchdog_init, .after_fork = watchdog_after_fork, .summary = watchdog_summary);
