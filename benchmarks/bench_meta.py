"""Metasurface kernels (optlib.meta.KernelOptics): speed against the floor (float32, the threads torch is given).

1. The DKO chapter's tiny fit step: 96 elements of 257^2 at 2.5 um, Fresnel matrix-DFT onto 7x7 pixels (11x11
   sub-samples each), forward and forward + backward. Floor: the two bare batched complex matrix products of the
   same shapes (K A, then (K A) K^T), which any evaluation of the Fresnel integral on that window must do.
2. The paper's element: one 1025^2 phase by the band-limited angular spectrum on 2050^2, forward and forward +
   backward. Floor: one fft2 + one ifft2 of 2050^2 (forward), twice that with the backward.

Times are medians of repeats after a warm-up.

    python benchmarks/bench_meta.py [--json out.json] [--quick]
"""
import argparse
import json
import torch

from optlib.budget import median_seconds as median_time


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    a = ap.parse_args(argv)
    from optlib.meta import KernelOptics
    from optlib.meta import fit as kfit
    out = {}

    L, n_small, n_big = (1, 65, 129) if a.quick else (16, 257, 1025)
    o = KernelOptics(n=n_small)
    wl = kfit.element_wavelengths(L, [635e-9, 532e-9, 450e-9])
    E = 6 * L
    ph = torch.randn(E, o.n, o.n, requires_grad=True)
    T = torch.zeros(E, 7, 7)
    M = 7 * o.sub_samples(wl.tolist())
    fwd = median_time(lambda: o.kernels(ph.detach(), wl, check=False))

    def fb():
        ((o.kernels(ph, wl, check=False) - T) ** 2).sum().backward()
    both = median_time(fb)
    K = torch.randn(E, M, o.n, dtype=torch.complex64)
    A = torch.randn(E, o.n, o.n, dtype=torch.complex64)
    floor = median_time(lambda: (K @ A) @ K.transpose(-1, -2))
    out[f"fresnel_{E}x{o.n}"] = {"forward_s": fwd, "forward_backward_s": both, "floor_s": floor,
                             "forward_over_floor": fwd / floor, "backward_over_3floor": both / (3 * floor)}
    print(f"{E} elements of {o.n}^2 -> 7x7 px (M = {M}): forward {1e3 * fwd:.0f} ms, forward+backward {1e3 * both:.0f} ms; "
          f"floor (two complex matmuls) {1e3 * floor:.0f} ms: forward/floor {fwd / floor:.2f}, "
          f"fwd+bwd / (3 floors) {both / (3 * floor):.2f}")

    big = KernelOptics(n=n_big, method="asm", padding=2.0, **({"pixel": 7.5e-6, "z": 2e-3} if a.quick else {}))
    p1 = torch.randn(1, n_big, n_big, requires_grad=True)
    w1 = torch.tensor([532e-9], dtype=torch.float64)
    T1 = torch.zeros(1, 7, 7)
    fwd = median_time(lambda: big.kernels(p1.detach(), w1, check=False), 3)

    def fb1():
        ((big.kernels(p1, w1, check=False) - T1) ** 2).sum().backward()
    both = median_time(fb1, 3)
    U = torch.randn(2 * n_big, 2 * n_big, dtype=torch.complex64)
    floor = median_time(lambda: torch.fft.ifft2(torch.fft.fft2(U), norm="forward"), 3)
    out[f"asm_{n_big}"] = {"forward_s": fwd, "forward_backward_s": both, "floor_s": floor,
                       "forward_over_floor": fwd / floor, "backward_over_2floor": both / (2 * floor)}
    print(f"one {n_big}^2 element, ASM on {2 * n_big}^2: forward {1e3 * fwd:.0f} ms, forward+backward {1e3 * both:.0f} ms; "
          f"floor (fft2 + ifft2) {1e3 * floor:.0f} ms: forward/floor {fwd / floor:.2f}, fwd+bwd / (2 floors) "
          f"{both / (2 * floor):.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
