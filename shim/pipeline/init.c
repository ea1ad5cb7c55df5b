/* Process-level life of the shim: lazy initialisation (hooks may run before the constructor),
 * the constructor/destructor, fork handling. The modules' rounds (init, after_fork, summary)
 * are the pipeline's (call.c); this file only says when.
 * Must never: exit, abort, take a lock a hook could already hold, or allocate after fork. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "pipeline.h"

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void atfork_child(void)
{
    cg_tls.tid = 0;
    cg_fds_after_fork();
    /* Every lock a parent's other thread may have held; real pointers and handles stay valid. */
    cg_modules_after_fork();
}

/* Another copy of capguard loaded before this one interposes the program's calls, and would hand
 * them to this copy as their "real" functions: this copy then stays inert (a plain forward), so
 * that each call is judged once and one log is written. */
static int another_copy_first(void)
{
    Dl_info mine, first;
    void *g = dlsym(RTLD_DEFAULT, "cudaDeviceSynchronize");
    if (!g || !dladdr((void *)cg_init, &mine) || !dladdr(g, &first) || first.dli_fbase == mine.dli_fbase ||
        !first.dli_fname)
        return 0;
    const char *b = strrchr(first.dli_fname, '/');
    b = b ? b + 1 : first.dli_fname;
    if (strncmp(b, "libcapguard", 11) != 0)
        return 0;
    cg_err("capguard: another copy of capguard (%s) is loaded first; this one (%s) stays inert\n", first.dli_fname,
           mine.dli_fname ? mine.dli_fname : "?");
    return 1;
}

static void do_init(void)
{
    int saved = errno;
    cg_config_load();
    if (cg_cfg.mode >= 0 && another_copy_first())
        cg_cfg.mode = -1;
    if (cg_cfg.mode < 0) {
        __atomic_store_n(&cg_state, CG_OFF, __ATOMIC_RELEASE);
        __atomic_store_n(&cg_gate, 0, __ATOMIC_RELEASE); /* every wrapper a plain forward */
        errno = saved;
        return;
    }
    cg_modules_init();
    pthread_atfork(NULL, NULL, atfork_child);
    __atomic_store_n(&cg_state, CG_ON, __ATOMIC_RELEASE);
    cg_gate_set(CG_GATE_ON, 1); /* keeping the bits a module's init set */
    cg_gate_set(CG_GATE_INIT, 0);
    cg_dump_signals_install();
    cg_exits_init();
    errno = saved;
}

int cg_init(void)
{
    /* A hook reached from inside our own initialisation passes through. */
    static __thread int initialising;
    if (initialising)
        return CG_OFF;
    initialising = 1;
    pthread_once(&init_once, do_init);
    initialising = 0;
    return __atomic_load_n(&cg_state, __ATOMIC_ACQUIRE);
}

__attribute__((constructor)) static void cg_ctor(void)
{
    /* Decide now only when CAPGUARD is visible: under a sanitizer runtime loaded first the
     * environment can still read empty here (seen with ASan+UBSan programs); the first hook
     * then decides, as it does when a hook runs before this constructor. */
    if (secure_getenv("CAPGUARD"))
        cg_init();
}

__attribute__((destructor)) static void cg_dtor(void)
{
    if (__atomic_load_n(&cg_state, __ATOMIC_ACQUIRE) != CG_ON)
        return;
    cg_modules_summary();
    /* Hooks after this point (other destructors, atexit handlers) pass straight through. */
    __atomic_store_n(&cg_state, CG_DOWN, __ATOMIC_RELEASE);
    __atomic_store_n(&cg_gate, 0, __ATOMIC_RELEASE);
}
