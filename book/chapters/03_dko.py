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
# # Direct kernel optimisation for opto-electronic CNNs (Almuallem et al.)
#
# *Direct Kernel Optimization: efficient design for opto-electronic convolutional neural networks.* A
# metasurface array in front of a sensor computes the first convolution of a CNN optically: each element is
# a phase mask whose intensity point spread function on the sensor *is* a convolution kernel (Eq. 3-4).
# Signed kernels need two elements, h = h+ − h−, and RGB inputs one pair per colour: 6L elements for an
# L-channel first layer. The paper compares two ways to design such a system:
#
# * **DKO (two stages):** train the electronic CNN as usual, then fit every element's phase to its target
#   kernel (Eq. 5), each element on its own;
# * **E2E:** train the phases (403 M parameters at the paper's scale) jointly with the network.
#
# Its claims: DKO reproduces the kernels (Table 3: NCC 0.984), costs far less per step and in parameters
# (Table 1), and gives much better depth maps than E2E under the same compute (Table 2, Fig. 3).
#
# **What this run is.** No code was published; this chapter is an independent implementation. The `tiny`
# scale keeps the paper's optics (2.5 µm phase pixels, 10 mm to the sensor, 7x7 kernels, phase-only
# circular apertures) with 257² instead of 1025² samples per element and a 16-channel first layer (96
# elements instead of 384), and replaces Monodepth2 on KITTI (GPU-days, data not obtainable here) by a small
# ResNet encoder-decoder of the same shape trained with metric depth on **procedural road scenes**
# (`optlib.scenes`: a ground plane in perspective, upright textured planes at known distances, sky; textures
# are crops of the Wikimedia photographs in the local mirror, training and test textures from disjoint
# photographs; the depth of every pixel is exact). The `full` parameters are the paper's (Monodepth2-sized
# network, 64 channels, 384 elements of 1025², band-limited angular spectrum); they run the same code, on a GPU,
# and the tests execute their dry run. A KITTI loader (official depth-completion layout) is in
# `optlib.data` for users who have the data (`dataset: kitti`).
#
# **Choices the paper leaves open**, stated: wavelengths 635/532/450 nm (one narrow band per element);
# sensor pixel 37.5 µm (15 phase pixels; the 7 taps span 262 µm); the kernel of an element is the fraction
# of the light through its aperture that lands on each pixel; targets are scaled per output channel so that
# the brightest of its six elements sends 80 % of its light into the window (`efficiency`), and the
# electronic side multiplies by the inverse (one gain per output channel, as the subtraction implies).
# Optics convolve while CNN layers correlate, so the element kernels are the weights rotated by 180°.

# %% tags=["parameters"]
scale = "tiny"
seed = 0
device = "auto"  # CUDA when present, else the CPU (2 threads); or "cpu", "cuda", "cuda:1"
dataset = "road"
image_h = 64
image_w = 192
n_train = 1000
n_test = 200
n_textures = 40
first_channels = 16
widths = [16, 24, 32, 48]
blocks = [1, 1, 1, 1]
decoder = [8, 12, 16, 24, 32]
batch = 8
lr = 0.002
train_steps = 800
element_n = 257
pitch_um = 2.5
z_mm = 10.0
pixel_um = 37.5
method = "fresnel"
padding = 4.0
wavelengths_nm = [635.0, 532.0, 450.0]
efficiency = 0.8
dko_iterations = 200
dko_lr = 0.2
dko_chunk = 0
e2e_steps = 143
e2e_pretrained_steps = 143
e2e_phase_lr = 0.2
cell_order = 5
cell_widths = 33
checkpoint_dir = ""
max_depth = 80.0

# %%
import copy
import math
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

import optlib as ol
import papers.dko as X
from optlib.meta import fit as kfit
from optlib.meta.cells import CellLibrary
from optlib.nn.depth import DepthNet, OpticalConv2d, ResNetConfig, count_parameters, RESNET18_FC_PARAMETERS

P = {k: globals()[k] for k in X.PARAMS}
X.check(P)
dev = ol.train.use_device(device)  # 2 intra-op threads on a CPU
torch.manual_seed(seed)
results = ol.Results("dko", scale, seed, device=str(dev))
ckpt = (lambda name: os.path.join(checkpoint_dir, name)) if checkpoint_dir else (lambda name: None)
optics = X.optics(P)
WL = X.wavelengths(P)
L = first_channels
wl_el = kfit.element_wavelengths(L, WL)
print(f"{6 * L} elements of {element_n}^2 x {pitch_um} um (aperture {2 * optics.radius * 1e3:.3f} mm), "
      f"sensor at {z_mm} mm, {optics.taps}x{optics.taps} pixels of {pixel_um} um, method {method!r}")
print("sampling:", {k: (round(v, 9) if isinstance(v, float) else v) for k, v in optics.check(WL).items()})

# %% [markdown]
# **Fig. 1 (redrawn): the system and the two ways to design it.**

# %%
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle


def box(ax, x, y, w, h, text, color):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02", fc=color, ec="k", lw=0.8))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8)


def arrow(ax, a, b):
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=10, lw=0.9))


fig, (a0, a1) = plt.subplots(1, 2, figsize=(13, 3.4), gridspec_kw={"width_ratios": [1.25, 1]})
for a in (a0, a1):
    a.set_xlim(0, 10)
    a.set_ylim(0, 4)
    a.axis("off")
box(a0, 0.1, 1.5, 1.2, 1.0, "scene\n(incoherent)", "#e8f1fb")
cols = {"R": "#f4a6a6", "G": "#a6dba0", "B": "#a6c8f4"}
for i in range(6):
    for j in range(4):
        c = "RGB"[i // 2]
        a0.add_patch(Circle((2.3 + 0.32 * j, 0.65 + 0.48 * i), 0.13, fc=cols[c], ec="k", lw=0.5))
        if j == 0:
            a0.text(1.95, 0.65 + 0.48 * i, f"{c}{'+-'[i % 2]}", fontsize=7, ha="right", va="center")
a0.text(2.8, 3.75, "metasurfaces: 6L\n(one band, one sign each)", ha="center", fontsize=8)
a0.add_patch(Rectangle((4.1, 0.5), 0.15, 3.0, fc="0.6"))
a0.text(4.17, 0.25, f"sensor at {z_mm:g} mm", ha="center", fontsize=8)
box(a0, 4.7, 1.5, 1.5, 1.0, "h+ − h−,\ngain per channel", "#fdf3d0")
box(a0, 6.7, 1.5, 1.6, 1.0, "electronic CNN\n(layers 2...)", "#e3e3e3")
box(a0, 8.7, 1.5, 1.1, 1.0, "depth", "#e8f1fb")
for x0, x1 in ((1.3, 1.9), (3.5, 4.05), (4.3, 4.7), (6.2, 6.7), (8.3, 8.7)):
    arrow(a0, (x0, 2.0), (x1, 2.0))
box(a1, 0.1, 2.4, 2.6, 0.9, "1. train the CNN\n(electronic, fast)", "#d9ead3")
box(a1, 3.4, 2.4, 3.0, 0.9, "2. DKO: fit each element's\nphase to its kernel (Eq. 5)", "#d9ead3")
box(a1, 7.1, 2.4, 2.7, 0.9, "swap the first layer\nfor the optics", "#d9ead3")
arrow(a1, (2.7, 2.85), (3.4, 2.85))
arrow(a1, (6.4, 2.85), (7.1, 2.85))
box(a1, 0.1, 0.5, 9.7, 0.9, "E2E: phases (6L x n² parameters) and CNN trained jointly;\nall kernels simulated at every step",
    "#f4cccc")
a1.text(0.1, 3.6, "DKO (two stages)", fontsize=9, weight="bold")
a1.text(0.1, 1.6, "end to end", fontsize=9, weight="bold")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 1. The optical model, checked
#
# An element with a lens phase focusing on the sensor must give the Airy pattern
# [2J₁(v)/v]², v = 2πRr/(λz), and the fast Fresnel evaluation used for fitting must agree with the exact
# band-limited angular spectrum (the foundation's propagator) on the same phase.

# %%
from scipy.special import j1

ph_lens = optics.lens_phase(532e-9, dtype=torch.float64)
u = torch.linspace(-30e-6, 30e-6, 121, dtype=torch.float64)
I_lens = optics.sensor_intensity(ph_lens, 532e-9, u)[60].cpu().numpy()
v = 2 * math.pi * optics.radius * np.abs(u.cpu().numpy()) / (532e-9 * optics.z)
airy = np.where(v > 0, (2 * j1(np.maximum(v, 1e-12)) / np.maximum(v, 1e-12)) ** 2, 1.0)
airy_err = float(np.abs(I_lens / I_lens.max() - airy).max())
print(f"lens phase vs Airy: max error {airy_err:.2e} of the peak")
results.item("airy_error", "Lens-phase kernel vs Airy pattern, max error (fraction of peak)", airy_err, 0.0, "",
             tol=0.01)

ref = ol.meta.KernelOptics(n=element_n, pitch=optics.pitch, z=optics.z, pixel=optics.pixel, method="asm",
                           padding=padding)
g = torch.Generator().manual_seed(seed)
ph_test = optics.lens_phase(532e-9, dtype=torch.float64, exact=True) + 0.5 * torch.randn(
    element_n, element_n, generator=g, dtype=torch.float64)
k_fr, k_asm = optics.kernels(ph_test, 532e-9), ref.kernels(ph_test, 532e-9)
ncc_methods = float(ol.metrics.ncc(k_fr, k_asm))
print(f"Fresnel matrix-DFT vs band-limited ASM on a random phase: NCC {ncc_methods:.8f}, "
      f"window power {float(k_fr.sum()):.4f} vs {float(k_asm.sum()):.4f}")
results.check("fresnel_vs_asm", "The fitting model (Fresnel) matches the band-limited angular spectrum (NCC)",
              ncc_methods, ">", 0.99, note="fails for a reference 10 % further away (NCC 0.964); where Fresnel itself "
              "would be wrong (z below about 3 mm at this pitch) the library refuses its undersampled chirp")

fig, ax = plt.subplots(1, 2, figsize=(8, 3))
ax[0].plot(u.cpu().numpy() * 1e6, I_lens / I_lens.max(), label="simulated")
ax[0].plot(u.cpu().numpy() * 1e6, airy, "--", label="Airy")
ax[0].set(xlabel="sensor x (µm)", ylabel="intensity / peak", title="lens phase, 532 nm")
ax[0].legend()
ax[1].imshow(np.concatenate([k_fr.cpu().numpy(), k_asm.cpu().numpy()], 1), cmap="inferno")
ax[1].set(title="random phase: Fresnel | ASM kernels", xticks=[], yticks=[])
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Data: road scenes with exact depth
#
# KITTI is not obtainable here. The substitute keeps the monocular cues a depth network uses on KITTI
# (perspective of the road, object size and foot position with distance, occlusion, texture gradients).
# Metrics are computed on pixels below 80 m (KITTI's LiDAR has no sky), with KITTI's 80 m cap.

# %%
train_set, test_set = X.make_data(P)
print(f"{train_set[0].shape[0]} training and {test_set[0].shape[0]} test scenes of {image_h} x {image_w}")
fig, ax = plt.subplots(2, 4, figsize=(12, 3.2))
for i in range(4):
    ax[0, i].imshow(test_set[0][i].permute(1, 2, 0).cpu().numpy())
    ax[1, i].imshow(test_set[1][i, 0].cpu().numpy(), cmap="magma_r", vmin=0, vmax=max_depth)
    ax[0, i].axis("off")
    ax[1, i].axis("off")
ax[0, 0].set_title("test scenes (textures from photographs never seen in training)", loc="left")
ax[1, 0].set_title("exact depth (m, 0-80)", loc="left")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Stage 1: the electronic network
#
# A ResNet encoder-decoder with Monodepth2's structure (7x7 stride-2 first layer with `first_channels`
# outputs and no bias, basic blocks, skip connections, sigmoid disparity), trained with an L1 loss on log
# depth.

# %%
def train_depth(net, steps, seed_, param_groups=None, checkpoint=None, desc="train"):
    """Adam on the log-depth L1 loss, batches drawn (with horizontal flips) from the training scenes."""
    rgb, depth = train_set
    g = torch.Generator().manual_seed(seed_)  # random draws stay on the CPU: the same on any device
    net.to(dev)
    opt = torch.optim.Adam(param_groups if param_groups is not None else net.parameters(), lr=lr)
    net.train()

    def step(i):
        idx = torch.randint(0, rgb.shape[0], (batch,), generator=g)
        flip = bool(torch.rand((), generator=g) < 0.5)
        x, d = rgb[idx].to(dev), depth[idx].to(dev)
        if flip:
            x, d = x.flip(-1), d.flip(-1)
        return X.depth_loss(net(x), d, max_depth)  # the first layer (electronic or optical) is inside net

    res = ol.train.fit(step, net, opt, steps, checkpoint=checkpoint, desc=desc, generator=g,
                       key=ol.train.run_key(desc, P, steps=steps, seed=seed_))
    net.eval()
    return res


# %% tags=["nbval-ignore-output"]
net = X.make_net(P, seed)
t0 = time.perf_counter()
train_depth(net, train_steps, seed, checkpoint=ckpt("electronic.pt"), desc="electronic CNN")
time_cnn = time.perf_counter() - t0
print(f"trained {train_steps} steps in {time_cnn:.1f} s; {count_parameters(net):,} parameters")

# %%
m_elec = X.evaluate(net, test_set, max_depth)
W = X.first_layer(net).cpu()
print("electronic network:", {k: round(v, 4) for k, v in m_elec.items()})

# %% [markdown]
# ## 4. Stage 2: direct kernel optimisation
#
# Each of the 6L target kernels is fitted by Adam on its element's phase, all in one batch (Eq. 5). The
# forward model of one element is `optics.kernels`: its phase in a circular aperture, Fresnel diffraction
# onto the sensor window (a matrix DFT), the power on each pixel; the objective compares it with the target:
#
# ```python
# def objective(phase, els):   # papers.dko.objective
#     k = optics.kernels(phase, wavelengths[els])        # the simulated kernels
#     return ((k - target[els]) ** 2).sum(dim=(-2, -1))  # Eq. 5, per element
# ```
#
# The elements are independent, so the fit can be split over GPUs (`python -m papers.dko fit ...` under
# `torchrun`, see the end of this chapter) and resumed from per-chunk checkpoints, which are keyed by a
# fingerprint of everything that determines the result (a rerun with other settings is refused).

# %% tags=["nbval-ignore-output"]
T, alpha = kfit.targets(W, efficiency)
fit = kfit.fit_elements(X.objective(optics, T, wl_el), lambda els: kfit.initial_phase(optics, wl_el, seed, elements=els),
                        len(wl_el), dko_iterations, dko_lr, chunk=dko_chunk or None,
                        checkpoint_dir=checkpoint_dir or None, key=X.fit_key(optics, T, wl_el, seed),
                        device=dev, snapshots=(dko_iterations // 2,))
time_dko = fit["seconds"]
print(f"DKO: {6 * L} elements x {dko_iterations} iterations in {time_dko:.1f} s "
      f"({fit['step_seconds'] * 1e3:.0f} ms per iteration for all elements)")

# %%
phase = fit["phase"]
k_fit = optics.kernels(phase, wl_el)
unit_fit, unit_T = kfit.unit_kernels(k_fit, alpha), kfit.unit_kernels(T, alpha)
km = kfit.kernel_metrics(unit_fit, unit_T)
W_fit = kfit.compose(k_fit, 1 / alpha)
km_signed = kfit.kernel_metrics(W_fit.flatten(0, 1), W.flatten(0, 1))
eff = k_fit.sum((-2, -1))
print("Table 3 (all {n} element kernels, in the weights' units): NCC {ncc:.4f} (min {ncc_min:.4f}), "
      "RMSE {rmse:.6f}, MAE {mae:.6f}".format(**km))
print("   signed kernels h+ - h- ({n}): NCC {ncc:.4f}, RMSE {rmse:.6f}, MAE {mae:.6f}".format(**km_signed))
print(f"   weights' RMS {float(W.pow(2).mean().sqrt()):.4f}: relative RMSE {km_signed['rmse'] / float(W.pow(2).mean().sqrt()):.3f}")
print(f"light in the 7x7 window: mean {float(eff.mean()):.3f}, brightest element of each channel "
      f"{float(eff.reshape(L, 6).amax(1).mean()):.3f} (target {efficiency})")
results.item("table3_ncc", "Table 3: mean NCC of fitted vs target kernels", km["ncc"], X.PAPER_TABLE3["ncc"], "",
             tol=0.02, note=f"{6 * L} elements of {element_n}^2 (paper: 384 of 1025^2)")
results.item("table3_rmse", "Table 3: RMSE of kernels (weights' units)", km["rmse"], X.PAPER_TABLE3["rmse"], "",
             claim="ncc_095", note="our tiny network's weights are smaller (RMS above); compare relative errors")
results.item("table3_mae", "Table 3: MAE of kernels (weights' units)", km["mae"], X.PAPER_TABLE3["mae"], "",
             claim="ncc_095")
results.check("ncc_095", "Fitted kernels reach a mean NCC of at least 0.95", km["ncc"], ">=", 0.95,
              note="fails for the unfitted start, whose kernels are all the lens's Airy spot")

# %% [markdown]
# **Fig. 2: learned (top) vs target (bottom) kernels**, signed (h+ − h−, back in the weights' units), first
# eight output channels, one colour per column block.

# %%
show = min(8, L)
fig, ax = plt.subplots(2, 3 * show, figsize=(1.0 * 3 * show, 2.4))
lim = float(W[:show].abs().max())
for l in range(show):
    for c in range(3):
        j = 3 * l + c
        ax[0, j].imshow(W_fit[l, c].cpu().numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax[1, j].imshow(W[l, c].cpu().numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim)
        for a in ax[:, j]:
            a.set_xticks([])
            a.set_yticks([])
        ax[1, j].set_xlabel(f"{l}{'RGB'[c]}", fontsize=7)
ax[0, 0].set_ylabel("metasurface")
ax[1, 0].set_ylabel("CNN")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. The optical network
#
# The first convolution is replaced by `OpticalConv2d`: its weight is the simulated kernels of the fitted
# phases, positive minus negative element per input colour, times one gain per output channel
# (`kfit.compose(optics.kernels(phase, wavelengths), gains)`), applied as a strided convolution; nothing else
# changes. We also evaluate the fit at half the iterations, and the
# network's sensitivity to a uniform floor of stray light in every element's window: NCC cannot see such a
# floor (it removes each kernel's mean), but the features shift with the local image brightness.

# %%
opt_layer = OpticalConv2d(optics, phase, wl_el, 1 / alpha)
net_dko = X.with_first_layer(net, opt_layer)
m_dko = X.evaluate(net_dko, test_set, max_depth)
half = fit["snapshots"][dko_iterations // 2]
k_half = optics.kernels(half, wl_el)
km_half = kfit.kernel_metrics(kfit.unit_kernels(k_half, alpha), unit_T)
m_half = X.evaluate(X.with_first_layer(net, OpticalConv2d(optics, half, wl_el, 1 / alpha)), test_set, max_depth)
rel = (m_dko["abs_rel"] - m_elec["abs_rel"]) / m_elec["abs_rel"]
print(f"AbsRel: electronic {m_elec['abs_rel']:.4f}, optical first layer {m_dko['abs_rel']:.4f} ({100 * rel:+.2f} %)")
print(f"after {dko_iterations // 2} iterations: NCC {km_half['ncc']:.4f}, RMSE {km_half['rmse']:.5f} -> "
      f"AbsRel {m_half['abs_rel']:.4f}")
for floor in (1e-4, 1e-3):
    # each element scatters a share of the light it keeps out of its window back into it: the h+ and h-
    # floors differ, so the subtraction does not cancel them
    k_floor = k_fit + floor * (1 - eff)[:, None, None]
    W_floor = kfit.compose(k_floor, 1 / alpha)
    net_floor = copy.deepcopy(net)
    net_floor.encoder.conv1.weight.data = W_floor.to(dev)
    print(f"stray-light floor: {floor:g} of each element's light outside the window, per pixel: kernel NCC "
          f"{kfit.kernel_metrics(kfit.unit_kernels(k_floor, alpha), unit_T)['ncc']:.4f}, "
          f"AbsRel {X.evaluate(net_floor, test_set, max_depth)['abs_rel']:.4f}")
# the paper's point (the network keeps its accuracy with the fitted kernels) is measured here, not claimed: at
# this scale the change moves with the seed and the environment by more than its size (see the summary)
results.item("dko_vs_electronic", "AbsRel change from the electronic to the optical first layer", 100 * rel, None, "%",
             note="seed-sensitive at tiny: see the summary")

# %% [markdown]
# ## 6. From phases to pillars: the cell library
#
# "Standard cell-based library search": every 2.5 µm phase pixel becomes a patch of identical Si3N4 pillars
# (1 µm tall, 250 nm lattice, on fused silica) whose zero-order transmission, computed by RCWA (`torcwa`), has
# the wanted phase. The library is computed once and cached. Below: phase and transmittance against pillar
# width per band, one element as a pillar-width map, and the kernels of the realised geometry (library phase
# *and* amplitude).

# %% tags=["nbval-ignore-output"]
t0 = time.perf_counter()
lib = CellLibrary.build(WL, X.cell_design(P))
time_cells = time.perf_counter() - t0
print(f"cell library: {len(WL)} wavelengths x {lib.widths.numel()} widths ({time_cells:.1f} s, cached after the first run)")

# %%
cov = lib.coverage()
print("phase coverage (units of 2 pi) at", wavelengths_nm, "nm:", [round(float(c), 3) for c in cov])
widths_map, t_real = lib.realize(phase, wl_el)
phase_real = torch.angle(t_real).to(phase.dtype)
k_real = optics.kernels(phase_real, wl_el, transmission=t_real.abs().to(phase.dtype))
km_real = kfit.kernel_metrics(kfit.unit_kernels(k_real, alpha), unit_T)
m_real = X.evaluate(X.with_first_layer(net, OpticalConv2d(optics, phase_real, wl_el, 1 / alpha,
                                                          transmission=t_real.abs().to(phase.dtype))),
                    test_set, max_depth)
print(f"realised geometry: kernel NCC {km_real['ncc']:.4f}, RMSE {km_real['rmse']:.5f}; network AbsRel "
      f"{m_real['abs_rel']:.4f}; mean power transmittance {float((t_real.abs() ** 2).mean()):.3f}")
results.item("realised_ncc", "Kernels of the RCWA-realised pillars: mean NCC", km_real["ncc"], None, "")

fig, ax = plt.subplots(1, 3, figsize=(13, 3.3))
wn = lib.widths.cpu().numpy() * 1e9
for i, c in enumerate(("tab:red", "tab:green", "tab:blue")):
    ax[0].plot(wn, (lib.phase[i] - lib.phase[i, 0]).cpu().numpy() / (2 * math.pi), color=c, label=f"{wavelengths_nm[i]:.0f} nm")
    ax[1].plot(wn, (lib.t[i].abs() ** 2).cpu().numpy(), color=c)
ax[0].set(xlabel="pillar width (nm)", ylabel="phase / 2π", title="RCWA phase (rel. to empty cell)")
ax[0].legend()
ax[1].set(xlabel="pillar width (nm)", ylabel="|t|²", title="power transmittance", ylim=(0, 1.05))
e0 = 2  # element (channel 0, green, +)
im = ax[2].imshow(widths_map[e0].cpu().numpy() * 1e9, cmap="viridis",
                  extent=[-optics.radius * 1e3, optics.radius * 1e3, -optics.radius * 1e3, optics.radius * 1e3])
ax[2].set(title="element 0G+: pillar width (nm)", xlabel="mm", ylabel="mm")
plt.colorbar(im, ax=ax[2])
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 7. End to end under the paper's budget
#
# E2E trains the phases (`6L x n²` parameters) together with the network, recomputing all kernels at every
# step. **The budget follows the paper's protocol, counted in steps:** Table 2 gives each E2E run 240 h
# against DKO's 12 h on the same GPU; at Table 1's 73 s per E2E step that is 11,836 joint steps, 0.178 of the
# 66,350 steps the electronic network trains for. Each E2E run here gets that same fraction of this run's
# electronic training (`e2e_steps`, `e2e_pretrained_steps`), from scratch and from the pretrained network.
# Counting steps rather than hours keeps the protocol the same on any machine; the wall clocks are printed
# below (an E2E step is far cheaper here than in the paper, section 8, so E2E gets less time than DKO here,
# where in the paper it got twenty times more). Phases start as a lens plus a weak random screen; gains so
# that the optical weights have the electronic layer's RMS.

# %% tags=["nbval-ignore-output"]
net_e2e = X.e2e_network(P, X.make_net(P, seed + 1), seed)
t0 = time.perf_counter()
train_depth(net_e2e, e2e_steps, seed + 2, param_groups=X.e2e_param_groups(net_e2e, P),
            checkpoint=ckpt("e2e_scratch.pt"), desc="E2E from scratch")
time_e2e = time.perf_counter() - t0
net_e2p = X.e2e_network(P, copy.deepcopy(net), seed)
t0 = time.perf_counter()
train_depth(net_e2p, e2e_pretrained_steps, seed + 3, param_groups=X.e2e_param_groups(net_e2p, P),
            checkpoint=ckpt("e2e_pretrained.pt"), desc="E2E pretrained")
time_e2p = time.perf_counter() - t0
print(f"E2E steps: {e2e_steps} from scratch, {e2e_pretrained_steps} pretrained: {e2e_steps / train_steps:.3f} of the "
      f"electronic training's {train_steps} (paper {X.PAPER_E2E_STEPS:,} of 66,350 = {X.PAPER_E2E_STEP_FRACTION:.3f})")
print(f"wall clock: DKO pipeline {time_cnn + time_dko:.0f} s (CNN {time_cnn:.0f} + fit {time_dko:.0f}); "
      f"E2E from scratch {time_e2e:.0f} s; E2E pretrained {time_cnn + time_e2p:.0f} s (CNN {time_cnn:.0f} + {time_e2p:.0f})")
results.item("e2e_step_fraction", "E2E steps / electronic training steps (the budget protocol)", e2e_steps / train_steps,
             X.PAPER_E2E_STEP_FRACTION, "", tol=0.02)

# %%
m_e2e = X.evaluate(net_e2e, test_set, max_depth)
m_e2p = X.evaluate(net_e2p, test_set, max_depth)
rows = {"Electronic network (no optics)": m_elec, "Ours (DKO)": m_dko, "DKO, RCWA-realised pillars": m_real,
        "E2E pretrained": m_e2p, "E2E w/o pretraining": m_e2e}
names = ("AbsRel", "SqRel", "RMSE", "RMSlog", "d<1.25", "d<1.25²", "d<1.25³")
print(f"Table 2 ({scale}: road scenes {image_h}x{image_w}; paper: KITTI, in brackets)")
print(f"{'':32s}" + "".join(f"{n:>16s}" for n in names))
for name, m in rows.items():
    paper = X.PAPER_TABLE2.get(name)
    cells = [f"{m[k]:.3f}" + (f" [{paper[i]:.3f}]" if paper else "") for i, k in enumerate(X.METRIC_KEYS)]
    print(f"{name:32s}" + "".join(f"{c:>16s}" for c in cells))
for name, key in (("Ours (DKO)", "dko"), ("E2E pretrained", "e2e_pretrained"), ("E2E w/o pretraining", "e2e_scratch")):
    results.item(f"table2_absrel_{key}", f"Table 2: AbsRel, {name}", rows[name]["abs_rel"], X.PAPER_TABLE2[name][0], "",
                 note="road scenes at 64x192, not KITTI")
    results.item(f"table2_d1_{key}", f"Table 2: delta<1.25, {name}", rows[name]["delta1"], X.PAPER_TABLE2[name][4], "")
better = m_dko["abs_rel"] < min(m_e2e["abs_rel"], m_e2p["abs_rel"])
print(f"DKO better than both E2E runs under the paper's budget: {better} (reported, not asserted at this scale)")
results.item("dko_beats_e2e", "DKO's AbsRel below both E2E runs' under the paper's step budget (1 = yes)", float(better),
             1.0, "", tol=0.0, note="reported, not asserted at tiny scale")

# %% [markdown]
# **Fig. 3: qualitative comparison** (test scenes; the number is each prediction's RMSE in metres over pixels
# below 80 m).

# %%
preds = {"electronic": X.predict(net, test_set[0][:3]), "DKO (optical)": X.predict(net_dko, test_set[0][:3]),
         "E2E pretrained": X.predict(net_e2p, test_set[0][:3]), "E2E scratch": X.predict(net_e2e, test_set[0][:3])}
fig, ax = plt.subplots(3, 6, figsize=(17, 3.6))
for i in range(3):
    gt = test_set[1][i, 0]
    ax[i, 0].imshow(test_set[0][i].permute(1, 2, 0).cpu().numpy())
    ax[i, 1].imshow(gt.cpu().numpy(), cmap="magma_r", vmin=0, vmax=max_depth)
    for j, (name, pr) in enumerate(preds.items()):
        pm = pr[i, 0].clamp(max=max_depth)
        valid = gt < max_depth
        r = float(((pm - gt)[valid] ** 2).mean().sqrt())
        ax[i, 2 + j].imshow(pm.cpu().numpy(), cmap="magma_r", vmin=0, vmax=max_depth)
        ax[i, 2 + j].text(2, 10, f"{r:.2f}", color="w", fontsize=9)
        if i == 0:
            ax[i, 2 + j].set_title(name)
    if i == 0:
        ax[i, 0].set_title("input")
        ax[i, 1].set_title("ground truth")
for a in ax.flat:
    a.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 8. Table 1: parameters and the cost of one step
#
# Parameter counts are exact arithmetic (and, for the networks, counted from the built modules). Times are
# one forward + backward pass measured on this machine (2 CPU cores; the paper's are on an A100): DKO = one
# element against its target; the electronic network = one batch; E2E = all elements' kernels plus the
# network. At the paper's scale we time one 1025² element (angular spectrum on 2050²) and the Monodepth2-sized
# network on one 192 x 640 image, and *estimate* E2E as 384 elements plus the network.

# %% tags=["nbval-ignore-output"]
c_tiny = X.parameter_counts(element_n, L)
c_full = X.parameter_counts(1025, 64)
net_full = DepthNet(ResNetConfig.resnet18())
n_full = count_parameters(net_full)
t_el_tiny = X.time_dko_step(optics, 532e-9, device=dev)
t_net_tiny = X.time_net_step(copy.deepcopy(net), batch, image_h, image_w, device=dev)
e2e_probe = X.e2e_network(P, copy.deepcopy(net), seed)
t_e2e_tiny = X.time_net_step(e2e_probe, batch, image_h, image_w, device=dev)
full_optics = ol.meta.KernelOptics(n=1025, pitch=2.5e-6, z=10e-3, pixel=37.5e-6, method="asm", padding=2.0)
t_el_full = X.time_dko_step(full_optics, 532e-9, device=dev)
t_net_full = X.time_net_step(net_full, 1, 192, 640, device=dev)
print(f"{'':34s}{'parameters':>16s}{'time (ms)':>12s}   paper (A100)")
table1 = [("tiny: DKO (one element)", c_tiny["dko_per_element"], t_el_tiny, None),
          ("tiny: electronic network", count_parameters(net), t_net_tiny, None),
          ("tiny: E2E", c_tiny["optical_layer"] + count_parameters(net) - c_tiny["electronic_first_layer"], t_e2e_tiny, None),
          ("full: DKO (one 1025^2 element)", c_full["dko_per_element"], t_el_full, X.PAPER_TABLE1["DKO"]),
          ("full: Monodepth2 (no classifier)", n_full, t_net_full, X.PAPER_TABLE1["Computational training"]),
          ("full: E2E (estimate)", c_full["optical_layer"] + n_full, 384 * t_el_full + t_net_full, X.PAPER_TABLE1["E2E"])]
for name, n, t, paper in table1:
    ps = f"{paper[0]} M / {paper[1]:,} ms" if paper else ""
    print(f"{name:34s}{n:>16,d}{1e3 * t:>12,.0f}   {ps}")
print(f"E2E / DKO per step: tiny {t_e2e_tiny / t_el_tiny:.0f}x, full {(384 * t_el_full + t_net_full) / t_el_full:.0f}x "
      f"(paper {73000 / 100:.0f}x)")

# %%
print(f"one element 1025^2 = {c_full['dko_per_element']:,} (paper '1.1 M'); 384 elements = {c_full['optical_layer']:,} "
      f"(paper '403M'); electronic first layer 64 x 3 x 7 x 7 = {c_full['electronic_first_layer']:,} (paper '9k')")
print(f"Monodepth2 depth network: encoder {count_parameters(net_full.encoder):,} + decoder "
      f"{count_parameters(net_full.decoder):,} = {n_full:,}; with ResNet-18's unused ImageNet classifier "
      f"({RESNET18_FC_PARAMETERS:,}) {n_full + RESNET18_FC_PARAMETERS:,}: the paper's '14.84 M'")
print(f"E2E: 384 elements + network = {(c_full['optical_layer'] + n_full + RESNET18_FC_PARAMETERS) / 1e6:.2f} M "
      f"(paper '418')")
results.item("params_element", "Table 1: DKO parameters per element (1025^2)", c_full["dko_per_element"], 1_050_625, "",
             tol=0.0)
results.item("params_optical", "Parameters of the optical layer (384 x 1025^2)", c_full["optical_layer"], 403_440_000, "",
             tol=1e-4)
results.item("params_monodepth2", "Table 1: Monodepth2 parameters incl. the unused classifier",
             n_full + RESNET18_FC_PARAMETERS, 14_840_000, "", tol=1e-3)
results.item("params_first_layer", "Electronic first layer parameters", c_full["electronic_first_layer"], 9_408, "",
             tol=0.0)
# the per-step ratio at the paper's size is a measured number with the paper's beside it (not a claim: that an
# E2E step, which simulates every element, costs more than a DKO step, which simulates one, is arithmetic)
ratio_full = (384 * t_el_full + t_net_full) / t_el_full
results.item("e2e_dko_step_ratio_full", "E2E / DKO time per step at the paper's size (384 element simulations and "
             "the network, against one element; estimated from this run's times)", ratio_full, 73000 / 100, "x",
             tol=0.25, note="CPU times of one 1025^2 element and the full network; the paper's A100: 73 s and 100 ms")
results.item("e2e_dko_step_ratio_tiny", "E2E / DKO time per step at tiny (96 elements of 257^2)",
             t_e2e_tiny / t_el_tiny, None, "x")

# %% [markdown]
# ## 9. The paper's "twice" and "70 %"
#
# The abstract says DKO "achieves twice the accuracy of E2E", the introduction "70 % higher accuracy". From
# its own Table 2 (against E2E from the pretrained model, the better E2E run):

# %%
p_dko, p_e2p = X.PAPER_TABLE2["Ours (DKO)"], X.PAPER_TABLE2["E2E pretrained"]
print(f"delta<1.25: {p_dko[4]} / {p_e2p[4]} = {p_dko[4] / p_e2p[4]:.2f}x  (the '70 %')")
print(f"RMSE: {p_e2p[2]} / {p_dko[2]} = {p_e2p[2] / p_dko[2]:.2f}x;  AbsRel: {p_e2p[0]} / {p_dko[0]} = {p_e2p[0] / p_dko[0]:.2f}x;  "
      f"SqRel: {p_e2p[1]} / {p_dko[1]} = {p_e2p[1] / p_dko[1]:.2f}x")
print(f"against E2E from scratch: delta<1.25 {p_dko[4] / X.PAPER_TABLE2['E2E w/o pretraining'][4]:.2f}x, "
      f"AbsRel {X.PAPER_TABLE2['E2E w/o pretraining'][0] / p_dko[0]:.2f}x")

# %% [markdown]
# Against the pretrained E2E run, "70 %" matches δ<1.25 (1.72x), and only SqRel (2.16x, a squared error)
# comes out near "twice"; AbsRel and RMSE give 1.74x and 1.57x. Against E2E from scratch, δ<1.25 gives 2.12x
# and AbsRel 1.94x. Note also that Table 2's "equal computational budgets" are 12 h vs 240 h on the same GPU:
# same hardware, twenty times the time for E2E (section 7 follows that protocol, in steps).
#
# ## 10. Explore the kernels
#
# Pick an output channel and a colour: the two element kernels (h+, h−) and the signed result beside the
# target. Works in the static book (no kernel needed).

# %%
import ipywidgets as widgets

s_ch = widgets.SelectionSlider(options=[str(i) for i in range(L)], value="0", description="channel")
s_col = widgets.SelectionSlider(options=["R", "G", "B"], value="R", description="colour")
links = []


def kernel_view(l, c):
    e = 6 * l + 2 * c
    lim = max(float(W[l, c].abs().max()), 1e-12)
    imgs = [k_fit[e] / k_fit[e].max().clamp(min=1e-12), k_fit[e + 1] / k_fit[e + 1].max().clamp(min=1e-12),
            (W_fit[l, c] / lim + 1) / 2, (W[l, c] / lim + 1) / 2]
    return widgets.HBox([widgets.VBox([widgets.HTML(t), widgets.Image(value=ol.plot.image_png(
        im.repeat_interleave(12, 0).repeat_interleave(12, 1), 84, cmap=cm, gamma=1.0), format="png")])
        for t, im, cm in zip(("h+ (element)", "h− (element)", "h+ − h−", "CNN weight"), imgs,
                             ("inferno", "inferno", "RdBu_r", "RdBu_r"))])


widgets.VBox([widgets.HTML("<b>Kernel explorer</b>"), s_ch, s_col, ol.plot.stack_over(
    s_ch, range(L), lambda l: ol.plot.stack_over(s_col, range(3), lambda c, l=l: kernel_view(l, c), 0, links), 0, links)])

# %% [markdown]
# ## 11. A real photograph through the optical layer
#
# One real RGB-D frame of the mirror (Redwood, indoor; not a road scene, so the depth network is not
# evaluated on it): the first feature maps of the electronic layer and of the metasurfaces agree.

# %%
from optlib import data as odata

root = odata.mirror_root()
rgb_path = root / "rgbd_samples" / "color" / "00000.jpg" if root else None
if rgb_path is not None and rgb_path.is_file():
    img = torch.nn.functional.interpolate(odata.load_image(rgb_path)[None], (192, 256), mode="area").to(dev)
    with torch.no_grad():
        f_e = torch.nn.functional.conv2d(img, W.to(dev), stride=2, padding=3)[0]
        f_o = opt_layer(img)[0]
    print(f"feature-map NCC, electronic vs optical, mean over {L} channels: "
          f"{float(ol.metrics.ncc(f_e, f_o).mean()):.4f}")
    fig, ax = plt.subplots(2, 5, figsize=(13, 4))
    ax[0, 0].imshow(img[0].permute(1, 2, 0).cpu().numpy())
    ax[1, 0].axis("off")
    for j in range(4):
        ax[0, j + 1].imshow(f_e[j].cpu().numpy(), cmap="gray")
        ax[1, j + 1].imshow(f_o[j].cpu().numpy(), cmap="gray")
        ax[0, j + 1].set_title(f"channel {j}: CNN")
        ax[1, j + 1].set_title("metasurfaces")
    for a in ax.flat:
        a.set_xticks([])
        a.set_yticks([])
    plt.tight_layout()
    plt.show()
else:
    print("no local mirror with rgbd_samples/ (set OPTLIB_DATA): skipped")

# %% [markdown]
# ## 12. The paper's scale: dry run, and sharding DKO over GPUs
#
# `make dryrun CHAPTER=dko` builds the `full` configuration (1025² elements, band-limited angular spectrum
# on 2050², 64 channels, Monodepth2-sized network), checks its sampling and estimates cost, without training.
# The fit of the 384 elements shards over processes with `torchrun`; each rank writes its chunks atomically
# and a restarted run skips finished chunks:
#
# ```
# torchrun --nproc_per_node=8 -m papers.dko fit --weight conv1.pt --params params/dko/full.yaml --out dko_full/
# ```

# %% tags=["nbval-ignore-output"]
import yaml  # noqa: E402
from pathlib import Path  # noqa: E402

import papers  # noqa: E402

full_yaml = Path(papers.__file__).resolve().parents[1] / "params" / "dko" / "full.yaml"  # the book's own file
full_params = {**P, **yaml.safe_load(full_yaml.read_text())}
report, ok = papers.dry_run_chapter("dko", full_params)
print(report)
print("all required steps valid:", ok)

# %% [markdown]
# ## Summary
#
# This run's numbers first (they are the ones the claims were checked on); the summary below says what they
# mean and what is fragile about them.

# %%
rel_real = (m_real["abs_rel"] - m_elec["abs_rel"]) / m_elec["abs_rel"]
print(f"AbsRel, this run: electronic {m_elec['abs_rel']:.4f}; DKO kernels {m_dko['abs_rel']:.4f} ({100 * rel:+.1f} %); "
      f"RCWA-realised pillars {m_real['abs_rel']:.4f} ({100 * rel_real:+.1f} %); half the DKO iterations "
      f"{m_half['abs_rel']:.4f}")
print(f"under the paper's step budget ({e2e_steps} E2E steps against {train_steps} electronic ones): E2E pretrained "
      f"{m_e2p['abs_rel']:.4f}, E2E from scratch {m_e2e['abs_rel']:.4f}")

# %% [markdown]
# * **Reproduced:** the parameter arithmetic of Table 1 exactly (1,050,625 per element; 403,440,000 for 384
#   elements; 9,408 for the electronic layer), including the paper's "14.84 M" for Monodepth2, which is
#   ResNet-18 *with* its unused ImageNet classifier (14,329,236 without). DKO's fitted kernels match their
#   targets (Table 3's NCC, higher here with 257² elements and smaller targets). DKO's step is far cheaper than
#   E2E's.
# * **Not settled at this scale, so measured and not claimed: does the network keep its accuracy with the
#   fitted kernels?** The change in AbsRel from the electronic to the optical first layer moves with the seed
#   and with the software environment by more than its own size. `make check-seeds` (2026-12-06, this
#   environment) gives +38.8 / -2.2 / -13.3 / -7.4 % for seeds 0 / 1 / 2 / 3 (within 5 % on one seed of
#   four; on three of them the optical network is *better*), and the same code and seed 0 in an environment
#   built days earlier from the same version ranges gave -3 %. The kernels are matched equally well every
#   time (NCC 0.999). A kernel fit that NCC rates 0.999 does not by itself fix a briefly trained network's
#   accuracy; the paper's Monodepth2, trained far longer on KITTI, may be less sensitive, which this scale
#   cannot show. Likewise DKO's AbsRel is below both E2E runs' on three seeds of four (not on seed 1).
# * **Found:** NCC alone cannot judge a fit. It removes each kernel's mean, so a floor of stray light in the
#   windows leaves it unchanged while every feature shifts with the local image brightness; section 5 measures
#   what such floors do to this network. Table 3's RMSE and MAE do see offsets; a kernel fit should be judged
#   by them, or better, by the network's metric with the fitted kernels (section 5).
# * **At this scale:** E2E is measured, not assumed, under the paper's budget counted in steps (each E2E run
#   gets 0.178 of the electronic training's steps, as 240 h at 73 s a step are of 66,350). In this run DKO's
#   AbsRel is below both E2E runs': narrowly below E2E from the pretrained network, far below E2E from
#   scratch, which lands near the paper's 0.387. With the DKO network as fragile as above the narrow ordering
#   is reported, not claimed (it holds on three seeds of four). (An earlier version of this
#   chapter gave E2E the same wall-clock as DKO on a reference machine, 2.4x fewer steps than the electronic
#   training rather than 5.6x, and there E2E from scratch beat DKO; a change of about 1e-9 in the simulated
#   kernels once moved that run from 0.180 to 0.161.)
#   One E2E step costs about 4x an electronic step here (the paper: ~300x), because 96 small elements are cheap
#   to simulate; the paper's gap comes from 384 elements of 1025² (the dry run above: a FLOP floor of 35 s
#   per step on 2 CPU cores, 0.18 s on an A100-class GPU, against the 73 s the paper measured on an A100).
# * **Substituted:** KITTI and Monodepth2 by road scenes and a small network of the same shape (supervised with
#   metric depth; the paper's Monodepth2 is self-supervised); D-Flat by our Fresnel/ASM model (the
#   same physics: scalar diffraction of a phase-only aperture); the unstated wavelengths, pixel size and kernel
#   scaling as chosen above; Si3N4 pillars for the cell library (the paper names none).

# %% tags=["nbval-ignore-output"]
path = results.write()
results  # shown as tables (in plain text: print(results.table()))
