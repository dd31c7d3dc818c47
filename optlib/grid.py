"""Sampling grids: a shape and a pitch, shared by fields and elements.

Coordinates are centred so that index ``N // 2`` is the optical axis (x = 0). This is the same convention
as ``torch.fft.fftshift``, so a centred field and its centred spectrum line up without half-pixel shifts.
Frequencies always come from ``torch.fft.fftfreq`` (never ``linspace``), so they are exact on the FFT grid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

import torch

Number = Union[int, float]


def _pair(v) -> Tuple[float, float]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"expected a scalar or a (y, x) pair, got {v!r}")
        return float(v[0]), float(v[1])
    return float(v), float(v)


@dataclass(frozen=True)
class Grid:
    """A regular 2-D sampling grid.

    Args:
        shape: ``(H, W)`` number of samples (an int means square).
        pitch: sample spacing in metres, a scalar or ``(dy, dx)``.

    Coordinates: ``x[j] = (j - W // 2) * dx`` (metres), so the centre sample sits on the axis.
    """

    shape: Tuple[int, int]
    pitch: Tuple[float, float]

    def __init__(self, shape, pitch):
        if isinstance(shape, int):
            shape = (shape, shape)
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"Grid shape must be (H, W) with positive sizes, got {shape!r}")
        p = _pair(pitch)
        if not (p[0] > 0 and p[1] > 0):
            raise ValueError(f"Grid pitch must be positive (metres), got {pitch!r}")
        if p[0] > 1.0 or p[1] > 1.0:
            raise ValueError(f"Grid pitch {pitch!r} m is larger than a metre: lengths in optlib are in metres "
                             "(use optlib.um, optlib.mm)")
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "pitch", p)

    # --- sizes -------------------------------------------------------------------------------
    @property
    def dy(self) -> float:
        return self.pitch[0]

    @property
    def dx(self) -> float:
        return self.pitch[1]

    @property
    def extent(self) -> Tuple[float, float]:
        """Physical size ``(H * dy, W * dx)`` in metres."""
        return self.shape[0] * self.dy, self.shape[1] * self.dx

    @property
    def nyquist(self) -> Tuple[float, float]:
        """Highest representable spatial frequency ``1 / (2 d)`` per axis, in 1/m."""
        return 0.5 / self.dy, 0.5 / self.dx

    # --- coordinates -------------------------------------------------------------------------
    def y(self, device=None, dtype=torch.float64) -> torch.Tensor:
        """Centred y coordinates (metres), shape ``(H, 1)``."""
        n = self.shape[0]
        return ((torch.arange(n, device=device, dtype=dtype) - n // 2) * self.dy).reshape(n, 1)

    def x(self, device=None, dtype=torch.float64) -> torch.Tensor:
        """Centred x coordinates (metres), shape ``(1, W)``."""
        n = self.shape[1]
        return ((torch.arange(n, device=device, dtype=dtype) - n // 2) * self.dx).reshape(1, n)

    def r2(self, device=None, dtype=torch.float64) -> torch.Tensor:
        """Squared radius x^2 + y^2 (m^2), shape ``(H, W)``."""
        return self.x(device, dtype) ** 2 + self.y(device, dtype) ** 2

    def r(self, device=None, dtype=torch.float64) -> torch.Tensor:
        """Radius (m), shape ``(H, W)``."""
        return torch.sqrt(self.r2(device, dtype))

    def freqs(self, device=None, dtype=torch.float64, shifted: bool = False):
        """Spatial frequencies ``(fy (H,1), fx (1,W))`` in 1/m from ``fftfreq``.

        ``shifted=False`` gives FFT order (zero first); ``shifted=True`` gives centred order.
        """
        fy = torch.fft.fftfreq(self.shape[0], d=self.dy, device=device, dtype=dtype)
        fx = torch.fft.fftfreq(self.shape[1], d=self.dx, device=device, dtype=dtype)
        if shifted:
            fy, fx = torch.fft.fftshift(fy), torch.fft.fftshift(fx)
        return fy.reshape(-1, 1), fx.reshape(1, -1)

    # --- derived grids -----------------------------------------------------------------------
    def padded(self, shape) -> "Grid":
        """Same pitch, larger shape (zero padding keeps the centre sample on the axis)."""
        return Grid(shape, self.pitch)

    def with_pitch(self, pitch) -> "Grid":
        return Grid(self.shape, pitch)

    def fourier(self, wavelength: float, focal_length: float) -> "Grid":
        """The grid in the back focal plane of a lens of focal length ``f`` (metres):
        pitch ``lambda f / (N d)``, same shape."""
        return Grid(self.shape, (wavelength * focal_length / self.extent[0],
                                 wavelength * focal_length / self.extent[1]))

    def __repr__(self) -> str:
        return (f"Grid(shape={self.shape}, pitch=({self.dy:.4g}, {self.dx:.4g}) m, "
                f"extent=({self.extent[0]:.4g}, {self.extent[1]:.4g}) m)")
