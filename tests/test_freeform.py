"""Freeform surfaces (optlib.rays.freeform): the two height models against exact functions, the Newton
intersection against the closed-form sphere, gradients in float64, and the ray -> Field -> propagation chain
through a freeform plate against an independent thin-element model."""
import math

import pytest
import torch

from optlib import materials
from optlib.field import Field
from optlib.grid import Grid
from optlib.metrics import ncc
from optlib.propagation import asm
from optlib.rays import BSplineHeight, FreeformSurface, MeshHeight, Rays, SequentialLens, Surface, to_field

D = torch.float64
L = 0.24e-3  # the patch's side (m)


def _nodes(n, fn, half=L / 2):
    t = torch.linspace(-half, half, n, dtype=D)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    return fn(xx, yy), 2 * half / (n - 1), (-half, -half)


def _points(n=400, half=L / 2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return ((torch.rand(n, generator=g, dtype=D) * 2 - 1) * half, (torch.rand(n, generator=g, dtype=D) * 2 - 1) * half)


def _bump(x, y):
    """A smooth test surface (m): two Gaussians, and its exact slopes."""
    e1 = torch.exp(-((x - 20e-6) ** 2 + (y + 10e-6) ** 2) / (2 * (35e-6) ** 2))
    e2 = torch.exp(-((x + 40e-6) ** 2 + (y - 30e-6) ** 2) / (2 * (30e-6) ** 2))
    h = 3e-6 * e1 - 2e-6 * e2
    hx = 3e-6 * e1 * -(x - 20e-6) / 35e-6 ** 2 - 2e-6 * e2 * -(x + 40e-6) / 30e-6 ** 2
    hy = 3e-6 * e1 * -(y + 10e-6) / 35e-6 ** 2 - 2e-6 * e2 * -(y - 30e-6) / 30e-6 ** 2
    return h, hx, hy


def test_mesh_is_exact_on_a_plane_and_passes_through_its_nodes():
    H, p, o = _nodes(7, lambda x, y: 0.03 * x - 0.05 * y + 1e-6)
    m = MeshHeight(H, p, o)
    x, y = _points()
    h, hx, hy = m(x, y)
    assert torch.allclose(h, 0.03 * x - 0.05 * y + 1e-6, atol=1e-18, rtol=0)
    assert torch.allclose(hx, torch.full_like(x, 0.03)) and torch.allclose(hy, torch.full_like(x, -0.05))
    Hb, pb, ob = _nodes(9, lambda x, y: _bump(x, y)[0])
    t = torch.linspace(-L / 2, L / 2, 9, dtype=D)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    assert torch.allclose(MeshHeight(Hb, pb, ob)(xx.flatten(), yy.flatten())[0], Hb.flatten(), atol=1e-18, rtol=0)


def test_bspline_interpolates_is_c1_across_knots_and_its_slopes_are_its_derivatives():
    H, p, o = _nodes(9, lambda x, y: _bump(x, y)[0])
    s = BSplineHeight.interpolating(H, p, o)
    t = torch.linspace(-L / 2, L / 2, 9, dtype=D)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    assert torch.allclose(s(xx.flatten(), yy.flatten())[0], H.flatten(), atol=1e-17, rtol=0)
    # across the knot line x = t[4]: value and both slopes agree from either cell (the mesh's slope jumps)
    y = torch.linspace(-L / 3, L / 3, 50, dtype=D)
    eps = 1e-12
    left, right = s(torch.full_like(y, float(t[4]) - eps), y), s(torch.full_like(y, float(t[4]) + eps), y)
    for a, b in zip(left, right):  # (2 eps apart: the curvature moves the slope by about 1e-9 of its range)
        assert float((a - b).abs().max()) < 1e-6 * float(a.abs().max())
    ml, mr = MeshHeight(H, p, o)(torch.full_like(y, float(t[4]) - eps), y), MeshHeight(H, p, o)(
        torch.full_like(y, float(t[4]) + eps), y)
    assert float((ml[1] - mr[1]).abs().max()) > 1e-3  # a facet edge: the slope jumps
    x, yr = _points(50)
    h_step = 1e-9
    _, hx, hy = s(x, yr)
    fx = (s(x + h_step, yr)[0] - s(x - h_step, yr)[0]) / (2 * h_step)
    fy = (s(x, yr + h_step)[0] - s(x, yr - h_step)[0]) / (2 * h_step)
    assert torch.allclose(hx, fx, atol=1e-7) and torch.allclose(hy, fy, atol=1e-7)


def test_bspline_converges_fourth_order_and_the_mesh_second_order():
    x, y = _points(2000, half=L / 4)  # the interior (the natural end condition costs accuracy at the rectangle's edge)
    exact = _bump(x, y)[0]
    err = {}
    for n in (13, 25, 49):
        H, p, o = _nodes(n, lambda a, b: _bump(a, b)[0])
        err[n] = (float((BSplineHeight.interpolating(H, p, o)(x, y)[0] - exact).abs().max()),
                  float((MeshHeight(H, p, o)(x, y)[0] - exact).abs().max()))
    for a, b in ((13, 25), (25, 49)):
        assert err[a][0] / err[b][0] > 10   # 2^4 = 16 for a cubic spline
        assert 3 < err[a][1] / err[b][1] < 6  # 2^2 = 4 for linear facets
    assert err[25][0] < err[25][1] / 20


def test_newton_intersection_agrees_with_the_closed_form_sphere():
    R = 2e-3  # a spherical cap z = R - sqrt(R^2 - r^2) sampled on a 0.24 mm patch
    H, p, o = _nodes(49, lambda x, y: R - torch.sqrt(R * R - x * x - y * y))
    ff = FreeformSurface(1e-3, BSplineHeight.interpolating(H, p, o))
    sp = Surface(1e-3, 0.2e-3, 1 / R)
    x, y = _points(300, half=L / 4)
    ang = 0.15
    ox, oy, oz = x, y, torch.full_like(x, 0.99e-3)  # 10 um before the vertex: the hits stay on the patch
    dx, dy, dz = (torch.full_like(x, v) for v in (math.sin(ang), 0.0, math.cos(ang)))
    t1, p1, n1, v1 = ff.intersect_xyz(ox, oy, oz, dx, dy, dz)
    t2, p2, n2, v2 = sp.intersect_xyz(ox, oy, oz, dx, dy, dz, clip=False)
    assert bool(v1.all()) and bool(v2.all())
    assert float((t1 - t2).abs().max()) < 1e-11  # the spline's error on the cap, 1e-12 m, not Newton's
    for a, b in zip(n1, n2):
        assert float((a - b).abs().max()) < 1e-7
    # outside the patch: blocked; clip=False keeps it
    out = ff.intersect_xyz(torch.tensor([0.2e-3], dtype=D), torch.zeros(1, dtype=D), torch.zeros(1, dtype=D),
                           torch.zeros(1, dtype=D), torch.zeros(1, dtype=D), torch.ones(1, dtype=D))
    assert not bool(out[3][0])


def _plate(height, glass=0.5e-3):
    return SequentialLens([Surface(0.0, 1e-3), FreeformSurface(glass, height)], ["N-BK7", "air"], 2e-3)


def _square_rays(n_side, wl, half=L / 2, z0=-1e-4):
    s = (torch.arange(n_side, dtype=D) + 0.5) / n_side * 2 * half - half
    yy, xx = torch.meshgrid(s, s, indexing="ij")
    o = torch.stack([xx.flatten(), yy.flatten(), torch.full((n_side ** 2,), z0, dtype=D)], -1)
    d = torch.zeros_like(o)
    d[:, 2] = 1
    return Rays(o, d, wl, (o * d).sum(-1))


def test_optical_path_through_a_freeform_is_differentiable_in_its_control_points_float64():
    H, p, o = _nodes(5, lambda x, y: _bump(x, y)[0])
    C0 = BSplineHeight.interpolating(H, p, o).control.detach()
    rays = _square_rays(6, 550e-9, half=L / 3)
    rays.d = torch.nn.functional.normalize(rays.d + torch.tensor([0.05, -0.03, 0.0], dtype=D), dim=-1)

    def f(C, M):
        a = _plate(BSplineHeight(C, p, o)).trace(rays, to_sensor=True)
        b = _plate(MeshHeight(M, p, o)).trace(rays, to_sensor=True)
        return torch.cat([a.opl, a.o[:, 0], b.opl, b.o[:, 1]])

    C = (C0 * 1.0).requires_grad_(True)
    M = H.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (C, M), eps=1e-10, atol=1e-8, rtol=1e-5)


def test_ray_field_through_a_gentle_freeform_matches_the_thin_element_model():
    """An independent model: a thin phase screen exp(i k (n - 1) h) on the patch, propagated by the angular
    spectrum. A surface a few um high is thin, so the traced plate's field must agree: their intensities 1 mm
    behind it (where the bumps' caustics form) on 9.4 um sensor pixels (4 x 4 field samples) away from the
    patch's edges (whose ripples neither model is about), and the traced measurement keeps the rays' power."""
    wl, N, W, zm = 550e-9, 128, 0.3e-3, 1e-3
    H, p, o = _nodes(12, lambda x, y: _bump(x, y)[0])
    spline = BSplineHeight.interpolating(H, p, o)
    lens = _plate(spline)
    zc = 0.5e-3 + 2e-6
    out = lens.trace(_square_rays(160, wl), to_sensor=False).to_plane(zc)
    grid = Grid((N, N), W / N)
    at_plate = to_field(out, grid)
    traced = asm(at_plate, zm - zc)
    n = materials.get("N-BK7").n(wl)
    yy, xx = grid.y().expand(N, N), grid.x().expand(N, N)
    h = spline(xx.flatten(), yy.flatten())[0].reshape(N, N)
    inside = (xx.abs() <= L / 2) & (yy.abs() <= L / 2)
    u = torch.where(inside, torch.exp(1j * 2 * math.pi / wl * (n - 1) * h), torch.zeros((), dtype=torch.complex128))
    thin = asm(Field(u / math.sqrt(float(inside.sum()) * grid.dx * grid.dy), grid, wl), zm - zc)
    # the rays' 1 W (short by 1.7e-5: neighbouring rays' phases differ slightly on a shared sample)
    assert abs(float(at_plate.intensity().sum()) * grid.dx * grid.dy - 1.0) < 1e-4
    assert 0.99 < float(traced.intensity().sum()) * grid.dx * grid.dy <= 1.0  # some leaves the window

    def pixels(I):  # the central 20 x 20 sensor pixels (0.19 mm of the 0.24 mm patch)
        return torch.nn.functional.avg_pool2d(I[None, None], 4)[0, 0][6:26, 6:26]
    It, Ih = pixels(traced.intensity()), pixels(thin.intensity())
    assert float(ncc(It, Ih)) > 0.995
    # not built in: the traced path's (n - 1) h is compared with the screen's (a wrong index or sign fails)
    wrong = asm(Field(u.abs() * torch.exp(-1j * u.angle()) / math.sqrt(float(inside.sum()) * grid.dx * grid.dy),
                      grid, wl), zm - zc)
    assert float(ncc(It, pixels(wrong.intensity()))) < 0.5


def test_freeform_models_refuse_bad_input_and_a_lens_with_one_has_no_paraxial_data():
    with pytest.raises(ValueError, match="2 x 2"):
        MeshHeight(torch.zeros(1, 5, dtype=D), 1e-6)
    with pytest.raises(ValueError, match="control points"):
        BSplineHeight(torch.zeros(3, 6, dtype=D), 1e-6)
    with pytest.raises(ValueError, match="pitch"):
        MeshHeight(torch.zeros(3, 3, dtype=D), float("nan"))
    H, p, o = _nodes(5, lambda x, y: _bump(x, y)[0])
    lens = _plate(MeshHeight(H, p, o))
    with pytest.raises(ValueError, match="freeform"):
        lens.paraxial(550e-9)
    with pytest.raises(ValueError, match="freeform"):
        lens.scaled(2.0)
    assert lens.to("cpu").surfaces[1].height.heights.device.type == "cpu"
