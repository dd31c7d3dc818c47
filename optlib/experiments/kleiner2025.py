"""Set-ups and dry run of the Kleiner, Michaeli & Michaeli (2025) chapter: passive all-optical super-resolution.

Geometry follows the authors' code (matankleiner/All-Optical-SR): 28x28 objects upsampled to ``obj_px`` at
``pixel_um``, padded by ``pad`` on each side; input NA disc from (radius_arg, out_dist, wavelength); Fourier
masks of ``mask_px`` samples; Kerr weight 4. The tiny scale keeps the physical sizes (a 448 um object, the
same input cutoff, the same 12 um network limit) at half the sampling and fewer units, images and epochs.
"""
from __future__ import annotations

import math
from typing import Dict

import torch

from . import check_names
from .. import budget, data
from ..nn import aosr

PARAMS = ("scale", "seed", "obj_px", "pad", "pixel_um", "mask_px", "n_units", "kerr_weight", "radius_arg",
          "n_train", "n_test", "epochs", "batch", "lr", "lr_step_epochs", "gammas", "ir_max", "p_eval", "third_dataset",
          "d2nn_spacing_mm", "classifier_epochs", "checkpoint_dir", "init", "ir_draw", "ir_epochs", "poly_epochs")

DATASETS = ("mnist", "fashion_mnist", "quickdraw", "imagenette_gray")
LABELS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "quickdraw": "Quick, Draw!",
          "imagenette_gray": "Imagenette (grey, substitute for Quick, Draw!)"}
IR_INTENSITIES = (4.0, 3.0, 2.0, 1.0, 0.75, 0.5, 0.25, 0.1)


def check(p: Dict):
    check_names("kleiner2025", p, PARAMS)
    if p["third_dataset"] not in ("quickdraw", "imagenette_gray"):
        raise ValueError("third_dataset must be 'quickdraw' (the paper's) or 'imagenette_gray' (substitute)")


def setup(p: Dict, mask_px: int = None) -> aosr.AOSRSetup:
    check(p)
    pixel = p["pixel_um"] * 1e-6
    n = p["obj_px"] + 2 * p["pad"]
    # the authors' input disc: computed on the paper's 112-sample object grid at 4 um, padded to 336
    radius = aosr.authors_input_radius(p["radius_arg"], 1e-2, 550e-9, 112, 336, 4e-6)
    return aosr.AOSRSetup(obj_px=p["obj_px"], pad=p["pad"], pixel=pixel, input_radius=radius,
                          mask_px=mask_px or p["mask_px"], n_units=p["n_units"], kerr_weight=p["kerr_weight"])


def paper_setup(radius_arg: float = 60) -> aosr.AOSRSetup:
    """The paper's full set-up (object 112 px at 4 um in a 336 grid)."""
    return aosr.AOSRSetup(input_radius=aosr.authors_input_radius(radius_arg, 1e-2, 550e-9, 112, 336, 4e-6))


def load(name: str, split: str, n: int, offset: int = 0):
    """uint8 images (n, 28, 28) of a dataset ('mnist', 'fashion_mnist', 'quickdraw', 'imagenette_gray')."""
    if name == "mnist":
        return data.load_mnist(split, n)[0]
    if name == "fashion_mnist":
        return data.load_fashion_mnist(split, n)[0]
    if name == "quickdraw":
        per = math.ceil(n / 10)
        x, _ = data.load_quickdraw(n_per_class=per, offset=0 if split == "train" else 1000)
        g = torch.Generator().manual_seed(0)
        return x[torch.randperm(x.shape[0], generator=g)[:n]]
    if name == "imagenette_gray":
        # Imagenette validation images, grey, 28x28: per class, training uses the first ones and testing
        # starts at image 200 (each class has at least 357), so the two never overlap
        per = math.ceil(n / 10)
        start = 0 if split == "train" else 200
        if start + per > 357:
            raise ValueError(f"imagenette_gray has at most {357 - start} {split} images per class, asked {per}")
        x, y = data.load_imagenette("val", n_per_class=start + per, size=28)
        keep = torch.cat([torch.nonzero(y == c).flatten()[start:start + per] for c in range(10)])
        grey = 0.299 * x[keep, 0] + 0.587 * x[keep, 1] + 0.114 * x[keep, 2]
        g = torch.Generator().manual_seed(1)
        return (grey * 255).round().to(torch.uint8)[torch.randperm(keep.numel(), generator=g)[:n]]
    raise KeyError(f"unknown dataset {name!r}; one of {DATASETS}")


def dry_run(p: Dict) -> Dict:
    """Check the geometry and estimate memory and time of one training run, without training."""
    s = setup(p)
    rows = []
    n = s.n
    fwd_bwd_ffts = 2 * 2 * p["n_units"]  # fft + ifft per unit, forward and backward
    per_step = budget.fft_time((n, n), fwd_bwd_ffts * p["batch"], dtype=torch.complex64)
    steps = p["epochs"] * max(1, p["n_train"] // p["batch"])
    mem = budget.fft_bytes((n, n), torch.complex64, batch=p["batch"], temporaries=6 * p["n_units"])
    nets = 3 + len(p["gammas"]) + 1 + len(p["ir_max"]) + 1 + 3
    ok_mask = p["mask_px"] <= n
    ok_cut = s.input_cutoff < s.network_cutoff
    rows.append({"step": f"one AOSRNN ({p['n_units']} units, grid {n})", "valid": ok_mask and ok_cut,
                 "bytes": mem, "seconds": per_step * steps, "note": "required"})
    rows.append({"step": f"all {nets} networks", "valid": True, "bytes": mem, "seconds": per_step * steps * nets,
                 "note": ""})
    return {"rows": rows, "peak_bytes": mem, "fft_seconds": per_step * steps * nets,
            "all_required_valid": budget.required_valid(rows),
            "input_cutoff": s.input_cutoff, "network_cutoff": s.network_cutoff}


def dry_run_report(d: Dict) -> str:
    lines = [f"input cutoff {d['input_cutoff']:.1f} 1/m ({1e6 / d['input_cutoff']:.1f} um), network limit "
             f"{d['network_cutoff']:.1f} 1/m ({1e6 / d['network_cutoff']:.1f} um)"]
    lines += budget.format_rows(d["rows"], 40)
    return "\n".join(lines)
