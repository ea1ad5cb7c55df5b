/* The text form of the report (stdout by default, and the summary of the --html page): one
 * line per finding, a section only when it has content, drawn from the report object alone.
 * Must never: compute a finding (the analysis does; this only words it), or wrap a line (the
 * tests and the users grep them).
 */
#include <stdlib.h>
#include <string.h>
#include "report.h"

static const char *plural(long long n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* "rank 3" / "ranks 0,2-5" */
static char *who(const json_t *set)
{
    char *list = rp_ranks_text(set);
    char *s = rp_xasprintf("%s %s", plural(rp_ranks_count(set), "rank", "ranks"), list);
    free(list);
    return s;
}

static void strings_joined(FILE *out, const json_t *a, const char *sep)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
        fprintf(out, "%s%s", i ? sep : "", json_string_value(v));
}

/* `lead` then the integers of `a` joined by commas; nothing for an empty or absent array. */
static void ints_joined(FILE *out, const char *lead, const json_t *a)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
        fprintf(out, "%s%lld", i ? "," : lead, (long long)json_integer_value(v));
}

static void header(FILE *out, const json_t *h)
{
    const json_t *sk = json_object_get(h, "skipped");
    long long garbled = rp_int(sk, "garbled", 0), truncated = rp_int(sk, "truncated", 0);
    fprintf(out, "capguard report: %lld %s, %lld lines read, %lld skipped (garbled %lld, "
            "truncated %lld)\n",
            rp_int(h, "files", 0), plural(rp_int(h, "files", 0), "file", "files"),
            rp_int(h, "lines", 0), garbled + truncated, garbled, truncated);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(h, "per_file"), i, f)
        if (rp_int(f, "garbled", 0) || rp_int(f, "truncated", 0))
            fprintf(out, "  %s: garbled %lld, truncated %lld\n", rp_str(f, "path"),
                    rp_int(f, "garbled", 0), rp_int(f, "truncated", 0));
    const json_t *hosts = json_object_get(h, "hosts");
    const json_t *present = json_object_get(h, "ranks_present");
    size_t nproc = json_array_size(json_object_get(h, "processes"));
    char *pr = rp_ranks_text(present);
    fprintf(out, "%s: ", plural((long long)json_array_size(hosts), "host", "hosts"));
    strings_joined(out, hosts, ", ");
    fprintf(out, "; %zu %s; %s %s present", nproc, plural((long long)nproc, "process", "processes"),
            plural(rp_ranks_count(present), "rank", "ranks"), pr);
    if (rp_int(h, "world_size", 0))
        fprintf(out, " / world size %lld", rp_int(h, "world_size", 0));
    else
        fputs(" (no start line gives the world size)", out);
    const json_t *missing = json_object_get(h, "ranks_no_log");
    if (json_array_size(missing)) {
        char *m = rp_ranks_text(missing);
        fprintf(out, "; no log: %s %s", plural(rp_ranks_count(missing), "rank", "ranks"), m);
        free(m);
    }
    fputc('\n', out);
    free(pr);
    json_array_foreach(json_object_get(h, "ranks_shared"), i, f) {
        fprintf(out, "rank %lld is claimed by %zu processes: ", rp_int(f, "rank", 0),
                json_array_size(json_object_get(f, "processes")));
        strings_joined(out, json_object_get(f, "processes"), ", ");
        fputc('\n', out);
    }
    char *range = rp_time_range(rp_num(h, "first_ts", 0), rp_num(h, "last_ts", 0));
    char *len = rp_secs(rp_num(h, "last_ts", 0) - rp_num(h, "first_ts", 0));
    fprintf(out, "time: %s UTC (%s)\n", range, len);
    free(range);
    free(len);
    const json_t *rec = json_object_get(h, "recorder");
    if (rec) {
        char *r = who(json_object_get(rec, "ranks"));
        fprintf(out, "flight recorder: %lld %s from %s (", rp_int(rec, "dumps", 0),
                plural(rp_int(rec, "dumps", 0), "dump", "dumps"), r);
        strings_joined(out, json_object_get(rec, "reasons"), ", ");
        fputc(')', out);
        json_array_foreach(json_object_get(rec, "cut_short"), i, f)
            fprintf(out, "%s rank %lld dump %lld (%lld of %lld entries)", i ? "," : "; cut short:",
                    rp_int(f, "rank", 0), rp_int(f, "dump", 0), rp_int(f, "read", 0),
                    rp_int(f, "kept", 0));
        fputc('\n', out);
        free(r);
    }
}

static void hang(FILE *out, const json_t *s)
{
    size_t i;
    json_t *v;
    fputs("\nHANG\n", out);
    json_array_foreach(json_object_get(s, "sentences"), i, v)
        fprintf(out, "  %s\n", json_string_value(v));
    json_array_foreach(json_object_get(s, "blocked"), i, v) {
        long long reports = rp_int(v, "reports", 0);
        fprintf(out, "    rank %lld (%s:%lld) tid %lld: %s since %s (call #%lld of its thread; "
                "named %lld %s, %lld ms at the last)", rp_int(v, "rank", 0), rp_str(v, "host"),
                rp_int(v, "pid", 0), rp_int(v, "tid", 0),
                rp_str(v, "call") ? rp_str(v, "call") : "?", rp_str(v, "since"),
                rp_int(v, "seq", 0), reports, plural(reports, "time", "times"), rp_int(v, "ms", 0));
        if (rp_str(v, "py") && rp_str(v, "site"))
            fprintf(out, "; native site %s", rp_str(v, "site"));
        fputc('\n', out);
    }
}

/* One line per group (each with "ranks"), which `line` words given the ranks' text. */
typedef void group_line(FILE *out, const json_t *g, const char *ranks);

static void each_group(FILE *out, const json_t *groups, const char *lead, group_line *line)
{
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g) {
        char *r = who(json_object_get(g, "ranks"));
        fprintf(out, "  %s", lead);
        line(out, g, r);
        fputc('\n', out);
        free(r);
    }
}

/* "record 2, serve 1": the members of an object of counts, `lead` first. */
static void counts_joined(FILE *out, const char *lead, const json_t *o)
{
    const char *k;
    json_t *n;
    size_t m = 0;
    json_object_foreach((json_t *)o, k, n)
        fprintf(out, "%s%s %lld", m++ ? ", " : lead, k, (long long)json_integer_value(n));
}

static const char *or_q(const json_t *g, const char *key)
{
    return rp_str(g, key) ? rp_str(g, key) : "?";
}

static void violation_line(FILE *out, const json_t *g, const char *ranks)
{
    fprintf(out, "%lld x %s at %s (%s): ", rp_int(g, "count", 0), or_q(g, "call"),
            or_q(g, "site"), ranks);
    strings_joined(out, json_object_get(g, "reasons"), " / ");
    counts_joined(out, "; ", json_object_get(g, "actions"));
    ints_joined(out, "; predicted ", json_object_get(g, "predicted"));
}

static void repeat_line(FILE *out, const json_t *g, const char *ranks)
{
    const char *fs = rp_str(g, "first_site"), *site = rp_str(g, "site");
    fprintf(out, "%s at %s", or_q(g, "call"), site ? site : "?");
    if (fs && (!site || strcmp(fs, site) != 0))
        fprintf(out, " (first at %s)", fs);
    fprintf(out, ": %lld %s on %s, up to %lld inits of one key, %lld served",
            rp_int(g, "count", 0), plural(rp_int(g, "count", 0), "repeat", "repeats"), ranks,
            rp_int(g, "max_count", 0), rp_int(g, "served", 0));
}

static void memo_count_line(FILE *out, const json_t *g, const char *ranks)
{
    fprintf(out, "%s: %lld %s", ranks, rp_int(g, "decisions", 0),
            plural(rp_int(g, "decisions", 0), "decision", "decisions"));
    counts_joined(out, " (", json_object_get(g, "by_decision"));
    fputc(')', out);
}

static void unhooked_line(FILE *out, const json_t *g, const char *ranks)
{
    fprintf(out, "%lld x %s at %s (%s), not hooked: returned", rp_int(g, "count", 0), or_q(g, "entry"),
            or_q(g, "site"), ranks);
    ints_joined(out, " ", json_object_get(g, "codes"));
    if (rp_str(g, "message"))
        fprintf(out, "; the driver's error log: \"%s\"", rp_str(g, "message"));
}

static void device_line(FILE *out, const json_t *g, const char *ranks)
{
    fprintf(out, "%lld x a capture begun at %s (%s) on device", rp_int(g, "count", 0), or_q(g, "site"), ranks);
    ints_joined(out, " ", json_object_get(g, "devices"));
    fputs(", but its warm-up allocated on device", out);
    ints_joined(out, " ", json_object_get(g, "warmup_devices"));
    fprintf(out, " (first at %s)", or_q(g, "warmup_site"));
}

static void warnings(FILE *out, const json_t *w)
{
    fputs("\nWARNINGS\n", out);
    each_group(out, json_object_get(w, "unhooked"), "", unhooked_line);
    each_group(out, json_object_get(w, "devices"), "", device_line);
}

static void violations(FILE *out, const json_t *a)
{
    fputs("\nVIOLATIONS\n", out);
    each_group(out, a, "", violation_line);
}

static void repeats_and_memo(FILE *out, const json_t *rep, const json_t *memo)
{
    fputs("\nREPEATED INITS AND MEMO\n", out);
    each_group(out, rep, "", repeat_line);
    if (!memo)
        return;
    each_group(out, json_object_get(memo, "counts"), "memo: ", memo_count_line);
    const json_t *same = json_object_get(memo, "same_as_reference");
    if (!json_array_size(json_object_get(memo, "divergences"))) {
        if (rp_ranks_count(same) > 1) {
            char *r = who(same);
            fprintf(out, "  memo: %s made the same decisions in the same order\n", r);
            free(r);
        }
        return;
    }
    size_t i;
    json_t *g;
    json_array_foreach(json_object_get(memo, "divergences"), i, g)
        fprintf(out, "  memo: %s\n", rp_str(g, "text"));
}

static void fingerprints(FILE *out, const json_t *fp)
{
    size_t i;
    json_t *c;
    const json_t *caps = json_object_get(fp, "captures");
    fputs("\nFINGERPRINTS\n", out);
    if (json_is_true(json_object_get(fp, "all_agree"))) {
        json_t *ids = json_array();
        json_array_foreach(caps, i, c)
            rp_rankset_add(ids, rp_int(c, "capture", 0));
        char *r = who(json_object_get(fp, "ranks")), *idt = rp_ranks_text(ids);
        fprintf(out, "  all agree: %s %s on %s", plural(rp_ranks_count(ids), "capture", "captures"),
                idt, r);
        if (json_array_size(caps) == 1) {
            const json_t *g = json_array_get(json_object_get(json_array_get(caps, 0), "hashes"), 0);
            fprintf(out, " (hash %s, %lld collectives)", rp_str(g, "hash"), rp_int(g, "colls", 0));
        }
        fputc('\n', out);
        free(r);
        free(idt);
        json_decref(ids);
        return;
    }
    json_array_foreach(caps, i, c) {
        const json_t *hashes = json_object_get(c, "hashes");
        size_t k;
        json_t *g;
        if (json_is_true(json_object_get(c, "agree"))) {
            char *r = who(json_object_get(json_array_get(hashes, 0), "ranks"));
            fprintf(out, "  capture %lld: %s agree (hash %s)", rp_int(c, "capture", 0), r,
                    rp_str(json_array_get(hashes, 0), "hash"));
            free(r);
        } else {
            fprintf(out, "  capture %lld: ranks differ:", rp_int(c, "capture", 0));
            json_array_foreach(hashes, k, g) {
                char *r = who(json_object_get(g, "ranks"));
                fprintf(out, "%s hash %s on %s", k ? "," : "", rp_str(g, "hash"), r);
                if (json_object_get(g, "colls"))
                    fprintf(out, " (%lld collectives)", rp_int(g, "colls", 0));
                free(r);
            }
        }
        if (json_array_size(json_object_get(c, "without"))) {
            char *r = who(json_object_get(c, "without"));
            fprintf(out, "; none on %s", r);
            free(r);
        }
        fputc('\n', out);
        json_array_foreach(json_object_get(c, "differences"), k, g)
            fprintf(out, "    %s\n", rp_str(g, "text"));
        if (json_array_size(json_object_get(c, "reports"))) {
            json_t *by = json_array();
            json_array_foreach(json_object_get(c, "reports"), k, g)
                rp_rankset_add(by, rp_int(g, "rank", 0));
            char *r = who(by);
            fprintf(out, "    fingerprint_mismatch reported by %s\n", r);
            free(r);
            json_decref(by);
        }
    }
}

static void capture_line(FILE *out, const json_t *g, const char *ranks)
{
    fprintf(out, "%s: %lld begun, %lld ended, %lld failed", ranks, rp_int(g, "begun", 0),
            rp_int(g, "ended", 0), rp_int(g, "failed", 0));
    if (rp_int(g, "open", 0))
        fprintf(out, ", %lld never ended", rp_int(g, "open", 0));
    if (rp_int(g, "untracked", 0))
        fprintf(out, ", %lld untracked", rp_int(g, "untracked", 0));
}

static void failed_line(FILE *out, const json_t *g, const char *ranks)
{
    const char *cause = rp_str(g, "cause");
    fprintf(out, "failed %lld x: %s (%s", rp_int(g, "count", 0),
            cause ? cause : "no cause capguard saw", ranks);
    ints_joined(out, "; rc ", json_object_get(g, "rc"));
    ints_joined(out, "; capture ", json_object_get(g, "captures"));
    fputc(')', out);
}

static void watch_line(FILE *out, const json_t *g, const char *ranks)
{
    fprintf(out, "%s: named %lld, returned %lld", or_q(g, "call"), rp_int(g, "named", 0),
            rp_int(g, "returned", 0));
    if (rp_int(g, "blocked", 0))
        fprintf(out, ", still blocked %lld", rp_int(g, "blocked", 0));
    fprintf(out, "; longest %lld ms (%s)", rp_int(g, "longest_ms", 0), ranks);
}

static void captures(FILE *out, const json_t *cap)
{
    fputs("\nCAPTURES\n", out);
    each_group(out, json_object_get(cap, "per_rank"), "", capture_line);
    each_group(out, json_object_get(cap, "failed"), "", failed_line);
}

static void watchdog(FILE *out, const json_t *wd)
{
    fputs("\nWATCHDOG\n", out);
    each_group(out, json_object_get(wd, "calls"), "", watch_line);
    if (json_object_get(wd, "watchdog_ms"))
        fprintf(out, "  watchdog bound %lld ms\n", rp_int(wd, "watchdog_ms", 0));
}

void rp_text(FILE *out, const json_t *report)
{
    const json_t *s;
    header(out, json_object_get(report, "header"));
    if ((s = json_object_get(report, "hang")))
        hang(out, s);
    if ((s = json_object_get(report, "violations")))
        violations(out, s);
    if ((s = json_object_get(report, "warnings")))
        warnings(out, s);
    if (json_object_get(report, "repeats") || json_object_get(report, "memo"))
        repeats_and_memo(out, json_object_get(report, "repeats"), json_object_get(report, "memo"));
    if ((s = json_object_get(report, "fingerprints")))
        fingerprints(out, s);
    if ((s = json_object_get(report, "captures")))
        captures(out, s);
    if ((s = json_object_get(report, "watchdog")))
        watchdog(out, s);
}
