/* driver_memory.c - fake libcuda: memory. Device memory is host memory of this process, each
 * device allocation a POSIX shared-memory object (/dev/shm/fakecuda.<pid>.<n>) so that another
 * process can map it through an IPC handle and see the same bytes. Pinned/registered host
 * memory is only bookkept. Copies and memsets are in driver_copy.c.
 * Allocation and free apply the capture rules of driver_capture.c ("potentially unsafe"). */
#include <errno.h>
#include "driver.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define FK_TOTAL_MEM (80ull << 30) /* an H100's 80 GB, what cuMemGetInfo reports */
#define FK_IPC_MAGIC "FKCUIPC1"

enum fk_mem_kind { FK_MEM_DEVICE, FK_MEM_MANAGED, FK_MEM_ASYNC, FK_MEM_HOST, FK_MEM_REGISTERED,
		   FK_MEM_IPC };

struct fk_alloc {
	char *base;
	size_t size;
	size_t maplen;
	enum fk_mem_kind kind;
	int refs;          /* FK_MEM_IPC: opens of the same handle */
	char name[40];     /* shm name, empty when not shared */
	struct fk_alloc *next;
};

/* the layout of the 64 bytes of a CUipcMemHandle made by this fake */
struct fk_ipc_handle {
	char magic[8];
	int32_t pid;
	uint32_t pad;
	uint64_t size;
	char name[40];
};

_Static_assert(sizeof(struct fk_ipc_handle) <= CU_IPC_HANDLE_SIZE, "IPC handle too large");

static struct fk_alloc *fk_allocs;
static unsigned long long fk_shm_seq;
static unsigned long long fk_device_bytes;

static struct fk_alloc *fk_find(const void *p, int exact)
{
	struct fk_alloc *a;

	for (a = fk_allocs; a; a = a->next) {
		if (exact ? (char *)p == a->base
			  : ((const char *)p >= a->base && (const char *)p < a->base + a->size))
			return a;
	}
	return NULL;
}

static int fk_is_device_kind(enum fk_mem_kind k)
{
	return k == FK_MEM_DEVICE || k == FK_MEM_MANAGED || k == FK_MEM_ASYNC;
}

static void fk_unlink_alloc(struct fk_alloc *a)
{
	struct fk_alloc **pp;

	for (pp = &fk_allocs; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			return;
		}
	}
}

/* Device memory (caller holds fk_mu). low32: for the v1 ABI, whose pointers are 32 bits. */
static CUresult fk_alloc_device(void **out, size_t size, enum fk_mem_kind kind, int low32)
{
	struct fk_alloc *a;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	int fd, flags = MAP_SHARED;
	void *p;

	if (size == 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (size > FK_TOTAL_MEM - fk_device_bytes)
		return CUDA_ERROR_OUT_OF_MEMORY;
	a = calloc(1, sizeof(*a));
	if (!a)
		return CUDA_ERROR_OUT_OF_MEMORY;
	snprintf(a->name, sizeof(a->name), "/fakecuda.%ld.%llu", (long)getpid(), ++fk_shm_seq);
	fd = shm_open(a->name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 && errno == EEXIST) {
		/* a killed process with this pid left it: this process never made this name yet */
		shm_unlink(a->name);
		fd = shm_open(a->name, O_RDWR | O_CREAT | O_EXCL, 0600);
	}
	if (fd < 0) {
		free(a);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	a->maplen = (size + page - 1) / page * page;
	if (ftruncate(fd, (off_t)a->maplen) != 0) {
		close(fd);
		shm_unlink(a->name);
		free(a);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
#ifdef MAP_32BIT
	if (low32)
		flags |= MAP_32BIT;
#endif
	p = mmap(NULL, a->maplen, PROT_READ | PROT_WRITE, flags, fd, 0);
	close(fd);
	if (p == MAP_FAILED || (low32 && (uintptr_t)p + a->maplen > UINT_MAX)) {
		if (p != MAP_FAILED)
			munmap(p, a->maplen);
		shm_unlink(a->name);
		free(a);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	a->base = p;
	a->size = size;
	a->kind = kind;
	a->next = fk_allocs;
	fk_allocs = a;
	fk_device_bytes += a->maplen;
	*out = p;
	return CUDA_SUCCESS;
}

static void fk_release(struct fk_alloc *a)
{
	fk_unlink_alloc(a);
	if (fk_is_device_kind(a->kind)) {
		fk_device_bytes -= a->maplen;
		shm_unlink(a->name);
	}
	if (a->kind != FK_MEM_REGISTERED)
		munmap(a->base, a->maplen);
	free(a);
}

/* FK_OP_FREE, run by a stream worker (cuMemFreeAsync) */
void fk_mem_free_now(void *p)
{
	struct fk_alloc *a;

	pthread_mutex_lock(&fk_mu);
	a = fk_find(p, 1);
	if (a)
		fk_release(a);
	pthread_mutex_unlock(&fk_mu);
}

/* Shared-memory names of this process's allocations go away with it. */
__attribute__((destructor)) static void fk_mem_cleanup(void)
{
	struct fk_alloc *a;

	for (a = fk_allocs; a; a = a->next)
		if (fk_is_device_kind(a->kind))
			shm_unlink(a->name);
}

static CUresult fk_mem_alloc(void **out, size_t size, enum fk_mem_kind kind, int low32)
{
	CUresult r;

	if (!out) {
		fk_log_error(CUDA_ERROR_INVALID_VALUE, "NULL return value pointer"); /* measured, H200 */
		return CUDA_ERROR_INVALID_VALUE;
	}
	pthread_mutex_lock(&fk_mu);
	r = fk_rule_unsafe();
	if (r == CUDA_SUCCESS)
		r = fk_alloc_device(out, size, kind, low32);
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	void *p = NULL;
	CUresult r = fk_mem_alloc(dptr ? &p : NULL, bytesize, FK_MEM_DEVICE, 0);

	if (r == CUDA_SUCCESS)
		*dptr = (CUdeviceptr)(uintptr_t)p;
	return r;
}

FK_EXPORT CUresult cuMemAlloc(CUdeviceptr_v1 *dptr, unsigned int bytesize)
{
	void *p = NULL;
	CUresult r = fk_mem_alloc(dptr ? &p : NULL, bytesize, FK_MEM_DEVICE, 1);

	if (r == CUDA_SUCCESS)
		*dptr = (CUdeviceptr_v1)(uintptr_t)p;
	return r;
}

FK_EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags)
{
	void *p = NULL;
	CUresult r;

	if (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST)
		return CUDA_ERROR_INVALID_VALUE;
	r = fk_mem_alloc(dptr ? &p : NULL, bytesize, FK_MEM_MANAGED, 0);
	if (r == CUDA_SUCCESS)
		*dptr = (CUdeviceptr)(uintptr_t)p;
	return r;
}

/* cuMemFree synchronizes like the real one before the memory goes. cuMemFree(0) succeeds
 * after the capture rule (unmeasured whether real CUDA checks the rule for 0: it is treated
 * as any free). */
static CUresult fk_mem_free(CUdeviceptr dptr)
{
	struct fk_alloc *a;
	CUresult r;

	pthread_mutex_lock(&fk_mu);
	r = fk_rule_unsafe();
	if (r != CUDA_SUCCESS || dptr == 0)
		goto out;
	fk_wait_all(); /* releases fk_mu while waiting: look the allocation up after */
	a = fk_find((void *)(uintptr_t)dptr, 1);
	if (!a || !fk_is_device_kind(a->kind))
		r = CUDA_ERROR_INVALID_VALUE;
	else
		fk_release(a);
out:
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr)
{
	return fk_mem_free(dptr);
}

FK_EXPORT CUresult cuMemFree(CUdeviceptr_v1 dptr)
{
	return fk_mem_free(dptr);
}

static CUresult fk_host_alloc(void **pp, size_t size)
{
	struct fk_alloc *a;
	CUresult r;
	void *p;

	if (!pp || size == 0)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_mu);
	r = fk_rule_unsafe();
	if (r != CUDA_SUCCESS)
		goto out;
	a = calloc(1, sizeof(*a));
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!a || p == MAP_FAILED) {
		if (p != MAP_FAILED)
			munmap(p, size);
		free(a);
		r = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	a->base = p;
	a->size = a->maplen = size;
	a->kind = FK_MEM_HOST;
	a->next = fk_allocs;
	fk_allocs = a;
	*pp = p;
out:
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuMemAllocHost_v2(void **pp, size_t bytesize)
{
	return fk_host_alloc(pp, bytesize);
}

FK_EXPORT CUresult cuMemAllocHost(void **pp, unsigned int bytesize)
{
	return fk_host_alloc(pp, bytesize);
}

FK_EXPORT CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
	const unsigned int known = CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP |
				   CU_MEMHOSTALLOC_WRITECOMBINED;

	if (Flags & ~known)
		return CUDA_ERROR_INVALID_VALUE;
	return fk_host_alloc(pp, bytesize);
}

FK_EXPORT CUresult cuMemFreeHost(void *p)
{
	struct fk_alloc *a;
	CUresult r;

	pthread_mutex_lock(&fk_mu);
	r = fk_rule_unsafe();
	if (r == CUDA_SUCCESS) {
		fk_wait_all();
		a = fk_find(p, 1);
		if (!a || a->kind != FK_MEM_HOST)
			r = CUDA_ERROR_INVALID_VALUE;
		else
			fk_release(a);
	}
	pthread_mutex_unlock(&fk_mu);
	return r;
}

static CUresult fk_host_register(void *p, size_t size, unsigned int flags)
{
	const unsigned int known = CU_MEMHOSTREGISTER_PORTABLE | CU_MEMHOSTREGISTER_DEVICEMAP |
				   CU_MEMHOSTREGISTER_IOMEMORY | CU_MEMHOSTREGISTER_READ_ONLY;
	struct fk_alloc *a;
	CUresult r;

	if (!p || size == 0 || (flags & ~known))
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_mu);
	r = fk_rule_unsafe();
	if (r != CUDA_SUCCESS)
		goto out;
	for (a = fk_allocs; a; a = a->next) {
		if ((char *)p < a->base + a->size && (char *)p + size > a->base) {
			r = CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED;
			goto out;
		}
	}
	a = calloc(1, sizeof(*a));
	if (!a) {
		r = CUDA_ERROR_OUT_OF_MEMORY;
		goto out;
	}
	a->base = p;
	a->size = a->maplen = size;
	a->kind = FK_MEM_REGISTERED;
	a->next = fk_allocs;
	fk_allocs = a;
out:
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int Flags)
{
	return fk_host_register(p, bytesize, Flags);
}

FK_EXPORT CUresult cuMemHostRegister(void *p, size_t bytesize, unsigned int Flags)
{
	return fk_host_register(p, bytesize, Flags);
}

FK_EXPORT CUresult cuMemHostUnregister(void *p)
{
	struct fk_alloc *a;
	CUresult r;

	pthread_mutex_lock(&fk_mu);
	r = fk_rule_unsafe();
	if (r == CUDA_SUCCESS) {
		a = fk_find(p, 1);
		if (!a || a->kind != FK_MEM_REGISTERED)
			r = CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED;
		else
			fk_release(a);
	}
	pthread_mutex_unlock(&fk_mu);
	return r;
}

/* Stream-ordered allocation: always allowed during capture on the capturing stream (a graph
 * memory node; the fake hands the memory out at once and the node is a no-op on replay). */
static CUresult fk_alloc_async(CUdeviceptr *dptr, size_t size, CUstream h, int ptds)
{
	struct fk_op nop = { .kind = FK_OP_NOP };
	struct CUstream_st *s;
	void *p = NULL;
	CUresult r;

	if (!dptr)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_mu);
	r = fk_stream_get(h, ptds, &s);
	if (r == CUDA_SUCCESS)
		r = fk_submit(s, &nop);
	if (r == CUDA_SUCCESS)
		r = fk_alloc_device(&p, size, FK_MEM_ASYNC, 0);
	if (r == CUDA_SUCCESS)
		*dptr = (CUdeviceptr)(uintptr_t)p;
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	return fk_alloc_async(dptr, bytesize, hStream, 0);
}

FK_EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
	return fk_alloc_async(dptr, bytesize, hStream, 1);
}

/* Freed by the stream's worker in order; inside a capture the free is a node and the memory
 * stays mapped (the graph owns it; not released by this fake). */
static CUresult fk_free_async(CUdeviceptr dptr, CUstream h, int ptds)
{
	struct fk_op op = { .kind = FK_OP_FREE, .dst = (void *)(uintptr_t)dptr };
	struct CUstream_st *s;
	struct fk_alloc *a;
	CUresult r;

	pthread_mutex_lock(&fk_mu);
	r = fk_stream_get(h, ptds, &s);
	if (r != CUDA_SUCCESS)
		goto out;
	a = fk_find(op.dst, 1);
	if (!a || !fk_is_device_kind(a->kind)) {
		r = CUDA_ERROR_INVALID_VALUE;
		goto out;
	}
	if (s->cap)
		op.kind = FK_OP_NOP;
	r = fk_submit(s, &op);
out:
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
	return fk_free_async(dptr, hStream, 0);
}

FK_EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream hStream)
{
	return fk_free_async(dptr, hStream, 1);
}

#define FK_P(x) ((void *)(uintptr_t)(x))

/* ---- information ---- */

/* The allocation a device pointer lies in (a query: allowed during capture, no rule applies). */
FK_EXPORT CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr)
{
	struct fk_alloc *a;
	CUresult r = CUDA_SUCCESS;

	pthread_mutex_lock(&fk_mu);
	a = fk_find((void *)(uintptr_t)dptr, 0);
	if (!a || !fk_is_device_kind(a->kind)) {
		r = CUDA_ERROR_NOT_FOUND;
	} else {
		if (pbase)
			*pbase = (CUdeviceptr)(uintptr_t)a->base;
		if (psize)
			*psize = a->size;
	}
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuMemGetInfo_v2(size_t *free_b, size_t *total)
{
	if (!free_b || !total)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_mu);
	*total = FK_TOTAL_MEM;
	*free_b = FK_TOTAL_MEM - fk_device_bytes;
	pthread_mutex_unlock(&fk_mu);
	return CUDA_SUCCESS;
}

FK_EXPORT CUresult cuMemGetInfo(unsigned int *free_b, unsigned int *total)
{
	size_t f, t;
	CUresult r;

	if (!free_b || !total)
		return CUDA_ERROR_INVALID_VALUE;
	r = cuMemGetInfo_v2(&f, &t);
	*free_b = f > UINT_MAX ? UINT_MAX : (unsigned int)f;
	*total = t > UINT_MAX ? UINT_MAX : (unsigned int)t;
	return r;
}

FK_EXPORT CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute,
					 CUdeviceptr ptr)
{
	struct fk_alloc *a;
	CUresult r = CUDA_SUCCESS;
	int dev;

	if (!data)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_mu);
	a = fk_find(FK_P(ptr), 0);
	if (!a) {
		r = CUDA_ERROR_INVALID_VALUE; /* not memory CUDA knows */
		goto out;
	}
	dev = a->kind != FK_MEM_HOST && a->kind != FK_MEM_REGISTERED;
	switch (attribute) {
	case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
		*(unsigned int *)data = dev ? CU_MEMORYTYPE_DEVICE : CU_MEMORYTYPE_HOST;
		break;
	case CU_POINTER_ATTRIBUTE_IS_MANAGED:
		*(unsigned int *)data = a->kind == FK_MEM_MANAGED;
		break;
	case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
	case CU_POINTER_ATTRIBUTE_HOST_POINTER:
		*(void **)data = FK_P(ptr);
		break;
	case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
		*(int *)data = 0;
		break;
	case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
		*(CUdeviceptr *)data = (CUdeviceptr)(uintptr_t)a->base;
		break;
	case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
		*(size_t *)data = a->size;
		break;
	default:
		r = CUDA_ERROR_NOT_SUPPORTED; /* not modelled */
		break;
	}
out:
	pthread_mutex_unlock(&fk_mu);
	return r;
}

/* ---- IPC: allowed during capture (measured); never subject to the capture rules ---- */

FK_EXPORT CUresult cuIpcGetMemHandle(CUipcMemHandle *pHandle, CUdeviceptr dptr)
{
	struct fk_ipc_handle h;
	struct fk_alloc *a;
	CUresult r = CUDA_SUCCESS;

	if (!pHandle)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&fk_mu);
	a = fk_find(FK_P(dptr), 1);
	if (!a || a->kind != FK_MEM_DEVICE) {
		r = CUDA_ERROR_INVALID_VALUE;
	} else {
		memset(&h, 0, sizeof(h));
		memcpy(h.magic, FK_IPC_MAGIC, sizeof(h.magic));
		h.pid = (int32_t)getpid();
		h.size = a->size;
		memcpy(h.name, a->name, sizeof(h.name));
		memset(pHandle, 0, sizeof(*pHandle));
		memcpy(pHandle->reserved, &h, sizeof(h));
	}
	pthread_mutex_unlock(&fk_mu);
	return r;
}

/* Opening a handle exported by this same process fails (CUDA_ERROR_INVALID_CONTEXT, as the
 * real driver does as far as we know; unmeasured here). A second open of the same handle returns
 * the same pointer with a reference count (cuda.h). */
static CUresult fk_ipc_open(CUdeviceptr *pdptr, CUipcMemHandle handle, unsigned int flags)
{
	struct fk_ipc_handle h;
	struct fk_alloc *a;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	CUresult r = CUDA_SUCCESS;
	void *p;
	int fd;

	if (!pdptr || (flags & ~(unsigned int)CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS))
		return CUDA_ERROR_INVALID_VALUE;
	memcpy(&h, handle.reserved, sizeof(h));
	h.name[sizeof(h.name) - 1] = '\0';
	if (memcmp(h.magic, FK_IPC_MAGIC, sizeof(h.magic)) != 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (h.pid == (int32_t)getpid())
		return CUDA_ERROR_INVALID_CONTEXT;
	pthread_mutex_lock(&fk_mu);
	for (a = fk_allocs; a; a = a->next) {
		if (a->kind == FK_MEM_IPC && strcmp(a->name, h.name) == 0) {
			a->refs++;
			*pdptr = (CUdeviceptr)(uintptr_t)a->base;
			goto out;
		}
	}
	fd = shm_open(h.name, O_RDWR, 0);
	if (fd < 0) {
		r = CUDA_ERROR_INVALID_HANDLE; /* exporter freed it or exited */
		goto out;
	}
	a = calloc(1, sizeof(*a));
	p = mmap(NULL, (h.size + page - 1) / page * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (!a || p == MAP_FAILED) {
		free(a);
		r = CUDA_ERROR_MAP_FAILED;
		goto out;
	}
	a->base = p;
	a->size = h.size;
	a->maplen = (h.size + page - 1) / page * page;
	a->kind = FK_MEM_IPC;
	a->refs = 1;
	memcpy(a->name, h.name, sizeof(a->name));
	a->next = fk_allocs;
	fk_allocs = a;
	*pdptr = (CUdeviceptr)(uintptr_t)p;
out:
	pthread_mutex_unlock(&fk_mu);
	return r;
}

FK_EXPORT CUresult cuIpcOpenMemHandle_v2(CUdeviceptr *pdptr, CUipcMemHandle handle,
					 unsigned int Flags)
{
	return fk_ipc_open(pdptr, handle, Flags);
}

FK_EXPORT CUresult cuIpcOpenMemHandle(CUdeviceptr *pdptr, CUipcMemHandle handle,
				      unsigned int Flags)
{
	return fk_ipc_open(pdptr, handle, Flags);
}

FK_EXPORT CUresult cuIpcCloseMemHandle(CUdeviceptr dptr)
{
	struct fk_alloc *a;
	CUresult r = CUDA_SUCCESS;

	pthread_mutex_lock(&fk_mu);
	a = fk_find(FK_P(dptr), 1);
	if (!a || a->kind != FK_MEM_IPC)
		r = CUDA_ERROR_INVALID_VALUE;
	else if (--a->refs == 0)
		fk_release(a);
	pthread_mutex_unlock(&fk_mu);
	return r;
}
