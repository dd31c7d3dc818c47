"""Propagators against closed-form optics: Airy pattern, Fresnel integrals, Gaussian beams, evanescent decay."""
import math

import numpy as np
import pytest
import torch

import optlib as ol
from optlib import analytic

WL, F, D = 550e-9, 50e-3, 1e-3


def _airy(N=1024, Q=8, antialias=True):
    g = ol.Grid(N, Q * D / N)
    t = ol.circ(g, D / 2, antialias=antialias)
    u = ol.Field(t.to(torch.complex128), g, WL)
    return t, u, ol.focal_plane(u, F)


def _signed_axis_profile(out, f):
    c = out.grid.shape[1] // 2
    U = out.u[c, c:]
    x = out.grid.x().flatten()[c:]
    U = U * torch.exp(-1j * math.pi * x ** 2 / (WL * f))  # remove the focal-plane chirp
    return (U * torch.conj(U[0]) / U[0].abs()), c


def test_airy_first_zero_and_encircled_energy():
    t, u, out = _airy()
    a, c = _signed_axis_profile(out, F)
    assert float(a.imag.abs().max()) < 1e-8 * float(a.real.abs().max())  # field of a symmetric pupil is real
    r0 = ol.metrics.first_zero_crossing(a.real, out.grid.dx)
    r0_ref = analytic.airy_first_zero(WL, F, D)
    assert r0_ref == pytest.approx(1.2197 * WL * F / D, rel=1e-4)
    assert abs(r0 / r0_ref - 1) < 0.005
    # encircled energy relative to the power transmitted by the aperture (area x irradiance)
    I = out.intensity()
    p_in = float(t.sum()) * u.grid.dx * u.grid.dy
    ee = float(I[out.grid.r() <= r0_ref].sum()) * out.grid.dx * out.grid.dy / p_in
    assert abs(ee / 0.8378 - 1) < 0.005
    # the whole profile follows [2 J1(v)/v]^2
    prof = (I[c, c:] / I[c, c]).numpy()
    ref = analytic.airy_intensity(out.grid.x().flatten()[c:].numpy(), WL, F, D)
    assert np.abs(prof - ref).max() < 1e-3


def test_airy_binary_aperture_encircled_energy_of_total_power():
    _, _, out = _airy(antialias=False)
    r0_ref = analytic.airy_first_zero(WL, F, D)
    ee = ol.metrics.encircled_energy(out.intensity(), out.grid, r0_ref)
    assert abs(ee / 0.8378 - 1) < 0.005


def test_airy_through_thin_lens_and_asm_matches_focal_plane():
    # a small system where the angular spectrum can reach the focus on the same grid
    wl, f, R, N, d = 500e-9, 2e-3, 50e-6, 512, 1e-6
    g = ol.Grid(N, d)
    u = ol.Field(ol.circ(g, R).to(torch.complex128), g, wl)
    lens = ol.thin_lens(g, f, wl)
    out = ol.propagate(u * lens, f, method="asm", padding=3)
    I = out.intensity()
    c = N // 2
    r0 = ol.metrics.first_minimum(I[c, c:], d)
    r0_ref = analytic.airy_first_zero(wl, f, 2 * R)
    assert abs(r0 / r0_ref - 1) < 0.02  # intensity-minimum estimate, 3.7 samples to the zero


def _square(N=512, L=4e-3):
    g = ol.Grid(N, L / N)
    return ol.Field(ol.rect(g, 1e-3).to(torch.complex128), g, 500e-9)


@pytest.mark.parametrize("nf", [1.0, 2.0, 5.0, 10.0])
def test_square_aperture_matches_fresnel_integrals(nf):
    u = _square()
    a, wl = 0.5e-3, 500e-9
    z = a * a / (wl * nf)
    tested = []
    for method in ("asm", "fresnel", "fresnel1"):
        kw = {"padding": 4} if method != "fresnel1" else {}
        try:
            out = ol.propagate(u, z, method=method, **kw)
        except ol.SamplingError:
            continue  # not applicable at this distance: the planner said so
        x, y = out.grid.x().numpy(), out.grid.y().numpy()
        roi = (np.abs(x) <= 1.5 * a) & (np.abs(y) <= 1.5 * a)
        ref = analytic.fresnel_square(x, y, a, wl, z)
        err = np.abs(out.u.numpy() - ref)[roi].max()
        assert err < 0.025, (method, nf, err)
        tested.append(method)
    assert "fresnel1" in tested and len(tested) >= (1 if nf < 2 else 3)


def test_square_aperture_error_converges_with_sampling():
    a, wl, nf = 0.5e-3, 500e-9, 5.0
    z = a * a / (wl * nf)
    errs = []
    for N in (256, 512):
        u = _square(N)
        out = ol.propagate(u, z, method="fresnel", padding=4)
        x, y = out.grid.x().numpy(), out.grid.y().numpy()
        roi = (np.abs(x) <= 1.5 * a) & (np.abs(y) <= 1.5 * a)
        errs.append(np.abs(out.u.numpy() - analytic.fresnel_square(x, y, a, wl, z))[roi].max())
    assert errs[0] / errs[1] > 3.0  # second order in the pitch: the residual is edge sampling


def _gauss(N=256, d=2e-6, w0=50e-6, wl=500e-9, dtype=torch.complex128):
    g = ol.Grid(N, d)
    x, y = g.x().numpy(), g.y().numpy()
    return ol.Field(torch.from_numpy(analytic.gaussian_beam(x, y, 0.0, w0, wl)).to(dtype), g, wl)


@pytest.mark.parametrize("method", ["asm", "fresnel", "rs"])
def test_gaussian_beam_same_grid_methods(method):
    # the direct sum is O(N^4): a small, finely sampled beam keeps its kernel sampled over the window
    N, d, w0, z = (64, 1e-6, 10e-6, 0.5e-3) if method == "rs" else (256, 2e-6, 40e-6, 2e-3)
    u = _gauss(N=N, d=d, w0=w0)
    out = ol.propagate(u, z, method=method)
    ref = analytic.gaussian_beam(out.grid.x().numpy(), out.grid.y().numpy(), z, w0, 500e-9)
    err = np.abs(out.u.numpy() - ref).max()
    assert err < 2e-3, err


def test_gaussian_beam_fresnel1_far():
    u = _gauss()
    z = 0.2  # 12.7 Rayleigh ranges: the beam is 30x wider than the input window
    out = ol.propagate(u, z, method="fresnel1")
    ref = analytic.gaussian_beam(out.grid.x().numpy(), out.grid.y().numpy(), z, 50e-6, 500e-9)
    assert np.abs(out.u.numpy() - ref).max() / np.abs(ref).max() < 1e-6


def test_fraunhofer_far_field_of_gaussian():
    u = _gauss(N=128, d=2e-6, w0=20e-6)
    z = 0.5  # Fresnel number of the support tiny
    out = ol.fraunhofer(u, z, support=160e-6)
    ref = analytic.gaussian_beam(out.grid.x().numpy(), out.grid.y().numpy(), z, 20e-6, 500e-9)
    # Fraunhofer keeps the amplitude; compare magnitudes (the neglected input chirp changes the phase slightly)
    assert np.abs(np.abs(out.u.numpy()) - np.abs(ref)).max() / np.abs(ref).max() < 2e-3


def test_methods_agree_where_valid():
    u = _gauss(N=128, d=2e-6, w0=30e-6)
    z = 3e-3
    a = ol.propagate(u, z, method="asm").u
    b = ol.propagate(u, z, method="fresnel").u
    c = ol.propagate(u, z, method="rs").u
    d = ol.propagate(u, z, method="fresnel1")  # different output pitch: compare on its own grid
    ref = analytic.gaussian_beam(d.grid.x().numpy(), d.grid.y().numpy(), z, 30e-6, 500e-9)
    assert (a - c).abs().max() < 2e-4
    assert (a - b).abs().max() < 2e-4
    assert np.abs(d.u.numpy() - ref).max() < 2e-4


def test_asm_conserves_power_float64():
    u = _gauss(N=256, d=2e-6, w0=50e-6)
    out = ol.asm(u, 5e-3)
    assert abs(float(out.power() / u.power()) - 1) < 1e-10
    back = ol.asm(out, -5e-3)
    assert (back.u - u.u).abs().max() < 1e-10


def test_focal_plane_and_fourf_conserve_power():
    u = _gauss(N=128, d=2e-6, w0=20e-6)
    out = ol.focal_plane(u, 10e-3)
    assert abs(float(out.power() / u.power()) - 1) < 1e-12
    four = ol.FourF(u.grid, 500e-9, 10e-3, trainable=False).double()
    o2 = four(u)
    assert abs(float(o2.power() / u.power()) - 1) < 1e-12
    assert (o2.u - u.u).abs().max() < 1e-12  # open pupil, unit magnification: identity (re-erected image)


def test_undersampled_setups_raise_with_advice():
    g = ol.Grid(257, 2.5e-6)
    u = ol.Field(ol.circ(g, 0.3e-3).to(torch.complex64), g, 532e-9)
    # DKO-like: 257 samples padded only to 514 cannot reach 10 mm
    with pytest.raises(ol.SamplingError, match="padding >="):
        ol.propagate(u, 10e-3, method="asm", padding=2, check="strict")
    ol.propagate(u, 10e-3, method="asm", padding=4, check="strict")  # the advised fix works
    # single-FFT Fresnel too close: its chirp is undersampled
    with pytest.raises(ol.SamplingError, match="z_min"):
        ol.propagate(u, 0.1e-3, method="fresnel1")
    # thin lens whose phase aliases
    with pytest.raises(ol.SamplingError, match="pitch <="):
        ol.thin_lens(g, 1e-3, 532e-9)
    # Fraunhofer in the near field
    with pytest.raises(ol.SamplingError, match="Fresnel number"):
        ol.propagate(u, 10e-3, method="fraunhofer")


def test_measured_check_catches_power_loss_but_allows_band_limited_fields():
    # narrow Gaussian: grid test fails at 2 m, but the field's spectrum is far inside the band limit
    u = _gauss(N=128, d=2e-6, w0=30e-6)
    plan = ol.plan_propagation(u.grid, 500e-9, 0.02, padding=4)
    assert not plan.checks["asm"].valid
    with pytest.raises(ol.SamplingError):
        ol.asm(u, 0.02, padding=4, check="strict")
    ol.asm(u, 0.02, padding=4)  # passes: the measured loss is below 1e-6
    # a hard-edged aperture has power at every frequency: the same set-up is refused
    g = ol.Grid(128, 2e-6)
    sq = ol.Field(ol.rect(g, 100e-6).to(torch.complex128), g, 500e-9)
    with pytest.raises(ol.SamplingError, match="would drop"):
        ol.asm(sq, 0.02, padding=4)


def test_auto_picks_valid_method():
    u = _gauss(N=128, d=2e-6, w0=30e-6)
    assert ol.propagate(u, 1e-3, method="auto").grid == u.grid  # near: angular spectrum on the same grid
    far = ol.propagate(u, 1.0, method="auto")
    assert far.grid.dx > u.grid.dx  # far: single-FFT Fresnel, output pitch lambda z / (N d)
    with pytest.raises(ValueError, match="unknown propagation method"):
        ol.propagate(u, 1e-3, method="bpm")


def test_no_nan_below_half_wavelength_and_evanescent_decay():
    wl, d, N = 1e-6, 0.2e-6, 64
    g = ol.Grid(N, d)
    x = g.x().expand(g.shape)
    for per, evanescent in ((8 * d, False), (4 * d, True)):
        u = ol.Field(torch.cos(2 * math.pi * x / per).to(torch.complex128), g, wl)
        out = ol.asm(u, 0.3e-6, padding=1, band_limit=False, check=False)  # periodic field: no padding
        assert torch.isfinite(out.u).all()
        amp = float(out.u.abs().max())
        if evanescent:
            assert amp == pytest.approx(analytic.evanescent_decay(per, wl, 0.3e-6), rel=1e-9)
        else:
            assert amp == pytest.approx(1.0, rel=1e-9)
    out = ol.propagate(ol.Field(torch.ones(g.shape, dtype=torch.complex128), g, wl), 1e-6, method="asm")
    assert torch.isfinite(out.u).all()


def test_wavelength_batch_broadcasts():
    g = ol.Grid(64, 2e-6)
    wl = torch.tensor([450e-9, 550e-9, 650e-9], dtype=torch.float64)
    u0 = ol.gaussian_beam(g, 20e-6).to(torch.complex128)
    batch = ol.Field(u0.expand(2, 3, 64, 64), g, wl)
    out = ol.asm(batch, 1e-3)
    for i, w in enumerate(wl.tolist()):
        single = ol.asm(ol.Field(u0, g, w), 1e-3)
        assert (out.u[1, i] - single.u).abs().max() < 1e-12
    with pytest.raises(ValueError, match="does not broadcast"):
        ol.Field(torch.zeros(2, 64, 64), g, wl)


def test_float32_matches_float64():
    u64 = _gauss(N=128, d=2e-6, w0=30e-6)
    u32 = u64.to(torch.complex64)
    for m in ("asm", "fresnel", "fresnel1"):
        a = ol.propagate(u64, 4e-3 if m != "fresnel1" else 0.1, method=m)
        b = ol.propagate(u32, 4e-3 if m != "fresnel1" else 0.1, method=m)
        assert b.u.dtype == torch.complex64
        assert (a.u - b.u.to(torch.complex128)).abs().max() / a.u.abs().max() < 1e-5, m


def test_rejects_bad_inputs():
    with pytest.raises(ValueError, match="metres"):
        ol.Grid(64, 5.0 * 2)
    g = ol.Grid(64, 1e-6)
    with pytest.raises(ValueError, match="metres"):
        ol.Field(torch.zeros(64, 64), g, 550)
    with pytest.raises(ValueError, match="does not match grid"):
        ol.Field(torch.zeros(32, 32), g, 550e-9)


# --- positioned grids, tilted beams, the matrix DFT ------------------------------------------------------
def test_grid_origin_coordinates_and_subdivision():
    g = ol.Grid((4, 6), 1e-6, origin=(2e-6, -3e-6))
    assert float(g.x()[0, 3]) == pytest.approx(-3e-6) and float(g.y()[2, 0]) == pytest.approx(2e-6)
    assert float(g.x(local=True)[0, 3]) == 0
    for f in (1, 2, 3, 4):
        s = g.subdivided(f)
        # every block of f x f fine samples averages to its pixel's centre
        xs = s.x().reshape(-1).reshape(6, f).mean(1)
        ys = s.y().reshape(-1).reshape(4, f).mean(1)
        assert torch.allclose(xs, g.x().reshape(-1), atol=1e-15) and torch.allclose(ys, g.y().reshape(-1), atol=1e-15)
    with pytest.raises(ValueError, match="finite"):
        ol.Grid(8, 1e-6, origin=(float("nan"), 0.0))


def test_asm_is_translation_invariant_on_a_positioned_grid():
    u = _gauss(N=128, d=2e-6, w0=30e-6)
    moved = ol.Field(u.u, u.grid.at((40e-6, -60e-6)), u.wavelength)
    a, b = ol.asm(u, 3e-3), ol.asm(moved, 3e-3)
    assert b.grid == moved.grid and torch.equal(a.u, b.u)


def _tilted_reference(u: ol.Field, z: float, big: int):
    """The physical field (carrier multiplied in, sampled) on a large on-axis grid, propagated untilted."""
    phys = u.pad((big, big)).with_carrier((0.0, 0.0))
    return ol.asm(phys, z, padding=2)


def test_tilted_asm_follows_the_beam_and_matches_the_sampled_carrier():
    """A Gaussian beam tilted by (3, -5) degrees: its envelope (carrier left out) on a 96^2 window that moves
    with the beam must equal the fully sampled tilted field propagated on a 512^2 grid, demodulated and read
    at the moved window; and its power is kept."""
    wl, d, w0, z = 500e-9, 1e-6, 12e-6, 200e-6
    g = ol.Grid(96, d)
    x, y = g.x().numpy(), g.y().numpy()
    env = torch.from_numpy(analytic.gaussian_beam(x, y, 0.0, w0, wl))
    ay, ax = math.sin(math.radians(3)), math.sin(math.radians(-5))
    u = ol.Field(env, g, wl, carrier=(ay / wl, ax / wl))
    out = ol.asm(u, z)
    sy, sx = z * ay / math.sqrt(1 - ay ** 2 - ax ** 2), z * ax / math.sqrt(1 - ay ** 2 - ax ** 2)
    assert out.grid.origin == pytest.approx((sy, sx)) and out.carrier == u.carrier
    assert abs(float(out.power() / u.power()) - 1) < 1e-9
    ref = _tilted_reference(u, z, 512)
    ref = ref.with_carrier(u.carrier)  # demodulate the reference the same way
    # the window moved by a non-integer number of samples: compare with the reference resampled there
    # exactly, by evaluating the reference at the window's positions (its Fourier series, matrix DFT)
    U = torch.fft.fft2(torch.fft.ifftshift(ref.u))
    fy = torch.fft.fftfreq(512, d).to(torch.float64)
    ys = out.grid.y().reshape(-1) - ref.grid.origin[0]
    xs = out.grid.x().reshape(-1) - ref.grid.origin[1]
    Ey = torch.exp(2j * math.pi * ys[:, None] * fy[None, :]).to(torch.complex128)
    Ex = torch.exp(2j * math.pi * fy[:, None] * xs[None, :]).to(torch.complex128)
    sampled = (Ey @ U @ Ex) / (512 * 512)
    err = float((sampled - out.u).abs().max() / out.u.abs().max())
    assert err < 1e-6, err


def test_tilted_asm_refuses_a_window_the_beam_leaves():
    g = ol.Grid(64, 1e-6)
    u = ol.Field(ol.gaussian_beam(g, 10e-6).to(torch.complex128), g, 500e-9, carrier=(0.0, 0.3 / 500e-9))
    with pytest.raises(ol.SamplingError, match="would drop"):
        ol.asm(u, 400e-6, shift=(0.0, 0.0))  # keep the window on the axis: the beam walks 126 um out of it
    ol.asm(u, 400e-6)  # following the beam: fine


def test_asm_in_a_medium_equals_air_at_the_shorter_wavelength():
    u = _gauss(N=128, d=1e-6, w0=15e-6)
    a = ol.asm(u, 1e-3, n=1.5).u
    b = ol.asm(ol.Field(u.u, u.grid, 500e-9 / 1.5), 1e-3).u
    assert torch.allclose(a, b, atol=1e-12)


def test_focal_plane_on_any_output_grid_matches_the_fft():
    """The matrix DFT evaluates the same focal-plane field as the FFT, at any subset of its samples, at a
    finer pitch and anywhere within half a period; an input displaced from the lens axis focuses to the
    same intensity, with the linear phase its offset implies."""
    g = ol.Grid(64, 4e-6)
    u = ol.Field(ol.circ(g, 80e-6).to(torch.complex128), g, 500e-9)
    f = 20e-3
    ref = ol.focal_plane(u, f)
    sub = ol.Grid((9, 7), ref.grid.pitch, origin=(3 * ref.grid.dy, -5 * ref.grid.dx))
    got = ol.focal_plane(u, f, output_grid=sub)
    iy, ix = 32 + 3 - 4, 32 - 5 - 3
    assert torch.allclose(got.u, ref.u[iy:iy + 9, ix:ix + 7], atol=1e-12 * float(ref.u.abs().max()))
    fine = ol.focal_plane(u, f, output_grid=ol.Grid(33, ref.grid.dx / 4))
    assert float(fine.intensity()[16, 16]) == pytest.approx(float(ref.intensity()[32, 32]), rel=1e-12)
    shifted = ol.Field(u.u, g.at((40e-6, 0.0)), 500e-9)
    out = ol.focal_plane(shifted, f)
    assert torch.allclose(out.intensity(), ref.intensity(), atol=1e-12 * float(ref.intensity().max()))
    with pytest.raises(ol.SamplingError, match="replicas"):
        ol.focal_plane(u, f, output_grid=ol.Grid(64, ref.grid.dx * 1.1))


def test_fresnel1_on_any_output_grid_matches_the_fft():
    u = _gauss()
    z = 0.2
    ref = ol.fresnel1(u, z)
    g = ol.Grid((5, 6), ref.grid.pitch, origin=(2 * ref.grid.dy, ref.grid.dx))
    got = ol.fresnel1(u, z, output_grid=g)
    assert torch.allclose(got.u, ref.u[128 + 2 - 2:128 + 2 + 3, 128 + 1 - 3:128 + 1 + 3], atol=1e-13)


def test_carrier_round_trip_and_refusal():
    g = ol.Grid(64, 1e-6)
    u = ol.Field(ol.gaussian_beam(g, 10e-6).to(torch.complex128), g, 500e-9)
    t = u.with_carrier((1e5, -2e5))
    assert torch.allclose(t.with_carrier((0.0, 0.0)).u, u.u, atol=1e-14)
    with pytest.raises(ol.SamplingError, match="not sampled"):
        u.with_carrier((0.0, 6e5))  # above the 5e5 1/m Nyquist frequency
    with pytest.raises(ValueError, match="cannot carry a tilt"):
        ol.fresnel(t, 1e-3)


def test_transfer_function_is_exp_i_kz_z_with_a_complex_root():
    """The kernel, built from real float64 parts, against the closed form exp(i 2 pi sqrt(1/lambda^2 - f^2) z)
    with a complex square root (evanescent waves decay; back-propagation leaves them unamplified), with a
    carrier and a window shift, two wavelengths; and d/dz and d/dlambda through it against the closed form's."""
    from optlib import propagation as P
    # frequencies up to 3.3e6 1/m: evanescent beyond 2e6 at 500 nm (no sample exactly on the circle 1/lambda, where
    # d k_z / d lambda is infinite: there the kernel's gradient is 0, the closed form's -inf)
    g = ol.Grid((96, 80), (0.21e-6, 0.151e-6))
    gy, gx = g.freqs(dtype=torch.float64)

    def closed(wl, z, carrier, shift):
        fy, fx = gy + carrier[0], gx + carrier[1]
        kz = 2 * math.pi * torch.sqrt(((1 / wl.reshape(-1, 1, 1)) ** 2 - fx ** 2 - fy ** 2).to(torch.complex128))
        if float(z.detach()) < 0:
            kz = torch.where(kz.imag == 0, kz, torch.zeros_like(kz))
        return torch.exp(1j * (kz * z + 2 * math.pi * (gy * shift[0] + gx * shift[1]))) / (96 * 80)

    wl0 = torch.tensor([500e-9, 640e-9], dtype=torch.float64)
    for z in (0.4e-6, -0.4e-6):
        for carrier, shift in (((0.0, 0.0), (0.0, 0.0)), ((2e5, -1e5), (1e-6, -2e-6))):
            zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
            wl = wl0.clone().requires_grad_(True)
            H = P.transfer_function("asm", g.shape, g.pitch, wl, zt, "cpu", torch.complex128, False, carrier, shift)
            # the plain-number path (built in row blocks, cached) gives the same kernel, with its band limit too
            for bl in (False, True):
                plain = P.transfer_function("asm", g.shape, g.pitch, wl0, z, "cpu", torch.complex128, bl, carrier, shift)
                grad_path = P.transfer_function("asm", g.shape, g.pitch, wl0, zt, "cpu", torch.complex128, bl, carrier,
                                                shift)
                assert (plain - grad_path.detach()).abs().max() < 1e-17
            zr, wr = zt.detach().clone().requires_grad_(True), wl0.clone().requires_grad_(True)
            ref = closed(wr, zr, carrier, shift)
            assert (H - ref).abs().max() < 1e-14
            amp = H.detach().abs() * (96 * 80)
            if z > 0:  # evanescent waves decay, none grows
                assert float(amp.min()) < 0.1 and float(amp.max()) <= 1 + 1e-12
            else:  # back-propagation neither amplifies nor damps them
                assert float((amp - 1).abs().max()) < 1e-12
            w = torch.linspace(0, 1, H.numel(), dtype=torch.float64).reshape(H.shape)
            ga = torch.autograd.grad((w * (H.real + 2 * H.imag)).sum(), (zt, wl))
            gb = torch.autograd.grad((w * (ref.real + 2 * ref.imag)).sum(), (zr, wr))
            for a, b in zip(ga, gb):
                assert torch.isfinite(a).all() and torch.allclose(a, b, rtol=1e-9, atol=0)


def test_asm_on_a_window_equals_the_full_outputs_window_and_its_gradient():
    """``asm(f, z, window=w)`` (the blocked transform that never forms the padded output) against
    ``asm(f, z).window(w)``: a tilted field whose window follows the beam, windows inside, straddling and outside
    the output (zero there), a batch of three wavelengths broadcast against two fields, odd sizes; the gradient
    by the adjoint against autograd through the full transform, and gradcheck in float64. Fails if a block, a
    placement offset or the adjoint is off by one sample or one conjugate."""
    g = ol.Grid((41, 48), 1e-6, origin=(3e-6, -2e-6))
    gen = torch.Generator().manual_seed(3)
    u = torch.randn(41, 48, dtype=torch.complex128, generator=gen)
    f = ol.Field(u, g, 500e-9, carrier=(1e5, -2e5))
    full = ol.asm(f, 30e-6, check=False)
    o = full.grid.origin
    for shape, at in (((10, 13), (4, -7)), ((31, 70), (25, 1)), ((8, 8), (80, 0))):
        w = ol.Grid(shape, 1e-6, origin=(o[0] + at[0] * 1e-6, o[1] + at[1] * 1e-6))
        a, b = ol.asm(f, 30e-6, check=False, window=w), full.window(w)
        assert a.grid == w and a.carrier == f.carrier
        assert float((a.u - b.u).abs().max()) <= 1e-14 * float(full.u.abs().max()), shape
    assert float(ol.asm(f, 30e-6, check=False, window=w).u.abs().max()) == 0  # the last window is outside
    x = torch.randn(2, 1, 41, 48, dtype=torch.complex128, generator=gen, requires_grad=True)
    fb = ol.Field(x, g, torch.tensor([0.5e-6, 0.6e-6, 0.7e-6], dtype=torch.float64))
    w = ol.Grid((9, 11), 1e-6, origin=(4e-6, 1e-6))
    a, b = ol.asm(fb, 20e-6, check=False, window=w).u, ol.asm(fb, 20e-6, check=False).window(w).u
    assert a.shape == (2, 3, 9, 11) and float((a - b).detach().abs().max()) < 1e-14 * float(b.detach().abs().max())
    wt = torch.randn(a.shape, dtype=torch.complex128, generator=gen)
    ga, = torch.autograd.grad((a * wt).real.sum(), x)
    gb, = torch.autograd.grad((b * wt).real.sum(), x)
    assert float((ga - gb).abs().max()) < 1e-13 * float(gb.abs().max())
    small, sw = ol.Grid((6, 7), 1e-6), ol.Grid((5, 3), 1e-6, origin=(1e-6, 2e-6))
    xs = torch.randn(6, 7, dtype=torch.complex128, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda t: ol.asm(ol.Field(t, small, 500e-9, carrier=(1e5, 0.0)), 7e-6, check=False, window=sw,
                         shift=(0.0, 0.0)).u, (xs,))
    # a distance that requires grad: the kernel needs the whole spectrum, so it is the full output's window
    z = torch.tensor(30e-6, dtype=torch.float64, requires_grad=True)
    wz = ol.Grid((10, 13), 1e-6, origin=(o[0] + 4e-6, o[1] - 7e-6))
    dz = ol.asm(f, z, check=False, window=wz)
    assert torch.allclose(dz.u, full.window(wz).u, rtol=0, atol=1e-13) and dz.u.requires_grad
    with pytest.raises(ValueError, match="fall between"):
        ol.asm(f, 30e-6, check=False, window=ol.Grid(8, 1e-6, origin=(o[0] + 0.5e-6, o[1])))
    with pytest.raises(ValueError, match="pitch"):
        ol.asm(f, 30e-6, check=False, window=ol.Grid(8, 2e-6, origin=o))


def test_asm_on_a_window_keeps_the_measured_power_check():
    """The windowed transform measures the band limit's loss on its blocks of the spectrum as the full one does:
    the band-limited Gaussian passes, the hard-edged square of the same set-up is refused."""
    u = _gauss(N=128, d=2e-6, w0=30e-6)
    w = ol.Grid(16, 2e-6, origin=(10e-6, -6e-6))
    a = ol.asm(u, 0.02, padding=4, window=w)
    assert float((a.u - ol.asm(u, 0.02, padding=4).window(w).u).abs().max()) < 1e-14 * float(a.u.abs().max())
    g = ol.Grid(128, 2e-6)
    sq = ol.Field(ol.rect(g, 100e-6).to(torch.complex128), g, 500e-9)
    with pytest.raises(ol.SamplingError, match="would drop"):
        ol.asm(sq, 0.02, padding=4, window=w)
