"""Yang et al. (2024), end-to-end hybrid refractive-diffractive lens design with a differentiable ray-wave model
(supplement): the chapter's prototype lens and windows built from its parameters, the fields two simpler wave
models put on the DOE plane (the paraxial thin lens's ideal spherical wave; the pupil-aberration model's sphere
plus fitted Zernike terms), the comparison DOEs, the diffraction orders of a binary grating, the float32/float64
path-length check against an extended-precision reference, and the dry run. The forward models are composed in
the chapter.

The lens (shared/reproduction-notes.md, chapter 003; the authors' ``a489_doe.json``): a 1 mm stop on the front
face of an HK51 aspheric singlet, the DOE plane at z = 8.3098 mm, the sensor at 11.257 mm
(:func:`optlib.rays.library` ``"yang2024_a489"``; HK51 from the authors' material table, see
:mod:`optlib.materials`). With that glass the sensor is in focus for a point 0.5 m away at 530 nm, so the
chapter's point sources sit there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
import torch

from optlib import budget
from optlib.elements.zernike import zernike_fit, zernike_surface
from optlib.field import Field
from optlib.grid import Grid
from optlib.imaging.sensor import pixel_factor, pixel_integrate, pixelate
from optlib.metrics import rms_radius
from optlib.propagation import walk_off
from optlib.psf import field_grid, fold_square, propagate_to_sensor
from optlib.rays import Rays, SequentialLens, library, to_field
from optlib.sampling import SamplingError
from optlib.units import deg, mm, nm, um

from . import check_names

PARAMS = ("scale", "seed", "device", "wavelength_nm", "depth_m", "fields_deg", "psf_n", "pixel_um", "dx_um",
          "window", "n_side", "ref_factor", "zernike_terms", "aberration_field_deg", "edge_radius_um",
          "smooth_waves", "grating_period_um", "grating_psf_n", "grating_pixel_um", "fp_source_m", "fp_n_side",
          "fp_grid_n", "fp_pitch_um", "quant_levels", "chen_n_side", "geo_n_side", "ac_map", "map_deg",
          "ac_check_map", "design_wavelengths_nm", "ac_dx_um", "ac_window", "ac_n_side", "ac_terms", "ac_steps", "ac_lr",
          "ac_lr_sensor_um", "ac_box_um", "rec_pixel_um", "rec_kernel", "rec_patch", "rec_train", "rec_test",
          "rec_steps", "rec_batch", "rec_width", "rec_lr", "rec_noise", "s8_map", "s8_frames_train",
          "s8_frames_test", "s8_ft_steps", "edof_focus_m", "edof_depths_m", "edof_fields_deg", "edof_map",
          "edof_map_batch", "edof_eval_fields_deg", "edof_n_side", "edof_terms", "edof_steps", "edof_lr",
          "edof_init_rad", "edof_beta", "edof_e2e_steps", "edof_e2e_lr", "edof_alpha", "edof_batch",
          "checkpoint_psfs", "checkpoint_dir")

#: the DOE of the prototype: 3 x 3 mm of 1 um pixels at z = 8.3098 mm (the authors' a489_doe.json)
DOE_Z = 8.3098 * mm
DOE_PIXEL = 1 * um
DOE_SIZE = 3 * mm
#: the paper's numbers for the prototype (reproduction notes): EFL and F-number
PAPER_EFL = 7.77 * mm
PAPER_FNUM = 3.89
#: measured on the machines of this project (2 cores, torch 2.13.0+cpu): rays traced and splatted per second,
#: float64 (the dry run's time estimates)
RAYWAVE_RATE_CPU = 1.5e6


@dataclass
class Setup:
    """The chapter's lens and windows. Lengths in metres, angles in radians, wavelengths in metres."""
    lens: SequentialLens
    wavelength: float
    depth: float
    fields: List[float]
    sensor_pixel: float
    dx: float
    window: int
    n_side: int
    psf_n: int


def check(p: Dict) -> None:
    check_names("yang2024", p, PARAMS)
    for key in ("wavelength_nm", "depth_m", "pixel_um", "dx_um", "grating_period_um", "grating_pixel_um",
                "fp_source_m", "fp_pitch_um", "edge_radius_um"):
        v = p[key]
        if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise ValueError(f"yang2024: {key} must be a positive finite number, got {v!r}")
    if not p["fields_deg"] or any(not 0 <= f < 25 for f in p["fields_deg"]):
        raise ValueError(f"yang2024: fields_deg must be a non-empty list of angles in [0, 25) deg (the lens's "
                         f"coverage), got {p['fields_deg']!r}")
    ratio = p["pixel_um"] / p["dx_um"]
    if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
        raise ValueError(f"yang2024: pixel_um ({p['pixel_um']}) must be an integer multiple of dx_um ({p['dx_um']})")
    if p["dx_um"] > DOE_PIXEL / um + 1e-12:
        raise ValueError(f"yang2024: dx_um ({p['dx_um']}) must be at most the DOE's {DOE_PIXEL / um:g} um pixel "
                         "(a coarser field cannot see its pixels)")
    if p["psf_n"] % 2 == 0 or p["grating_psf_n"] % 2 == 0:
        raise ValueError("yang2024: psf_n and grating_psf_n must be odd (a pixel on the chief ray)")
    maps = ("ac_map", "ac_check_map", "edof_map", "edof_map_batch")
    if any(not isinstance(p[k], int) or isinstance(p[k], bool) or p[k] < (0 if k == "edof_map" else 1)
           for k in maps) or not 0 < p["map_deg"] < 25:
        raise ValueError("yang2024: ac_map, ac_check_map and edof_map_batch must be whole numbers >= 1 (points per "
                         "side of a PSF map; design points per EDoF step), edof_map a whole number >= 0 (0: no map) "
                         "and map_deg in (0, 25) deg (the maps' corner field), got "
                         + ", ".join(f"{k} {p[k]!r}" for k in maps + ("map_deg",)))
    wls = p["design_wavelengths_nm"]
    if not isinstance(wls, list) or not wls or p["wavelength_nm"] not in wls:
        raise ValueError(f"yang2024: design_wavelengths_nm must be a list that holds wavelength_nm "
                         f"({p['wavelength_nm']!r}, where the designs are evaluated), got {wls!r}")
    s8 = ("s8_map", "s8_frames_train", "s8_frames_test", "s8_ft_steps")
    if any(not isinstance(p[k], int) or isinstance(p[k], bool) or p[k] < (0 if k == "s8_ft_steps" else 1) for k in s8):
        raise ValueError("yang2024: s8_map (points per side of Fig. S8's PSF map), s8_frames_train and s8_frames_test "
                         "(photographs) must be whole numbers >= 1 and s8_ft_steps (fine-tuning steps) >= 0, got "
                         + ", ".join(f"{k} {p[k]!r}" for k in s8))
    fields = p["edof_fields_deg"]
    if not isinstance(fields, list) or any(not isinstance(f, (int, float)) or not 0 <= f < 25 for f in fields) \
            or bool(fields) == bool(p["edof_map"]):
        raise ValueError("yang2024: the EDoF design's points are either a PSF map (edof_map >= 1, edof_fields_deg "
                         "[]) or fields on the diagonal (edof_fields_deg, angles in [0, 25) deg, and edof_map 0), "
                         f"got edof_map {p['edof_map']!r} and edof_fields_deg {fields!r}")
    n_points = p["edof_map"] ** 2 or len(fields)
    if p["edof_map_batch"] > n_points:
        raise ValueError(f"yang2024: edof_map_batch ({p['edof_map_batch']}) cannot exceed the EDoF design's "
                         f"{n_points} points")
    if not isinstance(p["checkpoint_psfs"], bool):
        raise ValueError(f"yang2024: checkpoint_psfs must be true or false, got {p['checkpoint_psfs']!r}")
    if p["quant_levels"] < 2 or p["zernike_terms"] < 1 or p["ref_factor"] < 1:
        raise ValueError("yang2024: quant_levels >= 2, zernike_terms >= 1 and ref_factor >= 1 are required")


def setup(p: Dict, device=None) -> Setup:
    """The chapter's set-up from its parameter dict ``p`` (keys in :data:`PARAMS`), the lens making its rays on
    ``device`` (default: the CPU)."""
    check(p)
    dev = torch.device(device or "cpu")
    return Setup(lens=library("yang2024_a489").to(dev), wavelength=p["wavelength_nm"] * nm, depth=p["depth_m"],
                 fields=[f * deg for f in p["fields_deg"]], sensor_pixel=p["pixel_um"] * um, dx=p["dx_um"] * um,
                 window=p["window"], n_side=p["n_side"], psf_n=p["psf_n"])


def source(s: Setup, field: float, azimuth: float = 0.0, depth: float = None):
    """The point source (x, y, z) in m at ``depth`` (default the set-up's) in the direction of ``field`` (rad),
    in the plane through the axis at ``azimuth`` (rad) from the y-z plane towards +x (0: the y-z plane;
    pi / 4: the sensor's diagonal). The first vertex is at z = 0."""
    d = s.depth if depth is None else depth
    t = d * math.tan(field)
    return (t * math.sin(azimuth), t * math.cos(azimuth), -d)


def sensor_window(s: Setup, field: float, n: int = None, pixel: float = None, azimuth: float = 0.0,
                  lens: SequentialLens = None, depth: float = None) -> Grid:
    """The sensor's pixels (``n`` x ``n`` of ``pixel`` m) centred on the chief ray's hit from :func:`source`
    on the sensor of ``lens`` (default the set-up's)."""
    y, x = (lens or s.lens).chief_hit(s.wavelength, source=source(s, field, azimuth, depth))
    return Grid(n or s.psf_n, pixel or s.sensor_pixel).at((y, x))


def map_grid(n: int, corner: float) -> List[List[Tuple[float, float]]]:
    """The paper's n x n PSF map over a square field of view whose corners are at the field ``corner`` (rad), as
    (theta_x, theta_y) pairs (rad): the centres of its n x n cells (:func:`optlib.psf.field_grid`,
    ``centres=True``), row i at theta_y_i, rows along +theta_y."""
    half = math.atan(math.tan(corner) / math.sqrt(2))  # the square's half side, as a field angle on one axis
    return field_grid(n, half, centres=True)


def map_points(n: int, corner: float, fold: bool = True) -> List[Tuple[float, float, float]]:
    """The paper's n x n PSF map (:func:`map_grid`), each point standing for its cell, as (field (rad), azimuth
    (rad) from the y-z plane towards +x, weight): row by row, weights 1 / n^2.

    ``fold``: folded by the prototype's symmetry (:func:`optlib.psf.fold_square`; its order, which
    :func:`optlib.psf.unfold_square` takes back). Its lens and the phase of a Binary 2 DOE are rotationally
    symmetric, and the DOE's square outline and pixels are unchanged by the square's eight symmetries (mirrors in
    x, in y and in the diagonal), so every point has the same PSF, mirrored, as one with 0 <= x <= y (azimuth in
    [0, pi / 4]); each weight is how many of the n^2 points it stands for, over n^2. Not for a DOE without that
    symmetry (the EDoF design's Zernike phase)."""
    grid = map_grid(n, corner)
    if not fold:
        return [(*polar_field(ax, ay), 1 / n ** 2) for row in grid for ax, ay in row]
    return [(*polar_field(ax, ay), w) for (ax, ay), w in fold_square(grid)]


def map_frame(s: Setup, n: int, corner: float, pixel: float) -> int:
    """The side, in sensor pixels of ``pixel`` m (odd), of the frame whose corners are the n x n map's outermost
    cell centres (:func:`map_grid`) as the lens images them: twice the chief ray's height on the sensor for the
    outermost column on the x axis, so that :func:`optlib.imaging.render_varying`'s PSF centres (first to last
    pixel) fall where the map's points image, to within the lens's distortion along the diagonal."""
    t = map_grid(n, corner)[0][-1][0]
    _, x = s.lens.chief_hit(s.wavelength, source=source(s, *polar_field(t, 0.0)))
    return 2 * round(abs(x) / pixel) + 1


def polar_field(theta_x: float, theta_y: float) -> Tuple[float, float]:
    """The direction (tan theta_x, tan theta_y, 1) as (field (rad) from the axis, azimuth (rad) from the y-z plane
    towards +x): the convention of :func:`source`."""
    tx, ty = math.tan(theta_x), math.tan(theta_y)
    return math.atan(math.hypot(tx, ty)), (math.atan2(tx, ty) if tx or ty else 0.0)


def edof_points(p: Dict) -> List[Tuple[float, float, float]]:
    """The EDoF design's points as (field (rad), azimuth (rad), weight): the ``edof_map`` x ``edof_map`` PSF map
    over the square with corners at ``map_deg`` (:func:`map_points`, unfolded: a Zernike phase has no symmetry),
    or with ``edof_map`` 0 the fields ``edof_fields_deg`` on the sensor's diagonal."""
    if p["edof_map"]:
        return map_points(p["edof_map"], p["map_deg"] * deg, fold=False)
    return [(f * deg, math.pi / 4, 1 / len(p["edof_fields_deg"])) for f in p["edof_fields_deg"]]


def rays_at_doe(s: Setup, field: float, n_side: int):
    """The pupil bundle from :func:`source` and its chief ray, traced to the DOE plane (float64)."""
    src = source(s, field)
    rays, _ = s.lens.pupil_bundle(s.wavelength, n_side, source=src)
    out = s.lens.trace(rays, to_sensor=False).to_plane(DOE_Z)
    chief = s.lens.trace(s.lens.chief_ray(s.wavelength, source=src), to_sensor=False).to_plane(DOE_Z)
    return out, chief


def to_sensor(E: Field, doe, lens: SequentialLens, sensor: Grid) -> torch.Tensor:
    """A Field on the DOE plane through ``doe`` (or none) to the ``sensor`` pixels of ``lens``: the ray-wave model's
    steps 3-5 (:func:`optlib.psf.propagate_to_sensor`, then :func:`optlib.imaging.pixelate`), shared by the three
    wave models whose fields on the plane differ."""
    fine = sensor.subdivided(pixel_factor(E.grid, sensor))
    return pixelate(propagate_to_sensor(E, float(lens.sensor_z) - DOE_Z, doe, window=fine), sensor)


def model_field(E: Field, s: Setup, field: float, kind: str, n_terms: int = 37, n_side: int = 128,
                focus_z: float = None):
    """The field a simpler model puts on the DOE plane, on the grid and carrier of the ray-wave Field ``E`` and
    with its power: a uniform disc times a spherical wave converging to the chief ray's sensor hit P (or, given
    ``focus_z`` (m), to the chief ray's point at that z: the model's image of a point out of focus).

    ``kind="paraxial"``: the thin-lens model, an aberration-free sphere over a disc of the on-axis beam's radius
    about the chief ray (the same for every field). ``kind="zernike"``: the pupil-aberration model, the sphere
    plus the traced wavefront's first ``n_terms`` Noll terms, fitted (:func:`optlib.elements.zernike_fit`) over
    the disc about the footprint's centroid that holds every ray. Returns (Field, coefficients in m or None)."""
    out, chief = rays_at_doe(s, field, n_side)
    v = out.valid
    xy, opl = out.o[v][:, :2], out.opl[v]
    if focus_z is None:
        yP, xP = s.lens.chief_hit(s.wavelength, source=source(s, field))
        zs = float(s.lens.sensor_z)
    else:
        t = (focus_z - float(chief.o[0, 2])) / float(chief.d[0, 2])
        xP, yP, zs = float(chief.o[0, 0] + t * chief.d[0, 0]), float(chief.o[0, 1] + t * chief.d[0, 1]), focus_z
    x, y = E.grid.x(E.u.device), E.grid.y(E.u.device)
    dist = lambda X, Y: torch.sqrt((X - xP) ** 2 + (Y - yP) ** 2 + (DOE_Z - zs) ** 2)  # noqa: E731
    coef = None
    if kind == "paraxial":
        o0, c0 = rays_at_doe(s, 0.0, n_side)
        radius = float((o0.o[o0.valid][:, :2] - c0.o[0, :2]).norm(dim=-1).max())
        centre = chief.o[0, :2]
        W = 0.0
    elif kind == "zernike":
        centre = xy.mean(0)
        radius = float((xy - centre).norm(dim=-1).max()) * (1 + 1e-9)
        w = opl + dist(xy[:, 0], xy[:, 1])  # the path to P: constant for a perfect wave
        coef = zernike_fit(xy[:, 0], xy[:, 1], w - w.mean(), centre, radius, n_terms)
        W = zernike_surface(coef, x, y, centre, radius)
    else:
        raise ValueError(f"kind must be 'paraxial' or 'zernike', got {kind!r}")
    inside = ((x - float(centre[0])) ** 2 + (y - float(centre[1])) ** 2 <= radius ** 2).to(torch.float64)
    k = 2 * math.pi / s.wavelength
    fy, fx = E.carrier
    phase = k * (W - dist(x, y)) - 2 * math.pi * (fy * y + fx * x)
    amp = inside * math.sqrt(float(E.power()) / (float(inside.sum()) * E.grid.dx * E.grid.dy))
    return E.replace(u=torch.polar(amp, phase).to(E.u.dtype)), coef


def on_doe(grid: Grid, dtype=torch.float32) -> torch.Tensor:
    """1 on the samples of ``grid`` that fall on the prototype's 3 x 3 mm DOE (centred on the axis), 0 beyond
    it (where the plane is clear glass-free air)."""
    h = DOE_SIZE / 2
    return ((grid.x(dtype=torch.float64).abs() <= h) & (grid.y(dtype=torch.float64).abs() <= h)).to(dtype)


def spherical_to_binary2(n_terms: int) -> torch.Tensor:
    """The (n_terms, n_terms) float64 matrix M that turns coefficients a_k (rad) of the Noll-normalised spherical
    Zernike terms Z(2k, 0), k = 1..n_terms (piston dropped), into the Binary 2 coefficients c = M a of
    :func:`optlib.elements.binary2_phase` over the same normalising radius: the same even polynomials in an
    orthonormal basis, which an optimiser moves through far better than the raw powers of rho^2."""
    M = torch.zeros(n_terms, n_terms, dtype=torch.float64)
    for k in range(1, n_terms + 1):
        n = 2 * k
        for s_ in range(k + 1):  # R_n^0(rho) = sum_s (-1)^s (n - s)! / (s! ((n/2 - s)!)^2) rho^(n - 2 s)
            power = k - s_  # rho^(2 power)
            if power >= 1:
                M[power - 1, k - 1] += (math.sqrt(n + 1) * (-1) ** s_ * math.factorial(n - s_)
                                        / (math.factorial(s_) * math.factorial(k - s_) ** 2))
    return M


def spot_rms(out: Field, half_width: float, with_share: bool = False):
    """The size (m) of the spot in the Field ``out`` on the sensor: the RMS radius of its intensity within the
    square of +-``half_width`` (m) about the intensity's centroid (the square's place is not differentiated),
    with the light outside the square counted at distance ``half_width``, so that light thrown away never
    passes for a small spot: sqrt(inside share x rms_inside^2 + outside share x half_width^2). Differentiable.
    ``with_share`` also returns the share of the light inside the square (a float)."""
    I = out.u.abs() ** 2
    x, y = out.grid.x(I.device, I.dtype, local=True), out.grid.y(I.device, I.dtype, local=True)
    Id = I.detach()
    P = Id.sum()
    box = (((x - (Id * x).sum() / P).abs() <= half_width) & ((y - (Id * y).sum() / P).abs() <= half_width)).to(I.dtype)
    inside = I * box
    share = inside.sum() / I.sum()
    size = torch.sqrt(share * rms_radius(inside, out.grid) ** 2 + (1 - share) * half_width ** 2)
    return (size, float(share.detach())) if with_share else size


def spot_kernel(out: Field, n: int, factor: int) -> torch.Tensor:
    """The PSF in the Field ``out`` as an image kernel: ``n`` x ``n`` pixels (``n`` odd) of ``factor`` x
    ``factor`` samples, centred on the sample nearest the intensity's centroid, summing to 1. Differentiable
    (the crop's place is not)."""
    if n % 2 == 0:
        raise ValueError(f"spot_kernel: n must be odd (a centre pixel), got {n}")
    I = out.u.abs() ** 2
    Id = I.detach().to(torch.float64)
    H_, W_ = I.shape[-2:]
    yy = torch.arange(H_, dtype=torch.float64, device=I.device)[:, None]
    xx = torch.arange(W_, dtype=torch.float64, device=I.device)[None, :]
    P = Id.sum()
    cy, cx = int(round(float((Id * yy).sum() / P))), int(round(float((Id * xx).sum() / P)))
    h = n * factor // 2
    if cy - h < 0 or cx - h < 0 or cy - h + n * factor > H_ or cx - h + n * factor > W_:
        raise ValueError(f"spot_kernel: {n} pixels of {factor} samples about the centroid leave the field's window")
    crop = I[cy - h:cy - h + n * factor, cx - h:cx - h + n * factor]
    k = pixel_integrate(crop, factor)
    return k / k.sum()


def smooth_phase(grid: Grid, centre, radius: float, waves: float) -> torch.Tensor:
    """A smooth phase (rad) on the DOE's ``grid``: ``waves`` waves of astigmatism (Noll 6) plus half as much coma
    (Noll 8) over the disc of ``radius`` (m) about ``centre``, continued as the same polynomials beyond it."""
    x, y = grid.x(), grid.y()
    rho_x, rho_y = (x - centre[0]) / radius, (y - centre[1]) / radius
    r2 = rho_x ** 2 + rho_y ** 2
    astig = math.sqrt(6) * (rho_x ** 2 - rho_y ** 2)  # Noll 6: sqrt(6) rho^2 cos(2 theta)
    coma = math.sqrt(8) * (3 * r2 - 2) * rho_x        # Noll 8: sqrt(8) (3 rho^3 - 2 rho) cos(theta)
    return 2 * math.pi * waves * (astig + 0.5 * coma) / (math.sqrt(6) + 0.5 * math.sqrt(8))


def binary_grating(grid: Grid, period: float) -> torch.Tensor:
    """A 0 / pi phase grating (rad) of ``period`` (m) along x, half duty, on ``grid``: diffraction orders 0 and
    even vanish, +-1 carry 4 / pi^2 = 40.5 % each and +-3 4.5 % each (the scalar thin-element result)."""
    x = grid.x() - grid.origin[1]
    return math.pi * (torch.remainder(x, period) >= period / 2).to(torch.float64).expand(grid.shape)


def order_offsets(wavelength: float, period: float, distance: float, orders=(-3, -1, 0, 1, 3)) -> Dict[int, float]:
    """Lateral offsets (m) on the sensor of a thin grating's orders m (sin theta = m lambda / period) after
    ``distance`` (m) for a beam whose chief ray runs along the axis."""
    out = {}
    for m in orders:
        s = m * wavelength / period
        out[m] = distance * s / math.sqrt(1 - s * s)
    return out


def order_powers(psf: torch.Tensor, grid: Grid, offsets: Dict[int, float], half_width: float) -> Dict[int, float]:
    """The power of ``psf`` (on the positioned pixel ``grid``, in its own unit) within +-``half_width`` (m) in x
    (and the whole window in y) of each order's offset from the window's centre."""
    x = grid.x(psf.device, psf.dtype, local=True)[0]
    return {m: float(psf[:, (x - o).abs() <= half_width].sum()) for m, o in offsets.items()}


def path_phase_error(s: Setup, source_z: float, n_side: int, grid: Grid, dtype) -> Dict:
    """Fig. S2: rays from a point at ``source_z`` (m) on the axis traced to the DOE plane in ``dtype`` and made a
    Field on ``grid`` (the splat), against a reference that holds the long leg in extended precision: each ray
    restarted on the plane z = -1 mm with its path from the source computed in numpy's longdouble, then traced
    in float64 (every length it adds is of mm scale). Returns the splatted Fields and the phase difference
    (rad) on the samples where the reference's amplitude exceeds half its peak."""
    lens, wl = s.lens, s.wavelength
    radius = float(lens.surfaces[0].semi_diameter) * 0.999
    rays = lens.point_source(wl, source_z, radius, n_side, dtype=dtype)
    out = lens.trace(rays, to_sensor=False).to_plane(DOE_Z)
    # the reference: the same rays, restarted 1 mm in front of the stop
    r64 = lens.point_source(wl, source_z, radius, n_side, dtype=torch.float64)
    z1 = -1 * mm
    t = (z1 - r64.o[:, 2]) / r64.d[:, 2]
    o1 = r64.o + t[:, None] * r64.d
    ox, oy = (np.asarray(o1[:, i].cpu().numpy(), dtype=np.longdouble) for i in range(2))
    sx, sy = (np.longdouble(float(v)) for v in r64.o[0, :2].cpu())
    leg = np.sqrt((ox - sx) ** 2 + (oy - sy) ** 2 + (np.longdouble(z1) - np.longdouble(source_z)) ** 2)
    base = np.longdouble(-source_z)  # the on-axis leg's length, subtracted in longdouble: both OPLs are relative to it
    rel = torch.from_numpy((leg - base).astype(np.float64)).to(o1.device)
    ref = lens.trace(Rays(o1, r64.d, wl, rel, r64.valid), to_sensor=False).to_plane(DOE_Z)
    # the compared rays' paths, relative to the same on-axis length (in their own precision, then float64)
    test = Rays(out.o.double(), out.d.double(), wl, out.opl.double() - float(base), out.valid)
    f_ref = to_field(ref, grid, reference=0.0, check=False)
    f_test = to_field(test, grid, reference=0.0, check=False)
    mask = f_ref.u.abs() > 0.5 * f_ref.u.abs().max()
    dphi = torch.angle(f_test.u * f_ref.u.conj())
    return {"field": f_test, "reference": f_ref, "dphi": dphi, "mask": mask}


def dry_run(p: Dict) -> Dict:
    """Build the set-up and run the ray-wave model's sampling checks (:func:`optlib.rays.check_field_sampling`:
    the pitch against the rays' directions, the window against the beam and the sensor window, the beam's radius
    in samples, the ray density) at the largest field, for the model and for its finer reference, on a small
    bundle of the same geometry judged at the full ray count; count the work at the rates measured here."""
    from optlib.rays import carrier_of, check_field_sampling
    s = setup(p)
    rows = []

    def add(step, ok, nbytes, seconds, note="required"):
        rows.append({"step": step, "valid": bool(ok), "bytes": int(nbytes), "seconds": float(seconds), "note": note})

    f = max(s.fields)
    out, chief = rays_at_doe(s, f, 64)
    sensor = sensor_window(s, f)
    carrier = carrier_of(chief.d[0], s.wavelength)
    L = float(s.lens.sensor_z) - DOE_Z
    shift = walk_off(carrier, s.wavelength, L)
    for label, factor, note in (("ray-wave PSF", 1, "required"), ("its reference (finer)", p["ref_factor"], "")):
        dx, window, n_side = s.dx / factor, s.window * factor, s.n_side * factor
        fine = sensor.subdivided(round(s.sensor_pixel / dx))
        plane = Grid(window, dx, origin=(fine.origin[0] - shift[0], fine.origin[1] - shift[1]))
        try:
            check_field_sampling(out, plane, carrier=carrier, n_rays=math.pi / 4 * n_side ** 2)
            if fine.extent[1] > plane.extent[1]:
                raise SamplingError(f"the sensor window is wider than the field window; window >= "
                                    f"{math.ceil(fine.extent[1] / dx)}")
            ok, why = True, f"{window}^2 at {dx / um:g} um, {n_side}^2 rays"
        except SamplingError as e:
            ok, why = False, str(e)[:120]
        pad = 2 * window
        # the PSF is evaluated on the sensor's window only (asm(window=)): the cached kernel, the field's columns
        # transformed along y, and about five window-sized complex fields (the splat's sums, the DOE's input and
        # transmission, its output); at the benchmark's 1e6 rays it counts 6.0 GiB against 7.0 GiB measured
        add(f"{label}, {math.degrees(f):g} deg ({why})", ok,
            16 * (pad * pad + window * pad + 5 * window * window) + 8 * 12 * n_side * n_side,
            n_side * n_side / RAYWAVE_RATE_CPU + 2 * 2 * budget.fft_flops((pad, pad)) / budget.CPU_FFT_FLOPS, note)
    # Figs. S7 and S10: the designs' fields (diagonal), at their own pitch and rays, and the EDoF check at the
    # chapter's pitch; the nearest depth has the widest beam, the largest field the largest walk-off
    from dataclasses import replace
    diag = math.pi / 4
    lens30 = s.lens  # the refocus to edof_focus_m moves the sensor by < 0.1 mm: the same beams on the DOE plane
    near = replace(s, depth=min(p["edof_depths_m"]))
    points = map_points(p["ac_map"], p["map_deg"] * deg)  # its largest field is on the diagonal
    n_s7 = len(points) * len(p["design_wavelengths_nm"])  # the S7 fields held in memory
    edof_pts = edof_points(p)
    n_wl = len(p["design_wavelengths_nm"])
    n_s10 = 3 * len(edof_pts) * n_wl
    # bytes held per window sample: S7, each field (complex64) and its DOE mask (float32); S10, each field of the
    # ray-wave designer's map and the paraxial designer's three, at each wavelength (complex64; the Zernike phase
    # is made as needed)
    held_s7 = (8 + 4) * n_s7
    held_s10 = 8 * (n_s10 + 3 * n_wl)
    # (label, set-up, largest field (deg, diagonal), pitch, window, rays per side, bytes held per sample,
    # propagations); the designs backpropagate one point's propagation at a time
    cases = [(f"Fig. S7 design, {p['ac_map']}^2 map as {len(points)} points", s,
              round(math.degrees(max(f for f, _, _ in points)), 1), p["ac_dx_um"], p["ac_window"], p["ac_n_side"],
              held_s7, len(points) * p["ac_steps"]),
             (f"Fig. S10 design, {len(edof_pts)} points, {p['edof_map_batch']} a step", near,
              round(math.degrees(max(f for f, _, _ in edof_pts)), 1), p["ac_dx_um"], p["ac_window"], p["ac_n_side"],
              held_s10, 3 * (p["edof_map_batch"] + 1) * (p["edof_steps"] + p["edof_e2e_steps"])),
             ("Fig. S10 check", near, max(p["edof_eval_fields_deg"]), p["dx_um"], p["window"], p["edof_n_side"], 8,
              3 * len(p["edof_eval_fields_deg"]))]
    for label, sd, fdeg, dx_um, window, n_side, held, n_props in cases:
        f = fdeg * deg
        src = source(sd, f, diag)
        rays, _ = lens30.pupil_bundle(sd.wavelength, 64, source=src)
        out = lens30.trace(rays, to_sensor=False).to_plane(DOE_Z)
        chief = lens30.trace(lens30.chief_ray(sd.wavelength, source=src), to_sensor=False).to_plane(DOE_Z)
        carrier = carrier_of(chief.d[0], sd.wavelength)
        shift = walk_off(carrier, sd.wavelength, L)
        dx = dx_um * um
        y, x = lens30.chief_hit(sd.wavelength, source=src)
        plane = Grid(window, dx, origin=(y - shift[0], x - shift[1]))
        try:
            check_field_sampling(out, plane, carrier=carrier, n_rays=math.pi / 4 * n_side ** 2)
            ok, why = True, f"{window}^2 at {dx_um:g} um, {n_side}^2 rays, {fdeg:g} deg, {sd.depth:g} m"
        except SamplingError as e:
            ok, why = False, str(e)[:120]
        pad = 2 * window
        add(f"{label} ({why})", ok, held * window * window + 16 * 4 * pad * pad,
            n_props * 3 * budget.fft_flops((pad, pad)) / budget.CPU_FFT_FLOPS)
    # Fig. S8's whole frames: the map's folded points at each wavelength, each a ray-wave PSF like the first row's
    # (made one at a time) with a propagation per lens; the frames rendered with each lens's map, four at a time
    # (render_varying: two real FFTs of the padded frame per PSF and frame, 4 PSFs' spectra held at a time)
    corner = p["map_deg"] * deg
    n8 = len(map_points(p["s8_map"], corner)) * len(p["design_wavelengths_nm"])
    N = map_frame(s, p["s8_map"], corner, p["rec_pixel_um"] * um)
    M = N + p["rec_kernel"] - 1
    frames = p["s8_frames_train"] + p["s8_frames_test"]
    add(f"Fig. S8 frames: {p['s8_map']}^2 map as {n8} PSFs, {frames} frames of {N}^2 px", True,
        rows[0]["bytes"] + 3 * frames * N * N * 4 + 2 * 4 * 4 * M * (M // 2 + 1) * 8,
        n8 * rows[0]["seconds"] + 3 * p["s8_map"] ** 2 * (frames + math.ceil(frames / 4)) * budget.fft_flops((M, M))
        / 2 / budget.CPU_FFT_FLOPS)
    return {"rows": rows, "peak_bytes": max(r["bytes"] for r in rows), "seconds": sum(r["seconds"] for r in rows),
            "all_required_valid": all(r["valid"] for r in rows if r["note"] == "required")}


def dry_run_report(d: Dict) -> str:
    lines = [f"{r['step'][:96]:<96} valid {str(r['valid']):<5} memory {budget.human_bytes(r['bytes']):>10}  "
             f"time ~{r['seconds']:.1f} s (2-core CPU rates)" for r in d["rows"]]
    lines.append(f"peak memory {budget.human_bytes(d['peak_bytes'])}, about {d['seconds']:.0f} s of counted work")
    return "\n".join(lines)
