/* Defect 4's library: its constructor, which runs inside dlopen with the loader's lock held,
 * makes a CUDA call that capguard judges while another thread captures. */
#include "scen.h"

__attribute__((constructor)) static void loader_ctor(void)
{
    cudaEvent_t e;
    if (cudaEventCreate(&e) == cudaSuccess) {
        (void)cudaEventQuery(e);
        (void)cudaEventDestroy(e);
    }
}
