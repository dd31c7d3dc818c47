"""Kleiner, Michaeli & Michaeli (Nanophotonics 2025): passive all-optical super-resolution. The paper's networks
assembled from optlib parts (each 4f unit is a :class:`~optlib.elements.FourF` with a phase mask in its
square Fourier aperture, an image-plane support :class:`~optlib.elements.Aperture` and a
:class:`~optlib.elements.Kerr` layer), its input optics, losses, metrics, the chapter's set-ups and dry run.
SI units.

An object of intensity I (W/m^2 up to a scale; its maximum is the "peak intensity" p) is imaged by coherent
optics of small NA: the input field is sqrt(I) low-passed by a disc in the Fourier plane. The network is a
chain of 4f units; each unit

1. Fourier-transforms the field (a lens), multiplies by a phase mask of ``mask_px`` x ``mask_px`` samples
   that is also the Fourier-plane aperture (light outside it is lost),
2. transforms back (second lens), multiplies by the image-plane support (the object region; light outside
   is lost),
3. applies a Kerr layer u -> u exp(i w |u|^2) (lossless).

The output is the intensity after the last unit. In a 4f system of focal length f, a spatial frequency nu
sits at x = lambda f nu in the Fourier plane, so the mask's width in samples, times the frequency pitch
1 / (N d), is the network's bandwidth: the finest resolution it can output is 1 / (mask_px / (N d)).

The input filter follows the authors' code: a disc of radius f0 = r / (lambda z) built on the object's
own frequency grid (pitch 1 / (n_obj d)) and zero-padded onto the full grid (pitch 1 / (N d)); its
effective radius is therefore f0 n_obj / N. The paper quotes the cutoff as the width 2 k_max / (N d) with
k_max the highest passed on-axis sample: 19,345.2 1/m for the paper's set-up (tested).

Geometry follows the authors' code (matankleiner/All-Optical-SR): 28x28 objects upsampled to ``obj_px`` at
``pixel_um``, padded by ``pad`` on each side; input NA disc from (radius_arg, out_dist, wavelength); Fourier
masks of ``mask_px`` samples; Kerr weight 4. The tiny scale keeps the physical sizes (a 448 um object, the
same input cutoff, the same 12 um network limit) at half the sampling and fewer units, images and epochs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from optlib import budget, data
from optlib.elements import Aperture, FourF, Kerr, PhaseMask
from optlib.field import Field
from optlib.grid import Grid
from optlib.propagation import asm
from optlib.sampling import plan_propagation

from . import check_names

#: focal length (m) of the 4f lenses: it sets only the physical size of the Fourier plane, not the maths
FOCAL_LENGTH = 1e-2


def authors_input_radius(radius_arg: float, out_dist: float, wavelength: float, obj_px: int, grid_px: int,
                         pixel: float) -> float:
    """Effective input-disc radius (1/m) of the authors' code: f0 = (out_dist / radius_arg) / (lambda out_dist)
    on the object grid, rescaled by obj_px / grid_px by the zero-padding onto the full grid."""
    f0 = (out_dist / radius_arg) / (wavelength * out_dist)
    return f0 * obj_px / grid_px


def cutoff_width(grid: Grid, f_radius: float) -> float:
    """The paper's cutoff (1/m): twice the highest on-axis frequency that a disc of radius ``f_radius``
    passes on ``grid``. Its inverse is the resolution quoted in the paper (51.7 um for the paper's set-up)."""
    df = 1.0 / grid.extent[1]
    k = math.ceil(f_radius / df) - 1  # strict inequality k df < f_radius
    return 2 * k * df


@dataclass
class AOSRSetup:
    """Geometry of an AOSRNN experiment.

    Args:
        obj_px: object size in samples (28x28 images upsampled by nearest neighbour to this size).
        pad: zero padding on each side (samples); the grid is obj_px + 2 pad.
        pixel: sample pitch in metres (the paper: 4 um).
        input_radius: radius (1/m) of the input NA disc (see :func:`authors_input_radius`).
        mask_px: side of each unit's Fourier mask in samples (the paper: 112).
        n_units: number of 4f units (the paper: 10).
        kerr_weight: Kerr phase per unit intensity (rad; the paper: 4).
        wavelength: design wavelength (m), used for physical focal-plane sizes only.
    """

    obj_px: int = 112
    pad: int = 112
    pixel: float = 4e-6
    input_radius: float = 10101.0
    mask_px: int = 112
    n_units: int = 10
    kerr_weight: float = 4.0
    wavelength: float = 550e-9

    @property
    def n(self) -> int:
        return self.obj_px + 2 * self.pad

    @property
    def grid(self) -> Grid:
        return Grid(self.n, self.pixel)

    @property
    def input_cutoff(self) -> float:
        """The paper's input cutoff f_c (1/m)."""
        return cutoff_width(self.grid, self.input_radius)

    @property
    def network_cutoff(self) -> float:
        """Bandwidth of the units' Fourier masks (1/m): mask_px / (N d)."""
        return self.mask_px / self.grid.extent[1]

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """The object region (..., obj_px, obj_px)."""
        return x[..., self.pad:self.pad + self.obj_px, self.pad:self.pad + self.obj_px]


def upsample_objects(images: torch.Tensor, setup: AOSRSetup) -> torch.Tensor:
    """uint8 (N, h, w) images -> intensities in [0, 1], nearest-upsampled to obj_px and zero-padded: (N, G, G)."""
    x = images.to(torch.float32)[:, None] / 255.0
    x = F.interpolate(x, size=(setup.obj_px, setup.obj_px), mode="nearest")
    return F.pad(x, (setup.pad,) * 4)[:, 0]


def square(n: int, size: int) -> torch.Tensor:
    """A centred ``size`` x ``size`` square of ones on an ``n`` x ``n`` grid (offset n//2 - size//2)."""
    m = torch.zeros(n, n)
    s = n // 2 - size // 2
    m[s:s + size, s:s + size] = 1
    return m


def NALowPass(grid: Grid, radius: float, wavelength: float = 550e-9) -> FourF:
    """Coherent imaging with a small NA: a 4f system whose Fourier stop passes spatial frequencies
    |f| < ``radius`` (1/m) on ``grid``."""
    fy, fx = grid.freqs(shifted=True)
    return FourF(grid, wavelength, FOCAL_LENGTH, stop=((fx ** 2 + fy ** 2) < radius ** 2).to(torch.float32),
                 trainable=False)


def support(setup: "AOSRSetup") -> torch.Tensor:
    """The image-plane support: ones on the object region, zeros on the padding."""
    return F.pad(torch.ones(setup.obj_px, setup.obj_px), (setup.pad,) * 4)


class AOSRUnit(nn.Sequential):
    """One 4f unit: a phase mask in its square Fourier aperture, the image-plane support, a Kerr layer
    (the last omitted for the linear network)."""

    def __init__(self, setup: "AOSRSetup", nonlinear: bool = True, mask_px: Optional[int] = None,
                 generator: Optional[torch.Generator] = None, init: str = "random"):
        if init not in ("random", "identity"):
            raise ValueError(f"init must be 'random' (the paper's N(0,1) phases) or 'identity' (zero phases), got {init!r}")
        n = setup.n
        mpx = mask_px or setup.mask_px
        if mpx > n:
            raise ValueError(f"mask of {mpx} samples does not fit the {n}-sample grid")
        ph = torch.randn(mpx, mpx, generator=generator)
        layers = [FourF(setup.grid, setup.wavelength, FOCAL_LENGTH, stop=square(n, mpx),
                        phase=ph if init == "random" else torch.zeros_like(ph)),
                  Aperture(support(setup))]
        if nonlinear:
            layers.append(Kerr(setup.kerr_weight))
        super().__init__(*layers)
        self.mask_px = mpx


class AOSRNN(nn.Module):
    """A chain of :class:`AOSRUnit` (``nonlinear=False`` gives the paper's linear network): a Field (or its complex
    samples on the set-up's grid) in, the output intensity (..., G, G) out.

    ``init="random"`` draws the mask phases from N(0, 1) as the authors' code does; ``"identity"`` starts from
    zero phases (each unit then passes its input), which converges far faster on a small compute budget.
    """

    def __init__(self, setup: "AOSRSetup", nonlinear: bool = True, mask_px: Optional[int] = None, seed: int = 0,
                 init: str = "random"):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.setup = setup
        self.units = nn.ModuleList(AOSRUnit(setup, nonlinear, mask_px, g, init) for _ in range(setup.n_units))

    def field(self, u) -> Field:
        return u if isinstance(u, Field) else Field(u, self.setup.grid, self.setup.wavelength)

    def forward(self, u) -> torch.Tensor:
        f = self.field(u)
        for unit in self.units:
            f = unit(f)
        return f.intensity()


class PolyAOSRNN(AOSRNN):
    """AOSRNN under several wavelengths at once (Supplementary Note 10 of the paper): the input field has one
    channel per wavelength, ``(B, C, G, G)``, mutually incoherent. Each 4f unit's mask is physical, designed on
    the Fourier grid of ``design_wavelength``, so each wavelength sees it rescaled in frequency
    (:class:`~optlib.elements.FourF`); the Kerr layer responds to the total intensity of all wavelengths. The
    output is the total intensity."""

    def __init__(self, setup: "AOSRSetup", wavelengths, design_wavelength: float = 550e-9, seed: int = 0,
                 init: str = "random"):
        import dataclasses
        super().__init__(dataclasses.replace(setup, wavelength=design_wavelength), nonlinear=True, seed=seed,
                         init=init)
        self.wavelengths = [float(w) for w in wavelengths]

    def field(self, u) -> Field:
        return u if isinstance(u, Field) else Field(u, self.setup.grid, torch.tensor(self.wavelengths,
                                                                                    dtype=torch.float64))

    def forward(self, u) -> torch.Tensor:
        return super().forward(u).sum(dim=-3)


class D2NN(nn.Module):
    """A diffractive network without 4f units (Lin et al. 2018 style): phase layers of the object size in the
    image plane, free-space propagation by ``spacing`` metres between them (band-limited angular spectrum on
    the full grid, padding 1: the grid's zero border is the guard band), and a Kerr layer after each."""

    def __init__(self, setup: "AOSRSetup", spacing: float, seed: int = 0, nonlinear: bool = True,
                 init: str = "random"):
        super().__init__()
        self.setup, self.spacing = setup, float(spacing)
        plan_propagation(setup.grid, setup.wavelength, spacing, padding=1.0).check("asm")
        g = torch.Generator().manual_seed(seed)
        scale = 1.0 if init == "random" else 0.0
        self.layers = nn.ModuleList(
            nn.Sequential(PhaseMask(torch.randn(setup.obj_px, setup.obj_px, generator=g) * scale, support(setup)),
                          *([Kerr(setup.kerr_weight)] if nonlinear else []))
            for _ in range(setup.n_units))

    def forward(self, u) -> torch.Tensor:
        f = u if isinstance(u, Field) else Field(u, self.setup.grid, self.setup.wavelength)
        for layer in self.layers:
            f = layer(asm(f, self.spacing, padding=1.0, check=False))
        return f.intensity()


def prepare_inputs(objects: torch.Tensor, lowpass: FourF, p: float = 1.0) -> torch.Tensor:
    """Low-resolution input fields (complex samples) for objects (intensities with max 1) scaled to peak
    intensity ``p``, on the objects' device."""
    return lowpass.to(objects.device)(Field(torch.sqrt(objects * p).to(torch.complex64), lowpass.grid,
                                            lowpass.wavelength)).u


PAPER_PIXEL = 4e-6
PAPER_MICRO_BATCH = 10


def sr_loss(out: torch.Tensor, obj: torch.Tensor, setup: AOSRSetup, gamma: float = 0.0):
    """Eq. 2/3 of the paper on the object region.

    Distortion: mean L1 between the output normalised to its maximum and the object (max 1); the paper's
    scaling by the peak intensity p and by 1/p cancel, so it does not depend on p. Energy: ``gamma`` times
    the output power summed over a micro-batch of 10 images, as in the authors' code, measured in units of
    the paper's 4 um pixel area so that one gamma means the same on any grid.
    """
    o = setup.crop(out)
    t = setup.crop(obj)
    peak = o.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    loss = (o / peak - t).abs().mean()
    if gamma:
        power = o.sum(dim=(-2, -1)).mean() * PAPER_MICRO_BATCH * (setup.pixel / PAPER_PIXEL) ** 2
        loss = loss - gamma * power
    return loss


def normalised(out: torch.Tensor, setup: AOSRSetup) -> torch.Tensor:
    """Object-region output divided by its per-image maximum (the paper's evaluation normalisation)."""
    o = setup.crop(out)
    return o / o.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)


def ledger(net: AOSRNN, u):
    """Run ``net`` unit by unit and record, per unit, the input power, the power its Fourier aperture removes, the
    power its image-plane support removes (masks and Kerr layers are lossless), and the spectrum in its Fourier
    plane (for figures). Powers are sums of |u|^2 over samples, per image. Returns (entries, output intensity)."""
    p = lambda t: (t.real ** 2 + t.imag ** 2).sum(dim=(-2, -1))  # noqa: E731
    f = net.field(u)
    out = []
    for unit in net.units:
        four, sup = unit[0], unit[1]
        a = four(f)
        b = sup(a)
        out.append({"in": p(f.u), "fourier_loss": p(f.u) - p(a.u), "support_loss": p(a.u) - p(b.u),
                    "spectrum": four.spectrum(f)})
        f = unit[2](b) if len(unit) > 2 else b
    return out, f.intensity()


def energy_ledger(entries: List[Dict]) -> Dict[str, torch.Tensor]:
    """Totals of a :func:`ledger`: input power and power removed by Fourier apertures and supports."""
    return {"in": entries[0]["in"], "fourier_loss": sum(e["fourier_loss"] for e in entries),
            "support_loss": sum(e["support_loss"] for e in entries)}


@torch.no_grad()
def evaluate_sr(net: nn.Module, inputs: torch.Tensor, objects: torch.Tensor, setup: AOSRSetup, p: float = 1.0,
                batch: int = 200, convention: str = "authors") -> Dict[str, float]:
    """Mean PSNR and SSIM of the max-normalised output and of the input, in ``convention`` (see
    :data:`METRIC_CONVENTIONS`), and the energy fraction (output power / input power on the object region) at
    peak intensity ``p``."""
    res = {"psnr": 0.0, "ssim": 0.0, "psnr_in": 0.0, "ssim_in": 0.0}
    e_out = e_in = 0.0
    n = inputs.shape[0]
    _check_convention(convention)
    # the authors' PSNR is per test batch: evaluate whole test batches at a time
    step = max(AUTHORS_TEST_BATCH, batch // AUTHORS_TEST_BATCH * AUTHORS_TEST_BATCH) if convention == "authors" else batch
    for s in range(0, n, step):
        u = inputs[s:s + step] * math.sqrt(p)
        out = net(u)
        t = setup.crop(objects[s:s + step])
        o = normalised(out, setup)
        i_in = u.real ** 2 + u.imag ** 2
        if i_in.dim() == out.dim() + 1:  # several wavelengths: incoherent sum
            i_in = i_in.sum(dim=1)
        lr = normalised(i_in, setup)
        for key, img in (("", o), ("_in", lr)):
            res["psnr" + key] += _psnr_sum(img, t, convention)
            res["ssim" + key] += _ssim_sum(img, t, convention)
        e_out += float(setup.crop(out).sum())
        e_in += float(setup.crop(i_in).sum())
    res["psnr"] /= _psnr_count(n, convention)
    res["psnr_in"] /= _psnr_count(n, convention)
    res["ssim"] /= n
    res["ssim_in"] /= n
    res["energy"] = e_out / e_in
    return res


#: how a chapter's PSNR and SSIM are averaged: ``"authors"``, the authors' code (PSNR = 10 log10(1/MSE) of each
#: test batch of :data:`AUTHORS_TEST_BATCH` images, averaged over the batches; SSIM as torchmetrics 1.x computes
#: it: reflect padding, every window of the image); ``"per_image"``, this book's (the mean of per-image PSNRs,
#: which does not depend on how the test set is batched, and SSIM over the windows inside the image)
METRIC_CONVENTIONS = ("authors", "per_image")
#: the authors' data-loader batch (10 images; four of them are accumulated into a training step of 40), taken as
#: their test batch: the notes recovered from their code do not record the test batch separately
AUTHORS_TEST_BATCH = 10


def _check_convention(convention: str) -> None:
    if convention not in METRIC_CONVENTIONS:
        raise ValueError(f"convention must be one of {METRIC_CONVENTIONS}, got {convention!r}")


def _psnr_count(n: int, convention: str) -> int:
    """What the PSNR sums are divided by: images, or the authors' test batches."""
    return math.ceil(n / AUTHORS_TEST_BATCH) if convention == "authors" else n


def _psnr_sum(img: torch.Tensor, target: torch.Tensor, convention: str) -> float:
    """The sum of a chunk's PSNRs in ``convention``: over its images (``per_image``) or over its test batches
    (``authors``); :func:`_psnr_count` gives the divisor."""
    from optlib.metrics import psnr
    if convention == "authors":
        return sum(float(psnr(img[i:i + AUTHORS_TEST_BATCH], target[i:i + AUTHORS_TEST_BATCH]))
                   for i in range(0, img.shape[0], AUTHORS_TEST_BATCH))
    return float(psnr(img, target, dim=(-2, -1)).sum())


def _ssim_sum(img: torch.Tensor, target: torch.Tensor, convention: str) -> float:
    """The sum of a chunk's per-image SSIMs in ``convention`` (torchmetrics' reflect padding for ``authors``)."""
    from optlib.metrics import ssim
    return float(ssim(img, target, reduction="none", padding="reflect" if convention == "authors" else "valid").sum())


@torch.no_grad()
def linear_psnr_curve(objects: torch.Tensor, setup: AOSRSetup, k_max: Optional[int] = None,
                      convention: str = "authors"):
    """PSNR of NA-limited coherent images against the objects for disc radii (k + frac) / (N d), k = 1..k_max,
    where frac is the fractional part of the input disc's radius in samples (so k = k_input reproduces the
    input exactly). Returns (cutoff widths 2 k / (N d) in 1/m, mean PSNR in dB, averaged in ``convention``)."""
    _check_convention(convention)
    df = 1.0 / setup.grid.extent[1]
    frac = setup.input_radius / df - math.floor(setup.input_radius / df)
    frac = frac if frac > 0 else 1.0
    k_max = k_max or setup.mask_px // 2
    t = setup.crop(objects)
    widths, values = [], []
    for k in range(1, k_max + 1):
        u = prepare_inputs(objects, NALowPass(setup.grid, (k + frac) * df))
        img = normalised(u.real ** 2 + u.imag ** 2, setup)
        values.append(_psnr_sum(img, t, convention) / _psnr_count(t.shape[0], convention))
        widths.append(2 * k * df)
    return widths, values


def effective_resolution(psnr_value: float, curve) -> float:
    """Resolution (m) of the NA-limited linear system with the same mean PSNR (Supplementary Note 3):
    the inverse cutoff width, interpolated on the monotone envelope of :func:`linear_psnr_curve`."""
    widths, values = curve
    env = []
    best = -math.inf
    for v in values:
        best = max(best, v)
        env.append(best)
    if psnr_value <= env[0]:
        return 1.0 / widths[0]
    for i in range(1, len(env)):
        if env[i] >= psnr_value:
            if env[i] == env[i - 1]:
                return 1.0 / widths[i]
            a = (psnr_value - env[i - 1]) / (env[i] - env[i - 1])
            return 1.0 / (widths[i - 1] + a * (widths[i] - widths[i - 1]))
    return 1.0 / widths[-1]


def intensity_width(ps, psnrs, psnr_in: float) -> float:
    """Width of the range of peak intensities p over which the output beats the input (the paper's Fig. 5
    'width'), around the best p, with crossings interpolated linearly."""
    i0 = max(range(len(psnrs)), key=lambda i: psnrs[i])
    if psnrs[i0] <= psnr_in:
        return 0.0
    lo, hi = ps[0], ps[-1]
    for i in range(i0, 0, -1):
        if psnrs[i - 1] <= psnr_in:
            a = (psnrs[i] - psnr_in) / (psnrs[i] - psnrs[i - 1])
            lo = ps[i] - a * (ps[i] - ps[i - 1])
            break
    for i in range(i0, len(ps) - 1):
        if psnrs[i + 1] <= psnr_in:
            a = (psnrs[i] - psnr_in) / (psnrs[i] - psnrs[i + 1])
            hi = ps[i] + a * (ps[i + 1] - ps[i])
            break
    return hi - lo


def detector_masks(setup: AOSRSetup, n_classes: int = 10) -> torch.Tensor:
    """Ten square detectors in the object region (rows of 3, 4, 3) for classification with the same
    architecture: class score = power on each detector. Returns (n_classes, G, G) 0/1 masks."""
    n, o = setup.n, setup.obj_px
    size = max(2, o // 7)
    rows = [3, 4, 3]
    masks = []
    for r, count in enumerate(rows):
        cy = setup.pad + int((r + 0.5) * o / len(rows))
        for c in range(count):
            cx = setup.pad + int((c + 0.5) * o / count)
            m = torch.zeros(n, n)
            m[cy - size // 2:cy - size // 2 + size, cx - size // 2:cx - size // 2 + size] = 1
            masks.append(m)
    return torch.stack(masks[:n_classes])


def class_logits(out: torch.Tensor, masks: torch.Tensor, temperature: float = 20.0) -> torch.Tensor:
    """Detector powers normalised to their sum, times ``temperature``: logits for cross-entropy."""
    e = torch.einsum("bhw,khw->bk", out, masks)
    return temperature * e / e.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def prepare_poly_inputs(objects: torch.Tensor, setup: AOSRSetup, wavelengths, design_wavelength: float = 550e-9):
    """Fields (N, C, G, G): the object's intensity split equally over C wavelengths, each imaged with the same
    NA, so its cutoff radius scales as design_wavelength / lambda."""
    chans = []
    for wl in wavelengths:
        lp = NALowPass(setup.grid, setup.input_radius * design_wavelength / float(wl))
        chans.append(prepare_inputs(objects / len(wavelengths), lp))
    return torch.stack(chans, dim=1)


# --- the chapter's set-ups, data and dry run -------------------------------------------------------------
PARAMS = ("scale", "seed", "device", "obj_px", "pad", "pixel_um", "mask_px", "n_units", "kerr_weight", "radius_arg",
          "n_train", "n_test", "epochs", "batch", "lr", "lr_step_epochs", "gammas", "ir_max", "p_eval", "third_dataset",
          "d2nn_spacing_mm", "classifier_epochs", "checkpoint_dir", "init", "ir_draw", "ir_epochs", "poly_epochs",
          "lr_step_unit", "data_order", "micro_batch", "standard_gamma")

DATASETS = ("mnist", "fashion_mnist", "quickdraw", "imagenette_gray")
LABELS = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "quickdraw": "Quick, Draw!",
          "imagenette_gray": "Imagenette (grey, substitute for Quick, Draw!)"}
#: peak intensities the intensity-robust networks draw from: the authors' list (4, 3, 2, 1, 0.75, 0.5, 0.25, 0.1)
#: stops at 4, so the paper's "p <= 8" network cannot be built from it; 6 and 8 are this book's additions
IR_INTENSITIES = (8.0, 6.0, 4.0, 3.0, 2.0, 1.0, 0.75, 0.5, 0.25, 0.1)
#: the authors' own list, for the record
AUTHORS_IR_INTENSITIES = (4.0, 3.0, 2.0, 1.0, 0.75, 0.5, 0.25, 0.1)


def ir_intensities(p_max: float):
    """The peak intensities an IR network with maximum ``p_max`` trains on: every listed value up to it. Raises
    ``ValueError`` unless ``p_max`` itself is listed (else a "p <= 8" network would silently be a "p <= 4" one)."""
    out = [p for p in IR_INTENSITIES if p <= p_max]
    if not out or max(out) != p_max:
        raise ValueError(f"ir_max {p_max:g} is not one of the training intensities {list(IR_INTENSITIES)}: the network "
                         f"would train up to {max(out, default=0):g} only; use a listed value")
    return out


def check(p: Dict):
    check_names("kleiner2025", p, PARAMS)
    if p["third_dataset"] not in ("quickdraw", "imagenette_gray"):
        raise ValueError("third_dataset must be 'quickdraw' (the paper's) or 'imagenette_gray' (substitute)")
    for m in p["ir_max"]:
        ir_intensities(m)
    if p["lr_step_unit"] not in ("epoch", "step"):
        raise ValueError(f"lr_step_unit must be 'epoch' or 'step', got {p['lr_step_unit']!r}")
    if p["data_order"] not in ("shuffle", "fixed"):
        raise ValueError(f"data_order must be 'shuffle' or 'fixed', got {p['data_order']!r}")
    mb = p["micro_batch"]
    if isinstance(mb, bool) or not isinstance(mb, int) or mb < 0 or (mb and p["batch"] % mb):
        raise ValueError(f"micro_batch must be 0 (none) or a positive integer dividing batch ({p['batch']}), got {mb!r}")
    g0 = p["standard_gamma"]
    if isinstance(g0, bool) or not isinstance(g0, (int, float)) or not math.isfinite(g0) or g0 < 0:
        raise ValueError(f"standard_gamma must be a finite number >= 0, got {g0!r}")


def setup(p: Dict, mask_px: int = None) -> "AOSRSetup":
    check(p)
    pixel = p["pixel_um"] * 1e-6
    # the authors' input disc: computed on the paper's 112-sample object grid at 4 um, padded to 336
    radius = authors_input_radius(p["radius_arg"], 1e-2, 550e-9, 112, 336, 4e-6)
    return AOSRSetup(obj_px=p["obj_px"], pad=p["pad"], pixel=pixel, input_radius=radius,
                          mask_px=mask_px or p["mask_px"], n_units=p["n_units"], kerr_weight=p["kerr_weight"])


def paper_setup(radius_arg: float = 60) -> "AOSRSetup":
    """The paper's full set-up (object 112 px at 4 um in a 336 grid)."""
    return AOSRSetup(input_radius=authors_input_radius(radius_arg, 1e-2, 550e-9, 112, 336, 4e-6))


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
        x, y = data.load_imagenette("val", n_per_class=start + per, size=28, download=True)  # pinned files
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
    per_step = budget.fft_flops((n, n), fwd_bwd_ffts * p["batch"])
    steps = p["epochs"] * max(1, p["n_train"] // p["batch"])
    mem = budget.fft_bytes((n, n), torch.complex64, batch=p["micro_batch"] or p["batch"],  # one graph at a time
                           temporaries=6 * p["n_units"])
    nets = 3 + len(p["gammas"]) + 1 + len(p["ir_max"]) + 1 + 3
    ok_mask = p["mask_px"] <= n
    ok_cut = s.input_cutoff < s.network_cutoff
    rows.append(budget.step(f"one AOSRNN ({p['n_units']} units, grid {n})", ok_mask and ok_cut, mem, fft=per_step,
                            steps=steps, note="required", paper="7 h per network (GTX 2080 Ti)"))
    rows.append(budget.step(f"all {nets} networks", True, mem, fft=per_step, steps=steps * nets))
    return {"rows": rows, "peak_bytes": mem, "fft_seconds": budget.seconds(rows[-1]),
            "all_required_valid": budget.required_valid(rows),
            "input_cutoff": s.input_cutoff, "network_cutoff": s.network_cutoff}


def dry_run_report(d: Dict) -> str:
    lines = [f"input cutoff {d['input_cutoff']:.1f} 1/m ({1e6 / d['input_cutoff']:.1f} um), network limit "
             f"{d['network_cutoff']:.1f} 1/m ({1e6 / d['network_cutoff']:.1f} um)"]
    lines += budget.format_rows(d["rows"], 40)
    return "\n".join(lines)
