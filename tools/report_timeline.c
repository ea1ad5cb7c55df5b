/* The timeline the --perfetto trace and the --html page both draw: spans (captures from
 * capture_begin to the capture_end of the same id in that process, or to the process's last ts
 * when never ended; watched calls from their entry time to their watchdog_done, or to the log's
 * end; flight-recorder entries of at least RP_REC_MIN_S, each index from the freshest dump that
 * holds it) and instants (violations, repeats, fingerprint mismatches, memo serves). Each
 * carries its event's fields as args. Must never: place a blocked call on the watchdog's own
 * thread (it belongs to blocked_tid), or invent a time the log does not give.
 */
#include <stdlib.h>
#include <string.h>
#include "report.h"

const char *rp_span_cat(enum rp_span_kind k)
{
    return k == RP_SPAN_CAPTURE ? "capture" : k == RP_SPAN_BLOCKED ? "blocked" : "recorder";
}

const char *rp_mark_cat(enum rp_mark_kind k)
{
    static const char *const cats[] = { "violation", "repeat", "fingerprint_mismatch",
                                         "memo_serve" };
    return cats[k];
}

/* The event's own fields, without those the trace gives its own place. */
static json_t *args_of(const json_t *ev)
{
    json_t *a = json_deep_copy(ev);
    static const char *const drop[] = { "ts", "pid", "tid", "ev" };
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        json_object_del(a, drop[i]);
    return a;
}

static void add_span(struct rp_timeline *T, size_t proc, long long tid, enum rp_span_kind kind,
                     char *name, double t0, double t1, int open, json_t *args)
{
    if (T->nspans == T->capspans) {
        T->capspans = T->capspans ? 2 * T->capspans : 64;
        T->spans = rp_xrealloc(T->spans, T->capspans * sizeof *T->spans);
    }
    if (t1 < t0)
        t1 = t0;
    if (open)
        json_object_set_new(args, "open", json_true());
    T->spans[T->nspans++] = (struct rp_span){ proc, tid, kind, name, t0, t1, open, args };
}

static void add_mark(struct rp_timeline *T, size_t proc, const json_t *ev, enum rp_mark_kind kind,
                     char *name)
{
    if (T->nmarks == T->capmarks) {
        T->capmarks = T->capmarks ? 2 * T->capmarks : 64;
        T->marks = rp_xrealloc(T->marks, T->capmarks * sizeof *T->marks);
    }
    T->marks[T->nmarks++] = (struct rp_mark){ proc, rp_int(ev, "tid", 0), kind, name,
                                              rp_num(ev, "ts", 0), args_of(ev) };
}

static const char *or_q(const char *s)
{
    return s ? s : "?";
}

static void captures(struct rp_timeline *T, const struct rp_proc *p, size_t pi)
{
    json_t *open = json_object(); /* capture id -> its capture_begin */
    size_t k;
    json_t *ev;
    json_array_foreach(p->evs, k, ev) {
        char id[32];
        snprintf(id, sizeof id, "%lld", rp_int(ev, "capture", -1));
        if (rp_is(ev, "capture_begin")) {
            json_object_set(open, id, ev);
        } else if (rp_is(ev, "capture_end") && json_object_get(open, id)) {
            json_t *b = json_object_get(open, id), *args = args_of(b);
            json_object_set(args, "rc", json_object_get(ev, "rc"));
            if (json_object_get(ev, "cause"))
                json_object_set(args, "cause", json_object_get(ev, "cause"));
            add_span(T, pi, rp_int(b, "tid", 0), RP_SPAN_CAPTURE, rp_xasprintf("capture %s", id),
                     rp_num(b, "ts", 0), rp_num(ev, "ts", 0), 0, args);
            json_object_del(open, id);
        }
    }
    const char *id;
    json_t *b;
    json_object_foreach(open, id, b)
        add_span(T, pi, rp_int(b, "tid", 0), RP_SPAN_CAPTURE, rp_xasprintf("capture %s", id),
                 rp_num(b, "ts", 0), p->t_last, 1, args_of(b));
    json_decref(open);
}

static void blocked(struct rp_timeline *T, const struct rp_proc *p, size_t pi)
{
    for (size_t k = 0; k < p->nwatch; k++) {
        const struct rp_watch *w = &p->watch[k];
        json_t *args = args_of(w->last);
        double end;
        if (w->done) {
            json_object_set_new(args, "returned_after_ms", json_integer(rp_int(w->done, "ms", 0)));
            end = rp_num(w->done, "ts", 0);
        } else {
            end = p->t_last > rp_num(w->last, "ts", 0) ? p->t_last : rp_num(w->last, "ts", 0);
        }
        json_object_set_new(args, "watchdog_tid", json_integer(rp_int(w->last, "tid", 0)));
        json_object_set_new(args, "reports", json_integer(w->reports));
        add_span(T, pi, w->tid, RP_SPAN_BLOCKED, rp_xstrdup(or_q(rp_str(w->last, "call"))),
                 w->entry, end, !w->done, args);
    }
}

static void recorder(struct rp_timeline *T, const struct rp_proc *p, size_t pi)
{
    json_t *fresh = json_object(); /* index -> the freshest rec line of it */
    for (size_t d = 0; d < p->ndumps; d++)
        for (size_t r = 0; r < p->dumps[d].nrecs; r++) {
            char i[32];
            snprintf(i, sizeof i, "%lld", rp_int(p->dumps[d].recs[r], "i", -1));
            json_object_set(fresh, i, p->dumps[d].recs[r]);
        }
    const char *i;
    json_t *rec;
    json_object_foreach(fresh, i, rec) {
        double t = rp_num(rec, "t", rp_num(rec, "ts", 0)), dur;
        int open = json_is_null(json_object_get(rec, "us"));
        dur = open ? rp_num(rec, "ts", t) - t : rp_num(rec, "us", 0) / 1e6;
        if (dur < RP_REC_MIN_S)
            continue;
        add_span(T, pi, rp_int(rec, "call_tid", rp_int(rec, "tid", 0)), RP_SPAN_REC,
                 rp_xstrdup(or_q(rp_str(rec, "call"))), t, t + dur, open, args_of(rec));
    }
    json_decref(fresh);
}

static void marks(struct rp_timeline *T, const struct rp_proc *p, size_t pi)
{
    size_t k;
    json_t *ev;
    json_array_foreach(p->evs, k, ev) {
        const char *call = or_q(rp_str(ev, "call"));
        if (rp_is(ev, "violation"))
            add_mark(T, pi, ev, RP_MARK_VIOLATION, rp_xasprintf("violation %s", call));
        else if (rp_is(ev, "repeat"))
            add_mark(T, pi, ev, RP_MARK_REPEAT, rp_xasprintf("repeat %s", call));
        else if (rp_is(ev, "fingerprint_mismatch"))
            add_mark(T, pi, ev, RP_MARK_FP_MISMATCH,
                     rp_xasprintf("fingerprint mismatch, capture %lld", rp_int(ev, "capture", 0)));
        else if (rp_is(ev, "memo") && rp_str(ev, "decision") &&
                 strcmp(rp_str(ev, "decision"), "serve") == 0)
            add_mark(T, pi, ev, RP_MARK_MEMO_SERVE, rp_xasprintf("memo serve %s", call));
    }
}

void rp_timeline(const struct rp_logs *L, struct rp_timeline *T)
{
    memset(T, 0, sizeof *T);
    for (size_t i = 0; i < L->nprocs; i++) {
        captures(T, &L->procs[i], i);
        blocked(T, &L->procs[i], i);
        recorder(T, &L->procs[i], i);
        marks(T, &L->procs[i], i);
    }
}

void rp_timeline_free(struct rp_timeline *T)
{
    for (size_t i = 0; i < T->nspans; i++) {
        free(T->spans[i].name);
        json_decref(T->spans[i].args);
    }
    for (size_t i = 0; i < T->nmarks; i++) {
        free(T->marks[i].name);
        json_decref(T->marks[i].args);
    }
    free(T->spans);
    free(T->marks);
    memset(T, 0, sizeof *T);
}
