/* The process around the calls:
 *   errno  a deferred and a rejected call leave errno exactly as the program set it (capguard's
 *          own work, such as creating its log directory, must not leak into it)
 *   fork   a child forked by a process that uses CUDA runs its own capture; its report goes to
 *          a log of its own (the parent's capture state and locks do not follow it)
 *   plain  nothing but main (used with the early.so preload: constructor/destructor calls) */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "scen.h"

static void capture_sync(const char *who)
{
    cudaStream_t s;
    char label[64];
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    MUST(cudaLaunchHostFunc(s, scen_noop, NULL));
    snprintf(label, sizeof label, "%s_sync", who);
    RC(label, cudaDeviceSynchronize());
    snprintf(label, sizeof label, "%s_end", who);
    scen_end(s, label);
}

int main(int argc, char **argv)
{
    const char *v = argc > 1 ? argv[1] : "plain";
    MUST(cudaSetDevice(0));
    if (strcmp(v, "errno") == 0) {
        cudaStream_t s;
        MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
        MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
        errno = 4242;
        cudaError_t a = cudaDeviceSynchronize();
        int e1 = errno;
        errno = 4243;
        cudaError_t b = cudaStreamQuery(s);
        int e2 = errno;
        printf("rc sync %d\nerrno_after_sync %d\nrc query %d\nerrno_after_query %d\n", (int)a, e1, (int)b, e2);
        scen_end(s, "end");
    } else if (strcmp(v, "fork") == 0) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            capture_sync("child");
            fflush(stdout);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        printf("child_exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        capture_sync("parent");
    }
    return 0;
}
