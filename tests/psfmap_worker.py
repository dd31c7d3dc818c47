"""Run by test_psf.py, under torchrun with 2 gloo processes and once alone: a small PSF map of the Cooke triplet
(x0.1), saved by rank 0 to the path given."""
import math
import sys

import torch

from optlib import train
from optlib.grid import Grid
from optlib.psf import psf_map
from optlib.rays import library

rank, world, _ = train.distributed_setup()
torch.set_num_threads(1)
lens = library("cooke_triplet").scaled(0.1)
fields = [[(math.radians(x), math.radians(y)) for x in (-10, 0, 10)] for y in (-10, 0, 10)]
fields = fields[:2]  # 6 fields: shares of 3 and 3
m = psf_map(lens, 532e-9, Grid(17, 0.625e-6), fields, n_side=32, convention="paraxial", radius=0.1e-3)
if rank == 0:
    torch.save({"map": m, "world": world}, sys.argv[1])
train.distributed_cleanup()
