"""Almuallem et al., direct kernel optimisation (DKO): a metasurface array that computes the first convolution of
a monocular depth network, designed in two stages (train the CNN, then fit the metasurfaces to its first
layer) or end to end. The chapter's set-ups, data, the paper's network assembly, timing, dry run, and the
sharded fitting CLI:

    torchrun --nproc_per_node=8 -m papers.dko fit --weight conv1.pt --params params/dko/full.yaml --out dko_full/

The notebook and the ``full`` dry run share this code. Depths in metres, lengths in SI units (parameters
carry their unit in the name: ``_um``, ``_mm``, ``_nm``).
"""
from __future__ import annotations

import math
from typing import Dict

import torch
import torch.nn.functional as F

from optlib import budget, data, metrics, scenes, train
from optlib.meta import fit as kfit
from optlib.meta.cells import CellDesign
from optlib.meta.kernels import KernelOptics
from optlib.nn.depth import DepthNet, OpticalConv2d, ResNetConfig, count_parameters

from . import check_names

PARAMS = ("scale", "seed", "device", "dataset", "image_h", "image_w", "n_train", "n_test", "n_textures", "first_channels",
          "widths", "blocks", "decoder", "batch", "lr", "train_steps", "element_n", "pitch_um", "z_mm", "pixel_um",
          "method", "padding", "wavelengths_nm", "efficiency", "dko_iterations", "dko_lr", "dko_chunk",
          "e2e_steps", "e2e_pretrained_steps", "e2e_phase_lr", "cell_order", "cell_widths", "checkpoint_dir",
          "max_depth")

PAPER_TABLE2 = {  # AbsRel, SqRel, RMSE (m), RMSlog, d1, d2, d3, training time (h)
    "Ours (DKO)": (0.199, 1.674, 6.996, 0.305, 0.688, 0.879, 0.944, 12),
    "E2E pretrained": (0.346, 3.618, 11.013, 0.494, 0.401, 0.675, 0.835, 240),
    "E2E w/o pretraining": (0.387, 4.173, 11.853, 0.552, 0.324, 0.633, 0.814, 240),
}
PAPER_TABLE3 = {"ncc": 0.9840, "rmse": 0.012909, "mae": 0.007555}
PAPER_TABLE1 = {"DKO": (1.1, 100), "Computational training": (14.84, 250), "E2E": (418, 73000)}  # M params, ms
#: the paper's budget (Table 2): each E2E run trained for 240 h at 73 s per step (Table 1, one A100), i.e. 11,836
#: joint steps, against the 66,350 steps of the electronic network's own training (the Monodepth2 schedule of
#: full.yaml: 20 epochs of 3,317 batches of 12) within DKO's 12 h
PAPER_E2E_STEPS = round(240 * 3600 / 73)
PAPER_E2E_STEP_FRACTION = PAPER_E2E_STEPS / 66350
METRIC_KEYS = ("abs_rel", "sq_rel", "rmse", "rmse_log", "delta1", "delta2", "delta3")


def check(p: Dict):
    check_names("dko", p, PARAMS)
    if p["dataset"] not in ("road", "kitti"):
        raise ValueError("dataset must be 'road' (procedural scenes from the photo mirror) or 'kitti'")
    if p["image_h"] % 32 or p["image_w"] % 32:
        raise ValueError(f"image_h and image_w must be multiples of 32 (the encoder downsamples 32x), got "
                         f"{p['image_h']} x {p['image_w']}")
    if len(p["wavelengths_nm"]) != 3:
        raise ValueError("wavelengths_nm: one wavelength per colour channel (R, G, B)")


def parameter_counts(n: int, n_out: int, n_in: int = 3, taps: int = 7) -> Dict[str, int]:
    """Table 1's arithmetic: one element's phases, all ``2 n_in n_out`` elements, and the electronic layer."""
    return {"dko_per_element": n * n, "optical_layer": 2 * n_in * n_out * n * n,
            "electronic_first_layer": n_out * n_in * taps * taps, "elements": 2 * n_in * n_out}


def optics(p: Dict) -> KernelOptics:
    return KernelOptics(n=p["element_n"], pitch=p["pitch_um"] * 1e-6, z=p["z_mm"] * 1e-3, pixel=p["pixel_um"] * 1e-6,
                        taps=7, method=p["method"], padding=p["padding"], chunk=p["dko_chunk"] or 6 * p["first_channels"])


def wavelengths(p: Dict):
    return [w * 1e-9 for w in p["wavelengths_nm"]]


def cell_design(p: Dict) -> CellDesign:
    return CellDesign(order=p["cell_order"], n_widths=p["cell_widths"])


def net_config(p: Dict) -> ResNetConfig:
    return ResNetConfig(first=p["first_channels"], widths=tuple(p["widths"]), blocks=tuple(p["blocks"]),
                        decoder=tuple(p["decoder"]))


def make_net(p: Dict, seed: int) -> DepthNet:
    torch.manual_seed(seed)
    return DepthNet(net_config(p), min_depth=1.0, max_depth=p["max_depth"])


# --- data --------------------------------------------------------------------------------------------------
def make_data(p: Dict):
    """``(train, test)``, each ``(rgb (N, 3, H, W), depth (N, 1, H, W) m)``: procedural road scenes textured with
    the mirror's photographs, training and test textures from disjoint photographs (``dataset: road``), or
    KITTI's depth-completion split resized to the network's input (``dataset: kitti``)."""
    check(p)
    H, W = p["image_h"], p["image_w"]
    if p["dataset"] == "kitti":
        return tuple(_kitti(split, n, H, W) for split, n in (("train", p["n_train"]), ("val", p["n_test"])))
    g = torch.Generator().manual_seed(p["seed"])
    paths = data.photo_paths("wikimedia_photos")
    split = int(len(paths) * 0.8)
    tex_train = data.random_crops(paths[:split], 256, p["n_textures"], g)
    tex_test = data.random_crops(paths[split:], 256, max(8, p["n_textures"] // 4), g)
    train_set = scenes.road_scenes(tex_train, p["n_train"], H, W, g, max_depth=p["max_depth"])
    test_set = scenes.road_scenes(tex_test, p["n_test"], H, W, g, max_depth=p["max_depth"])
    return train_set, test_set


class KittiFrames:
    """KITTI depth-completion frames read on demand (the full split does not fit in memory): indexing with an
    index tensor or a slice returns a batch ``(B, 3, H, W)`` RGB or ``(B, 1, H, W)`` depth (m, 0 = no LiDAR),
    resized to the network's input (area for RGB, nearest for the sparse depth). ``shape`` is that of the
    whole set, as for a tensor."""

    def __init__(self, pairs, H: int, W: int, part: str):
        self.pairs, self.H, self.W, self.part = list(pairs), H, W, part
        self.shape = (len(self.pairs), 3 if part == "rgb" else 1, H, W)

    def __len__(self):
        return len(self.pairs)

    def _one(self, i: int) -> torch.Tensor:
        rgb, depth, valid = data.load_kitti_depth(self.pairs[i])
        if self.part == "rgb":
            return F.interpolate(rgb[None], (self.H, self.W), mode="area")[0]
        return F.interpolate((depth * valid)[None], (self.H, self.W), mode="nearest")[0]

    def __getitem__(self, idx):
        ids = range(len(self))[idx] if isinstance(idx, slice) else torch.as_tensor(idx).flatten().tolist()
        return torch.stack([self._one(int(i)) for i in ids])


def _kitti(split: str, n: int, H: int, W: int):
    pairs = data.kitti_depth_pairs(split)[:n]
    return KittiFrames(pairs, H, W, "rgb"), KittiFrames(pairs, H, W, "depth")


# --- training and evaluation ---------------------------------------------------------------------------------
def depth_loss(pred: torch.Tensor, gt: torch.Tensor, max_depth: float) -> torch.Tensor:
    """Mean |log pred - log gt| over pixels with ground truth (gt > 0; sky at ``max_depth`` included)."""
    valid = gt > 0
    return (torch.log(pred[valid]) - torch.log(gt[valid].clamp(max=max_depth))).abs().mean()


def _device(net: torch.nn.Module) -> torch.device:
    return next(net.parameters()).device


@torch.no_grad()
def predict(net: torch.nn.Module, rgb: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """Depth (m) of ``rgb`` (N, 3, H, W), batches moved to the network's device, the result on the CPU."""
    net.eval()
    dev = _device(net)
    return torch.cat([net(rgb[i:i + batch].to(dev)).cpu() for i in range(0, rgb.shape[0], batch)])


def evaluate(net: torch.nn.Module, test_set, max_depth: float = 80.0) -> Dict[str, float]:
    """Table 2's metrics over pixels with ground truth below ``max_depth`` (KITTI's LiDAR has no sky), predictions
    capped at ``max_depth`` as in the KITTI protocol; no median scaling (the networks are trained with metric
    depth)."""
    rgb, depth = test_set
    pred = predict(net, rgb).clamp(max=max_depth)
    depth = depth[0:depth.shape[0]]
    return metrics.depth_metrics(pred, depth, mask=(depth > 0) & (depth < max_depth))


def first_layer(net: DepthNet) -> torch.Tensor:
    """The electronic first-layer weight ``(L, 3, 7, 7)``."""
    return net.encoder.conv1.weight.detach().clone()


def with_first_layer(net: DepthNet, layer: torch.nn.Module) -> DepthNet:
    """A copy of ``net`` whose first convolution is ``layer`` (e.g. an :class:`OpticalConv2d`)."""
    import copy
    out = copy.deepcopy(net)
    out.encoder.conv1 = layer.to(_device(net))
    return out


def e2e_network(p: Dict, base: DepthNet, seed: int) -> DepthNet:
    """The opto-electronic network trained end to end: ``base`` (pretrained or fresh) with a trainable optical
    first layer; phases start as in DKO (a lens plus a weak random screen), gains so that the optical
    weights have the electronic layer's RMS."""
    o = optics(p)
    L = p["first_channels"]
    wl = kfit.element_wavelengths(L, wavelengths(p))
    phase = kfit.initial_phase(o, wl, seed=seed + 1)
    with torch.no_grad():
        k = o.kernels(phase, wl)
        w0 = kfit.compose(k, torch.ones(L, dtype=k.dtype))
        gain = first_layer(base).cpu().pow(2).mean().sqrt() / w0.flatten(1).pow(2).mean(1).sqrt()
    layer = OpticalConv2d(o, phase, wl, gain, trainable=True)
    return with_first_layer(base, layer)


def e2e_param_groups(net: DepthNet, p: Dict):
    optical = [net.encoder.conv1.phase]
    gains = [net.encoder.conv1.gain]
    ids = {id(t) for t in optical + gains}
    rest = [t for t in net.parameters() if id(t) not in ids]
    return [{"params": rest, "lr": p["lr"]}, {"params": optical, "lr": p["e2e_phase_lr"]},
            {"params": gains, "lr": p["lr"] * 10}]


def _sync(device):
    if torch.device(device).type == "cuda":  # time finished work only
        torch.cuda.synchronize(device)


def time_dko_step(o: KernelOptics, wavelength: float, elements: int = 1, dtype=torch.float32, device="cpu") -> float:
    """One forward+backward of ``elements`` kernels against a target on ``device`` (s)."""
    ph = torch.zeros(elements, o.n, o.n, dtype=dtype, device=device, requires_grad=True)
    wl = torch.full((elements,), wavelength, dtype=torch.float64)
    T = torch.zeros(elements, o.taps, o.taps, dtype=dtype, device=device)

    def f():
        ((o.kernels(ph, wl, check=False) - T) ** 2).sum().backward()
        _sync(device)
    return budget.median_seconds(f, 2)


def time_net_step(net: torch.nn.Module, batch: int, H: int, W: int, device="cpu") -> float:
    """One forward+backward of ``net`` (moved to ``device``) on a random batch (s)."""
    net.to(device)
    x = torch.rand(batch, 3, H, W).to(device)
    net.train()

    def f():
        net.zero_grad(set_to_none=True)
        net(x).mean().backward()
        _sync(device)
    t = budget.median_seconds(f, 2)
    net.eval()
    return t


# --- dry run -----------------------------------------------------------------------------------------------
def dry_run(p: Dict) -> Dict:
    """Build the configuration, check the kernels' sampling, count parameters and estimate memory and time of
    DKO and of one end-to-end step, without training."""
    check(p)
    o = optics(p)
    L = p["first_channels"]
    E = 6 * L
    rows = []
    try:
        info = o.check(wavelengths(p))
        ok, note = True, f"kernel sampling valid ({o.method}; {info})"
    except Exception as e:  # SamplingError
        ok, note = False, str(e)
    counts = parameter_counts(o.n, L)
    net = DepthNet(net_config(p))
    n_net = count_parameters(net)
    chunk = p["dko_chunk"] or E
    if o.method == "asm":
        n_pad = math.ceil(p["padding"] * o.n)
        el = {"fft": budget.fft_flops((n_pad, n_pad), 4)}  # fft, ifft; twice for backward, per element
        mem = budget.fft_bytes((n_pad, n_pad), torch.complex64, batch=chunk, temporaries=8)
    else:
        M = 7 * o.sub_samples(wavelengths(p))
        el = {"matmul": 3 * (budget.matmul_flops(M, o.n, o.n) + budget.matmul_flops(M, o.n, M))}  # fwd + 2x bwd
        mem = 16 * chunk * (o.n ** 2 * 6 + M * o.n * 2)
    every = {k: v * E for k, v in el.items()}  # one iteration (or E2E step) of all E elements
    rows.append(budget.step(f"DKO: one element ({o.n}^2), fwd + bwd", ok, mem / chunk, **el, steps=1,
                            paper="Table 1: 100 ms (A100)"))
    rows.append(budget.step(f"DKO: {E} elements x {p['dko_iterations']} it", ok, mem, **every,
                            steps=p["dko_iterations"], note="required", paper="Table 2: 12 h, with training"))
    rows.append(budget.step(f"E2E: {p['e2e_steps']} steps, optics only ({E} el.)", ok, mem, **every,
                            steps=p["e2e_steps"], paper="Table 1: 73 s a step; Table 2: 240 h"))
    peak = max(r["bytes"] for r in rows)
    return {"rows": rows, "peak_bytes": peak, "note": note, "all_required_valid": budget.required_valid(rows),
            "counts": counts, "net_parameters": n_net,
            "e2e_parameters": counts["optical_layer"] + n_net - counts["electronic_first_layer"]}


def dry_run_report(d: Dict) -> str:
    c = d["counts"]
    lines = [d["note"],
             f"parameters: one element {c['dko_per_element']:,}; optical layer ({c['elements']} elements) "
             f"{c['optical_layer']:,}; electronic network {d['net_parameters']:,} (first layer "
             f"{c['electronic_first_layer']:,}); E2E {d['e2e_parameters']:,}"]
    lines += budget.format_rows(d["rows"], 44)
    return "\n".join(lines)


# --- DKO (Eq. 5) and its sharded command line ----------------------------------------------------------------
def objective(optics: KernelOptics, target: torch.Tensor, wavelengths: torch.Tensor):
    """Eq. 5 as a per-element loss for :func:`optlib.meta.fit.fit_elements`: for the elements ``els`` with phases
    ``phase``, the squared distance between their simulated kernels and their targets."""
    def loss(phase: torch.Tensor, els: range) -> torch.Tensor:
        k = optics.kernels(phase, wavelengths[els.start:els.stop], check=False)
        return ((k - target[els.start:els.stop].to(device=phase.device, dtype=phase.dtype)) ** 2).sum(dim=(-2, -1))
    return loss


def fit_key(optics: KernelOptics, target: torch.Tensor, wavelengths: torch.Tensor, seed: int, noise: float = 0.5):
    """Everything besides the optimiser's settings that determines a DKO fit: the optics, the targets, the
    wavelengths and the seed of the starting phases (the checkpoints of a run are keyed by it)."""
    import dataclasses
    return {"optics": dataclasses.asdict(optics), "target": target, "wavelengths": wavelengths, "seed": seed,
            "noise": noise}


def main(argv=None) -> int:
    """``python -m papers.dko fit --weight W.pt --params P.yaml --out DIR``: fit one phase per element (Eq. 5),
    sharded over the processes of torchrun; each rank writes its finished chunks atomically under ``--out`` (a
    restarted run reuses those of the same settings and refuses others); rank 0 gathers ``<out>/phases.pt``."""
    import argparse
    import sys
    from pathlib import Path

    import yaml
    ap = argparse.ArgumentParser(prog="python -m papers.dko", description=main.__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fit", help="fit one phase per element (Eq. 5)")
    f.add_argument("--weight", required=True, help="first-layer weight (L, 3, 7, 7), a torch tensor file")
    f.add_argument("--params", required=True, help="chapter parameter YAML (element_n, pitch_um, z_mm, ...)")
    f.add_argument("--out", required=True, help="output folder (chunk checkpoints, phases.pt)")
    f.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    p = yaml.safe_load(Path(a.params).read_text())
    if not isinstance(p, dict):
        raise SystemExit(f"{a.params}: not a YAML mapping of parameters")
    unknown = set(p) - set(PARAMS)
    if unknown:
        raise SystemExit(f"{a.params}: unknown parameters {sorted(unknown)}")
    W = torch.load(a.weight, map_location="cpu", weights_only=True)
    if isinstance(W, dict):
        W = W.get("weight", W.get("encoder.conv1.weight"))
    if not isinstance(W, torch.Tensor) or W.dim() != 4 or W.shape[1] != 3:
        sys.exit(f"{a.weight}: expected a tensor (L, 3, t, t), got {type(W).__name__} "
                 f"{tuple(W.shape) if isinstance(W, torch.Tensor) else ''}")
    rank, world, device = train.distributed_setup()
    o = optics({**p, "first_channels": W.shape[0]})
    T, alpha = kfit.targets(W.float(), p["efficiency"])
    wl = kfit.element_wavelengths(W.shape[0], wavelengths(p))
    o.check(sorted(set(wl.tolist())))
    out = Path(a.out)
    res = kfit.fit_elements(objective(o, T, wl), lambda els: kfit.initial_phase(o, wl, p["seed"], elements=els),
                            len(wl), p["dko_iterations"], p["dko_lr"], chunk=p["dko_chunk"] or None,
                            checkpoint_dir=str(out), key=fit_key(o, T, wl, p["seed"]), rank=rank, world=world,
                            progress=not a.no_progress, device=device)
    phase = kfit.gather_shards(res["phase"], res["elements"])
    loss = kfit.gather_shards(res["loss"], res["elements"])
    if rank == 0:
        train.save_checkpoint(out / "phases.pt", {"phase": phase, "loss": loss, "alpha": alpha,
                                                  "wavelengths": wl, "n": o.n, "pitch": o.pitch,
                                                  "z": o.z, "pixel": o.pixel})
        print(f"{phase.shape[0]} elements fitted by {world} process(es); mean final loss {float(loss.mean()):.3e}; "
              f"wrote {out / 'phases.pt'}")
    train.distributed_cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
