"""Light sources as Fields on a positioned Grid: a point at a finite distance and a (tilted) plane wave.
Lengths in metres, angles in radians, wavelengths in metres (a float or a ``(C,)`` tensor)."""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Optional

import torch

from .field import Field, as_wavelength, wl_view
from .grid import Grid


def spherical_phase(grid: Grid, distance, wavelength, position=(0.0, 0.0), device=None) -> torch.Tensor:
    """Phase (rad) k (sqrt(r^2 + d^2) - d) on ``grid`` of a point at ``distance`` (m) in front of it, laterally at
    ``position`` (y, x) (m): shape ``distance.shape + wavelength.shape + (H, W)``, e.g. ``(D, C, H, W)``. Written as k r^2 / (sqrt(r^2 + d^2) + d) so that a 1 km distance keeps its (tiny) curvature
    without cancellation. Float64; differentiable in ``distance`` when it is a tensor requiring grad."""
    d = (distance.to(device=device, dtype=torch.float64) if isinstance(distance, torch.Tensor)
         else torch.as_tensor(distance, dtype=torch.float64, device=device))
    if not bool(torch.isfinite(d).all()) or bool((d <= 0).any()):
        raise ValueError(f"point source distance must be positive and finite (metres), got {distance!r}; "
                         "for a source at infinity use plane_wave")
    wl = as_wavelength(wavelength, device=device)
    r2 = (grid.x(device) - position[1]) ** 2 + (grid.y(device) - position[0]) ** 2
    dv = d.reshape(*d.shape, *([1] * (wl.dim() + 2)))
    k = 2 * math.pi / wl_view(wl)
    return k * r2 / (torch.sqrt(r2 + dv * dv) + dv)


_SOURCE_CACHE: "OrderedDict[tuple, torch.Tensor]" = OrderedDict()


def point_source(grid: Grid, distance, wavelength, position=(0.0, 0.0), dtype=torch.complex64,
                 device=None) -> Field:
    """The spherical wave of a point at ``distance`` (m, a number or ``(D,)``) in front of the plane of ``grid``,
    at lateral ``position`` (y, x) (m), unit amplitude (the paraxial illumination of a small aperture):
    a Field shaped as :func:`spherical_phase`, e.g. ``(D, C, H, W)`` with wavelength ``(C,)``. Waves of plain
    distances are cached (a training loop asks for the same ones every step)."""
    wl = as_wavelength(wavelength, device=device)
    key = None
    if not (isinstance(distance, torch.Tensor) and distance.requires_grad):
        d = torch.as_tensor(distance, dtype=torch.float64)
        key = (grid, tuple(d.flatten().tolist()), tuple(d.shape), tuple(wl.flatten().tolist()), tuple(wl.shape),
               tuple(position), dtype, str(device))
        hit = _SOURCE_CACHE.get(key)
        if hit is not None:
            _SOURCE_CACHE.move_to_end(key)
            return Field(hit, grid, wl)
    ph = spherical_phase(grid, distance, wavelength, position, device)
    u = torch.polar(torch.ones_like(ph), ph).to(dtype)
    if key is not None:
        _SOURCE_CACHE[key] = u
        while len(_SOURCE_CACHE) > 16:
            _SOURCE_CACHE.popitem(last=False)
    return Field(u, grid, wl)


def plane_wave(grid: Grid, wavelength, angle=(0.0, 0.0), n: float = 1.0, carrier: bool = False,
               dtype=torch.complex64, device=None) -> Field:
    """A unit-amplitude plane wave at field ``angle`` (theta_x, theta_y) (rad; a number means theta_y), direction
    proportional to (tan theta_x, tan theta_y, 1), in a medium of index ``n``. With ``carrier`` the tilt is
    kept as the Field's carrier (any angle); otherwise it is sampled into the field, which must resolve it.
    One wavelength (the tilt's frequency depends on it)."""
    ax, ay = (0.0, float(angle)) if not isinstance(angle, (tuple, list)) else (float(angle[0]), float(angle[1]))
    if not (math.isfinite(ax) and math.isfinite(ay) and abs(ax) < math.pi / 2 and abs(ay) < math.pi / 2):
        raise ValueError(f"plane_wave: the field angle must be finite and below 90 degrees (radians), got {angle!r}")
    wl = float(as_wavelength(wavelength))
    t = math.sqrt(math.tan(ax) ** 2 + math.tan(ay) ** 2 + 1)
    f = (n * math.tan(ay) / t / wl, n * math.tan(ax) / t / wl)
    u = torch.ones(grid.shape, dtype=dtype, device=device)
    field = Field(u, grid, wl, carrier=f)
    return field if carrier else field.with_carrier((0.0, 0.0))


def paraxial_focus(distance: Optional[float], focal_length: float) -> float:
    """Image distance (m) of a point at ``distance`` (m, ``None`` or inf: at infinity) through a thin lens of
    focal length ``focal_length`` (m): 1/z = 1/f - 1/d."""
    if distance is None or math.isinf(distance):
        return focal_length
    return 1.0 / (1.0 / focal_length - 1.0 / distance)
