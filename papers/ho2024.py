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
import time
from dataclasses import dataclass
from typing import Dict, List

import torch

from optlib import budget
from optlib.grid import Grid
from optlib.psf import pupil_psf, pupil_rays
from optlib.psf.pupil import direction_grid, sub_samples
from optlib.rays import FreeformSurface, Rays, SequentialLens, Surface, library
from optlib.sampling import SamplingError
from optlib.units import deg, mm, nm, um

from . import check_names

PARAMS = ("scale", "seed", "device", "cooke_scale", "psf_wavelength_nm", "airy_wavelength_nm", "apertures_mm",
          "fields_deg", "psf_n", "psf_pitch_um", "n_side", "singlet_beam_mm", "singlet_psf_n", "singlet_pitch_um",
          "singlet_n_side", "limit_radii_mm", "pixel_sizes_um", "pixel_psf_n", "timing_n_side", "timing_psf_n",
          "timing_repeats", "asph_hfov_deg", "render_n", "render_field_deg", "render_psf_n", "map_ref_n", "map_n",
          "map_n_side", "n_render_train", "n_render_test", "render_noise", "recon_steps", "recon_patch",
          "recon_batch", "recon_width", "recon_lr", "e2e_cases", "e2e_fields_deg", "e2e_psf_n", "e2e_n_side",
          "e2e_steps", "e2e_lr_lens", "e2e_lr_net", "e2e_lr_gamma", "e2e_patch", "e2e_batch", "e2e_noise", "e2e_n_test",
          "ff_wavelength_nm", "ff_size_mm", "ff_window_mm", "ff_glass_mm", "ff_nodes", "ff_bumps", "ff_max_slope",
          "ff_n", "ff_distance_mm", "ff_angles_deg", "rec_distance_mm", "rec_n", "rec_max_slope", "rec_init_um",
          "rec_steps", "rec_lr_um", "cls_cases", "cls_n_train", "cls_n_test", "cls_size", "cls_width", "cls_steps",
          "cls_batch", "cls_lr_net", "checkpoint_dir")

#: measured on the machines of this project (2 cores, torch 2.13.0+cpu; README "Measured"): the Huygens sum's
#: ray x sub-sample rate and the tracer's forward rate, used by the dry run's time estimates
HUYGENS_RATE_CPU = 17e6      # ray-pixel terms per second
TRACE_RATE_CPU = 3.5e6       # rays per second through a lens of a few surfaces, float64
PSF_OVERHEAD_CPU = 0.02      # s per pupil PSF beyond its rays and DFT (chief ray, window): 162 map PSFs in 4 s at tiny
E2E_PSF_CPU = 0.04           # s per differentiable PSF in training, forward + backward (64^2 rays, 49^2 px at tiny)
FF_STEP_CPU = 0.075          # s per freeform recovery step, forward + backward (41k rays, 128^2 field at tiny)
#: rays per field sample along a side of the freeform patch (to_field needs rays denser than its samples)
FF_RAYS_PER_SAMPLE = 1.6
#: the rays become a Field this far (m) behind the freeform's base plane: beyond every height, before any caustic
FF_CONVERSION_GAP = 20e-6


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
    for key in ("e2e_cases", "cls_cases"):
        if not p[key] or any(len(c) != 2 or min(c) <= 0 for c in p[key]):
            raise ValueError(f"ho2024: {key} must be a non-empty list of [aperture radius mm, pixel um] pairs, got "
                             f"{p[key]!r}")
    if 2 * (p["e2e_psf_n"] // 2) >= p["e2e_patch"]:
        raise ValueError(f"ho2024: the e2e PSF window ({p['e2e_psf_n']} um at 1 um pixels) must be smaller than "
                         f"e2e_patch ({p['e2e_patch']})")
    if max(e2e_window_px(p["e2e_psf_n"], c[1]) for c in p["cls_cases"]) >= p["cls_size"]:
        raise ValueError(f"ho2024: the PSF window ({p['e2e_psf_n']} um) must be smaller than the classifier's images "
                         f"(cls_size {p['cls_size']} pixels)")
    if not 0 < p["render_field_deg"] < 90:
        raise ValueError(f"ho2024: render_field_deg must be in (0, 90), got {p['render_field_deg']!r}")
    if not 0 < p["ff_size_mm"] < p["ff_window_mm"]:
        raise ValueError(f"ho2024: the freeform patch (ff_size_mm {p['ff_size_mm']!r}) must be smaller than the "
                         f"measurement window (ff_window_mm {p['ff_window_mm']!r})")
    for key in ("ff_n", "rec_n"):
        if p[key] < 16 or p[key] % 2:
            raise ValueError(f"ho2024: {key} must be even and >= 16 (sensor pixels are 2 x 2 field samples), got {p[key]!r}")
    if p["ff_nodes"] < 4 or not p["ff_angles_deg"] or any(not 0 <= a < 60 for a in p["ff_angles_deg"]):
        raise ValueError("ho2024: ff_nodes must be >= 4 and ff_angles_deg a non-empty list of angles in [0, 60) deg")


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


#: the parameters that determine Table 2's reference PSF maps (the key of their checkpoint)
RENDER_MAP_PARAMS = ("cooke_scale", "psf_wavelength_nm", "singlet_beam_mm", "render_n", "render_field_deg",
                     "render_psf_n", "map_ref_n", "map_n_side")
#: the Cooke triplet's beam radius (m) on its paraxial entrance pupil in Table 2's renders (the paper's 0.1 mm)
RENDER_COOKE_RADIUS = 0.1 * mm


def render_lenses(s: Setup, p: Dict) -> Dict[str, tuple]:
    """Table 2's two lenses by name: (lens, beam radius on the paraxial entrance pupil in m)."""
    return {"singlet": (s.singlet, s.singlet_beam), f"Cooke x{p['cooke_scale']:g}": (s.cooke, RENDER_COOKE_RADIUS)}


def render_maps(s: Setup, p: Dict, checkpoint=None, progress: bool = False):
    """Table 2's reference PSF maps: for each lens of :func:`render_lenses`, ``map_ref_n`` x ``map_ref_n`` pupil
    PSFs (:func:`optlib.psf.psf_map`, paraxial convention) of ``render_psf_n``^2 pixels at the pitch of
    :func:`render_pitch`, at the fields of :func:`render_fields`. Returns ({name: map (n, n, H, W) float64 on
    the CPU, unnormalised}, {name: pitch in m}).

    Under torchrun the maps are sharded over the processes (every process gets them whole). With ``checkpoint``
    (a file path) the maps are read from it when it exists and was written for the same
    :data:`RENDER_MAP_PARAMS` (another key raises, naming both), else computed and written there atomically by
    rank 0: ``python -m papers.ho2024 maps`` computes a full-scale set once, on as many processes as there are."""
    from pathlib import Path

    import torch.distributed as dist

    from optlib.psf import psf_map
    from optlib.train import load_checkpoint, save_checkpoint
    key = repr(sorted((k, p[k]) for k in RENDER_MAP_PARAMS))
    if checkpoint and Path(checkpoint).is_file():
        st = load_checkpoint(checkpoint)
        if st.get("key") != key:
            raise ValueError(f"{checkpoint} holds PSF maps of other settings (its key {st.get('key')!r} != {key!r}); "
                             "use another checkpoint_dir, or delete it to compute them afresh")
        return dict(st["maps"]), dict(st["pitch"])
    corner = p["render_field_deg"] * deg
    fields = render_fields(p["map_ref_n"], corner)
    maps, pitch = {}, {}
    for name, (lens, a) in render_lenses(s, p).items():
        pitch[name] = render_pitch(lens, s.wavelength, corner, p["render_n"])
        with torch.no_grad():
            maps[name] = psf_map(lens, s.wavelength, Grid(p["render_psf_n"], pitch[name]), fields,
                                 n_side=p["map_n_side"], convention="paraxial", radius=a, progress=progress).cpu()
    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    if checkpoint and rank == 0:
        save_checkpoint(checkpoint, {"key": key, "maps": maps, "pitch": pitch})
    return maps, pitch


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


class GaussianBumps:
    """A smooth random freeform height map: ``n`` Gaussian bumps of random signed heights and widths 25-40 um,
    centred in the middle 80 % of the square of side ``size`` (m) about the axis, drawn from ``generator``, the
    heights scaled so that the steepest slope on the square is ``max_slope``. Exact heights and slopes (the
    reference the mesh and the B-spline are measured against); the height-model protocol of
    :class:`optlib.rays.FreeformSurface`."""

    def __init__(self, size: float, n: int, max_slope: float, generator: torch.Generator, dtype=torch.float64):
        r = lambda: torch.rand(n, generator=generator, dtype=dtype)  # noqa: E731
        self.size = size
        self.cy, self.cx = (r() - 0.5) * 0.8 * size, (r() - 0.5) * 0.8 * size
        self.amp = 2 * r() - 1
        self.sig = (25 + 15 * r()) * um
        self.bounds = (-size / 2, size / 2, -size / 2, size / 2)
        self.amp = self.amp * (max_slope / steepest_slope(self, size))

    def __call__(self, x: torch.Tensor, y: torch.Tensor):
        """Height (m) and slopes (h_x, h_y) at the points (x, y) (m)."""
        ex, ey = x[..., None] - self.cx.to(x.device), y[..., None] - self.cy.to(x.device)
        s2 = self.sig.to(x.device) ** 2
        g = self.amp.to(x.device) * torch.exp(-(ex * ex + ey * ey) / (2 * s2))
        return g.sum(-1), (-g * ex / s2).sum(-1), (-g * ey / s2).sum(-1)

    def tensors(self):
        return ()

    def to(self, device):
        return self  # its parameters move to the points' device when evaluated

    def nodes(self, n: int):
        """The heights (m) sampled at ``n`` x ``n`` nodes spanning the square, their pitch (m) and the first
        node's (y, x) (m): the "discrete height map" of the paper's Fig. 14."""
        t = torch.linspace(-self.size / 2, self.size / 2, n, dtype=self.amp.dtype)
        yy, xx = torch.meshgrid(t, t, indexing="ij")
        return self(xx, yy)[0], self.size / (n - 1), (-self.size / 2, -self.size / 2)


def steepest_slope(height, size: float, n: int = 241) -> float:
    """The largest slope |grad h| of a height model over the square of side ``size`` (m), on an ``n`` x ``n``
    grid (dimensionless)."""
    t = torch.linspace(-size / 2, size / 2, n, dtype=torch.float64)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    with torch.no_grad():
        _, hx, hy = height(xx.flatten(), yy.flatten())
    return float(torch.hypot(hx, hy).max())


def freeform_plate(height, glass: float, material: str = "N-BK7") -> SequentialLens:
    """A plate of ``material``: a flat front face at z = 0 and the freeform ``height`` model as its rear face at
    z = ``glass`` (m) (:class:`optlib.rays.FreeformSurface`), in air."""
    half = max(abs(b) for b in height.bounds)
    return SequentialLens([Surface(0.0, 2 * half), FreeformSurface(glass, height)], [material, "air"], 2 * glass)


def plate_beam(lens: SequentialLens, wavelength: float, size: float, n_side: int, angle: float,
               dtype=torch.float64, device=None) -> Rays:
    """A collimated beam at field ``angle`` (rad, in the y-z plane) of ``n_side`` x ``n_side`` parallel rays that
    meets the plate's rear plane (its freeform's base) on the square of side ``size`` (m) about the axis: the
    rays start 0.1 mm before the front face, offset by their walk through the air gap and the glass (Snell at
    the flat front). Their optical paths start on one wavefront."""
    n_g = lens.materials[0].n(wavelength)
    glass = float(lens.surfaces[1].z)
    gap = 1e-4
    walk = glass * math.tan(math.asin(math.sin(angle) / n_g)) + gap * math.tan(angle)
    s = (torch.arange(n_side, dtype=dtype, device=device) + 0.5) / n_side * size - size / 2
    yy, xx = torch.meshgrid(s, s, indexing="ij")
    o = torch.stack([xx.flatten(), yy.flatten() - walk, torch.full((n_side ** 2,), -gap, dtype=dtype, device=device)], -1)
    d = SequentialLens.direction(angle, dtype, o.device).expand_as(o).clone()
    return Rays(o, d, wavelength, (o * d).sum(-1))


def freeform_rays_per_side(size: float, window: float, n: int) -> int:
    """Rays per side of the patch for a field of ``n`` samples across ``window`` (m): denser than the samples."""
    return int(math.ceil(FF_RAYS_PER_SAMPLE * size / (window / n)))


def freeform_sampling(p: Dict, n: int, z: float, slope: float, angle: float):
    """Whether the freeform measurement's sampling holds for a surface of steepest slope ``slope`` lit at
    ``angle`` (rad), ``n`` field samples across the window, measured ``z`` (m) behind the plate: the rays'
    field (:func:`optlib.rays.to_field`'s checks: directions about the carrier, ray density) and the
    angular-spectrum step's band (:func:`optlib.propagation.asm`'s check), run on the chapter's own kind of
    surface. Returns (ok, reason)."""
    from optlib.propagation import asm
    from optlib.rays import carrier_of, to_field
    size, window, wl = p["ff_size_mm"] * mm, p["ff_window_mm"] * mm, p["ff_wavelength_nm"] * nm
    bumps = GaussianBumps(size, p["ff_bumps"], slope, torch.Generator().manual_seed(p["seed"]))
    lens = freeform_plate(bumps, p["ff_glass_mm"] * mm)
    rays = plate_beam(lens, wl, size, freeform_rays_per_side(size, window, n), angle)
    zc = float(lens.surfaces[1].z) + FF_CONVERSION_GAP
    try:
        with torch.no_grad():
            out = lens.trace(rays, to_sensor=False).to_plane(zc)
            grid = Grid((n, n), window / n, origin=(FF_CONVERSION_GAP * math.tan(angle), 0.0))
            asm(to_field(out, grid, carrier=carrier_of(rays.d[0], wl)), z - zc)
        return True, f"pitch {window / n / um:.2f} um"
    except SamplingError as e:
        return False, str(e)[:120]


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
    n_f = len(p["e2e_fields_deg"])
    for table, cases, steps, systems, psfs_per_step in (("Table 1", p["e2e_cases"], p["e2e_steps"], 3, n_f),
                                                        ("Table 3", p["cls_cases"], p["cls_steps"], 2, 1)):
        for a_mm, px_um in cases:  # the training PSFs' sampling at the largest field, before any step
            ns = p["e2e_n_side"]
            n_px = e2e_window_px(p["e2e_psf_n"], px_um)
            try:
                pr = pupil_rays(s.cooke, s.wavelength, field, n_side=ns, convention="paraxial", radius=a_mm * mm)
                pupil_psf(pr, pr.window(Grid(n_px, px_um * um)))
                ok, why = True, f"{n_px}^2 px"
            except (SamplingError, ValueError) as e:
                ok, why = False, str(e)[:120]
            per_psf = E2E_PSF_CPU * (ns / 64) ** 2
            add(f"{table}: a = {a_mm:g} mm, {px_um:g} um, {steps} steps x {systems} systems x {psfs_per_step} "
                f"field(s) per step ({why})", ok, 16 * (ns * n_px * 2 + n_px ** 2) * psfs_per_step,
                systems * steps * psfs_per_step * per_psf)
    for fig, n, z, slope, angle, steps in (
            ("Fig. 14", p["ff_n"], p["ff_distance_mm"] * mm, p["ff_max_slope"], max(p["ff_angles_deg"]) * deg, 0),
            ("Fig. 15", p["rec_n"], p["rec_distance_mm"] * mm, p["rec_max_slope"], 0.0, p["rec_steps"])):
        ok, why = freeform_sampling(p, n, z, slope, angle)
        rays = freeform_rays_per_side(p["ff_size_mm"] * mm, p["ff_window_mm"] * mm, n) ** 2
        add(f"{fig}: {n}^2 field, {rays} rays, {z / mm:g} mm, slope {slope:g}, {math.degrees(angle):g} deg ({why})"
            + (f", {steps} steps x 2 models" if steps else ""), ok, 16 * 4 * (2 * n) ** 2 + 8 * 30 * rays,
            2 * steps * FF_STEP_CPU * (n / 128) ** 2 + 8 * rays / TRACE_RATE_CPU)
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


def main(argv=None) -> int:
    """``python -m papers.ho2024 maps --params P.yaml --out DIR``: compute Table 2's reference PSF maps
    (:func:`render_maps`) once, sharded over the processes of torchrun, into ``DIR/<scale>_render_maps.pt``; the chapter
    run with ``checkpoint_dir: DIR`` and the same map parameters reads them instead of computing them."""
    import argparse
    from pathlib import Path

    from optlib import train

    from . import read_param_file
    ap = argparse.ArgumentParser(prog="python -m papers.ho2024", description=main.__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("maps", help="compute Table 2's reference PSF maps")
    m.add_argument("--params", required=True, help="chapter parameter YAML (e.g. params/ho2024/full.yaml)")
    m.add_argument("--out", required=True, help="output folder (the chapter's checkpoint_dir)")
    m.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    try:
        p = read_param_file("ho2024", a.params)
    except (KeyError, ValueError, FileNotFoundError) as e:
        raise SystemExit(f"{a.params}: {e.args[0] if e.args else e}")
    rank, world, device = train.distributed_setup()
    t0 = time.perf_counter()
    out = Path(a.out) / f"{p['scale']}_render_maps.pt"  # the chapter's name for it: <scale>_<name>.pt
    maps, _ = render_maps(setup(p, device=device), p, checkpoint=out, progress=not a.no_progress and rank == 0)
    if rank == 0:
        n = sum(v.shape[0] * v.shape[1] for v in maps.values())
        print(f"{n} PSFs by {world} process(es) in {time.perf_counter() - t0:.0f} s; {out}")
    train.distributed_cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
