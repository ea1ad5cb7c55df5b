/* Reading the logs: each path argument (a directory means every *.jsonl below it, found
 * recursively without following symbolic links to directories; a file is read as is, whatever
 * its name), each line with jansson, into processes keyed by (host, pid) so that a forked child
 * writing with its parent's rank stays apart. Lines that are not a JSON object (or lack a
 * numeric ts/pid) are garbled, a last line without newline is truncated: both skipped and
 * counted per file; objects without "ev" are the log's pad lines, ignored. Must never: give up
 * on a file because of a bad line, or read a file twice (paths are compared by realpath).
 */
#define _GNU_SOURCE /* nftw's FTW_PHYS */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "report.h"

#define NFTW_FDS 32
#define NO_HOST "?"

struct paths {
    char **v;
    size_t n, cap;
};

static struct paths found; /* nftw's callback has no user pointer */

static void paths_add(struct paths *ps, const char *p)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 16;
        ps->v = rp_xrealloc(ps->v, ps->cap * sizeof *ps->v);
    }
    ps->v[ps->n++] = rp_xstrdup(p);
}

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

static int on_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)ftw;
    struct stat real;
    if (!ends_with(path, ".jsonl"))
        return 0;
    if (type == FTW_F && S_ISREG(st->st_mode))
        paths_add(&found, path);
    else if (type == FTW_SL && stat(path, &real) == 0 && S_ISREG(real.st_mode))
        paths_add(&found, path); /* a link to a log file, not to a directory */
    else if (type == FTW_DNR)
        fprintf(stderr, RP_NAME ": cannot read directory %s\n", path);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- processes ---- */
static struct rp_proc *proc_of(struct rp_logs *L, const char *host, long long pid, size_t *hint)
{
    if (*hint < L->nprocs && L->procs[*hint].pid == pid && strcmp(L->procs[*hint].host, host) == 0)
        return &L->procs[*hint];
    for (size_t i = 0; i < L->nprocs; i++)
        if (L->procs[i].pid == pid && strcmp(L->procs[i].host, host) == 0)
            return &L->procs[*hint = i];
    L->procs = rp_xrealloc(L->procs, (L->nprocs + 1) * sizeof *L->procs);
    struct rp_proc *p = &L->procs[*hint = L->nprocs++];
    memset(p, 0, sizeof *p);
    p->host = rp_xstrdup(host);
    p->pid = pid;
    p->rank = -1;
    p->evs = json_array();
    p->t_first = INFINITY;
    p->t_last = -INFINITY;
    return p;
}

/* The hosts the start lines of one file name, by pid (a file with several processes). */
struct hosts {
    long long *pid;
    char **host;
    size_t n;
};

static const char *host_of(const struct hosts *h, long long pid)
{
    for (size_t i = h->n; i-- > 0;)
        if (h->pid[i] == pid)
            return h->host[i];
    return h->n ? h->host[0] : NO_HOST; /* a forked child writes no start of its own */
}

static void hosts_add(struct hosts *h, long long pid, const char *host)
{
    h->pid = rp_xrealloc(h->pid, (h->n + 1) * sizeof *h->pid);
    h->host = rp_xrealloc(h->host, (h->n + 1) * sizeof *h->host);
    h->pid[h->n] = pid;
    h->host[h->n++] = rp_xstrdup(host);
}

static void hosts_free(struct hosts *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->host[i]);
    free(h->pid);
    free(h->host);
}

/* One line; `complete`: it ended with a newline. */
static void take_line(struct rp_logs *L, struct rp_file *f, struct hosts *h, const char *buf,
                      size_t len, int complete, size_t *hint)
{
    f->lines++;
    if (!complete) {
        f->truncated++;
        return;
    }
    json_error_t err;
    json_t *o = json_loadb(buf, len, 0, &err);
    if (!json_is_object(o)) {
        f->garbled++;
        json_decref(o);
        return;
    }
    if (!json_object_get(o, "ev")) {
        f->pads++;
        json_decref(o);
        return;
    }
    json_t *pidv = json_object_get(o, "pid");
    if (!rp_str(o, "ev") || !json_is_integer(pidv) || !json_is_number(json_object_get(o, "ts"))) {
        f->garbled++;
        json_decref(o);
        return;
    }
    long long pid = json_integer_value(pidv);
    if (rp_is(o, "start"))
        hosts_add(h, pid, rp_str(o, "host") ? rp_str(o, "host") : NO_HOST);
    struct rp_proc *p = proc_of(L, host_of(h, pid), pid, hint);
    if (!p->file)
        p->file = f->path;
    if (rp_is(o, "start")) {
        p->rank = (int)rp_int(o, "rank", p->rank);
        p->world_size = (int)rp_int(o, "world_size", 0);
    } else if (p->rank < 0) {
        p->rank = (int)rp_int(o, "rank", 0);
    }
    if (rp_is(o, "summary"))
        p->finished = 1;
    double ts = rp_num(o, "ts", 0);
    if (ts < p->t_first)
        p->t_first = ts;
    if (ts > p->t_last)
        p->t_last = ts;
    f->events++;
    json_array_append_new(p->evs, o);
}

static int read_file(struct rp_logs *L, const char *path, int named)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        fprintf(stderr, RP_NAME ": cannot open %s: %s\n", path, strerror(errno));
        return named ? -1 : 0;
    }
    L->files = rp_xrealloc(L->files, (L->nfiles + 1) * sizeof *L->files);
    struct rp_file *f = &L->files[L->nfiles++];
    memset(f, 0, sizeof *f);
    f->path = rp_xstrdup(path);
    struct hosts h = { 0 };
    char *buf = NULL;
    size_t cap = 0, hint = 0;
    ssize_t n;
    while ((n = getline(&buf, &cap, in)) > 0) {
        int complete = buf[n - 1] == '\n';
        take_line(L, f, &h, buf, (size_t)n - (size_t)complete, complete, &hint);
    }
    if (ferror(in))
        fprintf(stderr, RP_NAME ": error reading %s: %s\n", path, strerror(errno));
    free(buf);
    hosts_free(&h);
    fclose(in);
    return 0;
}

static int cmp_proc(const void *a, const void *b)
{
    const struct rp_proc *p = a, *q = b;
    if (p->rank != q->rank)
        return p->rank < q->rank ? -1 : 1;
    int c = strcmp(p->host, q->host);
    if (c)
        return c;
    return (p->pid > q->pid) - (p->pid < q->pid);
}

static void finish(struct rp_logs *L)
{
    qsort(L->procs, L->nprocs, sizeof *L->procs, cmp_proc);
    L->t0 = INFINITY;
    L->t1 = -INFINITY;
    L->t_event0 = INFINITY;
    for (size_t i = 0; i < L->nprocs; i++) {
        struct rp_proc *p = &L->procs[i];
        if (p->rank < 0)
            p->rank = 0;
        p->dup_rank = (i > 0 && L->procs[i - 1].rank == p->rank) ||
                      (i + 1 < L->nprocs && L->procs[i + 1].rank == p->rank);
        if (p->world_size > L->world_size)
            L->world_size = p->world_size;
        if (p->t_first < L->t0)
            L->t0 = p->t_first;
        if (p->t_last > L->t1)
            L->t1 = p->t_last;
        size_t k;
        json_t *ev;
        json_array_foreach(p->evs, k, ev) {
            double ts = rp_num(ev, "ts", INFINITY);
            if (!rp_is(ev, "start") && ts < L->t_event0)
                L->t_event0 = ts;
        }
    }
    if (!isfinite(L->t_event0))
        L->t_event0 = L->t0;
    for (size_t i = 0; i < L->nfiles; i++) {
        L->lines += L->files[i].lines;
        L->events += L->files[i].events;
        L->pads += L->files[i].pads;
        L->garbled += L->files[i].garbled;
        L->truncated += L->files[i].truncated;
    }
}

/* Every file to read, in argument order, a directory's sorted; each real path once. */
static int collect(char **paths, int npaths, struct paths *out)
{
    struct paths seen = { 0 };
    int rc = 0;
    for (int i = 0; i < npaths && rc == 0; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            fprintf(stderr, RP_NAME ": %s: %s\n", paths[i], strerror(errno));
            rc = RP_EXIT_USAGE;
            break;
        }
        found = (struct paths){ 0 };
        if (S_ISDIR(st.st_mode)) {
            if (nftw(paths[i], on_entry, NFTW_FDS, FTW_PHYS) != 0)
                fprintf(stderr, RP_NAME ": cannot walk %s: %s\n", paths[i], strerror(errno));
            qsort(found.v, found.n, sizeof *found.v, cmp_str);
            if (found.n == 0)
                fprintf(stderr, RP_NAME ": no *.jsonl file under %s\n", paths[i]);
        } else {
            paths_add(&found, paths[i]);
        }
        for (size_t j = 0; j < found.n; j++) {
            char real[PATH_MAX];
            const char *key = realpath(found.v[j], real) ? real : found.v[j];
            int dup = 0;
            for (size_t k = 0; k < seen.n && !dup; k++)
                dup = strcmp(seen.v[k], key) == 0;
            if (!dup) {
                paths_add(&seen, key);
                paths_add(out, found.v[j]);
            }
            free(found.v[j]);
        }
        free(found.v);
    }
    for (size_t k = 0; k < seen.n; k++)
        free(seen.v[k]);
    free(seen.v);
    return rc;
}

int rp_read(struct rp_logs *L, char **paths, int npaths)
{
    struct paths files = { 0 };
    memset(L, 0, sizeof *L);
    int rc = collect(paths, npaths, &files);
    for (size_t i = 0; i < files.n; i++) {
        /* A file named on the command line must open; one found in a directory may not. */
        int named = 0;
        for (int a = 0; a < npaths && !named; a++)
            named = strcmp(paths[a], files.v[i]) == 0;
        if (rc == 0 && read_file(L, files.v[i], named) != 0)
            rc = RP_EXIT_USAGE;
        free(files.v[i]);
    }
    free(files.v);
    if (rc)
        return rc;
    finish(L);
    if (L->events == 0) {
        if (L->nfiles == 0)
            fprintf(stderr, RP_NAME ": no log file to read in %s%s\n", paths[0],
                    npaths > 1 ? " or the other paths given" : "");
        for (size_t i = 0; i < L->nfiles; i++) {
            const struct rp_file *f = &L->files[i];
            fprintf(stderr, RP_NAME ": no log line could be read from %s (%ld lines: %ld garbled, "
                    "%ld truncated, %ld pad)\n", f->path, f->lines, f->garbled, f->truncated,
                    f->pads);
        }
        return RP_EXIT_USAGE;
    }
    return 0;
}

void rp_free(struct rp_logs *L)
{
    for (size_t i = 0; i < L->nprocs; i++) {
        struct rp_proc *p = &L->procs[i];
        for (size_t d = 0; d < p->ndumps; d++) {
            free(p->dumps[d].recs);
            free(p->dumps[d].threads);
        }
        free(p->dumps);
        free(p->watch);
        json_decref(p->evs);
        free(p->host);
    }
    free(L->procs);
    for (size_t i = 0; i < L->nfiles; i++)
        free(L->files[i].path);
    free(L->files);
    memset(L, 0, sizeof *L);
}
