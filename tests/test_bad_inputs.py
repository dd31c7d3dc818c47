"""Bad numeric arguments at the public entry points get a clear error naming the argument, never a silent NaN
or another answer (issue 14, item 6); the other entry points' bad inputs have their own tests."""
import math

import pytest
import torch

import optlib as ol

NAN, INF = float("nan"), float("inf")
G = ol.Grid(32, 1e-6)
U = ol.Field(torch.ones(32, 32, dtype=torch.complex64), G, 500e-9)

CASES = [
    ("asm z NaN", lambda: ol.asm(U, NAN), ValueError, "z"),
    ("asm z inf", lambda: ol.asm(U, INF), ValueError, "z"),
    ("asm padding NaN", lambda: ol.asm(U, 1e-5, padding=NAN), ValueError, "padding"),
    ("asm padding < 1", lambda: ol.asm(U, 1e-5, padding=0.5), ValueError, "padding"),
    ("asm medium index 0", lambda: ol.asm(U, 1e-5, n=0.0), ValueError, "n"),
    ("fresnel1 z 0", lambda: ol.fresnel1(U, 0.0), ValueError, "z"),
    ("focal_plane f 0", lambda: ol.focal_plane(U, 0.0), ValueError, "focal_length"),
    ("focal_plane f NaN", lambda: ol.focal_plane(U, NAN), ValueError, "focal_length"),
    ("rs z NaN", lambda: ol.rs(U, NAN), ValueError, "z"),
    ("propagate z NaN", lambda: ol.propagate(U, NAN), ValueError, "z"),
    ("propagate unknown method", lambda: ol.propagate(U, 1e-3, method="bpm"), ValueError, "bpm"),
    ("Field wavelength NaN", lambda: ol.Field(torch.ones(32, 32), G, NAN), ValueError, "wavelength"),
    ("Field wavelength inf", lambda: ol.Field(torch.ones(32, 32), G, INF), ValueError, "wavelength"),
    ("Field wavelength in nm", lambda: ol.Field(torch.ones(32, 32), G, 550.0), ValueError, "metres"),
    ("Field carrier NaN", lambda: ol.Field(torch.ones(32, 32), G, 5e-7, carrier=(NAN, 0.0)), ValueError, "carrier"),
    ("Grid pitch NaN", lambda: ol.Grid(32, NAN), ValueError, "pitch"),
    ("Grid pitch 0", lambda: ol.Grid(32, 0.0), ValueError, "pitch"),
    ("Grid origin inf", lambda: ol.Grid(32, 1e-6, origin=(INF, 0.0)), ValueError, "origin"),
    ("circ radius NaN", lambda: ol.circ(G, NAN), ValueError, "radius"),
    ("circ radius 0", lambda: ol.circ(G, 0.0), ValueError, "radius"),
    ("rect width NaN", lambda: ol.rect(G, NAN), ValueError, "width"),
    ("gaussian waist 0", lambda: ol.gaussian_beam(G, 0.0), ValueError, "waist"),
    ("thin_lens f 0", lambda: ol.thin_lens(G, 0.0, 500e-9), ValueError, "focal length"),
    ("thin_lens f NaN", lambda: ol.thin_lens(G, NAN, 500e-9), ValueError, "focal length"),
    ("thin_lens wavelength NaN", lambda: ol.thin_lens(G, 1e-2, NAN), ValueError, "wavelength"),
    ("ThinLens f NaN", lambda: ol.ThinLens(NAN), ValueError, "focal length"),
    ("point source distance NaN", lambda: ol.point_source(G, NAN, 500e-9), ValueError, "distance"),
    ("point source distance 0", lambda: ol.point_source(G, 0.0, 500e-9), ValueError, "distance"),
    ("plane wave angle NaN", lambda: ol.plane_wave(G, 500e-9, NAN), ValueError, "angle"),
    ("plane wave angle 90 deg", lambda: ol.plane_wave(G, 500e-9, math.pi / 2), ValueError, "angle"),
    ("Kerr weight NaN", lambda: ol.Kerr(NAN), ValueError, "Kerr weight"),
    ("material index at NaN", lambda: ol.materials.get("N-BK7").n(NAN), ValueError, "wavelength"),
    ("material index in nm", lambda: ol.materials.get("N-BK7").n(550.0), ValueError, "metres"),
    ("planner z NaN", lambda: ol.plan_propagation(G, 500e-9, NAN), ValueError, "z"),
    ("planner wavelength 0", lambda: ol.plan_propagation(G, 0.0, 1e-3), ValueError, "wavelength"),
    ("DOE negative wrap", lambda: ol.DOE(torch.zeros(32, 32), grid=G, wrap=-1e-6), ValueError, "wrap"),
    ("DOE without a grid", lambda: ol.DOE(torch.zeros(32, 32)), ValueError, "grid"),
    ("rays in float16", lambda: ol.rays.Rays(torch.zeros(4, 3, dtype=torch.float16),
                                             torch.zeros(4, 3, dtype=torch.float16), 5e-7), TypeError, "float64"),
    ("pixelate onto a non-integer pitch", lambda: ol.pixelate(U, ol.Grid(8, 2.5e-6)), ValueError, "integer multiple"),
    ("window between samples", lambda: U.window(ol.Grid(8, 1e-6, origin=(0.5e-6, 0.0))), ValueError, "between"),
    ("fft of a 1-D tensor", lambda: ol.fft.fft2(torch.ones(8)), ValueError, "(..., H, W)"),
    ("irfft2 of a mismatched half spectrum", lambda: ol.fft.irfft2(torch.ones(8, 8, dtype=torch.complex64), s=(8, 8)),
     ValueError, "half spectrum"),
]


@pytest.mark.parametrize("name,call,error,needle", CASES, ids=[c[0] for c in CASES])
def test_bad_argument_is_refused_with_its_name(name, call, error, needle):
    with pytest.raises(error) as e:
        call()
    assert needle in str(e.value), f"{name}: the message should name {needle!r}: {e.value}"


def test_float16_rays_no_longer_give_a_zero_spot():
    """Issue 14: float16 ray tracing returned a 0.0 RMS spot; float16 rays are refused, float32 and float64 trace."""
    lens = ol.rays.library("cooke_triplet")
    with pytest.raises(TypeError, match="float64"):
        lens.collimated(587.6e-9, 4e-3, 8, dtype=torch.float16)
    spot = ol.rays.SequentialLens.rms_spot(lens.trace(lens.collimated(587.6e-9, 4e-3, 8)))
    assert float(spot) > 0


def test_a_device_that_is_not_there_is_refused_by_name():
    import os
    assert ol.train.use_device("cpu", cpu_threads=None).type == "cpu"
    assert ol.train.use_device("auto", cpu_threads=None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            ol.train.use_device("cuda")
    with pytest.raises((ValueError, RuntimeError), match="tpu|device"):
        ol.train.use_device("tpu")
    assert torch.get_num_threads() <= max(2, os.cpu_count() or 1)
