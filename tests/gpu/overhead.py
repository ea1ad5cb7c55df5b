"""The overhead of capguard (watchdog and flight recorder on: CAPGUARD=1) on real work, measured in
one run against the same program without capguard and with the pass-through wrapper preloaded:
  graph_replay   a CUDA graph of 20 small kernels, replayed (cudaGraphLaunch) and synchronized
  eager_launch   the same 20 kernels launched eagerly, then one synchronize
  nccl_graph_20  20 NCCL all-reduces (1 rank, 1 MiB, through CuPy's NCCL binding) captured into
                 one graph and replayed, as nccl-tests -G 20 does (nccl-tests is not on the GPU image)
Usage: overhead.py CASE ITERS -> prints "CASE us_per_iter". The driver (tests/gpu/overhead.sh)
runs each case in every column, interleaved, several rounds, and prints the table."""
import sys
import time

import torch

case, iters = sys.argv[1], int(sys.argv[2])
x = torch.ones(1 << 18, device="cuda")


def kernels():
    for _ in range(20):
        x.mul_(1.0000001)


if case == "nccl_graph_20":  # NCCL itself (CuPy's binding): torch.distributed skips NCCL for one rank
    import cupy
    from cupy.cuda import nccl

    comm = nccl.NcclCommunicator(1, nccl.get_unique_id(), 0)
    buf = cupy.ones(1 << 18, dtype=cupy.float32)
    cs = cupy.cuda.Stream(non_blocking=True)

    def work():
        for _ in range(20):
            comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, nccl.NCCL_FLOAT32, nccl.NCCL_SUM, cs.ptr)

    for _ in range(3):
        work()
    cs.synchronize()
    cs.begin_capture()
    work()
    cg = cs.end_capture()

    def step():
        cg.launch(cs)

    for _ in range(10):
        step()
    cs.synchronize()
    t = time.perf_counter()
    for _ in range(iters):
        step()
    cs.synchronize()
    print(case, "%.3f" % ((time.perf_counter() - t) / iters * 1e6), flush=True)
    sys.exit(0)
work = kernels

for _ in range(3):
    work()
torch.cuda.synchronize()
if case == "graph_replay":
    g = torch.cuda.CUDAGraph()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        work()
    torch.cuda.current_stream().wait_stream(s)
    with torch.cuda.graph(g):
        work()
    torch.cuda.synchronize()

    def step():
        g.replay()
else:
    step = work
for _ in range(10):
    step()
torch.cuda.synchronize()
t = time.perf_counter()
for _ in range(iters):
    step()
torch.cuda.synchronize()
print(case, "%.3f" % ((time.perf_counter() - t) / iters * 1e6), flush=True)
