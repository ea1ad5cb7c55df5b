"""A violation made through a framework's own Python wrapper (as torch.cuda.synchronize() is):
the one-line site must name the caller's line, not the wrapper's; the log keeps both frames.
The wrapper is a stand-in package named torch under a site-packages directory made here."""
import ctypes
import os
import sys
import tempfile

root = tempfile.mkdtemp()
pkg = os.path.join(root, "site-packages", "torch")
os.makedirs(pkg)
with open(os.path.join(pkg, "__init__.py"), "w") as f:
    f.write("def synchronize(rt):\n    return rt.cudaDeviceSynchronize()\n")
sys.path.insert(0, os.path.join(root, "site-packages"))
import torch  # noqa: E402  (the stand-in)

rt = ctypes.CDLL("libcudart.so.13")
s = ctypes.c_void_p()
assert rt.cudaStreamCreateWithFlags(ctypes.byref(s), 1) == 0
assert rt.cudaStreamBeginCapture(s, 0) == 0
rc = torch.synchronize(rt)  # the user's line
g = ctypes.c_void_p()
print("rc sync", rc)
print("rc end", rt.cudaStreamEndCapture(s, ctypes.byref(g)))
