"""All-optical super-resolution network (Kleiner et al. 2025): set-up numbers, energy bookkeeping, gradients."""

import pytest
import torch
from torch.autograd import gradcheck

import optlib as ol
import papers.kleiner2025 as aosr


def test_paper_setup_reproduces_input_cutoff_and_variants():
    s = aosr.paper_setup()
    assert s.n == 336 and s.grid.dx == 4e-6
    assert s.input_cutoff == pytest.approx(19345.2, abs=0.05)
    assert 1e6 / s.network_cutoff == pytest.approx(12.0, abs=1e-9)
    for arg, dx in ((100, 84.0), (150, 134.4), (200, 168.0)):
        assert 1e6 / aosr.paper_setup(arg).input_cutoff == pytest.approx(dx, abs=0.05)


def test_input_disc_matches_the_authors_construction():
    # authors: disc |f| < f0 on the 112-sample object grid (pitch 1/(112*4um)), zero-padded to 336 samples
    s = aosr.paper_setup()
    f0 = (1e-2 / 60) / (550e-9 * 1e-2)
    k = torch.arange(112) - 56
    ky, kx = torch.meshgrid(k, k, indexing="ij")
    disc112 = (torch.sqrt((kx / (112 * 4e-6)) ** 2 + (ky / (112 * 4e-6)) ** 2) / f0 < 1).float()
    authors = torch.nn.functional.pad(disc112, (112, 112, 112, 112))
    ours = aosr.NALowPass(s.grid, s.input_radius).stop
    assert torch.equal(ours, authors)


def _setup(n_units=3):
    return aosr.AOSRSetup(obj_px=24, pad=12, pixel=8e-6, input_radius=8000.0, mask_px=30, n_units=n_units)


def test_energy_ledger_closes_and_layers_are_lossless():
    s = _setup()
    torch.manual_seed(0)
    net = aosr.AOSRNN(s, seed=1).double()
    u = torch.randn(4, s.n, s.n, dtype=torch.complex128)
    entries, out = aosr.ledger(net, u)
    assert torch.allclose(out, net(u), rtol=1e-12)
    tot = aosr.energy_ledger(entries)
    rhs = tot["in"] - tot["fourier_loss"] - tot["support_loss"]
    assert torch.allclose(out.sum(dim=(-2, -1)), rhs, rtol=1e-10)
    assert float(tot["fourier_loss"].detach().min()) > 0 and float(tot["support_loss"].min()) > 0
    # with the whole grid open, masks and Kerr layers are lossless
    open_s = aosr.AOSRSetup(obj_px=48, pad=0, pixel=8e-6, input_radius=8000.0, mask_px=48, n_units=3)
    net2 = aosr.AOSRNN(open_s, seed=2).double()
    u2 = torch.randn(2, 48, 48, dtype=torch.complex128)
    assert torch.allclose(net2(u2).sum(dim=(-2, -1)), (u2.abs() ** 2).sum(dim=(-2, -1)), rtol=1e-12)


def test_identity_init_passes_the_input_and_random_init_does_not():
    s = aosr.AOSRSetup(obj_px=48, pad=0, pixel=8e-6, input_radius=8000.0, mask_px=48, n_units=3)  # all open
    u = torch.randn(2, s.n, s.n, dtype=torch.complex128)
    lin = aosr.AOSRNN(s, nonlinear=False, init="identity").double()
    assert torch.allclose(lin(u), u.abs() ** 2, atol=1e-12)
    rnd = aosr.AOSRNN(s, nonlinear=False, init="random").double()
    assert not torch.allclose(rnd(u), u.abs() ** 2, atol=1e-3)
    with pytest.raises(ValueError, match="init"):
        aosr.AOSRNN(s, init="ones")


def test_gradcheck_through_a_unit():
    s = aosr.AOSRSetup(obj_px=8, pad=4, pixel=8e-6, input_radius=8000.0, mask_px=10, n_units=1)
    unit = aosr.AOSRUnit(s, generator=torch.Generator().manual_seed(0)).double()
    u = torch.randn(1, s.n, s.n, dtype=torch.complex128, requires_grad=True)
    run = lambda x: unit(ol.Field(x, s.grid, s.wavelength)).u  # noqa: E731
    assert gradcheck(run, (u,), eps=1e-6, atol=1e-6)
    ph = unit[0].phase.detach().clone().requires_grad_()
    f = lambda p: torch.func.functional_call(unit, {"0.mask.phase": p}, (ol.Field(u.detach(), s.grid, s.wavelength),)).u.abs()  # noqa: E731
    assert gradcheck(f, (ph,), eps=1e-6, atol=1e-6)


def test_loss_is_scale_invariant_and_energy_term_rewards_light():
    s = _setup()
    obj = torch.rand(2, s.n, s.n)
    out = torch.rand(2, s.n, s.n)
    l1 = aosr.sr_loss(out, obj, s)
    assert float(aosr.sr_loss(3 * out, obj, s)) == pytest.approx(float(l1), rel=1e-6)  # max-normalised
    assert float(aosr.sr_loss(3 * out, obj, s, gamma=1e-3)) < float(aosr.sr_loss(out, obj, s, gamma=1e-3))


def test_width_and_effective_resolution_helpers():
    ps = [0.5, 1.0, 2.0, 4.0]
    # crossings at p = 0.75 (between 0.5 and 1) and p = 3 (between 2 and 4)
    assert aosr.intensity_width(ps, [10, 14, 14, 10], 12) == pytest.approx(3.0 - 0.75)
    assert aosr.intensity_width(ps, [10, 11, 11, 10], 12) == 0.0
    curve = ([1000.0, 2000.0, 3000.0], [10.0, 12.0, 14.0])
    assert aosr.effective_resolution(13.0, curve) == pytest.approx(1 / 2500.0)
    assert aosr.effective_resolution(20.0, curve) == pytest.approx(1 / 3000.0)


def test_d2nn_checks_its_sampling_and_detectors_are_disjoint():
    s = _setup()
    with pytest.raises(ol.SamplingError):
        aosr.D2NN(s, 1.0)  # 1 m between layers on a 288 um grid cannot be sampled
    m = aosr.detector_masks(s)
    assert m.shape[0] == 10 and float(m.sum(0).max()) == 1.0


def test_unknown_parameter_and_bad_dataset():
    import yaml
    from pathlib import Path
    p = yaml.safe_load((Path(__file__).parents[1] / "params" / "kleiner2025" / "tiny.yaml").read_text())
    with pytest.raises(KeyError, match="unknown kleiner2025 parameters"):
        aosr.setup({**p, "n_unit": 3})
    with pytest.raises(ValueError, match="third_dataset"):
        aosr.setup({**p, "third_dataset": "doodles"})
    # the training options that let `full` follow the authors' code: bad values are refused, not reinterpreted
    for key, bad, msg in (("micro_batch", 7, "dividing batch"), ("micro_batch", -10, "positive integer"),
                          ("micro_batch", 2.5, "positive integer"), ("micro_batch", True, "positive integer"),
                          ("data_order", "random", "data_order"), ("lr_step_unit", "epochs", "lr_step_unit"),
                          ("standard_gamma", float("nan"), "standard_gamma"), ("standard_gamma", -1e-6, "standard_gamma")):
        with pytest.raises(ValueError, match=msg):
            aosr.setup({**p, key: bad})
    full = yaml.safe_load((Path(__file__).parents[1] / "params" / "kleiner2025" / "full.yaml").read_text())
    aosr.setup(full)
    assert (full["data_order"], full["batch"] // full["micro_batch"], full["standard_gamma"]) == ("fixed", 4, 1e-6)


def test_every_intensity_robust_network_trains_up_to_its_own_maximum():
    """The paper's p <= 2, 4 and 8 networks (full.yaml) train on different intensity sets, each reaching its
    maximum (the authors' list stops at 4: a p <= 8 network built from it is the p <= 4 one); a maximum that is
    not a listed intensity is refused before any training."""
    import yaml
    from pathlib import Path
    for scale in ("tiny", "full"):
        p = yaml.safe_load((Path(__file__).parents[1] / "params" / "kleiner2025" / f"{scale}.yaml").read_text())
        sets = [tuple(aosr.ir_intensities(m)) for m in p["ir_max"]]
        assert [max(s) for s in sets] == p["ir_max"] and len(set(sets)) == len(sets)
    assert aosr.ir_intensities(4.0) == list(aosr.AUTHORS_IR_INTENSITIES)
    with pytest.raises(ValueError, match="ir_max 5 is not one of"):
        aosr.setup({**p, "ir_max": [2.0, 5.0]})


def test_polychromatic_network_reduces_to_the_monochromatic_one():
    s = _setup()
    mono = aosr.AOSRNN(s, seed=3).double()
    poly = aosr.PolyAOSRNN(s, [550e-9], seed=3).double()
    u = torch.randn(2, s.n, s.n, dtype=torch.complex128)
    assert torch.allclose(poly(u[:, None]), mono(u), atol=1e-10)
    # red sees the designed mask compressed in frequency: its aperture passes fewer samples than blue's
    p3 = aosr.PolyAOSRNN(s, [400e-9, 550e-9, 700e-9], seed=3)
    pup = p3.units[0][0].pupil(torch.tensor(p3.wavelengths))
    open_ = (pup.abs() > 0).sum(dim=(-2, -1)).tolist()
    assert open_[0] > open_[1] > open_[2]
    x = aosr.prepare_poly_inputs(torch.rand(2, s.n, s.n), s, [400e-9, 550e-9, 700e-9])
    assert x.shape == (2, 3, s.n, s.n)
    assert torch.allclose((x.abs() ** 2).sum(), ((x.abs() ** 2).sum(dim=1)).sum())


def test_metric_conventions_follow_their_definitions():
    """``authors``: the PSNR of each test batch of 10 images, averaged over batches (whatever chunk size the
    evaluation uses), SSIM reflect-padded; ``per_image``: the mean of per-image PSNRs. Computed here directly
    from the outputs; an unknown convention is refused."""
    import math
    from optlib.metrics import ssim
    s = _setup()
    torch.manual_seed(3)
    objects = torch.nn.functional.pad(torch.rand(23, s.obj_px, s.obj_px, dtype=torch.float64), (s.pad,) * 4)
    inputs = aosr.prepare_inputs(objects, aosr.NALowPass(s.grid, s.input_radius))
    net = aosr.AOSRNN(s, seed=1).double()
    with torch.no_grad():
        o = aosr.normalised(net(inputs), s)
    t = s.crop(objects)
    mse = ((o - t) ** 2).mean(dim=(-2, -1))
    per_image = float((10 * torch.log10(1 / mse)).mean())
    authors = sum(10 * math.log10(1 / float(mse[i:i + 10].mean())) for i in range(0, 23, 10)) / 3
    for chunk in (200, 7, 30):
        a = aosr.evaluate_sr(net, inputs, objects, s, batch=chunk)
        assert a["psnr"] == pytest.approx(authors, abs=1e-6)
        assert a["ssim"] == pytest.approx(float(ssim(o, t, padding="reflect")), rel=1e-6)
    b = aosr.evaluate_sr(net, inputs, objects, s, convention="per_image")
    assert b["psnr"] == pytest.approx(per_image, abs=1e-9) and b["energy"] == pytest.approx(a["energy"], rel=1e-12)
    assert abs(a["psnr"] - b["psnr"]) > 1e-3  # the two differ on these outputs
    with pytest.raises(ValueError, match="convention"):
        aosr.evaluate_sr(net, inputs, objects, s, convention="per_batch")
