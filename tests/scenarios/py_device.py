"""A Python program whose capture begins on a device its warm-up did not use (issue 14, part 7):
the model's memory is on device 1, the capture's stream on device 0. argv[1] = wrong | right
(capture on device 1). Needs two devices (FAKECUDA_DEVICES=2 on the test doubles); with one it
prints "skip devices 1". Reaches CUDA through ctypes with the GIL released, as PyTorch does."""
import ctypes
import sys

rt = ctypes.CDLL("libcudart.so.13")
n = ctypes.c_int()
assert rt.cudaGetDeviceCount(ctypes.byref(n)) == 0
if n.value < 2:
    print("skip devices", n.value)
    sys.exit(0)
MODEL_DEVICE = 1
CAPTURE_DEVICE = 0 if sys.argv[1:2] == ["wrong"] else MODEL_DEVICE


def warm_up():
    assert rt.cudaSetDevice(MODEL_DEVICE) == 0
    p = ctypes.c_void_p()
    assert rt.cudaMalloc(ctypes.byref(p), 1 << 20) == 0  # the warm-up's memory


def capture():
    assert rt.cudaSetDevice(CAPTURE_DEVICE) == 0
    s = ctypes.c_void_p()
    assert rt.cudaStreamCreateWithFlags(ctypes.byref(s), 1) == 0
    rc = rt.cudaStreamBeginCapture(s, 1)  # the capture begins here
    g = ctypes.c_void_p()
    end = rt.cudaStreamEndCapture(s, ctypes.byref(g))
    print("rc begin", rc)
    print("rc end", end)


warm_up()
capture()
