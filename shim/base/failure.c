/* The process's last judged call that failed (a nonzero return, queries' "not ready" aside): which
 * call, what it returned, the capture it concerned, when, and its caller, for the process's last
 * words (pipeline/exits.c: a library that calls exit() right after a failed call). One record,
 * written by the failing thread, read by any, lock-free (a mark cleared while it is written), so
 * that the reader may run in a signal handler or after another thread died holding a lock.
 * Must never: take a lock, or symbolize on the reading side. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "base.h"

#define WORDS 20 /* the site, 160 bytes */
static struct {
    uint64_t mark; /* a sequence number, 0 while written */
    int hook, rc;
    uint64_t cap, mono_ns;
    uint64_t site[WORDS];
} last;
static uint64_t seq;

static uint64_t mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

void cg_failure_note(int hook, int rc, uint64_t cap, void *ra)
{
    char brief[WORDS * 8];
    uint64_t words[WORDS];
    cg_caller_brief(ra, brief, sizeof brief); /* symbolized once per address */
    memset(words, 0, sizeof words);
    memcpy(words, brief, strnlen(brief, sizeof brief - 1));
    uint64_t n = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&last.mark, 0, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_store_n(&last.hook, hook, __ATOMIC_RELAXED);
    __atomic_store_n(&last.rc, rc, __ATOMIC_RELAXED);
    __atomic_store_n(&last.cap, cap, __ATOMIC_RELAXED);
    __atomic_store_n(&last.mono_ns, mono_ns(), __ATOMIC_RELAXED);
    for (int i = 0; i < WORDS; i++)
        __atomic_store_n(&last.site[i], words[i], __ATOMIC_RELAXED);
    __atomic_store_n(&last.mark, n, __ATOMIC_RELEASE);
}

/* Async-signal-safe. Returns 0 when no failure was noted (or the record is being written). */
int cg_failure_last(struct cg_failure *out)
{
    uint64_t m = __atomic_load_n(&last.mark, __ATOMIC_ACQUIRE);
    if (!m)
        return 0;
    out->hook = __atomic_load_n(&last.hook, __ATOMIC_RELAXED);
    out->rc = __atomic_load_n(&last.rc, __ATOMIC_RELAXED);
    out->cap = __atomic_load_n(&last.cap, __ATOMIC_RELAXED);
    uint64_t at = __atomic_load_n(&last.mono_ns, __ATOMIC_RELAXED), words[WORDS];
    for (int i = 0; i < WORDS; i++)
        words[i] = __atomic_load_n(&last.site[i], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&last.mark, __ATOMIC_RELAXED) != m || out->hook < 0 || out->hook >= HK_COUNT)
        return 0;
    memcpy(out->site, words, sizeof out->site - 1);
    out->site[sizeof out->site - 1] = 0;
    uint64_t now = mono_ns();
    out->ms_ago = now > at ? (now - at) / 1000000u : 0;
    return 1;
}
