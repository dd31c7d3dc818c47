"""Closed-form optics results used to validate the simulators (NumPy/SciPy, float64, SI units).

These are independent of the propagators: Bessel functions, Fresnel integrals and the Gaussian-beam
solution of the paraxial wave equation.
"""
from __future__ import annotations

import numpy as np
from scipy import special

AIRY_FIRST_ZERO_V = 3.8317059702075125  # first zero of J1


def airy_intensity(r, wavelength: float, focal_length: float, diameter: float):
    """Normalised Airy pattern [2 J1(v) / v]^2, v = pi D r / (lambda f) (r in metres)."""
    v = np.pi * diameter * np.asarray(r, dtype=np.float64) / (wavelength * focal_length)
    out = np.ones_like(v)
    nz = v != 0
    out[nz] = (2 * special.j1(v[nz]) / v[nz]) ** 2
    return out


def airy_first_zero(wavelength: float, focal_length: float, diameter: float) -> float:
    """Radius (m) of the first dark ring, 1.2197 lambda f / D."""
    return AIRY_FIRST_ZERO_V / np.pi * wavelength * focal_length / diameter


def airy_encircled_energy(r, wavelength: float, focal_length: float, diameter: float):
    """Fraction of power within radius r (m): 1 - J0(v)^2 - J1(v)^2 (Rayleigh). 0.8378 at the first zero."""
    v = np.pi * diameter * np.asarray(r, dtype=np.float64) / (wavelength * focal_length)
    return 1 - special.j0(v) ** 2 - special.j1(v) ** 2


def _fresnel_1d(x, a, wavelength, z):
    s = np.sqrt(2.0 / (wavelength * z))
    S2, C2 = special.fresnel(s * (a - x))
    S1, C1 = special.fresnel(-s * (a + x))
    return (C2 - C1) + 1j * (S2 - S1)


def fresnel_square(x, y, half_width: float, wavelength: float, z: float):
    """Fresnel-diffracted field of a unit-amplitude square aperture of half-width ``a`` (m) at distance z.

    U(x, y) = exp(i k z) / (2 i) * F(x) F(y),  F(x) = [C(b2) - C(b1)] + i [S(b2) - S(b1)],
    b1 = -sqrt(2/(lambda z)) (a + x), b2 = sqrt(2/(lambda z)) (a - x); C, S from scipy.special.fresnel.
    ``x`` and ``y`` broadcast (e.g. shapes (1, W) and (H, 1)).
    """
    k = 2 * np.pi / wavelength
    return np.exp(1j * k * z) / 2j * _fresnel_1d(np.asarray(x), half_width, wavelength, z) * \
        _fresnel_1d(np.asarray(y), half_width, wavelength, z)


def gaussian_beam(x, y, z: float, waist: float, wavelength: float):
    """Paraxial Gaussian beam (waist w0 at z = 0, unit peak amplitude there), including the exp(ikz) carrier.

    U = (w0 / w) exp(-r^2 / w^2) exp(i k z + i k r^2 / (2 R) - i psi),  psi = arctan(z / z_R).
    """
    k = 2 * np.pi / wavelength
    zr = np.pi * waist ** 2 / wavelength
    w = waist * np.sqrt(1 + (z / zr) ** 2)
    r2 = np.asarray(x) ** 2 + np.asarray(y) ** 2
    inv_r = z / (z ** 2 + zr ** 2)
    psi = np.arctan2(z, zr)
    return (waist / w) * np.exp(-r2 / w ** 2) * np.exp(1j * (k * z + k * r2 * inv_r / 2 - psi))


def evanescent_decay(period: float, wavelength: float, z: float) -> float:
    """Amplitude factor exp(-2 pi z sqrt(1/period^2 - 1/lambda^2)) of a grating with period < lambda."""
    return float(np.exp(-2 * np.pi * z * np.sqrt(1 / period ** 2 - 1 / wavelength ** 2)))


def defocus_waves(radius: float, wavelength: float, d1: float, d2: float) -> float:
    """Peak defocus W020 (waves) between object distances d1 and d2 (m) for an aperture ``radius`` (m):
    a^2 / (2 lambda) |1/d1 - 1/d2|."""
    return radius ** 2 / (2 * wavelength) * abs(1 / d1 - 1 / d2)
