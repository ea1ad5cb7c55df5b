/* A second preload that, like many tracing tools, interposes a function and finds the real one
 * with dlsym(RTLD_NEXT, ...). Preloaded beside capguard, it must still reach the next library
 * (a dlsym override that is not a tail call would make RTLD_NEXT mean "after capguard"). */
#include <dlfcn.h>
#include <stdio.h>

__attribute__((visibility("default"))) int cudaGetDeviceCount(int *n);
__attribute__((visibility("default"))) int cudaGetDeviceCount(int *n)
{
    static int (*real)(int *);
    static int depth;
    if (!real)
        real = (int (*)(int *))dlsym(RTLD_NEXT, "cudaGetDeviceCount");
    if (!real || depth)
        return 999;
    depth++;
    int r = real(n);
    depth--;
    fprintf(stderr, "nextlib: forwarded cudaGetDeviceCount -> %d\n", r);
    return r;
}
