/* The HANG section: every call still blocked (a watched call's last `watchdog` with no later
 * `watchdog_done` of the same blocked_tid and seq), when it was entered (the event's ts minus
 * its ms), how long it has been blocked (to the end of its process's log, or the watchdog's ms
 * if larger), in which capture, with which arguments, at which site (the Python line if the log
 * has one); and where every other rank is: its own blocked call, else the call its last
 * flight-recorder dump caught in flight, else finished (a summary), else gone, else no log.
 * One sentence per blocked process, ranks in the same state grouped ("ranks 0,2-5").
 * Must never: call a rank blocked whose watchdog said the call returned.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "report.h"

enum state { ST_BLOCKED, ST_IN_FLIGHT, ST_FINISHED, ST_GONE, ST_NO_LOG, ST_COUNT };

struct where {
    enum state st;
    const char *call;   /* blocked / in flight: the call */
    double until;       /* gone: when its log ends */
};

/* The process's longest-blocked call, or NULL. */
static const struct rp_watch *blocked_of(const struct rp_proc *p)
{
    const struct rp_watch *best = NULL;
    for (size_t i = 0; i < p->nwatch; i++)
        if (!p->watch[i].done && (!best || p->watch[i].entry < best->entry))
            best = &p->watch[i];
    return best;
}

static struct where where_of(const struct rp_proc *p)
{
    struct where w = { ST_GONE, NULL, 0 };
    const struct rp_watch *b = blocked_of(p);
    const char *in;
    if (b) {
        w.st = ST_BLOCKED;
        w.call = rp_str(b->last, "call");
    } else if ((in = rp_in_flight(p))) {
        w.st = ST_IN_FLIGHT;
        w.call = in;
    } else if (p->finished) {
        w.st = ST_FINISHED;
    } else {
        w.until = p->t_last;
    }
    if (!w.call && (w.st == ST_BLOCKED || w.st == ST_IN_FLIGHT))
        w.call = "?";
    return w;
}

/* Ranks in one state (and call, or end time). */
struct group {
    struct where w;
    json_t *ranks;       /* every rank in it */
    json_t *shared;      /* [rank, "host:pid"] of the processes that share their rank */
    int members;
    double t_min, t_max; /* gone: when the first and the last of their logs end */
};

struct groups {
    struct group *g;
    size_t n;
};

static int same_where(const struct where *a, const struct where *b)
{
    if (a->st != b->st)
        return 0;
    if ((a->call || b->call) && (!a->call || !b->call || strcmp(a->call, b->call) != 0))
        return 0;
    return 1;
}

static void group_add(struct groups *gs, const struct where *w, const struct rp_proc *p, int rank)
{
    struct group *g = NULL;
    for (size_t i = 0; i < gs->n && !g; i++)
        if (same_where(&gs->g[i].w, w))
            g = &gs->g[i];
    if (!g) {
        gs->g = rp_xrealloc(gs->g, (gs->n + 1) * sizeof *gs->g);
        g = &gs->g[gs->n++];
        memset(g, 0, sizeof *g);
        g->w = *w;
        g->t_min = g->t_max = w->until;
        g->ranks = json_array();
        g->shared = json_array();
    }
    g->members++;
    rp_rankset_add(g->ranks, rank);
    if (w->until < g->t_min)
        g->t_min = w->until;
    if (w->until > g->t_max)
        g->t_max = w->until;
    if (p && p->dup_rank)
        json_array_append_new(g->shared, json_pack("[i, o]", p->rank,
                                                   json_sprintf("%s:%lld", p->host, p->pid)));
}

/* "ranks 0,2-5" with a shared rank as "1 (host:pid)", in rank order. */
static char *group_who(const struct group *g)
{
    struct rp_sb b = { 0 };
    json_t *run = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(g->ranks, i, r) {
        long long rank = json_integer_value(r);
        int shared = 0;
        size_t k;
        json_t *s;
        json_array_foreach(g->shared, k, s)
            if (json_integer_value(json_array_get(s, 0)) == rank) {
                if (!shared && json_array_size(run)) {
                    char *t = rp_ranks_text(run);
                    rp_sb_printf(&b, "%s%s", b.len ? "," : "", t);
                    free(t);
                    json_array_clear(run);
                }
                rp_sb_printf(&b, "%s%lld (%s)", b.len ? "," : "", rank,
                             json_string_value(json_array_get(s, 1)));
                shared = 1;
            }
        if (!shared)
            json_array_append_new(run, json_integer(rank));
    }
    if (json_array_size(run)) {
        char *t = rp_ranks_text(run);
        rp_sb_printf(&b, "%s%s", b.len ? "," : "", t);
        free(t);
    }
    json_decref(run);
    char *list = rp_sb_take(&b);
    char *out = rp_xasprintf("%s %s", g->members > 1 ? "ranks" : "rank", list);
    free(list);
    return out;
}

static void groups_free(struct groups *gs)
{
    for (size_t i = 0; i < gs->n; i++) {
        json_decref(gs->g[i].ranks);
        json_decref(gs->g[i].shared);
    }
    free(gs->g);
    gs->g = NULL;
    gs->n = 0;
}

static int cmp_group(const void *a, const void *b)
{
    const struct group *x = a, *y = b;
    if (x->w.st != y->w.st)
        return x->w.st < y->w.st ? -1 : 1;
    long long rx = json_integer_value(json_array_get(x->ranks, 0));
    long long ry = json_integer_value(json_array_get(y->ranks, 0));
    return (rx > ry) - (rx < ry);
}

/* Every process but `skip` (NULL: none) and every rank with no log, grouped by where it is. */
static void group_all(const struct rp_logs *L, const struct rp_proc *skip, const struct where *wh,
                      const json_t *missing, struct groups *gs)
{
    for (size_t i = 0; i < L->nprocs; i++)
        if (&L->procs[i] != skip)
            group_add(gs, &wh[i], &L->procs[i], L->procs[i].rank);
    struct where none = { ST_NO_LOG, NULL, 0 };
    size_t k;
    json_t *r;
    json_array_foreach(missing, k, r)
        group_add(gs, &none, NULL, (int)json_integer_value(r));
    qsort(gs->g, gs->n, sizeof *gs->g, cmp_group);
}

/* "rank 4 is gone (log ends at 10:00:03.120)"; gone ranks are one group whatever their end. */
static char *gone_phrase(const struct group *g, const char *who, const char *is)
{
    char *a = rp_clock(g->t_min), *b = rp_clock(g->t_max), *s;
    if (g->members == 1)
        s = rp_xasprintf("%s %s gone (log ends at %s)", who, is, a);
    else if (strcmp(a, b) == 0)
        s = rp_xasprintf("%s %s gone (logs end at %s)", who, is, a);
    else
        s = rp_xasprintf("%s %s gone (logs end between %s and %s)", who, is, a, b);
    free(a);
    free(b);
    return s;
}

static char *group_phrase(const struct group *g)
{
    int many = g->members > 1;
    const char *is = many ? "are" : "is", *has = many ? "have" : "has";
    char *who = group_who(g);
    char *s;
    switch (g->w.st) {
    case ST_BLOCKED: s = rp_xasprintf("%s %s blocked in %s", who, is, g->w.call); break;
    case ST_IN_FLIGHT: s = rp_xasprintf("%s %s in %s (in flight)", who, is, g->w.call); break;
    case ST_FINISHED: s = rp_xasprintf("%s %s finished", who, has); break;
    case ST_GONE: s = gone_phrase(g, who, is); break;
    default: s = rp_xasprintf("%s %s no log", who, has); break;
    }
    free(who);
    return s;
}

static const char *state_name(enum state st)
{
    static const char *const names[ST_COUNT] = { "blocked", "in_flight", "finished", "gone",
                                                 "no_log" };
    return names[st];
}

char *rp_call_context(const json_t *wd)
{
    struct rp_sb b = { 0 };
    const char *args = rp_str(wd, "args"), *py = rp_str(wd, "py"), *site = rp_str(wd, "site");
    if (args && *args)
        rp_sb_printf(&b, "%s", args);
    if (!rp_null(wd, "capture"))
        rp_sb_printf(&b, "%scapture %lld", b.len ? "; " : "", rp_int(wd, "capture", 0));
    else if (json_object_get(wd, "captures_active")) {
        long long n = rp_int(wd, "captures_active", 0);
        if (n == 0)
            rp_sb_printf(&b, "%sno capture active", b.len ? "; " : "");
        else
            rp_sb_printf(&b, "%s%lld capture%s active", b.len ? "; " : "", n, n == 1 ? "" : "s");
    }
    const char *where = (py && *py) ? py : (site && *site) ? site : NULL;
    if (where)
        rp_sb_printf(&b, "%s%s", b.len ? "; " : "", where);
    return rp_sb_take(&b);
}

static double blocked_for(const struct rp_proc *p, const struct rp_watch *w)
{
    double to_end = p->t_last - w->entry, ms = rp_num(w->last, "ms", 0) / 1000.0;
    return to_end > ms ? to_end : ms;
}

static char *sentence(const struct rp_logs *L, const struct rp_proc *p, const struct rp_watch *w,
                      const struct where *wh, const json_t *missing)
{
    struct groups gs = { 0 };
    struct rp_sb b = { 0 };
    char *who = rp_proc_label(p), *secs = rp_secs(blocked_for(p, w));
    char *ctx = rp_call_context(w->last);
    const char *call = rp_str(w->last, "call");
    rp_sb_printf(&b, "%s blocked %s in %s", who, secs, call ? call : "?");
    if (*ctx)
        rp_sb_printf(&b, " (%s)", ctx);
    group_all(L, p, wh, missing, &gs);
    for (size_t i = 0; i < gs.n; i++) {
        char *ph = group_phrase(&gs.g[i]);
        rp_sb_printf(&b, "%s%s", i == 0 ? " while " : i + 1 == gs.n ? " and " : ", ", ph);
        free(ph);
    }
    groups_free(&gs);
    free(who);
    free(secs);
    free(ctx);
    return rp_sb_take(&b);
}

static json_t *blocked_json(const struct rp_proc *p, const struct rp_watch *w)
{
    const json_t *wd = w->last;
    char *since = rp_clock(w->entry), *ctx = rp_call_context(wd);
    json_t *o = json_pack("{s:i, s:s, s:I, s:I, s:s?, s:I, s:f, s:s, s:f, s:I, s:I}", "rank",
                          p->rank, "host", p->host, "pid", (json_int_t)p->pid, "tid",
                          (json_int_t)w->tid, "call", rp_str(wd, "call"), "seq",
                          (json_int_t)w->seq, "entered", w->entry, "since", since, "blocked_s",
                          round(blocked_for(p, w) * 1000.0) / 1000.0, "ms",
                          (json_int_t)rp_int(wd, "ms", 0), "reports", (json_int_t)w->reports);
    static const char *const copy[] = { "capture", "captures_active", "args", "site", "py" };
    for (size_t i = 0; i < sizeof copy / sizeof copy[0]; i++) {
        json_t *v = json_object_get(wd, copy[i]);
        if (v)
            json_object_set(o, copy[i], v);
    }
    json_object_set_new(o, "context", json_string(ctx));
    free(since);
    free(ctx);
    return o;
}

json_t *rp_hang(const struct rp_logs *L)
{
    int any = 0;
    for (size_t i = 0; i < L->nprocs && !any; i++)
        any = blocked_of(&L->procs[i]) != NULL;
    if (!any)
        return NULL;
    json_t *missing = rp_ranks_no_log(L);
    struct where *wh = rp_xrealloc(NULL, (L->nprocs ? L->nprocs : 1) * sizeof *wh);
    for (size_t i = 0; i < L->nprocs; i++)
        wh[i] = where_of(&L->procs[i]);

    json_t *sentences = json_array(), *blocked = json_array(), *positions = json_array();
    for (size_t i = 0; i < L->nprocs; i++) {
        const struct rp_proc *p = &L->procs[i];
        const struct rp_watch *first = blocked_of(p);
        if (!first)
            continue;
        char *s = sentence(L, p, first, wh, missing);
        json_array_append_new(sentences, json_string(s));
        free(s);
        for (size_t k = 0; k < p->nwatch; k++)
            if (!p->watch[k].done)
                json_array_append_new(blocked, blocked_json(p, &p->watch[k]));
    }
    struct groups gs = { 0 };
    group_all(L, NULL, wh, missing, &gs);
    for (size_t i = 0; i < gs.n; i++) {
        const struct group *g = &gs.g[i];
        json_t *o = json_pack("{s:s, s:O, s:i}", "state", state_name(g->w.st), "ranks", g->ranks,
                              "members", g->members);
        if (g->w.call)
            json_object_set_new(o, "call", json_string(g->w.call));
        if (g->w.st == ST_GONE) {
            json_object_set_new(o, "log_ends_first", json_real(g->t_min));
            json_object_set_new(o, "log_ends_last", json_real(g->t_max));
        }
        if (json_array_size(g->shared))
            json_object_set(o, "shared", g->shared);
        json_array_append_new(positions, o);
    }
    groups_free(&gs);
    free(wh);
    json_decref(missing);
    return json_pack("{s:o, s:o, s:o}", "sentences", sentences, "blocked", blocked, "positions",
                     positions);
}
