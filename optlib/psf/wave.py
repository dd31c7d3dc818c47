"""Wave-optics PSFs of ray-traced lenses: the pupil method and the Huygens method.

Both start from the same coherent ray bundle: rays aimed on a square grid across the aperture stop (so
the pupil is filled uniformly, every ray carrying the same power), traced through the lens in float64 and
carried to the exit-pupil *reference sphere*: the sphere centred on the reference image point P (the
chief ray's hit on the sensor) through the paraxial exit-pupil centre, radius R. The optical path to the
sphere, minus the chief ray's, is the wavefront error W (m).

* Pupil method (`pupil_psf`): the Debye integral over the sphere. For a sensor point x near P,
  |x - Q| ~= R + u . (x - P) with u = (P - Q)/R, so the field is a Fourier sum over the pupil,
  U(x) = sum_r exp(i k W_r) exp(i k n u_r . (x - P)). With the pupil on a uniform grid (u linear in the
  pupil coordinates, fitted to the traced points) the sum is separable: two matrix products (a matrix
  DFT, any output pitch, no padding), cost O(N^2 M + N M^2) for an N x N pupil and M x M sensor grid.
* Huygens method (`huygens_psf`): every ray's point Q_r on the sphere is a secondary source, summed
  exactly onto the sensor grid, U(x) = sum_r a_r exp(i k (W_r + n (|x - Q_r| - R))) (R / |x - Q_r|)
  (1 + cos chi_r)/2, with chi_r the angle between the ray and x - Q_r (the obliquity factor). It keeps
  what the Debye sum approximates (sphere-to-plane distances, the tilt of an off-axis sensor, the
  non-uniform pupil mapping) and costs O(N_rays M^2). It runs in chunks so peak memory is bounded: about
  ``12 * 8 * chunk`` bytes of float64 temporaries, independent of the ray count (and, with gradients,
  each chunk is checkpointed so its graph is rebuilt in backward instead of kept).

Normalisation (both): each ray carries 1/N_valid of the power and the pupil cell is the fitted
direction-cosine cell du_x du_y, so sum(psf) over an infinite grid is 1 (Parseval); the returned
values are the fraction of the power on each pixel (sampled at pixel centres times the pixel area). A
grid too small for the PSF therefore sums to less than 1, which tells the user to widen it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.utils.checkpoint

from ..grid import Grid
from ..sampling import SamplingError


@dataclass
class PupilRays:
    """A coherent bundle on the exit-pupil reference sphere.

    ``q`` (N, 3) points on the sphere (m), ``d`` (N, 3) ray directions, ``w`` (N,) wavefront error (m,
    optical path relative to the chief ray), ``valid`` (N,), ``pupil`` (N, 2) normalised stop coordinates
    of the (n_side x n_side) grid, ``center`` (3,) reference image point P, ``radius`` R (m), ``n`` image
    space index, ``wavelength`` (m, vacuum), ``n_side``.
    """

    q: torch.Tensor
    d: torch.Tensor
    w: torch.Tensor
    valid: torch.Tensor
    pupil: torch.Tensor
    center: torch.Tensor
    radius: torch.Tensor
    n: float
    wavelength: float
    n_side: int


def pupil_rays(lens, wavelength: float, angle=0.0, source=None, n_side: int = 64,
               center: Optional[torch.Tensor] = None) -> PupilRays:
    """Trace an aimed ``n_side`` x ``n_side`` pupil grid at field ``angle`` (rad) or from a point ``source``
    (x, y, z in m) and carry it to the exit-pupil reference sphere. ``center`` overrides the reference
    point (default: the chief ray's hit on the sensor plane). Differentiable in the lens parameters."""
    rays, pupil = lens.pupil_bundle(wavelength, n_side, angle, source)
    out = lens.trace(rays, to_sensor=False)
    chief = lens.trace(lens.chief_ray(wavelength, angle, source), to_sensor=False)
    zs = lens.sensor_z if isinstance(lens.sensor_z, torch.Tensor) else torch.tensor(float(lens.sensor_z), dtype=out.o.dtype)
    if not bool(chief.valid[0]):
        raise ValueError(f"the chief ray at field {angle!r} does not pass the lens; the field is beyond the lens' coverage")
    t_c = (zs - chief.o[0, 2]) / chief.d[0, 2]
    p_chief = chief.o[0] + t_c * chief.d[0]
    P = p_chief if center is None else center
    par = lens.paraxial(wavelength)
    E = torch.zeros(3, dtype=out.o.dtype, device=out.o.device)
    E = E + torch.tensor([0.0, 0.0, par["exit_pupil_z"]], dtype=out.o.dtype, device=out.o.device)
    R = torch.linalg.norm(P - E)
    n = lens.materials[-1].n(wavelength)

    def to_sphere(o, d, opl):
        # |o + t d - P| = R, first crossing (the ray runs towards P); t < 0 where the pupil is virtual
        v = o - P
        b = (d * v).sum(-1)
        c = (v * v).sum(-1) - R * R
        disc = torch.clamp(b * b - c, min=0)
        t = -b - torch.sqrt(disc)
        return o + t[..., None] * d, opl + n * t

    q, opl = to_sphere(out.o, out.d, out.opl)
    _, opl_c = to_sphere(chief.o, chief.d, chief.opl)
    w = torch.where(out.valid, opl - opl_c[0], torch.zeros_like(opl))
    return PupilRays(q, out.d, w, out.valid, pupil, P, R, n, wavelength, n_side)


def _direction_grid(pr: PupilRays):
    """Fit u = (P - Q)/R on the valid rays as affine functions of the pupil coordinates (per axis) and
    return (u0x, sx, u0y, sy): u_x ~= u0x + sx p_x. Least squares, differentiable."""
    v = pr.valid
    u = (pr.center - pr.q[v]) / pr.radius
    p = pr.pupil[v]
    out = []
    for a in (0, 1):
        X = torch.stack([torch.ones_like(p[:, a]), p[:, a]], -1)
        sol = torch.linalg.lstsq(X, u[:, a:a + 1]).solution[:, 0]
        out += [sol[0], sol[1]]
    return out


def _check_period(pr: "PupilRays", grid: Grid, dux, duy, who: str):
    """A sum over pupil samples spaced du in direction cosine repeats on the sensor with period
    lambda / (n du): the grid must fit inside one period, or replicas of the PSF fold onto it."""
    N = pr.n_side
    period = min(pr.wavelength / (pr.n * float(dux.detach())), pr.wavelength / (pr.n * float(duy.detach())))
    extent = max(grid.extent)
    if extent > period:
        raise SamplingError(f"{who}: the sensor grid ({extent:.3e} m) is wider than the alias-free period "
                            f"{period:.3e} m of a {N}-sample pupil; raise n_side to at least "
                            f"{math.ceil(N * extent / period)} or shrink the grid")


def _sensor_axes(grid: Grid, dtype, device, q: int = 1):
    """Pixel-centred sub-sample coordinates (m): q per pixel per axis, pixel-major order."""
    off = (torch.arange(q, dtype=dtype, device=device) - (q - 1) / 2) / q
    x = grid.x(device, dtype).reshape(-1, 1) + off[None, :] * grid.dx
    y = grid.y(device, dtype).reshape(-1, 1) + off[None, :] * grid.dy
    return x.reshape(-1), y.reshape(-1)


def _oversample(grid: Grid, pr: "PupilRays", sx, sy, oversample):
    """Sub-samples per pixel so that pixel values integrate the PSF: the intensity's band limit is
    2 n u_max / lambda, so samples finer than lambda / (4 n u_max) resolve it."""
    if oversample is not None:
        return int(oversample)
    umax = max(abs(float(sx.detach())), abs(float(sy.detach())))
    return max(1, math.ceil(max(grid.dx, grid.dy) * 4 * pr.n * umax / pr.wavelength))


def _bin(I: torch.Tensor, grid: Grid, q: int) -> torch.Tensor:
    H, W = grid.shape
    return I.reshape(H, q, W, q).sum((1, 3)) / (q * q)


def pupil_psf(pr: PupilRays, grid: Grid, check: bool = True, oversample: Optional[int] = None) -> torch.Tensor:
    """Intensity PSF (H, W) on ``grid`` (centred on the reference point), fraction of the power per pixel,
    by the Debye/Fraunhofer sum over the pupil grid (a separable matrix DFT).

    ``check`` raises :class:`SamplingError` when the wavefront changes by more than half a wave between
    neighbouring pupil samples, or when the grid is wider than the sum's period lambda / (n du) (either
    way the PSF would alias: use more pupil samples, ``n_side``). Pixels integrate the PSF over
    ``oversample`` x ``oversample`` sub-samples (default: just enough to resolve the intensity, see
    ``_oversample``).
    """
    N, k = pr.n_side, 2 * math.pi * pr.n / pr.wavelength
    dtype, device = pr.q.dtype, pr.q.device
    t = (torch.arange(N, dtype=dtype, device=device) + 0.5) / N * 2 - 1
    # scatter the bundle (rays inside the disc) back onto the N x N grid
    ix = torch.round((pr.pupil[:, 0] + 1) * N / 2 - 0.5).long()
    iy = torch.round((pr.pupil[:, 1] + 1) * N / 2 - 0.5).long()
    W = torch.zeros(N, N, dtype=dtype, device=device).index_put((iy, ix), pr.w)
    A = torch.zeros(N, N, dtype=dtype, device=device).index_put((iy, ix), pr.valid.to(dtype))
    if check:
        gx = (W[:, 1:] - W[:, :-1])[(A[:, 1:] * A[:, :-1]) > 0].detach()
        gy = (W[1:] - W[:-1])[(A[1:] * A[:-1]) > 0].detach()
        step = max([float(g.abs().max()) for g in (gx, gy) if g.numel()] + [0.0])
        if step * pr.n > pr.wavelength / 2:
            raise SamplingError(f"pupil_psf: the wavefront changes by {step * pr.n / pr.wavelength:.2f} waves between "
                                f"neighbouring pupil samples (limit 0.5); raise n_side above "
                                f"{math.ceil(N * 2 * step * pr.n / pr.wavelength)}")
    u0x, sx, u0y, sy = _direction_grid(pr)
    dux, duy = (2 / N) * sx.abs(), (2 / N) * sy.abs()
    if check:
        _check_period(pr, grid, dux, duy, "pupil_psf")
    q = _oversample(grid, pr, sx, sy, oversample)
    x, y = _sensor_axes(grid, dtype, device, q)
    # the reference point sits at the grid centre; the linear term u0 only adds a phase ramp (dropped)
    Ax = torch.polar(torch.ones(len(x), N, dtype=dtype, device=device), k * sx * x[:, None] * t[None, :])
    Ay = torch.polar(torch.ones(len(y), N, dtype=dtype, device=device), k * sy * y[:, None] * t[None, :])
    Pf = torch.polar(A, (2 * math.pi / pr.wavelength) * W)  # W is an optical path: vacuum wavenumber
    U = Ay @ Pf @ Ax.transpose(0, 1)
    n_valid = A.sum()
    scale = grid.dx * grid.dy * dux * duy / (pr.wavelength / pr.n) ** 2 / n_valid
    return _bin((U.real ** 2 + U.imag ** 2) * scale, grid, q)


def _huygens_chunk(qx, qy, qz, dx_, dy_, dz_, w, amp, x, y, k, R, n):
    # (rays, pixels) temporaries; returns the (pixels,) complex contribution as (re, im)
    ex = x[None, :] - qx[:, None]
    ey = y[None, :] - qy[:, None]
    ez = -qz[:, None]  # sensor plane at z = 0 in the reference frame
    dist = torch.sqrt(ex * ex + ey * ey + ez * ez)
    cos_chi = (ex * dx_[:, None] + ey * dy_[:, None] + ez * dz_[:, None]) / dist
    # |x - Q| - R without cancellation: (|x - Q|^2 - R^2) / (|x - Q| + R)
    delta = (dist * dist - R * R) / (dist + R)
    phase = k * (w[:, None] + n * delta)
    a = amp[:, None] * (R / dist) * (1 + cos_chi) / 2
    return (a * torch.cos(phase)).sum(0), (a * torch.sin(phase)).sum(0)


def huygens_psf(pr: PupilRays, grid: Grid, chunk_elements: int = 1 << 20,
                oversample: Optional[int] = None, check: bool = True) -> torch.Tensor:
    """Intensity PSF (H, W) on ``grid`` (centred on the reference point), fraction of the power per pixel,
    by summing every valid ray on the reference sphere as a Huygens source (see the module docstring).

    Work is split into blocks of at most ``chunk_elements`` (ray, pixel) pairs: peak memory is about
    ``12 * 8 * chunk_elements`` bytes (100 MB at the default) whatever the ray count, and with gradients
    every block is checkpointed (recomputed in backward), so the graph holds only the per-block sums.
    Pixels integrate over ``oversample`` sub-samples per axis, as in :func:`pupil_psf`; ``check`` raises
    :class:`SamplingError` when the rays are too sparse for the grid (replicas of the PSF would fold in).
    """
    dtype, device = pr.q.dtype, pr.q.device
    v = pr.valid
    P = pr.center
    q = pr.q[v] - P  # reference frame: P at the origin, sensor plane z = 0
    d, w = pr.d[v], pr.w[v]
    k = 2 * math.pi / pr.wavelength
    _, sx, _, sy = _direction_grid(pr)
    N = pr.n_side
    n_valid = int(v.sum())
    dux, duy = (2 / N) * sx.abs(), (2 / N) * sy.abs()
    if check:
        _check_period(pr, grid, dux, duy, "huygens_psf")
    amp = torch.sqrt(grid.dx * grid.dy * dux * duy / n_valid) / (pr.wavelength / pr.n) * torch.ones_like(w)
    qs = _oversample(grid, pr, sx, sy, oversample)
    x, y = _sensor_axes(grid, dtype, device, qs)
    X = x[None, :].expand(len(y), -1).reshape(-1)
    Y = y[:, None].expand(-1, len(x)).reshape(-1)
    n_pix = X.numel()
    pix_chunk = max(1, min(n_pix, chunk_elements))
    ray_chunk = max(1, chunk_elements // pix_chunk)
    ckpt = torch.is_grad_enabled() and any(t.requires_grad for t in (q, d, w))
    re_parts, im_parts = [], []
    for j in range(0, n_pix, pix_chunk):
        xs, ys = X[j:j + pix_chunk], Y[j:j + pix_chunk]
        re = torch.zeros(len(xs), dtype=dtype, device=device)
        im = torch.zeros_like(re)
        for i in range(0, q.shape[0], ray_chunk):
            args = (q[i:i + ray_chunk, 0], q[i:i + ray_chunk, 1], q[i:i + ray_chunk, 2], d[i:i + ray_chunk, 0],
                    d[i:i + ray_chunk, 1], d[i:i + ray_chunk, 2], w[i:i + ray_chunk], amp[i:i + ray_chunk], xs, ys)
            if ckpt:
                r_, i_ = torch.utils.checkpoint.checkpoint(_huygens_chunk, *args, k, pr.radius, pr.n,
                                                           use_reentrant=False)
            else:
                r_, i_ = _huygens_chunk(*args, k, pr.radius, pr.n)
            re, im = re + r_, im + i_
        re_parts.append(re)
        im_parts.append(im)
    re, im = torch.cat(re_parts), torch.cat(im_parts)
    return _bin((re * re + im * im).reshape(len(y), len(x)), grid, qs)


def wave_psf(lens, wavelength: float, grid: Grid, angle=0.0, source=None, n_side: int = 64,
             method: str = "pupil", **kwargs) -> torch.Tensor:
    """Wave PSF of ``lens`` on a sensor ``grid`` centred on the chief ray's hit: ``method`` ``"pupil"``
    (fast, the default) or ``"huygens"`` (exact sum, memory-bounded). See :func:`pupil_psf`."""
    pr = pupil_rays(lens, wavelength, angle, source, n_side)
    if method == "pupil":
        return pupil_psf(pr, grid, **kwargs)
    if method == "huygens":
        return huygens_psf(pr, grid, **kwargs)
    raise ValueError(f"unknown method {method!r}; use 'pupil', 'huygens' or 'geometric' (psf_map), or "
                     "optlib.psf.raywave_psf")
