/* The FINGERPRINTS section: per capture id, each rank's hash of the NCCL collectives it
 * captured (`fingerprint` events; a `fingerprint_mismatch` also gives its writer's hash and,
 * with its peer's, the first differing collective). Ranks with the same hash are grouped; each
 * other group is compared with the lowest rank's: the first differing collective (index) and
 * both sides' entries, from the `list` arrays, else from a mismatch report between the two.
 * Must never: call two lists different only because one stops at the line's bound.
 */
#include <stdlib.h>
#include <string.h>
#include "report.h"

static json_t *capture_of(json_t *caps, long long id)
{
    size_t i;
    json_t *c;
    json_array_foreach(caps, i, c)
        if (rp_int(c, "capture", -1) == id)
            return c;
    c = json_pack("{s:I, s:[], s:[], s:[]}", "capture", (json_int_t)id, "hashes", "reports",
                  "without");
    /* Keep the captures in id order. */
    size_t at = json_array_size(caps);
    while (at > 0 && rp_int(json_array_get(caps, at - 1), "capture", 0) > id)
        at--;
    json_array_insert_new(caps, at, c);
    return c;
}

/* The group of `hash` in capture `c`, made from `fp` (a fingerprint or a mismatch) if new. */
static json_t *hash_group(json_t *c, const char *hash, const json_t *fp)
{
    json_t *hashes = json_object_get(c, "hashes"), *g = NULL;
    for (size_t i = 0; i < json_array_size(hashes) && !g; i++)
        if (strcmp(rp_str(json_array_get(hashes, i), "hash"), hash) == 0)
            g = json_array_get(hashes, i);
    if (!g) {
        g = json_pack("{s:s, s:[]}", "hash", hash, "ranks");
        json_array_append_new(hashes, g);
    }
    if (rp_is(fp, "fingerprint") && !json_object_get(g, "list")) {
        static const char *const copy[] = { "colls", "shown", "list" };
        for (size_t k = 0; k < sizeof copy / sizeof copy[0]; k++)
            if (json_object_get(fp, copy[k]))
                json_object_set(g, copy[k], json_object_get(fp, copy[k]));
    }
    return g;
}

static void collect(const struct rp_logs *L, json_t *caps, json_t *fp_ranks)
{
    for (size_t i = 0; i < L->nprocs; i++) {
        const struct rp_proc *p = &L->procs[i];
        json_t *mine = json_object(); /* capture id -> this process's hash */
        size_t k;
        json_t *ev;
        json_array_foreach(p->evs, k, ev) {
            int fp = rp_is(ev, "fingerprint"), mm = rp_is(ev, "fingerprint_mismatch");
            if ((!fp && !mm) || !rp_str(ev, "hash"))
                continue;
            long long id = rp_int(ev, "capture", -1);
            json_t *c = capture_of(caps, id);
            char key[32];
            snprintf(key, sizeof key, "%lld", id);
            rp_rankset_add(fp_ranks, p->rank);
            if (mm)
                json_array_append_new(json_object_get(c, "reports"),
                    json_pack("{s:i, s:I, s:s, s:s?, s:O?, s:s?, s:s?}", "rank", p->rank,
                              "peer_rank", (json_int_t)rp_int(ev, "peer_rank", -1), "hash",
                              rp_str(ev, "hash"), "peer_hash", rp_str(ev, "peer_hash"),
                              "first_difference", json_object_get(ev, "first_difference"),
                              "mine", rp_str(ev, "mine"), "theirs", rp_str(ev, "theirs")));
            /* A fingerprint is the process's own record; a mismatch only stands in for one. */
            if (fp || !json_object_get(mine, key)) {
                json_object_set_new(mine, key, json_string(rp_str(ev, "hash")));
                hash_group(c, rp_str(ev, "hash"), ev);
            }
        }
        const char *key;
        json_t *h;
        json_object_foreach(mine, key, h) {
            json_t *c = capture_of(caps, strtoll(key, NULL, 10));
            rp_rankset_add(json_object_get(hash_group(c, json_string_value(h), NULL), "ranks"),
                           p->rank);
        }
        json_decref(mine);
    }
}

/* A mismatch entry ("mine"/"theirs": JSON text, empty when that list is shorter) as text. */
static char *report_entry(const char *s)
{
    if (!s || !*s)
        return rp_xstrdup("(none: its list is shorter)");
    json_error_t err;
    json_t *e = json_loads(s, 0, &err);
    char *t = e ? rp_entry_text(e) : rp_xstrdup(s);
    json_decref(e);
    return t;
}

static char *list_entry(const json_t *list, long i)
{
    json_t *e = json_array_get(list, (size_t)i);
    return e ? rp_entry_text(e) : rp_xstrdup("(none: its list is shorter)");
}

/* Where group `g` first differs from the reference group `r`; NULL when nothing says. */
static json_t *difference(const json_t *c, const json_t *r, const json_t *g)
{
    json_t *lr = json_object_get(r, "list"), *lg = json_object_get(g, "list");
    char *er = NULL, *eg = NULL;
    json_t *index = NULL;
    const char *note = NULL;
    if (json_is_array(lr) && json_is_array(lg)) {
        size_t nr = json_array_size(lr), ng = json_array_size(lg), n = nr < ng ? nr : ng, i;
        for (i = 0; i < n && json_equal(json_array_get(lr, i), json_array_get(lg, i)); i++)
            ;
        int whole_r = rp_int(r, "shown", (long long)nr) >= rp_int(r, "colls", (long long)nr);
        int whole_g = rp_int(g, "shown", (long long)ng) >= rp_int(g, "colls", (long long)ng);
        if (i < n || (nr != ng && whole_r && whole_g)) {
            index = json_integer((json_int_t)i);
            er = list_entry(lr, (long)i);
            eg = list_entry(lg, (long)i);
        } else {
            note = "the lists agree as far as the log shows them";
        }
    }
    if (!index) {
        size_t k;
        json_t *m;
        json_array_foreach(json_object_get(c, "reports"), k, m) {
            const char *h = rp_str(m, "hash"), *ph = rp_str(m, "peer_hash");
            if (!h || !ph || !json_is_integer(json_object_get(m, "first_difference")))
                continue;
            int fwd = !strcmp(h, rp_str(r, "hash")) && !strcmp(ph, rp_str(g, "hash"));
            int back = !strcmp(h, rp_str(g, "hash")) && !strcmp(ph, rp_str(r, "hash"));
            if (!fwd && !back)
                continue;
            index = json_integer(json_integer_value(json_object_get(m, "first_difference")));
            er = report_entry(rp_str(m, fwd ? "mine" : "theirs"));
            eg = report_entry(rp_str(m, fwd ? "theirs" : "mine"));
            note = NULL;
            break;
        }
    }
    if (!index && !note)
        return NULL;
    json_t *d = json_pack("{s:O, s:O, s:o?, s:s?, s:s?, s:s?}", "ranks",
                          json_object_get(g, "ranks"), "reference_ranks",
                          json_object_get(r, "ranks"), "index", index, "reference_entry", er,
                          "entry", eg, "note", note);
    const json_t *rr = json_object_get(r, "ranks"), *gr = json_object_get(g, "ranks");
    char *rw = rp_ranks_text(rr), *gw = rp_ranks_text(gr);
    int rm = rp_ranks_count(rr) > 1, gm = rp_ranks_count(gr) > 1;
    char *t = index ? rp_xasprintf("first difference at collective #%lld: %s %s %s; %s %s %s",
                                   (long long)json_integer_value(index), rm ? "ranks" : "rank",
                                   rw, er, gm ? "ranks" : "rank", gw, eg)
                    : rp_xasprintf("%s %s vs %s %s: %s", rm ? "ranks" : "rank", rw,
                                   gm ? "ranks" : "rank", gw, note);
    json_object_set_new(d, "text", json_string(t));
    free(t);
    free(rw);
    free(gw);
    free(er);
    free(eg);
    return d;
}

json_t *rp_fingerprints(const struct rp_logs *L)
{
    json_t *caps = json_array(), *fp_ranks = json_array();
    collect(L, caps, fp_ranks);
    if (!json_array_size(caps)) {
        json_decref(caps);
        json_decref(fp_ranks);
        return NULL;
    }
    int all_agree = 1;
    size_t i;
    json_t *c;
    json_array_foreach(caps, i, c) {
        json_t *hashes = json_object_get(c, "hashes"), *present = json_array();
        size_t k;
        json_t *g;
        json_array_foreach(hashes, k, g) {
            size_t j;
            json_t *r;
            json_array_foreach(json_object_get(g, "ranks"), j, r)
                rp_rankset_add(present, json_integer_value(r));
        }
        json_array_foreach(fp_ranks, k, g)
            if (!rp_rankset_has(present, json_integer_value(g)))
                rp_rankset_add(json_object_get(c, "without"), json_integer_value(g));
        json_decref(present);
        int agree = json_array_size(hashes) <= 1 && !json_array_size(json_object_get(c, "reports"));
        json_object_set_new(c, "agree", json_boolean(agree));
        all_agree &= agree && !json_array_size(json_object_get(c, "without"));
        json_t *diffs = json_array();
        for (k = 1; k < json_array_size(hashes); k++) {
            json_t *d = difference(c, json_array_get(hashes, 0), json_array_get(hashes, k));
            if (d)
                json_array_append_new(diffs, d);
        }
        json_object_set_new(c, "differences", diffs);
    }
    return json_pack("{s:b, s:o, s:o}", "all_agree", all_agree, "ranks", fp_ranks, "captures",
                     caps);
}
