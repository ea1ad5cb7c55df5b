/* The witness: the driver's own error log names what capguard does not hook. At the first capture
 * begun, a callback is registered with cuLogsRegisterCallback (CUDA 12.9+ drivers; CAPGUARD_WITNESS).
 * Measured on an H200 (docs/gpu-runs/2026-12-02-h200-issue14.md): the driver calls it synchronously
 * in the failing thread, twice per failing entry point, both at CU_LOG_LEVEL_ERROR: the reason
 * ("API call conflicts with a stream capture sequence initiated from the calling thread"), then
 * "Returning 900 (CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED) from cuCtxSetLimit". So the failing
 * thread's frames and Python line are the call's own.
 * While a capture is active, a failure with a capture error (900..909) of an entry point capguard
 * did not judge (depth 0: a call it does not hook) is named on stderr and in the log (`witness`)
 * and kept as the cause of the captures it concerns, when nothing came first; other failures are
 * only logged (the first CG_WITNESS_OTHER). One below the depth guard inside a judged NCCL or
 * MPI call is logged as happening inside that call (the call itself is the cause: report.c). One
 * inside a judged CUDA call is that call's own failure, which capguard already names: ignored.
 * Costs nothing when no error happens: the driver calls back only on errors.
 * Must never: call the driver from the callback (it runs inside a driver call), run while
 * capguard's own code runs on the thread (busy), or hold a lock while symbolizing or logging. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "features.h"
#include "module.h"
#include "pipeline.h"

#define CG_WITNESS_SAID 32 /* stderr lines at most; the log keeps every one */
#define CG_WITNESS_OTHER 64 /* log events at most for failures that do not concern a capture */
#define CG_LOG_LEVEL_ERROR 0

typedef void (*cg_log_cb)(void *data, int level, char *msg, size_t len);

static __thread char reason[256]; /* the failing call's first message, until its "Returning ..." */
static int registered;
static unsigned said, seen, other;

/* CUDA's capture errors (900 cudaErrorStreamCaptureUnsupported .. 909): a failure that concerns a
 * capture. Others during a capture (cuda-bindings probing cuGetProcAddress for a newer version,
 * NCCL looking for a kernel the GPU has no binary of: both measured on the H200) are logged only. */
static int capture_code(int code) { return code >= 900 && code <= 909; }

/* The libraries whose frames are the driver's and the runtime's, not the caller's. */
static const char *const cuda_libs[] = {"libcuda.so", "libcudart", "libnvidia-", NULL};

static void name_failure(int code, const char *code_name, const char *entry, const char *why)
{
    const char *inside = NULL;
    if (cg_tls.depth > 0) {
        int h = (int)(cg_tls.slot & 0xffff) - 1;
        inside = h >= 0 && h < HK_COUNT ? cg_hooks[h].name : "a call capguard passed through";
    }
    struct cg_site site_of;
    cg_site_capture_outside(&site_of, cuda_libs);
    const char *site = site_of.brief;
    int concerns = capture_code(code);
    char cause[sizeof ((struct cg_call_text *)0)->cause];
    snprintf(cause, sizeof cause, "%s (%d, not hooked; the driver's error log) at %s", entry, code, site);
    uint64_t cap = cg_cap_witness(code, inside || !concerns ? NULL : cause);
    if (concerns)
        __atomic_add_fetch(&seen, 1, __ATOMIC_RELAXED);
    char where[96] = "";
    if (cap)
        snprintf(where, sizeof where, " during capture %llu", (unsigned long long)cap);
    else
        snprintf(where, sizeof where, " while a capture is active");
    if (concerns && __atomic_add_fetch(&said, 1, __ATOMIC_RELAXED) <= CG_WITNESS_SAID) {
        char what[160];
        if (inside)
            snprintf(what, sizeof what, "inside %s, below capguard's depth guard", inside);
        else
            snprintf(what, sizeof what, "a call capguard does not hook");
        cg_say("capguard: [rank %d pid %d tid %d] %s returned %d (%s)%s, %s; the driver's error log: \"%s\". "
               "at %s\n", cg_rank(), (int)getpid(), cg_tid(), entry, code, code_name, where, what, why, site);
    }
    char body[CG_NATIVE_MAX + CG_PY_JSON_MAX + 1600], qentry[160], qname[96], qwhy[520], qsite[520],
        qinside[160] = "null", qcap[24] = "null";
    cg_json_str(qentry, sizeof qentry, entry);
    cg_json_str(qname, sizeof qname, code_name);
    cg_json_str(qwhy, sizeof qwhy, why);
    cg_json_str(qsite, sizeof qsite, site);
    if (inside)
        cg_json_str(qinside, sizeof qinside, inside);
    if (cap)
        snprintf(qcap, sizeof qcap, "%llu", (unsigned long long)cap);
    snprintf(body, sizeof body,
             "\"ev\":\"witness\",\"entry\":%s,\"code\":%d,\"code_name\":%s,\"message\":%s,\"concerns_capture\":%s,"
             "\"capture\":%s,\"inside\":%s,\"site\":%s,\"native\":[%s],\"python\":[%s]",
             qentry, code, qname, qwhy, concerns ? "true" : "false", qcap, qinside, qsite, site_of.native, site_of.python);
    cg_log_event(body);
}

static void on_log(void *data, int level, char *msg, size_t len)
{
    (void)data;
    if (level != CG_LOG_LEVEL_ERROR || !msg || cg_tls.busy || __atomic_load_n(&cg_state, __ATOMIC_ACQUIRE) != CG_ON)
        return;
    char m[256];
    size_t n = len < sizeof m - 1 ? len : sizeof m - 1;
    memcpy(m, msg, n);
    m[n] = 0;
    if (strncmp(m, "Returning ", 10) != 0) {
        snprintf(reason, sizeof reason, "%s", m);
        return;
    }
    char why[256];
    snprintf(why, sizeof why, "%s", reason);
    reason[0] = 0;
    int code;
    char code_name[64], entry[128];
    if (__atomic_load_n(&cg_active_captures, __ATOMIC_ACQUIRE) == 0 ||
        sscanf(m, "Returning %d (%63[^)]) from %127s", &code, code_name, entry) != 3)
        return;
    if (cg_tls.depth > 0 && (cg_tls.outer_lib == CG_LIB_RT || cg_tls.outer_lib == CG_LIB_DRV))
        return; /* a judged CUDA call's own failure: capguard names it itself */
    if (!capture_code(code) && __atomic_add_fetch(&other, 1, __ATOMIC_RELAXED) > CG_WITNESS_OTHER)
        return;
    name_failure(code, code_name, entry, why);
}

/* Once, at the first capture begun (the driver is loaded by then). */
static void witness_register(void)
{
    if (!cg_cfg.witness || __atomic_exchange_n(&registered, 1, __ATOMIC_ACQ_REL))
        return;
    int (*reg)(cg_log_cb, void *, void **) = (int (*)(cg_log_cb, void *, void **))cg_drv_sym("cuLogsRegisterCallback");
    void *handle = NULL;
    int rc = reg ? reg(on_log, NULL, &handle) : -1;
    if (rc == 0)
        return;
    char body[160];
    snprintf(body, sizeof body, "\"ev\":\"note\",\"what\":\"witness_unavailable\",\"rc\":%d", rc);
    cg_log_event(body);
    if (reg)
        cg_say("capguard: the driver refused an error-log callback (cuLogsRegisterCallback returned %d): a call "
               "capguard does not hook that breaks a capture is known only as 'a call capguard did not see'\n", rc);
    else
        cg_say("capguard: this driver has no error log (cuLogsRegisterCallback: CUDA 12.9+ drivers): a call capguard "
               "does not hook that breaks a capture is known only as 'a call capguard did not see'\n");
}

static void witness_leave(struct cg_call *c)
{
    if (cg_hooks[c->hook].kind == K_BEGIN && c->forwarded && c->real_ret == 0)
        witness_register();
}

static void witness_summary(void)
{
    unsigned n = __atomic_load_n(&seen, __ATOMIC_RELAXED), o = __atomic_load_n(&other, __ATOMIC_RELAXED);
    if (!n && !o)
        return;
    char body[128];
    snprintf(body, sizeof body, "\"ev\":\"summary_witness\",\"failures\":%u,\"other_failures\":%u", n, o);
    cg_log_event(body);
    if (n)
        cg_say("capguard: summary: %u failure%s during captures in calls capguard does not judge, named from the "
           "driver's error log\n", n, n == 1 ? "" : "s");
}

CG_MODULE(witness, .on_leave = witness_leave, .summary = witness_summary);
