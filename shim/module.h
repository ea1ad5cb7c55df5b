/* A module's registration: the callbacks the pipeline runs (modules.def says in which order).
 * A module file writes CG_MODULE(name, .on_enter = ..., ...) once; the linker gathers the
 * registrations into the cg_modules section, so no layer names a module above it. */
#ifndef CG_MODULE_H
#define CG_MODULE_H
struct cg_call;

enum cg_module_id {
#define MODULE(name, layer, help) CG_MOD_##name,
#include "modules.def"
#undef MODULE
    CG_MOD_COUNT
};

struct cg_module {
    int id; /* enum cg_module_id */
    const char *name;
    void (*init)(void);       /* capguard turned on (after the configuration is read) */
    void (*after_fork)(void); /* in the child: locks re-made, the parent's state dropped */
    void (*on_enter)(struct cg_call *c); /* before the real call; sets c->decided to end the round */
    void (*before_forward)(struct cg_call *c); /* just before the real call, in order: what must be said
                                                * before a call that may never return */
    void (*on_leave)(struct cg_call *c); /* after it (or after a decision not to forward) */
    void (*summary)(void);    /* at exit */
};

#define CG_MODULE(mod, ...)                                                                     \
    __attribute__((used, section("cg_modules"), aligned(sizeof(void *))))                    \
    static const struct cg_module cg_module_##mod = {.id = CG_MOD_##mod, .name = #mod, __VA_ARGS__}
#endif
