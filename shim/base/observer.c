/* The observer point: every watched call (kinds.def `watch`: syncs, host collectives, inits,
 * synchronous copies, collective enqueues) stores which call it is and its sequence number in
 * the calling thread's slot on entry, and clears the call on exit (base.h, two plain stores
 * for the pair). This file keeps the registry through which another thread reads the slots
 * (issue 10's watchdog): a thread's slot joins it the first time the thread makes a watched
 * call, and leaves it when the thread exits.
 * Must never: be read without the registry lock (a slot lives in its thread's TLS), or block a
 * hook beyond the registry lock on a thread's first watched call. */
#include <pthread.h>
#include "module.h"
#include "base.h"


struct entry {
    struct cg_tls *tls;
    int tid;
    void *tstate; /* its Python thread state when it registered */
};
static struct entry registry[CG_OBSERVED_MAX];
static unsigned n_entries, not_registered;
static pthread_mutex_t registry_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t exit_key;
static int first_done; /* the first watched call's hook has run */
static int key_made;

static void thread_exit(void *arg)
{
    struct cg_tls *t = arg;
    pthread_mutex_lock(&registry_mutex);
    for (unsigned i = 0; i < n_entries; i++)
        if (registry[i].tls == t) {
            registry[i] = registry[--n_entries];
            break;
        }
    pthread_mutex_unlock(&registry_mutex);
}

static void observer_init(void) { key_made = pthread_key_create(&exit_key, thread_exit) == 0; }

/* The child has one thread, this one; its slot is re-registered on its next watched call. */
static void observer_after_fork(void)
{
    pthread_mutex_init(&registry_mutex, NULL);
    n_entries = 0;
    cg_tls.watched = 0;
    first_done = 0;
}

CG_MODULE(observer, .init = observer_init, .after_fork = observer_after_fork);

/* Run once per process (again in a forked child), on the first watched call: the watchdog's
 * start, so that a process that never makes one (a setuid tool under LD_PRELOAD, a shell) never
 * gets capguard's thread. Set by the watchdog's init. */
void (*cg_on_first_watch)(void);

void cg_observer_register(void)
{
    cg_tls.watched = 1; /* once, even if the registry is full */
    void (*first)(void) = __atomic_load_n(&cg_on_first_watch, __ATOMIC_ACQUIRE);
    if (first && !cg_tls.sig_at && !__atomic_exchange_n(&first_done, 1, __ATOMIC_ACQ_REL))
        first();
    if (!key_made || cg_tls.sig_at)
        return; /* not from a signal handler: pthread_setspecific is not async-signal-safe */
    int tid = cg_tid();
    void *tstate = cg_python_tstate();
    pthread_mutex_lock(&registry_mutex);
    int ok = n_entries < CG_OBSERVED_MAX;
    if (ok)
        registry[n_entries++] = (struct entry){&cg_tls, tid, tstate};
    else
        not_registered++;
    pthread_mutex_unlock(&registry_mutex);
    if (ok)
        pthread_setspecific(exit_key, &cg_tls);
}

unsigned cg_observe(struct cg_observed *out, unsigned n)
{
    unsigned got = 0;
    pthread_mutex_lock(&registry_mutex);
    for (unsigned i = 0; i < n_entries && got < n; i++) {
        struct cg_tls *t = registry[i].tls;
        uint64_t w = __atomic_load_n(&t->slot, __ATOMIC_ACQUIRE);
        struct cg_observed *o = &out[got++];
        *o = (struct cg_observed){
            .tid = registry[i].tid, .hook = (int)(w & 0xffff) - 1, .seq = w >> 16, .tstate = registry[i].tstate};
        if (__atomic_load_n(&t->pub_seq, __ATOMIC_ACQUIRE) != o->seq)
            continue;
        cg_pub_copy(&o->pub, &t->pub);
        /* the call may have returned meanwhile: the arguments count only if the slot still shows it */
        o->judged = __atomic_load_n(&t->pub_seq, __ATOMIC_ACQUIRE) == o->seq &&
                    __atomic_load_n(&t->slot, __ATOMIC_ACQUIRE) == w;
    }
    pthread_mutex_unlock(&registry_mutex);
    return got;
}
