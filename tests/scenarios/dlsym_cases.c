/* How programs look entry points up by handle (vLLM's ctypes NCCL, Triton's libcuda, cudart's
 * own driver lookup) and what capguard must do: redirect a hooked name asked of its own
 * library's handle; leave a same-named lookup in another library alone; keep RTLD_NEXT working.
 * Prints facts ("fact NAME 0|1"); the runner says which values each configuration must give. */
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <stdio.h>

int main(void)
{
    void *rt = dlopen("libcudart.so.13", RTLD_NOW | RTLD_LOCAL);
    void *libm = dlopen("libm.so.6", RTLD_NOW);
    if (!rt || !libm)
        return 3;
    void *by_handle = dlsym(rt, "cudaStreamSynchronize");
    void *global = dlsym(RTLD_DEFAULT, "cudaStreamSynchronize");
    printf("fact handle_lookup_found %d\n", by_handle != NULL);
    printf("fact handle_lookup_is_preload %d\n", by_handle != NULL && by_handle == global);
    printf("fact other_lib_lookup_null %d\n", dlsym(libm, "cudaStreamSynchronize") == NULL);
    printf("fact unhooked_name_found %d\n", dlsym(rt, "cudaGetDeviceCount") != NULL);
    int n = -1;
    int rc = cudaGetDeviceCount(&n); /* a direct call: a preload that interposes it goes first */
    fprintf(stderr, "dlsym_cases: cudaGetDeviceCount -> %d, n = %d\n", rc, n);
    printf("fact device_count_ok %d\n", rc == 0 && n >= 1);
    return 0;
}
