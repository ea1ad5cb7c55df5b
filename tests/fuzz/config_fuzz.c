/* libFuzzer target: the configuration parser (shim/config.c, cg_config_load()).
 *
 * Written against cg_config_load(), cg_cfg, cg_policy_of[] and the table shim/config.def only:
 * the variables, their types, defaults and accepted ranges come from the X-macro, so a
 * variable added to config.def is fuzzed and checked with no change here.
 *
 * Input layout: byte 0 is a control byte, the rest is split on NUL bytes into values.
 *   control & 7: 0 = CAPGUARD's value is the first value (fuzzed like the others);
 *                1..5 = CAPGUARD is 1, observe, reject, defer or relax (so that parsing past the
 *                enable check is reached) and the values start at the next variable;
 *                6 = CAPGUARD=0; 7 = CAPGUARD unset.
 *   control & 8: inflate: the value of variable number (control >> 4) is repeated up to
 *                ~70 KB (over-long values without over-long inputs).
 *   Values go to the variables in config.def's order; a value that is the single byte 0xff
 *   leaves its variable unset, and so does a missing one. Values left over become extra
 *   environment entries "CAPGUARD<value>" (unknown variables, duplicates, entries without '=').
 *
 * The environment is a private array swapped into `environ` for the call (getenv and
 * secure_getenv read it, as they read the real one): setenv() would keep every distinct string
 * for ever (glibc never frees them) and the run would grow without bound. The parser's own
 * stderr lines are sent to /dev/null during the call; sanitizer reports keep the real stderr.
 * Set CG_FUZZ_VERBOSE=1 to see the parser's messages (when replaying one input);
 * CG_FUZZ_PLANT=1 breaks an invariant on purpose whenever CAPGUARD=relax (a test of the harness).
 *
 * Invariants, whatever the input (a failure prints why and aborts):
 *   CAPGUARD: -1 (off) or a policy; off when unset or not one of its accepted words; on when
 *     one of them other than "0".
 *   When capguard is on, every variable of the table:
 *   UINT: within min..max of its accepted text; the value set when that is all digits and in
 *     range, else the default.
 *   BOOL / MEMO (and any type whose accepted text is a list a|b|c): the index of the value set
 *     in that list, or the default's (MEMO: also "off" when CAPGUARD=observe and it is unset).
 *   PATH / PATTERN / POLICY_LIST (text): NUL-terminated within its buffer, the value set or the
 *     default, never a truncated value; PATTERN: no '/', and only the %-escapes its accepted
 *     text names.
 *   cg_policy_of[]: every entry a policy; all equal to the mode when no override was given.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "base.h"

extern char **environ;
void __sanitizer_set_report_fd(void *fd);

struct var {
    const char *name, *type, *dflt, *accepted;
    void *field;
    size_t size;
};

static struct var vars[] = {
#define CG_VAR(name, field, type, dflt, accepted, help) \
    {#name, #type, dflt, accepted, &cg_cfg.field, sizeof cg_cfg.field},
#include "config.def"
#undef CG_VAR
};
#define NVARS (sizeof vars / sizeof vars[0])
#define MAX_EXTRA 8
#define INFLATE_BYTES 70000

static char **base_env; /* the process's environment less its CAPGUARD* entries */
static size_t base_n;
static char **envv;     /* the environment of one call */
static int devnull = -1, saved_err = -1, verbose;
static int plant; /* CG_FUZZ_PLANT=1: break an invariant on purpose (tests/fault/fuzz.sh checks it is caught) */
static int mode_idx = -1; /* the MODE variable's row */

static void fail(const char *var, const char *v, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(const char *var, const char *v, const char *fmt, ...)
{
    va_list ap;
    char msg[512];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "config_fuzz: invariant failed for %s (value %s%.80s%s, %zu bytes): %s\n", var,
            v ? "\"" : "", v ? v : "unset", v ? "\"" : "", v ? strlen(v) : 0, msg);
    abort();
}

static int is(const struct var *x, const char *type) { return strcmp(x->type, type) == 0; }

/* "lo..hi" at the start of an accepted text; 0 when there is none */
static int range_of(const char *accepted, unsigned long long *lo, unsigned long long *hi)
{
    return sscanf(accepted, "%llu..%llu", lo, hi) == 2;
}

/* position of v in the '|' list `accepted` ("0|1", "capture|always|off"), or -1 */
static int list_index(const char *accepted, const char *v)
{
    size_t n = strlen(v);
    int i = 0;
    for (const char *p = accepted;; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0)
            return i;
        if (!bar)
            return -1;
        p = bar + 1;
    }
}

static int is_list(const char *accepted)
{
    if (!strchr(accepted, '|'))
        return 0;
    for (const char *p = accepted; *p; p++)
        if (*p == ' ' || *p == ',' || *p == '[')
            return 0;
    return 1;
}

static int all_digits(const char *v)
{
    if (!*v)
        return 0;
    for (; *v; v++)
        if (*v < '0' || *v > '9')
            return 0;
    return 1;
}

static unsigned get_u(const struct var *x)
{
    unsigned u;
    if (x->size != sizeof u)
        fail(x->name, NULL, "harness: a %s field of %zu bytes", x->type, x->size);
    memcpy(&u, x->field, sizeof u);
    return u;
}

static void check_text(const struct var *x, const char *v)
{
    const char *f = x->field;
    size_t len = strnlen(f, x->size);
    if (len >= x->size)
        fail(x->name, v, "not NUL-terminated within its %zu bytes", x->size);
    int is_v = v && strcmp(f, v) == 0, is_d = strcmp(f, x->dflt) == 0;
    if (!is_v && !is_d)
        fail(x->name, v, "holds \"%.80s\" (%zu bytes), neither the value set nor the default \"%s\"", f, len,
             x->dflt);
    if (is_v && !is_d && strlen(v) >= x->size)
        fail(x->name, v, "an over-long value was kept");
    if (is(x, "PATTERN") && *f) {
        if (strchr(f, '/'))
            fail(x->name, v, "the file pattern \"%.80s\" contains '/'", f);
        for (const char *p = f; *p; p++) {
            if (*p != '%')
                continue;
            p++;
            /* the escapes allowed are those the accepted text names: "%h host, %p pid, ..." */
            int allowed = 0;
            for (const char *a = strchr(x->accepted, '%'); a && a[1]; a = strchr(a + 2, '%'))
                if (*p && a[1] == *p)
                    allowed = 1;
            if (!allowed)
                fail(x->name, v, "the file pattern \"%.80s\" has the escape %%%c, not one of its accepted text",
                     f, *p ? *p : '0');
        }
    }
}

static void check_numeric(const struct var *x, const char *v, int mode)
{
    unsigned long long lo, hi;
    if (is(x, "UINT")) {
        unsigned u = get_u(x);
        if (!range_of(x->accepted, &lo, &hi)) {
            lo = 0;
            hi = UINT_MAX;
        }
        if (u < lo || u > hi)
            fail(x->name, v, "%u outside its accepted %llu..%llu", u, lo, hi);
        unsigned long long want = strtoull(x->dflt, NULL, 10);
        if (v && all_digits(v)) {
            errno = 0;
            unsigned long long n = strtoull(v, NULL, 10);
            if (errno == 0 && n >= lo && n <= hi)
                want = n;
        }
        if (u != want)
            fail(x->name, v, "holds %u, expected %llu", u, want);
        return;
    }
    /* BOOL, MEMO, ...: an index into the accepted list */
    int f;
    if (x->size != sizeof f)
        fail(x->name, NULL, "harness: a %s field of %zu bytes", x->type, x->size);
    memcpy(&f, x->field, sizeof f);
    int count = 1;
    for (const char *p = x->accepted; *p; p++)
        count += *p == '|';
    if (f < 0 || f >= count)
        fail(x->name, v, "%d outside 0..%d (%s)", f, count - 1, x->accepted);
    int want = list_index(x->accepted, x->dflt);
    if (v && list_index(x->accepted, v) >= 0)
        want = list_index(x->accepted, v);
    if (f == want)
        return;
    if (is(x, "MEMO") && !v && mode == CG_POL_OBSERVE && f == CG_MEMO_off)
        return; /* CAPGUARD=observe changes no result: the memo is off unless asked for */
    fail(x->name, v, "holds %d, expected %d (%s)", f, want, x->accepted);
}

static void check(const char *const *val, int policy_set)
{
    const struct var *m = &vars[mode_idx];
    const char *mv = val[mode_idx];
    int mode = cg_cfg.mode;
    if (mode < -1 || mode >= CG_POL_COUNT)
        fail(m->name, mv, "mode %d is neither -1 (off) nor a policy", mode);
    int on_word = mv && list_index(m->accepted, mv) >= 0 && strcmp(mv, "0") != 0;
    if (on_word && mode < 0)
        fail(m->name, mv, "an accepted value left capguard off");
    if (!on_word && mode >= 0)
        fail(m->name, mv, "capguard is on (mode %d) though the value is not an accepted one", mode);
    for (int h = 0; h < HK_COUNT; h++) {
        if (cg_policy_of[h] >= CG_POL_COUNT)
            fail("cg_policy_of", NULL, "hook %d has policy %u", h, cg_policy_of[h]);
        if (mode >= 0 && !policy_set && cg_policy_of[h] != (unsigned char)mode)
            fail("cg_policy_of", NULL, "hook %d has policy %u with no override, mode %d", h, cg_policy_of[h],
                 mode);
    }
    for (size_t i = 0; i < NVARS; i++) {
        const struct var *x = &vars[i];
        const char *v = mode >= 0 ? val[i] : NULL; /* off: nothing else was read */
        if ((int)i == mode_idx)
            continue;
        if (is(x, "PATH") || is(x, "PATTERN") || is(x, "POLICY_LIST")) {
            if (mode >= 0)
                check_text(x, v);
            else if (strnlen(x->field, x->size) >= x->size)
                fail(x->name, NULL, "not NUL-terminated within its %zu bytes", x->size);
        } else if (is(x, "UINT") || is(x, "BOOL") || is(x, "MEMO") || is_list(x->accepted)) {
            if (mode >= 0)
                check_numeric(x, v, mode);
        }
        /* any other type: cg_config_load() must only not crash on it */
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < NVARS; i++)
        if (is(&vars[i], "MODE"))
            mode_idx = (int)i;
    if (mode_idx < 0) {
        fprintf(stderr, "config_fuzz: config.def has no MODE variable\n");
        abort();
    }
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    base_env = calloc(n + 1, sizeof *base_env);
    envv = calloc(NVARS + MAX_EXTRA + 1 + n, sizeof *envv);
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, "CAPGUARD", 8) != 0)
            base_env[base_n++] = strdup(*e);
    plant = getenv("CG_FUZZ_PLANT") && strcmp(getenv("CG_FUZZ_PLANT"), "0") != 0;
    verbose = getenv("CG_FUZZ_VERBOSE") && strcmp(getenv("CG_FUZZ_VERBOSE"), "0") != 0;
    if (!verbose) {
        devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
        saved_err = fcntl(2, F_DUPFD_CLOEXEC, 10);
        if (devnull < 0 || saved_err < 0) {
            perror("config_fuzz: /dev/null");
            abort();
        }
        __sanitizer_set_report_fd((void *)(intptr_t)saved_err);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const modes[] = {NULL, "1", "observe", "reject", "defer", "relax", "0", NULL};
    if (size == 0)
        return 0;
    unsigned ctl = data[0];
    char *buf = malloc(size); /* data[1..] and a final NUL: the values, NUL-separated */
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = 0;
    char *end = buf + size - 1, *p = buf;
    const char *val[NVARS] = {0};
    char *extra[MAX_EXTRA];
    size_t nextra = 0;
    char *inflated = NULL;

    if ((ctl & 7) != 0)
        val[mode_idx] = modes[ctl & 7];
    for (size_t i = 0; i < NVARS && p <= end && size > 1; i++) {
        if ((ctl & 7) != 0 && (int)i == mode_idx)
            continue;
        val[i] = strcmp(p, "\xff") == 0 ? NULL : p;
        p += strlen(p) + 1;
    }
    for (; p < end && nextra < MAX_EXTRA; p += strlen(p) + 1)
        extra[nextra++] = p;
    if (ctl & 8) {
        size_t k = (ctl >> 4) % NVARS;
        const char *unit = val[k] && *val[k] ? val[k] : "9";
        size_t ul = strlen(unit), total = (INFLATE_BYTES / ul + 1) * ul;
        inflated = malloc(total + 1);
        memcpy(inflated, unit, ul);
        for (size_t o = ul; o < total; o *= 2) /* doubling copies: a few memcpy, not 70000 */
            memcpy(inflated + o, inflated, o < total - o ? o : total - o);
        inflated[total] = 0;
        val[k] = inflated;
    }

    /* the environment of the call: our variables, the extras, then the process's own */
    char *owned[NVARS + MAX_EXTRA];
    size_t ne = 0, no = 0;
    for (size_t i = 0; i < NVARS; i++) {
        if (!val[i])
            continue;
        size_t nl = strlen(vars[i].name), vl = strlen(val[i]);
        char *s = malloc(nl + vl + 2);
        memcpy(s, vars[i].name, nl);
        s[nl] = '=';
        memcpy(s + nl + 1, val[i], vl + 1);
        envv[ne++] = owned[no++] = s;
    }
    for (size_t i = 0; i < nextra; i++) {
        size_t vl = strlen(extra[i]);
        char *s = malloc(8 + vl + 1);
        memcpy(s, "CAPGUARD", 8);
        memcpy(s + 8, extra[i], vl + 1);
        envv[ne++] = owned[no++] = s;
    }
    for (size_t i = 0; i < base_n; i++)
        envv[ne++] = base_env[i];
    envv[ne] = NULL;

    /* what getenv() returns for each variable: the first entry of that name (an extra such as
     * "CAPGUARD_QUIET=x" is the value when the table's own entry is unset) */
    const char *seen[NVARS];
    int policy_set = 0;
    for (size_t i = 0; i < NVARS; i++) {
        size_t nl = strlen(vars[i].name);
        seen[i] = NULL;
        for (size_t e = 0; e < ne && !seen[i]; e++)
            if (strncmp(envv[e], vars[i].name, nl) == 0 && envv[e][nl] == '=')
                seen[i] = envv[e] + nl + 1;
        if (is(&vars[i], "POLICY_LIST") && seen[i] && *seen[i])
            policy_set = 1;
    }

    char **saved_environ = environ;
    environ = envv;
    if (!verbose)
        dup2(devnull, 2);
    cg_config_load();
    if (!verbose)
        dup2(saved_err, 2);
    environ = saved_environ;

    if (plant && cg_cfg.mode == CG_POL_relax) /* the first UINT variable one past its maximum */
        for (size_t i = 0; i < NVARS; i++) {
            unsigned long long lo, hi;
            if (is(&vars[i], "UINT") && vars[i].size == sizeof(unsigned) && range_of(vars[i].accepted, &lo, &hi) &&
                hi < UINT_MAX) {
                unsigned bad = (unsigned)hi + 1;
                memcpy(vars[i].field, &bad, sizeof bad);
                break;
            }
        }
    check(seen, policy_set);

    for (size_t i = 0; i < no; i++)
        free(owned[i]);
    free(inflated);
    free(buf);
    return 0;
}
