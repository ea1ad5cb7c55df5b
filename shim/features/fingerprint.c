/* Captured-collective fingerprints (CASES.md E): the NCCL collectives a capture enqueued, in
 * order (op, count, dtype, communicator, root or peer), logged as a list and a hash when the
 * capture ends, per rank and per capture. Ranks whose graphs captured different collectives
 * deadlock at replay. The communicator is the memo's "#id" (its creation order: the same on every
 * rank that makes the same communicators), else its handle.
 * A graph with collectives is followed to its execs (instantiation) and, at an exec's first
 * launch, before the replay can deadlock, its fingerprint is compared with the same capture's
 * (the same ordinal) in the other ranks' logs in CAPGUARD_LOG_DIR: a rank that differs is named
 * with the first differing collective. While such a graph waits for its first launch the gate's
 * FP bit sends instantiations and launches to the slow path; otherwise they cost nothing.
 * Must never: allocate or log with its lock held (entries come from lockmem's spares). */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "memo.h"
#include "module.h"

#define CG_FP_ENTRIES_MAX 65536 /* collectives remembered over all active captures; more are counted */
#define CG_PEER_READ_MAX (16u << 20) /* bytes of one peer's log read at most per check */
#define CG_JOB_SLACK_S 60            /* a peer's log last written this long before we started: another job */
#define CG_FP_LINE_MAX 16000    /* bytes of one fingerprint line's list (the log's line bound; "shown" says how many) */

struct fp_entry {
    int hook;
    int dtype;
    unsigned long long count;
    uint64_t comm_id;
    uintptr_t comm;
    int peer_kind; /* 0 none, 1 root, 2 peer */
    int peer;
    struct fp_entry *next;
};
struct fp_capture {
    uint64_t id;
    struct fp_entry *head, *tail;
    unsigned n;
    UT_hash_handle hh;
};
static struct fp_capture *caps;

struct fp_graph { /* a graph whose capture enqueued collectives, or an exec made from one */
    uintptr_t handle;  /* the graph, or the exec */
    uint64_t capture;  /* the capture's ordinal on this process */
    uint64_t hash;
    unsigned colls;
    char *list;        /* the logged list (malloc'd; shared by a graph and its execs: never freed) */
    int exec, checked; /* an exec: launched once already; a graph: instantiated once already */
    UT_hash_handle hh;
};
static time_t started; /* peers' logs older than this job (a minute's slack) are another job's */
static struct fp_graph *graphs; /* graphs and execs, by handle */
static unsigned pending;        /* execs and graphs not launched yet */
static unsigned n_entries, entries_dropped;
static pthread_mutex_t fp_mutex = PTHREAD_MUTEX_INITIALIZER;

static void fp_lock(void)
{
    cg_mem_reserve();
    pthread_mutex_lock(&fp_mutex);
}
static void fp_unlock(void)
{
    pthread_mutex_unlock(&fp_mutex);
    cg_mem_flush();
}

static void fingerprint_after_fork(void)
{
    pthread_mutex_init(&fp_mutex, NULL);
    cg_mem_orphan(caps);
    cg_mem_orphan(graphs);
    caps = NULL;
    graphs = NULL;
    n_entries = pending = 0;
    cg_gate_set(CG_GATE_FP, 0);
}

/* A collective enqueued on a capturing stream: appended to its capture's list. */
static void add(const struct cg_call *c, uint64_t cap)
{
    uint64_t comm_id = 0;
    cg_memo_lock();
    comm_id = cg_memo_id_of(c->a[0]);
    cg_memo_unlock();
    int hook = cg_hook_plain(c->hook);
    fp_lock();
    struct fp_capture *fc = NULL;
    int fresh;
    CG_FIND_OR_ADD(caps, id, cap, fc, 1, fresh);
    (void)fresh;
    struct fp_entry *e = fc && n_entries < CG_FP_ENTRIES_MAX ? cg_mem_take(sizeof *e) : NULL;
    if (e) {
        *e = (struct fp_entry){hook, (int)c->a[1], (unsigned long long)c->a[2], comm_id, c->a[0], (int)c->a[4],
                               (int)c->a[3], NULL};
        if (fc->tail)
            fc->tail->next = e;
        else
            fc->head = e;
        fc->tail = e;
        fc->n++;
        n_entries++;
    } else {
        __atomic_add_fetch(&entries_dropped, 1, __ATOMIC_RELAXED);
    }
    fp_unlock();
}

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

/* Remember a graph or exec (lock taken here); the gate's FP bit is set while any waits. */
static void remember(uintptr_t handle, uint64_t capture, uint64_t hash, unsigned colls, char *list, int exec)
{
    if (!handle)
        return;
    fp_lock();
    struct fp_graph *g = NULL;
    int fresh;
    CG_FIND_OR_ADD(graphs, handle, handle, g, 1, fresh);
    pending += (unsigned)fresh;
    if (g) {
        g->capture = capture;
        g->hash = hash;
        g->colls = colls;
        g->list = list;
        g->exec = exec;
    }
    cg_gate_set(CG_GATE_FP, pending > 0);
    fp_unlock();
}

/* The capture ended: its list and hash, written after the lock (the entries detached first). */
static void finish(const struct cg_call *c)
{
    uint64_t cap = c->cap_id;
    fp_lock();
    struct fp_capture *fc = NULL;
    HASH_FIND(hh, caps, &cap, sizeof cap, fc);
    if (fc)
        HASH_DEL(caps, fc);
    fp_unlock();
    if (!fc)
        return;
    static char list[CG_FP_LINE_MAX]; /* (one ending at a time: the lock below) */
    static pthread_mutex_t out_mutex = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&out_mutex);
    size_t used = 0;
    unsigned shown = 0;
    uint64_t h = CG_HASH_SEED;
    for (struct fp_entry *e = fc->head; e; e = e->next) {
        h = mix(mix(mix(mix(mix(mix(h, (uint64_t)e->hook), e->count), (uint64_t)e->dtype),
                        e->comm_id ? e->comm_id : e->comm), (uint64_t)e->peer_kind), (uint64_t)e->peer);
        char comm[40];
        if (e->comm_id)
            snprintf(comm, sizeof comm, "#%llu", (unsigned long long)e->comm_id);
        else
            snprintf(comm, sizeof comm, "0x%llx", (unsigned long long)e->comm);
        char peer[32] = "";
        if (e->peer_kind)
            snprintf(peer, sizeof peer, ",\"%s\":%d", e->peer_kind == 1 ? "root" : "peer", e->peer);
        int w = snprintf(list + used, sizeof list - used, "%s{\"op\":\"%s\",\"count\":%llu,\"dtype\":%d,\"comm\":\"%s\"%s}",
                         shown ? "," : "", cg_hooks[e->hook].name, e->count, e->dtype, comm, peer);
        if (w > 0 && (size_t)w < sizeof list - used) {
            used += (size_t)w;
            shown++;
        } else {
            list[used] = 0;
        }
    }
    char head[256];
    snprintf(head, sizeof head, "\"ev\":\"fingerprint\",\"capture\":%llu,\"colls\":%u,\"hash\":\"%016llx\",\"shown\":%u,\"list\":[",
             (unsigned long long)cap, fc->n, (unsigned long long)h, shown);
    static char line[CG_FP_LINE_MAX + 300];
    snprintf(line, sizeof line, "%s%s]", head, list);
    cg_log_event(line);
    char *kept = fc->n ? strdup(list) : NULL;
    pthread_mutex_unlock(&out_mutex);
    void *graph = c->a[0] && c->real_ret == 0 ? *(void **)c->a[0] : NULL;
    if (kept)
        remember((uintptr_t)graph, cap, h, fc->n, kept, 0);
    fp_lock();
    for (struct fp_entry *e = fc->head, *next; e; e = next) {
        next = e->next;
        cg_mem_drop(e);
        n_entries--;
    }
    cg_mem_drop(fc);
    fp_unlock();
}

/* ---- the first launch: this rank's fingerprint against the other ranks' ---- */

/* The value of "key": in a log line (our own format: no spaces, numbers or strings). */
static const char *field(const char *line, const char *key, char *out, size_t n)
{
    const char *p = strstr(line, key);
    if (!p)
        return NULL;
    p += strlen(key);
    size_t i = 0;
    if (*p == '"')
        p++;
    while (*p && *p != '"' && *p != ',' && *p != '}' && i + 1 < n)
        out[i++] = *p++;
    out[i] = 0;
    return out;
}

/* The last entry of a list: up to its closing brace (a log line's list ends "}]}"). */
static size_t entry_len(const char *e)
{
    const char *end = strstr(e, "}]");
    return end ? (size_t)(end - e) + 1 : strlen(e);
}

/* The index of the first collective where two lists differ, and the two entries. */
static int first_difference(const char *a, const char *b, char *ea, char *eb, size_t n)
{
    for (int i = 0;; i++) {
        const char *na = a ? strstr(a, "},{") : NULL, *nb = b ? strstr(b, "},{") : NULL;
        size_t la = a ? (na ? (size_t)(na - a) + 1 : entry_len(a)) : 0, lb = b ? (nb ? (size_t)(nb - b) + 1 : entry_len(b)) : 0;
        if (la != lb || (la && memcmp(a, b, la) != 0) || (!la && !lb)) {
            snprintf(ea, n, "%.*s", (int)(la > n - 1 ? n - 1 : la), a ? a : "");
            snprintf(eb, n, "%.*s", (int)(lb > n - 1 ? n - 1 : lb), b ? b : "");
            return i;
        }
        a = na ? na + 2 : NULL;
        b = nb ? nb + 2 : NULL;
    }
}

/* Compare with every other rank's fingerprint of the same capture ordinal in the log directory. */
static void check_peers(const struct fp_graph *g)
{
    DIR *d = opendir(cg_cfg.log_dir);
    struct dirent *e;
    char want[64], path[CG_PATH_MAX + 300], rank[16], hash[24], mine[32];
    static char line[CG_FP_LINE_MAX + 1024];
    unsigned peers = 0, differ = 0;
    snprintf(want, sizeof want, "\"ev\":\"fingerprint\",\"capture\":%llu,", (unsigned long long)g->capture);
    snprintf(mine, sizeof mine, "%016llx", (unsigned long long)g->hash);
    const char *self = cg_log_path();
    while (d && (e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".jsonl"))
            continue;
        snprintf(path, sizeof path, "%s/%s", cg_cfg.log_dir, e->d_name);
        if (self && strcmp(strrchr(self, '/') ? strrchr(self, '/') + 1 : self, e->d_name) == 0)
            continue;
        struct stat st;
        if (stat(path, &st) != 0 || st.st_mtime + CG_JOB_SLACK_S < started)
            continue; /* another job's log, left in the directory */
        FILE *f = fopen(path, "re");
        char world[16];
        /* the start line: the same world size, another rank */
        if (!f || !fgets(line, sizeof line, f) || !field(line, "\"world_size\":", world, sizeof world) ||
            atoi(world) != cg_world() || !field(line, "\"rank\":", rank, sizeof rank) || atoi(rank) == cg_rank()) {
            if (f)
                fclose(f);
            continue;
        }
        size_t read_bytes = 0;
        while (fgets(line, sizeof line, f) && (read_bytes += strlen(line)) < CG_PEER_READ_MAX) {
            if (!strstr(line, want) || !field(line, "\"rank\":", rank, sizeof rank) ||
                !field(line, "\"hash\":", hash, sizeof hash))
                continue;
            peers++;
            if (strcmp(hash, mine) == 0)
                continue;
            differ++;
            char ea[300], eb[300], body[1200], qa[340], qb[340];
            const char *theirs = strstr(line, "\"list\":[");
            int at = first_difference(g->list, theirs ? theirs + 8 : NULL, ea, eb, sizeof ea);
            cg_json_str(qa, sizeof qa, ea);
            cg_json_str(qb, sizeof qb, eb);
            snprintf(body, sizeof body,
                     "\"ev\":\"fingerprint_mismatch\",\"capture\":%llu,\"hash\":\"%s\",\"peer_rank\":%s,\"peer_hash\":\"%s\","
                     "\"first_difference\":%d,\"mine\":%s,\"theirs\":%s",
                     (unsigned long long)g->capture, mine, rank, hash, at, qa, qb);
            cg_log_event(body);
            cg_say("capguard: [rank %d] the graph of capture %llu is about to be launched, but its NCCL collectives differ "
                   "from rank %s's (hash %s vs %s): collective #%d is %s here and %s there; a replay would deadlock or "
                   "mix data\n", cg_rank(), (unsigned long long)g->capture, rank, mine, hash, at, ea[0] ? ea : "(none)",
                   eb[0] ? eb : "(none)");
        }
        fclose(f);
    }
    if (d)
        closedir(d);
    char body[300];
    snprintf(body, sizeof body, "\"ev\":\"fingerprint_checked\",\"capture\":%llu,\"hash\":\"%s\",\"peers\":%u,\"differ\":%u",
             (unsigned long long)g->capture, mine, peers, differ);
    cg_log_event(body);
}

/* An exec's launch: its first one checks its capture's fingerprint against the peers'. */
static void launch(const struct cg_call *c)
{
    uintptr_t exec = c->a[0];
    struct fp_graph copy, *g = NULL;
    int first = 0;
    fp_lock();
    HASH_FIND(hh, graphs, &exec, sizeof exec, g);
    if (g && g->exec && !g->checked) {
        g->checked = first = 1;
        copy = *g;
        pending--;
        cg_gate_set(CG_GATE_FP, pending > 0);
    }
    fp_unlock();
    if (first)
        check_peers(&copy);
}

/* An instantiation of a fingerprinted graph: the exec is followed to its first launch. */
static void instantiated(const struct cg_call *c)
{
    uintptr_t graph = c->a[1], exec = c->a[0] ? (uintptr_t) * (void **)c->a[0] : 0;
    struct fp_graph copy, *g = NULL;
    fp_lock();
    HASH_FIND(hh, graphs, &graph, sizeof graph, g);
    if (g) {
        copy = *g;
        if (!g->checked) { /* the graph no longer waits: its execs do */
            g->checked = 1;
            pending--;
        }
    }
    fp_unlock();
    if (g)
        remember(exec, copy.capture, copy.hash, copy.colls, copy.list, 1);
}

static void fingerprint_enter(struct cg_call *c)
{
    if (cg_hooks[c->hook].kind == K_GRAPH_LAUNCH && !c->in_handler)
        launch(c); /* before the replay: a mismatch is named before it can deadlock */
}

static void fingerprint_leave(struct cg_call *c)
{
    if (cg_hooks[c->hook].kind == K_GRAPH_INST && c->forwarded && c->real_ret == 0 && !c->in_handler) {
        instantiated(c);
        return;
    }
    enum cg_kind k = cg_hooks[c->hook].kind;
    if (k == K_NCCL_COLL && c->forwarded && c->real_ret == 0 && !c->in_handler &&
        __atomic_load_n(&cg_active_captures, __ATOMIC_ACQUIRE) > 0) {
        uint64_t cap = cg_cap_id_of_stream(&c->args);
        if (cap)
            add(c, cap);
    } else if (k == K_END && c->ended) {
        finish(c);
    }
}

static void fingerprint_summary(void)
{
    unsigned dropped = __atomic_load_n(&entries_dropped, __ATOMIC_RELAXED);
    if (!dropped)
        return;
    char body[160];
    snprintf(body, sizeof body, "\"ev\":\"summary_fingerprint\",\"collectives_not_recorded\":%u,\"entries_max\":%u",
             dropped, CG_FP_ENTRIES_MAX);
    cg_log_event(body);
}

static void fingerprint_init(void) { started = time(NULL); }

CG_MODULE(fingerprint, .init = fingerprint_init, .after_fork = fingerprint_after_fork, .on_enter = fingerprint_enter,
          .on_leave = fingerprint_leave, .summary = fingerprint_summary);
