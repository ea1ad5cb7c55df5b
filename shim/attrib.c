/* Attribution: where a call came from. Native frames as module+offset (+symbol where the
 * dynamic symbol table knows it), capguard's own frames skipped; and, when the process runs
 * CPython and the calling thread holds the GIL, the innermost Python frames (file:line func).
 * Runs only on the violation path. Must never: take the GIL, call Python without holding it,
 * or run in a signal handler (backtrace and dladdr are not async-signal-safe). */
#include <dlfcn.h>
#include <execinfo.h>
#include <stdio.h>
#include <string.h>
#include "core.h"

#define CG_MAX_FRAMES 64
#define CG_PY_FRAMES 4

struct py_api {
    int (*gil_check)(void);
    void *(*get_frame)(void);         /* PyEval_GetFrame: borrowed */
    int (*line)(void *);              /* PyFrame_GetLineNumber */
    void *(*code)(void *);            /* PyFrame_GetCode: new ref */
    void *(*back)(void *);            /* PyFrame_GetBack: new ref */
    void *(*getattr)(void *, const char *);
    const char *(*utf8)(void *);
    void (*decref)(void *);
    void (*err_clear)(void);
};
static struct py_api py;
static int py_ready;

static void *self_base;

void cg_attrib_init(void)
{
    void *buf[2];
    backtrace(buf, 2); /* loads libgcc's unwinder now, not inside a hook later */
    Dl_info di;
    if (dladdr((void *)cg_attrib_init, &di))
        self_base = di.dli_fbase;
}

static void py_resolve(void)
{
    if (py_ready)
        return;
    py_ready = -1;
    if (!cg_cfg.python || !dlsym(RTLD_DEFAULT, "Py_IsInitialized"))
        return;
    py.gil_check = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Check");
    py.get_frame = (void *(*)(void))dlsym(RTLD_DEFAULT, "PyEval_GetFrame");
    py.line = (int (*)(void *))dlsym(RTLD_DEFAULT, "PyFrame_GetLineNumber");
    py.code = (void *(*)(void *))dlsym(RTLD_DEFAULT, "PyFrame_GetCode");
    py.back = (void *(*)(void *))dlsym(RTLD_DEFAULT, "PyFrame_GetBack");
    py.getattr = (void *(*)(void *, const char *))dlsym(RTLD_DEFAULT, "PyObject_GetAttrString");
    py.utf8 = (const char *(*)(void *))dlsym(RTLD_DEFAULT, "PyUnicode_AsUTF8");
    py.decref = (void (*)(void *))dlsym(RTLD_DEFAULT, "Py_DecRef");
    py.err_clear = (void (*)(void))dlsym(RTLD_DEFAULT, "PyErr_Clear");
    if (py.gil_check && py.get_frame && py.line && py.code && py.back && py.getattr && py.utf8 &&
        py.decref && py.err_clear)
        py_ready = 1;
}

static const char *py_str_attr(void *obj, const char *attr, char *out, size_t n)
{
    void *v = py.getattr(obj, attr);
    const char *s = v ? py.utf8(v) : NULL;
    snprintf(out, n, "%s", s ? s : "?");
    if (v)
        py.decref(v);
    if (!s)
        py.err_clear();
    return out;
}

static void python_frames(struct cg_site *s)
{
    py_resolve();
    if (py_ready != 1 || !py.gil_check())
        return;
    void *f = py.get_frame();
    size_t used = 0;
    int first = 1;
    void *owned = NULL;
    for (int i = 0; f && i < CG_PY_FRAMES; i++) {
        char file[200], func[100], q1[300], q2[160];
        void *code = py.code(f);
        if (!code)
            break;
        py_str_attr(code, "co_filename", file, sizeof file);
        py_str_attr(code, "co_name", func, sizeof func);
        py.decref(code);
        int line = py.line(f);
        cg_json_str(q1, sizeof q1, file);
        cg_json_str(q2, sizeof q2, func);
        int w = snprintf(s->python + used, sizeof s->python - used, "%s{\"file\":%s,\"line\":%d,\"func\":%s}",
                         first ? "" : ",", q1, line, q2);
        if (w < 0 || (size_t)w >= sizeof s->python - used) {
            s->python[used] = 0;
            break;
        }
        used += (size_t)w;
        if (first) {
            const char *b = strrchr(file, '/');
            snprintf(s->brief, sizeof s->brief, "%.150s:%d in %.80s", b ? b + 1 : file, line, func);
            s->hash = s->hash * 31 + (uint64_t)line;
            for (const char *p = file; *p; p++)
                s->hash = s->hash * 131 + (unsigned char)*p;
        }
        first = 0;
        void *back = py.back(f);
        if (owned)
            py.decref(owned);
        owned = back;
        f = back;
    }
    if (owned)
        py.decref(owned);
}

void cg_site_capture(struct cg_site *s, int skip)
{
    void *pcs[CG_MAX_FRAMES];
    s->native[0] = s->python[0] = s->brief[0] = 0;
    s->hash = 1469598103934665603ull;
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
        uintptr_t off = (uintptr_t)pcs[i] - (uintptr_t)di.dli_fbase;
        char qmod[160], qsym[200] = "null";
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
            if (di.dli_sname)
                snprintf(s->brief, sizeof s->brief, "%s+0x%lx (%s)", mod, (unsigned long)off, di.dli_sname);
            else
                snprintf(s->brief, sizeof s->brief, "%s+0x%lx", mod, (unsigned long)off);
        }
        s->hash = (s->hash ^ off) * 1099511628211ull;
        kept++;
    }
    python_frames(s); /* a Python line, when there is one, is the better brief */
    if (!s->brief[0])
        snprintf(s->brief, sizeof s->brief, "unknown site");
}
