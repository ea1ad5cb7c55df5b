/* What memo.c shares with coll.c (the collectives' record and the NCCL counters).
 * Internal to the memoization: nothing else includes it. */
#ifndef CG_MEMO_H
#define CG_MEMO_H
#include <pthread.h>
#include "core.h"
#include "table.h"

#define CG_KEY_MAX 256
#define FNV0 1469598103934665603ull

void memo_lock(void);   /* reserves lockmem spares, then locks */
void memo_unlock(void); /* unlocks, then frees what was dropped under it */
enum cg_memo_bound { CG_BOUND_KEYS, CG_BOUND_OBJECTS, CG_BOUND_COLL };
void cg_memo_bound_reached(enum cg_memo_bound which, const char *what); /* said once per bound */
extern __thread char t_key[CG_KEY_MAX + 64], t_site[256]; /* the call being decided (no nesting: depth guard) */
int cg_memo_capturing(void);
int cg_memo_serving(void);
void cg_memo_log(const struct cg_call *c, const char *decision, const char *key, const char *site, int refs);
enum cg_action cg_memo_guard(struct cg_call *c, int reason);
enum cg_action cg_memo_served(struct cg_call *c, const char *decision, const char *key, const char *site, int refs);
void cg_memo_site(struct cg_site *s);
uint64_t cg_fnv(const void *p, size_t n, uint64_t h);

/* coll.c */
enum cg_action cg_coll_decide(struct cg_call *c);
void cg_coll_after(struct cg_call *c);
enum cg_action cg_unique_id_decide(struct cg_call *c);
void cg_unique_id_after(struct cg_call *c);
void cg_nccl_count(const struct cg_call *c);
void cg_coll_summary(void);
void cg_coll_reset_after_fork(void);
#endif
