"""Meta-atom cell library: zero-order transmission of a periodic pillar array against pillar width, by RCWA.

The paper turns optimised phase profiles into geometries "by a standard cell-based library search". Each
phase sample (2.5 um) is realised as a patch of identical pillars on a subwavelength square lattice (the
locally periodic approximation), whose zero-order complex transmission at the element's wavelength comes
from rigorous coupled-wave analysis of one unit cell.

Solver: ``torcwa`` (C. Kim and B. Lee, Comput. Phys. Commun. 282, 108552 (2023); PyPI, pure PyTorch).
Chosen over ``meent`` because it depends on nothing but torch (already pinned here), runs on CPU and
CUDA, and is differentiable should widths ever be optimised directly. Time convention exp(-i omega t):
a longer optical path gives a larger phase, the same sign as :mod:`optlib`'s thin elements (a lens is
``-pi r^2 / (lambda f)``), so library phases plug straight into the kernel model.

Default cell (all SI): Si3N4 square pillars (Luke et al. 2015 dispersion), 1.0 um tall, on fused silica,
lattice 250 nm (below lambda / n_glass = 308 nm at 450 nm, so only the zero order propagates), widths
50-210 nm (at least 40 nm gaps), light incident from the glass, transmitted into air, x-polarised (the
square lattice and pillar make it polarisation independent at normal incidence). Phases are relative to
the empty cell (same height of air), so width -> phase is the delay a pillar adds.

Results are cached as JSON (data, never code) under ``optlib.data.cache_root()/cells``, keyed by every
setting and the solver version; a corrupt cache file raises with the file to delete.
"""
from __future__ import annotations

import cmath
import hashlib
import json
import math
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch

from .. import materials


@dataclass(frozen=True)
class CellDesign:
    """One meta-atom family. Lengths in metres.

    Args:
        period: square lattice constant.
        height: pillar height.
        width_min, width_max, n_widths: the pillar widths tabulated (square pillars, side length).
        pillar, substrate: material names in :mod:`optlib.materials`.
        order: Fourier orders per axis (2 order + 1 harmonics each); 5 changes phases by < 0.1 rad vs 9.
        nx: samples per axis of the unit cell's permittivity map.
    """

    period: float = 250e-9
    height: float = 1.0e-6
    width_min: float = 50e-9
    width_max: float = 210e-9
    n_widths: int = 33
    pillar: str = "Si3N4"
    substrate: str = "fused silica"
    order: int = 5
    nx: int = 128

    def __post_init__(self):
        if not 0 < self.width_min < self.width_max <= self.period:
            raise ValueError(f"need 0 < width_min < width_max <= period, got {self.width_min}, {self.width_max}, "
                             f"{self.period} (metres)")
        if self.period > 1e-5 or self.height > 1e-4:
            raise ValueError("CellDesign lengths are in metres (e.g. period=250e-9)")
        if self.n_widths < 2:
            raise ValueError("n_widths must be at least 2")

    def widths(self) -> torch.Tensor:
        return torch.linspace(self.width_min, self.width_max, self.n_widths, dtype=torch.float64)


# Silicon nitride is a deposited film, not a catalogue glass (its index depends on the process), so it is kept
# here rather than in optlib.materials (whose entries are checked against published n_d and V_d): stoichiometric
# LPCVD Si3N4, K. Luke, Y. Okawachi, M. R. E. Lamont, A. L. Gaeta and M. Lipson, Opt. Lett. 40, 4823 (2015),
# two-term Sellmeier (lambda in um), 0.31-5.5 um; n = 2.056 at 532 nm. Transcribed, not independently checked.
SI3N4 = materials.Material("Si3N4", "sellmeier", (3.0249, 0.1353406 ** 2, 40314.0, 1239.842 ** 2),
                           "Luke et al., Opt. Lett. 40, 4823 (2015)", (0.31e-6, 5.5e-6))
_LOCAL = {"Si3N4": SI3N4}


def _material(name: str):
    return _LOCAL[name] if name in _LOCAL else materials.get(name)


def _torcwa():
    try:
        import torcwa
    except ImportError as e:  # pragma: no cover
        raise ImportError("the cell library needs the RCWA solver torcwa: pip install torcwa==0.1.4.2") from e
    return torcwa


def rcwa_transmission(design: CellDesign, width: Optional[float], wavelength: float,
                      fill_permittivity: Optional[complex] = None) -> complex:
    """Zero-order, x-to-x, power-normalised transmission coefficient (complex) of one periodic cell.

    ``width`` None (or 0) is the empty cell; ``fill_permittivity`` replaces the pillar by a homogeneous
    layer of that permittivity (used to test the solver against the thin-film formula).
    """
    torcwa = _torcwa()
    nm = 1e9  # torcwa works in any length unit; use nanometres for well-scaled numbers
    P, H = design.period * nm, design.height * nm
    dev = torch.device("cpu")
    sub = _material(design.substrate).n(wavelength)
    sim = torcwa.rcwa(freq=1.0 / (wavelength * nm), order=[design.order, design.order], L=[P, P],
                      dtype=torch.complex128, device=dev)
    sim.add_input_layer(eps=complex(sub ** 2))
    sim.set_incident_angle(0.0, 0.0)
    if fill_permittivity is not None:
        sim.add_layer(thickness=H, eps=complex(fill_permittivity))
    elif not width:
        sim.add_layer(thickness=H, eps=1.0 + 0j)
    else:
        geo = torcwa.geometry(Lx=P, Ly=P, nx=design.nx, ny=design.nx, edge_sharpness=1000.0,
                              dtype=torch.float64, device=dev)
        mask = geo.square(W=width * nm, Cx=P / 2, Cy=P / 2)
        n_p = _material(design.pillar).n(wavelength)
        sim.add_layer(thickness=H, eps=1.0 + (n_p ** 2 - 1.0) * mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim.solve_global_smatrix()
        t = sim.S_parameters(orders=[0, 0], direction="forward", port="transmission", polarization="xx",
                             ref_order=[0, 0])
    return complex(t.reshape(-1)[0])


def thin_film_transmission(n1: float, n2: complex, n3: float, thickness: float, wavelength: float) -> complex:
    """Analytic normal-incidence amplitude transmission of a slab (index ``n2``, ``thickness`` m) between
    half-spaces ``n1`` (incident) and ``n3``, scaled by sqrt(n3/n1) so that |t|^2 is the power transmittance
    (Airy's formula, exp(-i omega t) convention)."""
    r12, r23 = (n1 - n2) / (n1 + n2), (n2 - n3) / (n2 + n3)
    t12, t23 = 2 * n1 / (n1 + n2), 2 * n2 / (n2 + n3)
    e = cmath.exp(1j * 2 * math.pi * n2 * thickness / wavelength)
    return math.sqrt(n3 / n1) * t12 * t23 * e / (1 + r12 * r23 * e * e)


class CellLibrary:
    """Tabulated meta-atoms: ``widths`` (W,), ``wavelengths`` (C,), ``t`` (C, W) complex transmission relative
    to the empty cell's phase (``|t|^2`` the power transmittance), ``phase`` (C, W) unwrapped (rad)."""

    def __init__(self, design: CellDesign, wavelengths: Sequence[float], t: torch.Tensor):
        self.design = design
        self.wavelengths = torch.as_tensor(list(wavelengths), dtype=torch.float64)
        self.widths = design.widths()
        self.t = t.to(torch.complex128)
        ph = torch.angle(self.t)
        # unwrap along width
        d = torch.diff(ph, dim=1)
        d = d - 2 * math.pi * torch.round(d / (2 * math.pi))
        self.phase = torch.cat([ph[:, :1], ph[:, :1] + torch.cumsum(d, 1)], 1)

    # --- construction and cache ---------------------------------------------------------------------
    @staticmethod
    def _key(design: CellDesign, wavelengths) -> str:
        torcwa = _torcwa()
        blob = json.dumps({"design": asdict(design), "wavelengths": [float(w) for w in wavelengths],
                           "solver": f"torcwa {getattr(torcwa, '__version__', '0.1.4.2')}", "format": 1},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def build(cls, wavelengths: Sequence[float], design: CellDesign = CellDesign(), cache: bool = True,
              cache_dir=None, progress: bool = True) -> "CellLibrary":
        """Compute (or load from the cache) the library at ``wavelengths`` (m)."""
        from .. import data
        wls = [float(w) for w in wavelengths]
        path = Path(cache_dir or data.cache_root() / "cells") / f"cells_{cls._key(design, wls)}.json"
        if cache and path.is_file():
            return cls.load(path, design, wls)
        from tqdm.auto import tqdm
        widths = design.widths().tolist()
        t = torch.zeros(len(wls), len(widths), dtype=torch.complex128)
        with tqdm(total=len(wls) * (len(widths) + 1), desc="RCWA cell library", disable=not progress,
                  leave=False) as bar:
            for i, wl in enumerate(wls):
                ref = rcwa_transmission(design, None, wl)
                bar.update()
                for j, w in enumerate(widths):
                    t[i, j] = rcwa_transmission(design, w, wl) * abs(ref) / ref
                    bar.update()
        lib = cls(design, wls, t)
        if cache:
            lib.save(path)
        return lib

    def save(self, path) -> Path:
        """Write the table as JSON, atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"format": 1, "design": asdict(self.design), "wavelengths": self.wavelengths.tolist(),
               "widths": self.widths.tolist(), "t_real": self.t.real.tolist(), "t_imag": self.t.imag.tolist()}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path, design: CellDesign, wavelengths: Sequence[float]) -> "CellLibrary":
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
            ok = (doc.get("format") == 1 and doc["design"] == json.loads(json.dumps(asdict(design)))
                  and len(doc["wavelengths"]) == len(wavelengths) and len(doc["widths"]) == design.n_widths)
            t = torch.complex(torch.tensor(doc["t_real"], dtype=torch.float64),
                              torch.tensor(doc["t_imag"], dtype=torch.float64))
            ok = ok and tuple(t.shape) == (len(wavelengths), design.n_widths) and bool(torch.isfinite(t.real).all())
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"cell library cache {path} is malformed ({e}); delete it to recompute") from e
        if not ok:
            raise ValueError(f"cell library cache {path} does not match the requested design; delete it to recompute")
        return cls(design, wavelengths, t)

    # --- queries --------------------------------------------------------------------------------------
    def coverage(self) -> torch.Tensor:
        """Phase range covered at each wavelength, in units of 2 pi (>= 1 means every phase is reachable)."""
        return (self.phase[:, -1] - self.phase[:, 0]).abs() / (2 * math.pi)

    def _index(self, wavelength: torch.Tensor) -> torch.Tensor:
        wl = torch.as_tensor(wavelength, dtype=torch.float64).flatten()
        d = (wl[:, None] - self.wavelengths[None, :]).abs()
        i = d.argmin(1)
        if bool((d.gather(1, i[:, None]) > 1e-12).any()):
            raise ValueError(f"wavelength(s) not in the library {self.wavelengths.tolist()} m")
        return i

    def width_for_phase(self, phase: torch.Tensor, wavelength) -> torch.Tensor:
        """Pillar width (m) realising ``phase`` (rad, any real values, ``(E, ...)``) at each element's
        wavelength ``(E,)``: the library's phase curve inverted by linear interpolation (differentiable in
        ``phase``). Phases in a gap of the curve (coverage < 1) go to the nearer end of the curve."""
        idx = self._index(wavelength)
        out = torch.empty(phase.shape, dtype=phase.dtype, device=phase.device)
        for c in idx.unique().tolist():
            sel = (idx == c).nonzero().flatten().to(phase.device)
            out[sel] = self._invert(phase[sel], c)
        return out

    def _invert(self, phase: torch.Tensor, c: int) -> torch.Tensor:
        ph = self.phase[c]
        w = self.widths
        if float(ph[-1] - ph[0]) < 0:                      # make the curve increasing
            ph, w = ph.flip(0), w.flip(0)
        # near resonances the curve can dip; the running maximum keeps the inverse single-valued (the widths
        # on a falling stretch are never chosen)
        ph = torch.cummax(ph, 0).values.to(phase.device)
        w = w.to(phase.device)
        p0, p1 = float(ph[0]), float(ph[-1])
        x = p0 + torch.remainder(phase.double() - p0, 2 * math.pi)
        if p1 - p0 < 2 * math.pi:                           # gap: to the nearer end (circularly)
            to_end = x - p1
            to_start = p0 + 2 * math.pi - x
            x = torch.where(x > p1, torch.where(to_end < to_start, torch.full_like(x, p1), torch.full_like(x, p0)), x)
        j = torch.searchsorted(ph.contiguous(), x.detach().contiguous()).clamp(1, ph.numel() - 1)
        a, b = ph[j - 1], ph[j]
        f = ((x - a) / (b - a).clamp(min=1e-12)).clamp(0, 1)
        return (w[j - 1] + f * (w[j] - w[j - 1])).to(phase.dtype)

    def transmission_for_width(self, width: torch.Tensor, wavelength) -> torch.Tensor:
        """Complex transmission (relative phase, |t|^2 power) of pillars of ``width`` (m, ``(E, ...)``), linear
        interpolation in width of the table at each element's wavelength ``(E,)``."""
        idx = self._index(wavelength)
        out = torch.empty(width.shape, dtype=torch.complex128, device=width.device)
        w = self.widths.to(width.device)
        for c in idx.unique().tolist():
            sel = (idx == c).nonzero().flatten().to(width.device)
            x = width[sel].double().clamp(float(w[0]), float(w[-1]))
            j = torch.searchsorted(w.contiguous(), x.contiguous()).clamp(1, w.numel() - 1)
            f = (x - w[j - 1]) / (w[j] - w[j - 1])
            tc = self.t[c].to(width.device)
            out[sel] = tc[j - 1] + f * (tc[j] - tc[j - 1])
        return out

    def realize(self, phase: torch.Tensor, wavelength):
        """Geometry of elements ``(E, n, n)``: pillar widths (m) and the complex transmission they actually give."""
        wl = torch.as_tensor(wavelength, dtype=torch.float64).flatten()
        widths = self.width_for_phase(phase.detach(), wl)
        return widths, self.transmission_for_width(widths, wl)
