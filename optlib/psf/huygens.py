"""The Huygens model: every ray on the exit-pupil reference sphere is a secondary source, summed exactly onto
the sensor window's sub-samples, then pixels.

U(x) = sum_r a_r exp(i k (W_r + n (|x - Q_r| - R))) (R / |x - Q_r|) (1 + cos chi_r)/2, with chi_r the angle
between the ray and x - Q_r (the obliquity factor). It keeps what the pupil model's Debye sum approximates
(sphere-to-plane distances, the tilt of an off-axis sensor, the non-uniform pupil mapping) and costs
O(N_rays M^2). It runs in chunks so peak memory is bounded: about ``12 * 8 * chunk`` bytes of float64
temporaries, independent of the ray count (and, with gradients, each chunk is checkpointed so its graph is
rebuilt in backward instead of kept). Same normalisation as :func:`optlib.psf.pupil_psf`.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.utils.checkpoint

from ..field import Field
from ..grid import Grid
from ..imaging.sensor import pixelate
from ..propagation import check_replicas
from ..sampling import SamplingError
from .pupil import PupilRays, direction_grid, sub_samples


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
    """Intensity PSF (H, W) on the sensor ``grid`` (positioned), power per pixel, by summing every valid ray on
    the reference sphere as a Huygens source onto the window's sub-samples (see the module docstring), then
    :func:`~optlib.imaging.pixelate`.

    Work is split into blocks of at most ``chunk_elements`` (ray, sample) pairs: peak memory is about
    ``12 * 8 * chunk_elements`` bytes (100 MB at the default) whatever the ray count. ``check`` raises
    :class:`SamplingError` when the rays are too sparse for the window (replicas of the PSF would fold in).
    """
    dtype, device = pr.q.dtype, pr.q.device
    v = pr.valid
    P = pr.center
    q = pr.q[v] - P  # reference frame: P at the origin, sensor plane z = 0
    d, w = pr.d[v], pr.w[v]
    k = 2 * math.pi / pr.wavelength
    _, sx, _, sy = direction_grid(pr)
    N = pr.n_side
    n_valid = int(v.sum())
    dux, duy = (2 / N) * sx.abs(), (2 / N) * sy.abs()
    qs = sub_samples(grid, pr, sx, sy, oversample)
    fine = grid.subdivided(qs)
    Py, Px = float(P[1].detach()), float(P[0].detach())
    if check:
        try:
            check_replicas(Grid(N, (float(duy.detach()), float(dux.detach()))), fine.shifted(-Py, -Px),
                           pr.wavelength / pr.n, "huygens_psf")
        except SamplingError as e:
            raise SamplingError(f"{e}. With a pupil of {N} samples across, raise n_side") from None
    # amplitude per ray: the power 1 / N_valid spread over the pupil cell du_x du_y (per unit sensor area)
    amp = torch.sqrt(dux * duy / n_valid) / (pr.wavelength / pr.n) * torch.ones_like(w)
    x = fine.x(device, dtype).reshape(-1) - Px
    y = fine.y(device, dtype).reshape(-1) - Py
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
    U = torch.complex(torch.cat(re_parts), torch.cat(im_parts)).reshape(fine.shape)
    return pixelate(Field(U, fine, pr.wavelength), grid)
