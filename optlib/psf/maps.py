"""One entry point for the PSF of a traced lens by any model, over wavelengths, and PSF maps over field and
depth, for spatially varying rendering (:func:`optlib.imaging.render_varying`)."""
from __future__ import annotations

import math
from typing import Optional

import torch
from tqdm.auto import tqdm

from ..grid import Grid
from .geometric import ray_psf
from .huygens import huygens_psf
from .pupil import pupil_psf, pupil_rays
from .raywave import raywave_psf

MODELS = ("pupil", "huygens", "geometric", "raywave")


def wave_psf(lens, wavelength, grid: Grid, angle=0.0, source=None, n_side: int = 64, method: str = "pupil",
             centre: Optional[str] = "chief", doe=None, convention: str = "aimed", radius=None,
             **kwargs) -> torch.Tensor:
    """PSF of ``lens`` on a sensor ``grid`` by ``method`` (``"pupil"``, ``"huygens"``, ``"geometric"`` or
    ``"raywave"``), for a field ``angle`` (rad, or (theta_x, theta_y)) or a point ``source`` (x, y, z in m),
    with an optional ``doe`` behind the lens (each model treats it its own way: a pupil phase, a local grating,
    a wave element). ``centre="chief"`` centres ``grid`` on the chief ray's sensor hit; ``None`` uses it as
    positioned. ``wavelength``: metres, a number (returns (H, W)) or a ``(C,)`` tensor (returns (C, H, W), one
    trace per wavelength). ``convention`` (``"aimed"`` or ``"paraxial"``) and ``radius`` (m, an illuminated
    disc on the paraxial entrance pupil) choose which rays fill the pupil (:func:`optlib.psf.pupil_rays`);
    the chief ray that centres the grid follows the same convention. Extra keyword arguments go to the model."""
    if method not in MODELS:
        raise ValueError(f"unknown method {method!r}; one of {MODELS}")
    wl = torch.as_tensor(wavelength, dtype=torch.float64)
    if wl.dim() > 0:
        return torch.stack([wave_psf(lens, float(w), grid, angle, source, n_side, method, centre, doe, convention,
                                     radius, **kwargs) for w in wl.reshape(-1)])
    wl = float(wl)
    g = grid.at(lens.chief_hit(wl, angle, source, convention)) if centre == "chief" else grid
    if method == "geometric":
        return ray_psf(lens, wl, g, angle, source, n_side, doe, convention, radius)
    if method == "raywave":
        return raywave_psf(lens, wl, g, angle=angle, source=source, n_side=n_side, doe=doe, convention=convention,
                           radius=radius, **kwargs)
    pr = pupil_rays(lens, wl, angle, source, n_side, doe=doe, convention=convention, radius=radius)
    return (pupil_psf if method == "pupil" else huygens_psf)(pr, g, **kwargs)


def field_grid(n_grid: int, half_field: float, centres: bool = False):
    """Field angles (theta_x, theta_y) in rad of an n x n map over the square field of view whose sides are at
    ``half_field`` (rad) on each axis: nested lists (n, n) of pairs, image rows running along +y (row 0 at -y).
    The points are evenly spaced in the tangent (a direction is proportional to (tan theta_x, tan theta_y, 1)),
    so evenly on a distortion-free sensor. ``centres=False``: edge to edge (n >= 2 points per axis include
    +-``half_field``; n = 1 is the axis). ``centres=True``: the centres of the n x n equal cells that tile the
    square, each point standing for its cell (a PSF map for patch-wise rendering)."""
    if isinstance(n_grid, bool) or not isinstance(n_grid, int) or n_grid < 1:
        raise ValueError(f"field_grid: n_grid must be a whole number >= 1, got {n_grid!r}")
    if not (math.isfinite(half_field) and 0 <= half_field < math.pi / 2):
        raise ValueError(f"field_grid: half_field must be in [0, pi/2) rad, got {half_field!r}")
    if centres:
        u = [(2 * i + 1 - n_grid) / n_grid for i in range(n_grid)]
    else:
        u = [(2 * i - (n_grid - 1)) / (n_grid - 1) if n_grid > 1 else 0.0 for i in range(n_grid)]
    t = [math.atan(math.tan(half_field) * v) for v in u]
    return [[(t[j], t[i]) for j in range(n_grid)] for i in range(n_grid)]


def _square_orbits(fields, tol: float):
    """Each point of a square map as (its representative's key, the mirrors that take the representative to it),
    and the representatives {key: ((theta_x, theta_y), count)}; the shape of the nesting. See fold_square."""
    flat, shape = _flatten(fields)
    pts = [(0.0, float(f)) if not _is_pair(f) else (float(f[0]), float(f[1])) for f in flat]

    def key(x, y):
        return round(x / tol), round(y / tol)

    present = {key(x, y) for x, y in pts}
    groups, where = {}, []
    for x, y in pts:
        images = [(sx * a, sy * b) for a, b in ((x, y), (y, x)) for sx in (1, -1) for sy in (1, -1)]
        if any(key(*im) not in present for im in images):
            raise ValueError(f"fold_square: the map is not symmetric under the square's mirrors (({x:.6g}, "
                             f"{y:.6g}) rad has a mirror image that is not a map point); fold only a centred square "
                             "map")
        a, b = sorted((abs(x), abs(y)))
        k = key(a, b)
        rep, count = groups.get(k, ((a, b), 0))
        groups[k] = (rep, count + 1)
        # from the representative (a, b): swap the axes if |x| > |y|, then mirror x if x < 0 and y if y < 0
        where.append((k, key(abs(x), 0)[0] > key(abs(y), 0)[0], key(x, 0)[0] < 0, key(y, 0)[0] < 0))

    def angle(p):
        return math.atan(math.hypot(math.tan(p[0]), math.tan(p[1])))

    order = sorted(groups, key=lambda k: (angle(groups[k][0]), groups[k][0][0]))
    return where, {k: groups[k] for k in order}, shape


def fold_square(fields, tol: float = 1e-12):
    """A square map's points folded by the square's eight symmetries (theta_x -> -theta_x, theta_y -> -theta_y,
    theta_x <-> theta_y) to those with 0 <= theta_x <= theta_y. ``fields``: nested lists of (theta_x, theta_y)
    pairs (rad), as :func:`field_grid` gives. Returns [((theta_x, theta_y), weight)], the weight being the share
    of the map's points each stands for (the weights sum to 1), ordered by the field angle then theta_x.

    Use it where the system has the symmetry: a rotationally symmetric lens, and elements (and their pixels)
    unchanged by the square's symmetries; then each point's PSF is a mirror of its representative's
    (:func:`unfold_square` makes the whole map from them). Points equal within ``tol`` (rad) are one point.
    Raises ValueError for a map that the symmetries do not map onto itself (a rectangle, an off-centre map),
    whose fold would weight it wrongly."""
    where, groups, _ = _square_orbits(fields, tol)
    return [(rep, count / len(where)) for rep, count in groups.values()]


def unfold_square(psfs: torch.Tensor, fields, tol: float = 1e-12) -> torch.Tensor:
    """The whole map's PSFs from its folded points' (the inverse of :func:`fold_square`, for a system with the
    square's symmetries): ``psfs (K, ..., n, n)`` holds the PSFs of ``fold_square(fields)``'s K representatives
    in its order, on square grids with x along the last axis and y along the one before, centred on the same
    point of each spot (the chief ray's hit, the centroid). Each point of ``fields`` gets its representative's
    PSF mirrored as the point is: axes swapped (transposed) where |theta_x| > |theta_y|, then flipped along x
    where theta_x < 0 and along y where theta_y < 0. Returns a tensor shaped like ``fields``, then
    ``(..., n, n)``, in field coordinates (row i of :func:`field_grid`'s map at theta_y_i). Field angles as
    :func:`psf_map` takes them are the incoming rays' directions, which land on their own side of the axis: row
    i is then image row i. Angles that point to the object (a point source's direction) image on the opposite
    side: the PSF imaged at row i, column j is then the one at row -1 - i, column -1 - j (``flip(0, 1)``).
    Differentiable in ``psfs``."""
    where, groups, shape = _square_orbits(fields, tol)
    if psfs.dim() < 3 or psfs.shape[0] != len(groups) or psfs.shape[-1] != psfs.shape[-2]:
        raise ValueError(f"unfold_square: psfs must be (K, ..., n, n), K = {len(groups)} (the map's folded points), "
                         f"on square grids; got {tuple(psfs.shape)}")
    index = {k: i for i, k in enumerate(groups)}
    out = []
    for k, swap, flip_x, flip_y in where:
        p = psfs[index[k]]
        p = p.transpose(-1, -2) if swap else p
        dims = [d for d, f in ((-1, flip_x), (-2, flip_y)) if f]
        out.append(p.flip(dims) if dims else p)
    return torch.stack(out).reshape(*shape, *psfs.shape[1:])


def psf_map(lens, wavelength, grid: Grid, fields, method: str = "pupil", n_side: int = 64,
            depth: Optional[float] = None, progress: bool = False, distributed: Optional[bool] = None,
            **kwargs) -> torch.Tensor:
    """PSFs on ``grid`` (each centred on its chief ray's sensor hit) for nested lists ``fields`` of field
    angles (rad, a number for the y-z plane or a tuple (theta_x, theta_y)); with ``depth`` (m, object distance
    in front of the first vertex) the object is a point at that distance in the direction of the field angle
    instead of at infinity. ``method`` as :func:`wave_psf`. Returns a tensor shaped like ``fields``, then
    (C,) for a tensor of wavelengths, then (H, W).

    Sharded over processes under ``torchrun`` (``distributed=None``: when ``torch.distributed`` is initialised,
    e.g. by :func:`optlib.train.distributed_setup`): each process computes its contiguous share of the fields
    (:func:`optlib.train.shard`) and the shares are gathered, so every process returns the whole map, equal
    bitwise to one process's (each PSF is computed the same way wherever it runs). The gathered map carries no
    gradient: shard maps computed without one (a reference map, a full-scale rendering)."""
    if method not in MODELS:
        raise ValueError(f"unknown method {method!r}; one of {MODELS}")

    def one(a):
        source = None
        if depth is not None:
            ax, ay = (0.0, a) if not isinstance(a, (tuple, list)) else a
            z = float(lens.surfaces[0].z) - depth
            source = (depth * math.tan(ax), depth * math.tan(ay), z)
        return wave_psf(lens, wavelength, grid, a, source, n_side, method, **kwargs)

    flat, shape = _flatten(fields)
    import torch.distributed as dist
    initialised = dist.is_available() and dist.is_initialized()
    if distributed and not initialised:
        raise ValueError("psf_map(distributed=True): torch.distributed is not initialised (launch with torchrun and "
                         "call optlib.train.distributed_setup first)")
    world = dist.get_world_size() if initialised else 1
    if distributed is False or world == 1:
        psfs = [one(a) for a in tqdm(flat, desc="PSF map", disable=not progress, leave=False, mininterval=1.0)]
        return torch.stack(psfs).reshape(*shape, *psfs[0].shape)
    from ..train import shard
    rank = dist.get_rank()
    mine = shard(len(flat), rank, world)
    with torch.no_grad():
        local = [one(flat[i]).cpu() for i in tqdm(mine, desc=f"PSF map (rank {rank})", disable=not progress,
                                                   leave=False, mininterval=1.0)]
    parts = [None] * world
    dist.all_gather_object(parts, local)  # every rank's list of PSFs, in rank order = field order
    psfs = [p for part in parts for p in part]
    return torch.stack(psfs).reshape(*shape, *psfs[0].shape).to(lens.device)


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
