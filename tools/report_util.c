/* capguard-report's small helpers: typed reads of a jansson object's members, allocation that
 * exits on exhaustion (a report tool has nothing to save), sets of ranks and their compact text
 * ("0,2-5"), times and durations in words, a list entry of a fingerprint as text, a growing
 * string. Must never: keep state between calls, or print anything but what it is asked to.
 */
#define _GNU_SOURCE /* vasprintf */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "report.h"

const char *rp_str(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

double rp_num(const json_t *o, const char *key, double def)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : def;
}

long long rp_int(const json_t *o, const char *key, long long def)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_real(v))
        return (long long)json_real_value(v);
    return def;
}

int rp_is(const json_t *ev, const char *type)
{
    const char *e = rp_str(ev, "ev");
    return e && strcmp(e, type) == 0;
}

int rp_null(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return !v || json_is_null(v);
}

void *rp_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, RP_NAME ": out of memory\n");
        exit(RP_EXIT_WRITE);
    }
    return q;
}

char *rp_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(rp_xrealloc(NULL, n), s, n);
}

static char *vasprintf_x(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) {
        fprintf(stderr, RP_NAME ": out of memory\n");
        exit(RP_EXIT_WRITE);
    }
    return s;
}

char *rp_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vasprintf_x(fmt, ap);
    va_end(ap);
    return s;
}

void rp_sb_printf(struct rp_sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vasprintf_x(fmt, ap);
    va_end(ap);
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = rp_xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
    free(s);
}

char *rp_sb_take(struct rp_sb *b)
{
    char *s = b->s ? b->s : rp_xstrdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

void rp_rankset_add(json_t *set, long long rank)
{
    size_t n = json_array_size(set), lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        long long v = json_integer_value(json_array_get(set, mid));
        if (v == rank)
            return;
        if (v < rank)
            lo = mid + 1;
        else
            hi = mid;
    }
    json_array_insert_new(set, lo, json_integer(rank));
}

int rp_rankset_has(const json_t *set, long long rank)
{
    size_t i;
    json_t *v;
    json_array_foreach(set, i, v)
        if (json_integer_value(v) == rank)
            return 1;
    return 0;
}

int rp_ranks_count(const json_t *set)
{
    return (int)json_array_size(set);
}

char *rp_ranks_text(const json_t *set)
{
    struct rp_sb b = { 0 };
    size_t n = json_array_size(set);
    for (size_t i = 0; i < n;) {
        long long a = json_integer_value(json_array_get(set, i)), z = a;
        size_t j = i + 1;
        while (j < n && json_integer_value(json_array_get(set, j)) == z + 1)
            z++, j++;
        if (z == a)
            rp_sb_printf(&b, "%s%lld", i ? "," : "", a);
        else
            rp_sb_printf(&b, "%s%lld-%lld", i ? "," : "", a, z);
        i = j;
    }
    return rp_sb_take(&b);
}

static void split_time(double ts, struct tm *tm, int *ms)
{
    double whole = floor(ts);
    time_t t = (time_t)whole;
    *ms = (int)lround((ts - whole) * 1000.0);
    if (*ms >= 1000) {
        *ms -= 1000;
        t++;
    }
    gmtime_r(&t, tm);
}

char *rp_clock(double ts)
{
    struct tm tm;
    int ms;
    split_time(ts, &tm, &ms);
    return rp_xasprintf("%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

char *rp_date(double ts)
{
    struct tm tm;
    int ms;
    split_time(ts, &tm, &ms);
    return rp_xasprintf("%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

char *rp_time_range(double from, double to)
{
    char *a = rp_date(from), *b = rp_date(to);
    const size_t day = sizeof "YYYY-MM-DD"; /* the date and its space */
    char *s = rp_xasprintf("%s to %s", a, strncmp(a, b, day) == 0 ? b + day : b);
    free(a);
    free(b);
    return s;
}

/* Whole seconds from 10 s on, one decimal below (the watchdog's stderr line says "0.3 s"). */
char *rp_secs(double s)
{
    return s >= 10.0 ? rp_xasprintf("%.0f s", s) : rp_xasprintf("%.1f s", s);
}

static void value_text(struct rp_sb *b, const json_t *v)
{
    if (json_is_string(v))
        rp_sb_printf(b, "%s", json_string_value(v));
    else if (json_is_integer(v))
        rp_sb_printf(b, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        rp_sb_printf(b, "%g", json_real_value(v));
    else {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        rp_sb_printf(b, "%s", s ? s : "?");
        free(s);
    }
}

char *rp_entry_text(const json_t *entry)
{
    struct rp_sb b = { 0 };
    const char *key;
    json_t *v;
    if (!json_is_object(entry))
        return rp_xstrdup("(none)");
    const char *op = rp_str(entry, "op");
    rp_sb_printf(&b, "%s", op ? op : "?");
    json_object_foreach((json_t *)entry, key, v) {
        if (strcmp(key, "op") == 0)
            continue;
        rp_sb_printf(&b, " %s=", key);
        value_text(&b, v);
    }
    return rp_sb_take(&b);
}

char *rp_proc_label(const struct rp_proc *p)
{
    if (p->dup_rank)
        return rp_xasprintf("rank %d (%s:%lld)", p->rank, p->host, p->pid);
    return rp_xasprintf("rank %d", p->rank);
}

void rp_count(json_t *o, const char *key, long long n)
{
    json_object_set_new(o, key, json_integer(rp_int(o, key, 0) + n));
}
