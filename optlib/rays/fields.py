"""Rays hand over a Field: coherent rays crossing a plane become the complex field they carry there.

The splat (Yang et al. 2024, Fig. S1): every ray spreads its power to the four nearest samples of the grid
with bilinear weights b, each carrying the ray's phase carried from its hit to that sample along the ray,
phi = k (L + n d_xy . (x_s - p)) (a local plane wave; L the optical path, k = 2 pi / lambda). A sample's field
is E = sqrt(P_ray / dA) sum(b e^{i phi}) / sqrt(sum b): where the rays agree in phase the intensity is the ray
density (so the splatted power equals the rays' power), where crossing rays disagree they interfere. A
carrier (the chief ray's tilt) can be left out of the samples (:class:`optlib.Field`), so a steep beam is
sampled by its slowly varying envelope. Float64 throughout: the phase of a path metres long needs it.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch

from ..field import Field
from ..grid import Grid
from ..sampling import SamplingError
from .lens import Rays


#: the smallest beam radius, in grid samples, that :func:`to_field` accepts (L1 error of the PSF about 1/32)
MIN_BEAM_SAMPLES = 32


def carrier_of(direction: torch.Tensor, wavelength: float, n: float = 1.0) -> Tuple[float, float]:
    """The carrier (fy, fx) (1/m) of a plane wave along unit ``direction`` (3,) in index ``n``: n (d_y, d_x) / lambda."""
    d = direction.detach().to(torch.float64).reshape(-1)
    return n * float(d[1]) / wavelength, n * float(d[0]) / wavelength


def to_field(rays: Rays, grid: Grid, n: float = 1.0, carrier=(0.0, 0.0), reference=0.0,
             power: Optional[torch.Tensor] = None, check: bool = True) -> Field:
    """The Field on ``grid`` (positioned, in the plane the rays lie on) carried by coherent ``rays``.

    Args:
        rays: rays on one plane z (e.g. :meth:`Rays.to_plane`); invalid rays are ignored.
        grid: where to sample the field (global coordinates, m).
        n: index of the medium at the plane.
        carrier: (fy, fx) (1/m) left out of the samples (e.g. :func:`carrier_of` the chief ray), kept on the Field.
        reference: optical path (m) subtracted from every ray's (e.g. the chief ray's): a constant phase.
        power: (N,) power per ray (W); default: the valid rays share 1 W equally.
        check: raise :class:`SamplingError` when the grid cannot hold the rays: directions about the carrier
            too steep for its pitch (dx <= lambda / (2 n max|d_xy - d_c|)), rays sparser than its samples, a
            beam wider than the window, or narrower than ``MIN_BEAM_SAMPLES`` samples in radius (near focus).
    Returns a complex128 Field with the rays' wavelength and ``carrier``.
    """
    v = rays.valid
    if not bool(v.any()):
        raise ValueError("to_field: no valid rays")
    if check:
        wl = float(rays.wavelength)
        fc = (float(carrier[0]), float(carrier[1]))
        _check(rays.o[v].detach().to(torch.float64), rays.d[v].detach().to(torch.float64), grid, wl, n,
               (fc[0] * wl / n, fc[1] * wl / n))
    if power is None:
        count = int(v.sum())
        power = torch.full(v.shape, 1.0 / count, dtype=torch.float64, device=v.device)
    acc = Splat(grid, float(rays.wavelength), n, carrier, reference)
    acc.add(rays, power)
    return acc.field()


class Splat:
    """The splat of :func:`to_field`, a bundle at a time: coherent rays on one plane added chunk by chunk into
    the sums of one Field, so that a bundle of any size costs the memory of one chunk (trace a chunk, add it,
    drop it). :func:`to_field` is one :meth:`add` and :meth:`field`.

    Args as :func:`to_field`: ``grid`` (positioned, m), ``wavelength`` (m), ``n``, ``carrier`` (fy, fx) (1/m),
    ``reference`` (m of optical path subtracted from every ray's)."""

    def __init__(self, grid: Grid, wavelength: float, n: float = 1.0, carrier=(0.0, 0.0), reference=0.0):
        self.grid, self.wl, self.n = grid, float(wavelength), float(n)
        self.carrier = (float(carrier[0]), float(carrier[1]))
        self.reference = reference
        self.sums = None
        self.count = 0
        self.unit_power = None

    def add(self, rays: Rays, power: Optional[torch.Tensor] = None) -> None:
        """Add ``rays`` (on the grid's plane; invalid ones ignored), each carrying ``power`` (N,) (W), default
        1 W each (then :meth:`field` divides by the number of valid rays added)."""
        if self.unit_power is not None and self.unit_power != (power is None):
            raise ValueError("Splat.add: give every chunk its power, or none (1 W per ray)")
        self.unit_power = power is None
        v = rays.valid
        self.count += int(v.sum())
        p = rays.o[v].to(torch.float64)
        d = rays.d[v].to(torch.float64)
        ref = self.reference
        L = rays.opl[v].to(torch.float64) - (ref.to(torch.float64) if isinstance(ref, torch.Tensor) else float(ref))
        n, fc = self.n, self.carrier
        dc = (fc[0] * self.wl / n, fc[1] * self.wl / n)  # the carrier's direction cosines (y, x)
        k = 2 * math.pi / self.wl
        # phase k (L + n d . (x_s - p)) - 2 pi f_c . x_s = k (w + n (d - d_c) . (x_s - p)),  w = L - n d_c . p
        w = L - n * (dc[1] * p[:, 0] + dc[0] * p[:, 1])
        rx, ry = d[:, 0] - dc[1], d[:, 1] - dc[0]
        if self.sums is None:
            H, W_ = self.grid.shape
            z = torch.zeros(H * W_, dtype=torch.float64, device=p.device)
            self.sums = [z, torch.zeros_like(z), torch.zeros_like(z)]
        acc_re, acc_im, acc_b = self.sums
        pw = None if power is None else power[v].to(torch.float64)
        for idx, b, xs, ys, inside in self.grid.bilinear(p[:, 0], p[:, 1]):
            phi = k * (w + n * (rx * (xs - p[:, 0]) + ry * (ys - p[:, 1])))  # carried from the hit to the sample
            idx, bp = idx[inside], (b if pw is None else b * pw)[inside]
            # in place: a copy of the window's sums per corner and chunk would cost more than the splat itself
            # (autograd records it: index_add's backward needs neither the sums nor their old values)
            acc_re.index_add_(0, idx, bp * torch.cos(phi[inside]))
            acc_im.index_add_(0, idx, bp * torch.sin(phi[inside]))
            acc_b.index_add_(0, idx, bp)

    def field(self) -> Field:
        """The complex128 Field of the rays added so far (power 1 W in all when they came without ``power``)."""
        if self.sums is None or self.count == 0:
            raise ValueError("to_field: no valid rays")
        acc_re, acc_im, acc_b = self.sums
        has = acc_b > 0
        norm = torch.where(has, torch.rsqrt(torch.where(has, acc_b, torch.ones_like(acc_b))), torch.zeros_like(acc_b))
        scale = 1.0 / math.sqrt(self.grid.dx * self.grid.dy)
        if self.unit_power:
            scale = scale / math.sqrt(self.count)
        H, W_ = self.grid.shape
        E = torch.complex(acc_re * norm * scale, acc_im * norm * scale).reshape(H, W_)
        return Field(E, self.grid, self.wl, carrier=self.carrier)


def check_field_sampling(rays: Rays, grid: Grid, n: float = 1.0, carrier=(0.0, 0.0), n_rays=None) -> None:
    """The checks :func:`to_field` runs, without the splat: raises :class:`~optlib.sampling.SamplingError` (with
    the fix) unless the pitch resolves the rays' directions about ``carrier``, the window holds the beam, the beam
    is at least ``MIN_BEAM_SAMPLES`` samples in radius and the rays are denser than the samples. ``n_rays``:
    judge the density as if the same footprint held that many valid rays (a dry run checks a full-scale bundle
    from a small one of the same geometry)."""
    v = rays.valid
    if not bool(v.any()):
        raise ValueError("check_field_sampling: no valid rays")
    wl = float(rays.wavelength)
    fc = (float(carrier[0]), float(carrier[1]))
    _check(rays.o[v].detach().to(torch.float64), rays.d[v].detach().to(torch.float64), grid, wl, n,
           (fc[0] * wl / n, fc[1] * wl / n), n_rays)


def _check(p, d, grid: Grid, wl: float, n: float, dc, n_rays=None):
    z = p[:, 2]
    if float((z - z.mean()).abs().max()) > 1e-9:
        raise ValueError("to_field: the rays are not on one plane; carry them there first (Rays.to_plane)")
    spread = float(torch.maximum((d[:, 0] - dc[1]).abs(), (d[:, 1] - dc[0]).abs()).max())
    dx = max(grid.pitch)
    if spread > 0 and dx > wl / (2 * n * spread):
        raise SamplingError(f"rays to a field: the pitch {dx:.3e} m does not resolve the rays' directions (spread "
                            f"{spread:.4f} about the carrier); use dx <= {wl / (2 * n * spread):.3e} m")
    rel_x = (p[:, 0] - grid.origin[1]).abs()
    rel_y = (p[:, 1] - grid.origin[0]).abs()
    half = (grid.extent[1] / 2 - grid.dx, grid.extent[0] / 2 - grid.dy)
    if float(rel_x.max()) > half[0] or float(rel_y.max()) > half[1]:
        need = 2 * max(float(rel_x.max()) / grid.dx, float(rel_y.max()) / grid.dy) + 4
        raise SamplingError(f"rays to a field: the beam (half-width {max(float(rel_x.max()), float(rel_y.max())):.3e} m "
                            f"about the window's centre) does not fit the {grid.shape[1]} x {grid.dx:.3e} m window; "
                            f"use window >= {math.ceil(need)} samples")
    # mean ray spacing over the beam's footprint (a disc of the largest radius about the centroid)
    c = p[:, :2].mean(0)
    r = float(torch.linalg.norm(p[:, :2] - c, dim=-1).max())
    count = p.shape[0] if n_rays is None else int(n_rays)
    spacing = r * math.sqrt(math.pi / count)
    # the splat blurs the beam's edge over about one sample: an apodised pupil whose PSF is off by about
    # 1 / (beam radius in samples) in L1 (measured against the pupil model on a perfect lens: 0.20 at 5
    # samples, 0.047 at 20, 0.020 at 40, independent of the Fresnel number). A converging beam close to focus
    # is a few samples across although every other check passes.
    if r < MIN_BEAM_SAMPLES * dx:
        raise SamplingError(f"rays to a field: the beam is only {r / dx:.1f} samples in radius on this plane (needs "
                            f">= {MIN_BEAM_SAMPLES}; its blurred edge would misplace about {min(1.0, dx / r):.0%} of the "
                            f"PSF); use dx <= {r / MIN_BEAM_SAMPLES:.3e} m, or a plane where the beam is wider (for a "
                            f"converging beam: farther from focus)")
    if spacing > dx:
        raise SamplingError(f"rays to a field: rays ({spacing:.3e} m apart on the plane) are sparser than the field "
                            f"samples ({dx:.3e} m); use about {math.ceil(math.sqrt(count) * spacing / dx)}^2 "
                            f"rays (n_side >= {math.ceil(math.sqrt(4 * count / math.pi) * spacing / dx)})")
