/* capguard: the command-line launcher. `run` sets CAPGUARD*, LD_PRELOAD and execs a command
 * (mpirun ranks and torchrun workers inherit the environment), `env` prints the same settings as
 * export lines, `doctor` checks a set-up (tools/doctor.c), `report` execs capguard-report
 * (tools/report_*.c), `version` and `help`. The variable table in --help is generated from
 * shim/config.def, never copied. It must never load or link libcapguard.so itself, and never
 * exit with a status a wrapped command could be mistaken for except 127 (could not start) and
 * 2 (usage).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CG_VERSION
#define CG_VERSION "unknown"
#endif

#include "launcher.h"
#define DEFAULT_POLICY "1"   /* the launcher enables capguard; the library's own default is inert */
#define EXIT_USAGE 2
#define EXIT_NOSTART 127     /* what a shell returns for a command it could not run */
#define WRAP_COLS 78

struct cg_var {
    const char *name, *def, *accepted, *help;
};

#include "vocab.h"

static const struct cg_var cg_vars[] = {
#define CG_VAR(name, field, type, def, accepted, help) { #name, def, accepted, help },
#include "config.def"
#undef CG_VAR
};

#define N_VARS (sizeof cg_vars / sizeof cg_vars[0])

struct opts {
    const char *policy;  /* NULL: keep $CAPGUARD or DEFAULT_POLICY */
    const char *log_dir; /* NULL: leave CAPGUARD_LOG_DIR alone */
    int quiet;
    char **cmd;          /* run: the command and its arguments; NULL if none */
};

/* The accepted CAPGUARD values come from config.def, so the launcher and the library agree. */
static const char *mode_accepted(void)
{
    for (size_t i = 0; i < N_VARS; i++)
        if (strcmp(cg_vars[i].name, "CAPGUARD") == 0)
            return cg_vars[i].accepted;
    return "0|1|" CG_POLICY_WORDS;
}

/* The vocabulary's tables, for --help (the same rows the library parses). */
struct cg_word {
    const char *name, *help;
};
#define POL_ROW_(name, coll, init, help) {#name, help}
#define SCOPE_ROW_(name, serve, hold, help) {#name, help}
#define CLASS_ROW_(name, help) {#name, help}
static const struct cg_word policies[] = {CG_POLICIES(POL_ROW_, CG_COMMA_)};
static const struct cg_word scopes[] = {CG_SCOPES(SCOPE_ROW_, CG_COMMA_)};
static const struct cg_word classes[] = {CG_CLASSES(CLASS_ROW_, CG_COMMA_)};
#define N_OF(a) (sizeof(a) / sizeof(a)[0])

/* Is `v` one of the words of an accepted list "a|b|c" (config.def's form)? */
int cg_in_list(const char *v, const char *list)
{
    size_t n = strlen(v);
    for (const char *s = list; *s;) {
        size_t len = strcspn(s, "|");
        if (len == n && strncmp(s, v, n) == 0)
            return 1;
        s += len;
        if (*s)
            s++;
    }
    return 0;
}

int cg_policy_valid(const char *p) { return p[0] && cg_in_list(p, mode_accepted()); }

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The directory of this executable into `dir`; -1 (errno set) when /proc/self/exe says none. */
static int exe_dir(char *dir, size_t sz)
{
    ssize_t n = readlink("/proc/self/exe", dir, sz - 1);
    if (n <= 0)
        return -1;
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    return 0;
}

/* Finds the library into `out` (PATH_MAX bytes); on failure fills `looked` with what was tried. */
int cg_find_lib(char *out, char *looked, size_t lsz)
{
    char exe[PATH_MAX], cand[PATH_MAX + 32];
    const char *env = getenv("CAPGUARD_LIB");

    if (env && *env) {
        errno = 0;
        if (is_file(env) && realpath(env, out))
            return 0;
        snprintf(looked, lsz, "CAPGUARD_LIB=%s (%s)", env,
                 errno ? strerror(errno) : "not a regular file");
        return -1;
    }
    if (exe_dir(exe, sizeof exe) != 0) {
        snprintf(looked, lsz, "the directory of capguard (/proc/self/exe: %s); set CAPGUARD_LIB",
                 strerror(errno));
        return -1;
    }
    snprintf(cand, sizeof cand, "%s/" LIB_NAME, exe);
    if (is_file(cand) && realpath(cand, out))
        return 0;
    snprintf(cand, sizeof cand, "%s/../lib/" LIB_NAME, exe);
    if (is_file(cand) && realpath(cand, out))
        return 0;
    snprintf(looked, lsz, "%s/" LIB_NAME ", %s/../lib/" LIB_NAME " (set CAPGUARD_LIB to its path)",
             exe, exe);
    return -1;
}

/* ld.so splits LD_PRELOAD on both ':' and ' '. An entry is ours if it is the same file. */
static int preload_has(const char *preload, const char *lib)
{
    char tok[PATH_MAX], real[PATH_MAX];
    for (const char *s = preload; *s;) {
        size_t len = strcspn(s, ": ");
        if (len > 0 && len < sizeof tok) {
            memcpy(tok, s, len);
            tok[len] = '\0';
            if (strcmp(tok, lib) == 0 || (realpath(tok, real) && strcmp(real, lib) == 0))
                return 1;
        }
        s += len;
        if (*s)
            s++;
    }
    return 0;
}

static int set(const char *name, const char *value)
{
    if (setenv(name, value, 1) != 0) {
        fprintf(stderr, "capguard: cannot set %s: %s\n", name, strerror(errno));
        return -1;
    }
    return 0;
}

/* Puts every setting of `run` into this process's environment; returns 0 or an exit status. */
static int apply(const struct opts *o)
{
    char lib[PATH_MAX], looked[3 * PATH_MAX];
    if (cg_find_lib(lib, looked, sizeof looked) != 0) {
        fprintf(stderr, "capguard: cannot find " LIB_NAME "; looked for %s\n", looked);
        return EXIT_NOSTART;
    }

    const char *mode = o->policy;
    if (!mode) {
        const char *cur = getenv("CAPGUARD");
        mode = (cur && *cur && strcmp(cur, "0") != 0) ? cur : DEFAULT_POLICY;
    }
    if (set("CAPGUARD", mode))
        return EXIT_NOSTART;

    if (o->log_dir) {
        char cwd[PATH_MAX], abs_dir[2 * PATH_MAX + 2];
        const char *dir = o->log_dir;
        /* Absolute, so ranks and workers that change directory still log to one place. */
        if (dir[0] != '/' && getcwd(cwd, sizeof cwd)) {
            snprintf(abs_dir, sizeof abs_dir, "%s/%s", cwd, dir);
            dir = abs_dir;
        }
        if (set("CAPGUARD_LOG_DIR", dir))
            return EXIT_NOSTART;
    }
    if (o->quiet && set("CAPGUARD_QUIET", "1"))
        return EXIT_NOSTART;

    const char *old = getenv("LD_PRELOAD");
    if (old && *old && preload_has(old, lib))
        return 0;
    if (!old || !*old)
        return set("LD_PRELOAD", lib) ? EXIT_NOSTART : 0;
    size_t sz = strlen(lib) + 1 + strlen(old) + 1;
    char *val = malloc(sz);
    if (!val) {
        fprintf(stderr, "capguard: out of memory\n");
        return EXIT_NOSTART;
    }
    snprintf(val, sz, "%s:%s", lib, old);
    int rc = set("LD_PRELOAD", val) ? EXIT_NOSTART : 0;
    free(val);
    return rc;
}

static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "capguard: %s%s%s; see capguard --help\n", what, arg ? " " : "", arg ? arg : "");
    return EXIT_USAGE;
}

/* Matches "--name VALUE" and "--name=VALUE"; advances *i past what it used. */
static int opt_value(int argc, char **argv, int *i, const char *name, const char **val, int *err)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        *err = usage_error("missing value after", name);
        return 1;
    }
    *val = argv[++*i];
    return 1;
}

static void print_help(void);

/* Parses the options of run/env. Returns -1 to go on, or an exit status. */
static int parse(int argc, char **argv, int want_cmd, struct opts *o)
{
    int i;
    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        int err = 0;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help();
            return 0;
        }
        if (strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
        } else if (opt_value(argc, argv, &i, "--policy", &val, &err)) {
            if (err)
                return err;
            if (!cg_policy_valid(val)) {
                fprintf(stderr, "capguard: --policy \"%s\" is not valid (accepted: %s); "
                        "using the default \"" DEFAULT_POLICY "\"\n", val, mode_accepted());
                val = DEFAULT_POLICY;
            }
            o->policy = val;
        } else if (opt_value(argc, argv, &i, "--log-dir", &val, &err)) {
            if (err)
                return err;
            if (*val)
                o->log_dir = val;
            else
                fprintf(stderr, "capguard: --log-dir is empty; using the default (see capguard --help)\n");
        } else if (a[0] == '-' || !want_cmd) {
            return usage_error("unknown option", a);
        } else {
            break; /* the command starts here; `--` is optional before a non-option word */
        }
    }
    if (want_cmd) {
        if (i >= argc || !argv[i][0])
            return usage_error("run: no command given (capguard run [OPTIONS] -- CMD [ARGS...])", NULL);
        o->cmd = &argv[i];
    }
    return -1;
}

/* Single-quotes a value for a POSIX shell. */
static void print_export(const char *name, const char *value)
{
    printf("export %s='", name);
    for (const char *p = value; *p; p++) {
        if (*p == '\'')
            fputs("'\\''", stdout);
        else
            putchar(*p);
    }
    puts("'");
}

/* Prints `first` then `text` word-wrapped, the next lines starting with `indent`. */
static void wrap_hang(const char *first, const char *indent, const char *text)
{
    size_t col = strlen(first);
    int line_empty = 1; /* no word of `text` on this line yet */
    fputs(first, stdout);
    while (*text) {
        size_t w = strcspn(text, " ");
        if (!line_empty && col + 1 + w > WRAP_COLS) {
            printf("\n%s", indent);
            col = strlen(indent);
        } else if (!line_empty) {
            putchar(' ');
            col++;
        }
        fwrite(text, 1, w, stdout);
        col += w;
        line_empty = 0;
        text += w;
        while (*text == ' ')
            text++;
    }
    putchar('\n');
}

/* Prints `lead` then `text` word-wrapped, every line starting with `indent`. */
static void wrap(const char *indent, const char *lead, const char *text)
{
    char first[160];
    snprintf(first, sizeof first, "%s%s", indent, lead);
    wrap_hang(first, indent, text);
}

static void print_words(const struct cg_word *w, size_t n)
{
    char lead[40];
    for (size_t i = 0; i < n; i++) {
        snprintf(lead, sizeof lead, "  %-10s ", w[i].name);
        wrap_hang(lead, "             ", w[i].help);
    }
}

/* `capguard vars`: the variables' table as the library compiled it (config.def with the
 * vocabulary's words in place), one CG_VAR row a line: the tests and the docs read this. */
static int cmd_vars(void)
{
#define CG_VAR(name, field, type, def, accepted, help) \
    printf("CG_VAR(%s, %s, %s, \"%s\", \"%s\", \"%s\")\n", #name, #field, #type, def, accepted, help);
#include "config.def"
#undef CG_VAR
    return 0;
}

static void print_help(void)
{
    char line[256];
    fputs(
"capguard " CG_VERSION " - catch CUDA calls that are unsafe while a stream is capturing a graph.\n"
"It preloads libcapguard.so, which names each such call (call, stream, rank, frames) and\n"
"observes, rejects, defers or relaxes it by policy, so the capture survives or fails at the cause.\n"
"\n"
"Usage:\n"
"  capguard run [--policy P] [--log-dir D] [--quiet] -- CMD [ARGS...]\n"
"      set CAPGUARD, CAPGUARD_LOG_DIR, CAPGUARD_QUIET and LD_PRELOAD, then exec CMD;\n"
"      its children (torchrun workers, mpirun ranks) inherit them.\n"
"  capguard env [--policy P] [--log-dir D] [--quiet]\n"
"      print the export lines that run would set (for srun wrappers and other launchers)\n"
"  capguard version      print the version and the library that run would preload\n"
"  capguard vars         print the table of CAPGUARD_* variables (name, type, default, accepted)\n"
"  capguard doctor [-- CMD [ARGS...]]\n"
"      check the set-up (the library, LD_PRELOAD, the variables, the log directory, the CUDA,\n"
"      NCCL and MPI libraries that would be loaded, NCCL interposable or static, the MPI ABI,\n"
"      Python frames) and print one line each, with a fix; exit 1 if any needs one\n"
"  capguard report [--json] [--perfetto FILE] [--html FILE] DIR-or-FILE...\n"
"      merge the ranks' logs (a DIR: every *.jsonl below it) into one screen: who is blocked\n"
"      where, violations, repeated inits, memo and fingerprint divergence, captures\n"
"      (capguard-report next to capguard; docs/report.md)\n"
"  capguard help         this text (also --help, -h)\n"
"\n"
"Options of run and env:\n"
"  --policy P, --policy=P     CAPGUARD=P; one of 0|1|" CG_POLICY_WORDS " (default: the\n"
"                             current CAPGUARD if set and not 0, else 1; a bad value: 1)\n"
"  --log-dir D, --log-dir=D   CAPGUARD_LOG_DIR=D, made absolute\n"
"  --quiet                    CAPGUARD_QUIET=1\n"
"  LD_PRELOAD gets the library's absolute path in front of what it held, never twice.\n"
"  The library: $CAPGUARD_LIB if set, else DIR/libcapguard.so, else DIR/../lib/libcapguard.so,\n"
"  DIR being the directory of the capguard executable. Exit 127 if it is missing or CMD cannot\n"
"  run, 2 on a usage error; else CMD's own status (capguard execs it).\n"
"\n"
"Policies (CAPGUARD=P for every class; CAPGUARD_POLICY per class or entry point; shim/policies.def):\n", stdout);
    print_words(policies, N_OF(policies));
    fputs(
"  Communicator inits and MPI collectives during a capture that the memo does not answer are\n"
"  rejected (MPI_ERR_OTHER / ncclInvalidUsage) instead of hanging, under every policy but observe.\n"
"\n"
"Memoization (CAPGUARD_MEMO; shim/scopes.def): communicators (MPI splits/dups, NCCL inits and\n"
"splits), NCCL registrations, IPC-exported workspaces and IPC mappings are remembered by\n"
"(rank, world_size, dtype) plus what tells them apart; a repeat is served what exists; MPI\n"
"collectives inside a capture are answered from the record of the same call with byte-identical\n"
"input. Every repeat is reported, in every scope. The scopes:\n", stdout);
    print_words(scopes, N_OF(scopes));
    fputs(
"\n"
"Policy classes (keys of CAPGUARD_POLICY, besides entry-point names such as cudaFree;\n"
"shim/classes.def):\n", stdout);
    print_words(classes, N_OF(classes));
    fputs(
"\n"
"Environment (read by libcapguard.so; generated from shim/config.def):\n", stdout);
    for (size_t i = 0; i < N_VARS; i++) {
        const struct cg_var *v = &cg_vars[i];
        if (v->def[0])
            snprintf(line, sizeof line, "  %-22s default \"%s\"", v->name, v->def);
        else
            snprintf(line, sizeof line, "  %-22s default: none", v->name);
        puts(line);
        wrap("      ", "", v->help);
        wrap("      ", "accepted: ", v->accepted);
    }
    fputs(
"  CAPGUARD_LIB           (launcher only) path of libcapguard.so to preload\n"
"\n"
"Examples:\n"
"  CAPGUARD=1 LD_PRELOAD=/path/libcapguard.so python serve.py\n"
"  mpirun -np 2 capguard run -- ./app\n"
"  capguard run --policy reject -- torchrun --nproc-per-node 8 serve.py\n"
"  capguard run --log-dir /tmp/cg --quiet -- python bench.py\n"
"  eval \"$(capguard env --policy defer)\"; srun ./app\n", stdout);
}

static int cmd_run(int argc, char **argv)
{
    struct opts o = { 0 };
    int rc = parse(argc, argv, 1, &o);
    if (rc >= 0)
        return rc;
    if ((rc = apply(&o)) != 0)
        return rc;
    fflush(NULL);
    execvp(o.cmd[0], o.cmd);
    fprintf(stderr, "capguard: cannot run \"%s\": %s\n", o.cmd[0], strerror(errno));
    return EXIT_NOSTART;
}

static int cmd_env(int argc, char **argv)
{
    struct opts o = { 0 };
    int rc = parse(argc, argv, 0, &o);
    if (rc >= 0)
        return rc;
    if ((rc = apply(&o)) != 0)
        return rc;
    /* Only what run sets: an inherited log dir or quiet flag is not ours to print. */
    print_export("CAPGUARD", getenv("CAPGUARD"));
    if (o.log_dir)
        print_export("CAPGUARD_LOG_DIR", getenv("CAPGUARD_LOG_DIR"));
    if (o.quiet)
        print_export("CAPGUARD_QUIET", "1");
    print_export("LD_PRELOAD", getenv("LD_PRELOAD"));
    return 0;
}

/* `capguard report ARGS...`: execs the capguard-report found next to this executable. */
static int cmd_report(char **argv)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    if (exe_dir(dir, sizeof dir) != 0) {
        fprintf(stderr, "capguard: cannot find capguard-report (/proc/self/exe: %s)\n",
                strerror(errno));
        return EXIT_NOSTART;
    }
    snprintf(path, sizeof path, "%s/capguard-report", dir);
    argv[1] = "capguard-report"; /* its argv[0]; the rest are its arguments */
    fflush(NULL);
    execv(path, &argv[1]);
    fprintf(stderr, "capguard: cannot run %s: %s\n", path, strerror(errno));
    return EXIT_NOSTART;
}

static int cmd_version(void)
{
    char lib[PATH_MAX], looked[3 * PATH_MAX];
    printf("capguard %s\n", CG_VERSION);
    if (cg_find_lib(lib, looked, sizeof looked) == 0)
        printf("library: %s\n", lib);
    else
        printf("library: not found; looked for %s\n", looked);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("no subcommand (run, env, version, help)", NULL);
    const char *sub = argv[1];
    if (strcmp(sub, "run") == 0)
        return cmd_run(argc, argv);
    if (strcmp(sub, "env") == 0)
        return cmd_env(argc, argv);
    if (strcmp(sub, "vars") == 0)
        return cmd_vars();
    if (strcmp(sub, "doctor") == 0)
        return cmd_doctor(argc, argv);
    if (strcmp(sub, "report") == 0)
        return cmd_report(argv);
    if (strcmp(sub, "version") == 0 || strcmp(sub, "--version") == 0)
        return cmd_version();
    if (strcmp(sub, "help") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
        print_help();
        return 0;
    }
    fprintf(stderr, "capguard: unknown subcommand \"%s\"; see capguard --help\n", sub);
    return EXIT_USAGE;
}
