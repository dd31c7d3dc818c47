"""The thin-element PSF model (point sources -> DOE -> Fresnel -> pixels; Sitzmann et al.'s model), Wiener
deconvolution, and the Sitzmann chapter's elements: Airy pattern, the thin-lens depth equation, gradients,
sampling errors."""
import math

import pytest
import torch
from scipy.special import j1

import optlib as ol
import papers.sitzmann2018 as E
from optlib.elements import DOE, lens_height
from optlib.nn.deconv import psf_otf, wiener_deconv
from optlib.psf import check_thin_sampling, thin_element_psf
from optlib.sampling import SamplingError

G = ol.Grid(256, 2e-3 / 256)
AP = ol.circ(G, 1e-3).to(torch.float64)
Z = 35.5e-3


def psf_stack(h, g, ap, material, depths, wavelengths, z, psf_px=None, check=True, focus_depth=None):
    """The thin-element model of one height map in an aperture, on a psf_px window of the grid's samples."""
    doe = DOE(h, material, aperture=ap, grid=g)
    return thin_element_psf([doe], g, g.pixels(1, psf_px), z, wavelengths, depths, padding=1.5, check=check,
                            dtype=torch.complex128 if h.dtype == torch.float64 else torch.complex64)


def test_in_focus_lens_psf_is_airy_and_depth_obeys_the_lens_equation():
    h = lens_height(G, "fused silica", 550e-9, Z, 1.0, wrap=False, dtype=torch.float64)
    P = psf_stack(h, G, AP, "fused silica", [1.0], [550e-9], Z, psf_px=64, focus_depth=1.0)[0, 0]
    prof = (P[32, 32:35] / P[32, 32]).tolist()
    v = 2 * math.pi / 550e-9 * 1e-3 / Z * G.dx * torch.arange(1, 3, dtype=torch.float64)
    airy = [1.0] + ((2 * j1(v.numpy()) / v.numpy()) ** 2).tolist()
    assert prof == pytest.approx(airy, abs=3e-3)
    # a point at 0.5 m is out of focus at z, and in focus at z' with 1/z' = 1/z + 1/1 m - 1/0.5 m
    near = psf_stack(h, G, AP, "fused silica", [0.5], [550e-9], Z, psf_px=64, focus_depth=1.0)[0, 0]
    z2 = 1 / (1 / Z + 1 / 1.0 - 1 / 0.5)
    moved = psf_stack(h, G, AP, "fused silica", [0.5], [550e-9], z2, psf_px=64, focus_depth=1.0)[0, 0]
    assert float(near.max()) < 0.5 * float(P.max())
    assert float(moved.max()) == pytest.approx(float(P.max()) * (Z / z2) ** 2, rel=0.01)  # peak ~ 1/z^2


def test_fresnel_lens_is_chromatic_and_refractive_lens_nearly_not():
    fres = lens_height(G, "fused silica", 550e-9, Z, 1.0, wrap=True, dtype=torch.float64)
    lens = lens_height(G, "fused silica", 550e-9, Z, 1.0, wrap=False, dtype=torch.float64)
    wl = [460e-9, 550e-9, 640e-9]
    pf = psf_stack(fres, G, AP, "fused silica", [1.0], wl, Z, psf_px=64, focus_depth=1.0)[0].amax((-2, -1))
    pl = psf_stack(lens, G, AP, "fused silica", [1.0], wl, Z, psf_px=64, focus_depth=1.0)[0].amax((-2, -1))
    assert float(pf[1]) == pytest.approx(float(pl[1]), rel=1e-3)  # identical at the design wavelength
    assert float(pf[0]) < 0.1 * float(pl[0]) and float(pf[2]) < 0.1 * float(pl[2])


def test_psf_gradients_in_height_and_depth():
    g = ol.Grid(16, 2e-3 / 16)
    ap = ol.circ(g, 1e-3).to(torch.float64)
    h = (torch.rand(16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1e-7).requires_grad_()

    def f(h):
        return psf_stack(h, g, ap, "fused silica", [2.0], [550e-9], 1.0, psf_px=8, check=False)

    assert torch.autograd.gradcheck(f, (h,), eps=1e-10, atol=1e-6)
    d = torch.tensor([0.7], dtype=torch.float64, requires_grad=True)
    lens = lens_height(G, "fused silica", 550e-9, Z, 1.0, wrap=False, dtype=torch.float64)
    peak = lambda dd: psf_stack(lens, G, AP, "fused silica", dd, [550e-9], Z, psf_px=16, focus_depth=1.0)[0, 0, 8, 8]
    peak(d).backward()
    e = 1e-5
    fd = (float(peak(torch.tensor([0.7 + e], dtype=torch.float64))) - float(peak(torch.tensor([0.7 - e], dtype=torch.float64)))) / (2 * e)
    assert float(d.grad) == pytest.approx(fd, rel=1e-4)


def test_undersampled_element_is_refused_with_the_fix():
    coarse = ol.Grid(128, 2e-3 / 128)
    with pytest.raises(SamplingError, match="pitch <="):
        check_thin_sampling(coarse, 1e-3, [460e-9], Z, [0.5], 1.0)
    assert check_thin_sampling(G, 1e-3, [460e-9], Z, [0.5, 1000.0], 1.0) <= 1.0


def test_wiener_inverts_a_circular_blur_and_centres_the_psf():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 40, 48, dtype=torch.float64)
    delta = torch.zeros(3, 5, 5, dtype=torch.float64)
    delta[:, 2, 2] = 1
    assert torch.allclose(wiener_deconv(x, delta, 1e-12), x, atol=1e-9)
    yy, xx = torch.meshgrid(torch.arange(7) - 3, torch.arange(7) - 3, indexing="ij")
    psf = torch.exp(-(xx ** 2 + yy ** 2) / 2.0).double().expand(3, 7, 7)
    psf = psf / psf.sum((-2, -1), keepdim=True)
    blurred = torch.fft.irfft2(torch.fft.rfft2(x) * psf_otf(psf, (40, 48)), s=(40, 48))
    assert torch.allclose(wiener_deconv(blurred, psf, 1e-12), x, atol=1e-5)
    g = torch.tensor(1e-3, dtype=torch.float64, requires_grad=True)
    wiener_deconv(blurred, psf, g).sum().backward()
    assert torch.isfinite(g.grad)


def test_chapter_elements_start_from_their_lenses():
    import yaml
    from pathlib import Path
    p = yaml.safe_load((Path(__file__).parents[1] / "params" / "sitzmann2018" / "tiny.yaml").read_text())
    p.update(n_grid=256, pitch_um=2e3 / 256, aperture_mm=2.0, sensor_mm=Z * 1e3, focus_m=1.0, fourier_fraction=1.0)
    Gp = E.setup(p)
    lens_w = lens_height(Gp.grid, E.MATERIAL_DOE, 550e-9, Z, 1.0, wrap=True)
    doe = E.make_element("diffractive", Gp, p).eval()
    h = doe.height().detach()
    h2pi = doe.wrap
    diff = torch.remainder(h - lens_w + h2pi / 2, h2pi) - h2pi / 2  # compare modulo one period
    assert float(diff.abs().max()) < 1e-3 * h2pi
    lens_r = lens_height(Gp.grid, E.MATERIAL_REFRACTIVE, 550e-9, Z, 1.0, wrap=False)
    zern = E.make_element("zernike", Gp, p).eval()
    inside = Gp.aperture > 0.99
    err = (zern.height().detach() - lens_r)[inside]
    err = err - err.mean()
    assert float(err.abs().max()) < 0.01 * float(lens_r[inside].max() - lens_r[inside].min())


def test_authors_full_scale_padding_is_refused_and_the_full_set_is_not():
    # the chapter states that the authors' quarter-width padding drops power at full scale: check it
    import yaml
    from pathlib import Path
    full = yaml.safe_load((Path(__file__).parents[1] / "params" / "sitzmann2018" / "full.yaml").read_text())
    d = E.dry_run({**full, "padding": 1.5})
    assert not d["all_required_valid"] and "drop" in d["note"]
    assert E.dry_run(full)["all_required_valid"]


def test_learning_rate_candidates_are_chosen_on_held_out_training_photos(tmp_path, monkeypatch):
    """Experiment 2's learning rate is chosen on photos split off the training folder: the two parts never share a
    photo, the test photos are not among them, and a sweep without held-out photos is refused before training."""
    import yaml
    from pathlib import Path
    from optlib import data
    p = yaml.safe_load((Path(__file__).parents[1] / "params" / "sitzmann2018" / "tiny.yaml").read_text())
    fake = [tmp_path / f"{i:03d}.jpg" for i in range(12)]
    monkeypatch.setattr(data, "photo_paths", lambda name: list(fake))
    tr, va = E.training_photos(p)
    assert len(va) == p["n_val_photos"] > 0 and not set(tr) & set(va) and tr + va == fake
    assert E.training_photos({**p, "n_val_photos": 0}) == (fake, [])
    with pytest.raises(ValueError, match="leaves none"):
        E.training_photos({**p, "n_val_photos": 12})
    with pytest.raises(ValueError, match="n_val_photos > 0"):
        E.check({**p, "n_val_photos": 0})
    for bad in ([0.01, -0.1], [float("nan")], 0.02, [True]):
        with pytest.raises(ValueError, match="zernike_lr_candidates"):
            E.check({**p, "zernike_lr_candidates": bad})
    full = yaml.safe_load((Path(__file__).parents[1] / "params" / "sitzmann2018" / "full.yaml").read_text())
    E.check(full)
    assert full["zernike_lr_candidates"] == [] and full["train_photos"] != full["eval_photos"]
