/* Output: the per-rank JSONL log (one write() per line, O_APPEND, opened on first event),
 * stderr lines, rank / world-size / host detection, JSON string escaping.
 * Must never: write a line in more than one write(), pass user text as a format string,
 * or create a file or directory while capguard is disabled. */
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "asfmt.h"
#include "base.h"
#include "module.h"

#define CG_LINE_MAX (CG_NATIVE_MAX + CG_PY_JSON_MAX + 4096) /* an event body longer than this is logged as truncated */

#define CG_PAGE 4096
static pthread_mutex_t write_mutex = PTHREAD_MUTEX_INITIALIZER;
static off_t log_end; /* where the next line starts (write_mutex; atomic: a signal handler's dump
                       * reads it, under the mutex, where TSan sees no mutex) */
static int write_owner; /* the thread holding write_mutex (0: none): a signal handler on that thread never waits for it */
static int log_fd = -1; /* published (release) only after the start line is written */
static int log_failed;
static pid_t log_pid;
static unsigned lines_lost;
/* A leaf lock: held only to create the file and write its start line, never around anything
 * that takes another lock. */
static pthread_mutex_t open_mutex = PTHREAD_MUTEX_INITIALIZER;

/* The child writes a log of its own: the parent's descriptor is closed in it, its counts reset. */
static void log_after_fork(void)
{
    pthread_mutex_init(&open_mutex, NULL);
    pthread_mutex_init(&write_mutex, NULL);
    int fd = __atomic_exchange_n(&log_fd, -1, __ATOMIC_ACQ_REL);
    if (fd >= 0)
        close(fd);
    log_failed = 0;
    lines_lost = 0;
}
static int rank = 0, world = 1;
static char rank_source[32] = "default";
static char host[128] = "unknown";
static char log_path[CG_PATH_MAX * 2];

static int env_int(const char *name, int *out)
{
    const char *v = cg_env(name);
    char *end = NULL;
    if (!v || !*v)
        return 0;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < 0 || x > 1 << 24)
        return 0;
    *out = (int)x;
    return 1;
}

/* torchrun, Open MPI, PMI/PMIx (MPICH, Hydra), Slurm: the first that sets a rank wins. */
static void detect_rank(void)
{
    static const char *const vars[][3] = {
        {"RANK", "WORLD_SIZE", "torchrun"},
        {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "openmpi"},
        {"PMI_RANK", "PMI_SIZE", "pmi"},
        {"PMIX_RANK", "PMIX_SIZE", "pmix"},
        {"SLURM_PROCID", "SLURM_NTASKS", "slurm"},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        int r;
        if (env_int(vars[i][0], &r)) {
            rank = r;
            if (!env_int(vars[i][1], &world) || world <= rank)
                world = rank + 1;
            snprintf(rank_source, sizeof rank_source, "%s", vars[i][2]);
            return;
        }
    }
}

int cg_rank(void) { return rank; }
int cg_world(void) { return world; }

static void log_init(void)
{
    detect_rank();
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = 0;
}

size_t cg_json_str(char *out, size_t n, const char *s)
{
    size_t o = 0;
    if (n < 3) {
        if (n)
            out[0] = 0;
        return 0;
    }
    out[o++] = '"';
    for (; s && *s && o + 8 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, n - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o++] = '"';
    out[o] = 0;
    return o;
}

static void expand_pattern(char *out, size_t n, const char *pat)
{
    size_t o = 0;
    for (const char *p = pat; *p && o + 1 < n; p++) {
        if (*p != '%') {
            out[o++] = *p;
            continue;
        }
        p++;
        int w = 0;
        if (*p == 'h')
            w = snprintf(out + o, n - o, "%s", host);
        else if (*p == 'p')
            w = snprintf(out + o, n - o, "%d", (int)getpid());
        else if (*p == 'r')
            w = snprintf(out + o, n - o, "%d", rank);
        else if (*p == '%')
            w = snprintf(out + o, n - o, "%%");
        if (w < 0 || (size_t)w >= n - o)
            break;
        o += (size_t)w;
    }
    out[o < n ? o : n - 1] = 0;
}

/* mkdir -p with mode 0700 for what capguard creates; 0, or the errno of the step that failed. */
static int mkdirs(const char *dir)
{
    char tmp[CG_PATH_MAX];
    struct stat st;
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return errno;
            *p = '/';
        }
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
        return errno;
    if (stat(tmp, &st) != 0)
        return errno;
    return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

/* A failed or short write is counted and said once; the summary says how many lines the log
 * lacks. */
static void line_failed(int err)
{
    if (__atomic_fetch_add(&lines_lost, 1, __ATOMIC_RELAXED) == 0)
        cg_err("capguard: writing the log %s failed (%s); events are still named on stderr, and the summary "
               "counts the lines the log lacks\n", log_path, strerror(err));
}

/* ---- kill-proof lines ----
 * One line, one writev() to an O_APPEND file: lines never interleave. But the kernel copies a
 * write page by page and stops between pages when the process is killed (SIGKILL), so a line
 * that crosses a page boundary of the file could be cut. So no line that fits in a page crosses
 * one: the writes are serialised under a leaf lock (held across that one system call only; a
 * signal handler's hooked call never logs, see cg_wants), the file's end is tracked, and a line
 * that would cross is preceded, in the same writev, by a pad line ({} and spaces) that ends on
 * the boundary; a line is never left to end 1 or 2 bytes short of one (too little for a pad),
 * it gets trailing spaces instead. A kill then leaves only whole lines. Lines longer than a page
 * (deep native stacks) can still be cut: the summary's reader skips an unterminated last line. */
static void emit(int fd, const char *head, size_t hn, const char *body, size_t bn)
{
    static const char spaces[CG_PAGE] = {[0 ... CG_PAGE - 1] = ' '};
    char pad[CG_PAGE], tail[4];
    size_t len = hn + bn + 2, padn = 0;
    pthread_mutex_lock(&write_mutex);
    __atomic_store_n(&write_owner, cg_tid(), __ATOMIC_RELAXED);
    off_t at = __atomic_load_n(&log_end, __ATOMIC_RELAXED);
    size_t rem = CG_PAGE - (size_t)(at % CG_PAGE);
    if (len <= CG_PAGE && len > rem) { /* rem >= 3: see the trailing spaces below */
        padn = rem;
        memcpy(pad, "{}", 2);
        memcpy(pad + 2, spaces, padn - 3);
        pad[padn - 1] = '\n';
    }
    size_t end = (size_t)((at + (off_t)padn + (off_t)len) % CG_PAGE), trail = 0;
    if (end && CG_PAGE - end < 3 && len <= CG_PAGE)
        trail = CG_PAGE - end;
    memcpy(tail, "}  ", 1 + trail);
    tail[1 + trail] = '\n';
    struct iovec v[4] = {{pad, padn}, {(void *)head, hn}, {(void *)body, bn}, {tail, 2 + trail}};
    size_t total = padn + len + trail;
    ssize_t w = writev(fd, v + (padn ? 0 : 1), padn ? 4 : 3);
    struct stat st;
    if (w == (ssize_t)total)
        __atomic_store_n(&log_end, at + (off_t)total, __ATOMIC_RELAXED);
    else if (fstat(fd, &st) == 0)
        __atomic_store_n(&log_end, st.st_size, __ATOMIC_RELAXED);
    __atomic_store_n(&write_owner, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&write_mutex);
    if (w != (ssize_t)total)
        line_failed(w < 0 ? errno : ENOSPC);
}

/* Open (create 0600) the log: never through a symbolic link, never a FIFO or device (a FIFO
 * would block the hook), never another user's file. Returns the descriptor or -1 with *why. */
static int open_checked(const char *path, const char **why, int *err)
{
    struct stat st;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    *why = NULL;
    if (fd < 0) {
        *err = errno;
        if (errno == ELOOP)
            *why = "a symbolic link: not followed";
        else if (errno == ENXIO)
            *why = "not a regular file";
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        *err = 0;
        *why = S_ISREG(st.st_mode) ? "owned by another user" : "not a regular file";
        close(fd);
        return -1;
    }
    return fd;
}

static void open_log(void)
{
    pthread_mutex_lock(&open_mutex);
    int fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
    if ((fd < 0 || log_pid != getpid()) && !log_failed) {
        if (fd >= 0) { /* a child made without fork's handlers (clone): a file of its own */
            __atomic_store_n(&log_fd, -1, __ATOMIC_RELEASE);
            close(fd);
            fd = -1;
        }
        char name[CG_PATH_MAX];
        const char *why = NULL;
        int err = mkdirs(cg_cfg.log_dir);
        expand_pattern(name, sizeof name, cg_cfg.log_file);
        snprintf(log_path, sizeof log_path, "%s/%s", cg_cfg.log_dir, name);
        log_pid = getpid();
        if (err)
            cg_err("capguard: cannot create the log directory %s (%s); events go to stderr only\n", cg_cfg.log_dir,
                   strerror(err));
        else if ((fd = open_checked(log_path, &why, &err)) < 0)
            cg_err("capguard: cannot open the log %s (%s); events go to stderr only\n", log_path,
                   why ? why : strerror(err));
        if (fd < 0) {
            log_failed = 1;
        } else {
            char line[1024], qh[300], qs[40];
            struct stat st;
            cg_json_str(qh, sizeof qh, host);
            cg_json_str(qs, sizeof qs, rank_source);
            int n = snprintf(line, sizeof line,
                             "{\"ev\":\"start\",\"ts\":%.6f,\"host\":%s,\"pid\":%d,\"rank\":%d,\"world_size\":%d,"
                             "\"rank_source\":%s,\"version\":\"" CG_VERSION "\",\"policy_default\":\"%s\"",
                             (double)time(NULL), qh, (int)getpid(), rank, world, qs, cg_policy_name(cg_cfg.mode));
            pthread_mutex_lock(&write_mutex);
            __atomic_store_n(&log_end, fstat(fd, &st) == 0 ? st.st_size : 0, __ATOMIC_RELAXED);
            pthread_mutex_unlock(&write_mutex);
            emit(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1, "", 0);
            /* published only now: no thread writes an event line before the start line */
            __atomic_store_n(&log_fd, fd, __ATOMIC_RELEASE);
        }
    }
    pthread_mutex_unlock(&open_mutex);
}


void cg_log_event(const char *body)
{
    int fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
    if (fd < 0 || log_pid != getpid()) {
        open_log();
        fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
    }
    if (fd < 0)
        return;
    char head[160];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    /* the time as seconds with six decimals, formatted as integers (no floating-point printf) */
    int n = snprintf(head, sizeof head, "{\"ts\":%lld.%06ld,\"pid\":%d,\"rank\":%d,\"tid\":%d,", (long long)ts.tv_sec,
                     ts.tv_nsec / 1000, (int)getpid(), rank, cg_tid());
    if (n < 0 || (size_t)n >= sizeof head)
        return;
    size_t len = strlen(body);
    if (len > CG_LINE_MAX) { /* too long: keep it one valid JSON line */
        body = "\"ev\":\"truncated\"";
        len = strlen(body);
    }
    emit(fd, head, (size_t)n, body, len);
}

/* Async-signal-safe: a line (without its closing "}\n") written only when the log is open. */
void cg_log_raw(const char *line, size_t n)
{
    int fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
    if (fd < 0 || log_pid != getpid())
        return;
    if (__atomic_load_n(&write_owner, __ATOMIC_RELAXED) == cg_tid()) { /* it interrupted this thread's own write */
        __atomic_add_fetch(&lines_lost, 1, __ATOMIC_RELAXED);
        return;
    }
    emit(fd, line, n, "", 0);
}

/* Async-signal-safe: the head every line but the start line has, {"ts":..,"pid":..,"rank":..,"tid":.., */
void cg_log_head(struct asbuf *o)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    put_s(o, "{\"ts\":");
    put_time(o, (long long)ts.tv_sec, ts.tv_nsec);
    put_s(o, ",\"pid\":");
    put_i(o, getpid());
    put_s(o, ",\"rank\":");
    put_i(o, rank);
    put_s(o, ",\"tid\":");
    put_i(o, cg_tid());
    put_s(o, ",");
}

void cg_log_open(void)
{
    if (__atomic_load_n(&log_fd, __ATOMIC_ACQUIRE) < 0 || log_pid != getpid())
        open_log();
}

static void vsay(int always, const char *fmt, va_list ap)
{
    if (!always && cg_cfg.quiet)
        return;
    char line[2048];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    ssize_t w = write(2, line, (size_t)n); /* stderr: nothing to do if it fails */
    (void)w;
}

void cg_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(0, fmt, ap);
    va_end(ap);
}

void cg_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(1, fmt, ap);
    va_end(ap);
}

const char *cg_log_path(void) { return __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE) >= 0 ? log_path : NULL; }
unsigned cg_log_lines_lost(void) { return __atomic_load_n(&lines_lost, __ATOMIC_RELAXED); }

CG_MODULE(log, .init = log_init, .after_fork = log_after_fork);
