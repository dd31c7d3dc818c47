"""Chapter 05 (Yang et al. 2024): the pieces its comparisons rest on, against independent results: float64 path
lengths against an extended-precision reference, the simpler models' fields on the DOE plane against the
ray-wave field, a binary grating's diffraction orders against thin-grating theory, and the dry run."""
import math
from pathlib import Path

import pytest
import torch
import yaml

import optlib as ol
import papers.yang2024 as H

ROOT = Path(__file__).resolve().parents[1]
P = yaml.safe_load((ROOT / "params" / "yang2024" / "tiny.yaml").read_text())


@pytest.fixture(scope="module")
def S():
    return H.setup(P)


def test_prototype_lens_glass_and_focus(S):
    """HK51 from the authors' Sellmeier terms; the sensor is in focus for a point 0.5 m away at 530 nm."""
    assert ol.materials.get("HK51").nd == pytest.approx(1.52307, abs=1e-5)
    bundle = S.lens.point_source(S.wavelength, -0.5, 0.999e-3, 64)
    assert float(S.lens.best_focus(S.lens.trace(bundle, to_sensor=False))) == pytest.approx(float(S.lens.sensor_z),
                                                                                           abs=5e-6)
    assert S.lens.paraxial(S.wavelength)["efl"] == pytest.approx(7.935e-3, rel=1e-3)


def test_float32_paths_break_the_phase_and_float64_does_not(S):
    """Fig. S2's check: against the extended-precision reference, float32 loses the phase of a point 10 m away
    and float64 keeps it to 1e-6 rad; float32 is fine for a point 20 mm away (the claim can fail)."""
    g = ol.Grid(256, 3e-6)
    err = {}
    for z, dt in ((-10.0, torch.float32), (-10.0, torch.float64), (-0.02, torch.float32)):
        r = H.path_phase_error(S, z, 256, g, dt)
        d = r["dphi"][r["mask"]]
        err[(z, dt)] = (float(d.std()), float(d.abs().max()))
    assert err[(-10.0, torch.float32)][0] > 0.5
    assert err[(-10.0, torch.float64)][1] < 1e-6
    assert err[(-0.02, torch.float32)][0] < 0.1, err


def test_zernike_model_follows_the_traced_wavefront_and_the_paraxial_model_does_not(S):
    """On the DOE plane the pupil model's field (sphere + 37 fitted terms) gives the ray-wave PSF closely at 7 deg,
    the paraxial sphere does not; on axis both do. The fit leaves a residual far below a wave."""
    ncc = {}
    for deg in (0.0, 7.0):
        f = math.radians(deg)
        sensor = H.sensor_window(S, f, 41)
        E, _ = ol.psf.raywave_field(S.lens, S.wavelength, sensor, S.dx, S.window, H.DOE_Z, source=H.source(S, f),
                                    n_side=S.n_side)
        rw = H.to_sensor(E, None, S.lens, sensor)
        for kind in ("paraxial", "zernike"):
            Em, coef = H.model_field(E, S, f, kind)
            ncc[(deg, kind)] = float(ol.metrics.ncc(H.to_sensor(Em, None, S.lens, sensor), rw))
            assert float(Em.power()) == pytest.approx(float(E.power()), rel=1e-9)  # same power as the ray field
    assert ncc[(0.0, "paraxial")] > 0.99 and ncc[(0.0, "zernike")] > 0.99
    assert ncc[(7.0, "zernike")] > 0.99 and ncc[(7.0, "paraxial")] < 0.5, ncc


def test_binary_grating_orders_match_thin_grating_theory(S):
    """A 0 / pi grating on the converging beam: orders 0 and +-2 dark, +-1 at 4 / pi^2 each, at the offsets of
    the grating equation (ray-wave field through the DOE, the angular spectrum to the sensor)."""
    period = 16e-6
    dg = ol.Grid(1200, 1e-6)
    doe = ol.DOE(ol.elements.phase_to_height(H.binary_grating(dg, period), "fused silica", S.wavelength),
                 "fused silica", grid=dg, z=H.DOE_Z)
    sensor = H.sensor_window(S, 0.0, 233, 3e-6)
    E, _ = ol.psf.raywave_field(S.lens, S.wavelength, sensor, S.dx, S.window, H.DOE_Z, source=H.source(S, 0.0),
                                n_side=S.n_side)
    psf = H.to_sensor(E, doe, S.lens, sensor)
    L = float(S.lens.sensor_z) - H.DOE_Z
    off = H.order_offsets(S.wavelength, period, L, orders=(-2, -1, 0, 1, 2))
    pw = H.order_powers(psf, sensor, off, 0.4 * (off[1] - off[0]))
    total = float(E.power())
    for m in (-1, 1):
        assert pw[m] / total == pytest.approx(4 / math.pi ** 2, abs=0.02), pw
    for m in (-2, 0, 2):
        assert pw[m] / total < 0.01, pw


def test_dry_run_checks_the_sampling_and_refuses_too_few_rays():
    ok = H.dry_run(P)
    assert ok["all_required_valid"]
    bad = H.dry_run({**P, "n_side": 300})
    assert not bad["all_required_valid"] and "rays" in bad["rows"][0]["step"]
    with pytest.raises(ValueError, match="integer multiple"):
        H.setup({**P, "pixel_um": 1.5})
    with pytest.raises(KeyError, match="unknown"):
        H.setup({**P, "n_sides": 3})
    with pytest.raises(ValueError, match="cannot exceed the EDoF design's 9 points"):
        H.setup({**P, "edof_map": 3, "edof_fields_deg": [], "edof_map_batch": 10})
    for edof_map, fields in ((3, [0, 8]), (0, []), (-1, [0])):  # a map or diagonal fields, exactly one
        with pytest.raises(ValueError, match="edof_map"):
            H.setup({**P, "edof_map": edof_map, "edof_fields_deg": fields})
    assert len(H.edof_points({**P, "edof_map": 5, "edof_fields_deg": []})) == 25
    for wls in ([500, 560], [], 530):  # the designs' wavelengths must hold the evaluation's
        with pytest.raises(ValueError, match="design_wavelengths_nm"):
            H.setup({**P, "design_wavelengths_nm": wls})
    for key, value in (("s8_map", 0), ("s8_frames_test", 0), ("s8_ft_steps", -1), ("s8_frames_train", 2.5)):
        with pytest.raises(ValueError, match=key):
            H.setup({**P, key: value})
    for key, value in (("ac_n_side", 300), ("edof_n_side", 500)):  # the designs' and the EDoF check's own bundles
        bad = H.dry_run({**P, key: value})
        row = next(r for r in bad["rows"] if not r["valid"])
        assert not bad["all_required_valid"] and "rays" in row["step"]


def test_spherical_basis_is_the_binary2_polynomial_of_the_noll_spherical_terms():
    """M a, fed to binary2_phase, equals sum a_k Z(2k, 0) up to a piston, on the unit disc."""
    from optlib.elements.zernike import zernike
    M = H.spherical_to_binary2(5)
    a = torch.tensor([0.3, -1.2, 0.5, 2.0, -0.7], dtype=torch.float64)
    g = ol.Grid(65, 0.05)
    x, y = g.x(), g.y()
    rho = torch.sqrt(x ** 2 + y ** 2) / 1.5
    ref = sum(a[k] * zernike(j, rho, torch.zeros_like(rho)) for k, j in enumerate((4, 11, 22, 37, 56)))
    d = (ref - ol.elements.binary2_phase(M @ a, x, y, 1.5))[rho <= 1]
    assert float(d.max() - d.min()) < 1e-10


def test_spot_size_counts_light_outside_its_square_and_the_kernel_sums_to_one():
    """A Gaussian spot: its RMS radius (sqrt 2 sigma) when the square holds it; with 30 % more light far away (in
    two opposite corners, so the centroid stays), that light counts at the square's edge; the kernel is centred
    and sums to 1."""
    g = ol.Grid(401, 1e-6)
    x, y = g.x(local=True), g.y(local=True)
    sigma = 5e-6
    u = torch.exp(-(x ** 2 + y ** 2) / (4 * sigma ** 2)).to(torch.complex128)  # intensity exp(-r^2 / (2 s^2))
    E = ol.Field(u, g, 530e-9)
    size, share = H.spot_rms(E, 50e-6, with_share=True)
    assert float(size) == pytest.approx(math.sqrt(2) * sigma, rel=1e-3) and share == pytest.approx(1.0, abs=1e-9)
    far = torch.zeros_like(u)
    far[0, 0] = far[-1, -1] = math.sqrt(0.15 / 0.7 * float((u.abs() ** 2).sum()))
    size2, share2 = H.spot_rms(E.replace(u=u + far), 50e-6, with_share=True)
    assert share2 == pytest.approx(0.7, abs=1e-6)
    assert float(size2) == pytest.approx(math.sqrt(0.7 * 2 * sigma ** 2 + 0.3 * 50e-6 ** 2), rel=1e-2)
    k = H.spot_kernel(E, 11, 3)
    assert float(k.sum()) == pytest.approx(1.0) and int(k.argmax()) == 5 * 11 + 5
    with pytest.raises(ValueError, match="odd"):
        H.spot_kernel(E, 10, 3)


def test_psf_map_folds_to_one_eighth_and_unfolds_to_the_whole_map():
    """map_points(n): each point's images under the square's eight symmetries, over all points, give back the
    n x n cell centres (in the tangent of the object's direction) once each, and each weight is its number of
    images over n^2."""
    corner = math.radians(18)
    half = math.tan(corner) / math.sqrt(2)
    for n in (1, 2, 5, 6, 10):
        whole = sorted((round((2 * i + 1 - n) / n * half, 9), round((2 * j + 1 - n) / n * half, 9))
                       for i in range(n) for j in range(n))
        unfolded = []
        for f, a, w in H.map_points(n, corner):
            assert 0 <= a <= math.pi / 4 + 1e-12
            x, y = math.tan(f) * math.sin(a), math.tan(f) * math.cos(a)
            images = {(round(sx * u, 9) + 0.0, round(sy * v, 9) + 0.0)
                      for u, v in ((x, y), (y, x)) for sx in (1, -1) for sy in (1, -1)}
            assert w == pytest.approx(len(images) / n ** 2)
            unfolded += images
        assert sorted(unfolded) == whole
        flat = [(round(math.tan(f) * math.sin(a), 9) + 0.0, round(math.tan(f) * math.cos(a), 9) + 0.0)
                for f, a, w in H.map_points(n, corner, fold=False)]
        assert sorted(flat) == whole and flat[0] == whole[0]  # unfolded: every point once, row by row


def test_a_point_and_its_mirror_in_the_diagonal_have_spots_of_one_size(S):
    """The fold's premise, through the ray-wave model: with a Binary 2 (rotationally symmetric) phase on the square
    DOE, the spots of the points at azimuth a and 90 deg - a agree; a phase in x^4 alone (not symmetric) tells
    them apart, so the comparison can fail."""
    lens, wl, dx = S.lens, S.wavelength, 1.5e-6
    f, a = math.radians(12), math.radians(20)
    L = float(lens.sensor_z) - H.DOE_Z
    planes = []
    for az in (a, math.pi / 2 - a):
        sensor = H.sensor_window(S, f, pixel=2 * dx, azimuth=az)
        E, _ = ol.psf.raywave_field(lens, wl, sensor, dx, 640, H.DOE_Z, source=H.source(S, f, az), n_side=560)
        planes.append(E)

    def spot(E, phase):
        phi = phase(E.grid.x(), E.grid.y()) * H.on_doe(E.grid, torch.float64)
        return float(H.spot_rms(ol.psf.propagate_to_sensor(E.replace(u=E.u * torch.exp(1j * phi)), L), 100e-6))

    R = H.DOE_SIZE / math.sqrt(2)
    symmetric = lambda x, y: ol.elements.binary2_phase(torch.tensor([-40.0, 15.0], dtype=torch.float64), x, y, R)  # noqa: E731
    one_axis = lambda x, y: 150.0 * (x / R) ** 4 + 0 * y  # noqa: E731
    s = [spot(E, symmetric) for E in planes]
    assert s[0] == pytest.approx(s[1], rel=1e-6)
    t = [spot(E, one_axis) for E in planes]
    assert abs(t[0] - t[1]) > 0.05 * t[0]


def test_map_frame_spans_the_outermost_centres_as_the_lens_images_them(S):
    """Fig. S8's frame: its half side is the chief ray's height for the map's outermost column, within 3 % of the
    paraxial image of a point 0.5 m away (image distance times tan theta; the rest is the lens's distortion); odd;
    it grows with the map (its outer centres move out, half a cell in from the square's side)."""
    corner = math.radians(18)
    f = S.lens.paraxial(S.wavelength)["efl"]
    v = 1 / (1 / f - 1 / S.depth)  # the image distance of a point at the set-up's depth (thin-lens)
    for n in (2, 5, 40):
        t = H.map_grid(n, corner)[0][-1][0]
        N = H.map_frame(S, n, corner, 3e-6)
        assert N % 2 == 1
        assert (N - 1) / 2 * 3e-6 == pytest.approx(v * math.tan(t), rel=0.03)
    assert H.map_frame(S, 2, corner, 3e-6) < H.map_frame(S, 5, corner, 3e-6) < H.map_frame(S, 40, corner, 3e-6)
