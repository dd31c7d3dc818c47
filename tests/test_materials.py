"""The catalogue reproduces each material's published n_d and Abbe number, and the papers' indices."""
import pytest
import torch

from optlib import materials

PLASTICS = {"PMMA", "polycarbonate"}


def test_nbk7_nd():
    assert materials.get("N-BK7").n(587.5618e-9) == pytest.approx(1.5168, abs=1e-4)


@pytest.mark.parametrize("name", [n for n in materials.names() if n != "air"])
def test_published_nd_and_abbe(name):
    m = materials.get(name)
    assert m.nd_published is not None and m.vd_published is not None, f"{name} needs published n_d, V_d"
    if name in PLASTICS:  # one-term Sellmeier of one grade vs a catalogue grade: see materials.py
        assert m.nd == pytest.approx(m.nd_published, abs=1.5e-3)
        assert m.abbe == pytest.approx(m.vd_published, rel=0.10)
    else:
        assert m.nd == pytest.approx(m.nd_published, abs=1e-4)
        assert m.abbe == pytest.approx(m.vd_published, rel=5e-3)
    assert m.source


def test_sitzmann_code_indices():
    fs = materials.get("fused silica")
    for wl, n in zip((460e-9, 550e-9, 640e-9), (1.4648, 1.4599, 1.4568)):
        assert fs.n(wl) == pytest.approx(n, abs=2e-4)
    pm = materials.get("PMMA")
    for wl, n in zip((460e-9, 550e-9, 640e-9), (1.499, 1.493, 1.488)):
        assert pm.n(wl) == pytest.approx(n, abs=1e-3)


def test_lookup_aliases_tensors_and_errors():
    assert materials.get("sk16") is materials.get("N-SK16")
    assert materials.get("Fused_Silica") is materials.get("fused silica")
    assert materials.get(1.5).n(500e-9) == 1.5
    wl = torch.tensor([450e-9, 650e-9], dtype=torch.float64, requires_grad=True)
    n = materials.get("N-BK7").n(wl)
    n.sum().backward()
    assert n[0] > n[1] and (wl.grad < 0).all()  # normal dispersion
    with pytest.raises(KeyError, match="unknown material"):
        materials.get("unobtainium")
    with pytest.raises(ValueError, match="metres"):
        materials.get("N-BK7").n(550)
    with pytest.raises(ValueError):
        materials.model_glass("bad", 0.5, 30, "x")
