"""Geometric PSFs: a differentiable histogram of ray hits on a sensor grid, and the pure ray model of a lens
(with a DOE as a local grating: Yang et al.'s 'ray tracing' row of Table S.I)."""
from __future__ import annotations

from typing import Optional

import torch

from ..grid import Grid
from .pupil import traced_bundle


def geometric_psf(xy: torch.Tensor, grid: Grid, weights: Optional[torch.Tensor] = None,
                  normalize: bool = True) -> torch.Tensor:
    """Splat ray hits ``xy`` (N, 2) in metres (x, y) onto the positioned ``grid`` with bilinear weights.

    Each ray's weight (default 1) is shared among the four nearest samples in proportion to proximity, so
    the histogram is a continuous, differentiable function of the hit positions. Rays falling outside the
    grid are dropped. With ``normalize`` the result sums to the fraction of the total weight that landed
    (1 when every ray lands). Returns (H, W) in the dtype of ``xy``.
    """
    w = torch.ones(xy.shape[0], dtype=xy.dtype, device=xy.device) if weights is None else weights
    total = w.sum()
    out = torch.zeros(grid.shape[0] * grid.shape[1], dtype=xy.dtype, device=xy.device)
    for idx, wt, _, _, inside in grid.bilinear(xy[:, 0], xy[:, 1]):
        out = out.index_add(0, idx[inside], (w * wt)[inside])
    out = out.reshape(grid.shape)
    return out / total if normalize else out


def ray_psf(lens, wavelength: float, sensor: Grid, angle=0.0, source=None, n_side: int = 256,
            doe=None, convention: str = "aimed", radius=None) -> torch.Tensor:
    """Geometric PSF (H, W) on the positioned ``sensor`` grid: an ``n_side`` x ``n_side`` pupil bundle (by the
    pupil ``convention``, see :func:`optlib.psf.pupil_rays`) traced through ``lens``, through the ``doe`` (at
    its ``z``, behind the lens) as a local grating (each ray turned by the phase gradient where it crosses:
    the first diffraction order, no diffraction spreading), to the sensor; a ray histogram normalised to the
    power that lands."""
    out, _, _, n = traced_bundle(lens, wavelength, angle, source, n_side, doe, deflect=True,
                                 convention=convention, radius=radius)
    zs = lens.sensor_z
    hits = out.to_plane(zs, n)
    return geometric_psf(hits.o[hits.valid][:, :2], sensor)
