/* The features layer: the guard (features/guard.c: policies and the deferred-call queue) and the
 * memo (features/memo*.c, coll.c: an object store plus one operations table per object kind).
 * Features see the call through its record and their module callbacks (module.h); what they
 * decide travels on the record. Uses the model and the base. */
#ifndef CG_FEATURES_H
#define CG_FEATURES_H
#include "model.h"

/* guard.c */
unsigned cg_defer_refused(void);
/* recorder.c: the ring written to the log now, with the reason ("watchdog", "exit", a signal's
 * name); async-signal-safe when in_handler (the threads' lines are left out then) */
void cg_recorder_dump(const char *reason, int in_handler);
/* memo */
int cg_memo_has_history(void);
#endif
