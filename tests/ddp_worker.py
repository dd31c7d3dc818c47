"""Run by test_train.py, once under torchrun with 2 gloo processes and once alone: each rank computes the
gradient of its half of every batch; DistributedDataParallel averages them, so both runs must agree."""
import json
import sys

import torch

from optlib import train

rank, world, device = train.distributed_setup()
train.seed_everything(0)
x = torch.randn(128, 4, dtype=torch.float64)
y = x @ torch.tensor([1.0, -1.0, 2.0, 0.5], dtype=torch.float64)
model = torch.nn.Linear(4, 1).double()
torch.nn.init.zeros_(model.weight)
torch.nn.init.zeros_(model.bias)
net = train.data_parallel(model)
opt = torch.optim.SGD(net.parameters(), lr=0.1)


def step(i):
    batch = range(i * 32 % 128, i * 32 % 128 + 32)
    mine = [batch[j] for j in train.shard(len(batch), rank, world)]
    return ((net(x[mine]).squeeze(-1) - y[mine]) ** 2).mean()


train.fit(step, model, opt, 20, progress=False)
if rank == 0:
    w = torch.cat([model.weight.flatten(), model.bias]).tolist()
    with open(sys.argv[1], "w") as f:
        json.dump({"world": world, "weights": w}, f)
train.distributed_cleanup()
