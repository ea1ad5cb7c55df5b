/* The pass-through bound: the least any interposer can add, a one-line wrapper per entry point
 * that calls the next definition through a pointer cached from dlsym(RTLD_NEXT). Preloaded in the
 * benchmark's "pass" column. */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>

#define EXPORT __attribute__((visibility("default")))
#define PASS(ret, name, params, args)                                                     \
    EXPORT ret name params;                                                               \
    EXPORT ret name params                                                                \
    {                                                                                     \
        static ret(*real) params;                                                         \
        if (__builtin_expect(!real, 0))                                                   \
            real = (ret(*) params)dlsym(RTLD_NEXT, #name);                                \
        return real args;                                                                 \
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
