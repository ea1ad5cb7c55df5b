/* CAPGUARD_* variables: one table (config.def), validated parsing, the per-hook policy table.
 * A bad value is reported with the variable, the value (shortened, non-printable bytes shown
 * as '?'), what is accepted and the default used; the program goes on. Runs once, possibly
 * before capguard's constructor: no malloc, no locks, secure_getenv only (a setuid, setgid or
 * capability-raised program keeps capguard inert whatever its environment says). Never atoi. */
#include <ctype.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <stdlib.h>
#include <string.h>
#include "base.h"


#define CG_SHOW_MAX 120 /* bytes of a bad value quoted in its message */

/* A value as it is safe to quote on a terminal: at most CG_SHOW_MAX bytes, then its length. */
void cg_show_value(char *out, size_t n, const char *v, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && i < CG_SHOW_MAX && o + 1 < n; i++)
        out[o++] = isprint((unsigned char)v[i]) ? v[i] : '?';
    out[o] = 0;
    if (len > CG_SHOW_MAX)
        snprintf(out + o, n - o, "...\" (%zu bytes)", len);
    else
        snprintf(out + o, n - o, "\"");
}

static void bad_value(const char *var, const char *val, const char *accepted, const char *dflt)
{
    char shown[CG_SHOW_MAX + 40];
    cg_show_value(shown, sizeof shown, val, strlen(val));
    cg_err("capguard: %s=\"%s is not valid (accepted: %s); using the default \"%s\"\n", var, shown, accepted, dflt);
}


static int parse_mode(const char *v, int *out)
{
    if (strcmp(v, "0") == 0 || strcmp(v, "") == 0)
        *out = -1;
    else if (strcmp(v, "1") == 0)
        *out = CG_POL_AUTO;
    else if (cg_policy_parse(v, strlen(v)) >= 0)
        *out = cg_policy_parse(v, strlen(v));
    else
        return -1;
    return 0;
}

static int parse_uint(const char *v, const char *accepted, unsigned *out)
{
    unsigned long long lo = 0, hi = 0;
    if (sscanf(accepted, "%llu..%llu", &lo, &hi) != 2)
        hi = ~0u;
    char *end = NULL;
    errno = 0;
    if (!isdigit((unsigned char)v[0]))
        return -1;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || x < lo || x > hi)
        return -1;
    *out = (unsigned)x;
    return 0;
}

static int parse_text(const char *v, char *out, size_t n)
{
    size_t len = strlen(v);
    if (len == 0 || len >= n)
        return -1;
    memcpy(out, v, len + 1);
    return 0;
}

static int parse_pattern(const char *v, char *out, size_t n)
{
    for (const char *p = v; *p; p++) {
        if (*p == '/')
            return -1;
        if (*p == '%') {
            p++;
            if (*p != 'h' && *p != 'p' && *p != 'r' && *p != '%')
                return -1;
        }
    }
    return parse_text(v, out, n);
}

/* "KEY:POLICY,..." -> class items into the per-hook table; bad items are reported and skipped. */
static void apply_class_overrides(const char *v)
{
    const char *p = v;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        char key[96];
        int pol = -1, cls = -1, hook = -1;
        if (colon && (size_t)(colon - p) < sizeof key) {
            memcpy(key, p, (size_t)(colon - p));
            key[colon - p] = 0;
            pol = cg_policy_parse(colon + 1, len - (size_t)(colon - p) - 1);
            for (int k = 1; k < CG_CLASS_COUNT; k++)
                if (strcmp(key, cg_class_name((enum cg_class)k)) == 0)
                    cls = k;
            if (cls < 0)
                hook = cg_hook_by_name(key);
        }
        if (pol < 0 || (cls < 0 && hook < 0)) {
            char shown[CG_SHOW_MAX + 40];
            cg_show_value(shown, sizeof shown, p, len);
            cg_err("capguard: CAPGUARD_POLICY item \"%s is not valid (accepted: KEY:POLICY with "
                   "KEY one of " CG_CLASS_WORDS " or a hooked entry point such as "
                   "cudaStreamSynchronize, POLICY one of " CG_POLICY_LIST_WORDS "); "
                   "item ignored (the default for it stays)\n",
                   shown);
        } else if (cls > 0) {
            for (int h = 0; h < HK_COUNT; h++)
                if ((int)cg_kind_class(cg_hooks[h].kind) == cls)
                    cg_policy_of[h] = (unsigned char)pol;
        }
        p += len;
        if (*p == ',')
            p++;
    }
}

static void apply_entry_overrides(const char *v)
{
    /* entry-point items win over class items whatever their order: apply them last */
    char buf[sizeof cg_cfg.policy];
    snprintf(buf, sizeof buf, "%s", v);
    for (char *save = NULL, *it = strtok_r(buf, ",", &save); it; it = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(it, ':');
        if (!colon)
            continue;
        *colon = 0;
        int h = cg_hook_by_name(it), pol = cg_policy_parse(colon + 1, strlen(colon + 1));
        if (h >= 0 && pol >= 0)
            cg_policy_of[h] = (unsigned char)pol;
    }
}

#define CG_TYPE_MODE 0
#define CG_TYPE_BOOL 1
#define CG_TYPE_UINT 2
#define CG_TYPE_PATH 3
#define CG_TYPE_PATTERN 4
#define CG_TYPE_POLICY_LIST 5
#define CG_TYPE_MEMO 6
#define CG_TYPE_PATHS 7

static int parse_paths(const char *v, char *out, size_t size)
{
    if (!cg_paths_ok(v, size))
        return -1;
    memcpy(out, v, strlen(v) + 1);
    return 0;
}

static int parse_one(int type, const char *v, const char *accepted, void *field, size_t size)
{
    switch (type) {
    case CG_TYPE_MODE: return parse_mode(v, field);
    case CG_TYPE_BOOL:
        if (strcmp(v, "0") && strcmp(v, "1"))
            return -1;
        *(unsigned *)field = (unsigned)(v[0] - '0');
        return 0;
    case CG_TYPE_UINT: return parse_uint(v, accepted, field);
    case CG_TYPE_PATH: return parse_text(v, field, size);
    case CG_TYPE_PATTERN: return parse_pattern(v, field, size);
    case CG_TYPE_PATHS: return parse_paths(v, field, size);
    case CG_TYPE_MEMO:
        for (int i = 0; i < CG_MEMO_COUNT; i++)
            if (strcmp(v, cg_memo_scope_name(i)) == 0) {
                *(int *)field = i;
                return 0;
            }
        return -1;
    case CG_TYPE_POLICY_LIST:
        if (strlen(v) >= size)
            return -1;
        memcpy(field, v, strlen(v) + 1);
        return 0;
    }
    return -1;
}

/* Load one variable: its default first, then the environment's value if it is valid. */
static void load_var(const char *name, int type, const char *dflt, const char *accepted, void *field,
                     size_t size)
{
    parse_one(type, dflt, accepted, field, size);
    const char *v = cg_env(name);
    if (!v)
        return;
    if (parse_one(type, v, accepted, field, size) != 0) {
        bad_value(name, v, accepted, dflt);
        parse_one(type, dflt, accepted, field, size);
    }
}

static void warn_unknown_vars(void)
{
    extern char **environ;
    static const char *const known[] = {
#define CG_VAR(name, field, type, dflt, accepted, help) #name,
#include "config.def"
#undef CG_VAR
        "CAPGUARD_LIB", /* set by the launcher for its own use */
    };
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "CAPGUARD", 8) != 0)
            continue;
        size_t len = strcspn(*e, "=");
        int ok = 0;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strlen(known[i]) == len && strncmp(*e, known[i], len) == 0)
                ok = 1;
        if (!ok) {
            char shown[CG_SHOW_MAX + 40];
            cg_show_value(shown, sizeof shown, *e, len);
            shown[strcspn(shown, "\"")] = 0; /* a name, not a quoted value */
            cg_err("capguard: unknown variable %s ignored (see capguard --help for the list)\n", shown);
        }
    }
}

void cg_config_load(void)
{
    if (getauxval(AT_SECURE)) {
        /* setuid/setgid or file capabilities: the environment belongs to a less privileged user
         * (log paths, policies); capguard stays inert and says so once if it was asked for. */
        const char *asked = getenv("CAPGUARD");
        cg_cfg.mode = -1;
        if (asked && *asked && strcmp(asked, "0") != 0)
            cg_err("capguard: this program runs with raised privileges (setuid, setgid or capabilities): "
                   "capguard stays inert and ignores CAPGUARD_* variables\n");
        return;
    }
    load_var("CAPGUARD", CG_TYPE_MODE, "0", "0|1|" CG_POLICY_WORDS, &cg_cfg.mode, sizeof cg_cfg.mode);
    if (cg_cfg.mode < 0)
        return; /* inert: read nothing else, say nothing */
#define CG_VAR(name, field, type, dflt, accepted, help)                                   \
    if (CG_TYPE_##type != CG_TYPE_MODE)                                                   \
        load_var(#name, CG_TYPE_##type, dflt, accepted, &cg_cfg.field, sizeof cg_cfg.field);
#include "config.def"
#undef CG_VAR
    warn_unknown_vars();
    for (int h = 0; h < HK_COUNT; h++)
        cg_policy_of[h] = (unsigned char)cg_cfg.mode;
    apply_class_overrides(cg_cfg.policy);
    apply_entry_overrides(cg_cfg.policy);
    /* CAPGUARD=observe changes no result: the memo only records and reports, unless asked */
    if (cg_cfg.mode == CG_POL_OBSERVE && !cg_env("CAPGUARD_MEMO"))
        cg_cfg.memo = CG_MEMO_off;
}
