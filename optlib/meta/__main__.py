"""Fit metasurface phases to a CNN's first layer (DKO), sharded over processes with torchrun.

    torchrun --nproc_per_node=8 -m optlib.meta fit --weight conv1.pt --params params/dko/full.yaml --out dko_full/

``--weight``: a tensor file (``torch.save(net.encoder.conv1.weight, ...)``; read with ``weights_only=True``)
of shape (L, 3, 7, 7). ``--params``: a chapter parameter file (YAML, read with ``yaml.safe_load``). Each rank
fits its share of the 6L elements, writing every finished chunk atomically under ``--out`` (a restarted
run skips them); rank 0 then gathers all phases into ``<out>/phases.pt`` with the per-element losses.
Without torchrun it runs as one process.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import yaml

from .. import train
from . import dko


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m optlib.meta", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="fit one phase per element (Eq. 5)")
    f.add_argument("--weight", required=True, help="first-layer weight (L, 3, 7, 7), a torch tensor file")
    f.add_argument("--params", required=True, help="chapter parameter YAML (element_n, pitch_um, z_mm, ...)")
    f.add_argument("--out", required=True, help="output folder (chunk checkpoints, phases.pt)")
    f.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)

    from ..experiments import dko as X
    p = yaml.safe_load(Path(a.params).read_text())
    if not isinstance(p, dict):
        raise SystemExit(f"{a.params}: not a YAML mapping of parameters")
    unknown = set(p) - set(X.PARAMS)
    if unknown:
        raise SystemExit(f"{a.params}: unknown parameters {sorted(unknown)}")
    W = torch.load(a.weight, map_location="cpu", weights_only=True)
    if isinstance(W, dict):
        W = W.get("weight", W.get("encoder.conv1.weight"))
    if not isinstance(W, torch.Tensor) or W.dim() != 4 or W.shape[1] != 3:
        raise SystemExit(f"{a.weight}: expected a tensor (L, 3, t, t), got {type(W).__name__} "
                         f"{tuple(W.shape) if isinstance(W, torch.Tensor) else ''}")
    rank, world, device = train.distributed_setup()
    optics = X.optics({**p, "first_channels": W.shape[0]})
    T, alpha = dko.targets(W.float(), p["efficiency"])
    wl = dko.element_wavelengths(W.shape[0], X.wavelengths(p))
    out = Path(a.out)
    res = dko.fit_phases(optics, T, wl, p["dko_iterations"], p["dko_lr"], seed=p["seed"], chunk=p["dko_chunk"] or None,
                         checkpoint_dir=str(out), rank=rank, world=world, progress=not a.no_progress, device=device)
    phase = dko.gather_shards(res["phase"], res["elements"])
    loss = dko.gather_shards(res["loss"], res["elements"])
    if rank == 0:
        train.save_checkpoint(out / "phases.pt", {"phase": phase, "loss": loss, "alpha": alpha,
                                                  "wavelengths": wl, "n": optics.n, "pitch": optics.pitch,
                                                  "z": optics.z, "pixel": optics.pixel})
        print(f"{phase.shape[0]} elements fitted by {world} process(es); mean final loss {float(loss.mean()):.3e}; "
              f"wrote {out / 'phases.pt'}")
    train.distributed_cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
