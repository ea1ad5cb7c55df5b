/* Fault injection for defect 10: a preload that delays the write of the log's start line by
 * 100 ms, widening the window in which another thread could write an event line first. */
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

ssize_t write(int fd, const void *buf, size_t n);
ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real)
        real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (n > 13 && memcmp(buf, "{\"ev\":\"start\"", 13) == 0)
        usleep(100000);
    return real(fd, buf, n);
}
