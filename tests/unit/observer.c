/* The observer point, seen from another thread: the shim's objects are linked into this program
 * (not preloaded), so it can read the registry as issue 10's watchdog will (cg_observe). Threads
 * block inside watched calls (block_driver.c); the main thread reads which call each one is
 * inside and since which sequence number, outside any capture and while one is active.
 * Prints fact lines "NAME VALUE"; tests/run.sh decides. Every wait is bounded (5 s). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "pipeline.h"

void block_release(int which);
int cuStreamSynchronize(void *s);
int cuCtxSynchronize(void);
int cuStreamBeginCapture_v2(void *s, int mode);
int cuStreamEndCapture(void *s, void **g);

static volatile int tid_a, tid_b, tid_c;
static pthread_barrier_t c_done;

static void *thread_a(void *p) /* two blocking stream syncs: the second while a capture is active */
{
    (void)p;
    tid_a = cg_tid();
    cuStreamSynchronize((void *)0x100);
    cuStreamSynchronize((void *)0x100);
    return NULL;
}
static void *thread_b(void *p) { (void)p; tid_b = cg_tid(); cuCtxSynchronize(); return NULL; }
static void *thread_c(void *p) /* one sync that returns, then no watched call */
{
    (void)p;
    tid_c = cg_tid();
    cuStreamSynchronize((void *)0x200);
    pthread_barrier_wait(&c_done);
    pthread_barrier_wait(&c_done);
    return NULL;
}

/* The slot of thread `tid` as the registry shows it; 0 when not registered. */
static int slot_of(int tid, struct cg_observed *out)
{
    struct cg_observed all[64];
    unsigned n = cg_observe(all, 64);
    for (unsigned i = 0; i < n; i++)
        if (all[i].tid == tid) {
            *out = all[i];
            return 1;
        }
    return 0;
}

/* Wait (at most 5 s) until thread *tid's slot shows `hook` (-1: none) at a sequence above `after`.
 * The thread's id is read afresh each time: the thread may not have started yet. */
static int wait_slot(volatile int *tid, int hook, uint64_t after, struct cg_observed *got)
{
    for (int i = 0; i < 5000; i++) {
        if (*tid && slot_of(*tid, got) && got->hook == hook && got->seq > after)
            return 1;
        usleep(1000);
    }
    return 0;
}

static const char *hook_name(int h) { return h >= 0 && h < HK_COUNT ? cg_hooks[h].name : "none"; }

int main(void)
{
    pthread_t a, b, c;
    struct cg_observed s;
    pthread_barrier_init(&c_done, NULL, 2);
    pthread_create(&a, NULL, thread_a, NULL);
    pthread_create(&b, NULL, thread_b, NULL);
    pthread_create(&c, NULL, thread_c, NULL);
    pthread_barrier_wait(&c_done);

    int ok = wait_slot(&tid_a, HK_cuStreamSynchronize, 0, &s);
    printf("a_inside %s seq %llu seen %d\n", hook_name(s.hook), (unsigned long long)s.seq, ok);
    uint64_t a_seq = s.seq;
    ok = wait_slot(&tid_b, HK_cuCtxSynchronize, 0, &s);
    printf("b_inside %s seq %llu seen %d\n", hook_name(s.hook), (unsigned long long)s.seq, ok);
    ok = slot_of(tid_c, &s);
    printf("c_after %s seq %llu seen %d\n", hook_name(s.hook), (unsigned long long)s.seq, ok);

    /* a capture on another stream: A's next sync is judged (no capture concerns it) and watched */
    int rc_begin = cuStreamBeginCapture_v2((void *)0x300, CG_MODE_THREAD_LOCAL);
    block_release(0);
    ok = wait_slot(&tid_a, HK_cuStreamSynchronize, a_seq, &s);
    printf("a_inside_during_capture %s seq %llu seen %d begin %d\n", hook_name(s.hook), (unsigned long long)s.seq,
           ok, rc_begin);
    uint64_t a_seq2 = s.seq;
    block_release(0);
    pthread_join(a, NULL);
    ok = slot_of(tid_a, &s) || 1; /* the thread exited: its slot left the registry */
    printf("a_gone %d\n", slot_of(tid_a, &s) ? 0 : 1);
    void *g;
    cuStreamEndCapture((void *)0x300, &g);
    block_release(1);
    pthread_join(b, NULL);
    pthread_barrier_wait(&c_done);
    pthread_join(c, NULL);
    printf("a_seq_step %llu\n", (unsigned long long)(a_seq2 - a_seq));
    (void)ok;
    printf("done\n");
    return 0;
}
