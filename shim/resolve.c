/* Real entry points and the two redirections through which programs reach CUDA without
 * calling exported symbols: dlsym on a library's own handle, and cuGetProcAddress.
 * Holds: the real-pointer table (one slot per hook, resolved lazily, lock-free), library
 * handles, cg_dlsym_redirect (called by the dlsym trampoline in dlsym_x86_64.S) and the
 * hand-written cuGetProcAddress wrappers. Must never: call dlsym(RTLD_NEXT) on behalf of a
 * caller (the trampoline tail-jumps so glibc sees the caller's return address), redirect a
 * name the hook table does not list exactly, or hand a wrapper of one signature to a caller
 * that asked for another. */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include "core.h"

#define CG_EXPORT __attribute__((visibility("default")))

void *(*cg_real_dlsym)(void *, const char *);
void *cg_real_ptr[HK_COUNT];
static void *lib_handle[CG_LIB_COUNT];
static int drv_exports_done;
static unsigned proc_unmatched;

static const char *const lib_sonames[CG_LIB_COUNT][4] = {
    [CG_LIB_RT] = {"libcudart.so.13", "libcudart.so.12", "libcudart.so", NULL},
    [CG_LIB_DRV] = {"libcuda.so.1", "libcuda.so", NULL, NULL},
    [CG_LIB_NCCL] = {"libnccl.so.2", "libnccl.so", NULL, NULL},
    [CG_LIB_MPI] = {"libmpi.so.40", "libmpi.so.12", "libmpi.so", NULL},
    [CG_LIB_LIBC] = {"libc.so.6", NULL, NULL, NULL},
};
static const char *const lib_prefix[CG_LIB_COUNT] = {
    [CG_LIB_RT] = "libcudart.so", [CG_LIB_DRV] = "libcuda.so", [CG_LIB_NCCL] = "libnccl.so", [CG_LIB_MPI] = "libmpi.so",
    [CG_LIB_LIBC] = "libc.so."};

static void ensure_real_dlsym(void)
{
    if (__atomic_load_n(&cg_real_dlsym, __ATOMIC_ACQUIRE))
        return;
    void *p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
    if (!p)
        p = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
    __atomic_store_n(&cg_real_dlsym, (void *(*)(void *, const char *))p, __ATOMIC_RELEASE);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Which of our libraries an object's file name is (exact soname prefix: "libcuda.so" is not
 * "libcudart.so"). */
static int lib_of_path(const char *path)
{
    const char *b = base_name(path ? path : "");
    for (int l = 0; l < CG_LIB_COUNT; l++)
        if (strncmp(b, lib_prefix[l], strlen(lib_prefix[l])) == 0)
            return l;
    return -1;
}

struct find_arg {
    int lib;
    char path[CG_PATH_MAX];
};

static int find_loaded(struct dl_phdr_info *info, size_t size, void *data)
{
    struct find_arg *a = data;
    (void)size;
    if (info->dlpi_name && lib_of_path(info->dlpi_name) == a->lib) {
        snprintf(a->path, sizeof a->path, "%s", info->dlpi_name);
        return 1;
    }
    return 0;
}

/* A handle to the already-loaded library (never loads one). */
static void *lib_get(int lib)
{
    void *h = __atomic_load_n(&lib_handle[lib], __ATOMIC_ACQUIRE);
    if (h)
        return h;
    for (int i = 0; !h && lib_sonames[lib][i]; i++)
        h = dlopen(lib_sonames[lib][i], RTLD_LAZY | RTLD_NOLOAD);
    if (!h) {
        struct find_arg a = {.lib = lib};
        if (dl_iterate_phdr(find_loaded, &a) && a.path[0])
            h = dlopen(a.path, RTLD_LAZY | RTLD_NOLOAD);
    }
    if (h)
        __atomic_store_n(&lib_handle[lib], h, __ATOMIC_RELEASE);
    return h;
}

/* Keep the object that holds a real function capguard caches loaded for good (RTLD_NODELETE on
 * the loaded object: a dlclose then leaves it mapped, a reload finds the same mapping). A cached
 * pointer into an unloaded library would be a jump into unmapped memory. CUDA's, NCCL's and
 * MPI's libraries are not safe to unload anyway; the main program needs no pin. */
static void pin(const void *real)
{
    Dl_info di;
    if (!real || !dladdr(real, &di) || !di.dli_fname || !di.dli_fname[0])
        return;
    void *h = dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
    (void)h; /* the reference is kept on purpose */
}

static void *resolve(int hook)
{
    ensure_real_dlsym();
    if (!cg_real_dlsym)
        return NULL;
    const char *name = cg_hooks[hook].name;
    void *p = cg_real_dlsym(RTLD_NEXT, name);
    if (!p || p == cg_hooks[hook].wrapper) {
        void *h = lib_get(cg_hooks[hook].lib);
        p = h ? cg_real_dlsym(h, name) : NULL;
    }
    if (p == cg_hooks[hook].wrapper)
        p = NULL;
    if (p) {
        void *expected = NULL;
        /* libc is never unloaded, and sigaction is resolved during sanitizers' start-up, before
         * libc's own initialisation: a dlopen then would initialise libc with no environment */
        if (cg_hooks[hook].lib != CG_LIB_LIBC)
            pin(p);
        __atomic_compare_exchange_n(&cg_real_ptr[hook], &expected, p, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
        return __atomic_load_n(&cg_real_ptr[hook], __ATOMIC_ACQUIRE);
    }
    return NULL;
}

void *cg_real(int hook)
{
    void *p = __atomic_load_n(&cg_real_ptr[hook], __ATOMIC_ACQUIRE);
    return p ? p : resolve(hook);
}

int cg_missing(int hook)
{
    (void)hook;
    return CG_ERR_UNKNOWN;
}

void *cg_lib_sym(int lib, const char *name)
{
    ensure_real_dlsym();
    void *h = lib_get(lib);
    return h && cg_real_dlsym ? cg_real_dlsym(h, name) : NULL;
}

void *cg_drv_sym(const char *name)
{
    return cg_lib_sym(CG_LIB_DRV, name);
}

/* No libc string function here: the dlsym redirect runs this for a sanitizer runtime's own
 * look-ups before that runtime is ready, and its interceptors (TSan's strcmp) are not. */
static int same_name(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

int cg_hook_by_name(const char *name)
{
    for (int h = 0; h < HK_COUNT; h++)
        if (cg_hooks[h].name[0] == name[0] && same_name(cg_hooks[h].name, name))
            return h;
    return -1;
}

/* Remember `real` as hook h's real function (its library pinned); refuse if another one is
 * already known. */
static int claim(int h, void *real)
{
    void *expected = NULL;
    if (__atomic_load_n(&cg_real_ptr[h], __ATOMIC_ACQUIRE) == NULL)
        pin(real);
    if (__atomic_compare_exchange_n(&cg_real_ptr[h], &expected, real, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return 1;
    return expected == real;
}

/* Called by the dlsym trampoline: our wrapper for a hooked name asked of its own library's
 * handle, else NULL (the trampoline then tail-jumps to the real dlsym). */
void *cg_dlsym_redirect(void *handle, const char *name);
void *cg_dlsym_redirect(void *handle, const char *name)
{
    int saved = errno;
    void *out = NULL;
    ensure_real_dlsym();
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
    if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm || lib_of_path(lm->l_name) != (int)cg_hooks[h].lib)
        goto done;
    void *real = cg_real_dlsym(handle, name);
    if (real && real != cg_hooks[h].wrapper && claim(h, real))
        out = cg_hooks[h].wrapper;
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
        if (cg_hooks[h].wrapper == p) /* already ours: a driver whose 4-argument lookup calls the */
            return p;                 /* 5-argument one through its PLT reached our wrapper */
        if (cg_hooks[h].lib == CG_LIB_DRV && __atomic_load_n(&cg_real_ptr[h], __ATOMIC_ACQUIRE) == p)
            return cg_hooks[h].wrapper;
    }
    if (strcmp(sym, "cuGetProcAddress") == 0) {
        /* Not an export we know: its ABI follows the version asked for (4 args below 12000). */
        int h = ver >= 12000 ? HK_cuGetProcAddress_v2 : HK_cuGetProcAddress;
        return claim(h, p) ? cg_hooks[h].wrapper : p;
    }
    if (cg_hook_by_name(sym) >= 0) { /* a hooked name, but a variant we do not know: say which */
        __atomic_add_fetch(&proc_unmatched, 1, __ATOMIC_RELAXED);
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

unsigned cg_proc_unmatched(void)
{
    return __atomic_load_n(&proc_unmatched, __ATOMIC_RELAXED);
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
