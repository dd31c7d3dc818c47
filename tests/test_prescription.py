"""Lens prescriptions: the shipped library, YAML/JSON validation, and Zemax .zmx round trips."""

import pytest

from optlib.rays import prescription as P

WL = 587.5618e-9


def test_library_cooke_triplet():
    lens = P.library("cooke_triplet")
    assert lens.paraxial(WL)["efl"] == pytest.approx(49.81e-3, rel=3e-3)
    assert any(s.stop for s in lens.surfaces)
    out = lens.trace(lens.collimated(WL, 5e-3, 16))  # rays pass the stop at the S4 vertex (sequential trace)
    assert bool(out.valid.all())


def test_library_ho2024_aspheric_lens_focuses_near_the_papers_sensor():
    lens = P.library("ho2024_aspheric6")
    assert float(lens.sensor_z) == pytest.approx(8.0907e-3, abs=1e-9)  # sum of Table 4 thicknesses
    out = lens.trace(lens.collimated(WL, 0.05e-3, 16), to_sensor=False)
    focus = lens.best_focus(out)
    assert focus == pytest.approx(lens.paraxial(WL)["image_z"], abs=2e-6)  # real and paraxial traces agree
    assert abs(focus - 8.0907e-3) < 0.1e-3  # measured 8.037 mm; plastics' dispersions are not in the paper


def test_yaml_validation(tmp_path):
    good = "units: mm\nsensor_distance: 10\nsurfaces:\n  - {R: 20, thickness: 2, material: N-BK7, semi_diameter: 5}\n  - {R: -20, thickness: 0, semi_diameter: 5}\n"
    p = tmp_path / "l.yaml"
    p.write_text(good)
    assert P.load(p).paraxial(WL)["efl"] > 0
    bad = {
        "unknown keys": good.replace("semi_diameter: 5}", "semi_diameter: 5, radius: 3}", 1),
        "thickness must be": good.replace("thickness: 2", "thickness: -2"),
        "cannot have semi-diameter": good.replace("R: 20,", "R: 2,"),
        "sensor_distance": good.replace("sensor_distance: 10\n", ""),
        "not valid yaml": "surfaces: [\n",
        "units must be": good.replace("units: mm", "units: furlong"),
    }
    for msg, text in bad.items():
        p.write_text(text)
        with pytest.raises(ValueError, match=msg):
            P.load(p)
    p.write_text("!!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ValueError):  # yaml.safe_load refuses code
        P.load(p)
    with pytest.raises(KeyError, match="available"):
        P.library("petzval")


@pytest.mark.parametrize("name", ["cooke_triplet", "singlet", "ho2024_aspheric6"])
def test_zemax_round_trip(tmp_path, name):
    lens = P.library(name)
    back = P.read_zmx(P.write_zmx(lens, tmp_path / f"{name}.zmx"))
    assert len(back.surfaces) == len(lens.surfaces)
    for a, b in zip(lens.surfaces, back.surfaces):
        assert float(a.z) == pytest.approx(float(b.z), abs=1e-15)
        assert float(a.c) == pytest.approx(float(b.c), rel=1e-14, abs=1e-12)
        assert float(a.k) == pytest.approx(float(b.k), rel=1e-14)
        assert a.semi_diameter == pytest.approx(b.semi_diameter, rel=1e-14) and a.stop == b.stop
        assert len(a.coeffs) == len(b.coeffs)
        for ca, cb in zip(a.coeffs, b.coeffs):
            assert float(ca) == pytest.approx(float(cb), rel=1e-12)
    assert [m.name for m in lens.materials] == [m.name for m in back.materials]
    assert back.paraxial(WL)["efl"] == pytest.approx(lens.paraxial(WL)["efl"], rel=1e-12)
    assert float(back.sensor_z) == pytest.approx(float(lens.sensor_z), abs=1e-15)


def test_zemax_utf16_and_unsupported_surface(tmp_path):
    p = P.write_zmx(P.library("singlet"), tmp_path / "s.zmx")
    text = p.read_text()
    u16 = tmp_path / "u16.zmx"
    u16.write_bytes(text.encode("utf-16"))
    assert P.read_zmx(u16).paraxial(WL)["efl"] == pytest.approx(P.library("singlet").paraxial(WL)["efl"])
    (tmp_path / "t.zmx").write_text(text.replace("TYPE STANDARD", "TYPE TOROIDAL", 2))
    with pytest.raises(ValueError, match="only STANDARD and EVENASPH"):
        P.read_zmx(tmp_path / "t.zmx")
    (tmp_path / "g.zmx").write_text(text.replace("CURV", "CURV notanumber", 2))
    with pytest.raises(ValueError, match=r"g\.zmx: surface 0: CURV \(line 6\) must be a number"):
        P.read_zmx(tmp_path / "g.zmx")
