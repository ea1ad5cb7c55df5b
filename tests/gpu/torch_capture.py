"""PyTorch inside torch.cuda.graph: the calls users make "to be safe" (CASES.md A).

argv[1]: sync  -> torch.cuda.synchronize() inside the capture
         item  -> y.sum().item() inside the capture (a D2H copy, then a sync)
         print -> print(y) inside the capture (the sync is deep inside torch's _tensor_str.py)
         lazy  -> a one-rank torch.distributed NCCL group whose first all_reduce (the lazy
                  communicator init) runs inside the capture
         setlimit -> cuda-bindings' cuCtxSetLimit inside the capture: a call capguard does not
                  hook (cuda-bindings reaches it through cuGetProcAddress); named from the
                  driver's error log
         clean -> nothing unsafe (the control)
Prints "outcome ..." lines: whether the capture completed, the replay's result, or the error.
"""
import sys

import torch

variant = sys.argv[1] if len(sys.argv) > 1 else "sync"
if variant == "lazy":
    import os
    import tempfile

    import torch.distributed as dist

    store = os.path.join(tempfile.gettempdir(), "cg-lazy-pg-%d" % os.getpid())
    dist.init_process_group("nccl", init_method="file://" + store, rank=0, world_size=1)
x = torch.ones(1024, device="cuda")
y = x * 2
torch.cuda.synchronize()
g = torch.cuda.CUDAGraph()
try:
    with torch.cuda.graph(g):
        y = x * 2
        if variant == "sync":
            torch.cuda.synchronize()  # LINE_SYNC
        elif variant == "item":
            v = y.sum().item()  # LINE_ITEM
        elif variant == "print":
            print(y)  # LINE_PRINT
        elif variant == "lazy":
            dist.all_reduce(y)  # LINE_LAZY
        elif variant == "setlimit":
            from cuda.bindings import driver

            err, = driver.cuCtxSetLimit(driver.CUlimit.CU_LIMIT_STACK_SIZE, 4096)  # LINE_SETLIMIT
            print("outcome setlimit", int(err))
    print("outcome capture completed")
    x.fill_(3)
    g.replay()
    torch.cuda.synchronize()
    print("outcome replay sum", float(y.sum()))
except Exception as e:  # the user's view of a failed capture
    print("outcome error", type(e).__name__, str(e).splitlines()[0])
if variant == "lazy":
    dist.destroy_process_group()
