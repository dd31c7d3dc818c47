"""Memory and time estimates for dry runs of full-scale configurations (no heavy work is done).

Times come from counted work (FFT and matrix-product FLOPs per step, times the number of steps) at rates that
were measured once on this project's machine (the CPU) or are stated (a GPU class): a dry run measures
nothing, so the same configuration always gets the same estimate. They are the floor of each step's FFT and
matmul work, not its whole cost; where the paper reports its own times, the dry run prints them beside."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} TiB"


def fft_bytes(shape: Sequence[int], dtype=torch.complex64, batch: int = 1, temporaries: int = 4) -> int:
    """Peak bytes of an FFT pipeline on ``shape`` (input, spectrum, kernel, output ~ ``temporaries`` arrays)."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    return int(batch * temporaries * math.prod(shape) * itemsize)


#: complex64 rates of this project's 2-core CI machine, measured once by benchmarks/bench_rates.py
CPU_FFT_FLOPS = 20.4e9     # fft2 of 2048^2: 22-23 ms (two runs of 9 repeats)
CPU_MATMUL_FLOPS = 325e9   # (1024, 1024) @ (1024, 1024): 26-27 ms


@dataclass(frozen=True)
class Rate:
    """Sustained throughput of one class of device, for the dry runs' time estimates.

    ``fft``: FLOP/s on large complex64 2-D FFTs, counting 5 N log2 N per transform of N points; ``matmul``:
    FLOP/s on complex64 matrix products, counting 8 per complex multiply-add; ``source``: where the numbers
    come from (measured once and stated here, never re-measured by a dry run)."""
    name: str
    fft: float
    matmul: float
    source: str


CPU = Rate("2-core CPU", fft=CPU_FFT_FLOPS, matmul=CPU_MATMUL_FLOPS,
           source="measured 2026-12-06 on this project's CI machine (AMD EPYC, 2 threads, torch 2.13.0+cpu, MKL) by "
                  "benchmarks/bench_rates.py: complex64 fft2 at 2048^2, complex64 matmul at 1024^2")
#: a data-centre GPU of the A100 class, stated (no GPU was available to measure): cuFFT on large complex64 grids
#: is bound by memory bandwidth (about 1.5 TB/s; a 2-D transform reads and writes the array about three
#: times), about 4 TFLOP/s by the 5 N log2 N count; complex64 matmul in FP32 without TF32 (PyTorch's default),
#: about 15 of its 19.5 TFLOP/s peak
GPU = Rate("A100-class GPU", fft=4e12, matmul=15e12,
           source="stated, not measured: memory-bound cuFFT at ~1.5 TB/s, FP32 matmul at ~15 TFLOP/s")
RATES = (CPU, GPU)


def fft_flops(shape: Sequence[int], count: int = 1) -> float:
    """FLOPs of ``count`` 2-D complex FFTs of ``shape``: 5 N log2 N each (the usual count for a radix-2 FFT)."""
    npts = math.prod(shape)
    return count * 5.0 * npts * math.log2(max(npts, 2))


def matmul_flops(m: int, k: int, n: int, count: int = 1) -> float:
    """FLOPs of ``count`` complex (m, k) @ (k, n) matrix products: 8 per complex multiply-add."""
    return count * 8.0 * m * k * n


def step(name: str, valid: bool, nbytes: float, fft: float = 0.0, matmul: float = 0.0, steps: int = 1,
         note: str = "", paper: str = "") -> dict:
    """One dry-run row: ``fft`` and ``matmul`` FLOPs of ONE step (see :func:`fft_flops`, :func:`matmul_flops`),
    repeated ``steps`` times; ``nbytes`` (bytes) its peak memory; ``paper`` the paper's own reported time."""
    if int(steps) < 1 or not (fft >= 0 and matmul >= 0):
        raise ValueError(f"dry-run row {name!r}: steps must be >= 1 and FLOPs >= 0 (got {steps}, {fft}, {matmul})")
    return {"step": name, "valid": bool(valid), "bytes": int(nbytes), "fft_flops": float(fft),
            "matmul_flops": float(matmul), "steps": int(steps), "note": note, "paper": paper}


def seconds(row: dict, rate: Rate = CPU, total: bool = True) -> float:
    """Estimated seconds of a row on ``rate``'s device: of all its steps (``total``) or of one."""
    one = row["fft_flops"] / rate.fft + row["matmul_flops"] / rate.matmul
    return one * (row["steps"] if total else 1)


def human_time(s: float) -> str:
    """A duration (s) in the unit that reads best: ms, s, min, h or days."""
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    if s < 3 * 86400:
        return f"{s / 3600:.3g} h"
    return f"{s / 86400:.3g} d"


def required_valid(rows) -> bool:
    """True when every dry-run row marked ``note == "required"`` is valid."""
    return all(r["valid"] for r in rows if r["note"] == "required")


def format_rows(rows, width: int = 44) -> list:
    """Dry-run rows as report lines: validity, peak memory, time per step and in total on the CPU and on the
    GPU class of :data:`RATES` (counted FLOPs at stated rates: the floor of each step's FFT and matmul work,
    not its whole cost), the paper's own reported time where there is one; then where the rates come from."""
    out = [f"{'step':<{width}} {'valid':<5} {'memory':>10} {'steps':>7}   {'per step: CPU':>13} {'GPU':>9}"
           f"   {'total: CPU':>10} {'GPU':>9}   paper"]
    for r in rows:
        out.append(f"{r['step'][:width]:<{width}} {str(r['valid']):<5} {human_bytes(r['bytes']):>10} {r['steps']:>7}"
                   f"   {human_time(seconds(r, CPU, False)):>13} {human_time(seconds(r, GPU, False)):>9}"
                   f"   {human_time(seconds(r, CPU)):>10} {human_time(seconds(r, GPU)):>9}   {r.get('paper', '')}")
    out.append("times: counted FFT and matmul FLOPs at the rates below, the floor of each step's work, not its "
               "whole cost; the paper's own measurements, where it reports them, are beside")
    for rate in RATES:
        out.append(f"{rate.name}: FFT {rate.fft / 1e9:.4g} GFLOP/s, matmul {rate.matmul / 1e9:.4g} GFLOP/s "
                   f"({rate.source})")
    return out


def median_seconds(fn, repeats: int = 3) -> float:
    """Median wall time (s) of ``fn()`` over ``repeats`` calls after one warm-up call."""
    import time
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]
