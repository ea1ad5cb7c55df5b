/* The generated parts of the docs, from the shim's tables (never copied by hand):
 *   gen_docs hooks            docs/hooks.md: entry points, kinds, classes, policies, scopes, modules
 *   gen_docs readme-policies  README's policy table rows
 *   gen_docs readme-config    README's configuration table rows
 * scripts/docs.sh (make docs) writes them; tests/docs/current.sh fails when a doc is stale. */
#include <stdio.h>
#include <string.h>
#include "vocab.h"

static const char *const lib_names[] = {"RT", "DRV", "NCCL", "MPI", "LIBC"};
enum { L_RT, L_DRV, L_NCCL, L_MPI, L_LIBC };

struct kind {
    const char *name, *cls, *help;
    int always, memo, defer, track, query, model, watch, fp, rec, dev;
};
static const struct kind kinds[] = {
#define KIND(name, cls, always, memo, defer, track, query, model, watch, fp, rec, dev, help) \
    {#name, #cls, help, always, memo, defer, track, query, model, watch, fp, rec, dev},
#include "kinds.def"
#undef KIND
};

struct hook {
    int lib;
    const char *name, *kind;
};
static const struct hook hooks[] = {
#define HOOK(lib, name, kind, info, n, sig) {L_##lib, #name, #kind},
#define HOOK_CUSTOM(lib, name, kind) {L_##lib, #name, #kind},
#include "hooks.def"
};

#define ROW4_(a, b, c, help) {#a, help}
#define ROW2_(a, help) {#a, help}
struct word {
    const char *name, *help;
};
static const struct word policies[] = {CG_POLICIES(ROW4_, CG_COMMA_)};
static const struct word scopes[] = {CG_SCOPES(ROW4_, CG_COMMA_)};
static const struct word classes[] = {CG_CLASSES(ROW2_, CG_COMMA_)};
struct module {
    const char *name, *layer, *help;
};
static const struct module modules[] = {
#define MODULE(name, layer, help) {#name, #layer, help},
#include "modules.def"
#undef MODULE
};
struct var {
    const char *name, *def, *accepted, *help;
};
static const struct var vars[] = {
#define CG_VAR(name, field, type, def, accepted, help) {#name, def, accepted, help},
#include "config.def"
#undef CG_VAR
};
#define N(a) (sizeof(a) / sizeof(a)[0])

/* a table cell: `|` escaped, the accepted lists' `|` shown as ", " */
static void cell(const char *s, int code)
{
    fputs(code ? "`" : "", stdout);
    for (; *s; s++)
        if (*s == '|')
            fputs(code ? "`, `" : "\\|", stdout);
        else
            putchar(*s);
    fputs(code ? "`" : "", stdout);
}

static const char *class_of(const char *kind)
{
    for (size_t i = 0; i < N(kinds); i++)
        if (strcmp(kind + 2, kinds[i].name) == 0) /* K_NAME */
            return kinds[i].cls;
    return "?";
}

static void words(const struct word *w, size_t n, const char *head)
{
    printf("| %s | meaning |\n|---|---|\n", head);
    for (size_t i = 0; i < n; i++)
        printf("| `%s` | %s |\n", w[i].name, w[i].help);
}

static void hooks_md(void)
{
    puts("# Hooked entry points, kinds, classes, policies, scopes and modules\n");
    puts("Generated from `shim/hooks.def`, `shim/kinds.def`, `shim/classes.def`, `shim/policies.def`,");
    puts("`shim/scopes.def` and `shim/modules.def` by `make docs` (do not edit; `tests/docs/current.sh`");
    puts("fails when this file is stale). RT = libcudart, DRV = libcuda.\n");
    printf("## Entry points (%zu)\n\n| entry point | library | kind | class |\n|---|---|---|---|\n", N(hooks));
    for (size_t i = 0; i < N(hooks); i++)
        printf("| `%s` | %s | %s | %s |\n", hooks[i].name, lib_names[hooks[i].lib], hooks[i].kind + 2,
               class_of(hooks[i].kind));
    printf("\n## Kinds (%zu)\n\nalways: judged even while no capture is active; memo: the memo decides it; defer: can be\n"
           "deferred; track: changes the capture model; query: answered as complete instead of deferred; model:\n"
           "bookkeeping only, never judged by a policy; watch: its entry and exit are published in the\n"
           "observer slot; fp: the fingerprint module looks at it while a fingerprinted graph waits for\n"
           "its first launch; rec: the flight recorder keeps each judged call (the others are counted); dev: the\n"
           "devices module compares a capture's device with the devices its thread's warm-up allocated on.\n\n", N(kinds));
    puts("| kind | class | always | memo | defer | track | query | model | watch | fp | rec | dev | what |");
    puts("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (size_t i = 0; i < N(kinds); i++) {
        const struct kind *k = &kinds[i];
        printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", k->name, k->cls,
               k->always ? "yes" : "", k->memo ? "yes" : "", k->defer ? "yes" : "", k->track ? "yes" : "",
               k->query ? "yes" : "", k->model ? "yes" : "", k->watch ? "yes" : "", k->fp ? "yes" : "",
               k->rec ? "yes" : "", k->dev ? "yes" : "", k->help);
    }
    printf("\n## Classes (keys of `CAPGUARD_POLICY`)\n\n");
    words(classes, N(classes), "class");
    printf("\n## Policies (`CAPGUARD`, `CAPGUARD_POLICY`)\n\n");
    words(policies, N(policies), "policy");
    printf("\n## Memo scopes (`CAPGUARD_MEMO`)\n\n");
    words(scopes, N(scopes), "scope");
    printf("\n## Modules, in pipeline order (`docs/ARCHITECTURE.md`)\n\n| module | layer | what |\n|---|---|---|\n");
    for (size_t i = 0; i < N(modules); i++)
        printf("| %s | %s | %s |\n", modules[i].name, modules[i].layer, modules[i].help);
}

static void readme_policies(void)
{
    puts("| policy | what happens to an illegal call |\n|---|---|");
    for (size_t i = 0; i < N(policies); i++)
        printf("| `%s` | %s%s |\n", policies[i].name, policies[i].help, i == 0 ? " (`CAPGUARD=1`; the table below)" : "");
}

static void readme_config(void)
{
    puts("| variable | default | accepted | meaning |\n|---|---|---|---|");
    for (size_t i = 0; i < N(vars); i++) {
        printf("| `%s` | ", vars[i].name);
        if (vars[i].def[0])
            cell(vars[i].def, 1);
        else
            fputs("(none)", stdout);
        fputs(" | ", stdout);
        cell(vars[i].accepted, strchr(vars[i].accepted, ' ') == NULL);
        printf(" | %s |\n", vars[i].help);
    }
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    if (strcmp(what, "hooks") == 0)
        hooks_md();
    else if (strcmp(what, "readme-policies") == 0)
        readme_policies();
    else if (strcmp(what, "readme-config") == 0)
        readme_config();
    else {
        fprintf(stderr, "usage: gen_docs hooks|readme-policies|readme-config\n");
        return 2;
    }
    return 0;
}
