"""The CPU rates the dry runs use (optlib.budget.CPU): complex64 2-D FFT and matrix-product throughput on this
machine, by the counts of optlib.budget (5 N log2 N per FFT, 8 per complex multiply-add). Each is the median of
interleaved repeats after a warm-up; run it on a quiet machine and copy the two numbers into optlib/budget.py
(measured once and stated there, so a dry run never re-measures). Usage: python benchmarks/bench_rates.py"""
import statistics
import time

import torch

from optlib import budget, fft


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(n_fft: int = 2048, n_mm: int = 1024, repeats: int = 9) -> dict:
    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_fft, n_fft, dtype=torch.complex64, generator=g)
    a = torch.randn(n_mm, n_mm, dtype=torch.complex64, generator=g)
    b = torch.randn(n_mm, n_mm, dtype=torch.complex64, generator=g)
    for _ in range(3):  # plans, threads, caches
        fft.fft2(x)
        a @ b
    t_fft, t_mm = [], []
    for _ in range(repeats):  # interleaved: both see the same machine load
        t_fft.append(timed(lambda: fft.fft2(x)))
        t_mm.append(timed(lambda: a @ b))
    rates = {"fft": budget.fft_flops((n_fft, n_fft)) / statistics.median(t_fft),
             "matmul": budget.matmul_flops(n_mm, n_mm, n_mm) / statistics.median(t_mm)}
    print(f"complex64 fft2 {n_fft}^2: median {statistics.median(t_fft) * 1e3:.1f} ms -> {rates['fft'] / 1e9:.1f} GFLOP/s "
          f"(optlib.budget.CPU_FFT_FLOPS = {budget.CPU_FFT_FLOPS / 1e9:.1f} GFLOP/s)")
    print(f"complex64 matmul {n_mm}^2: median {statistics.median(t_mm) * 1e3:.1f} ms -> {rates['matmul'] / 1e9:.1f} GFLOP/s "
          f"(optlib.budget.CPU_MATMUL_FLOPS = {budget.CPU_MATMUL_FLOPS / 1e9:.1f} GFLOP/s)")
    return rates


if __name__ == "__main__":
    main()
