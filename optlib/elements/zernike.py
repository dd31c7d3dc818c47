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


def _poly_mul(p, q):
    """The product of two polynomials in (u, v) held as dicts {(a, b): coefficient of u^a v^b}."""
    out = {}
    for (a1, b1), c1 in p.items():
        for (a2, b2), c2 in q.items():
            out[(a1 + a2, b1 + b2)] = out.get((a1 + a2, b1 + b2), 0) + c1 * c2
    return out


def zernike_monomials(js, dtype=torch.float64, device=None) -> torch.Tensor:
    """The Noll terms ``js`` (a list of j >= 1) as polynomials in the disc's coordinates u = x / R, v = y / R:
    a tensor (J, D + 1, D + 1), D the largest radial order n, whose [k, b, a] is the coefficient of v^b u^a in
    Z_{js[k]} (dimensionless). Exact: rho^(n - 2s) cos(m theta) = (u^2 + v^2)^((n - 2s - m) / 2) Re((u + i v)^m),
    and sin with Im, expanded binomially in integers. Unlike :func:`zernike` the polynomial does not stop at
    rho = 1: mask it."""
    nms = [noll_to_nm(int(j)) for j in js]
    D = max(n for n, _ in nms)
    out = torch.zeros(len(nms), D + 1, D + 1, dtype=torch.float64)
    for k, (n, m) in enumerate(nms):
        am = abs(m)
        # Re((u + i v)^|m|) for m >= 0, Im for m < 0: the binomial terms with i^t real or imaginary
        ang = {(am - t, t): math.comb(am, t) * (-1) ** (t // 2) for t in range(am + 1)
               if t % 2 == (1 if m < 0 else 0)}
        norm = math.sqrt(n + 1) if m == 0 else math.sqrt(2 * (n + 1))
        for s in range((n - am) // 2 + 1):
            c = (-1) ** s * math.factorial(n - s) / (
                math.factorial(s) * math.factorial((n + am) // 2 - s) * math.factorial((n - am) // 2 - s))
            p = (n - 2 * s - am) // 2  # (u^2 + v^2)^p
            ring = {(2 * (p - i), 2 * i): math.comb(p, i) for i in range(p + 1)}
            for (a, b), v in _poly_mul(ring, ang).items():
                out[k, b, a] += norm * c * v
    return out.to(device=device, dtype=dtype)


def zernike_on_grid(coefficients: torch.Tensor, grid, radius: float, js=None, centre=(0.0, 0.0),
                    monomials: torch.Tensor = None) -> torch.Tensor:
    """sum_k c_k Z_{js[k]} on the samples of ``grid`` (H, W), for the disc of ``radius`` (m) about ``centre``
    (x, y in m); ``js`` defaults to 1..len(coefficients). Separable: V (sum_k c_k M_k) U^T with U, V the powers of
    each axis's coordinates and M_k from :func:`zernike_monomials` (pass ``monomials`` to reuse them), so it holds
    no (J, H, W) basis and costs two thin matrix products: a Zernike phase for every field of a map, made as it is
    needed. In the dtype and on the device of ``coefficients``, differentiable in them. Not cut at rho = 1."""
    js = list(range(1, coefficients.shape[0] + 1)) if js is None else list(js)
    if len(js) != coefficients.shape[0]:
        raise ValueError(f"zernike_on_grid: {coefficients.shape[0]} coefficients for {len(js)} Noll terms")
    if not (math.isfinite(radius) and radius > 0):
        raise ValueError(f"zernike_on_grid: radius must be a positive length (m), got {radius!r}")
    c = coefficients
    M = zernike_monomials(js, c.dtype, c.device) if monomials is None else monomials.to(c)
    powers = torch.arange(M.shape[-1], device=c.device, dtype=c.dtype)
    u = ((grid.x(c.device, torch.float64).reshape(-1) - float(centre[0])) / radius).to(c.dtype)
    v = ((grid.y(c.device, torch.float64).reshape(-1) - float(centre[1])) / radius).to(c.dtype)
    U, V = u[:, None] ** powers, v[:, None] ** powers
    return V @ torch.einsum("k,kba->ba", c, M) @ U.T
