/* Attribution: where a call came from, symbolized once per site. A violation's site is its raw
 * return addresses (hashed); the first time a hash is seen its frames are symbolized (dladdr:
 * module+offset, and the symbol where the dynamic symbol table knows it) and kept, so a site seen
 * again costs the unwind and one look-up. A call's own site (the memo's keys) is the caller's
 * return address, symbolized once per address, or the innermost Python line (pyframes.c).
 * Must never: symbolize or allocate with its lock held, or run in a signal handler (backtrace and
 * dladdr are not async-signal-safe). Both caches are bounded by CAPGUARD_SITES; beyond it a
 * site is symbolized each time (counted). */
#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "base.h"
#include "module.h"
#include "table.h"

#define FNV_PRIME 1099511628211ull

struct native { /* a violation site's frames, symbolized */
    uint64_t raw;
    char *json;      /* JSON array body; never freed (a site's text may be in use after the lock) */
    UT_hash_handle hh;
};
struct caller { /* a call site: one return address */
    void *ra;
    uint64_t call_hash;
    char brief[200];
    UT_hash_handle hh;
};
static struct native *natives;
static struct caller *callers;
static unsigned n_natives, n_callers, symbolized;
static pthread_mutex_t cache_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Insert `fresh` into cache `head` under the lock unless its key is there already or the cache
 * holds CAPGUARD_SITES entries; `found` is then the entry there (or NULL), `fresh` NULL if taken.
 * uthash's own memory comes from the spares reserved before the lock; an insert it could not
 * make (out of memory) leaves `fresh` with the caller. */
#define CACHE_PUT(head, count, field, fresh, found)                          \
    do {                                                                     \
        cg_mem_reserve();                                                    \
        pthread_mutex_lock(&cache_mutex);                                    \
        HASH_FIND(hh, head, &(fresh)->field, sizeof(fresh)->field, found);   \
        if (!(found) && (count) < cg_cfg.sites) {                            \
            HASH_ADD(hh, head, field, sizeof(fresh)->field, fresh);          \
            HASH_FIND(hh, head, &(fresh)->field, sizeof(fresh)->field, found); \
            if ((found) == (fresh)) {                                        \
                (count)++;                                                   \
                (fresh) = NULL;                                              \
            }                                                                \
        }                                                                    \
        pthread_mutex_unlock(&cache_mutex);                                  \
        cg_mem_flush();                                                      \
    } while (0)

static void frames_init(void)
{
    void *buf[2];
    backtrace(buf, 2); /* loads libgcc's unwinder now, not inside a hook later */
}

/* The cached texts stay valid in a forked child (same mappings); only the lock is re-made. */
static void frames_after_fork(void) { pthread_mutex_init(&cache_mutex, NULL); }

CG_MODULE(frames, .init = frames_init, .after_fork = frames_after_fork);

unsigned cg_sites_symbolized(void) { return __atomic_load_n(&symbolized, __ATOMIC_RELAXED); }

static int is_sanitizer_runtime(const char *mod)
{
    static const char *const rt[] = {"libasan.so", "libtsan.so", "libubsan.so", "liblsan.so"};
    for (size_t i = 0; i < sizeof rt / sizeof rt[0]; i++)
        if (strncmp(mod, rt[i], strlen(rt[i])) == 0)
            return 1;
    return 0;
}

/* One frame: its module's base name and offset, and its symbol; 0 when it is not the caller's
 * (a sanitizer's interceptor) or unknown. */
static int frame_of(const void *pc, const char **mod, uintptr_t *off, const char **sym)
{
    Dl_info di;
    if (!dladdr(pc, &di))
        return 0;
    const char *m = di.dli_fname ? strrchr(di.dli_fname, '/') : NULL;
    *mod = m ? m + 1 : (di.dli_fname && di.dli_fname[0] ? di.dli_fname : "?");
    *off = (uintptr_t)pc - (uintptr_t)di.dli_fbase;
    *sym = di.dli_sname;
    return !is_sanitizer_runtime(*mod);
}

static uint64_t call_hash_of(const char *mod, uintptr_t off)
{
    uint64_t h = (CG_HASH_SEED ^ off) * FNV_PRIME;
    for (const char *p = mod; *p; p++)
        h = (h ^ (unsigned char)*p) * FNV_PRIME;
    return h;
}

static void brief_of(char *out, size_t n, const char *mod, uintptr_t off, const char *sym)
{
    if (sym)
        snprintf(out, n, "%s+0x%lx (%s)", mod, (unsigned long)off, sym);
    else
        snprintf(out, n, "%s+0x%lx", mod, (unsigned long)off);
}

/* The frames' JSON, symbolized now (no lock held). */
static char *symbolize(void *const *pcs, int n, char *brief, size_t bn)
{
    char *out = malloc(CG_NATIVE_MAX);
    size_t used = 0;
    int kept = 0;
    if (!out)
        return NULL;
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        const char *mod, *sym;
        uintptr_t off;
        if (!frame_of(pcs[i], &mod, &off, &sym))
            continue;
        char qmod[56], qsym[96] = "null"; /* with the keys: at most CG_FRAME_JSON_MAX */
        cg_json_str(qmod, sizeof qmod, mod);
        if (sym)
            cg_json_str(qsym, sizeof qsym, sym);
        int w = snprintf(out + used, CG_NATIVE_MAX - used, "%s{\"module\":%s,\"offset\":\"0x%lx\",\"symbol\":%s}",
                         kept ? "," : "", qmod, (unsigned long)off, qsym);
        if (w < 0 || (size_t)w >= CG_NATIVE_MAX - used) {
            out[used] = 0;
            break;
        }
        used += (size_t)w;
        if (!kept++)
            brief_of(brief, bn, mod, off, sym);
    }
    __atomic_add_fetch(&symbolized, 1, __ATOMIC_RELAXED);
    char *fit = realloc(out, used + 1);
    return fit ? fit : out;
}

/* The caller at `pc`, symbolized once (the cache holds CAPGUARD_SITES addresses). */
static void caller_of(void *pc, uint64_t *call_hash, char *brief, size_t n)
{
    struct caller *e = NULL;
    pthread_mutex_lock(&cache_mutex);
    HASH_FIND(hh, callers, &pc, sizeof pc, e);
    if (e) {
        *call_hash = e->call_hash;
        snprintf(brief, n, "%s", e->brief);
    }
    pthread_mutex_unlock(&cache_mutex);
    if (e)
        return;
    const char *mod, *sym;
    uintptr_t off;
    struct caller *fresh = malloc(sizeof *fresh);
    if (!fresh)
        return;
    memset(fresh, 0, sizeof *fresh);
    fresh->ra = pc;
    if (frame_of(pc, &mod, &off, &sym)) {
        fresh->call_hash = call_hash_of(mod, off);
        brief_of(fresh->brief, sizeof fresh->brief, mod, off, sym);
    } else {
        fresh->call_hash = CG_HASH_SEED;
    }
    __atomic_add_fetch(&symbolized, 1, __ATOMIC_RELAXED);
    *call_hash = fresh->call_hash;
    snprintf(brief, n, "%s", fresh->brief);
    CACHE_PUT(callers, n_callers, ra, fresh, e);
    free(fresh);
}

void cg_call_site(void *ra, uint64_t *call_hash, char *brief, size_t n)
{
    struct cg_site py;
    py.python[0] = py.brief[0] = 0;
    py.hash = py.call_hash = CG_HASH_SEED;
    cg_python_frames(&py, CG_PY_CALL_FRAMES);
    if (py.brief[0]) {
        *call_hash = py.call_hash;
        snprintf(brief, n, "%s", py.brief);
        return;
    }
    *call_hash = CG_HASH_SEED;
    if (n)
        brief[0] = 0;
    if (ra)
        caller_of(ra, call_hash, brief, n);
    if (n && !brief[0])
        snprintf(brief, n, "unknown site");
}

void cg_caller_brief(void *ra, char *brief, size_t n)
{
    uint64_t h;
    if (n)
        brief[0] = 0;
    if (ra)
        caller_of(ra, &h, brief, n);
    if (n && !brief[0])
        snprintf(brief, n, "unknown site");
}

/* A violation site's frames: the cached JSON for these raw addresses, symbolized if new. */
static const char *native_of(uint64_t raw, void *const *pcs, int n)
{
    static __thread char *uncached; /* the cache is full: this thread's last site */
    struct native *e = NULL;
    pthread_mutex_lock(&cache_mutex);
    HASH_FIND(hh, natives, &raw, sizeof raw, e);
    pthread_mutex_unlock(&cache_mutex);
    if (e)
        return e->json;
    char brief[8];
    char *json = symbolize(pcs, n, brief, sizeof brief);
    struct native *fresh = json ? malloc(sizeof *fresh) : NULL;
    if (!fresh) {
        free(json);
        return "";
    }
    fresh->raw = raw;
    fresh->json = json;
    CACHE_PUT(natives, n_natives, raw, fresh, e);
    if (!fresh)
        return e->json;
    if (e) { /* another thread's entry won */
        free(fresh->json);
        free(fresh);
        return e->json;
    }
    free(uncached);
    uncached = fresh->json;
    free(fresh);
    return uncached;
}

int cg_first_frame_outside(void *const *pcs, int n, const char *const *prefixes)
{
    int i = 0;
    for (; i < n; i++) {
        const char *mod, *sym;
        uintptr_t off;
        int inside = 0;
        if (frame_of(pcs[i], &mod, &off, &sym))
            for (const char *const *p = prefixes; *p && !inside; p++)
                inside = strncmp(mod, *p, strlen(*p)) == 0;
        if (!inside)
            break;
    }
    return i < n ? i : 0;
}

void cg_frames_json(void *const *pcs, int n, char *out, size_t cap)
{
    char brief[8];
    char *json = n > 0 ? symbolize(pcs, n, brief, sizeof brief) : NULL;
    snprintf(out, cap, "%s", json ? json : "");
    free(json);
}

void cg_site_capture(struct cg_site *s) { cg_site_capture_outside(s, NULL); }

void cg_site_capture_outside(struct cg_site *s, const char *const *skip)
{
    void *all[64], **pcs = all;
    s->native = "";
    s->python[0] = s->brief[0] = 0;
    s->hash = s->call_hash = CG_HASH_SEED;
    int n = cg_raw_frames(all, (int)cg_cfg.stack_depth ? (int)cg_cfg.stack_depth : (skip ? 1 : 0));
    if (skip) {
        int k = cg_first_frame_outside(all, n, skip);
        pcs += k;
        n -= k;
    }
    for (int i = 0; i < n; i++)
        s->hash = (s->hash ^ (uint64_t)(uintptr_t)pcs[i]) * FNV_PRIME;
    if (n > 0) {
        s->native = native_of(s->hash, pcs, n);
        caller_of(pcs[0], &s->call_hash, s->brief, sizeof s->brief);
    }
    cg_python_frames(s, cg_cfg.py_depth); /* a Python line, when there is one, is the better brief */
    if (!s->brief[0])
        snprintf(s->brief, sizeof s->brief, "unknown site");
}

/* 8 bytes a step (a multiply-xor mix), the tail byte by byte: the same bytes give the same
 * value on every rank. */
uint64_t cg_hash_bytes(const void *p, size_t n, uint64_t h)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ b[i]) * FNV_PRIME;
    return h;
}
