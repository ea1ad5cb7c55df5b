/* The per-process tables every section reads, derived once after reading: the watched calls
 * (each (blocked_tid, seq) with its first and last `watchdog` event and the `watchdog_done`
 * that ended it, if any) and the flight-recorder dumps (each `recorder` header with the `rec`
 * lines that followed it; a dump cut short by a kill holds fewer than `kept`).
 * Must never: own an event (they belong to the process's array), or decide what a section says.
 */
#include <stdlib.h>
#include <string.h>
#include "report.h"

static struct rp_watch *watch_of(struct rp_proc *p, long long tid, long long seq)
{
    for (size_t i = 0; i < p->nwatch; i++)
        if (p->watch[i].tid == tid && p->watch[i].seq == seq)
            return &p->watch[i];
    p->watch = rp_xrealloc(p->watch, (p->nwatch + 1) * sizeof *p->watch);
    struct rp_watch *w = &p->watch[p->nwatch++];
    memset(w, 0, sizeof *w);
    w->tid = tid;
    w->seq = seq;
    return w;
}

static struct rp_dump *dump_of(struct rp_proc *p, long dump, size_t line)
{
    for (size_t i = 0; i < p->ndumps; i++)
        if (p->dumps[i].dump == dump)
            return &p->dumps[i];
    /* Dumps are numbered 1, 2, ... in the order written; keep that order. */
    size_t at = p->ndumps;
    while (at > 0 && p->dumps[at - 1].dump > dump)
        at--;
    p->dumps = rp_xrealloc(p->dumps, (p->ndumps + 1) * sizeof *p->dumps);
    memmove(&p->dumps[at + 1], &p->dumps[at], (p->ndumps - at) * sizeof *p->dumps);
    p->ndumps++;
    struct rp_dump *d = &p->dumps[at];
    memset(d, 0, sizeof *d);
    d->dump = dump;
    d->kept = -1;
    d->at = line;
    return d;
}

static void push(json_t ***v, size_t *n, size_t *cap, json_t *ev)
{
    if (*n == *cap) {
        *cap = *cap ? 2 * *cap : 16;
        *v = rp_xrealloc(*v, *cap * sizeof **v);
    }
    (*v)[(*n)++] = ev;
}

static void scan_proc(struct rp_proc *p)
{
    size_t i;
    json_t *ev;
    json_array_foreach(p->evs, i, ev) {
        if (rp_is(ev, "watchdog") || rp_is(ev, "watchdog_done")) {
            struct rp_watch *w = watch_of(p, rp_int(ev, "blocked_tid", -1), rp_int(ev, "seq", -1));
            if (rp_is(ev, "watchdog_done")) {
                w->done = ev;
                continue;
            }
            if (!w->first)
                w->first = ev;
            w->last = ev;
            w->done = NULL; /* named again after a done of the same seq: blocked again */
            w->reports++;
            w->entry = rp_num(ev, "ts", 0) - rp_num(ev, "ms", 0) / 1000.0;
        } else if (rp_is(ev, "recorder")) {
            struct rp_dump *d = dump_of(p, (long)rp_int(ev, "dump", 0), i);
            d->hdr = ev;
            d->at = i;
            d->kept = (long)rp_int(ev, "kept", -1);
        } else if (rp_is(ev, "rec")) {
            struct rp_dump *d = dump_of(p, (long)rp_int(ev, "dump", 0), i);
            push(&d->recs, &d->nrecs, &d->cap, ev);
        } else if (rp_is(ev, "recorder_thread")) {
            struct rp_dump *d = dump_of(p, (long)rp_int(ev, "dump", 0), i);
            push(&d->threads, &d->nthreads, &d->capthreads, ev);
        }
    }
    /* A `watchdog_done` with no `watchdog` before it (the start of the log was lost). */
    size_t kept = 0;
    for (size_t k = 0; k < p->nwatch; k++)
        if (p->watch[k].last)
            p->watch[kept++] = p->watch[k];
    p->nwatch = kept;
}

void rp_scan(struct rp_logs *L)
{
    for (size_t i = 0; i < L->nprocs; i++)
        scan_proc(&L->procs[i]);
}

/* Did thread `tid` log anything after the dump's lines (so it had left the call)? */
static int moved_on(const struct rp_proc *p, const struct rp_dump *d, long long tid)
{
    for (size_t i = d->at; i < json_array_size(p->evs); i++) {
        json_t *ev = json_array_get(p->evs, i);
        if (rp_is(ev, "recorder") || rp_is(ev, "rec") || rp_is(ev, "recorder_thread"))
            continue; /* the dump itself, written by whichever thread dumped */
        if (rp_int(ev, "tid", -1) == tid ||
            (rp_is(ev, "watchdog_done") && rp_int(ev, "blocked_tid", -1) == tid))
            return 1;
    }
    return 0;
}

const char *rp_in_flight(const struct rp_proc *p)
{
    if (!p->ndumps)
        return NULL;
    const struct rp_dump *d = &p->dumps[p->ndumps - 1];
    json_t *best = NULL;
    for (size_t i = 0; i < d->nrecs; i++) {
        json_t *r = d->recs[i];
        if (json_is_null(json_object_get(r, "ret")) &&
            (!best || rp_int(r, "i", 0) >= rp_int(best, "i", 0)) &&
            !moved_on(p, d, rp_int(r, "call_tid", -1)))
            best = r;
    }
    if (best)
        return rp_str(best, "call") ? rp_str(best, "call") : "?";
    /* A watched call the ring does not hold (not judged, e.g. a sync outside any capture). */
    for (size_t i = 0; i < d->nthreads; i++) {
        json_t *t = d->threads[i], *in = json_object_get(t, "in");
        if ((!json_is_string(in) && !json_is_object(in)) ||
            moved_on(p, d, rp_int(t, "thread_tid", -1)))
            continue;
        if (json_is_string(in))
            return json_string_value(in);
        return rp_str(in, "call") ? rp_str(in, "call") : "?";
    }
    return NULL;
}
