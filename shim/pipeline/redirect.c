/* The redirections through which programs reach CUDA without calling exported symbols: dlsym
 * on a library's own handle (cg_dlsym_redirect, called by the trampoline in dlsym_x86_64.S), and
 * cuGetProcAddress (its hand-written wrappers): both hand out capguard's wrapper of a hooked
 * entry point. Must never: call dlsym(RTLD_NEXT) on behalf of a caller (the trampoline
 * tail-jumps so glibc sees the caller's return address), redirect a name the hook table does
 * not list exactly, or hand a wrapper of one signature to a caller that asked for another. */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include "pipeline.h"

#define CG_EXPORT __attribute__((visibility("default")))

static int drv_exports_done;

/* Called by the dlsym trampoline: our wrapper for a hooked name asked of its own library's
 * handle, else NULL (the trampoline then tail-jumps to the real dlsym). */
void *cg_dlsym_redirect(void *handle, const char *name);
void *cg_dlsym_redirect(void *handle, const char *name)
{
    int saved = errno;
    void *out = NULL;
    cg_ensure_real_dlsym();
    if (!name || handle == RTLD_NEXT || handle == RTLD_DEFAULT || !cg_real_dlsym)
        goto done;
    /* a name we do not hook never initialises capguard: sanitizer runtimes look names up
     * before the environment can be read */
    int h = cg_hook_by_name(name);
    if (h < 0 || cg_hooks[h].lib == CG_LIB_LIBC)
        goto done;
    if (__atomic_load_n(&cg_state, __ATOMIC_ACQUIRE) == CG_UNINIT)
        cg_init();
    if (__atomic_load_n(&cg_state, __ATOMIC_ACQUIRE) != CG_ON)
        goto done;
    struct link_map *lm = NULL;
    if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm || cg_lib_of_path(lm->l_name) != (int)cg_hooks[h].lib)
        goto done;
    void *real = cg_real_dlsym(handle, name);
    if (real && real != cg_wrapper[h] && cg_real_claim(h, real))
        out = cg_wrapper[h];
done:
    errno = saved;
    return out;
}

static void drv_exports(void)
{
    if (__atomic_load_n(&drv_exports_done, __ATOMIC_ACQUIRE))
        return;
    for (int h = 0; h < HK_COUNT; h++)
        if (cg_hooks[h].lib == CG_LIB_DRV)
            cg_real(h);
    __atomic_store_n(&drv_exports_done, 1, __ATOMIC_RELEASE);
}

/* What to hand back for a pointer the real cuGetProcAddress returned: our wrapper of the hook
 * whose real function it is (identified by the pointer itself, never by guessing from the
 * name and version), or the pointer unchanged. */
static void *proc_redirect(const char *sym, void *p, int ver, unsigned long long flags)
{
    if (__atomic_load_n(&cg_state, __ATOMIC_ACQUIRE) != CG_ON || !sym || !p)
        return p;
    drv_exports();
    for (int h = 0; h < HK_COUNT; h++) {
        if (cg_wrapper[h] == p) /* already ours: a driver whose 4-argument lookup calls the */
            return p;                 /* 5-argument one through its PLT reached our wrapper */
        if (cg_hooks[h].lib == CG_LIB_DRV && __atomic_load_n(&cg_real_ptr[h], __ATOMIC_ACQUIRE) == p)
            return cg_wrapper[h];
    }
    if (strcmp(sym, "cuGetProcAddress") == 0) {
        /* Not an export we know: its ABI follows the version asked for (4 args below 12000). */
        int h = ver >= 12000 ? HK_cuGetProcAddress_v2 : HK_cuGetProcAddress;
        return cg_real_claim(h, p) ? cg_wrapper[h] : p;
    }
    if (cg_hook_by_name(sym) >= 0) { /* a hooked name, but a variant we do not know: say which */
        cg_proc_unmatched_add();
        Dl_info di;
        char body[512], qsym[160], qreal[160];
        cg_json_str(qsym, sizeof qsym, sym);
        cg_json_str(qreal, sizeof qreal, dladdr(p, &di) && di.dli_sname ? di.dli_sname : "?");
        snprintf(body, sizeof body, "\"ev\":\"proc_unmatched\",\"name\":%s,\"version\":%d,\"flags\":%llu,\"real\":%s",
                 qsym, ver, flags, qreal);
        cg_log_event(body);
    }
    return p;
}

typedef int (*proc4_t)(const char *, void **, int, unsigned long long);
typedef int (*proc5_t)(const char *, void **, int, unsigned long long, int *);

CG_EXPORT int cuGetProcAddress(const char *sym, void **pfn, int ver, unsigned long long flags)
{
    proc4_t real = (proc4_t)cg_real(HK_cuGetProcAddress);
    if (!real)
        return CG_ERR_UNKNOWN;
    int r = real(sym, pfn, ver, flags);
    if (r == 0 && pfn && *pfn) {
        int saved = errno;
        *pfn = proc_redirect(sym, *pfn, ver, flags);
        errno = saved;
    }
    return r;
}

CG_EXPORT int cuGetProcAddress_v2(const char *sym, void **pfn, int ver, unsigned long long flags, int *status)
{
    proc5_t real = (proc5_t)cg_real(HK_cuGetProcAddress_v2);
    if (!real)
        return CG_ERR_UNKNOWN;
    int r = real(sym, pfn, ver, flags, status);
    if (r == 0 && pfn && *pfn) {
        int saved = errno;
        *pfn = proc_redirect(sym, *pfn, ver, flags);
        errno = saved;
    }
    return r;
}

#if !defined(__x86_64__)
/* Without the assembly trampoline a dlsym(RTLD_NEXT, ...) made by another library would be
 * resolved from capguard's position; such platforms are not supported yet (see README). */
CG_EXPORT void *dlsym(void *handle, const char *name)
{
    void *w = cg_dlsym_redirect(handle, name);
    return w ? w : cg_real_dlsym(handle, name);
}
#endif
