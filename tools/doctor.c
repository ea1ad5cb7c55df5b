/* capguard doctor [-- CMD [ARGS...]]: checks a set-up and prints one line per check, "ok" or
 * "FIX" with what to do: the library, LD_PRELOAD's order, the CAPGUARD_* values (validated as the
 * library validates them: config.def), the log directory, the CUDA, NCCL and MPI libraries the
 * dynamic loader finds, whether NCCL's entry points can be interposed (a target that defines
 * them itself cannot), the MPI ABI, whether Python's frames can be read without the GIL, and
 * for a Python target the libraries its framework (torch) loads, with NCCL's interposability.
 * Exit status 1 when any line says FIX, else 0. Like the rest of the launcher it never loads
 * libcapguard.so; it does dlopen the CUDA, NCCL and MPI libraries (their constructors run).
 * Must never: run the target command (it is only inspected; a Python target's interpreter runs
 * `import torch` alone, under timeout 120). */
#define _GNU_SOURCE /* dlinfo */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "launcher.h"
#include "vocab.h"

static int fixes;

static void ok(const char *what, const char *fmt, const char *detail)
{
    printf("ok   %-14s ", what);
    printf(fmt, detail);
    putchar('\n');
}

static void fix(const char *what, const char *problem, const char *remedy)
{
    printf("FIX  %-14s %s; fix: %s\n", what, problem, remedy);
    fixes++;
}

/* ---- the variables, checked against config.def's table ---- */
struct var {
    const char *name, *type, *def, *accepted;
};
static const struct var vars[] = {
#define CG_VAR(name, field, type, def, accepted, help) {#name, #type, def, accepted},
#include "config.def"
#undef CG_VAR
};

static int uint_ok(const char *v, const char *accepted)
{
    unsigned long long lo = 0, hi = ~0ull, x;
    char *end;
    if (sscanf(accepted, "%llu..%llu", &lo, &hi) != 2 || !v[0] || v[0] < '0' || v[0] > '9')
        return 0;
    errno = 0;
    x = strtoull(v, &end, 10);
    return !errno && !*end && x >= lo && x <= hi;
}

static void check_vars(void)
{
    char msg[600];
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const struct var *x = &vars[i];
        const char *v = getenv(x->name);
        if (!v)
            continue;
        int good = 1;
        if (strcmp(x->type, "UINT") == 0)
            good = uint_ok(v, x->accepted);
        else if (strcmp(x->type, "BOOL") == 0 || strcmp(x->type, "MEMO") == 0)
            good = cg_in_list(v, x->accepted);
        else if (strcmp(x->type, "MODE") == 0)
            good = !v[0] || cg_in_list(v, x->accepted);
        else if (strcmp(x->type, "PATHS") == 0)
            good = cg_paths_ok(v, 1024);
        if (good)
            continue;
        snprintf(msg, sizeof msg, "%s=\"%.80s\" is not valid (the library uses the default \"%s\")", x->name, v, x->def);
        char remedy[400];
        snprintf(remedy, sizeof remedy, "set one of: %s", x->accepted);
        fix("variables", msg, remedy);
    }
    const char *w = getenv("CAPGUARD_WATCHDOG_MS");
    if (!w || uint_ok(w, "0..86400000"))
        ok("watchdog", "%s", !w ? "CAPGUARD_WATCHDOG_MS unset: 5000 ms" : strcmp(w, "0") == 0 ? "off (CAPGUARD_WATCHDOG_MS=0)" : w);
}

/* ---- the library and LD_PRELOAD ---- */
static int is_shared_object(const char *path)
{
    Elf64_Ehdr h;
    FILE *f = fopen(path, "rb");
    int good = f && fread(&h, sizeof h, 1, f) == 1 && memcmp(h.e_ident, ELFMAG, SELFMAG) == 0 && h.e_type == ET_DYN;
    if (f)
        fclose(f);
    return good;
}

static void check_library(char *lib)
{
    char looked[3 * PATH_MAX];
    if (cg_find_lib(lib, looked, sizeof looked) != 0) {
        lib[0] = 0;
        fix("library", "libcapguard.so not found", looked);
        return;
    }
    if (!is_shared_object(lib) || access(lib, R_OK) != 0)
        fix("library", lib, "it is not a readable shared object: reinstall (make install)");
    else
        ok("library", "%s", lib);
}

static void check_preload(const char *lib)
{
    const char *p = getenv("LD_PRELOAD");
    char first[PATH_MAX], real[PATH_MAX];
    if (!p || !*p) {
        ok("LD_PRELOAD", "%s", "unset: capguard run sets it (libcapguard.so first)");
        return;
    }
    size_t len = strcspn(p, ": ");
    snprintf(first, sizeof first, "%.*s", (int)len, p);
    int ours_first = lib[0] && (strcmp(first, lib) == 0 || (realpath(first, real) && strcmp(real, lib) == 0));
    if (ours_first)
        ok("LD_PRELOAD", "%s", "libcapguard.so is first");
    else if (strstr(p, "libcapguard"))
        fix("LD_PRELOAD", "another library is preloaded before libcapguard.so (it sees the program's calls first)",
            "put libcapguard.so first, or use capguard run");
    else
        ok("LD_PRELOAD", "%s", "does not hold libcapguard.so: capguard run adds it in front");
}

static void check_log_dir(void)
{
    const char *d = getenv("CAPGUARD_LOG_DIR");
    char msg[PATH_MAX + 80];
    d = d ? d : "./capguard-logs";
    struct stat st;
    if (stat(d, &st) == 0) {
        if (S_ISDIR(st.st_mode) && access(d, W_OK | X_OK) == 0) {
            ok("log directory", "%s (writable)", d);
            return;
        }
        snprintf(msg, sizeof msg, "%s is %s", d, S_ISDIR(st.st_mode) ? "not writable by this user" : "not a directory");
        fix("log directory", msg, "set CAPGUARD_LOG_DIR to a directory this user can write (events go to stderr only meanwhile)");
        return;
    }
    /* try what capguard would do (mkdir, 0700), and leave nothing behind */
    if (mkdir(d, 0700) == 0) {
        rmdir(d);
        ok("log directory", "%s (can be created, mode 0700)", d);
        return;
    }
    snprintf(msg, sizeof msg, "%s cannot be created (%s)", d, strerror(errno));
    fix("log directory", msg, "set CAPGUARD_LOG_DIR to a directory this user can write (events go to stderr only meanwhile)");
}

/* ---- the libraries the loader finds ---- */
static void *find_loaded(const char *const *names, char *path, size_t n)
{
    for (int i = 0; names[i]; i++) {
        void *h = dlopen(names[i], RTLD_LAZY | RTLD_LOCAL);
        struct link_map *lm = NULL;
        if (h && dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm) {
            snprintf(path, n, "%s", lm->l_name && lm->l_name[0] ? lm->l_name : names[i]);
            return h;
        }
    }
    return NULL;
}

static void check_libraries(void)
{
    static const char *const cuda[] = {"libcuda.so.1", NULL}, *const cudart[] = {"libcudart.so.13", "libcudart.so.12", "libcudart.so", NULL},
                             *const nccl[] = {"libnccl.so.2", "libnccl.so", NULL},
                             *const mpi[] = {"libmpi.so.40", "libmpi.so.12", "libmpi.so", NULL};
    char path[PATH_MAX];
    void *h;
    if ((h = find_loaded(cuda, path, sizeof path)))
        ok("libcuda", "%s", path);
    else
        ok("libcuda", "%s", "not found by the loader here (a GPU machine has it; the test doubles live in build/fakes)");
    if ((h = find_loaded(cudart, path, sizeof path)))
        ok("libcudart", "%s", path);
    else
        ok("libcudart", "%s", "not found: a program with cudart linked statically (plain nvcc) reaches the driver through "
                              "cuGetProcAddress, which capguard redirects");
    if ((h = find_loaded(nccl, path, sizeof path))) {
        char msg[PATH_MAX + 100];
        snprintf(msg, sizeof msg, "%s %s", path, dlsym(h, "ncclCommInitRank") ? "exports ncclCommInitRank (interposable)"
                                                                              : "does not export ncclCommInitRank");
        if (dlsym(h, "ncclCommInitRank"))
            ok("libnccl", "%s", msg);
        else
            fix("libnccl", msg, "use an NCCL build that exports its API (capguard sees none of its calls otherwise)");
    } else {
        ok("libnccl", "%s", "not found by the loader (none, or bundled with the framework: check with doctor -- CMD)");
    }
    if ((h = find_loaded(mpi, path, sizeof path))) {
        char msg[PATH_MAX + 60];
        const char *abi = dlsym(h, "ompi_mpi_comm_world") ? "Open MPI" : dlsym(h, "MPIR_Process") ? "MPICH" : NULL;
        snprintf(msg, sizeof msg, "%s, ABI %s", path, abi ? abi : "unknown");
        if (abi)
            ok("libmpi", "%s", msg);
        else
            fix("libmpi", msg, "its calls are forwarded untouched (named during captures, never memoized or refused)");
    } else {
        ok("libmpi", "%s", "not found by the loader (no MPI: nothing to check)");
    }
}

/* ---- a target: does it define NCCL's entry points itself (static NCCL)? its interpreter? ---- */
static int elf_defines(const char *path, const char *sym)
{
    FILE *f = fopen(path, "rb");
    Elf64_Ehdr h;
    int found = 0;
    if (!f || fread(&h, sizeof h, 1, f) != 1 || memcmp(h.e_ident, ELFMAG, SELFMAG) != 0 || h.e_ident[EI_CLASS] != ELFCLASS64) {
        if (f)
            fclose(f);
        return -1;
    }
    Elf64_Shdr *sh = calloc(h.e_shnum, sizeof *sh);
    if (sh && fseek(f, (long)h.e_shoff, SEEK_SET) == 0 && fread(sh, sizeof *sh, h.e_shnum, f) == h.e_shnum) {
        for (int i = 0; i < h.e_shnum && !found; i++) {
            if (sh[i].sh_type != SHT_DYNSYM && sh[i].sh_type != SHT_SYMTAB)
                continue;
            Elf64_Shdr *strs = sh[i].sh_link < h.e_shnum ? &sh[sh[i].sh_link] : NULL;
            char *names = strs ? malloc(strs->sh_size + 1) : NULL;
            Elf64_Sym *syms = malloc(sh[i].sh_size ? sh[i].sh_size : 1);
            if (names && syms && fseek(f, (long)strs->sh_offset, SEEK_SET) == 0 && fread(names, 1, strs->sh_size, f) == strs->sh_size &&
                fseek(f, (long)sh[i].sh_offset, SEEK_SET) == 0 && fread(syms, 1, sh[i].sh_size, f) == sh[i].sh_size) {
                names[strs->sh_size] = 0;
                for (size_t k = 0; k < sh[i].sh_size / sizeof *syms && !found; k++)
                    found = syms[k].st_shndx != SHN_UNDEF && syms[k].st_name < strs->sh_size &&
                            strcmp(names + syms[k].st_name, sym) == 0;
            }
            free(names);
            free(syms);
        }
    }
    free(sh);
    fclose(f);
    return found;
}

static int which(const char *cmd, char *out) /* out: PATH_MAX bytes */
{
    if (strchr(cmd, '/'))
        return realpath(cmd, out) ? 0 : -1;
    const char *path = getenv("PATH");
    char cand[PATH_MAX];
    for (const char *s = path ? path : "/usr/bin:/bin"; *s;) {
        size_t len = strcspn(s, ":");
        snprintf(cand, sizeof cand, "%.*s/%s", (int)len, s, cmd);
        if (access(cand, X_OK) == 0 && realpath(cand, out))
            return 0;
        s += len;
        if (*s)
            s++;
    }
    return -1;
}

/* Which CUDA, NCCL and MPI libraries the framework a Python target runs on loads (its wheels
 * bundle their own: nvidia-nccl-cu13 and others), read from the interpreter's own mappings after
 * `import torch`, in a child bounded by timeout(1). Only the import runs, never the target. */
static const char py_libs_script[] =
    "import sys\n"
    "try:\n"
    "    import torch\n"
    "    print('fw torch', torch.__version__)\n"
    "except Exception as e:\n"
    "    print('fw none', type(e).__name__)\n"
    "seen = set()\n"
    "for line in open('/proc/self/maps'):\n"
    "    f = line.split()\n"
    "    p = f[5] if len(f) > 5 else ''\n"
    "    b = p.rsplit('/', 1)[-1]\n"
    "    if b.startswith(('libcudart.so', 'libcuda.so', 'libnccl.so', 'libmpi.so')) and p not in seen:\n"
    "        seen.add(p)\n"
    "        print('lib', p)\n";

static void check_python_libs(const char *python)
{
    char script[] = "/tmp/capguard-doctor.XXXXXX";
    int fd = mkstemp(script);
    if (fd < 0 || write(fd, py_libs_script, sizeof py_libs_script - 1) != (ssize_t)(sizeof py_libs_script - 1)) {
        if (fd >= 0) {
            close(fd);
            unlink(script);
        }
        return;
    }
    close(fd);
    char cmd[2 * PATH_MAX + 80], line[PATH_MAX + 16], msg[PATH_MAX + 160], fw[120] = "";
    snprintf(cmd, sizeof cmd, "timeout 120 '%s' '%s' 2>/dev/null", python, script);
    FILE *p = popen(cmd, "r");
    int libs = 0, cudart = 0;
    while (p && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, "fw ", 3) == 0) {
            snprintf(fw, sizeof fw, "%.100s", line + 3);
            continue;
        }
        if (strncmp(line, "lib ", 4) != 0 || strncmp(fw, "torch", 5) != 0)
            continue;
        const char *path = line + 4, *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        libs++;
        cudart |= strncmp(base, "libcudart.so", 12) == 0;
        if (strncmp(base, "libnccl.so", 10) == 0) {
            void *h = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
            int exported = h && dlsym(h, "ncclCommInitRank");
            snprintf(msg, sizeof msg, "%s loads %s, which %s", fw, path,
                     exported ? "exports ncclCommInitRank (interposable)" : "does not export ncclCommInitRank");
            if (exported)
                ok("python libs", "%s", msg);
            else
                fix("python libs", msg, "use an NCCL build that exports its API (capguard sees none of its calls otherwise)");
        } else {
            snprintf(msg, sizeof msg, "%s loads %s", fw, path);
            ok("python libs", "%s", msg);
        }
    }
    if (p)
        pclose(p);
    unlink(script);
    if (strncmp(fw, "torch", 5) != 0) {
        snprintf(msg, sizeof msg, "%s imports no torch here (%s): the framework's libraries were not looked at", python,
                 fw[0] ? fw + 5 : "it did not run");
        ok("python libs", "%s", msg);
    } else if (!cudart) {
        snprintf(msg, sizeof msg, "%s has the CUDA runtime linked in (no libcudart.so mapped): its "
                 "runtime calls reach the driver through cuGetProcAddress, which capguard redirects (%d other libraries "
                 "looked at)", fw, libs);
        ok("python libs", "%s", msg);
    }
}

static void check_python(const char *python)
{
    char cmd[PATH_MAX + 80], line[64] = "";
    snprintf(cmd, sizeof cmd, "'%s' -c 'import sys; print(\"%%d.%%d\" %% sys.version_info[:2])' 2>/dev/null", python);
    FILE *p = popen(cmd, "r");
    if (!p || !fgets(line, sizeof line, p)) {
        if (p)
            pclose(p);
        return;
    }
    pclose(p);
    line[strcspn(line, "\n")] = 0;
    int major = 0, minor = 0, known = 0;
    sscanf(line, "%d.%d", &major, &minor);
#define PYFRAMES(ver, ...) known |= (ver) == (major << 8 | minor);
#include "pyframes.def"
#undef PYFRAMES
    char msg[160];
    snprintf(msg, sizeof msg, "%s is Python %s: %s", python, line,
             known ? "frames are read without the GIL" : "its Python lines are named only when the calling thread holds the GIL");
    ok("python", "%s", msg);
    check_python_libs(python);
}

static void check_target(char **cmd)
{
    char path[PATH_MAX], msg[2 * PATH_MAX], head[256] = "";
    if (which(cmd[0], path) != 0) {
        snprintf(msg, sizeof msg, "%s is not found on PATH", cmd[0]);
        fix("target", msg, "give its path");
        return;
    }
    FILE *f = fopen(path, "rb");
    size_t got = f ? fread(head, 1, sizeof head - 1, f) : 0;
    if (f)
        fclose(f);
    head[got] = 0;
    if (got > 2 && head[0] == '#' && head[1] == '!') { /* a script: its interpreter */
        char interp[200] = "?";
        sscanf(head + 2, " %199s", interp);
        snprintf(msg, sizeof msg, "%s, a script run by %s", path, interp);
        ok("target", "%s", msg);
        const char *base = strrchr(cmd[0], '/') ? strrchr(cmd[0], '/') + 1 : cmd[0];
        if (strncmp(base, "python", 6) == 0) /* a wrapper of the interpreter (pyenv's shim, a venv's) */
            check_python(cmd[0]);
        else if (strstr(interp, "python") || strstr(head, "python"))
            check_python(strstr(head, "env") ? "python3" : interp);
        return;
    }
    int nccl = elf_defines(path, "ncclCommInitRank");
    if (nccl < 0) {
        snprintf(msg, sizeof msg, "%s is neither an ELF program nor a script", path);
        fix("target", msg, "give the program itself");
    } else if (nccl) {
        snprintf(msg, sizeof msg, "%s defines ncclCommInitRank itself (NCCL linked statically)", path);
        fix("target", msg, "link NCCL dynamically (libnccl.so.2): capguard cannot see statically linked NCCL calls");
    } else {
        ok("target", "%s", path);
    }
    if (strstr(path, "python"))
        check_python(path);
}

int cmd_doctor(int argc, char **argv)
{
    char lib[PATH_MAX];
    char **target = NULL;
    for (int i = 2; i < argc; i++)
        if (strcmp(argv[i], "--") == 0 && i + 1 < argc) {
            target = &argv[i + 1];
            break;
        }
    check_library(lib);
    check_preload(lib);
    check_vars();
    check_log_dir();
    check_libraries();
    if (target)
        check_target(target);
    else
        check_python("python3");
    printf("%d check%s need%s a fix\n", fixes, fixes == 1 ? "" : "s", fixes == 1 ? "s" : "");
    return fixes ? 1 : 0;
}
