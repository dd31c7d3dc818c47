"""Training utilities: seeding, device choice, atomic checkpoints with resume, a fit loop with tqdm
progress and timing, and data parallelism under ``torchrun`` (torch.distributed).

Checkpoints hold only tensors and plain Python values and are read with ``torch.load(weights_only=True)``:
a checkpoint from someone else cannot run code.
"""
from __future__ import annotations

import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
import torch.distributed as dist


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU ``torch.Generator`` seeded with ``seed`` for explicit use."""
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def randn(shape, like: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Standard normal noise of ``shape`` with ``like``'s dtype and device, drawn on ``generator``'s device (a CPU
    generator stays reproducible whatever device the model runs on) and moved to ``like``'s."""
    dev = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, dtype=like.dtype, device=dev).to(like.device)


def rand(shape, like: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Uniform [0, 1) noise, as :func:`randn`."""
    dev = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, dtype=like.dtype, device=dev).to(like.device)


def default_device(prefer: Optional[str] = None) -> torch.device:
    """``prefer`` if given, else CUDA when available, else CPU (never hard-coded)."""
    if prefer:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def use_device(name: str = "auto", cpu_threads: Optional[int] = 2) -> torch.device:
    """The device a chapter runs on: ``"auto"`` (CUDA when present, else the CPU), ``"cpu"``, ``"cuda"`` or
    ``"cuda:N"``. On the CPU the intra-op threads are pinned to ``cpu_threads`` (at most the cores there are, shared
    out among the processes torchrun started on this machine, ``LOCAL_WORLD_SIZE``: more threads than cores make
    every process wait for descheduled ones), so that runs are reproducible and comparable; on a GPU nothing is
    pinned. Raises ``ValueError`` for a device that is not there, naming it."""
    dev = default_device(None if name in (None, "", "auto") else name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no CUDA device; use device: cpu or auto")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {name!r}")
    if dev.type == "cpu" and cpu_threads:
        cores = (os.cpu_count() or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
        torch.set_num_threads(max(1, min(int(cpu_threads), cores)))
    return dev


def save_checkpoint(path, state: Dict) -> Path:
    """Write ``state`` atomically: to a temporary file in the same folder, then ``os.replace``.

    An interrupted write leaves the previous checkpoint intact; a temporary file left by a writer that was
    killed mid-write is removed by the next write to the same path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(path.name + ".*.tmp"):  # left by a writer killed mid-write (no finally ran)
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_checkpoint(path, map_location="cpu") -> Dict:
    """Read a checkpoint written by :func:`save_checkpoint` (``weights_only=True``: data, never code)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:
        raise ValueError(f"{path} is not a valid optlib checkpoint ({e}); delete it to start over") from e


@dataclass
class FitResult:
    """What :func:`fit` did: per-step losses, steps run in this call, wall time, and the resume point."""

    history: List[float] = field(default_factory=list)
    steps_run: int = 0
    runtime_s: float = 0.0
    resumed_from: int = 0


def run_key(name: str, params: Dict, ignore=("device", "checkpoint_dir"), **extra) -> str:
    """A checkpoint key for :func:`fit`: the run's ``name``, the ``extra`` settings and every parameter of
    ``params`` but those in ``ignore`` (where it runs, where it saves), as a deterministic string."""
    return repr((name, sorted(extra.items()), sorted((k, v) for k, v in params.items() if k not in ignore)))


def fit(step_fn: Callable[[int], torch.Tensor], params_module: torch.nn.Module, optimizer: torch.optim.Optimizer,
        n_steps: int, scheduler=None, checkpoint: Optional[str] = None, checkpoint_every: int = 100,
        progress: bool = True, desc: str = "fit", time_budget_s: Optional[float] = None,
        generator: Optional[torch.Generator] = None, state: Optional[Dict] = None,
        key: Optional[str] = None, sum_over_ranks: bool = False) -> FitResult:
    """Run ``n_steps`` of ``loss = step_fn(step); loss.backward(); optimizer.step()``.

    Args:
        step_fn: computes the loss of step ``step`` (draw the batch inside, from ``generator``), or an iterable
            of micro-batch losses (gradient accumulation): each is backpropagated as it comes, so a generator
            holds one micro-batch's graph at a time; the step's gradient and recorded loss are their sums.
        params_module: the module whose ``state_dict`` is checkpointed (the model, or a ModuleList of parts).
        checkpoint: file path; if it exists the run resumes from it (model, optimiser, scheduler, step,
            history, RNG states, ``state``), and it is rewritten atomically every ``checkpoint_every`` steps and
            at the end. A resumed run is bitwise identical to an uninterrupted one.
        state: the loop's own state that ``step_fn`` keeps between steps (e.g. the epoch's permutation, a
            per-epoch draw), a dict of tensors, numbers or None: saved with each checkpoint and restored in
            place on resume, so that a run can resume mid-epoch.
        key: what determines the result (e.g. the parameters, as a string): stored in the checkpoint; a
            checkpoint with another key, or with more steps than ``n_steps``, is refused with both named
            (a changed learning rate is never silently replaced by the checkpoint's).
        time_budget_s: stop early after this much wall time (for equal-compute comparisons).
        progress: show a tqdm bar (rank 0 only under torch.distributed).
        sum_over_ranks: under torch.distributed (torchrun), the loss is a sum of shares, one per rank (e.g. each
            rank's fields of a design over the field of view): every parameter's gradient and the recorded loss
            are summed over the ranks before the step, so each rank takes the single-process step (a parameter
            no rank's share reaches keeps no gradient, as it would alone). Without torch.distributed it does
            nothing. (A model wrapped by :func:`data_parallel` averages its gradients itself: leave this off.)
    """
    from tqdm.auto import tqdm

    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    if sum_over_ranks and world > 1 and time_budget_s is not None:
        raise ValueError("fit(sum_over_ranks=True) under torch.distributed cannot stop on a time budget: the ranks "
                         "would stop at different steps and wait for each other forever; give n_steps alone")
    res = FitResult()
    start = 0
    if checkpoint and Path(checkpoint).is_file():
        st = load_checkpoint(checkpoint)
        if key is not None and st.get("key") != key:
            raise ValueError(f"{checkpoint} belongs to another run (its key {st.get('key')!r} != {key!r}); use "
                             "another checkpoint path, or delete it to start afresh")
        if int(st["step"]) > n_steps:
            raise ValueError(f"{checkpoint} has {int(st['step'])} steps done, more than the {n_steps} asked; ask for "
                             "at least as many, or delete it to start afresh")
        params_module.load_state_dict(st["model"])
        optimizer.load_state_dict(st["optimizer"])
        if scheduler is not None and "scheduler" in st:
            scheduler.load_state_dict(st["scheduler"])
        torch.set_rng_state(st["torch_rng"])
        if generator is not None and "generator" in st:
            generator.set_state(st["generator"])
        if state is not None:
            state.update(st.get("loop_state", {}))
        start = int(st["step"])
        res.history = list(st["history"])
        res.resumed_from = start

    def _save(step):
        if not checkpoint or rank != 0:
            return
        st = {"model": params_module.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
              "history": torch.tensor(res.history, dtype=torch.float64), "torch_rng": torch.get_rng_state()}
        if scheduler is not None:
            st["scheduler"] = scheduler.state_dict()
        if generator is not None:
            st["generator"] = generator.get_state()
        if state is not None:
            st["loop_state"] = dict(state)
        if key is not None:
            st["key"] = key
        save_checkpoint(checkpoint, st)

    t0 = time.perf_counter()
    bar = tqdm(range(start, n_steps), desc=desc, disable=not progress or rank != 0, initial=start, total=n_steps,
               leave=False, mininterval=1.0)  # one redraw a second: a notebook's output queue stays short
    step = start
    for step in bar:
        optimizer.zero_grad(set_to_none=True)
        out = step_fn(step)
        lv = 0.0
        for loss in ((out,) if isinstance(out, torch.Tensor) else out):  # one loss, or micro-batch losses
            loss.backward()  # gradients add up; a generator's graphs are freed one by one
            lv += float(loss.detach())
        if sum_over_ranks and world > 1:
            lv = _sum_grads_over_ranks(params_module, lv)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        res.history.append(lv)
        res.steps_run += 1
        if progress and rank == 0 and (step % 10 == 0 or step == n_steps - 1):
            bar.set_postfix(loss=f"{lv:.4g}", refresh=False)  # shown at the next redraw
        if checkpoint and (step + 1) % checkpoint_every == 0:
            _save(step + 1)
        if time_budget_s is not None and time.perf_counter() - t0 >= time_budget_s:
            step += 1
            break
    else:
        step = n_steps
    bar.close()
    res.runtime_s = time.perf_counter() - t0
    if res.steps_run:
        _save(step)
    return res


def _sum_grads_over_ranks(module: torch.nn.Module, loss: float) -> float:
    """Sum every parameter's gradient of ``module`` and the step's ``loss`` over the ranks (in place); a
    parameter without a gradient on every rank keeps none. Returns the summed loss."""
    params = [q for q in module.parameters() if q.requires_grad]
    dev = params[0].device if params else torch.device("cpu")
    # which parameters any rank reached, and the loss, in one small reduction
    flags = torch.tensor([float(q.grad is not None) for q in params] + [loss], dtype=torch.float64, device=dev)
    dist.all_reduce(flags, op=dist.ReduceOp.SUM)
    for q, reached in zip(params, flags[:-1].tolist()):
        if reached:
            if q.grad is None:
                q.grad = torch.zeros_like(q)
            dist.all_reduce(q.grad, op=dist.ReduceOp.SUM)
    return float(flags[-1])


# --- torch.distributed (torchrun) ------------------------------------------------------------------------
def distributed_setup(backend: Optional[str] = None):
    """Initialise torch.distributed when launched by ``torchrun`` (env RANK/WORLD_SIZE set).

    Returns ``(rank, world_size, device)``: NCCL on one GPU per process when CUDA is available, else gloo on
    the CPU. Without torchrun it returns ``(0, 1, default_device())`` and does nothing.
    """
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return 0, 1, default_device()
    if not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        dist.init_process_group(backend=backend)
    rank, world = dist.get_rank(), dist.get_world_size()
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return rank, world, device


def distributed_cleanup():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(n: int, rank: int, world: int) -> range:
    """The contiguous share of ``range(n)`` for ``rank`` of ``world`` (sizes differ by at most one)."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def step_subset(n: int, k: int, seed: int, step: int) -> List[int]:
    """``k`` of ``range(n)``, sorted, drawn at random for training step ``step`` (all of them when k >= n), from a
    generator seeded by ``seed`` and ``step`` alone: every process draws the same items and a resumed run repeats
    them, with no generator to checkpoint (e.g. which points of a PSF map a design step uses)."""
    for name, v in (("n", n), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"step_subset: {name} must be a whole number >= 1, got {v!r}")
    if k >= n:
        return list(range(n))
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step))
    return sorted(torch.randperm(n, generator=g)[:k].tolist())


def data_parallel(model: torch.nn.Module, device=None) -> torch.nn.Module:
    """Wrap ``model`` in DistributedDataParallel when torch.distributed is initialised, else return it."""
    if dist.is_available() and dist.is_initialized():
        from torch.nn.parallel import DistributedDataParallel as DDP
        if device is not None and torch.device(device).type == "cuda":
            return DDP(model, device_ids=[torch.device(device).index])
        return DDP(model)
    return model


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """Average ``t`` over ranks (identity when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= dist.get_world_size()
    return t
