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
from ..sampling import SamplingError
from ..units import number
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
    def forward(ctx, h, step, levels, periodic):
        q = torch.round(h / step)
        q = torch.remainder(q, levels) if periodic else torch.clamp(q, 0, levels - 1)
        return q * step

    @staticmethod
    def backward(ctx, g):
        return g, None, None, None


def quantize(height: torch.Tensor, levels: int, h_max: float, wrap: bool = True) -> torch.Tensor:
    """Quantise heights to the nearest of ``levels`` steps of ``h_max / levels`` (m) with a straight-through
    gradient.

    ``wrap`` first wraps heights into [0, h_max) (h_max = one 2 pi phase period of the design wavelength
    for a diffractive element) and treats the levels as periodic: a height within half a step of h_max rounds
    to 0, the same phase, not to the top level. Without ``wrap`` heights are clamped to the levels. The
    gradient passes through the rounding unchanged.
    """
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    h = torch.remainder(height, h_max) if wrap else height
    return _STEQuantize.apply(h, h_max / levels, levels, wrap)


def fabrication_noise(height: torch.Tensor, tolerance: float, kind: str = "uniform",
                      generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Add height errors: uniform in [-tol, tol] (the Sitzmann et al. code's +-20 nm) or Gaussian std tol (m)."""
    from ..train import rand, randn
    if kind == "uniform":
        n = rand(height.shape, height, generator) * 2 - 1
    elif kind == "gaussian":
        n = randn(height.shape, height, generator)
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

    @classmethod
    def fit(cls, grid: Grid, heights: torch.Tensor, fraction: float = 0.625, scale: float = 1e-6) -> "FourierHeightMap":
        """Start from ``heights`` (m, (H, W)): its lowest ``fraction`` of frequencies (what this map can hold)."""
        m = cls(grid, fraction, scale)
        with torch.no_grad():
            H, W = grid.shape
            F = torch.fft.fftshift(fft.fft2(heights.to(torch.float64) / scale, norm="ortho"))
            t, l = (H - m.kh) // 2, (W - m.kw) // 2
            block = F[t:t + m.kh, l:l + m.kw]
            m.re.copy_(block.real.float())
            m.im.copy_(block.imag.float())
        return m

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
    """h = scale * sum_j c_j Z_j(r / R) over a disc of radius R (m) about the grid's origin; Noll terms
    1..n_terms. ``piston="min"`` subtracts the minimum height (a physical, non-negative relief; the piston
    is a constant phase per wavelength and changes no intensity)."""

    def __init__(self, grid: Grid, radius: float, n_terms: int = 36, scale: float = 1e-6,
                 init: Optional[torch.Tensor] = None, piston: Optional[str] = None):
        super().__init__()
        if piston not in (None, "min"):
            raise ValueError(f"piston must be None or 'min', got {piston!r}")
        self.grid, self.radius, self.scale, self.piston = grid, float(radius), float(scale), piston
        self.register_buffer("basis", zernike_basis(grid, radius, n_terms, dtype=torch.float32))
        c = torch.zeros(n_terms) if init is None else torch.as_tensor(init, dtype=torch.float32)
        self.coeffs = nn.Parameter(c.clone())

    @classmethod
    def fit(cls, grid: Grid, radius: float, heights: torch.Tensor, n_terms: int = 36, scale: float = 1e-6,
            piston: Optional[str] = None) -> "ZernikeHeightMap":
        """Least-squares fit of ``heights`` (m, (H, W)) inside the disc: the closest start this map can hold."""
        basis = zernike_basis(grid, radius, n_terms, dtype=torch.float64)
        inside = grid.r2() <= radius ** 2
        c = torch.linalg.lstsq(basis[:, inside].T, heights.to(torch.float64)[inside][:, None] / scale).solution[:, 0]
        return cls(grid, radius, n_terms, scale, c.float(), piston)

    def forward(self) -> torch.Tensor:
        h = torch.einsum("j,jhw->hw", self.coeffs, self.basis.to(self.coeffs.dtype)) * self.scale
        return h - h.min() if self.piston == "min" else h


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


def binary2_phase(coefficients: torch.Tensor, x: torch.Tensor, y: torch.Tensor, radius: float,
                  center=(0.0, 0.0)) -> torch.Tensor:
    """The even-polynomial phase (rad) of a rotationally symmetric DOE (Zemax's "Binary 2" surface):
    sum_i c_i rho^(2 i), i = 1..N, rho = |(x, y) - center| / ``radius``, at points (``x``, ``y``) (m,
    broadcasting), coefficients c_i in rad. Unwrapped and defined everywhere (not cut at ``radius``, which only
    normalises); c_1 = -pi radius^2 / (lambda f) is a thin lens of focal length f at lambda. Differentiable in
    the coefficients; turn it into heights with :func:`phase_to_height`."""
    if radius <= 0 or not math.isfinite(radius):
        raise ValueError(f"binary2_phase: radius must be a positive length in m, got {radius!r}")
    cx, cy = (float(c) for c in center)
    rho2 = ((x - cx) ** 2 + (y - cy) ** 2) / radius ** 2
    out = torch.zeros_like(rho2)
    for c in reversed(list(coefficients)):  # Horner in rho^2: (((c_N rho2 + c_N-1) rho2 + ...) + c_1) rho2
        out = (out + c) * rho2
    return out


def _bilinear(values: torch.Tensor, grid: Grid, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``values`` (..., H, W) on ``grid`` interpolated bilinearly at points (x, y) (m, (N,)); clamped at the
    edges. Returns (..., N)."""
    H, W = grid.shape
    fx = ((x - grid.origin[1]) / grid.dx + W // 2).clamp(0, W - 1)
    fy = ((y - grid.origin[0]) / grid.dy + H // 2).clamp(0, H - 1)
    x0 = fx.detach().floor().clamp(max=W - 2).long()
    y0 = fy.detach().floor().clamp(max=H - 2).long()
    ax, ay = (fx - x0).to(values.dtype), (fy - y0).to(values.dtype)
    v = values.reshape(*values.shape[:-2], H * W)
    g = lambda yy, xx: v[..., yy * W + xx]  # noqa: E731
    return ((g(y0, x0) * (1 - ax) + g(y0, x0 + 1) * ax) * (1 - ay)
            + (g(y0 + 1, x0) * (1 - ax) + g(y0 + 1, x0 + 1) * ax) * ay)


def lens_height(grid: Grid, material, design_wavelength: float, image_distance: float,
                object_distance: Optional[float] = None, wrap: bool = False, dtype=torch.float32,
                device=None) -> torch.Tensor:
    """Height map (m) of a thin element that images a point at ``object_distance`` (m; None or inf: at
    infinity) onto a plane ``image_distance`` (m) behind it at ``design_wavelength`` (m), with the exact
    (non-paraxial) spherical phases phi = -k (sqrt(r^2 + z^2) - z) - k (sqrt(r^2 + d^2) - d), r from the
    optical axis. ``wrap`` folds it into one 2 pi period (a Fresnel lens, diffractive); otherwise a
    refractive lens in the thin-element approximation, its lowest point at zero."""
    r2 = grid.r2(device, torch.float64)
    k = 2 * math.pi / design_wavelength
    phi = -k * r2 / (torch.sqrt(r2 + image_distance ** 2) + image_distance)
    if object_distance is not None and math.isfinite(object_distance):
        phi = phi - k * r2 / (torch.sqrt(r2 + object_distance ** 2) + object_distance)
    dn = materials.get(material).n(design_wavelength) - 1.0
    phi = torch.remainder(phi, 2 * math.pi) if wrap else phi - phi.min()
    return (phi / k / dn).to(dtype)


def cubic_height(grid: Grid, radius: float, waves: float, material, design_wavelength: float,
                 dtype=torch.float32, device=None) -> torch.Tensor:
    """Cubic phase plate alpha ((x/R)^3 + (y/R)^3) with ``waves`` waves at the aperture edge (x = R), as a
    height map (m) at ``design_wavelength``, lowest point at zero; add it to a lens height (wavefront coding)."""
    x = grid.x(device, torch.float64) / radius
    y = grid.y(device, torch.float64) / radius
    phi = 2 * math.pi * waves * (x ** 3 + y ** 3)
    dn = materials.get(material).n(design_wavelength) - 1.0
    h = phi / (2 * math.pi / design_wavelength) / dn
    return (h - h.min()).to(dtype)


def period_height(material, wavelength: float, medium=1.0) -> float:
    """Height (m) of one 2 pi phase period at ``wavelength`` (m)."""
    return wavelength / (materials.get(material).n(wavelength) - materials.get(medium).n(wavelength))


class DOE(nn.Module):
    """A thin height-map element at a place: field -> field * aperture * exp(i phi(lambda)), and, for rays, the
    phase and local grating it imposes where they cross it.

    Args:
        heights: a height parameterisation module (``forward() -> (H, W)`` heights in m, with a ``.grid``) or a
            fixed tensor (m).
        material: catalogue name or Material; ``medium``: surrounding index (default air).
        aperture: real transmission on the element's grid (e.g. ``circ``), or ``None`` (clear).
        levels, h_max: optional quantisation (straight-through) to ``levels`` steps over ``h_max`` (m).
        wrap: optional period (m): heights are folded into [0, wrap) (a diffractive element; use
            :func:`period_height`), with the gradient passing through.
        noise: optional fabrication tolerance (m), uniform, applied in training mode only (``generator``, if
            set, draws it reproducibly).
        grid: the positioned grid of the heights (default: the module's ``.grid``). The element is pixelated:
            a field on another grid (of equal or finer pitch) sees the height of the pixel each of its samples
            falls in; outside the element it is clear (or dark, with an aperture).
        z: axial position (m) of the element in a lens system, for the ray models (:mod:`optlib.psf`).
    """

    def __init__(self, heights, material="fused silica", medium=1.0, aperture: Optional[torch.Tensor] = None,
                 levels: Optional[int] = None, h_max: Optional[float] = None, noise: Optional[float] = None,
                 wrap: Optional[float] = None, grid: Optional[Grid] = None, z: Optional[float] = None,
                 generator: Optional[torch.Generator] = None):
        super().__init__()
        if isinstance(heights, nn.Module):
            self.heights = heights
        else:
            self.register_buffer("fixed_heights", torch.as_tensor(heights))
            self.heights = None
        grid = grid if grid is not None else getattr(heights, "grid", None)
        if grid is None:
            raise ValueError("DOE needs the grid its heights are sampled on: pass grid=, or a height module with .grid")
        self.grid = grid
        self.material, self.medium = materials.get(material), materials.get(medium)
        if aperture is not None:
            self.register_buffer("aperture", torch.as_tensor(aperture))
        else:
            self.aperture = None
        if (levels is None) != (h_max is None):
            raise ValueError("quantisation needs both levels and h_max")
        for name, v in (("h_max", h_max), ("wrap", wrap), ("noise", noise)):
            if v is not None:
                number(f"DOE {name}", v, positive=True)
        self.levels, self.h_max, self.noise, self.wrap, self.z = levels, h_max, noise, wrap, z
        self.generator = generator

    def height(self) -> torch.Tensor:
        """Heights (m, (H, W)) on :attr:`grid`, after wrapping, quantisation and (training) noise."""
        h = self.heights() if self.heights is not None else self.fixed_heights
        if tuple(h.shape[-2:]) != self.grid.shape:
            raise ValueError(f"DOE heights {tuple(h.shape)} do not match its grid {self.grid.shape}")
        if self.wrap is not None:
            h = torch.remainder(h, self.wrap)
        if self.levels is not None:
            h = quantize(h, self.levels, self.h_max)
        if self.noise and self.training:
            h = fabrication_noise(h, self.noise, generator=self.generator)
        return h

    @property
    def dtype(self) -> torch.dtype:
        """The real dtype of the heights (float32 or float64), read without drawing fabrication noise."""
        if self.heights is not None:
            for t in self.heights.parameters():
                return t.dtype
            for t in self.heights.buffers():
                if t.is_floating_point():
                    return t.dtype
            return torch.get_default_dtype()
        return self.fixed_heights.dtype

    def realised(self) -> "DOE":
        """The element as made this once: its heights drawn now (wrapping, quantisation, fabrication noise in
        training mode) and then fixed, the graph to the parameters kept, so that several PSFs of one step see
        the same fabricated element."""
        out = DOE(self.height(), self.material, self.medium, self.aperture, grid=self.grid, z=self.z)
        return out.train(self.training)

    def phase(self, wavelength, dtype=None) -> torch.Tensor:
        """Phase (rad) on :attr:`grid` at ``wavelength`` (m): ``(H, W)``, or ``(C, H, W)`` for C wavelengths."""
        h = self.height()
        return height_to_phase(h.to(dtype) if dtype is not None else h, self.material, wavelength, self.medium)

    def transmission(self, grid: Grid, wavelength, dtype=torch.float32) -> torch.Tensor:
        """Complex transmission on ``grid`` (``(H, W)`` or ``(C, H, W)``): this element's own grid, or any grid of
        equal or finer pitch (each sample takes the pixel it falls in; clear outside the element)."""
        phi = self.phase(wavelength, dtype)
        amp = None if self.aperture is None else self.aperture.to(phi.dtype)
        if grid != self.grid:
            if grid.dx > self.grid.dx * (1 + 1e-9) or grid.dy > self.grid.dy * (1 + 1e-9):
                raise SamplingError(f"the field's pitch {grid.pitch} m is coarser than the DOE's pixels {self.grid.pitch} "
                                    f"m: it cannot see them. Fix: sample the field at <= {self.grid.dx:.4g} m")
            rows, cols, inside = self._pixels_of(grid, phi.device)
            phi = phi[..., rows, :][..., cols] * inside
            amp = (amp[..., rows, :][..., cols] * inside) if amp is not None else None
        t = torch.polar(torch.ones_like(phi), phi)
        return t if amp is None else t * amp

    def _pixels_of(self, grid: Grid, device):
        """Row and column indices of this element's pixel under each sample of ``grid``, and 1 where the
        sample is on the element (0 outside)."""
        H, W = self.grid.shape
        r = torch.round((grid.y(device).reshape(-1) - self.grid.origin[0]) / self.grid.dy + H // 2).long()
        c = torch.round((grid.x(device).reshape(-1) - self.grid.origin[1]) / self.grid.dx + W // 2).long()
        inside = (((r >= 0) & (r < H))[:, None] & ((c >= 0) & (c < W))[None, :]).to(torch.float64)
        return r.clamp(0, H - 1), c.clamp(0, W - 1), inside

    def forward(self, field: Field) -> Field:
        t = self.transmission(field.grid, field.wavelength, field.u.real.dtype)
        return field.replace(u=field.u * t.to(field.u.dtype))

    # --- for rays ----------------------------------------------------------------------------------------
    def phase_at(self, x: torch.Tensor, y: torch.Tensor, wavelength: float) -> torch.Tensor:
        """Phase (rad) at points (x, y) (m, (N,)) where rays cross the element: its pixel's phase (nearest)."""
        H, W = self.grid.shape
        phi = self.phase(wavelength, x.dtype)
        r = torch.round((y.detach() - self.grid.origin[0]) / self.grid.dy + H // 2).long().clamp(0, H - 1)
        c = torch.round((x.detach() - self.grid.origin[1]) / self.grid.dx + W // 2).long().clamp(0, W - 1)
        return phi[r, c]

    def passes_at(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Whether rays crossing the element at (x, y) (m, (N,)) get through: everywhere without an aperture;
        with one, where its pixel transmits at least half (outside the element it is dark). Bool (N,)."""
        if self.aperture is None:
            return torch.ones_like(x, dtype=torch.bool)
        H, W = self.grid.shape
        r = torch.round((y.detach() - self.grid.origin[0]) / self.grid.dy + H // 2).long()
        c = torch.round((x.detach() - self.grid.origin[1]) / self.grid.dx + W // 2).long()
        on = (r >= 0) & (r < H) & (c >= 0) & (c < W)
        a = self.aperture.to(x.device)[r.clamp(0, H - 1), c.clamp(0, W - 1)]
        return on & (a >= 0.5)

    def grating_at(self, x: torch.Tensor, y: torch.Tensor, wavelength: float):
        """Local phase gradient (dphi/dx, dphi/dy) (rad/m) at points (x, y) (m, (N,)): central differences of the
        phase between neighbouring pixels, wrapped into (-pi, pi] (so a diffractive element's 2 pi resets are
        not gradients), interpolated bilinearly. A ray crossing the element gains ``lambda / (2 pi)`` times it
        in its direction cosines (the local grating equation, first order)."""
        phi = self.phase(wavelength, x.dtype)
        wrap = lambda d: torch.remainder(d + math.pi, 2 * math.pi) - math.pi  # noqa: E731
        gx = torch.zeros_like(phi)
        gy = torch.zeros_like(phi)
        gx[:, 1:-1] = wrap(phi[:, 2:] - phi[:, :-2]) / (2 * self.grid.dx)
        gy[1:-1, :] = wrap(phi[2:, :] - phi[:-2, :]) / (2 * self.grid.dy)
        return _bilinear(gx, self.grid, x, y), _bilinear(gy, self.grid, x, y)
