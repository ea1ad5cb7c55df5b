/* What the files of capguard-report (tools/report_*.c) share: the logs as read (files,
 * processes keyed by (host, pid), their events), the per-process tables derived once (watched
 * calls, flight-recorder dumps), the timeline (spans and instants) and the small helpers.
 * The analysis builds one jansson object (the report); the text, --json and --html forms are
 * all drawn from it, so they cannot disagree. Must never: parse JSON by hand, or hold a
 * pointer into an event after its process's array is freed.
 */
#ifndef CG_REPORT_H
#define CG_REPORT_H
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>

#define RP_NAME "capguard-report"
#define RP_EXIT_USAGE 2   /* a usage error, or no log line at all could be read */
#define RP_EXIT_WRITE 1   /* an output file could not be written */

/* ---- the logs as read (report_read.c) ---- */
struct rp_file {
    char *path;
    long lines;     /* physical lines, a last one without newline included */
    long events;    /* objects with "ev", kept */
    long pads;      /* objects without "ev" (the log's pad lines), ignored */
    long garbled;   /* not a JSON object, or one without a numeric ts and pid */
    long truncated; /* a last line without newline */
};

struct rp_watch {         /* one watched call: a (blocked_tid, seq) of a process */
    long long tid, seq;
    json_t *first, *last; /* its first and last `watchdog` events */
    json_t *done;         /* the `watchdog_done` after the last one, or NULL: still blocked */
    long reports;         /* watchdog events written for it */
    double entry;         /* when it entered the call: last ts - last ms / 1000 */
};

struct rp_dump {          /* one flight-recorder dump of a process */
    long dump;
    json_t *hdr;          /* the `recorder` line, or NULL when it was lost */
    long kept;            /* the header's `kept` (-1 without a header) */
    size_t at;            /* the index in the process's events of its first line */
    json_t **recs;        /* its `rec` lines as read (fewer than kept: cut short) */
    size_t nrecs, cap;
    json_t **threads;     /* its `recorder_thread` lines */
    size_t nthreads, capthreads;
};

struct rp_proc {
    char *host;           /* from the `start` line; "?" when none names this pid */
    long long pid;
    int rank;             /* the start line's, else the first event's */
    int world_size;       /* the start line's; 0 without one */
    int dup_rank;         /* another process claims the same rank */
    const char *file;     /* the first file it was read from (a struct rp_file path) */
    json_t *evs;          /* its events in file order */
    double t_first, t_last;
    int finished;         /* it wrote a `summary` */
    struct rp_watch *watch;
    size_t nwatch;
    struct rp_dump *dumps; /* in dump-number order; the last is the freshest */
    size_t ndumps;
};

struct rp_logs {
    struct rp_file *files;
    size_t nfiles;
    struct rp_proc *procs; /* sorted by rank, host, pid */
    size_t nprocs;
    double t0, t1;         /* earliest and latest ts of all logs */
    double t_event0;       /* earliest ts of a line other than `start` (whole seconds) */
    int world_size;        /* the largest of the start lines' */
    long lines, events, pads, garbled, truncated;
};

/* Reads every path (a directory: each *.jsonl below it); 0, or RP_EXIT_USAGE said on stderr. */
int rp_read(struct rp_logs *L, char **paths, int npaths);
void rp_free(struct rp_logs *L);

/* ---- per-process tables (report_scan.c) ---- */
void rp_scan(struct rp_logs *L);
/* The call the process's last dump caught in flight: its last `rec` entry with "ret":null,
 * else a `recorder_thread`'s `in`, unless that thread logged anything after the dump (then it
 * had moved on); NULL when none. */
const char *rp_in_flight(const struct rp_proc *p);

/* ---- the report object, one function per section; NULL when it has no content ---- */
json_t *rp_header(const struct rp_logs *L);      /* report_header.c */
json_t *rp_ranks_no_log(const struct rp_logs *L); /* ranks 0..world_size-1 without a log */
json_t *rp_hang(const struct rp_logs *L);        /* report_hang.c */
/* "comm WORLD; capture 3; model.py:88 in f": what a `watchdog` event says of its call. */
char *rp_call_context(const json_t *watchdog);
json_t *rp_violations(const struct rp_logs *L);  /* report_events.c */
json_t *rp_repeats(const struct rp_logs *L);     /* report_events.c */
json_t *rp_warnings(const struct rp_logs *L);    /* report_events.c: witness, capture_device */
json_t *rp_captures(const struct rp_logs *L);    /* report_events.c */
json_t *rp_watchdog(const struct rp_logs *L);    /* report_events.c */
json_t *rp_memo(const struct rp_logs *L);        /* report_memo.c */
json_t *rp_fingerprints(const struct rp_logs *L); /* report_fp.c */

/* ---- renderers ---- */
void rp_text(FILE *out, const json_t *report);                   /* report_text.c */
int rp_perfetto(const struct rp_logs *L, const char *path);      /* report_trace.c */
int rp_html(const struct rp_logs *L, const json_t *report, const char *path); /* report_html.c */

/* ---- the timeline both the trace and the page draw (report_timeline.c) ---- */
enum rp_span_kind { RP_SPAN_CAPTURE, RP_SPAN_BLOCKED, RP_SPAN_REC };
enum rp_mark_kind { RP_MARK_VIOLATION, RP_MARK_REPEAT, RP_MARK_FP_MISMATCH, RP_MARK_MEMO_SERVE };
struct rp_span {
    size_t proc;          /* index into L->procs */
    long long tid;
    enum rp_span_kind kind;
    char *name;
    double t0, t1;
    int open;             /* never ended in the log: drawn to its end */
    json_t *args;         /* owned */
};
struct rp_mark {
    size_t proc;
    long long tid;
    enum rp_mark_kind kind;
    char *name;
    double t;
    json_t *args;         /* owned */
};
struct rp_timeline {
    struct rp_span *spans;
    size_t nspans, capspans;
    struct rp_mark *marks;
    size_t nmarks, capmarks;
};
#define RP_REC_MIN_S 0.001 /* flight-recorder entries shorter than this are not drawn */
void rp_timeline(const struct rp_logs *L, struct rp_timeline *T);
void rp_timeline_free(struct rp_timeline *T);
const char *rp_span_cat(enum rp_span_kind k);
const char *rp_mark_cat(enum rp_mark_kind k);

/* ---- helpers (report_util.c) ---- */
const char *rp_str(const json_t *o, const char *key);   /* a string member, else NULL */
double rp_num(const json_t *o, const char *key, double def);
long long rp_int(const json_t *o, const char *key, long long def);
int rp_is(const json_t *ev, const char *type);          /* its "ev" is `type` */
int rp_null(const json_t *o, const char *key);          /* absent or null */
void *rp_xrealloc(void *p, size_t n);                   /* exits on exhaustion */
char *rp_xstrdup(const char *s);
char *rp_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rp_rankset_add(json_t *set, long long rank);        /* a sorted array of distinct ints */
char *rp_ranks_text(const json_t *set);                 /* "0,2-5"; malloc'd */
int rp_ranks_count(const json_t *set);
int rp_rankset_has(const json_t *set, long long rank);
char *rp_clock(double ts);                              /* "HH:MM:SS.mmm" UTC; malloc'd */
char *rp_date(double ts);                               /* "YYYY-MM-DD HH:MM:SS.mmm"; malloc'd */
char *rp_time_range(double from, double to);           /* "DATE TIME to TIME" (or DATE TIME) */
char *rp_secs(double s);                                /* "41 s", "0.3 s"; malloc'd */
char *rp_entry_text(const json_t *entry);               /* "op k=v ..." of a list entry */
char *rp_proc_label(const struct rp_proc *p);           /* "rank R" or "rank R (host:pid)" */
/* Adds `n` to the integer member `key` of `o` (creating it). */
void rp_count(json_t *o, const char *key, long long n);

/* A growing string. */
struct rp_sb {
    char *s;
    size_t len, cap;
};
void rp_sb_printf(struct rp_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *rp_sb_take(struct rp_sb *b);                      /* the string ("" if none); b is reset */
#endif
