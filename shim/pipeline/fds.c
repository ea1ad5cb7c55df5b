/* close(): a descriptor the memo keeps open (base/fds.c) is not closed; every other one goes to
 * libc's close at once. */
#include <unistd.h>
#include "pipeline.h"

typedef int (*close_t)(int);

CG_EXPORT int close(int fd)
{
    if (__builtin_expect(!cg_fd_kept(fd), 1)) {
        close_t real = (close_t)cg_real(HK_close);
        return real ? real(fd) : cg_fd_close_real(fd);
    }
    return 0;
}
