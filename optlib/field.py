"""A monochromatic (or wavelength-batched) complex scalar field on a positioned Grid: the one currency that
passes between rays, elements, propagators and the sensor."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

import torch

from .grid import Grid
from .sampling import SamplingError
from .units import number


def as_wavelength(wavelength, device=None, dtype=torch.float64) -> torch.Tensor:
    """Wavelength(s) in metres as a tensor; a 1-D tensor of C wavelengths batches over a channel dim.

    Raises ``ValueError`` for values that are not plausible wavelengths in metres.
    """
    wl = torch.as_tensor(wavelength, dtype=dtype, device=device)
    if wl.numel() == 0:
        raise ValueError("wavelength is empty")
    wmin, wmax = float(wl.min()), float(wl.max())
    if not (wmin > 0):
        raise ValueError(f"wavelength must be positive (metres), got {wavelength!r}")
    if wmax > 1e-3 or wmin < 1e-9:
        raise ValueError(f"wavelength {wavelength!r} is not in metres between 1 nm and 1 mm: "
                         "write e.g. 550 * optlib.nm")
    return wl


def wl_view(wavelength: torch.Tensor) -> torch.Tensor:
    """Wavelength tensor reshaped to broadcast against a ``(..., H, W)`` field (two trailing unit dims)."""
    return wavelength.reshape(*wavelength.shape, 1, 1)


def as_carrier(carrier) -> Tuple[float, float]:
    """A carrier frequency ``(fy, fx)`` in 1/m as two plain floats (checked finite)."""
    if carrier is None:
        return 0.0, 0.0
    if isinstance(carrier, torch.Tensor):
        carrier = carrier.detach().flatten().tolist()
    fy, fx = (number("carrier", v, "1/m") for v in carrier)
    return fy, fx


@dataclass(frozen=True)
class Field:
    """Complex scalar field sampled on ``grid`` at ``wavelength``.

    Args:
        u: complex tensor ``(..., H, W)``; ``|u|^2`` is irradiance in W/m^2 (or any consistent unit).
        grid: the (positioned) sampling grid; ``grid.shape`` must equal ``u.shape[-2:]``.
        wavelength: vacuum wavelength in metres (stored as float64): a float, or a tensor that broadcasts against
            ``u.shape[:-2]`` (right-aligned), e.g. ``(C,)`` for a field ``(B, C, H, W)``.
        carrier: spatial frequency ``(fy, fx)`` (1/m) of a tilt the samples leave out: the physical field is
            ``u(x, y) exp(i 2 pi (fy y + fx x))`` with (x, y) the global coordinates of the samples. A beam
            travelling at direction cosines (a, b) in a medium of index n has the carrier (n b, n a) / lambda;
            carrying it separately lets a steep beam be sampled by its slowly varying envelope (Yang et al.'s
            ray-wave model). Zero by default. Elements multiply ``u`` as usual; propagators account for it.
    """

    u: torch.Tensor
    grid: Grid
    wavelength: torch.Tensor
    carrier: Tuple[float, float] = (0.0, 0.0)

    def __init__(self, u, grid: Grid, wavelength, carrier=(0.0, 0.0)):
        if not isinstance(grid, Grid):
            raise TypeError(f"grid must be an optlib.Grid, got {type(grid).__name__}")
        u = torch.as_tensor(u)
        if not u.is_complex():
            u = u.to(torch.complex128 if u.dtype == torch.float64 else torch.complex64)
        if tuple(u.shape[-2:]) != grid.shape:
            raise ValueError(f"field shape {tuple(u.shape[-2:])} does not match grid shape {grid.shape}")
        wl = as_wavelength(wavelength, device=u.device, dtype=torch.float64)  # k z ~ 1e5 rad: keep float64
        try:
            torch.broadcast_shapes(wl.shape, tuple(u.shape[:-2]))
        except RuntimeError:
            raise ValueError(f"wavelength shape {tuple(wl.shape)} does not broadcast against the field's "
                             f"batch shape {tuple(u.shape[:-2])}; a (C,) wavelength needs a (..., C, H, W) field")
        object.__setattr__(self, "u", u)
        object.__setattr__(self, "grid", grid)
        object.__setattr__(self, "wavelength", wl)
        object.__setattr__(self, "carrier", as_carrier(carrier))

    # --- physics -----------------------------------------------------------------------------
    def intensity(self) -> torch.Tensor:
        """Irradiance ``|u|^2`` (W/m^2), real tensor ``(..., H, W)``."""
        return self.u.real ** 2 + self.u.imag ** 2

    def power(self) -> torch.Tensor:
        """Total power ``sum |u|^2 dx dy`` (W), shape ``(...)``."""
        return self.intensity().sum(dim=(-2, -1)) * (self.grid.dx * self.grid.dy)

    def phase(self) -> torch.Tensor:
        """Phase in radians (for display; do not put ``angle`` in a training graph)."""
        return torch.angle(self.u)

    @property
    def k(self) -> torch.Tensor:
        """Wavenumber 2 pi / lambda (rad/m), broadcastable against ``u``."""
        return 2 * torch.pi / wl_view(self.wavelength)

    # --- transforms --------------------------------------------------------------------------
    def replace(self, u=None, grid: Grid = None, wavelength=None, carrier=None) -> "Field":
        return Field(self.u if u is None else u, self.grid if grid is None else grid,
                     self.wavelength if wavelength is None else wavelength,
                     self.carrier if carrier is None else carrier)

    def __mul__(self, other) -> "Field":
        """Multiply by a transmission (tensor broadcastable to ``u``, or a Field on the same grid)."""
        if isinstance(other, Field):
            if other.grid != self.grid:
                raise ValueError(f"cannot multiply fields on different grids: {self.grid!r} and {other.grid!r}")
            if other.carrier != (0.0, 0.0):
                raise ValueError("multiply by a transmission without a carrier (demodulate it with with_carrier(0))")
            other = other.u
        return self.replace(u=self.u * other)

    __rmul__ = __mul__

    def pad(self, shape) -> "Field":
        """Zero-pad symmetrically to ``shape`` (keeps the axis on the centre sample)."""
        return self.replace(u=pad_centered(self.u, shape), grid=self.grid.padded(shape))

    def crop(self, shape) -> "Field":
        return self.replace(u=crop_centered(self.u, shape), grid=self.grid.padded(shape))

    def window(self, grid: Grid) -> "Field":
        """The same field on ``grid``: a grid of the same pitch whose samples coincide with this one's (its
        origin an integer number of samples away), cropping what falls outside it and zero-filling what this
        field does not cover. Raises ``ValueError`` when the samples do not coincide."""
        if grid == self.grid:
            return self
        if any(abs(a - b) > 1e-9 * a for a, b in zip(grid.pitch, self.grid.pitch)):
            raise ValueError(f"window: pitch {grid.pitch} differs from the field's {self.grid.pitch}")
        oy, ox = self.grid.offset_in_samples(grid)
        iy, ix = round(oy), round(ox)
        if abs(oy - iy) > 1e-6 or abs(ox - ix) > 1e-6:
            raise ValueError(f"window: the target grid's samples fall between this field's ({oy:.6f}, {ox:.6f} samples "
                             "from its centre); shift one of the grids by the fraction, or resample")
        return self.replace(u=place(self.u, grid.shape, (iy, ix)), grid=grid)

    def with_carrier(self, carrier) -> "Field":
        """The same physical field with another carrier ``(fy, fx)`` (1/m): the samples gain the difference
        as a phase ramp, which must be sampled (|difference| below the grid's Nyquist frequency)."""
        new = as_carrier(carrier)
        dfy, dfx = self.carrier[0] - new[0], self.carrier[1] - new[1]
        if dfy == 0 and dfx == 0:
            return self.replace(carrier=new)
        ny, nx = self.grid.nyquist
        if abs(dfy) >= ny or abs(dfx) >= nx:
            raise SamplingError(f"with_carrier: a tilt of ({dfy:.4g}, {dfx:.4g}) 1/m is not sampled by the grid "
                                f"(Nyquist ({ny:.4g}, {nx:.4g}) 1/m). Fix: a pitch below "
                                f"{0.5 / max(abs(dfy), abs(dfx)):.4g} m, or keep the carrier")
        dev = self.u.device
        ramp = 2 * math.pi * (dfy * self.grid.y(dev) + dfx * self.grid.x(dev))
        return self.replace(u=self.u * torch.polar(torch.ones_like(ramp), ramp).to(self.u.dtype), carrier=new)

    def to(self, *args, **kwargs) -> "Field":
        u = self.u.to(*args, **kwargs)
        return Field(u, self.grid, self.wavelength.to(device=u.device), self.carrier)

    @property
    def device(self):
        return self.u.device

    @property
    def dtype(self):
        return self.u.dtype

    def __repr__(self) -> str:
        wl = self.wavelength
        wls = f"{float(wl) * 1e9:.1f} nm" if wl.numel() == 1 else f"{wl.numel()} wavelengths"
        tilt = "" if self.carrier == (0.0, 0.0) else f", carrier=({self.carrier[0]:.4g}, {self.carrier[1]:.4g}) 1/m"
        return f"Field(shape={tuple(self.u.shape)}, {self.u.dtype}, {wls}, {self.grid!r}{tilt})"


def _pad_amounts(n: int, m: int):
    # place the old centre index n//2 at the new centre index m//2
    before = m // 2 - n // 2
    return before, m - n - before


def pad_centered(u: torch.Tensor, shape) -> torch.Tensor:
    """Zero-pad the last two dims to ``shape`` so that index N//2 maps to index M//2."""
    H, W = u.shape[-2:]
    Hn, Wn = (shape, shape) if isinstance(shape, int) else shape
    if Hn < H or Wn < W:
        raise ValueError(f"cannot pad {(H, W)} to smaller {(Hn, Wn)}")
    if (Hn, Wn) == (H, W):
        return u
    t, b = _pad_amounts(H, Hn)
    l, r = _pad_amounts(W, Wn)
    return torch.nn.functional.pad(u, (l, r, t, b))


def place(u: torch.Tensor, shape, offset) -> torch.Tensor:
    """The ``shape`` window of ``u`` (..., H, W) whose centre sample is ``offset`` (rows, cols) samples from
    ``u``'s centre sample, zero where the window leaves ``u``. Differentiable; one copy."""
    H, W = u.shape[-2:]
    h, w = (shape, shape) if isinstance(shape, int) else shape
    top = H // 2 + int(offset[0]) - h // 2
    left = W // 2 + int(offset[1]) - w // 2
    if top >= 0 and left >= 0 and top + h <= H and left + w <= W:
        return u[..., top:top + h, left:left + w]
    out = u.new_zeros(*u.shape[:-2], h, w)
    ys, ye = max(0, top), min(H, top + h)
    xs, xe = max(0, left), min(W, left + w)
    if ys < ye and xs < xe:
        out[..., ys - top:ye - top, xs - left:xe - left] = u[..., ys:ye, xs:xe]
    return out


def crop_centered(u: torch.Tensor, shape) -> torch.Tensor:
    """Crop the last two dims to ``shape`` around the centre sample (inverse of ``pad_centered``)."""
    H, W = u.shape[-2:]
    Hn, Wn = (shape, shape) if isinstance(shape, int) else shape
    if Hn > H or Wn > W:
        raise ValueError(f"cannot crop {(H, W)} to larger {(Hn, Wn)}")
    t = H // 2 - Hn // 2
    l = W // 2 - Wn // 2
    return u[..., t:t + Hn, l:l + Wn]
