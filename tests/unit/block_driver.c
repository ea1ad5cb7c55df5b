/* A driver double whose syncs block until the test lets them go: cuStreamSynchronize of stream
 * 0x100 and cuCtxSynchronize wait until block_release(which) is called; every other entry point
 * it has returns success at once. Built as libcuda.so.1 for tests/unit/observer.c and watchdog.c. */
#include <pthread.h>
#include <stdint.h>

#define EXPORT __attribute__((visibility("default")))
#define BLOCKING_STREAM ((void *)0x100)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int released[2];

static void wait_for(int which)
{
    pthread_mutex_lock(&mu);
    while (!released[which])
        pthread_cond_wait(&cv, &mu);
    released[which] = 0; /* the next call blocks again */
    pthread_mutex_unlock(&mu);
}

EXPORT void block_release(int which);
EXPORT void block_release(int which)
{
    pthread_mutex_lock(&mu);
    released[which] = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

EXPORT int cuStreamSynchronize(void *s);
EXPORT int cuStreamSynchronize(void *s)
{
    if (s == BLOCKING_STREAM)
        wait_for(0);
    return 0;
}
EXPORT int cuCtxSynchronize(void);
EXPORT int cuCtxSynchronize(void)
{
    wait_for(1);
    return 0;
}
EXPORT int cuStreamBeginCapture_v2(void *s, int mode);
EXPORT int cuStreamBeginCapture_v2(void *s, int mode) { (void)s; (void)mode; return 0; }
EXPORT int cuStreamEndCapture(void *s, void **g);
EXPORT int cuStreamEndCapture(void *s, void **g) { (void)s; *g = (void *)1; return 0; }
EXPORT int cuStreamGetFlags(void *s, unsigned *f);
EXPORT int cuStreamGetFlags(void *s, unsigned *f) { (void)s; *f = 1; return 0; }
