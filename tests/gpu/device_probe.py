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
# Queries of a stream while it captures (capguard asks its flags and device before a begin): each on
# a fresh capture (Relaxed), its code and the capture's end.
u = ctypes.c_uint()
i = ctypes.c_int()
p = ctypes.c_void_p()
q = ctypes.c_ulonglong()
queries = [
    ("cuStreamGetDevice", lambda st: cu.cuStreamGetDevice(st, ctypes.byref(i))),
    ("cuStreamGetFlags", lambda st: cu.cuStreamGetFlags(st, ctypes.byref(u))),
    ("cuStreamGetPriority", lambda st: cu.cuStreamGetPriority(st, ctypes.byref(i))),
    ("cuStreamGetCtx", lambda st: cu.cuStreamGetCtx(st, ctypes.byref(p))),
    ("cuStreamGetId", lambda st: cu.cuStreamGetId(st, ctypes.byref(q))),
    ("cuStreamBeginCapture_v2_again", lambda st: cu.cuStreamBeginCapture_v2(st, 2)),
]
for name, call in queries:
    st = ctypes.c_void_p()
    assert ok(cu.cuStreamCreate(ctypes.byref(st), 1), "cuStreamCreate")
    assert ok(cu.cuStreamBeginCapture_v2(st, 2), "cuStreamBeginCapture_v2")
    rc = call(st)
    g = ctypes.c_void_p()
    print("fact capturing_%s %d end %d" % (name, rc, cu.cuStreamEndCapture(st, ctypes.byref(g))))
