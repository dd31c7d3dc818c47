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
# # End-to-end optics and image processing: achromatic extended depth of field (Sitzmann et al. 2018)
#
# Sitzmann, Diamond, Peng, Dun, Boyd, Heidrich, Heide and Wetzstein, *End-to-end optimization of optics
# and image processing for achromatic extended depth of field and super-resolution imaging*, SIGGRAPH
# 2018. A thin optical element (a height map) and a Wiener deconvolution are optimised together, through a
# differentiable wave-optics model, so that images of scenes at any depth between 0.5 m and infinity, in
# all three colours, come out sharp.
#
# **What is and is not the paper here.** Only the README of the authors' code is available to us, not the
# paper's figures or tables; the optical model and every parameter below come from the authors' three
# scripts (`aedof_diffractive.py`, `aedof_zernike.py`, `focusing_diffractive.py`, recorded in the
# reproduction notes). So this chapter has **no paper numbers to compare with**: it reproduces the
# method and measures three statements of **this book's own** (the README says only that the approach is
# demonstrated for achromatic extended depth of field and super-resolution): an optimised element beats
# the strongest conventional baseline at achromatic extended depth of field (measured as margins: their
# sign changes with the seed at this scale), its PSFs vary less over depth and colour than the most
# invariant baseline's, and an optimised element can focus all three colours better than a fixed lens
# (both checked). Each is compared with the strongest of the three baselines (Fresnel lens, refractive lens,
# cubic phase plate), not the Fresnel lens the elements start from. There is no script for the paper's second
# application, super-resolution; section 6 designs one from the paper's description and says what was
# assumed.
#
# **Data.** The authors trained on the INRIA Holidays high-resolution photos, which cannot be obtained
# here. We train on the 49 Wikimedia Commons photos of the local mirror and evaluate on the Kodak images
# (`optlib.data.photo_paths`), with random crops. Pixel values are treated as linear intensity.
#
# **Scale.** At `tiny` scale (the default, on 2 CPU cores; run times in the README) the aperture is 2 mm instead of
# 5 mm and the grid 256 samples of 7.8 um instead of 2496 of 2 um, which keeps every sampling condition
# valid (checked below) with 1.8 waves of defocus between 0.5 m and infinity; 300 instead of 20,001
# steps, Adam instead of the authors' SGD/Adadelta. `full` is the authors' set-up (for a GPU).

# %% tags=["parameters"]
scale = "tiny"
seed = 0
device = "auto"  # CUDA when present, else the CPU (2 threads); or "cpu", "cuda", "cuda:1"
n_grid = 256
pitch_um = 7.8125
padding = 1.5
aperture_mm = 2.0
sensor_mm = 35.5
focus_m = 1.0
depths_m = [0.5, 0.667, 1.0, 2.0, 1000.0]
wavelengths_nm = [460, 550, 640]
factor = 1
psf_px = 64
patch = 192
batch = 2
n_train_crops = 64
n_eval = 8
steps = 300
optimizer = "adam"
lr_fourier = 0.05
lr_zernike = 0.02  # the Zernike element of the super-resolution experiment (and experiment 2 without candidates)
zernike_lr_candidates = [0.005, 0.01, 0.02, 0.05]  # experiment 2's rate: the best on held-out training photos
n_val_photos = 9  # the last photos of train_photos, held out for that choice
fourier_fraction = 1.0
zernike_terms = 36
noise_min = 0.001
noise_max = 0.02
eval_noise = 0.01
height_tol_nm = 20.0
margin = 32
gamma_init = 0.01
cubic_waves = [1.0, 2.0, 3.0, 4.0, 5.0]  # cubic plate strengths searched (waves at the aperture edge)
focus_n_grid = 384
focus_sensor_mm = 25.0
focus_steps = 150
focus_lr = 0.05
focus_reg = 1000.0
sr_scales = [2, 4]
sr_steps = 200
sr_patch = 64
sr_batch = 4
sr_width = 16
sr_lr = 0.002
train_photos = "wikimedia_photos"
eval_photos = "kodak"
eval_patch = 192
checkpoint_dir = ""

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

import optlib as ol
import papers.sitzmann2018 as E
from torch import nn

dev = ol.train.use_device(device)  # 2 intra-op threads on a CPU
gen = ol.train.seed_everything(seed)  # random draws stay on the CPU: the same on any device
params = {k: globals()[k] for k in E.PARAMS}
G = E.setup(params)
results = ol.Results("sitzmann2018", scale, seed, device=str(dev))
plt.rcParams.update({"figure.dpi": 90, "font.size": 9})
WL_NAMES = [f"{w:g} nm" for w in wavelengths_nm]
DEPTH_NAMES = [("inf" if d >= 100 else f"{d:g} m") for d in depths_m]

# %% [markdown]
# ## 1. The optical model, and its sampling
#
# A point at depth $d$ sends a spherical wave $e^{ik(\sqrt{r^2+d^2}-d)}$ onto the element; the element
# adds $\phi=2\pi(n(\lambda)-1)h/\lambda$; a Fresnel transfer function carries the field over the sensor
# distance $z$; the intensity is integrated over the sensor pixels. In `optlib` that is four parts, each a
# `Field` in and out (`ol.psf.thin_element_psf` is exactly this composition, and `G.psfs` calls it):
#
# ```python
# u = ol.point_source(grid, depths, wavelengths)   # spherical waves, (D, C, H, W)
# u = element(u)                                    # the DOE: heights -> phase, in its aperture
# u = ol.fresnel(u, sensor_distance, padding)       # Fresnel transfer function to the sensor
# psf = ol.pixelate(u, sensor_pixels)               # power per pixel
# ```
# The element alone focuses (as in the authors' scripts: their Zernike element starts from a defocus
# term that images 1 m onto the sensor). Before anything runs, the sampling is checked: the element's and
# the waves' phase gradients against the grid's Nyquist frequency, and the transfer function's chirp
# against the padded grid.

# %%
from optlib.analytic import defocus_waves  # noqa: E402

ratio = ol.psf.check_thin_sampling(G.grid, G.radius, G.wavelengths, G.sensor, G.depths, G.focus)
print(f"grid {n_grid} x {pitch_um} um (padded x{padding}), aperture {aperture_mm} mm, sensor {sensor_mm} mm, "
      f"F/{sensor_mm / aperture_mm:.2f}")
print(f"worst phase gradient / Nyquist: {ratio:.3f} (must be <= 1)")
print(f"defocus between 0.5 m and infinity: {defocus_waves(G.radius, 550e-9, 0.5, 1000.0):.2f} waves at 550 nm")
for mat, ref in E.AUTHORS_INDEX.items():
    ours = [ol.materials.get(mat).n(w * 1e-9) for w in wavelengths_nm]
    print(f"{mat:>13}: n = {', '.join(f'{v:.4f}' for v in ours)} (authors' code: {', '.join(f'{v:.4f}' for v in ref)})")
print("(the full-scale configuration is checked by `make dryrun`, which builds it and measures its worst-case "
      "transfer-function loss without training)")

# %% [markdown]
# The in-focus PSF of a refractive lens must be the Airy pattern $[2J_1(v)/v]^2$, first zero at
# $1.22\lambda z/D$:

# %%
from scipy.special import j1  # noqa: E402

lens_h = ol.elements.lens_height(G.grid, E.MATERIAL_DOE, 550e-9, G.sensor, G.focus, wrap=False, dtype=torch.float64)
lens_el = E.element(G, lens_h, E.MATERIAL_DOE)
u = ol.point_source(G.grid, [G.focus], [550e-9], dtype=torch.complex128)   # the four parts, spelled out
u = ol.fresnel(lens_el(u), G.sensor, padding=padding)
p_focus = ol.pixelate(u, G.pixels)[0, 0]
p_focus = p_focus / p_focus.sum()
assert torch.allclose(p_focus, G.psfs(lens_el, [G.focus], [550e-9])[0, 0])  # = the composition G.psfs runs
c = psf_px // 2
prof = (p_focus[c, c:c + 4] / p_focus[c, c]).tolist()
r = np.arange(4) * pitch_um * 1e-6
v = 2 * math.pi / 550e-9 * G.radius / G.sensor * r
airy = [1.0] + [float((2 * j1(x) / x) ** 2) for x in v[1:]]
print("profile at r = 0, 1, 2, 3 pixels:", ", ".join(f"{a:.4f}" for a in prof))
print("Airy [2 J1(v)/v]^2:               ", ", ".join(f"{a:.4f}" for a in airy))
results.item("airy_1px", "In-focus lens PSF at one pixel (fraction of the peak)", prof[1], airy[1], "", tol=0.02,
             note="the Airy pattern at this radius")

# %% [markdown]
# ## 2. The baselines: a Fresnel lens, a refractive lens, a cubic phase plate
#
# All three are fused silica and image 1 m onto the sensor. The Fresnel lens is designed for 550 nm and
# wrapped to one $2\pi$ period, so its focal length scales as $1/\lambda$: blue and red are badly out of
# focus. The refractive lens has only the glass's dispersion. The cubic phase plate (wavefront coding)
# trades sharpness for a PSF that hardly changes with depth; its strength (1-5 waves at the edge) is chosen
# on training images, and the cell prints how much of each strength's PSF the 64-pixel window keeps (beyond
# 5 waves the window would cut it: 8 waves keep about 70 %). Each baseline gets its best Wiener regulariser
# and target depth by grid search on training images.

# %%
t0 = time.time()
train = E.train_crops(params, gen).to(dev)
test = E.eval_crops(params, torch.Generator().manual_seed(seed + 100)).to(dev)
val = E.validation_crops(params, torch.Generator().manual_seed(seed + 200)).to(dev) if n_val_photos else None
print(f"{train.shape[0]} training crops ({train_photos}, {len(E.training_photos(params)[0])} photos), "
      f"{test.shape[0]} test crops ({eval_photos}), {patch} px; "
      + (f"{val.shape[0]} validation crops of {n_val_photos} held-out {train_photos} photos" if n_val_photos else
         "no validation photos"))


class EDOF(nn.Module):
    """The paper's system: a DOE (the only focusing element), the sensor's read noise, and a Wiener filter whose
    regulariser gamma and target depth d_t = s^2 train with the element."""

    def __init__(self, element, gamma_init, target_depth=1.0):
        super().__init__()
        self.G, self.element = G, element
        self.wiener = ol.nn.WienerDeconv(gamma_init, channels=len(G.wavelengths))
        self.s = nn.Parameter(torch.tensor(math.sqrt(target_depth)))

    @property
    def target_depth(self) -> float:
        return float(self.s.detach() ** 2)

    def target_psf(self, element=None):
        """PSF (C, p, p) at the trainable target depth (differentiable in s and the heights)."""
        return self.G.psfs(element or self.element, (self.s ** 2).reshape(1), check=False)[0]

    def forward(self, images, depth_idx, sigma, generator=None):
        """``images`` (B, C, H, W) in [0, 1], ``depth_idx`` (B, 3): the depth of each horizontal band, ``sigma``
        (B,) read noise. Returns (reconstruction, sensor image)."""
        el = self.element.realised()  # the element as fabricated this step (fabrication noise drawn once)
        used, inv = torch.unique(depth_idx, return_inverse=True)
        P = self.G.psfs(el, [self.G.depths[int(i)] for i in used], check=False)  # optics: (D', C, p, p)
        B, C, H, W = images.shape
        rows = torch.arange(H, device=images.device) // (H // 3)
        in_band = rows[None, :] == torch.arange(3, device=images.device)[:, None]
        bands = images[:, None] * in_band.to(images.dtype)[None, :, None, :, None]
        # each band's PSF, gathered by a one-hot product (bitwise reproducible; indexing's backward is not)
        onehot = nn.functional.one_hot(inv.flatten(), len(used)).to(P.device, P.dtype)
        Psel = (onehot @ P.flatten(1)).reshape(*inv.shape, *P.shape[1:])
        blurred = ol.fftconv2d(bands, Psel.to(images.dtype)).sum(1)  # light from each band spreads freely
        noisy = blurred + sigma.reshape(-1, 1, 1, 1) * ol.train.randn(blurred.shape, blurred, generator)
        return self.wiener(noisy, self.target_psf(el).to(images.dtype)), noisy


systems, psnr_tab, psfs_all = {}, {}, {}
# the cubic plate's strength is searched like every baseline's Wiener filter: on training images
cubic_search = {}
for w in cubic_waves:
    m = EDOF(E.cubic_plate(G, w), gamma_init).to(dev)
    cubic_search[w] = (E.fit_wiener(m, train[:2], eval_noise)[0], m)
best_cubic = max(cubic_search, key=lambda w: cubic_search[w][0])
for w, (v, m) in cubic_search.items():
    kept = E.window_energy(G, m.element)
    print(f"cubic plate {w:g} waves: training PSNR {v:.2f} dB; the {psf_px}-pixel PSF window keeps "
          f"{100 * float(kept.min()):.1f}-{100 * float(kept.max()):.1f} % of its power" + ("  <- chosen" if w == best_cubic else ""))
for name, el in E.baselines(G).items():
    m = EDOF(el, gamma_init).to(dev)
    E.fit_wiener(m, train[:2], eval_noise)
    systems[name] = m
systems["cubic phase plate"] = cubic_search[best_cubic][1]  # its Wiener filter already fitted in the search

# %% [markdown]
# ## 3. Experiments 1 and 2: optimising the element
#
# Experiment 1 optimises a diffractive element in fused silica (heights from Fourier coefficients, the
# lowest `fourier_fraction` of frequencies, wrapped to one period), starting from the Fresnel lens.
# Experiment 2 optimises a refractive element in PMMA described by `zernike_terms` Zernike polynomials,
# starting from the lens. Both train with the Wiener filter's regulariser and target depth, three depth
# bands per image, read noise of 0.1-2 % and +-20 nm fabrication noise. Experiment 2's learning rate is
# chosen at tiny scale among `zernike_lr_candidates`: each is trained, and the one with the best mean PSNR on
# crops of the `n_val_photos` held-out training photos is kept (never the Kodak test crops). At `full` the
# authors' Adadelta rate is used as given.
#
# **Departures from the authors' scripts**, beyond the tiny grid and step count: experiment 1 uses every
# Fourier frequency at tiny (`fourier_fraction` 1.0; the authors' 0.625 is in `full`); experiment 2 uses 36
# Zernike terms at tiny (the authors' 350 are in `full`) and gets experiment 1's ±20 nm fabrication noise
# (the notes recovered from the authors' code list it for experiments 1 and 3 only); and in `full`,
# experiment 2 runs on experiment 1's grid (2496² at 2 µm) and step count (20,001), where the authors'
# script uses 1356² at 3.69 µm and 10,001 Adadelta steps.

# %%
def ckpt(name):
    return f"{checkpoint_dir}/{scale}_{name}.pt" if checkpoint_dir else None


def train_edof(kind, lr=None, g=None):
    """Each step: ``batch`` crops, three bands at random depths, read noise ~ U(noise_min, noise_max), fabrication
    noise on the heights, MSE inside ``margin``; the element and the Wiener filter train together. ``lr``: the
    element's learning rate (default ``lr_fourier`` / ``lr_zernike``); ``g``: the generator of every draw
    (default: the run's)."""
    g = gen if g is None else g
    p = {**params, **({} if lr is None else {"lr_fourier" if kind == "diffractive" else "lr_zernike": lr})}
    model = EDOF(E.make_element(kind, G, p), gamma_init).to(dev).train()
    model.element.generator = g  # fabrication noise drawn from the generator (reproducible, resumable)
    opt = E.make_optimizer(p, model, kind)
    sched = (torch.optim.lr_scheduler.PolynomialLR(opt, total_iters=steps, power=1.0)  # the authors' decay
             if optimizer == "authors" and kind == "diffractive" else None)

    def step(i):
        idx = torch.randint(0, train.shape[0], (batch,), generator=g)
        d = torch.randint(0, len(G.depths), (batch, 3), generator=g)
        sig = (noise_min + (noise_max - noise_min) * torch.rand(batch, generator=g)).to(dev)
        rec, _ = model(train[idx], d, sig, g)
        return E.loss_fn(rec, train[idx], margin)

    name = f"edof_{kind}" + ("" if lr is None else f"_lr{lr:g}")
    res = ol.train.fit(step, model, opt, steps, scheduler=sched, checkpoint=ckpt(name), desc=f"EDOF {kind}",
                       generator=g, key=ol.train.run_key(name, p, steps=steps))
    return model.eval(), res


# %% tags=["nbval-ignore-output"]
fits, lr_val, lr_chosen = {}, {}, lr_zernike
for kind, label in (("diffractive", "optimised DOE (exp. 1)"), ("zernike", "optimised Zernike (exp. 2)")):
    t = time.time()
    # experiment 2 draws from its own stream, the same for every candidate rate: they differ only in the rate
    g2 = lambda: torch.Generator().manual_seed(seed + 1000)  # noqa: E731
    if kind == "zernike" and zernike_lr_candidates:  # each candidate trained, the best on held-out photos kept
        runs = {lr_: train_edof(kind, lr_, g2()) for lr_ in zernike_lr_candidates}
        lr_val = {lr_: float(E.evaluate(m_, val, eval_noise).mean()) for lr_, (m_, _) in runs.items()}
        lr_chosen = max(lr_val, key=lr_val.get)
        print("experiment 2, mean PSNR on the held-out training photos: "
              + ", ".join(f"lr {k:g}: {v:.2f} dB" for k, v in lr_val.items()) + f" -> lr {lr_chosen:g}")
        model, res = runs[lr_chosen]
    else:
        model, res = train_edof(kind, g=g2() if kind == "zernike" else None)
    systems[label] = model
    fits[label] = (res, time.time() - t)
    runs_n = len(zernike_lr_candidates) if kind == "zernike" and zernike_lr_candidates else 1
    print(f"{label}: {len(res.history)} steps" + (f" (x {runs_n} candidates)" if runs_n > 1 else "")
          + f" in {time.time() - t:.0f} s, loss {res.history[0]:.4f} -> {np.mean(res.history[-10:]):.4f}, "
          f"target depth {model.target_depth:.2f} m")
results.item("lr_zernike_chosen", "Experiment 2 learning rate (chosen on held-out training photos)" if lr_val else
             "Experiment 2 learning rate (as given)", lr_chosen, None, "",
             note=("candidates " + ", ".join(f"{k:g}: {v:.2f} dB" for k, v in lr_val.items())) if lr_val else "")

# %%
for name, m in systems.items():
    psnr_tab[name] = E.evaluate(m, test, eval_noise)
    with torch.no_grad():
        psfs_all[name] = G.psfs(m.element, check=False)
print(f"PSNR (dB) on {n_eval} Kodak crops, read noise {eval_noise}, every depth (mean over colours):")
print(f"{'design':<28}" + "".join(f"{d:>9}" for d in DEPTH_NAMES) + f"{'mean':>8}{'worst':>8}{'PSF sim.':>10}")
sim = {}
for name, tab in psnr_tab.items():
    sim[name] = E.psf_similarity(psfs_all[name])
    print(f"{name:<28}" + "".join(f"{v:9.2f}" for v in tab.mean(1).tolist())
          + f"{float(tab.mean()):8.2f}{float(tab.mean(1).min()):8.2f}{sim[name]:10.3f}")
print("\nper colour (mean over depths):")
for name, tab in psnr_tab.items():
    print(f"{name:<28}" + "".join(f"{w:>8}: {v:5.2f}" for w, v in zip(WL_NAMES, tab.mean(0).tolist())))

# %%
BASELINES = ("Fresnel lens (550 nm)", "refractive lens", "cubic phase plate")
best_mean = max(BASELINES, key=lambda n: float(psnr_tab[n].mean()))
best_worst = max(BASELINES, key=lambda n: float(psnr_tab[n].mean(1).min()))
best_sim = max(BASELINES, key=lambda n: sim[n])
print(f"strongest baselines: mean PSNR {best_mean}, worst depth {best_worst}, PSF similarity {best_sim}")
for label, key in (("optimised DOE (exp. 1)", "doe"), ("optimised Zernike (exp. 2)", "zernike")):
    results.item(f"psnr_{key}", f"{label}: mean PSNR over depths and colours", float(psnr_tab[label].mean()), None,
                 "dB", note="tiny scale; the paper's numbers are not available")
    # against the strongest baseline: measured margins, not claims (their sign changes with the seed at tiny
    # scale, make check-seeds; the summary gives the spread)
    results.item(f"margin_mean_{key}", f"{label}: mean PSNR minus the strongest baseline's ({best_mean})",
                 float(psnr_tab[label].mean() - psnr_tab[best_mean].mean()), None, "dB",
                 note="seed-sensitive at tiny: see the summary")
    results.item(f"margin_worst_{key}", f"{label}: worst-depth PSNR minus the strongest baseline's worst depth "
                 f"({best_worst}): extended depth of field", float(psnr_tab[label].mean(1).min()
                                                               - psnr_tab[best_worst].mean(1).min()), None, "dB",
                 note="seed-sensitive at tiny: see the summary")
    # this book's test (the authors' README states no such numbers), against the most invariant baseline
    results.check(f"psf_invariant_{key}", f"{label}: PSFs more similar across depth and colour than the most "
                  f"invariant baseline's ({best_sim})", sim[label], ">", sim[best_sim],
                  note=f"cubic plate at {best_cubic:g} waves, chosen on training images; fails if the optimisation "
                       "does nothing (its start, a lens, is one of the baselines)")
for name in ("Fresnel lens (550 nm)", "refractive lens", "cubic phase plate"):
    results.item(f"psnr_{name.split()[0].lower()}", f"{name}: mean PSNR", float(psnr_tab[name].mean()), None, "dB")

# %% [markdown]
# PSFs over depth (rows) and colour, as RGB composites (square-root intensity, 64 x 64 pixels of
# 7.8 um), for each design:

# %%
names = list(psfs_all)
fig, axes = plt.subplots(len(depths_m), len(names), figsize=(1.6 * len(names), 1.6 * len(depths_m)))
for j, name in enumerate(names):
    P = psfs_all[name]
    for i in range(len(depths_m)):
        ol.plot.show(axes[i, j], (P[i] / P[i].amax((-2, -1), keepdim=True)).clamp(0, 1) ** 0.5)
        if i == 0:
            axes[i, j].set_title(name.replace(" (", "\n("), fontsize=7)
        if j == 0:
            axes[i, j].set_ylabel(DEPTH_NAMES[i])
plt.tight_layout()
plt.show()

# %%
fig, axes = plt.subplots(1, 2, figsize=(7, 3))
ax = axes[0]
for name, tab in psnr_tab.items():
    ax.plot(range(len(depths_m)), tab.mean(1).cpu().numpy(), "o-", label=name)
ax.set_xticks(range(len(depths_m)))
ax.set_xticklabels(DEPTH_NAMES)
ax.set_xlabel("depth")
ax.set_ylabel("PSNR (dB)")
ax.legend(fontsize=6)
ax.set_title("Reconstruction PSNR over depth")
ax = axes[1]
h = systems["optimised DOE (exp. 1)"].element.height().detach().cpu() * G.aperture
ol.plot.show(ax, h / ol.um, title="Optimised DOE height (um)", cmap="viridis", colorbar=True)
plt.tight_layout()
plt.show()

# %% [markdown]
# Reconstructions of one Kodak crop placed at 0.5 m (the nearest depth), read noise 1 %:

# %%
img = test[:1]
cols = ["Fresnel lens (550 nm)", "cubic phase plate", "refractive lens", "optimised DOE (exp. 1)",
        "optimised Zernike (exp. 2)"]
fig, axes = plt.subplots(1, len(cols) + 1, figsize=(2.0 * (len(cols) + 1), 2.3))
ol.plot.show(axes[0], img[0], title="ground truth")
for ax, name in zip(axes[1:], cols):
    m = systems[name]
    with torch.no_grad():
        noisy, _ = E.sensor_images(m, img, eval_noise, seed=7)
        rec = m.wiener(noisy[0], m.target_psf()).clamp(0, 1)
    v = float(ol.metrics.psnr(rec[..., c:-c, c:-c], img[..., c:-c, c:-c]))
    ol.plot.show(ax, rec[0], title=f"{name}\n{v:.1f} dB")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 4. Experiment 3: an element that focuses all three colours
#
# The authors' third script optimises a diffractive element in fused silica (2 mm here, sensor 25 mm,
# object at infinity) so that each colour channel blurred by its wavelength's PSF equals the sharp image,
# with a Laplacian smoothness penalty on the heights. As in the authors' script, it starts from a flat
# element (no lens). Measured by the energy within two Airy radii (at 550 nm) of each colour's PSF, against
# the better of two fixed elements of the same focal length: the 550 nm Fresnel lens and a refractive
# fused-silica lens.

# %% tags=["nbval-ignore-output"]
G3 = E.focus_setup(params)
t = time.time()
focus_fixed = {"Fresnel lens (550 nm)": ol.elements.lens_height(G3.grid, E.MATERIAL_DOE, 550e-9, G3.sensor, None, wrap=True),
               "refractive lens": ol.elements.lens_height(G3.grid, E.MATERIAL_DOE, 550e-9, G3.sensor, None, wrap=False)}
focus_el = E.element(G3, ol.elements.FourierHeightMap.fit(G3.grid, torch.zeros(G3.grid.shape, dtype=torch.float64),
                                                          fourier_fraction), E.MATERIAL_DOE,
                     wrap=ol.elements.period_height(E.MATERIAL_DOE, 550e-9)).to(dev)  # flat: the authors' start
opt3 = (torch.optim.Adam(focus_el.parameters(), lr=focus_lr) if optimizer == "adam" else
        torch.optim.SGD(focus_el.parameters(), lr=focus_lr, momentum=0.5, nesterov=True))
side = min(train.shape[-1], 3 * G3.psf_px // 2)


def focus_step(i):
    el = focus_el.realised()
    P = G3.psfs(el, check=False)[0]  # (C, p, p): one PSF per colour, object at infinity
    img = train[torch.randint(0, train.shape[0], (batch,), generator=gen)][..., :side, :side]
    return ((ol.fftconv2d(img, P) - img) ** 2).mean() + focus_reg * E.laplacian_l1(el.fixed_heights)


focus_res = ol.train.fit(focus_step, focus_el, opt3, focus_steps, checkpoint=ckpt("focus"), desc="RGB focusing",
                         generator=gen, key=ol.train.run_key("focus", params))
print(f"{len(focus_res.history)} steps in {time.time() - t:.0f} s")

# %%
r_airy_px = 1.22 * 550e-9 * G3.sensor / (2 * G3.radius) / G3.grid.dx
with torch.no_grad():
    P3 = {name: G3.psfs(E.element(G3, h, E.MATERIAL_DOE).to(dev))[0] for name, h in focus_fixed.items()}
    P3["optimised (exp. 3)"] = G3.psfs(focus_el)[0]
ee3 = {name: E.encircled_energy(P, 2 * r_airy_px) for name, P in P3.items()}
print(f"energy within {2 * r_airy_px:.2f} px (two Airy radii at 550 nm):")
print(f"{'':<24}" + "".join(f"{w:>10}" for w in WL_NAMES) + f"{'min':>8}")
for name, ee in ee3.items():
    print(f"{name:<24}" + "".join(f"{v:10.3f}" for v in ee.tolist()) + f"{float(ee.min()):8.3f}")
best_fixed = max(focus_fixed, key=lambda n: float(ee3[n].min()))
results.item("focus_ee_min", "Experiment 3: lowest RGB energy within two Airy radii", float(ee3["optimised (exp. 3)"].min()),
             None, "")
results.check("focus_rgb", f"The optimised element (started flat) focuses all three colours better than the better "
              f"fixed element ({best_fixed}): lowest RGB energy within two Airy radii",
              float(ee3["optimised (exp. 3)"].min()), ">", float(ee3[best_fixed].min()))
fig, axes = plt.subplots(1, 4, figsize=(10, 2.6))
for ax, (name, P) in zip(axes[:3], P3.items()):
    cc = psf_px // 2
    crop = P[:, cc - 12:cc + 13, cc - 12:cc + 13]
    ol.plot.show(ax, (crop / crop.amax((-2, -1), keepdim=True)) ** 0.5, title=name)
ol.plot.show(axes[3], focus_el.height().detach().cpu() * G3.aperture / ol.um, title="optimised height (um)", cmap="viridis",
             colorbar=True)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Explore the learned element's PSF
#
# Depth and wavelength sliders over the optimised DOE of experiment 1 (precomputed, so they work in the
# rendered book without a kernel); the Fresnel lens beside it for comparison.

# %%
import ipywidgets as widgets  # noqa: E402

links = []
s_depth = widgets.SelectionSlider(options=DEPTH_NAMES, value=DEPTH_NAMES[2], description="depth")
s_wl = widgets.SelectionSlider(options=WL_NAMES, value=WL_NAMES[1], description="wavelength")


def psf_image(name, i, j):
    P = psfs_all[name][i, j]
    return widgets.Image(value=ol.plot.image_png(P / P.max(), 160), format="png")


row = widgets.HBox([widgets.VBox([widgets.HTML(f"<b>{name}</b>"), ol.plot.stack_over(
    s_depth, range(len(depths_m)), lambda i, name=name: ol.plot.stack_over(
        s_wl, range(len(wavelengths_nm)), lambda j, i=i, name=name: psf_image(name, i, j), 1, links), 2, links)])
    for name in ("optimised DOE (exp. 1)", "Fresnel lens (550 nm)")])
widgets.VBox([widgets.HTML("<b>PSF explorer</b> (square-root intensity, 64 x 64 pixels)"), s_depth, s_wl, row])

# %% [markdown]
# ## 6. Super-resolution (designed here: the repository has no script for it)
#
# The paper's second application optimises an element for snapshot super-resolution. With no script,
# we assume the simplest set-up consistent with the paper's description: a grey scene at the focus
# depth (1 m), 550 nm, sensor pixels 2x and 4x the simulation pitch (area integration), 1 % read noise,
# and the same small CNN (bilinear upsampling plus a residual stack of 3x3 convolutions) after either a
# fixed refractive lens or a 36-term Zernike freeform started from that lens and trained with the CNN.
# Scored against the high-resolution crop, with bilinear upsampling of the sensor image for reference.

# %%
class SR(nn.Module):
    """Element (grey, 550 nm, object at the focus depth) -> sensor pixels ``scale`` x the simulation pitch (area
    integration) -> read noise -> the SR CNN."""

    def __init__(self, element, scale):
        super().__init__()
        self.element, self.scale = element, scale
        self.net = ol.nn.SRNet(scale, channels=1, width=sr_width, depth=4)

    def forward(self, hr, sigma, generator=None):
        P = G.psfs(self.element, [G.focus], [550e-9], check=False)[0]
        low = ol.pixel_integrate(ol.fftconv2d(hr, P.to(hr.dtype)), self.scale) / self.scale ** 2
        low = low + sigma * ol.train.randn(low.shape, low, generator)
        return self.net(low), low


def train_sr(scale_, optimize_optics):
    """A refractive fused-silica lens focused at ``focus_m``, fixed or a 36-term Zernike freeform started from it,
    trained end to end with the CNN on grey crops, read noise ``eval_noise``."""
    lens = ol.elements.lens_height(G.grid, E.MATERIAL_DOE, 550e-9, G.sensor, G.focus, wrap=False)
    el = E.element(G, ol.elements.ZernikeHeightMap.fit(G.grid, G.radius, lens, 36, piston="min")
                   if optimize_optics else lens, E.MATERIAL_DOE)
    m = SR(el, scale_).to(dev)
    groups = [{"params": m.net.parameters(), "lr": sr_lr}]
    if optimize_optics:
        groups.append({"params": el.parameters(), "lr": lr_zernike if optimizer == "adam" else 1e-3})
    opt = torch.optim.Adam(groups)
    mg = E.sr_margin(G)

    def step(i):
        idx = torch.randint(0, train_g.shape[0], (sr_batch,), generator=gen)
        t_ = int(torch.randint(0, train_g.shape[-1] - sr_patch + 1, (1,), generator=gen))
        l_ = int(torch.randint(0, train_g.shape[-1] - sr_patch + 1, (1,), generator=gen))
        hr = train_g[idx][..., t_:t_ + sr_patch, l_:l_ + sr_patch]
        out, _ = m(hr, eval_noise, gen)
        return ((out - hr)[..., mg:-mg, mg:-mg] ** 2).mean()

    name = f"sr{scale_}_{'optics' if optimize_optics else 'lens'}"
    return m, ol.train.fit(step, m, opt, sr_steps, checkpoint=ckpt(name), desc=f"SR x{scale_}", generator=gen,
                           key=ol.train.run_key(name, params))


@torch.no_grad()
def evaluate_sr(m, images, sigma, seed=3):
    """PSNR (dB) of the CNN's output and of bilinear upsampling of the same sensor image."""
    out, low = m(images, sigma, torch.Generator().manual_seed(seed))
    bil = nn.functional.interpolate(low, scale_factor=m.scale, mode="bilinear", align_corners=False)
    mg = E.sr_margin(G)
    cut = (slice(None), slice(None), slice(mg, -mg), slice(mg, -mg))
    return (float(ol.metrics.psnr(out.clamp(0, 1)[cut], images[cut])),
            float(ol.metrics.psnr(bil.clamp(0, 1)[cut], images[cut])), out, low)


# %% tags=["nbval-ignore-output"]
train_g, test_g = E.grey(train), E.grey(test)
sr = {}
for s_ in sr_scales:
    for optics in (False, True):
        t = time.time()
        m, res = train_sr(s_, optics)
        sr[(s_, optics)] = m
        print(f"x{s_} {'optimised element' if optics else 'fixed lens'}: {len(res.history)} steps in {time.time() - t:.0f} s")

# %%
print(f"{'scale':<7}{'bilinear (lens)':>17}{'lens + CNN':>12}{'optimised element + CNN':>26}")
for s_ in sr_scales:
    p_lens, p_bil, out_l, lr_l = evaluate_sr(sr[(s_, False)], test_g, eval_noise)
    p_opt, _, out_o, _ = evaluate_sr(sr[(s_, True)], test_g, eval_noise)
    print(f"x{s_:<6}{p_bil:17.2f}{p_lens:12.2f}{p_opt:26.2f}")
    results.item(f"sr{s_}_lens", f"SR x{s_}: lens + CNN, PSNR", p_lens, None, "dB")
    results.item(f"sr{s_}_optimised", f"SR x{s_}: optimised element + CNN, PSNR", p_opt, None, "dB",
                 note="design assumed here (no script); gain over the lens reported as measured")
fig, axes = plt.subplots(1, 4, figsize=(8, 2.3))
for ax, (im_, title) in zip(axes, ((test_g[0, 0], "ground truth"), (lr_l[0, 0], f"sensor (x{sr_scales[-1]})"),
                                   (out_l[0, 0].clamp(0, 1), "lens + CNN"), (out_o[0, 0].clamp(0, 1), "optimised + CNN"))):
    ol.plot.show(ax, im_, title=title, cmap="gray", vmin=0, vmax=1)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## What matched and what did not
#
# * The model is right where it can be checked: the in-focus lens gives the Airy pattern, and every
#   sampling condition is verified before a PSF is computed (at full scale this found that the
#   authors' quarter-width padding lets the Fresnel transfer function drop 1.6e-4 of the power at
#   640 nm for a point at 0.5 m; the `full` set pads 2.5x instead).
# * Each statement is compared with the strongest of the three baselines, not the Fresnel lens the
#   elements start from. At this tiny scale a plain refractive lens focused at 1 m is that baseline for
#   mean PSNR (fused silica's weak dispersion, a small 2 mm aperture): it is sharpest at 1 m and its mean
#   PSNR (about 26.2 dB) is slightly **above** both optimised elements' (about 25.9 dB each). What the
#   optimised elements buy is depth of field, the point of the paper: compare the `worst` column (the worst
#   depth of each design). The cubic plate's strength is chosen on training images like every Wiener filter
#   (the mean-PSNR choice is its weakest, 1 wave, whose PSF the 64-pixel window keeps whole); it is then the
#   strongest baseline at the worst depth and in PSF similarity.
# * **Seeds.** `make check-seeds` reran this chapter with seeds 1-3 (2026-12-06, with experiment 2's rate
#   chosen on held-out photos). The margins over the strongest baseline, in dB, seeds 0 / 1 / 2 / 3: DOE mean
#   -0.34 / -0.60 / -0.65 / -0.28, DOE worst depth +1.54 / +1.28 / +0.55 / +0.19; Zernike mean
#   -0.30 / -0.24 / -0.03 / +0.43, Zernike worst depth +1.91 / +1.56 / +1.45 / +0.41. So at this scale neither
#   element beats the refractive lens on mean PSNR (but for one Zernike seed), and both beat the best worst
#   depth on these four seeds, by as little as 0.19 dB: measured here, not claimed (before the rate was chosen
#   this way, one seed of each design lost). The rate chosen: 0.05 / 0.05 / 0.02 / 0.02 (the four candidates
#   within 0.08 dB of each other on seed 0, 0.8 dB on seeds 1 and 2). The PSF-similarity checks are stable over
#   the four seeds (the diffractive element's PSFs are always less invariant than the cubic plate's, the
#   Zernike design's always more), as is experiment 3's.
#   Against the 550 nm Fresnel lens alone both elements win by about 5 dB, but that is the weakest baseline.
# * Experiment 3, started flat as the authors start it, spreads the focus over the three colours (its worst
#   colour keeps far more energy near the centre than the Fresnel lens' worst), but after 150 steps it is
#   well below a plain refractive lens of the same focal length, which at this F-number focuses all three
#   colours (fused silica's dispersion is weak): the claim against the better fixed element fails here (its
#   worst colour keeps 0.41-0.59 of the energy over seeds 0-3, the lens 0.90; a 600-step run measured while
#   writing this moved it by only 0.02). The lens is the
#   thick alternative the element replaces: about 43 µm of sag against the element's 1.2 µm period.
# * Super-resolution is our design, not the paper's; at this scale the optimised element's gain over a
#   lens is whatever the table shows, and is not claimed.

# %% tags=["nbval-ignore-output"]
print(f"chapter run time {time.time() - t0:.0f} s")
path = results.write()
results  # shown as tables (in plain text: print(results.table()))
