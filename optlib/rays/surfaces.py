"""Rotationally symmetric refracting surfaces: sag, normal, robust ray intersection. Lengths in metres.

Even asphere sag (the standard form, as in Tables 4 and 5 of Ho et al. 2024)::

    z(r) = c r^2 / (1 + sqrt(1 - (1 + k) c^2 r^2)) + sum_i a_{2i} r^{2i},  i = 1..6

with curvature c = 1/R (1/m), conic k and coefficients a_{2i} (m^(1-2i)). A sphere is k = 0, a = 0; a plane
is c = 0. Conic surfaces are quadrics, so their intersections are closed-form (the root of a quadratic on
the vertex branch). Aspheric terms add Newton's method in float64 from that root without gradient tracking,
then one more Newton step with gradients, so gradients flow through the converged point (implicit
differentiation), not through the iterations.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Tuple

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

    rotationally_symmetric = True  # (a class attribute, not a field) first-order optics applies

    def tensors(self):
        """The surface's tensor parameters (for device queries)."""
        return tuple(x for x in (self.z, self.semi_diameter, self.c, self.k, *self.coeffs)
                     if isinstance(x, torch.Tensor))

    def to(self, device) -> "Surface":
        """The same surface with its tensor parameters on ``device`` (one that requires grad stays in the graph)."""
        def mv(x):
            return x.to(device) if isinstance(x, torch.Tensor) else x
        return Surface(mv(self.z), mv(self.semi_diameter), mv(self.c), mv(self.k), tuple(mv(a) for a in self.coeffs),
                       self.stop)

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

    def intersect_xyz(self, ox, oy, oz, dx, dy, dz, iters: int = 20, clip: bool = True):
        """Component form of :meth:`intersect` (the fast path used by :class:`SequentialLens`).

        Conic surfaces (spheres, paraboloids, ...) are quadrics: the hit is the root of a quadratic in t
        on the vertex branch, in closed form and differentiable as is. Aspheric terms add a Newton
        refinement from that root (float64, no graph), then one differentiable Newton step, so gradients
        flow through the converged point, not the iterations. Returns t, the hit point (x, y, z), the unit
        normal (pointing +z) and the validity mask (``clip=False`` ignores the semi-diameter).
        """
        z0 = self._s(self.z, ox)
        c, k = self._s(self.c, ox), self._s(self.k, ox)
        zl = oz - z0  # origin relative to the vertex
        if self.is_plane():
            t = -zl / dz
            x, y = ox + t * dx, oy + t * dy
            valid = (x * x + y * y <= self.semi_diameter ** 2 * (1 + 1e-9)) | (not clip)
            nz = torch.ones_like(x)
            return t, (x, y, z0 + zl + t * dz), (torch.zeros_like(x), torch.zeros_like(x), nz), valid
        kp = 1 + k
        # c (x^2 + y^2 + (1+k) z^2) - 2 z = 0 along the ray: A t^2 + 2 b t + C = 0
        A = c * (dx * dx + dy * dy + kp * dz * dz)
        b = c * (ox * dx + oy * dy + kp * zl * dz) - dz
        C = c * (ox * ox + oy * oy + kp * zl * zl) - 2 * zl
        disc = b * b - A * C
        hit = disc >= 0
        root = torch.sqrt(torch.clamp(disc, min=0))
        # the two roots in the cancellation-free form C / (-b -+ sqrt(disc)); the one on the vertex branch
        # ((1 + k) c z <= 1, the sheet the sag formula describes) is the surface, whatever the sign of b: a ray
        # starting further before a concave (c < 0) surface than |R| meets the far side of the sphere first
        t1, t2 = (C / torch.where(d == 0, torch.ones_like(d), d) for d in (-b + root, -b - root))
        w1, w2 = 1 - c * kp * (zl + t1 * dz), 1 - c * kp * (zl + t2 * dz)
        on1 = (-b + root != 0) & (w1 >= -1e-12)
        on2 = (-b - root != 0) & (w2 >= -1e-12)
        # both on the vertex branch (a chord across the cap): the first crossing ahead of the ray, else the nearer
        first = torch.where((t1 >= 0) & (t2 >= 0), torch.minimum(t1, t2), torch.maximum(t1, t2))
        t = torch.where(on1 & on2, first, torch.where(on1, t1, t2))  # -zl/dz as c -> 0
        if self.coeffs:
            t = newton_hit(lambda tt: self._newton_terms(ox, oy, zl, dx, dy, dz, tt), t, iters)
        x, y, zr = ox + t * dx, oy + t * dy, zl + t * dz
        s = x * x + y * y
        if self.coeffs:
            zs, dzs, ok = self.sag(s)
            resid = (zr - zs).detach().abs()
            valid = ok & (resid < 1e-9)
            nx, ny, nz = -2 * dzs * x, -2 * dzs * y, torch.ones_like(x)
        else:
            # on the vertex branch (1 + k) c z <= 1; the other sheet of a hyperboloid is a miss
            w = 1 - c * kp * zr
            valid = hit & (w >= -1e-12)
            nx, ny, nz = -c * x, -c * y, w
        inv = torch.rsqrt(nx * nx + ny * ny + nz * nz)
        if clip:
            valid = valid & (s.detach() <= self.semi_diameter ** 2 * (1 + 1e-12))
        return t, (x, y, z0 + zr), (nx * inv, ny * inv, nz * inv), valid

    def _newton_terms(self, ox, oy, zl, dx, dy, dz, t):
        x, y = ox + t * dx, oy + t * dy
        zs, dzs, _ = self.sag(x * x + y * y)
        return zl + t * dz - zs, dz - 2 * dzs * (x * dx + y * dy)

    def is_plane(self) -> bool:
        """True for a flat surface with no aspheric terms (trivial intersection)."""
        return (not isinstance(self.c, torch.Tensor) and float(self.c) == 0.0 and not self.coeffs)

    def intersect(self, o: torch.Tensor, d: torch.Tensor, iters: int = 20):
        """Ray parameter t (along unit directions ``d`` from origins ``o``, (..., 3)) to the surface, the hit
        point, the unit normal (pointing +z) and a validity mask (intersection found, inside the aperture)."""
        t, p, n, valid = self.intersect_xyz(*o.unbind(-1), *d.unbind(-1), iters=iters)
        return t, torch.stack(p, -1), torch.stack(n, -1), valid



def newton_hit(terms, t0: torch.Tensor, iters: int = 20, tol: float = 1e-15) -> torch.Tensor:
    """The ray parameter t (m) where a ray meets a surface: the root of f(t) = z_ray(t) - z_surface(x(t), y(t)).

    ``terms(t)`` returns (f, df/dt) for a tensor of t. Newton's method from ``t0`` runs without gradient
    tracking (at most ``iters`` steps, stopping once every step is below ``tol`` m); one more Newton step
    with gradients then makes the root a differentiable function of the surface's and the rays' parameters at
    the converged point (implicit differentiation: dt/dp = -(df/dp) / (df/dt)), not through the iterations.
    Callers check the residual of the returned t to mark rays that did not converge.
    """
    with torch.no_grad():
        td = t0.detach()
        for _ in range(iters):
            f, fp = terms(td)
            step = f / torch.where(fp.abs() > 1e-300, fp, torch.ones_like(fp))
            td = td - step
            if float(step.abs().max()) < tol:
                break
    f, fp = terms(td)
    return td - f / torch.where(fp.detach().abs() > 1e-300, fp, torch.ones_like(fp))


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


def refract_xyz(dx, dy, dz, nx, ny, nz, n1, n2):
    """Component form of :func:`refract`: returns (dx, dy, dz) refracted and the not-TIR mask."""
    cosi = -(dx * nx + dy * ny + dz * nz)
    sgn = torch.where(cosi < 0, -torch.ones_like(cosi), torch.ones_like(cosi))
    nx, ny, nz, cosi = nx * sgn, ny * sgn, nz * sgn, cosi * sgn
    eta = n1 / n2
    k = 1 - eta * eta * (1 - cosi * cosi)
    ok = k >= 0
    a = eta * cosi - torch.sqrt(torch.clamp(k, min=0))
    ox, oy, oz = eta * dx + a * nx, eta * dy + a * ny, eta * dz + a * nz
    ox, oy, oz = torch.where(ok, ox, dx), torch.where(ok, oy, dy), torch.where(ok, oz, dz)
    # |out| = 1 analytically for unit inputs; renormalise against rounding
    inv = torch.rsqrt(ox * ox + oy * oy + oz * oz)
    return ox * inv, oy * inv, oz * inv, ok
