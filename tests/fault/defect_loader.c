/* Defect 4: lock order against the dynamic loader. One thread dlopens and dlcloses a library
 * whose constructor calls CUDA (the loader's lock held), while another captures with a
 * device-to-host copy in each capture (capguard names the copy's site: symbolizing takes the
 * loader's lock). With capguard holding its capture lock while symbolizing, the two deadlock.
 * Prints "done loads N captures N". */
#include <dlfcn.h>
#include <string.h>
#include "scen.h"

#define ROUNDS 400
static const char *lib;

static void *loader(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
        if (h)
            dlclose(h);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    cudaStream_t s;
    int *dev = NULL, host = 0;
    lib = argc > 1 ? argv[1] : "defect_loader_lib.so";
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaMalloc((void **)&dev, sizeof(int)));
    pthread_t t;
    pthread_create(&t, NULL, loader, NULL);
    int caps = 0;
    for (int i = 0; i < ROUNDS; i++) {
        cudaGraph_t g = NULL;
        MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
        (void)cudaMemcpyAsync(&host, dev, sizeof(int), cudaMemcpyDeviceToHost, s);
        if (cudaStreamEndCapture(s, &g) == cudaSuccess)
            caps++;
        if (g)
            cudaGraphDestroy(g);
    }
    pthread_join(t, NULL);
    printf("done loads %d captures %d\n", ROUNDS, caps);
    return 0;
}
