/* Test programs that wait for capguard to have said something: does a JSONL log in `dir` have a
 * line containing every one of the given strings (NULL ends the list)? Reads the files afresh. */
#ifndef LOGSCAN_H
#define LOGSCAN_H
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int logscan_has(const char *dir, ...)
{
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    char path[4096], line[8192];
    int found = 0;
    while (d && !found && (e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, ".jsonl"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "r");
        while (f && !found && fgets(line, sizeof line, f)) {
            va_list ap;
            va_start(ap, dir);
            const char *want;
            found = 1;
            while ((want = va_arg(ap, const char *)) != NULL)
                found = found && strstr(line, want) != NULL;
            va_end(ap);
        }
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return found;
}
#endif
