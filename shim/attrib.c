/* Attribution: where a call came from. Native frames as module+offset (+symbol where the
 * dynamic symbol table knows it), capguard's own frames skipped; the Python frames come from
 * pyframes.c. Runs only on the violation path. Must never run in a signal handler (backtrace
 * and dladdr are not async-signal-safe). */
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <string.h>
#include "core.h"

#define CG_MAX_FRAMES (64 + 16) /* CAPGUARD_STACK_DEPTH frames after capguard's own are skipped */
#define FNV_START 1469598103934665603ull

static void *self_base;

void cg_attrib_init(void)
{
    void *buf[2];
    backtrace(buf, 2); /* loads libgcc's unwinder now, not inside a hook later */
    Dl_info di;
    if (dladdr((void *)cg_attrib_init, &di))
        self_base = di.dli_fbase;
}

static int is_sanitizer_runtime(const char *mod)
{
    static const char *const rt[] = {"libasan.so", "libtsan.so", "libubsan.so", "liblsan.so"};
    for (size_t i = 0; i < sizeof rt / sizeof rt[0]; i++)
        if (strncmp(mod, rt[i], strlen(rt[i])) == 0)
            return 1;
    return 0;
}

void cg_site_capture(struct cg_site *s, int skip)
{
    void *pcs[CG_MAX_FRAMES];
    s->native[0] = s->python[0] = s->brief[0] = 0;
    s->hash = s->call_hash = FNV_START;
    int n = cg_cfg.stack_depth ? backtrace(pcs, CG_MAX_FRAMES) : 0;
    size_t used = 0;
    int kept = 0;
    (void)skip;
    for (int i = 0; i < n && kept < (int)cg_cfg.stack_depth; i++) {
        Dl_info di;
        if (!dladdr(pcs[i], &di) || di.dli_fbase == self_base)
            continue; /* capguard's own frames */
        const char *mod = di.dli_fname ? strrchr(di.dli_fname, '/') : NULL;
        mod = mod ? mod + 1 : (di.dli_fname && di.dli_fname[0] ? di.dli_fname : "?");
        if (is_sanitizer_runtime(mod))
            continue; /* a sanitizer's backtrace interceptor, not the caller */
        uintptr_t off = (uintptr_t)pcs[i] - (uintptr_t)di.dli_fbase;
        char qmod[56], qsym[96] = "null"; /* with the keys: at most CG_FRAME_JSON_MAX */
        cg_json_str(qmod, sizeof qmod, mod);
        if (di.dli_sname)
            cg_json_str(qsym, sizeof qsym, di.dli_sname);
        int w = snprintf(s->native + used, sizeof s->native - used, "%s{\"module\":%s,\"offset\":\"0x%lx\",\"symbol\":%s}",
                         kept ? "," : "", qmod, (unsigned long)off, qsym);
        if (w < 0 || (size_t)w >= sizeof s->native - used) {
            s->native[used] = 0;
            break;
        }
        used += (size_t)w;
        if (!kept) {
            s->call_hash = (FNV_START ^ off) * 1099511628211ull;
            for (const char *p = mod; *p; p++)
                s->call_hash = (s->call_hash ^ (unsigned char)*p) * 1099511628211ull;
            if (di.dli_sname)
                snprintf(s->brief, sizeof s->brief, "%s+0x%lx (%s)", mod, (unsigned long)off, di.dli_sname);
            else
                snprintf(s->brief, sizeof s->brief, "%s+0x%lx", mod, (unsigned long)off);
        }
        s->hash = (s->hash ^ off) * 1099511628211ull;
        kept++;
    }
    cg_python_frames(s); /* a Python line, when there is one, is the better brief */
    if (!s->brief[0])
        snprintf(s->brief, sizeof s->brief, "unknown site");
}
