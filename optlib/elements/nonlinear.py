"""Intensity-dependent layers acting pointwise on a field.

* :class:`Kerr`: phase-only, lossless: u -> u exp(i w |u|^2). Physically the optical Kerr effect
  n = n0 + n2 I over a thickness L gives w = 2 pi n2 L / lambda (rad per W/m^2), see :meth:`Kerr.from_n2`.
* :class:`SaturableAbsorber`: amplitude-only, lossy: transmission of intensity
  T(I) = exp(-alpha0 L / (1 + I / I_sat)), so weak light is absorbed and strong light bleaches through.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..field import Field
from ..units import number


def kerr(u: torch.Tensor, weight, sum_dims=()) -> torch.Tensor:
    """Kerr phase u * exp(i weight I) with I = |u|^2 (summed over ``sum_dims``, e.g. the wavelength dims of an
    incoherent multi-colour field); ``weight`` in rad per unit intensity. The one Kerr of optlib."""
    I = u.real ** 2 + u.imag ** 2
    if sum_dims:
        I = I.sum(dim=sum_dims, keepdim=True)
    return u * torch.polar(torch.ones_like(I), weight * I)


def saturable_absorber(u: torch.Tensor, alpha0_L, i_sat) -> torch.Tensor:
    """Saturable absorption: amplitude transmission exp(-alpha0 L / (2 (1 + |u|^2 / I_sat)))."""
    I = u.real ** 2 + u.imag ** 2
    return u * torch.exp(-0.5 * alpha0_L / (1.0 + I / i_sat))


class Kerr(nn.Module):
    """Pointwise Kerr layer (lossless). ``weight`` (rad per unit intensity) may be trainable."""

    def __init__(self, weight: float = 1.0, trainable: bool = False):
        super().__init__()
        w = torch.tensor(number("Kerr weight", weight, "rad per unit intensity"))
        if trainable:
            self.weight = nn.Parameter(w)
        else:
            self.register_buffer("weight", w)

    @classmethod
    def from_n2(cls, n2: float, thickness: float, wavelength: float, **kw) -> "Kerr":
        """From the nonlinear index n2 (m^2/W), layer thickness (m) and wavelength (m)."""
        return cls(2 * math.pi * n2 * thickness / wavelength, **kw)

    def forward(self, field):
        """A Field (its intensity summed over its wavelengths: the medium responds to the total intensity of
        mutually incoherent colours) or a bare complex tensor (one colour)."""
        if isinstance(field, Field):
            nwl = field.wavelength.dim()
            dims = tuple(range(-2 - nwl, -2))
            return field.replace(u=kerr(field.u, self.weight.to(field.u.real.dtype), dims))
        return kerr(field, self.weight.to(field.real.dtype))


class SaturableAbsorber(nn.Module):
    """Pointwise saturable absorber with small-signal optical depth ``alpha0_L`` and saturation ``i_sat``."""

    def __init__(self, alpha0_L: float = 1.0, i_sat: float = 1.0):
        super().__init__()
        if alpha0_L < 0 or i_sat <= 0:
            raise ValueError("alpha0_L must be >= 0 and i_sat > 0")
        self.register_buffer("alpha0_L", torch.tensor(float(alpha0_L)))
        self.register_buffer("i_sat", torch.tensor(float(i_sat)))

    def forward(self, field):
        if isinstance(field, Field):
            return field.replace(u=saturable_absorber(field.u, self.alpha0_L, self.i_sat))
        return saturable_absorber(field, self.alpha0_L, self.i_sat)
