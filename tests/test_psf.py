"""Wave PSFs of traced lenses: Airy pattern of a perfect asphere, agreement of the pupil, Huygens and
ray-wave methods, the geometric limit of an aberrated lens, energy, gradients, memory-bounded chunking,
sampling errors. Plus pupils, F-number and ray aiming against independent paraxial formulas."""
import math

import pytest
import torch

from optlib import Grid, materials
from optlib.elements import DOE, phase_to_height
from optlib.metrics import encircled_radius, first_minimum, ncc
from optlib.psf import huygens_psf, pupil_psf, pupil_rays, raywave_psf
from optlib.rays import Rays, SequentialLens, Surface, library, to_field
from optlib.sampling import SamplingError

WL = 587.5618e-9


def _asphere(stop_radius=1.0, k=None):
    """Plano-convex N-BK7 lens, f = 50 mm, stop on the flat face; k = -n^2 cancels spherical aberration."""
    n = materials.get("N-BK7").n(WL)
    k = -n ** 2 if k is None else k
    lens = SequentialLens.from_rows([(math.inf, 5.0, "N-BK7", stop_radius, 0, (), True),
                                     (-(n - 1) * 50.0, 0.0, "air", 6.0, k)], 50.0)
    out = lens.trace(lens.collimated(WL, stop_radius * 1e-3, 48), to_sensor=False)
    lens.sensor_z = lens.best_focus(out)
    return lens


def _na(lens):
    m = lens.trace(lens.marginal_ray(WL), to_sensor=False)
    return float(torch.sqrt(m.d[0, 0] ** 2 + m.d[0, 1] ** 2))


def test_perfect_asphere_wave_psf_is_the_airy_pattern():
    lens = _asphere()
    pr = pupil_rays(lens, WL, 0.0, n_side=96)
    assert float(pr.w[pr.valid].abs().max()) < 1e-3 * WL  # the conic cancels the aberration
    g = pr.window(Grid(241, 0.5e-6))
    psf = pupil_psf(pr, g)
    r0 = 0.6098 * WL / _na(lens)  # first zero of [2 J1(v)/v]^2 in the image-space NA
    assert first_minimum(psf[120, 120:], 0.5e-6) == pytest.approx(r0, rel=0.01)
    big = pupil_psf(pr, pr.window(Grid(401, 2e-6)))
    assert 0.99 < float(big.sum()) < 1.0 + 1e-3  # Parseval normalisation: the power is all there


@pytest.mark.parametrize("deg", [0.0, 3.0])
def test_three_wave_methods_agree_on_a_near_perfect_lens(deg):
    lens = _asphere()
    a = math.radians(deg)
    pr = pupil_rays(lens, WL, a, n_side=64)
    g = pr.window(Grid(33, 4e-6))
    pupil = pupil_psf(pr, g)
    huy = huygens_psf(pr, g)
    rw = raywave_psf(lens, WL, g, dx=4e-6, window=600, plane_z=5.1e-3, angle=a, n_side=600)
    assert float(ncc(pupil, huy)) > 0.9999
    assert float(ncc(pupil, rw)) > 0.9999
    assert float(rw.sum()) == pytest.approx(float(pupil.sum()), abs=2e-3)


def test_aberrated_wave_psf_tends_to_the_geometric_psf_as_the_aperture_grows():
    # a spherical (k = 0) plano-convex lens: spherical aberration grows as r^4, diffraction shrinks as 1/r
    ratios = []
    for r in (0.5, 1.0, 2.0, 4.0):
        lens = _asphere(stop_radius=r, k=0.0)
        rays = lens.trace(lens.pupil_bundle(WL, 256)[0])
        r_geo = float(torch.quantile(torch.linalg.norm(rays.o[rays.valid][:, :2], dim=-1), 0.8))  # EE80 of rays
        pitch = max(r_geo, 0.61 * WL / _na(lens)) / 20
        pr = pupil_rays(lens, WL, 0.0, n_side=256)
        g = pr.window(Grid(201, pitch))
        ratios.append(encircled_radius(pupil_psf(pr, g), g) / r_geo)
    assert ratios[0] > 3  # diffraction-dominated
    assert all(b < a for a, b in zip(ratios, ratios[1:]))
    assert 0.8 < ratios[-1] < 1.25  # aberration-dominated: the wave PSF approaches the ray picture


def test_huygens_chunking_changes_nothing_and_gradients_match_finite_differences():
    lens = _asphere()
    pr = pupil_rays(lens, WL, 0.0, n_side=24)
    g = pr.window(Grid(17, 4e-6))
    ref = huygens_psf(pr, g)
    small = huygens_psf(pr, g, chunk_elements=1000)  # memory bound ~ 12 * 8 * 1000 bytes
    assert torch.allclose(ref, small, rtol=1e-12, atol=1e-15)

    def peak(c, method):
        lens.surfaces[1].c = c
        pr = pupil_rays(lens, WL, 0.0, n_side=24)
        psf = (pupil_psf(pr, g) if method == "pupil" else huygens_psf(pr, g, chunk_elements=2000))
        return psf[8, 8]

    c0 = float(lens.surfaces[1].c)
    h = abs(c0) * 1e-6
    fd = (float(peak(torch.tensor(c0 + h, dtype=torch.float64), "pupil"))
          - float(peak(torch.tensor(c0 - h, dtype=torch.float64), "pupil"))) / (2 * h)
    for method in ("pupil", "huygens"):
        c = torch.tensor(c0, dtype=torch.float64, requires_grad=True)
        peak(c, method).backward()
        assert float(c.grad) == pytest.approx(fd, rel=2e-2 if method == "huygens" else 1e-4)


def _rays_on_plane(x, y, dxy, opl, z=0.0):
    o = torch.stack([x, y, torch.full_like(x, z)], -1)
    d = torch.cat([dxy, torch.sqrt(1 - (dxy ** 2).sum(-1, keepdim=True))], -1)
    return Rays(o, d, WL, opl)


def test_rays_to_field_conserves_power_and_refuses_bad_sampling():
    # a smooth converging wave on the plane: the splatted power equals the rays' power
    g = Grid(64, 2e-6)
    t = torch.linspace(-50e-6, 50e-6, 200, dtype=torch.float64)
    y, x = torch.meshgrid(t, t, indexing="ij")
    x, y = x.flatten(), y.flatten()
    f = 5e-3
    flat = to_field(_rays_on_plane(x, y, torch.zeros(x.numel(), 2, dtype=torch.float64), torch.zeros_like(x)), g)
    assert float(flat.power()) == pytest.approx(1.0, rel=1e-12)
    # curved: the local plane-wave extrapolation misses the s^2 / 2f phase over a sample (~4e-3 rad), so
    # neighbours interfere very slightly below the ray power (1 - var(phi) ~ 1 - 1e-6)
    dxy = torch.stack([-x / f, -y / f], -1)
    E = to_field(_rays_on_plane(x, y, dxy, -(x ** 2 + y ** 2) / (2 * f)), g)
    assert float(E.power()) == pytest.approx(1.0, rel=1e-5)
    # the same wave on a window 30 um off axis: the same samples, moved
    moved = to_field(_rays_on_plane(x + 30e-6, y, dxy, -(x ** 2 + y ** 2) / (2 * f)), g.at((0.0, 30e-6)))
    assert torch.allclose(moved.u, E.u, atol=1e-6 * float(E.u.abs().max()))  # rounding at cell edges: sqrt(b)
    tilted_plane = Rays(torch.stack([x, y, x], -1), torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64).expand(
        x.numel(), 3), WL)
    with pytest.raises(ValueError, match="one plane"):
        to_field(tilted_plane, g)
    lens = _asphere()
    P = lens.chief_hit(WL)
    with pytest.raises(SamplingError, match="dx <="):
        raywave_psf(lens, WL, Grid(8, 40e-6).at(P), dx=40e-6, window=80, plane_z=5.1e-3, n_side=64)
    with pytest.raises(SamplingError, match="window >="):
        raywave_psf(lens, WL, Grid(8, 4e-6).at(P), dx=4e-6, window=100, plane_z=5.1e-3, n_side=600)
    with pytest.raises(SamplingError, match="n_side >="):
        raywave_psf(lens, WL, Grid(8, 4e-6).at(P), dx=4e-6, window=600, plane_z=5.1e-3, n_side=64)
    with pytest.raises(ValueError, match="integer multiple"):
        raywave_psf(lens, WL, Grid(8, 5e-6).at(P), dx=4e-6, window=600, plane_z=5.1e-3, n_side=600)

def test_pupil_method_refuses_an_undersampled_wavefront():
    lens = _asphere(stop_radius=4.0, k=0.0)
    lens.sensor_z = lens.sensor_z + 1e-3  # ~5 waves of defocus across 16 samples
    with pytest.raises(SamplingError, match="n_side"):
        pr = pupil_rays(lens, WL, 0.0, n_side=16)
        pupil_psf(pr, pr.window(Grid(16, 1e-6)))
    # too few rays for a wide grid: both sums would fold replicas of the PSF onto it
    cooke = library("cooke_triplet")
    sparse = pupil_rays(cooke, WL, 0.0, n_side=32)
    for fn in (pupil_psf, huygens_psf):
        with pytest.raises(SamplingError, match="alias-free period"):
            fn(sparse, sparse.window(Grid(129, 1e-6)))


def test_pupils_and_f_number_match_single_surface_imaging():
    # stop on the front vertex of a thick lens: the entrance pupil is the stop; the exit pupil is the
    # stop imaged by the rear surface alone (n/s and n'/s' with signed distances)
    R1, R2, t, r = 40.0, -60.0, 6.0, 3.0
    lens = SequentialLens.from_rows([(R1, t, "N-BK7", r, 0, (), True), (R2, 0, "air", 8.0)], 40.0)
    par = lens.paraxial(WL)
    n = materials.get("N-BK7").n(WL)
    assert par["entrance_pupil_z"] == pytest.approx(0.0, abs=1e-15)
    assert par["entrance_pupil_radius"] == pytest.approx(r * 1e-3, rel=1e-12)
    s = -t * 1e-3
    s2 = 1 / ((1 - n) / (R2 * 1e-3) + n / s)  # n'/s' - n/s = (n' - n)/R with n' = 1
    assert par["exit_pupil_z"] == pytest.approx(t * 1e-3 + s2, rel=1e-10)
    assert par["exit_pupil_radius"] == pytest.approx(r * 1e-3 * abs(n * s2 / s), rel=1e-10)
    assert par["f_number"] == pytest.approx(par["efl"] / (2 * r * 1e-3), rel=1e-12)


def test_ray_aiming_hits_the_stop_where_asked():
    lens = library("cooke_triplet")
    i = lens.stop_index()
    pupil = torch.tensor([[0.0, 0.0], [0.0, 0.9], [0.7, -0.5]], dtype=torch.float64)
    for deg in (0.0, 20.0):
        rays = lens.aimed(WL, pupil, math.radians(deg))
        hit = lens.trace(rays, to_sensor=False, upto=i + 1, clip=False)  # vignetting aside
        assert torch.allclose(hit.o[:, :2], pupil * lens.surfaces[i].semi_diameter, atol=1e-11)
    # the paraxial entrance pupil alone misses the stop centre at 20 degrees (pupil aberration)
    par = lens.paraxial(WL)
    d = lens.direction(math.radians(20), torch.float64, None)
    z0 = float(lens.surfaces[0].z) - 1e-3
    o = (torch.zeros(1, 3, dtype=torch.float64) + torch.tensor([0, 0, z0], dtype=torch.float64)
         + torch.cat([d[:2] / d[2] * (z0 - par["entrance_pupil_z"]), torch.zeros(1, dtype=torch.float64)]))
    from optlib.rays import Rays
    naive = lens.trace(Rays(o, d[None].clone(), WL), to_sensor=False, upto=i + 1)
    assert float(naive.o[0, :2].abs().max()) > 1e-5


def test_closed_form_conic_intersection_matches_newton():
    # the same sphere, once as a quadric (closed form) and once through the aspheric Newton path
    o = torch.tensor([[0.0, 2e-3, -1e-3], [1e-3, -3e-3, -1e-3]], dtype=torch.float64)
    d = torch.tensor([[0.0, 0.05, 1.0], [-0.02, 0.1, 1.0]], dtype=torch.float64)
    d = d / torch.linalg.norm(d, dim=-1, keepdim=True)
    quad = Surface(0.0, 6e-3, 1 / 20e-3, -0.5).intersect(o, d)
    newt = Surface(0.0, 6e-3, 1 / 20e-3, -0.5, (0.0,)).intersect(o, d)
    for a, b in zip(quad[:3], newt[:3]):
        assert torch.allclose(a, b, rtol=0, atol=1e-15)


def test_psf_map_shapes_symmetry_and_methods():
    from optlib.psf import field_grid, psf_map
    lens = library("cooke_triplet")
    g = Grid(17, 4e-6)
    m = psf_map(lens, WL, g, field_grid(3, math.radians(10)), n_side=96)
    assert m.shape == (3, 3, 17, 17)
    # a rotationally symmetric lens: mirrored field points give mirrored PSFs
    assert torch.allclose(m[0, 1], m[2, 1].flip(0), atol=1e-9)
    assert torch.allclose(m[1, 0], m[1, 2].flip(1), atol=1e-9)
    geo = psf_map(lens, WL, Grid(33, 4e-6), [0.0, math.radians(10)], method="geometric", n_side=64)
    assert geo.shape == (2, 33, 33) and float(geo[0].sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown method"):
        psf_map(lens, WL, g, [0.0], method="fft")


def test_field_grid_is_even_in_the_tangent_edge_to_edge_or_by_cell_centres():
    """field_grid: edge to edge, the corners are at +-half_field on each axis; with centres=True the points are
    the centres of n equal cells in tan(theta) (spacing 2 tan(half) / n, the outer ones half a cell in); rows
    along +y. Bad sizes and angles are refused."""
    from optlib.psf import field_grid
    h = math.radians(20)
    g = field_grid(5, h)
    assert g[0][0] == pytest.approx((-h, -h), abs=1e-15) and g[4][4] == pytest.approx((h, h), abs=1e-15)
    assert g[2][2] == (0.0, 0.0) and g[4][0][1] > 0 and g[0][4][0] > 0  # row i along y, column j along x
    c = [math.tan(p[0]) for p in field_grid(4, h, centres=True)[0]]
    assert c == pytest.approx([math.tan(h) * u for u in (-0.75, -0.25, 0.25, 0.75)], abs=1e-15)
    steps = [b - a for a, b in zip(c, c[1:])]
    assert max(steps) - min(steps) < 1e-15  # even in the tangent, not in the angle
    assert field_grid(1, h) == [[(0.0, 0.0)]] == field_grid(1, h, centres=True)
    for n, half in ((0, h), (2.0, h), (True, h), (3, math.pi / 2), (3, float("nan")), (3, -0.1)):
        with pytest.raises(ValueError, match="field_grid"):
            field_grid(n, half)


def test_fold_square_counts_each_orbit_and_refuses_an_asymmetric_map():
    """fold_square on a 5 x 5 cell-centre map: |u| in {0, 2, 4} / 5 per axis gives six representatives standing for
    1, 4, 4, 4, 8 and 4 of the 25 points (counted by hand); on a 4 x 4 edge-to-edge map, 3 for 4, 8, 4 of 16. A
    map without the square's mirrors (a rectangle, a shifted square, one point off the axis) is refused."""
    from optlib.psf import field_grid, fold_square
    h = math.radians(15)
    f = fold_square(field_grid(5, h, centres=True))
    assert [round(w * 25) for _, w in f] == [1, 4, 4, 4, 8, 4]
    t = [[round(5 * math.tan(a) / math.tan(h)) for a in p] for p, _ in f]
    assert t == [[0, 0], [0, 2], [2, 2], [0, 4], [2, 4], [4, 4]]
    assert sum(w for _, w in f) == pytest.approx(1.0)
    assert [round(w * 16) for _, w in fold_square(field_grid(4, h))] == [4, 8, 4]
    wide = [[(x, y) for x in (-0.2, 0.0, 0.2)] for y in (-0.1, 0.0, 0.1)]
    shifted = [[(x + 0.01, y) for x, y in row] for row in field_grid(3, h)]
    for bad in (wide, shifted, [(0.0, 0.1)]):
        with pytest.raises(ValueError, match="not symmetric"):
            fold_square(bad)


def test_spatially_varying_rendering():
    from optlib.imaging import fftconv2d, field_weights, render_varying
    torch.manual_seed(0)
    img = torch.rand(2, 40, 50, dtype=torch.float64)
    psf = torch.rand(7, 7, dtype=torch.float64)
    same = psf.expand(3, 4, 7, 7)
    for mode in ("interp", "patch"):
        w = field_weights((40, 50), (3, 4), mode, torch.float64)
        assert torch.allclose(w.sum((0, 1)), torch.ones(40, 50, dtype=torch.float64))
        # one PSF everywhere: exactly the shift-invariant convolution
        assert torch.allclose(render_varying(img, same, mode), fftconv2d(img, psf), atol=1e-12)
    # deltas that move by one pixel across the field: interpolation blends them, patches switch
    delta = torch.zeros(1, 2, 3, 3, dtype=torch.float64)
    delta[0, 0, 1, 1] = 1.0  # left: identity
    delta[0, 1, 1, 2] = 1.0  # right: out(x) = I(x - 1)
    ramp = torch.arange(50, dtype=torch.float64).expand(40, 50)
    out = render_varying(ramp, delta, "interp")
    wr = torch.linspace(0, 1, 50, dtype=torch.float64)
    inner = slice(2, 48)
    # the weights apply where the light starts: out(x) = (1 - w(x)) I(x) + w(x - 1) I(x - 1)
    expect = (1 - wr) * ramp + torch.cat([torch.zeros(1, dtype=torch.float64), (wr * ramp[0])[:-1]])
    assert torch.allclose(out[5, inner], expect[5, inner], atol=1e-9)
    patch = render_varying(ramp, delta, "patch")
    assert torch.allclose(patch[5, 2:20], ramp[5, 2:20]) and torch.allclose(patch[5, 30:48], ramp[5, 30:48] - 1)
    # the frequency-domain sum equals the sum of the n_y n_x convolutions, in any chunking, with per-channel PSFs
    img3 = torch.rand(2, 3, 24, 30, dtype=torch.float64)
    psfs = torch.rand(3, 2, 3, 5, 5, dtype=torch.float64)
    w = field_weights((24, 30), (3, 2), "interp", torch.float64)
    direct = sum(fftconv2d(img3 * w[i, j], psfs[i, j]) for i in range(3) for j in range(2))
    for chunk in (1, 4, 16):
        assert torch.allclose(render_varying(img3, psfs, chunk=chunk), direct, atol=1e-12)
    small_i = torch.rand(1, 9, 11, dtype=torch.float64, requires_grad=True)
    small_p = torch.rand(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: render_varying(a, b, chunk=3), (small_i, small_p))
    with pytest.raises(ValueError, match="chunk"):
        render_varying(img3, psfs, chunk=0)


def test_a_doe_grating_shifts_the_psf_by_the_diffraction_angle_in_the_wave_and_ray_models():
    """One DOE object (a linear phase: a grating) at one plane, seen by the ray-wave model (a wave element) and
    by the ray model (a local grating): both move the focus by three pixels, as the grating equation says."""
    lens = _asphere()
    g = Grid(33, 4e-6).at(lens.chief_hit(WL))
    plain = raywave_psf(lens, WL, g, dx=4e-6, window=600, plane_z=5.1e-3, n_side=600)
    L = float(lens.sensor_z) - 5.1e-3
    shift = 3 * 4e-6  # three pixels along x
    period = WL / math.sin(math.atan(shift / L))
    dg = Grid(700, 4e-6)
    phase = (2 * math.pi * dg.x() / period).expand(dg.shape)
    doe = DOE(phase_to_height(phase, "fused silica", WL), "fused silica", grid=dg, z=5.1e-3)
    grating = raywave_psf(lens, WL, g, dx=4e-6, window=600, n_side=600, doe=doe)
    assert torch.allclose(grating[:, 3:], plain[:, :-3], atol=1e-3 * float(plain.max()))  # measured 1.4e-4
    assert int(torch.argmax(grating[16])) == 19
    from optlib.psf import ray_psf
    geo = ray_psf(lens, WL, Grid(33, 1e-6).at(g.origin), n_side=64, doe=doe)
    ys, xs = torch.meshgrid(torch.arange(33.0), torch.arange(33.0), indexing="ij")
    cx = float((geo * xs).sum() / geo.sum()) - 16
    assert cx == pytest.approx(12.0, abs=0.2)  # 12 um = three 4 um pixels, on a 1 um grid


def test_a_doe_aperture_blocks_rays_in_the_ray_models():
    """A DOE with an aperture is dark outside it for rays too: the rays that pass a disc of radius a on the DOE
    plane are the share of the beam's footprint it covers (a^2 / r_beam^2 for a uniform cone, within the
    sampling), in the traced bundle the ray and exit-pupil models use; without an aperture every ray passes."""
    from optlib.elements import circ
    from optlib.psf import traced_bundle
    lens = _asphere()
    z = 5.1e-3
    dg = Grid(700, 4e-6)
    open_doe = DOE(torch.zeros(dg.shape, dtype=torch.float64), "fused silica", grid=dg, z=z)
    all_rays, _, _, _ = traced_bundle(lens, WL, 0.0, None, 128, open_doe)
    r_beam = float(all_rays.o[all_rays.valid][:, :2].norm(dim=-1).max())
    a = 0.5 * r_beam
    holed = DOE(torch.zeros(dg.shape, dtype=torch.float64), "fused silica", grid=dg, z=z,
                aperture=circ(dg, a, antialias=False))
    for deflect in (True, False):
        some, _, _, _ = traced_bundle(lens, WL, 0.0, None, 128, holed, deflect=deflect)
        share = float(some.valid.sum()) / float(all_rays.valid.sum())
        assert share == pytest.approx(0.25, abs=0.02), share
        assert float(some.o[some.valid][:, :2].norm(dim=-1).max()) <= a + 4e-6
    assert float(all_rays.valid.float().mean()) > 0.7  # pi / 4 of the square grid fills the stop


def test_gradients_in_conic_asphere_thickness_and_sensor_match_finite_differences():
    def spot(k=0.0, a4=0.0, z2=5e-3, zs=52e-3):
        s1 = Surface(0.0, 6e-3, 1 / 50e-3, k, (0.0, a4))
        s2 = Surface(z2, 6e-3, -1 / 40e-3)
        lens = SequentialLens([s1, s2], ["N-BK7", "air"], zs)
        return SequentialLens.rms_spot(lens.trace(lens.collimated(WL, 4e-3, 16)))

    base = dict(k=-0.3, a4=50.0, z2=5e-3, zs=45e-3)
    for name, h in (("k", 1e-4), ("a4", 1e-2), ("z2", 1e-8), ("zs", 1e-8)):
        args = {n: torch.tensor(v, dtype=torch.float64, requires_grad=(n == name)) for n, v in base.items()}
        spot(**args).backward()
        up = dict(base, **{name: base[name] + h})
        dn = dict(base, **{name: base[name] - h})
        fd = (float(spot(**up)) - float(spot(**dn))) / (2 * h)
        assert float(args[name].grad) == pytest.approx(fd, rel=1e-5, abs=1e-12), name


def test_cooke_efl_matches_an_independent_thick_lens_calculation():
    # each element's thick-lens power (lensmaker), combined with the Gullstrand equation between
    # principal planes: shares no code with the paraxial matrices
    lens = library("cooke_triplet")
    elems, s = [], lens.surfaces
    for i0, i1 in ((0, 1), (2, 3), (5, 6)):
        n = lens.materials[i0].n(WL)
        c1, c2, t = float(s[i0].c), float(s[i1].c), float(s[i1].z) - float(s[i0].z)
        phi = (n - 1) * (c1 - c2 + (n - 1) * t * c1 * c2 / n)
        h1 = -(n - 1) * t * c2 / (n * phi)  # front principal plane from the front vertex
        h2 = -(n - 1) * t * c1 / (n * phi)  # rear principal plane from the rear vertex
        elems.append((phi, float(s[i0].z) + h1, float(s[i1].z) + h2))
    phi, rear = elems[0][0], elems[0][2]
    for p2, front2, rear2 in elems[1:]:
        e = front2 - rear  # from the system's rear principal plane to the next element's front one
        phi_new = phi + p2 - e * phi * p2
        rear = rear2 - e * phi / phi_new  # the new rear principal plane, from the element's
        phi = phi_new
    assert lens.paraxial(WL)["efl"] == pytest.approx(1 / phi, rel=1e-12)


def test_pupil_conventions_are_a_documented_choice_with_visible_consequences():
    lens = library("cooke_triplet")
    par = lens.paraxial(WL)
    # "paraxial": the rays pass the paraxial entrance-pupil plane exactly at pupil x r_EP (no aiming)
    rays, p = lens.pupil_bundle(WL, 8, math.radians(10), convention="paraxial")
    t = (par["entrance_pupil_z"] - rays.o[:, 2]) / rays.d[:, 2]
    hit = rays.o[:, :2] + t[:, None] * rays.d[:, :2]
    assert float((hit - p * par["entrance_pupil_radius"]).abs().max()) < 1e-15
    # a beam of radius a on the pupil (Ho et al.'s "aperture radius") is diffraction limited at F = f / 2a:
    # the first zero of the Airy pattern at 1.22 lambda f / (2 a)
    a = 0.1e-3
    pr = pupil_rays(lens, WL, 0.0, n_side=32, convention="paraxial", radius=a)
    psf = pupil_psf(pr, pr.window(Grid(241, 4e-6)))
    assert first_minimum(psf[120, 120:], 4e-6) == pytest.approx(1.22 * WL * par["efl"] / (2 * a), rel=0.02)
    # off axis the two conventions fill the pupil differently: at 20 degrees the PSFs differ visibly
    aimed = pupil_rays(lens, WL, math.radians(20), n_side=128)
    parax = pupil_rays(lens, WL, math.radians(20), n_side=128, convention="paraxial")
    g = aimed.window(Grid(65, 2e-6))
    assert float(ncc(pupil_psf(aimed, g), pupil_psf(parax, g))) < 0.995
    with pytest.raises(ValueError, match="convention"):
        pupil_rays(lens, WL, 0.0, n_side=16, convention="real")
    with pytest.raises(ValueError, match="radius"):
        pupil_rays(lens, WL, 0.0, n_side=16, radius=0.1e-3)  # "aimed" always fills the stop


def test_raywave_refuses_a_plane_too_close_to_focus_and_is_accurate_where_it_accepts():
    # a converging beam 0.5 mm before focus (NA 0.04) is 20 um in radius: 20 samples at dx = 1 um. Every other
    # check passes, but the splat's blurred edge apodises the pupil: the PSF is off by ~5 % (L1)
    lens = _asphere(stop_radius=2.0)
    pr = pupil_rays(lens, WL, 0.0, n_side=64)
    g = pr.window(Grid(129, 1e-6))
    ref = pupil_psf(pr, g)
    plane = float(lens.sensor_z) - 0.5e-3

    def l1(rw):
        return float((rw - ref).abs().sum() / ref.sum())

    with pytest.raises(SamplingError, match=r"samples in radius.*use dx <= 6\.2"):
        raywave_psf(lens, WL, g, dx=1e-6, window=240, plane_z=plane, n_side=128)
    coarse = raywave_psf(lens, WL, g, dx=1e-6, window=240, plane_z=plane, n_side=128, check=False)
    fine = raywave_psf(lens, WL, g, dx=0.5e-6, window=480, plane_z=plane, n_side=256)
    assert l1(coarse) > 0.04 and l1(fine) < 0.025


def test_psf_map_sharded_by_torchrun_equals_one_process(tmp_path):
    """Two gloo processes each compute half of a PSF map and gather it: the same map, bit for bit, as one
    process (Ho et al.'s full-scale maps are 1089 PSFs of 257^2)."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    worker = Path(__file__).with_name("psfmap_worker.py")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29547",
                    str(worker), str(tmp_path / "two.pt")], check=True, env=env, timeout=240, capture_output=True)
    subprocess.run([sys.executable, str(worker), str(tmp_path / "one.pt")], check=True, env=env, timeout=120,
                   capture_output=True)
    two = torch.load(tmp_path / "two.pt", weights_only=True)
    one = torch.load(tmp_path / "one.pt", weights_only=True)
    assert two["world"] == 2 and one["world"] == 1
    assert two["map"].shape == (2, 3, 17, 17)
    diff = float((two["map"] - one["map"]).abs().max() / one["map"].abs().max())
    assert diff < 1e-12, diff  # the same PSFs (bitwise in most runs; float64 rounding of the thread pool aside)
    from optlib.psf import psf_map
    with pytest.raises(ValueError, match="not initialised"):
        psf_map(library("cooke_triplet").scaled(0.1), 532e-9, Grid(9, 1e-6), [0.0], distributed=True)


def test_raywave_streams_a_large_bundle_to_the_same_psf(monkeypatch):
    """A bundle above ``STREAM_RAYS`` is aimed, traced and splatted ``RAY_CHUNK`` pupil points at a time (its
    memory bounded by a chunk's): the same PSF as the whole bundle (to round-off: the sums are added in another
    order), the same refusal of a too-coarse bundle (checked on a small one at the full count), and a Splat fed in
    chunks equals to_field. Fails if a chunk is dropped or counted twice, or the power is normalised per chunk."""
    import optlib.psf.raywave as RW
    from optlib.rays import Splat
    lens = _asphere()
    a = math.radians(3.0)
    g = pupil_rays(lens, WL, a, n_side=32).window(Grid(33, 4e-6))
    whole = raywave_psf(lens, WL, g, dx=4e-6, window=600, plane_z=5.1e-3, angle=a, n_side=600)
    monkeypatch.setattr(RW, "STREAM_RAYS", 10_000)
    monkeypatch.setattr(RW, "RAY_CHUNK", 50_000)  # 283k rays in the disc: six chunks, the last one partial
    streamed = raywave_psf(lens, WL, g, dx=4e-6, window=600, plane_z=5.1e-3, angle=a, n_side=600)
    assert float((streamed - whole).abs().max()) < 1e-12 * float(whole.max())
    with pytest.raises(SamplingError, match="sparser"):
        raywave_psf(lens, WL, g, dx=4e-6, window=600, plane_z=5.1e-3, angle=a, n_side=120)
    rays, _ = lens.pupil_bundle(WL, 200, a)
    out = lens.trace(rays, to_sensor=False).to_plane(5.1e-3)
    grid = Grid(600, 4e-6)
    acc = Splat(grid, WL)
    for i in range(0, out.o.shape[0], 7000):
        acc.add(type(out)(out.o[i:i + 7000], out.d[i:i + 7000], WL, out.opl[i:i + 7000], out.valid[i:i + 7000]))
    ref = to_field(out, grid, check=False).u
    assert float((acc.field().u - ref).abs().max()) < 1e-12 * float(ref.abs().max())
    with pytest.raises(ValueError, match="every chunk"):
        acc.add(out, torch.ones(out.o.shape[0], dtype=torch.float64))


def test_splat_gradients_in_ray_positions_and_paths_pass_gradcheck():
    """The splat accumulates in place; autograd still carries the field's gradient to every ray's position and
    optical path (float64 gradcheck, a few rays on a small grid, in two chunks as streaming adds them)."""
    from optlib.rays import Splat
    gen = torch.Generator().manual_seed(5)
    n, wl = 9, 0.5e-6
    grid = Grid(8, 1e-6)
    xy = (torch.rand(n, 2, generator=gen, dtype=torch.float64) - 0.5) * 5e-6
    d = torch.nn.functional.normalize(torch.cat([0.05 * torch.randn(n, 2, generator=gen, dtype=torch.float64),
                                                 torch.ones(n, 1, dtype=torch.float64)], 1), dim=1)
    opl0 = torch.rand(n, generator=gen, dtype=torch.float64) * 1e-7

    def field(xy, opl):
        o = torch.cat([xy, torch.zeros(n, 1, dtype=torch.float64)], 1)
        acc = Splat(grid, wl)
        for sl in (slice(0, 4), slice(4, n)):
            acc.add(Rays(o[sl], d[sl], wl, opl[sl]))
        u = acc.field().u
        return torch.stack([u.real, u.imag])

    xy.requires_grad_(True)
    opl0.requires_grad_(True)
    assert torch.autograd.gradcheck(field, (xy, opl0), eps=1e-12, atol=1e-4, rtol=1e-3)


def test_unfold_square_gives_the_map_computed_point_by_point():
    """unfold_square on a rotationally symmetric lens (the Cooke triplet): the PSFs of a 4 x 4 cell-centre map's
    three folded points, mirrored, equal the PSFs computed at all 16 points (1e-9, pupil model on a square grid;
    the off-diagonal points need the transpose and both flips). A 3 x 3 edge-to-edge map's too. Gradients reach
    every representative; a wrong count or a non-square grid is refused."""
    from optlib.psf import field_grid, fold_square, psf_map, unfold_square
    lens = library("cooke_triplet")
    g = Grid(17, 4e-6)
    for fields in (field_grid(4, math.radians(12), centres=True), field_grid(3, math.radians(10))):
        reps = [p for p, _ in fold_square(fields)]
        direct = psf_map(lens, WL, g, fields, n_side=96)
        folded = psf_map(lens, WL, g, reps, n_side=96)
        whole = unfold_square(folded, fields)
        assert whole.shape == direct.shape
        assert torch.allclose(whole, direct, atol=1e-9 * float(direct.max()))
        assert not torch.allclose(whole[0, 1], whole[1, 0], atol=1e-3 * float(direct.max()))  # the map is not trivial
    folded = folded.clone().requires_grad_(True)
    unfold_square(folded, fields).sum().backward()
    assert folded.grad.shape == folded.shape and bool((folded.grad.flatten(1).abs().sum(1) > 0).all())
    with pytest.raises(ValueError, match="unfold_square"):
        unfold_square(folded[:2], fields)
    with pytest.raises(ValueError, match="unfold_square"):
        unfold_square(torch.zeros(len(reps), 17, 15), fields)
