/* The vocabulary as data: the tables generated from kinds.def, classes.def, policies.def,
 * scopes.def and hooks.def, and the names and texts the other layers print.
 * Must never: hold state that changes. */
#include <string.h>
#include "base.h"

const struct cg_kind_desc cg_kinds[K_COUNT] = {
#define KIND(name, cls, always, memo, defer, track, query, model, watch, fp, rec, dev, help) \
    [K_##name] = {#name, help, CG_CLASS_##cls, always, memo, defer, track, query, model, watch, fp, rec, dev},
#include "kinds.def"
#undef KIND
};

#define CLASS_NAME_(name, help) [CG_CLASS_##name] = #name
static const char *const class_names[CG_CLASS_COUNT] = {[CG_CLASS_NONE] = "NONE", CG_CLASSES(CLASS_NAME_, CG_COMMA_)};

#define POLICY_ROW_(name, coll, init, help) [CG_POL_##name] = {#name, help, CG_OUT_##coll, CG_OUT_##init}
const struct cg_policy_desc cg_policies[CG_POL_COUNT] = {CG_POLICIES(POLICY_ROW_, CG_COMMA_)};

#define SCOPE_ROW_(name, serve, hold, help) [CG_MEMO_##name] = {#name, help, serve, hold}
const struct cg_scope_desc cg_scopes[CG_MEMO_COUNT] = {CG_SCOPES(SCOPE_ROW_, CG_COMMA_)};

const struct cg_hook_desc cg_hooks[HK_COUNT] = {
#define HOOK(lib, name, kind, info, n, sig) [HK_##name] = {#name, CG_LIB_##lib, kind, n},
#define HOOK_CUSTOM(lib, name, kind) [HK_##name] = {#name, CG_LIB_##lib, kind, -1},
#include "hooks.def"
};

static const char *const reason_text[R_COUNT] = {
    [R_NONE] = "legal",
    [R_DEVICE_SYNC] = "device synchronization while a stream is capturing",
    [R_SYNC_CAPTURING] = "synchronization of a capturing stream",
    [R_CAPTURED_EVENT] = "synchronization of an event recorded in the capture",
    [R_UNSAFE_MODE] = "potentially unsafe call during a capture, prohibited by the thread's capture mode",
    [R_IMPLICIT_LEGACY] = "legacy-stream work while a blocking stream is capturing",
    [R_HOST_COLL] = "host collective while a capture is in progress, not answerable from the memo",
    [R_COMM_INIT] = "communicator initialisation while a capture is in progress, not served from the memo",
};
static const char *const outcome_names[CG_OUT_COUNT] = {"none",     "observed", "rejected", "deferred",
                                                       "relaxed",  "answered", "served"};

const char *cg_class_name(enum cg_class c) { return c < CG_CLASS_COUNT ? class_names[c] : "?"; }
const char *cg_policy_name(int p) { return p >= 0 && p < CG_POL_COUNT ? cg_policies[p].name : "?"; }
const char *cg_memo_scope_name(int s) { return s >= 0 && s < CG_MEMO_COUNT ? cg_scopes[s].name : "?"; }
const char *cg_reason_text(int r) { return r >= 0 && r < R_COUNT ? reason_text[r] : "?"; }
const char *cg_outcome_name(int o) { return o >= 0 && o < CG_OUT_COUNT ? outcome_names[o] : "?"; }

const char *cg_cap_mode_name(int mode)
{
    static const char *const names[] = {"global", "thread_local", "relaxed"};
    return mode >= 0 && mode <= 2 ? names[mode] : "?";
}

/* pnccl* and nccl* are one entry point: hooks.def's NCCL_HOOK makes the pair adjacent, nccl*
 * first; the names are compared, so a hook without its twin just before it is its own. */
int cg_hook_plain(int hook)
{
    const char *name = cg_hooks[hook].name;
    if (name[0] == 'p' && hook > 0 && strcmp(cg_hooks[hook - 1].name, name + 1) == 0)
        return hook - 1;
    return hook;
}

int cg_policy_parse(const char *s, size_t n)
{
    for (int p = 0; p < CG_POL_COUNT; p++)
        if (strlen(cg_policies[p].name) == n && strncmp(s, cg_policies[p].name, n) == 0)
            return p;
    return -1;
}
