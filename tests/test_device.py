"""Device cleanliness without a GPU (issue 16.1): each chapter's forward model runs one forward and backward at a
toy size on tensors that report another device (tests/devicecheck.py); a tensor made on a fixed device inside
it, or a module attribute that ``.to(device)`` does not move, fails as it would on a GPU.

The compositions below are the chapters' forward models (the notebooks show them) on the same public parts.
"""
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import optlib as ol
import papers
import papers.dko as X
import papers.kleiner2025 as aosr
import papers.sitzmann2018 as S18
from devicecheck import DeviceLeak, OtherDevice, module_to_other, on_other_device
from optlib.meta import KernelOptics
from optlib.meta import fit as kfit
from optlib.nn.depth import DepthNet, OpticalConv2d, ResNetConfig

ROOT = Path(__file__).resolve().parents[1]


def on_device(t):
    assert isinstance(t, OtherDevice) and t.device == torch.device("meta"), type(t)


def test_the_check_catches_a_tensor_made_on_a_fixed_device():
    class Leaky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(4))
            self.offset = torch.ones(4)  # a plain attribute: .to(device) leaves it behind

        def forward(self, x, hidden=False):
            return x * self.w + (torch.ones(4) if hidden else self.offset.to(x.device))

    m = module_to_other(Leaky())
    with on_other_device() as dev:
        x = torch.rand(4).to(dev)
        m(x).sum().backward()  # moved explicitly: fine
        on_device(m.w.grad)
        with pytest.raises(DeviceLeak, match="CPU tensor"):
            m(x, hidden=True)
        with pytest.raises(DeviceLeak, match="CPU tensor"):
            x + m.offset
        x * torch.tensor(2.0) + x[torch.tensor([0, 1, 2, 3])]  # what a GPU accepts: CPU scalars and indices


def test_foundations_fields_propagators_and_elements():
    """Chapter 00: a Field through a lens, the angular spectrum and the matrix DFT, on the other device."""
    g = ol.Grid(64, 4e-6)
    with on_other_device() as dev:
        u = torch.rand(64, 64, dtype=torch.complex64).to(dev).requires_grad_(True)
        f = ol.Field(u, g, 550e-9)
        disc = module_to_other(ol.Aperture(ol.circ(g, 100e-6), grid=g))  # a mask buffer, moved with the module
        out = ol.asm(ol.Aperture(radius=100e-6)(disc(ol.ThinLens(50e-3, check=False)(f))), 2e-3)
        out2 = ol.focal_plane(f, 5e-3, ol.Grid(16, 10e-6))
        (out.u.abs().square().sum() + out2.u.abs().square().sum()).backward()
        on_device(u.grad)


def test_sitzmann2018_thin_element_model():
    """Chapter 01: element (fabrication noise) -> point-source PSFs over depth and colour -> convolution -> read
    noise -> Wiener filter, for the diffractive and the Zernike element."""
    p = papers.read_param_file("sitzmann2018", ROOT / "params" / "sitzmann2018" / "tiny.yaml")
    G = S18.setup(p)
    for kind in ("diffractive", "zernike"):
        el = module_to_other(S18.make_element(kind, G, p)).train()
        wiener = module_to_other(ol.nn.WienerDeconv(0.01, channels=len(G.wavelengths)))
        gen = torch.Generator().manual_seed(0)
        el.generator = gen
        with on_other_device() as dev:
            img = torch.rand(2, 3, 64, 64).to(dev)
            P = G.psfs(el.realised(), [G.depths[0], G.depths[-1]], check=False)
            blurred = ol.fftconv2d(img, P[0].to(img.dtype))
            noisy = blurred + 0.01 * ol.train.randn(blurred.shape, blurred, gen)
            rec = wiener(noisy, P[1].to(img.dtype))
            S18.loss_fn(rec, img, 8).backward()
            on_device(rec)
            assert all(isinstance(q.grad, OtherDevice) for q in el.parameters() if q.requires_grad)


def _aosr_setup():
    return aosr.AOSRSetup(obj_px=24, pad=12, pixel=8e-6, input_radius=8000.0, mask_px=30, n_units=2)


@pytest.mark.parametrize("net", ["AOSRNN", "D2NN", "PolyAOSRNN"])
def test_kleiner2025_networks_and_classifier(net):
    """Chapter 02: low-pass input fields -> 4f units with Kerr layers (or a D2NN) -> intensity -> the SR loss and
    the detector classifier."""
    s = _aosr_setup()
    make = {"AOSRNN": lambda: aosr.AOSRNN(s, seed=0, init="random"),
            "D2NN": lambda: aosr.D2NN(s, 1e-4, seed=0, init="random"),
            "PolyAOSRNN": lambda: aosr.PolyAOSRNN(s, [500e-9, 550e-9, 600e-9], seed=0, init="random")}[net]
    model = module_to_other(make())
    with on_other_device() as dev:
        obj = F.pad(torch.rand(3, s.obj_px, s.obj_px), (s.pad,) * 4).to(dev)
        if net == "PolyAOSRNN":
            inp = aosr.prepare_poly_inputs(obj, s, [500e-9, 550e-9, 600e-9])
        else:
            inp = aosr.prepare_inputs(obj, aosr.NALowPass(s.grid, s.input_radius))
        out = model(inp * math.sqrt(2.0))
        loss = aosr.sr_loss(out if out.dim() == 3 else out.sum(1), obj, s, 0.01)
        masks = aosr.detector_masks(s).to(dev)
        if net == "AOSRNN":
            loss = loss + F.cross_entropy(aosr.class_logits(out, masks), torch.tensor([1, 2, 3]).to(dev))
        loss.backward()
        on_device(out)


@pytest.mark.parametrize("realised", [False, True])
def test_dko_optical_first_layer_in_the_depth_network(realised):
    """Chapter 03: element phases (and a realised geometry's transmission) -> kernels -> the optical first layer
    of the depth network -> the log-depth loss, end to end."""
    o = KernelOptics(n=33, z=5e-3, pixel=25e-6)
    L = 4
    wl = kfit.element_wavelengths(L, [635e-9, 532e-9, 450e-9])
    phase = kfit.initial_phase(o, wl, seed=1)
    trans = torch.rand(phase.shape) if realised else None
    layer = OpticalConv2d(o, phase, wl, torch.ones(L), trainable=True, transmission=trans)
    base = DepthNet(ResNetConfig(first=L, widths=(4, 4, 4, 4), decoder=(4, 4, 4, 4, 4)), min_depth=1.0,
                    max_depth=40.0)
    net = module_to_other(X.with_first_layer(base, layer))
    with on_other_device() as dev:
        x, d = torch.rand(2, 3, 64, 64).to(dev), (1 + 39 * torch.rand(2, 1, 64, 64)).to(dev)
        X.depth_loss(net(x), d, 40.0).backward()
        on_device(net.encoder.conv1.phase.grad)


def test_ho2024_ray_and_wave_psfs_of_a_lens_with_learnt_curvatures():
    """Chapter 04: rays on the pupil -> traced -> the exit-pupil sphere -> pupil sum / Huygens sum / ray
    histogram, differentiated in the curvatures; and a float lens moved with ``lens.to(device)``."""
    lens0 = ol.rays.library("cooke_triplet").scaled(0.1)
    wl, a, ang = 587.6e-9, 0.1e-3, math.radians(10)
    with on_other_device() as dev:
        curv = torch.tensor([float(s.c) for s in lens0.surfaces], dtype=torch.float64).to(dev).requires_grad_(True)
        lens = ol.rays.SequentialLens([ol.rays.Surface(s.z, s.semi_diameter, curv[j], s.k, s.coeffs, s.stop)
                                       for j, s in enumerate(lens0.surfaces)], [m.name for m in lens0.materials],
                                      lens0.sensor_z)
        assert lens.device == dev
        pr = ol.psf.pupil_rays(lens, wl, ang, n_side=32, convention="paraxial", radius=a)
        w = pr.window(ol.Grid(33, 0.5e-6))
        p1, p2 = ol.psf.pupil_psf(pr, w), ol.psf.huygens_psf(pr, w)
        p3 = ol.psf.ray_psf(lens, wl, w, ang, n_side=32, convention="paraxial", radius=a)
        ((p1 - p2).square().sum() + p3.sum() + lens.paraxial(wl, differentiable=True)["f_number"]).backward()
        on_device(curv.grad)
        moved = lens0.to(dev)
        assert moved.device == dev and lens0.device == torch.device("cpu")
        import yaml
        from pathlib import Path
        import papers.ho2024 as H
        p = yaml.safe_load((Path(__file__).resolve().parents[1] / "params" / "ho2024" / "tiny.yaml").read_text())
        S = H.setup(p, device=dev)  # the chapter's lenses, on its device
        assert {S.cooke.device, S.singlet.device, S.asph.device} == {dev}
        on_device(ol.psf.pupil_psf(ol.psf.pupil_rays(moved, wl, 0.0, n_side=32, convention="paraxial", radius=a),
                                   ol.Grid(17, 0.5e-6)))


def test_raywave_model_with_a_doe():
    """Chapter 05's model (Yang et al.): rays to a plane -> a Field (the splat) -> a DOE -> the tilted angular
    spectrum to the sensor -> pixels, differentiated in the DOE's heights."""
    from optlib.elements import DOE, phase_to_height
    wl = 587.5618e-9
    n = ol.materials.get("N-BK7").n(wl)
    lens0 = ol.rays.SequentialLens.from_rows([(math.inf, 5.0, "N-BK7", 1.0, 0, (), True),
                                              (-(n - 1) * 50.0, 0.0, "air", 6.0, -n ** 2)], 50.0)
    dg = ol.Grid(220, 12e-6)
    with on_other_device() as dev:
        lens = lens0.to(dev)
        h = phase_to_height(torch.zeros(dg.shape, dtype=torch.float64), "fused silica", wl).to(dev)
        h.requires_grad_(True)
        doe = DOE(h, "fused silica", grid=dg, z=5.1e-3)
        g = ol.Grid(9, 12e-6).at(lens.chief_hit(wl))
        psf = ol.psf.raywave_psf(lens, wl, g, dx=12e-6, window=200, plane_z=5.1e-3, n_side=200, doe=doe)
        psf.sum().backward()
        on_device(psf)
        on_device(h.grad)


def test_ho2024_freeform_measurement_and_its_gradient():
    """Chapter 04, Figs. 14-15: parallel rays through a plate with a freeform face (B-spline, mesh, the exact
    bumps) -> the Field they carry -> the angular spectrum to the sensor, differentiated in the control points."""
    import papers.ho2024 as H
    wl, size, window, n = 550e-9, 0.24e-3, 0.3e-3, 32
    bumps = H.GaussianBumps(size, 3, 0.05, torch.Generator().manual_seed(0))
    nodes, pitch, origin = bumps.nodes(6)
    with on_other_device() as dev:
        ctrl = ol.rays.BSplineHeight.interpolating(nodes.to(dev), pitch, origin).control.detach().requires_grad_(True)
        for height in (ol.rays.BSplineHeight(ctrl, pitch, origin), ol.rays.MeshHeight(nodes.to(dev), pitch, origin),
                       bumps):
            lens = H.freeform_plate(height, 0.5e-3)
            rays = H.plate_beam(lens, wl, size, H.freeform_rays_per_side(size, window, n), math.radians(5),
                                device=dev)
            out = lens.trace(rays, to_sensor=False).to_plane(0.5e-3 + H.FF_CONVERSION_GAP)
            f = ol.rays.to_field(out, ol.Grid((n, n), window / n), carrier=ol.rays.carrier_of(rays.d[0], wl),
                                 check=False)
            img = ol.propagation.asm(f, 0.5e-3, check=False).intensity()
            on_device(img)
            if img.requires_grad:
                img.sum().backward()
        on_device(ctrl.grad)


def test_yang2024_models_on_the_doe_plane():
    """Chapter 05: the ray-wave field on the DOE plane, the paraxial and pupil-aberration fields built on its
    grid, each through a DOE and the angular spectrum to the pixels, on the chapter's device."""
    import yaml
    import papers.yang2024 as Y
    p = yaml.safe_load((Path(__file__).resolve().parents[1] / "params" / "yang2024" / "tiny.yaml").read_text())
    p.update(n_side=160, window=400, dx_um=1, psf_n=15)
    with on_other_device() as dev:
        S = Y.setup(p, device=dev)
        assert S.lens.device == dev
        f = math.radians(5)
        sensor = Y.sensor_window(S, f)
        dg = ol.Grid(300, 1e-6)
        h = torch.zeros(dg.shape, dtype=torch.float64).to(dev).requires_grad_(True)
        doe = ol.DOE(h, "fused silica", grid=dg, z=Y.DOE_Z)
        E, _ = ol.psf.raywave_field(S.lens, S.wavelength, sensor, S.dx, S.window, Y.DOE_Z, source=Y.source(S, f),
                                    n_side=S.n_side, check=False)
        total = Y.to_sensor(E, doe, S.lens, sensor).sum()
        for kind in ("paraxial", "zernike"):
            Em, _ = Y.model_field(E, S, f, kind, n_terms=10, n_side=32)
            on_device(Em.u)
            total = total + Y.to_sensor(Em, doe, S.lens, sensor).sum()
        total.backward()
        on_device(h.grad)
