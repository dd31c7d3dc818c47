"""All-optical super-resolution networks (Kleiner, Michaeli & Michaeli, Nanophotonics 2025) in SI units.

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
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from .. import fft
from ..elements.lens import fft_c, ifft_c
from ..grid import Grid
from ..propagation import transfer_function


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


class NALowPass(nn.Module):
    """Coherent imaging with a small NA: passes spatial frequencies |f| < radius (1/m) on ``grid``."""

    def __init__(self, grid: Grid, radius: float):
        super().__init__()
        fy, fx = grid.freqs(shifted=True)
        self.register_buffer("disc", ((fx ** 2 + fy ** 2) < radius ** 2).to(torch.float32))
        self.radius = float(radius)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return ifft_c(fft_c(u) * self.disc)


def prepare_inputs(objects: torch.Tensor, lowpass: NALowPass, p: float = 1.0) -> torch.Tensor:
    """Low-resolution input fields for objects (intensities with max 1) scaled to peak intensity ``p``."""
    return lowpass(torch.sqrt(objects * p).to(torch.complex64))


def _square(n: int, size: int) -> torch.Tensor:
    m = torch.zeros(n, n)
    s = n // 2 - size // 2
    m[s:s + size, s:s + size] = 1
    return m


class AOSRUnit(nn.Module):
    """One 4f unit: Fourier phase mask with its square aperture, image-plane support, Kerr layer."""

    def __init__(self, setup: AOSRSetup, nonlinear: bool = True, mask_px: Optional[int] = None,
                 generator: Optional[torch.Generator] = None, init: str = "random"):
        super().__init__()
        if init not in ("random", "identity"):
            raise ValueError(f"init must be 'random' (the paper's N(0,1) phases) or 'identity' (zero phases), got {init!r}")
        n = setup.n
        mpx = mask_px or setup.mask_px
        if mpx > n:
            raise ValueError(f"mask of {mpx} samples does not fit the {n}-sample grid")
        self.mask_px = mpx
        ph = torch.randn(mpx, mpx, generator=generator)
        self.phase = nn.Parameter(ph if init == "random" else torch.zeros_like(ph))
        self.register_buffer("aperture", _square(n, mpx))
        self.register_buffer("support", F.pad(torch.ones(setup.obj_px, setup.obj_px), (setup.pad,) * 4))
        self.kerr_weight = setup.kerr_weight if nonlinear else 0.0
        self.off = n // 2 - mpx // 2

    def pupil(self) -> torch.Tensor:
        n = self.aperture.shape[-1]
        ph = F.pad(self.phase, (self.off, n - self.off - self.mask_px, self.off, n - self.off - self.mask_px))
        return torch.polar(self.aperture, ph)

    def forward(self, u: torch.Tensor, ledger: Optional[List[Dict]] = None) -> torch.Tensor:
        U = fft_c(u)
        V = U * self.pupil().to(U.dtype)
        v = ifft_c(V)
        w = v * self.support
        if ledger is not None:
            p = lambda t: (t.real ** 2 + t.imag ** 2).sum(dim=(-2, -1))  # noqa: E731
            ledger.append({"in": p(u), "fourier_loss": p(U) - p(V), "support_loss": p(v) - p(w), "spectrum": U})
        if self.kerr_weight:
            I = w.real ** 2 + w.imag ** 2
            w = w * torch.polar(torch.ones_like(I), self.kerr_weight * I)
        return w


class AOSRNN(nn.Module):
    """A chain of :class:`AOSRUnit` (``nonlinear=False`` gives the paper's linear network).

    ``init="random"`` draws the mask phases from N(0, 1) as the authors' code does; ``"identity"`` starts from
    zero phases (each unit then passes its input), which converges far faster on a small compute budget.
    """

    def __init__(self, setup: AOSRSetup, nonlinear: bool = True, mask_px: Optional[int] = None, seed: int = 0,
                 init: str = "random"):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.setup = setup
        self.units = nn.ModuleList(AOSRUnit(setup, nonlinear, mask_px, g, init) for _ in range(setup.n_units))

    def forward(self, u: torch.Tensor, ledger: Optional[List[Dict]] = None) -> torch.Tensor:
        """Field in (..., G, G) complex -> output intensity (..., G, G)."""
        for unit in self.units:
            u = unit(u, ledger)
        return u.real ** 2 + u.imag ** 2


class D2NN(nn.Module):
    """A diffractive network without 4f units (Lin et al. 2018 style): phase layers of the object size in the
    image plane, free-space propagation by ``spacing`` metres between them (band-limited angular spectrum on
    the full grid, padding 1: the grid's zero border is the guard band), and a Kerr layer after each."""

    def __init__(self, setup: AOSRSetup, spacing: float, seed: int = 0, nonlinear: bool = True,
                 init: str = "random"):
        super().__init__()
        from ..sampling import plan_propagation
        self.setup, self.spacing = setup, float(spacing)
        plan_propagation(setup.grid, setup.wavelength, spacing, padding=1.0).check("asm")
        g = torch.Generator().manual_seed(seed)
        scale = 1.0 if init == "random" else 0.0
        self.phases = nn.ParameterList(nn.Parameter(torch.randn(setup.obj_px, setup.obj_px, generator=g) * scale)
                                       for _ in range(setup.n_units))
        wl = torch.tensor(setup.wavelength, dtype=torch.float64)
        H = transfer_function("asm", (setup.n, setup.n), setup.grid.pitch, wl, spacing, "cpu", torch.complex64)
        self.register_buffer("H", H)
        self.register_buffer("support", F.pad(torch.ones(setup.obj_px, setup.obj_px), (setup.pad,) * 4))
        self.kerr_weight = setup.kerr_weight if nonlinear else 0.0

    def forward(self, u: torch.Tensor, ledger=None) -> torch.Tensor:
        for ph in self.phases:
            u = fft.ifft2(fft.fft2(u) * self.H, norm="forward")  # H carries the 1/N
            u = u * torch.polar(self.support, F.pad(ph, (self.setup.pad,) * 4))
            if self.kerr_weight:
                I = u.real ** 2 + u.imag ** 2
                u = u * torch.polar(torch.ones_like(I), self.kerr_weight * I)
        return u.real ** 2 + u.imag ** 2


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


def energy_ledger(ledger: List[Dict]) -> Dict[str, torch.Tensor]:
    """Totals of a forward pass's ledger: input power and power removed by Fourier apertures and supports."""
    return {"in": ledger[0]["in"], "fourier_loss": sum(e["fourier_loss"] for e in ledger),
            "support_loss": sum(e["support_loss"] for e in ledger)}


def train_sr(net: nn.Module, inputs: torch.Tensor, objects: torch.Tensor, setup: AOSRSetup, epochs: int,
             batch: int = 32, lr: float = 0.1, gamma: float = 0.0, intensities=None, seed: int = 0,
             step_epochs: Optional[int] = None, checkpoint: Optional[str] = None, progress: bool = True,
             desc: str = "AOSRNN", ir_draw: str = "epoch"):
    """Train ``net`` with Adam and a StepLR schedule (halving every ``step_epochs``, default epochs // 4).

    ``inputs`` are the low-resolution fields at peak intensity 1; with ``intensities`` (a list of p values)
    one p is drawn per epoch (the paper; ``ir_draw="batch"``: per batch) and the fields are scaled by sqrt(p)
    (intensity-robust training).
    Resumable through ``checkpoint`` (see :func:`optlib.train.fit`).
    """
    from ..train import fit
    if ir_draw not in ("epoch", "batch"):
        raise ValueError(f"ir_draw must be 'epoch' or 'batch', got {ir_draw!r}")
    g = torch.Generator().manual_seed(seed)
    n = inputs.shape[0]
    steps_per_epoch = max(1, n // batch)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    step_epochs = step_epochs or max(1, epochs // 4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_epochs * steps_per_epoch, 0.5)
    state = {"perm": None, "p": 1.0}

    def step(i):
        e, j = divmod(i, steps_per_epoch)
        if j == 0:
            state["perm"] = torch.randperm(n, generator=g)
        if intensities and (j == 0 or ir_draw == "batch"):
            state["p"] = float(intensities[int(torch.randint(len(intensities), (1,), generator=g))])
        idx = state["perm"][j * batch:(j + 1) * batch]
        out = net(inputs[idx] * math.sqrt(state["p"]))
        return sr_loss(out, objects[idx], setup, gamma)

    return fit(step, net, opt, epochs * steps_per_epoch, sched, checkpoint=checkpoint, progress=progress,
               desc=desc, generator=g)


@torch.no_grad()
def evaluate_sr(net: nn.Module, inputs: torch.Tensor, objects: torch.Tensor, setup: AOSRSetup, p: float = 1.0,
                batch: int = 200) -> Dict[str, float]:
    """Mean per-image PSNR and SSIM of the max-normalised output and of the input, and the energy fraction
    (output power / input power on the object region) at peak intensity ``p``."""
    from ..metrics import psnr, ssim
    res = {"psnr": 0.0, "ssim": 0.0, "psnr_in": 0.0, "ssim_in": 0.0}
    e_out = e_in = 0.0
    n = inputs.shape[0]
    for s in range(0, n, batch):
        u = inputs[s:s + batch] * math.sqrt(p)
        out = net(u)
        t = setup.crop(objects[s:s + batch])
        o = normalised(out, setup)
        i_in = u.real ** 2 + u.imag ** 2
        if i_in.dim() == out.dim() + 1:  # several wavelengths: incoherent sum
            i_in = i_in.sum(dim=1)
        lr = normalised(i_in, setup)
        res["psnr"] += float(psnr(o, t, dim=(-2, -1)).sum())
        res["psnr_in"] += float(psnr(lr, t, dim=(-2, -1)).sum())
        res["ssim"] += float(ssim(o, t, reduction="none").sum())
        res["ssim_in"] += float(ssim(lr, t, reduction="none").sum())
        e_out += float(setup.crop(out).sum())
        e_in += float(setup.crop(i_in).sum())
    res = {k: v / n for k, v in res.items()}
    res["energy"] = e_out / e_in
    return res


@torch.no_grad()
def linear_psnr_curve(objects: torch.Tensor, setup: AOSRSetup, k_max: Optional[int] = None):
    """PSNR of NA-limited coherent images against the objects for disc radii (k + frac) / (N d), k = 1..k_max,
    where frac is the fractional part of the input disc's radius in samples (so k = k_input reproduces the
    input exactly). Returns (cutoff widths 2 k / (N d) in 1/m, mean PSNR in dB)."""
    from ..metrics import psnr
    df = 1.0 / setup.grid.extent[1]
    frac = setup.input_radius / df - math.floor(setup.input_radius / df)
    frac = frac if frac > 0 else 1.0
    k_max = k_max or setup.mask_px // 2
    t = setup.crop(objects)
    widths, values = [], []
    for k in range(1, k_max + 1):
        lp = NALowPass(setup.grid, (k + frac) * df)
        u = lp(torch.sqrt(objects).to(torch.complex64))
        values.append(float(psnr(normalised(u.real ** 2 + u.imag ** 2, setup), t, dim=(-2, -1)).mean()))
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


class PolyAOSRNN(nn.Module):
    """AOSRNN under several wavelengths at once (Supplementary Note 10 of the paper).

    The input field has one channel per wavelength, ``(B, C, G, G)``, mutually incoherent. With fixed 4f
    lenses, spatial frequency nu of wavelength lambda reaches the Fourier plane at x = lambda f nu, so the
    physical mask (pixelated, designed on the grid of ``design_wavelength``) is seen by wavelength lambda
    rescaled by lambda / lambda_0 in frequency (nearest-neighbour resampling, zero outside). The Kerr layer
    responds to the total intensity of all wavelengths. The output is the total intensity.
    """

    def __init__(self, setup: AOSRSetup, wavelengths, design_wavelength: float = 550e-9, seed: int = 0,
                 init: str = "random"):
        super().__init__()
        self.setup = setup
        self.base = AOSRNN(setup, nonlinear=True, seed=seed, init=init)
        n = setup.n
        k = torch.arange(n, dtype=torch.float64) - n // 2
        grids = []
        for wl in wavelengths:
            src = k * (float(wl) / design_wavelength) + n // 2  # source sample index on the design grid
            norm = ((2 * src + 1) / n - 1).to(torch.float32)
            gy, gx = torch.meshgrid(norm, norm, indexing="ij")
            grids.append(torch.stack([gx, gy], dim=-1))
        self.register_buffer("grids", torch.stack(grids))  # (C, G, G, 2)
        self.wavelengths = [float(w) for w in wavelengths]

    def pupils(self, unit: AOSRUnit) -> torch.Tensor:
        p = unit.pupil()
        re_im = torch.stack([p.real, p.imag])[None].expand(self.grids.shape[0], 2, *p.shape)
        s = F.grid_sample(re_im.to(self.grids.dtype), self.grids, mode="nearest", padding_mode="zeros",
                          align_corners=False)
        return torch.complex(s[:, 0], s[:, 1])

    def forward(self, u: torch.Tensor, ledger=None) -> torch.Tensor:
        for unit in self.base.units:
            V = fft_c(u) * self.pupils(unit).to(u.dtype)
            w = ifft_c(V) * unit.support
            if unit.kerr_weight:
                I = (w.real ** 2 + w.imag ** 2).sum(dim=-3, keepdim=True)
                w = w * torch.polar(torch.ones_like(I), unit.kerr_weight * I)
            u = w
        return (u.real ** 2 + u.imag ** 2).sum(dim=-3)


def prepare_poly_inputs(objects: torch.Tensor, setup: AOSRSetup, wavelengths, design_wavelength: float = 550e-9):
    """Fields (N, C, G, G): the object's intensity split equally over C wavelengths, each imaged with the same
    NA, so its cutoff radius scales as design_wavelength / lambda."""
    chans = []
    for wl in wavelengths:
        lp = NALowPass(setup.grid, setup.input_radius * design_wavelength / float(wl))
        chans.append(prepare_inputs(objects / len(wavelengths), lp))
    return torch.stack(chans, dim=1)
