/* MPI collectives made through the memo's eyes: each one is recorded (call, communicator, site,
 * arguments, a hash of its input, its output); inside a capture, a repeat with byte-identical
 * input at the same site is answered from the record (every rank sees the same sequence, so
 * every rank answers alike), anything else is guarded. Also the ncclGetUniqueId record that lets
 * a capture-time init find its communicator, and the NCCL collective counters.
 * Outside captures a collective costs its shape (a few calls into MPI for sizes), its site (the
 * caller's address, symbolized once) and, when its output fits CAPGUARD_COLL_RECORD_MAX, a hash of
 * its input and a copy of its output; larger ones are forwarded without either.
 * Must never: answer a collective whose input differs from the record, or read beyond the
 * buffers the call's own counts describe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "memo.h"

struct coll { /* a recorded collective and its output */
    char id[CG_KEY_MAX + 64];
    uint64_t in_hash;
    size_t out_len;
    unsigned char *out;
    unsigned served;
    UT_hash_handle hh;
};

struct ncoll_key {
    uintptr_t comm;
    int hook; /* the nccl* entry point (pnccl* counted with it) */
    int dtype;
};
struct ncoll { /* NCCL collectives per communicator, call and dtype */
    struct ncoll_key k;
    uint64_t comm_id; /* the memo's "#id" of the communicator when first counted, 0: not its */
    unsigned long long count;
    UT_hash_handle hh;
};

/* Records are kept in least-recently-used order (the head is dropped first), within
 * CAPGUARD_COLL_BYTES of outputs and CAPGUARD_MEMO_KEYS records. */
/* MPI_Irecv's recorded outside captures wait for their MPI_Wait: a few at a time (memo lock). */
#define CG_PENDING_RECVS 32
static struct pending {
    uintptr_t request; /* 0: free */
    char id[CG_KEY_MAX + 64];
    const void *buf;
    size_t len;
} pending[CG_PENDING_RECVS];
static struct coll *colls;
static size_t coll_bytes;
static unsigned coll_evicted, ncoll_untracked;

static void coll_drop(struct coll *r)
{
    HASH_DEL(colls, r);
    coll_bytes -= r->out_len;
    cg_mem_drop(r->out);
    cg_mem_drop(r);
    coll_evicted++;
}

/* The record with this id, created empty if new, moved to the recent end (memo lock held).
 * NULL when out of memory. */
static struct coll *coll_get(const char *id)
{
    struct coll *r = NULL;
    HASH_FIND_STR(colls, id, r);
    if (r) {
        HASH_DEL(colls, r);
    } else if ((r = cg_mem_take(sizeof *r)) != NULL) {
        memset(r, 0, sizeof *r);
        snprintf(r->id, sizeof r->id, "%s", id);
        while (colls && HASH_COUNT(colls) >= cg_cfg.memo_keys)
            coll_drop(colls);
    } else {
        return NULL;
    }
    HASH_ADD_STR(colls, id, r);
    return r;
}

/* Give record r the output `out` (malloc'd before the lock, at least a pointer wide, or NULL),
 * dropping the least recently used records until the outputs fit CAPGUARD_COLL_BYTES. */
static void coll_set_out(struct coll *r, unsigned char *out, size_t len)
{
    coll_bytes -= r->out_len;
    cg_mem_drop(r->out);
    r->out = out;
    r->out_len = out ? len : 0;
    coll_bytes += r->out_len;
    while (coll_bytes > cg_cfg.coll_bytes && colls && colls != r)
        coll_drop(colls);
}

/* A buffer for a record's output, allocated before the lock (lockmem's queue needs a word). */
static unsigned char *out_alloc(size_t len)
{
    return len ? malloc(len < sizeof(void *) ? sizeof(void *) : len) : NULL;
}
static struct ncoll *ncolls;

void cg_coll_after_fork(void)
{
    cg_mem_orphan(colls);
    cg_mem_orphan(ncolls);
    colls = NULL;
    ncolls = NULL;
    coll_bytes = 0;
    memset(pending, 0, sizeof pending); /* the parent's requests are not the child's */
}

/* ---- MPI collectives: recorded, and answered from the record inside a capture ---- */
struct coll_shape {
    const void *in;
    size_t in_len;
    void *out;
    size_t out_len;
    char args[96];
    void *request; /* MPI_Isend / MPI_Irecv: served, it is MPI_REQUEST_NULL (MPI_Wait returns at once) */
    int at_wait;   /* MPI_Irecv: the output is there only when its MPI_Wait returns: recorded then */
    int unservable; /* MPI_Recv with a status to fill: never answered from a record */
};

/* One shape function per collective: what it reads, what it writes, and its arguments as text. */
struct shape_ctx {
    const struct cg_call *c;
    int rank, size, in_place;
};
typedef void (*shape_fn)(const struct shape_ctx *x, struct coll_shape *sh);

static void shape_barrier(const struct shape_ctx *x, struct coll_shape *sh)
{
    (void)x;
    snprintf(sh->args, sizeof sh->args, "-");
}

static void shape_bcast(const struct shape_ctx *x, struct coll_shape *sh)
{
    const uintptr_t *a = x->c->a;
    size_t n = (size_t)(int)a[2] * cg_mpi_type_size(a[3]);
    int root = (int)a[4];
    sh->out = (void *)a[1];
    sh->out_len = n;
    if (x->rank == root) {
        sh->in = sh->out;
        sh->in_len = n;
    }
    snprintf(sh->args, sizeof sh->args, "n=%zu root=%d", n, root);
}

static void shape_allreduce(const struct shape_ctx *x, struct coll_shape *sh)
{
    const uintptr_t *a = x->c->a;
    size_t n = (size_t)(int)a[2] * cg_mpi_type_size(a[3]);
    sh->out = (void *)a[4];
    sh->out_len = n;
    sh->in = x->in_place ? sh->out : (const void *)a[1];
    sh->in_len = n;
    snprintf(sh->args, sizeof sh->args, "n=%zu op=0x%llx", n, (unsigned long long)a[5]);
}

/* Allgather, Alltoall, Gather: the same arguments; root -1 for the two without one. */
static void shape_gather_like(const struct shape_ctx *x, struct coll_shape *sh, int root, int alltoall)
{
    const uintptr_t *a = x->c->a;
    size_t rn = (size_t)(int)a[5] * cg_mpi_type_size(a[6]);
    size_t sn = (size_t)(int)a[2] * cg_mpi_type_size(a[3]);
    if (root < 0 || x->rank == root) {
        sh->out = (void *)a[4];
        sh->out_len = rn * (size_t)x->size;
    }
    if (x->in_place) { /* the rank's own contribution is already in the receive buffer */
        sh->in = alltoall ? (const void *)a[4] : (const char *)a[4] + rn * (size_t)x->rank;
        sh->in_len = alltoall ? rn * (size_t)x->size : rn;
    } else {
        sh->in = (const void *)a[1];
        sh->in_len = alltoall ? sn * (size_t)x->size : sn;
    }
    snprintf(sh->args, sizeof sh->args, "sn=%zu rn=%zu root=%d", sn, rn, root);
}
static void shape_allgather(const struct shape_ctx *x, struct coll_shape *sh) { shape_gather_like(x, sh, -1, 0); }
static void shape_alltoall(const struct shape_ctx *x, struct coll_shape *sh) { shape_gather_like(x, sh, -1, 1); }
static void shape_gather(const struct shape_ctx *x, struct coll_shape *sh) { shape_gather_like(x, sh, (int)x->c->a[7], 0); }

static void shape_allgatherv(const struct shape_ctx *x, struct coll_shape *sh)
{
    const uintptr_t *a = x->c->a;
    const int *rns = (const int *)a[5], *displs = (const int *)a[7];
    size_t ts = cg_mpi_type_size(a[6]), extent = 0;
    for (int i = 0; i < x->size; i++)
        if ((size_t)(displs[i] + rns[i]) > extent)
            extent = (size_t)(displs[i] + rns[i]);
    sh->out = (void *)a[4];
    sh->out_len = extent * ts;
    sh->in = x->in_place ? (const char *)a[4] + (size_t)displs[x->rank] * ts : (const void *)a[1];
    sh->in_len = x->in_place ? (size_t)rns[x->rank] * ts : (size_t)(int)a[2] * cg_mpi_type_size(a[3]);
    snprintf(sh->args, sizeof sh->args, "extent=%zu", sh->out_len);
}

/* Point-to-point: a[] = {comm, buf, count, type, peer, status, request} (hooks.def). */
static void shape_p2p(const struct shape_ctx *x, struct coll_shape *sh, int send)
{
    const uintptr_t *a = x->c->a;
    size_t n = (size_t)(int)a[2] * cg_mpi_type_size(a[3]);
    if (send) {
        sh->in = (const void *)a[1];
        sh->in_len = n;
    } else {
        sh->out = (void *)a[1];
        sh->out_len = n;
    }
    sh->request = (void *)a[6];
    sh->unservable = !send && !a[6] && a[5] != cg_mpi()->status_ignore;
    snprintf(sh->args, sizeof sh->args, "n=%zu peer=%d", n, (int)a[4]);
}
static void shape_send(const struct shape_ctx *x, struct coll_shape *sh) { shape_p2p(x, sh, 1); }
static void shape_recv(const struct shape_ctx *x, struct coll_shape *sh) { shape_p2p(x, sh, 0); }
static void shape_irecv(const struct shape_ctx *x, struct coll_shape *sh)
{
    shape_p2p(x, sh, 0);
    sh->at_wait = 1;
}

#define SHAPE_(name, fn) [HK_MPI_##name] = fn, [HK_PMPI_##name] = fn
static const shape_fn shapes[HK_COUNT] = {
    SHAPE_(Barrier, shape_barrier),     SHAPE_(Bcast, shape_bcast),     SHAPE_(Allreduce, shape_allreduce),
    SHAPE_(Allgather, shape_allgather), SHAPE_(Alltoall, shape_alltoall), SHAPE_(Gather, shape_gather),
    SHAPE_(Allgatherv, shape_allgatherv), SHAPE_(Send, shape_send),         SHAPE_(Isend, shape_send),
    SHAPE_(Recv, shape_recv),           SHAPE_(Irecv, shape_irecv),
};

static int coll_shape(const struct cg_call *c, struct coll_shape *sh)
{
    const struct cg_mpi *m = cg_mpi();
    struct shape_ctx x = {.c = c};
    memset(sh, 0, sizeof *sh);
    if (!shapes[c->hook] || m->abi == CG_MPI_UNKNOWN || cg_mpi_rank_size(c->a[0], &x.rank, &x.size) != 0)
        return -1;
    x.in_place = c->a[1] == m->in_place;
    shapes[c->hook](&x, sh);
    return 0;
}

/* The record's id: call, communicator (the same name on every rank), shape, site. */
static void coll_id(struct cg_call *c, const struct coll_shape *sh, char *id, size_t n)
{
    char comm[40];
    if (cg_mpi_comm_builtin(c->a[0], comm, sizeof comm) != 0 && cg_memo_name_of(cg_mpi_handle(c->a[0]), comm, sizeof comm) != 0)
        snprintf(comm, sizeof comm, "0x%llx", (unsigned long long)cg_mpi_handle(c->a[0]));
    snprintf(id, n, "MPI_%s comm=%s %s site=%016llx", strchr(cg_hooks[c->hook].name, '_') + 1, comm, sh->args,
             (unsigned long long)cg_memo_site(c));
}

static int recording(void) { return cg_scopes[cg_cfg.memo].serve != 0; }

int cg_coll_decide(struct cg_call *c)
{
    struct coll_shape sh;
    char *id = c->text->key;
    if (!cg_memo_capturing())
        return 1; /* recorded after the real call (cg_coll_after) */
    if (cg_mpi_unknown_for(c) || coll_shape(c, &sh) != 0) {
        cg_memo_guard(c, R_HOST_COLL);
        return 1;
    }
    coll_id(c, &sh, id, sizeof c->text->key);
    uint64_t in_hash = sh.in ? cg_hash_bytes(sh.in, sh.in_len, CG_HASH_SEED) : 0;
    if (recording()) {
        cg_memo_lock();
        struct coll *r = NULL;
        HASH_FIND_STR(colls, id, r);
        int hit = r && !sh.unservable && r->in_hash == in_hash && r->out_len == sh.out_len;
        if (hit) { /* the most recently used goes last */
            HASH_DEL(colls, r);
            HASH_ADD_STR(colls, id, r);
            if (sh.out_len)
                memcpy(sh.out, r->out, sh.out_len);
            r->served++;
        }
        cg_memo_unlock();
        if (hit) {
            if (sh.request)
                cg_mpi_write_comm(sh.request, cg_mpi()->request_null);
            cg_memo_served(c, "serve", id, c->text->site, 0);
            return 1;
        }
    }
    cg_memo_log(c, "miss", id, c->text->site, 0);
    cg_memo_guard(c, R_HOST_COLL);
    return 1;
}

/* Record `len` bytes at src (and the input's hash) as the output of collective `id`. */
static void record(const char *id, uint64_t in_hash, const void *src, size_t len)
{
    unsigned char *out = out_alloc(len);
    if (len && !out)
        return;
    if (out)
        memcpy(out, src, len);
    unsigned before = coll_evicted;
    cg_memo_lock();
    struct coll *r = coll_get(id);
    if (r) {
        coll_set_out(r, out, len);
        r->in_hash = in_hash;
        out = NULL;
    }
    unsigned dropped = coll_evicted - before;
    cg_memo_unlock();
    free(out);
    if (dropped)
        cg_memo_bound_reached(CG_BOUND_COLL, "CAPGUARD_COLL_BYTES/CAPGUARD_MEMO_KEYS: the least recently used collective records "
                              "are dropped");
}


static void pending_add(uintptr_t request, const char *id, const void *buf, size_t len)
{
    if (!request || request == cg_mpi()->request_null)
        return;
    cg_memo_lock();
    for (int i = 0; i < CG_PENDING_RECVS; i++)
        if (!pending[i].request || pending[i].request == request) {
            pending[i].request = request;
            snprintf(pending[i].id, sizeof pending[i].id, "%s", id);
            pending[i].buf = buf;
            pending[i].len = len;
            break;
        } /* all in use: this receive is not recorded (a later capture cannot be answered for it) */
    cg_memo_unlock();
}

/* MPI_Wait: the request it completes, read before the call (which sets it to MPI_REQUEST_NULL). */
int cg_wait_decide(struct cg_call *c)
{
    c->a[5] = cg_mpi()->abi == CG_MPI_UNKNOWN ? 0 : cg_mpi_read_comm((const void *)c->a[6]);
    return 1;
}

void cg_wait_after(struct cg_call *c)
{
    struct pending p = {0};
    if (!c->a[5])
        return;
    cg_memo_lock();
    for (int i = 0; i < CG_PENDING_RECVS; i++)
        if (pending[i].request == c->a[5]) {
            p = pending[i];
            pending[i].request = 0;
        }
    cg_memo_unlock();
    if (p.request && recording())
        record(p.id, 0, p.buf, p.len);
}

void cg_coll_after(struct cg_call *c)
{
    struct coll_shape sh;
    if (!recording() || cg_mpi_unknown_for(c) || coll_shape(c, &sh) != 0 || sh.out_len > cg_cfg.coll_record_max ||
        sh.out_len > cg_cfg.coll_bytes)
        return; /* larger than any record may be, or than all of them together */
    char id[sizeof c->text->key];
    coll_id(c, &sh, id, sizeof id);
    if (sh.at_wait) {
        pending_add(cg_mpi_read_comm(sh.request), id, sh.out, sh.out_len);
        return;
    }
    record(id, sh.in ? cg_hash_bytes(sh.in, sh.in_len, CG_HASH_SEED) : 0, sh.out, sh.out_len);
}


/* ---- ncclGetUniqueId: inside a capture, the id recorded at this site is handed back, so that
 *      the init it feeds has the key of the communicator it will be served; only while a
 *      communicator made from that id is alive or held: an id whose communicator was destroyed
 *      for real is stale (NCCL's bootstrap root for it is gone; an init with it fails or waits) ---- */
static uintptr_t id_hash(const void *id) { return (uintptr_t)(cg_hash_bytes(id, sizeof(cg_nccl_id), CG_HASH_SEED) | 1); }

uintptr_t cg_nccl_id_of_init(const struct cg_call *c)
{
    int h = cg_hook_plain(c->hook);
    if (h != HK_ncclCommInitRank && h != HK_ncclCommInitRankConfig && h != HK_ncclCommInitRankScalable)
        return 0;
    return c->a[2] ? id_hash((const void *)c->a[2]) : 0; /* (Scalable: the first of its ids) */
}

/* Is a communicator made from the id with this hash alive or held? (lock held) */
static int id_in_use(uintptr_t h)
{
    struct cg_obj *o, *tmp;
    HASH_ITER(hh, cg_objs(), o, tmp)
    if (o->type == OBJ_NCCL_COMM && o->aux == h)
        return 1;
    return 0;
}

int cg_unique_id_decide(struct cg_call *c)
{
    snprintf(c->text->key, sizeof c->text->key, "ncclGetUniqueId site=%016llx", (unsigned long long)cg_memo_site(c));
    if (!cg_memo_serving() || !cg_memo_capturing() || !c->a[0])
        return 1;
    cg_memo_lock();
    struct coll *r = NULL;
    HASH_FIND_STR(colls, c->text->key, r);
    if (r && r->out_len == sizeof(cg_nccl_id) && id_in_use(id_hash(r->out)))
        memcpy((void *)c->a[0], r->out, sizeof(cg_nccl_id));
    else
        r = NULL;
    cg_memo_unlock();
    if (r)
        cg_memo_served(c, "serve", c->text->key, c->text->site, 0);
    return 1;
}

void cg_unique_id_after(struct cg_call *c)
{
    if (!c->a[0])
        return;
    unsigned char *out = out_alloc(sizeof(cg_nccl_id));
    if (!out)
        return;
    memcpy(out, (void *)c->a[0], sizeof(cg_nccl_id));
    cg_memo_lock();
    struct coll *r = coll_get(c->text->key);
    if (r) {
        coll_set_out(r, out, sizeof(cg_nccl_id));
        out = NULL;
    }
    cg_memo_unlock();
    free(out);
}

/* ---- NCCL collectives: counted per communicator, call and dtype (one lock, no formatting:
 *      the names are made for the summary) ---- */
void cg_nccl_count(const struct cg_call *c)
{
    struct ncoll_key k;
    memset(&k, 0, sizeof k);
    k.comm = c->a[0];
    k.hook = cg_hook_plain(c->hook);
    k.dtype = (int)c->a[1];
    int full = 0;
    cg_memo_lock();
    struct ncoll *r = NULL;
    int fresh;
    CG_FIND_OR_ADD(ncolls, k, k, r, HASH_COUNT(ncolls) < cg_cfg.memo_keys, fresh);
    if (fresh)
        r->comm_id = cg_memo_id_of(k.comm);
    if (r)
        r->count++;
    else
        full = ncoll_untracked++ == 0;
    cg_memo_unlock();
    if (full)
        cg_memo_bound_reached(CG_BOUND_NCCL, "CAPGUARD_MEMO_KEYS: NCCL collectives of further communicators and dtypes are not counted");
}

void cg_coll_summary(void)
{
    struct ncoll *copy;
    char body[400], id[160], qk[200];
    unsigned got, evicted, untracked;
    CG_TABLE_SNAPSHOT(cg_memo_lock, cg_memo_unlock, ncolls, struct ncoll, copy, got);
    evicted = coll_evicted;
    untracked = ncoll_untracked;
    size_t bytes = coll_bytes;
    int any = colls != NULL || ncolls != NULL;
    cg_memo_unlock();
    if (!any && !evicted && !untracked)
        return; /* no collective was seen: nothing to say */
    for (unsigned i = 0; i < got; i++) {
        const struct ncoll *r = &copy[i];
        if (r->comm_id)
            snprintf(id, sizeof id, "%s comm=#%llu dtype=%d", cg_hooks[r->k.hook].name, (unsigned long long)r->comm_id, r->k.dtype);
        else
            snprintf(id, sizeof id, "%s comm=0x%llx dtype=%d", cg_hooks[r->k.hook].name, (unsigned long long)r->k.comm, r->k.dtype);
        cg_json_str(qk, sizeof qk, id);
        snprintf(body, sizeof body, "\"ev\":\"summary_nccl\",\"what\":%s,\"count\":%llu", qk, r->count);
        cg_log_event(body);
    }
    free(copy);
    snprintf(body, sizeof body, "\"ev\":\"summary_coll\",\"records_dropped\":%u,\"bytes_kept\":%zu,\"coll_bytes\":%u,"
             "\"nccl_counters_not_tracked\":%u", evicted, bytes, cg_cfg.coll_bytes, untracked);
    cg_log_event(body);
}
