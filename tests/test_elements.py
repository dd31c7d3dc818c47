"""Elements: Zernike orthonormality, DOE dispersion and quantisation, 4f energy bookkeeping, nonlinear layers."""
import math

import pytest
import torch

import optlib as ol
from optlib.elements import (DOE, FourierHeightMap, PixelHeightMap, RadialHeightMap, ZernikeHeightMap,
                             fabrication_noise, height_to_phase, noll_to_nm, phase_to_height, quantize,
                             zernike_basis)


def test_noll_indices():
    expect = [(0, 0), (1, 1), (1, -1), (2, 0), (2, -2), (2, 2), (3, -1), (3, 1), (3, -3), (3, 3), (4, 0)]
    assert [noll_to_nm(j) for j in range(1, 12)] == expect


def test_zernike_orthonormal_on_disc():
    g = ol.Grid(512, 2.0 / 512)
    Z = zernike_basis(g, 1.0, 21)
    inside = (g.r() <= 1.0).to(torch.float64)
    n = inside.sum()
    gram = torch.einsum("ihw,jhw->ij", Z * inside, Z) / n
    assert torch.allclose(gram, torch.eye(21, dtype=torch.float64), atol=2e-2)
    # defocus Z4 = sqrt(3) (2 rho^2 - 1)
    rho2 = g.r2() / 1.0
    assert torch.allclose(Z[3][inside.bool()], (math.sqrt(3) * (2 * rho2 - 1))[inside.bool()])


def test_zernike_monomials_equal_the_polar_formula_and_the_grid_phase_is_linear():
    """zernike_on_grid (a binomial expansion in x and y, evaluated as two matrix products) against zernike()
    (radial polynomial times cos / sin m theta) for Noll 1-37 on an off-centre, off-axis grid inside the disc,
    float64 to 1e-12; float32 to 2e-5; the gradient in the coefficients (gradcheck); bad input refused."""
    from optlib.elements import zernike, zernike_on_grid
    g = ol.Grid((40, 52), 0.02, origin=(0.1, -0.15))
    R, centre = 1.3, (0.05, -0.02)
    x, y = g.x() - centre[0], g.y() - centre[1]
    rho = torch.sqrt(x * x + y * y) / R
    theta = torch.atan2(y.expand(g.shape), x.expand(g.shape))
    assert float(rho.max()) < 1
    for j in range(1, 38):
        c = torch.zeros(37, dtype=torch.float64)
        c[j - 1] = 1.0
        got = zernike_on_grid(c, g, R, centre=centre)
        assert torch.allclose(got, zernike(j, rho, theta), rtol=0, atol=1e-12), j
    js = list(range(4, 22))
    c = torch.randn(len(js), dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ref = sum(ck * zernike(j, rho, theta) for ck, j in zip(c, js))
    assert torch.allclose(zernike_on_grid(c, g, R, js, centre), ref, rtol=0, atol=1e-12)
    f32 = zernike_on_grid(c.float(), g, R, js, centre)
    assert f32.dtype == torch.float32 and float((f32.double() - ref).abs().max()) < 2e-5 * float(ref.abs().max())
    small = ol.Grid(6, 0.2)
    assert torch.autograd.gradcheck(lambda k: zernike_on_grid(k, small, R, js), (c.clone().requires_grad_(),))
    with pytest.raises(ValueError, match="coefficients for"):
        zernike_on_grid(c, g, R, js[:-1])
    with pytest.raises(ValueError, match="radius"):
        zernike_on_grid(c, g, 0.0, js)


def test_height_to_phase_dispersion_and_inverse():
    h = torch.full((4, 4), 1e-6, dtype=torch.float64)
    wl = torch.tensor([460e-9, 550e-9, 640e-9], dtype=torch.float64)
    phi = height_to_phase(h, "fused silica", wl)
    assert phi.shape == (3, 4, 4)
    n = [ol.materials.get("fused silica").n(w) for w in wl.tolist()]
    for i, w in enumerate(wl.tolist()):
        assert float(phi[i, 0, 0]) == pytest.approx(2 * math.pi * (n[i] - 1) * 1e-6 / w, rel=1e-12)
    h2 = phase_to_height(torch.tensor(2 * math.pi), "fused silica", 550e-9)
    assert float(h2) == pytest.approx(550e-9 / (n[1] - 1), rel=1e-12)


def test_quantize_levels_and_straight_through_gradient():
    hmax = 1.2e-6
    h = torch.linspace(-0.5e-6, 2.0e-6, 101, dtype=torch.float64, requires_grad=True)
    q = quantize(h, 4, hmax)
    levels = torch.unique(q.detach())
    assert len(levels) <= 4 and torch.all((levels >= 0) & (levels < hmax))
    assert torch.allclose(levels / (hmax / 4), torch.round(levels / (hmax / 4)))
    q.sum().backward()
    assert torch.allclose(h.grad, torch.ones_like(h))


def test_wrapped_quantisation_is_periodic_and_nearest_in_phase():
    """A height within half a step of one period is the phase 0, not the top level: every quantised phase is
    the nearest level modulo 2 pi (error at most half a step), so a blazed ramp keeps sinc^2(1/N) in its first
    order; unwrapped heights are clamped instead."""
    hmax, n = 1.0e-6, 16
    h = torch.linspace(0, 3 * hmax, 3001, dtype=torch.float64)[:-1]
    q = quantize(h, n, hmax)
    err = torch.remainder(q - h + hmax / 2, hmax) - hmax / 2  # the height error modulo one period
    assert float(err.abs().max()) <= hmax / n / 2 + 1e-15
    assert float(quantize(torch.tensor([0.99 * hmax], dtype=torch.float64), n, hmax)) == 0.0
    assert float(quantize(torch.tensor([0.99 * hmax], dtype=torch.float64), n, hmax, wrap=False)) == hmax * (n - 1) / n
    # the first order of one period of the quantised ramp: sinc^2(1/N) of the power (the step function's theory)
    x = (torch.arange(16000, dtype=torch.float64) + 0.5) / 16000
    t = torch.exp(2j * torch.pi * quantize(x * hmax, n, hmax) / hmax)
    eta = float((t * torch.exp(-2j * torch.pi * x)).mean().abs() ** 2)
    assert abs(eta - float(torch.sinc(torch.tensor(1 / n)) ** 2)) < 1e-6, eta


def test_fabrication_noise_bounds_and_seed():
    h = torch.zeros(1000, dtype=torch.float64)
    g1 = torch.Generator().manual_seed(1)
    g2 = torch.Generator().manual_seed(1)
    a = fabrication_noise(h, 20e-9, generator=g1)
    b = fabrication_noise(h, 20e-9, generator=g2)
    assert torch.equal(a, b) and a.abs().max() <= 20e-9 and a.std() > 5e-9
    with pytest.raises(ValueError):
        fabrication_noise(h, 1e-9, kind="lognormal")


def test_parameterisations_shapes_and_gradients():
    g = ol.Grid(32, 10e-6)
    for m in (PixelHeightMap(g), FourierHeightMap(g), ZernikeHeightMap(g, 150e-6, 10), RadialHeightMap(g, 150e-6, 8)):
        h = m()
        assert h.shape == (32, 32)
        (h ** 2).sum().backward()
        assert all(p.grad is not None for p in m.parameters())
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.1)
        assert m().abs().sum() > 0
    rad = RadialHeightMap(g, 150e-6, 8)
    with torch.no_grad():
        rad.samples.copy_(torch.arange(8.0))
    h = rad().detach()
    # rotational symmetry about the centre sample
    c = 16
    assert float(h[c, c + 5]) == pytest.approx(float(h[c + 5, c]))
    assert float(h[c, c + 5]) == pytest.approx(float(h[c, c - 5]))


def test_doe_is_lossless_and_multiwavelength():
    g = ol.Grid(32, 10e-6)
    doe = DOE(PixelHeightMap(g, init=torch.rand(32, 32) * 1e-6), "PMMA").double()
    wl = torch.tensor([450e-9, 650e-9], dtype=torch.float64)
    u = ol.Field(torch.ones(2, 32, 32, dtype=torch.complex128), g, wl)
    out = doe(u)
    assert torch.allclose(out.intensity(), u.intensity())
    assert not torch.allclose(out.u[0], out.u[1])


def test_fourf_energy_bookkeeping_with_stop():
    g = ol.Grid(64, 4e-6)
    torch.manual_seed(0)
    u = ol.Field(torch.randn(3, 64, 64, dtype=torch.complex128), g, 550e-9)
    four = ol.FourF(g, 550e-9, 20e-3)
    fg = four.fourier_grid
    assert fg.dx == pytest.approx(550e-9 * 20e-3 / (64 * 4e-6))
    stop = ol.circ(fg, 20 * fg.dx, antialias=False)
    four = ol.FourF(g, 550e-9, 20e-3, stop=stop).double()
    with torch.no_grad():
        four.phase.copy_(torch.rand(64, 64) * 6)
    spec = four.spectrum(u)
    blocked = (spec.abs() ** 2 * (1 - stop ** 2)).sum(dim=(-2, -1)) * g.dx * g.dy
    out = four(u)
    assert torch.allclose(out.power(), u.power() - blocked, rtol=1e-10)


def test_kerr_lossless_and_phase():
    u = torch.randn(8, 8, dtype=torch.complex128)
    k = ol.Kerr(4.0).double()
    out = k(u)
    assert torch.allclose(out.abs(), u.abs())
    assert torch.allclose(torch.angle(out / u), torch.remainder(4.0 * u.abs() ** 2 + math.pi, 2 * math.pi) - math.pi)
    kp = ol.Kerr.from_n2(1e-18, 1e-3, 1e-6)
    assert float(kp.weight) == pytest.approx(2 * math.pi * 1e-18 * 1e-3 / 1e-6)


def test_saturable_absorber_transmits_more_at_high_intensity():
    sa = ol.SaturableAbsorber(alpha0_L=2.0, i_sat=1.0).double()
    weak = sa(torch.full((1,), 0.01, dtype=torch.complex128))
    strong = sa(torch.full((1,), 10.0, dtype=torch.complex128))
    t_weak = float(weak.abs() ** 2 / 0.01 ** 2)
    t_strong = float(strong.abs() ** 2 / 100.0)
    assert t_weak == pytest.approx(math.exp(-2.0 / (1 + 1e-4)), rel=1e-9)
    assert t_strong > t_weak
    with pytest.raises(ValueError):
        ol.SaturableAbsorber(alpha0_L=-1)


def test_zernike_fit_recovers_known_terms_and_refuses_bad_input():
    """Scattered samples of a known Noll sum over an off-centre disc give its coefficients back (least squares,
    exact for noiseless data), and the surface rebuilt from them matches the samples."""
    from optlib.elements import zernike_fit, zernike_surface
    g = torch.Generator().manual_seed(3)
    c_true = torch.randn(15, generator=g, dtype=torch.float64) * 1e-7
    centre, radius = (0.2e-3, -0.1e-3), 0.4e-3
    r = radius * torch.sqrt(torch.rand(4000, generator=g, dtype=torch.float64))
    t = 2 * math.pi * torch.rand(4000, generator=g, dtype=torch.float64)
    x, y = centre[0] + r * torch.cos(t), centre[1] + r * torch.sin(t)
    w = zernike_surface(c_true, x, y, centre, radius)
    c = zernike_fit(x, y, w, centre, radius, 15)
    assert float((c - c_true).abs().max()) < 1e-18
    c21 = zernike_fit(x, y, w, centre, radius, 21)  # more terms than the data hold: the extra ones vanish
    assert float(c21[15:].abs().max()) < 1e-18
    with pytest.raises(ValueError, match="radii"):
        zernike_fit(x, y, w, centre, radius / 2, 15)
    with pytest.raises(ValueError, match="samples"):
        zernike_fit(x[:10], y[:10], w[:10], centre, radius, 15)


def test_binary2_quadratic_term_is_a_thin_lens_and_focuses_where_it_should():
    """c_1 = -pi R^2 / (lambda f) is the thin lens's phase -k r^2 / (2 f) exactly, and a Gaussian beam (waist w)
    through it comes to the Gaussian-optics waist lambda f / (pi w) (RMS radius of the intensity: waist / sqrt 2)
    f behind it, larger on either side (angular spectrum)."""
    from optlib.elements import binary2_phase
    wl, f, R, w = 0.5e-6, 5e-3, 0.2e-3, 100e-6
    g = ol.Grid(1024, 1e-6)
    x, y = g.x(), g.y()
    c = torch.tensor([-math.pi * R ** 2 / (wl * f), 0.0], dtype=torch.float64)
    lens = -2 * math.pi / wl * (x ** 2 + y ** 2) / (2 * f)
    assert float((binary2_phase(c, x, y, R) - lens).abs().max()) < 1e-9
    phi = binary2_phase(c, x, y, R)
    E = ol.Field(torch.polar(torch.exp(-(x ** 2 + y ** 2) / w ** 2), phi), g, wl)
    size = {z: float(ol.metrics.rms_radius(ol.propagation.asm(E, z, check=False).u.abs() ** 2, g))
            for z in (0.9 * f, f, 1.1 * f)}
    w_f = wl * f / (math.pi * w) / math.sqrt(1 + (math.pi * w * w / (wl * f)) ** -2)  # the waist, near f
    assert size[f] == pytest.approx(w_f / math.sqrt(2), rel=0.03)
    assert size[f] < 0.7 * min(size[0.9 * f], size[1.1 * f])
    with pytest.raises(ValueError, match="radius"):
        binary2_phase(c, x, y, 0.0)
