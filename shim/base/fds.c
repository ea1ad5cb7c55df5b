/* Descriptors the memo keeps open: a POSIX fd exported from a VMM allocation it knows stays open at
 * one number while the allocation lives (features/memo.c), so that a peer's pidfd_getfd finds it
 * whatever the order of the ranks inside a capture, where the barriers that used to order them are
 * answered from the memo. The program's close() of a kept number succeeds and does nothing
 * (pipeline/fds.c); the memo closes it for real when the allocation goes.
 * Must never: keep a number the memo did not hand out, or cost more than one load on a close()
 * while nothing is kept. */
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "base.h"

static unsigned char kept[CG_KEPT_FDS];
static unsigned n_kept;

void cg_fd_keep(int fd, int on)
{
    if (fd < 0 || fd >= CG_KEPT_FDS)
        return;
    unsigned char was = __atomic_exchange_n(&kept[fd], (unsigned char)(on != 0), __ATOMIC_ACQ_REL);
    if (was != (on != 0))
        on ? __atomic_add_fetch(&n_kept, 1, __ATOMIC_ACQ_REL) : __atomic_sub_fetch(&n_kept, 1, __ATOMIC_ACQ_REL);
}

int cg_fd_kept(int fd)
{
    if (__builtin_expect(__atomic_load_n(&n_kept, __ATOMIC_ACQUIRE) == 0, 1) || fd < 0 || fd >= CG_KEPT_FDS)
        return 0;
    return __atomic_load_n(&kept[fd], __ATOMIC_ACQUIRE);
}

int cg_fd_close_real(int fd)
{
    return (int)syscall(SYS_close, fd);
}

/* A forked child keeps nothing: its memo is empty (its copies of the numbers are plain fds). */
void cg_fds_after_fork(void)
{
    memset(kept, 0, sizeof kept);
    n_kept = 0;
}
