"""A Python program whose background thread blocks in cuStreamSynchronize outside any capture
(the driver double tests/unit/block_driver.c, through ctypes, which releases the GIL around the
call). The main thread waits until capguard's log names the blocked call (at most 10 s), then
lets it go. The watchdog must name the thread's Python line: worker_sync's call below.
Usage: py_blocked.py LIBCUDA LOGDIR. Prints "named N" and "returned RC"."""
import ctypes, glob, sys, threading, time

cuda = ctypes.CDLL(sys.argv[1])
cuda.cuStreamSynchronize.argtypes = [ctypes.c_void_p]
result = []


def worker_sync():
    result.append(cuda.cuStreamSynchronize(ctypes.c_void_p(0x100)))  # the blocked line


def named():
    for path in glob.glob(sys.argv[2] + "/*.jsonl"):
        with open(path) as f:
            if any('"ev":"watchdog"' in line and "cuStreamSynchronize" in line for line in f):
                return 1
    return 0


t = threading.Thread(target=worker_sync, name="syncer")
t.start()
deadline = time.time() + 10
while not named() and time.time() < deadline:
    time.sleep(0.05)
print("named", named(), flush=True)
cuda.block_release(0)
t.join()
print("returned", result[0] if result else None, flush=True)
