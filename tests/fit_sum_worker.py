"""Run by test_train.py, under torchrun with 2 gloo processes and once alone: a loss that is a sum over five
"fields", each rank computing its share (train.shard), with fit(sum_over_ranks=True); one parameter is reached
only by the last field (rank 1's share), one by none. Both runs must take the same Adam steps."""
import json
import sys

import torch

from optlib import train

rank, world, device = train.distributed_setup()
g = torch.Generator().manual_seed(0)
A = torch.randn(5, 6, 4, generator=g, dtype=torch.float64)
b = torch.randn(5, 6, generator=g, dtype=torch.float64)


class Design(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.x = torch.nn.Parameter(torch.zeros(4, dtype=torch.float64))
        self.last_only = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))
        self.unused = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))


m = Design()
opt = torch.optim.Adam(m.parameters(), lr=0.05)


def step(i):
    loss = torch.zeros((), dtype=torch.float64)
    for f in train.shard(5, rank, world):
        r = A[f] @ m.x - b[f] + (m.last_only * (i + 1) if f == 4 else 0.0)
        loss = loss + (r ** 2).sum()
    return loss


res = train.fit(step, m, opt, 15, progress=False, sum_over_ranks=True)
if rank == 0:
    with open(sys.argv[1], "w") as fh:
        json.dump({"world": world, "x": m.x.tolist(), "last_only": float(m.last_only.detach()), "history": res.history,
                   "unused_grad_is_none": m.unused.grad is None}, fh)
train.distributed_cleanup()
