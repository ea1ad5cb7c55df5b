/* nccl_comm.c - fake libnccl.so.2 (NCCL 2.28 API): unique ids, the table of communicators and
 * everything that creates, splits, finalizes or destroys one, buffer and window registration.
 * The driver, errors and ncclMemAlloc are in nccl_driver.c, collectives in nccl_coll.c, the
 * shared-memory rendezvous in nccl_shm.c. The files share no header (each declares the few
 * hidden functions it uses from another in a marked block; keep those blocks identical).
 * Every API function is a strong pncclX with ncclX a weak alias, both exported (nccl.map).
 * Handles are only dereferenced after the table found them; nx_mu is never held while waiting
 * for peers or calling the driver. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes" /* nccl.h declares f() prototypes */
#include <nccl.h>
#pragma GCC diagnostic pop
#include <cuda.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define NX_HIDDEN __attribute__((visibility("hidden")))
#define NX_API __attribute__((visibility("default")))
/* ncclX is a weak alias of the strong pncclX, as in the real library */
#define NX_ALIAS(name) \
	extern __typeof(p##name) name __attribute__((weak, alias("p" #name), visibility("default")))

/* ---- the interface of nccl_shm.c (defined there) ---- */
NX_HIDDEN ncclResult_t nx_shm_gather(const char *key, int nranks, int rank, const void *mine,
				     size_t n, const char **base, size_t *stride, void **handle);
NX_HIDDEN void nx_shm_leave(void *handle);
/* ---- the interface of nccl_driver.c (defined there) ---- */
NX_HIDDEN void nx_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
NX_HIDDEN ncclResult_t nx_init(void);
NX_HIDDEN ncclResult_t nx_dev_alloc(CUdeviceptr *p, size_t n);
NX_HIDDEN ncclResult_t nx_dev_free(CUdeviceptr p);
/* ---- the interface of this file, also declared in nccl_coll.c ---- */
NX_HIDDEN ncclResult_t nx_comm_check(ncclComm_t comm, uint64_t *serial, int *rank, int *nranks);
NX_HIDDEN ncclResult_t nx_comm_next(uint64_t serial, int kind, int peer, char *key, size_t len,
				    int *rank, int *nranks);
/* ---- end of the interfaces ---- */

#define NX_COMM_MAGIC 0x4e43434cu   /* "NCCL" */
#define NX_REG_MAGIC 0x4e524547u    /* "NREG" */
#define NX_WIN_MAGIC 0x4e57494eu    /* "NWIN" */
#define NX_CONFIG_MAGIC 0xcafebeefu /* NCCL_CONFIG_INITIALIZER's magic */
#define NX_ID_PREFIX "FAKENCCL"     /* first bytes of every unique id made here */
#define NX_ID_RANDOM 16             /* random bytes after the prefix that name the comm */
#define NX_COMM_DEVMEM (1u << 20)   /* device memory a communicator allocates at init */
#define NX_WIN_DEVMEM 4096u         /* device memory a window registration allocates */
#define NX_KEY_LEN 128

struct ncclComm {
	uint32_t magic;
	uint64_t serial;            /* never reused: host functions find their comm by it */
	char id[2 * NX_ID_RANDOM + 1]; /* hex; names every shared-memory segment of the comm */
	int rank, nranks;
	CUdeviceptr devmem;         /* what init allocated through the driver */
	uint64_t host_seq;          /* host-side collectives (split, window, finalize) so far */
	uint64_t coll_seq;          /* collectives executed on a stream so far */
	uint64_t *send_seq, *recv_seq; /* [nranks]: point-to-point messages per peer */
	int finalized;
	struct ncclComm *next;
};

struct nx_reg {
	uint32_t magic;
	ncclComm_t comm;
	void *buff;
	size_t size;
	struct nx_reg *next;
};

struct ncclWindow_vidmem {
	uint32_t magic;
	ncclComm_t comm;
	void *buff;
	size_t size;
	CUdeviceptr devmem;
	struct ncclWindow_vidmem *next;
};

static pthread_mutex_t nx_mu = PTHREAD_MUTEX_INITIALIZER; /* tables, never held while waiting */
static struct ncclComm *nx_comms;
static struct nx_reg *nx_regs;
static struct ncclWindow_vidmem *nx_wins;
static uint64_t nx_next_serial = 1;

/* ---- unique ids ---- */

NX_API ncclResult_t pncclGetUniqueId(ncclUniqueId *uniqueId)
{
	size_t got = 0, pre = sizeof(NX_ID_PREFIX) - 1;

	if (!uniqueId)
		return ncclInvalidArgument;
	memcpy(uniqueId->internal, NX_ID_PREFIX, pre);
	while (got < sizeof(uniqueId->internal) - pre) {
		ssize_t k = getrandom(uniqueId->internal + pre + got,
				      sizeof(uniqueId->internal) - pre - got, 0);

		if (k <= 0) {
			nx_error("getrandom failed");
			return ncclSystemError;
		}
		got += (size_t)k;
	}
	return ncclSuccess;
}
NX_ALIAS(ncclGetUniqueId);

static void nx_hex(char *out, const unsigned char *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ---- the table of communicators ---- */

/* Caller holds nx_mu. Unknown pointers are never dereferenced: the table decides. */
static struct ncclComm *nx_comm_find(const struct ncclComm *c)
{
	struct ncclComm *p;

	for (p = nx_comms; p; p = p->next)
		if (p == c && p->magic == NX_COMM_MAGIC)
			return p;
	return NULL;
}

ncclResult_t nx_comm_check(ncclComm_t comm, uint64_t *serial, int *rank, int *nranks)
{
	struct ncclComm *c;

	pthread_mutex_lock(&nx_mu);
	c = nx_comm_find(comm);
	if (c) {
		if (serial)
			*serial = c->serial;
		if (rank)
			*rank = c->rank;
		if (nranks)
			*nranks = c->nranks;
	}
	pthread_mutex_unlock(&nx_mu);
	if (!c)
		nx_error("invalid communicator %p", (void *)comm);
	return c ? ncclSuccess : ncclInvalidArgument;
}

/* Next shared-memory key of a stream operation, at the time it runs (so each graph launch gets
 * its own). kind 0: collective; 1: send to peer; 2: receive from peer. */
ncclResult_t nx_comm_next(uint64_t serial, int kind, int peer, char *key, size_t len, int *rank,
			  int *nranks)
{
	struct ncclComm *c;
	ncclResult_t r = ncclInvalidArgument;

	pthread_mutex_lock(&nx_mu);
	for (c = nx_comms; c && c->serial != serial; c = c->next)
		;
	if (c && (kind == 0 || (peer >= 0 && peer < c->nranks))) {
		*rank = c->rank;
		*nranks = c->nranks;
		if (kind == 0)
			snprintf(key, len, "/fakenccl.%s.coll.%llu", c->id,
				 (unsigned long long)c->coll_seq++);
		else if (kind == 1)
			snprintf(key, len, "/fakenccl.%s.p2p.%d.%d.%llu", c->id, c->rank, peer,
				 (unsigned long long)c->send_seq[peer]++);
		else
			snprintf(key, len, "/fakenccl.%s.p2p.%d.%d.%llu", c->id, peer, c->rank,
				 (unsigned long long)c->recv_seq[peer]++);
		r = ncclSuccess;
	}
	pthread_mutex_unlock(&nx_mu);
	return r;
}

static void nx_comm_free(struct ncclComm *c)
{
	free(c->send_seq);
	free(c->recv_seq);
	free(c);
}

/* The local half of every init: device memory through the driver (fails during a capture where
 * the driver refuses it, and the driver has then invalidated the capture), then the table. */
static ncclResult_t nx_comm_create(const char *id, int rank, int nranks, ncclComm_t *out)
{
	struct ncclComm *c = calloc(1, sizeof(*c));
	ncclResult_t r;

	if (!c || !(c->send_seq = calloc((size_t)nranks, sizeof(uint64_t))) ||
	    !(c->recv_seq = calloc((size_t)nranks, sizeof(uint64_t)))) {
		if (c)
			nx_comm_free(c);
		return ncclSystemError;
	}
	r = nx_dev_alloc(&c->devmem, NX_COMM_DEVMEM);
	if (r != ncclSuccess) {
		nx_comm_free(c);
		return r;
	}
	snprintf(c->id, sizeof(c->id), "%s", id);
	c->rank = rank;
	c->nranks = nranks;
	c->magic = NX_COMM_MAGIC;
	pthread_mutex_lock(&nx_mu);
	c->serial = nx_next_serial++;
	c->next = nx_comms;
	nx_comms = c;
	pthread_mutex_unlock(&nx_mu);
	*out = c;
	return ncclSuccess;
}

/* NULL, or made by NCCL_CONFIG_INITIALIZER. blocking = 0 is accepted but the fake always
 * blocks (it never returns ncclInProgress). */
static ncclResult_t nx_config_check(const ncclConfig_t *config)
{
	if (config && config->magic != NX_CONFIG_MAGIC) {
		nx_error("ncclConfig_t argument not initialized via NCCL_CONFIG_INITIALIZER");
		return ncclInvalidArgument;
	}
	return ncclSuccess;
}

/* A host-side collective over comm's ranks: a barrier that also gathers n bytes per rank into
 * out (nranks * n bytes, may be NULL). Keyed by the comm and its host sequence number. */
static ncclResult_t nx_host_collective(ncclComm_t comm, const char *what, const void *mine,
				       size_t n, void *out, uint64_t *seq_out)
{
	char key[NX_KEY_LEN], id[sizeof(comm->id)];
	const char *base;
	size_t stride;
	void *h;
	int rank, nranks, i;
	uint64_t seq;
	ncclResult_t r;

	pthread_mutex_lock(&nx_mu);
	if (!nx_comm_find(comm)) {
		pthread_mutex_unlock(&nx_mu);
		nx_error("invalid communicator %p", (void *)comm);
		return ncclInvalidArgument;
	}
	seq = comm->host_seq++;
	rank = comm->rank;
	nranks = comm->nranks;
	memcpy(id, comm->id, sizeof(id));
	pthread_mutex_unlock(&nx_mu);
	if (seq_out)
		*seq_out = seq;
	snprintf(key, sizeof(key), "/fakenccl.%s.%s.%llu", id, what, (unsigned long long)seq);
	r = nx_shm_gather(key, nranks, rank, mine, n, &base, &stride, &h);
	if (r != ncclSuccess)
		return r;
	for (i = 0; out && i < nranks; i++)
		memcpy((char *)out + (size_t)i * n, base + (size_t)i * stride, n);
	nx_shm_leave(h);
	return ncclSuccess;
}

/* ---- creating communicators ---- */

/* Every rank announces itself in the segment named by the unique id and blocks until all
 * nranks have arrived (or NX_SHM_TIMEOUT_S passed: ncclSystemError); then the local init. */
static ncclResult_t nx_init_rank(ncclComm_t *comm, int nranks, const ncclUniqueId *uid, int rank,
				 const ncclConfig_t *config)
{
	size_t pre = sizeof(NX_ID_PREFIX) - 1;
	char id[2 * NX_ID_RANDOM + 1], key[NX_KEY_LEN];
	const char *base;
	size_t stride;
	int32_t pid = (int32_t)getpid();
	void *h;
	ncclResult_t r;

	if (!comm)
		return ncclInvalidArgument;
	*comm = NULL;
	if (nranks < 1 || rank < 0 || rank >= nranks) {
		nx_error("invalid rank %d of %d", rank, nranks);
		return ncclInvalidArgument;
	}
	if (memcmp(uid->internal, NX_ID_PREFIX, pre) != 0) {
		nx_error("unique id was not made by ncclGetUniqueId");
		return ncclInvalidArgument;
	}
	if ((r = nx_config_check(config)) != ncclSuccess || (r = nx_init()) != ncclSuccess)
		return r;
	nx_hex(id, (const unsigned char *)uid->internal + pre, NX_ID_RANDOM);
	snprintf(key, sizeof(key), "/fakenccl.%s.init", id);
	r = nx_shm_gather(key, nranks, rank, &pid, sizeof(pid), &base, &stride, &h);
	if (r != ncclSuccess)
		return r;
	nx_shm_leave(h);
	return nx_comm_create(id, rank, nranks, comm);
}

NX_API ncclResult_t pncclCommInitRankConfig(ncclComm_t *comm, int nranks, ncclUniqueId commId,
					    int rank, ncclConfig_t *config)
{
	return nx_init_rank(comm, nranks, &commId, rank, config);
}
NX_ALIAS(ncclCommInitRankConfig);

NX_API ncclResult_t pncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId commId, int rank)
{
	return nx_init_rank(comm, nranks, &commId, rank, NULL);
}
NX_ALIAS(ncclCommInitRank);

/* Several ids spread the bootstrap load in real NCCL; all ranks here meet on the first. */
NX_API ncclResult_t pncclCommInitRankScalable(ncclComm_t *newcomm, int nranks, int myrank,
					      int nId, ncclUniqueId *commIds,
					      ncclConfig_t *config)
{
	if (nId < 1 || !commIds)
		return ncclInvalidArgument;
	return nx_init_rank(newcomm, nranks, &commIds[0], myrank, config);
}
NX_ALIAS(ncclCommInitRankScalable);

/* One process, one communicator per device: the fake has one device. */
NX_API ncclResult_t pncclCommInitAll(ncclComm_t *comms, int ndev, const int *devlist)
{
	unsigned char rnd[NX_ID_RANDOM];
	char id[2 * NX_ID_RANDOM + 1];
	ncclResult_t r;

	if (!comms || ndev != 1 || (devlist && devlist[0] != 0)) {
		nx_error("ncclCommInitAll: the fake has one device (ndev %d)", ndev);
		return ncclInvalidArgument;
	}
	comms[0] = NULL;
	if ((r = nx_init()) != ncclSuccess)
		return r;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return ncclSystemError;
	nx_hex(id, rnd, sizeof(rnd));
	return nx_comm_create(id, 0, 1, &comms[0]);
}
NX_ALIAS(ncclCommInitAll);

struct nx_split_entry {
	int32_t color, key, parent_rank;
};

static int nx_split_cmp(const void *a, const void *b)
{
	const struct nx_split_entry *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->parent_rank < y->parent_rank ? -1 : x->parent_rank > y->parent_rank;
}

/* FNV-1a, to derive the child's id from (parent id, split number, color) identically on all
 * members of the child. */
static uint64_t nx_fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/* Collective over the parent's ranks: gathers every (color, key); the ranks of one color form
 * the child, ordered by key then parent rank. NCCL_SPLIT_NOCOLOR takes part and gets NULL. */
NX_API ncclResult_t pncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t *newcomm,
				   ncclConfig_t *config)
{
	struct nx_split_entry mine, *all;
	unsigned char idbytes[NX_ID_RANDOM];
	char id[2 * NX_ID_RANDOM + 1];
	uint64_t serial, seq, h1, h2;
	int rank, nranks, i, n = 0, newrank = -1;
	ncclResult_t r;

	if (!newcomm)
		return ncclInvalidArgument;
	*newcomm = NULL;
	if ((r = nx_comm_check(comm, &serial, &rank, &nranks)) != ncclSuccess)
		return r;
	if ((color < 0 && color != NCCL_SPLIT_NOCOLOR) || (r = nx_config_check(config)))
		return r ? r : ncclInvalidArgument;
	all = calloc((size_t)nranks, sizeof(*all));
	if (!all)
		return ncclSystemError;
	mine.color = color;
	mine.key = key;
	mine.parent_rank = rank;
	pthread_mutex_lock(&nx_mu);
	memcpy(id, comm->id, sizeof(id)); /* comm is in the table: nx_comm_check said so */
	pthread_mutex_unlock(&nx_mu);
	r = nx_host_collective(comm, "split", &mine, sizeof(mine), all, &seq);
	if (r != ncclSuccess || color == NCCL_SPLIT_NOCOLOR)
		goto out;
	for (i = 0; i < nranks; i++)
		if (all[i].color == color)
			all[n++] = all[i];
	qsort(all, (size_t)n, sizeof(*all), nx_split_cmp);
	for (i = 0; i < n; i++)
		if (all[i].parent_rank == rank)
			newrank = i;
	h1 = nx_fnv(0xcbf29ce484222325ull, id, strlen(id));
	h1 = nx_fnv(h1, &seq, sizeof(seq));
	h1 = nx_fnv(h1, &color, sizeof(color));
	h2 = nx_fnv(h1 ^ 0x9e3779b97f4a7c15ull, id, strlen(id));
	memcpy(idbytes, &h1, sizeof(h1));
	memcpy(idbytes + sizeof(h1), &h2, sizeof(h2));
	nx_hex(id, idbytes, sizeof(idbytes));
	r = nx_comm_create(id, newrank, n, newcomm);
out:
	free(all);
	return r;
}
NX_ALIAS(ncclCommSplit);

/* ---- ending communicators ---- */

/* Collective: blocks until every rank of comm finalizes. */
NX_API ncclResult_t pncclCommFinalize(ncclComm_t comm)
{
	ncclResult_t r = nx_host_collective(comm, "finalize", NULL, 0, NULL, NULL);

	if (r == ncclSuccess) {
		pthread_mutex_lock(&nx_mu);
		if (nx_comm_find(comm))
			comm->finalized = 1;
		pthread_mutex_unlock(&nx_mu);
	}
	return r;
}
NX_ALIAS(ncclCommFinalize);

/* Local: leaves the table (a second destroy is ncclInvalidArgument), then frees its device
 * memory through the driver. Windows and registrations of the comm go with it. */
static ncclResult_t nx_comm_end(ncclComm_t comm)
{
	struct ncclComm **pp;
	struct nx_reg **rp, *reg;
	struct ncclWindow_vidmem **wp, *win, *dead = NULL;
	ncclResult_t r = ncclSuccess;

	pthread_mutex_lock(&nx_mu);
	for (pp = &nx_comms; *pp && *pp != comm; pp = &(*pp)->next)
		;
	if (!*pp || comm->magic != NX_COMM_MAGIC) {
		pthread_mutex_unlock(&nx_mu);
		nx_error("invalid communicator %p", (void *)comm);
		return ncclInvalidArgument;
	}
	*pp = comm->next;
	comm->magic = 0;
	for (rp = &nx_regs; (reg = *rp);) {
		if (reg->comm == comm) {
			*rp = reg->next;
			free(reg);
		} else {
			rp = &reg->next;
		}
	}
	for (wp = &nx_wins; (win = *wp);) {
		if (win->comm == comm) {
			*wp = win->next;
			win->next = dead;
			dead = win;
		} else {
			wp = &win->next;
		}
	}
	pthread_mutex_unlock(&nx_mu);
	while ((win = dead)) {
		dead = win->next;
		if (nx_dev_free(win->devmem) != ncclSuccess)
			r = ncclUnhandledCudaError;
		win->magic = 0;
		free(win);
	}
	if (nx_dev_free(comm->devmem) != ncclSuccess)
		r = ncclUnhandledCudaError;
	nx_comm_free(comm);
	return r;
}

NX_API ncclResult_t pncclCommDestroy(ncclComm_t comm)
{
	return nx_comm_end(comm);
}
NX_ALIAS(ncclCommDestroy);

/* Local, like destroy: nothing of the fake can be in flight that abort would have to cancel
 * except host functions waiting for peers, which time out on their own. */
NX_API ncclResult_t pncclCommAbort(ncclComm_t comm)
{
	if (!comm)
		return ncclSuccess; /* NCCL: abort of NULL is a no-op */
	return nx_comm_end(comm);
}
NX_ALIAS(ncclCommAbort);

/* ---- queries ---- */

NX_API ncclResult_t pncclCommCount(const ncclComm_t comm, int *count)
{
	if (!count)
		return ncclInvalidArgument;
	return nx_comm_check(comm, NULL, NULL, count);
}
NX_ALIAS(ncclCommCount);

NX_API ncclResult_t pncclCommCuDevice(const ncclComm_t comm, int *device)
{
	ncclResult_t r;

	if (!device)
		return ncclInvalidArgument;
	r = nx_comm_check(comm, NULL, NULL, NULL);
	if (r == ncclSuccess)
		*device = 0; /* the fake driver's one device */
	return r;
}
NX_ALIAS(ncclCommCuDevice);

NX_API ncclResult_t pncclCommUserRank(const ncclComm_t comm, int *rank)
{
	if (!rank)
		return ncclInvalidArgument;
	return nx_comm_check(comm, NULL, rank, NULL);
}
NX_ALIAS(ncclCommUserRank);

/* Errors of the fake are returned by the call that met them: nothing is ever asynchronous. */
NX_API ncclResult_t pncclCommGetAsyncError(ncclComm_t comm, ncclResult_t *asyncError)
{
	ncclResult_t r;

	if (!asyncError)
		return ncclInvalidArgument;
	r = nx_comm_check(comm, NULL, NULL, NULL);
	if (r == ncclSuccess)
		*asyncError = ncclSuccess;
	return r;
}
NX_ALIAS(ncclCommGetAsyncError);

/* ---- registration ---- */

/* Bookkeeping only: local, touches no driver state, so allowed during a capture (DEVICE-FACTS). */
NX_API ncclResult_t pncclCommRegister(const ncclComm_t comm, void *buff, size_t size,
				      void **handle)
{
	struct nx_reg *reg;
	ncclResult_t r;

	if (!handle || !buff || size == 0)
		return ncclInvalidArgument;
	if ((r = nx_comm_check(comm, NULL, NULL, NULL)) != ncclSuccess)
		return r;
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return ncclSystemError;
	reg->magic = NX_REG_MAGIC;
	reg->comm = comm;
	reg->buff = buff;
	reg->size = size;
	pthread_mutex_lock(&nx_mu);
	reg->next = nx_regs;
	nx_regs = reg;
	pthread_mutex_unlock(&nx_mu);
	*handle = reg;
	return ncclSuccess;
}
NX_ALIAS(ncclCommRegister);

NX_API ncclResult_t pncclCommDeregister(const ncclComm_t comm, void *handle)
{
	struct nx_reg **pp, *reg;
	ncclResult_t r;

	if ((r = nx_comm_check(comm, NULL, NULL, NULL)) != ncclSuccess)
		return r;
	pthread_mutex_lock(&nx_mu);
	for (pp = &nx_regs; *pp && (*pp != handle || (*pp)->comm != comm); pp = &(*pp)->next)
		;
	reg = *pp;
	if (reg)
		*pp = reg->next;
	pthread_mutex_unlock(&nx_mu);
	if (!reg) {
		nx_error("unknown registration handle %p", handle);
		return ncclInvalidArgument;
	}
	free(reg);
	return ncclSuccess;
}
NX_ALIAS(ncclCommDeregister);

/* Collective over the comm's ranks, with a driver allocation first (the window's device-side
 * state): during a capture that allocation is refused, the capture invalidated, and the call
 * fails with ncclUnhandledCudaError before any rank waits (DEVICE-FACTS). */
NX_API ncclResult_t pncclCommWindowRegister(ncclComm_t comm, void *buff, size_t size,
					    ncclWindow_t *win, int winFlags)
{
	struct ncclWindow_vidmem *w;
	ncclResult_t r;

	if (!win || !buff || size == 0 ||
	    (winFlags & ~(NCCL_WIN_DEFAULT | NCCL_WIN_COLL_SYMMETRIC)))
		return ncclInvalidArgument;
	*win = NULL;
	if ((r = nx_comm_check(comm, NULL, NULL, NULL)) != ncclSuccess)
		return r;
	w = calloc(1, sizeof(*w));
	if (!w)
		return ncclSystemError;
	if ((r = nx_dev_alloc(&w->devmem, NX_WIN_DEVMEM)) != ncclSuccess) {
		free(w);
		return r;
	}
	r = nx_host_collective(comm, "window", NULL, 0, NULL, NULL);
	if (r != ncclSuccess) {
		nx_dev_free(w->devmem);
		free(w);
		return r;
	}
	w->magic = NX_WIN_MAGIC;
	w->comm = comm;
	w->buff = buff;
	w->size = size;
	pthread_mutex_lock(&nx_mu);
	w->next = nx_wins;
	nx_wins = w;
	pthread_mutex_unlock(&nx_mu);
	*win = w;
	return ncclSuccess;
}
NX_ALIAS(ncclCommWindowRegister);

/* Local: unlinks the window and frees its device memory (a driver free: refused during a
 * capture like any cuMemFree). */
NX_API ncclResult_t pncclCommWindowDeregister(ncclComm_t comm, ncclWindow_t win)
{
	struct ncclWindow_vidmem **pp, *w = NULL;
	ncclResult_t r;

	if ((r = nx_comm_check(comm, NULL, NULL, NULL)) != ncclSuccess)
		return r;
	pthread_mutex_lock(&nx_mu);
	for (pp = &nx_wins; *pp; pp = &(*pp)->next) {
		if (*pp == win && win->comm == comm) {
			w = win;
			*pp = w->next;
			break;
		}
	}
	pthread_mutex_unlock(&nx_mu);
	if (!w) {
		nx_error("unknown window %p", (void *)win);
		return ncclInvalidArgument;
	}
	r = nx_dev_free(w->devmem);
	w->magic = 0;
	free(w);
	return r;
}
NX_ALIAS(ncclCommWindowDeregister);
