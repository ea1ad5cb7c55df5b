"""The seed's Python shape with PyTorch (issue 15, case 2), run unmodified under capguard: an
AllReduce torch.nn.Module built per call, in warm-up and inside torch.cuda.graph, the previous one
dropped first. Its construction: an mpi4py Barrier, torch.cuda.synchronize() "to be safe", a NCCL
communicator (torch.distributed.new_group over the ranks) and a VMM workspace exchanged across the
ranks' GPUs (py_vmm_seed.Wrapper: cuMemCreate, POSIX fds allgathered and taken with pidfd_getfd,
every rank's memory mapped). Its forward: an all_reduce on that group.

  mpirun -np 2 python3 tests/gpu/torch_seed.py        (one GPU per rank: rank % devices)

Prints "rank R construct K rc OK|FAIL WHAT", "rank R capture rc OK|FAIL WHAT", "rank R replay
ok|bad VALUE" and "rank R done". Needs two GPUs (NCCL refuses two ranks on one); never exits on
an error."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scenarios"))
import py_vmm_seed as vs  # noqa: E402  (mpi4py, the driver through ctypes, rank -> device)
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

rank, world, say = vs.rank, vs.world, vs.say
torch.cuda.set_device(vs.DEV)
os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
os.environ.setdefault("MASTER_PORT", "29531")
try:
    dist.init_process_group("nccl", rank=rank, world_size=world, device_id=torch.device("cuda", vs.DEV))
except Exception as e:  # noqa: BLE001  (one GPU for both ranks: NCCL refuses; measured on an H200)
    say("rank %d init rc FAIL %s" % (rank, str(e).splitlines()[0][:160] if str(e) else type(e).__name__))
    say("rank %d done" % rank)
    sys.exit(0)
drv = vs.CtypesDriver()


class AllReduce(torch.nn.Module):
    def __init__(self):
        super().__init__()
        vs.comm.Barrier()
        torch.cuda.synchronize()  # "to be safe"
        self.group = dist.new_group(list(range(world)), backend="nccl")
        self.workspace = vs.Wrapper(drv, 2)

    def forward(self, x):
        dist.all_reduce(x, group=self.group)
        return x

    def drop(self):
        self.workspace.destroy()
        dist.destroy_process_group(self.group)


def build(when):
    try:
        m = AllReduce()
        say("rank %d construct %s rc OK" % (rank, when))
        return m
    except Exception as e:  # noqa: BLE001  (any failure is the finding)
        say("rank %d construct %s rc FAIL %s" % (rank, when, str(e).splitlines()[0][:120] if str(e) else type(e).__name__))
        return None


x = torch.ones(1024, device="cuda") * (rank + 1)
m = None
side = torch.cuda.Stream()
side.wait_stream(torch.cuda.current_stream())
with torch.cuda.stream(side):
    for i in range(1, 4):
        if m:
            m.drop()
        m = build("warmup%d" % i)
        if m:
            x.fill_(rank + 1)
            m(x)
torch.cuda.current_stream().wait_stream(side)
g = torch.cuda.CUDAGraph()
try:
    with torch.cuda.graph(g):
        if m:
            m.drop()
        m = build("capture")
        if m:
            y = m(x)
    say("rank %d capture rc OK" % rank)
    x.fill_(rank + 1)
    g.replay()
    torch.cuda.synchronize()
    want = world * (world + 1) / 2
    got = float(x[0])
    say("rank %d replay %s %g" % (rank, "ok" if got == want and bool((x == want).all()) else "bad", got))
except Exception as e:  # noqa: BLE001
    say("rank %d capture rc FAIL %s" % (rank, str(e).splitlines()[0][:160] if str(e) else type(e).__name__))
vs.comm.Barrier()
say("rank %d done" % rank)
