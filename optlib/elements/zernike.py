"""Zernike polynomials (Noll 1976 ordering and normalisation) on the unit disc."""
from __future__ import annotations

import math
from typing import Tuple

import torch


def noll_to_nm(j: int) -> Tuple[int, int]:
    """Noll index j >= 1 -> radial order n and azimuthal frequency m (m < 0: sine terms)."""
    if j < 1:
        raise ValueError(f"Noll index starts at 1, got {j}")
    n, j1 = 0, j - 1
    while j1 > n:
        n += 1
        j1 -= n
    m = (n % 2) + 2 * ((j1 + ((n + 1) % 2)) // 2)
    return n, (m if j % 2 == 0 else -m)


def radial(n: int, m: int, rho: torch.Tensor) -> torch.Tensor:
    m = abs(m)
    out = torch.zeros_like(rho)
    for s in range((n - m) // 2 + 1):
        c = (-1) ** s * math.factorial(n - s) / (
            math.factorial(s) * math.factorial((n + m) // 2 - s) * math.factorial((n - m) // 2 - s))
        out = out + c * rho ** (n - 2 * s)
    return out


def zernike(j: int, rho: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Noll-normalised Z_j(rho, theta): the mean of Z_j^2 over the unit disc is 1. Zero for rho > 1."""
    n, m = noll_to_nm(j)
    norm = math.sqrt(n + 1) if m == 0 else math.sqrt(2 * (n + 1))
    z = norm * radial(n, m, rho)
    if m > 0:
        z = z * torch.cos(m * theta)
    elif m < 0:
        z = z * torch.sin(-m * theta)
    return z * (rho <= 1)


def zernike_basis(grid, radius: float, n_terms: int, device=None, dtype=torch.float64) -> torch.Tensor:
    """Stack of the first ``n_terms`` Noll Zernikes on ``grid`` over a disc of ``radius`` (m): ``(J, H, W)``."""
    x = grid.x(device, torch.float64)
    y = grid.y(device, torch.float64)
    rho = torch.sqrt(x * x + y * y) / radius
    theta = torch.atan2(y.expand(grid.shape), x.expand(grid.shape))
    return torch.stack([zernike(j, rho, theta) for j in range(1, n_terms + 1)]).to(dtype)


def zernike_fit(x: torch.Tensor, y: torch.Tensor, values: torch.Tensor, center, radius: float,
                n_terms: int) -> torch.Tensor:
    """Least-squares Noll coefficients (``(n_terms,)``, in the unit of ``values``) of scattered samples
    ``values`` at points (``x``, ``y``) (m, ``(N,)``) over the disc of ``radius`` (m) about ``center`` (x, y in m):
    how a pupil-aberration model reduces a traced wavefront to its Zernike terms (Yang et al. 2024 use the first
    37 from Zemax). Raises ``ValueError`` with fewer samples than terms or samples outside the disc."""
    if x.numel() < n_terms:
        raise ValueError(f"zernike_fit: {x.numel()} samples cannot fix {n_terms} coefficients")
    cx, cy = (float(c) for c in center)
    rho = torch.sqrt((x - cx) ** 2 + (y - cy) ** 2) / radius
    if float(rho.max()) > 1 + 1e-9:
        raise ValueError(f"zernike_fit: samples reach {float(rho.max()):.4f} radii from the centre; give a radius "
                         "that holds them all")
    theta = torch.atan2(y - cy, x - cx)
    rho = rho.clamp(max=1.0)
    A = torch.stack([zernike(j, rho, theta) for j in range(1, n_terms + 1)], -1)
    return torch.linalg.lstsq(A, values[:, None]).solution[:, 0]


def zernike_surface(coefficients: torch.Tensor, x: torch.Tensor, y: torch.Tensor, center, radius: float):
    """The sum of Noll terms with ``coefficients`` at points (``x``, ``y``) (m, broadcasting), on the disc of
    ``radius`` (m) about ``center``; zero outside it. The inverse of :func:`zernike_fit`."""
    cx, cy = (float(c) for c in center)
    dx, dy = torch.broadcast_tensors(x - cx, y - cy)
    rho = torch.sqrt(dx * dx + dy * dy) / radius
    theta = torch.atan2(dy, dx)
    return sum(c * zernike(j, rho, theta) for j, c in enumerate(coefficients, start=1))
