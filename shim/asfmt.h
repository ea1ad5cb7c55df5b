/* Async-signal-safe formatting into a fixed buffer: strings and integers by hand, no stdio, no
 * allocation (signal-handler paths: core.c, signals.c). */
#ifndef CG_ASFMT_H
#define CG_ASFMT_H
#include <stddef.h>

struct asbuf {
    char b[1024];
    size_t n;
};

static inline void put_s(struct asbuf *o, const char *s)
{
    while (s && *s && o->n + 1 < sizeof o->b)
        o->b[o->n++] = *s++;
}

static inline void put_u(struct asbuf *o, unsigned long long v)
{
    char d[24];
    int i = 0;
    do
        d[i++] = (char)('0' + v % 10);
    while ((v /= 10) && i < (int)sizeof d);
    while (i && o->n + 1 < sizeof o->b)
        o->b[o->n++] = d[--i];
}

static inline void put_i(struct asbuf *o, long long v)
{
    if (v < 0) {
        put_s(o, "-");
        v = -v;
    }
    put_u(o, (unsigned long long)v);
}

/* seconds with six decimals, from a timespec's two fields */
static inline void put_time(struct asbuf *o, long long sec, long nsec)
{
    char us[7] = "000000";
    long v = nsec / 1000;
    put_u(o, (unsigned long long)sec);
    put_s(o, ".");
    for (int i = 5; i >= 0; i--, v /= 10)
        us[i] = (char)('0' + v % 10);
    put_s(o, us);
}

static inline void put_hex(struct asbuf *o, unsigned long long v)
{
    char d[20];
    int i = 0;
    do
        d[i++] = "0123456789abcdef"[v & 15];
    while ((v >>= 4) && i < (int)sizeof d);
    put_s(o, "0x");
    while (i && o->n + 1 < sizeof o->b)
        o->b[o->n++] = d[--i];
}
#endif
