/* Defect 6: a child forked while the parent has deferred work queued (Python's multiprocessing
 * forks workers exactly so). The parent defers 100 syncs of its capturing stream, then forks;
 * the child runs a capture of its own with one sync inside. The child must neither replay the
 * parent's deferred calls nor find the queue full. Prints "child sync RC end RC" (from the
 * child) and "parent end RC". */
#include <sys/wait.h>
#include <unistd.h>
#include "scen.h"

static void capture_one(const char *who)
{
    cudaStream_t s;
    char label[32];
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    snprintf(label, sizeof label, "%s_sync", who);
    RC(label, cudaStreamSynchronize(s));
    snprintf(label, sizeof label, "%s_end", who);
    scen_end(s, label);
}

int main(void)
{
    cudaStream_t s;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    int deferred = 0;
    for (int i = 0; i < 100; i++)
        deferred += cudaStreamSynchronize(s) == cudaSuccess;
    printf("parent deferred %d\n", deferred);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        capture_one("child");
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    printf("child_exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    scen_end(s, "parent_end");
    return 0;
}
