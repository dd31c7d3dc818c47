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
# # How the library fits together
#
# `optlib` has one currency: a **`Field`** (complex samples, their wavelengths, optionally the carrier of a
# tilted beam) on a positioned **`Grid`** (shape, pitch and the position of its centre sample). Sources and
# traced rays make Fields; elements (`DOE`, `ThinLens`, `Aperture`, `PhaseMask`, `FourF`, `Kerr`) take a
# Field and return one; propagators (`asm` with a carrier and a moving window, `fresnel`, `focal_plane` and
# `fresnel1` onto any output grid by a matrix DFT, `rs`) carry it; the sensor integrates it into pixels
# (`pixelate`). Every point-spread-function model is then a short composition of these parts that takes the
# same lens and the same elements, so two models can be compared on one system by construction.
#
# The paper-specific code of the book (set-ups, the papers' own networks, dry runs) lives in the `papers`
# package beside the library, one module per chapter; nothing in `optlib` imports it.

# %%
import math

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

import optlib as ol

torch.set_num_threads(2)
plt.rcParams.update({"figure.dpi": 90, "font.size": 9})

# %% [markdown]
# ## The parts

# %% tags=["remove-input"]
fig, ax = plt.subplots(figsize=(11, 4.2))
ax.set_xlim(0, 11)
ax.set_ylim(0.2, 4.5)
ax.axis("off")


def box(x, y, w, h, title, body, color):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=color, ec="0.3", lw=1))
    ax.text(x + w / 2, y + h - 0.15, title, ha="center", va="top", weight="bold", fontsize=11)
    ax.text(x + w / 2, y + h - 0.5, body, ha="center", va="top", fontsize=9, linespacing=1.35)


def arrow(x0, y0, x1, y1, label=""):
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=12, lw=1.2, color="0.25"))
    if label:
        ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.08, label, ha="center", va="bottom", fontsize=8, color="0.25")


box(0.1, 2.7, 2.0, 1.7, "sources", "point_source\nplane_wave\n(Fields)", "#dbeafe")
box(0.1, 0.3, 2.0, 2.1, "rays", "SequentialLens.trace\nRays.to_plane,\nRays.through(DOE)\npupil_rays (exit pupil)\nrays.to_field", "#fde68a")
box(2.6, 1.5, 1.9, 1.6, "Field on a Grid", "u, wavelength(s),\ncarrier (tilt);\nGrid: shape, pitch,\norigin", "#e9d5ff")
box(5.0, 2.7, 2.2, 1.7, "elements", "DOE (pixelated; phase and\nlocal grating for rays)\nThinLens, Aperture,\nPhaseMask, FourF, Kerr", "#dcfce7")
box(5.0, 0.3, 2.2, 2.1, "propagation", "asm (carrier, window shift)\nfresnel, fresnel1\nfocal_plane (any output\ngrid: mdft), rs\nall FFTs guarded (ol.fft)", "#fee2e2")
box(7.8, 1.5, 1.5, 1.6, "imaging", "pixelate\nSensor (noise)\nfftconv2d\nrender_varying", "#cffafe")
box(9.6, 1.5, 1.3, 1.6, "nn", "Wiener\nSRNet\nDepthNet\nOpticalConv2d", "#f5f5f4")
arrow(2.1, 3.4, 2.6, 2.7)
arrow(2.1, 1.4, 2.6, 1.9)
arrow(4.5, 2.6, 5.0, 3.3)
arrow(5.0, 2.9, 4.5, 2.45)
arrow(4.5, 2.0, 5.0, 1.4)
arrow(5.0, 1.0, 4.5, 1.7)
arrow(7.2, 1.4, 7.8, 2.0)
arrow(7.2, 3.4, 7.8, 2.7)
arrow(9.3, 2.3, 9.6, 2.3)
plt.show()

# %% [markdown]
# The point-spread-function models of `optlib.psf`, each a composition of these parts:
#
# | model | composition |
# |---|---|
# | thin element | `point_source` / `plane_wave` -> elements -> `fresnel` (or `fresnel1` onto the window) -> `pixelate` |
# | pupil | `pupil_rays` (traced rays on the exit-pupil sphere) -> `pupil_field` -> `focal_plane`'s matrix DFT -> `pixelate` |
# | Huygens | `pupil_rays` -> every ray a secondary source on the window -> `pixelate` |
# | ray-wave | traced rays -> `Rays.to_plane` -> `rays.to_field` (carrier kept) -> DOE -> tilted `asm` -> `pixelate` |
# | geometric | traced rays -> `Rays.through(DOE)` (local grating) -> `to_plane` -> histogram |

# %% [markdown]
# ## One lens, one DOE, a PSF four ways
#
# The lens: a plano-convex N-BK7 asphere, f = 50 mm, stop radius 1 mm on its flat face, conic $k=-n^2$
# (free of spherical aberration, so its own PSF is the Airy pattern of its NA). The DOE: a 3 mm fused-silica
# plate 0.1 mm behind the lens carrying a rotationally symmetric quadratic phase of $W$ waves at the beam's
# edge, a defocus the sensor cannot follow. The same two objects go to every model:
#
# * **thin element** (paraxial waves): an ideal thin lens of the asphere's EFL and entrance pupil, the DOE in
#   the same plane, single-FFT Fresnel diffraction (evaluated on the sensor window by a matrix DFT) over the
#   distance from the rear principal plane;
# * **pupil**: traced rays on the exit-pupil sphere, the DOE's phase added where they cross it, the Fourier sum;
# * **ray-wave**: traced rays made a Field on the DOE's plane, the DOE, the angular spectrum to the sensor;
# * **geometric**: the rays deflected by the DOE's local grating, a histogram on the sensor.
#
# Where diffraction dominates (W = 0.1 wave: the rays' blur, 6 um, is a third of the Airy radius) the three
# wave models must agree and the geometric one cannot; where the DOE's aberration dominates (W = 6 waves: a
# 350 um ray blur, twenty Airy radii) the geometric one approaches them.

# %%
WL = 587.5618e-9
n_glass = ol.materials.get("N-BK7").n(WL)
lens = ol.rays.SequentialLens.from_rows([(math.inf, 5.0, "N-BK7", 1.0, 0, (), True),
                                         (-(n_glass - 1) * 50.0, 0.0, "air", 6.0, -n_glass ** 2)], 50.0)
lens.sensor_z = lens.best_focus(lens.trace(lens.collimated(WL, 1e-3, 48), to_sensor=False))
efl, r_pupil, z_thin = ol.psf.thin_lens_equivalent(lens, WL)
print(f"EFL {efl / ol.mm:.3f} mm, entrance pupil radius {r_pupil / ol.mm:.3f} mm, rear principal plane to sensor "
      f"{z_thin / ol.mm:.3f} mm")

doe_grid = ol.Grid(600, 5e-6)  # 3 mm, 5 um pixels


def make_doe(waves):
    """A quadratic phase of ``waves`` waves at r = 1 mm, as fused-silica heights, 0.1 mm behind the lens."""
    phase = 2 * math.pi * waves * doe_grid.r2() / (1e-3) ** 2
    return ol.DOE(ol.elements.phase_to_height(phase, "fused silica", WL), "fused silica", grid=doe_grid,
                  z=float(lens.surfaces[-1].z) + 0.1e-3)


# the PSF window of each case: a grid positioned on the chief ray's hit, and the ray-wave field's pitch
windows = {0.1: (ol.Grid(41, 4e-6).at(lens.chief_hit(WL)), 4e-6), 6.0: (ol.Grid(81, 10e-6).at(lens.chief_hit(WL)), 5e-6)}


def four_ways(doe, sensor, dx):
    thin_grid = ol.Grid(512, 5e-6)
    # single-FFT Fresnel evaluated on the sensor window's sub-samples (a matrix DFT): the lens's chirp and
    # Fresnel's cancel, so nothing long has to be sampled
    thin = ol.psf.thin_element_psf([ol.Aperture(radius=r_pupil), ol.ThinLens(efl), doe], thin_grid, sensor, z_thin,
                                   [WL], None, method="fresnel1", normalize=False, dtype=torch.complex128)[0]
    thin = thin / (ol.circ(thin_grid, r_pupil).sum() * thin_grid.dx * thin_grid.dy)  # per watt through the pupil
    pr = ol.psf.pupil_rays(lens, WL, 0.0, n_side=128, doe=doe)
    return {"thin element": thin,
            "pupil": ol.psf.pupil_psf(pr, sensor),
            "ray-wave": ol.psf.raywave_psf(lens, WL, sensor, dx=dx, window=int(1.25 * sensor.extent[1] / dx) + 520,
                                           n_side=int(2.2e-3 / dx), doe=doe),
            "geometric": ol.psf.ray_psf(lens, WL, sensor, n_side=256, doe=doe)}


cases = {w: four_ways(make_doe(w), *windows[w]) for w in windows}


def ee80(p, sensor):  # radius holding 80 % of the power, about the chief ray
    return ol.metrics.encircled_radius(p, sensor, 0.8)


print(f"{'W (waves)':<10}{'model':<14}{'NCC with ray-wave':>19}{'EE80 radius (um)':>19}{'power in window':>17}")
agree = {}
for w, psfs in cases.items():
    for name, p in psfs.items():
        v = float(ol.metrics.ncc(p, psfs["ray-wave"]))
        agree[(w, name)] = v
        print(f"{w:<10g}{name:<14}{v:>19.4f}{ee80(p, windows[w][0]) / ol.um:>19.2f}{float(p.sum()):>17.3f}")

# %%
fig, axes = plt.subplots(2, 4, figsize=(10, 5))
for i, (w, psfs) in enumerate(cases.items()):
    for j, (name, p) in enumerate(psfs.items()):
        ol.plot.show(axes[i, j], (p / p.max()) ** 0.5, windows[w][0], f"{name}, W = {w:g}")
plt.tight_layout()
plt.show()

# %% [markdown]
# They agree where they should: at W = 0.1 wave the thin-element, pupil and ray-wave PSFs coincide (NCC above
# 0.99; the thin-element model places all the optics in one plane, the others trace the real lens) while the
# geometric PSF, which knows no diffraction, is a small disc; at W = 6 waves the geometric disc has grown to
# the wave models' size. The checks below are the numbers above, with their thresholds:

# %%
wave_models = ("thin element", "pupil")
ok_small = all(agree[(0.1, m)] > 0.99 for m in wave_models) and agree[(0.1, "geometric")] < 0.9
big = windows[6.0][0]
ee_wave, ee_geo = ee80(cases[6.0]["ray-wave"], big), ee80(cases[6.0]["geometric"], big)
ok_large = abs(ee_geo / ee_wave - 1) < 0.15
print(f"W = 0.1: wave models NCC > 0.99 with ray-wave, geometric < 0.9: {ok_small}")
print(f"W = 6: geometric EE80 / ray-wave EE80 = {ee_geo / ee_wave:.3f} (within 15 %: {ok_large})")
assert ok_small and ok_large
