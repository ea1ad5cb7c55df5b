"""A Python program that reaches CUDA through ctypes (as vLLM's pynccl and Triton do).
argv[1] = gil: ctypes.PyDLL, the GIL stays held during the calls; nogil: ctypes.CDLL, the GIL
is released around them (as PyTorch does around its CUDA calls). Either way capguard must name
the Python line of the violation. argv[2] = setlimit: the violation is cudaDeviceSetLimit, a call
capguard does not hook (named from the driver's error log). Runs on the test doubles or on real
CUDA."""
import ctypes
import sys

loader = ctypes.PyDLL if sys.argv[1:2] == ["gil"] else ctypes.CDLL
rt = loader("libcudart.so.13")


def step(stream):
    if sys.argv[2:] == ["setlimit"]:
        return rt.cudaDeviceSetLimit(0, 4096)  # not hooked: named from the driver's error log
    return rt.cudaDeviceSynchronize()  # the violation: capguard names this line


s = ctypes.c_void_p()
assert rt.cudaStreamCreateWithFlags(ctypes.byref(s), 1) == 0
assert rt.cudaStreamBeginCapture(s, 0) == 0
rc = step(s)
g = ctypes.c_void_p()
end = rt.cudaStreamEndCapture(s, ctypes.byref(g))
print("rc sync", rc)
print("rc end", end)
