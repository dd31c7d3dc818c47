"""Angular-spectrum propagation against the bare-FFT floor.

The floor is the work no propagator can avoid: the same zero-padded torch.fft.fft2, a multiplication by a
precomputed transfer function (carrying the 1/N), and an unnormalised ifft2 (plus the crop), all bare torch. optlib caches its transfer functions, so after
the first call ``ol.propagate(method="asm")`` should cost about the floor. Calls are interleaved with their
floor in one process (these 2-core machines are shared) and the median ratio is reported, forward and
forward+backward, for complex64 fields.

    python benchmarks/bench_propagation.py [--sizes 1024 2048] [--pairs 7] [--quick]
"""
import argparse
import json
import statistics
import time

import torch

import optlib as ol
from optlib.field import crop_centered, pad_centered
from optlib.propagation import transfer_function


def floor_forward(u, H):
    # the transfer function carries the inverse transform's 1/N, as in optlib: an unnormalised ifft2
    return crop_centered(torch.fft.ifft2(torch.fft.fft2(pad_centered(u, H.shape[-2:])) * H, norm="forward"),
                         u.shape[-2:])


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench(n: int, pairs: int, backward: bool):
    g = ol.Grid(n, 2e-6)
    wl = 500e-9
    z = 0.2 * 2 * n * g.dx ** 2 / wl
    u0 = torch.randn(n, n, dtype=torch.complex64)
    field = ol.Field(u0, g, wl)
    H = transfer_function("asm", (2 * n, 2 * n), g.pitch, field.wavelength, z, "cpu", torch.complex64)

    if backward:
        def ours():
            u = u0.clone().requires_grad_()
            ol.asm(ol.Field(u, g, wl), z).u.abs().square().sum().backward()

        def floor():
            u = u0.clone().requires_grad_()
            floor_forward(u, H).abs().square().sum().backward()
    else:
        def ours():
            ol.asm(field, z)

        def floor():
            floor_forward(u0, H)

    for _ in range(2):  # warm-up, fills the kernel cache
        ours()
        floor()
    ratios, t_ours, t_floor = [], [], []
    for i in range(pairs):
        if i % 2:
            a = timed(ours); b = timed(floor)
        else:
            b = timed(floor); a = timed(ours)
        ratios.append(a / b)
        t_ours.append(a)
        t_floor.append(b)
    return statistics.median(ratios), statistics.median(t_ours), statistics.median(t_floor)


def _peak_case(mode: str, n: int, hfile: str):
    """Peak resident memory (MB above the process's start) of one angular-spectrum forward + backward at n x n,
    padding 2, complex64, first call (the transfer-function build and the FFT checks included): optlib, or the
    bare floor with the same transfer function read from ``hfile`` (its memory counted)."""
    import os

    def status(key):
        for line in open(f"/proc/{os.getpid()}/status"):
            if line.startswith(key):
                return int(line.split()[1]) / 1024

    g = ol.Grid(n, 2e-6)
    wl = 500e-9
    z = 0.2 * 2 * n * g.dx ** 2 / wl
    u0 = torch.randn(n, n, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    if mode == "build":
        H = transfer_function("asm", (2 * n, 2 * n), g.pitch, torch.tensor(wl, dtype=torch.float64), z, "cpu",
                              torch.complex64)
        torch.save(H, hfile)
        return 0.0
    warm = mode.startswith("warm-")
    mode = mode.removeprefix("warm-")
    H = None

    def once():
        nonlocal H
        u = u0.clone().requires_grad_()
        if mode == "optlib":
            ol.asm(ol.Field(u, g, wl), z).u.abs().square().sum().backward()
        else:
            H = torch.load(hfile, weights_only=True) if H is None else H
            floor_forward(u, H).abs().square().sum().backward()

    if warm:  # a second call: optlib's checks done and its transfer function cached, the floor's H loaded
        once()
        ol.fft.release_memory()
        with open(f"/proc/{os.getpid()}/clear_refs", "w") as f:
            f.write("5")  # reset the peak (VmHWM) to the current resident size
    base = status("VmRSS")
    once()
    return status("VmHWM") - base


def memory(n: int, warm: bool = False):
    """(optlib peak MB, floor peak MB), each measured in a fresh process: of the first call, or (``warm``) of a
    second call, after the one-time FFT checks and transfer-function build (optlib) or file load (floor)."""
    import os
    import subprocess
    import sys
    import tempfile
    hfile = os.path.join(tempfile.gettempdir(), f"_bench_H_{n}.pt")
    out = {}
    for mode in ("build", "floor", "optlib"):
        case = mode if mode == "build" or not warm else "warm-" + mode
        r = subprocess.run([sys.executable, __file__, "--mem-case", case, str(n), hfile], capture_output=True,
                           text=True, check=True)
        out[mode] = float(r.stdout.strip().splitlines()[-1])
    os.remove(hfile)
    return out["optlib"], out["floor"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--pairs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--mem-case", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.mem_case:
        torch.set_num_threads(a.threads)
        print(_peak_case(a.mem_case[0], int(a.mem_case[1]), a.mem_case[2]))
        return None
    torch.set_num_threads(a.threads)
    sizes, pairs = ([64], 3) if a.quick else (a.sizes, a.pairs)
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, complex64, padding 2")
    print(f"{'N':>6} {'pass':>17} {'optlib (ms)':>12} {'floor (ms)':>11} {'ratio':>6}")
    for n in sizes:
        for bw in (False, True):
            r, to, tf = bench(n, pairs, bw)
            rows.append({"n": n, "backward": bw, "ratio": r, "optlib_s": to, "floor_s": tf})
            print(f"{n:>6} {'forward+backward' if bw else 'forward':>17} {1e3 * to:>12.1f} {1e3 * tf:>11.1f} {r:>6.2f}")
    n_mem = 64 if a.quick else max(sizes)
    mo, mf = memory(n_mem)
    rows.append({"n": n_mem, "memory_optlib_MB": mo, "memory_floor_MB": mf, "memory_ratio": mo / mf})
    print(f"peak memory, forward + backward at N = {n_mem} (first call, fresh process): optlib {mo:.0f} MB, floor "
          f"{mf:.0f} MB (with its transfer function), ratio {mo / mf:.2f} (goal <= 1.1)")
    wo, wf = memory(n_mem, warm=True)
    rows.append({"n": n_mem, "warm": True, "memory_optlib_MB": wo, "memory_floor_MB": wf, "memory_ratio": wo / wf})
    print(f"peak memory of a second call (checks done, transfer function cached; the floor's loaded): optlib "
          f"{wo:.0f} MB, floor {wf:.0f} MB, ratio {wo / wf:.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
