"""Thin lenses and the 4f system."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from .. import fft
from ..field import Field, wl_view
from ..grid import Grid
from ..sampling import check_lens_sampling


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
    wl = torch.as_tensor(wavelength, dtype=torch.float64, device=device)
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


class FourF(nn.Module):
    """A 4f system: lens f1, Fourier-plane pupil (stop + phase mask), lens f2.

    The Fourier plane of an input grid (N samples of pitch d) has pitch lambda f1 / (N d); a frequency
    nu (1/m) of the input sits at x_F = lambda f1 nu. The pupil is ``stop`` (an amplitude, e.g. a
    :func:`circ` or rectangle on :meth:`fourier_grid`) times exp(i ``phase``). With f1 = f2 the output has
    the input's grid; the physical image is inverted (x -> -x), and this module returns it re-indexed
    upright, as a relay would. Powers: unitary transforms, so output power = input power minus what the
    stop blocks (the phase mask is lossless).

    Args:
        grid: input grid.
        wavelength: metres.
        f1, f2: focal lengths (m). Only f1 = f2 (unit magnification) keeps the same grid; other ratios
            rescale the output pitch by f2/f1.
        stop: real tensor on the Fourier grid (1 = open), or ``None`` for no stop.
        phase: initial phase (rad) on the Fourier grid, trainable if ``trainable``.
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
        self.register_buffer("stop", stop.to(torch.float32))
        phase = torch.zeros(H, W) if phase is None else torch.as_tensor(phase, dtype=torch.float32)
        if trainable:
            self.phase = nn.Parameter(phase.clone())
        else:
            self.register_buffer("phase", phase.clone())

    @property
    def output_grid(self) -> Grid:
        m = self.f2 / self.f1
        return Grid(self.grid.shape, (self.grid.dy * m, self.grid.dx * m))

    def pupil(self) -> torch.Tensor:
        return self.stop * torch.exp(1j * self.phase)

    def spectrum(self, field: Field) -> torch.Tensor:
        """The field in the Fourier plane (before the pupil), on :attr:`fourier_grid`, power-normalised."""
        return fft_c(field.u)

    def forward(self, field: Field) -> Field:
        m = self.f2 / self.f1
        U = fft_c(field.u) * self.pupil().to(field.u.dtype)
        out = ifft_c(U) / m  # amplitude scales as 1/m so power is conserved on the magnified grid
        return Field(out, self.output_grid, field.wavelength)
