/* uthash (Debian's uthash-dev) as capguard uses it under its locks: allocations come from the
 * thread's reserved spares and frees are queued until the lock is dropped (lockmem.c), and an
 * allocation that does not fit only skips a bucket expansion (HASH_NONFATAL_OOM). Include this,
 * never <uthash.h> directly. */
#ifndef CG_TABLE_H
#define CG_TABLE_H
#include <stddef.h>
void cg_mem_reserve(void);
void *cg_mem_take(size_t n);
void cg_mem_drop(void *p);
void cg_mem_flush(void);
#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) cg_mem_take(sz)
#define uthash_free(ptr, sz) cg_mem_drop(ptr)
#include <uthash.h>
#endif
