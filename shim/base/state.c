/* Process and thread state every layer reads: the thread-locals, the process's state, the gate
 * (the one word every wrapper tests first), the configuration as config.c parsed it, thread ids
 * and the environment as capguard may read it.
 * Must never: allocate, lock, or call anything but gettid and secure_getenv. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "base.h"

__thread struct cg_tls cg_tls __attribute__((tls_model("initial-exec")));
int cg_state = CG_UNINIT;
unsigned cg_gate = CG_GATE_INIT;
struct cg_config cg_cfg;
unsigned char cg_policy_of[HK_COUNT];

/* A setuid, setgid or capability-raised program's environment is not read (config.c). */
const char *cg_env(const char *name) { return secure_getenv(name); }

int cg_tid_slow(void)
{
    cg_tls.tid = (int)syscall(SYS_gettid);
    return cg_tls.tid;
}
