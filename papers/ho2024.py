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

from optlib import budget
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
          "timing_repeats", "asph_hfov_deg", "render_n", "render_field_deg", "render_psf_n", "map_ref_n", "map_n",
          "map_n_side", "n_render_train", "n_render_test", "render_noise", "recon_steps", "recon_patch",
          "recon_batch", "recon_width", "recon_lr", "e2e_cases", "e2e_fields_deg", "e2e_psf_n", "e2e_n_side",
          "e2e_steps", "e2e_lr_lens", "e2e_lr_net", "e2e_lr_gamma", "e2e_patch", "e2e_batch", "e2e_noise", "e2e_n_test")

#: measured on the machines of this project (2 cores, torch 2.13.0+cpu; README "Measured"): the Huygens sum's
#: ray x sub-sample rate and the tracer's forward rate, used by the dry run's time estimates
HUYGENS_RATE_CPU = 17e6      # ray-pixel terms per second
TRACE_RATE_CPU = 3.5e6       # rays per second through a lens of a few surfaces, float64
PSF_OVERHEAD_CPU = 0.02      # s per pupil PSF beyond its rays and DFT (chief ray, window): 162 map PSFs in 4 s at tiny
E2E_PSF_CPU = 0.04           # s per differentiable PSF in training, forward + backward (64^2 rays, 49^2 px at tiny)


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
    if p["psf_n"] % 2 == 0 or p["singlet_psf_n"] % 2 == 0 or p["render_psf_n"] % 2 == 0:
        raise ValueError("ho2024: psf_n, singlet_psf_n and render_psf_n must be odd (a sample on the chief ray)")
    for n in p["map_n"]:
        nested_indices(p["map_ref_n"], n)  # every N_T grid must be a subset of the reference grid
    if not p["e2e_cases"] or any(len(c) != 2 or min(c) <= 0 for c in p["e2e_cases"]):
        raise ValueError(f"ho2024: e2e_cases must be a non-empty list of [aperture radius mm, pixel um] pairs, got "
                         f"{p['e2e_cases']!r}")
    if 2 * (p["e2e_psf_n"] // 2) >= p["e2e_patch"]:
        raise ValueError(f"ho2024: the e2e PSF window ({p['e2e_psf_n']} um at 1 um pixels) must be smaller than "
                         f"e2e_patch ({p['e2e_patch']})")
    if not 0 < p["render_field_deg"] < 90:
        raise ValueError(f"ho2024: render_field_deg must be in (0, 90), got {p['render_field_deg']!r}")


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


def nested_indices(n_ref: int, n: int) -> List[int]:
    """Rows (or columns) of an ``n_ref``-point PSF grid that form an evenly spaced ``n``-point grid over the same
    field: ``n = 1`` is the centre (``n_ref`` odd). Raises ``ValueError`` unless the ``n`` grid is a subset of
    the reference grid ((n_ref - 1) divisible by (n - 1)), so that every N_T map reuses the reference PSFs."""
    if n < 1 or n > n_ref or (n == 1 and n_ref % 2 == 0) or (n > 1 and (n_ref - 1) % (n - 1)):
        raise ValueError(f"ho2024: a {n}x{n} PSF grid is not a subset of the {n_ref}x{n_ref} reference grid; use n with "
                         f"(n_ref - 1) divisible by (n - 1), or n = 1 with an odd n_ref")
    return [(n_ref - 1) // 2] if n == 1 else list(range(0, n_ref, (n_ref - 1) // (n - 1)))


def e2e_window_px(psf_um: float, pixel_um: float) -> int:
    """Pixels per side (odd, at least 9) of Table 1's PSF window: ``psf_um`` micrometres, the same physical
    window for every pixel size."""
    return max(9, int(math.ceil(psf_um / pixel_um)) | 1)


def render_fields(n: int, corner_field: float):
    """Field angles (n x n nested lists of (theta_x, theta_y), rad) of PSF centres evenly spaced in paraxial
    image height over a square image whose corners are at field ``corner_field`` (rad): tan(theta) per axis
    runs over +-tan(corner_field) / sqrt(2). Row i runs along +y."""
    t = math.tan(corner_field) / math.sqrt(2)
    u = [(-1 + 2 * i / (n - 1)) * t if n > 1 else 0.0 for i in range(n)]
    return [[(math.atan(u[j]), math.atan(u[i])) for j in range(n)] for i in range(n)]


def render_pitch(lens: SequentialLens, wavelength: float, corner_field: float, n_px: int) -> float:
    """Pixel pitch (m) at which ``n_px`` pixels, first to last, span the image of :func:`render_fields`'s square:
    twice the chief ray's image height at the edge field over (n_px - 1)."""
    edge = math.atan(math.tan(corner_field) / math.sqrt(2))
    y, _ = lens.chief_hit(wavelength, edge, convention="paraxial")
    return 2 * abs(float(y)) / (n_px - 1)


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
    corner = p["render_field_deg"] * deg
    ax = math.atan(math.tan(corner) / math.sqrt(2))
    for name, lens, a in (("Cooke", s.cooke, min(s.apertures)), ("singlet", s.singlet, s.singlet_beam)):
        ns, n_ref = p["map_n_side"], p["map_ref_n"]
        pitch = render_pitch(lens, s.wavelength, corner, p["render_n"])
        g = Grid(p["render_psf_n"], pitch)
        try:  # the corner PSF of the reference map: the steepest wavefront and the widest pattern
            pr = pupil_rays(lens, s.wavelength, (ax, ax), n_side=ns, convention="paraxial", radius=a)
            pupil_psf(pr, pr.window(g))
            _, sx, _, sy = direction_grid(pr)
            q = sub_samples(g, pr, sx, sy, None)
            ok, why = True, f"pitch {pitch / um:.1f} um, {q}x{q} sub-samples"
        except (SamplingError, ValueError) as e:
            ok, why, q = False, str(e)[:120], 1
        fine = g.shape[0] * q  # the matrix DFT: (fine x ns)(ns x ns)(ns x fine), complex (4 real products each)
        dft = 4 * (budget.matmul_flops(fine, ns, ns) + budget.matmul_flops(fine, ns, fine)) / budget.CPU_MATMUL_FLOPS
        add(f"Table 2: {name} reference map, {n_ref}x{n_ref} PSFs of {p['render_psf_n']}^2 px, corner "
            f"{p['render_field_deg']:g} deg ({why})", ok, 8 * n_ref ** 2 * p["render_psf_n"] ** 2,
            n_ref ** 2 * (math.pi / 4 * ns ** 2 / TRACE_RATE_CPU + dft + PSF_OVERHEAD_CPU))
    field = max(p["e2e_fields_deg"]) * deg
    for a_mm, px_um in p["e2e_cases"]:  # the training PSFs' sampling at the largest field, before any step
        ns = p["e2e_n_side"]
        n_px = e2e_window_px(p["e2e_psf_n"], px_um)
        try:
            pr = pupil_rays(s.cooke, s.wavelength, field, n_side=ns, convention="paraxial", radius=a_mm * mm)
            pupil_psf(pr, pr.window(Grid(n_px, px_um * um)))
            ok, why = True, f"{n_px}^2 px"
        except (SamplingError, ValueError) as e:
            ok, why = False, str(e)[:120]
        per_psf = E2E_PSF_CPU * (ns / 64) ** 2
        add(f"Table 1: a = {a_mm:g} mm, {px_um:g} um, {p['e2e_steps']} steps x 3 systems x "
            f"{len(p['e2e_fields_deg'])} fields ({why})", ok, 16 * (ns * n_px * 2 + n_px ** 2) * len(p["e2e_fields_deg"]),
            3 * p["e2e_steps"] * len(p["e2e_fields_deg"]) * per_psf)
    nt = p["timing_n_side"]
    terms = math.pi / 4 * nt ** 2 * p["timing_psf_n"] ** 2
    add(f"Fig. 9 timing: Huygens, {nt}^2 rays x {p['timing_psf_n']}^2 px, fwd+bwd x {p['timing_repeats']}", True,
        12 * 8 * (1 << 20), 3 * terms / HUYGENS_RATE_CPU * p["timing_repeats"], note="")
    return {"rows": rows, "peak_bytes": max(r["bytes"] for r in rows),
            "seconds": sum(r["seconds"] for r in rows), "all_required_valid": all(r["valid"] for r in rows if r["note"] == "required")}


def dry_run_report(d: Dict) -> str:
    lines = [f"{r['step'][:96]:<96} valid {str(r['valid']):<5} memory {budget.human_bytes(r['bytes']):>10}  "
             f"time ~{r['seconds']:.1f} s (2-core CPU rates)" for r in d["rows"]]
    lines.append(f"peak memory {budget.human_bytes(d['peak_bytes'])}, about {d['seconds']:.0f} s of counted work "
                 f"at {HUYGENS_RATE_CPU / 1e6:g} M ray-px/s (Huygens) and {TRACE_RATE_CPU / 1e6:g} M rays/s (tracing)")
    return "\n".join(lines)
