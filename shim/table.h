/* uthash (Debian's uthash-dev) as capguard uses it under its locks: allocations come from the
 * thread's reserved spares and frees are queued until the lock is dropped (lockmem.c), and an
 * allocation that does not fit only skips a bucket expansion (HASH_NONFATAL_OOM). Include this,
 * never <uthash.h> directly. */
#ifndef CG_TABLE_H
#define CG_TABLE_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
void cg_mem_reserve(void);
void *cg_mem_take(size_t n);
void cg_mem_drop(void *p);
void cg_mem_flush(void);
void cg_mem_orphan(void *p); /* a forked child keeps what it drops reachable, never frees it */
#define HASH_NONFATAL_OOM 1
/* A word-sized key (a handle, a stream, a return address) is mixed in a few instructions;
 * other keys take uthash's own Jenkins hash. */
#define HASH_FUNCTION(keyptr, keylen, hashv)                                     \
    do {                                                                         \
        if ((keylen) == sizeof(uint64_t)) {                                      \
            uint64_t k_;                                                         \
            memcpy(&k_, (keyptr), sizeof k_);                                    \
            k_ *= 0x9e3779b97f4a7c15ull;                                         \
            (hashv) = (unsigned)(k_ >> 32) ^ (unsigned)k_;                       \
        } else {                                                                 \
            HASH_JEN(keyptr, keylen, hashv);                                     \
        }                                                                        \
    } while (0)
#define uthash_malloc(sz) cg_mem_take(sz)
#define uthash_free(ptr, sz) cg_mem_drop(ptr)
#include <uthash.h>
#include <stdlib.h>

/* Find the item of table `head` whose key member `field` equals `key`, or, when there is none and
 * `room` holds, add a zeroed one with that key (memory from the spares: call under the table's
 * lock, after cg_mem_reserve). `item` is NULL when neither; `fresh` says it was added now. */
#define CG_FIND_OR_ADD(head, field, key, item, room, fresh)                     \
    do {                                                                       \
        HASH_FIND(hh, head, &(key), sizeof(key), item);                        \
        (fresh) = 0;                                                           \
        if (!(item) && (room) && ((item) = cg_mem_take(sizeof *(item))) != NULL) { \
            memset((item), 0, sizeof *(item));                                 \
            (item)->field = (key);                                             \
            HASH_ADD(hh, head, field, sizeof((item)->field), item);            \
            (fresh) = 1;                                                       \
        }                                                                      \
    } while (0)

/* Copy the items of table `head` (type `type`) out for writing them after the lock: counted
 * under the lock, allocated outside it, copied under it again (at most the first count).
 * Leaves the lock HELD (the caller reads its counters, then unlocks); `copy` is calloc'd or
 * NULL, `got` the items copied. */
#define CG_TABLE_SNAPSHOT(lock, unlock, head, type, copy, got)                 \
    do {                                                                       \
        type *it_, *tmp_;                                                      \
        unsigned n_;                                                           \
        lock();                                                                \
        n_ = HASH_COUNT(head);                                                 \
        unlock();                                                              \
        (copy) = n_ ? calloc(n_, sizeof(type)) : NULL;                         \
        (got) = 0;                                                             \
        lock();                                                                \
        HASH_ITER(hh, head, it_, tmp_)                                         \
        if ((copy) && (got) < n_)                                              \
            (copy)[(got)++] = *it_;                                            \
    } while (0)
#endif
