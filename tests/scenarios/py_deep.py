"""A violation made deep inside library code, as print(tensor) inside torch.cuda.graph is (CASES.md:
torch's formatting went five frames down before it synchronized): the one-line site must name the
user's line, below every library frame; the log keeps them all (CAPGUARD_PY_DEPTH).
argv[1] = site: the library is a package under a site-packages directory made here;
          libpath: it is under a directory of its own, named library by CAPGUARD_LIB_PATHS (the
          caller sets it to that directory: argv[2]).
The library calls itself DEPTH (8) frames deep, then cudaDeviceSynchronize inside the capture."""
import ctypes
import os
import sys
import tempfile

where = sys.argv[1] if len(sys.argv) > 1 else "site"
root = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp()
lib = os.path.join(root, "site-packages") if where == "site" else os.path.join(root, "mylib")
os.makedirs(lib, exist_ok=True)
with open(os.path.join(lib, "deeplib.py"), "w") as f:
    f.write("def level(rt, n):\n    if n == 0:\n        return rt.cudaDeviceSynchronize()\n    return level(rt, n - 1)\n")
sys.path.insert(0, lib)
import deeplib  # noqa: E402

rt = ctypes.CDLL("libcudart.so.13")
s = ctypes.c_void_p()
assert rt.cudaStreamCreateWithFlags(ctypes.byref(s), 1) == 0
assert rt.cudaStreamBeginCapture(s, 0) == 0


def format_tensor():
    return deeplib.level(rt, 7)  # the user's line


rc = format_tensor()
g = ctypes.c_void_p()
print("rc sync", rc)
print("rc end", rt.cudaStreamEndCapture(s, ctypes.byref(g)))
