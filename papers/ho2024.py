"""Ho et al. (2024), a differentiable wave-optics model for end-to-end imaging (supplement): the chapter's lenses
and PSF windows built from its parameters, the two focal-length definitions of its Tables 4/5, the spot-size
measures of its Figs. 4-5, and the dry run. The forward models are in the chapter.

The lenses (shared/reproduction-notes.md, chapter 001): the Cooke triplet of the authors' ``cooke.json`` at
their ``system_scale`` 0.1, the N-BK7 singlet of ``single_fov40`` (sensor 30 mm behind the rear vertex) and
the six-element aspheric lens of Tables 4/5. The paper's "aperture radius" (0.1 or 0.3 mm) is the radius of
the illuminated disc on the entrance pupil, not the stop: with the triplet's stop at 0.474 mm that disc sets
the F-number (EFL / 2a: F/24.9 at 0.1 mm, F/8.3 at 0.3 mm). The PSFs here therefore use the ``"paraxial"``
pupil convention with ``radius`` = the aperture radius (:meth:`optlib.rays.SequentialLens.through_pupil`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List

import torch

from optlib.grid import Grid
from optlib.psf import pupil_psf, pupil_rays
from optlib.psf.pupil import direction_grid, sub_samples
from optlib.rays import SequentialLens, library
from optlib.sampling import SamplingError
from optlib.units import deg, mm, nm, um

from . import check_names

PARAMS = ("scale", "seed", "device", "cooke_scale", "psf_wavelength_nm", "airy_wavelength_nm", "apertures_mm",
          "fields_deg", "psf_n", "psf_pitch_um", "n_side", "singlet_beam_mm", "singlet_psf_n", "singlet_pitch_um",
          "singlet_n_side", "limit_radii_mm", "pixel_sizes_um", "pixel_psf_n", "timing_n_side", "timing_psf_n",
          "timing_repeats", "asph_hfov_deg")

#: measured on the machines of this project (2 cores, torch 2.13.0+cpu; README "Measured"): the Huygens sum's
#: ray x sub-sample rate and the tracer's forward rate, used by the dry run's time estimates
HUYGENS_RATE_CPU = 17e6      # ray-pixel terms per second
TRACE_RATE_CPU = 3.5e6       # rays per second through a lens of a few surfaces, float64


@dataclass
class Setup:
    """The chapter's lenses and windows. Lengths in metres, angles in radians, wavelengths in metres."""
    cooke: SequentialLens
    singlet: SequentialLens
    asph: SequentialLens
    wavelength: float
    airy_wavelength: float
    apertures: List[float]
    fields: List[float]
    psf_grid: Grid
    n_side: int
    singlet_beam: float
    singlet_grid: Grid
    singlet_n_side: int
    limit_radii: List[float]
    pixel_sizes: List[float]
    pixel_psf_n: int


def check(p: Dict) -> None:
    check_names("ho2024", p, PARAMS)
    for key in ("apertures_mm", "fields_deg", "limit_radii_mm", "pixel_sizes_um"):
        if not p[key] or any((not math.isfinite(v)) or v < 0 for v in p[key]):
            raise ValueError(f"ho2024: {key} must be a non-empty list of finite, non-negative numbers, got {p[key]!r}")
    if p["psf_n"] % 2 == 0 or p["singlet_psf_n"] % 2 == 0:
        raise ValueError("ho2024: psf_n and singlet_psf_n must be odd (a sample on the chief ray)")


def setup(p: Dict, device=None) -> Setup:
    """The chapter's set-up from its parameter dict ``p`` (keys in :data:`PARAMS`), its lenses making their rays
    on ``device`` (default: the CPU)."""
    check(p)
    dev = torch.device(device or "cpu")
    cooke = library("cooke_triplet").scaled(p["cooke_scale"]).to(dev)
    return Setup(cooke=cooke, singlet=library("singlet").to(dev), asph=library("ho2024_aspheric6").to(dev),
                 wavelength=p["psf_wavelength_nm"] * nm, airy_wavelength=p["airy_wavelength_nm"] * nm,
                 apertures=[a * mm for a in p["apertures_mm"]], fields=[f * deg for f in p["fields_deg"]],
                 psf_grid=Grid(p["psf_n"], p["psf_pitch_um"] * um), n_side=p["n_side"],
                 singlet_beam=p["singlet_beam_mm"] * mm, singlet_grid=Grid(p["singlet_psf_n"], p["singlet_pitch_um"] * um),
                 singlet_n_side=p["singlet_n_side"], limit_radii=[r * mm for r in p["limit_radii_mm"]],
                 pixel_sizes=[s * um for s in p["pixel_sizes_um"]], pixel_psf_n=p["pixel_psf_n"])


def chief_ray_efl(lens: SequentialLens, wavelength: float, hfov: float) -> float:
    """The authors' (DeepLens') "EFL": the real chief ray's image height on the sensor at half field of view
    ``hfov`` (rad) divided by tan(hfov), in metres. Not the paraxial EFL: it folds distortion in."""
    y, _ = lens.chief_hit(wavelength, hfov)
    return abs(y) / math.tan(hfov)


def rms_spot(lens: SequentialLens, wavelength: float, angle: float, radius: float, n_side: int) -> float:
    """Geometric RMS spot radius (m) on the sensor of a beam of ``radius`` (m) on the paraxial entrance pupil
    at field ``angle`` (rad): the paper's "geometric limit" of Fig. 5."""
    rays, _ = lens.pupil_bundle(wavelength, n_side, angle, convention="paraxial", radius=radius)
    with torch.no_grad():
        return float(lens.rms_spot(lens.trace(rays)))


def ray_ee_radius(lens: SequentialLens, wavelength: float, angle: float, radius: float, n_side: int,
                  fraction: float = 0.8) -> float:
    """Radius (m) about the chief ray's sensor hit holding ``fraction`` of the rays of a beam of ``radius`` (m)
    on the paraxial entrance pupil: the ray PSF's encircled-energy radius from the hits themselves (a
    histogram on pixels cannot resolve spots smaller than a pixel)."""
    rays, _ = lens.pupil_bundle(wavelength, n_side, angle, convention="paraxial", radius=radius)
    with torch.no_grad():
        hits = lens.trace(rays)
        y, x = lens.chief_hit(wavelength, angle, convention="paraxial")
        d = torch.hypot(hits.o[hits.valid][:, 0] - x, hits.o[hits.valid][:, 1] - y)
        return float(torch.quantile(d, fraction))


def airy_radius(wavelength: float, efl: float, radius: float) -> float:
    """First zero (m) of the Airy pattern of a beam of ``radius`` (m) focused at F = efl / (2 radius): the
    paper's "diffraction limit" of Fig. 5."""
    return 1.2197 * wavelength * efl / (2 * radius)


def dry_run(p: Dict) -> Dict:
    """Build the set-up, check the sampling of the most demanding PSF of each lens (the largest field, the
    largest aperture) by running the pupil model's own checks on it, and estimate the Huygens timing runs'
    cost from counted ray-pixel terms at the rate measured here. Raises nothing: invalid rows say why."""
    s = setup(p)
    rows = []

    def add(step, ok, nbytes, seconds, note="required"):
        rows.append({"step": step, "valid": bool(ok), "bytes": int(nbytes), "seconds": float(seconds), "note": note})

    cases = [("Cooke", s.cooke, max(s.fields), max(s.apertures), s.psf_grid, s.n_side),
             ("singlet", s.singlet, max(s.fields), s.singlet_beam, s.singlet_grid, s.singlet_n_side)]
    for name, lens, field, a, grid, ns in cases:
        rays = math.pi / 4 * ns ** 2
        try:
            pr = pupil_rays(lens, s.wavelength, field, n_side=ns, convention="paraxial", radius=a)
            pupil_psf(pr, pr.window(Grid(3, grid.pitch)))  # the pupil sampling and replica checks, on 3x3 pixels
            _, sx, _, sy = direction_grid(pr)
            q = sub_samples(grid, pr, sx, sy, None)
            ok, why = True, f"{q}x{q} sub-samples per pixel"
        except (SamplingError, ValueError) as e:
            ok, why, q = False, str(e)[:120], 1
        fine = grid.shape[0] * q
        nbytes = 16 * (ns * fine * 2 + fine * fine)  # the two DFT factor matrices and the output, complex128
        add(f"{name} pupil PSF, {math.degrees(field):g} deg, a = {a / mm:g} mm ({why})", ok, nbytes,
            rays / TRACE_RATE_CPU)
    nt = p["timing_n_side"]
    terms = math.pi / 4 * nt ** 2 * p["timing_psf_n"] ** 2
    add(f"Fig. 9 timing: Huygens, {nt}^2 rays x {p['timing_psf_n']}^2 px, fwd+bwd x {p['timing_repeats']}", True,
        12 * 8 * (1 << 20), 3 * terms / HUYGENS_RATE_CPU * p["timing_repeats"], note="")
    return {"rows": rows, "peak_bytes": max(r["bytes"] for r in rows),
            "seconds": sum(r["seconds"] for r in rows), "all_required_valid": all(r["valid"] for r in rows if r["note"] == "required")}


def dry_run_report(d: Dict) -> str:
    from optlib import budget
    lines = [f"{r['step'][:96]:<96} valid {str(r['valid']):<5} memory {budget.human_bytes(r['bytes']):>10}  "
             f"time ~{r['seconds']:.1f} s (2-core CPU rates)" for r in d["rows"]]
    lines.append(f"peak memory {budget.human_bytes(d['peak_bytes'])}, about {d['seconds']:.0f} s of counted work "
                 f"at {HUYGENS_RATE_CPU / 1e6:g} M ray-px/s (Huygens) and {TRACE_RATE_CPU / 1e6:g} M rays/s (tracing)")
    return "\n".join(lines)
