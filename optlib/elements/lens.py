"""Thin lenses, apertures and the 4f system, as functions on grids and as elements acting on Fields."""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .. import fft
from ..field import Field, as_wavelength, wl_view
from ..grid import Grid
from ..sampling import check_lens_sampling
from ..units import number
from .apertures import circ


def thin_lens(grid: Grid, f: float, wavelength, radius: Optional[float] = None, check: bool = True,
              device=None, dtype=torch.complex128) -> torch.Tensor:
    """Thin-lens transmission exp(-i pi r^2 / (lambda f)) (paraxial), optionally clipped to ``radius``.

    Args:
        grid: sampling grid.
        f: focal length in metres (negative for a diverging lens).
        wavelength: metres; a float or a ``(C,)`` tensor (gives ``(C, H, W)``).
        radius: aperture radius (m) for the sampling check and clipping; ``None`` = no clipping, and the
            check uses the grid's half-diagonal.
        check: raise :class:`optlib.SamplingError` if the lens phase is aliased on this grid.
    """
    wl = as_wavelength(wavelength, device=device)
    number("thin_lens focal length", f, nonzero=True)
    if radius is not None:
        number("thin_lens radius", radius, positive=True)
    if check:
        check_lens_sampling(grid, f, float(wl.min()), radius)
    r2 = grid.r2(device, torch.float64)
    t = torch.exp(-1j * math.pi * r2 / (wl_view(wl) * f))
    if radius is not None:
        t = t * (r2 <= radius ** 2)
    return t.to(dtype)


def fft_c(u: torch.Tensor) -> torch.Tensor:
    """Centred, unitary 2-D DFT (power-preserving: sum|U|^2 = sum|u|^2)."""
    return fft.fft2c(u, norm="ortho")


def ifft_c(U: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`fft_c`."""
    return fft.ifft2c(U, norm="ortho")


class ThinLens(nn.Module):
    """An ideal thin lens of focal length ``f`` (m) on the optical axis as an element: field -> field *
    :func:`thin_lens` on the field's grid and wavelengths (sampling-checked), clipped to ``radius`` (m) if given."""

    def __init__(self, f: float, radius: Optional[float] = None, check: bool = True):
        super().__init__()
        self.f, self.radius, self.check = number("ThinLens focal length", f, nonzero=True), radius, check

    def forward(self, field: Field) -> Field:
        t = thin_lens(field.grid, self.f, field.wavelength, self.radius, self.check, field.u.device, field.u.dtype)
        return field.replace(u=field.u * t)


class Aperture(nn.Module):
    """An amplitude mask as an element: a real transmission ``mask`` on a grid (e.g. :func:`circ`), or a disc of
    ``radius`` (m) about the optical axis built on whatever grid the field has."""

    def __init__(self, mask: Optional[torch.Tensor] = None, radius: Optional[float] = None, grid: Optional[Grid] = None):
        super().__init__()
        if (mask is None) == (radius is None):
            raise ValueError("Aperture needs exactly one of mask= and radius=")
        self.radius, self.grid = radius, grid
        self.register_buffer("mask", None if mask is None else torch.as_tensor(mask))

    def forward(self, field: Field) -> Field:
        if self.mask is None:
            m = circ(field.grid, self.radius, device=field.u.device, dtype=field.u.real.dtype)
        else:
            if self.grid is not None and self.grid != field.grid:
                raise ValueError(f"Aperture mask is on {self.grid!r}, the field on {field.grid!r}")
            m = self.mask
        return field.replace(u=field.u * m.to(field.u.real.dtype))


class PhaseMask(nn.Module):
    """A thin mask of transmission ``amplitude * exp(i phase)`` on a grid, the phase (rad) trainable if ``trainable``:
    the whole grid, or a smaller ``(h, w)`` block centred on it (no phase outside). E.g. the phase layers of a
    diffractive network."""

    def __init__(self, phase, amplitude=None, trainable: bool = True):
        super().__init__()
        phase = torch.as_tensor(phase, dtype=torch.float32)
        if trainable:
            self.phase = nn.Parameter(phase.clone())
        else:
            self.register_buffer("phase", phase.clone())
        self.register_buffer("amplitude", None if amplitude is None else torch.as_tensor(amplitude, dtype=torch.float32))

    def transmission(self, shape) -> torch.Tensor:
        H, W = shape
        h, w = self.phase.shape[-2:]
        if h > H or w > W:
            raise ValueError(f"phase {tuple(self.phase.shape)} is larger than the field {tuple(shape)}")
        t, l = H // 2 - h // 2, W // 2 - w // 2
        ph = self.phase if (h, w) == (H, W) else F.pad(self.phase, (l, W - l - w, t, H - t - h))
        amp = torch.ones_like(ph) if self.amplitude is None else self.amplitude.to(ph.dtype)
        return torch.polar(amp, ph)

    def forward(self, field: Field) -> Field:
        return field.replace(u=field.u * self.transmission(field.grid.shape).to(field.u.dtype))


class FourF(nn.Module):
    """A 4f system: lens f1, Fourier-plane pupil (stop + phase mask), lens f2.

    The Fourier plane of an input grid (N samples of pitch d) has pitch lambda f1 / (N d); a frequency
    nu (1/m) of the input sits at x_F = lambda f1 nu. The pupil is ``stop`` (an amplitude, e.g. a
    :func:`circ` or rectangle on :meth:`fourier_grid`) times exp(i ``phase``), both defined at the design
    ``wavelength``. Light of another wavelength lambda reaches the same physical mask at lambda / lambda_0
    times the frequency, so it sees the mask resampled (nearest pixel, zero outside) by that factor: a
    field with several wavelengths ``(..., C, H, W)`` gets one pupil per wavelength. With f1 = f2 the
    output has the input's grid; the physical image is inverted (x -> -x), and this module returns it
    re-indexed upright, as a relay would. Powers: unitary transforms, so output power = input power minus
    what the stop blocks (the phase mask is lossless).

    Args:
        grid: input grid.
        wavelength: design wavelength (m).
        f1, f2: focal lengths (m). Only f1 = f2 (unit magnification) keeps the same grid; other ratios
            rescale the output pitch by f2/f1.
        stop: real tensor on the Fourier grid (1 = open), or ``None`` for no stop.
        phase: initial phase (rad), trainable if ``trainable``: the whole Fourier grid, or a smaller
            ``(h, w)`` block centred on it (the rest of the plane has no mask phase).
    """

    def __init__(self, grid: Grid, wavelength: float, f1: float, f2: float = None, stop=None, phase=None,
                 trainable: bool = True):
        super().__init__()
        self.grid = grid
        self.wavelength = float(wavelength)
        self.f1 = float(f1)
        self.f2 = float(f1 if f2 is None else f2)
        self.fourier_grid = grid.fourier(self.wavelength, self.f1)
        H, W = grid.shape
        stop = torch.ones(H, W) if stop is None else torch.as_tensor(stop)
        phase = torch.zeros(H, W) if phase is None else torch.as_tensor(phase, dtype=torch.float32)
        self.mask = PhaseMask(phase, stop.to(torch.float32), trainable)  # the Fourier-plane mask
        self.mask.transmission(grid.shape)  # checks the phase block fits

    @property
    def phase(self) -> torch.Tensor:
        """The Fourier-plane phase (rad), the trainable parameter."""
        return self.mask.phase

    @property
    def stop(self) -> torch.Tensor:
        """The Fourier-plane amplitude (1 = open)."""
        return self.mask.amplitude

    @property
    def output_grid(self) -> Grid:
        m = self.f2 / self.f1
        return Grid(self.grid.shape, (self.grid.dy * m, self.grid.dx * m))

    def pupil(self, wavelength=None) -> torch.Tensor:
        """stop * exp(i phase) on the Fourier grid at the design wavelength, ``(H, W)``; for other
        ``wavelength`` values (m, ``(C,)``) the mask each one sees, ``(C, H, W)``."""
        p = self.mask.transmission(self.grid.shape)
        if wavelength is None:
            return p
        wl = torch.as_tensor(wavelength, dtype=torch.float64).reshape(-1)
        if wl.numel() == 1 and float(wl) == self.wavelength:
            return p
        return torch.stack([self._resampled(p, float(v)) for v in wl])

    def _resampled(self, p: torch.Tensor, wavelength: float) -> torch.Tensor:
        """The design-wavelength mask seen at ``wavelength``: output sample k (from the centre) reads design sample
        round(k lambda / lambda_0) (round half to even), zero where that falls off the grid."""
        H, W = p.shape[-2:]
        r = wavelength / self.wavelength

        def idx(n):
            k = torch.arange(n, dtype=torch.float64, device=p.device) - n // 2
            src = torch.round(k * r + n // 2).long()
            return src.clamp(0, n - 1), ((src >= 0) & (src < n))

        iy, my = idx(H)
        ix, mx = idx(W)
        return p[iy][:, ix] * (my[:, None] & mx[None, :]).to(p.real.dtype)

    def spectrum(self, field: Field) -> torch.Tensor:
        """The field in the Fourier plane (before the pupil), on :attr:`fourier_grid`, power-normalised."""
        return fft_c(field.u)

    def forward(self, field: Field) -> Field:
        m = self.f2 / self.f1
        pupil = self.pupil(None if field.wavelength.numel() == 1 and float(field.wavelength) == self.wavelength
                           else field.wavelength)
        out = ifft_c(fft_c(field.u) * pupil.to(field.u.dtype))
        if m != 1:
            out = out / m  # amplitude scales as 1/m so power is conserved on the magnified grid
        return Field(out, self.output_grid, field.wavelength)
