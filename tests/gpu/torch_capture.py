"""PyTorch inside torch.cuda.graph: the calls users make "to be safe" (CASES.md A).

argv[1]: sync  -> torch.cuda.synchronize() inside the capture
         item  -> y.sum().item() inside the capture (a D2H copy, then a sync)
         clean -> nothing unsafe (the control)
Prints "outcome ..." lines: whether the capture completed, the replay's result, or the error.
"""
import sys

import torch

variant = sys.argv[1] if len(sys.argv) > 1 else "sync"
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
    print("outcome capture completed")
    x.fill_(3)
    g.replay()
    torch.cuda.synchronize()
    print("outcome replay sum", float(y.sum()))
except Exception as e:  # the user's view of a failed capture
    print("outcome error", type(e).__name__, str(e).splitlines()[0])
