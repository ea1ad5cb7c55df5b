"""The seed in Python with its real workspace (issue 14, part 4; CASES.md): an allreduce wrapper
built per call, in warm-up and inside the capture, the previous one destroyed first. Its
construction, as TensorRT-LLM's McastDeviceMemory does it on x86-64: mpi4py Split, cuMemCreate with
a POSIX-fd handle, cuMemAddressReserve for every rank, the fd exported and allgathered with the pid,
each peer's fd taken with pidfd_getfd and imported, every rank's memory mapped, cuMemSetAccess, a
"to be safe" cudaDeviceSynchronize and a Barrier.

  mpirun -np 2 python3 py_vmm_seed.py API MODE
  API   ctypes    the driver through ctypes (libcuda.so.1's symbols)
        bindings  the driver through cuda-bindings (dlopen + cuGetProcAddress), where installed
  MODE  symmetric   every rank rebuilds alike inside the capture
        asymmetric  inside the capture the last rank asks for twice the size (a workspace that grows)

Runs on the test doubles or on real CUDA: rank R uses device R % devices (two ranks may share one GPU). Prints per rank
"rank R construct K rc OK" or "rank R construct K rc FAIL CALL CODE", "rank R endcapture rc N",
"rank R done". Never exits on an error."""
import ctypes
import os
import sys

from mpi4py import MPI

POSIX_FD, PINNED, LOC_DEVICE, RW, GRAN_RECOMMENDED = 1, 1, 1, 3, 1
SYS_PIDFD_GETFD = 438

comm = MPI.COMM_WORLD
rank, world = comm.Get_rank(), comm.Get_size()
comm.Set_errhandler(MPI.ERRORS_RETURN)
api = sys.argv[1] if len(sys.argv) > 1 else "ctypes"
mode = sys.argv[2] if len(sys.argv) > 2 else "symmetric"
libc = ctypes.CDLL(None, use_errno=True)
rt = ctypes.CDLL("libcudart.so.13")
_n = ctypes.c_int()
DEV = rank % _n.value if rt.cudaGetDeviceCount(ctypes.byref(_n)) == 0 and _n.value > 0 else 0  # one GPU per rank


def say(line):
    """One line, one write (mpirun's output of two ranks never mixes within it)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Fail(Exception):
    def __init__(self, call, code):
        super().__init__(call)
        self.call, self.code = call, int(code)


def pidfd_getfd(pid, fd):
    pidfd = os.pidfd_open(pid)
    try:
        got = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
        if got < 0:
            raise Fail("pidfd_getfd", ctypes.get_errno())
        return got
    finally:
        os.close(pidfd)


class Loc(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("id", ctypes.c_int)]


class Prop(ctypes.Structure):  # CUmemAllocationProp
    _fields_ = [("type", ctypes.c_int), ("handle_types", ctypes.c_int), ("location", Loc),
                ("win32", ctypes.c_void_p), ("flags", ctypes.c_ubyte * 8)]


class Access(ctypes.Structure):  # CUmemAccessDesc
    _fields_ = [("location", Loc), ("flags", ctypes.c_int)]


class CtypesDriver:
    """The VMM calls through libcuda.so.1's own symbols."""

    def __init__(self):
        self.cu = ctypes.CDLL("libcuda.so.1")
        self.prop = Prop(type=PINNED, handle_types=POSIX_FD, location=Loc(LOC_DEVICE, DEV))

    def call(self, name, *args):
        rc = getattr(self.cu, name)(*args)
        if rc:
            raise Fail(name, rc)

    def granularity(self):
        g = ctypes.c_size_t()
        self.call("cuMemGetAllocationGranularity", ctypes.byref(g), ctypes.byref(self.prop), GRAN_RECOMMENDED)
        return g.value

    def create(self, size):
        h = ctypes.c_ulonglong()
        self.call("cuMemCreate", ctypes.byref(h), ctypes.c_size_t(size), ctypes.byref(self.prop), ctypes.c_ulonglong(0))
        return h.value

    def reserve(self, size):
        p = ctypes.c_ulonglong()
        self.call("cuMemAddressReserve", ctypes.byref(p), ctypes.c_size_t(size), ctypes.c_size_t(0),
                  ctypes.c_ulonglong(0), ctypes.c_ulonglong(0))
        return p.value

    def export(self, h):
        fd = ctypes.c_int()
        self.call("cuMemExportToShareableHandle", ctypes.byref(fd), ctypes.c_ulonglong(h), POSIX_FD, ctypes.c_ulonglong(0))
        return fd.value

    def import_fd(self, fd):
        h = ctypes.c_ulonglong()
        self.call("cuMemImportFromShareableHandle", ctypes.byref(h), ctypes.c_void_p(fd), POSIX_FD)
        return h.value

    def map(self, va, size, h):
        self.call("cuMemMap", ctypes.c_ulonglong(va), ctypes.c_size_t(size), ctypes.c_size_t(0), ctypes.c_ulonglong(h),
                  ctypes.c_ulonglong(0))

    def access(self, va, size):
        d = Access(location=Loc(LOC_DEVICE, DEV), flags=RW)
        self.call("cuMemSetAccess", ctypes.c_ulonglong(va), ctypes.c_size_t(size), ctypes.byref(d), ctypes.c_size_t(1))

    def unmap(self, va, size):
        self.call("cuMemUnmap", ctypes.c_ulonglong(va), ctypes.c_size_t(size))

    def free_va(self, va, size):
        self.call("cuMemAddressFree", ctypes.c_ulonglong(va), ctypes.c_size_t(size))

    def release(self, h):
        self.call("cuMemRelease", ctypes.c_ulonglong(h))


class BindingsDriver:
    """The same calls through cuda-bindings, which reaches libcuda by dlopen + cuGetProcAddress."""

    def __init__(self):
        from cuda.bindings import driver as cu
        self.cu = cu
        cu.cuInit(0)
        p = cu.CUmemAllocationProp()
        p.type = cu.CUmemAllocationType.CU_MEM_ALLOCATION_TYPE_PINNED
        p.requestedHandleTypes = cu.CUmemAllocationHandleType.CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR
        p.location.type = cu.CUmemLocationType.CU_MEM_LOCATION_TYPE_DEVICE
        p.location.id = DEV
        self.prop = p

    def call(self, name, *args):
        out = getattr(self.cu, name)(*args)
        err = out[0] if isinstance(out, tuple) else out
        if int(err):
            raise Fail(name, int(err))
        return out[1] if isinstance(out, tuple) and len(out) > 1 else None

    def granularity(self):
        opt = self.cu.CUmemAllocationGranularity_flags.CU_MEM_ALLOC_GRANULARITY_RECOMMENDED
        return int(self.call("cuMemGetAllocationGranularity", self.prop, opt))

    def create(self, size):
        return int(self.call("cuMemCreate", size, self.prop, 0))

    def reserve(self, size):
        return int(self.call("cuMemAddressReserve", size, 0, 0, 0))

    def export(self, h):
        t = self.cu.CUmemAllocationHandleType.CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR
        return int(self.call("cuMemExportToShareableHandle", h, t, 0))

    def import_fd(self, fd):
        t = self.cu.CUmemAllocationHandleType.CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR
        return int(self.call("cuMemImportFromShareableHandle", fd, t))

    def map(self, va, size, h):
        self.call("cuMemMap", va, size, 0, h, 0)

    def access(self, va, size):
        d = self.cu.CUmemAccessDesc()
        d.location.type = self.cu.CUmemLocationType.CU_MEM_LOCATION_TYPE_DEVICE
        d.location.id = DEV
        d.flags = self.cu.CUmemAccess_flags.CU_MEM_ACCESS_FLAGS_PROT_READWRITE
        self.call("cuMemSetAccess", va, size, [d], 1)

    def unmap(self, va, size):
        self.call("cuMemUnmap", va, size)

    def free_va(self, va, size):
        self.call("cuMemAddressFree", va, size)

    def release(self, h):
        self.call("cuMemRelease", h)


class Wrapper:
    def __init__(self, drv, mult):
        self.drv, self.sub, self.own, self.va, self.size = drv, None, None, None, 0
        self.peer, self.mapped = {}, []
        self.sub = comm.Split(0, rank)
        self.size = drv.granularity() * mult
        self.own = drv.create(self.size)
        self.va = drv.reserve(self.size * world)
        fd = drv.export(self.own)
        everyone = self.sub.allgather((os.getpid(), fd))
        self.sub.Barrier()
        for r, (pid, rfd) in enumerate(everyone):
            if r != rank:
                local = pidfd_getfd(pid, rfd)
                try:
                    self.peer[r] = drv.import_fd(local)
                finally:
                    os.close(local)
            drv.map(self.va + r * self.size, self.size, self.own if r == rank else self.peer[r])
            self.mapped.append(r)
        self.sub.Barrier()  # every peer took its fd
        os.close(fd)
        drv.access(self.va, self.size * world)
        rc = rt.cudaDeviceSynchronize()  # "to be safe"
        if rc:
            raise Fail("cudaDeviceSynchronize", rc)
        self.sub.Barrier()

    def destroy(self):
        for r in self.mapped:
            self.drv.unmap(self.va + r * self.size, self.size)
        for h in self.peer.values():
            self.drv.release(h)
        if self.va:
            self.drv.free_va(self.va, self.size * world)
        if self.own:
            self.drv.release(self.own)
        if self.sub is not None:
            self.sub.Free()


def build(drv, when, mult):
    try:
        w = Wrapper(drv, mult)
        say("rank %d construct %s rc OK" % (rank, when))
        return w
    except Fail as e:
        say("rank %d construct %s rc FAIL %s %d" % (rank, when, e.call, e.code))
    except MPI.Exception as e:
        say("rank %d construct %s rc FAIL MPI %d" % (rank, when, e.Get_error_code()))
    return None


def main():
    assert rt.cudaSetDevice(DEV) == 0 and rt.cudaFree(None) == 0
    drv = BindingsDriver() if api == "bindings" else CtypesDriver()
    stream = ctypes.c_void_p()
    assert rt.cudaStreamCreateWithFlags(ctypes.byref(stream), 1) == 0
    w = None
    for i in range(1, 4):
        if w:
            w.destroy()
        w = build(drv, "warmup%d" % i, 2)
    assert rt.cudaStreamBeginCapture(stream, 0) == 0
    if w:
        w.destroy()
    w = build(drv, "capture", 4 if mode == "asymmetric" and rank == world - 1 else 2)
    graph = ctypes.c_void_p()
    say("rank %d endcapture rc %d" % (rank, rt.cudaStreamEndCapture(stream, ctypes.byref(graph))))
    comm.Barrier()
    if w:
        try:
            w.destroy()
        except Fail as e:
            say("rank %d destroy rc FAIL %s %d" % (rank, e.call, e.code))
    comm.Barrier()
    say("rank %d done" % rank)


if __name__ == "__main__":
    main()
