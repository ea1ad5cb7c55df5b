/* The calling thread's innermost Python frames (file:line function; CAPGUARD_PY_DEPTH of them for a
 * violation, the first few for a call's own site), read WITHOUT the GIL:
 * PyTorch and ctypes release it around CUDA calls, and taking it in a hook can deadlock (the
 * caller may hold a lock the GIL's holder waits for). The thread's own frame stack is frozen
 * while it is in C, so it is read through the CPython layouts of pyframes.def (generated from
 * each version's headers), every pointer checked by type and every read made with
 * process_vm_readv on ourselves, so that a wrong layout yields no frame, never a crash.
 * When that finds nothing (no layout for this version) and the thread holds the GIL, the public
 * API is used instead.
 * Must never: call into Python without the GIL, allocate Python objects, or write anything. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "base.h"

#define CG_PY_WALK_EXTRA 64 /* C-stack shim frames skipped at most, beyond the frames kept */
#define CG_OWNED_BY_CSTACK 3

struct layout {
    unsigned ver;
    int ts_frame, cframe_current, code, prev, instr, owner, filename, name, code_adaptive, ascii_size,
        ascii_len, ascii_state;
};
static const struct layout layouts[] = {
#define PYFRAMES(v, ...) {v, __VA_ARGS__},
#include "pyframes.def"
#undef PYFRAMES
};

static struct {
    int ready; /* 0 not yet, 1 usable, -1 not a Python process or disabled */
    const struct layout *lay;
    void *(*this_ts)(void);
    int (*initialized)(void);
    void *code_type, *unicode_type;
    int (*addr2line)(void *, int);
    int (*frame_line)(void *);
    /* the GIL-held fallback */
    int (*gil_check)(void);
    void *(*get_frame)(void);
    int (*line)(void *);
    void *(*frame_code)(void *);
    void *(*frame_back)(void *);
    void *(*getattr)(void *, const char *);
    const char *(*utf8)(void *);
    void (*decref)(void *);
    void (*err_clear)(void);
} py;

static void *sym(const char *name) { return dlsym(RTLD_DEFAULT, name); }

/* Filled once (pthread_once: another thread never sees a half-filled table), then read-only. */
static void py_fill(void)
{
    py.ready = -1;
    py.initialized = (int (*)(void))sym("Py_IsInitialized");
    if (!cg_cfg.python || !py.initialized)
        return;
    const unsigned long *version = sym("Py_Version");
    for (size_t i = 0; version && i < sizeof layouts / sizeof layouts[0]; i++)
        if (layouts[i].ver == ((*version >> 16) & 0xffff))
            py.lay = &layouts[i];
    py.this_ts = (void *(*)(void))sym("PyGILState_GetThisThreadState");
    py.code_type = sym("PyCode_Type");
    py.unicode_type = sym("PyUnicode_Type");
    py.addr2line = (int (*)(void *, int))sym("PyCode_Addr2Line");
    py.frame_line = (int (*)(void *))sym("PyUnstable_InterpreterFrame_GetLine");
    if (!py.this_ts || !py.code_type || !py.unicode_type || !py.addr2line)
        py.lay = NULL;
    py.gil_check = (int (*)(void))sym("PyGILState_Check");
    py.get_frame = (void *(*)(void))sym("PyEval_GetFrame");
    py.line = (int (*)(void *))sym("PyFrame_GetLineNumber");
    py.frame_code = (void *(*)(void *))sym("PyFrame_GetCode");
    py.frame_back = (void *(*)(void *))sym("PyFrame_GetBack");
    py.getattr = (void *(*)(void *, const char *))sym("PyObject_GetAttrString");
    py.utf8 = (const char *(*)(void *))sym("PyUnicode_AsUTF8");
    py.decref = (void (*)(void *))sym("Py_DecRef");
    py.err_clear = (void (*)(void))sym("PyErr_Clear");
    int api = py.gil_check && py.get_frame && py.line && py.frame_code && py.frame_back && py.getattr &&
              py.utf8 && py.decref && py.err_clear;
    if (py.lay || api)
        py.ready = 1;
}

static pthread_once_t py_once = PTHREAD_ONCE_INIT;
static void py_resolve(void) { pthread_once(&py_once, py_fill); }

/* Read n bytes of our own memory; a bad address fails instead of faulting. */
static int peek(uintptr_t addr, void *out, size_t n)
{
    struct iovec local = {out, n}, remote = {(void *)addr, n};
    return addr && process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)n ? 0 : -1;
}

static uintptr_t peek_ptr(uintptr_t addr)
{
    uintptr_t v = 0;
    return peek(addr, &v, sizeof v) == 0 ? v : 0;
}

static int is_type(uintptr_t obj, void *type)
{
    return obj && peek_ptr(obj + sizeof(void *)) == (uintptr_t)type; /* ob_type follows ob_refcnt */
}

/* A compact ASCII str's characters (file names and function names nearly always are). */
static void read_ascii(uintptr_t obj, char *out, size_t n)
{
    const struct layout *L = py.lay;
    uint32_t state = 0;
    ssize_t len = 0;
    snprintf(out, n, "?");
    if (!is_type(obj, py.unicode_type) || peek(obj + (uintptr_t)L->ascii_state, &state, sizeof state) ||
        peek(obj + (uintptr_t)L->ascii_len, &len, sizeof len))
        return;
    if (!(state & (1u << 5)) || !(state & (1u << 6)) || len < 0) /* compact, ascii */
        return;
    size_t take = (size_t)len < n - 1 ? (size_t)len : n - 1;
    if (peek(obj + (uintptr_t)L->ascii_size, out, take) == 0)
        out[take] = 0;
}

typedef void (*frame_sink)(struct cg_site *s, int first, const char *file, int line, const char *func);

/* The frames of thread state ts. The calling thread's own (own = 1) may be asked for their line;
 * another thread's are read only through peek, the line computed from the code object. */
static int walk_nogil(uintptr_t ts, int own, unsigned max, struct cg_site *s, frame_sink sink)
{
    const struct layout *L = py.lay;
    uintptr_t frame;
    if (!ts)
        return 0;
    frame = peek_ptr(ts + (uintptr_t)L->ts_frame);
    if (L->cframe_current >= 0)
        frame = peek_ptr(frame + (uintptr_t)L->cframe_current);
    int kept = 0;
    for (unsigned i = 0; frame && i < max + CG_PY_WALK_EXTRA && (unsigned)kept < max; i++) {
        uintptr_t code = peek_ptr(frame + (uintptr_t)L->code), prev = peek_ptr(frame + (uintptr_t)L->prev);
        unsigned char owner = 0;
        peek(frame + (uintptr_t)L->owner, &owner, 1);
        if ((L->ver >= 0x30c && owner == CG_OWNED_BY_CSTACK) || !is_type(code, py.code_type)) {
            frame = prev;
            continue;
        }
        int line;
        if (py.frame_line && own) {
            line = py.frame_line((void *)frame);
        } else {
            uintptr_t instr = peek_ptr(frame + (uintptr_t)L->instr);
            line = py.addr2line((void *)code, (int)((intptr_t)instr - (intptr_t)(code + (uintptr_t)L->code_adaptive)));
        }
        char file[200], func[100];
        read_ascii(peek_ptr(code + (uintptr_t)L->filename), file, sizeof file);
        read_ascii(peek_ptr(code + (uintptr_t)L->name), func, sizeof func);
        sink(s, kept == 0, file, line, func);
        kept++;
        frame = prev;
    }
    return kept;
}

static void attr(void *obj, const char *name, char *out, size_t n)
{
    void *v = py.getattr(obj, name);
    const char *str = v ? py.utf8(v) : NULL;
    snprintf(out, n, "%s", str ? str : "?");
    if (v)
        py.decref(v);
    if (!str)
        py.err_clear();
}

/* Only with the GIL held: the public API. */
static void walk_api(unsigned max, struct cg_site *s, frame_sink sink)
{
    void *f = py.get_frame(), *owned = NULL;
    for (unsigned i = 0; f && i < max; i++) {
        char file[200], func[100];
        void *code = py.frame_code(f);
        if (!code)
            break;
        attr(code, "co_filename", file, sizeof file);
        attr(code, "co_name", func, sizeof func);
        py.decref(code);
        sink(s, i == 0, file, py.line(f), func);
        void *back = py.frame_back(f);
        if (owned)
            py.decref(owned);
        owned = f = back;
    }
    if (owned)
        py.decref(owned);
}

/* Library frames (torch.cuda.synchronize, Tensor.__repr__'s formatting, the standard library) are
 * where the call went, not where the user made it: the one-line site names the innermost frame
 * outside them. Library code: the interpreter's own directory (lib/python3.*: the standard
 * library, site-packages), dist-packages, frozen modules, and CAPGUARD_LIB_PATHS. */
static int library_frame(const char *file)
{
    if (strstr(file, "/lib/python3") || strstr(file, "/site-packages/") || strstr(file, "/dist-packages/") ||
        strncmp(file, "<frozen ", 8) == 0)
        return 1;
    for (const char *p = cg_cfg.lib_paths; *p;) {
        size_t len = strcspn(p, ":");
        while (len > 1 && p[len - 1] == '/')
            len--; /* "/opt/lib/" and "/opt/lib" alike */
        if (strncmp(file, p, len) == 0 && file[len] == '/')
            return 1;
        p += strcspn(p, ":");
        if (*p)
            p++;
    }
    return 0;
}

static void add_frame(struct cg_site *s, int first, const char *file, int line, const char *func)
{
    char qfile[300], qfunc[160];
    size_t used = strlen(s->python);
    cg_json_str(qfile, sizeof qfile, file);
    cg_json_str(qfunc, sizeof qfunc, func);
    int w = snprintf(s->python + used, sizeof s->python - used, "%s{\"file\":%s,\"line\":%d,\"func\":%s}",
                     first ? "" : ",", qfile, line, qfunc);
    if (w < 0 || (size_t)w >= sizeof s->python - used)
        s->python[used] = 0;
    if (first) {
        s->py_brief_user = 0;
        s->call_hash = 1469598103934665603ull * 31 + (uint64_t)line;
        for (const char *p = file; *p; p++)
            s->call_hash = s->call_hash * 131 + (unsigned char)*p;
    }
    if (!first && (s->py_brief_user || library_frame(file)))
        return; /* the brief is already the innermost frame outside library code */
    s->py_brief_user = !library_frame(file);
    const char *b = strrchr(file, '/');
    snprintf(s->brief, sizeof s->brief, "%.150s:%d in %.80s", b ? b + 1 : file, line, func);
    s->hash = s->hash * 31 + (uint64_t)line;
    for (const char *p = file; *p; p++)
        s->hash = s->hash * 131 + (unsigned char)*p;
}

void cg_python_frames(struct cg_site *s, unsigned max)
{
    py_resolve();
    if (py.ready != 1 || !py.initialized())
        return;
    if (py.lay && walk_nogil((uintptr_t)py.this_ts(), 1, max, s, add_frame))
        return;
    if (py.gil_check && py.gil_check() && py.get_frame)
        walk_api(max, s, add_frame);
}

void *cg_python_tstate(void)
{
    py_resolve();
    return py.ready == 1 && py.lay && py.initialized() ? py.this_ts() : NULL;
}

void cg_python_frames_of(void *tstate, struct cg_site *s)
{
    py_resolve();
    if (tstate && py.ready == 1 && py.lay && py.initialized())
        walk_nogil((uintptr_t)tstate, 0, cg_cfg.py_depth, s, add_frame);
}
