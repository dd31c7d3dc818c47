"""Rotationally symmetric refracting surfaces: sag, normal, robust ray intersection. Lengths in metres.

Even asphere sag (the standard form, as in Tables 4 and 5 of Ho et al. 2024):
    z(r) = c r^2 / (1 + sqrt(1 - (1 + k) c^2 r^2)) + sum_i a_{2i} r^{2i},  i = 1..6
with curvature c = 1/R (1/m), conic k and coefficients a_{2i} (m^(1-2i)). A sphere is k = 0, a = 0; a plane
is c = 0. Intersections are found by Newton's method in float64 without gradient tracking, then one more
Newton step with gradients, so gradients flow through the converged point (implicit differentiation),
not through the iterations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Tuple

import torch


@dataclass
class Surface:
    """A surface at axial position ``z`` (m, vertex) with ``semi_diameter`` (m).

    ``c``, ``k`` and ``coeffs`` (a2, a4, ..., a12 in SI units) may be tensors requiring grad.
    ``stop`` marks the aperture stop (a plane with a clear semi-diameter).
    """

    z: object
    semi_diameter: float
    c: object = 0.0
    k: object = 0.0
    coeffs: Tuple = field(default_factory=tuple)
    stop: bool = False

    def _s(self, x, ref):
        return x if isinstance(x, torch.Tensor) else torch.tensor(float(x), dtype=ref.dtype, device=ref.device)

    def sag(self, s: torch.Tensor):
        """Sag z(r) (m) and dz/ds at s = r^2 (m^2); ``valid`` is False where the conic root is imaginary."""
        c, k = self._s(self.c, s), self._s(self.k, s)
        arg = 1 - (1 + k) * c * c * s
        valid = arg >= 0
        q = torch.sqrt(torch.clamp(arg, min=1e-300))
        z = c * s / (1 + q)
        dz = c / (2 * q)
        p = torch.ones_like(s)
        for i, a in enumerate(self.coeffs, start=1):
            a = self._s(a, s)
            dz = dz + i * a * p  # d/ds of a s^i = i a s^(i-1)
            p = p * s
            z = z + a * p
        return z, dz, valid

    def intersect(self, o: torch.Tensor, d: torch.Tensor, iters: int = 20):
        """Ray parameter t (along unit directions ``d`` from origins ``o``, (..., 3)) to the surface, the hit
        point, the unit normal (pointing +z) and a validity mask (intersection found, inside the aperture)."""
        z0 = self._s(self.z, o)
        with torch.no_grad():
            t = (z0 - o[..., 2]) / d[..., 2]
            for _ in range(iters):
                p = o + t[..., None] * d
                s = p[..., 0] ** 2 + p[..., 1] ** 2
                zs, dzs, _ = self.sag(s)
                f = p[..., 2] - z0 - zs
                fp = d[..., 2] - 2 * dzs * (p[..., 0] * d[..., 0] + p[..., 1] * d[..., 1])
                step = f / torch.where(fp.abs() > 1e-300, fp, torch.ones_like(fp))
                t = t - step
                if float(step.abs().max()) < 1e-15:
                    break
        # one differentiable Newton step from the converged point
        p = o + t[..., None] * d
        s = p[..., 0] ** 2 + p[..., 1] ** 2
        zs, dzs, ok = self.sag(s)
        f = p[..., 2] - z0 - zs
        fp = d[..., 2] - 2 * dzs * (p[..., 0] * d[..., 0] + p[..., 1] * d[..., 1])
        t = t - f / fp
        p = o + t[..., None] * d
        s = p[..., 0] ** 2 + p[..., 1] ** 2
        zs, dzs, ok = self.sag(s)
        n = torch.stack([-2 * dzs * p[..., 0], -2 * dzs * p[..., 1], torch.ones_like(dzs)], dim=-1)
        n = n / torch.linalg.norm(n, dim=-1, keepdim=True)
        resid = (p[..., 2] - z0 - zs).detach().abs()
        # sequential tracing: the next surface may lie behind the ray (negative t), as in Zemax
        valid = ok & (resid < 1e-9) & (s.detach() <= self.semi_diameter ** 2 * (1 + 1e-12))
        return t, p, n, valid


def refract(d: torch.Tensor, n: torch.Tensor, n1, n2):
    """Vector Snell's law: unit direction ``d`` through a surface of unit normal ``n`` from index n1 to n2.

    Returns the refracted unit direction and a mask that is False at total internal reflection (where the
    direction is left unchanged, never NaN).
    """
    cosi = -(d * n).sum(-1, keepdim=True)
    n = torch.where(cosi < 0, -n, n)  # orient the normal against the incoming ray
    cosi = cosi.abs()
    eta = n1 / n2
    eta = eta[..., None] if isinstance(eta, torch.Tensor) and eta.dim() == d.dim() - 1 else eta
    k = 1 - eta * eta * (1 - cosi * cosi)
    ok = (k >= 0).squeeze(-1)
    out = eta * d + (eta * cosi - torch.sqrt(torch.clamp(k, min=0))) * n
    out = torch.where(ok[..., None], out, d)
    return out / torch.linalg.norm(out, dim=-1, keepdim=True), ok
