/* A call blocked for a while, and one blocked for good, under the watchdog (libcapguard.so
 * preloaded; the syncs are block_driver.c's). The main thread's cuStreamSynchronize blocks until
 * a helper thread releases it after RELEASE_MS (the blocked call is what is measured, not a
 * synchronization of the test); then a second thread blocks in cuCtxSynchronize for good and the
 * program exits while it is inside, once the log shows the watchdog named it (read from
 * $CAPGUARD_LOG_DIR, at most 10 s): the watchdog must not keep the process alive.
 * "watchdog nowait" does not wait (a run without the watchdog). "watchdog fork": a forked child
 * blocks for good; its own watchdog (started again in the child) must name it.
 * Prints "watchdog_sigblk MASK", "returned RC", "second_named N", "exiting" (or "child_named N");
 * tests/run.sh reads them, the log and stderr. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "logscan.h"

#define RELEASE_MS 1300

void block_release(int which);
int cuStreamSynchronize(void *s);
int cuCtxSynchronize(void);

static void *releaser(void *p)
{
    (void)p;
    struct timespec t = {RELEASE_MS / 1000, (RELEASE_MS % 1000) * 1000000L};
    nanosleep(&t, NULL);
    block_release(0);
    return NULL;
}

static void *blocked_for_good(void *p)
{
    (void)p;
    cuCtxSynchronize();
    return NULL;
}

/* Has the log named a call to `what` yet (by process `pid`, 0: any)? */
static int log_names(const char *what, int pid)
{
    char by[40] = "\"ev\":\"watchdog\"";
    if (pid)
        snprintf(by, sizeof by, "\"pid\":%d,", pid);
    return logscan_has(getenv("CAPGUARD_LOG_DIR"), "\"ev\":\"watchdog\"", what, by, (char *)NULL);
}

/* Wait (at most 10 s, polling the log) until the watchdog named `what` in process pid. */
static int wait_named(const char *what, int pid)
{
    int named = 0;
    for (int i = 0; i < 1000 && !(named = log_names(what, pid)); i++) {
        struct timespec t = {0, 10 * 1000000L};
        nanosleep(&t, NULL);
    }
    return named;
}

/* The watchdog thread's blocked signals, from /proc (it names itself cg-watchdog). */
static void print_watchdog_mask(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    char path[300], line[256];
    while (d && (e = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        int is_wd = f && fgets(line, sizeof line, f) && strncmp(line, "cg-watchdog", 11) == 0;
        if (f)
            fclose(f);
        if (!is_wd)
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
        f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "SigBlk:", 7) == 0)
                printf("watchdog_sigblk %s", line + 8);
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
}

int main(int argc, char **argv)
{
    int wait = !(argc > 1 && strcmp(argv[1], "nowait") == 0);
    if (argc > 1 && strcmp(argv[1], "fork") == 0) { /* the child's own watchdog names its call */
        pid_t child = fork();
        if (child == 0) {
            cuCtxSynchronize(); /* blocked for good */
            _exit(0);
        }
        int named = wait_named("cuCtxSynchronize", (int)child);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
        printf("child_named %d\n", named);
        return 0;
    }
    pthread_t r, b;
    pthread_create(&r, NULL, releaser, NULL);
    int rc = cuStreamSynchronize((void *)0x100);
    printf("returned %d\n", rc);
    print_watchdog_mask(); /* the watchdog thread has run for RELEASE_MS by now */
    pthread_join(r, NULL);
    pthread_create(&b, NULL, blocked_for_good, NULL);
    printf("second_named %d\n", wait ? wait_named("cuCtxSynchronize", 0) : -1);
    printf("exiting\n");
    fflush(stdout);
    return 0;
}
