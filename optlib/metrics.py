"""Image, kernel and depth metrics (tensors in, Python floats or tensors out).

PSNR and SSIM follow the usual definitions (SSIM: Wang et al. 2004, Gaussian window 11x11, sigma 1.5,
K1 = 0.01, K2 = 0.03, mean over the valid region), tested against scikit-image.
"""
from __future__ import annotations

import math
from typing import Dict

import torch
import torch.nn.functional as F

from . import fft


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return ((x - y) ** 2).mean()


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, dim=None) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, 10 log10(data_range^2 / MSE); per-sample if ``dim`` is given."""
    m = ((x - y) ** 2).mean() if dim is None else ((x - y) ** 2).mean(dim=dim)
    return 10 * torch.log10(data_range ** 2 / m)


def _gauss_window(size: int, sigma: float, dtype, device) -> torch.Tensor:
    t = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    g = torch.exp(-t * t / (2 * sigma * sigma))
    g = g / g.sum()
    return g


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, win_size: int = 11, sigma: float = 1.5,
         k1: float = 0.01, k2: float = 0.03, reduction: str = "mean", padding: str = "valid") -> torch.Tensor:
    """Structural similarity of images ``(..., H, W)`` (channels are averaged like separate images), with a
    Gaussian window (``win_size`` samples, ``sigma`` samples).

    ``padding="valid"`` averages the windows that lie inside the image (Wang et al. 2004, scikit-image);
    ``"reflect"`` pads each image by reflection and averages all H x W windows, with the local variances
    clamped at zero: the convention of torchmetrics 1.x (``StructuralSimilarityIndexMeasure``), which scores
    the border windows too. ``reduction="none"`` returns one value per leading index.
    """
    if x.shape != y.shape:
        raise ValueError(f"ssim: shapes differ {tuple(x.shape)} vs {tuple(y.shape)}")
    if padding not in ("valid", "reflect"):
        raise ValueError(f"ssim: padding must be 'valid' or 'reflect', got {padding!r}")
    H, W = x.shape[-2:]
    if min(H, W) < win_size:
        raise ValueError(f"ssim: images {H}x{W} are smaller than the {win_size}x{win_size} window")
    lead = x.shape[:-2]
    xx = x.reshape(-1, 1, H, W)
    yy = y.reshape(-1, 1, H, W).to(xx.dtype)
    if padding == "reflect":
        pad = (win_size - 1) // 2
        xx = F.pad(xx, (pad, pad, pad, pad), mode="reflect")
        yy = F.pad(yy, (pad, pad, pad, pad), mode="reflect")
    g = _gauss_window(win_size, sigma, xx.dtype, xx.device)
    filt = lambda z: F.conv2d(F.conv2d(z, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))  # noqa: E731
    mx, my = filt(xx), filt(yy)
    sxx = filt(xx * xx) - mx * mx
    syy = filt(yy * yy) - my * my
    if padding == "reflect":
        sxx, syy = sxx.clamp(min=0.0), syy.clamp(min=0.0)
    sxy = filt(xx * yy) - mx * my
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    per = s.mean(dim=(-3, -2, -1)).reshape(lead) if len(lead) else s.mean()
    return per.mean() if reduction == "mean" else per


def ncc(a: torch.Tensor, b: torch.Tensor, dim=(-2, -1)) -> torch.Tensor:
    """Normalised cross-correlation (Pearson) over ``dim``: 1 for identical shape up to gain and offset."""
    a = a - a.mean(dim=dim, keepdim=True)
    b = b - b.mean(dim=dim, keepdim=True)
    return (a * b).sum(dim=dim) / torch.sqrt((a * a).sum(dim=dim) * (b * b).sum(dim=dim))


def high_frequency_fraction(image: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Fraction of an image's spectral power (its mean removed) at spatial frequencies above ``cutoff`` cycles
    per sample along either axis (0.5 is Nyquist; the default 0.25: detail finer than 4 samples). 0 for a
    smooth image, 1 for a pure checkerboard. Over the last two dimensions; dimensionless."""
    if not 0 < cutoff < 0.5:
        raise ValueError(f"cutoff must be in (0, 0.5) cycles per sample, got {cutoff!r}")
    spec = fft.fft2(image - image.mean(dim=(-2, -1), keepdim=True))  # (guarded: optlib.fft)
    P = spec.real ** 2 + spec.imag ** 2
    fy = torch.fft.fftfreq(image.shape[-2], device=image.device, dtype=image.dtype).abs()[:, None]
    fx = torch.fft.fftfreq(image.shape[-1], device=image.device, dtype=image.dtype).abs()[None, :]
    high = (fy > cutoff) | (fx > cutoff)
    return (P * high).sum(dim=(-2, -1)) / P.sum(dim=(-2, -1))


def rmse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(((a - b) ** 2).mean())


def mae(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


def depth_metrics(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor = None,
                  min_depth: float = 1e-3) -> Dict[str, float]:
    """Monocular depth metrics (Eigen et al. 2014), depths in metres over valid ``gt > min_depth`` pixels.

    Returns AbsRel, SqRel (m), RMSE (m), RMSlog, and delta<1.25, 1.25^2, 1.25^3 (fractions).
    """
    valid = gt > min_depth
    if mask is not None:
        valid = valid & mask.bool()
    p = pred[valid].to(torch.float64).clamp(min=min_depth)
    g = gt[valid].to(torch.float64)
    if g.numel() == 0:
        raise ValueError("depth_metrics: no valid ground-truth pixels")
    ratio = torch.maximum(p / g, g / p)
    return {
        "abs_rel": float(((p - g).abs() / g).mean()),
        "sq_rel": float(((p - g) ** 2 / g).mean()),
        "rmse": float(torch.sqrt(((p - g) ** 2).mean())),
        "rmse_log": float(torch.sqrt(((torch.log(p) - torch.log(g)) ** 2).mean())),
        "delta1": float((ratio < 1.25).double().mean()),
        "delta2": float((ratio < 1.25 ** 2).double().mean()),
        "delta3": float((ratio < 1.25 ** 3).double().mean()),
    }


def energy_fraction(output_power, input_power) -> float:
    """Fraction of input power (any consistent unit) that reaches the output."""
    return float(output_power) / float(input_power)


def encircled_energy(intensity: torch.Tensor, grid, radius: float) -> float:
    """Fraction of the total power of ``intensity (H, W)`` inside ``radius`` (m) of the axis."""
    r = grid.r(intensity.device, torch.float64)
    I = intensity.detach().to(torch.float64)
    return float(I[r <= radius].sum() / I.sum())


def encircled_radius(intensity: torch.Tensor, grid, fraction: float = 0.8) -> float:
    """Radius (m) about the centre of the (positioned) ``grid`` of ``intensity (H, W)`` within which
    ``fraction`` of its total power falls (sample resolution): EE80 for the default. For a PSF window centred
    on the chief ray this is the chief-ray-centred encircled-energy radius."""
    r = grid.r(intensity.device, torch.float64, local=True).flatten()
    I = intensity.detach().to(torch.float64).flatten()
    order = torch.argsort(r)
    cum = torch.cumsum(I[order], 0) / I.sum()
    i = int(torch.searchsorted(cum, torch.tensor(float(fraction), dtype=cum.dtype, device=cum.device)))
    return float(r[order][min(i, r.numel() - 1)])


def rms_radius(intensity: torch.Tensor, grid) -> torch.Tensor:
    """RMS radius (m) of ``intensity (..., H, W)`` on ``grid`` about its own centroid:
    sqrt(sum I |r - c|^2 / sum I), over the whole window (a PSF's size; light beyond the window is not counted,
    so compute it on a window that holds the light, e.g. the angular spectrum's output). Differentiable; a 0-d
    tensor per leading index. Raises on a window with no light."""
    I = intensity  # the radius does not depend on where the window is: measured from its centre (exact in float32)
    x, y = grid.x(I.device, I.dtype, local=True), grid.y(I.device, I.dtype, local=True)
    P = I.sum((-2, -1))
    if bool((P.detach() <= 0).any()):
        raise ValueError("rms_radius: the window holds no light")
    cx = (I * x).sum((-2, -1)) / P
    cy = (I * y).sum((-2, -1)) / P
    d2 = (x - cx[..., None, None]) ** 2 + (y - cy[..., None, None]) ** 2
    return torch.sqrt((I * d2).sum((-2, -1)) / P)


def psnr_db(mse_value: float, data_range: float = 1.0) -> float:
    return 10 * math.log10(data_range ** 2 / mse_value)


def first_minimum(profile: torch.Tensor, pitch: float) -> float:
    """Radius (m) of the first local minimum of a 1-D profile sampled from the axis outwards
    (``profile[0]`` on axis), refined to sub-sample precision by a parabola through three samples."""
    p = profile.detach().to(torch.float64).cpu()
    for i in range(1, p.numel() - 1):
        if p[i] <= p[i - 1] and p[i] < p[i + 1]:
            a, b, c = float(p[i - 1]), float(p[i]), float(p[i + 1])
            den = a - 2 * b + c
            off = 0.5 * (a - c) / den if den != 0 else 0.0
            return (i + off) * pitch
    raise ValueError("profile has no local minimum")


def first_zero_crossing(signed_profile: torch.Tensor, pitch: float) -> float:
    """Radius (m) where a real, signed 1-D profile (``[0]`` on axis) first changes sign, located by a cubic
    through the four samples around the crossing (far more accurate than a minimum of the intensity)."""
    import numpy as np
    s = signed_profile.detach().to(torch.float64).cpu().numpy()
    idx = np.nonzero(np.sign(s[1:]) != np.sign(s[:-1]))[0]
    if idx.size == 0:
        raise ValueError("profile never changes sign")
    i = int(idx[0])
    lo, hi = max(i - 1, 0), min(i + 3, s.size)
    xs = np.arange(lo, hi, dtype=np.float64)
    p = np.polyfit(xs, s[lo:hi], min(3, hi - lo - 1))
    roots = np.roots(p)
    roots = roots[np.abs(roots.imag) < 1e-9].real
    roots = roots[(roots >= i) & (roots <= i + 1)]
    r = float(roots[0]) if roots.size else i + s[i] / (s[i] - s[i + 1])
    return r * pitch
