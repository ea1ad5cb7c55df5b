/* nccl_shm.c - fake libnccl.so.2: how ranks (processes) meet. Two primitives on POSIX shared
 * memory, each segment named by a key that every participant computes the same way
 * (/fakenccl.<comm id>.<what>.<sequence>), used once, and unlinked by its last user:
 *   nx_shm_gather: every rank writes its slot, then WAITS until all nranks slots are written
 *                  (the rendezvous behind init, split, finalize, window registration and every
 *                  collective); nx_shm_leave unmaps, and the last rank to leave unlinks.
 *   nx_shm_put / nx_shm_get: a one-way mailbox for point-to-point (put never waits; get waits
 *                  for the put and unlinks).
 * Waiting is a bounded poll (short sleeps, growing to 1 ms) with an overall timeout of
 * NX_SHM_TIMEOUT_S, after which the segment is unlinked and ncclSystemError returned, so that
 * a broken test cannot hang for ever. Never holds a lock of the library while it waits. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes" /* nccl.h declares f() prototypes */
#include <nccl.h>
#pragma GCC diagnostic pop

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NX_HIDDEN __attribute__((visibility("hidden")))
#define NX_SHM_TIMEOUT_S 120      /* overall bound on any wait for peers */
#define NX_POLL_MIN_NS 20000L     /* first sleep between polls: 20 us */
#define NX_POLL_MAX_NS 1000000L   /* longest sleep between polls: 1 ms */
#define NX_SLOT_ALIGN 64

/* ---- the interface of this file, also declared in nccl_comm.c and nccl_coll.c ---- */
NX_HIDDEN ncclResult_t nx_shm_gather(const char *key, int nranks, int rank, const void *mine,
				     size_t n, const char **base, size_t *stride, void **handle);
NX_HIDDEN void nx_shm_leave(void *handle);
NX_HIDDEN ncclResult_t nx_shm_put(const char *key, const void *buf, size_t n);
NX_HIDDEN ncclResult_t nx_shm_get(const char *key, void *buf, size_t n);
/* ---- end of the interface; from nccl_driver.c: ---- */
NX_HIDDEN void nx_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Start of every segment. Zero-filled by ftruncate; the first user fixes the shape, later ones
 * check it (participants that disagree on nranks or the size are a caller's error). */
struct nx_hdr {
	_Atomic uint64_t nranks1;   /* nranks + 1, 0 while unset */
	_Atomic uint64_t n1;        /* bytes per slot + 1, 0 while unset */
	_Atomic int departed;       /* ranks that finished reading */
	_Atomic int ready[];        /* [nranks]: slot written */
};

struct nx_seg {
	char name[128];
	void *map;
	size_t len;
	int nranks;
};

static size_t nx_align(size_t n)
{
	return (n + NX_SLOT_ALIGN - 1) / NX_SLOT_ALIGN * NX_SLOT_ALIGN;
}

static size_t nx_data_off(int nranks)
{
	return nx_align(sizeof(struct nx_hdr) + (size_t)nranks * sizeof(_Atomic int));
}

static struct timespec nx_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t;
}

static int nx_expired(const struct timespec *start)
{
	struct timespec t = nx_now();

	return t.tv_sec - start->tv_sec >= NX_SHM_TIMEOUT_S;
}

static void nx_pause(long *ns)
{
	struct timespec d = { 0, *ns };

	nanosleep(&d, NULL);
	if (*ns < NX_POLL_MAX_NS)
		*ns = *ns * 2 > NX_POLL_MAX_NS ? NX_POLL_MAX_NS : *ns * 2;
}

/* Opens (creating if needed) and maps the segment `name` of at least len bytes. */
static ncclResult_t nx_map(const char *name, size_t len, struct nx_seg *seg)
{
	struct stat st;
	int fd;

	memset(seg, 0, sizeof(*seg));
	if (snprintf(seg->name, sizeof(seg->name), "%s", name) >= (int)sizeof(seg->name)) {
		nx_error("shared-memory name too long: %s", name);
		return ncclInternalError;
	}
	fd = shm_open(name, O_RDWR | O_CREAT, 0600);
	if (fd < 0) {
		nx_error("shm_open(%s): %s", name, strerror(errno));
		return ncclSystemError;
	}
	/* only grow: a participant that truncated a segment others already use would SIGBUS them */
	if (fstat(fd, &st) != 0 || ((size_t)st.st_size < len && ftruncate(fd, (off_t)len) != 0)) {
		nx_error("sizing %s: %s", name, strerror(errno));
		close(fd);
		shm_unlink(name);
		return ncclSystemError;
	}
	seg->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (seg->map == MAP_FAILED) {
		nx_error("mmap(%s): %s", name, strerror(errno));
		shm_unlink(name);
		return ncclSystemError;
	}
	seg->len = len;
	return ncclSuccess;
}

/* Sets *field to want (stored +1) if unset; 0 when it already holds something else. */
static int nx_agree(_Atomic uint64_t *field, uint64_t want)
{
	uint64_t expect = 0;

	if (atomic_compare_exchange_strong(field, &expect, want + 1))
		return 1;
	return expect == want + 1;
}

ncclResult_t nx_shm_gather(const char *key, int nranks, int rank, const void *mine, size_t n,
			   const char **base, size_t *stride, void **handle)
{
	struct nx_seg *seg;
	struct nx_hdr *h;
	struct timespec start = nx_now();
	long pause = NX_POLL_MIN_NS;
	size_t off = nx_data_off(nranks), len = off + (size_t)nranks * nx_align(n);
	ncclResult_t r;
	int expect = 0, i;

	if (nranks < 1 || rank < 0 || rank >= nranks)
		return ncclInvalidArgument;
	seg = calloc(1, sizeof(*seg));
	if (!seg)
		return ncclSystemError;
	r = nx_map(key, len, seg);
	if (r != ncclSuccess) {
		free(seg);
		return r;
	}
	seg->nranks = nranks;
	h = seg->map;
	if (!nx_agree(&h->nranks1, (uint64_t)nranks) || !nx_agree(&h->n1, n)) {
		nx_error("%s: ranks disagree on the number of ranks or the size", key);
		r = ncclInvalidUsage;
		goto fail;
	}
	if (mine && n)
		memcpy((char *)seg->map + off + (size_t)rank * nx_align(n), mine, n);
	if (!atomic_compare_exchange_strong(&h->ready[rank], &expect, 1)) {
		nx_error("%s: rank %d arrived twice (two processes with the same rank?)", key, rank);
		r = ncclInvalidUsage;
		goto fail;
	}
	for (i = 0; i < nranks; i++) {
		while (!atomic_load(&h->ready[i])) {
			if (nx_expired(&start)) {
				nx_error("%s: rank %d waited %d s for rank %d of %d", key, rank,
					 NX_SHM_TIMEOUT_S, i, nranks);
				shm_unlink(seg->name); /* leave nothing behind; peers time out too */
				r = ncclSystemError;
				goto fail;
			}
			nx_pause(&pause);
		}
	}
	*base = (const char *)seg->map + off;
	*stride = nx_align(n);
	*handle = seg;
	return ncclSuccess;
fail:
	munmap(seg->map, seg->len);
	free(seg);
	return r;
}

/* Every rank has written before any can leave, so after the last leave nobody opens it again. */
void nx_shm_leave(void *handle)
{
	struct nx_seg *seg = handle;
	struct nx_hdr *h;

	if (!seg)
		return;
	h = seg->map;
	if (atomic_fetch_add(&h->departed, 1) + 1 == seg->nranks)
		shm_unlink(seg->name);
	munmap(seg->map, seg->len);
	free(seg);
}

/* A mailbox holds one message: header with ready[0], then the bytes. */
ncclResult_t nx_shm_put(const char *key, const void *buf, size_t n)
{
	struct nx_seg seg;
	struct nx_hdr *h;
	size_t off = nx_data_off(1);
	ncclResult_t r = nx_map(key, off + nx_align(n), &seg);

	if (r != ncclSuccess)
		return r;
	h = seg.map;
	if (!nx_agree(&h->n1, n)) {
		nx_error("%s: send of %zu bytes does not match the receive", key, n);
		r = ncclInvalidUsage;
	} else {
		if (n)
			memcpy((char *)seg.map + off, buf, n);
		atomic_store(&h->ready[0], 1);
	}
	munmap(seg.map, seg.len);
	return r;
}

ncclResult_t nx_shm_get(const char *key, void *buf, size_t n)
{
	struct nx_seg seg;
	struct nx_hdr *h;
	struct timespec start = nx_now();
	long pause = NX_POLL_MIN_NS;
	size_t off = nx_data_off(1);
	ncclResult_t r = nx_map(key, off + nx_align(n), &seg);

	if (r != ncclSuccess)
		return r;
	h = seg.map;
	if (!nx_agree(&h->n1, n)) {
		nx_error("%s: receive of %zu bytes does not match the send", key, n);
		r = ncclInvalidUsage;
		goto out;
	}
	while (!atomic_load(&h->ready[0])) {
		if (nx_expired(&start)) {
			nx_error("%s: receive waited %d s for its send", key, NX_SHM_TIMEOUT_S);
			r = ncclSystemError;
			goto out;
		}
		nx_pause(&pause);
	}
	if (n)
		memcpy(buf, (char *)seg.map + off, n);
out:
	shm_unlink(seg.name);
	munmap(seg.map, seg.len);
	return r;
}
