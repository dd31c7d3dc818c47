"""Sensor model: pixel integration, photon (Poisson) and read (Gaussian) noise, full well, bit depth.

Units: irradiance samples in W/m^2 (or any linear unit) integrate over pixel areas into a signal; the
sensor converts a signal in electrons to digital numbers (DN).
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..field import Field
from ..grid import Grid


def pixel_integrate(irradiance: torch.Tensor, factor: int, sample_area: float = 1.0) -> torch.Tensor:
    """Integrate ``factor x factor`` blocks of samples into pixels (area downsampling).

    ``irradiance (..., H, W)`` with H, W divisible by ``factor``; each pixel gets the sum of its samples
    times ``sample_area`` (m^2), i.e. the power falling on it, so total power is conserved.
    """
    if factor == 1:
        return irradiance * sample_area
    H, W = irradiance.shape[-2:]
    if H % factor or W % factor:
        raise ValueError(f"pixel_integrate: size {(H, W)} is not divisible by factor {factor}; crop or pad the "
                         f"field to a multiple of {factor} samples")
    lead = irradiance.shape[:-2]
    x = irradiance.reshape(-1, 1, H, W)
    y = F.avg_pool2d(x, factor) * (factor * factor * sample_area)
    return y.reshape(*lead, H // factor, W // factor)


def pixel_factor(field_grid: Grid, pixels: Grid) -> int:
    """Samples per pixel along each axis: ``pixels.pitch / field_grid.pitch``, which must be the same
    integer on both axes."""
    r = [p / d for p, d in zip(pixels.pitch, field_grid.pitch)]
    f = round(r[0])
    if f < 1 or any(abs(v - f) > 1e-6 * v for v in r):
        raise ValueError(f"pixel pitch {pixels.pitch} m is not the same integer multiple of the field's sample pitch "
                         f"{field_grid.pitch} m on both axes (ratio {r[0]:.6g}, {r[1]:.6g}); choose the field pitch as "
                         "pixel pitch / an integer")
    return f


def pixelate(field: Field, pixels: Grid) -> torch.Tensor:
    """Power (W) on each pixel of the sensor grid ``pixels`` (positioned: its samples are pixel centres) from
    the irradiance of ``field``: the field's samples must tile the pixels (an integer number per pixel,
    placed as :meth:`optlib.Grid.subdivided` places them); what falls outside the field counts as dark.
    Returns ``(..., H, W)``. The one pixel integration of optlib."""
    f = pixel_factor(field.grid, pixels)
    fine = field.window(pixels.subdivided(f))
    return pixel_integrate(fine.intensity(), f, fine.grid.dx * fine.grid.dy)


class _STERound(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, g):
        return g


class Sensor(nn.Module):
    """Photon-to-DN sensor.

    Args:
        full_well: saturation in electrons.
        read_noise: Gaussian read noise, electrons rms.
        bit_depth: ADC bits; DN = round(electrons / full_well * (2^bits - 1)).
        noise: ``"poisson"`` (exact shot noise, no gradient through the sampling), ``"gaussian"``
            (shot noise as N(0, signal), reparameterised, differentiable) or ``None`` (noise-free).
        quantize: round to integer DN with a straight-through gradient.
    Input: mean signal in electrons ``(..., H, W)``; output: DN normalised to [0, 1] (divide by 2^bits - 1).
    """

    def __init__(self, full_well: float = 10000.0, read_noise: float = 2.0, bit_depth: int = 10,
                 noise: Optional[str] = "poisson", quantize: bool = True):
        super().__init__()
        if noise not in ("poisson", "gaussian", None):
            raise ValueError(f"noise must be 'poisson', 'gaussian' or None, got {noise!r}")
        if full_well <= 0 or read_noise < 0 or not (1 <= bit_depth <= 32):
            raise ValueError("full_well > 0, read_noise >= 0 and 1 <= bit_depth <= 32 are required")
        self.full_well, self.read_noise, self.bit_depth = float(full_well), float(read_noise), int(bit_depth)
        self.noise, self.quantize = noise, quantize

    def forward(self, electrons: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        from ..train import randn
        e = electrons.clamp(min=0)
        if self.noise == "poisson":
            src = e.detach() if generator is None else e.detach().to(generator.device)
            e = torch.poisson(src, generator=generator).to(e.device) + (e - e.detach())
        elif self.noise == "gaussian":
            e = e + torch.sqrt(e + 1e-12) * randn(e.shape, e, generator)
        if self.noise is not None and self.read_noise > 0:
            e = e + self.read_noise * randn(e.shape, e, generator)
        levels = 2 ** self.bit_depth - 1
        dn = (e / self.full_well * levels).clamp(0, levels)
        if self.quantize:
            dn = _STERound.apply(dn)
        return dn / levels
