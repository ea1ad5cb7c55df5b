/* Real entry points: the real-pointer table (one slot per hook, resolved lazily, lock-free),
 * the libraries' handles (each library a real pointer comes from is pinned), and hook names.
 * The redirections that hand capguard's wrappers out (dlsym, cuGetProcAddress) are the
 * pipeline's (pipeline/redirect.c). Must never: call dlsym(RTLD_NEXT) on behalf of a caller,
 * or take an address inside capguard itself for a real function. */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include "base.h"

void *(*cg_real_dlsym)(void *, const char *);
void *cg_real_ptr[HK_COUNT];
static void *lib_handle[CG_LIB_COUNT];
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

void cg_ensure_real_dlsym(void)
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
int cg_lib_of_path(const char *path)
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
    if (info->dlpi_name && cg_lib_of_path(info->dlpi_name) == a->lib) {
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
    cg_ensure_real_dlsym();
    if (!cg_real_dlsym)
        return NULL;
    const char *name = cg_hooks[hook].name;
    void *p = cg_real_dlsym(RTLD_NEXT, name);
    if (!p || cg_is_self(p)) {
        void *h = lib_get(cg_hooks[hook].lib);
        p = h ? cg_real_dlsym(h, name) : NULL;
    }
    if (cg_is_self(p))
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
    cg_ensure_real_dlsym();
    void *h = lib_get(lib);
    return h && cg_real_dlsym ? cg_real_dlsym(h, name) : NULL;
}

/* capguard's own object, from the linker's symbols (no loader call: this runs inside dlsym) */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));
extern const char _end[] __attribute__((visibility("hidden")));
int cg_is_self(const void *addr)
{
    return addr && (const char *)addr >= __ehdr_start && (const char *)addr < _end;
}

unsigned cg_proc_unmatched(void) { return __atomic_load_n(&proc_unmatched, __ATOMIC_RELAXED); }
void cg_proc_unmatched_add(void) { __atomic_add_fetch(&proc_unmatched, 1, __ATOMIC_RELAXED); }

void *cg_drv_sym(const char *name)
{
    return cg_lib_sym(CG_LIB_DRV, name);
}

void *cg_drv_sym_once(void **cache, const char *name)
{
    void *p = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
    if (!p) {
        p = cg_drv_sym(name);
        __atomic_store_n(cache, p, __ATOMIC_RELEASE);
    }
    return p;
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
int cg_real_claim(int h, void *real)
{
    void *expected = NULL;
    if (__atomic_load_n(&cg_real_ptr[h], __ATOMIC_ACQUIRE) == NULL)
        pin(real);
    if (__atomic_compare_exchange_n(&cg_real_ptr[h], &expected, real, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return 1;
    return expected == real;
}

