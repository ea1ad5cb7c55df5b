/* make sanitize, ASan+UBSan build: gcc 12 links two runtimes, libasan and libubsan, and each
 * keeps its own report file; both set it through the exported __sanitizer_set_report_path,
 * which binds to the runtime loaded first (libasan). So UBSAN_OPTIONS=log_path reaches
 * libasan's file, and UBSan's own runtime errors would still go to stderr, uncounted, into the
 * output the suite compares. Preloaded right after libasan (tests/sanitize/run.sh), this
 * constructor sets libubsan's own report path to $CG_UBSAN_LOG_PATH. Built without
 * instrumentation; it does nothing where libubsan is not loaded. */
#include <dlfcn.h>
#include <stdlib.h>

__attribute__((constructor)) static void cg_ubsan_log_path(void)
{
    const char *path = getenv("CG_UBSAN_LOG_PATH");
    void *h = path && *path ? dlopen("libubsan.so.1", RTLD_LAZY | RTLD_NOLOAD) : NULL;
    if (!h)
        return;
    /* dlsym on libubsan's own handle: its definition, not the one the global scope binds */
    void (*set)(const char *) = (void (*)(const char *))dlsym(h, "__sanitizer_set_report_path");
    if (set)
        set(path);
    dlclose(h);
}
