/* Memory for the tables capguard changes under its locks, taken before a lock and given back
 * after it: nothing calls malloc or free while a capguard lock is held (a lock held across
 * malloc is one more lock in the order, and malloc is not async-signal-safe).
 * A thread reserves spare blocks (cg_mem_reserve) before locking; uthash's allocations made
 * under the lock take one (cg_mem_take; NULL when none fits: uthash is built non-fatal on
 * out-of-memory and then only skips growing its buckets, and the next reserve is larger); frees
 * made under the lock are queued on the thread (cg_mem_drop) and done by cg_mem_flush once the
 * lock is dropped. The spares of a thread are freed when it exits.
 * Must never: block, or be called with a capguard lock held except take and drop. */
#include <pthread.h>
#include <stdlib.h>
#include "base.h"
#include "module.h"
#include "table.h"

#define CG_MEM_SPARES 8 /* the most one locked section takes: the memo adds a key set and an object,
                          * and uthash makes each table with two allocations */
#define CG_MEM_SPARE_MIN 1024

struct spares {
    void *blk[CG_MEM_SPARES];
    size_t size[CG_MEM_SPARES];
    struct spares *next, *prev; /* every thread's, so that a forked child still reaches them */
};
static __thread struct spares *sp;
static __thread size_t wanted; /* the largest block a locked section asked for */
static __thread int spent;      /* a spare was taken, or one was missing, since the last reserve */
static __thread void *pending; /* blocks to free, linked through their first word */
static struct spares all = {.next = &all, .prev = &all};
static pthread_mutex_t all_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *arg)
{
    struct spares *s = arg;
    pthread_mutex_lock(&all_mutex);
    s->prev->next = s->next;
    s->next->prev = s->prev;
    pthread_mutex_unlock(&all_mutex);
    for (int i = 0; i < CG_MEM_SPARES; i++)
        free(s->blk[i]);
    free(s);
    sp = NULL;
}

static void make_key(void) { pthread_key_create(&exit_key, thread_exit); }

/* Memory that a forked child drops because the parent's other threads may have been changing it
 * is kept reachable here (never freed: the child may not free what it cannot trust). */
#define CG_ORPHANS 256
static void *orphans[CG_ORPHANS];
static unsigned n_orphans;

void cg_mem_orphan(void *p)
{
    if (p && n_orphans < CG_ORPHANS)
        orphans[n_orphans++] = p;
}

/* In a forked child: the other threads are gone, their spares stay listed (reachable). */
static void mem_after_fork(void) { pthread_mutex_init(&all_mutex, NULL); }

/* The spares: all but the last of CG_MEM_SPARE_MIN bytes (nodes), the last as large as the
 * largest block asked for (a table's bucket array when it grows): a node taken is replaced by a
 * small block, and a large one is made again only after a table grew. */
void cg_mem_reserve(void)
{
    if (sp && !spent)
        return; /* every spare is still there, as large as asked */
    spent = 0;
    if (!sp) {
        if ((sp = calloc(1, sizeof *sp)) == NULL)
            return;
        pthread_once(&key_once, make_key);
        pthread_mutex_lock(&all_mutex);
        sp->next = all.next;
        sp->prev = &all;
        all.next->prev = sp;
        all.next = sp;
        pthread_mutex_unlock(&all_mutex);
        pthread_setspecific(exit_key, sp);
    }
    for (int i = 0; i < CG_MEM_SPARES; i++) {
        size_t want = i == CG_MEM_SPARES - 1 && wanted > CG_MEM_SPARE_MIN ? wanted : CG_MEM_SPARE_MIN;
        if (sp->blk[i] && sp->size[i] >= want)
            continue;
        free(sp->blk[i]);
        sp->blk[i] = malloc(want);
        sp->size[i] = sp->blk[i] ? want : 0;
    }
}

void *cg_mem_take(size_t n)
{
    for (int i = 0; sp && i < CG_MEM_SPARES; i++)
        if (sp->blk[i] && sp->size[i] >= n) {
            void *p = sp->blk[i];
            sp->blk[i] = NULL;
            sp->size[i] = 0;
            spent = 1;
            return p;
        }
    if (n > wanted)
        wanted = n;
    spent = 1;
    return NULL;
}

void cg_mem_drop(void *p)
{
    if (!p)
        return;
    *(void **)p = pending;
    pending = p;
}

void cg_mem_flush(void)
{
    while (pending) {
        void *next = *(void **)pending;
        free(pending);
        pending = next;
    }
}

CG_MODULE(lockmem, .after_fork = mem_after_fork);
