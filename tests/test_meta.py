"""Metasurface kernels, fitting elements to kernels (DKO), the RCWA cell library and the depth networks
(optlib.meta, optlib.nn.depth, papers.dko)."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from scipy.special import j1

from optlib import SamplingError
from optlib.meta import CellDesign, CellLibrary, KernelOptics, cells
from optlib.meta import fit as dko
import papers.dko as X
from optlib.nn.depth import (RESNET18_FC_PARAMETERS, DepthNet, OpticalConv2d, ResNetConfig, count_parameters)

WL3 = [635e-9, 532e-9, 450e-9]


def test_lens_phase_gives_airy_pattern():
    o = KernelOptics()
    wl = 532e-9
    u = torch.linspace(-40e-6, 40e-6, 161, dtype=torch.float64)
    I = o.sensor_intensity(o.lens_phase(wl, dtype=torch.float64), wl, u)[80].numpy()
    v = 2 * math.pi * o.radius * np.abs(u.numpy()) / (wl * o.z)
    airy = np.where(v > 0, (2 * j1(np.maximum(v, 1e-12)) / np.maximum(v, 1e-12)) ** 2, 1.0)
    assert np.abs(I / I.max() - airy).max() < 0.01
    # absolute peak: (pi R^2 / (lambda z))^2 for unit incident irradiance
    assert I.max() == pytest.approx((math.pi * o.radius ** 2 / (wl * o.z)) ** 2, rel=2e-3)


def test_kernel_power_is_the_fraction_through_the_aperture():
    # a flat phase in the near field (Fresnel number ~20) casts the aperture's shadow: a window wider than the
    # shadow collects all the light (matrix-DFT normalisation); on the axis, the Fresnel integral of a disc
    # gives I(0) = 4 sin^2(pi R^2 / (2 lambda z)) (R from the sampled aperture's area)
    o = KernelOptics(taps=31, pixel=37.5e-6)
    flat = torch.zeros(1, o.n, o.n, dtype=torch.float64)
    k = o.kernels(flat, [532e-9])
    assert float(k.sum()) == pytest.approx(1.0, abs=5e-3)
    r_eff2 = float(o.aperture().sum()) * o.pitch ** 2 / math.pi
    i0 = float(o.sensor_intensity(flat[0], 532e-9, torch.zeros(1, dtype=torch.float64))[0, 0])
    assert i0 == pytest.approx(4 * math.sin(math.pi * r_eff2 / (2 * 532e-9 * o.z)) ** 2, abs=0.03)


def test_fresnel_matches_band_limited_asm():
    fr = KernelOptics()
    asm = KernelOptics(method="asm", padding=4.0)
    g = torch.Generator().manual_seed(0)
    for wl in WL3:
        ph = fr.lens_phase(wl, dtype=torch.float64, exact=True) + 0.5 * torch.randn(fr.n, fr.n, generator=g,
                                                                                  dtype=torch.float64)
        a, b = fr.kernels(ph, wl), asm.kernels(ph, wl)
        a0, b0 = a - a.mean(), b - b.mean()
        assert float((a0 * b0).sum() / torch.sqrt((a0 ** 2).sum() * (b0 ** 2).sum())) > 0.999
        assert float(a.sum()) == pytest.approx(float(b.sum()), rel=0.01)


def test_sampling_mistakes_raise_with_the_fix():
    with pytest.raises(SamplingError, match="method='asm'"):
        KernelOptics(n=1025).check(WL3)                           # the paper's scale: chirp undersampled
    KernelOptics(n=1025, method="asm", padding=2.0).check(WL3)   # ... the angular spectrum is valid
    with pytest.raises(SamplingError, match="odd"):
        KernelOptics(method="asm", pixel=35e-6).check(WL3)       # 14 samples per pixel
    with pytest.raises(SamplingError, match="asm"):
        KernelOptics(method="asm", padding=2.0).check(WL3)       # 514 padded: z > N_p d^2 / lambda
    with pytest.raises(ValueError, match="odd"):
        KernelOptics(n=256)
    with pytest.raises(ValueError, match="metres"):
        KernelOptics(z=10.0)


def test_kernel_gradcheck_float64():
    o = KernelOptics(n=9, pitch=2.5e-6, z=1e-3, pixel=5e-6, taps=3, oversample=3)
    ph = torch.randn(2, 9, 9, dtype=torch.float64, requires_grad=True)
    wl = torch.tensor([532e-9, 635e-9], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: o.kernels(p, wl), (ph,), eps=1e-6, atol=1e-7)


def test_chunked_checkpointed_kernels_equal_one_batch():
    o1, o2 = KernelOptics(n=33, pixel=12.5e-6, chunk=64), KernelOptics(n=33, pixel=12.5e-6, chunk=2)
    ph = torch.randn(5, 33, 33, dtype=torch.float64, requires_grad=True)
    wl = torch.tensor(WL3 + WL3[:2], dtype=torch.float64)
    k1 = o1.kernels(ph, wl)
    g1, = torch.autograd.grad(k1.pow(2).sum(), ph)
    k2 = o2.kernels(ph, wl)
    g2, = torch.autograd.grad(k2.pow(2).sum(), ph)
    assert torch.allclose(k1, k2, rtol=1e-12, atol=0) and torch.allclose(g1, g2, rtol=1e-10, atol=1e-18)


def test_targets_compose_round_trip_and_orientation():
    W = torch.randn(4, 3, 7, 7, dtype=torch.float64)
    T, alpha = dko.targets(W, 0.8)
    assert T.shape == (24, 7, 7) and bool((T >= 0).all())
    assert torch.allclose(dko.compose(T, 1 / alpha), W, atol=1e-12)
    # the brightest of each channel's six elements carries `efficiency` of the light
    assert torch.allclose(T.sum((-2, -1)).reshape(4, 6).amax(1), torch.full((4,), 0.8, dtype=torch.float64))
    # an optical kernel is the weight rotated by 180 degrees (convolution vs correlation)
    Wd = torch.zeros(1, 3, 7, 7, dtype=torch.float64)
    Wd[0, 0, 1, 5] = 1.0
    Td, _ = dko.targets(Wd, 1.0)
    assert float(Td[0, 5, 1]) == 1.0


def test_dko_fit_reaches_targets_chunk_and_resume_independent(tmp_path):
    torch.manual_seed(0)
    o = KernelOptics(n=97, z=5e-3, pixel=25e-6)                  # diffraction spot ~11 um < pixel
    W = torch.randn(2, 3, 7, 7) * 0.1
    T, alpha = dko.targets(W, 0.6)
    wl = dko.element_wavelengths(2, WL3)
    loss = X.objective(o, T, wl)
    init = lambda els: dko.initial_phase(o, wl, 0, elements=els)  # noqa: E731
    key = X.fit_key(o, T, wl, 0)

    def run(**kw):
        return dko.fit_elements(loss, init, len(wl), 120, 0.2, progress=False, key=key, **kw)

    a = run()
    k = o.kernels(a["phase"], wl)
    m = dko.kernel_metrics(dko.unit_kernels(k, alpha), dko.unit_kernels(T, alpha))
    assert m["ncc"] > 0.95 and a["history"][-1] < 0.05 * a["history"][0]
    b = run(chunk=5, checkpoint_dir=str(tmp_path))
    assert torch.equal(a["phase"], b["phase"])                  # elements are independent
    assert len(list(tmp_path.glob("chunk_*.pt"))) == 3
    c = run(chunk=5, checkpoint_dir=str(tmp_path))
    assert torch.equal(a["phase"], c["phase"])                  # resumed from the chunk files
    # a rerun into the same folder with other settings must not mix two runs
    with pytest.raises(ValueError, match="other settings"):
        dko.fit_elements(loss, init, len(wl), 120, 0.2, progress=False, key=X.fit_key(o, T * 0.9, wl, 0), chunk=5,
                         checkpoint_dir=str(tmp_path))
    with pytest.raises(ValueError, match="other settings"):
        dko.fit_elements(loss, init, len(wl), 60, 0.2, progress=False, key=key, chunk=5, checkpoint_dir=str(tmp_path))


def test_kernel_metrics_perfect_and_offset():
    t = torch.rand(6, 7, 7)
    m = dko.kernel_metrics(t, t)
    assert m["ncc"] == pytest.approx(1.0) and m["rmse"] == 0 and m["mae"] == 0
    m2 = dko.kernel_metrics(t + 0.01, t)                         # NCC cannot see an offset; RMSE can
    assert m2["ncc"] == pytest.approx(1.0) and m2["rmse"] == pytest.approx(0.01, rel=1e-4)


def test_parameter_counts_of_the_paper():
    c = X.parameter_counts(1025, 64)
    assert c["dko_per_element"] == 1_050_625 and c["optical_layer"] == 403_440_000
    assert c["electronic_first_layer"] == 9_408 and c["elements"] == 384


def test_rcwa_matches_thin_film_formula():
    from optlib import materials
    d = CellDesign(order=3, nx=32)
    for wl in WL3:
        n1 = materials.get(d.substrate).n(wl)
        for n2 in (cells.SI3N4.n(wl), 1.0, 1.5):
            t = cells.rcwa_transmission(d, None, wl, fill_permittivity=n2 ** 2)
            ta = cells.thin_film_transmission(n1, n2, 1.0, d.height, wl)
            assert abs(t - ta) < 1e-6


def test_cell_library_cache_inverse_and_bad_cache(tmp_path):
    d = CellDesign(order=3, nx=32, n_widths=17)
    lib = CellLibrary.build(WL3, d, cache_dir=tmp_path, progress=False)
    files = list(tmp_path.glob("cells_*.json"))
    assert len(files) == 1
    again = CellLibrary.build(WL3, d, cache_dir=tmp_path, progress=False)
    assert torch.equal(lib.t, again.t)
    assert bool((lib.coverage() >= 1.0).all())                  # every phase reachable at every band
    assert float((lib.t.abs() ** 2).median()) > 0.9               # resonances may dip at a few widths
    ph = torch.linspace(-3 * math.pi, 3 * math.pi, 37, dtype=torch.float64, requires_grad=True)
    wl = torch.full((1,), 532e-9, dtype=torch.float64)
    w = lib.width_for_phase(ph[None], wl)
    assert bool(((w >= d.width_min - 1e-15) & (w <= d.width_max + 1e-15)).all())
    w.sum().backward()
    assert bool((ph.grad > 0).all())                             # differentiable, monotone
    t = lib.transmission_for_width(w.detach(), wl)
    err = torch.remainder(torch.angle(t) - ph.detach() + math.pi, 2 * math.pi) - math.pi
    assert float(err.abs().max()) < 0.05
    files[0].write_text("{not json")
    with pytest.raises(ValueError, match="delete it"):
        CellLibrary.build(WL3, d, cache_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="not in the library"):
        lib.width_for_phase(ph[None].detach(), torch.tensor([600e-9]))


def test_monodepth2_sized_network_has_the_papers_parameter_count():
    net = DepthNet(ResNetConfig.resnet18())
    assert count_parameters(net.encoder) == 11_176_512
    assert count_parameters(net.decoder) == 3_152_724
    assert round((count_parameters(net) + RESNET18_FC_PARAMETERS) / 1e6, 2) == 14.84
    assert net.encoder.conv1.weight.shape == (64, 3, 7, 7)


def test_depth_net_output_and_input_check():
    net = DepthNet(ResNetConfig(), min_depth=1.0, max_depth=80.0).eval()
    with torch.no_grad():
        d = net(torch.rand(2, 3, 64, 96))
    assert d.shape == (2, 1, 64, 96) and float(d.min()) >= 1.0 and float(d.max()) <= 80.0
    with pytest.raises(ValueError, match="multiples of 32"):
        net(torch.rand(1, 3, 60, 96))


def test_optical_conv_layer_is_the_composed_weight():
    o = KernelOptics(n=33, pixel=12.5e-6)
    L = 2
    wl = dko.element_wavelengths(L, WL3)
    ph = torch.randn(6 * L, 33, 33)
    gain = torch.tensor([3.0, -2.0])
    layer = OpticalConv2d(o, ph, wl, gain)
    x = torch.rand(1, 3, 20, 20)
    w = dko.compose(o.kernels(ph, wl), gain)
    assert torch.allclose(layer(x), torch.nn.functional.conv2d(x, w, stride=2, padding=3), atol=1e-6)
    tr = OpticalConv2d(o, ph, wl, gain, trainable=True)
    tr(x).sum().backward()
    assert tr.phase.grad is not None and float(tr.phase.grad.abs().sum()) > 0


def test_torchrun_sharded_fit_equals_single_process(tmp_path):
    import yaml
    params = yaml.safe_load(open(os.path.join(os.path.dirname(__file__), "..", "params", "dko", "tiny.yaml")))
    params.update(element_n=33, pixel_um=12.5, dko_iterations=20, first_channels=1)
    pf = tmp_path / "p.yaml"
    pf.write_text(yaml.safe_dump(params))
    torch.manual_seed(0)
    torch.save(torch.randn(1, 3, 7, 7) * 0.1, tmp_path / "w.pt")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    args = ["-m", "papers.dko", "fit", "--weight", str(tmp_path / "w.pt"), "--params", str(pf), "--no-progress"]
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29541"]
                   + args + ["--out", str(tmp_path / "two")], check=True, env=env, timeout=240, capture_output=True)
    subprocess.run([sys.executable] + args + ["--out", str(tmp_path / "one")], check=True, env=env, timeout=120,
                   capture_output=True)
    a = torch.load(tmp_path / "two" / "phases.pt", weights_only=True)
    b = torch.load(tmp_path / "one" / "phases.pt", weights_only=True)
    assert torch.equal(a["phase"], b["phase"]) and torch.allclose(a["loss"], b["loss"])
    assert len(list((tmp_path / "two").glob("chunk_*.pt"))) == 2    # one chunk per rank


def test_fit_cli_rejects_bad_input(tmp_path):
    (tmp_path / "p.yaml").write_text("element_n: 33\nfoo: 1\n")
    torch.save(torch.randn(1, 3, 7, 7), tmp_path / "w.pt")
    r = subprocess.run([sys.executable, "-m", "papers.dko", "fit", "--weight", str(tmp_path / "w.pt"), "--params",
                        str(tmp_path / "p.yaml"), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode != 0 and "unknown parameters" in r.stderr


def test_initial_phase_of_a_subset_equals_the_rows_of_the_whole():
    o = KernelOptics(n=33, pixel=12.5e-6)
    wl = dko.element_wavelengths(2, WL3)
    whole = dko.initial_phase(o, wl, seed=3)
    part = dko.initial_phase(o, wl, seed=3, elements=range(4, 9))
    assert torch.equal(whole[4:9], part) and not torch.equal(whole[0], whole[1])
