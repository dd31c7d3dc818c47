"""Every resumable loop of the book, killed at a random step and resumed from its checkpoint in fresh objects,
ends bitwise equal to an uninterrupted run: the depth network (chapter 03), the DKO element fit (chapter 03),
and the all-optical SR training with its per-epoch order and intensity and the detector classifier (chapter 02).
(Chapter 01's loops draw everything from their generator, the case of the depth network.)

Each loop below is the chapter's step function on the same library parts (model classes, losses, generators,
loop state), at a toy size. The kill is an exception raised inside the step (or the per-element loss) at a step
drawn from a seeded generator; everything the resumed run needs must come from the checkpoint: its model, its
optimiser and its generator are built anew from another seed.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import optlib as ol
import papers.dko as X
import papers.kleiner2025 as aosr
from optlib.meta import KernelOptics
from optlib.meta import fit as kfit
from optlib.nn.depth import DepthNet, ResNetConfig


class Killed(Exception):
    """Stands for the process being killed mid-run."""


def kill_at(k, fn):
    """``fn`` that raises :class:`Killed` when called for the ``k``-th time (0-based)."""
    calls = [0]

    def wrapped(*a):
        if calls[0] == k:
            raise Killed(k)
        calls[0] += 1
        return fn(*a)
    return wrapped


EVERY = 4  # checkpoint interval: not a multiple of the toy epochs' 3 steps, so runs resume mid-epoch


def random_kill_steps(n_steps, draws=2, seed=2026, first=EVERY + 1):
    """Steps to kill at, drawn at random from ``first`` to ``n_steps - 1`` (after the first checkpoint; seeded, so
    that a failure can be replayed; shown in the test id)."""
    rng = np.random.default_rng(seed)
    return sorted(int(k) for k in rng.choice(np.arange(first, n_steps), size=draws, replace=False))


def interrupted_then_resumed(make_loop, n_steps, k, tmp_path, every=EVERY):
    """Run ``make_loop(seed)`` -> ``(step, module, opt, sched, gen, state)`` uninterrupted; then killed at step
    ``k`` with checkpoints every ``every`` steps; then resumed in a loop built from another seed. Returns the
    uninterrupted and the resumed (module, history)."""
    def run(loop, **kw):
        step, module, opt, sched, gen, state = loop
        kw.setdefault("key", "test-run")
        return module, ol.train.fit(step if "kill" not in kw else kill_at(kw.pop("kill"), step), module, opt, n_steps,
                                    sched, progress=False, generator=gen, state=state, checkpoint_every=every, **kw)

    ref_module, ref = run(make_loop(0))
    ck = str(tmp_path / "run.pt")
    with pytest.raises(Killed):
        run(make_loop(0), checkpoint=ck, kill=k)
    module, res = run(make_loop(99), checkpoint=ck)  # another seed: all its state must come from the checkpoint
    assert res.resumed_from == (k // every) * every and res.steps_run == n_steps - res.resumed_from
    return (ref_module, ref.history), (module, res.history)


def assert_bitwise(a, b):
    (ma, ha), (mb, hb) = a, b
    assert ha == hb  # the same losses, step by step, to the last bit
    for (na, ta), (nb, tb) in zip(ma.state_dict().items(), mb.state_dict().items()):
        assert na == nb and torch.equal(ta, tb), na


# --- chapter 03: the depth network ---------------------------------------------------------------------------
def _depth_loop(seed):
    torch.manual_seed(seed)
    net = DepthNet(ResNetConfig(first=4, widths=(4, 4, 4, 4), decoder=(4, 4, 4, 4, 4)), min_depth=1.0,
                   max_depth=40.0).train()
    data_g = torch.Generator().manual_seed(7)  # the data are the same whatever the loop's seed
    rgb, depth = torch.rand(6, 3, 64, 64, generator=data_g), 1 + 39 * torch.rand(6, 1, 64, 64, generator=data_g)
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)

    def step(i):  # chapter 03's train_depth step
        idx = torch.randint(0, rgb.shape[0], (2,), generator=g)
        flip = bool(torch.rand((), generator=g) < 0.5)
        x, d = rgb[idx], depth[idx]
        if flip:
            x, d = x.flip(-1), d.flip(-1)
        return X.depth_loss(net(x), d, 40.0)
    return step, net, opt, None, g, None


@pytest.mark.parametrize("k", random_kill_steps(12))
def test_depth_network_resumes_bitwise(tmp_path, k):
    assert_bitwise(*interrupted_then_resumed(_depth_loop, 12, k, tmp_path))


# --- chapter 02: the all-optical SR loop (per-epoch order and intensity) and the classifier -------------------
def _sr_setup():
    return aosr.AOSRSetup(obj_px=24, pad=12, pixel=8e-6, input_radius=8000.0, mask_px=30, n_units=2)


def _sr_data(s):
    g = torch.Generator().manual_seed(5)
    obj = torch.rand(10, s.obj_px, s.obj_px, generator=g)
    obj = F.pad(obj, (s.pad,) * 4)
    inp = aosr.prepare_inputs(obj, aosr.NALowPass(s.grid, s.input_radius))
    return inp, obj


def _sr_loop(seed, batch=3):
    s = _sr_setup()
    inp, obj = _sr_data(s)
    net = aosr.AOSRNN(s, seed=seed, init="random")
    g = torch.Generator().manual_seed(seed)
    per_epoch = inp.shape[0] // batch
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.StepLR(opt, 2 * per_epoch, 0.5)
    state = {"perm": None, "p": 1.0}
    intensities = (1.0, 2.0, 4.0)

    def step(i):  # chapter 02's train() step: one order and one intensity per epoch
        e, j = divmod(i, per_epoch)
        if j == 0:
            state["perm"] = torch.randperm(inp.shape[0], generator=g)
            state["p"] = float(intensities[int(torch.randint(len(intensities), (1,), generator=g))])
        idx = state["perm"][j * batch:(j + 1) * batch]
        return aosr.sr_loss(net(inp[idx] * math.sqrt(state["p"])), obj[idx], s, 0.01)
    return step, net, opt, sched, g, state


@pytest.mark.parametrize("k", random_kill_steps(12))
def test_all_optical_sr_training_resumes_mid_epoch_bitwise(tmp_path, k):
    assert_bitwise(*interrupted_then_resumed(_sr_loop, 12, k, tmp_path))


def _classifier_loop(seed, batch=3):
    s = _sr_setup()
    inp, _ = _sr_data(s)
    labels = torch.arange(inp.shape[0]) % 10
    clf = aosr.AOSRNN(s, seed=seed, init="random")
    masks = aosr.detector_masks(s)
    g = torch.Generator().manual_seed(seed)
    per_epoch = inp.shape[0] // batch
    opt = torch.optim.Adam(clf.parameters(), lr=0.01)
    state = {"perm": None}

    def step(i):  # chapter 02's clf_step
        if i % per_epoch == 0:
            state["perm"] = torch.randperm(inp.shape[0], generator=g)
        idx = state["perm"][(i % per_epoch) * batch:(i % per_epoch + 1) * batch]
        return F.cross_entropy(aosr.class_logits(clf(inp[idx]), masks), labels[idx])
    return step, clf, opt, None, g, state


@pytest.mark.parametrize("k", random_kill_steps(10))
def test_classifier_resumes_mid_epoch_bitwise(tmp_path, k):
    assert_bitwise(*interrupted_then_resumed(_classifier_loop, 10, k, tmp_path))


# --- chapter 03: the DKO element fit (resumes at chunk granularity) --------------------------------------------
@pytest.mark.parametrize("k", random_kill_steps(3 * 40, draws=3, first=1))
def test_dko_fit_resumes_bitwise_after_a_kill(tmp_path, k):
    """Killed at the k-th evaluation of the loss (inside one of three chunks of two elements, 40 iterations
    each): the rerun reuses the finished chunks, redoes the interrupted one, and gives the same phases."""
    o = KernelOptics(n=33, z=5e-3, pixel=25e-6)
    W = torch.randn(1, 3, 7, 7, generator=torch.Generator().manual_seed(1)) * 0.1
    T, _ = kfit.targets(W, 0.6)
    wl = kfit.element_wavelengths(1, [635e-9, 532e-9, 450e-9])
    loss = X.objective(o, T, wl)
    key = X.fit_key(o, T, wl, 0)

    def run(loss_fn, **kw):
        init = lambda els: kfit.initial_phase(o, wl, 0, elements=els)  # noqa: E731
        return kfit.fit_elements(loss_fn, init, len(wl), 40, 0.2, chunk=2, progress=False, key=key, **kw)

    ref = run(loss)
    k_eval = k + k // 40  # each finished chunk also evaluates its final loss once
    with pytest.raises(Killed):
        run(kill_at(k_eval, loss), checkpoint_dir=str(tmp_path))
    assert len(list(tmp_path.glob("chunk_*.pt"))) == k // 40  # only finished chunks were written
    res = run(loss, checkpoint_dir=str(tmp_path))
    assert torch.equal(res["phase"], ref["phase"]) and torch.equal(res["loss"], ref["loss"])
