/* Defect 3: libcudart loaded with dlopen, used, dlclose'd and loaded again, three times; each
 * round also calls the runtime through the global scope (as an extension linked against
 * libcudart, loaded later, would: its reference binds to capguard's export). Each round runs a
 * capture with a device sync inside. Prints "round N sync RC end RC global RC". Capguard's
 * cached real pointers must stay valid (its libraries pinned), and every round stays guarded. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

typedef int (*fn0)(void);
typedef int (*fn_create)(void **, unsigned);
typedef int (*fn_begin)(void *, int);
typedef int (*fn_end)(void *, void **);

int main(void)
{
    for (int round = 0; round < 3; round++) {
        void *h = dlopen("libcudart.so.13", RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            fprintf(stderr, "dlopen: %s\n", dlerror());
            return 3;
        }
        fn_create create = (fn_create)dlsym(h, "cudaStreamCreateWithFlags");
        fn_begin begin = (fn_begin)dlsym(h, "cudaStreamBeginCapture");
        fn_end end = (fn_end)dlsym(h, "cudaStreamEndCapture");
        fn0 sync = (fn0)dlsym(h, "cudaDeviceSynchronize");
        fn0 global = (fn0)dlsym(RTLD_DEFAULT, "cudaDeviceSynchronize");
        void *s = NULL, *g = NULL;
        if (!create || !begin || !end || !sync || create(&s, 1) != 0 || begin(s, 0) != 0)
            return 3;
        int rs = sync();
        int re = end(s, &g);
        int rg = global ? global() : -1;
        printf("round %d sync %d end %d global %d\n", round, rs, re, rg);
        fflush(stdout);
        dlclose(h);
        /* take the unmapped range, so that a reload lands elsewhere */
        for (int k = 0; k < 256; k++)
            mmap(NULL, (size_t)4096 << (k % 6), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    return 0;
}
