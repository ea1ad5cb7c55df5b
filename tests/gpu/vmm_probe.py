"""Facts about real CUDA's POSIX-fd exports that the VMM memo leans on (issue 14, part 4): is every
export of one allocation the same file (fstat's st_dev/st_ino), is a pidfd_getfd copy of it, and
can a process import its own export. Prints "fact NAME VALUE" lines. cuda-bindings."""
import ctypes
import os

from cuda.bindings import driver as cu


def ok(out):
    err = out[0] if isinstance(out, tuple) else out
    assert int(err) == 0, out
    return out[1] if isinstance(out, tuple) and len(out) > 1 else None


ok(cu.cuInit(0))
dev = ok(cu.cuDeviceGet(0))
ctx = ok(cu.cuDevicePrimaryCtxRetain(dev))
ok(cu.cuCtxSetCurrent(ctx))
p = cu.CUmemAllocationProp()
p.type = cu.CUmemAllocationType.CU_MEM_ALLOCATION_TYPE_PINNED
p.requestedHandleTypes = cu.CUmemAllocationHandleType.CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR
p.location.type = cu.CUmemLocationType.CU_MEM_LOCATION_TYPE_DEVICE
p.location.id = 0
g = int(ok(cu.cuMemGetAllocationGranularity(p, cu.CUmemAllocationGranularity_flags.CU_MEM_ALLOC_GRANULARITY_RECOMMENDED)))
print("fact granularity", g)
h = ok(cu.cuMemCreate(2 * g, p, 0))
t = cu.CUmemAllocationHandleType.CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR
fd1, fd2 = int(ok(cu.cuMemExportToShareableHandle(h, t, 0))), int(ok(cu.cuMemExportToShareableHandle(h, t, 0)))
s1, s2 = os.fstat(fd1), os.fstat(fd2)
print("fact two_exports_same_file", int((s1.st_dev, s1.st_ino) == (s2.st_dev, s2.st_ino)))
print("fact export_link", os.readlink("/proc/self/fd/%d" % fd1))
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(os.getpid())
fd3 = libc.syscall(438, pidfd, fd1, 0)
s3 = os.fstat(fd3)
print("fact pidfd_getfd_same_file", int((s1.st_dev, s1.st_ino) == (s3.st_dev, s3.st_ino)))
h2 = ok(cu.cuMemImportFromShareableHandle(fd3, t))
print("fact self_import_ok 1")
h2b = ok(cu.cuMemImportFromShareableHandle(fd3, t))
print("fact two_imports_same_handle", int(int(h2) == int(h2b)))
for f in (fd1, fd2, fd3, pidfd):
    os.close(f)
ok(cu.cuMemRelease(h2))
ok(cu.cuMemRelease(h2b))
ok(cu.cuMemRelease(h))
print("fact done 1")
