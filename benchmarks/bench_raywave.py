"""One full-scale ray-wave PSF of Yang et al.'s prototype (issue 13): the paper's sampling on this 2-core CPU.

The paper's settings: 1e6 rays (float64) from a point 0.5 m away at 14 deg, traced through the aspheric singlet to
the DOE plane, splatted onto a 6000 x 6000 field of 0.5 um samples (3 mm, the whole DOE), through the DOE
(3000 x 3000 pixels of 1 um, heights requiring grad), the angular spectrum with padding 2 (a 12000^2 padded grid)
to the sensor, 201 x 201 pixels of 1 um, evaluated only on the sensor's sub-samples (``asm(..., window=)``: no
temporary the size of the padded grid but the cached kernel). The paper needed an A100 and gradient checkpointing.

Measured, each in a fresh subprocess (peak resident memory, VmHWM, minus the resident set before the call):
forward, and forward + backward into the DOE's heights. The first call of a process also pays the one-time
work of its configuration (optlib.fft's checks of the 12000^2 transforms, the transfer function's build) and is
reported apart; the steady cost, what each PSF of a design or a PSF map costs, is the median of the later
repeats, interleaved with the floor: the bare torch.fft.fft2 + ifft2 of the padded 12000^2 field in the same
dtype, the least any angular spectrum step on this grid must do. Note that 1e6 rays are sparser than the 0.5 um samples across the beam
(0.74 mm): the model's own check would refuse them (``check=False`` here, as the paper's configuration).

    python benchmarks/bench_raywave.py [--quick] [--json out.json]
"""
import argparse
import json
import math
import statistics
import subprocess
import sys
import time

import torch

from bench_rays import rss_kb  # this folder is on the path when a benchmark runs

PAPER = {"gpu": "A100 with gradient checkpointing", "rays": 1e6, "field": 6000}
TARGET = {"seconds_forward_backward": 60.0, "peak_GB": 8.0}


def build(n_rays: int = 1_000_000, window: int = 6000, dx: float = 0.5e-6):
    import optlib as ol
    import papers.yang2024 as Y
    lens = ol.rays.library("yang2024_a489")
    wl, field = 530e-9, math.radians(14)
    src = (0.0, 0.5 * math.tan(field), -0.5)
    y, x = lens.chief_hit(wl, source=src)
    sensor = ol.Grid(201, 1e-6).at((y, x))
    dg = ol.Grid(3000, 1e-6)
    h = torch.zeros(dg.shape, dtype=torch.float64, requires_grad=True)
    doe = ol.DOE(h, "fused silica", grid=dg, z=Y.DOE_Z)
    n_side = int(math.ceil(math.sqrt(n_rays * 4 / math.pi)))

    def psf():
        return ol.psf.raywave_psf(lens, wl, sensor, dx=dx, window=window, source=src, n_side=n_side, doe=doe,
                                  check=False)
    return psf, h


def case(kind: str, repeats: int, quick: bool, rays: float = None):
    kw = dict(n_rays=100_000, window=1200, dx=1e-6) if quick else {}
    if rays:  # the memory against the ray count: a quarter of the field (window 3000), forward
        kw = dict(n_rays=int(rays), window=3000, dx=0.5e-6)
    psf, h = build(**kw)
    pad = 2 * (kw.get("window", 6000))
    u = torch.zeros(pad, pad, dtype=torch.complex128)

    def floor():
        torch.fft.ifft2(torch.fft.fft2(u))

    def forward():
        with torch.no_grad():
            psf()

    def backward():
        p = psf()
        w = torch.linspace(0, 1, p.numel(), dtype=p.dtype).reshape(p.shape)
        (p * w).sum().backward()
        h.grad = None

    fn = {"forward": forward, "backward": backward, "floor": floor}[kind]
    base = rss_kb("VmRSS")
    t, tf = [], []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
        if kind != "floor" and not rays:  # (the sweep measures memory: the floor's transforms would set its peak)
            t0 = time.perf_counter()
            floor()
            tf.append(time.perf_counter() - t0)
    peak = (rss_kb("VmHWM") - base) / 2 ** 20
    # the first call also pays what a process does once per configuration (the FFT checks of optlib.fft, the
    # transfer function's build): reported apart; the steady cost is the median of the later calls
    later = slice(1, None) if len(t) > 1 else slice(None)
    out = {"kind": kind, "rays": kw.get("n_rays", 1_000_000), "first_seconds": t[0], "seconds": statistics.median(t[later]), "peak_GB": peak,
           "repeats": len(t)}
    if tf:
        out["floor_seconds"] = statistics.median(tf)
        out["ratio_to_floor"] = statistics.median(a / b for a, b in zip(t[later], tf[later]))
    print(json.dumps(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1e5 rays on a 1200^2 field (a smoke run)")
    ap.add_argument("--json")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rays", type=float, help=argparse.SUPPRESS)
    a = ap.parse_args()
    torch.set_num_threads(2)
    if a.case:
        case(a.case, a.repeats, a.quick, a.rays)
        return

    def run(kind, *extra):
        cmd = [sys.executable, __file__, "--case", kind, "--repeats", str(2 if a.quick else a.repeats), *extra]
        r = subprocess.run(cmd + (["--quick"] if a.quick else []), capture_output=True, text=True, check=True)
        return json.loads(r.stdout.strip().splitlines()[-1])

    res = {kind: run(kind) for kind in ("forward", "backward")}
    # the rays are streamed (aimed, traced, splatted a chunk at a time): memory must not grow with their number
    sweep = [] if a.quick else [run("forward", "--rays", str(n), "--repeats", "2") for n in (2.5e5, 1e6, 4e6)]
    scale = "quick (1e5 rays, 1200^2)" if a.quick else "full (1e6 rays, 6000^2 field, 12000^2 FFTs)"
    print(f"ray-wave PSF of Yang et al.'s prototype, {scale}, float64 / complex128, 2 threads:")
    for kind, r in res.items():
        print(f"  {kind:<9} {r['seconds']:7.1f} s   {r['ratio_to_floor']:5.1f}x the bare fft2 + ifft2 "
              f"({r['floor_seconds']:.1f} s)   peak {r['peak_GB']:.2f} GB   (first call of the process "
              f"{r['first_seconds']:.1f} s, with the one-time FFT checks and kernel build)")
    for r in sweep:
        print(f"  {r['rays']:.1e} rays on a 3000^2 field (forward): peak {r['peak_GB']:.2f} GB, {r['seconds']:.1f} s")
    print(f"  target: forward + backward under {TARGET['seconds_forward_backward']:.0f} s and "
          f"{TARGET['peak_GB']:.0f} GB; the paper: {PAPER['gpu']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"results": res, "rays_sweep": sweep, "target": TARGET, "paper": PAPER, "quick": a.quick}, f,
                      indent=1)


if __name__ == "__main__":
    main()
