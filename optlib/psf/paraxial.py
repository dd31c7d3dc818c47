"""Thin-element PSFs over depth and wavelength (the optical model of Sitzmann et al. 2018).

A point at distance d (m) in front of a thin element (height map h(x, y) in metres of a dispersive
material, in a circular aperture) sends a spherical wave exp(i k (sqrt(r^2 + d^2) - d)) onto it; the
element adds phi = 2 pi (n(lambda) - 1) h / lambda; Fresnel transfer-function propagation over the
sensor distance z gives the field on the sensor, whose intensity is integrated over the sensor pixels
(``factor`` x ``factor`` samples) and normalised to sum 1 within a ``psf_px`` crop.

Sampling (checked, :class:`~optlib.sampling.SamplingError` with the fix): the converging wave's phase
gradient at the aperture edge must stay below the grid's Nyquist frequency (as for a thin lens of the
equivalent focal length), and the transfer function must be sampled (the planner's Fresnel test).
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from .. import fft
from ..elements.doe import height_to_phase
from ..grid import Grid
from ..imaging.sensor import pixel_integrate
from ..field import pad_centered
from ..propagation import grid_check, measured_loss, transfer_function
from ..sampling import SamplingError, padded_shape


def spherical_wave_phase(grid: Grid, depth, wavelengths, dtype=torch.float64, device=None) -> torch.Tensor:
    """Phase (rad) k (sqrt(r^2 + d^2) - d) of a point at distance ``depth`` (m, (D,) or a number) on the
    grid, for ``wavelengths`` (m, (C,)); returns (D, C, H, W). Written as k r^2 / (sqrt(r^2 + d^2) + d) so
    that a 1 km depth keeps its (tiny) curvature without cancellation."""
    d = (depth.to(torch.float64) if isinstance(depth, torch.Tensor)
         else torch.as_tensor(depth, dtype=torch.float64, device=device)).reshape(-1, 1, 1, 1)
    wl = torch.as_tensor(wavelengths, dtype=torch.float64, device=device).reshape(1, -1, 1, 1)
    r2 = (grid.x(device, torch.float64) ** 2 + grid.y(device, torch.float64) ** 2)[None, None]
    return (2 * math.pi / wl * r2 / (torch.sqrt(r2 + d * d) + d)).to(dtype)


def lens_height(grid: Grid, material, design_wavelength: float, sensor_distance: float, focus_depth: float,
                wrap: bool, dtype=torch.float32, device=None) -> torch.Tensor:
    """Height map (m) of a thin element that images a point at ``focus_depth`` (m) onto the sensor at
    ``sensor_distance`` (m) at ``design_wavelength`` (m), with the exact (non-paraxial) spherical phases:
    phi = -k (sqrt(r^2 + z^2) - z) - k (sqrt(r^2 + d^2) - d). ``wrap`` folds it into one 2 pi period (a
    Fresnel lens, diffractive); otherwise a refractive lens (thin-element approximation)."""
    from .. import materials
    r2 = grid.x(device, torch.float64) ** 2 + grid.y(device, torch.float64) ** 2
    k = 2 * math.pi / design_wavelength
    phi = -k * r2 / (torch.sqrt(r2 + sensor_distance ** 2) + sensor_distance)
    if focus_depth is not None and math.isfinite(focus_depth):
        phi = phi - k * r2 / (torch.sqrt(r2 + focus_depth ** 2) + focus_depth)
    dn = materials.get(material).n(design_wavelength) - 1.0
    if wrap:
        phi = torch.remainder(phi, 2 * math.pi)
    else:
        phi = phi - phi.min()
    return (phi / k / dn).to(dtype)


def check_psf_sampling(grid: Grid, radius: float, wavelengths, sensor_distance: float, depths,
                       focus_depth: float = math.inf, extra_slope: float = 0.0):
    """Raise :class:`SamplingError` unless the fields of an element that focuses ``focus_depth`` (m) onto
    the sensor are sampled at the shortest wavelength: at the aperture edge (``radius`` m) the element's
    phase has local frequency r (1/z + 1/d_f) / lambda, the incoming spherical wave r / (lambda d), and the
    wave leaving it r |1/z + 1/d_f - 1/d| / lambda (1/m); each, plus ``extra_slope`` (1/m, e.g. a cubic
    term), must stay below 1/(2 dx). Returns the worst ratio to Nyquist."""
    lam = min(float(w) for w in torch.as_tensor(wavelengths).reshape(-1))
    ds = [float(d) for d in torch.as_tensor(depths, dtype=torch.float64).reshape(-1)]
    inv_f = 1 / sensor_distance + (1 / focus_depth if math.isfinite(focus_depth) else 0.0)
    worst = max([inv_f] + [1 / d for d in ds] + [abs(inv_f - 1 / d) for d in ds])
    f = radius * worst / lam + extra_slope
    nyq = min(grid.nyquist)
    if f > nyq * (1 + 1e-9):
        raise SamplingError(f"the element's or the wave's phase at the aperture edge has local frequency {f:.4g} 1/m, above "
                            f"the Nyquist frequency {nyq:.4g} 1/m (pitch {grid.dx:.3g} m). Fix: pitch <= {0.5 / f * grid.dx / grid.dx:.3g} m "
                            f"(currently {grid.dx:.3g}), a smaller aperture or a longer sensor distance")
    return f / nyq


def psf_stack(height: torch.Tensor, grid: Grid, aperture: torch.Tensor, material, depths, wavelengths,
              sensor_distance: float, factor: int = 1, psf_px: Optional[int] = None, padding: float = 1.5,
              check: bool = True, focus_depth: float = math.inf) -> torch.Tensor:
    """PSFs (D, C, p, p) of the thin element ``height`` (m, (H, W)) in ``aperture`` (transmission (H, W))
    for points at ``depths`` (m, (D,); a tensor requiring grad makes the PSFs differentiable in depth) and ``wavelengths`` (m, (C,)) on a sensor at ``sensor_distance`` (m),
    integrated over ``factor`` x ``factor`` samples per pixel and cropped to ``psf_px`` pixels (default the
    whole sensor grid), each normalised to sum 1. Differentiable in ``height``; float32 or float64 follows
    ``height``. ``padding`` 1.5 is the authors' quarter-width zero padding per side. ``focus_depth`` (m)
    is the depth the element is meant to focus, for the sampling check (:func:`check_psf_sampling`)."""
    trainable_depth = isinstance(depths, torch.Tensor) and depths.requires_grad
    depths = depths.reshape(-1) if trainable_depth else torch.as_tensor(depths, dtype=torch.float64).reshape(-1)
    wavelengths = torch.as_tensor(wavelengths, dtype=torch.float64).reshape(-1)
    dtype = height.dtype
    if check:
        radius = math.sqrt(float((aperture > 0).sum()) * grid.dx * grid.dy / math.pi)
        check_psf_sampling(grid, radius, wavelengths, sensor_distance, depths.detach(), focus_depth)
    phi = height_to_phase(height, material, wavelengths)  # (C, H, W)
    sph = (spherical_wave_phase(grid, depths, wavelengths, dtype, height.device) if trainable_depth
           else _spherical_cached(grid, depths, wavelengths, dtype, height.device))
    phi = phi[None] + sph  # (D, C, H, W)
    u = torch.polar(aperture.to(dtype).expand_as(phi), phi)
    # Fresnel transfer function (cached), cropping the sensor window before taking the intensity
    H_, W_ = grid.shape
    Hp, Wp = padded_shape(grid.shape, padding)
    failed = None  # (reason, fix) of a wavelength the grid test cannot pass
    if check:
        for wl in wavelengths.tolist():
            valid, reason, fix = grid_check("fresnel", grid.shape, grid.pitch, wl, float(sensor_distance), padding, None)
            if not valid:
                failed = (reason, fix)
    need_measure = failed is not None
    Ht = transfer_function("fresnel", (Hp, Wp), grid.pitch, wavelengths, float(sensor_distance), u.device, u.dtype)
    U = fft.fft2(pad_centered(u, (Hp, Wp)))
    if need_measure:
        loss = measured_loss(U, Ht, wavelengths, Grid((Hp, Wp), grid.pitch))
        if loss > 1e-6:
            raise SamplingError(f"psf_stack: the Fresnel transfer function would drop {loss:.3g} of the field's power "
                                f"({failed[0]}). Fix: {failed[1]}")
    out = fft.ifft2(U * Ht, norm="forward")  # Ht carries the 1/N
    side_h = (psf_px * factor) if psf_px is not None else H_ - H_ % factor
    side_w = (psf_px * factor) if psf_px is not None else W_ - W_ % factor
    if side_h > H_ or side_w > W_:
        raise ValueError(f"psf_px {psf_px} x factor {factor} exceeds the sensor grid {H_}x{W_}")
    # the window whose central pixel is centred on the axis sample (Hp // 2, Wp // 2)
    cy, cx = Hp // 2, Wp // 2
    t = cy - (side_h // factor // 2) * factor - factor // 2
    l = cx - (side_w // factor // 2) * factor - factor // 2
    out = out[..., t:t + side_h, l:l + side_w]
    I = out.real ** 2 + out.imag ** 2
    if factor > 1:
        I = pixel_integrate(I, factor)
    return I / I.sum((-2, -1), keepdim=True)


_SPH_CACHE: dict = {}


def _spherical_cached(grid, depths, wavelengths, dtype, device):
    key = (grid.shape, grid.pitch, tuple(depths.tolist()), tuple(wavelengths.tolist()), dtype, str(device))
    if key not in _SPH_CACHE:
        if len(_SPH_CACHE) > 16:
            _SPH_CACHE.clear()
        _SPH_CACHE[key] = spherical_wave_phase(grid, depths, wavelengths, dtype, device)
    return _SPH_CACHE[key]


def defocus_waves(radius: float, wavelength: float, d1: float, d2: float) -> float:
    """Peak defocus W020 (waves) between object distances d1 and d2 (m) for an aperture ``radius`` (m):
    a^2 / (2 lambda) |1/d1 - 1/d2|."""
    return radius ** 2 / (2 * wavelength) * abs(1 / d1 - 1 / d2)


def cubic_height(grid: Grid, radius: float, waves: float, material, design_wavelength: float,
                 dtype=torch.float32, device=None) -> torch.Tensor:
    """Cubic phase plate alpha ((x/R)^3 + (y/R)^3) with ``waves`` waves at the aperture edge (x = R), as a
    height map (m) at ``design_wavelength``; add it to a lens height (wavefront coding)."""
    from .. import materials
    x = grid.x(device, torch.float64) / radius
    y = grid.y(device, torch.float64) / radius
    phi = 2 * math.pi * waves * (x ** 3 + y ** 3)
    dn = materials.get(material).n(design_wavelength) - 1.0
    h = phi / (2 * math.pi / design_wavelength) / dn
    return (h - h.min()).to(dtype)
