/* driver_vmm.c - fake libcuda: virtual memory management (cuMemCreate, cuMemMap, ...) and
 * multicast objects, as TensorRT-LLM's MNNVL workspace and PyTorch's symmetric memory use them.
 * All of it is legal during a capture (measured on an H200: DEVICE-FACTS, "VMM calls inside a
 * Global capture are legal"): no capture rule applies here.
 * An allocation is a POSIX shared-memory object (/dev/shm/fakecuda.vmm.PID.N, unlinked when its
 * last reference goes), so that what one process maps another sees:
 *   - a POSIX-fd export is a new descriptor of that object each time (a dup, as a real export is
 *     a new file descriptor); importing it (after pidfd_getfd in the peer) maps the same memory;
 *   - a FABRIC export is the object's name, 64 bytes, the same for every export of one
 *     allocation and different for every allocation; importing it opens the object by name.
 * A reserved range is an inaccessible host mapping; cuMemMap maps the object over it (so device
 * pointers are host pointers, as everywhere in the fakes); cuMemUnmap makes it inaccessible again.
 * A multicast object is an allocation of its own (its size), bound to nothing the fake checks. */
#define _GNU_SOURCE
#include "driver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define FK_VMM_MAGIC 0x564d4d41u
#define FK_VMM_GRANULARITY (2u << 20) /* the H200's minimum and recommended granularity */

struct fk_vmm {
	uint32_t magic;
	size_t size;
	unsigned types;  /* CUmemAllocationHandleType bits that may be exported */
	char name[64];   /* the shared-memory object's name: the FABRIC handle's bytes */
	int fd;
	int refs;        /* the handle (until cuMemRelease) + one per mapping */
	int owner;       /* this process created the object (it unlinks it) */
	int multicast;
};

struct fk_map {
	uintptr_t va;
	size_t size;
	struct fk_vmm *m; /* NULL: reserved, not mapped */
	int reserved;     /* the start of a reservation of `size` bytes */
	struct fk_map *next;
};

static pthread_mutex_t fk_vmm_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fk_map *fk_maps;
static unsigned fk_vmm_seq;

static struct fk_vmm *fk_vmm_of(CUmemGenericAllocationHandle h)
{
	struct fk_vmm *m = (struct fk_vmm *)(uintptr_t)h;

	return m && m->magic == FK_VMM_MAGIC ? m : NULL;
}

static void fk_vmm_unref(struct fk_vmm *m)
{
	if (--m->refs > 0)
		return;
	close(m->fd);
	if (m->owner)
		shm_unlink(m->name);
	m->magic = 0;
	free(m);
}

/* A new object of size bytes (a multiple of the granularity). */
static CUresult fk_vmm_new(size_t size, unsigned types, int multicast, CUmemGenericAllocationHandle *out)
{
	struct fk_vmm *m;

	if (!out || !size || size % FK_VMM_GRANULARITY)
		return CUDA_ERROR_INVALID_VALUE;
	m = calloc(1, sizeof(*m));
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_lock(&fk_vmm_mu);
	snprintf(m->name, sizeof(m->name), "/fakecuda.vmm.%d.%u", (int)getpid(), ++fk_vmm_seq);
	pthread_mutex_unlock(&fk_vmm_mu);
	m->fd = shm_open(m->name, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (m->fd < 0 && errno == EEXIST) { /* left by a dead process that had this pid: never ours */
		shm_unlink(m->name);
		m->fd = shm_open(m->name, O_RDWR | O_CREAT | O_EXCL, 0600);
	}
	if (m->fd < 0 || ftruncate(m->fd, (off_t)size) != 0) {
		if (m->fd >= 0) {
			close(m->fd);
			shm_unlink(m->name);
		}
		free(m);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	m->magic = FK_VMM_MAGIC;
	m->size = size;
	m->types = types;
	m->refs = 1;
	m->owner = 1;
	m->multicast = multicast;
	*out = (CUmemGenericAllocationHandle)(uintptr_t)m;
	return CUDA_SUCCESS;
}

/* Both granularities, minimum and recommended, of allocations and of multicast objects. */
static CUresult fk_vmm_granularity(size_t *g, const void *prop)
{
	if (!g || !prop)
		return CUDA_ERROR_INVALID_VALUE;
	*g = FK_VMM_GRANULARITY;
	return CUDA_SUCCESS;
}

FK_EXPORT CUresult cuMemGetAllocationGranularity(size_t *g, const CUmemAllocationProp *prop,
						  CUmemAllocationGranularity_flags option)
{
	(void)option;
	return fk_vmm_granularity(g, prop);
}

FK_EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *h, size_t size, const CUmemAllocationProp *prop,
			       unsigned long long flags)
{
	if (!prop || flags || prop->type != CU_MEM_ALLOCATION_TYPE_PINNED ||
	    prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE || prop->location.id < 0 ||
	    prop->location.id >= fk_device_count())
		return CUDA_ERROR_INVALID_VALUE;
	return fk_vmm_new(size, (unsigned)prop->requestedHandleTypes, 0, h);
}

FK_EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle h)
{
	struct fk_vmm *m;
	CUresult r = CUDA_ERROR_INVALID_VALUE;

	pthread_mutex_lock(&fk_vmm_mu);
	if ((m = fk_vmm_of(h)) != NULL) {
		fk_vmm_unref(m);
		r = CUDA_SUCCESS;
	}
	pthread_mutex_unlock(&fk_vmm_mu);
	return r;
}

FK_EXPORT CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
				       unsigned long long flags)
{
	struct fk_map *r;
	void *p;

	(void)alignment;
	(void)addr;
	if (!ptr || !size || size % FK_VMM_GRANULARITY || flags)
		return CUDA_ERROR_INVALID_VALUE;
	p = mmap(NULL, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	r = calloc(1, sizeof(*r));
	if (p == MAP_FAILED || !r) {
		if (p != MAP_FAILED)
			munmap(p, size);
		free(r);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	r->va = (uintptr_t)p;
	r->size = size;
	r->reserved = 1;
	pthread_mutex_lock(&fk_vmm_mu);
	r->next = fk_maps;
	fk_maps = r;
	pthread_mutex_unlock(&fk_vmm_mu);
	*ptr = (CUdeviceptr)r->va;
	return CUDA_SUCCESS;
}

/* The reservation containing [va, va + size) (lock held). */
static struct fk_map *fk_reservation(uintptr_t va, size_t size)
{
	for (struct fk_map *r = fk_maps; r; r = r->next)
		if (r->reserved && va >= r->va && va + size <= r->va + r->size)
			return r;
	return NULL;
}

/* A mapping exactly at [va, va + size) (lock held), and the link that points at it. */
static struct fk_map **fk_mapping(uintptr_t va, size_t size)
{
	for (struct fk_map **p = &fk_maps; *p; p = &(*p)->next)
		if (!(*p)->reserved && (*p)->va == va && (*p)->size == size)
			return p;
	return NULL;
}

/* Does any mapping lie in [va, va + size) (lock held)? */
static int fk_mapped_in(uintptr_t va, size_t size)
{
	for (struct fk_map *r = fk_maps; r; r = r->next)
		if (!r->reserved && r->va < va + size && va < r->va + r->size)
			return 1;
	return 0;
}

FK_EXPORT CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
	CUresult r = CUDA_ERROR_INVALID_VALUE;

	pthread_mutex_lock(&fk_vmm_mu);
	for (struct fk_map **p = &fk_maps; *p; p = &(*p)->next) {
		struct fk_map *res = *p;

		if (res->reserved && res->va == (uintptr_t)ptr && res->size == size) {
			if (fk_mapped_in(res->va, res->size))
				break; /* still mapped: CUDA refuses too */
			*p = res->next;
			munmap((void *)res->va, res->size);
			free(res);
			r = CUDA_SUCCESS;
			break;
		}
	}
	pthread_mutex_unlock(&fk_vmm_mu);
	return r;
}

FK_EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle h,
			    unsigned long long flags)
{
	struct fk_vmm *m;
	struct fk_map *map;
	CUresult r = CUDA_ERROR_INVALID_VALUE;

	pthread_mutex_lock(&fk_vmm_mu);
	m = fk_vmm_of(h);
	if (m && !flags && size && offset + size <= m->size && fk_reservation((uintptr_t)ptr, size) &&
	    !fk_mapped_in((uintptr_t)ptr, size) && (map = calloc(1, sizeof(*map))) != NULL) {
		if (mmap((void *)(uintptr_t)ptr, size, PROT_NONE, MAP_SHARED | MAP_FIXED, m->fd, (off_t)offset) ==
		    MAP_FAILED) {
			free(map);
			r = CUDA_ERROR_OUT_OF_MEMORY;
		} else {
			map->va = (uintptr_t)ptr;
			map->size = size;
			map->m = m;
			m->refs++;
			map->next = fk_maps;
			fk_maps = map;
			r = CUDA_SUCCESS;
		}
	}
	pthread_mutex_unlock(&fk_vmm_mu);
	return r;
}

FK_EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	struct fk_map **p, *map;
	CUresult r = CUDA_ERROR_INVALID_VALUE;

	pthread_mutex_lock(&fk_vmm_mu);
	if ((p = fk_mapping((uintptr_t)ptr, size)) != NULL) {
		map = *p;
		*p = map->next;
		mmap((void *)map->va, map->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
		fk_vmm_unref(map->m);
		free(map);
		r = CUDA_SUCCESS;
	}
	pthread_mutex_unlock(&fk_vmm_mu);
	return r;
}

FK_EXPORT CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count)
{
	CUresult r = CUDA_ERROR_INVALID_VALUE;

	if (!desc || !count)
		return r;
	pthread_mutex_lock(&fk_vmm_mu);
	for (struct fk_map *m = fk_maps; m; m = m->next)
		if (!m->reserved && m->va >= (uintptr_t)ptr && m->va + m->size <= (uintptr_t)ptr + size) {
			int prot = desc[0].flags == CU_MEM_ACCESS_FLAGS_PROT_READWRITE ? PROT_READ | PROT_WRITE
				 : desc[0].flags == CU_MEM_ACCESS_FLAGS_PROT_READ    ? PROT_READ
										     : PROT_NONE;
			r = mprotect((void *)m->va, m->size, prot) == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
		}
	pthread_mutex_unlock(&fk_vmm_mu);
	return r;
}

FK_EXPORT CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *h, void *addr)
{
	CUresult r = CUDA_ERROR_INVALID_VALUE;

	if (!h)
		return r;
	pthread_mutex_lock(&fk_vmm_mu);
	for (struct fk_map *m = fk_maps; m; m = m->next)
		if (!m->reserved && (uintptr_t)addr >= m->va && (uintptr_t)addr < m->va + m->size) {
			m->m->refs++;
			*h = (CUmemGenericAllocationHandle)(uintptr_t)m->m;
			r = CUDA_SUCCESS;
			break;
		}
	pthread_mutex_unlock(&fk_vmm_mu);
	return r;
}

FK_EXPORT CUresult cuMemExportToShareableHandle(void *sh, CUmemGenericAllocationHandle h, CUmemAllocationHandleType type,
						unsigned long long flags)
{
	struct fk_vmm *m;
	CUresult r = CUDA_ERROR_INVALID_VALUE;

	if (!sh || flags)
		return r;
	pthread_mutex_lock(&fk_vmm_mu);
	m = fk_vmm_of(h);
	if (m && (m->types & (unsigned)type)) {
		if (type == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) {
			int fd = dup(m->fd);
			if (fd >= 0) {
				*(int *)sh = fd;
				r = CUDA_SUCCESS;
			}
		} else if (type == CU_MEM_HANDLE_TYPE_FABRIC) {
			memset(sh, 0, sizeof(CUmemFabricHandle));
			memcpy(sh, m->name, strlen(m->name));
			r = CUDA_SUCCESS;
		}
	}
	pthread_mutex_unlock(&fk_vmm_mu);
	return r;
}

FK_EXPORT CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle *h, void *osh,
						  CUmemAllocationHandleType type)
{
	struct fk_vmm *m;
	struct stat st;
	int fd = -1;

	if (!h || !osh)
		return CUDA_ERROR_INVALID_VALUE;
	m = calloc(1, sizeof(*m));
	if (!m)
		return CUDA_ERROR_OUT_OF_MEMORY;
	if (type == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) {
		fd = dup((int)(intptr_t)osh);
		snprintf(m->name, sizeof(m->name), "(fd)");
	} else if (type == CU_MEM_HANDLE_TYPE_FABRIC) {
		memcpy(m->name, osh, sizeof(m->name) - 1);
		if (strncmp(m->name, "/fakecuda.vmm.", 14) == 0)
			fd = shm_open(m->name, O_RDWR, 0);
	}
	if (fd < 0 || fstat(fd, &st) != 0 || st.st_size <= 0) {
		if (fd >= 0)
			close(fd);
		free(m);
		return CUDA_ERROR_INVALID_VALUE;
	}
	m->magic = FK_VMM_MAGIC;
	m->fd = fd;
	m->size = (size_t)st.st_size;
	m->types = (unsigned)type;
	m->refs = 1;
	*h = (CUmemGenericAllocationHandle)(uintptr_t)m;
	return CUDA_SUCCESS;
}

FK_EXPORT CUresult cuMulticastGetGranularity(size_t *g, const CUmulticastObjectProp *prop,
					     CUmulticastGranularity_flags option)
{
	(void)option;
	return fk_vmm_granularity(g, prop);
}

FK_EXPORT CUresult cuMulticastCreate(CUmemGenericAllocationHandle *h, const CUmulticastObjectProp *prop)
{
	if (!prop || prop->numDevices < 1 || prop->flags)
		return CUDA_ERROR_INVALID_VALUE;
	return fk_vmm_new(prop->size, (unsigned)prop->handleTypes, 1, h);
}

/* Multicast membership and bindings: checked for handles and ranges only. */
FK_EXPORT CUresult cuMulticastAddDevice(CUmemGenericAllocationHandle mc, CUdevice dev)
{
	struct fk_vmm *m = fk_vmm_of(mc);

	return m && m->multicast && dev == 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

FK_EXPORT CUresult cuMulticastBindMem(CUmemGenericAllocationHandle mc, size_t mc_off, CUmemGenericAllocationHandle mem,
				      size_t mem_off, size_t size, unsigned long long flags)
{
	struct fk_vmm *m = fk_vmm_of(mc), *b = fk_vmm_of(mem);

	return m && m->multicast && b && !flags && mc_off + size <= m->size && mem_off + size <= b->size
		       ? CUDA_SUCCESS
		       : CUDA_ERROR_INVALID_VALUE;
}

FK_EXPORT CUresult cuMulticastBindAddr(CUmemGenericAllocationHandle mc, size_t mc_off, CUdeviceptr ptr, size_t size,
				       unsigned long long flags)
{
	struct fk_vmm *m = fk_vmm_of(mc);

	(void)ptr;
	return m && m->multicast && !flags && mc_off + size <= m->size ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

FK_EXPORT CUresult cuMulticastUnbind(CUmemGenericAllocationHandle mc, CUdevice dev, size_t mc_off, size_t size)
{
	struct fk_vmm *m = fk_vmm_of(mc);

	return m && m->multicast && dev == 0 && mc_off + size <= m->size ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}
