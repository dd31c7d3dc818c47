# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Yang et al. 2024: a ray-wave model for hybrid refractive-diffractive lenses
#
# Xinge Yang, Matheus Souza, Kunyi Wang, Praneeth Chakravarthula, Qiang Fu and Wolfgang Heidrich, *End-to-End
# Hybrid Refractive-Diffractive Lens Design with Differentiable Ray-Wave Model* (SIGGRAPH Asia 2024),
# supplement. The paper's argument: a DOE behind a refractive lens cannot be simulated well by the models in
# use. The paraxial wave model treats the lens as an ideal thin phase and misses its aberrations; a pupil
# model needs Zernike terms per field and wavelength; ray tracing turns the DOE into a local grating and
# cannot represent a discontinuous phase or edge diffraction; exit-pupil diffraction (Chen et al. 2021) has no
# place for a DOE at all. Their **ray-wave** model traces coherent rays (float64) to the DOE plane, turns
# them into a wave field there (each ray splatted onto its four nearest samples, Fig. S1), applies the DOE and
# propagates the field to the sensor with the angular spectrum.
#
# **In this chapter:**
#
# * the prototype lens: its glass, focal length, F-number and focus;
# * float32 against float64 coherent tracing (Fig. S2);
# * the five models on the same lens and DOEs (Figs. S3-S5), and Table S.I as a measured table;
# * the DOE's 16-level quantisation;
# * the two learned DOEs: aberration correction with reconstructions (Figs. S7-S8), and the extended depth of
#   field designed with the paraxial model against the ray-wave model (Figs. S10-S11).
#
# Figs. S6, S9 and S12 are photographs of the authors' hardware and cannot be reproduced. The designs here are
# tiny versions of the paper's (next sections): a 6 × 6 PSF map instead of 10 × 10 for the aberration design,
# EDoF fields along one diagonal instead of a 5 × 5 map, a 5 × 5 PSF map instead of 40 × 40 for the networks'
# whole frames, one wavelength instead of three per channel, tens of steps instead of 50 epochs, and small
# networks.
#
# Every PSF below is a short composition of public parts, shown where it is made: the pupil bundle from a
# point source → `lens.trace` → `Rays.to_plane` (the DOE plane) → `ol.rays.to_field` (the splat) → the DOE
# → `ol.propagation.asm` → `ol.imaging.pixelate`, and for the other models `ol.psf.ray_psf` (local
# grating), `ol.psf.pupil_rays` + `ol.psf.huygens_psf` (exit-pupil diffraction) and two fields built on the
# DOE plane by `H.model_field` (the paraxial sphere; the sphere plus fitted Zernike terms).

# %% tags=["parameters"]
scale = "tiny"
seed = 0  # draws the EDoF designs' start, the photographs' crops, the noise and the networks' batches
device = "auto"  # CUDA when present, else the CPU; the rays are float64 (Fig. S2 shows why)
wavelength_nm = 530  # the green channel's centre (the paper: 500 / 530 / 560 nm)
depth_m = 0.5  # point sources 0.5 m in front of the lens, where its sensor is in focus at 530 nm
fields_deg = [0, 3.5, 7, 10.5, 14, 17.5]  # Fig. S3's fields
psf_n = 101  # sensor window, pixels per side
pixel_um = 2  # sensor pixel for the PSF studies (the OV2710's is 3 um)
dx_um = 1  # the field's pitch on the DOE plane (the DOE's pixel)
window = 1024  # field samples per side on the DOE plane (the paper: 6000)
n_side = 768  # rays across the pupil, 463k in its disc (the paper: 1e6 rays)
ref_factor = 2  # the reference: ray-wave with this factor finer pitch and more rays per side
zernike_terms = 37  # the pupil model's Noll terms (the paper: Zemax's first 37)
aberration_field_deg = 14  # Table S.I's "optical aberration" case
edge_radius_um = 60  # Table S.I's "edge diffraction" case: a circular aperture on the DOE plane
smooth_waves = 3  # Table S.I's smooth phase: astigmatism + coma, waves at the beam's edge
grating_period_um = 16  # Table S.I's discontinuous phase: a 0 / pi binary grating
grating_psf_n = 233  # its sensor window (its +-3 orders inside)
grating_pixel_um = 3
fp_source_m = 10  # Fig. S2: a point 10 m in front of the lens
fp_n_side = 800
fp_grid_n = 800
fp_pitch_um = 1
quant_levels = 16  # the fabricated DOE's levels
chen_n_side = 96  # rays across the pupil for the exit-pupil (Huygens) sum
geo_n_side = 256  # rays across the pupil for the ray histogram
ac_map = 6  # Fig. S7: the design's PSF map, ac_map x ac_map points over the field of view (the paper: 10 x 10)
map_deg = 18  # the PSF maps' corners (Figs. S7 and S10): the field (deg) at the square field of view's corners
ac_check_map = 5  # the design is checked on another map over the same square: 5 x 5 points (none of them design points)
design_wavelengths_nm = [530]  # the designs (S7, S10) draw one per step, Fig. S8's map averages them (the paper:
# 500 / 530 / 560 nm for green); it must hold wavelength_nm, where everything is evaluated
ac_dx_um = 1.5  # the design's field pitch on the DOE plane (the result is checked at dx_um)
ac_window = 640
ac_n_side = 560  # rays across the pupil for the design (enough for a point 20 cm away)
ac_terms = 8  # the DOE's even polynomial terms (rho^2 ... rho^16)
ac_steps = 60
ac_lr = 2.0  # rad per step, on the spherical Zernike coefficients
ac_lr_sensor_um = 5.0  # um per step, on the sensor's position
ac_box_um = 100  # the spot is measured in +-100 um about its centroid
rec_pixel_um = 3  # Fig. S8: the OV2710's pixel
rec_kernel = 41  # PSF kernels of 41 x 41 pixels
rec_patch = 64
rec_train = 48  # training crops (other photographs than the test crops)
rec_test = 12
rec_steps = 150
rec_batch = 8
rec_width = 32
rec_lr = 2e-3
rec_noise = 0.01  # Gaussian read noise, in units of the image's full scale
s8_map = 5  # Fig. S8's whole frames: rendered with an s8_map x s8_map PSF map (the paper fine-tunes on 40 x 40)
s8_frames_train = 4  # photographs rendered whole, for fine-tuning
s8_frames_test = 2  # photographs rendered whole, for the test
s8_ft_steps = 50  # fine-tuning steps on crops of the whole-frame captures
edof_focus_m = 0.3  # Figs. S10-S11: the lens refocused to 30 cm
edof_depths_m = [0.2, 0.3, 10]
edof_fields_deg = [0, 8, 16]  # the ray-wave designer's points: these fields on the diagonal, or (with this [])
edof_map = 0  # an edof_map x edof_map PSF map (the paper: 5 x 5, in full.yaml); the paraxial designer has the axis
edof_map_batch = 3  # design points per step, drawn at random (all of them: every point every step)
edof_eval_fields_deg = [0, 7, 14]
edof_n_side = 832  # rays across the pupil for the check (20 cm: a wider beam than at 0.5 m)
edof_terms = 21  # Noll 4..21
edof_steps = 120
edof_lr = 1.0  # rad per step (3 rad made the design chaotic: its outcome changed with float rounding)
edof_init_rad = 2.0  # both designs start from the same random coefficients of this size (a blank start is a
# symmetric point: on the axis the gradient of every odd term vanishes there)
edof_beta = 0.3  # the first stage's weight on the PSFs' size
edof_e2e_steps = 20  # the second stage: Eq. 1
edof_e2e_lr = 0.3  # rad per step in the second stage
edof_alpha = 0.3  # Eq. 1's weight
edof_batch = 4
checkpoint_psfs = False  # the EDoF design's kernels made again in the backward pass, as the paper trains (memory
# for time: on at full; the two agree, checked below)
checkpoint_dir = ""  # a folder: the designs and networks resume from it (none at tiny)

# %%
import copy
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.optimize import minimize_scalar
from tqdm.auto import tqdm

import optlib as ol
from optlib import analytic
import papers.yang2024 as H

dev = ol.train.use_device(device)  # 2 intra-op threads on a CPU
# under torchrun (`python -m papers run`): the designs share their fields out over the processes (else 0, 1)
rank, world, dev_rank = ol.train.distributed_setup()
dev = dev_rank if world > 1 else dev
ol.train.seed_everything(seed)
params = {k: globals()[k] for k in H.PARAMS}  # the parameters cell, by name (one missing from it raises)
S = H.setup(params, device=dev)  # the lens makes its rays (float64) on `device`
lens, wl = S.lens, S.wavelength
results = ol.Results("yang2024", scale, seed, device=str(dev))
plt.rcParams.update({"figure.dpi": 90, "font.size": 9})
print(f"scale {scale}: field {window}^2 at {dx_um} um on the DOE plane (paper 6000^2), {n_side}^2 rays across the "
      f"pupil (paper 1e6 rays), {wavelength_nm} nm, point sources at {depth_m} m; device {dev}")

# %% [markdown]
# ## The plan
#
# The same dry run the tests apply to the `full` parameters: the ray-wave model's checks at the largest field
# (does the window hold the beam and the sensor window after the walk-off?) and the work counted at rates
# measured on this machine.

# %%
print(H.dry_run_report(H.dry_run(params)))

# %% [markdown]
# ## 1. The prototype lens
#
# The refractive part of the authors' prototype (their `a489_doe.json`): a 1 mm stop on the front face of an
# aspheric singlet of HK51 glass, 7.5 mm thick, the DOE plane 0.81 mm behind it and the sensor at 11.257 mm.
# HK51 is in no public catalogue we found. The authors' own ray tracer lists it twice: as Sellmeier terms,
# which give n_d = 1.5231, V_d = 58.64, and as a catalogue line n_d = 1.5501, V_d = 58.64. The V_d values
# agree and the n_d values do not. Their tracer computes with the Sellmeier terms, and so do we. The paper
# quotes EFL 7.77 mm and F/3.89. Below are the paraxial values at 530 nm with the Sellmeier glass and with
# n_d = 1.5501, and where the sensor is in focus.

# %%
par = lens.paraxial(wl)
alt = ol.rays.SequentialLens(lens.surfaces, ["air", ol.materials.model_glass("HK51 (n_d 1.5501)", 1.5501, 58.64,
                                                                             "the authors' table's catalogue line"),
                                             "air"], lens.sensor_z)
par_alt = alt.paraxial(wl)
focus_depth = {}
for d in (0.3, 0.5, 1.0, 10.0):
    bundle = lens.point_source(wl, -d, 0.999e-3, 64)
    focus_depth[d] = float(lens.best_focus(lens.trace(bundle, to_sensor=False)))
rows = [("EFL (mm)", par["efl"] / ol.mm, par_alt["efl"] / ol.mm, H.PAPER_EFL / ol.mm),
        ("F-number (EFL / stop diameter)", par["f_number"], par_alt["f_number"], H.PAPER_FNUM),
        ("paraxial focus, object at infinity (mm)", par["image_z"] / ol.mm, par_alt["image_z"] / ol.mm, None)]
print(f"{'at 530 nm':<42}{'Sellmeier HK51':>15}{'n_d 1.5501':>12}{'paper':>8}")
for name, a, b, c in rows:
    print(f"{name:<42}{a:>15.3f}{b:>12.3f}{'' if c is None else f'{c:.2f}':>8}")
print("best focus (RMS spot) for a point at " + ", ".join(f"{d:g} m: {z / ol.mm:.4f} mm" for d, z in focus_depth.items())
      + f"; the sensor: {float(lens.sensor_z) / ol.mm:.3f} mm")
results.item("efl_mm", "Prototype EFL at 530 nm (paraxial, HK51 from the authors' Sellmeier terms)",
             par["efl"] / ol.mm, H.PAPER_EFL / ol.mm, "mm", tol=0.01,
             note=f"with the table's n_d 1.5501 instead: {par_alt['efl'] / ol.mm:.3f} mm; the paper's wavelength "
                  "and EFL definition are not stated")
results.item("f_number", "Prototype F-number (EFL / 2 mm stop)", par["f_number"], H.PAPER_FNUM, "", tol=0.01)
results.item("focus_depth_m", "Object distance in focus on the authors' sensor at 530 nm", depth_m, None, "m",
             note=f"best focus {focus_depth[0.5] / ol.mm:.4f} mm for 0.5 m against the sensor's 11.257 mm")

# %% [markdown]
# ## 2. Fig. S2: float32 against float64
#
# A point 10 m away: every ray's optical path is 10 m long, and float32 holds a number near 10 to about
# 1 µm, two wavelengths. The rays are traced to the DOE plane in each precision and splatted into a field
# there (`ol.rays.to_field`). The reference keeps the 10 m leg out of float64's way. Each ray restarts 1 mm
# in front of the stop. Its path from the source to there is computed in numpy's extended precision
# (longdouble), and the rest, a few millimetres, is traced in float64.

# %%
g_fp = ol.Grid(fp_grid_n, fp_pitch_um * ol.um)
fp = {dt: H.path_phase_error(S, -fp_source_m, fp_n_side, g_fp, dt) for dt in (torch.float32, torch.float64)}
err = {dt: (float(r["dphi"][r["mask"]].std()), float(r["dphi"][r["mask"]].abs().max())) for dt, r in fp.items()}
for dt, (sd, mx) in err.items():
    print(f"{str(dt).split('.')[-1]}: phase error over the beam std {sd:.3g} rad, max {mx:.3g} rad")
fig, axes = plt.subplots(1, 5, figsize=(12, 2.6))
r32, r64 = fp[torch.float32], fp[torch.float64]
m = r64["mask"].cpu().numpy()
ext = [v / ol.mm for v in (g_fp.x()[0, 0], g_fp.x()[0, -1], g_fp.y()[0, 0], g_fp.y()[-1, 0])]
panels = [(r32["field"].u.abs(), "amplitude, float32", "gray"), (r64["field"].u.abs(), "amplitude, float64", "gray"),
          (torch.angle(r32["field"].u), "phase, float32", "twilight"), (torch.angle(r64["field"].u), "phase, float64", "twilight")]
for ax, (img, title, cmap) in zip(axes, panels):
    ax.imshow(img.cpu().numpy() * m if cmap == "twilight" else img.cpu().numpy(), cmap=cmap, extent=ext, origin="lower",
              interpolation="nearest")
    ax.set_title(title + (" (centre)" if cmap == "twilight" else ""))
    ax.set_xlabel("x (mm)")
    if cmap == "twilight":  # the fringes tighten outwards: the central 0.2 mm shows them at this size
        ax.set_xlim(-0.1, 0.1)
        ax.set_ylim(-0.1, 0.1)
im = axes[4].imshow(r32["dphi"].cpu().numpy() * m, cmap="coolwarm", vmin=-math.pi, vmax=math.pi, extent=ext,
                    origin="lower")
axes[4].set_title("float32 - reference (rad)")
fig.colorbar(im, ax=axes[4], fraction=0.046)
fig.suptitle("Fig. S2: the field on the DOE plane from a point 10 m away")
plt.tight_layout()
plt.show()
results.item("fp32_phase_std", "Fig. S2: float32 phase error on the DOE plane, point at 10 m (std)",
             err[torch.float32][0], None, "rad", note="the paper shows the broken field, no number")
results.item("fp64_phase_max", "Fig. S2: float64 phase error, same rays (max)", err[torch.float64][1], None, "rad")
results.check_all("fp64_needed", "Coherent tracing from a point 10 m away needs float64: float32's phase error is "
                  "large and float64's negligible, against an extended-precision reference",
                  [("float32 std (rad)", err[torch.float32][0], ">", 0.5),
                   ("float64 max (rad)", err[torch.float64][1], "<", 1e-6)],
                  note="fails for a source near the lens (float32 then holds the path) or a reference computed in "
                       "float64 along the whole path (it would share float64's error)")

# %% [markdown]
# ## 3. Five models of one lens
#
# Five ways to get the PSF of the lens with a DOE, each from the same traced lens:
#
# * **ray-wave** (the paper's): the traced rays made a Field on the DOE plane, the DOE, the angular spectrum;
# * **paraxial** (thin-lens wave optics, as in most end-to-end designs): on the DOE plane an aberration-free
#   spherical wave converging to the chief ray's sensor hit, over a disc of the on-axis beam's radius; then
#   the same DOE and angular spectrum;
# * **pupil aberration** (§1.4): that sphere plus the traced wavefront's first 37 Zernike terms, fitted over
#   the beam's footprint on the DOE plane (the paper took them from Zemax, which we do not have: ours come from
#   a least-squares fit to the traced optical paths); then the same DOE and angular spectrum;
# * **ray tracing** (Zemax's model): the rays turned by the DOE's local phase gradient, a histogram on the
#   sensor;
# * **exit-pupil diffraction** (Chen et al. 2021): the rays on the exit-pupil sphere, each a secondary source
#   (`ol.psf.huygens_psf`). As published it has no DOE. Rays that a DOE's aperture blocks are dropped, and the
#   DOE's phase is ignored.
#
# The first three differ only in the field they put on the DOE plane. `H.to_sensor` carries any such field
# through the DOE to the pixels.

# %%
def raywave_plane(field, sensor, factor=1):
    """The ray-wave model's field on the DOE plane: the pupil bundle from the point at `field` (rad), traced,
    carried to the plane and splatted (pitch dx / factor, window x factor, rays per side x factor)."""
    E, _ = ol.psf.raywave_field(lens, wl, sensor, S.dx / factor, S.window * factor, H.DOE_Z,
                                source=H.source(S, field), n_side=S.n_side * factor)
    return E


def chen(field, sensor, doe=None, crop=None):
    """Exit-pupil diffraction (Chen et al.): the rays on the exit-pupil sphere, each a Huygens source, summed on
    the pixels. The DOE's phase is ignored (the model has none) and its aperture drops the rays it blocks. Its
    cost grows with rays x pixels, so a compact PSF may be summed on the central `crop` x `crop` pixels only and
    placed in an otherwise dark window."""
    blocker = None if doe is None or doe.aperture is None else ol.DOE(torch.zeros_like(doe.height()), grid=doe.grid,
                                                                       aperture=doe.aperture, z=doe.z)
    pr = ol.psf.pupil_rays(lens, wl, source=H.source(S, field), n_side=chen_n_side, doe=blocker)
    if crop is None:
        return ol.psf.huygens_psf(pr, sensor)
    out = torch.zeros(sensor.shape, dtype=torch.float64, device=dev)
    i = (sensor.shape[0] - crop) // 2
    out[i:i + crop, i:i + crop] = ol.psf.huygens_psf(pr, ol.Grid(crop, sensor.dx).at(sensor.origin))
    return out


def five_models(field, sensor, doe=None, E=None, chen_psf=None):
    """The five PSFs (power per pixel) of the lens with `doe` (or none) for the point at `field` (rad); `E`, the
    ray-wave field on the DOE plane, and `chen_psf` are reused when given."""
    E = raywave_plane(field, sensor) if E is None else E
    return {"ray-wave": H.to_sensor(E, doe, lens, sensor),
            "paraxial": H.to_sensor(H.model_field(E, S, field, "paraxial")[0], doe, lens, sensor),
            "pupil (Zernike)": H.to_sensor(H.model_field(E, S, field, "zernike", zernike_terms)[0], doe, lens, sensor),
            "ray tracing": ol.psf.ray_psf(lens, wl, sensor, source=H.source(S, field), n_side=geo_n_side, doe=doe),
            "exit pupil (Chen)": chen(field, sensor, doe) if chen_psf is None else chen_psf}


MODELS = ("ray-wave", "paraxial", "pupil (Zernike)", "ray tracing", "exit pupil (Chen)")

# %% [markdown]
# ### Fig. S3: paraxial, pupil and ray-wave PSFs over the field (no DOE)
#
# The paper: the paraxial model misses the aberrations and the pupil model is "not accurate enough,
# particularly for off-axis regions". Each PSF is compared with the ray-wave PSF (normalised cross-correlation,
# NCC) on the same window, which is centred on the chief ray.

# %%
s3, planes = {}, {}
for f in S.fields:
    sensor = H.sensor_window(S, f)
    E = planes[f] = raywave_plane(f, sensor)  # kept: the cases below reuse these fields
    s3[f] = {"ray-wave": H.to_sensor(E, None, lens, sensor),
             "paraxial": H.to_sensor(H.model_field(E, S, f, "paraxial")[0], None, lens, sensor),
             "pupil (Zernike)": H.to_sensor(H.model_field(E, S, f, "zernike", zernike_terms)[0], None, lens, sensor)}
ncc3 = {(f, k): float(ol.metrics.ncc(p, s3[f]["ray-wave"])) for f in S.fields for k, p in s3[f].items()}
print(f"{'field (deg)':<12}" + "".join(f"{k:>18}" for k in ("paraxial", "pupil (Zernike)")) + "   (NCC with ray-wave)")
for f in S.fields:
    print(f"{math.degrees(f):<12.1f}" + "".join(f"{ncc3[(f, k)]:>18.4f}" for k in ("paraxial", "pupil (Zernike)")))
fig, axes = plt.subplots(3, len(S.fields), figsize=(1.9 * len(S.fields), 6))
for j, f in enumerate(S.fields):
    for i, k in enumerate(("paraxial", "pupil (Zernike)", "ray-wave")):
        p = s3[f][k]
        ol.plot.show(axes[i][j], (p / p.max()) ** 0.5, H.sensor_window(S, f), f"{k}, {math.degrees(f):g} deg")
        axes[i][j].title.set_fontsize(7)
fig.suptitle(f"Fig. S3: PSFs (square root), {wavelength_nm} nm, point at {depth_m:g} m; window {psf_n * pixel_um:g} um")
plt.tight_layout()
plt.show()
f_max = max(S.fields)
results.item("s3_zernike_ncc_edge", f"Fig. S3: pupil (Zernike) vs ray-wave NCC at {math.degrees(f_max):g} deg",
             ncc3[(f_max, "pupil (Zernike)")], None, "")
results.check_all("s3_models_off_axis", "Off axis the paraxial model loses the PSF and the pupil model drifts from "
                  "the ray-wave PSF (NCC with ray-wave; on axis all agree)",
                  [("paraxial NCC on axis", ncc3[(0.0, "paraxial")], ">", 0.95),
                   (f"paraxial NCC at {math.degrees(f_max):g} deg", ncc3[(f_max, "paraxial")], "<", 0.5),
                   ("pupil NCC on axis minus at the edge", ncc3[(0.0, "pupil (Zernike)")] - ncc3[(f_max, "pupil (Zernike)")],
                    ">", 0.01)],
                  note="fails for a lens without off-axis aberrations (the paraxial model would then be right); the "
                       "pupil model's drift needs the fit's 37 terms to miss the footprint's shape")

# %% [markdown]
# ### The comparison DOEs and Table S.I's four cases
#
# Each case asks whether a model gets one effect right, against a reference that does not use the model
# under test where that is possible:
#
# * **optical aberration:** the field at 14°, no DOE. Reference: the ray-wave model at twice finer
#   pitch with twice the rays per side. It is checked against the exit-pupil sum, an independent method.
# * **edge diffraction:** on axis, a 60 µm-radius circular aperture on the DOE plane. Reference: the Airy
#   pattern of that aperture focused over the 2.95 mm to the sensor, analytic.
# * **smooth phase modulation:** on axis, a smooth DOE of 3 waves (astigmatism and coma) over the beam.
#   Reference: the finer ray-wave model. It is checked against the pupil model given the DOE's phase on its
#   rays.
# * **discontinuous phase:** on axis, a 0/π binary grating of 16 µm period. Reference: the thin-grating
#   diffraction efficiencies. Orders 0 and ±2 are dark, ±1 carry 40.5 % each and ±3 carry 4.5 % each.
#
# A model gets a tick where its NCC with the reference is at least 0.95 (for the grating: each order's share
# of the power within 0.05 of the reference's).

# %%
fused = "fused silica"
dg = ol.Grid(round(H.DOE_SIZE / H.DOE_PIXEL), H.DOE_PIXEL)  # the DOE: 3 mm of 1 um pixels, centred on the axis
o0, c0 = H.rays_at_doe(S, 0.0, 128)
beam_r = float((o0.o[o0.valid][:, :2] - c0.o[0, :2]).norm(dim=-1).max())
blank = torch.zeros(dg.shape, dtype=torch.float64)
does = {"edge": ol.DOE(blank, fused, grid=dg, z=H.DOE_Z, aperture=ol.circ(dg, edge_radius_um * ol.um, antialias=False)),
        "smooth": ol.DOE(ol.elements.phase_to_height(H.smooth_phase(dg, (0.0, 0.0), beam_r, smooth_waves), fused, wl),
                         fused, grid=dg, z=H.DOE_Z),
        "binary": ol.DOE(ol.elements.phase_to_height(H.binary_grating(dg, grating_period_um * ol.um), fused, wl),
                         fused, grid=dg, z=H.DOE_Z)}
does = {k: d.to(dev) for k, d in does.items()}
print(f"beam radius on the DOE plane on axis: {beam_r / ol.um:.0f} um; DOE {dg.shape[0]}^2 pixels of "
      f"{H.DOE_PIXEL / ol.um:g} um")

# %%
cases = {}
fa = aberration_field_deg * ol.deg
sensor_a = H.sensor_window(S, fa)
cases["optical aberration"] = (five_models(fa, sensor_a, E=planes.get(fa)), sensor_a)
ref_a = H.to_sensor(raywave_plane(fa, sensor_a, ref_factor), None, lens, sensor_a)
sensor0 = H.sensor_window(S, 0.0)
chen0 = chen(0.0, sensor0, crop=31)  # on axis and without a DOE the spot is a few um: 31 pixels hold it
cases["edge diffraction"] = (five_models(0.0, sensor0, does["edge"], E=planes[0.0]), sensor0)
L_doe = float(lens.sensor_z) - H.DOE_Z
r0 = torch.sqrt(sensor0.subdivided(4).r2(local=True))  # the Airy pattern on 4 x 4 sub-samples of each pixel
airy = torch.from_numpy(analytic.airy_intensity(r0.numpy(), wl, L_doe, 2 * edge_radius_um * ol.um))
ref_b = torch.nn.functional.avg_pool2d(airy[None, None], 4)[0, 0].to(dev)
cases["smooth phase modulation"] = (five_models(0.0, sensor0, does["smooth"], E=planes[0.0], chen_psf=chen0), sensor0)
ref_c = H.to_sensor(raywave_plane(0.0, sensor0, ref_factor), does["smooth"], lens, sensor0)
pupil_c = ol.psf.pupil_psf(ol.psf.pupil_rays(lens, wl, source=H.source(S, 0.0), n_side=2 * n_side // 3,
                                             doe=does["smooth"]), sensor0)
sensor_g = H.sensor_window(S, 0.0, grating_psf_n, grating_pixel_um * ol.um)
chen_g = chen(0.0, sensor_g, crop=21)  # the same spot on the grating's 3 um pixels, in its wider window
cases["discontinuous phase"] = (five_models(0.0, sensor_g, does["binary"], chen_psf=chen_g), sensor_g)
print(f"references checked: aberration, finer ray-wave vs exit pupil NCC "
      f"{float(ol.metrics.ncc(ref_a, cases['optical aberration'][0]['exit pupil (Chen)'])):.4f}; smooth DOE, finer "
      f"ray-wave vs pupil model with the DOE's phase {float(ol.metrics.ncc(ref_c, pupil_c)):.4f}")

# %%
offsets = H.order_offsets(wl, grating_period_um * ol.um, L_doe)
half = 0.4 * (offsets[1] - offsets[0])
eta = {m: (4 / math.pi ** 2 / m ** 2 if m % 2 else 0.0) for m in offsets}  # the thin 0/pi grating's efficiencies
share_ref = {m: v / sum(eta.values()) for m, v in eta.items()}  # shares among the orders in the window
score = {}
for case, (psfs, sensor) in cases.items():
    for k, p in psfs.items():
        if case == "discontinuous phase":
            pw = H.order_powers(p, sensor, offsets, half)  # power near each order
            tot = sum(pw.values())
            score[(case, k)] = max(abs(pw[m] / tot - share_ref[m]) for m in offsets) if tot > 0 else 1.0
        else:
            ref = {"optical aberration": ref_a, "edge diffraction": ref_b, "smooth phase modulation": ref_c}[case]
            score[(case, k)] = float(ol.metrics.ncc(p, ref))


def tick(case, k):
    v = score[(case, k)]
    return v <= 0.05 if case == "discontinuous phase" else v >= 0.95


# the paper's Table S.I rows, in our model order (Zemax's column is the ray-tracing model; Zhu et al.'s wave-ray
# model has no counterpart here and the pupil model none in the paper's table: '-')
PAPER = {"optical aberration": ("✓", "✗", "-", "✓", "✓"), "edge diffraction": ("✓", "✓", "-", "✗", "✓"),
         "smooth phase modulation": ("✓", "✓", "-", "✓", "✗"), "discontinuous phase": ("✓", "✓", "-", "✗", "✗")}

# %% [markdown]
# ### Table S.I, measured
#
# Each cell gives our number and its tick, then the paper's tick. The first three rows are NCC with the
# reference, ticked at ≥ 0.95. The last row is the largest error in an order's share of the power, ticked at
# ≤ 0.05.

# %%
from html import escape  # noqa: E402

from IPython.display import HTML  # noqa: E402

agree = sum(tick(c, k) == (PAPER[c][i] == "✓") for c in cases for i, k in enumerate(MODELS) if PAPER[c][i] != "-")
n_cells = sum(PAPER[c][i] != "-" for c in cases for i in range(len(MODELS)))
head = "".join(f"<th>{escape(k)}</th>" for k in MODELS)
body = "".join(f"<tr><th>{escape(c)}</th>" + "".join(
    f"<td>{score[(c, k)]:.3f} {'✓' if tick(c, k) else '✗'} (paper {PAPER[c][i]})</td>" for i, k in enumerate(MODELS))
    + "</tr>" for c in cases)
print(f"ticks that agree with the paper's: {agree} of {n_cells}")
HTML(f"<table><thead><tr><th>Table S.I (measured)</th>{head}</tr></thead><tbody>{body}</tbody></table>")

# %%
fig, axes = plt.subplots(len(cases), len(MODELS) + 1, figsize=(13, 9))
refs = {"optical aberration": ref_a, "edge diffraction": ref_b, "smooth phase modulation": ref_c,
        "discontinuous phase": None}
for i, (case, (psfs, sensor)) in enumerate(cases.items()):
    for j, k in enumerate(MODELS):
        p = psfs[k]
        ol.plot.show(axes[i][j], (p / p.max()) ** 0.5, sensor, f"{k}\n{case}: {score[(case, k)]:.3f}")
        axes[i][j].title.set_fontsize(7)
    r = refs[case]
    if r is not None:
        ol.plot.show(axes[i][-1], (r / r.max()) ** 0.5, sensor, f"reference\n{case}")
    else:
        xs = sensor.x(local=True)[0].numpy() / ol.um
        axes[i][-1].plot(xs, cases[case][0]["ray-wave"].sum(0).cpu().numpy(), label="ray-wave")
        axes[i][-1].plot(xs, cases[case][0]["ray tracing"].sum(0).cpu().numpy(), label="ray tracing", lw=0.8)
        for mm, o in offsets.items():
            axes[i][-1].axvline(o / ol.um, color="k", lw=0.4, ls=":")
        axes[i][-1].set_title("columns summed (dotted: orders)", fontsize=7)
        axes[i][-1].legend(fontsize=6)
    axes[i][-1].title.set_fontsize(7)
fig.suptitle("Table S.I's four cases: each model's PSF (square root) and its score against the reference")
plt.tight_layout()
plt.show()
for case in cases:
    for i, k in enumerate(MODELS):
        results.item(f"tableS1_{case.split()[0]}_{k.split()[0]}", f"Table S.I, {case}: {k} "
                     + ("(largest order-share error)" if case == "discontinuous phase" else "(NCC with the reference)"),
                     score[(case, k)], None, "")
results.item("tableS1_ticks_agree", "Table S.I: our ticks that agree with the paper's", agree, n_cells, "cells",
             tol=0.0, note="ticks from our thresholds (NCC >= 0.95; order shares within 0.05)")
results.check_all("raywave_all_cases", "The ray-wave model passes all four of Table S.I's cases (NCC >= 0.95 with "
                  "the reference; the grating's order shares within 0.05)",
                  [(case, score[(case, "ray-wave")], "<=" if case == "discontinuous phase" else ">=",
                    0.05 if case == "discontinuous phase" else 0.95) for case in cases],
                  note="fails with the field sampled coarser than the DOE's pixels or too few rays per sample "
                       "(the splat then leaves holes)")

# %% [markdown]
# ### Fig. S4: ray tracing against ray-wave, blank, smooth and binary DOEs (on axis)
#
# The paper: the two agree for low-frequency phase and part as the frequency rises. With the blank DOE the
# ray histogram misses only diffraction. The smooth DOE turns the rays much as it bends the wavefront. The
# binary grating gives the local grating a gradient only at its steps, so the rays never leave for the ±1
# orders, where the light goes.

# %%
s4 = {"blank": ({"ray-wave": s3[0.0]["ray-wave"],
                  "ray tracing": ol.psf.ray_psf(lens, wl, sensor0, source=H.source(S, 0.0), n_side=geo_n_side)}, sensor0),
      "smooth": cases["smooth phase modulation"], "binary (16 um)": cases["discontinuous phase"]}
ncc4 = {k: float(ol.metrics.ncc(v[0]["ray tracing"], v[0]["ray-wave"])) for k, v in s4.items()}
fig, axes = plt.subplots(2, 3, figsize=(8, 5.4))
for j, (k, (psfs, sensor)) in enumerate(s4.items()):
    for i, mdl in enumerate(("ray tracing", "ray-wave")):
        p = psfs[mdl]
        ol.plot.show(axes[i][j], (p / p.max()) ** 0.5, sensor, f"{mdl}, {k} DOE" + (f"\nNCC {ncc4[k]:.3f}" if i else ""))
        axes[i][j].title.set_fontsize(8)
fig.suptitle("Fig. S4: local-grating ray tracing against the ray-wave model (square root)")
plt.tight_layout()
plt.show()
print("NCC ray tracing vs ray-wave: " + ", ".join(f"{k} {v:.3f}" for k, v in ncc4.items()))
results.check_all("s4_local_grating", "Ray tracing (local grating) agrees with ray-wave for a smooth DOE and not for "
                  "a binary one (NCC ray tracing vs ray-wave)",
                  [("smooth DOE", ncc4["smooth"], ">=", 0.9), ("binary grating", ncc4["binary (16 um)"], "<=", 0.7)],
                  note="the reproduction notes' thresholds; fails for a grating coarse enough that its steps are "
                       "rare within the beam (then both models see a mostly flat DOE)")

# %% [markdown]
# ### Fig. S5: ray-wave against exit-pupil diffraction, clear aperture
#
# With no DOE the two methods solve the same problem by different routes. Exit-pupil diffraction places a
# secondary source for each ray on the reference sphere; ray-wave makes a field on a plane and propagates it.
# The paper: "both models produce similar PSF simulations".

# %%
f5 = [0.0, 7 * ol.deg, fa]
s5 = {}
for f in f5:
    sensor = H.sensor_window(S, f)
    rw = s3[f]["ray-wave"] if f in s3 else H.to_sensor(raywave_plane(f, sensor), None, lens, sensor)
    c = {fa: cases["optical aberration"][0]["exit pupil (Chen)"], 0.0: chen0}.get(f)
    c = chen(f, sensor) if c is None else c
    s5[f] = (rw, c, float(ol.metrics.ncc(rw, c)))
fig, axes = plt.subplots(2, len(f5), figsize=(2.6 * len(f5), 5))
for j, f in enumerate(f5):
    for i, (name, p) in enumerate((("ray-wave", s5[f][0]), ("exit pupil (Chen)", s5[f][1]))):
        ol.plot.show(axes[i][j], (p / p.max()) ** 0.5, H.sensor_window(S, f),
                     f"{name}, {math.degrees(f):g} deg" + (f"\nNCC {s5[f][2]:.4f}" if i else ""))
        axes[i][j].title.set_fontsize(8)
fig.suptitle("Fig. S5: ray-wave against exit-pupil diffraction (square root)")
plt.tight_layout()
plt.show()
results.check("s5_raywave_matches_chen", "Ray-wave agrees with exit-pupil diffraction on a clear aperture (lowest NCC "
              "over 0, 7 and 14 deg)", min(v[2] for v in s5.values()), ">=", 0.95,
              note="fails with a field window that cuts the beam or a plane too near focus (the splat's checks "
                   "refuse the latter)")

# %% [markdown]
# ## 4. Sixteen levels
#
# The prototype's DOE was etched in four lithography steps, 16 height levels over one wave. Quantising a
# phase to N levels keeps sinc²(1/N) of the light in the designed order (98.7 % at 16, 81.1 % at 4). This
# is measured with the ray-wave model on a blazed grating, a wrapped phase ramp of 48 µm period, on axis.
# The designed +1 order lands 33 µm from the chief ray. The ramp is drawn on the DOE's 1 µm pixels, so even
# the "continuous" element is a 48-step staircase (sinc²(1/48) = 99.86 %). Each efficiency is therefore its
# +1 order's power over the staircase's, times 99.86 %. The ratio cancels what the band around the order
# misses (the spot's outer rings) and what leaves the window (the high orders).

# %%
period_b = 48 * ol.um
ramp = 2 * math.pi * torch.remainder(dg.x() - dg.origin[1], period_b).expand(dg.shape) / period_b
h_ramp = ol.elements.phase_to_height(ramp, fused, wl)
h_wave = ol.elements.phase_to_height(torch.tensor(2 * math.pi), fused, wl)
steps = round(period_b / H.DOE_PIXEL)
blazed = {f"{steps} steps (1 um pixels)": ol.DOE(h_ramp, fused, grid=dg, z=H.DOE_Z).to(dev)}
for lv in (4, quant_levels):
    blazed[f"{lv} levels"] = ol.DOE(h_ramp, fused, grid=dg, z=H.DOE_Z, levels=lv, h_max=float(h_wave)).to(dev)
E0 = raywave_plane(0.0, sensor_g)
off_b = H.order_offsets(wl, period_b, L_doe, orders=(-1, 0, 1, 2))
half_b = 0.4 * (off_b[1] - off_b[0])
p1 = {k: H.order_powers(H.to_sensor(E0, d, lens, sensor_g), sensor_g, off_b, half_b)[1] for k, d in blazed.items()}
theory = {k: float(np.sinc(1 / n_) ** 2) for k, n_ in zip(blazed, (steps, 4, quant_levels))}
base = next(iter(blazed))
eff = {k: p1[k] / p1[base] * theory[base] for k in blazed}
for k in blazed:
    print(f"{k:<24} +1 order {eff[k]:.4f} of the power (thin-element theory sinc^2(1/N) {theory[k]:.4f})")
q = f"{quant_levels} levels"
results.item("quant_efficiency", f"Blazed grating, {quant_levels} levels: +1 order efficiency (ray-wave)", eff[q],
             theory[q], "", tol=0.01, note="against the scalar thin-element theory sinc^2(1/N), not a paper number")
results.check_all("quant_sinc2", "Quantisation costs what scalar theory says (+1 order efficiency of a blazed grating "
                  "against sinc^2(1/N); 4 levels must lose more than 16)",
                  [(f"|{q} - theory|", abs(eff[q] - theory[q]), "<", 0.01),
                   ("|4 levels - theory|", abs(eff["4 levels"] - theory["4 levels"]), "<", 0.01),
                   (f"{q} minus 4 levels", eff[q] - eff["4 levels"], ">", 0.1)],
                  note="fails if the levels were clamped instead of wrapped (the top half-step a full step off: "
                       "4 levels then keep 0.72, by the same Fourier sum) or the field could not resolve the steps")

# %% [markdown]
# ## 5. Figs. S7-S8: a DOE that corrects the lens's aberrations
#
# The paper learns a rotationally symmetric DOE that shrinks the singlet's PSFs over the field, then trains a
# reconstruction network on images those PSFs blur. Here:
#
# * **The DOE** is Zemax's "Binary 2" phase, an even polynomial in the radius (ρ² … ρ¹⁶,
#   `ol.elements.binary2_phase`), over the DOE's half-diagonal. The optimiser moves the coefficients of the
#   orthonormal spherical Zernike terms, the same polynomials in a basis it handles far better. The sensor's
#   position moves with them.
# * **The strongest refractive baseline** gets the same freedom: its sensor goes where the mean spot over the
#   same PSF map is smallest. The paper compares with the singlet at its own sensor, shown too.
# * **The fields** are the paper's PSF map: an n × n grid of points over a square field of view (the paper
#   trains on 10 × 10; here 6 × 6 at tiny, 10 × 10 at full), at the centres of its cells, the square's corners
#   at 18°. The lens and the DOE's phase are rotationally symmetric, and the DOE's square outline is unchanged
#   by the square's eight symmetries, so a point and its mirror images have mirrored PSFs of the same size: the
#   map folds to the points with 0 ≤ x ≤ y (6 of 36, 15 of 100), each weighted by how many it stands for.
# * **The DOE** is a 3 × 3 mm square 2.95 mm in front of the sensor. At 14° the chief ray crosses its plane
#   1.37 mm off axis, and the beam there is 0.37 mm in radius. So along the diagonal the DOE holds the whole beam
#   to about 15°, but along a side only to about 10°: the map's points near the sides lose part of their beam
#   past its edge, as in the paper.
# * **The loss** is the weighted mean, over the map, of the spot's RMS radius within ±100 µm of its centroid.
#   Light outside that square counts as lying at its edge, so light thrown away never passes for a small spot.
#   It is backpropagated one point at a time (gradient accumulation, as the paper does): one point's graph is
#   held in memory, not the map's.
# * **The model** is ray-wave. The lens is fixed, so the fields on the DOE plane are traced once, as the paper does.
#   Each step multiplies them by the DOE's phase (where a sample falls on the element) and propagates them.
#   The design runs at a 1.5 µm pitch. The result is then checked with the chapter's own ray-wave model (1 µm):
#   the DOE drawn on its 1 µm pixels, wrapped to one wave and quantised to 16 levels, on a 5 × 5 map over the
#   same square. None of its points is a point of the design's map.

# %% tags=["nbval-ignore-output"]
az = math.pi / 4  # the sensor's diagonal
R_doe = H.DOE_SIZE / 2 * math.sqrt(2)  # the DOE's half-diagonal: the polynomial's normalising radius
box = ac_box_um * ol.um
design_wls = [w * ol.nm for w in design_wavelengths_nm]
phase_scale = [float(ol.elements.height_to_phase(torch.tensor(1.0), fused, w)
                     / ol.elements.height_to_phase(torch.tensor(1.0), fused, wl)) for w in design_wls]


def ckpt(name):
    """A checkpoint file in `checkpoint_dir` (none at tiny): designs and networks resume from it."""
    return os.path.join(checkpoint_dir, f"{scale}_{name}.pt") if checkpoint_dir else None


def plane(field, dx, window, n_side, wavelength=wl, azimuth=az):
    """The ray-wave field on the DOE plane (float64) for the point at `field` (rad) in the direction `azimuth`
    (rad from the y-z plane; default the diagonal)."""
    sensor = H.sensor_window(S, field, pixel=2 * dx, azimuth=azimuth)  # any pixels its window tiles
    E, _ = ol.psf.raywave_field(lens, wavelength, sensor, dx, window, H.DOE_Z, source=H.source(S, field, azimuth),
                                n_side=n_side)
    return E


ac_points = H.map_points(ac_map, map_deg * ol.deg)  # (field, azimuth, weight): the map, folded
t0 = time.time()
design_planes = {}
for i, w in enumerate(design_wls):
    for p, (f, a, _) in enumerate(ac_points):
        E = plane(f, ac_dx_um * ol.um, ac_window, ac_n_side, w, a)
        design_planes[(i, p)] = (E.replace(u=E.u.to(torch.complex64)), H.on_doe(E.grid).to(dev))
print(f"the {ac_map} x {ac_map} PSF map folds to {len(ac_points)} points: "
      + ", ".join(f"{math.degrees(f):.1f} deg at {math.degrees(a):.0f} deg (x{round(wt * ac_map ** 2)})"
                  for f, a, wt in ac_points)
      + f"; {len(design_planes)} design fields traced in {time.time() - t0:.0f} s")


def spot(E, on, phi, dz):
    """The forward model of one step: the DOE's phase where the field meets the element, the angular spectrum to
    the sensor moved by dz (m), the spot's size."""
    phi = phi * on
    out = ol.psf.propagate_to_sensor(E.replace(u=E.u * torch.polar(torch.ones_like(phi), phi)), L_doe + dz)
    return H.spot_rms(out, box)


def refractive_mean(dz):  # the singlet alone, its sensor moved by dz (m): the mean spot over the map (and wavelengths)
    with torch.no_grad():
        return sum(ac_points[p][2] * float(spot(E, on, torch.zeros((), device=dev), dz))
                   for (i, p), (E, on) in design_planes.items()) / len(design_wls)


dz_ref = minimize_scalar(refractive_mean, bounds=(-400e-6, 100e-6), method="bounded", options={"xatol": 2e-6}).x
print(f"refractive baseline: best sensor shift {dz_ref / ol.um:+.0f} um (mean spot {refractive_mean(dz_ref) / ol.um:.2f} "
      f"um; at the authors' sensor {refractive_mean(0.0) / ol.um:.2f} um)")


class HybridDesign(torch.nn.Module):
    """What the design moves: the DOE's spherical Zernike coefficients (rad at 530 nm) and the sensor's shift
    (um), started from the refractive baseline's best sensor position and a blank DOE."""

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(ac_terms, dtype=torch.float64, device=dev))
        self.dz_um = torch.nn.Parameter(torch.tensor(dz_ref / ol.um, dtype=torch.float64, device=dev))
        self.register_buffer("M", H.spherical_to_binary2(ac_terms).to(dev))

    def phase(self, grid, dtype=torch.float32):
        """The DOE's unwrapped phase (rad, at 530 nm) on the samples of `grid`."""
        return ol.elements.binary2_phase((self.M @ self.a).to(dtype), grid.x(dev, dtype), grid.y(dev, dtype), R_doe)


design = HybridDesign()
opt = torch.optim.Adam([{"params": [design.a]}, {"params": [design.dz_um], "lr": ac_lr_sensor_um}], lr=ac_lr)
sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, ac_steps)


my_ac = list(ol.train.shard(len(ac_points), rank, world))  # this process's points of the map


def design_step(step):
    """One wavelength drawn from the seed and the step (the same in every process and on resume), then the map's
    weighted mean spot (um) at it, one point at a time: each point's loss is backpropagated as it comes (fit's
    gradient accumulation), so one point's graph is held at a time. Under torchrun this process's points: the shares'
    losses and gradients are summed over the processes."""
    i = ol.train.step_subset(len(design_wls), 1, seed + 1, step)[0]  # as the EDoF designs draw theirs
    for p in my_ac:
        E, on = design_planes[(i, p)]
        yield ac_points[p][2] * spot(E, on, design.phase(E.grid) * phase_scale[i], design.dz_um * ol.um) / ol.um


t0 = time.time()
fit_ac = ol.train.fit(design_step, design, opt, ac_steps, scheduler=sched, desc="Fig. S7 design",
                      checkpoint=ckpt("s7_design"), key=ol.train.run_key("s7_design", params), sum_over_ranks=True)
print(f"design: mean spot {fit_ac.history[0]:.2f} -> {fit_ac.history[-1]:.2f} um in {ac_steps} steps "
      f"({time.time() - t0:.0f} s); sensor shift {float(design.dz_um.detach()):+.0f} um")

# %% [markdown]
# The check, on another PSF map over the same square field of view: 5 × 5 points, folded to six like the design's
# map (the axis, three points on the sides' mid-line and two towards the corners), none of them a design point.
# The learned DOE is drawn on the element's 1 µm pixels, wrapped to one wave at 530 nm and quantised to 16
# levels (the fabricated element). The ray-wave fields are the chapter's own (1 µm pitch, 768² rays). The
# kernels for Fig. S8 are taken from the same fields, on the OV2710's 3 µm pixels. The table also shows the same
# design not quantised: 16 levels send about 1.3 % of the light (1 − sinc²(1/16)) into other diffraction orders,
# far outside the ±100 µm square, where the spot's size counts it at the square's edge.

# %% tags=["nbval-ignore-output"]
check_points = H.map_points(ac_check_map, map_deg * ol.deg)
eval_planes = {p: plane(f, S.dx, S.window, S.n_side, azimuth=a) for p, (f, a, _) in enumerate(check_points)}
wt = [w for _, _, w in check_points]  # how much of the map each point stands for
at = [f"{math.degrees(f):.1f}° at {math.degrees(a):.0f}°" for f, a, _ in check_points]
with torch.no_grad():
    phi_ac = design.phase(dg, torch.float64).cpu()  # unwrapped, on the DOE's own pixels
P_wave = float(ol.elements.period_height(fused, wl))
h_ac = ol.elements.phase_to_height(phi_ac, fused, wl)
doe_ac = ol.DOE(h_ac, fused, grid=dg, z=H.DOE_Z, wrap=P_wave, levels=quant_levels, h_max=P_wave).to(dev)
dz_h = float(design.dz_um.detach()) * ol.um
systems = {"singlet, its sensor": (None, 0.0), "singlet, refocused": (None, dz_ref),
           f"hybrid ({quant_levels} levels)": (doe_ac, dz_h)}
shown = {**systems, "hybrid, not quantised": (ol.DOE(h_ac, fused, grid=dg, z=H.DOE_Z, wrap=P_wave).to(dev), dz_h)}
px = round(rec_pixel_um * ol.um / S.dx)
ac = {}
for name, (doe, dz) in shown.items():
    for p, E in eval_planes.items():
        with torch.no_grad():
            out = ol.psf.propagate_to_sensor(E, L_doe + dz, doe)
            size, share = H.spot_rms(out, box, with_share=True)
            ac[(name, p)] = {"rms": float(size), "share": share, "kernel": H.spot_kernel(out, rec_kernel, px)}
        del out
mean_map = {name: sum(w * ac[(name, p)]["rms"] for p, w in enumerate(wt)) for name in shown}

rows_html = "".join(f"<tr><th>{escape(name)}</th>" + "".join(
    f"<td>{ac[(name, p)]['rms'] / ol.um:.1f}</td>" for p in eval_planes) + f"<td>{mean_map[name] / ol.um:.1f}</td></tr>"
    for name in shown)
head_html = "".join(f"<th>{a} (×{round(w * ac_check_map ** 2)})</th>" for a, w in zip(at, wt))
print("light within the +-100 um square: " + "; ".join(
    f"{name} {min(ac[(name, p)]['share'] for p in eval_planes):.3f} or more" for name in shown))
HTML(f"<table><thead><tr><th>spot RMS radius (µm), field at azimuth (points it stands for)</th>{head_html}"
     f"<th>mean over the {ac_check_map} × {ac_check_map} map</th></tr></thead><tbody>{rows_html}</tbody></table>")

# %%
fig, axes = plt.subplots(len(systems), len(eval_planes), figsize=(12, 6.4), squeeze=False)
kg = ol.Grid(rec_kernel, rec_pixel_um * ol.um)
for i, name in enumerate(systems):
    for j in eval_planes:
        k = ac[(name, j)]["kernel"]
        ol.plot.show(axes[i][j], (k / k.max()) ** 0.5, kg, f"{name}\n{at[j]}: RMS {ac[(name, j)]['rms'] / ol.um:.1f} um")
        axes[i][j].title.set_fontsize(7)
fig.suptitle(f"Fig. S7: the {ac_check_map} x {ac_check_map} PSF map's points (folded), singlet against the hybrid "
             "lens (ray-wave, square root)")
plt.tight_layout()
plt.show()

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
wrapped = torch.remainder(phi_ac, 2 * math.pi).numpy()
ext = [v / ol.mm for v in (float(dg.x()[0, 0]), float(dg.x()[0, -1]), float(dg.y()[0, 0]), float(dg.y()[-1, 0]))]
axes[0].imshow(wrapped[::4, ::4], cmap="twilight", extent=ext, origin="lower")
axes[0].set_title("the learned DOE, phase mod 2 pi (3 x 3 mm)")
n0 = dg.shape[0] // 2
for ax, (cy, cx), title in ((axes[1], (n0, n0), "centre"), (axes[2], (n0 + 1200, n0 + 1200), "near the corner (1.7 mm)")):
    ax.imshow(wrapped[cy - 100:cy + 100, cx - 100:cx + 100], cmap="twilight", origin="lower",
              extent=[-100, 100, -100, 100])
    ax.set_title(f"{title}: 0.2 x 0.2 mm")
    ax.set_xlabel("um")
for ax in axes:
    ax.title.set_fontsize(8)
plt.tight_layout()
plt.show()
hyb = f"hybrid ({quant_levels} levels)"
for name, key in zip(shown, ("singlet", "refocused", "hybrid", "hybrid_not_quantised")):
    results.item(f"s7_rms_map_{key}", f"Fig. S7: spot RMS radius, mean over a {ac_check_map} x {ac_check_map} map to "
                 f"{map_deg} deg at the corners: {name}", mean_map[name] / ol.um, None, "um",
                 note="ray-wave at 1 um; within +-100 um of the centroid, the light outside counted at 100 um")
results.check_all("s7_doe_shrinks_spots", "The learned DOE (16 levels, checked at 1 um on a map of points it was not "
                  "designed at) shrinks the spots by 20 % or more against the singlet refocused for the same field "
                  "of view and against the singlet at its own sensor, and keeps the light (mean RMS radius over the "
                  f"{ac_check_map} x {ac_check_map} map)",
                  [("hybrid / refocused singlet", mean_map[hyb] / mean_map["singlet, refocused"], "<=", 0.8),
                   ("hybrid / singlet at its sensor", mean_map[hyb] / mean_map["singlet, its sensor"], "<=", 0.8),
                   ("hybrid's least light within +-100 um", min(ac[(hyb, p)]["share"] for p in eval_planes), ">=", 0.95)],
                  note="fails for a blank DOE: the refocused singlet is already the best a sensor shift can do for "
                       "these fields")

# %% [markdown]
# ### Fig. S8: simulated captures and reconstructions
#
# Grey photographs stand in for the paper's DIV2K, which is not available offline: the Wikimedia set for
# training, Kodak for the test. They are blurred with each lens's PSF at each of the
# check map's six points, in 64-pixel patches. Read noise is 1 % of full scale. For each lens a small residual CNN
# (`ol.nn.SRNet` at scale 1) is trained on its own captures from all six points (one network for the whole field,
# as the paper's). It is then tested on the test photographs. PSNR and SSIM are computed over each patch without
# its 20-pixel border (half the kernel), averaged over the test patches, then over the map (each point weighted by
# the points it stands for). The paper shows pictures and no numbers.

# %% tags=["nbval-ignore-output"]
g_rec = torch.Generator().manual_seed(seed + 5)
grey = lambda x: x.mean(1, keepdim=True)  # noqa: E731
rec_tr = grey(ol.data.random_crops(ol.data.photo_paths("wikimedia_photos"), rec_patch, rec_train, g_rec)).to(dev)
rec_te = grey(ol.data.random_crops(ol.data.photo_paths("kodak"), rec_patch, rec_test, g_rec)).to(dev)
m_b = rec_kernel // 2


def capture(img, name, p, g):
    """The sensor's image of `img` through lens `name` at the check map's point `p`: its PSF kernel, then read
    noise."""
    k = ac[(name, p)]["kernel"].to(img)
    y = ol.imaging.fftconv2d(img, k[None])
    return y + rec_noise * ol.train.randn(y.shape, y, g)


def scores(out, truth):
    o, t = out[..., m_b:-m_b, m_b:-m_b].clamp(0, 1), truth[..., m_b:-m_b, m_b:-m_b]
    return float(ol.metrics.psnr(o, t, dim=(-3, -2, -1)).mean()), float(ol.metrics.ssim(o, t))


def train_network(images, kernels, g_offset, desc, ckpt_name, **key):
    """A small residual CNN (`ol.nn.SRNet` at scale 1) trained to undo the blur: each step a batch of `images`,
    one of `kernels` drawn, read noise; Adam, MSE. Resumes from `ckpt_name` in `checkpoint_dir`."""
    torch.manual_seed(seed)
    net = ol.nn.SRNet(1, channels=1, width=rec_width).to(dev)
    g = torch.Generator().manual_seed(seed + g_offset)
    opt_r = torch.optim.Adam(net.parameters(), lr=rec_lr)

    def step(i):
        x = images[torch.randint(0, images.shape[0], (rec_batch,), generator=g)]
        y = ol.imaging.fftconv2d(x, kernels[int(torch.randint(len(kernels), (1,), generator=g))].to(x)[None])
        return torch.nn.functional.mse_loss(net(y + rec_noise * ol.train.randn(y.shape, y, g)), x)

    ol.train.fit(step, net, opt_r, rec_steps, desc=desc, generator=g, checkpoint=ckpt(ckpt_name),
                 key=ol.train.run_key(ckpt_name.split("_")[0], params, **key))
    return net.eval()


rec, nets = {}, {}
t0 = time.time()
for name in systems:
    key = name.split(",")[-1].strip().split()[0]
    net = nets[name] = train_network(rec_tr, [ac[(name, p)]["kernel"] for p in eval_planes], 11,
                                     f"Fig. S8 network, {name}", f"s8_{key}", lens=name)
    g_te = torch.Generator().manual_seed(seed + 13)
    for p in eval_planes:
        y = capture(rec_te, name, p, g_te)
        with torch.no_grad():
            rec[(name, p)] = {"raw": scores(y, rec_te), "net": scores(net(y), rec_te), "y": y[:2], "x": net(y[:2])}
print(f"{len(systems)} networks trained and tested in {time.time() - t0:.0f} s")
mean_rec = {name: tuple(sum(w * rec[(name, p)][k][i] for p, w in enumerate(wt)) for k in ("raw", "net") for i in (0, 1))
            for name in systems}
rows_html = "".join(f"<tr><th>{escape(name)}</th>" + "".join(f"<td>{v:.2f}</td>" if i % 2 == 0 else f"<td>{v:.3f}</td>"
                                                            for i, v in enumerate(mean_rec[name])) + "</tr>"
                    for name in systems)
HTML(f"<table><thead><tr><th>mean over the {ac_check_map} × {ac_check_map} map</th><th>capture PSNR (dB)</th><th>capture SSIM</th>"
     f"<th>reconstruction PSNR (dB)</th><th>reconstruction SSIM</th></tr></thead><tbody>{rows_html}</tbody></table>")

# %%
fig, axes = plt.subplots(2 * len(systems), 3, figsize=(7.5, 2.4 * 2 * len(systems)))
for i, name in enumerate(systems):
    for j, p in enumerate((0, len(eval_planes) // 2, len(eval_planes) - 1)):
        for r, (kind, img) in enumerate((("capture", rec[(name, p)]["y"]), ("reconstruction", rec[(name, p)]["x"]))):
            ax = axes[2 * i + r][j]
            ax.imshow(img[0, 0].clamp(0, 1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{name}, {kind}\n{at[p]}", fontsize=7)
            ax.axis("off")
fig.suptitle("Fig. S8: simulated captures and reconstructions (one test patch)")
plt.tight_layout()
plt.show()
best_ref = max(("singlet, its sensor", "singlet, refocused"), key=lambda n: mean_rec[n][2])
for name, key in zip(systems, ("singlet", "refocused", "hybrid")):
    results.item(f"s8_psnr_{key}", f"Fig. S8: reconstruction PSNR, mean over the {ac_check_map} x {ac_check_map} map: "
                 f"{name}", mean_rec[name][2],
                 None, "dB", note="grey test crops (Kodak), 1 % read noise; the paper shows pictures only")
results.check_all("s8_hybrid_reconstructs_better", "The hybrid lens's reconstructions beat the better singlet's "
                  f"(mean PSNR and SSIM over the {ac_check_map} x {ac_check_map} map, each lens with its own network)",
                  [("PSNR hybrid - best singlet (dB)", mean_rec[hyb][2] - mean_rec[best_ref][2], ">=", 0.5),
                   ("SSIM hybrid - best singlet", mean_rec[hyb][3] - mean_rec[best_ref][3], ">", 0.0)],
                  note="fails when the DOE does not shrink the spots (a blank DOE gives the refocused singlet's "
                       "numbers) or with noise high enough that no network recovers detail from either lens")

# %% [markdown]
# ### Fig. S8 over the whole frame: a PSF map, and fine-tuning on it
#
# The paper fine-tunes each network on images simulated with a 40 × 40 PSF map (patch convolution, with noise,
# three wavelengths averaged per channel), and shows whole images. Here:
#
# * **The frame** is the part of the sensor whose corners are the map's outermost cell centres, as the lens
#   images them (`H.map_frame`: twice the chief ray's height for the outermost column on the x axis).
# * **The map** is the s8_map × s8_map grid of cell centres over the same square as Figs. S7-S8's maps. At tiny
#   it is the 5 × 5 check map above, so its PSFs are already made; `full.yaml` uses the paper's 40 × 40 (210
#   points folded) with the three wavelengths of `design_wavelengths_nm` averaged. The folded points' PSFs are
#   mirrored back to the whole map (`ol.psf.unfold_square`), and the map is turned by 180° because the sensor
#   inverts the image.
# * **Each capture** is the frame blurred with the map (`ol.imaging.render_varying`: at each pixel, the
#   bilinear blend of its four nearest PSFs), plus 1 % read noise. The paper convolves patch by patch (each pixel
#   its nearest PSF: `mode="patch"`); the blend has no seams between patches, which matters on a 5 × 5 map and
#   little on 40 × 40.
# * **The test:** each network of Fig. S8 (trained on patches, one PSF each) is tested on whole frames of
#   test photographs. It is then fine-tuned on crops of whole-frame captures of training photographs (noise
#   drawn each step), and tested again.
# * **Substituted:** the frame is larger than the photographs' shorter side, so they are scaled up to it
#   (`ol.data.load_square`, bicubic). Their detail is then coarser than the sensor's pixels, which makes every
#   lens look better than it would on a DIV2K image.
#
# The check below computes one map point directly, one whose PSF needs all three mirrors of its
# representative.

# %% tags=["nbval-ignore-output"]
corner = map_deg * ol.deg
grid8 = H.map_grid(s8_map, corner)  # (theta_x, theta_y) of the map's cell centres, rows along +theta_y
points8 = H.map_points(s8_map, corner)  # folded, in the order unfold_square takes
t0 = time.time()


def map_kernels(f, a, lenses):
    """Each of `lenses`' kernels at the point (field `f`, azimuth `a`): the mean over design_wavelengths_nm of
    the chapter's ray-wave PSF (each kernel summing to 1)."""
    out = dict.fromkeys(lenses, 0)
    for w in design_wls:
        E = plane(f, S.dx, S.window, S.n_side, w, a)
        for name, (doe, dz) in lenses.items():
            with torch.no_grad():
                k = H.spot_kernel(ol.psf.propagate_to_sensor(E, L_doe + dz, doe), rec_kernel, px)
            out[name] = out[name] + k / len(design_wls)
        del E
    return out


if s8_map == ac_check_map and design_wls == [wl]:  # the check map's kernels, made above from the same fields
    k8 = {name: torch.stack([ac[(name, p)]["kernel"] for p in range(len(points8))]) for name in systems}
else:
    per_point = [map_kernels(f, a, systems)
                 for f, a, _ in tqdm(points8, desc="Fig. S8 PSF map", disable=rank != 0, mininterval=1.0)]
    k8 = {name: torch.stack([k[name] for k in per_point]) for name in systems}
# the field's map (row i at theta_y_i), turned by 180 degrees: its angles are the point sources' directions
# (H.source), and the lens images a point on the other side of the axis, as the last map point's chief ray shows
y_c, x_c = lens.chief_hit(wl, source=H.source(S, *H.polar_field(*grid8[-1][-1])))
if not (y_c < 0 and x_c < 0):
    raise RuntimeError(f"the map point at +x, +y images at ({x_c:.3g}, {y_c:.3g}) m: the 180-degree turn is wrong")
maps8 = {name: ol.psf.unfold_square(k, grid8).flip(0, 1) for name, k in k8.items()}

# one point computed directly: row 1, column 0 of the field's map (theta_x < 0, theta_y < 0, |theta_x| > |theta_y|)
i8, j8 = min(1, s8_map - 1), 0
direct = map_kernels(*H.polar_field(*grid8[i8][j8]), {hyb: systems[hyb]})[hyb]
field_map = maps8[hyb].flip(0, 1)  # back in field coordinates
unfolded = field_map[i8, j8]
rep = field_map[-1 - j8, -1 - i8]  # (|theta_y|, |theta_x|): its representative (s8_map >= 3), no mirror applied
mirror_ncc = float(ol.metrics.ncc(unfolded, direct))
print(f"the {s8_map} x {s8_map} map from {len(points8)} points ({time.time() - t0:.0f} s); at "
      f"({math.degrees(grid8[i8][j8][0]):.1f}, {math.degrees(grid8[i8][j8][1]):.1f}) deg: NCC of the mirrored "
      f"representative with the PSF computed there {mirror_ncc:.5f} (the representative unmirrored: "
      f"{float(ol.metrics.ncc(rep, direct)):.3f})")
results.check("s8_map_mirrors_exact", "Fig. S8's map: the PSF of a map point computed directly equals its folded "
              "representative's, mirrored (hybrid lens, a point needing the transpose and both flips; NCC)",
              mirror_ncc, ">=", 0.999,
              note="fails if a mirror were wrong or missing (the representative unmirrored is printed above) or "
                   "if the DOE's pixels broke the square's symmetry")

# %% tags=["nbval-ignore-output"]
frame_n = H.map_frame(S, s8_map, corner, rec_pixel_um * ol.um)
g8 = torch.Generator().manual_seed(seed + 41)


def photos(dataset, n):
    """`n` photographs of `dataset` drawn by g8, grey, each scaled to the frame (shorter side) and cut square."""
    paths = ol.data.photo_paths(dataset)
    if n > len(paths):
        raise ValueError(f"{n} whole frames asked of {dataset}, which has {len(paths)} photographs")
    pick = torch.randperm(len(paths), generator=g8)[:n].tolist()
    return torch.stack([ol.data.load_square(paths[i], frame_n, "L") for i in pick]).to(dev)


def render(frames, name):
    """The frames through lens `name`'s PSF map (noise-free), four at a time."""
    m = maps8[name].to(frames)
    return torch.cat([ol.imaging.render_varying(frames[i:i + 4], m, chunk=4) for i in range(0, len(frames), 4)])


def frame_scores(net, y, truth):
    """PSNR and SSIM of `net`'s reconstructions of the captures `y`, one frame at a time, without the border."""
    with torch.no_grad():
        out = torch.cat([net(y[i:i + 1]) for i in range(len(y))])
    return scores(out, truth), out


def fine_tune(net, clean, truth, name, key):
    """A copy of `net` trained further on crops of the whole-frame captures `clean` (noise drawn each step) of
    `truth`, inside the frame's border; Adam at rec_lr, MSE. Resumes from its checkpoint in `checkpoint_dir`."""
    net = copy.deepcopy(net).train()
    g = torch.Generator().manual_seed(seed + 43)
    opt_f = torch.optim.Adam(net.parameters(), lr=rec_lr)
    hi = frame_n - 2 * m_b - rec_patch + 1

    def step(i):
        b = torch.randint(len(truth), (rec_batch,), generator=g)
        t, l = (m_b + torch.randint(hi, (rec_batch,), generator=g) for _ in range(2))
        cut = lambda im: torch.stack([im[b_, :, t_:t_ + rec_patch, l_:l_ + rec_patch]  # noqa: E731
                                      for b_, t_, l_ in zip(b.tolist(), t.tolist(), l.tolist())])
        y = cut(clean)
        return torch.nn.functional.mse_loss(net(y + rec_noise * ol.train.randn(y.shape, y, g)), cut(truth))

    ol.train.fit(step, net, opt_f, s8_ft_steps, desc=f"Fig. S8 fine-tuning, {name}", generator=g,
                 checkpoint=ckpt(f"s8ft_{key}"), key=ol.train.run_key("s8ft", params, lens=name))
    return net.eval()


t0 = time.time()
frames_tr, frames_te = photos("wikimedia_photos", s8_frames_train), photos("kodak", s8_frames_test)
whole = {}
for name in systems:
    key = name.split(",")[-1].strip().split()[0]
    g_w = torch.Generator().manual_seed(seed + 47)  # the same noise for every lens
    y = render(frames_te, name)
    y = y + rec_noise * ol.train.randn(y.shape, y, g_w)
    before, _ = frame_scores(nets[name], y, frames_te)
    tuned = fine_tune(nets[name], render(frames_tr, name), frames_tr, name, key)
    after, out = frame_scores(tuned, y, frames_te)
    whole[name] = {"raw": scores(y, frames_te), "patches": before, "tuned": after, "y": y[:1], "x": out[:1]}
print(f"{frame_n} x {frame_n} px frames ({frame_n * rec_pixel_um / 1000:.2f} mm): {s8_frames_train} for "
      f"fine-tuning, {s8_frames_test} for the test; {len(systems)} lenses in {time.time() - t0:.0f} s")
rows_html = "".join(f"<tr><th>{escape(name)}</th>" + "".join(
    f"<td>{whole[name][k][0]:.2f}</td><td>{whole[name][k][1]:.3f}</td>" for k in ("raw", "patches", "tuned"))
    + "</tr>" for name in systems)
HTML("<table><thead><tr><th>whole frames (test)</th><th>capture PSNR (dB)</th><th>capture SSIM</th>"
     "<th>network from patches: PSNR (dB)</th><th>SSIM</th><th>fine-tuned on the map: PSNR (dB)</th><th>SSIM</th>"
     f"</tr></thead><tbody>{rows_html}</tbody></table>")

# %%
zoom = slice(m_b, m_b + 160)  # the frame's corner: the map's outermost point, where the singlet blurs most
fig, axes = plt.subplots(len(systems), 5, figsize=(12.5, 2.7 * len(systems)), squeeze=False)
for i, name in enumerate(systems):
    shown8 = (("capture", whole[name]["y"], None), ("fine-tuned reconstruction", whole[name]["x"], None),
              ("truth, corner", frames_te[:1], zoom), ("capture, corner", whole[name]["y"], zoom),
              ("reconstruction, corner", whole[name]["x"], zoom))
    for j, (title, img, z) in enumerate(shown8):
        im = img[0, 0] if z is None else img[0, 0, z, z]
        axes[i][j].imshow(im.clamp(0, 1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        axes[i][j].set_title(f"{name}\n{title}", fontsize=7)
        axes[i][j].axis("off")
fig.suptitle(f"Fig. S8, whole frame: {frame_n} x {frame_n} px through each lens's {s8_map} x {s8_map} PSF map "
             "(one test photograph)")
plt.tight_layout()
plt.show()
best_w = max(("singlet, its sensor", "singlet, refocused"), key=lambda n: whole[n]["tuned"][0])
for name, key in zip(systems, ("singlet", "refocused", "hybrid")):
    results.item(f"s8_frame_psnr_{key}", f"Fig. S8, whole frames through a {s8_map} x {s8_map} PSF map: fine-tuned "
                 f"reconstruction PSNR, {name}", whole[name]["tuned"][0], None, "dB",
                 note=f"{s8_frames_test} Kodak photographs scaled to {frame_n} px; the paper fine-tunes on 40 x 40")
results.check_all("s8_frame_hybrid_better", "Over whole frames (a spatially varying PSF map), the hybrid lens's "
                  "fine-tuned reconstructions beat the better singlet's (mean PSNR and SSIM over the test frames)",
                  [("PSNR hybrid - best singlet (dB)", whole[hyb]["tuned"][0] - whole[best_w]["tuned"][0], ">=", 0.5),
                   ("SSIM hybrid - best singlet", whole[hyb]["tuned"][1] - whole[best_w]["tuned"][1], ">", 0.0)],
                  note="fails when the DOE does not shrink the spots away from the axis (a blank DOE gives the "
                       "refocused singlet's frames)")

# %% [markdown]
# ## 6. Figs. S10-S11: an extended depth of field, designed with each model
#
# The paper's second design is a DOE that keeps the PSF alike over depth. The lens is first refocused to
# 30 cm, and the DOE is optimised for 20 cm, 30 cm and 10 m in two stages, as the paper describes. The first
# stage makes the PSFs alike over depth and small. The second is end to end, with Eq. 1: reconstructions of
# an image I at different depths should agree with each other and, with weight α = 0.3, with I. Two designers
# run the same optimisation; only their model of the lens differs:
#
# * **paraxial**: the lens is an ideal thin phase. On the DOE plane it puts, for each depth, an aberration-free
#   spherical wave converging to that depth's paraxial image. That wave is the same for every field, so the
#   model has only the axis.
# * **ray-wave**: the traced fields at each depth, at 0°, 8° and 16° on the diagonal. `full.yaml` trains it on
#   the paper's 5 × 5 PSF map instead (`edof_map`: the centres of the 5 × 5 cells of the square whose corners
#   are at 18°, all 25 every step; the Zernike phase has no symmetry, so the map is not folded). A 3 × 3 map
#   was tried at this scale and not kept: with 3 of its 9 points drawn per step (this scale's budget) the
#   design stayed poor on the axis and off it (seed 0: off-axis NCC 0.25 against the paraxial design's 0.20,
#   0.26 against 0.33 at half the step size), and with all 9 per step for 40 steps (the same number of
#   kernels) 0.35 against 0.28 in twice the time.
#
# Details of the set-up:
#
# * The DOE need not be round here. It is a Zernike phase (Noll 4-21, over the DOE's half-diagonal), made on each
#   field's samples as it is needed: each term is a polynomial in x and y, so the phase is two thin matrix
#   products and no field holds a basis of 18 planes.
# * Both designers start from the same small random coefficients. A blank start is a point of symmetry: on the
#   axis, the gradient of every odd term is zero there.
# * The first stage's loss, per field: 1 − NCC summed over the depth pairs, plus 0.3 × each PSF's RMS radius
#   in units of 10 µm. It runs 120 steps of Adam at 1 rad. At 3 rad a step the designs were chaotic: the same
#   seed on two machines, whose float32 rounding differs, gave off-axis gaps of +0.08 and −0.15 between them.
# * The second stage, Eq. 1, runs 20 steps. Its N is a Wiener filter with a learned regulariser, using the
#   field's mean PSF over the three depths: N knows where in the image it is, not how far away. RMSE is the
#   paper's "mean-square-root error", over four 64-pixel crops per step.
# * Each step's loss is backpropagated one field at a time (gradient accumulation). With `checkpoint_psfs` (on in
#   `full.yaml`) a field's kernels keep no graph: the backward pass makes them again, one at a time, as the paper
#   trains its PSF maps. Nothing in a kernel draws a random number, so the second pass repeats the first; the
#   crops and read noise are drawn outside it, and replayed on resume.
# * **Wavelengths.** Tiny designs at 530 nm. `full.yaml` draws one of 500, 530 and 560 nm per step for both
#   designers (drawn from the seed and the step, so every process and a resumed run agree), as the paper samples
#   its wavelengths: each wavelength's fields are traced once, and the DOE's phase is scaled by the glass's
#   dispersion. The check and the networks below are at 530 nm.
# * Both designs are then drawn on the DOE's 1 µm pixels and quantised to 16 levels. They are evaluated with
#   the chapter's ray-wave model at 0°, 7° and 14° on the diagonal; 7° and 14° are not design fields.

# %% tags=["nbval-ignore-output"]
from dataclasses import replace  # noqa: E402
from functools import partial  # noqa: E402

z_focus = float(lens.best_focus(lens.trace(lens.point_source(wl, -edof_focus_m, 0.999e-3, 64), to_sensor=False)))
lens30 = lens.with_sensor(z_focus)
L30 = z_focus - H.DOE_Z
S_d = {d: replace(S, lens=lens30, depth=d) for d in edof_depths_m}
z_par = {(d, i): float(lens.best_focus(lens.trace(lens.point_source(w, -d, 0.05e-3, 16), to_sensor=False)))
         for d in edof_depths_m for i, w in enumerate(design_wls)}  # each paraxial image (a thin bundle's focus)
i_wl = design_wls.index(wl)  # the evaluation's wavelength among the design's
print(f"sensor moved to {z_focus / ol.mm:.4f} mm (focus at {edof_focus_m} m); paraxial images at "
      + ", ".join(f"{d:g} m: {z_par[(d, i_wl)] / ol.mm:.4f} mm" for d in edof_depths_m) + f" ({wavelength_nm} nm)")
edof_px = round(rec_pixel_um / ac_dx_um)
zern_j = list(range(4, edof_terms + 1))  # no piston or tilts


def edof_plane(field, d, dx, window, n_side, azimuth=az, wavelength=wl):
    """The ray-wave field on the DOE plane for a point at depth `d` (m), `field` (rad) and `azimuth` (rad)."""
    sensor = H.sensor_window(replace(S_d[d], wavelength=wavelength), field, pixel=2 * dx, azimuth=azimuth, lens=lens30)
    E, _ = ol.psf.raywave_field(lens30, wavelength, sensor, dx, window, H.DOE_Z, source=H.source(S_d[d], field, azimuth),
                                n_side=n_side)
    return E


zern_M = ol.elements.zernike_monomials(zern_j, device=dev)  # each term as a polynomial in x / R and y / R


def doe_phase(grid, coef):
    """The DOE's Zernike phase (rad) on the samples of `grid`, zero off the element: made as it is needed, by two
    thin matrix products (float64), so no field holds a basis."""
    phi = ol.elements.zernike_on_grid(coef.double(), grid, R_doe, zern_j, monomials=zern_M)
    return phi * H.on_doe(grid, torch.float64).to(dev)


edof_points = H.edof_points(params)  # (field, azimuth, weight): the map row by row, or the diagonal's fields
t0 = time.time()
edof_models = {"paraxial": {}, "ray-wave": {}}
for d in edof_depths_m:
    for i, w in enumerate(design_wls):
        axis = None  # the on-axis field (float64), which the paraxial designer needs too
        for p_i, (f, a_, _) in enumerate(edof_points):
            E = edof_plane(f, d, ac_dx_um * ol.um, ac_window, ac_n_side, azimuth=a_, wavelength=w)
            axis = E if f == 0 else axis
            edof_models["ray-wave"][(p_i, d, i)] = E.replace(u=E.u.to(torch.complex64))
        E = axis if axis is not None else edof_plane(0.0, d, ac_dx_um * ol.um, ac_window, ac_n_side, wavelength=w)
        P = H.model_field(E, replace(S_d[d], wavelength=w), 0.0, "paraxial", focus_z=z_par[(d, i)])[0]
        edof_models["paraxial"][(0, d, i)] = P.replace(u=P.u.to(torch.complex64))
print("the EDoF design's points: " + ", ".join(f"{math.degrees(f):.1f} deg at {math.degrees(a_):.0f} deg"
                                              for f, a_, _ in edof_points)
      + f"; {len(edof_models['ray-wave'])} fields traced in {time.time() - t0:.0f} s")
g_ed = torch.Generator().manual_seed(seed + 17)
edof_img = grey(ol.data.random_crops(ol.data.photo_paths("wikimedia_photos"), rec_patch, rec_train, g_ed)).to(dev)


def kernel(E, coef, scale=1.0):
    """The forward model: a field on the DOE plane through the DOE's phase (`scale` times its phase at
    wavelength_nm: the field's wavelength's), to the sensor, as a kernel on the 3 um pixels."""
    phi = doe_phase(E.grid, coef).float() * scale
    s_out = ol.psf.propagate_to_sensor(E.replace(u=E.u * torch.polar(torch.ones_like(phi), phi)), L30)
    return H.spot_kernel(s_out, rec_kernel, edof_px)


def kernels(model, coef, scale=1.0, checkpointed=False):
    """Every kernel of the fields `model` (a dict), `scale` as in `kernel`. `checkpointed`: each is made as the
    paper trains its PSF map
    (torch.utils.checkpoint): the forward pass keeps the kernel and not its graph, and the backward pass makes
    it again, with its graph, one kernel at a time. Nothing in it draws a random number, so the second pass is
    the first's to the last digit."""
    make = partial(torch.utils.checkpoint.checkpoint, kernel, use_reentrant=False) if checkpointed else kernel
    return {key: make(E, coef, scale) for key, E in model.items()}


def eq1(Kf, log_gamma, img, noise):
    """Eq. 1 for one field: the sum over depth pairs of the RMSE between reconstructions, plus alpha times each
    one's RMSE to the image. `Kf` is the field's kernel at each depth, N a Wiener filter with their mean; the
    captures have read noise `noise` (one draw per depth, in units of rec_noise)."""
    mean_k = torch.stack(Kf).mean(0)
    ys = [ol.imaging.fftconv2d(img, k[None]) for k in Kf]
    rec_d = [ol.nn.wiener_deconv(y + rec_noise * e, mean_k[None], log_gamma.exp()) for y, e in zip(ys, noise)]
    loss = sum(ol.metrics.rmse(rec_d[i], rec_d[j]) for i in range(len(Kf)) for j in range(len(Kf)) if i != j)
    return loss + edof_alpha * sum(ol.metrics.rmse(r, img) for r in rec_d)


class EDoFDesign(torch.nn.Module):
    """The DOE's Zernike coefficients (rad at 530 nm; both designers start from the same small random draw) and
    the Wiener filter's regulariser."""

    def __init__(self):
        super().__init__()
        g0 = torch.Generator().manual_seed(seed + 31)
        self.coef = torch.nn.Parameter(edof_init_rad * torch.randn(len(zern_j), generator=g0, dtype=torch.float64).float().to(dev))
        self.log_gamma = torch.nn.Parameter(torch.tensor(math.log(1e-3), device=dev))


pair_idx = [(i, j) for i in range(len(edof_depths_m)) for j in range(i + 1, len(edof_depths_m))]
pairs = [(edof_depths_m[i], edof_depths_m[j]) for i, j in pair_idx]


def similarity_and_size(Kf):
    """The paper's first stage for one field (`Kf`: its kernel at each depth): 1 - NCC summed over depth pairs,
    plus each PSF's RMS radius (in units of 10 um, weight `edof_beta`): PSFs alike over depth, and small."""
    loss = sum(1 - ol.metrics.ncc(Kf[a], Kf[b]) for a, b in pair_idx)
    return loss + edof_beta * sum(ol.metrics.rms_radius(k, kg) / (10 * ol.um) for k in Kf)


def edof_losses(i, dsn, model, g, mine, checkpointed=checkpoint_psfs):
    """Step `i`'s loss, one map point at a time, as the mean over the step's points: fit backpropagates each as it
    comes (gradient accumulation) and, `checkpointed`, its kernels keep no graph until the backward pass: one
    propagation's graph is held at a time. The second stage's draws (the crops, then each point's read noise) are
    made for every point of `model` in every process, in one order, so that processes holding other points
    (`mine`: this one's) agree and a resumed run replays them (`g` is checkpointed). The step's wavelength (one of
    design_wavelengths_nm) and its points are drawn from the seed and the step alone (step_subset): the same
    everywhere, and without touching `g`."""
    if i >= edof_steps:
        img = edof_img[torch.randint(0, edof_img.shape[0], (edof_batch,), generator=g)]
    points = sorted({k[0] for k in model})
    drawn = ol.train.step_subset(len(points), edof_map_batch, seed, i)  # the same in every process and on resume
    w_i = ol.train.step_subset(len(design_wls), 1, seed + 1, i)[0]  # (always 0 with one wavelength)
    for p_i in points:
        noise = [ol.train.randn(img.shape, img, g) for _ in edof_depths_m] if i >= edof_steps else None
        if p_i in mine and p_i in drawn:
            K = kernels({d: model[(p_i, d, w_i)] for d in edof_depths_m}, dsn.coef, phase_scale[w_i], checkpointed)
            Kf = [K[d] for d in edof_depths_m]
            loss = similarity_and_size(Kf) if noise is None else eq1(Kf, dsn.log_gamma, img, noise)
            yield loss / len(drawn)


edof = {}
for name, model in edof_models.items():
    dsn = EDoFDesign()
    g = torch.Generator().manual_seed(seed + 19)
    opt_e = torch.optim.Adam([{"params": [dsn.coef]}, {"params": [dsn.log_gamma], "lr": 0.05}], lr=edof_lr)

    points = sorted({k[0] for k in model})
    mine = [points[j] for j in ol.train.shard(len(points), rank, world)]  # all of them without torchrun
    edof_step = partial(edof_losses, dsn=dsn, model=model, g=g, mine=mine)

    t0 = time.time()
    stage = torch.optim.lr_scheduler.LambdaLR(opt_e, lambda i: 1.0 if i < edof_steps else edof_e2e_lr / edof_lr)
    fit_e = ol.train.fit(edof_step, dsn, opt_e, edof_steps + edof_e2e_steps, scheduler=stage,
                         desc=f"Fig. S10 design, {name} model", generator=g, checkpoint=ckpt(f"s10_{name}"),
                         key=ol.train.run_key("s10", params, model=name), sum_over_ranks=True)
    edof[name] = dsn
    h = fit_e.history
    print(f"{name} design: PSF loss {h[0]:.3f} -> {h[edof_steps - 1]:.3f} in {edof_steps} steps"
          + (f", then Eq. 1 {h[edof_steps]:.4f} -> {h[-1]:.4f} in {edof_e2e_steps}" if edof_e2e_steps else "")
          + f" ({time.time() - t0:.0f} s)")

# %% [markdown]
# The paper's memory scheme (gradient accumulation, and PSFs made again in the backward pass) must change
# nothing but memory. One Eq. 1 step of the ray-wave design, from the same draws, both ways: every field's loss
# in one graph, and one field at a time with checkpointed kernels.

# %%
def eq1_gradient(checkpointed):
    """The gradient (float64) of one Eq. 1 step of the ray-wave design over all its fields, from fixed draws."""
    dsn, model = edof["ray-wave"], edof_models["ray-wave"]
    dsn.zero_grad(set_to_none=True)
    losses = edof_losses(edof_steps, dsn, model, torch.Generator().manual_seed(seed + 43),
                         mine=sorted({k[0] for k in model}), checkpointed=checkpointed)
    if checkpointed:
        for loss in losses:
            loss.backward()
    else:
        sum(losses).backward()
    grad = torch.cat([dsn.coef.grad.flatten(), dsn.log_gamma.grad.flatten()]).double()
    dsn.zero_grad(set_to_none=True)
    return grad


g_one, g_acc = eq1_gradient(False), eq1_gradient(True)
gap = float((g_acc - g_one).abs().max() / g_one.abs().max())
results.check_all("s10_checkpointing_exact", "One Eq. 1 step's gradient, one field at a time with checkpointed "
                  "kernels, equals the gradient of every field's loss in one graph (largest difference over the "
                  "largest component)", [("relative difference", gap, "<=", 1e-5)],
                  note="fails if the second pass differed from the first (a random draw inside the kernel from a "
                       "generator checkpointing does not restore) or a field's loss were dropped or counted twice")

# %% [markdown]
# The check. Both DOEs, and no DOE, go through the chapter's ray-wave model at each depth and field. A design
# is depth-invariant where its PSFs at the three depths correlate (NCC, averaged over the three pairs).
#
# Fig. S11 follows the paper's account of the baseline's failure. Each designer trains a reconstruction
# network (the small CNN of Fig. S8) on captures simulated with its own model:
#
# * the paraxial designer on its on-axis PSFs at the three depths;
# * the ray-wave designer on its PSFs at the three depths and three fields.
#
# Both networks then meet the captures the ray-wave model predicts at 20 cm: test photographs (Kodak crops)
# with 1 % read noise, the same noise for both.

# %% tags=["nbval-ignore-output"]
edof_does = {}
for name, dsn in edof.items():
    phi_e = doe_phase(dg, dsn.coef.detach()).cpu()
    edof_does[name] = ol.DOE(ol.elements.phase_to_height(phi_e, fused, wl), fused, grid=dg, z=H.DOE_Z, wrap=P_wave,
                             levels=quant_levels, h_max=P_wave).to(dev)
edof_eval = {}
t0 = time.time()
for d in edof_depths_m:
    for f in edof_eval_fields_deg:
        E = edof_plane(f * ol.deg, d, S.dx, S.window, edof_n_side)
        for name, doe in [("no DOE", None)] + list(edof_does.items()):
            with torch.no_grad():
                edof_eval[(name, f, d)] = H.spot_kernel(ol.psf.propagate_to_sensor(E, L30, doe), rec_kernel, px)
        del E
print(f"evaluated in {time.time() - t0:.0f} s")
names_e = ("no DOE", *edof)
xdepth = {(n, f): sum(float(ol.metrics.ncc(edof_eval[(n, f, a)], edof_eval[(n, f, b)])) for a, b in pairs) / len(pairs)
          for n in names_e for f in edof_eval_fields_deg}

# %% tags=["nbval-ignore-output"]
# Fig. S11: each designer trains a network on captures its own model predicts, and meets the ray-wave captures
with torch.no_grad():
    par_k = kernels({d: edof_models["paraxial"][(0, d, i_wl)] for d in edof_depths_m}, edof["paraxial"].coef)
belief = {"paraxial": [par_k[d].double() for d in edof_depths_m],  # the axis only: the model has no field
          "ray-wave": [edof_eval[("ray-wave", f, d)] for f in edof_eval_fields_deg for d in edof_depths_m],
          "no DOE": [edof_eval[("no DOE", f, d)] for f in edof_eval_fields_deg for d in edof_depths_m]}
test_e = grey(ol.data.random_crops(ol.data.photo_paths("kodak"), rec_patch, rec_test, g_ed)).to(dev)
d_near = min(edof_depths_m)
s11 = {}
t0 = time.time()
for n in names_e:
    net = train_network(edof_img, belief[n], 37, f"Fig. S11 network, {n}", f"s11_{n.replace(' ', '_')}", design=n)
    g_n = torch.Generator().manual_seed(seed + 29)  # the same noise for every design
    for f in edof_eval_fields_deg:
        y = ol.imaging.fftconv2d(test_e, edof_eval[(n, f, d_near)].to(test_e)[None])
        y = y + rec_noise * ol.train.randn(y.shape, y, g_n)
        with torch.no_grad():
            x = net(y)
        s11[(n, f)] = (scores(x, test_e)[0], y[:1], x[:1])
print(f"{len(names_e)} networks trained and tested in {time.time() - t0:.0f} s")
rows_html = "".join(f"<tr><th>{escape(n)}</th>" + "".join(f"<td>{xdepth[(n, f)]:.3f}</td>" for f in edof_eval_fields_deg)
                    + "".join(f"<td>{s11[(n, f)][0]:.2f}</td>" for f in edof_eval_fields_deg) + "</tr>" for n in names_e)
head_html = "".join(f"<th>NCC {f:g}°</th>" for f in edof_eval_fields_deg) + "".join(
    f"<th>PSNR {f:g}° (dB)</th>" for f in edof_eval_fields_deg)
HTML(f"<table><thead><tr><th>design (evaluated with ray-wave)</th>{head_html}</tr></thead><tbody>{rows_html}"
     "</tbody></table>")

# %%
cols = [(f, d) for f in edof_eval_fields_deg for d in edof_depths_m]
fig, axes = plt.subplots(len(names_e), len(cols), figsize=(1.45 * len(cols), 1.6 * len(names_e)), squeeze=False)
for i, n in enumerate(names_e):
    for j, (f, d) in enumerate(cols):
        k = edof_eval[(n, f, d)]
        ol.plot.show(axes[i][j], (k / k.max()) ** 0.5, kg, f"{n}\n{f:g} deg, {d:g} m")
        axes[i][j].title.set_fontsize(6)
        axes[i][j].set_xticks([])
        axes[i][j].set_yticks([])
        axes[i][j].set_xlabel("")
        axes[i][j].set_ylabel("")
fig.suptitle("Fig. S10: PSFs over depth and field (ray-wave), by the model the DOE was designed with (square root)")
plt.tight_layout()
plt.show()

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(2 * 2, len(edof_eval_fields_deg), figsize=(2.4 * len(edof_eval_fields_deg), 9.4), squeeze=False)
for i, n in enumerate(("paraxial", "ray-wave")):
    for j, f in enumerate(edof_eval_fields_deg):
        for r, (kind, img) in enumerate((("capture", s11[(n, f)][1]), ("reconstruction", s11[(n, f)][2]))):
            ax = axes[2 * i + r][j]
            ax.imshow(img[0, 0].clamp(0, 1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{n} design, {kind}\n{f:g} deg, {d_near:g} m" + (f": {s11[(n, f)][0]:.1f} dB" if r else ""),
                         fontsize=7)
            ax.axis("off")
fig.suptitle(f"Fig. S11: captures at {d_near * 100:g} cm and their reconstructions (one test patch)")
plt.tight_layout()
plt.show()
off_e = [f for f in edof_eval_fields_deg if f > 0]
inv = {n: sum(xdepth[(n, f)] for f in off_e) / len(off_e) for n in names_e}
psnr_near = {n: sum(s11[(n, f)][0] for f in edof_eval_fields_deg) / len(edof_eval_fields_deg) for n in names_e}
for n in names_e:
    key = n.replace(" ", "_").replace("-", "")
    results.item(f"s10_xdepth_ncc_{key}", f"Fig. S10: cross-depth NCC of the PSFs off axis (mean of {off_e} deg): {n}",
                 inv[n], None, "", note="ray-wave evaluation, 16-level DOE")
    results.item(f"s11_psnr_near_{key}", f"Fig. S11: PSNR at {d_near:g} m (Wiener from the designer's model): {n}",
                 psnr_near[n], None, "dB")
results.check("s10_raywave_edof_more_invariant", "Off axis, the EDoF DOE designed with the ray-wave model keeps the "
              "PSF more alike over depth than the one designed with the paraxial model (mean cross-depth NCC at "
              f"{off_e} deg on the diagonal, ray-wave evaluation: ray-wave design minus paraxial design)",
              inv["ray-wave"] - inv["paraxial"], ">=", 0.05,
              note="fails if the paraxial model were right off axis (a lens without field aberrations), or with "
                   "the design fields limited to the axis")
print(f"PSNR at {d_near:g} m, mean over the fields: " + ", ".join(f"{n} {psnr_near[n]:.2f} dB" for n in names_e)
      + " (measured, not claimed: see the summary)")

# %% [markdown]
# ## What matched and what did not (tiny scale)
#
# The paper gives ticks and pictures, no numbers. Every number here is measured, and the scoreboard marks it
# so. Sections 1-4 have no random draw, so the seed changes none of their numbers.
#
# * **The lens.** With HK51 from the authors' Sellmeier terms, the paraxial EFL at 530 nm is 7.935 mm and
#   F/3.97. The paper gives 7.77 mm and F/3.89, 2.1 % shorter. With the catalogue line's n_d = 1.5501 the EFL
#   is 7.58 mm, 2.4 % on the other side. So the glass explains the gap in either direction, and neither reading
#   reproduces the paper's number. The paper does not say at which wavelength, or by which definition, its
#   EFL was taken. The authors' sensor is in focus for a point 0.5 m away at 530 nm, so every point source
#   here sits at 0.5 m.
# * **Fig. S2.** A point 10 m away, traced to the DOE plane:
#   * float32: phase error std 1.8 rad (the paper's broken field; the amplitude breaks up too);
#   * float64: at most 4e-8 rad from the extended-precision reference.
# * **Fig. S3.** Against the ray-wave PSF:
#   * The paraxial model agrees on axis (NCC 1.000) and is lost off axis (0.83 at 3.5°, 0.01 at 17.5°).
#   * The Zernike pupil model drifts away with the field (1.000 on axis, 0.967 at 17.5°), as the paper says:
#     "not accurate enough, particularly for off-axis" regions.
# * **Table S.I.** 14 of our 16 ticks agree with the paper's; the pupil model has no column there. The two
#   that differ are local-grating ray tracing on the aberrated field (NCC 0.903) and on the smooth DOE
#   (0.912). The paper ticks both. Ours fall below the 0.95 threshold: the histogram has the right size and
#   shape but no interference structure (the rings of the aberrated spot, the fringes of the smooth DOE's
#   caustic). At a threshold of 0.90 they would agree with the paper; the threshold was fixed before the run
#   and is kept. On the binary grating, local-grating ray tracing and exit-pupil diffraction both fail,
#   clearly (order-share errors 0.87 and 1.0), as the paper says. The ray-wave model passes all four cases:
#   NCC 0.999-1.000, and order shares within 0.01 of thin-grating theory.
# * **Figs. S4-S5.** Local-grating ray tracing against ray-wave: NCC 0.985 (blank DOE), 0.908 (smooth) and
#   0.003 (binary grating: the rays stay in the dark zeroth order). Ray-wave against exit-pupil diffraction on
#   a clear aperture: NCC 0.9915 or better at 0°, 7° and 14°.
# * **16 levels.** The ray-wave model's +1-order efficiency of a quantised blazed grating is 0.9872 against
#   sinc²(1/16) = 0.9872, and 0.8105 against 0.8106 at 4 levels. This section found a defect in the library:
#   `quantize` clamped wrapped heights at the top level instead of wrapping them to zero, which cost 4-level
#   elements 9 points of efficiency (0.72). It is fixed and tested.
# * **Figs. S7-S8, aberration correction.** The DOE was designed on a 6 × 6 PSF map (folded to six points) and
#   checked on a 5 × 5 map over the same square (none of its points a design point), as the 16-level element at
#   1 µm. Its mean spot over the check map is 12.3 µm, against 15.7 µm for the singlet at its best sensor
#   position and 23.9 µm at its own sensor: cuts of 22 % and 48 %, against the 20 % asked. Not quantised, the
#   same design gives 9.5 µm (a 40 % cut): the 16 levels' light in other orders, counted at the ±100 µm
#   square's edge, costs most of the gain. At 40 design steps the quantised cut was 19 % (0.809, failing); the
#   design was given 60. The phase is smooth at the centre and finer towards the edge, as in the paper. A small
#   network per lens, tested on Kodak crops, reconstructs 7.0 dB better through the hybrid lens than through
#   the better singlet (29.7 against 22.6 dB, mean over the check map). The design has no random draw at this
#   scale (one wavelength, a blank start), so the seed changes only the networks' numbers.
#   * **Whole frames** (979 × 979 px through each lens's 5 × 5 PSF map, two Kodak test photographs): the hybrid
#     lens's fine-tuned network gives 35.6 dB, against 26.0 dB for the better singlet. The singlets' networks
#     trained on patches, one PSF each, did worse on whole frames than the captures they were given (24.4 and
#     24.7 dB against 25.9 and 25.8). Fifty steps of fine-tuning on the map brought them back to the captures'
#     level, and left the hybrid's where it was (35.7 dB before). These frames are photographs scaled up to the
#     frame, softer than the sensor's pixels, so every lens scores higher than on the patches.
# * **Figs. S10-S11, extended depth of field.** Off the axis, the DOE designed with the ray-wave model keeps
#   its PSFs more alike over 20 cm, 30 cm and 10 m than the one designed with the paraxial model: mean
#   cross-depth NCC 0.32 against 0.20 at 7° and 14° (seed 0). The singlet alone gives 0.21. This is the
#   paper's point. On the axis, which the paraxial designer does model, the two are closer.
#   * The gap at seeds 0-7 is +0.12, +0.13, +0.09, +0.09, +0.16, +0.21, +0.14 and +0.21: the claim's 0.05 holds
#     at all eight.
#   * A seed's gap is one draw from a wide distribution, and float rounding alone redraws it. Before the DOE's
#     Zernike phase was made as a float64 polynomial (it was summed from float32 planes: a change of about
#     1e-7 rad), the same seeds 0-5 gave +0.17, −0.03, +0.14, +0.10, +0.22 and +0.16, failing at seed 1. Over
#     those fourteen runs the mean gap is 0.14 and one of them is below 0.05. The direction is the paper's;
#     the margin at a given seed or machine is not guaranteed.
#   * The earlier design (Adam at 3 rad a step, 80 steps) was chaotic enough for the sign to change: +0.08 on
#     one machine and −0.15 on another at seed 0. The step (1 rad) and the count (120) were chosen on seeds 0
#     and 3.
# * **The paper's Fig. S11 claim is not reproduced at this scale.** The paper shows the paraxial design's
#   reconstructions at 20 cm failing. Here, at seed 0, the ray-wave design's network does worst on the
#   ray-wave captures at 20 cm: 22.7 dB, against 25.0 dB for the paraxial design and 23.8 dB with no DOE, mean
#   over the three fields. The order changes with the seed and the design, so it is measured and not claimed.
#   * The likely reasons: tiny designs of 140 steps, a small network, and a 64-pixel crop, which hides the
#     off-axis blur that the paper's full images show; and a more depth-invariant PSF is a wider one, which a
#     small network trained briefly deblurs less well.
# * **Not reproduced here, by construction:**
#   * the 10 × 10 training map (here 6 × 6; `full.yaml` has 10 × 10), the EDoF design's 5 × 5 map (here three
#     fields on one diagonal; `full.yaml` trains on the 5 × 5 map, and a 3 × 3 map at this scale's budget did
#     worse, see section 6) and the 40 × 40 fine-tuning map (here 5 × 5 and 50 steps; `full.yaml` has 40 × 40);
#   * three wavelengths per channel (one; the full parameters draw one of three per step, replayed on resume);
#   * 50 epochs on DIV2K.
#
#   `full.yaml` sets the paper's sampling for these designs; the dry run checks it. The designs and networks
#   resume from `checkpoint_dir`. Run under torchrun
#   (`torchrun --nproc_per_node=8 -m papers run yang2024 params/yang2024/full.yaml yang2024_full.ipynb`), the
#   two designs share their fields out over the processes (the gradients summed before each step); the rest of
#   the chapter runs in every process, and process 0 writes the notebook and the results.

# %% tags=["nbval-ignore-output"]
path = results.write()
results  # shown as tables (in plain text: print(results.table()))
