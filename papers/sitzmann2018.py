"""Sitzmann et al. (2018), end-to-end optics and image processing for achromatic extended depth of field (EDOF)
and super-resolution: the chapter's set-ups, the authors' elements and baselines (DOEs of the library), the
evaluation of a trained system, and the dry run. The forward models and training loops are in the chapter.

The optical model is the authors' (from their scripts, as recorded in shared/reproduction-notes.md): a thin
element (height map of a dispersive material) in a circular aperture is the only focusing element; points
at several depths send spherical waves; Fresnel transfer-function propagation (a quarter-width zero pad per
side) to the sensor; pixel integration; Gaussian read noise; Wiener deconvolution with a trainable
regulariser and a trainable target depth. Each training image is split into three horizontal bands, each at
a depth drawn from the depth set.

The ``tiny`` scale shrinks the aperture (2 mm instead of 5 mm) and the grid (256 samples of 7.8 um) so that
the sampling stays valid (checked), with 1.8 waves of defocus between 0.5 m and infinity at 550 nm.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Dict, List, Optional

import torch
from torch import nn

from optlib import budget, data
from optlib.analytic import defocus_waves
from optlib.elements import (DOE, FourierHeightMap, ZernikeHeightMap, circ, cubic_height, lens_height,
                             period_height)
from optlib.grid import Grid
from optlib.imaging.conv import fftconv2d
from optlib.metrics import ncc, psnr
from optlib.nn.deconv import wiener_deconv
from optlib.psf import check_thin_sampling, thin_element_psf
from optlib.sampling import SamplingError
from optlib.train import randn

from . import check_names

PARAMS = ("scale", "seed", "device", "n_grid", "pitch_um", "padding", "aperture_mm", "sensor_mm", "focus_m", "depths_m", "wavelengths_nm",
          "factor", "psf_px", "patch", "batch", "n_train_crops", "n_eval", "steps", "optimizer", "lr_fourier",
          "lr_zernike", "fourier_fraction", "zernike_terms", "noise_min", "noise_max", "eval_noise", "height_tol_nm",
          "margin", "gamma_init", "cubic_waves", "focus_n_grid", "focus_sensor_mm", "focus_steps", "focus_lr",
          "focus_reg", "sr_scales", "sr_steps", "sr_patch", "sr_batch", "sr_width", "sr_lr", "train_photos",
          "eval_photos", "eval_patch", "checkpoint_dir", "zernike_lr_candidates", "n_val_photos")

MATERIAL_DOE = "fused silica"     # experiments 1 and 3 (the authors' n = 1.4648/1.4599/1.4568)
MATERIAL_REFRACTIVE = "PMMA"      # experiment 2 (the authors' PMMA-like n = 1.499/1.493/1.488)
AUTHORS_INDEX = {MATERIAL_DOE: (1.4648, 1.4599, 1.4568), MATERIAL_REFRACTIVE: (1.499, 1.493, 1.488)}


def check(p: Dict):
    check_names("sitzmann2018", p, PARAMS)
    if p["optimizer"] not in ("adam", "authors"):
        raise ValueError("optimizer must be 'adam' or 'authors' (SGD-Nesterov / Adadelta as in the authors' scripts)")
    if p["psf_px"] >= min(p["patch"], p["eval_patch"]) or 2 * p["margin"] < p["psf_px"] // 2:
        raise ValueError(f"psf_px {p['psf_px']} must be smaller than the patches and margin >= psf_px / 4")
    if p["patch"] % 3:
        raise ValueError(f"patch {p['patch']} must be divisible by 3 (three depth bands)")
    cands = p["zernike_lr_candidates"]
    if not isinstance(cands, (list, tuple)) or any(isinstance(c, bool) or not isinstance(c, (int, float))
                                                   or not math.isfinite(c) or c <= 0 for c in cands):
        raise ValueError(f"zernike_lr_candidates must be a list of positive learning rates (or []), got {cands!r}")
    nv = p["n_val_photos"]
    if isinstance(nv, bool) or not isinstance(nv, int) or nv < 0:
        raise ValueError(f"n_val_photos must be an integer >= 0, got {nv!r}")
    if cands and not nv:
        raise ValueError("zernike_lr_candidates are chosen between on held-out training photos: set n_val_photos > 0")


@dataclass
class Geometry:
    """Sampling grid (m), aperture (H, W), depths (m), wavelengths (m), sensor distance (m), pixel factor."""

    grid: Grid
    aperture: torch.Tensor
    radius: float
    depths: List[float]
    wavelengths: List[float]
    sensor: float
    focus: float
    factor: int
    psf_px: int
    padding: float = 1.5

    @property
    def pixels(self) -> Grid:
        """The sensor window: ``psf_px`` pixels of ``factor`` samples, centred on the axis."""
        return self.grid.pixels(self.factor, self.psf_px)

    def psfs(self, element, depths=None, wavelengths=None, check=True) -> torch.Tensor:
        """PSFs (D, C, p, p) of ``element`` (a DOE on :attr:`grid`) by the thin-element model: spherical waves from
        each depth, the element, the Fresnel transfer function over the sensor distance, the sensor's pixels."""
        dtype = torch.complex128 if element.dtype == torch.float64 else torch.complex64
        return thin_element_psf([element], self.grid, self.pixels, self.sensor,
                                self.wavelengths if wavelengths is None else wavelengths,
                                self.depths if depths is None else depths, padding=self.padding, check=check,
                                dtype=dtype)


def setup(p: Dict) -> Geometry:
    check(p)
    g = Grid(p["n_grid"], p["pitch_um"] * 1e-6)
    radius = p["aperture_mm"] * 1e-3 / 2
    if 2 * radius > g.extent[0] * (1 + 1e-9):
        raise SamplingError(f"aperture {p['aperture_mm']} mm is wider than the grid ({g.extent[0] * 1e3:.3f} mm): "
                            f"raise n_grid or pitch_um")
    G = Geometry(g, circ(g, radius).to(torch.float32), radius, list(p["depths_m"]),
                 [w * 1e-9 for w in p["wavelengths_nm"]], p["sensor_mm"] * 1e-3, p["focus_m"], p["factor"], p["psf_px"],
                 padding=p["padding"])
    check_thin_sampling(g, radius, G.wavelengths, G.sensor, G.depths, G.focus)
    return G


def focus_setup(p: Dict) -> Geometry:
    """Experiment 3 (RGB focusing element): same aperture, sensor at ``focus_sensor_mm``, object at infinity;
    zero padding to twice the grid (the shorter distance's chirp needs it at this sampling)."""
    g = Grid(p["focus_n_grid"], p["aperture_mm"] * 1e-3 / p["focus_n_grid"])
    radius = p["aperture_mm"] * 1e-3 / 2
    G = Geometry(g, circ(g, radius).to(torch.float32), radius, [1e4], [w * 1e-9 for w in p["wavelengths_nm"]],
                 p["focus_sensor_mm"] * 1e-3, math.inf, 1, p["psf_px"], padding=2.0)
    check_thin_sampling(g, radius, G.wavelengths, G.sensor, G.depths)
    return G


# --- the elements: DOEs on the chapter's grid ------------------------------------------------------------------
def element(G: Geometry, heights, material, wrap: Optional[float] = None, height_tol: float = 0.0) -> DOE:
    """A DOE of ``material`` on the chapter's grid and aperture: fixed heights (m) or a height module; ``wrap`` (m)
    folds the heights into one period (a diffractive element); ``height_tol`` (m) is the uniform fabrication
    noise applied in training mode."""
    return DOE(heights, material, aperture=G.aperture, grid=G.grid, wrap=wrap, noise=height_tol or None)


def baselines(G: Geometry) -> Dict[str, DOE]:
    """The paper's lens baselines, in fused silica, focused at ``focus_m``: a Fresnel lens designed for 550 nm
    (wrapped) and a conventional refractive lens; the third baseline is :func:`cubic_plate`, whose strength
    the chapter chooses."""
    return {"Fresnel lens (550 nm)": element(G, lens_height(G.grid, MATERIAL_DOE, 550e-9, G.sensor, G.focus, wrap=True),
                                            MATERIAL_DOE),
            "refractive lens": element(G, lens_height(G.grid, MATERIAL_DOE, 550e-9, G.sensor, G.focus, wrap=False),
                                       MATERIAL_DOE)}


def cubic_plate(G: Geometry, waves: float) -> DOE:
    """Wavefront coding: the refractive lens plus a cubic term of ``waves`` waves (at 550 nm) at the aperture
    edge, fused silica."""
    lens = lens_height(G.grid, MATERIAL_DOE, 550e-9, G.sensor, G.focus, wrap=False)
    return element(G, lens + cubic_height(G.grid, G.radius, waves, MATERIAL_DOE, 550e-9), MATERIAL_DOE)


def window_energy(G: Geometry, element, factor: int = 2) -> torch.Tensor:
    """The fraction (D, C) of each PSF's power that falls in the chapter's ``psf_px`` window, measured on a
    window ``factor`` times wider: how much a crop cuts from a wide PSF."""
    wide = replace(G, psf_px=factor * G.psf_px)
    with torch.no_grad():
        P = wide.psfs(element, check=False)
    lo = (wide.psf_px - G.psf_px) // 2
    return P[..., lo:lo + G.psf_px, lo:lo + G.psf_px].sum((-2, -1))


def make_element(kind: str, G: Geometry, p: Dict) -> DOE:
    """The elements the authors optimise, both focusing ``focus_m``: ``"diffractive"`` (experiment 1: heights from
    the lowest ``fourier_fraction`` of Fourier coefficients, fused silica, wrapped to one 550 nm period, started
    from the Fresnel lens) or ``"zernike"`` (experiment 2: ``zernike_terms`` Zernike heights in PMMA, started from
    the refractive lens by least squares); both with the fabrication noise ``height_tol_nm`` in training."""
    tol = p["height_tol_nm"] * 1e-9
    if kind == "diffractive":
        init = lens_height(G.grid, MATERIAL_DOE, 550e-9, G.sensor, G.focus, wrap=True)
        return element(G, FourierHeightMap.fit(G.grid, init, p["fourier_fraction"]), MATERIAL_DOE,
                       wrap=period_height(MATERIAL_DOE, 550e-9), height_tol=tol)
    if kind == "zernike":
        init = lens_height(G.grid, MATERIAL_REFRACTIVE, 550e-9, G.sensor, G.focus, wrap=False)
        return element(G, ZernikeHeightMap.fit(G.grid, G.radius, init, p["zernike_terms"], piston="min"),
                       MATERIAL_REFRACTIVE, height_tol=tol)
    raise ValueError(f"unknown element kind {kind!r}")


# --- evaluation of an end-to-end system (an object with .G, .element, .wiener, .psfs(), .target_psf()) ---------
def loss_fn(rec: torch.Tensor, target: torch.Tensor, margin: int) -> torch.Tensor:
    m = margin
    return ((rec[..., m:-m, m:-m] - target[..., m:-m, m:-m]) ** 2).mean()


def make_optimizer(p: Dict, model: nn.Module, kind: str):
    """Adam (tiny) or the authors' optimisers: SGD with Nesterov momentum 0.5 (diffractive) / Adadelta
    (Zernike). The model's other parameters (the Wiener filter's) train with the element."""
    lr = p["lr_fourier"] if kind == "diffractive" else p["lr_zernike"]
    if p["optimizer"] == "adam":
        el = {id(t) for t in model.element.parameters()}
        return torch.optim.Adam([{"params": model.element.parameters(), "lr": lr},
                                 {"params": [t for t in model.parameters() if id(t) not in el], "lr": 0.02}])
    if kind == "diffractive":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.5, nesterov=True)
    return torch.optim.Adadelta(model.parameters(), lr=lr)


def training_photos(p: Dict):
    """The photos of ``train_photos`` (the authors used INRIA Holidays; tiny: the Wikimedia photos of the local
    mirror), split into (training, validation): the last ``n_val_photos`` are held out, never trained on."""
    paths = data.photo_paths(p["train_photos"])
    nv = p["n_val_photos"]
    if nv >= len(paths):
        raise ValueError(f"n_val_photos {nv} leaves none of the {len(paths)} {p['train_photos']} photos to train on")
    return (paths[:-nv], paths[-nv:]) if nv else (paths, [])


def train_crops(p: Dict, generator) -> torch.Tensor:
    """Random training crops (n, 3, patch, patch) from the training part of ``train_photos``."""
    return data.random_crops(training_photos(p)[0], p["patch"], p["n_train_crops"], generator)


def validation_crops(p: Dict, generator) -> torch.Tensor:
    """Crops (n_eval, 3, eval_patch, eval_patch) of the held-out training photos, for choosing hyper-parameters
    without looking at the test photos."""
    held_out = training_photos(p)[1]
    if not held_out:
        raise ValueError("no validation photos: set n_val_photos > 0")
    return data.random_crops(held_out, p["eval_patch"], p["n_eval"], generator)


def eval_crops(p: Dict, generator) -> torch.Tensor:
    """Evaluation crops (n, 3, eval_patch, eval_patch) from ``eval_photos`` (Kodak)."""
    paths = data.photo_paths(p["eval_photos"])
    return data.random_crops(paths, p["eval_patch"], p["n_eval"], generator)


@torch.no_grad()
def sensor_images(model: nn.Module, images: torch.Tensor, sigma: float, seed: int = 1):
    """Noisy sensor images (D, B, C, H, W) of ``images`` placed at every depth, and the PSFs (D, C, p, p), of the
    system's element (without fabrication noise)."""
    model.eval()
    P = model.G.psfs(model.element, check=False)
    gen = torch.Generator().manual_seed(seed)
    blurred = fftconv2d(images[None], P[:, None])
    return blurred + sigma * randn(blurred.shape, blurred, gen), P


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, sigma: float, seed: int = 1, sensor=None) -> torch.Tensor:
    """PSNR (dB) per depth and channel (D, C): the whole image at one depth, noise ``sigma``, reconstructed by the
    system's Wiener filter at its target depth, scored on the interior (the PSF half-width is cut)."""
    noisy, _ = sensor if sensor is not None else sensor_images(model, images, sigma, seed)
    model.eval()
    m = model.G.psf_px // 2
    rec = model.wiener(noisy, model.target_psf()).clamp(0, 1)
    return psnr(rec[..., m:-m, m:-m], images[None, ..., m:-m, m:-m], dim=(1, 3, 4))


@torch.no_grad()
def fit_wiener(model: nn.Module, images: torch.Tensor, sigma: float, gammas=None, seed: int = 2):
    """For a fixed element: choose gamma and the target depth (among the depth set) by grid search on
    training images (mean PSNR over depths and channels), so baselines get their best reconstruction."""
    gammas = gammas if gammas is not None else [10 ** e for e in torch.linspace(-5, -1, 9).tolist()]
    noisy, P = sensor_images(model, images, sigma, seed)
    m = model.G.psf_px // 2
    best = (-1e9, None, None)
    for i, d in enumerate(model.G.depths):
        for g in gammas:
            rec = wiener_deconv(noisy, P[i], g).clamp(0, 1)
            v = float(psnr(rec[..., m:-m, m:-m], images[None, ..., m:-m, m:-m], dim=(1, 3, 4)).mean())
            if v > best[0]:
                best = (v, d, g)
    model.s.fill_(math.sqrt(best[1]))
    model.wiener.log_gamma.fill_(math.log(best[2]))
    return best


def psf_similarity(P: torch.Tensor) -> float:
    """Mean normalised cross-correlation over all pairs of PSFs in (D, C, p, p): 1 when every depth and
    colour gives the same PSF."""
    flat = P.detach().reshape(-1, *P.shape[-2:])
    vals = [float(ncc(flat[i], flat[j])) for i in range(len(flat)) for j in range(i + 1, len(flat))]
    return sum(vals) / len(vals)


def encircled_energy(P: torch.Tensor, radius_px: float) -> torch.Tensor:
    """Fraction of each PSF (..., p, p) within ``radius_px`` pixels of the centre pixel."""
    p = P.shape[-1]
    k = torch.arange(p, device=P.device) - p // 2
    y, x = torch.meshgrid(k, k, indexing="ij")
    mask = (x.float() ** 2 + y.float() ** 2) <= radius_px ** 2
    return (P * mask).sum((-2, -1)) / P.sum((-2, -1))


def laplacian_l1(h: torch.Tensor) -> torch.Tensor:
    """Mean |discrete Laplacian| of a height map (m per sample^2): the authors' smoothness regulariser."""
    lap = (h[2:, 1:-1] + h[:-2, 1:-1] + h[1:-1, 2:] + h[1:-1, :-2] - 4 * h[1:-1, 1:-1])
    return lap.abs().mean()


def grey(x: torch.Tensor) -> torch.Tensor:
    """Luma (B, 1, H, W) of RGB images (B, 3, H, W)."""
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def sr_margin(G: Geometry) -> int:
    """Pixels cut from each side when scoring super-resolution (an eighth of the PSF window, at least 2)."""
    return max(2, G.psf_px // 8)


# --- dry run ------------------------------------------------------------------------------------------
def dry_run(p: Dict) -> Dict:
    """Build the configuration, check its sampling and estimate memory and FFT time, without training."""
    check(p)
    rows = []
    try:
        G = setup(p)
        # the Fresnel transfer function's verdict for the worst case (longest wavelength, nearest depth),
        # measured on the field itself when the grid test alone cannot pass it
        lens = element(G, lens_height(G.grid, MATERIAL_DOE, 550e-9, G.sensor, G.focus, wrap=False), MATERIAL_DOE)
        G.psfs(lens, [min(G.depths)], [max(G.wavelengths)])
        ok, note = True, "sampling valid (lens phase, spherical waves and the Fresnel transfer function)"
    except SamplingError as e:
        G, ok, note = None, False, str(e)
    n_pad = math.ceil(p["n_grid"] * p["padding"])
    n_psf = 4 * len(p["wavelengths_nm"])  # three bands' depths + the target depth, per wavelength
    per_step = budget.fft_flops((n_pad, n_pad), 4 * n_psf)  # fft + ifft per PSF, forward and backward
    mem = budget.fft_bytes((n_pad, n_pad), torch.complex64, batch=n_psf, temporaries=8)
    rows.append(budget.step(f"EDOF: one step ({n_psf} PSFs on {n_pad}^2)", ok, mem, fft=per_step, steps=p["steps"],
                            note="required", paper="no time reported"))
    rows.append(budget.step("experiments 1 and 2 (two designs)", ok, mem, fft=per_step, steps=2 * p["steps"]))
    try:
        focus_setup(p)
        ok3 = True
    except SamplingError:
        ok3 = False
    n3 = 2 * p["focus_n_grid"]
    rows.append(budget.step(f"experiment 3 (focusing, {n3}^2)", ok3,
                            budget.fft_bytes((n3, n3), torch.complex64, batch=len(p["wavelengths_nm"]), temporaries=8),
                            fft=budget.fft_flops((n3, n3), 4 * len(p["wavelengths_nm"])), steps=p["focus_steps"],
                            note="required"))
    wd = defocus_waves(p["aperture_mm"] * 1e-3 / 2, 550e-9, min(p["depths_m"]), max(p["depths_m"]))
    return {"rows": rows, "peak_bytes": max(r["bytes"] for r in rows), "note": note, "defocus_waves": wd,
            "all_required_valid": budget.required_valid(rows)}


def dry_run_report(d: Dict) -> str:
    lines = [f"{d['note']}; defocus between the nearest and farthest depth {d['defocus_waves']:.2f} waves at 550 nm"]
    lines += budget.format_rows(d["rows"], 44)
    return "\n".join(lines)
