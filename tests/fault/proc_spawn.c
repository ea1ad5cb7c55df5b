/* vfork()+exec and posix_spawn() of child programs while a capture is in progress in the
 * parent (process.sh). argv[1] is a CUDA program to spawn (it inherits LD_PRELOAD and CAPGUARD).
 * The parent captures on a stream (Global), then, with the capture in progress:
 *   vfork + execve("/bin/sh", "sh -c 'exit 7'")  -> "vfork_exit N"
 *   posix_spawn(/bin/sh -c 'exit 5')             -> "spawn_sh_exit N"
 *   posix_spawn(argv[1])                         -> "spawn_cuda_exit N" (its own "rc" lines too)
 * then checks that its capture is still active ("rc capturing N" and "capture_status N"),
 * makes a cudaDeviceSynchronize inside it and ends it ("rc parent_sync N", "rc parent_end N").
 * Each child is waited for at most 10 s (then killed: "..._hung"). */
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "scen.h"

extern char **environ;

/* Waits for pid; fd is the read end of a pipe whose write end only the child holds. */
static void reap(const char *what, pid_t pid, int fd)
{
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int st = 0;
    if (pid < 0) {
        printf("%s_failed\n", what);
        close(fd);
        return;
    }
    int hung = poll(&pf, 1, 10000) == 0;
    if (hung)
        kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    close(fd);
    if (hung)
        printf("%s_hung\n", what);
    else
        printf("%s_exit %d\n", what, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    fflush(stdout);
}

static pid_t spawn(char *const *argv, int fds[2])
{
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    return rc == 0 ? pid : -1;
}

int main(int argc, char **argv)
{
    cudaStream_t s;
    int fds[2];
    if (argc < 2)
        return 2;
    MUST(cudaSetDevice(0));
    MUST(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    MUST(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    MUST(cudaLaunchHostFunc(s, scen_noop, NULL));
    fflush(stdout);

    if (pipe(fds) != 0)
        return 4;
    pid_t pid = vfork();
    if (pid == 0) {
        char *const sh[] = {"/bin/sh", "-c", "exit 7", NULL};
        close(fds[0]);
        execve(sh[0], sh, environ);
        _exit(127);
    }
    close(fds[1]);
    reap("vfork", pid, fds[0]);

    if (pipe(fds) != 0)
        return 4;
    char *const sh5[] = {"/bin/sh", "-c", "exit 5", NULL};
    reap("spawn_sh", spawn(sh5, fds), fds[0]);

    if (pipe(fds) != 0)
        return 4;
    char *const prog[] = {argv[1], NULL};
    reap("spawn_cuda", spawn(prog, fds), fds[0]);

    enum cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    RC("capturing", cudaStreamIsCapturing(s, &cs));
    printf("capture_status %d\n", (int)cs);
    RC("parent_sync", cudaDeviceSynchronize());
    scen_end(s, "parent_end");
    return 0;
}
