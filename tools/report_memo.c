/* The MEMO part of REPEATED INITS AND MEMO: each process's sequence of memo decisions as
 * (call, decision) pairs, counted by decision, compared with the lowest rank's: the first index
 * where a process's sequence differs (or ends, or goes on) names both entries; processes that
 * diverge at the same index with the same entries are grouped. Must never: compare keys (they
 * differ between ranks in the rank and in pointers by design).
 */
#include <stdlib.h>
#include <string.h>
#include "report.h"

static json_t *sequence_of(const struct rp_proc *p, json_t *by_decision)
{
    json_t *seq = json_array();
    size_t k;
    json_t *ev;
    json_array_foreach(p->evs, k, ev) {
        if (!rp_is(ev, "memo"))
            continue;
        const char *call = rp_str(ev, "call"), *d = rp_str(ev, "decision");
        json_array_append_new(seq, json_pack("[s,s]", call ? call : "?", d ? d : "?"));
        rp_count(by_decision, d ? d : "?", 1);
    }
    return seq;
}

/* The first index where the sequences differ, or -1 when they are the same. */
static long first_difference(const json_t *a, const json_t *b)
{
    size_t na = json_array_size(a), nb = json_array_size(b), n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++)
        if (!json_equal(json_array_get(a, i), json_array_get(b, i)))
            return (long)i;
    return na == nb ? -1 : (long)n;
}

static char *pair_text(const json_t *pair)
{
    return rp_xasprintf("%s %s", json_string_value(json_array_get(pair, 0)),
                        json_string_value(json_array_get(pair, 1)));
}

static char *divergence_text(const json_t *d, const char *ref_who)
{
    char *who = rp_ranks_text(json_object_get(d, "ranks"));
    int many = rp_ranks_count(json_object_get(d, "ranks")) > 1;
    long long i = rp_int(d, "index", 0);
    json_t *re = json_object_get(d, "reference_entry"), *me = json_object_get(d, "entry");
    char *rt = json_is_array(re) ? pair_text(re) : NULL;
    char *mt = json_is_array(me) ? pair_text(me) : NULL;
    char *s;
    if (rt && mt)
        s = rp_xasprintf("%s %s %s from %s at decision #%lld: %s has %s, %s %s has %s",
                         many ? "ranks" : "rank", who, many ? "diverge" : "diverges", ref_who, i,
                         ref_who, rt, many ? "ranks" : "rank", who, mt);
    else if (rt)
        s = rp_xasprintf("%s %s %s after %lld decisions, where %s goes on with #%lld %s",
                         many ? "ranks" : "rank", who, many ? "stop" : "stops", i, ref_who, i, rt);
    else
        s = rp_xasprintf("%s %s %s on after %s's %lld decisions with #%lld %s",
                         many ? "ranks" : "rank", who, many ? "go" : "goes", ref_who, i, i,
                         mt ? mt : "?");
    free(rt);
    free(mt);
    free(who);
    return s;
}

static void group_into(json_t *groups, const char *match_keys[], json_t *proto, int rank)
{
    size_t k;
    json_t *g;
    json_array_foreach(groups, k, g) {
        int same = 1;
        for (size_t m = 0; match_keys[m] && same; m++) {
            json_t *a = json_object_get(g, match_keys[m]);
            json_t *b = json_object_get(proto, match_keys[m]);
            same = (!a && !b) || (a && b && json_equal(a, b));
        }
        if (same) {
            rp_rankset_add(json_object_get(g, "ranks"), rank);
            json_decref(proto);
            return;
        }
    }
    json_object_set_new(proto, "ranks", json_array());
    rp_rankset_add(json_object_get(proto, "ranks"), rank);
    json_array_append_new(groups, proto);
}

json_t *rp_memo(const struct rp_logs *L)
{
    json_t *per = json_array(), *counts = json_array(), *div = json_array(), *same = json_array();
    json_t *ref = NULL;
    const struct rp_proc *refp = NULL;
    static const char *count_keys[] = { "decisions", "by_decision", NULL };
    static const char *div_keys[] = { "index", "reference_entry", "entry", NULL };
    for (size_t i = 0; i < L->nprocs; i++) {
        const struct rp_proc *p = &L->procs[i];
        json_t *by = json_object(), *seq = sequence_of(p, by);
        if (!json_array_size(seq)) {
            json_decref(seq);
            json_decref(by);
            continue;
        }
        json_array_append_new(per, json_pack("{s:i, s:s, s:I, s:I, s:O, s:o}", "rank", p->rank,
                                             "host", p->host, "pid", (json_int_t)p->pid,
                                             "decisions", (json_int_t)json_array_size(seq),
                                             "by_decision", by, "sequence", seq));
        group_into(counts, count_keys,
                   json_pack("{s:I, s:o}", "decisions", (json_int_t)json_array_size(seq),
                             "by_decision", by), p->rank);
        if (!ref) {
            ref = seq;
            refp = p;
            rp_rankset_add(same, p->rank);
            continue;
        }
        long at = first_difference(ref, seq);
        if (at < 0) {
            rp_rankset_add(same, p->rank);
            continue;
        }
        json_t *re = json_array_get(ref, (size_t)at), *me = json_array_get(seq, (size_t)at);
        group_into(div, div_keys,
                   json_pack("{s:I, s:O?, s:O?}", "index", (json_int_t)at, "reference_entry", re,
                             "entry", me), p->rank);
    }
    if (!ref) {
        json_decref(per);
        json_decref(counts);
        json_decref(div);
        json_decref(same);
        return NULL;
    }
    char *ref_who = rp_proc_label(refp);
    size_t k;
    json_t *d;
    json_array_foreach(div, k, d) {
        char *t = divergence_text(d, ref_who);
        json_object_set_new(d, "text", json_string(t));
        free(t);
    }
    json_t *o = json_pack("{s:{s:i, s:s, s:I}, s:o, s:o, s:o, s:o}", "reference", "rank",
                          refp->rank, "host", refp->host, "pid", (json_int_t)refp->pid, "counts",
                          counts, "same_as_reference", same, "divergences", div, "per_rank", per);
    json_object_set_new(o, "reference_label", json_string(ref_who));
    free(ref_who);
    return o;
}
