/* The life of one judged call, shared by every generated wrapper: enter (depth guard, errno),
 * relax around the real call when the policy says so, and leave (model bookkeeping, the
 * report, the end-of-capture cause and deferred work, errno). Also the policy class names.
 * Must never: hold the capture lock across the real call, or change errno on its own. */
#include <stdio.h>
#include <string.h>
#include "core.h"

static const char *const class_names[CG_CLASS_COUNT] = {"NONE", "SYNC", "ALLOC", "FREE", "MEMCPY", "HOST_COLL",
                                                         "COMM_INIT"};

const unsigned char cg_kind_always[K_COUNT] = {
    [K_BEGIN] = 1, [K_END] = 1, [K_XMODE] = 1, [K_NCCL_ID] = 1, [K_COMM_INIT] = 1, [K_COMM_FINALIZE] = 1,
    [K_COMM_FREE] = 1, [K_HOST_COLL] = 1, [K_NCCL_COLL] = 1, [K_WS_EXPORT] = 1, [K_WS_IMPORT] = 1, [K_WS_CLOSE] = 1,
    [K_BUF_ALLOC] = 1, [K_BUF_FREE] = 1, [K_REGISTER] = 1, [K_DEREGISTER] = 1, [K_MPI_FINALIZE] = 1, [K_VMM] = 1,
};

enum cg_class cg_kind_class(enum cg_kind k)
{
    switch (k) {
    case K_SYNC_DEVICE:
    case K_SYNC_STREAM:
    case K_QUERY_STREAM:
    case K_SYNC_EVENT:
    case K_QUERY_EVENT: return CG_CLASS_SYNC;
    case K_ALLOC: return CG_CLASS_ALLOC;
    case K_FREE: return CG_CLASS_FREE;
    case K_LEGACY:
    case K_ASYNC: return CG_CLASS_MEMCPY;
    case K_HOST_COLL: return CG_CLASS_HOST_COLL;
    case K_NCCL_ID:
    case K_COMM_INIT:
    case K_COMM_FINALIZE:
    case K_REGISTER: return CG_CLASS_COMM_INIT;
    default: return CG_CLASS_NONE;
    }
}

const char *cg_class_name(enum cg_class c) { return c < CG_CLASS_COUNT ? class_names[c] : "?"; }

int cg_enter_slow(struct cg_call *c)
{
    c->saved_errno = errno;
    c->cap = -1;
    cg_tls.depth++;
    return 1;
}

static int exchange_mode(int mode)
{
    static int (*xchg)(int *);
    if (!xchg)
        xchg = (int (*)(int *))cg_drv_sym("cuThreadExchangeStreamCaptureMode");
    if (!xchg)
        xchg = (int (*)(int *))cg_real(HK_cudaThreadExchangeStreamCaptureMode);
    if (xchg)
        xchg(&mode);
    return mode;
}

static __thread int relaxed_from;

void cg_before_forward(struct cg_call *c, enum cg_action a)
{
    if (cg_hooks[c->hook].kind == K_XMODE && c->pmode)
        c->mode = *c->pmode; /* the mode asked for; the real call overwrites it with the old one */
    if (cg_hooks[c->hook].kind == K_BEGIN)
        cg_cap_query_blocking(c);
    if (a == CG_ACT_RELAX)
        relaxed_from = exchange_mode(CG_MODE_RELAXED);
    errno = c->saved_errno;
}

void cg_after_forward(struct cg_call *c, enum cg_action a)
{
    c->saved_errno = errno;
    c->forwarded = 1;
    if (a == CG_ACT_RELAX)
        exchange_mode(relaxed_from);
}

static int is_capture_error(int rc)
{
    return rc == CG_ERR_CAPTURE_UNSUPPORTED || rc == CG_ERR_CAPTURE_IMPLICIT || rc == CG_ERR_CAPTURED_EVENT;
}

static int memo_kind(enum cg_kind k) { return k >= K_NCCL_ID && k <= K_VMM; }

static void leave_end(struct cg_call *c)
{
    uint64_t id = 0;
    char cause[320];
    cg_cap_lock();
    int slot = c->real_ret == CG_ERR_CAPTURE_WRONG_THREAD ? -1 : cg_cap_end(c, &id, cause, sizeof cause);
    cg_cap_unlock();
    if (slot >= 0)
        cg_report_capture_end(c, id, cause);
    cg_defer_run_if_idle();
    cg_memo_capture_ended();
}

int cg_leave(struct cg_call *c)
{
    enum cg_kind k = cg_hooks[c->hook].kind;
    if (c->forwarded)
        c->ret = c->real_ret;
    if (k == K_XMODE && c->forwarded && c->real_ret == 0)
        cg_tls.mode = c->mode;
    else if (k == K_END && c->forwarded)
        leave_end(c);
    else if (c->forwarded && (k == K_BEGIN || k == K_EVREC || k == K_WAIT || k == K_ASYNC)) {
        cg_cap_lock();
        cg_cap_track(c);
        cg_cap_unlock();
        if (k == K_BEGIN)
            cg_report_capture_begin(c);
    }
    if (c->forwarded && (memo_kind(k) || k == K_ALLOC || k == K_FREE))
        cg_memo_after(c);
    if (c->verdict || (c->forwarded && is_capture_error(c->real_ret) && k != K_BEGIN && k != K_END))
        cg_report_violation(c);
    cg_tls.depth--;
    errno = c->saved_errno;
    return c->ret;
}
