/* The report's header: what was read (files, lines, lines skipped as garbled or truncated, per
 * file), the hosts, the processes, which ranks have a log against the world size the start
 * lines give (ranks 0..world_size-1 without one are "no log"), ranks claimed by several
 * processes, the time the logs span, and the flight-recorder dumps (one cut short says so).
 * Must never: count a pad line as skipped, or guess a world size no start line gave.
 */
#include <stdlib.h>
#include <string.h>
#include "report.h"

static json_t *files_json(const struct rp_logs *L)
{
    json_t *a = json_array();
    for (size_t i = 0; i < L->nfiles; i++) {
        const struct rp_file *f = &L->files[i];
        json_array_append_new(a, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "path", f->path,
                                           "lines", (json_int_t)f->lines, "events",
                                           (json_int_t)f->events, "garbled", (json_int_t)f->garbled,
                                           "truncated", (json_int_t)f->truncated, "pads",
                                           (json_int_t)f->pads));
    }
    return a;
}

static json_t *procs_json(const struct rp_logs *L)
{
    json_t *a = json_array();
    for (size_t i = 0; i < L->nprocs; i++) {
        const struct rp_proc *p = &L->procs[i];
        json_array_append_new(a, json_pack("{s:i, s:s, s:I, s:s, s:I, s:f, s:f, s:b}", "rank",
                                           p->rank, "host", p->host, "pid", (json_int_t)p->pid,
                                           "file", p->file, "events",
                                           (json_int_t)json_array_size(p->evs), "first_ts",
                                           p->t_first, "last_ts", p->t_last, "finished",
                                           p->finished));
    }
    return a;
}

/* Ranks that more than one process claims, each with its processes ("host:pid"). */
static json_t *shared_ranks(const struct rp_logs *L)
{
    json_t *a = json_array();
    for (size_t i = 0; i < L->nprocs;) {
        size_t j = i;
        while (j < L->nprocs && L->procs[j].rank == L->procs[i].rank)
            j++;
        if (j - i > 1) {
            json_t *who = json_array();
            for (size_t k = i; k < j; k++)
                json_array_append_new(who, json_sprintf("%s:%lld", L->procs[k].host,
                                                        L->procs[k].pid));
            json_array_append_new(a, json_pack("{s:i, s:o}", "rank", L->procs[i].rank,
                                               "processes", who));
        }
        i = j;
    }
    return a;
}

static json_t *recorder_json(const struct rp_logs *L)
{
    json_t *ranks = json_array(), *reasons = json_array(), *cut = json_array();
    long dumps = 0;
    for (size_t i = 0; i < L->nprocs; i++) {
        const struct rp_proc *p = &L->procs[i];
        for (size_t d = 0; d < p->ndumps; d++) {
            const struct rp_dump *dp = &p->dumps[d];
            dumps++;
            rp_rankset_add(ranks, p->rank);
            const char *why = dp->hdr ? rp_str(dp->hdr, "reason") : NULL;
            int seen = 0;
            size_t k;
            json_t *r;
            json_array_foreach(reasons, k, r)
                seen |= why && strcmp(json_string_value(r), why) == 0;
            if (why && !seen)
                json_array_append_new(reasons, json_string(why));
            if (dp->kept >= 0 && (long)dp->nrecs < dp->kept)
                json_array_append_new(cut, json_pack("{s:i, s:s, s:I, s:I, s:I, s:I}", "rank",
                                                     p->rank, "host", p->host, "pid",
                                                     (json_int_t)p->pid, "dump",
                                                     (json_int_t)dp->dump, "kept",
                                                     (json_int_t)dp->kept, "read",
                                                     (json_int_t)dp->nrecs));
        }
    }
    if (!dumps) {
        json_decref(ranks);
        json_decref(reasons);
        json_decref(cut);
        return NULL;
    }
    return json_pack("{s:I, s:o, s:o, s:o}", "dumps", (json_int_t)dumps, "ranks", ranks,
                     "reasons", reasons, "cut_short", cut);
}

json_t *rp_ranks_no_log(const struct rp_logs *L)
{
    json_t *missing = json_array();
    size_t i = 0; /* procs are sorted by rank */
    for (int r = 0; r < L->world_size; r++) {
        while (i < L->nprocs && L->procs[i].rank < r)
            i++;
        if (i == L->nprocs || L->procs[i].rank != r)
            rp_rankset_add(missing, r);
    }
    return missing;
}

json_t *rp_header(const struct rp_logs *L)
{
    json_t *hosts = json_array(), *present = json_array(), *missing = rp_ranks_no_log(L);
    for (size_t i = 0; i < L->nprocs; i++) {
        const struct rp_proc *p = &L->procs[i];
        int seen = 0;
        size_t k;
        json_t *h;
        json_array_foreach(hosts, k, h)
            seen |= strcmp(json_string_value(h), p->host) == 0;
        if (!seen)
            json_array_append_new(hosts, json_string(p->host));
        rp_rankset_add(present, p->rank);
    }
    json_t *h = json_pack("{s:I, s:I, s:{s:I, s:I}, s:I, s:I}", "files", (json_int_t)L->nfiles,
                          "lines", (json_int_t)L->lines, "skipped", "garbled",
                          (json_int_t)L->garbled, "truncated", (json_int_t)L->truncated, "pads",
                          (json_int_t)L->pads, "events", (json_int_t)L->events);
    json_object_set_new(h, "per_file", files_json(L));
    json_object_set_new(h, "hosts", hosts);
    json_object_set_new(h, "processes", procs_json(L));
    json_object_set_new(h, "ranks_present", present);
    json_object_set_new(h, "world_size", json_integer(L->world_size));
    json_object_set_new(h, "ranks_no_log", missing);
    json_object_set_new(h, "ranks_shared", shared_ranks(L));
    json_object_set_new(h, "first_ts", json_real(L->t0));
    json_object_set_new(h, "last_ts", json_real(L->t1));
    json_t *rec = recorder_json(L);
    if (rec)
        json_object_set_new(h, "recorder", rec);
    return h;
}
