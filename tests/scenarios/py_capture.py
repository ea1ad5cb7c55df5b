"""A Python program that reaches CUDA through ctypes (as vLLM's pynccl and Triton do), holding
the GIL during the calls (ctypes.PyDLL): capguard must name the Python line of the violation.
Runs on the test doubles or on real CUDA (whichever libcudart.so.13 the loader finds)."""
import ctypes

rt = ctypes.PyDLL("libcudart.so.13")
s = ctypes.c_void_p()
assert rt.cudaStreamCreateWithFlags(ctypes.byref(s), 1) == 0
assert rt.cudaStreamBeginCapture(s, 0) == 0
rc = rt.cudaDeviceSynchronize()  # the violation: capguard names this line
g = ctypes.c_void_p()
end = rt.cudaStreamEndCapture(s, ctypes.byref(g))
print("rc sync", rc)
print("rc end", end)
