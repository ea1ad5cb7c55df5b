"""PyTorch, outside any capture: a background thread waits in torch.cuda.Stream.synchronize()
(cudaStreamSynchronize) for a kernel that spins on the GPU for SECONDS (torch.cuda._sleep), while
the main thread goes on. capguard's watchdog must name the blocked call, its thread and its Python
line while it is blocked. Prints "blocked_for S" and "done"."""
import sys
import threading
import time

import torch

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0
side = torch.cuda.Stream()
torch.cuda._sleep(1000)  # the spin kernel's module loaded before the measurement
torch.cuda.synchronize()
t0 = time.time()
torch.cuda._sleep(1000000)
cycles_per_s = 1000000 / max(time.time() - t0, 1e-6)  # rough: the launch dominates; refined below
start = torch.cuda.Event(enable_timing=True)
stop = torch.cuda.Event(enable_timing=True)
start.record()
torch.cuda._sleep(100000000)
stop.record()
stop.synchronize()
cycles_per_s = 100000000 / (start.elapsed_time(stop) / 1000.0)


def waiter():
    with torch.cuda.stream(side):
        torch.cuda._sleep(int(cycles_per_s * seconds))
    t = time.time()
    side.synchronize()  # LINE_BLOCKED
    print("blocked_for %.1f" % (time.time() - t), flush=True)


th = threading.Thread(target=waiter, name="waiter")
th.start()
while th.is_alive():
    time.sleep(0.05)  # the main thread is free: only the waiter is blocked
th.join()
print("done", flush=True)
