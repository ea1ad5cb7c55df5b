/* The sections that group events across ranks: VIOLATIONS by (call, site) with their reasons,
 * policy/actions and predicted codes; REPEATED INITS by (call, first_site, site), a key's
 * count and served taken from its last `repeat` in each process; CAPTURES begun, ended and
 * failed per rank (ranks with the same numbers grouped) and the cause of each failed capture;
 * WATCHDOG calls named and returned, by call; WARNINGS: the driver's error log's failures of
 * calls capguard does not hook during captures (`witness`) by (entry, site), and captures begun
 * on a device their warm-up did not use (`capture_device`) by (site, warm-up site).
 * Must never: add a key's cumulative counts twice.
 */
#include <stdlib.h>
#include <string.h>
#include "report.h"

/* A list of groups, each a jansson object, found by up to three string members. */
struct glist {
    json_t *a;
    const char *k1, *k2, *k3;
};

static int member_is(const json_t *g, const char *key, const char *v)
{
    if (!key)
        return 1;
    const char *s = rp_str(g, key);
    if (!v || !s)
        return !v && rp_null(g, key);
    return strcmp(s, v) == 0;
}

static json_t *group_of(struct glist *gl, const char *v1, const char *v2, const char *v3)
{
    size_t i;
    json_t *g;
    json_array_foreach(gl->a, i, g)
        if (member_is(g, gl->k1, v1) && member_is(g, gl->k2, v2) && member_is(g, gl->k3, v3))
            return g;
    g = json_object();
    json_object_set_new(g, gl->k1, v1 ? json_string(v1) : json_null());
    if (gl->k2)
        json_object_set_new(g, gl->k2, v2 ? json_string(v2) : json_null());
    if (gl->k3)
        json_object_set_new(g, gl->k3, v3 ? json_string(v3) : json_null());
    json_object_set_new(g, "ranks", json_array());
    json_array_append_new(gl->a, g);
    return g;
}

static void add_distinct(json_t *g, const char *key, json_t *v)
{
    json_t *a = json_object_get(g, key);
    if (!a) {
        a = json_array();
        json_object_set_new(g, key, a);
    }
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x)
        if (json_equal(x, v)) {
            json_decref(v);
            return;
        }
    json_array_append_new(a, v);
}

/* The groups of `a` by their integer member `key`, largest first; equal ones keep their order
 * (an insertion sort: stable, and the groups are few). Takes `a`. */
static json_t *sorted_by(json_t *a, const char *key)
{
    size_t n = json_array_size(a);
    json_t **v = rp_xrealloc(NULL, (n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(a, i));
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && rp_int(v[j - 1], key, 0) < rp_int(v[j], key, 0); j--) {
            json_t *t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, v[i]);
    free(v);
    json_decref(a);
    return out;
}

static json_t *nonempty(json_t *a)
{
    if (json_array_size(a))
        return a;
    json_decref(a);
    return NULL;
}

json_t *rp_violations(const struct rp_logs *L)
{
    struct glist gl = { json_array(), "call", "site", NULL };
    for (size_t i = 0; i < L->nprocs; i++) {
        const struct rp_proc *p = &L->procs[i];
        size_t k;
        json_t *ev;
        json_array_foreach(p->evs, k, ev) {
            if (!rp_is(ev, "violation"))
                continue;
            json_t *g = group_of(&gl, rp_str(ev, "call"), rp_str(ev, "site"), NULL);
            rp_count(g, "count", 1);
            rp_rankset_add(json_object_get(g, "ranks"), p->rank);
            if (rp_str(ev, "class"))
                add_distinct(g, "classes", json_string(rp_str(ev, "class")));
            if (rp_str(ev, "reason"))
                add_distinct(g, "reasons", json_string(rp_str(ev, "reason")));
            if (!json_object_get(g, "actions"))
                json_object_set_new(g, "actions", json_object());
            char *pa = rp_xasprintf("%s/%s", rp_str(ev, "policy") ? rp_str(ev, "policy") : "?",
                                    rp_str(ev, "action") ? rp_str(ev, "action") : "?");
            rp_count(json_object_get(g, "actions"), pa, 1);
            free(pa);
            json_t *pred = json_object_get(ev, "predicted");
            if (json_is_integer(pred))
                add_distinct(g, "predicted", json_integer(json_integer_value(pred)));
            if (!rp_null(ev, "capture"))
                add_distinct(g, "captures", json_integer(rp_int(ev, "capture", 0)));
        }
    }
    return nonempty(sorted_by(gl.a, "count"));
}

json_t *rp_repeats(const struct rp_logs *L)
{
    struct glist gl = { json_array(), "call", "first_site", "site" };
    for (size_t i = 0; i < L->nprocs; i++) {
        const struct rp_proc *p = &L->procs[i];
        json_t *last = json_object(); /* key -> this process's last repeat of it */
        size_t k;
        json_t *ev;
        json_array_foreach(p->evs, k, ev) {
            if (!rp_is(ev, "repeat"))
                continue;
            json_t *g = group_of(&gl, rp_str(ev, "call"), rp_str(ev, "first_site"),
                                 rp_str(ev, "site"));
            rp_count(g, "count", 1);
            rp_rankset_add(json_object_get(g, "ranks"), p->rank);
            if (rp_int(ev, "count", 0) > rp_int(g, "max_count", 0))
                json_object_set_new(g, "max_count", json_integer(rp_int(ev, "count", 0)));
            json_object_set(last, rp_str(ev, "key") ? rp_str(ev, "key") : "", ev);
        }
        const char *key;
        json_t *ev2;
        json_object_foreach(last, key, ev2) {
            json_t *g = group_of(&gl, rp_str(ev2, "call"), rp_str(ev2, "first_site"),
                                 rp_str(ev2, "site"));
            rp_count(g, "served", rp_int(ev2, "served", 0));
            rp_count(g, "keys", 1);
        }
        json_decref(last);
    }
    return nonempty(sorted_by(gl.a, "count"));
}

json_t *rp_warnings(const struct rp_logs *L)
{
    struct glist wl = { json_array(), "entry", "site", NULL }, dl = { json_array(), "site", "warmup_site", NULL };
    for (size_t i = 0; i < L->nprocs; i++) {
        const struct rp_proc *p = &L->procs[i];
        size_t k, j;
        json_t *ev, *d;
        json_array_foreach(p->evs, k, ev) {
            json_t *g;
            if (rp_is(ev, "witness") && json_is_true(json_object_get(ev, "concerns_capture"))) {
                g = group_of(&wl, rp_str(ev, "entry"), rp_str(ev, "site"), NULL);
                add_distinct(g, "codes", json_integer(rp_int(ev, "code", 0)));
                if (rp_str(ev, "message") && !json_object_get(g, "message"))
                    json_object_set_new(g, "message", json_string(rp_str(ev, "message")));
            } else if (rp_is(ev, "capture_device")) {
                g = group_of(&dl, rp_str(ev, "site"), rp_str(ev, "warmup_site"), NULL);
                add_distinct(g, "devices", json_integer(rp_int(ev, "device", 0)));
                json_array_foreach(json_object_get(ev, "warmup_devices"), j, d)
                    add_distinct(g, "warmup_devices", json_integer(json_integer_value(d)));
            } else {
                continue;
            }
            rp_count(g, "count", 1);
            rp_rankset_add(json_object_get(g, "ranks"), p->rank);
        }
    }
    json_t *w = nonempty(sorted_by(wl.a, "count")), *dv = nonempty(sorted_by(dl.a, "count"));
    if (!w && !dv)
        return NULL;
    json_t *out = json_object();
    if (w)
        json_object_set_new(out, "unhooked", w);
    if (dv)
        json_object_set_new(out, "devices", dv);
    return out;
}

struct cap_counts {
    long long begun, ended, failed, open, untracked;
};

static void count_captures(const struct rp_proc *p, struct cap_counts *c, json_t *failed)
{
    json_t *open = json_object(); /* capture id -> 1 while begun and not ended */
    size_t k;
    json_t *ev;
    memset(c, 0, sizeof *c);
    json_array_foreach(p->evs, k, ev) {
        char id[32];
        snprintf(id, sizeof id, "%lld", rp_int(ev, "capture", -1));
        if (rp_is(ev, "capture_begin")) {
            c->begun++;
            json_object_set_new(open, id, json_true());
        } else if (rp_is(ev, "capture_end")) {
            c->ended++;
            json_object_del(open, id);
            long long rc = rp_int(ev, "rc", 0);
            if (rc == 0)
                continue;
            c->failed++;
            struct glist gl = { failed, "cause", NULL, NULL };
            json_t *g = group_of(&gl, rp_str(ev, "cause"), NULL, NULL);
            rp_count(g, "count", 1);
            rp_rankset_add(json_object_get(g, "ranks"), p->rank);
            add_distinct(g, "rc", json_integer(rc));
            add_distinct(g, "captures", json_integer(rp_int(ev, "capture", -1)));
        } else if (rp_is(ev, "capture_untracked")) {
            c->untracked++;
        }
    }
    c->open = (long long)json_object_size(open);
    json_decref(open);
}

json_t *rp_captures(const struct rp_logs *L)
{
    json_t *per = json_array(), *failed = json_array();
    long long total = 0;
    for (size_t i = 0; i < L->nprocs; i++) {
        struct cap_counts c;
        count_captures(&L->procs[i], &c, failed);
        total += c.begun + c.ended + c.untracked;
        json_t *row = json_pack("{s:I, s:I, s:I, s:I, s:I}", "begun", (json_int_t)c.begun,
                                "ended", (json_int_t)c.ended, "failed", (json_int_t)c.failed,
                                "open", (json_int_t)c.open, "untracked", (json_int_t)c.untracked);
        json_t *g = NULL;
        size_t k;
        json_t *x;
        json_array_foreach(per, k, x) {
            json_t *nums = json_deep_copy(x);
            json_object_del(nums, "ranks");
            int same = json_equal(nums, row);
            json_decref(nums);
            if (same) {
                g = x;
                break;
            }
        }
        if (!g) {
            g = row;
            json_object_set_new(g, "ranks", json_array());
            json_array_append_new(per, g);
        } else {
            json_decref(row);
        }
        rp_rankset_add(json_object_get(g, "ranks"), L->procs[i].rank);
    }
    if (!total) {
        json_decref(per);
        json_decref(failed);
        return NULL;
    }
    return json_pack("{s:o, s:o}", "per_rank", per, "failed", sorted_by(failed, "count"));
}

json_t *rp_watchdog(const struct rp_logs *L)
{
    struct glist gl = { json_array(), "call", NULL, NULL };
    long long bound = 0;
    for (size_t i = 0; i < L->nprocs; i++) {
        const struct rp_proc *p = &L->procs[i];
        for (size_t k = 0; k < p->nwatch; k++) {
            const struct rp_watch *w = &p->watch[k];
            json_t *g = group_of(&gl, rp_str(w->last, "call"), NULL, NULL);
            rp_count(g, "named", 1);
            rp_count(g, w->done ? "returned" : "blocked", 1);
            if (!json_object_get(g, w->done ? "blocked" : "returned"))
                json_object_set_new(g, w->done ? "blocked" : "returned", json_integer(0));
            long long ms = rp_int(w->done ? w->done : w->last, "ms", 0);
            if (ms > rp_int(g, "longest_ms", 0))
                json_object_set_new(g, "longest_ms", json_integer(ms));
            rp_rankset_add(json_object_get(g, "ranks"), p->rank);
        }
        size_t k;
        json_t *ev;
        json_array_foreach(p->evs, k, ev)
            if (rp_is(ev, "summary_watchdog") && rp_int(ev, "watchdog_ms", 0) > bound)
                bound = rp_int(ev, "watchdog_ms", 0);
    }
    json_t *groups = nonempty(sorted_by(gl.a, "named"));
    if (!groups)
        return NULL;
    json_t *o = json_pack("{s:o}", "calls", groups);
    if (bound)
        json_object_set_new(o, "watchdog_ms", json_integer(bound));
    return o;
}
