"""Diffractive and refractive height maps: parameterisations, dispersion, quantisation, fabrication noise.

A height map h(x, y) (metres) of a material with index n(lambda) in a medium of index n_m imparts the
phase phi = 2 pi (n(lambda) - n_m) h / lambda (radians). Parameterisations are ``nn.Module``s whose
``forward()`` returns heights ``(H, W)`` in metres; :class:`DOE` turns them into a transmission.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from .. import fft, materials
from ..field import Field, wl_view
from ..grid import Grid
from .zernike import zernike_basis


def height_to_phase(height: torch.Tensor, material, wavelength, medium=1.0) -> torch.Tensor:
    """Phase (rad) of ``height`` (m, ``(..., H, W)``) at ``wavelength`` (m, float or ``(C,)``).

    Returns ``(..., H, W)`` for one wavelength or ``(..., C, H, W)`` for C wavelengths.
    """
    mat = materials.get(material)
    med = materials.get(medium)
    wl = torch.as_tensor(wavelength, dtype=torch.float64, device=height.device)
    dn = (mat.n(wl) - med.n(wl)).to(height.dtype)
    wlv = wl_view(wl).to(height.dtype)
    if wl.dim() == 0:
        return 2 * math.pi * dn * height / wlv
    return 2 * math.pi * wl_view(dn) * height.unsqueeze(-3) / wlv


def phase_to_height(phase: torch.Tensor, material, wavelength: float, medium=1.0) -> torch.Tensor:
    """Height (m) giving ``phase`` (rad) at one design ``wavelength`` (m)."""
    dn = materials.get(material).n(float(wavelength)) - materials.get(medium).n(float(wavelength))
    return phase * float(wavelength) / (2 * math.pi * dn)


class _STEQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, step, h_max):
        return torch.clamp(torch.round(h / step), 0, round(h_max / step) - 1) * step

    @staticmethod
    def backward(ctx, g):
        return g, None, None


def quantize(height: torch.Tensor, levels: int, h_max: float, wrap: bool = True) -> torch.Tensor:
    """Quantise heights to ``levels`` steps of ``h_max / levels`` (m) with a straight-through gradient.

    ``wrap`` first wraps heights into [0, h_max) (h_max = one 2 pi phase period of the design wavelength
    for a diffractive element); the gradient passes through the rounding unchanged.
    """
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    h = torch.remainder(height, h_max) if wrap else height
    return _STEQuantize.apply(h, h_max / levels, h_max)


def fabrication_noise(height: torch.Tensor, tolerance: float, kind: str = "uniform",
                      generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Add height errors: uniform in [-tol, tol] (the Sitzmann et al. code's +-20 nm) or Gaussian std tol (m)."""
    if kind == "uniform":
        n = (torch.rand(height.shape, generator=generator, dtype=height.dtype, device=height.device) * 2 - 1)
    elif kind == "gaussian":
        n = torch.randn(height.shape, generator=generator, dtype=height.dtype, device=height.device)
    else:
        raise ValueError(f"kind must be 'uniform' or 'gaussian', got {kind!r}")
    return height + tolerance * n


class PixelHeightMap(nn.Module):
    """One free height per pixel: h = scale * p (m), with ``scale`` setting the optimiser's units."""

    def __init__(self, grid: Grid, init: Optional[torch.Tensor] = None, scale: float = 1e-6):
        super().__init__()
        self.grid, self.scale = grid, float(scale)
        p = torch.zeros(grid.shape) if init is None else torch.as_tensor(init, dtype=torch.float32) / scale
        self.p = nn.Parameter(p.clone())

    def forward(self) -> torch.Tensor:
        return self.p * self.scale


class FourierHeightMap(nn.Module):
    """Height from the lowest ``fraction`` of spatial frequencies (real part of an inverse FFT), as in the
    Sitzmann et al. diffractive experiment (62.5 % of frequencies)."""

    def __init__(self, grid: Grid, fraction: float = 0.625, scale: float = 1e-6):
        super().__init__()
        if not 0 < fraction <= 1:
            raise ValueError("fraction must be in (0, 1]")
        self.grid, self.scale = grid, float(scale)
        H, W = grid.shape
        self.kh, self.kw = max(1, int(H * fraction)), max(1, int(W * fraction))
        self.re = nn.Parameter(torch.zeros(self.kh, self.kw))
        self.im = nn.Parameter(torch.zeros(self.kh, self.kw))

    def forward(self) -> torch.Tensor:
        H, W = self.grid.shape
        c = torch.complex(self.re, self.im)
        full = torch.zeros(H, W, dtype=c.dtype, device=c.device)
        t, l = (H - self.kh) // 2, (W - self.kw) // 2
        full = full.index_put((torch.arange(t, t + self.kh, device=c.device)[:, None],
                               torch.arange(l, l + self.kw, device=c.device)[None, :]), c)
        h = fft.ifft2(torch.fft.ifftshift(full), norm="ortho").real
        return h * self.scale


class ZernikeHeightMap(nn.Module):
    """h = scale * sum_j c_j Z_j(r / R) over a disc of radius R (m); Noll terms 1..n_terms."""

    def __init__(self, grid: Grid, radius: float, n_terms: int = 36, scale: float = 1e-6,
                 init: Optional[torch.Tensor] = None):
        super().__init__()
        self.grid, self.radius, self.scale = grid, float(radius), float(scale)
        self.register_buffer("basis", zernike_basis(grid, radius, n_terms, dtype=torch.float32))
        c = torch.zeros(n_terms) if init is None else torch.as_tensor(init, dtype=torch.float32)
        self.coeffs = nn.Parameter(c.clone())

    def forward(self) -> torch.Tensor:
        return torch.einsum("j,jhw->hw", self.coeffs, self.basis.to(self.coeffs.dtype)) * self.scale


class RadialHeightMap(nn.Module):
    """Rotationally symmetric h(r) linearly interpolated from ``n_r`` samples on [0, R] (m)."""

    def __init__(self, grid: Grid, radius: float, n_r: int = 64, scale: float = 1e-6,
                 init: Optional[torch.Tensor] = None):
        super().__init__()
        self.grid, self.radius, self.scale, self.n_r = grid, float(radius), float(scale), int(n_r)
        t = torch.zeros(n_r) if init is None else torch.as_tensor(init, dtype=torch.float32) / scale
        self.samples = nn.Parameter(t.clone())
        r = grid.r(dtype=torch.float64) / radius * (n_r - 1)
        self.register_buffer("pos", r.clamp(max=n_r - 1).to(torch.float32))
        self.register_buffer("inside", (r <= n_r - 1).to(torch.float32))

    def forward(self) -> torch.Tensor:
        i0 = self.pos.floor().long().clamp(max=self.n_r - 2)
        w = self.pos - i0
        h = self.samples[i0] * (1 - w) + self.samples[i0 + 1] * w
        return h * self.inside * self.scale


class DOE(nn.Module):
    """A thin height-map element: field -> field * aperture * exp(i phi(lambda)).

    Args:
        heights: a height parameterisation module (or a fixed tensor in metres).
        material: catalogue name or Material; ``medium``: surrounding index (default air).
        aperture: real transmission on the grid (e.g. ``circ``), or ``None``.
        levels, h_max: optional quantisation (straight-through) to ``levels`` steps over ``h_max`` (m).
        noise: optional fabrication tolerance (m), uniform, applied in training mode only.
    """

    def __init__(self, heights, material="fused silica", medium=1.0, aperture: Optional[torch.Tensor] = None,
                 levels: Optional[int] = None, h_max: Optional[float] = None, noise: Optional[float] = None):
        super().__init__()
        if isinstance(heights, nn.Module):
            self.heights = heights
        else:
            self.register_buffer("fixed_heights", torch.as_tensor(heights))
            self.heights = None
        self.material, self.medium = materials.get(material), materials.get(medium)
        if aperture is not None:
            self.register_buffer("aperture", torch.as_tensor(aperture))
        else:
            self.aperture = None
        if (levels is None) != (h_max is None):
            raise ValueError("quantisation needs both levels and h_max")
        self.levels, self.h_max, self.noise = levels, h_max, noise

    def height(self) -> torch.Tensor:
        h = self.heights() if self.heights is not None else self.fixed_heights
        if self.levels is not None:
            h = quantize(h, self.levels, self.h_max)
        if self.noise and self.training:
            h = fabrication_noise(h, self.noise)
        return h

    def forward(self, field: Field) -> Field:
        h = self.height().to(field.u.real.dtype)
        phi = height_to_phase(h, self.material, field.wavelength, self.medium)
        t = torch.polar(torch.ones_like(phi), phi)
        if self.aperture is not None:
            t = t * self.aperture.to(phi.dtype)
        return field.replace(u=field.u * t.to(field.u.dtype))
