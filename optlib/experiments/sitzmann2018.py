"""Set-ups, systems, training and dry run of the Sitzmann et al. (2018) chapter: end-to-end optics and image
processing for achromatic extended depth of field (EDOF) and super-resolution.

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
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
from torch import nn

from . import check_names
from .. import budget, data, fft
from ..elements.apertures import circ
from ..elements.doe import FourierHeightMap, ZernikeHeightMap, fabrication_noise
from ..elements.zernike import zernike_basis
from ..grid import Grid
from ..imaging.conv import fftconv2d
from ..imaging.sensor import pixel_integrate
from ..metrics import psnr
from ..nn.deconv import SRNet, WienerDeconv, wiener_deconv
from ..psf.paraxial import check_psf_sampling, cubic_height, defocus_waves, lens_height, psf_stack
from ..sampling import SamplingError

PARAMS = ("scale", "seed", "n_grid", "pitch_um", "padding", "aperture_mm", "sensor_mm", "focus_m", "depths_m", "wavelengths_nm",
          "factor", "psf_px", "patch", "batch", "n_train_crops", "n_eval", "steps", "optimizer", "lr_fourier",
          "lr_zernike", "fourier_fraction", "zernike_terms", "noise_min", "noise_max", "eval_noise", "height_tol_nm",
          "margin", "gamma_init", "cubic_waves", "focus_n_grid", "focus_sensor_mm", "focus_steps", "focus_lr",
          "focus_reg", "sr_scales", "sr_steps", "sr_patch", "sr_batch", "sr_width", "sr_lr", "train_photos",
          "eval_photos", "eval_patch", "checkpoint_dir")

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

    def psfs(self, height, material, depths=None, wavelengths=None, check=True):
        return psf_stack(height, self.grid, self.aperture, material, self.depths if depths is None else depths,
                         self.wavelengths if wavelengths is None else wavelengths, self.sensor, self.factor,
                         self.psf_px, padding=self.padding, check=check, focus_depth=self.focus)


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
    check_psf_sampling(g, radius, G.wavelengths, G.sensor, G.depths, G.focus)
    return G


def focus_setup(p: Dict) -> Geometry:
    """Experiment 3 (RGB focusing element): same aperture, sensor at ``focus_sensor_mm``, object at infinity;
    zero padding to twice the grid (the shorter distance's chirp needs it at this sampling)."""
    g = Grid(p["focus_n_grid"], p["aperture_mm"] * 1e-3 / p["focus_n_grid"])
    radius = p["aperture_mm"] * 1e-3 / 2
    G = Geometry(g, circ(g, radius).to(torch.float32), radius, [1e4], [w * 1e-9 for w in p["wavelengths_nm"]],
                 p["focus_sensor_mm"] * 1e-3, math.inf, 1, p["psf_px"], padding=2.0)
    check_psf_sampling(g, radius, G.wavelengths, G.sensor, G.depths)
    return G


def period_height(material, wavelength: float) -> float:
    """Height (m) of one 2 pi phase period at ``wavelength`` (m)."""
    from .. import materials
    return wavelength / (materials.get(material).n(wavelength) - 1.0)


# --- the elements ---------------------------------------------------------------------------------------
class Diffractive(nn.Module):
    """A diffractive element: heights from the lowest ``fraction`` of spatial frequencies (the authors'
    Fourier parameterisation), wrapped into one 2 pi period at the design wavelength (so it is a DOE, with
    a DOE's chromatic behaviour), initialised from ``init`` heights (m)."""

    def __init__(self, grid: Grid, init: torch.Tensor, fraction: float, material=MATERIAL_DOE,
                 design_wavelength: float = 550e-9):
        super().__init__()
        self.map = FourierHeightMap(grid, fraction)
        with torch.no_grad():
            H, W = grid.shape
            F = torch.fft.fftshift(fft.fft2(init.to(torch.float64) / self.map.scale, norm="ortho"))
            t, l = (H - self.map.kh) // 2, (W - self.map.kw) // 2
            block = F[t:t + self.map.kh, l:l + self.map.kw]
            self.map.re.copy_(block.real.float())
            self.map.im.copy_(block.imag.float())
        self.material, self.h2pi = material, period_height(material, design_wavelength)

    def forward(self) -> torch.Tensor:
        return torch.remainder(self.map(), self.h2pi)


class Refractive(nn.Module):
    """A refractive element: Zernike heights over the aperture (the authors' experiment 2), initialised by
    least squares on ``init`` heights (m)."""

    def __init__(self, grid: Grid, radius: float, init: torch.Tensor, n_terms: int, material=MATERIAL_REFRACTIVE):
        super().__init__()
        basis = zernike_basis(grid, radius, n_terms, dtype=torch.float64)
        inside = (grid.x(dtype=torch.float64) ** 2 + grid.y(dtype=torch.float64) ** 2) <= radius ** 2
        A = basis[:, inside].T
        c = torch.linalg.lstsq(A, init.to(torch.float64)[inside][:, None] / 1e-6).solution[:, 0]
        self.map = ZernikeHeightMap(grid, radius, n_terms, 1e-6, c.float())
        self.material = material

    def forward(self) -> torch.Tensor:
        h = self.map()
        return h - h.min()


class Fixed(nn.Module):
    def __init__(self, height: torch.Tensor, material):
        super().__init__()
        self.register_buffer("h", height)
        self.material = material

    def forward(self):
        return self.h


def baselines(G: Geometry, p: Dict) -> Dict[str, nn.Module]:
    """The paper's comparison points, all in fused silica, focused at ``focus_m``: a Fresnel lens designed
    for 550 nm (wrapped), a conventional refractive lens, and a cubic phase plate (wavefront coding:
    the refractive lens plus a cubic term of ``cubic_waves`` waves at the aperture edge)."""
    lens = lens_height(G.grid, MATERIAL_DOE, 550e-9, G.sensor, G.focus, wrap=False)
    return {"Fresnel lens (550 nm)": Fixed(lens_height(G.grid, MATERIAL_DOE, 550e-9, G.sensor, G.focus, wrap=True), MATERIAL_DOE),
            "refractive lens": Fixed(lens, MATERIAL_DOE),
            "cubic phase plate": Fixed(lens + cubic_height(G.grid, G.radius, p["cubic_waves"], MATERIAL_DOE, 550e-9),
                                       MATERIAL_DOE)}


# --- the end-to-end system ----------------------------------------------------------------------------
class EDOFSystem(nn.Module):
    """Element + sensor noise + Wiener deconvolution with trainable gamma (per channel) and target depth
    (d_t = s^2, s trainable). ``height_tol`` (m): uniform fabrication noise during training."""

    def __init__(self, G: Geometry, element: nn.Module, gamma_init: float, height_tol: float = 0.0,
                 target_depth: float = 1.0):
        super().__init__()
        self.G, self.element, self.height_tol = G, element, height_tol
        self.wiener = WienerDeconv(gamma_init, channels=len(G.wavelengths))
        self.s = nn.Parameter(torch.tensor(math.sqrt(target_depth)))

    @property
    def target_depth(self) -> float:
        return float(self.s.detach() ** 2)

    def height(self, train: bool = False, generator=None) -> torch.Tensor:
        h = self.element()
        if train and self.height_tol > 0:
            h = fabrication_noise(h, self.height_tol, generator=generator)
        return h

    def psfs(self, depths, train=False, generator=None) -> torch.Tensor:
        return self.G.psfs(self.height(train, generator), self.element.material, depths)

    def target_psf(self, h) -> torch.Tensor:
        """PSF (C, p, p) at the trainable target depth s^2 (differentiable in s and the heights)."""
        return self.G.psfs(h, self.element.material, (self.s ** 2).reshape(1), check=False)[0]

    def forward(self, images: torch.Tensor, depth_idx: torch.Tensor, sigma: torch.Tensor, generator=None,
                train: bool = False):
        """``images`` (B, C, H, W) in [0, 1], ``depth_idx`` (B, 3): depth index of each horizontal band,
        ``sigma`` (B,) noise std. Returns (reconstruction, sensor image)."""
        h = self.height(train, generator)
        used, inv = torch.unique(depth_idx, return_inverse=True)
        P = self.G.psfs(h, self.element.material, [self.G.depths[int(i)] for i in used], check=False)
        B, C, H, W = images.shape
        band = H // 3
        rows = torch.arange(H) // band
        masks = (rows[None, :] == torch.arange(3)[:, None]).to(images.dtype)  # (3, H)
        parts = images[:, None] * masks[None, :, None, :, None]  # (B, 3, C, H, W): each band alone
        # gather each band's PSF by a one-hot product: indexing's backward accumulates with atomics on
        # several threads and is not bitwise reproducible, a matrix product is
        onehot = nn.functional.one_hot(inv.flatten(), len(used)).to(P.dtype)
        Psel = (onehot @ P.flatten(1)).reshape(*inv.shape, *P.shape[1:])
        blurred = fftconv2d(parts, Psel.to(images.dtype)).sum(1)  # light from each band spreads freely
        noisy = blurred + sigma.reshape(-1, 1, 1, 1) * torch.randn(blurred.shape, generator=generator,
                                                                   dtype=blurred.dtype)
        rec = self.wiener(noisy, self.target_psf(h).to(images.dtype))
        return rec, noisy


def loss_fn(rec: torch.Tensor, target: torch.Tensor, margin: int) -> torch.Tensor:
    m = margin
    return ((rec[..., m:-m, m:-m] - target[..., m:-m, m:-m]) ** 2).mean()


def make_optimizer(p: Dict, model: EDOFSystem, kind: str):
    """Adam (tiny) or the authors' optimisers: SGD with Nesterov momentum 0.5 (diffractive) / Adadelta
    (Zernike). The Wiener parameters train with the element."""
    lr = p["lr_fourier"] if kind == "diffractive" else p["lr_zernike"]
    if p["optimizer"] == "adam":
        return torch.optim.Adam([{"params": model.element.parameters(), "lr": lr},
                                 {"params": list(model.wiener.parameters()) + [model.s], "lr": 0.02}])
    if kind == "diffractive":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.5, nesterov=True)
    return torch.optim.Adadelta(model.parameters(), lr=lr)


def train_crops(p: Dict, generator) -> torch.Tensor:
    """Random training crops (n, 3, patch, patch) from the photo folder ``train_photos`` (the authors used
    INRIA Holidays; here the Wikimedia photos of the local mirror)."""
    paths = data.photo_paths(p["train_photos"])
    return data.random_crops(paths, p["patch"], p["n_train_crops"], generator)


def eval_crops(p: Dict, generator) -> torch.Tensor:
    """Evaluation crops (n, 3, eval_patch, eval_patch) from ``eval_photos`` (Kodak)."""
    paths = data.photo_paths(p["eval_photos"])
    return data.random_crops(paths, p["eval_patch"], p["n_eval"], generator)


@torch.no_grad()
def sensor_images(model: EDOFSystem, images: torch.Tensor, sigma: float, seed: int = 1):
    """Noisy sensor images (D, B, C, H, W) of ``images`` placed at every depth, and the PSFs (D, C, p, p)."""
    G = model.G
    P = G.psfs(model.height(False), model.element.material, check=False)
    gen = torch.Generator().manual_seed(seed)
    blurred = fftconv2d(images[None], P[:, None])
    return blurred + sigma * torch.randn(blurred.shape, generator=gen), P


@torch.no_grad()
def evaluate(model: EDOFSystem, images: torch.Tensor, sigma: float, seed: int = 1, sensor=None) -> torch.Tensor:
    """PSNR (dB) per depth and channel (D, C): the whole image at one depth, noise ``sigma``, scored on the
    interior (the PSF half-width is cut)."""
    noisy, _ = sensor if sensor is not None else sensor_images(model, images, sigma, seed)
    Pt = model.target_psf(model.height(False))
    m = model.G.psf_px // 2
    rec = model.wiener(noisy, Pt).clamp(0, 1)
    return psnr(rec[..., m:-m, m:-m], images[None, ..., m:-m, m:-m], dim=(1, 3, 4))


@torch.no_grad()
def fit_wiener(model: EDOFSystem, images: torch.Tensor, sigma: float, gammas=None, seed: int = 2):
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
    from ..metrics import ncc
    flat = P.detach().reshape(-1, *P.shape[-2:])
    vals = [float(ncc(flat[i], flat[j])) for i in range(len(flat)) for j in range(i + 1, len(flat))]
    return sum(vals) / len(vals)


def encircled_energy(P: torch.Tensor, radius_px: float) -> torch.Tensor:
    """Fraction of each PSF (..., p, p) within ``radius_px`` pixels of the centre pixel."""
    p = P.shape[-1]
    y, x = torch.meshgrid(torch.arange(p) - p // 2, torch.arange(p) - p // 2, indexing="ij")
    mask = (x.float() ** 2 + y.float() ** 2) <= radius_px ** 2
    return (P * mask).sum((-2, -1)) / P.sum((-2, -1))


def laplacian_l1(h: torch.Tensor) -> torch.Tensor:
    """Mean |discrete Laplacian| of a height map (m per sample^2): the authors' smoothness regulariser."""
    lap = (h[2:, 1:-1] + h[:-2, 1:-1] + h[1:-1, 2:] + h[1:-1, :-2] - 4 * h[1:-1, 1:-1])
    return lap.abs().mean()


# --- super-resolution ------------------------------------------------------------------------------------
class SRSystem(nn.Module):
    """Element (grey, one wavelength, object at ``depth``) -> sensor pixels ``scale`` x the simulation pitch
    (area integration) -> noise -> SRNet. The paper gives no script for this experiment: see the chapter
    for what is assumed."""

    def __init__(self, G: Geometry, element: nn.Module, scale: int, wavelength: float = 550e-9, depth: float = 1.0,
                 width: int = 16):
        super().__init__()
        self.G, self.element, self.scale, self.wl, self.depth = G, element, int(scale), wavelength, depth
        self.net = SRNet(scale, channels=1, width=width, depth=4)

    def psf(self) -> torch.Tensor:
        return self.G.psfs(self.element(), self.element.material, [self.depth], [self.wl], check=False)[0]

    def forward(self, hr: torch.Tensor, sigma: float, generator=None):
        P = self.psf()
        blurred = fftconv2d(hr, P.to(hr.dtype))
        lr = pixel_integrate(blurred, self.scale) / self.scale ** 2
        lr = lr + sigma * torch.randn(lr.shape, generator=generator)
        return self.net(lr), lr


# --- training ------------------------------------------------------------------------------------------
def make_element(kind: str, G: Geometry, p: Dict) -> nn.Module:
    """``"diffractive"`` (experiment 1: Fourier heights, fused silica, wrapped, from the Fresnel lens) or
    ``"zernike"`` (experiment 2: Zernike heights, PMMA, from the refractive lens); both focus ``focus_m``."""
    if kind == "diffractive":
        init = lens_height(G.grid, MATERIAL_DOE, 550e-9, G.sensor, G.focus, wrap=True)
        return Diffractive(G.grid, init, p["fourier_fraction"])
    if kind == "zernike":
        init = lens_height(G.grid, MATERIAL_REFRACTIVE, 550e-9, G.sensor, G.focus, wrap=False)
        return Refractive(G.grid, G.radius, init, p["zernike_terms"])
    raise ValueError(f"unknown element kind {kind!r}")


def _ckpt(p: Dict, name: str) -> Optional[str]:
    if not p.get("checkpoint_dir"):
        return None
    from pathlib import Path
    Path(p["checkpoint_dir"]).mkdir(parents=True, exist_ok=True)
    return str(Path(p["checkpoint_dir"]) / f"{p['scale']}_{name}.pt")


def train_edof(p: Dict, G: Geometry, kind: str, crops: torch.Tensor, generator, progress: bool = True):
    """Jointly train an element and its Wiener filter (gamma, target depth) for EDOF; returns (model, fit
    result). Each step: ``batch`` crops, three bands at random depths, noise std ~ U(noise_min, noise_max),
    fabrication noise, MSE inside ``margin``. Resumes from ``checkpoint_dir`` if set."""
    from ..train import fit
    model = EDOFSystem(G, make_element(kind, G, p), p["gamma_init"], p["height_tol_nm"] * 1e-9)
    opt = make_optimizer(p, model, kind)
    sched = None
    if p["optimizer"] == "authors" and kind == "diffractive":
        # the authors' polynomial decay of the learning rate towards 1e-10
        sched = torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=p["steps"], power=1.0)

    def step(i):
        idx = torch.randint(0, crops.shape[0], (p["batch"],), generator=generator)
        d = torch.randint(0, len(G.depths), (p["batch"], 3), generator=generator)
        sig = p["noise_min"] + (p["noise_max"] - p["noise_min"]) * torch.rand(p["batch"], generator=generator)
        rec, _ = model(crops[idx], d, sig, generator, train=True)
        return loss_fn(rec, crops[idx], p["margin"])

    res = fit(step, model, opt, p["steps"], scheduler=sched, checkpoint=_ckpt(p, f"edof_{kind}"),
              progress=progress, desc=f"EDOF {kind}", generator=generator)
    return model, res


def train_focus(p: Dict, G3: Geometry, crops: torch.Tensor, generator, progress: bool = True):
    """Experiment 3: a diffractive element (from the 550 nm Fresnel lens) trained so that each colour
    channel, blurred by its wavelength's PSF, equals the sharp image; plus ``focus_reg`` x mean |Laplacian|
    of the heights. Returns (element, fit result)."""
    from ..train import fit
    el = Diffractive(G3.grid, lens_height(G3.grid, MATERIAL_DOE, 550e-9, G3.sensor, None, wrap=True),
                     p["fourier_fraction"])
    opt = torch.optim.Adam(el.parameters(), lr=p["focus_lr"]) if p["optimizer"] == "adam" else \
        torch.optim.SGD(el.parameters(), lr=p["focus_lr"], momentum=0.5, nesterov=True)
    side = min(crops.shape[-1], 3 * G3.psf_px // 2)

    def step(i):
        h = el()
        P = G3.psfs(h, MATERIAL_DOE, check=False)[0]
        img = crops[torch.randint(0, crops.shape[0], (p["batch"],), generator=generator)][..., :side, :side]
        return ((fftconv2d(img, P) - img) ** 2).mean() + p["focus_reg"] * laplacian_l1(h)

    res = fit(step, el, opt, p["focus_steps"], checkpoint=_ckpt(p, "focus"), progress=progress,
              desc="RGB focusing", generator=generator)
    return el, res


def grey(x: torch.Tensor) -> torch.Tensor:
    """Luma (B, 1, H, W) of RGB images (B, 3, H, W)."""
    return 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]


def train_sr(p: Dict, G: Geometry, scale: int, optimize_optics: bool, crops: torch.Tensor, generator,
             progress: bool = True):
    """Super-resolution by ``scale``: a refractive fused-silica lens focused at ``focus_m`` (fixed, or a
    36-term Zernike freeform initialised from it and trained) plus the same SRNet, trained end to end on
    grey crops; noise std ``eval_noise``. Returns (system, fit result)."""
    from ..train import fit
    lens = lens_height(G.grid, MATERIAL_DOE, 550e-9, G.sensor, G.focus, wrap=False)
    el = Refractive(G.grid, G.radius, lens, 36, MATERIAL_DOE) if optimize_optics else Fixed(lens, MATERIAL_DOE)
    m = SRSystem(G, el, scale, depth=G.focus, width=p["sr_width"])
    groups = [{"params": m.net.parameters(), "lr": p["sr_lr"]}]
    if optimize_optics:
        groups.append({"params": el.parameters(), "lr": p["lr_zernike"] if p["optimizer"] == "adam" else 1e-3})
    opt = torch.optim.Adam(groups)
    sp = p["sr_patch"]
    mg = max(2, G.psf_px // 8)

    def step(i):
        idx = torch.randint(0, crops.shape[0], (p["sr_batch"],), generator=generator)
        t = int(torch.randint(0, crops.shape[-1] - sp + 1, (1,), generator=generator))
        l = int(torch.randint(0, crops.shape[-1] - sp + 1, (1,), generator=generator))
        hr = crops[idx][..., t:t + sp, l:l + sp]
        out, _ = m(hr, p["eval_noise"], generator)
        return ((out - hr)[..., mg:-mg, mg:-mg] ** 2).mean()

    name = f"sr{scale}_{'optics' if optimize_optics else 'lens'}"
    res = fit(step, m, opt, p["sr_steps"], checkpoint=_ckpt(p, name), progress=progress, desc=f"SR x{scale}",
              generator=generator)
    return m, res


@torch.no_grad()
def evaluate_sr(m: SRSystem, images: torch.Tensor, sigma: float, seed: int = 3):
    """PSNR (dB) of the SRNet output and of bilinear upsampling of the same sensor image, on grey images."""
    gen = torch.Generator().manual_seed(seed)
    out, lr = m(images, sigma, gen)
    bil = nn.functional.interpolate(lr, scale_factor=m.scale, mode="bilinear", align_corners=False)
    mg = max(2, m.G.psf_px // 8)
    cut = (slice(None), slice(None), slice(mg, -mg), slice(mg, -mg))
    return (float(psnr(out.clamp(0, 1)[cut], images[cut])), float(psnr(bil.clamp(0, 1)[cut], images[cut])),
            out, lr)


# --- dry run ------------------------------------------------------------------------------------------
def dry_run(p: Dict) -> Dict:
    """Build the configuration, check its sampling and estimate memory and FFT time, without training."""
    check(p)
    rows = []
    try:
        G = setup(p)
        # the Fresnel transfer function's verdict for the worst case (longest wavelength, nearest depth),
        # measured on the field itself when the grid test alone cannot pass it
        lens = lens_height(G.grid, MATERIAL_DOE, 550e-9, G.sensor, G.focus, wrap=False)
        G.psfs(lens, MATERIAL_DOE, [min(G.depths)], [max(G.wavelengths)])
        ok, note = True, "sampling valid (lens phase, spherical waves and the Fresnel transfer function)"
    except SamplingError as e:
        G, ok, note = None, False, str(e)
    n_pad = math.ceil(p["n_grid"] * p["padding"])
    n_psf = 4 * len(p["wavelengths_nm"])  # three bands' depths + the target depth, per wavelength
    per_step = budget.fft_time((n_pad, n_pad), 4 * n_psf, dtype=torch.complex64)
    mem = budget.fft_bytes((n_pad, n_pad), torch.complex64, batch=n_psf, temporaries=8)
    rows.append({"step": f"EDOF step ({n_psf} PSFs on {n_pad}^2)", "valid": ok, "bytes": mem,
                 "seconds": per_step * p["steps"], "note": "required"})
    rows.append({"step": "experiments 1 and 2", "valid": ok, "bytes": mem, "seconds": 2 * per_step * p["steps"],
                 "note": ""})
    try:
        focus_setup(p)
        ok3 = True
    except SamplingError:
        ok3 = False
    n3 = 2 * p["focus_n_grid"]
    rows.append({"step": f"experiment 3 (focusing, {n3}^2)", "valid": ok3,
                 "bytes": budget.fft_bytes((n3, n3), torch.complex64, batch=len(p["wavelengths_nm"]), temporaries=8),
                 "seconds": budget.fft_time((n3, n3), 4 * len(p["wavelengths_nm"])) * p["focus_steps"],
                 "note": "required"})
    wd = defocus_waves(p["aperture_mm"] * 1e-3 / 2, 550e-9, min(p["depths_m"]), max(p["depths_m"]))
    return {"rows": rows, "peak_bytes": max(r["bytes"] for r in rows), "note": note, "defocus_waves": wd,
            "all_required_valid": budget.required_valid(rows)}


def dry_run_report(d: Dict) -> str:
    lines = [f"{d['note']}; defocus between the nearest and farthest depth {d['defocus_waves']:.2f} waves at 550 nm"]
    lines += budget.format_rows(d["rows"], 44)
    return "\n".join(lines)
