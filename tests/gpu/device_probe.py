"""What the devices check (shim/features/devices.c) asks the driver, asked on a real GPU:
cuDeviceGetCount, cuStreamGetDevice of a user stream and of the legacy stream (0), cuCtxGetDevice.
Prints "fact NAME VALUE" lines. ctypes on libcuda.so.1 only."""
import ctypes

cu = ctypes.CDLL("libcuda.so.1")


def ok(rc, what):
    if rc != 0:
        print("fact", what, "rc", rc)
    return rc == 0


assert ok(cu.cuInit(0), "cuInit")
n = ctypes.c_int()
ok(cu.cuDeviceGetCount(ctypes.byref(n)), "cuDeviceGetCount")
print("fact devices", n.value)
dev = ctypes.c_int()
ctx = ctypes.c_void_p()
assert ok(cu.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
assert ok(cu.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
assert ok(cu.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
d = ctypes.c_int(-1)
print("fact cuCtxGetDevice", cu.cuCtxGetDevice(ctypes.byref(d)), d.value)
s = ctypes.c_void_p()
assert ok(cu.cuStreamCreate(ctypes.byref(s), 1), "cuStreamCreate")
print("fact cuStreamGetDevice_user", cu.cuStreamGetDevice(s, ctypes.byref(d)), d.value)
d.value = -1
print("fact cuStreamGetDevice_legacy", cu.cuStreamGetDevice(None, ctypes.byref(d)), d.value)
d.value = -1
print("fact cuStreamGetDevice_per_thread", cu.cuStreamGetDevice(ctypes.c_void_p(2), ctypes.byref(d)), d.value)
# during a capture of that stream (capguard asks before the begin; this says whether it would matter)
assert ok(cu.cuStreamBeginCapture_v2(s, 2), "cuStreamBeginCapture_v2")
d.value = -1
print("fact cuStreamGetDevice_capturing", cu.cuStreamGetDevice(s, ctypes.byref(d)), d.value)
g = ctypes.c_void_p()
print("fact end_capture", cu.cuStreamEndCapture(s, ctypes.byref(g)))
