"""The thin-element model (paraxial wave optics; Sitzmann et al. 2018, the 'paraxial' row of Yang et al.'s
Table S.I): a source's wave on the element's grid -> the elements (DOEs, apertures, thin lenses) -> free-space
propagation to the sensor -> pixels.

    u = point_source(grid, depths, wavelengths)   # or a plane wave for a source at infinity
    for element in elements: u = element(u)
    u = propagate(u, z, method)                     # the Fresnel transfer function by default
    psf = pixelate(u, sensor)                       # power per pixel (optionally normalised)

Sampling: the propagation checks its own kernel; :func:`check_thin_sampling` checks what the field itself
must resolve (the phase slopes of the element and of the spherical waves at the aperture edge), which a
sampled field cannot reveal about itself.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from ..field import Field, as_wavelength
from ..grid import Grid
from ..imaging.sensor import pixelate
from ..propagation import propagate
from ..sampling import SamplingError
from ..sources import plane_wave, point_source


def thin_element_psf(elements: Sequence, grid: Grid, sensor: Grid, z, wavelengths, depths=None, angle=0.0,
                     method: str = "fresnel", padding: float = 2.0, normalize: bool = True, check: bool = True,
                     dtype=torch.complex64, device=None, oversample: int = 3) -> torch.Tensor:
    """PSFs of a stack of thin ``elements`` (callables Field -> Field, e.g. :class:`~optlib.elements.DOE`,
    :class:`~optlib.elements.Aperture`, :class:`~optlib.elements.ThinLens`) sampled on ``grid``, for points at
    ``depths`` (m, ``(D,)``; a tensor requiring grad makes the PSFs differentiable in depth; ``None``: a plane
    wave at field ``angle``) and ``wavelengths`` (m, ``(C,)``), on the positioned pixel grid ``sensor`` ``z``
    metres behind the elements (e.g. ``grid.pixels(factor, n)``). Returns ``(D, C, H, W)`` (``(C, H, W)``
    without depths): the power per pixel, normalised to sum 1 per PSF with ``normalize``. The precision
    follows ``dtype``; ``method`` and ``padding`` go to :func:`~optlib.propagation.propagate`. The same-grid
    methods (``"fresnel"``, ``"asm"``) need ``grid``'s samples to tile the sensor's pixels; ``"fresnel1"``,
    ``"fraunhofer"`` and ``"rs"`` evaluate the field directly on ``oversample`` x ``oversample`` sub-samples of
    each pixel (any grid pitch; one wavelength at a time for the first two)."""
    if device is None:  # follow the elements' tensors
        device = next((t.device for el in elements if isinstance(el, torch.nn.Module)
                       for t in list(el.parameters()) + list(el.buffers())), None)
    wl = as_wavelength(wavelengths, device=device).reshape(-1)
    if depths is None:
        if wl.numel() == 1:
            u = plane_wave(grid, float(wl), angle, dtype=dtype, device=device)
            u = Field(u.u[None], grid, wl)
        elif angle == 0 or angle == (0.0, 0.0):
            u = Field(torch.ones(wl.numel(), *grid.shape, dtype=dtype, device=device), grid, wl)
        else:
            raise ValueError("a tilted plane wave needs one wavelength at a time (its tilt's frequency depends on it)")
    else:
        trainable = isinstance(depths, torch.Tensor) and depths.requires_grad
        d = depths.reshape(-1) if trainable else torch.as_tensor(depths, dtype=torch.float64).reshape(-1)
        u = point_source(grid, d, wl, dtype=dtype, device=device)
    for el in elements:
        u = el(u)
    if method in ("asm", "fresnel", "auto"):
        out = propagate(u, z, method=method, check=check, padding=padding)
    else:
        out = propagate(u, z, method=method, check=check, output_grid=sensor.subdivided(oversample))
    P = pixelate(out, sensor)
    return P / P.sum((-2, -1), keepdim=True) if normalize else P


def check_thin_sampling(grid: Grid, radius: float, wavelengths, z: float, depths=(), focus_depth: float = math.inf,
                        extra_slope: float = 0.0) -> float:
    """Raise :class:`SamplingError` unless the fields of an element that focuses ``focus_depth`` (m) onto a plane
    ``z`` (m) behind it are sampled at the shortest wavelength: at the aperture edge (``radius`` m) the element's
    phase has local frequency r (1/z + 1/d_f) / lambda, the incoming spherical wave of a point at depth d
    r / (lambda d), and the wave leaving it r |1/z + 1/d_f - 1/d| / lambda (1/m); each, plus ``extra_slope``
    (1/m, e.g. a cubic term), must stay below the Nyquist frequency 1/(2 dx). Returns the worst ratio to it."""
    lam = float(as_wavelength(wavelengths).min())
    ds = [float(d) for d in torch.as_tensor(depths, dtype=torch.float64).reshape(-1)]
    inv_f = 1 / z + (1 / focus_depth if math.isfinite(focus_depth) else 0.0)
    worst = max([inv_f] + [1 / d for d in ds] + [abs(inv_f - 1 / d) for d in ds])
    f = radius * worst / lam + extra_slope
    nyq = min(grid.nyquist)
    if f > nyq * (1 + 1e-9):
        raise SamplingError(f"the element's or the wave's phase at the aperture edge has local frequency {f:.4g} 1/m, "
                            f"above the Nyquist frequency {nyq:.4g} 1/m (pitch {grid.dx:.3g} m). Fix: pitch <= "
                            f"{0.5 / f:.3g} m, a smaller aperture or a longer distance z")
    return f / nyq


def thin_lens_equivalent(lens, wavelength: float):
    """A traced lens as the thin-element model sees it: (focal length, aperture radius, distance from its rear
    principal plane to the sensor) in metres, from its paraxial data at ``wavelength`` (m): EFL, entrance-pupil
    radius and sensor_z - (image_z - EFL)."""
    par = lens.paraxial(wavelength)
    principal = par["image_z"] - par["efl"]
    zs = float(lens.sensor_z.detach()) if isinstance(lens.sensor_z, torch.Tensor) else float(lens.sensor_z)
    return par["efl"], par["entrance_pupil_radius"], zs - principal
