"""Ray tracing and ray-to-wave PSFs: speed and peak memory (float64, the threads torch is given).

1. Rays per second through the Cooke triplet (library lens, 6 surfaces and a stop), 1e6 rays: forward
   (no graph) and forward + backward (gradient of the RMS spot with respect to every curvature).
2. A wave PSF (pupil method, 257 x 257 pixels of 1 um) at 0 and 20 degrees: time, peak memory, and
   accuracy against a 4x finer pupil (a converged reference) and the Huygens sum; against the floor,
   the two bare complex matrix products of the same size that any pupil-to-sensor DFT must do.
3. The Huygens PSF's peak memory against ray count (fixed chunk size; pupil grids dense enough for the
   sensor grid, as the sampling check demands): it should stay flat.

Memory is the peak resident set (VmHWM) of a fresh subprocess per case minus its resident set just
before the measured call. Times are medians of interleaved repeats after a warm-up.

    python benchmarks/bench_rays.py [--quick] [--json out.json]
"""
import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time

import torch

REFERENCE = {  # from the issue, measured on this kind of machine (2 cores, float64, 1e6 rays)
    "widely used PyTorch lens simulator": {"rays_per_s": 0.7e6, "rays_per_s_backward": 0.35e6,
                                           "coherent_psf_s": 100.0, "coherent_psf_peak_GB": 9.7},
    "widely used lens-design package": {"rays_per_s": 1.6e6},
}
TARGET = {"rays_per_s": 2e6, "rays_per_s_backward": 0.7e6, "psf_s": 10.0, "psf_peak_GB": 1.0}


def rss_kb(field):
    """A memory line of /proc/self/status in kB (VmRSS: resident now, VmHWM: the peak); also used by bench_raywave."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def case_trace(n_rays: int, backward: bool, repeats: int):
    from optlib.rays import library
    lens = library("cooke_triplet")
    side = int(math.sqrt(n_rays * 4 / math.pi)) + 1
    rays = lens.collimated(587.6e-9, 4.5e-3, side)
    n = rays.o.shape[0]
    params = []
    if backward:
        for s in lens.surfaces:
            if float(s.c) != 0:
                s.c = torch.tensor(float(s.c), dtype=torch.float64, requires_grad=True)
                params.append(s.c)

    def run():
        if backward:
            out = lens.trace(rays)
            lens.rms_spot(out).backward()
        else:
            with torch.no_grad():
                lens.trace(rays)

    run()
    base = rss_kb("VmRSS")
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    t = statistics.median(times)
    return {"rays": n, "s": t, "rays_per_s": n / t, "peak_MB": (rss_kb("VmHWM") - base) / 1024}


def case_psf(deg: float, method: str, n_side: int, pixels: int, repeats: int):
    from optlib import Grid
    from optlib.psf import huygens_psf, pupil_psf, pupil_rays
    from optlib.rays import library
    lens = library("cooke_triplet")
    g = Grid(pixels, 1e-6)
    a = math.radians(deg)

    def run():
        pr = pupil_rays(lens, 587.6e-9, a, n_side=n_side)
        return (pupil_psf if method == "pupil" else huygens_psf)(pr, pr.window(g))

    base = rss_kb("VmRSS")
    psf = run()
    peak = (rss_kb("VmHWM") - base) / 1024
    times = [0.0] * repeats
    for i in range(repeats):
        t = time.perf_counter()
        run()
        times[i] = time.perf_counter() - t
    # floor: the two complex matrix products of a q x oversampled pupil DFT of the same size
    q = 1
    from optlib.psf.pupil import direction_grid, sub_samples
    pr = pupil_rays(lens, 587.6e-9, a, n_side=n_side)
    _, sx, _, sy = direction_grid(pr)
    q = sub_samples(g, pr, sx, sy, None)
    M = pixels * q
    A = torch.randn(M, n_side, dtype=torch.complex128)
    P = torch.randn(n_side, n_side, dtype=torch.complex128)
    floor = []
    for _ in range(repeats):
        t = time.perf_counter()
        A @ P @ A.T
        floor.append(time.perf_counter() - t)
    torch.save(psf, f"{tempfile.gettempdir()}/_bench_psf_{method}_{deg}_{n_side}.pt")
    return {"s": statistics.median(times), "floor_s": statistics.median(floor), "peak_MB": peak,
            "sum": float(psf.sum()), "oversample": q}


def _sub(args, threads=None):
    import os
    env = dict(os.environ, **({"OPTLIB_BENCH_THREADS": str(threads)} if threads else {}))
    out = subprocess.run([sys.executable, __file__, "--case", json.dumps(args)], capture_output=True, text=True,
                         check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def contention(n_rays: int, repeats: int):
    """Forward rays/s with 1 and 2 threads, on a quiet machine and beside one busy process (a spinning
    Python loop, which takes one of the two cores): a user's laptop is a shared machine."""
    import time as _t
    rows = {}
    for threads in (1, 2):
        for busy in (False, True):
            p = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
            try:
                if p:
                    _t.sleep(0.3)
                r = _sub({"kind": "trace", "n_rays": n_rays, "backward": False, "repeats": repeats}, threads)
            finally:
                if p:
                    p.kill()
                    p.wait()
            rows[f"{threads}_{'busy' if busy else 'quiet'}"] = r["rays_per_s"]
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--case", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.case:
        c = json.loads(a.case)
        kind = c.pop("kind")
        res = case_trace(**c) if kind == "trace" else case_psf(**c)
        print(json.dumps(res))
        return res
    n_rays = 20_000 if a.quick else 1_000_000
    rep = 1 if a.quick else 5
    rows = {}
    rows["trace"] = _sub({"kind": "trace", "n_rays": n_rays, "backward": False, "repeats": rep})
    rows["trace_backward"] = _sub({"kind": "trace", "n_rays": n_rays, "backward": True, "repeats": rep})
    print(f"Cooke triplet, {rows['trace']['rays']} rays, float64: forward {rows['trace']['rays_per_s'] / 1e6:.2f} "
          f"M rays/s (target > 2, lens-design package 1.6, PyTorch simulator 0.7); with backward "
          f"{rows['trace_backward']['rays_per_s'] / 1e6:.2f} M rays/s (target > 0.7, simulator 0.35); "
          f"peak +{rows['trace_backward']['peak_MB']:.0f} MB with backward")
    c = contention(n_rays, rep)
    rows["contention"] = c
    print("rays/s, forward, 1 thread: quiet {:.2f} M, beside a busy process {:.2f} M; 2 threads: quiet {:.2f} M, "
          "beside a busy process {:.2f} M ({:.2f} of quiet; goal >= 0.5)".format(
              c["1_quiet"] / 1e6, c["1_busy"] / 1e6, c["2_quiet"] / 1e6, c["2_busy"] / 1e6, c["2_busy"] / c["2_quiet"]))
    from optlib.metrics import ncc
    pix, ns, ns_ref = (65, 64, 128) if a.quick else (257, 256, 1024)
    for deg in (0.0, 20.0):
        r = _sub({"kind": "psf", "deg": deg, "method": "pupil", "n_side": ns, "pixels": pix, "repeats": rep})
        _sub({"kind": "psf", "deg": deg, "method": "pupil", "n_side": ns_ref, "pixels": pix, "repeats": 1})
        p = torch.load(f"{tempfile.gettempdir()}/_bench_psf_pupil_{deg}_{ns}.pt", weights_only=True)
        pr = torch.load(f"{tempfile.gettempdir()}/_bench_psf_pupil_{deg}_{ns_ref}.pt", weights_only=True)
        r["ncc_vs_converged"] = float(ncc(p, pr))
        r["max_err_vs_converged"] = float((p - pr).abs().max() / pr.max())
        rows[f"psf_{deg:g}deg"] = r
        print(f"wave PSF {pix}x{pix} @ 1 um, {deg:g} deg, pupil {ns}^2: {r['s']:.2f} s (floor {r['floor_s']:.2f} s, "
              f"ratio {r['s'] / r['floor_s']:.1f}), peak +{r['peak_MB']:.0f} MB, sum {r['sum']:.4f}, vs {ns_ref}^2 pupil "
              f"NCC {r['ncc_vs_converged']:.6f}, max error {r['max_err_vs_converged']:.1e} of the peak "
              f"(target < 10 s, < 1 GB; PyTorch simulator ~100 s, 9.7 GB)")
    hp = 33 if a.quick else 129
    for ns_h in ((32, 48) if a.quick else (64, 128, 256)):
        r = _sub({"kind": "psf", "deg": 20.0, "method": "huygens", "n_side": ns_h, "pixels": hp, "repeats": 1})
        rows[f"huygens_{ns_h}"] = r
        print(f"Huygens PSF {hp}x{hp} @ 1 um, 20 deg, {ns_h}^2 pupil grid: {r['s']:.1f} s, peak +{r['peak_MB']:.0f} MB")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"rows": rows, "reference": REFERENCE, "target": TARGET}, f, indent=1)
    return rows


if __name__ == "__main__":
    torch.set_num_threads(int(__import__("os").environ.get("OPTLIB_BENCH_THREADS", torch.get_num_threads())))
    main()
