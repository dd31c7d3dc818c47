"""Chapter 00 (Foundations): its set-ups built from its parameters, and its dry run.

Each set-up names the grid, wavelength and distances one section of the chapter uses; :func:`dry_run`
checks every one with the sampling planner and estimates memory and time without propagating anything.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List

import torch

from optlib import budget
from optlib.grid import Grid
from optlib.sampling import plan_propagation
from optlib.units import mm, nm, um

from . import check_names

PARAMS = ("scale", "seed", "device", "airy_n", "airy_q", "fresnel_n", "fresnel_numbers", "fresnel_convergence_n",
          "gauss_n", "gauss_pitch_um", "gauss_waist_um", "gauss_distances", "rs_n", "bench_n",
          "bench_pairs", "explorer_n")


@dataclass
class Airy:
    """A 1 mm pupil focused by an f = 50 mm lens at 550 nm, sampled on ``grid``."""
    grid: Grid
    wavelength: float = 550 * nm
    focal_length: float = field(default=50 * mm)
    diameter: float = field(default=1 * mm)


@dataclass
class Square:
    """A 1 mm square aperture in a 4 mm window of ``n`` samples, at the Fresnel numbers given, 500 nm."""
    n: int
    wavelength: float = 500 * nm
    half_width: float = 0.5 * mm
    window: float = 4 * mm
    fresnel_numbers: tuple = (1.0, 2.0, 5.0, 10.0)
    padding: float = 4.0

    @property
    def grid(self) -> Grid:
        return Grid(self.n, self.window / self.n)

    def distance(self, nf: float) -> float:
        """z (m) with Fresnel number a^2 / (lambda z) = nf."""
        return self.half_width ** 2 / (self.wavelength * nf)


@dataclass
class Gauss:
    grid: Grid
    waist: float
    distances: List[float]
    wavelength: float = 500 * nm

    @property
    def rayleigh(self) -> float:
        return math.pi * self.waist ** 2 / self.wavelength


@dataclass
class PlannerDemo:
    """The DKO element: N samples at 2.5 um, 10 mm to the sensor, 532 nm (tiny: 257, paper: 1025)."""
    grid: Grid
    wavelength: float = 532 * nm
    distance: float = 10 * mm
    radius: float = None


def setups(p: Dict) -> Dict:
    """All set-ups of the chapter from its parameter dict ``p`` (keys in :data:`PARAMS`)."""
    check_names("foundations", p, PARAMS)
    airy = Airy(Grid(p["airy_n"], p["airy_q"] * 1 * mm / p["airy_n"]))
    square = Square(p["fresnel_n"], fresnel_numbers=tuple(p["fresnel_numbers"]))
    w0 = p["gauss_waist_um"] * um
    zr = math.pi * w0 ** 2 / (500 * nm)
    zs = [zr * 10 ** (-1.5 + 4.0 * i / (p["gauss_distances"] - 1)) for i in range(p["gauss_distances"])]
    gauss = Gauss(Grid(p["gauss_n"], p["gauss_pitch_um"] * um), w0, zs)
    rsg = Grid(p["rs_n"], 1 * um)
    planner = PlannerDemo(Grid(257, 2.5 * um))
    paper_element = PlannerDemo(Grid(1025, 2.5 * um))
    return {"airy": airy, "square": square, "gauss": gauss, "rs_grid": rsg, "planner": planner,
            "paper_element": paper_element,
            "bench_n": list(p["bench_n"]), "explorer": Grid(p["explorer_n"], 4 * um)}


def dry_run(p: Dict) -> Dict:
    """Build every set-up of ``p``, check the sampling of each propagation the chapter runs, and estimate
    peak memory and FFT time. Raises if a set-up the chapter relies on is invalid."""
    s = setups(p)
    rows = []

    def add(name, shape, count, ok, note=""):
        rows.append(budget.step(f"{name} {tuple(shape)}", ok, budget.fft_bytes(shape, dtype=torch.complex128),
                                fft=budget.fft_flops(shape, count), note=note))

    a = s["airy"]
    add("airy focal plane", a.grid.shape, 1, True, f"output pitch {a.wavelength * a.focal_length / a.grid.extent[1]:.3g} m")
    sq = s["square"]
    for nf in sq.fresnel_numbers:
        z = sq.distance(nf)
        plan = plan_propagation(sq.grid, sq.wavelength, z, sq.padding, support=2 * sq.half_width + 2 * sq.grid.dx)
        ok = plan.checks["fresnel1"].valid
        add(f"square N_F={nf:g} fresnel1", sq.grid.shape, 1, ok, "required")
        if not ok:
            raise ValueError(f"dry run: the square aperture at N_F={nf} has no valid single-FFT set-up:\n"
                             + plan.report())
        pad = [int(math.ceil(sq.padding * n)) for n in sq.grid.shape]
        add(f"square N_F={nf:g} asm/fresnel", pad, 4, plan.checks["asm"].valid, "used where valid")
    g = s["gauss"]
    add("gauss sweep (3 methods x distances)", [2 * n for n in g.grid.shape], 6 * len(g.distances), True)
    pl = s["planner"]
    bad = plan_propagation(pl.grid, pl.wavelength, pl.distance, 2.0)
    good = plan_propagation(pl.grid, pl.wavelength, pl.distance, 4.0)
    if bad.checks["asm"].valid or not good.checks["asm"].valid:
        raise ValueError("dry run: the planner demo must be invalid at padding 2 and valid at padding 4")
    add("planner demo asm, padding 4", [4 * n for n in pl.grid.shape], 6, True)
    for n in s["bench_n"]:
        add(f"benchmark asm {n}", (2 * n, 2 * n), 40, True)
    peak = max(r["bytes"] for r in rows)
    total = sum(budget.seconds(r) for r in rows)
    return {"rows": rows, "peak_bytes": peak, "fft_seconds": total,
            "all_required_valid": budget.required_valid(rows)}


def dry_run_report(d: Dict) -> str:
    lines = budget.format_rows(d["rows"], 50)
    lines.append(f"peak memory {budget.human_bytes(d['peak_bytes'])}, FFT work about {d['fft_seconds']:.1f} s on "
                 f"the {budget.CPU.name}")
    return "\n".join(lines)
