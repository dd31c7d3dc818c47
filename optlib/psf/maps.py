"""PSF maps: PSFs over a grid of field points (and depths) of a traced lens, for spatially varying
rendering (:func:`optlib.imaging.render_varying`)."""
from __future__ import annotations

import math
from typing import Optional

import torch
from tqdm.auto import tqdm

from ..grid import Grid
from .geometric import geometric_psf
from .wave import wave_psf


def field_grid(n_grid: int, half_field: float):
    """Field angles (n, n, 2) (theta_x, theta_y) in rad of an evenly spaced n x n grid spanning
    +-``half_field`` (rad) on each axis, image rows running along +y (row 0 at -half_field)."""
    t = [(-half_field + 2 * half_field * i / (n_grid - 1)) if n_grid > 1 else 0.0 for i in range(n_grid)]
    return [[(t[j], t[i]) for j in range(n_grid)] for i in range(n_grid)]


def psf_map(lens, wavelength: float, grid: Grid, fields, method: str = "pupil", n_side: int = 64,
            depth: Optional[float] = None, progress: bool = False, **kwargs) -> torch.Tensor:
    """PSFs on ``grid`` (each centred on its chief ray's sensor hit) for nested lists ``fields`` of field
    angles (rad, a number for the y-z plane or a tuple (theta_x, theta_y)); with ``depth`` (m, object distance in front of the
    first vertex) the object is a point at that distance in the direction of the field angle instead of
    at infinity. ``method``: ``"pupil"``, ``"huygens"`` or ``"geometric"``. Returns a tensor shaped like
    ``fields`` followed by (H, W)."""
    def one(a):
        source = None
        if depth is not None:
            ax, ay = (0.0, a) if not isinstance(a, (tuple, list)) else a
            z = float(lens.surfaces[0].z) - depth
            source = (depth * math.tan(ax), depth * math.tan(ay), z)
        if method == "geometric":
            rays, _ = lens.pupil_bundle(wavelength, n_side, a, source)
            out = lens.trace(rays)
            chief = lens.trace(lens.chief_ray(wavelength, a, source)).o[0, :2]
            return geometric_psf(out.o[out.valid][:, :2], grid, center=chief)
        return wave_psf(lens, wavelength, grid, a, source, n_side, method, **kwargs)

    flat, shape = _flatten(fields)
    psfs = [one(a) for a in tqdm(flat, desc="PSF map", disable=not progress, leave=False)]
    return torch.stack(psfs).reshape(*shape, *grid.shape)


def _flatten(f):
    """Leaves (a number or an (x, y) pair of numbers) of a nested list, and the nesting shape."""
    if isinstance(f, (int, float)) or _is_pair(f):
        return [f], ()
    subs = [_flatten(g) for g in f]
    if len({s for _, s in subs}) > 1:
        raise ValueError("fields must be a regular (rectangular) nested list of field angles")
    return [x for leaves, _ in subs for x in leaves], (len(f),) + subs[0][1]


def _is_pair(f) -> bool:
    return isinstance(f, tuple) and len(f) == 2 and all(isinstance(v, (int, float)) for v in f)
