"""Sampling grids: a shape, a pitch and a position, shared by fields, elements and sensors.

A grid's ``origin`` (y0, x0) in metres is the position of its centre sample, index ``(H // 2, W // 2)``;
sample ``(i, j)`` sits at ``(y0 + (i - H // 2) dy, x0 + (j - W // 2) dx)`` in the global frame whose z axis
is the optical axis. An on-axis grid has origin (0, 0); an off-axis PSF window centred on a chief ray's
sensor hit is the same kind of grid with that hit as its origin. The centre-sample convention is
``torch.fft.fftshift``'s, so a centred field and its centred spectrum line up without half-pixel shifts.
Frequencies always come from ``torch.fft.fftfreq`` (never ``linspace``), so they are exact on the FFT grid.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple, Union

import torch

from .units import number

Number = Union[int, float]


def _pair(v) -> Tuple[float, float]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"expected a scalar or a (y, x) pair, got {v!r}")
        return float(v[0]), float(v[1])
    return float(v), float(v)


@dataclass(frozen=True)
class Grid:
    """A regular 2-D sampling grid at a position.

    Args:
        shape: ``(H, W)`` number of samples (an int means square).
        pitch: sample spacing in metres, a scalar or ``(dy, dx)``.
        origin: position ``(y0, x0)`` in metres of the centre sample (index ``(H // 2, W // 2)``);
            default on the optical axis.

    Coordinates: ``x[j] = x0 + (j - W // 2) * dx`` (metres).
    """

    shape: Tuple[int, int]
    pitch: Tuple[float, float]
    origin: Tuple[float, float] = (0.0, 0.0)

    def __init__(self, shape, pitch, origin=(0.0, 0.0)):
        if isinstance(shape, int):
            shape = (shape, shape)
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or min(shape) < 1:
            raise ValueError(f"Grid shape must be (H, W) with positive sizes, got {shape!r}")
        p = _pair(pitch)
        for v in p:
            number("Grid pitch", v, positive=True)
        if p[0] > 1.0 or p[1] > 1.0:
            raise ValueError(f"Grid pitch {pitch!r} m is larger than a metre: lengths in optlib are in metres "
                             "(use optlib.um, optlib.mm)")
        o = _pair(origin)
        for v in o:
            number("Grid origin", v)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "pitch", p)
        object.__setattr__(self, "origin", o)

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
    def y(self, device=None, dtype=torch.float64, local: bool = False) -> torch.Tensor:
        """y coordinates (metres) of the rows, shape ``(H, 1)``; ``local`` measures them from the origin."""
        n = self.shape[0]
        y = (torch.arange(n, device=device, dtype=dtype) - n // 2) * self.dy
        return (y if local or self.origin[0] == 0 else y + self.origin[0]).reshape(n, 1)

    def x(self, device=None, dtype=torch.float64, local: bool = False) -> torch.Tensor:
        """x coordinates (metres) of the columns, shape ``(1, W)``; ``local`` measures them from the origin."""
        n = self.shape[1]
        x = (torch.arange(n, device=device, dtype=dtype) - n // 2) * self.dx
        return (x if local or self.origin[1] == 0 else x + self.origin[1]).reshape(1, n)

    def r2(self, device=None, dtype=torch.float64, local: bool = False) -> torch.Tensor:
        """Squared distance x^2 + y^2 (m^2) from the optical axis (``local``: from the origin), ``(H, W)``."""
        return self.x(device, dtype, local) ** 2 + self.y(device, dtype, local) ** 2

    def r(self, device=None, dtype=torch.float64, local: bool = False) -> torch.Tensor:
        """Distance (m) from the optical axis (``local``: from the origin), shape ``(H, W)``."""
        return torch.sqrt(self.r2(device, dtype, local))

    def freqs(self, device=None, dtype=torch.float64, shifted: bool = False):
        """Spatial frequencies ``(fy (H,1), fx (1,W))`` in 1/m from ``fftfreq``.

        ``shifted=False`` gives FFT order (zero first); ``shifted=True`` gives centred order.
        """
        fy = torch.fft.fftfreq(self.shape[0], d=self.dy, device=device, dtype=dtype)
        fx = torch.fft.fftfreq(self.shape[1], d=self.dx, device=device, dtype=dtype)
        if shifted:
            fy, fx = torch.fft.fftshift(fy), torch.fft.fftshift(fx)
        return fy.reshape(-1, 1), fx.reshape(1, -1)

    def bilinear(self, x: torch.Tensor, y: torch.Tensor):
        """The four samples around each point (``x``, ``y``) (m, global, shape (N,)) with their bilinear weights:
        four tuples (flat index into the (H, W) samples, weight, sample x, sample y, inside), each (N,); weights
        sum to 1 per point and are differentiable in the positions; ``inside`` marks the samples on the grid
        (index a splat with it: the others' indices are meaningless)."""
        H, W = self.shape
        fx = (x - self.origin[1]) / self.dx + W // 2
        fy = (y - self.origin[0]) / self.dy + H // 2
        x0, y0 = torch.floor(fx.detach()), torch.floor(fy.detach())
        ax, ay = fx - x0, fy - y0
        taps = []
        for ox, oy, wt in ((0, 0, (1 - ax) * (1 - ay)), (1, 0, ax * (1 - ay)), (0, 1, (1 - ax) * ay), (1, 1, ax * ay)):
            xi, yi = x0 + ox, y0 + oy
            inside = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
            taps.append(((yi * W + xi).long(), wt, (xi - W // 2) * self.dx + self.origin[1],
                         (yi - H // 2) * self.dy + self.origin[0], inside))
        return taps

    # --- derived grids -----------------------------------------------------------------------
    def padded(self, shape) -> "Grid":
        """Same pitch and origin, another shape (zero padding or cropping about the centre sample)."""
        return Grid(shape, self.pitch, self.origin)

    def with_pitch(self, pitch) -> "Grid":
        return Grid(self.shape, pitch, self.origin)

    def at(self, origin) -> "Grid":
        """The same grid with its centre sample at ``origin`` (y0, x0) (m)."""
        return Grid(self.shape, self.pitch, origin)

    def shifted(self, dy: float, dx: float) -> "Grid":
        """The same grid moved by (dy, dx) (m)."""
        return Grid(self.shape, self.pitch, (self.origin[0] + dy, self.origin[1] + dx))

    def subdivided(self, factor: int) -> "Grid":
        """The grid of ``factor`` x ``factor`` samples per pixel of this one (a sensor's pixels), placed so
        that each block of samples tiles its pixel exactly (pixel edges fall midway between samples):
        shape ``(H f, W f)``, pitch ``d / f``. :func:`optlib.imaging.pixelate` bins it back."""
        f = int(factor)
        if f < 1:
            raise ValueError(f"factor must be a positive integer, got {factor!r}")

        def centre(n, d, o):
            # position of fine sample (n f) // 2: pixel i = (n f // 2) // f, sub-sample k = (n f // 2) % f
            i, k = divmod((n * f) // 2, f)
            return o + (i - n // 2) * d + (k - (f - 1) / 2) * d / f

        return Grid((self.shape[0] * f, self.shape[1] * f), (self.dy / f, self.dx / f),
                    (centre(self.shape[0], self.dy, self.origin[0]), centre(self.shape[1], self.dx, self.origin[1])))

    def pixels(self, factor: int, shape) -> "Grid":
        """The sensor grid of ``shape`` pixels, each ``factor`` x ``factor`` samples of this grid, centred on this
        grid's origin (for an even factor, half a sample below it, so that pixel edges fall between samples):
        the inverse of :meth:`subdivided`, for binning a field sampled on this grid into pixels."""
        f = int(factor)
        if f < 1:
            raise ValueError(f"factor must be a positive integer, got {factor!r}")
        half = 0.5 if f % 2 == 0 else 0.0
        return Grid(shape, (self.dy * f, self.dx * f),
                    (self.origin[0] - half * self.dy, self.origin[1] - half * self.dx))

    def offset_in_samples(self, other: "Grid"):
        """(rows, columns): where ``other``'s centre sample falls in this grid's sample units, relative to
        this grid's centre sample (same pitch assumed); integers when the two grids' samples coincide."""
        return ((other.origin[0] - self.origin[0]) / self.dy, (other.origin[1] - self.origin[1]) / self.dx)

    def fourier(self, wavelength: float, focal_length: float) -> "Grid":
        """The grid in the back focal plane of a lens of focal length ``f`` (metres) on the optical axis:
        pitch ``lambda f / (N d)``, same shape, origin on the axis."""
        return Grid(self.shape, (wavelength * focal_length / self.extent[0],
                                 wavelength * focal_length / self.extent[1]))

    def __repr__(self) -> str:
        at = "" if self.origin == (0.0, 0.0) else f", origin=({self.origin[0]:.6g}, {self.origin[1]:.6g}) m"
        return (f"Grid(shape={self.shape}, pitch=({self.dy:.4g}, {self.dx:.4g}) m, "
                f"extent=({self.extent[0]:.4g}, {self.extent[1]:.4g}) m{at})")
