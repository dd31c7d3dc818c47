"""Sequential ray tracing against first-order optics, a perfect aspheric focus, gradients and precision."""
import math

import pytest
import torch

from optlib import materials
from optlib.rays import SequentialLens, Surface, library, refract

WL = 587.5618e-9


def test_thick_singlet_efl_matches_lensmaker():
    R1, R2, t = 50e-3, -40e-3, 5e-3
    lens = SequentialLens.from_rows([(R1 * 1e3, t * 1e3, "N-BK7", 10), (R2 * 1e3, 0, "air", 10)], 50)
    n = materials.get("N-BK7").n(WL)
    inv_f = (n - 1) * (1 / R1 - 1 / R2 + (n - 1) * t / (n * R1 * R2))
    assert lens.paraxial(WL)["efl"] == pytest.approx(1 / inv_f, rel=1e-12)


def test_cooke_triplet_first_order_and_real_focus_agree():
    lens = library("cooke_triplet")
    par = lens.paraxial(WL)
    assert par["efl"] == pytest.approx(49.81e-3, rel=3e-3)  # the DeepLens value recorded in the notes
    # a thin pencil of real rays focuses where the paraxial trace says
    out = lens.trace(lens.collimated(WL, 0.05e-3, 8), to_sensor=False)
    assert lens.best_focus(out) == pytest.approx(par["image_z"], abs=1e-6)
    # deterministic in float64: a second trace is bit-identical
    out2 = lens.trace(lens.collimated(WL, 0.05e-3, 8), to_sensor=False)
    assert torch.equal(out.o, out2.o) and torch.equal(out.opl, out2.opl)


def _planoconvex(k):
    n = materials.get("N-BK7").n(WL)
    R = -(n - 1) * 50.0  # f = 50 mm for light leaving the glass through the curved face
    return SequentialLens.from_rows([(math.inf, 5.0, "N-BK7", 6.0), (R, 0.0, "air", 6.0, k)], 50.0), n


def test_hyperbolic_asphere_focuses_perfectly():
    # glass -> air through a conic with k = -n^2 images a collimated beam without spherical aberration
    lens, n = _planoconvex(-materials.get("N-BK7").n(WL) ** 2)
    rays = lens.collimated(WL, 5e-3, 48)
    out = lens.trace(rays, to_sensor=False)
    lens.sensor_z = lens.best_focus(out)
    spot = float(SequentialLens.rms_spot(lens.trace(rays)))
    airy = 1.22 * WL * 50e-3 / 10e-3
    assert spot < 1e-4 * airy
    sphere, _ = _planoconvex(0.0)
    out_s = sphere.trace(rays, to_sensor=False)
    sphere.sensor_z = sphere.best_focus(out_s)
    assert float(SequentialLens.rms_spot(sphere.trace(rays))) > 0.5 * airy


def test_invalid_rays_never_nan():
    lens, _ = _planoconvex(0.0)
    rays = lens.collimated(WL, 9e-3, 32)  # larger than the 6 mm semi-diameter
    out = lens.trace(rays)
    assert torch.isfinite(out.o).all() and torch.isfinite(out.opl).all()
    r = torch.sqrt(rays.o[:, 0] ** 2 + rays.o[:, 1] ** 2)
    assert not out.valid[r > 6e-3].any() and out.valid[r < 5.5e-3].all()
    # total internal reflection: a steep ray leaving glass
    d = torch.tensor([[math.sin(0.8), 0.0, math.cos(0.8)]], dtype=torch.float64)
    nrm = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)
    out_d, ok = refract(d, nrm, 1.5, 1.0)
    assert not bool(ok[0]) and torch.isfinite(out_d).all()
    out_d, ok = refract(d, nrm, 1.0, 1.5)
    assert bool(ok[0]) and math.isclose(float(out_d[0, 0]), math.sin(0.8) / 1.5, rel_tol=1e-12)


def test_spot_gradient_matches_finite_differences():
    c0 = 1 / 50e-3

    def spot(c):
        s1 = Surface(0.0, 6e-3, c, 0.0)
        s2 = Surface(5e-3, 6e-3, -1 / 40e-3, 0.0)
        lens = SequentialLens([s1, s2], ["N-BK7", "air"], 48e-3)
        return SequentialLens.rms_spot(lens.trace(lens.collimated(WL, 4e-3, 16)))

    c = torch.tensor(c0, dtype=torch.float64, requires_grad=True)
    spot(c).backward()
    h = 1e-3
    fd = (float(spot(torch.tensor(c0 + h, dtype=torch.float64))) - float(spot(torch.tensor(c0 - h, dtype=torch.float64)))) / (2 * h)
    assert float(c.grad) == pytest.approx(fd, rel=1e-5)


def test_float32_path_length_is_useless_for_phase_from_a_distant_source():
    lens, _ = _planoconvex(0.0)
    phase = {}
    for dt in (torch.float32, torch.float64):
        rays = lens.point_source(WL, -10.0, 4e-3, 24, dtype=dt)
        out = lens.trace(rays)
        phase[dt] = (2 * math.pi / WL) * out.opl.to(torch.float64)
    err = phase[torch.float32] - phase[torch.float64]
    assert float(err.std()) > 0.5  # radians: float32 cannot hold a 10 m path to a fraction of a wavelength
    again = (2 * math.pi / WL) * lens.trace(lens.point_source(WL, -10.0, 4e-3, 24)).opl
    assert float((again - phase[torch.float64]).abs().max()) < 1e-6


def test_bad_prescriptions_are_refused():
    with pytest.raises(ValueError, match="ordered"):
        SequentialLens([Surface(1e-3, 1e-3), Surface(0.0, 1e-3)], ["N-BK7", "air"], 2e-3)
    with pytest.raises(ValueError, match="semi-diameter"):
        SequentialLens.from_rows([(50, 5, "N-BK7", 0)], 10)
    with pytest.raises(KeyError, match="unknown material"):
        SequentialLens.from_rows([(50, 5, "unobtainium", 5)], 10)


def test_geometric_psf_splatting_conserves_and_differentiates():
    from optlib import Grid
    from optlib.psf import geometric_psf
    g = Grid(8, 1e-6)
    on_sample = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    psf = geometric_psf(on_sample, g)
    assert float(psf[4, 4]) == 1.0 and float(psf.sum()) == 1.0
    half = torch.tensor([[0.5e-6, 0.5e-6]], dtype=torch.float64)
    assert torch.allclose(geometric_psf(half, g)[4:6, 4:6], torch.full((2, 2), 0.25, dtype=torch.float64))
    outside = torch.tensor([[1e-3, 0.0], [0.0, 0.0]], dtype=torch.float64)
    assert float(geometric_psf(outside, g).sum()) == 0.5  # the ray off the grid is dropped
    x = torch.tensor([[0.3e-6, -0.2e-6]], dtype=torch.float64, requires_grad=True)
    geometric_psf(x, g)[4, 5].backward()
    assert float(x.grad[0, 0]) == pytest.approx(0.8 / 1e-6)  # d/dx of (ax)(1 - ay) with ay = 0.2 -> 0.8 per pitch
    # a traced lens: the perfect asphere's PSF is concentrated in the central samples
    lens, _ = _planoconvex(-materials.get("N-BK7").n(WL) ** 2)
    out = lens.trace(lens.collimated(WL, 5e-3, 32), to_sensor=False)
    lens.sensor_z = lens.best_focus(out)
    hits = lens.trace(lens.collimated(WL, 5e-3, 32))
    psf = geometric_psf(hits.o[hits.valid][:, :2], Grid(16, 0.5e-6))
    assert float(psf[7:9, 7:9].sum()) > 0.99


def _brute_force_hit(o, d, c, zv, sd):
    """The crossing of the ray's line o + t d with the sag surface z = zv + c r^2 / (1 + sqrt(1 - c^2 r^2)) inside
    the semi-diameter that the tracer must return: the first ahead (t >= 0), else the nearest behind (a start
    plane placed past the surface is allowed: the path length stays consistent). A fine scan of the sign of
    z_ray - sag over |t| <= 50 mm, then bisection. None when the line misses."""
    import numpy as np
    R = abs(1 / c) if c else np.inf

    def g(t):
        x, y, z = o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]
        r2 = x * x + y * y
        ok = r2 < min(sd, R) ** 2 * (1 - 1e-12)
        sag = c * r2 / (1 + np.sqrt(np.clip(1 - c * c * r2, 0, None)))
        return np.where(ok, z - zv - sag, np.nan)

    t = np.linspace(-0.05, 0.05, 400001)
    v = g(t)
    idx = np.nonzero(np.isfinite(v[:-1]) & np.isfinite(v[1:]) & (np.sign(v[:-1]) != np.sign(v[1:])))[0]
    roots = []
    for i in idx:
        a, b = t[i], t[i + 1]
        for _ in range(60):
            m = 0.5 * (a + b)
            a, b = (m, b) if np.sign(g(m)) == np.sign(g(a)) else (a, m)
        roots.append(0.5 * (a + b))
    if not roots:
        return None
    ahead = [r for r in roots if r >= 0]
    return min(ahead) if ahead else max(roots)


def test_sphere_intersection_matches_a_brute_force_root_search_for_both_signs():
    """Random spheres of both signs, rays starting anywhere before the surface (also further than |R|, where the
    far side of a concave sphere comes first): the traced hit is the first crossing of the sag surface."""
    import numpy as np
    from optlib.rays import Surface
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(60):
        R = rng.choice([-1, 1]) * rng.uniform(2e-3, 20e-3)
        sd = min(abs(R) * 0.9, rng.uniform(1e-3, 6e-3))
        zv = 0.0
        o = np.array([rng.uniform(-sd, sd) * 0.7, rng.uniform(-sd, sd) * 0.7, -rng.uniform(0.1e-3, 2.5 * abs(R))])
        d = np.array([rng.normal(0, 0.1), rng.normal(0, 0.1), 1.0])
        d /= np.linalg.norm(d)
        ref = _brute_force_hit(o, d, 1 / R, zv, sd)
        s = Surface(zv, sd, 1 / R)
        t, p, n, valid = s.intersect(torch.tensor(o[None]), torch.tensor(d[None]))
        if ref is None:
            assert not bool(valid[0]), (R, o, d, float(t[0]))
            continue
        assert bool(valid[0]), (R, o, d, ref)
        assert float(t[0]) == pytest.approx(ref, abs=1e-10), (R, o, d)
        checked += 1
    assert checked > 30


def test_thick_biconvex_lens_with_a_strong_rear_curve_traces():
    """Issue 14: a 6 mm biconvex lens with R2 = -5 mm lost every ray (RMS spot NaN) while its paraxial focal
    length is 7.45 mm; the rays must pass and focus near the paraxial image."""
    from optlib.rays import SequentialLens
    lens = SequentialLens.from_rows([(10.0, 6.0, "N-BK7", 4.0), (-5.0, 0.0, "air", 4.0)], 5.0)
    par = lens.paraxial(550e-9)
    rays = lens.trace(lens.collimated(550e-9, 0.5e-3, 8), to_sensor=False)
    assert bool(rays.valid.all())
    assert lens.best_focus(rays) == pytest.approx(par["image_z"], abs=0.05e-3)


def _ynu_reference(lens, wl, i):
    """Entrance and exit pupils and EFL by an independent paraxial trace in (y, u): the chief ray is started
    at the centre of stop ``i`` and traced *backwards* into object space and forwards into image space
    (refraction n'u' = n u - y (n' - n) c, inverted for the backward pass); the pupil radii follow from the
    Lagrange invariant n u r. Written without SequentialLens._abcd."""
    n_obj = lens.object_medium.n(wl)
    n_after = [m.n(wl) for m in lens.materials]
    n_before = [n_obj] + n_after[:-1]
    z = [float(s.z) for s in lens.surfaces]
    c = [float(s.c) + (2 * float(s.coeffs[0]) if s.coeffs else 0.0) for s in lens.surfaces]
    r_stop, u_s = float(lens.surfaces[i].semi_diameter), 1e-3
    # backwards: from the stop plane through surfaces i-1 .. 0 into object space
    y, u, zc = 0.0, u_s, z[i]
    for j in range(i - 1, -1, -1):
        y += u * (z[j] - zc)
        zc = z[j]
        u = (n_after[j] * u + y * (n_after[j] - n_before[j]) * c[j]) / n_before[j]
    ep_z = zc - y / u
    ep_r = n_before[i] * r_stop * u_s / (n_obj * u)
    # forwards: from the stop plane through surfaces i .. N-1 into image space
    y, u, zc = 0.0, u_s, z[i]
    for j in range(i, len(z)):
        y += u * (z[j] - zc)
        zc = z[j]
        u = (n_before[j] * u - y * (n_after[j] - n_before[j]) * c[j]) / n_after[j]
    xp_z, xp_r = zc - y / u, n_before[i] * r_stop * u_s / (n_after[-1] * u)
    # a unit-height collimated ray for the focal length
    y, u, zc = 1.0, 0.0, z[0]
    for j in range(len(z)):
        y += u * (z[j] - zc)
        zc = z[j]
        u = (n_before[j] * u - y * (n_after[j] - n_before[j]) * c[j]) / n_after[j]
    efl = -1.0 / u
    return ep_z, abs(ep_r), xp_z, abs(xp_r), efl


@pytest.mark.parametrize("i", range(7))
def test_paraxial_pupils_match_an_independent_trace_for_a_stop_at_every_surface(i):
    # The Cooke triplet with its stop moved to surface i. With the stop on the F2 rear face (i = 3, 1 mm of
    # glass before it) the gap to the stop used to be dropped: entrance pupil 10.447 mm instead of 11.506 mm.
    base = library("cooke_triplet")
    surfs = [Surface(s.z, s.semi_diameter, s.c, s.k, s.coeffs, stop=(j == i))
             for j, s in enumerate(base.surfaces)]
    mats = [m.name for m in base.materials]
    lens = SequentialLens(surfs, mats, base.sensor_z)
    par = lens.paraxial(WL)
    ep_z, ep_r, xp_z, xp_r, efl = _ynu_reference(lens, WL, i)
    assert par["entrance_pupil_z"] == pytest.approx(ep_z, abs=1e-9)
    assert par["entrance_pupil_radius"] == pytest.approx(ep_r, rel=1e-9)
    assert par["exit_pupil_z"] == pytest.approx(xp_z, abs=1e-9)
    assert par["exit_pupil_radius"] == pytest.approx(xp_r, rel=1e-9)
    assert par["efl"] == pytest.approx(efl, rel=1e-12)
    assert par["f_number"] == pytest.approx(efl / (2 * ep_r), rel=1e-9)
    if i == 3:  # the case of the issue (zmx import of DeepLens' triplet), in millimetres
        assert par["entrance_pupil_z"] * 1e3 == pytest.approx(11.506, abs=2e-3)
    # and real rays agree: a chief ray aimed at the stop centre at 0.5 degrees crosses the axis in object
    # space at the paraxial entrance pupil
    chief = lens.chief_ray(WL, 0.5 * math.pi / 180)
    o, d = chief.o[0], chief.d[0]
    z_cross = float(o[2] - o[1] * d[2] / d[1])
    assert z_cross == pytest.approx(par["entrance_pupil_z"], abs=2e-3 * abs(par["entrance_pupil_radius"]) + 1e-6)


def test_f_number_is_differentiable_in_the_lens_parameters():
    # paraxial(differentiable=True) keeps EFL, pupils and F-number functions of tensor curvatures, positions
    # and the stop size; the gradient matches a central difference of the float computation
    base = library("cooke_triplet")
    c = torch.tensor([float(s.c) for s in base.surfaces], dtype=torch.float64, requires_grad=True)
    r_stop = torch.tensor(float(base.surfaces[4].semi_diameter), dtype=torch.float64, requires_grad=True)

    def lens_of(cv, rs):
        surfs = [Surface(s.z, rs if s.stop else s.semi_diameter, cv[j], s.k, s.coeffs, s.stop)
                 for j, s in enumerate(base.surfaces)]
        return SequentialLens(surfs, [m.name for m in base.materials], base.sensor_z)

    par = lens_of(c, r_stop).paraxial(WL, differentiable=True)
    assert isinstance(par["f_number"], torch.Tensor) and par["f_number"].requires_grad
    flt = base.paraxial(WL)
    for key in ("efl", "entrance_pupil_z", "entrance_pupil_radius", "exit_pupil_z", "f_number"):
        assert float(torch.as_tensor(par[key]).detach()) == pytest.approx(flt[key], rel=1e-12)
    g_c, g_r = torch.autograd.grad(par["f_number"], (c, r_stop))
    h = 1e-7
    for j in (0, 2, 5):
        cp, cm = c.detach().clone(), c.detach().clone()
        cp[j] += h / 1e-3
        cm[j] -= h / 1e-3
        fd = (lens_of(cp, r_stop.detach()).paraxial(WL)["f_number"]
              - lens_of(cm, r_stop.detach()).paraxial(WL)["f_number"]) / (2 * h / 1e-3)
        assert float(g_c[j]) == pytest.approx(fd, rel=1e-5)
    # F = EFL / (2 r_stop / A): exactly -F / r_stop with respect to the stop radius
    assert float(g_r) == pytest.approx(-flt["f_number"] / float(r_stop.detach()), rel=1e-10)


def test_the_singlet_sensor_is_where_the_authors_put_it():
    lens = library("singlet")  # single_fov40: sensor 30 mm behind the rear vertex, paraxial focus 35.06 mm
    assert float(lens.sensor_z) == pytest.approx(33e-3, abs=1e-12)
    assert lens.paraxial(532e-9)["image_z"] == pytest.approx(35.06e-3, abs=0.01e-3)


def test_a_scaled_lens_scales_its_focal_length_and_real_focus_and_keeps_its_f_number():
    # the aspheric six-element lens exercises the a_{2i} scaling: a wrong power of the factor moves its focus
    for name, s in (("cooke_triplet", 0.1), ("ho2024_aspheric6", 2.0)):
        lens = library(name)
        big = lens.scaled(s)
        a, b = lens.paraxial(WL), big.paraxial(WL)
        assert b["efl"] == pytest.approx(s * a["efl"], rel=1e-12)
        assert b["f_number"] == pytest.approx(a["f_number"], rel=1e-12)
        assert float(big.sensor_z) == pytest.approx(s * float(lens.sensor_z), rel=1e-12)
        r = 0.3 * float(lens.surfaces[lens.stop_index()].semi_diameter)
        f0 = lens.best_focus(lens.trace(lens.collimated(WL, r, 16), to_sensor=False))
        f1 = big.best_focus(big.trace(big.collimated(WL, s * r, 16), to_sensor=False))
        assert f1 == pytest.approx(s * f0, rel=1e-9)
    moved = library("singlet").with_sensor(35e-3)
    assert float(moved.sensor_z) == 35e-3 and float(library("singlet").sensor_z) == pytest.approx(33e-3)
    with pytest.raises(ValueError, match="factor"):
        library("singlet").scaled(0.0)


def test_ho2024_psf_maps_nest_and_span_the_image():
    """Table 2's N_T maps are subsets of the reference map (so they differ only in how many PSFs they keep), their
    field points are evenly spaced in paraxial image height, and the pixel pitch puts the edge field's chief ray
    on the first and last pixel; a grid that does not nest is refused."""
    import papers.ho2024 as H
    assert H.nested_indices(9, 1) == [4] and H.nested_indices(9, 3) == [0, 4, 8] and H.nested_indices(33, 5) == [0, 8, 16, 24, 32]
    for n_ref, n in ((9, 4), (8, 1), (31, 5), (9, 10), (9, 0)):
        with pytest.raises(ValueError, match="not a subset"):
            H.nested_indices(n_ref, n)
    corner = math.radians(20)
    f = H.render_fields(5, corner)
    tx = [math.tan(f[0][j][0]) for j in range(5)]
    assert tx == pytest.approx([t * math.tan(corner) / math.sqrt(2) for t in (-1, -0.5, 0, 0.5, 1)], abs=1e-15)
    assert all(f[i][j][1] == f[i][0][1] for i in range(5) for j in range(5))  # rows run along y
    assert math.degrees(math.atan(math.hypot(math.tan(f[0][0][0]), math.tan(f[0][0][1])))) == pytest.approx(20)
    lens = library("cooke_triplet").scaled(0.1)
    wl = 532e-9
    pitch = H.render_pitch(lens, wl, corner, 193)
    y, _ = lens.chief_hit(wl, f[4][2][1], convention="paraxial")
    assert 96 * pitch == pytest.approx(abs(float(y)), rel=1e-12)  # the edge field lands on the last pixel
    # a field angle is the incoming rays' direction, so +theta_y lands at +y and +theta_x at +x: map row i is
    # image row i, and the chapter renders the map as it is (a point source's direction would be inverted)
    y_top, x_top = lens.chief_hit(wl, f[4][2], convention="paraxial")
    y_right, x_right = lens.chief_hit(wl, f[2][4], convention="paraxial")
    assert float(y_top) > 0 and float(x_right) > 0 and abs(float(x_top)) < 1e-12 and abs(float(y_right)) < 1e-12


def test_ho2024_training_cases_are_checked_before_anything_runs():
    import yaml
    from pathlib import Path
    import papers.ho2024 as H
    p = yaml.safe_load((Path(__file__).parents[1] / "params" / "ho2024" / "tiny.yaml").read_text())
    for bad in ([], [[0.1]], [[0.1, 0]], [[-0.1, 1]]):
        with pytest.raises(ValueError, match="e2e_cases"):
            H.check({**p, "e2e_cases": bad})
    with pytest.raises(ValueError, match="smaller than e2e_patch"):
        H.check({**p, "e2e_psf_n": 2 * p["e2e_patch"]})
    with pytest.raises(ValueError, match="not a subset"):
        H.check({**p, "map_n": [1, 4]})


def test_ho2024_freeform_helpers_bumps_beam_and_sampling():
    """Chapter 04's freeform set-up: the bumps' slopes are their heights' derivatives and reach the asked steepest
    slope; the plate's beam lands centred on the patch at any angle (so every height model is lit alike); the
    sampling check passes the chapter's settings and refuses a field too coarse for the slopes."""
    import yaml
    from pathlib import Path
    import papers.ho2024 as H
    from optlib.rays import MeshHeight
    size = 0.24e-3
    b = H.GaussianBumps(size, 10, 0.1, torch.Generator().manual_seed(3))
    assert H.steepest_slope(b, size) == pytest.approx(0.1, rel=1e-12)
    g = torch.Generator().manual_seed(0)
    x, y = ((torch.rand(200, generator=g, dtype=torch.float64) - 0.5) * size for _ in range(2))
    h, hx, hy = b(x, y)
    e = 1e-10
    assert torch.allclose(hx, (b(x + e, y)[0] - b(x - e, y)[0]) / (2 * e), atol=1e-6)
    assert torch.allclose(hy, (b(x, y + e)[0] - b(x, y - e)[0]) / (2 * e), atol=1e-6)
    nodes, pitch, origin = b.nodes(7)
    assert nodes.shape == (7, 7) and pitch == pytest.approx(size / 6) and origin == (-size / 2, -size / 2)
    flat = MeshHeight(torch.zeros(3, 3, dtype=torch.float64), size / 2, (-size / 2, -size / 2))
    lens = H.freeform_plate(flat, 0.5e-3)
    for deg_ in (0.0, 10.0):
        rays = H.plate_beam(lens, 550e-9, size, 40, math.radians(deg_))
        at = lens.trace(rays, to_sensor=False)
        assert bool(at.valid.all())
        xy = at.o[:, :2]
        assert float(xy.mean(0).abs().max()) < 1e-12
        assert float(xy.abs().max()) == pytest.approx(size / 2 * (1 - 1 / 40), rel=1e-9)
    p = yaml.safe_load((Path(__file__).parents[1] / "params" / "ho2024" / "tiny.yaml").read_text())
    assert H.freeform_sampling(p, p["ff_n"], p["ff_distance_mm"] * 1e-3, p["ff_max_slope"], math.radians(10))[0]
    ok, why = H.freeform_sampling(p, 48, 1e-3, 0.12, 0.0)
    assert not ok and "pitch" in why
    with pytest.raises(ValueError, match="even"):
        H.check({**p, "rec_n": 129})
    with pytest.raises(ValueError, match="smaller than the measurement window"):
        H.check({**p, "ff_size_mm": 0.3})
