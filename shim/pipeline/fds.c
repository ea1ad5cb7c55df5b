/* close(): a descriptor the memo keeps open (base/fds.c) is not closed; every other one goes to
 * libc's close at once. libc's close is looked up when the library loads, never in close() itself:
 * a forked child's first close must not take the loader's lock, which another thread of the
 * parent may have held at the fork (seen: a child of a multithreaded parent hung under TSan). */
#include <unistd.h>
#include "pipeline.h"

typedef int (*close_t)(int);
static close_t real_close;

__attribute__((constructor)) static void fds_init(void)
{
    __atomic_store_n(&real_close, (close_t)cg_real(HK_close), __ATOMIC_RELEASE);
}

CG_EXPORT int close(int fd)
{
    if (__builtin_expect(!cg_fd_kept(fd), 1)) {
        close_t real = __atomic_load_n(&real_close, __ATOMIC_ACQUIRE);
        return real ? real(fd) : cg_fd_close_real(fd);
    }
    return 0;
}
