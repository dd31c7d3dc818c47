"""Freeform (non-rotationally-symmetric) refracting surfaces: a height map over a rectangle, two ways.

A freeform surface is z = z0 + h(x, y) over the rectangle its height model covers (rays that meet the plane
z0 outside it are blocked: a square aperture). The height model gives h and its slopes (h_x, h_y) at any
points; the surface intersects rays by Newton's method on the model (:func:`~optlib.rays.surfaces.newton_hit`,
differentiable at the converged point) and takes its normal from the slopes, (-h_x, -h_y, 1) / norm.

Two descriptions of the same height samples H[i, j] at nodes (y0 + i dy, x0 + j dx) (Ho et al. 2024, Fig. 14):

- :class:`MeshHeight`: the piecewise-linear mesh, each grid cell cut into two triangles along its diagonal.
  Continuous height, slopes constant on each facet and jumping across its edges.
- :class:`BSplineHeight`: a uniform bicubic B-spline with one knot per node, C2 (continuous curvature).
  :meth:`BSplineHeight.interpolating` solves for the control points that pass through the samples (natural
  end conditions, h'' = 0 at the rectangle's edges); the control points may be tensors requiring grad (the
  height recovery of Fig. 15 optimises them).

Lengths in metres throughout. Float64 by default (a ray's optical path through a surface is a phase).
"""
from __future__ import annotations

from typing import Tuple

import torch

from ..units import number
from .surfaces import newton_hit


class _NodeGrid:
    """The nodes' rectangle: ``shape`` (ny, nx) nodes, spacing ``pitch`` (dy, dx) (m), first node at
    ``origin`` (y0, x0) (m)."""

    def __init__(self, shape: Tuple[int, int], pitch, origin):
        ny, nx = (int(v) for v in shape)
        if ny < 2 or nx < 2:
            raise ValueError(f"a height map needs at least 2 x 2 nodes, got {ny} x {nx}")
        py, px = (pitch, pitch) if not isinstance(pitch, (tuple, list)) else pitch
        self.shape = (ny, nx)
        self.pitch = (number("pitch", py, unit="m", positive=True), number("pitch", px, unit="m", positive=True))
        self.origin = (number("origin", origin[0], unit="m"), number("origin", origin[1], unit="m"))

    @property
    def bounds(self):
        """(y_min, y_max, x_min, x_max) (m) of the rectangle the nodes span."""
        (ny, nx), (dy, dx), (y0, x0) = self.shape, self.pitch, self.origin
        return y0, y0 + (ny - 1) * dy, x0, x0 + (nx - 1) * dx

    def cell(self, x, y):
        """The cell (iy, ix) each point falls in (clamped to the rectangle) and its local coordinates (v, u)
        in [0, 1] (extrapolated linearly beyond the edge cells, so Newton's iterates stay defined)."""
        (ny, nx), (dy, dx), (y0, x0) = self.shape, self.pitch, self.origin
        sy, sx = (y - y0) / dy, (x - x0) / dx
        iy = torch.clamp(torch.floor(sy.detach()), 0, ny - 2).long()
        ix = torch.clamp(torch.floor(sx.detach()), 0, nx - 2).long()
        return iy, ix, sy - iy.to(sy.dtype), sx - ix.to(sx.dtype)


class MeshHeight(_NodeGrid):
    """Piecewise-linear height over triangles: ``heights`` (ny, nx) (m) at the nodes (a tensor; may require
    grad), node spacing ``pitch`` (m, or (dy, dx)), first node at ``origin`` (y0, x0) (m). Each cell is cut
    along the diagonal from its (0, 0) corner to its (1, 1) corner."""

    def __init__(self, heights: torch.Tensor, pitch, origin=(0.0, 0.0)):
        super().__init__(heights.shape, pitch, origin)
        self.heights = heights

    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        """Height h (m) and slopes (h_x, h_y) at the points (x, y) (m)."""
        H = self.heights
        iy, ix, v, u = self.cell(x, y)
        h00, h01 = H[iy, ix], H[iy, ix + 1]          # (y, x) corners: h01 is one node along x
        h10, h11 = H[iy + 1, ix], H[iy + 1, ix + 1]
        lower = u >= v                                # the triangle (0,0)-(1,0)-(1,1) in (u, v)
        du = torch.where(lower, h01 - h00, h11 - h10)  # dh/du on each triangle
        dv = torch.where(lower, h11 - h01, h10 - h00)
        h = h00 + u * du + v * dv
        return h, du / self.pitch[1], dv / self.pitch[0]

    def tensors(self):
        return (self.heights,)

    def to(self, device):
        return MeshHeight(self.heights.to(device), self.pitch, self.origin)


def _bspline_weights(t):
    """The four uniform cubic B-spline basis values and their derivatives at local coordinate t in [0, 1]."""
    t2, t3 = t * t, t * t * t
    w = ((1 - t) ** 3 / 6, (3 * t3 - 6 * t2 + 4) / 6, (-3 * t3 + 3 * t2 + 3 * t + 1) / 6, t3 / 6)
    dw = (-(1 - t) ** 2 / 2, (3 * t2 - 4 * t) / 2, (-3 * t2 + 2 * t + 1) / 2, t2 / 2)
    return w, dw


def _natural_interpolation_matrix(n: int, dtype, device) -> torch.Tensor:
    """(n + 2) x (n + 2) matrix M with M @ c = (0, s_0, ..., s_{n-1}, 0): the spline's values at the n nodes,
    (c_{i-1} + 4 c_i + c_{i+1}) / 6, and its second derivative (zero) at the two end nodes."""
    M = torch.zeros(n + 2, n + 2, dtype=dtype, device=device)
    M[0, 0:3] = torch.tensor([1.0, -2.0, 1.0], dtype=dtype, device=device)
    M[-1, -3:] = torch.tensor([1.0, -2.0, 1.0], dtype=dtype, device=device)
    for i in range(n):
        M[i + 1, i:i + 3] = torch.tensor([1 / 6, 4 / 6, 1 / 6], dtype=dtype, device=device)
    return M


class BSplineHeight(_NodeGrid):
    """Uniform bicubic B-spline height: ``control`` (ny + 2, nx + 2) points (m; a tensor, may require grad) for
    knots at ``shape`` = (ny, nx) nodes spaced ``pitch`` (m, or (dy, dx)) from ``origin`` (y0, x0) (m); the
    spline covers the nodes' rectangle. ``control[i + 1, j + 1]`` sits at node (i, j); the outer ring
    continues the spline to the rectangle's edge."""

    def __init__(self, control: torch.Tensor, pitch, origin=(0.0, 0.0)):
        if control.dim() != 2 or min(control.shape) < 4:
            raise ValueError(f"control points must be (ny + 2, nx + 2) with ny, nx >= 2, got {tuple(control.shape)}")
        super().__init__((control.shape[0] - 2, control.shape[1] - 2), pitch, origin)
        self.control = control

    @classmethod
    def interpolating(cls, heights: torch.Tensor, pitch, origin=(0.0, 0.0)) -> "BSplineHeight":
        """The spline through ``heights`` (ny, nx) (m) at the nodes, with zero second derivative across the
        rectangle's edges (natural end conditions). Differentiable in ``heights`` (a linear solve)."""
        ny, nx = heights.shape
        My = _natural_interpolation_matrix(ny, heights.dtype, heights.device)
        Mx = _natural_interpolation_matrix(nx, heights.dtype, heights.device)
        S = torch.nn.functional.pad(heights, (1, 1, 1, 1))  # rows/columns 0 and -1: the end conditions (= 0)
        C = torch.linalg.solve(My, S)                   # along y
        C = torch.linalg.solve(Mx, C.transpose(0, 1)).transpose(0, 1)  # along x
        return cls(C, pitch, origin)

    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        """Height h (m) and slopes (h_x, h_y) at the points (x, y) (m)."""
        C = self.control
        iy, ix, v, u = self.cell(x, y)
        wy, dwy = _bspline_weights(v)
        wx, dwx = _bspline_weights(u)
        h = hx = hy = 0.0
        for a in range(4):
            cols = [C[iy + a, ix + b] for b in range(4)]  # controls c[iy-1+a, ix-1+b]: the array is offset by one
            sx = sum(wx[b] * cols[b] for b in range(4))
            sdx = sum(dwx[b] * cols[b] for b in range(4))
            h = h + wy[a] * sx
            hx = hx + wy[a] * sdx
            hy = hy + dwy[a] * sx
        return h, hx / self.pitch[1], hy / self.pitch[0]

    def tensors(self):
        return (self.control,)

    def to(self, device):
        return BSplineHeight(self.control.to(device), self.pitch, self.origin)


class FreeformSurface:
    """A refracting surface z = ``z`` + h(x, y) (m) with h from a height model (:class:`MeshHeight`,
    :class:`BSplineHeight`, or any callable (x, y) -> (h, h_x, h_y) (m, m/m) with a ``bounds`` rectangle
    (y_min, y_max, x_min, x_max) (m) and a ``tensors()`` method). Rays whose hit lies outside the rectangle are
    blocked (``clip``). Usable in a
    :class:`~optlib.rays.SequentialLens` like :class:`~optlib.rays.Surface`; it has no axis of symmetry, so
    the lens's first-order (paraxial) data are undefined with it."""

    stop = False
    rotationally_symmetric = False

    def __init__(self, z, height):
        self.z = z
        self.height = height
        y_min, y_max, x_min, x_max = height.bounds
        self.semi_diameter = max(abs(y_min), abs(y_max), abs(x_min), abs(x_max)) * 2 ** 0.5  # encloses it

    def tensors(self):
        """The surface's tensor parameters (for device queries)."""
        return tuple(v for v in (self.z, *self.height.tensors()) if isinstance(v, torch.Tensor))

    def to(self, device) -> "FreeformSurface":
        z = self.z.to(device) if isinstance(self.z, torch.Tensor) else self.z
        return FreeformSurface(z, self.height.to(device))

    def intersect_xyz(self, ox, oy, oz, dx, dy, dz, iters: int = 30, clip: bool = True):
        """Ray parameter t (m), hit point (x, y, z), unit normal (pointing +z) and validity of rays with
        origins (ox, oy, oz) and unit directions (dx, dy, dz) (m). Newton from the base plane's hit; a ray is
        valid where it converged (residual below 1e-12 m) and, with ``clip``, its hit lies on the rectangle."""
        z0 = self.z if isinstance(self.z, torch.Tensor) else torch.tensor(float(self.z), dtype=ox.dtype,
                                                                           device=ox.device)
        zl = oz - z0

        def terms(t):
            h, hx, hy = self.height(ox + t * dx, oy + t * dy)
            return zl + t * dz - h, dz - hx * dx - hy * dy

        t = newton_hit(terms, -zl / dz, iters)
        x, y = ox + t * dx, oy + t * dy
        h, hx, hy = self.height(x, y)
        valid = (zl + t * dz - h).detach().abs() < 1e-12
        if clip:
            y_min, y_max, x_min, x_max = self.height.bounds
            ey, ex = 1e-12 * (y_max - y_min), 1e-12 * (x_max - x_min)  # rays on the edge are in
            xd, yd = x.detach(), y.detach()
            valid = valid & (xd >= x_min - ex) & (xd <= x_max + ex) & (yd >= y_min - ey) & (yd <= y_max + ey)
        inv = torch.rsqrt(hx * hx + hy * hy + 1)
        return t, (x, y, z0 + h), (-hx * inv, -hy * inv, inv), valid
