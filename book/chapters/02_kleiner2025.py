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
# # Passive all-optical super-resolution (Kleiner, Michaeli & Michaeli 2025)
#
# *Can the success of digital super-resolution networks be transferred to passive all-optical systems?*
# Nanophotonics (2025). The paper trains an all-optical super-resolution network (AOSRNN): 4f units, each
# with a phase mask in its Fourier plane and a Kerr layer in its image plane, that turn a coherent image
# taken through a small NA into a sharper one. Its claims: the network beats its input, but (i) it keeps
# only a few per cent of the light, and demanding more light costs fidelity; (ii) it works only near the
# input intensity it was trained for; (iii) it does not generalise across datasets.
#
# **What this run is.** The `tiny` scale keeps the paper's physics (the 448 µm object, the input cutoff,
# the 12 µm network limit, Kerr weight 4) at half the sampling, with 5 units instead of 10, `n_train` (800)
# training images instead of 10,000 and a few epochs instead of 1000; absolute numbers are therefore not the
# paper's, and only the direction of each effect is claimed. The paper's bar values of Fig. 2 are given
# only as figures; the numbers it states in the text are set beside ours.
#
# **Two stated departures at tiny scale** (the `full` parameters keep the paper's choices): the mask phases
# start at zero (each unit passes its input) instead of the authors' N(0, 1) draw, because a few epochs
# cannot undo ten random phase screens; and the intensity-robust networks draw a new p for every batch
# rather than every epoch, so that a few epochs see many intensities, as 1000 epochs do, and train for
# `ir_epochs` (12) epochs, since they must cover many intensities with the same network. Three smaller
# differences from the authors' code, also kept only at tiny scale: the images come in a new random order each
# epoch (theirs: the stored order), a batch of 32 is one step (theirs: 4 summed micro-batches of 10), and the
# networks outside the γ sweep train with γ = 0 as the paper's text says (their code: 1e-6).
#
# **Data.** MNIST and Fashion-MNIST are real (local mirror). Quick, Draw! cannot be obtained here; its
# loader (`optlib.data.load_quickdraw`, official per-class `.npy` files) is tested on a generated fixture,
# and the tiny run uses a **substitute third dataset: Imagenette validation photographs in grey at 28x28**,
# labelled as such everywhere. It is a different kind of image (natural photographs, not strokes).

# %% tags=["parameters"]
scale = "tiny"
seed = 0
device = "auto"  # CUDA when present, else the CPU (2 threads); or "cpu", "cuda", "cuda:1"
obj_px = 56
pad = 28
pixel_um = 8.0
mask_px = 74
n_units = 5
kerr_weight = 4.0
radius_arg = 60
n_train = 800
n_test = 300
epochs = 6
batch = 32
lr = 0.1
lr_step_epochs = 2
lr_step_unit = "epoch"  # "epoch": halve the rate every lr_step_epochs epochs; "step": every lr_step_epochs steps
data_order = "shuffle"  # "shuffle": a new random order each epoch; "fixed": the stored order every epoch
micro_batch = 0  # 0: one batch per step; else the batch is split into micro-batches of this size, losses summed
standard_gamma = 0.0  # energy weight of every network outside the gamma sweep (the authors' code: 1e-6)
gammas = [1.0e-6, 1.0e-5, 1.0e-3, 1.0e-2]
ir_max = [2.0, 4.0]
p_eval = [0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 8.0, 12.5]
third_dataset = "imagenette_gray"
d2nn_spacing_mm = 0.12
classifier_epochs = 4
checkpoint_dir = ""
init = "identity"
ir_draw = "batch"
ir_epochs = 12
poly_epochs = 4

# %%
import math
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

import optlib as ol
import papers.kleiner2025 as K
import papers.kleiner2025 as aosr

dev = ol.train.use_device(device)  # 2 intra-op threads on a CPU
ol.train.seed_everything(seed)  # random draws stay on the CPU: the same on any device
P = dict(scale=scale, seed=seed, device=device, obj_px=obj_px, pad=pad, pixel_um=pixel_um, mask_px=mask_px, n_units=n_units,
         kerr_weight=kerr_weight, radius_arg=radius_arg, n_train=n_train, n_test=n_test, epochs=epochs, batch=batch,
         lr=lr, lr_step_epochs=lr_step_epochs, gammas=gammas, ir_max=ir_max, p_eval=p_eval,
         third_dataset=third_dataset, d2nn_spacing_mm=d2nn_spacing_mm, classifier_epochs=classifier_epochs,
         checkpoint_dir=checkpoint_dir, init=init, ir_draw=ir_draw, ir_epochs=ir_epochs,
         poly_epochs=poly_epochs, lr_step_unit=lr_step_unit, data_order=data_order, micro_batch=micro_batch,
         standard_gamma=standard_gamma)
S = K.setup(P)
results = ol.Results("kleiner2025", scale, seed, device=str(dev))
plt.rcParams.update({"figure.dpi": 90, "font.size": 9})
DS = ["mnist", "fashion_mnist", third_dataset]
SHORT = {"mnist": "M", "fashion_mnist": "FM", "quickdraw": "QD", "imagenette_gray": "IN*", "all": "all"}

# %% [markdown]
# ## The set-up, from the authors' code
#
# The input is the object's amplitude low-passed by a disc. The authors compute the disc of radius
# $f_0 = (z/60)/(\lambda z)$ = 30,303 m⁻¹ on the object's own 112-sample frequency grid and zero-pad it onto
# the 336-sample grid, so its effective radius is 13.58 samples (10,101 m⁻¹), and the paper's cutoff
# $f_c$ = 19,345.2 m⁻¹ is twice the highest passed on-axis frequency. `optlib` reproduces that filter in
# physical units on any grid:

# %%
for arg, paper_dx in ((60, 51.7), (100, 84.0), (150, 134.4), (200, 168.0)):
    ps = K.paper_setup(arg)
    print(f"radius argument {arg:>3}: f_c = {ps.input_cutoff:9.1f} 1/m, resolution {1e6 / ps.input_cutoff:6.1f} um "
          f"(paper {paper_dx} um)")
print(f"paper network limit: {1e6 / K.paper_setup().network_cutoff:.1f} um (paper 12 um)")
print(f"this run: grid {S.n} at {pixel_um} um, input {1e6 / S.input_cutoff:.1f} um, network limit "
      f"{1e6 / S.network_cutoff:.1f} um, {n_units} units")
results.item("input_cutoff", "Input cutoff of the paper's set-up", K.paper_setup().input_cutoff, 19345.2, "1/m",
             tol=1e-5)

# %% tags=["nbval-ignore-output"]
print(K.dry_run_report(K.dry_run(P)))

# %% [markdown]
# ## Data and the low-resolution inputs

# %%
lowpass = aosr.NALowPass(S.grid, S.input_radius)
sets = {}
for name in DS:
    xtr = aosr.upsample_objects(K.load(name, "train", n_train), S).to(dev)
    xte = aosr.upsample_objects(K.load(name, "test", n_test), S).to(dev)
    sets[name] = dict(obj=xtr, inp=aosr.prepare_inputs(xtr, lowpass), obj_t=xte, inp_t=aosr.prepare_inputs(xte, lowpass))
    print(f"{K.LABELS[name]:<48} train {xtr.shape[0]}, test {xte.shape[0]}, images {obj_px}x{obj_px} in {S.n}x{S.n}")
curves = {name: aosr.linear_psnr_curve(sets[name]["obj_t"], S) for name in DS}


def ckpt(name):
    return os.path.join(checkpoint_dir, f"{name}.pt") if checkpoint_dir else None


def train(name, net, data, gamma=None, intensities=None, n_epochs=None, step_epochs=None):
    """The paper's training: Adam, the learning rate halved every ``lr_step_epochs`` epochs (scaled to ``n_epochs``;
    ``lr_step_unit="step"``: every that many optimiser steps), the training images in a new random order each epoch
    (``data_order="fixed"``: their stored order), Eq. 2/3 as the loss with energy weight ``gamma`` (default
    ``standard_gamma``), each batch one step or (``micro_batch``) micro-batches whose losses are summed; with
    ``intensities`` one peak intensity p drawn per epoch (the paper; ``ir_draw="batch"``: per batch) scales the
    input fields by sqrt(p)."""
    gamma = standard_gamma if gamma is None else gamma
    n_ep = n_epochs or epochs
    step_ep = step_epochs or max(1, round(lr_step_epochs * n_ep / epochs))  # the same schedule shape for longer runs
    g = torch.Generator().manual_seed(seed)
    inputs, objects = data["inp"], data["obj"]
    per_epoch = max(1, inputs.shape[0] // batch)
    net.to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_ep * (per_epoch if lr_step_unit == "epoch" else 1), 0.5)
    state = {"perm": None, "p": 1.0}  # the epoch's order and intensity: checkpointed, so a run resumes mid-epoch

    def loss(idx):
        out = net(inputs[idx] * math.sqrt(state["p"]))  # the network: Field -> units -> intensity
        return aosr.sr_loss(out, objects[idx], S, gamma)

    def step(i):
        e, j = divmod(i, per_epoch)
        if j == 0:
            n = inputs.shape[0]
            state["perm"] = torch.randperm(n, generator=g) if data_order == "shuffle" else torch.arange(n)
        if intensities and (j == 0 or ir_draw == "batch"):
            state["p"] = float(intensities[int(torch.randint(len(intensities), (1,), generator=g))])
        idx = state["perm"][j * batch:(j + 1) * batch]
        if micro_batch:  # gradient accumulation: one micro-batch's graph at a time, gradients summed
            return (loss(part) for part in idx.split(micro_batch))
        return loss(idx)

    ol.train.fit(step, net, opt, n_ep * per_epoch, sched, checkpoint=ckpt(name), desc=name, generator=g, state=state,
                 key=ol.train.run_key(name, P, gamma=gamma, intensities=intensities, n_ep=n_ep, step_ep=step_ep))
    return net.eval()


def ev(net, name, p=1.0, convention="authors"):
    d = sets[name]
    return aosr.evaluate_sr(net, d["inp_t"], d["obj_t"], S, p, convention=convention)


# %% [markdown]
# ## The network, and training the standard networks (p = 1), one per dataset
#
# Each unit is a composition of three `optlib` elements acting on a `Field`: a 4f system (`FourF`) whose
# Fourier plane holds the trainable phase mask inside its square aperture, the image-plane support
# (`Aperture`) and the Kerr layer (`Kerr`); the network chains ``n_units`` of them and returns the output
# intensity. These standard networks train with γ = `standard_gamma`: 0 at `tiny`, as the paper's text states
# for them; 1e-6 at `full`, the authors' code default. At `full` the training also follows the authors' code in
# its data order (the stored order every epoch) and its batches (4 summed micro-batches of 10).

# %%
print(aosr.AOSRNN(S, seed=seed, init=init).units[0])

# %% tags=["nbval-ignore-output"]
nets = {name: train(f"std_{name}", aosr.AOSRNN(S, seed=seed, init=init), sets[name]) for name in DS}

# %% [markdown]
# ## Fig. 1b: object, low-resolution input, network output
#
# (Fig. 1a is the paper's drawing of the set-up; it is not redrawn here: the unit printed above is its
# content.) The ripples in the inputs are real: coherent imaging through a small NA rings.

# %%
fig, axes = plt.subplots(3, 6, figsize=(10, 5.2))
for j, name in enumerate(DS):
    d = sets[name]
    with torch.no_grad():
        out = nets[name](d["inp_t"][:2])
    for k in range(2):
        col = 2 * j + k
        ims = [S.crop(d["obj_t"][k]), aosr.normalised(d["inp_t"][k].abs() ** 2, S), aosr.normalised(out[k], S)]
        for r, im in enumerate(ims):
            axes[r, col].imshow(im.cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            axes[r, col].set_xticks([]), axes[r, col].set_yticks([])
        axes[0, col].set_title(SHORT[name], fontsize=9)
for r, lab in enumerate(["object", "input (low NA)", "AOSRNN output"]):
    axes[r, 0].set_ylabel(lab)
fig.suptitle(f"M = MNIST, FM = Fashion-MNIST, {SHORT[third_dataset]} = {K.LABELS[third_dataset]}", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Fig. 2: PSNR, SSIM and effective resolution, input vs output
#
# Every PSNR and SSIM printed beside the paper's is computed the authors' way (`convention="authors"`): the
# PSNR of each test batch of 10 images, averaged over the batches, and torchmetrics' SSIM (reflect-padded,
# every window). Below the table, the same outputs in this book's convention (the mean of
# per-image PSNRs, SSIM over the windows inside the image), which does not depend on the batching.
#
# Effective resolution (Supplementary Note 3): the NA-limited linear system whose images have the same
# mean PSNR; its inverse cutoff. By construction the input's resolution is the input cutoff's inverse, and
# the output's improves exactly when its PSNR does (it is read off the same curve), so the claim below rests
# on the PSNR alone.

# %% tags=["nbval-ignore-output"]
# (the trained networks' numbers are not compared by nbval: its rerun of this chapter moved them by about 1 %,
# float rounding amplified by training at lr 0.1; each run's own checks below judge its numbers)
fig2 = {}
for name in DS:
    r = ev(nets[name], name)
    r["res_in"] = aosr.effective_resolution(r["psnr_in"], curves[name])
    r["res"] = aosr.effective_resolution(r["psnr"], curves[name])
    fig2[name] = r
print(f"{'dataset':<8} {'PSNR in':>8} {'out':>7} {'SSIM in':>8} {'out':>6} {'res in (um)':>12} {'out':>6} {'gain':>5} {'energy':>7}")
for name, r in fig2.items():
    print(f"{SHORT[name]:<8} {r['psnr_in']:8.2f} {r['psnr']:7.2f} {r['ssim_in']:8.3f} {r['ssim']:6.3f} "
          f"{1e6 * r['res_in']:12.1f} {1e6 * r['res']:6.1f} {r['res_in'] / r['res']:5.2f} {100 * r['energy']:6.1f}%")
gain = float(np.mean([r["res_in"] / r["res"] for r in fig2.values()]))
print("\nthe same outputs in this book's convention (PSNR per image, SSIM over the windows inside the image):")
for name in DS:
    a, b = fig2[name], ev(nets[name], name, convention="per_image")
    print(f"{SHORT[name]:<8} PSNR in {b['psnr_in']:.2f} (authors' {a['psnr_in']:.2f}), out {b['psnr']:.2f} "
          f"(authors' {a['psnr']:.2f}) dB; SSIM in {b['ssim_in']:.3f} ({a['ssim_in']:.3f}), out {b['ssim']:.3f} "
          f"({a['ssim']:.3f})")
fig, ax = plt.subplots(1, 3, figsize=(9.5, 2.8))
xs = np.arange(len(DS))
for a, (key, lab) in zip(ax, (("psnr", "PSNR (dB)"), ("ssim", "SSIM"), ("res", "resolution (um)"))):
    sc = 1e6 if key == "res" else 1
    a.bar(xs - 0.2, [sc * fig2[n][key + "_in"] for n in DS], 0.4, hatch="//", fill=False, label="input")
    a.bar(xs + 0.2, [sc * fig2[n][key] for n in DS], 0.4, color="C0", label="output")
    a.set_xticks(xs, [SHORT[n] for n in DS])
    a.set_title(lab)
ax[0].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %%
for name in DS:
    r = fig2[name]
    results.item(f"f2_psnr_gain_{SHORT[name]}", f"Fig. 2 {SHORT[name]}: PSNR output - input", r["psnr"] - r["psnr_in"],
                 None, "dB", note="paper: bars only")
results.item("f2_res_gain", "Mean resolution gain (effective resolution in / out)", gain, 1.8, "x", tol=0.15,
             claim="f2", note=f"{scale} scale: {n_units} units, {n_train} training images, {epochs} epochs")
# the effective resolution is a monotone function of the PSNR (the linear system's curve), so it improves
# exactly when the PSNR does: it is not a second piece of evidence, and the claim is on the PSNR alone
results.check("f2", "The network output beats its input in PSNR on every dataset (smallest gain, dB)",
              min(r["psnr"] - r["psnr_in"] for r in fig2.values()), ">", 0.0,
              note="fails at twice the trained intensity (Fig. 5: the MNIST network loses more than its gain at p = 2); "
                   "the trained linear network is the stronger baseline: see f4_beats_linear")
results.check("f2_ssim", "The output also beats the input in SSIM on every dataset (smallest gain)",
              min(r["ssim"] - r["ssim_in"] for r in fig2.values()), ">", 0.0)

# %% [markdown]
# ### Other input NAs (the paper's 84, 134.4 and 168 µm; at tiny, 89.6, 149.3 and 224 µm)
#
# The same network trained on MNIST inputs of lower NA; the paper reports mean gains of 2, 2.6 and 3. The
# input disc passes whole frequency samples, and the tiny grid's step (1/(112 x 8 µm) = 1116 m⁻¹) is twice
# the paper's, so at tiny the three inputs resolve 89.6, 149.3 and 224 µm, not 84, 134.4 and 168 µm (the
# nearest this grid can pass would put 134.4 and 168 on the same 149.3 µm); `full` runs on the paper's grid
# and its exact values. A gain measured at another input resolution is not the paper's number: the rows
# below say both.

# %% tags=["nbval-ignore-output"]
na_gain = {}
for arg, paper_g in ((100, 2.0), (150, 2.6), (200, 3.0)):  # the authors' radius arguments (84, 134.4, 168 um)
    s_na = K.setup(P)
    s_na.input_radius = aosr.authors_input_radius(arg, 1e-2, 550e-9, 112, 336, 4e-6)
    lp = aosr.NALowPass(s_na.grid, s_na.input_radius)
    d = sets["mnist"]
    dd = dict(obj=d["obj"], inp=aosr.prepare_inputs(d["obj"], lp))
    net = train(f"na{arg}", aosr.AOSRNN(s_na, seed=seed, init=init), dd, step_epochs=lr_step_epochs)
    r = aosr.evaluate_sr(net, aosr.prepare_inputs(d["obj_t"], lp), d["obj_t"], s_na)
    cur = aosr.linear_psnr_curve(d["obj_t"], s_na)
    na_gain[arg] = (1e6 / s_na.input_cutoff, aosr.effective_resolution(r["psnr_in"], cur) / aosr.effective_resolution(r["psnr"], cur), paper_g)

# %%
for arg, (dx, g_, paper_g) in na_gain.items():
    paper_dx = 1e6 / K.paper_setup(arg).input_cutoff
    print(f"input resolution {dx:6.1f} um (paper's {paper_dx:5.1f} um): gain {g_:.2f} (paper {paper_g})")
    results.item(f"f2_gain_na{arg}", f"Resolution gain at {dx:.0f} um input (paper: at {paper_dx:.0f} um)", g_, paper_g, "x", tol=0.15, claim="na_trend")
gains = [fig2["mnist"]["res_in"] / fig2["mnist"]["res"]] + [v[1] for v in na_gain.values()]
results.check("na_trend", "The resolution gain grows as the input NA falls (gain at the lowest NA against the "
              "highest)", gains[-1], ">", gains[0])

# %% [markdown]
# ## Fig. 3: the spectrum at each unit's Fourier plane, and where the light goes
#
# The mean power spectrum (MNIST test set) just before each unit's mask, along $f_y = 0$. Black dashed:
# the input NA; red dotted: the network's NA (the mask aperture). Everything outside the red lines is
# lost at that unit; light the unit sends outside the object region is lost at its image-plane support
# (at this grid most of the loss happens there, since the grid's band ends not far beyond the mask). The ledger below closes exactly: output power = input power minus what the Fourier
# apertures and the image-plane supports remove (masks and Kerr layers are lossless).

# %% tags=["nbval-ignore-output"]
d = sets["mnist"]
with torch.no_grad():
    ledger, out64 = aosr.ledger(nets["mnist"].double(), d["inp_t"][:64].to(torch.complex128))
nets["mnist"].float()
tot = aosr.energy_ledger(ledger)
closure = float(((tot["in"] - tot["fourier_loss"] - tot["support_loss"] - out64.sum(dim=(-2, -1))).abs() / tot["in"]).max())
fy, fx = S.grid.freqs(shifted=True)
fxs = fx.flatten().cpu().numpy()
fig, axes = plt.subplots(1, len(ledger), figsize=(2.1 * len(ledger), 2.4), sharey=True)
leak = []
for i, (a, e) in enumerate(zip(np.atleast_1d(axes), ledger)):
    spec = (e["spectrum"].abs() ** 2).mean(0)[S.n // 2].cpu().numpy()
    a.semilogy(fxs / 1e3, spec / spec.max(), "C0", lw=0.8)
    for sgn in (-1, 1):
        a.axvline(sgn * S.input_radius / 1e3, color="k", ls="--", lw=0.8)
        a.axvline(sgn * S.network_cutoff / 2e3, color="r", ls=":", lw=1)
    a.axvspan(S.network_cutoff / 2e3, fxs.max() / 1e3, color="r", alpha=0.1)
    a.axvspan(fxs.min() / 1e3, -S.network_cutoff / 2e3, color="r", alpha=0.1)
    lk = float((e["fourier_loss"] / e["in"]).mean())
    ls = float((e["support_loss"] / e["in"]).mean())
    leak.append(lk)
    a.set_title(f"unit {i + 1}: {100 * lk:.1f}% past NA\n{100 * ls:.1f}% off the support", fontsize=8)
    a.set_xlabel(r"$f_x$ (1/mm)")
np.atleast_1d(axes)[0].set_ylabel("power spectrum (norm.)")
fig.tight_layout()
plt.show()
print(f"energy ledger closes to {closure:.1e} (relative); kept {float(out64.sum() / tot['in'].sum()):.3f} of the input power")
results.item("ledger_closure", "Energy ledger closure (relative)", closure, 0.0, "", tol=1e-6)
results.check_all("f3", "Light is lost past the network's NA at every unit after the first, and the energy ledger closes",
                  [("smallest fraction lost past the NA, units 2+", min(leak[1:]), ">", 0.0),
                   ("energy ledger closure (relative)", closure, "<", 1e-6)],
              note="this alone does not show that the nonlinearity spreads the light: the image-plane support spreads "
                   "the spectrum of a linear network too; see the check against the trained linear network (Fig. 4). "
                   "Fails for a network without a Fourier aperture (the wide network at tiny): nothing is lost past it")

# %% [markdown]
# ## Fig. 4: fidelity against energy, over the energy weight γ (Eq. 3)

# %% tags=["nbval-ignore-output"]
gamma_nets = {standard_gamma: nets["mnist"]}
for gm in (g_ for g_ in gammas if g_ != standard_gamma):
    gamma_nets[gm] = train(f"gamma_{gm:g}", aosr.AOSRNN(S, seed=seed, init=init), sets["mnist"], gamma=gm)
linear = train("linear", aosr.AOSRNN(S, nonlinear=False, seed=seed, init=init), sets["mnist"])

# %% tags=["nbval-ignore-output"]
f4 = {gm: ev(n_, "mnist") for gm, n_ in gamma_nets.items()}
f4_lin = ev(linear, "mnist")
for r in list(f4.values()) + [f4_lin]:
    r["res"] = aosr.effective_resolution(r["psnr"], curves["mnist"])
print(f"{'gamma':>8} {'energy':>8} {'PSNR':>7} {'res (um)':>9}")
for gm, r in f4.items():
    print(f"{gm:8.0e} {100 * r['energy']:7.1f}% {r['psnr']:7.2f} {1e6 * r['res']:9.1f}")
print(f"{'linear':>8} {100 * f4_lin['energy']:7.1f}% {f4_lin['psnr']:7.2f} {1e6 * f4_lin['res']:9.1f}")
print(f"{'input':>8} {'100.0%':>8} {fig2['mnist']['psnr_in']:7.2f} {1e6 * fig2['mnist']['res_in']:9.1f}")
fig, ax = plt.subplots(1, 2, figsize=(8.5, 3))
en = [100 * r["energy"] for r in f4.values()]
for a, key, sc, lab in ((ax[0], "psnr", 1, "PSNR (dB)"), (ax[1], "res", 1e6, "resolution (um)")):
    a.plot(en, [sc * r[key] for r in f4.values()], "C0o-", label="AOSRNN (gamma sweep)")
    a.plot([100], [sc * fig2["mnist"][key + "_in"]], "ks", label="input")
    a.plot([100 * f4_lin["energy"]], [sc * f4_lin[key]], "ro", label="linear network")
    a.set(xlabel="energy kept (%)", ylabel=lab, xlim=(0, 105))
ax[0].legend(fontsize=7)
fig.tight_layout()
plt.show()

# %%
energies = [f4[g]["energy"] for g in sorted(f4)]  # the smallest gamma first
psnrs = [f4[g]["psnr"] for g in sorted(f4)]
from scipy.stats import spearmanr  # noqa: E402
rho = float(spearmanr(sorted(f4), energies).correlation)
results.item("energy_gamma0", "Energy kept by the standard network (MNIST)", f4[standard_gamma]["energy"], 0.06, "",
             tol=0.5, note=f"paper Fig. 1b: about 6 %; {n_units} units (fewer leakage stages) and {epochs} epochs here")
results.item("f4_spearman", "Spearman(gamma, energy)", rho, 1.0, "", tol=0.1)
results.item("f4_linear_minus_input", "Linear network PSNR - input PSNR", f4_lin["psnr"] - fig2["mnist"]["psnr_in"], None,
             "dB", note="paper: slightly below the input; see the discussion")
results.check_all("f4", "Energy kept rises and PSNR falls as gamma grows; the largest gamma is worse than the input",
                  [("Spearman(gamma, energy)", rho, ">=", 0.9),
                   ("PSNR at the largest gamma - at the smallest (dB)", psnrs[-1] - psnrs[0], "<", 0.0),
                   ("PSNR at the largest gamma - input (dB)", psnrs[-1] - fig2["mnist"]["psnr_in"], "<", 0.0)],
                  note="the last part fails for a gamma sweep that stops while the network still beats its input "
                       "(gamma = 0 does, by the Fig. 2 gain)")
# Fig. 3's statement, against the strongest alternative explanation: the linear network (same masks and supports,
# no Kerr layers) loses light past the NA too, because its image-plane supports spread the spectrum
with torch.no_grad():
    ledger_lin, _ = aosr.ledger(linear.double(), sets["mnist"]["inp_t"][:64].to(torch.complex128))
linear.float()
leak_lin = [float((e["fourier_loss"] / e["in"]).mean()) for e in ledger_lin]
print(f"light past the NA at units 2-{len(leak)}: nonlinear {100 * np.mean(leak[1:]):.2f} %, linear "
      f"{100 * np.mean(leak_lin[1:]):.2f} % (mean per unit)")
results.check("f3_vs_linear", "The nonlinear network loses more light past its NA than the trained linear network "
              "(mean fraction per unit, units 2+)", float(np.mean(leak[1:])), ">", float(np.mean(leak_lin[1:])),
              note="the paper attributes the spread to the nonlinearity; a linear network's leak is the baseline. "
                   "Fails without a Fourier aperture (both leaks are then 0)")
results.check("f4_beats_linear", "The nonlinear network's PSNR gain over its input exceeds the trained linear network's "
              "(MNIST, dB; the linear network is the strongest baseline for what the nonlinearity adds)",
              f4[standard_gamma]["psnr"] - fig2["mnist"]["psnr_in"], ">", f4_lin["psnr"] - fig2["mnist"]["psnr_in"],
              note="this book's check (the paper shows the linear network slightly below its input); fails at p = 2, "
                   "where the nonlinear network's PSNR falls by the Fig. 5 drop")

# %% [markdown]
# ## Fig. 5: sensitivity to the peak input intensity p
#
# The standard network was trained at p = 1; the intensity-robust (IR) networks draw p per epoch from the
# authors' {0.1, 0.25, 0.5, 0.75, 1, 2, 3, 4} up to their maximum. That list stops at 4, so for the paper's
# "p <= 8" network (`full`) this book adds 6 and 8. "Width" is the range of p over which the output beats the
# input (whose PSNR does not depend on p).

# %% tags=["nbval-ignore-output"]
ir_nets = {m: train(f"ir_{m:g}", aosr.AOSRNN(S, seed=seed, init=init), sets["mnist"],
                    intensities=K.ir_intensities(m), n_epochs=ir_epochs) for m in ir_max}

# %% tags=["nbval-ignore-output"]
f5 = {"standard": [ev(nets["mnist"], "mnist", p)["psnr"] for p in p_eval]}
for m, n_ in ir_nets.items():
    f5[f"IR p<={m:g}"] = [ev(n_, "mnist", p)["psnr"] for p in p_eval]
p_in = fig2["mnist"]["psnr_in"]
widths = {k: aosr.intensity_width(p_eval, v, p_in) for k, v in f5.items()}
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
for k, v in f5.items():
    ax[0].semilogx(p_eval, v, "o-", ms=3, label=f"{k} (width {widths[k]:.2f})")
ax[0].axhline(p_in, color="k", ls="--", lw=1, label="input")
ax[0].set(xlabel="peak intensity p", ylabel="PSNR (dB)")
ax[0].legend(fontsize=7)
ax[1].plot([max(v) for v in f5.values()], list(widths.values()), "C0o-")
for k, v in f5.items():
    ax[1].annotate(k, (max(v), widths[k]), fontsize=7)
ax[1].set(xlabel="peak PSNR (dB)", ylabel="width (p range)")
fig.tight_layout()
plt.show()
i1, i2 = p_eval.index(1.0), p_eval.index(2.0)
drop2 = f5["standard"][i1] - f5["standard"][i2]
for k in f5:
    print(f"{k:<12} PSNR at p=1 {f5[k][i1]:.2f}, p=2 {f5[k][i2]:.2f}, peak {max(f5[k]):.2f}, width {widths[k]:.2f}")
results.item("f5_drop_p2", "Standard network: PSNR(p=1) - PSNR(p=2)", drop2, 5.0, "dB", tol=0.3, claim="f5")
for k in widths:
    results.item(f"f5_width_{k}", f"Fig. 5 width of p above the input: {k}", widths[k], None, "")
ir_keys = [k for k in widths if k != "standard"]
widest = max(ir_keys, key=lambda k: widths[k])  # the IR network that bought the most range
results.check_all("f5", "The nonlinear network is sensitive to p (>= 1 dB from p = 1 to 2), and intensity-robust "
                  f"training buys a wider p range at a lower peak PSNR (the widest IR network, here {widest})",
                  [("standard: PSNR(p=1) - PSNR(p=2) (dB)", drop2, ">=", 1.0),
                   (f"{widest}: width - standard width", widths[widest] - widths["standard"], ">", 0.0),
                   (f"{widest}: standard peak PSNR - its peak (dB)", max(f5["standard"]) - max(f5[widest]), ">", 0.0)],
                  note="the first part fails for the linear network: its output only scales with p, and the "
                       "max-normalised output's PSNR is the same at every p")
results.check("f5_all", "Every intensity-robust network is wider than the standard one (smallest width gain)",
              min(widths[k] - widths["standard"] for k in ir_keys), ">", 0.0,
              note="the widest-range network needs the most training")

# %% [markdown]
# ## Fig. 6: out-of-distribution data
#
# Networks trained on each dataset and on all three (equal parts, same number of images), tested on each.

# %% tags=["nbval-ignore-output"]
g_mix = torch.Generator().manual_seed(seed)
k_each = n_train // 3
mix_idx = [torch.randperm(n_train, generator=g_mix)[:k_each] for _ in DS]
mixed = dict(obj=torch.cat([sets[n]["obj"][i] for n, i in zip(DS, mix_idx)]),
             inp=torch.cat([sets[n]["inp"][i] for n, i in zip(DS, mix_idx)]))
nets_ood = dict(nets)
nets_ood["all"] = train("std_all", aosr.AOSRNN(S, seed=seed, init=init), mixed)

# %% tags=["nbval-ignore-output"]
mat = {}
for tr, n_ in nets_ood.items():
    for te in DS:
        r = ev(n_, te)
        mat[(tr, te)] = (r["psnr"] - r["psnr_in"], aosr.effective_resolution(r["psnr"], curves[te]))
print("PSNR gain over the input (dB); rows: trained on, columns: tested on")
print(f"{'':>6}" + "".join(f"{SHORT[t]:>8}" for t in DS))
for tr in nets_ood:
    print(f"{SHORT[tr]:>6}" + "".join(f"{mat[(tr, te)][0]:8.2f}" for te in DS))
fig, ax = plt.subplots(1, 2, figsize=(8, 3))
for a, idx, lab in ((ax[0], 0, "PSNR - input PSNR (dB)"), (ax[1], 1, "resolution (um)")):
    m = np.array([[mat[(tr, te)][idx] * (1e6 if idx else 1) for te in DS] for tr in nets_ood])
    im = a.imshow(m, cmap="RdBu" if idx == 0 else "viridis_r", vmin=-abs(m).max() if idx == 0 else None,
                  vmax=abs(m).max() if idx == 0 else None)
    a.set_xticks(range(len(DS)), [SHORT[t] for t in DS])
    a.set_yticks(range(len(nets_ood)), [SHORT[t] for t in nets_ood])
    a.set(xlabel="tested on", ylabel="trained on", title=lab)
    fig.colorbar(im, ax=a, fraction=0.046)
fig.tight_layout()
plt.show()
# %% [markdown]
# Fig. 6a: the same test image of each dataset through each network (rows: trained on).

# %%
fig, axes = plt.subplots(2 + len(nets_ood), len(DS), figsize=(1.6 * len(DS), 1.6 * (2 + len(nets_ood))))
for j, te in enumerate(DS):
    d = sets[te]
    rows = [S.crop(d["obj_t"][0]), aosr.normalised(d["inp_t"][0].abs() ** 2, S)]
    with torch.no_grad():
        rows += [aosr.normalised(n_(d["inp_t"][:1])[0], S) for n_ in nets_ood.values()]
    for i, im in enumerate(rows):
        axes[i, j].imshow(im.cpu().numpy(), cmap="gray", vmin=0, vmax=1)
        axes[i, j].set_xticks([]), axes[i, j].set_yticks([])
    axes[0, j].set_title(f"test: {SHORT[te]}", fontsize=9)
for i, lab in enumerate(["object", "input"] + [f"trained: {SHORT[t]}" for t in nets_ood]):
    axes[i, 0].set_ylabel(lab, fontsize=8)
fig.tight_layout()
plt.show()

# %%
diag_margin = min(mat[(te, te)][0] - max(mat[(tr, te)][0] for tr in DS if tr != te) for te in DS)
results.check("f6", "In-distribution beats out-of-distribution on every test set (smallest margin over the best "
              "network trained on another dataset, dB)", diag_margin, ">=", 0.0,
              note="fails, in most draws, for three training sets of one distribution (draws of MNIST): each margin "
                   "is then training noise about 0, and the smallest of three is negative")
results.item("f6_m_on_fm", "MNIST-trained network on Fashion-MNIST: PSNR gain", mat[("mnist", "fashion_mnist")][0],
             None, "dB", note="paper: below the input (negative)")
results.check("f6_m_on_fm", "A network trained on MNIST falls below its input on Fashion-MNIST (PSNR gain, dB)",
              mat[("mnist", "fashion_mnist")][0], "<", 0.0, note="fails on MNIST itself (Fig. 2's gain)")

# %% [markdown]
# ## Numbers stated in the text
#
# * A wider network (the paper doubles each layer: 6 % -> 10 % energy, 19.8 -> 20.3 dB). The tiny grid has
#   no room to double the mask, so there it is enlarged to the whole grid (x1.5): **at tiny the wide network
#   has no Fourier-plane aperture at all**, only the image-plane supports lose light, so its "keeps more
#   energy" is close to certain there and weak evidence. The full scale doubles the mask, as the paper does.
# * Classification with the same architecture (94.8 %, and a 33 % drop at twice the intensity): ten
#   square detectors in the output plane, the class is the brightest.
# * A diffractive network without 4f units (D2NN style): phase layers in the image plane separated by free
#   space (spacing not given in the paper: here $d^2/\lambda$ for the tiny grid's 8 µm pixels, the distance
#   at which a pixel's diffraction reaches its neighbour, 0.12 mm; `full` keeps 0.12 mm, about four times
#   $d^2/\lambda$ at its 4 µm pixels), each followed by a Kerr layer (paper: 17.4 dB against 16.1 dB input,
#   1 % energy, 16.6 and 14.2 dB at 2x and 4x intensity).

# %% tags=["nbval-ignore-output"]
wide_px = min(2 * S.mask_px, S.n)
wide = train("wide", aosr.AOSRNN(S, mask_px=wide_px, seed=seed, init=init), sets["mnist"])
d2nn = train("d2nn", aosr.D2NN(S, d2nn_spacing_mm * 1e-3, seed=seed, init=init), sets["mnist"])
# classifier: same units, detectors in the output plane, cross-entropy on detector powers
ytr = ol.data.load_mnist("train", n_train)[1].to(dev)
yte = ol.data.load_mnist("test", n_test)[1].to(dev)
clf = aosr.AOSRNN(S, seed=seed, init=init).to(dev)
masks = aosr.detector_masks(S).to(dev)
opt = torch.optim.Adam(clf.parameters(), lr=lr)
gc = torch.Generator().manual_seed(seed)
steps_per_epoch = n_train // batch


clf_state = {"perm": None}  # checkpointed with the model: the classifier resumes mid-epoch too


def clf_step(i):
    if i % steps_per_epoch == 0:
        clf_state["perm"] = torch.randperm(n_train, generator=gc)
    idx = clf_state["perm"][(i % steps_per_epoch) * batch:(i % steps_per_epoch + 1) * batch]
    return F.cross_entropy(aosr.class_logits(clf(sets["mnist"]["inp"][idx]), masks), ytr[idx])


ol.train.fit(clf_step, clf, opt, classifier_epochs * steps_per_epoch, desc="classifier",
             checkpoint=ckpt("classifier"), generator=gc, state=clf_state, key=ol.train.run_key("classifier", P))
clf.eval()

# %% tags=["nbval-ignore-output"]
r_wide = ev(wide, "mnist")
r_d2 = {p: ev(d2nn, "mnist", p) for p in (1.0, 2.0, 4.0)}
with torch.no_grad():
    acc = {p: float((aosr.class_logits(clf(sets["mnist"]["inp_t"] * math.sqrt(p)), masks).argmax(1) == yte).double().mean())
           for p in (1.0, 2.0)}
print(f"wider network (mask {S.mask_px} -> {wide_px} samples): energy {100 * f4[standard_gamma]['energy']:.1f}% -> "
      f"{100 * r_wide['energy']:.1f}%, PSNR {f4[standard_gamma]['psnr']:.2f} -> {r_wide['psnr']:.2f} dB")
print(f"classification: accuracy {100 * acc[1.0]:.1f}% at p = 1, {100 * acc[2.0]:.1f}% at p = 2 "
      f"(relative drop {100 * (1 - acc[2.0] / acc[1.0]):.0f}%)")
print(f"D2NN-style network: {r_d2[1.0]['psnr']:.2f} dB (input {r_d2[1.0]['psnr_in']:.2f}), energy "
      f"{100 * r_d2[1.0]['energy']:.2f}%, {r_d2[2.0]['psnr']:.2f} dB at 2x, {r_d2[4.0]['psnr']:.2f} dB at 4x")
results.item("wide_energy", "Wider network: energy kept", r_wide["energy"], 0.10, "", tol=0.5, claim="wide",
              note=f"mask x{wide_px / S.mask_px:.2f}, not x2" + (": the whole grid, no Fourier aperture" if wide_px == S.n else ""))
results.item("wide_psnr_gain", "Wider network: PSNR gain over the standard one", r_wide["psnr"] - f4[standard_gamma]["psnr"], 0.5,
             "dB", tol=0.5)
results.check("wide", "A wider network keeps more energy (against the standard network)", r_wide["energy"], ">",
              f4[standard_gamma]["energy"], note="fails for a 'wide' mask equal to the standard one's (the same network)")
results.item("clf_acc", "Classification accuracy at p = 1", acc[1.0], 0.948, "", tol=0.05,
             note=f"{n_train} training images, {classifier_epochs} epochs")
results.item("clf_drop", "Relative accuracy drop at p = 2", 1 - acc[2.0] / acc[1.0], 0.33, "", tol=0.3, claim="clf")
results.check("clf", "The classifier is sensitive to the input intensity (accuracy at 2x against 1x)", acc[2.0], "<",
              acc[1.0], note="fails for a linear network: its brightest detector does not depend on the intensity")
results.item("d2nn_psnr", "D2NN-style network PSNR", r_d2[1.0]["psnr"], 17.4, "dB", tol=0.05, claim="d2nn")
results.item("d2nn_psnr_in", "D2NN-style network: input PSNR", r_d2[1.0]["psnr_in"], 16.1, "dB", tol=0.05)
results.item("d2nn_energy", "D2NN-style network energy kept", r_d2[1.0]["energy"], 0.01, "", tol=0.5, claim="d2nn")
results.item("d2nn_psnr_2x", "D2NN-style network PSNR at 2x intensity", r_d2[2.0]["psnr"], 16.6, "dB", tol=0.05,
             claim="d2nn")
results.item("d2nn_psnr_4x", "D2NN-style network PSNR at 4x intensity", r_d2[4.0]["psnr"], 14.2, "dB", tol=0.05,
             claim="d2nn")
results.check_all("d2nn", "A D2NN-style network also beats its input at p = 1 and degrades at higher intensity",
                  [("PSNR - input PSNR at p = 1 (dB)", r_d2[1.0]["psnr"] - r_d2[1.0]["psnr_in"], ">", 0.0),
                   ("PSNR at 4x - at 1x (dB)", r_d2[4.0]["psnr"] - r_d2[1.0]["psnr"], "<", 0.0)])

# %% [markdown]
# ### Polychromatic light (400, 550 and 700 nm)
#
# The paper trains a network for objects lit by three wavelengths at once. With fixed 4f lenses a spatial
# frequency ν of wavelength λ reaches the Fourier plane at $x = \lambda f \nu$, so each wavelength sees the
# (pixelated) mask designed at 550 nm rescaled by λ/550 nm; the imaging NA is fixed, so the input cutoff
# scales as 1/λ; the Kerr layer responds to the total intensity; the output is the total intensity. The
# paper states no number for it, only that it still enhances resolution and still suffers from the
# trade-offs. (Tiny scale: half the training images, `poly_epochs` epochs.)

# %% tags=["nbval-ignore-output"]
WLS = [400e-9, 550e-9, 700e-9]
half = max(batch, n_train // 2)
poly_train = dict(obj=sets["mnist"]["obj"][:half], inp=aosr.prepare_poly_inputs(sets["mnist"]["obj"][:half], S, WLS))
poly = train("poly", aosr.PolyAOSRNN(S, WLS, seed=seed, init=init), poly_train, n_epochs=poly_epochs)

# %%
inp_poly_t = aosr.prepare_poly_inputs(sets["mnist"]["obj_t"], S, WLS)
r_poly = {p: aosr.evaluate_sr(poly, inp_poly_t, sets["mnist"]["obj_t"], S, p) for p in (1.0, 2.0)}
print(f"polychromatic network: {r_poly[1.0]['psnr']:.2f} dB (input {r_poly[1.0]['psnr_in']:.2f} dB), energy kept "
      f"{100 * r_poly[1.0]['energy']:.1f}%, {r_poly[2.0]['psnr']:.2f} dB at twice the intensity")
results.item("poly_gain", "Polychromatic network: PSNR output - input", r_poly[1.0]["psnr"] - r_poly[1.0]["psnr_in"],
             None, "dB", note="paper: enhances resolution, no number given")
results.item("poly_energy", "Polychromatic network: energy kept", r_poly[1.0]["energy"], None, "")
results.check_all("poly", "A polychromatic network also beats its input while losing light and intensity robustness",
                  [("PSNR - input PSNR at p = 1 (dB)", r_poly[1.0]["psnr"] - r_poly[1.0]["psnr_in"], ">", 0.0),
                   ("energy kept", r_poly[1.0]["energy"], "<", 0.9),
                   ("PSNR at 2x - at 1x (dB)", r_poly[2.0]["psnr"] - r_poly[1.0]["psnr"], "<", 0.0)],
                  note="the last part fails for a linear network (its max-normalised output does not depend on p)")

# %% [markdown]
# ## Explore: peak intensity and energy weight
#
# Outputs for every p and every γ network were computed when the chapter ran; the sliders pick them in
# the browser (no kernel needed).

# %%
import io  # noqa: E402

import ipywidgets as widgets  # noqa: E402
from PIL import Image  # noqa: E402

k_show = 3
d = sets["mnist"]


def png(img):
    a = (np.clip(img.cpu().numpy(), 0, 1) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).resize((150, 150), Image.NEAREST).save(buf, format="PNG")
    return buf.getvalue()


def panel(net, p):
    with torch.no_grad():
        u = d["inp_t"][k_show:k_show + 1] * math.sqrt(p)
        o = aosr.normalised(net(u), S)[0]
    ps_ = float(ol.metrics.psnr(o, S.crop(d["obj_t"][k_show])))
    return widgets.VBox([widgets.Image(value=png(o), format="png"), widgets.Label(f"PSNR {ps_:.2f} dB")])


s_p = widgets.SelectionSlider(options=[f"p = {p:g}" for p in p_eval], value="p = 1", description="intensity")
st_p = widgets.Stack([panel(nets["mnist"], p) for p in p_eval], selected_index=p_eval.index(1.0))
l1 = widgets.jslink((s_p, "index"), (st_p, "selected_index"))
gk = sorted(gamma_nets)
s_g = widgets.SelectionSlider(options=[f"gamma = {g:g}" for g in gk], value=f"gamma = {standard_gamma:g}", description="energy weight")
st_g = widgets.Stack([panel(gamma_nets[g], 1.0) for g in gk], selected_index=0)
l2 = widgets.jslink((s_g, "index"), (st_g, "selected_index"))
obj_img = widgets.VBox([widgets.Image(value=png(S.crop(d["obj_t"][k_show])), format="png"), widgets.Label("object")])
inp_img = widgets.VBox([widgets.Image(value=png(aosr.normalised(d["inp_t"][k_show].abs() ** 2, S)), format="png"),
                        widgets.Label(f"input, PSNR {fig2['mnist']['psnr_in']:.1f} dB (mean)")])
widgets.VBox([widgets.HBox([obj_img, inp_img]), s_p, st_p, s_g, st_g])

# %% [markdown]
# ## What matched and what did not
#
# * **Reproduced:** the paper's optical set-up, number for number on the paper's grid (the 19,345.2 m⁻¹ input
#   cutoff, the 84, 134.4 and 168 µm variants, the 12 µm network limit). On every dataset the output beats
#   its input in PSNR (and so in effective resolution, which is read off the same curve), and the mean
#   resolution gain is close to the paper's 1.8x.
# * **Metrics:** every PSNR and SSIM beside the paper's is computed the authors' way (per test batch;
#   torchmetrics' SSIM). This book's per-image PSNR reads 0.3-0.7 dB higher on the same outputs (Fig. 2).
# * **Claims that hold on this run** (each compared with a stated threshold, in the table at the end and
#   on the scoreboard): the energy-fidelity trade-off (energy kept rises and PSNR falls with γ;
#   the largest γ is worse than the input); the sensitivity to the peak intensity, and intensity-robust
#   training buying a wider p range at a lower peak; in-distribution beating out-of-distribution (the
#   MNIST network falls below its input on Fashion-MNIST, as in the paper); light leaking past each unit's
#   NA (Fig. 3), with an energy ledger that closes to rounding error; a classifier with the same
#   architecture losing accuracy at twice the intensity; a wider network keeping more light (weak evidence at
#   tiny, where the wider mask is the whole grid and no Fourier aperture is left).
# * **Not reproduced at this scale, and why.** The standard network keeps far more light than the paper's
#   6 %: it has 5 units (half the leakage stages) and a few epochs to trade light for fidelity. SSIM does
#   not improve on Fashion-MNIST, though PSNR does (in this book's SSIM, not on the substitute photographs
#   either). The lower-NA inputs (89.6, 149.3 and 224 µm on this grid, not 84, 134.4 and 168) gain about
#   1.2-1.3x rather than 2-3x, and the most robust IR network (p up to 4) does not yet beat its input
#   over a wider range: both tasks need more than a few epochs. The D2NN-style network stays below its
#   input: without a Fourier aperture its Kerr layers self-focus the light, which a few epochs cannot undo.
#   The wider network gains light but not PSNR. The classifier reaches about 80 % (paper 94.8 %).
# * **The linear network** lands slightly *above* its input, where the paper finds it slightly below.
#   Started at the identity, its masks learn a mild apodisation that suppresses the ringing of coherent
#   low-pass imaging; it cannot create frequencies beyond the input NA, so its resolution gain is small.
#   This is the measured result at this scale, not bent to agree. Since it beats its input too, "the output
#   beats its input" alone does not show what the nonlinearity adds: the claim `f4_beats_linear` compares
#   the nonlinear network's gain with this trained linear network's, the strongest baseline here.
# * **Substituted:** Quick, Draw! by Imagenette photographs in grey; the D2NN spacing (not in the paper);
#   zero-phase initialisation and per-batch intensity draws at tiny scale; a x1.5 rather than x2 wider
#   network at tiny scale. The polychromatic network assumes the Kerr layer responds to the total intensity
#   and that the pixelated mask is seen through fixed lenses (the supplement's details are not available).

# %% tags=["nbval-ignore-output"]
path = results.write()
results  # shown as tables (in plain text: print(results.table()))
