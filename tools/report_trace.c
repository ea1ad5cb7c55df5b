/* --perfetto FILE: the timeline as Chrome trace-event JSON (the JSON Object Format,
 * {"traceEvents":[...],"displayTimeUnit":"ms"}), which ui.perfetto.dev and chrome://tracing
 * open. pid is a process index per (host, pid), named "rank R host:pid" and sorted by rank;
 * tid is the kernel tid, named "tid N". Spans are complete events ("X") in integer
 * microseconds from the earliest ts of all logs, nested per thread (a span that would overlap
 * the end of the one it starts in is cut there, args.cut_us says by how much); instants ("i",
 * thread scope) mark violations, repeats, fingerprint mismatches and memo serves.
 * Must never: write an event without name, ph, ts, pid, tid, cat and args.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "report.h"

static long long us_since(const struct rp_logs *L, double t)
{
    long long us = llround((t - L->t0) * 1e6);
    return us < 0 ? 0 : us;
}

static json_t *event(const char *name, const char *ph, long long ts, size_t pid, long long tid,
                     const char *cat, json_t *args)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:o}", "name", name, "ph", ph,
                     "ts", (json_int_t)ts, "pid", (json_int_t)(pid + 1), "tid", (json_int_t)tid,
                     "cat", cat, "args", args);
}

static void metadata(const struct rp_logs *L, const struct rp_timeline *T, json_t *out)
{
    for (size_t i = 0; i < L->nprocs; i++) {
        const struct rp_proc *p = &L->procs[i];
        char *name = rp_xasprintf("rank %d %s:%lld", p->rank, p->host, p->pid);
        json_array_append_new(out, event("process_name", "M", 0, i, p->pid, "__metadata",
                                         json_pack("{s:s}", "name", name)));
        free(name);
        json_array_append_new(out, event("process_sort_index", "M", 0, i, p->pid, "__metadata",
                                         json_pack("{s:i}", "sort_index", p->rank)));
        json_t *tids = json_array(); /* a sorted set of integers, as the rank sets are */
        rp_rankset_add(tids, p->pid);
        size_t k;
        json_t *ev;
        json_array_foreach(p->evs, k, ev)
            if (json_is_integer(json_object_get(ev, "tid")))
                rp_rankset_add(tids, rp_int(ev, "tid", 0));
        for (size_t s = 0; s < T->nspans; s++)
            if (T->spans[s].proc == i)
                rp_rankset_add(tids, T->spans[s].tid);
        json_t *t;
        json_array_foreach(tids, k, t) {
            long long tid = json_integer_value(t);
            json_t *a = json_object();
            json_object_set_new(a, "name", json_sprintf("tid %lld", tid));
            json_array_append_new(out, event("thread_name", "M", 0, i, tid, "__metadata", a));
        }
        json_decref(tids);
    }
}

struct span_us {
    const struct rp_span *s;
    long long t0, t1;
};

static int cmp_span(const void *a, const void *b)
{
    const struct span_us *x = a, *y = b;
    if (x->s->proc != y->s->proc)
        return x->s->proc < y->s->proc ? -1 : 1;
    if (x->s->tid != y->s->tid)
        return x->s->tid < y->s->tid ? -1 : 1;
    if (x->t0 != y->t0)
        return x->t0 < y->t0 ? -1 : 1;
    return (x->t1 < y->t1) - (x->t1 > y->t1); /* the longer first: it is the parent */
}

static void spans(const struct rp_logs *L, const struct rp_timeline *T, json_t *out)
{
    struct span_us *v = rp_xrealloc(NULL, (T->nspans ? T->nspans : 1) * sizeof *v);
    long long *stack = rp_xrealloc(NULL, (T->nspans ? T->nspans : 1) * sizeof *stack);
    for (size_t i = 0; i < T->nspans; i++)
        v[i] = (struct span_us){ &T->spans[i], us_since(L, T->spans[i].t0),
                                 us_since(L, T->spans[i].t1) };
    qsort(v, T->nspans, sizeof *v, cmp_span);
    size_t depth = 0;
    for (size_t i = 0; i < T->nspans; i++) {
        const struct rp_span *s = v[i].s;
        if (i > 0 && (v[i - 1].s->proc != s->proc || v[i - 1].s->tid != s->tid))
            depth = 0;
        while (depth > 0 && stack[depth - 1] <= v[i].t0)
            depth--;
        json_t *args = json_deep_copy(s->args);
        long long end = v[i].t1;
        if (depth > 0 && end > stack[depth - 1]) {
            json_object_set_new(args, "cut_us", json_integer(end - stack[depth - 1]));
            end = stack[depth - 1];
        }
        stack[depth++] = end;
        json_t *e = event(s->name, "X", v[i].t0, s->proc, s->tid, rp_span_cat(s->kind), args);
        json_object_set_new(e, "dur", json_integer(end - v[i].t0));
        json_array_append_new(out, e);
    }
    free(stack);
    free(v);
}

static void instants(const struct rp_logs *L, const struct rp_timeline *T, json_t *out)
{
    for (size_t i = 0; i < T->nmarks; i++) {
        const struct rp_mark *m = &T->marks[i];
        json_t *e = event(m->name, "i", us_since(L, m->t), m->proc, m->tid, rp_mark_cat(m->kind),
                          json_deep_copy(m->args));
        json_object_set_new(e, "s", json_string("t"));
        json_array_append_new(out, e);
    }
}

int rp_perfetto(const struct rp_logs *L, const char *path)
{
    struct rp_timeline T;
    rp_timeline(L, &T);
    json_t *evs = json_array();
    metadata(L, &T, evs);
    spans(L, &T, evs);
    instants(L, &T, evs);
    rp_timeline_free(&T);
    json_t *doc = json_pack("{s:o, s:s}", "traceEvents", evs, "displayTimeUnit", "ms");
    FILE *f = fopen(path, "w");
    int rc = 0;
    if (!f || json_dumpf(doc, f, JSON_COMPACT) != 0 || fputc('\n', f) == EOF) {
        fprintf(stderr, RP_NAME ": cannot write %s\n", path);
        rc = RP_EXIT_WRITE;
    }
    if (f && fclose(f) != 0 && rc == 0) {
        fprintf(stderr, RP_NAME ": cannot write %s\n", path);
        rc = RP_EXIT_WRITE;
    }
    json_decref(doc);
    return rc;
}
