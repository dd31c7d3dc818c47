"""Refractive index n(lambda) of the glasses and plastics the papers use. Wavelengths in metres.

``optlib.materials.get("N-BK7").n(550e-9)`` -> 1.5185... Works on floats and tensors (differentiable
in wavelength). Sources are cited per entry; formulas take lambda in micrometres internally.

* Sellmeier: n^2 - 1 = sum_i B_i lambda^2 / (lambda^2 - C_i)   (lambda in um, C_i in um^2)
* Model glass: n = A + B / lambda^2 fitted exactly to a published (n_d, V_d) pair, the way lens design
  programs model a material known only by its catalogue index and Abbe number.

Reference wavelengths: d = 587.56 nm (He), F = 486.13 nm (H), C = 656.27 nm (H);
Abbe number V_d = (n_d - 1) / (n_F - n_C).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Sequence, Tuple

import torch

LAMBDA_D = 587.5618e-9
LAMBDA_F = 486.1327e-9
LAMBDA_C = 656.2725e-9


def _to_um(wavelength):
    if isinstance(wavelength, torch.Tensor):
        w = wavelength
    else:
        w = torch.as_tensor(wavelength, dtype=torch.float64)
    lo, hi = float(w.detach().min()), float(w.detach().max())
    if not (lo > 0 and hi <= 1e-4):  # NaN fails too
        raise ValueError(f"wavelength {wavelength!r} must be in metres (e.g. 550e-9), between 0 and 100 um")
    return w * 1e6


def _ret(x, like):
    return x if isinstance(like, torch.Tensor) else (float(x) if x.dim() == 0 else x)


@dataclass(frozen=True)
class Material:
    """A dispersive material. ``n(wavelength_m)`` returns the refractive index."""

    name: str
    kind: str
    coefficients: Tuple[float, ...]
    source: str
    valid_range: Tuple[float, float] = (0.3e-6, 2.5e-6)  # metres
    nd_published: float = None
    vd_published: float = None

    def n(self, wavelength):
        """Refractive index at ``wavelength`` (metres; float or tensor). Returns a float for a float."""
        w = _to_um(wavelength)
        if self.kind == "sellmeier":
            b = self.coefficients[0::2]
            c = self.coefficients[1::2]
            w2 = w * w
            n2 = 1.0 + sum(bi * w2 / (w2 - ci) for bi, ci in zip(b, c))
            out = torch.sqrt(n2)
        elif self.kind == "cauchy":
            A, B = self.coefficients
            out = A + B / (w * w)
        elif self.kind == "constant":
            out = torch.full_like(w, self.coefficients[0])
        else:  # pragma: no cover
            raise ValueError(self.kind)
        return _ret(out, wavelength)

    @property
    def nd(self) -> float:
        return float(self.n(LAMBDA_D))

    @property
    def abbe(self) -> float:
        """Abbe number V_d = (n_d - 1) / (n_F - n_C)."""
        return (self.nd - 1.0) / (float(self.n(LAMBDA_F)) - float(self.n(LAMBDA_C)))


def model_glass(name: str, nd: float, vd: float, source: str) -> Material:
    """A material from its catalogue (n_d, V_d): n = A + B / lambda^2 (lambda in um), exact at d, F, C."""
    if not (1.0 < nd < 3.0) or not (5.0 < vd < 120.0):
        raise ValueError(f"implausible model glass {name}: n_d={nd}, V_d={vd}")
    inv = lambda lam: 1.0 / (lam * 1e6) ** 2  # noqa: E731
    B = (nd - 1.0) / vd / (inv(LAMBDA_F) - inv(LAMBDA_C))
    A = nd - B * inv(LAMBDA_D)
    return Material(name, "cauchy", (A, B), source + f" (model glass from n_d={nd}, V_d={vd})",
                    nd_published=nd, vd_published=vd)


def _sellmeier(name, B1, C1, B2, C2, B3, C3, source, nd=None, vd=None, rng=(0.3e-6, 2.5e-6)):
    return Material(name, "sellmeier", (B1, C1, B2, C2, B3, C3), source, rng, nd, vd)


_SCHOTT = "SCHOTT optical glass data sheet (Sellmeier B1..B3, C1..C3 in um^2)"
CATALOG: Dict[str, Material] = {}


def register(material: Material, *aliases: str) -> Material:
    """Add a material to the catalogue under its name and aliases (case-insensitive)."""
    for key in (material.name, *aliases):
        CATALOG[key.lower()] = material
    return material


register(_sellmeier("N-BK7", 1.03961212, 0.00600069867, 0.231792344, 0.0200179144, 1.01046945, 103.560653,
                    _SCHOTT, 1.51680, 64.17), "BK7", "H-K9L")
register(_sellmeier("N-SK16", 1.34317774, 0.00704687339, 0.241144399, 0.0229005000, 0.994317969, 92.7508526,
                    _SCHOTT, 1.62041, 60.32), "SK16")
register(_sellmeier("N-SF2", 1.47343127, 0.0109019098, 0.163681849, 0.0585683687, 1.36920899, 127.404933,
                    _SCHOTT, 1.64769, 33.82))
register(_sellmeier("F2", 1.34533359, 0.00997743871, 0.209073176, 0.0470450767, 0.937357162, 111.886764,
                    _SCHOTT, 1.62004, 36.37))
register(_sellmeier("fused silica", 0.6961663, 0.0684043 ** 2, 0.4079426, 0.1162414 ** 2, 0.8974794,
                    9.896161 ** 2, "I. H. Malitson, J. Opt. Soc. Am. 55, 1205 (1965)", 1.45846, 67.82,
                    (0.21e-6, 3.71e-6)), "fused_silica", "SiO2", "silica", "F_SILICA")
# HK51, the glass of Yang et al.'s (2024) aspheric singlet, is in no public catalogue we found. The authors' ray
# tracer (DeepLens, its material table) gives Sellmeier terms (k1, l1, ..., l3 in um^2, kept as they are, l3 < 0
# included) and a catalogue line "n_d 1.5501, V_d 58.64": the terms give n_d 1.5231 and V_d 58.64, so the V_d
# agrees and the n_d line does not; the terms are what their tracer computes with, and what is used here.
register(_sellmeier("HK51", 0.9602, 116.24248, 1.1836896, 0.0118030, 0.1023382, -0.018958,
                    "Yang et al. 2024, the authors' DeepLens material table (Sellmeier terms; n_d 1.5231 from them, "
                    "where the table's own n_d entry says 1.5501)", 1.52307, 58.64, (0.4e-6, 0.8e-6)), "H-K51")
# Plastics: N. Sultanova, S. Kasarova, I. Nikolov, Acta Phys. Pol. A 116, 585 (2009), one-term Sellmeier;
# published n_d / V_d from the ZEMAX MISC catalogue (PMMA 1.4918 / 57.4, POLYCARB 1.5855 / 29.9). The
# one-term fits give n_d within 1.2e-3 but V_d of 53.2 and 27.9: plastic grades differ by this much, and
# the measured-data formula is kept over a two-number model (tests allow 10 % on V_d for plastics).
register(Material("PMMA", "sellmeier", (1.1819, 0.011313), "Sultanova et al. 2009 (PMMA)",
                  (0.4e-6, 1.1e-6), 1.4918, 57.4), "acrylic")
register(Material("polycarbonate", "sellmeier", (1.4182, 0.021304), "Sultanova et al. 2009 (PC)",
                  (0.4e-6, 1.1e-6), 1.5855, 29.9), "PC", "polycarb")
register(model_glass("COC", 1.533, 56.0, "cyclic olefin copolymer, TOPAS 5013 / ZEONEX E48R class nominal"),
         "cyclic olefin copolymer", "zeonex", "topas")
register(model_glass("OKP4", 1.607, 27.0, "Osaka Gas Chemicals OKP4 polyester nominal"), "OKP-4")
register(Material("air", "constant", (1.0,), "n = 1 (vacuum/air; dispersion of air neglected)"), "vacuum")


def get(name) -> Material:
    """Look a material up by name (case-insensitive; spaces, dashes and underscores are equivalent).

    A :class:`Material` passes through; a number gives a non-dispersive material of that index.
    """
    if isinstance(name, Material):
        return name
    if isinstance(name, (int, float)):
        return Material(f"n={name}", "constant", (float(name),), "constant index")
    key = str(name).lower().strip()
    if key in CATALOG:
        return CATALOG[key]
    norm = lambda s: s.replace("-", "").replace("_", "").replace(" ", "")  # noqa: E731
    for k, v in CATALOG.items():
        if norm(k) == norm(key):
            return v
    raise KeyError(f"unknown material {name!r}; known: {sorted({m.name for m in CATALOG.values()})}. "
                   "Add one with optlib.materials.register(...) or model_glass(name, nd, vd, source)")


def names() -> Sequence[str]:
    return sorted({m.name for m in CATALOG.values()})
