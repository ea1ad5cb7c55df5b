/* --html FILE: one self-contained page (inline CSS and inline SVG, nothing fetched): the
 * hang sentences, an SVG timeline with one row per rank and thread ("rank R tid T"; a rank
 * with no log gets a "rank N: no log" row), captures and watched calls as rectangles (blocked
 * calls red, named, with a <title> tooltip), flight-recorder entries as thin bars, violations,
 * repeats, fingerprint mismatches and memo serves as markers, a time axis in seconds from the
 * earliest ts of all logs; then the text summary. Must never: reference a URL, a script or a
 * font file, or put log text on the page unescaped.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "report.h"

#define SVG_W 1340      /* the whole drawing, px */
#define LABEL_W 210     /* the row labels' column */
#define PAD_R 24
#define AXIS_H 34       /* the time axis above the rows */
#define ROW_H 36
#define HOST_MAX 18     /* characters of a host name shown in a label */
#define TICKS 8         /* about this many ticks on the axis */
#define CHAR_W 7.0      /* an estimate of a label character's width, to decide where it fits */
/* The row's geometry (px from its top): captures fill it, watched calls sit inside them, the
 * recorder's bars lie along the bottom, markers along the top. */
#define CAP_Y 6
#define CAP_H 24
#define CALL_Y 11
#define CALL_H 14
#define REC_Y 26
#define REC_H 4
#define TEXT_Y 22

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

struct row {
    int rank;
    long proc;          /* -1: a rank with no log */
    long long tid;
    int first_of_proc;
};

struct rows {
    struct row *v;
    size_t n;
};

static void row_add(struct rows *R, struct row r)
{
    R->v = rp_xrealloc(R->v, (R->n + 1) * sizeof *R->v);
    R->v[R->n++] = r;
}

/* The threads of process `pi` that have something drawn: its main thread first. */
static void proc_rows(const struct rp_proc *p, size_t pi, const struct rp_timeline *T,
                      struct rows *R)
{
    json_t *tids = json_array();
    for (size_t i = 0; i < T->nspans; i++)
        if (T->spans[i].proc == pi)
            rp_rankset_add(tids, T->spans[i].tid);
    for (size_t i = 0; i < T->nmarks; i++)
        if (T->marks[i].proc == pi)
            rp_rankset_add(tids, T->marks[i].tid);
    int first = 1;
    if (!json_array_size(tids) || rp_rankset_has(tids, p->pid)) {
        row_add(R, (struct row){ p->rank, (long)pi, p->pid, 1 });
        first = 0;
    }
    size_t k;
    json_t *t;
    json_array_foreach(tids, k, t)
        if (json_integer_value(t) != p->pid) {
            row_add(R, (struct row){ p->rank, (long)pi, json_integer_value(t), first });
            first = 0;
        }
    json_decref(tids);
}

static void all_rows(const struct rp_logs *L, const struct rp_timeline *T, struct rows *R)
{
    json_t *missing = rp_ranks_no_log(L);
    size_t m = 0, nm = json_array_size(missing);
    for (size_t i = 0; i <= L->nprocs; i++) {
        int upto = i < L->nprocs ? L->procs[i].rank : 1 << 30;
        for (; m < nm && json_integer_value(json_array_get(missing, m)) < upto; m++)
            row_add(R, (struct row){ (int)json_integer_value(json_array_get(missing, m)), -1, 0,
                                     1 });
        if (i < L->nprocs)
            proc_rows(&L->procs[i], i, T, R);
    }
    json_decref(missing);
}

struct scale {
    double w0, w1, t0; /* the window drawn, and the origin of the labels */
};

static double x_of(const struct scale *s, double t)
{
    double x = LABEL_W + (t - s->w0) / (s->w1 - s->w0) * (SVG_W - LABEL_W - PAD_R);
    return x < LABEL_W ? LABEL_W : x > SVG_W - PAD_R ? SVG_W - PAD_R : x;
}

static long row_of(const struct rows *R, size_t proc, long long tid)
{
    for (size_t i = 0; i < R->n; i++)
        if (R->v[i].proc == (long)proc && R->v[i].tid == tid)
            return (long)i;
    return -1;
}

static double nice_step(double span)
{
    double raw = span / TICKS, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static void axis(FILE *f, const struct scale *s, double height)
{
    double step = nice_step(s->w1 - s->w0);
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    fprintf(f, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", LABEL_W,
            AXIS_H - 6, SVG_W - PAD_R, AXIS_H - 6);
    for (double v = ceil((s->w0 - s->t0) / step) * step; s->t0 + v <= s->w1 + 1e-9; v += step) {
        double x = x_of(s, s->t0 + v);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"tick\" x=\"%.1f\" y=\"%d\">%.*f s</text>\n",
                x, AXIS_H - 10, x, height, x, AXIS_H - 14, dec, fabs(v) < step / 2 ? 0.0 : v);
    }
}

/* Does the row hold a call still blocked at the end of its log? */
static int row_blocked(const struct rp_timeline *T, const struct row *r)
{
    for (size_t i = 0; i < T->nspans; i++)
        if (T->spans[i].kind == RP_SPAN_BLOCKED && T->spans[i].open &&
            (long)T->spans[i].proc == r->proc && T->spans[i].tid == r->tid)
            return 1;
    return 0;
}

static void labels(FILE *f, const struct rp_logs *L, const struct rows *R,
                   const struct rp_timeline *T)
{
    for (size_t i = 0; i < R->n; i++) {
        const struct row *r = &R->v[i];
        double y = AXIS_H + i * ROW_H;
        int band = r->proc < 0 ? 0 : (int)(r->proc % 2);
        fprintf(f, "<rect class=\"%s\" x=\"0\" y=\"%.1f\" width=\"%d\" height=\"%d\"/>\n",
                r->proc < 0 ? "nolog" : band ? "band1" : "band0", y, SVG_W, ROW_H);
        if (r->first_of_proc && i > 0)
            fprintf(f, "<line class=\"sep\" x1=\"0\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", y,
                    SVG_W, y);
        if (r->proc < 0) {
            fprintf(f, "<text class=\"label missing\" x=\"12\" y=\"%.1f\">rank %d: no log</text>"
                    "<text class=\"nolog-text\" x=\"%d\" y=\"%.1f\">no log file for rank %d"
                    "</text>\n",
                    y + TEXT_Y, r->rank, LABEL_W + 12, y + TEXT_Y, r->rank);
            continue;
        }
        const struct rp_proc *p = &L->procs[r->proc];
        fprintf(f, "<text class=\"label%s\" x=\"12\" y=\"%.1f\">rank %d tid %lld</text>",
                row_blocked(T, r) ? " hot" : "", y + TEXT_Y, r->rank, r->tid);
        if (r->first_of_proc) {
            char *host = rp_xasprintf("%.*s", HOST_MAX, p->host);
            fprintf(f, "<text class=\"host\" x=\"%d\" y=\"%.1f\">", LABEL_W - 12, y + TEXT_Y);
            esc(f, host);
            fputs("<title>", f);
            esc(f, p->host);
            fprintf(f, ":%lld</title></text>", p->pid);
            free(host);
        }
        fputc('\n', f);
    }
}

/* The thin line of a process's log, from its first to its last event, on each of its rows. */
static void lifelines(FILE *f, const struct rp_logs *L, const struct rows *R, const struct scale *s)
{
    for (size_t i = 0; i < R->n; i++) {
        if (R->v[i].proc < 0)
            continue;
        const struct rp_proc *p = &L->procs[R->v[i].proc];
        double y = AXIS_H + i * ROW_H + ROW_H / 2.0;
        double x0 = x_of(s, p->t_first), x1 = x_of(s, p->t_last);
        fprintf(f, "<line class=\"life\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x0, y,
                x1, y);
        if (R->v[i].first_of_proc)
            fprintf(f, "<line class=\"end\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                    x1, y - 7, x1, y + 7);
    }
}

static void span_title(FILE *f, const struct rp_span *sp)
{
    char *a = rp_clock(sp->t0), *d = rp_secs(sp->t1 - sp->t0);
    fputs("<title>", f);
    esc(f, sp->name);
    if (sp->kind == RP_SPAN_BLOCKED) {
        char *ctx = rp_call_context(sp->args);
        fprintf(f, ": %s %s since %s", sp->open ? "still blocked," : "blocked", d, a);
        if (*ctx) {
            fputs(" (", f);
            esc(f, ctx);
            fputc(')', f);
        }
        free(ctx);
    } else if (sp->kind == RP_SPAN_CAPTURE) {
        fprintf(f, " from %s, %s%s", a, d, sp->open ? ", never ended" : "");
        if (!rp_null(sp->args, "rc") && rp_int(sp->args, "rc", 0))
            fprintf(f, ", failed (rc %lld)", rp_int(sp->args, "rc", 0));
    } else {
        fprintf(f, " (flight recorder) from %s, %s%s", a, d, sp->open ? ", in flight" : "");
    }
    fputs("</title>", f);
    free(a);
    free(d);
}

static void blocked_label(FILE *f, const struct rp_span *sp, double x0, double x1, double y)
{
    char *d = rp_secs(sp->t1 - sp->t0);
    char *text = sp->open ? rp_xasprintf("%s (blocked %s)", sp->name, d) : rp_xstrdup(sp->name);
    double need = CHAR_W * (double)strlen(text) + 10;
    int inside = x1 - x0 >= need;
    if (inside || sp->open) { /* a returned call is named only where it fits */
        double tx = inside ? x0 + 6 : x1 + 4;
        if (!inside && tx + need > SVG_W - PAD_R)
            tx = x0 - need;
        fprintf(f, "<text class=\"%s\" x=\"%.1f\" y=\"%.1f\">", inside ? "bname" : "bname-out",
                tx, y + TEXT_Y);
        esc(f, text);
        fputs("</text>", f);
    }
    free(text);
    free(d);
}

/* Is a watched call drawn over the recorder's entry `sp` (then that one names it)? */
static int under_watched(const struct rp_timeline *T, const struct rp_span *sp)
{
    for (size_t i = 0; i < T->nspans; i++) {
        const struct rp_span *w = &T->spans[i];
        if (w->kind == RP_SPAN_BLOCKED && w->proc == sp->proc && w->tid == sp->tid &&
            w->t0 <= sp->t1 && sp->t0 <= w->t1)
            return 1;
    }
    return 0;
}

/* An entry the last dump caught in flight: named to its left, where the row is free. */
static void in_flight_label(FILE *f, const struct rp_span *sp, double x0, double y)
{
    char *text = rp_xasprintf("in flight: %s", sp->name);
    if (x0 - 6 - CHAR_W * (double)strlen(text) > LABEL_W) {
        fprintf(f, "<text class=\"fname\" x=\"%.1f\" y=\"%.1f\">", x0 - 6, y + TEXT_Y);
        esc(f, text);
        fputs("</text>", f);
    }
    free(text);
}

static void spans(FILE *f, const struct rp_timeline *T, const struct rows *R, const struct scale *s)
{
    /* Captures under recorder entries under watched calls, so the smaller stay visible. */
    static const enum rp_span_kind order[] = { RP_SPAN_CAPTURE, RP_SPAN_REC, RP_SPAN_BLOCKED };
    for (size_t o = 0; o < sizeof order / sizeof order[0]; o++)
        for (size_t i = 0; i < T->nspans; i++) {
            const struct rp_span *sp = &T->spans[i];
            long row = row_of(R, sp->proc, sp->tid);
            if (sp->kind != order[o] || row < 0)
                continue;
            double y = AXIS_H + row * ROW_H, x0 = x_of(s, sp->t0), x1 = x_of(s, sp->t1);
            double w = x1 - x0 < 2 ? 2 : x1 - x0;
            int failed = sp->kind == RP_SPAN_CAPTURE && rp_int(sp->args, "rc", 0) != 0;
            const char *cls = sp->kind == RP_SPAN_CAPTURE ? (failed ? "cap failed" : "cap")
                              : sp->kind == RP_SPAN_REC ? (sp->open ? "rec open" : "rec")
                              : sp->open ? "blocked" : "blocked returned";
            int top = sp->kind == RP_SPAN_CAPTURE ? CAP_Y
                      : sp->kind == RP_SPAN_REC   ? REC_Y
                                                  : CALL_Y;
            int h = sp->kind == RP_SPAN_CAPTURE ? CAP_H : sp->kind == RP_SPAN_REC ? REC_H : CALL_H;
            fprintf(f, "<g><rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" "
                    "rx=\"2\"/>", cls, x0, y + top, w, h);
            span_title(f, sp);
            if (sp->kind == RP_SPAN_BLOCKED)
                blocked_label(f, sp, x0, x1, y);
            else if (sp->kind == RP_SPAN_REC && sp->open && !under_watched(T, sp))
                in_flight_label(f, sp, x0, y);
            fputs("</g>\n", f);
        }
}

static void marker_shape(FILE *f, enum rp_mark_kind k, double x, double y)
{
    switch (k) {
    case RP_MARK_VIOLATION:
        fprintf(f, "<path class=\"m-viol\" d=\"M%.1f %.1f l-5.5 -9 h11 z\"/>", x, y + 10);
        break;
    case RP_MARK_REPEAT:
        fprintf(f, "<path class=\"m-rep\" d=\"M%.1f %.1f l5 5 l-5 5 l-5 -5 z\"/>", x, y + 1);
        break;
    case RP_MARK_FP_MISMATCH:
        fprintf(f, "<path class=\"m-fp\" d=\"M%.1f %.1f l9 9 m0 -9 l-9 9\"/>", x - 4.5, y + 1);
        break;
    default:
        fprintf(f, "<circle class=\"m-memo\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>", x, y + 31);
        break;
    }
}

static void marks(FILE *f, const struct rp_timeline *T, const struct rows *R, const struct scale *s)
{
    for (size_t i = 0; i < T->nmarks; i++) {
        const struct rp_mark *m = &T->marks[i];
        long row = row_of(R, m->proc, m->tid);
        if (row < 0)
            continue;
        fputs("<g>", f);
        marker_shape(f, m->kind, x_of(s, m->t), AXIS_H + row * ROW_H + 1);
        char *at = rp_clock(m->t);
        fputs("<title>", f);
        esc(f, m->name);
        fprintf(f, " at %s", at);
        const char *site = rp_str(m->args, "site"), *why = rp_str(m->args, "reason");
        if (site && *site) {
            fputs(", ", f);
            esc(f, site);
        }
        if (why) {
            fputs(": ", f);
            esc(f, why);
        }
        fputs("</title></g>\n", f);
        free(at);
    }
}

/* The legend is HTML (it wraps); each sample a small inline SVG drawn as on the timeline. */
static void legend(FILE *f)
{
    static const struct { const char *cls, *text; } items[] = {
        { "cap", "capture" }, { "cap failed", "failed capture" }, { "blocked", "blocked call" },
        { "blocked returned", "watched call, returned" }, { "rec", "flight-recorder entry" },
        { "rec open", "in flight at the dump" },
    };
    static const struct { enum rp_mark_kind k; const char *text; } mk[] = {
        { RP_MARK_VIOLATION, "violation" }, { RP_MARK_REPEAT, "repeated init" },
        { RP_MARK_FP_MISMATCH, "fingerprint mismatch" }, { RP_MARK_MEMO_SERVE, "memo serve" },
    };
    fputs("<div class=\"legend\">", f);
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++)
        fprintf(f, "<span><svg width=\"20\" height=\"12\"><rect class=\"%s\" x=\"1\" y=\"1\" "
                "width=\"18\" height=\"10\" rx=\"2\"/></svg>%s</span>", items[i].cls,
                items[i].text);
    for (size_t i = 0; i < sizeof mk / sizeof mk[0]; i++) {
        fputs("<span><svg width=\"14\" height=\"12\">", f);
        /* marker_shape places a memo serve low in its row; lift it into the sample. */
        marker_shape(f, mk[i].k, 7, mk[i].k == RP_MARK_MEMO_SERVE ? -25 : 1);
        fprintf(f, "</svg>%s</span>", mk[i].text);
    }
    fputs("</div>\n", f);
}

static void timeline(FILE *f, const struct rp_logs *L)
{
    struct rp_timeline T;
    struct rows R = { 0 };
    rp_timeline(L, &T);
    all_rows(L, &T, &R);
    double span = L->t1 - L->t_event0;
    if (span < 1e-3)
        span = 1e-3;
    struct scale s = { L->t_event0 - span * 0.02, L->t1 + span * 0.02, L->t0 };
    double rows_h = (double)R.n * ROW_H, height = AXIS_H + rows_h + 1;
    fprintf(f, "<svg width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d %.0f\" role=\"img\" "
            "aria-label=\"timeline\">\n"
            "<defs><pattern id=\"hatch\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" "
            "patternTransform=\"rotate(45)\"><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" "
            "stroke=\"#ead7cf\" stroke-width=\"3\"/></pattern></defs>\n",
            SVG_W, height, SVG_W, height);
    labels(f, L, &R, &T);
    axis(f, &s, AXIS_H + rows_h);
    lifelines(f, L, &R, &s);
    spans(f, &T, &R, &s);
    marks(f, &T, &R, &s);
    fputs("</svg>\n", f);
    legend(f);
    free(R.v);
    rp_timeline_free(&T);
}

static const char css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;"
    "margin:24px 28px;color:#1d2330;background:#fff}"
    "h1{font-size:21px;margin:0 0 2px}h2{font-size:15px;margin:22px 0 8px;color:#39414f;"
    "text-transform:uppercase;letter-spacing:.06em}"
    ".sub{color:#5b6472;margin:0 0 14px}"
    ".hang{border-left:5px solid #d62728;background:#fdf0f0;padding:10px 14px;margin:10px 0;"
    "border-radius:3px}.hang div{margin:2px 0}.hang b{color:#b3191b}"
    ".ok{border-left:5px solid #4e9a57;background:#f0f8f1;padding:8px 14px;border-radius:3px}"
    "pre{background:#f6f7f9;border:1px solid #e2e5ea;border-radius:4px;padding:12px 14px;"
    "font:12.5px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-x:auto}"
    "svg{display:block;border:1px solid #e2e5ea;border-radius:4px;background:#fff}"
    "svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif}"
    ".band0{fill:#ffffff}.band1{fill:#f5f7fa}.nolog{fill:url(#hatch)}"
    ".sep{stroke:#d5dae1;stroke-width:1}"
    ".label{font-size:13px;fill:#1d2330}.label.missing{fill:#9a3412;font-weight:600}"
    ".label.hot{fill:#b3191b;font-weight:700}"
    ".host{font-size:11px;fill:#8a93a0;text-anchor:end}"
    ".nolog-text{font-size:12px;fill:#9a3412;font-style:italic}"
    ".axis{stroke:#9aa3ae}.grid{stroke:#e6e9ee;stroke-width:1}"
    ".tick{font-size:11px;fill:#5b6472;text-anchor:middle}"
    ".life{stroke:#b8c0cb;stroke-width:1.5}.end{stroke:#7b8594;stroke-width:2}"
    ".cap{fill:#dbe8f6;stroke:#4e79a7;stroke-width:1}.cap.failed{fill:#fde7cf;stroke:#e07b00}"
    ".cname{font-size:9.5px;fill:#3b5f86}"
    ".blocked{fill:#d62728}.blocked.returned{fill:#e8898a}"
    ".bname{font-size:11.5px;fill:#fff;font-weight:600}"
    ".bname-out{font-size:11.5px;fill:#b3191b;font-weight:600}"
    ".rec{fill:#f2a900}.rec.open{fill:#c25e00}"
    ".fname{font-size:11.5px;fill:#8a4100;font-weight:600;text-anchor:end}"
    ".legend{display:flex;flex-wrap:wrap;gap:6px 15px;margin:8px 0 0 4px;font-size:12px;"
    "color:#39414f}.legend span{display:inline-flex;align-items:center;gap:6px}"
    ".m-viol{fill:#ff7f0e;stroke:#a34f00;stroke-width:.8}"
    ".m-rep{fill:#2ca02c;stroke:#1b631b;stroke-width:.8}"
    ".m-fp{stroke:#8e44ad;stroke-width:2.4;fill:none}"
    ".m-memo{fill:#17becf;stroke:#0e7c87;stroke-width:.8}";

int rp_html(const struct rp_logs *L, const json_t *report, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, RP_NAME ": cannot write %s\n", path);
        return RP_EXIT_WRITE;
    }
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m) {
        rp_text(m, report);
        fclose(m);
    }
    const json_t *h = json_object_get(report, "header"), *hang = json_object_get(report, "hang");
    char *present = rp_ranks_text(json_object_get(h, "ranks_present"));
    char *range = rp_time_range(L->t0, L->t1);
    size_t nhosts = json_array_size(json_object_get(h, "hosts"));
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>capguard report</title><style>%s</style></head><body>\n"
            "<h1>capguard report</h1>\n<p class=\"sub\">%zu process%s on %zu host%s; rank%s ",
            css, L->nprocs, L->nprocs == 1 ? "" : "es", nhosts, nhosts == 1 ? "" : "s",
            json_array_size(json_object_get(h, "ranks_present")) == 1 ? "" : "s");
    esc(f, present);
    if (L->world_size)
        fprintf(f, " of world size %d", L->world_size);
    fprintf(f, "; %s UTC; %ld lines read, %ld skipped</p>\n", range, L->lines,
            L->garbled + L->truncated);
    if (hang) {
        fputs("<div class=\"hang\"><b>HANG</b>", f);
        size_t i;
        json_t *sn;
        json_array_foreach(json_object_get(hang, "sentences"), i, sn) {
            fputs("<div>", f);
            esc(f, json_string_value(sn));
            fputs("</div>", f);
        }
        fputs("</div>\n", f);
    } else {
        fputs("<div class=\"ok\">No rank is blocked in a watched call at the end of its log."
              "</div>\n", f);
    }
    fputs("<h2>Timeline</h2>\n", f);
    timeline(f, L);
    fputs("<h2>Summary</h2>\n<pre>", f);
    esc(f, text);
    fputs("</pre>\n</body></html>\n", f);
    free(text);
    free(present);
    free(range);
    if (ferror(f) | (fclose(f) != 0)) {
        fprintf(stderr, RP_NAME ": cannot write %s\n", path);
        return RP_EXIT_WRITE;
    }
    return 0;
}
