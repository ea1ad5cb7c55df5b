/* A call capguard does not hook that fails inside a capture and ruins it (DEVICE-FACTS:
 * cudaDeviceSetLimit, 900 then 901): capguard knows it only from the driver's error log (issue 14,
 * part 1: features/witness.c).
 *   setlimit  cudaDeviceSetLimit on the capturing thread (Global capture)
 *   thread    the same call from another thread, while the main thread captures (Global)
 *   benign    first a failure that concerns no capture (a device attribute that does not exist:
 *             1), then setlimit's (as cuda-bindings' failing cuGetProcAddress probes come before
 *             a call: measured on an H200)
 *   clean     a capture with nothing wrong in it (the witness says nothing)
 * Prints "rc call N" and "rc end N". */
#include <string.h>
#include "scen.h"

static void *set_limit(void *arg)
{
    (void)arg;
    RC("call", cudaDeviceSetLimit(cudaLimitStackSize, 4096));
    return NULL;
}

int main(int argc, char **argv)
{
    const char *v = argc > 1 ? argv[1] : "setlimit";
    cudaStream_t s;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    MUST(cudaLaunchHostFunc(s, scen_noop, NULL));
    if (strcmp(v, "setlimit") == 0)
        set_limit(NULL);
    else if (strcmp(v, "benign") == 0) {
        int value = 0;
        RC("benign", cudaDeviceGetAttribute(&value, (enum cudaDeviceAttr)100000, 0));
        set_limit(NULL);
    } else if (strcmp(v, "thread") == 0)
        scen_threads(1, set_limit);
    scen_end(s, "end");
    return 0;
}
