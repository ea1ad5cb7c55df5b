/* The tables' rows as words and enums (policies.def, scopes.def, classes.def): the accepted
 * values config.def quotes are made from them, so a new row is accepted everywhere at once. */
#ifndef CG_VOCAB_H
#define CG_VOCAB_H
#include "policies.def"
#include "scopes.def"
#include "classes.def"
#define CG_COMMA_ ,
#define CG_BAR_ "|"
#define CG_SEP_ ", "
#define CG_WORD_(name, ...) #name
#define CG_POLICY_WORDS CG_POLICIES(CG_WORD_, CG_BAR_)   /* "auto|observe|..." */
#define CG_SCOPE_WORDS CG_SCOPES(CG_WORD_, CG_BAR_)      /* "capture|always|off" */
#define CG_CLASS_WORDS CG_CLASSES(CG_WORD_, CG_SEP_)     /* "SYNC, ALLOC, ..." */
#define CG_POLICY_LIST_WORDS CG_POLICIES(CG_WORD_, CG_SEP_)

/* A PATHS value (config.def): ':'-separated absolute directories, none empty, shorter than max
 * bytes. The library's parser and capguard doctor both ask this. */
static inline int cg_paths_ok(const char *v, unsigned long max)
{
    unsigned long n = 0;
    while (v[n])
        n++;
    if (n >= max)
        return 0;
    for (const char *p = v; *p;) {
        if (*p != '/')
            return 0; /* empty or relative */
        while (*p && *p != ':')
            p++;
        if (*p == ':' && !*++p)
            return 0; /* a trailing ':' names an empty directory */
    }
    return 1;
}
#endif
