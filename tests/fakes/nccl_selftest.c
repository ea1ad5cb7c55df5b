/* nccl_selftest.c - proves the NCCL test double (build/fakes/libnccl.so.2) behaves as NCCL 2.28
 * and DEVICE-FACTS.md say: with N = 2 and 3 forked ranks that get their unique ids from the
 * parent through a pipe, init really waits for every rank, collectives move data between the
 * processes eagerly and from a captured graph (a new result at each launch), init and window
 * registration during a Global capture fail with ncclUnhandledCudaError and invalidate the
 * capture (901), split builds the right groups, handles are validated, ncclX is a weak alias of
 * an exported pncclX, and the library reaches CUDA only through the driver's
 * cuGetProcAddress_v2. Prints one line per failed check and "N passed, N failed". */
#define _GNU_SOURCE
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstrict-prototypes" /* nccl.h declares f() prototypes */
#include <nccl.h>
#pragma GCC diagnostic pop
#include <cuda_runtime_api.h>

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fakecuda.h"

#define MAX_RANKS 3
#define NIDS 2                  /* unique ids per run: [0] main comm, [1] init during capture */
#define LATE_START_MS 200       /* the last rank starts this late; only makes a bug visible */
#define CHILD_TIMEOUT_S 60      /* a run of ranks that takes longer failed (the fake's own bound is 120 s) */
#define COUNT 1000

static int npass, nfail, cur_n, cur_rank = -1;

#define CHECK(cond, ...) \
	do { \
		if (cond) { \
			npass++; \
		} else { \
			nfail++; \
			printf("FAIL line %d (N=%d rank %d): ", __LINE__, cur_n, cur_rank); \
			printf(__VA_ARGS__); \
			printf("\n"); \
			fflush(stdout); \
		} \
	} while (0)

#define NEXPECT(call, want) \
	do { \
		ncclResult_t got_ = (call); \
		CHECK(got_ == (want), "%s = %d (%s), want %d", #call, (int)got_, \
		      ncclGetErrorString(got_), (int)(want)); \
	} while (0)

#define CEXPECT(call, want) \
	do { \
		cudaError_t got_ = (call); \
		CHECK(got_ == (want), "%s = %d (%s), want %d", #call, (int)got_, \
		      cudaGetErrorName(got_), (int)(want)); \
	} while (0)

/* shared between the ranks of one run (anonymous shared mapping: nothing in /dev/shm) */
struct shared {
	_Atomic int late_arrived; /* set by the last rank just before it calls init */
};

/* ---- per-rank helpers ---- */

static void *dev_alloc(size_t n)
{
	void *p = NULL;

	CEXPECT(cudaMalloc(&p, n), cudaSuccess);
	return p;
}

static void put_i32(void *dev, int base, int step)
{
	int32_t h[COUNT];
	int i;

	for (i = 0; i < COUNT; i++)
		h[i] = base + step * i;
	CEXPECT(cudaMemcpy(dev, h, sizeof(h), cudaMemcpyHostToDevice), cudaSuccess);
}

/* number of elements i where dev[i] != base + step * i */
static int bad_i32(const void *dev, int base, int step)
{
	int32_t h[COUNT];
	int i, bad = 0;

	if (cudaMemcpy(h, dev, sizeof(h), cudaMemcpyDeviceToHost) != cudaSuccess)
		return COUNT;
	for (i = 0; i < COUNT; i++)
		bad += h[i] != base + step * i;
	return bad;
}

static int sum_to(int n) /* 1 + 2 + ... + n */
{
	return n * (n + 1) / 2;
}

/* ---- the checks each rank runs ---- */

static void check_collectives(ncclComm_t comm, int n, int rank, cudaStream_t s)
{
	int32_t *a = dev_alloc(COUNT * 4), *b = dev_alloc(COUNT * 4 * MAX_RANKS);
	float *f = dev_alloc(COUNT * 4);
	float hf[COUNT];
	int32_t hb[COUNT * MAX_RANKS];
	int i, bad = 0, r;

	/* allreduce: rank r contributes (r + 1) + i */
	put_i32(a, rank + 1, 1);
	NEXPECT(ncclAllReduce(a, b, COUNT, ncclInt32, ncclSum, comm, s), ncclSuccess);
	CEXPECT(cudaStreamSynchronize(s), cudaSuccess);
	CHECK(bad_i32(b, sum_to(n), n) == 0, "eager int32 allreduce sum wrong");
	/* in place, max, on the legacy stream */
	put_i32(a, rank, 0);
	NEXPECT(ncclAllReduce(a, a, COUNT, ncclInt32, ncclMax, comm, NULL), ncclSuccess);
	CEXPECT(cudaStreamSynchronize(NULL), cudaSuccess);
	CHECK(bad_i32(a, n - 1, 0) == 0, "in-place int32 allreduce max wrong");
	/* float average */
	for (i = 0; i < COUNT; i++)
		hf[i] = (float)(rank + 1) * 0.5f;
	CEXPECT(cudaMemcpy(f, hf, sizeof(hf), cudaMemcpyHostToDevice), cudaSuccess);
	NEXPECT(ncclAllReduce(f, f, COUNT, ncclFloat32, ncclAvg, comm, s), ncclSuccess);
	CEXPECT(cudaStreamSynchronize(s), cudaSuccess);
	CEXPECT(cudaMemcpy(hf, f, sizeof(hf), cudaMemcpyDeviceToHost), cudaSuccess);
	for (i = 0; i < COUNT; i++)
		bad += hf[i] != (float)sum_to(n) * 0.5f / (float)n;
	CHECK(bad == 0, "float32 allreduce avg wrong (%g)", (double)hf[0]);
	/* broadcast from the last rank */
	put_i32(a, rank == n - 1 ? 7 : -1, 3);
	NEXPECT(ncclBroadcast(a, b, COUNT, ncclInt32, n - 1, comm, s), ncclSuccess);
	CEXPECT(cudaStreamSynchronize(s), cudaSuccess);
	CHECK(bad_i32(b, 7, 3) == 0, "broadcast wrong");
	/* allgather: rank r's block is r, r+1, ... */
	put_i32(a, rank * 100, 1);
	NEXPECT(ncclAllGather(a, b, COUNT, ncclInt32, comm, s), ncclSuccess);
	CEXPECT(cudaStreamSynchronize(s), cudaSuccess);
	CEXPECT(cudaMemcpy(hb, b, (size_t)n * COUNT * 4, cudaMemcpyDeviceToHost), cudaSuccess);
	for (bad = 0, r = 0; r < n; r++)
		for (i = 0; i < COUNT; i++)
			bad += hb[r * COUNT + i] != r * 100 + i;
	CHECK(bad == 0, "allgather wrong");
	/* reduce-scatter: every rank sends j at index j; rank r gets n * (r*COUNT + i) */
	for (i = 0; i < n * COUNT; i++)
		hb[i] = i;
	CEXPECT(cudaMemcpy(b, hb, (size_t)n * COUNT * 4, cudaMemcpyHostToDevice), cudaSuccess);
	NEXPECT(ncclReduceScatter(b, a, COUNT, ncclInt32, ncclSum, comm, s), ncclSuccess);
	CEXPECT(cudaStreamSynchronize(s), cudaSuccess);
	CHECK(bad_i32(a, n * rank * COUNT, n) == 0, "reduce-scatter wrong");
	/* reduce to rank 0; the others' recvbuff is untouched */
	put_i32(a, 2, 0);
	put_i32(b, -5, 0);
	NEXPECT(ncclReduce(a, b, COUNT, ncclInt32, ncclProd, 0, comm, s), ncclSuccess);
	CEXPECT(cudaStreamSynchronize(s), cudaSuccess);
	CHECK(bad_i32(b, rank == 0 ? 1 << n : -5, 0) == 0, "reduce (prod) wrong");
	/* a ring of send/recv in one group, receive first: must not deadlock */
	put_i32(a, rank * 10, 1);
	NEXPECT(ncclGroupStart(), ncclSuccess);
	NEXPECT(ncclRecv(b, COUNT, ncclInt32, (rank + n - 1) % n, comm, s), ncclSuccess);
	NEXPECT(ncclSend(a, COUNT, ncclInt32, (rank + 1) % n, comm, s), ncclSuccess);
	NEXPECT(ncclGroupEnd(), ncclSuccess);
	CEXPECT(cudaStreamSynchronize(s), cudaSuccess);
	CHECK(bad_i32(b, ((rank + n - 1) % n) * 10, 1) == 0, "send/recv ring wrong");
	/* arguments */
	NEXPECT(ncclAllReduce(a, b, COUNT, ncclFloat8e4m3, ncclSum, comm, s), ncclInvalidArgument);
	NEXPECT(ncclAllReduce(a, b, COUNT, ncclInt32, ncclNumOps, comm, s), ncclInvalidArgument);
	NEXPECT(ncclBroadcast(a, b, COUNT, ncclInt32, n, comm, s), ncclInvalidArgument);
	NEXPECT(ncclGroupEnd(), ncclInvalidUsage);
	CEXPECT(cudaFree(a), cudaSuccess);
	CEXPECT(cudaFree(b), cudaSuccess);
	CEXPECT(cudaFree(f), cudaSuccess);
}

/* An allreduce captured into a graph runs at each launch, on that launch's inputs. */
static void check_graph(ncclComm_t comm, int n, int rank, cudaStream_t s)
{
	int32_t *a = dev_alloc(COUNT * 4), *b = dev_alloc(COUNT * 4);
	cudaGraph_t g = NULL;
	cudaGraphExec_t x = NULL;
	enum cudaStreamCaptureStatus st;
	void *mem = NULL, *reg = NULL;

	put_i32(b, -1, 0);
	CEXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
	NEXPECT(ncclAllReduce(a, b, COUNT, ncclInt32, ncclSum, comm, s), ncclSuccess);
	/* allowed during a capture (DEVICE-FACTS): they must not break it */
	NEXPECT(ncclMemAlloc(&mem, 4096), ncclSuccess);
	NEXPECT(ncclCommRegister(comm, a, COUNT * 4, &reg), ncclSuccess);
	CEXPECT(cudaStreamIsCapturing(s, &st), cudaSuccess);
	CHECK(st == cudaStreamCaptureStatusActive, "capture status %d after allreduce", (int)st);
	CEXPECT(cudaStreamEndCapture(s, &g), cudaSuccess);
	CHECK(bad_i32(b, -1, 0) == 0, "captured allreduce ran during the capture");
	CEXPECT(cudaGraphInstantiate(&x, g, 0), cudaSuccess);
	put_i32(a, rank + 1, 2);
	CEXPECT(cudaGraphLaunch(x, s), cudaSuccess);
	CEXPECT(cudaStreamSynchronize(s), cudaSuccess);
	CHECK(bad_i32(b, sum_to(n), 2 * n) == 0, "graph launch 1: allreduce sum wrong");
	put_i32(a, 1000 * (rank + 1), -1);
	CEXPECT(cudaGraphLaunch(x, s), cudaSuccess);
	CEXPECT(cudaStreamSynchronize(s), cudaSuccess);
	CHECK(bad_i32(b, 1000 * sum_to(n), -n) == 0, "graph launch 2: allreduce sum wrong");
	NEXPECT(ncclCommDeregister(comm, reg), ncclSuccess);
	NEXPECT(ncclCommDeregister(comm, reg), ncclInvalidArgument);
	NEXPECT(ncclMemFree(mem), ncclSuccess);
	CEXPECT(cudaGraphExecDestroy(x), cudaSuccess);
	CEXPECT(cudaGraphDestroy(g), cudaSuccess);
	CEXPECT(cudaFree(a), cudaSuccess);
	CEXPECT(cudaFree(b), cudaSuccess);
}

/* Init and window registration during a Global capture on this thread (DEVICE-FACTS). */
static void check_capture_failures(ncclComm_t comm, int n, int rank, cudaStream_t s,
				   const ncclUniqueId *capture_id)
{
	ncclComm_t c = (ncclComm_t)&c;
	ncclUniqueId solo;
	ncclWindow_t w = NULL;
	cudaGraph_t g = (cudaGraph_t)&g;
	void *buf = dev_alloc(8192);

	/* all n ranks init inside their captures */
	CEXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
	NEXPECT(ncclCommInitRank(&c, n, *capture_id, rank), ncclUnhandledCudaError);
	CHECK(c == NULL, "failed init left *comm = %p", (void *)c);
	CEXPECT(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
	CHECK(g == NULL, "invalidated capture gave a graph");
	/* one rank, as measured on the H100 */
	NEXPECT(ncclGetUniqueId(&solo), ncclSuccess);
	CEXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
	NEXPECT(ncclCommInitRank(&c, 1, solo, 0), ncclUnhandledCudaError);
	CEXPECT(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
	/* window registration: fine outside, fails inside */
	NEXPECT(ncclCommWindowRegister(comm, buf, 8192, &w, NCCL_WIN_COLL_SYMMETRIC), ncclSuccess);
	CHECK(w != NULL, "no window");
	NEXPECT(ncclCommWindowDeregister(comm, w), ncclSuccess);
	NEXPECT(ncclCommWindowDeregister(comm, w), ncclInvalidArgument);
	CEXPECT(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal), cudaSuccess);
	NEXPECT(ncclCommWindowRegister(comm, buf, 8192, &w, NCCL_WIN_DEFAULT),
		ncclUnhandledCudaError);
	CEXPECT(cudaStreamEndCapture(s, &g), cudaErrorStreamCaptureInvalidated);
	/* the comm still works after the failed window */
	NEXPECT(ncclCommWindowRegister(comm, buf, 8192, &w, NCCL_WIN_DEFAULT), ncclSuccess);
	NEXPECT(ncclCommWindowDeregister(comm, w), ncclSuccess);
	CEXPECT(cudaFree(buf), cudaSuccess);
}

/* Two colors (rank % 2), keys reverse the order; then NOCOLOR for rank 0. */
static void check_split(ncclComm_t comm, int n, int rank, cudaStream_t s)
{
	ncclComm_t sub = NULL, sub2 = (ncclComm_t)&sub;
	int color = rank % 2, size = 0, subrank = -1, want_size = 0, want_rank = 0, r;
	int32_t *a = dev_alloc(COUNT * 4), *b = dev_alloc(COUNT * 4);
	int want_sum = 0;

	NEXPECT(ncclCommSplit(comm, color, -rank, &sub, NULL), ncclSuccess);
	for (r = 0; r < n; r++) {
		if (r % 2 != color)
			continue;
		want_size++;
		want_sum += r + 1;
		want_rank += r > rank; /* larger parent ranks have smaller keys */
	}
	NEXPECT(ncclCommCount(sub, &size), ncclSuccess);
	NEXPECT(ncclCommUserRank(sub, &subrank), ncclSuccess);
	CHECK(size == want_size && subrank == want_rank, "split color %d: size %d rank %d, want %d %d",
	      color, size, subrank, want_size, want_rank);
	put_i32(a, rank + 1, 0);
	NEXPECT(ncclAllReduce(a, b, COUNT, ncclInt32, ncclSum, sub, s), ncclSuccess);
	CEXPECT(cudaStreamSynchronize(s), cudaSuccess);
	CHECK(bad_i32(b, want_sum, 0) == 0, "allreduce on the split comm mixed the groups");
	NEXPECT(ncclCommFinalize(sub), ncclSuccess);
	NEXPECT(ncclCommDestroy(sub), ncclSuccess);
	NEXPECT(ncclCommSplit(comm, rank == 0 ? NCCL_SPLIT_NOCOLOR : 5, 0, &sub2, NULL),
		ncclSuccess);
	if (rank == 0) {
		CHECK(sub2 == NULL, "NCCL_SPLIT_NOCOLOR gave a comm");
	} else {
		NEXPECT(ncclCommCount(sub2, &size), ncclSuccess);
		CHECK(size == n - 1, "split without rank 0 has %d ranks", size);
		NEXPECT(ncclCommDestroy(sub2), ncclSuccess);
	}
	CEXPECT(cudaFree(a), cudaSuccess);
	CEXPECT(cudaFree(b), cudaSuccess);
}

static void rank_main(int n, int rank, const ncclUniqueId *ids, struct shared *sh)
{
	ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
	ncclComm_t comm = NULL;
	cudaStream_t s;
	int v = -1, late_seen;

	if (rank == n - 1) {
		struct timespec d = { 0, LATE_START_MS * 1000000L };

		nanosleep(&d, NULL);
		atomic_store(&sh->late_arrived, 1);
	}
	/* PyTorch's path (Config) on odd ranks, the plain one on even ranks: same rendezvous */
	if (rank % 2)
		NEXPECT(ncclCommInitRankConfig(&comm, n, ids[0], rank, &config), ncclSuccess);
	else
		NEXPECT(ncclCommInitRank(&comm, n, ids[0], rank), ncclSuccess);
	late_seen = atomic_load(&sh->late_arrived);
	CHECK(late_seen, "init returned before the last rank called it");
	if (!comm)
		return;
	NEXPECT(ncclCommCount(comm, &v), ncclSuccess);
	CHECK(v == n, "count %d", v);
	NEXPECT(ncclCommUserRank(comm, &v), ncclSuccess);
	CHECK(v == rank, "user rank %d", v);
	NEXPECT(ncclCommCuDevice(comm, &v), ncclSuccess);
	CHECK(v == 0, "device %d", v);
	CEXPECT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
	check_collectives(comm, n, rank, s);
	check_graph(comm, n, rank, s);
	check_capture_failures(comm, n, rank, s, &ids[1]);
	check_split(comm, n, rank, s);
	NEXPECT(ncclCommFinalize(comm), ncclSuccess);
	NEXPECT(ncclCommDestroy(comm), ncclSuccess);
	NEXPECT(ncclCommDestroy(comm), ncclInvalidArgument);
	NEXPECT(ncclCommCount(comm, &v), ncclInvalidArgument);
	NEXPECT(ncclAllReduce(&v, &v, 1, ncclInt32, ncclSum, comm, s), ncclInvalidArgument);
	CEXPECT(cudaStreamDestroy(s), cudaSuccess);
}

/* ---- single-process checks (run in a child, so the parent never holds CUDA state) ---- */

static const char *const api_names[] = {
	"ncclGetVersion", "ncclGetErrorString", "ncclGetLastError", "ncclGetUniqueId",
	"ncclCommInitRank", "ncclCommInitRankConfig", "ncclCommInitAll",
	"ncclCommInitRankScalable", "ncclCommSplit", "ncclCommFinalize", "ncclCommDestroy",
	"ncclCommAbort", "ncclCommCount", "ncclCommCuDevice", "ncclCommUserRank", "ncclMemAlloc",
	"ncclMemFree", "ncclCommRegister", "ncclCommDeregister", "ncclCommWindowRegister",
	"ncclCommWindowDeregister", "ncclAllReduce", "ncclBroadcast", "ncclReduce",
	"ncclAllGather", "ncclReduceScatter", "ncclSend", "ncclRecv", "ncclGroupStart",
	"ncclGroupEnd",
};

/* Binding of `name` in the .dynsym of the ELF file at path: STB_*, or -1 if absent/undefined. */
static int dynsym_binding(const char *path, const char *name)
{
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	struct stat st;
	int fd = open(path, O_RDONLY), bind = -1, i;
	void *map;

	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -1;
	eh = map;
	sh = (const Elf64_Shdr *)((const char *)map + eh->e_shoff);
	for (i = 0; i < eh->e_shnum && bind < 0; i++) {
		const Elf64_Sym *sym = (const Elf64_Sym *)((const char *)map + sh[i].sh_offset);
		const char *str = (const char *)map + sh[sh[i].sh_link].sh_offset;
		size_t k;

		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		for (k = 0; k < sh[i].sh_size / sizeof(*sym); k++)
			if (sym[k].st_shndx != SHN_UNDEF && strcmp(str + sym[k].st_name, name) == 0 &&
			    ELF64_ST_VISIBILITY(sym[k].st_other) == STV_DEFAULT)
				bind = ELF64_ST_BIND(sym[k].st_info);
	}
	munmap(map, (size_t)st.st_size);
	return bind;
}

static void check_library(void)
{
	void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_NOLOAD), *drv;
	void (*stats_fn)(struct fakecuda_stats *);
	static struct fakecuda_stats stats;
	Dl_info info;
	char pname[64];
	size_t i;

	CHECK(h != NULL, "libnccl.so.2 not loaded");
	if (!h)
		return;
	CHECK(dladdr(dlsym(h, "pncclAllReduce"), &info) && info.dli_fname, "dladdr failed");
	for (i = 0; i < sizeof(api_names) / sizeof(api_names[0]); i++) {
		void *a = dlsym(h, api_names[i]), *p;

		snprintf(pname, sizeof(pname), "p%s", api_names[i]);
		p = dlsym(h, pname);
		CHECK(a && a == p, "%s (%p) is not %s (%p)", api_names[i], a, pname, p);
		CHECK(dynsym_binding(info.dli_fname, api_names[i]) == STB_WEAK,
		      "%s is not an exported weak symbol", api_names[i]);
		CHECK(dynsym_binding(info.dli_fname, pname) == STB_GLOBAL,
		      "%s is not an exported strong symbol", pname);
	}
	CHECK(dlsym(h, "nx_shm_gather") == NULL, "internal symbol exported");
	CHECK((void *)ncclAllReduce == (void *)pncclAllReduce, "linked ncclAllReduce != pncclAllReduce");
	/* the library asked the driver for its entry points through cuGetProcAddress_v2 */
	drv = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
	stats_fn = drv ? (void (*)(struct fakecuda_stats *))dlsym(drv, "fakecuda_stats") : NULL;
	CHECK(stats_fn != NULL, "fake driver's fakecuda_stats not found");
	if (stats_fn) {
		int alloc5 = 0, host5 = 0;

		stats_fn(&stats);
		for (i = 0; i < stats.nlookups; i++) {
			const struct fakecuda_lookup *l = &stats.lookups[i];

			alloc5 += l->abi == 5 && l->found && l->version == 3020 &&
				  strcmp(l->name, "cuMemAlloc") == 0;
			host5 += l->abi == 5 && l->found && strcmp(l->name, "cuLaunchHostFunc") == 0;
		}
		CHECK(alloc5 == 1 && host5 == 1,
		      "driver lookups through cuGetProcAddress_v2: cuMemAlloc %d, cuLaunchHostFunc %d",
		      alloc5, host5);
	}
}

static void single_main(void)
{
	ncclUniqueId a, b;
	ncclComm_t comms[2] = { NULL, NULL }, bogus = (ncclComm_t)&a, none = bogus;
	int v = 0, dev0 = 0;
	cudaStream_t s;

	cur_n = 1;
	cur_rank = 0;
	NEXPECT(ncclGetVersion(&v), ncclSuccess);
	CHECK(v == NCCL_VERSION_CODE && v >= 22800, "version %d", v);
	NEXPECT(ncclGetUniqueId(&a), ncclSuccess);
	NEXPECT(ncclGetUniqueId(&b), ncclSuccess);
	CHECK(memcmp(a.internal, "FAKENCCL", 8) == 0 && memcmp(&a, &b, sizeof(a)) != 0,
	      "unique ids: no prefix or not random");
	CHECK(strcmp(ncclGetErrorString(ncclUnhandledCudaError),
		     "unhandled cuda error (run with NCCL_DEBUG=INFO for details)") == 0,
	      "error string");
	NEXPECT(ncclCommInitAll(comms, 2, NULL), ncclInvalidArgument);
	NEXPECT(ncclCommInitAll(comms, 1, &dev0), ncclSuccess);
	NEXPECT(ncclCommCount(comms[0], &v), ncclSuccess);
	CHECK(v == 1, "InitAll comm has %d ranks", v);
	CEXPECT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
	NEXPECT(ncclCommInitRankScalable(&comms[1], 1, 0, 1, &b, NULL), ncclSuccess);
	NEXPECT(ncclCommCount(bogus, &v), ncclInvalidArgument);
	NEXPECT(ncclAllReduce(&v, &v, 1, ncclInt32, ncclSum, bogus, s), ncclInvalidArgument);
	NEXPECT(ncclCommDestroy(bogus), ncclInvalidArgument);
	NEXPECT(ncclCommInitRank(&none, 2, a, 2), ncclInvalidArgument);
	CHECK(none == NULL, "failed init left *comm set");
	NEXPECT(ncclCommAbort(comms[0]), ncclSuccess);
	NEXPECT(ncclCommAbort(comms[0]), ncclInvalidArgument);
	NEXPECT(ncclCommDestroy(comms[1]), ncclSuccess);
	CEXPECT(cudaStreamDestroy(s), cudaSuccess);
	check_library();
}

/* ---- the parent: forks the ranks, hands out ids, collects counts ---- */

/* Waits for the children; kills them all at the deadline. 0 when all exited 0. */
static int reap(const pid_t *pids, int n)
{
	struct timespec d = { 0, 10 * 1000000L }, t0, t;
	int left = n, bad = 0, i, st, done[MAX_RANKS] = { 0 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (left > 0) {
		for (i = 0; i < n; i++) {
			if (!done[i] && waitpid(pids[i], &st, WNOHANG) == pids[i]) {
				bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
				done[i] = 1;
				left--;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (left > 0 && t.tv_sec - t0.tv_sec > CHILD_TIMEOUT_S) {
			for (i = 0; i < n; i++)
				if (!done[i])
					kill(pids[i], SIGKILL);
			printf("FAIL: ranks still running after %d s (a hang), killed\n",
			       CHILD_TIMEOUT_S);
			for (i = 0; i < n; i++)
				if (!done[i])
					waitpid(pids[i], &st, 0);
			return 1;
		}
		if (left > 0)
			nanosleep(&d, NULL);
	}
	return bad;
}

/* Names in /dev/shm of this run's comms (by unique id) or of its ranks' device memory; each
 * is printed. */
static int leftovers(const ncclUniqueId *ids, const pid_t *pids, int nproc)
{
	char pre[NIDS + MAX_RANKS][64];
	DIR *d = opendir("/dev/shm");
	struct dirent *e;
	int npre = 0, bad = 0, i, k;

	for (k = 0; k < NIDS; k++, npre++) {
		int len = snprintf(pre[npre], sizeof(pre[npre]), "fakenccl.");

		for (i = 0; i < 16; i++)
			len += snprintf(pre[npre] + len, sizeof(pre[npre]) - (size_t)len, "%02x",
					(unsigned char)ids[k].internal[8 + i]);
	}
	for (i = 0; i < nproc; i++, npre++)
		snprintf(pre[npre], sizeof(pre[npre]), "fakecuda.%d.", (int)pids[i]);
	while (d && (e = readdir(d))) {
		for (k = 0; k < npre; k++) {
			if (strncmp(e->d_name, pre[k], strlen(pre[k])) == 0) {
				printf("left behind: /dev/shm/%s\n", e->d_name);
				bad++;
			}
		}
	}
	if (d)
		closedir(d);
	return bad;
}

/* Fork n ranks (n == 0: one single-process child); add their counts to ours. */
static void run(int n)
{
	struct shared *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ncclUniqueId ids[NIDS];
	pid_t pids[MAX_RANKS];
	int to[MAX_RANKS][2], from[MAX_RANKS][2], nproc = n ? n : 1, i, k;

	CHECK(sh != MAP_FAILED, "mmap");
	for (k = 0; k < NIDS; k++)
		NEXPECT(ncclGetUniqueId(&ids[k]), ncclSuccess); /* no CUDA state in the parent */
	fflush(stdout);
	for (i = 0; i < nproc; i++) {
		if (pipe(to[i]) != 0 || pipe(from[i]) != 0)
			abort();
		pids[i] = fork();
		if (pids[i] == 0) {
			ncclUniqueId got[NIDS];
			int counts[2];

			npass = nfail = 0;
			cur_n = n;
			cur_rank = i;
			if (read(to[i][0], got, sizeof(got)) != (ssize_t)sizeof(got))
				_exit(3);
			if (n)
				rank_main(n, i, got, sh);
			else
				single_main();
			counts[0] = npass;
			counts[1] = nfail;
			if (write(from[i][1], counts, sizeof(counts)) != (ssize_t)sizeof(counts))
				_exit(3);
			fflush(stdout);
			exit(0); /* runs the fake driver's destructor: its /dev/shm names go */
		}
		close(to[i][0]);
		close(from[i][1]);
	}
	for (i = 0; i < nproc; i++) {
		CHECK(write(to[i][1], ids, sizeof(ids)) == (ssize_t)sizeof(ids), "pipe write");
		close(to[i][1]);
	}
	CHECK(reap(pids, nproc) == 0, "a rank of N=%d crashed or failed", n);
	for (i = 0; i < nproc; i++) {
		int counts[2];

		if (read(from[i][0], counts, sizeof(counts)) == (ssize_t)sizeof(counts)) {
			npass += counts[0];
			nfail += counts[1];
		} else {
			CHECK(0, "rank %d of N=%d reported nothing", i, n);
		}
		close(from[i][0]);
	}
	/* nothing of this run is left in /dev/shm */
	CHECK(leftovers(ids, pids, nproc) == 0, "N=%d left shared memory behind", n);
	munmap(sh, sizeof(*sh));
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	run(0);
	run(2);
	run(3);
	printf("%d passed, %d failed\n", npass, nfail);
	return nfail ? 1 : 0;
}
