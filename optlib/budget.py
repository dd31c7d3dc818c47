"""Memory and time estimates for dry runs of full-scale configurations (no heavy work is done)."""
from __future__ import annotations

import math
import time
from typing import Sequence

import torch

from . import fft


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


_RATE = {}


def fft_seconds_per_point(device="cpu", dtype=torch.complex64, n: int = 256) -> float:
    """Measured seconds per (N log2 N) of a 2-D FFT on ``device`` (cached; a few milliseconds to measure)."""
    key = (str(device), dtype)
    if key not in _RATE:
        x = torch.randn(n, n, dtype=dtype, device=device)
        # the first calls pay for thread start-up and FFT plans (100x slower here): warm up, then take the
        # fastest of many repeats, which is what a long training run sees
        for _ in range(10):
            fft.fft2(x)
        times = []
        for _ in range(20):
            t = time.perf_counter()
            fft.fft2(x)
            times.append(time.perf_counter() - t)
        _RATE[key] = min(times) / (n * n * math.log2(n * n))
    return _RATE[key]


def fft_time(shape: Sequence[int], count: int = 1, dtype=torch.complex64, device="cpu") -> float:
    """Estimated seconds for ``count`` 2-D FFTs of ``shape`` on ``device``, scaled by N log N from a measurement."""
    npts = math.prod(shape)
    return count * npts * math.log2(max(npts, 2)) * fft_seconds_per_point(device, dtype)


def required_valid(rows) -> bool:
    """True when every dry-run row marked ``note == "required"`` is valid."""
    return all(r["valid"] for r in rows if r["note"] == "required")


def format_rows(rows, width: int = 44) -> list:
    """Dry-run rows (step, valid, bytes, seconds) as report lines, times in hours of FFT work here."""
    return [f"{r['step']:<{width}} valid {str(r['valid']):<5} memory {human_bytes(r['bytes']):>10}  "
            f"time ~{r['seconds'] / 3600:.2f} h (FFT work on this machine)" for r in rows]


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
