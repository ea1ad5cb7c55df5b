/* The report: a sink that formats what the call record carries. One stderr line and one JSONL
 * event per violation (written at once, before the hook returns: the next call may block for
 * ever), capture begin/end events with the first violation named as the cause of a 901, and the
 * summary at exit (per call, site, action). Repeated polls of one site are counted, not written
 * one line each: a query answered as complete at a site already seen in the same capture.
 * Its module callbacks: on_leave (after the model's bookkeeping), summary (before the memo's).
 * Must never: hold the capture lock while writing, or print more than CAPGUARD_STDERR_LIMIT
 * lines per site (the log keeps every event). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pipeline.h"
#include "module.h"
#include "table.h"

struct site_key {
    uint64_t hash;
    int hook;
};
struct site_count {
    struct site_key k;
    unsigned count;
    unsigned by_outcome[CG_OUT_COUNT];
    char brief[256];
    uint64_t last_capture;  /* the capture of the last poll counted here */
    UT_hash_handle hh;
};
static struct site_count *sites; /* at most CAPGUARD_SITES */
static unsigned n_sites, sites_overflow, captures_seen, violations, failed_captures, untracked_said, polls_counted;
static pthread_mutex_t report_mutex = PTHREAD_MUTEX_INITIALIZER;

/* The child counts its own sites; the parent's table is dropped, not freed. */
static void report_after_fork(void)
{
    pthread_mutex_init(&report_mutex, NULL);
    cg_mem_orphan(sites);
    sites = NULL;
    n_sites = sites_overflow = captures_seen = violations = failed_captures = polls_counted = 0;
}

static void report_lock(void)
{
    cg_mem_reserve();
    pthread_mutex_lock(&report_mutex);
}

static void report_unlock(void)
{
    pthread_mutex_unlock(&report_mutex);
    cg_mem_flush();
}

#define CG_SITE_NEW_OVERFLOW 0 /* count_site's answer for a site beyond the table */

/* Count the site; returns how many times it was seen, this one included, or
 * CG_SITE_NEW_OVERFLOW for a site the full table cannot count (never printed: the table's
 * bound is what keeps stderr bounded too). The node comes from the spares reserved before the
 * lock (a thread never holds a block no table reaches). */
static int is_poll(const struct cg_call *c)
{
    return cg_kinds[cg_hooks[c->hook].kind].query;
}

static unsigned count_site(const struct cg_call *c, const struct cg_site *s, int *first_overflow, int *repeat_poll)
{
    unsigned seen;
    struct site_count *slot = NULL;
    struct site_key k;
    memset(&k, 0, sizeof k);
    k.hash = s->hash;
    k.hook = c->hook;
    report_lock();
    violations++;
    int fresh;
    CG_FIND_OR_ADD(sites, k, k, slot, n_sites < cg_cfg.sites, fresh);
    if (fresh) {
        snprintf(slot->brief, sizeof slot->brief, "%s", s->brief);
        n_sites++;
    }
    if (slot) {
        seen = ++slot->count;
        slot->by_outcome[c->action < CG_OUT_COUNT ? c->action : 0]++;
        if (is_poll(c)) { /* a poll at this site already written in this capture: counted only */
            *repeat_poll = slot->last_capture == c->cap_id;
            slot->last_capture = c->cap_id;
            polls_counted += (unsigned)*repeat_poll;
        }
    } else {
        *first_overflow = sites_overflow++ == 0;
        seen = CG_SITE_NEW_OVERFLOW;
    }
    report_unlock();
    return seen;
}

static const char *what_cuda_does(const struct cg_call *c, char *buf, size_t n)
{
    if (c->reason == R_HOST_COLL || c->reason == R_COMM_INIT)
        snprintf(buf, n, "it blocks until every rank arrives (a hang when ranks diverge) or breaks capture %llu",
                 (unsigned long long)c->cap_id);
    else if (!c->verdict)
        snprintf(buf, n, "CUDA returned %d, which capguard's model did not predict", c->real_ret);
    else
        snprintf(buf, n, "CUDA returns %d and invalidates capture %llu", c->verdict, (unsigned long long)c->cap_id);
    return buf;
}

static const char *what_we_did(const struct cg_call *c, char *buf, size_t n)
{
    const char *d2h = c->text->d2h_site;
    switch (c->action) {
    case CG_OUT_REJECTED:
        if (c->queue_full)
            snprintf(buf, n, "rejected (returned %d): the deferred-call queue is full (CAPGUARD_DEFER_MAX=%u), and "
                     "running it now would break capture %llu", c->ret, cg_cfg.defer_max, (unsigned long long)c->cap_id);
        else if (d2h[0])
            snprintf(buf, n, "rejected (returned %d): the capture recorded a device-to-host copy at %s that has "
                     "not run, so the host would read stale data if this sync were deferred", c->ret, d2h);
        else
            snprintf(buf, n, "rejected (returned %d, capture %llu still valid)", c->ret, (unsigned long long)c->cap_id);
        break;
    case CG_OUT_DEFERRED: snprintf(buf, n, "deferred until the last capture ends (returned 0)"); break;
    case CG_OUT_RELAXED:
        if (c->reported)
            snprintf(buf, n, "run with the thread relaxed (said before the call, which may not return)");
        else
            snprintf(buf, n, "ran with the thread relaxed (returned %d)", c->ret);
        break;
    case CG_OUT_ANSWERED: snprintf(buf, n, "answered as complete (returned 0)"); break;
    default:
        if (c->reported)
            snprintf(buf, n, "forwarded unchanged (said before the call, which may not return)");
        else
            snprintf(buf, n, "forwarded unchanged (returned %d)", c->ret);
        break;
    }
    return buf;
}

static int is_capture_error(int rc)
{
    return rc == CG_ERR_CAPTURE_UNSUPPORTED || rc == CG_ERR_CAPTURE_IMPLICIT || rc == CG_ERR_CAPTURED_EVENT;
}

static void report_violation(struct cg_call *c)
{
    struct cg_site s;
    cg_site_capture(&s);
    s.hash = s.hash * 1000003u + (uint64_t)c->hook;
    if (!c->verdict)
        c->action = CG_OUT_OBSERVED; /* seen only by its result */
    if (c->forwarded && is_capture_error(c->real_ret))
        cg_cap_note_violation(c->reason == R_DEVICE_SYNC || c->cap < 0 ? 0 : c->cap_id, c, s.brief);
    snprintf(c->text->viol_site, sizeof c->text->viol_site, "%s", s.brief); /* for the cause, after the call */
    int first_overflow = 0, repeat_poll = 0;
    unsigned seen = count_site(c, &s, &first_overflow, &repeat_poll);
    if (repeat_poll)
        return; /* counted (the summary has the site's count), not written again */
    const char *name = cg_hooks[c->hook].name;
    char cuda[160], did[512], args[sizeof c->text->key + 16] = "";
    if (c->reason == R_HOST_COLL || c->reason == R_COMM_INIT)
        snprintf(args, sizeof args, "%s", c->text->key);
    else if (c->event) /* the argument that matters for this call */
        snprintf(args, sizeof args, "event=%p", c->event);
    else if (c->stream || (cg_kind_class(cg_hooks[c->hook].kind) == CG_CLASS_SYNC && cg_hooks[c->hook].kind != K_SYNC_DEVICE))
        snprintf(args, sizeof args, "stream=%p", c->stream);
    else if (c->ptr)
        snprintf(args, sizeof args, "ptr=%p", c->ptr);
    else if (c->bytes)
        snprintf(args, sizeof args, "bytes=%zu", c->bytes);
    what_cuda_does(c, cuda, sizeof cuda);
    what_we_did(c, did, sizeof did);
    if (first_overflow)
        cg_say("capguard: more than CAPGUARD_SITES=%u violation sites: violations at new sites are logged and "
               "counted, not printed\n", cg_cfg.sites);
    if (seen != CG_SITE_NEW_OVERFLOW && seen <= cg_cfg.stderr_limit)
        cg_say("capguard: [rank %d pid %d tid %d] %s(%s) during capture %llu (%s, stream 0x%llx): %s; %s. "
               "policy %s: %s. at %s\n",
               cg_rank(), (int)getpid(), cg_tid(), name, args, (unsigned long long)c->cap_id,
               cg_cap_mode_name(c->cap_mode), (unsigned long long)c->cap_stream, cg_reason_text(c->reason), cuda,
               cg_policy_name(c->policy), did, s.brief);
    else if (seen == cg_cfg.stderr_limit + 1)
        cg_say("capguard: %s at %s: further violations at this site are counted, not printed\n", name, s.brief);
    char body[CG_NATIVE_MAX + CG_PY_JSON_MAX + 2400], qdid[600], qbrief[300], qd2h[300], real[16] = "null", ret[16] = "null";
    if (c->forwarded)
        snprintf(real, sizeof real, "%d", c->real_ret);
    if (!c->reported)
        snprintf(ret, sizeof ret, "%d", c->ret);
    cg_json_str(qdid, sizeof qdid, did);
    cg_json_str(qbrief, sizeof qbrief, s.brief);
    cg_json_str(qd2h, sizeof qd2h, c->text->d2h_site);
    snprintf(body, sizeof body,
             "\"ev\":\"violation\",\"call\":\"%s\",\"class\":\"%s\",\"stream\":\"%p\",\"event\":\"%p\","
             "\"capture\":%llu,\"capture_mode\":\"%s\",\"capture_stream\":\"0x%llx\",\"thread_mode\":\"%s\","
             "\"world_size\":%d,\"reason\":\"%s\",\"predicted\":%d,\"policy\":\"%s\",\"action\":\"%s\","
             "\"returned\":%s,\"real_returned\":%s,\"d2h_site\":%s,\"detail\":%s,\"site\":%s,\"native\":[%s],"
             "\"python\":[%s]",
             name, cg_class_name(cg_kind_class(cg_hooks[c->hook].kind)), c->stream, c->event,
             (unsigned long long)c->cap_id, cg_cap_mode_name(c->cap_mode), (unsigned long long)c->cap_stream,
             cg_cap_mode_name(cg_tls.mode), cg_world(), cg_reason_text(c->reason), c->verdict,
             cg_policy_name(c->policy), cg_outcome_name(c->action), ret, real, qd2h, qdid, qbrief, s.native, s.python);
    cg_log_event(body);
}

static void report_capture_begin(const struct cg_call *c)
{
    __atomic_add_fetch(&captures_seen, 1, __ATOMIC_RELAXED);
    char body[256];
    snprintf(body, sizeof body, "\"ev\":\"capture_begin\",\"call\":\"%s\",\"capture\":%llu,\"stream\":\"%p\",\"mode\":\"%s\"",
             cg_hooks[c->hook].name, (unsigned long long)c->cap_id, c->stream, cg_cap_mode_name(c->mode));
    cg_log_event(body);
}

static void report_capture_end(const struct cg_call *c, uint64_t id, const char *cause)
{
    char body[1024], qcause[400];
    cg_json_str(qcause, sizeof qcause, cause);
    snprintf(body, sizeof body, "\"ev\":\"capture_end\",\"call\":\"%s\",\"capture\":%llu,\"stream\":\"%p\",\"rc\":%d,\"cause\":%s",
             cg_hooks[c->hook].name, (unsigned long long)id, c->stream, c->real_ret, cause[0] ? qcause : "null");
    cg_log_event(body);
    if (c->real_ret == CG_ERR_CAPTURE_INVALIDATED) {
        __atomic_add_fetch(&failed_captures, 1, __ATOMIC_RELAXED);
        if (cause[0])
            cg_say("capguard: [rank %d] %s: capture %llu was invalidated (901), caused by %s\n", cg_rank(),
                   cg_hooks[c->hook].name, (unsigned long long)id, cause);
        else if (cg_signal_last())
            cg_say("capguard: [rank %d] %s: capture %llu was invalidated (901), perhaps by a call from a signal handler "
                   "that capguard could not judge (%u so far, the last %s)\n", cg_rank(), cg_hooks[c->hook].name,
                   (unsigned long long)id, cg_signal_unjudged(), cg_signal_last());
        else
            cg_say("capguard: [rank %d] %s: capture %llu was invalidated (901) by a call capguard did not see\n",
                   cg_rank(), cg_hooks[c->hook].name, (unsigned long long)id);
    }
}


/* A capture beyond CG_CAPTURES_MAX: not guarded, so counted as failed and said (once). */
static void report_untracked(const struct cg_call *c)
{
    __atomic_add_fetch(&captures_seen, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&failed_captures, 1, __ATOMIC_RELAXED);
    char body[256];
    snprintf(body, sizeof body, "\"ev\":\"capture_untracked\",\"call\":\"%s\",\"stream\":\"%p\"", cg_hooks[c->hook].name,
             c->stream);
    cg_log_event(body);
    if (!__atomic_exchange_n(&untracked_said, 1, __ATOMIC_ACQ_REL))
        cg_say("capguard: [rank %d] %s: more captures at once than capguard tracks; this one (stream %p) and any "
               "further are NOT guarded and are counted as failed\n", cg_rank(), cg_hooks[c->hook].name, c->stream);
}

/* The summary: the counts and every site, copied out under the lock and written after it. */
static void report_summary(void)
{
    struct site_count *copy;
    unsigned got;
    CG_TABLE_SNAPSHOT(report_lock, report_unlock, sites, struct site_count, copy, got);
    unsigned seen = captures_seen, failed = failed_captures, viol = violations, nsites = n_sites,
             overflow = sites_overflow, polls = polls_counted;
    report_unlock();
    if (!seen && !viol && !cg_memo_has_history()) { /* nothing happened: say nothing */
        free(copy);
        return;
    }
    const char *path = cg_log_path();
    char lost[64] = "";
    if (cg_log_lines_lost())
        snprintf(lost, sizeof lost, " (%u lines could not be written)", cg_log_lines_lost());
    cg_say("capguard: summary: %u captures, %u failed, %u violations at %u sites%s%s%s\n", seen, failed, viol, nsites,
           path ? "; log " : "; no log", path ? path : "", lost);
    char body[1024];
    for (unsigned i = 0; i < got; i++) {
        struct site_count *sc = &copy[i];
        char outcomes[200] = "";
        size_t o = 0;
        for (int k = 1; k < CG_OUT_COUNT; k++)
            if (sc->by_outcome[k] && o < sizeof outcomes)
                o += (size_t)snprintf(outcomes + o, sizeof outcomes - o, "%s%s %u", o ? ", " : "",
                                      cg_outcome_name(k), sc->by_outcome[k]);
        cg_say("capguard:   %6u x %s at %s (%s; policy %s)\n", sc->count, cg_hooks[sc->k.hook].name, sc->brief, outcomes,
               cg_policy_name(cg_policy_of[sc->k.hook]));
        char qb[200], qo[240];
        cg_json_str(qb, sizeof qb, sc->brief);
        cg_json_str(qo, sizeof qo, outcomes);
        snprintf(body, sizeof body, "\"ev\":\"summary_site\",\"call\":\"%s\",\"site\":%s,\"count\":%u,\"outcomes\":%s,\"policy\":\"%s\"",
                 cg_hooks[sc->k.hook].name, qb, sc->count, qo, cg_policy_name(cg_policy_of[sc->k.hook]));
        cg_log_event(body);
    }
    free(copy);
    snprintf(body, sizeof body,
             "\"ev\":\"summary\",\"captures\":%u,\"failed_captures\":%u,\"violations\":%u,\"sites\":%u,"
             "\"sites_not_counted\":%u,\"deferred_refused\":%u,\"captures_untracked\":%u,\"proc_unmatched\":%u,"
             "\"signal_calls_unjudged\":%u,\"log_lines_lost\":%u,\"polls_counted\":%u,\"sites_symbolized\":%u",
             seen, failed, viol, nsites, overflow, cg_defer_refused(), cg_cap_untracked(), cg_proc_unmatched(),
             cg_signal_unjudged(), cg_log_lines_lost(), polls, cg_sites_symbolized());
    cg_log_event(body);
}

/* A host collective or communicator init observed (or an NCCL init relaxed) during a capture may
 * never return (a rank alone in it): its violation is written now, before the real call, and not
 * again after. */
static void report_before_forward(struct cg_call *c)
{
    if (c->verdict && c->cap >= 0 && !c->in_handler)
        c->cap_ok_before = !cg_cap_invalidated(c); /* so that a ruin during the call is this call's */
    if (!c->in_handler && (c->reason == R_HOST_COLL || c->reason == R_COMM_INIT) &&
        (c->action == CG_OUT_OBSERVED || c->action == CG_OUT_RELAXED)) {
        c->reported = 1;
        report_violation(c);
    }
}

/* A forwarded illegal call whose own return said nothing of its capture (an init, a library entry
 * point) may have ruined it through its inner calls, which the depth guard passes through: CUDA is
 * asked before and after the call, and a capture valid before and invalidated after keeps this
 * call as its cause if none came first. */
static void note_inner_cause(struct cg_call *c)
{
    if (c->forwarded && c->cap_ok_before && !is_capture_error(c->real_ret) && c->text->viol_site[0] &&
        cg_cap_invalidated(c))
        cg_cap_note_violation(c->cap_id, c, c->text->viol_site);
}

static void report_leave(struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    if (c->began)
        report_capture_begin(c);
    if (c->untracked)
        report_untracked(c);
    if (c->ended)
        report_capture_end(c, c->cap_id, c->text->cause);
    if (!c->reported && (c->verdict || (c->forwarded && is_capture_error(c->real_ret) && k != K_BEGIN && k != K_END))) {
        if (c->in_handler)
            cg_report_in_handler(c);
        else
            report_violation(c);
    }
    note_inner_cause(c);
    if (c->ret != 0 && !c->in_handler && !cg_kinds[k].query && !cg_kinds[k].model)
        cg_failure_note(c->hook, c->ret, c->cap >= 0 ? c->cap_id : 0, c->ra); /* for the last words (exits.c) */
}

CG_MODULE(report, .after_fork = report_after_fork, .before_forward = report_before_forward, .on_leave = report_leave,
          .summary = report_summary);
