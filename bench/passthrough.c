/* The pass-through bound: the least any interposer can add, a one-line wrapper per entry point
 * that calls the next definition through a pointer cached from dlsym(RTLD_NEXT). Preloaded in the
 * benchmark's "pass" column (and tests/gpu/overhead.sh's). A library loaded with RTLD_LOCAL (CuPy's
 * NCCL, a Python extension's dependency) is not in RTLD_NEXT's scope: then its already-loaded copy
 * is asked directly, as any interposer must (calling NULL crashed CuPy on the H200). */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>

#define EXPORT __attribute__((visibility("default")))

static void *next_sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    const char *lib = name[0] == 'n' ? "libnccl.so.2" : name[0] == 'M' ? "libmpi.so.40" : "libcuda.so.1";
    void *h = p ? NULL : dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
    return p ? p : h ? dlsym(h, name) : NULL;
}

#define PASS(ret, name, params, args)                                                     \
    EXPORT ret name params;                                                               \
    EXPORT ret name params                                                                \
    {                                                                                     \
        static ret(*real) params;                                                         \
        if (__builtin_expect(!real, 0))                                                   \
            real = (ret(*) params)next_sym(#name);                                        \
        return real ? real args : (ret)999;                                               \
    }

PASS(int, cuStreamQuery, (void *s), (s))
PASS(int, cuStreamSynchronize, (void *s), (s))
PASS(int, cuStreamBeginCapture_v2, (void *s, int m), (s, m))
PASS(int, cuStreamEndCapture, (void *s, void **g), (s, g))
PASS(int, cuEventRecord, (void *e, void *s), (e, s))
PASS(int, cuGraphLaunch, (void *e, void *s), (e, s))
PASS(int, ncclCommRegister, (void *c, void *b, size_t n, void **h), (c, b, n, h))
PASS(int, ncclCommDeregister, (void *c, void *h), (c, h))
PASS(int, ncclAllReduce, (const void *sb, void *rb, size_t n, int dt, int op, void *c, void *s),
     (sb, rb, n, dt, op, c, s))
PASS(int, MPI_Allreduce, (const void *sb, void *rb, int n, void *dt, void *op, void *comm),
     (sb, rb, n, dt, op, comm))
