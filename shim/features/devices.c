/* The capture's device against its warm-up's (CAPGUARD_DEVICE_CHECK). A capture begun on a stream
 * of device A while the thread's warm-up put its memory on device B captures none of the model's
 * work: that work is launched for B, on B's streams (PyTorch only warns at the end, "The CUDA Graph
 * is empty ... captured on wrong device or stream"; a C++ runtime replays an empty graph).
 * At each begin capguard tracks, the origin stream's device (asked before the real begin:
 * cuStreamGetDevice, or the current context's for the legacy and per-thread streams) is compared
 * with the devices this thread allocated device memory on outside its captures since its previous
 * begin (or, when it allocated nothing since, in the period before). When it is none of them, one
 * warning per begin site (its one-line site: the user's Python line) names the capture, both
 * devices and the line of the warm-up's first allocation. Only a warning: no call changes.
 * Costs nothing with one visible device: the allocations' gate bit (CG_GATE_DEV) is cleared at
 * the first one judged, when cuDeviceGetCount says 1.
 * Must never: ask the driver about a stream that is already capturing (that invalidates its
 * capture), or hold a lock (it has none: the warned sites are an array of atomics). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "features.h"
#include "module.h"

#define CG_DEV_BITS 64     /* devices a thread's warm-up is remembered on (ordinals 0..63) */
#define CG_DEV_SITES 256   /* begin sites warned about at most; beyond, counted */
#define CG_LOC_DEVICE 1    /* CU_MEM_LOCATION_TYPE_DEVICE */

struct warm {
    uint64_t now, before; /* devices allocated on since this thread's last begin / before it */
    int capturing;        /* captures this thread began and has not ended */
    char now_line[256], before_line[256]; /* the period's first allocation */
};
static __thread struct warm warm;
/* Every thread's warm-up devices, and the first allocation's line (written once: 2 = written):
 * for a thread that allocated nothing itself, when they are all one device. */
static uint64_t all_devices;
static int all_line_state;
static char all_line[256];
static int n_devices; /* visible devices, 0: not known yet */
static uint64_t warned[CG_DEV_SITES];
static unsigned n_warned, n_unsaid;

typedef int (*count_fn)(int *);
typedef int (*ctx_dev_fn)(int *);
typedef int (*stream_dev_fn)(void *, int *);

static int device_count(void)
{
    int n = __atomic_load_n(&n_devices, __ATOMIC_ACQUIRE);
    if (n)
        return n;
    static void *cache;
    count_fn count = (count_fn)cg_drv_sym_once(&cache, "cuDeviceGetCount");
    int k = 0;
    if (!count)
        n = 1;
    else if (cg_real_from_self(count(&k)) == 0)
        n = k > 0 ? k : 1;
    else
        return 0; /* not initialised yet: asked again later */
    __atomic_store_n(&n_devices, n, __ATOMIC_RELEASE);
    if (n <= 1)
        cg_gate_set(CG_GATE_DEV, 0);
    return n;
}

static int ctx_device(int *d)
{
    static void *cache;
    ctx_dev_fn get = (ctx_dev_fn)cg_drv_sym_once(&cache, "cuCtxGetDevice");
    return get ? cg_real_from_self(get(d)) : -1;
}

/* The device of a stream handle: 0 (the legacy stream, or the per-thread one in a _ptsz call),
 * CU_STREAM_LEGACY (1) and CU_STREAM_PER_THREAD (2) are the current context's. */
static int stream_device(void *s, int *d)
{
    if ((uintptr_t)s <= 2)
        return ctx_device(d);
    static void *cache;
    stream_dev_fn get = (stream_dev_fn)cg_drv_sym_once(&cache, "cuStreamGetDevice");
    return get ? cg_real_from_self(get(s, d)) : -1;
}

/* cuMemCreate's device: CUmemAllocationProp's location {type, id} at bytes 8..15. */
static int vmm_device(const struct cg_call *c, int *d)
{
    const int *prop = (const int *)c->a[1];
    if (c->a[3] || !prop || prop[2] != CG_LOC_DEVICE)
        return -1; /* a multicast object, or not device memory */
    *d = prop[3];
    return 0;
}

/* 1 the first time this site is seen (then it is remembered), 0 after. */
static int first_time(uint64_t h)
{
    h = h ? h : 1;
    for (unsigned i = 0; i < CG_DEV_SITES; i++) {
        uint64_t *slot = &warned[(h + i) % CG_DEV_SITES], seen = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (seen == h)
            return 0;
        if (!seen && __atomic_compare_exchange_n(slot, &seen, h, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 1;
        if (seen == h)
            return 0;
    }
    __atomic_add_fetch(&n_unsaid, 1, __ATOMIC_RELAXED);
    return 0;
}

static void devices_text(uint64_t mask, char *out, size_t n, int json)
{
    size_t k = 0;
    out[0] = 0;
    for (int d = 0; d < CG_DEV_BITS && k + 8 < n; d++)
        if (mask & (1ull << d))
            k += (size_t)snprintf(out + k, n - k, "%s%d", k ? (json ? "," : ", ") : "", d);
}

static void warn(const struct cg_call *c, uint64_t mask, const char *line, const char *whose)
{
    struct cg_site s;
    cg_site_capture(&s);
    if (!first_time(cg_hash_bytes(s.brief, strlen(s.brief), CG_HASH_SEED)))
        return;
    __atomic_add_fetch(&n_warned, 1, __ATOMIC_RELAXED);
    char devs[160], jdevs[160];
    devices_text(mask, devs, sizeof devs, 0);
    devices_text(mask, jdevs, sizeof jdevs, 1);
    int many = strchr(devs, ',') != NULL;
    cg_say("capguard: [rank %d pid %d tid %d] capture %llu begins on device %d (stream %p) at %s, but %s "
           "warm-up allocated on device%s %s only (first at %s): work launched for %s goes to %s streams, not into "
           "this capture (its graph is empty or partial)\n",
           cg_rank(), (int)getpid(), cg_tid(), (unsigned long long)c->cap_id, c->dev, c->stream, s.brief, whose,
           many ? "s" : "", devs, line, many ? "those devices" : "that device", many ? "their" : "its");
    char body[CG_NATIVE_MAX + CG_PY_JSON_MAX + 1200], qline[340], qsite[520];
    cg_json_str(qline, sizeof qline, line);
    cg_json_str(qsite, sizeof qsite, s.brief);
    snprintf(body, sizeof body,
             "\"ev\":\"capture_device\",\"capture\":%llu,\"device\":%d,\"stream\":\"%p\",\"warmup_devices\":[%s],"
             "\"warmup_site\":%s,\"warmup_of\":\"%s\",\"site\":%s,\"native\":[%s],\"python\":[%s]",
             (unsigned long long)c->cap_id, c->dev, c->stream, jdevs, qline, whose[0] == 't' ? "thread" : "process",
             qsite, s.native, s.python);
    cg_log_event(body);
}

/* An allocation on device d outside this thread's captures: the warm-up's. */
static void note_warm(int d)
{
    if (d < 0 || d >= CG_DEV_BITS || (warm.now & (1ull << d)))
        return;
    if (!warm.now) { /* the period's first device: its line */
        struct cg_site s;
        cg_site_capture(&s);
        snprintf(warm.now_line, sizeof warm.now_line, "%s", s.brief);
        int st = 0;
        if (__atomic_compare_exchange_n(&all_line_state, &st, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            memcpy(all_line, warm.now_line, sizeof all_line);
            __atomic_store_n(&all_line_state, 2, __ATOMIC_RELEASE);
        }
    }
    warm.now |= 1ull << d;
    __atomic_fetch_or(&all_devices, 1ull << d, __ATOMIC_ACQ_REL);
}

static void on_begin(const struct cg_call *c)
{
    warm.capturing++;
    uint64_t mask = warm.now ? warm.now : warm.before;
    const char *line = warm.now ? warm.now_line : warm.before_line, *whose = "this thread's";
    if (!mask) { /* this thread allocated nothing: the process's warm-up, if it was on one device */
        uint64_t all = __atomic_load_n(&all_devices, __ATOMIC_ACQUIRE);
        if (all && !(all & (all - 1)) && __atomic_load_n(&all_line_state, __ATOMIC_ACQUIRE) == 2) {
            mask = all;
            line = all_line;
            whose = "the process's";
        }
    }
    if (c->dev_known && mask && c->dev >= 0 && c->dev < CG_DEV_BITS && !(mask & (1ull << c->dev)))
        warn(c, mask, line, whose);
    if (warm.now) {
        warm.before = warm.now;
        memcpy(warm.before_line, warm.now_line, sizeof warm.before_line);
        warm.now = 0;
    }
}

static void devices_init(void)
{
    if (cg_cfg.device_check)
        cg_gate_set(CG_GATE_DEV, 1);
}

/* Just before a begin (after the model's on_enter): the origin stream's device. Never of a stream
 * already capturing (a second begin, which CUDA refuses): cuStreamGetDevice of a capturing stream
 * returns 900 and invalidates its capture (measured on an H200). */
static void devices_before(struct cg_call *c)
{
    if (cg_hooks[c->hook].kind != K_BEGIN || !cg_cfg.device_check || c->in_handler || c->capturing_already ||
        device_count() <= 1)
        return;
    c->dev_known = stream_device(c->stream, &c->dev) == 0;
}

static void devices_leave(struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    if (!cg_cfg.device_check || !c->forwarded || c->real_ret != 0 || c->in_handler)
        return;
    if (k == K_END) {
        if (c->ended && warm.capturing > 0)
            warm.capturing--;
        return;
    }
    if (k == K_BEGIN) {
        if (c->began)
            on_begin(c);
        return;
    }
    if (!cg_kinds[k].dev || device_count() <= 1 || warm.capturing || (k == K_ALLOC && !c->devmem))
        return; /* (counted at the first allocation of any kind: then one device closes the gate) */
    int d = -1;
    if (k == K_VMM_CREATE ? vmm_device(c, &d) == 0 : ctx_device(&d) == 0) {
        c->dev_known = 1;
        c->dev = d;
        note_warm(d);
    }
}

static void devices_summary(void)
{
    unsigned n = __atomic_load_n(&n_warned, __ATOMIC_RELAXED), u = __atomic_load_n(&n_unsaid, __ATOMIC_RELAXED);
    if (!n)
        return;
    char body[128];
    snprintf(body, sizeof body, "\"ev\":\"summary_devices\",\"sites_warned\":%u,\"sites_unsaid\":%u", n, u);
    cg_log_event(body);
    cg_say("capguard: summary: %u capture site%s began on a device the thread's warm-up did not allocate on\n", n,
           n == 1 ? "" : "s");
}

CG_MODULE(devices, .init = devices_init, .before_forward = devices_before, .on_leave = devices_leave,
          .summary = devices_summary);
