"""Metasurface elements fitted to target kernels: the signed-kernel bookkeeping of an optical first layer and a
sharded, resumable per-element optimiser (the machinery of direct kernel optimisation, Almuallem et al.;
the objective itself, Eq. 5, is written by its caller).

A first convolution with weights ``W`` of shape ``(L, 3, t, t)`` (L output channels, RGB input) becomes
``6L`` metasurface elements, ordered ``(l, c, s)`` with ``s = 0`` the positive and ``s = 1`` the negative
part ``h± = (±h + |±h|) / 2`` (:func:`split_signed`). Element ``(l, c, s)`` sees colour band ``c`` only
(a narrowband filter at ``wavelengths[c]``).

Orientation. Optics convolve (``I * h``); a CNN layer correlates (``sum_j w_j x_{y+j}``). The physical kernel
that realises weight ``w`` is therefore ``h(u) = w(-u)``: :func:`targets` flips the weights and :func:`compose`
flips the kernels back, so the fitted element kernels are the ones a sensor would record.

Scale. A passive element cannot put more power on the sensor than passes its aperture, so its kernel
(fraction of that power per pixel, :class:`~optlib.meta.kernels.KernelOptics`) sums to at most 1. The
targets are therefore ``alpha_l h±`` with one factor per output channel,
``alpha_l = efficiency / max_{c,s} sum(h±_{l,c,s})``: the brightest of channel ``l``'s six elements sends
``efficiency`` of its light into the window and the others proportionally less (they steer the rest
outside it). The electronic side divides by ``alpha_l``: this is the one gain per output channel that the
subtraction ``h+ - h-`` implies (:func:`compose`).

Each element's fit is independent (its loss involves only its own phase and Adam's update is
elementwise), so fitting chunks of elements one after another, or on different ranks
(:func:`fit_elements` with ``rank``/``world``), gives exactly the phases of one joint optimisation.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence

import torch

from .. import train
from .kernels import KernelOptics


def split_signed(weight: torch.Tensor) -> torch.Tensor:
    """``(L, C, t, t)`` signed kernels -> ``(L, C, 2, t, t)`` non-negative parts ``[relu(w), relu(-w)]``."""
    return torch.stack([weight.clamp(min=0), (-weight).clamp(min=0)], dim=2)


def element_wavelengths(n_out: int, wavelengths: Sequence[float]) -> torch.Tensor:
    """Wavelength (m) of each of the ``2 C n_out`` elements, in ``(l, c, s)`` order, float64."""
    wl = torch.as_tensor(list(wavelengths), dtype=torch.float64)
    return wl[None, :, None].expand(n_out, -1, 2).reshape(-1).clone()


def targets(weight: torch.Tensor, efficiency: float = 0.8):
    """Target kernels and gains for a first-layer weight ``(L, C, t, t)``.

    Returns ``(T, alpha)``: ``T`` ``(2 C L, t, t)`` non-negative target kernels in ``(l, c, s)`` order (fractions of
    aperture power per pixel) and ``alpha`` ``(L,)``, the scale applied to channel ``l`` (divide by it to get back
    the weights' units).
    """
    if not 0 < efficiency <= 1:
        raise ValueError(f"efficiency must be in (0, 1] (a passive element), got {efficiency}")
    w = weight.detach().flip((-2, -1))
    parts = split_signed(w)                                            # (L, C, 2, t, t)
    sums = parts.sum(dim=(-2, -1)).flatten(1).amax(1)                  # (L,)
    if bool((sums <= 0).any()):
        raise ValueError("a first-layer output channel is all zeros; nothing to fit")
    alpha = efficiency / sums
    T = parts * alpha[:, None, None, None, None]
    return T.reshape(-1, *w.shape[-2:]), alpha


def compose(kernels: torch.Tensor, gains: torch.Tensor, n_in: int = 3) -> torch.Tensor:
    """Optical kernels ``(2 C L, t, t)`` in ``(l, c, s)`` order and gains ``(L,)`` -> signed weight ``(L, C, t, t)``
    ``= gain_l (k+ - k-)``."""
    t = kernels.shape[-1]
    k = kernels.reshape(-1, n_in, 2, t, t)
    return (gains[:, None, None, None] * (k[:, :, 0] - k[:, :, 1])).flip((-2, -1))


def initial_phase(optics: KernelOptics, wavelengths: torch.Tensor, seed: int = 0, noise: float = 0.5,
                  dtype=torch.float32, device=None, elements: Optional[Sequence[int]] = None) -> torch.Tensor:
    """Start of every fit: a lens focusing on the window's centre plus a weak random phase screen (rad),
    smoothed over 5 samples, so that light starts inside the window and the elements are not identical.

    Element ``e``'s screen depends only on ``(seed, e)``, so any subset (a chunk, a rank's shard) can be built
    alone and equals the same rows of the whole set. ``elements``: the indices of ``wavelengths`` to build
    (default all)."""
    wl = torch.as_tensor(wavelengths, dtype=torch.float64).flatten()
    idx = list(range(wl.numel())) if elements is None else list(elements)
    n = optics.n
    ph = optics.lens_phase(wl[idx], device="cpu", dtype=torch.float64)
    r = torch.stack([torch.randn(1, n, n, generator=torch.Generator().manual_seed(seed * 1_000_003 + int(e)),
                                 dtype=torch.float64) for e in idx])
    r = torch.nn.functional.avg_pool2d(r, 5, stride=1, padding=2, count_include_pad=False)[:, 0]
    r = r / r.flatten(1).std(1)[:, None, None]
    return (ph + noise * r).to(device=device, dtype=dtype)


def fingerprint(key) -> str:
    """A short SHA-256 of ``key`` (nested dicts/lists of numbers, strings and tensors): what determines a result,
    to tell a checkpoint of this run from one of another."""
    h = hashlib.sha256()

    def feed(v):
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
        elif isinstance(v, dict):
            h.update(b"{")
            for k in sorted(v):
                h.update(repr(k).encode())
                feed(v[k])
            h.update(b"}")
        elif isinstance(v, (list, tuple)):
            h.update(b"[")
            for x in v:
                feed(x)
            h.update(b"]")
        else:
            h.update(repr(v).encode())

    feed(key)
    return h.hexdigest()[:16]


def fit_elements(loss: Callable[[torch.Tensor, range], torch.Tensor], init: Callable[[range], torch.Tensor],
                 n_elements: int, iterations: int = 150, lr: float = 0.1, chunk: Optional[int] = None,
                 checkpoint_dir: Optional[str] = None, key=None, rank: int = 0, world: int = 1,
                 progress: bool = True, device=None, dtype=torch.float32, snapshots: Sequence[int] = ()) -> Dict:
    """Fit one phase map per element with Adam: ``loss(phase, elements)`` returns the per-element losses
    ``(len(elements),)`` of the phases ``(len(elements), n, n)`` of the elements in the range ``elements``;
    ``init(elements)`` their starting phases.

    Args:
        chunk: elements optimised together (default all this rank owns); the result does not depend on it.
        checkpoint_dir: if given, every finished chunk is written there atomically (``chunk_<first>_<last>.pt``)
            and reused when the run is restarted (resume after interruption).
        key: what determines the result besides the element range (the objective's set-up, targets,
            wavelengths, seed, ...); its :func:`fingerprint`, with ``iterations``, ``lr`` and ``dtype``, is stored in
            each chunk checkpoint, and a checkpoint with another fingerprint is refused (a rerun into the same
            folder with changed settings must not mix two runs).
        rank, world: fit only ``train.shard(n_elements, rank, world)`` (one process per GPU under torchrun).
        snapshots: iteration counts at which to keep a copy of the phases (``result['snapshots'][i]``).

    Returns a dict with ``phase`` (E, n, n; NaN rows for elements other ranks own), ``loss`` (E,) final
    per-element loss, ``history`` (iterations,) summed loss of the first chunk, ``elements`` (the indices
    fitted here), ``seconds`` (wall time) and ``step_seconds`` (one iteration over the first chunk).
    """
    E = int(n_elements)
    mine = train.shard(E, rank, world)
    chunk = chunk or max(1, len(mine))
    tag = fingerprint({"key": key, "iterations": iterations, "lr": lr, "dtype": str(dtype),
                       "snapshots": sorted(int(i) for i in snapshots)})
    phase = loss_out = None
    history, step_seconds = [], None
    snaps: Dict[int, torch.Tensor] = {}
    t0 = time.perf_counter()
    ckdir = Path(checkpoint_dir) if checkpoint_dir else None
    from tqdm.auto import tqdm
    bar = tqdm(total=len(mine) * iterations, desc=f"fit rank {rank}", disable=not progress, leave=False,
               mininterval=1.0)
    for start in range(mine.start, mine.stop, chunk):
        els = range(start, min(mine.stop, start + chunk))
        path = ckdir / f"chunk_{els.start}_{els.stop - 1}.pt" if ckdir else None
        st = None
        if path is not None and path.is_file():
            st = train.load_checkpoint(path)
            if st.get("fingerprint") != tag:
                raise ValueError(f"{path} was written by a run with other settings (fingerprint {st.get('fingerprint')} "
                                 f"!= {tag}); use another checkpoint folder or delete it to start afresh")
            p_fit, l_fit = st["phase"].to(dtype), st["loss"]
            bar.update(len(els) * iterations)
        else:
            p = init(els).detach().clone().to(device=device, dtype=dtype).requires_grad_(True)
            opt = torch.optim.Adam([p], lr=lr)
            kept = {}
            for it in range(iterations):
                ts = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                per = loss(p, els)
                per.sum().backward()
                opt.step()
                if it + 1 in set(int(i) for i in snapshots):
                    kept[str(it + 1)] = p.detach().cpu().clone()
                if start == mine.start:
                    history.append(float(per.detach().sum()))
                    if it == 1:
                        step_seconds = time.perf_counter() - ts
                bar.update(len(els))
            with torch.no_grad():
                l_fit = loss(p, els).double().cpu()
            p_fit = p.detach().cpu()
            st = {"phase": p_fit.clone(), "loss": l_fit.clone(), "snapshots": kept, "fingerprint": tag}
            if path is not None:
                train.save_checkpoint(path, st)
        if phase is None:
            phase = torch.full((E, *p_fit.shape[1:]), float("nan"), dtype=dtype)
            loss_out = torch.full((E,), float("nan"), dtype=torch.float64)
            snaps = {int(i): torch.full_like(phase, float("nan")) for i in snapshots}
        phase[els.start:els.stop], loss_out[els.start:els.stop] = p_fit.to(dtype), l_fit
        for i in snaps:
            snaps[i][els.start:els.stop] = st["snapshots"][str(i)].to(dtype)
    bar.close()
    return {"phase": phase, "loss": loss_out, "history": torch.tensor(history, dtype=torch.float64),
            "elements": mine, "seconds": time.perf_counter() - t0, "step_seconds": step_seconds,
            "snapshots": snaps}


def gather_shards(values: torch.Tensor, elements: range) -> torch.Tensor:
    """Under torch.distributed, give every rank all elements' rows of a per-element tensor (phases, losses),
    of which this rank filled ``elements`` (the rest NaN); without it, return ``values`` as it is."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return values
    mask = torch.zeros(values.shape[0], dtype=values.dtype)
    mask[elements.start:elements.stop] = 1
    full = torch.nan_to_num(values, nan=0.0) * mask.reshape(-1, *([1] * (values.dim() - 1)))
    dist.all_reduce(full)
    return full


def kernel_metrics(fitted: torch.Tensor, target: torch.Tensor) -> Dict[str, float]:
    """Table 3's numbers over all kernels: mean NCC (zero-mean, per kernel), RMSE and MAE (in the units given;
    pass both in the CNN weights' units). Kernels whose target is constant have no defined NCC and are left
    out of its mean (counted in ``ncc_undefined``)."""
    f = fitted.detach().double().flatten(1)
    t = target.detach().double().flatten(1)
    fc, tc = f - f.mean(1, keepdim=True), t - t.mean(1, keepdim=True)
    den = torch.sqrt((fc ** 2).sum(1) * (tc ** 2).sum(1))
    ok = (tc ** 2).sum(1) > 1e-20 * max(float((t ** 2).sum(1).max()), 1e-300)
    ncc = (fc * tc).sum(1)[ok] / den[ok]
    return {"ncc": float(ncc.mean()), "ncc_min": float(ncc.min()), "rmse": float(torch.sqrt(((f - t) ** 2).mean())),
            "mae": float((f - t).abs().mean()), "ncc_undefined": int((~ok).sum()), "n": int(f.shape[0]),
            "ncc_each": ncc}


def unit_kernels(kernels: torch.Tensor, alpha: torch.Tensor, n_in: int = 3) -> torch.Tensor:
    """Element kernels ``(2 C L, t, t)`` divided by their channel's ``alpha``: back in the weights' units."""
    a = alpha[:, None].expand(-1, 2 * n_in).reshape(-1)
    return kernels / a[:, None, None].to(kernels.dtype)
