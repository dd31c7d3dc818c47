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


# --- prescriptions (issue 14.5): every format through one validation path, errors naming file and surface ---
def _zmx_text(tmp_path, name="cooke_triplet"):
    from optlib.rays import prescription as P
    return P.write_zmx(ol.rays.library(name), tmp_path / f"{name}.zmx").read_text()


def test_a_truncated_zemax_file_is_refused_not_read_as_another_lens(tmp_path):
    from optlib.rays import prescription as P
    text = _zmx_text(tmp_path)
    lines = text.splitlines()
    at = {n: [i for i, ln in enumerate(lines) if ln.startswith(f"SURF {n}")][0] for n in (4, 5)}
    # before SURF 4 (the last has DISZ 1 mm), before SURF 5 (DISZ 0, but the image would be in F2), inside SURF 5
    for end in (at[4], at[5], at[5] + 3):
        (tmp_path / "t.zmx").write_text("\n".join(lines[:end]) + "\n")
        with pytest.raises(ValueError, match=r"t\.zmx.*truncated"):
            P.read_zmx(tmp_path / "t.zmx")


@pytest.mark.parametrize("key,bad", [("CURV", "nan"), ("CURV", "inf"), ("CONI", "nan"), ("DIAM", "inf"),
                                     ("DISZ", "nan"), ("PARM 1", "inf")])
def test_non_finite_zemax_numbers_are_refused_with_file_and_surface(tmp_path, key, bad):
    from optlib.rays import prescription as P
    text = _zmx_text(tmp_path, "ho2024_aspheric6")
    lines = text.splitlines()
    i = [j for j, ln in enumerate(lines) if ln.strip().startswith(key + " ")][2]  # in the body, not the object
    head = lines[i].split()
    lines[i] = "  " + " ".join(head[:len(key.split())] + [bad] + head[len(key.split()) + 1:])
    (tmp_path / "b.zmx").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"b\.zmx.*(surface \d+).*(finite|number)|b\.zmx.*surface \d+.*finite"):
        P.read_zmx(tmp_path / "b.zmx")


def test_yaml_non_finite_and_mistyped_fields_are_refused(tmp_path):
    from optlib.rays import prescription as P
    good = ("units: mm\nsensor_distance: 10\nsurfaces:\n  - {R: 20, thickness: 2, material: N-BK7, semi_diameter: 5}\n"
            "  - {R: -20, thickness: 0, semi_diameter: 5, stop: true}\n")
    p = tmp_path / "l.yaml"
    cases = {"R: 20,": ("R: .nan,", "surface 0: R must be finite"),
             "thickness: 2,": ("thickness: .inf,", "surface 0: thickness must be finite"),
             "semi_diameter: 5}": ("semi_diameter: .nan}", "surface 0: semi_diameter must be finite"),
             "material: N-BK7,": ("material: N-BK7, k: .nan,", "surface 0: k must be finite"),
             "stop: true": ('stop: "false"', "surface 1: stop must be true or false"),
             "sensor_distance: 10": ("sensor_distance: .inf", "sensor_distance must be a finite number")}
    for old, (new, msg) in cases.items():
        p.write_text(good.replace(old, new, 1))
        with pytest.raises(ValueError, match=msg):
            P.load(p)
    p.write_text(good.replace("R: 20,", "R: 20, coeffs: [0, 0, 0, 0, 0, 0, 0, 0, 1e-9],", 1))
    with pytest.raises(ValueError, match="at most 8"):
        P.load(p)


def test_zemax_and_yaml_refuse_the_same_impossible_sphere(tmp_path):
    from optlib.rays import prescription as P
    text = _zmx_text(tmp_path, "singlet")  # R1 = 8 mm, semi-diameter 5 mm: make R1 = 4 mm
    bad = text.replace("CURV 0.125\n", "CURV 0.25\n", 1)
    assert bad != text
    (tmp_path / "s.zmx").write_text(bad)
    with pytest.raises(ValueError, match=r"s\.zmx: surface 1: a sphere of radius 4"):
        P.read_zmx(tmp_path / "s.zmx")


def test_high_order_asphere_terms_survive_a_zemax_round_trip_and_utf16_without_bom_loads(tmp_path):
    from optlib.rays import prescription as P
    lens = ol.rays.library("ho2024_aspheric6")
    s = lens.surfaces[3]
    lens.surfaces[3] = type(s)(s.z, s.semi_diameter, s.c, s.k, tuple(s.coeffs) + (1e3, -2e5), s.stop)  # a14, a16
    back = P.read_zmx(P.write_zmx(lens, tmp_path / "a.zmx"))
    assert len(back.surfaces[3].coeffs) == 8
    assert float(back.surfaces[3].coeffs[7]) == pytest.approx(-2e5, rel=1e-12)
    text = (tmp_path / "a.zmx").read_text()
    (tmp_path / "p9.zmx").write_text(text.replace("PARM 8", "PARM 9", 1))
    with pytest.raises(ValueError, match="PARM 9"):
        P.read_zmx(tmp_path / "p9.zmx")
    for enc in ("utf-16-le", "utf-16-be"):
        (tmp_path / "u.zmx").write_bytes(text.encode(enc))  # no byte-order mark
        u = P.read_zmx(tmp_path / "u.zmx")
        assert u.paraxial(587.6e-9)["efl"] == pytest.approx(back.paraxial(587.6e-9)["efl"], rel=1e-12)
