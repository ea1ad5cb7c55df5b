/* driver_copy.c - fake libcuda: copies and memsets. Device memory is host memory here, so a copy
 * is a memmove and a memset a memset, run in stream order by the stream's worker; synchronous
 * variants run on the legacy (or, _ptds, per-thread) stream and return when done. Capture and
 * legacy-stream rules are applied by fk_submit / fk_sync_legacy_op, never here. */
#include "driver.h"

static CUresult fk_copy_sync(void *dst, const void *src, size_t n, int ptds)
{
	struct fk_op op = { .kind = FK_OP_MEMCPY, .dst = dst, .src = src, .n = n };

	return fk_sync_legacy_op(&op, ptds);
}

static CUresult fk_copy_async(void *dst, const void *src, size_t n, CUstream h, int ptds)
{
	struct fk_op op = { .kind = FK_OP_MEMCPY, .dst = dst, .src = src, .n = n };

	return fk_submit_on(h, ptds, &op);
}

#define FK_P(x) ((void *)(uintptr_t)(x))

FK_EXPORT CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
{
	return fk_copy_sync(FK_P(dst), FK_P(src), ByteCount, 0);
}

FK_EXPORT CUresult cuMemcpy_ptds(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount)
{
	return fk_copy_sync(FK_P(dst), FK_P(src), ByteCount, 1);
}

FK_EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dstDevice, const void *srcHost, size_t ByteCount)
{
	return fk_copy_sync(FK_P(dstDevice), srcHost, ByteCount, 0);
}

FK_EXPORT CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr dstDevice, const void *srcHost,
					size_t ByteCount)
{
	return fk_copy_sync(FK_P(dstDevice), srcHost, ByteCount, 1);
}

FK_EXPORT CUresult cuMemcpyHtoD(CUdeviceptr_v1 dstDevice, const void *srcHost,
				unsigned int ByteCount)
{
	return fk_copy_sync(FK_P(dstDevice), srcHost, ByteCount, 0);
}

FK_EXPORT CUresult cuMemcpyDtoH_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
	return fk_copy_sync(dstHost, FK_P(srcDevice), ByteCount, 0);
}

FK_EXPORT CUresult cuMemcpyDtoH_v2_ptds(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount)
{
	return fk_copy_sync(dstHost, FK_P(srcDevice), ByteCount, 1);
}

FK_EXPORT CUresult cuMemcpyDtoH(void *dstHost, CUdeviceptr_v1 srcDevice, unsigned int ByteCount)
{
	return fk_copy_sync(dstHost, FK_P(srcDevice), ByteCount, 0);
}

FK_EXPORT CUresult cuMemcpyDtoD_v2(CUdeviceptr dstDevice, CUdeviceptr srcDevice, size_t ByteCount)
{
	return fk_copy_sync(FK_P(dstDevice), FK_P(srcDevice), ByteCount, 0);
}

FK_EXPORT CUresult cuMemcpyDtoD_v2_ptds(CUdeviceptr dstDevice, CUdeviceptr srcDevice,
					size_t ByteCount)
{
	return fk_copy_sync(FK_P(dstDevice), FK_P(srcDevice), ByteCount, 1);
}

FK_EXPORT CUresult cuMemcpyDtoD(CUdeviceptr_v1 dstDevice, CUdeviceptr_v1 srcDevice,
				unsigned int ByteCount)
{
	return fk_copy_sync(FK_P(dstDevice), FK_P(srcDevice), ByteCount, 0);
}

FK_EXPORT CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount,
				 CUstream hStream)
{
	return fk_copy_async(FK_P(dst), FK_P(src), ByteCount, hStream, 0);
}

FK_EXPORT CUresult cuMemcpyAsync_ptsz(CUdeviceptr dst, CUdeviceptr src, size_t ByteCount,
				      CUstream hStream)
{
	return fk_copy_async(FK_P(dst), FK_P(src), ByteCount, hStream, 1);
}

FK_EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dstDevice, const void *srcHost,
					size_t ByteCount, CUstream hStream)
{
	return fk_copy_async(FK_P(dstDevice), srcHost, ByteCount, hStream, 0);
}

FK_EXPORT CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dstDevice, const void *srcHost,
					     size_t ByteCount, CUstream hStream)
{
	return fk_copy_async(FK_P(dstDevice), srcHost, ByteCount, hStream, 1);
}

FK_EXPORT CUresult cuMemcpyHtoDAsync(CUdeviceptr_v1 dstDevice, const void *srcHost,
				     unsigned int ByteCount, CUstream hStream)
{
	return fk_copy_async(FK_P(dstDevice), srcHost, ByteCount, hStream, 0);
}

FK_EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dstHost, CUdeviceptr srcDevice, size_t ByteCount,
					CUstream hStream)
{
	return fk_copy_async(dstHost, FK_P(srcDevice), ByteCount, hStream, 0);
}

FK_EXPORT CUresult cuMemcpyDtoHAsync_v2_ptsz(void *dstHost, CUdeviceptr srcDevice,
					     size_t ByteCount, CUstream hStream)
{
	return fk_copy_async(dstHost, FK_P(srcDevice), ByteCount, hStream, 1);
}

FK_EXPORT CUresult cuMemcpyDtoHAsync(void *dstHost, CUdeviceptr_v1 srcDevice,
				     unsigned int ByteCount, CUstream hStream)
{
	return fk_copy_async(dstHost, FK_P(srcDevice), ByteCount, hStream, 0);
}

static CUresult fk_memset_sync(CUdeviceptr d, unsigned char v, size_t n, int ptds)
{
	struct fk_op op = { .kind = FK_OP_MEMSET, .dst = FK_P(d), .val = v, .n = n };

	return fk_sync_legacy_op(&op, ptds);
}

FK_EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dstDevice, unsigned char uc, size_t N)
{
	return fk_memset_sync(dstDevice, uc, N, 0);
}

FK_EXPORT CUresult cuMemsetD8_v2_ptds(CUdeviceptr dstDevice, unsigned char uc, size_t N)
{
	return fk_memset_sync(dstDevice, uc, N, 1);
}

FK_EXPORT CUresult cuMemsetD8(CUdeviceptr_v1 dstDevice, unsigned char uc, unsigned int N)
{
	return fk_memset_sync(dstDevice, uc, N, 0);
}

static CUresult fk_memset_async(CUdeviceptr d, unsigned char v, size_t n, CUstream h, int ptds)
{
	struct fk_op op = { .kind = FK_OP_MEMSET, .dst = FK_P(d), .val = v, .n = n };

	return fk_submit_on(h, ptds, &op);
}

FK_EXPORT CUresult cuMemsetD8Async(CUdeviceptr dstDevice, unsigned char uc, size_t N,
				   CUstream hStream)
{
	return fk_memset_async(dstDevice, uc, N, hStream, 0);
}

FK_EXPORT CUresult cuMemsetD8Async_ptsz(CUdeviceptr dstDevice, unsigned char uc, size_t N,
					CUstream hStream)
{
	return fk_memset_async(dstDevice, uc, N, hStream, 1);
}
