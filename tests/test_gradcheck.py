"""gradcheck in float64 through propagation, DOE, Kerr layer, 4f and sensor (noise-free)."""
import torch
from torch.autograd import gradcheck

import optlib as ol
from optlib.elements import height_to_phase


def _field(t, g, wl=500e-9):
    return ol.Field(t, g, wl)


def test_gradcheck_asm_and_fresnel_wrt_field_and_distance():
    g = ol.Grid(8, 2e-6)
    u0 = torch.randn(8, 8, dtype=torch.complex128, requires_grad=True)
    for m in ("asm", "fresnel"):
        f = lambda u: ol.propagate(_field(u, g), 20e-6, method=m, check=False).u  # noqa: E731
        assert gradcheck(f, (u0,), eps=1e-6, atol=1e-6)
    z = torch.tensor(20e-6, dtype=torch.float64, requires_grad=True)
    fz = lambda z: ol.asm(_field(u0.detach(), g), z, check=False).intensity().sum(-1) * 1e0  # noqa: E731
    assert gradcheck(fz, (z,), eps=1e-9, atol=1e-5)


def test_gradcheck_fresnel1_and_rs():
    g = ol.Grid(6, 2e-6)
    u0 = torch.randn(6, 6, dtype=torch.complex128, requires_grad=True)
    assert gradcheck(lambda u: ol.fresnel1(_field(u, g), 1e-3, check=False).u, (u0,), eps=1e-6, atol=1e-6)
    assert gradcheck(lambda u: ol.rs(_field(u, g), 50e-6, check=False).u, (u0,), eps=1e-6, atol=1e-6)


def test_gradcheck_doe_heights_through_intensity():
    g = ol.Grid(8, 2e-6)
    h0 = (torch.rand(8, 8, dtype=torch.float64) * 1e-6).requires_grad_()
    wl = torch.tensor([450e-9, 600e-9], dtype=torch.float64)

    def f(h):
        phi = height_to_phase(h, "fused silica", wl)
        u = ol.Field(torch.polar(torch.ones_like(phi), phi), g, wl)
        return ol.asm(u, 30e-6, check=False).intensity()

    assert gradcheck(lambda h: f(h * 1e-6), (h0 * 1e6,), eps=1e-6, atol=1e-5)


def test_gradcheck_kerr_fourf_and_sensor():
    g = ol.Grid(8, 4e-6)
    u0 = torch.randn(8, 8, dtype=torch.complex128, requires_grad=True)
    kerr = ol.Kerr(2.0).double()
    assert gradcheck(lambda u: kerr(u), (u0,), eps=1e-6, atol=1e-6)
    four = ol.FourF(g, 550e-9, 10e-3).double()
    w = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda u: four(ol.Field(u, g, 550e-9)).u, (u0,), eps=1e-6, atol=1e-6)
    assert gradcheck(lambda w: ol.elements.kerr(u0.detach(), w), (w,), eps=1e-6, atol=1e-6)
    sensor = ol.Sensor(full_well=100.0, noise=None, quantize=False)
    img = (torch.rand(1, 8, 8, dtype=torch.float64) * 50).requires_grad_()
    assert gradcheck(lambda x: sensor(ol.pixel_integrate(x, 2, 1.0)), (img,), eps=1e-6, atol=1e-6)
    k = torch.rand(3, 3, dtype=torch.float64, requires_grad=True)
    assert gradcheck(lambda k: ol.fftconv2d(img.detach(), k), (k,), eps=1e-6, atol=1e-6)
