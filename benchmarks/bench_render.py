"""Spatially varying rendering from N_T interpolated PSFs (Ho et al. 2024, Table 2), float32, the threads torch is
given.

1. Rendering alone (``optlib.imaging.render_varying``) against its floor: the bare real FFTs the method must do
   (one forward transform of each weighted image and of each PSF, one inverse transform), at the paper's
   257^2 PSFs on an image of ``--image`` pixels (the paper does not state its image size; 512^2 assumed).
   Forward, and forward + backward (gradients to the image and the PSFs), each interleaved with its floor;
   the median ratio is reported.
2. The whole forward model of the paper's timing: N_T wave PSFs of the singlet (pupil model, 257^2 px at
   3.18 um, ~29,700 rays each, the paper's ray count) and the render, forward and backward into the lens's
   curvatures, beside the paper's GPU times (singlet, N_T = 9: 2.21 s / 7.46 s).

    python benchmarks/bench_render.py [--json out.json] [--quick] [--image 512] [--nt 9 25 81]
"""
import argparse
import json
import math
import statistics
import time

import torch

from optlib import fft

PAPER_SINGLET = {9: (2.21, 7.46), 25: (3.94, 17.14), 81: (11.09, 52.39), 289: (31.26, 176.72), 969: (113.55, 679.97)}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _interleaved(measured, floor, repeats: int):
    """Median times of ``measured`` and ``floor`` and the median of their per-round ratios (one warm-up round)."""
    measured(), floor()
    tm, tf = [], []
    for _ in range(repeats):
        tm.append(_timed(measured))
        tf.append(_timed(floor))
    return statistics.median(tm), statistics.median(tf), statistics.median(a / b for a, b in zip(tm, tf))


def render_rows(image_n: int, psf_n: int, nts, repeats: int):
    from optlib.imaging import render_varying
    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, image_n, image_n, generator=g)
    s = (image_n + psf_n - 1,) * 2
    rows = []
    for nt in nts:
        n = int(round(math.sqrt(nt)))
        psfs = torch.rand(n, n, 1, psf_n, psf_n, generator=g)
        imgs = torch.rand(n * n, 1, image_n, image_n, generator=g)  # stands in for the weighted images
        kern = psfs.reshape(n * n, 1, psf_n, psf_n)

        def transforms(x, k_):  # the floor: N_T forward transforms of the images and of the PSFs, one inverse
            return fft.irfft2(sum((fft.rfft2(x[k:k + 16], s=s) * fft.rfft2(k_[k:k + 16], s=s)).sum(0)
                                  for k in range(0, n * n, 16)), s=s)

        def floor():
            return transforms(imgs, kern)

        fwd, ffl, rf = _interleaved(lambda: render_varying(img, psfs), floor, repeats)
        ia, pa = img.clone().requires_grad_(True), psfs.clone().requires_grad_(True)
        ib, kb = imgs.clone().requires_grad_(True), kern.clone().requires_grad_(True)

        def both():
            render_varying(ia, pa).square().sum().backward()

        def floor_both():
            transforms(ib, kb).square().sum().backward()

        fb, fbfl, rb = _interleaved(both, floor_both, repeats)
        rows.append({"n_t": n * n, "image": image_n, "psf": psf_n, "forward_s": fwd, "floor_s": ffl,
                     "forward_over_floor": rf, "forward_backward_s": fb, "floor_backward_s": fbfl,
                     "forward_backward_over_floor": rb})
        print(f"N_T = {n * n:4d}, image {image_n}^2, PSFs {psf_n}^2: forward {1e3 * fwd:8.1f} ms ({rf:.2f}x the FFT floor "
              f"{1e3 * ffl:.1f} ms), forward + backward {1e3 * fb:8.1f} ms ({rb:.2f}x its floor {1e3 * fbfl:.1f} ms)")
    return rows


def singlet_rows(image_n: int, nts, n_side: int, psf_n: int, repeats: int, corner_deg: float = 20.0):
    """N_T wave PSFs of the library singlet over a square field with corners at ``corner_deg`` (the chapter's
    Table 2 grid), then the render; backward into its curvatures."""
    import optlib as ol
    from optlib.imaging import render_varying
    from papers.ho2024 import render_fields
    base = ol.rays.library("singlet")
    c0 = torch.tensor([float(s.c) for s in base.surfaces], dtype=torch.float64)
    wl, a = 532e-9, 1.5e-3
    rows = []
    for nt in nts:
        n = int(round(math.sqrt(nt)))
        fields = render_fields(n, math.radians(corner_deg))
        img = torch.rand(1, image_n, image_n, generator=torch.Generator().manual_seed(1))

        def run(backward):
            c = c0.clone().requires_grad_(backward)
            lens = ol.rays.SequentialLens([ol.rays.Surface(s.z, s.semi_diameter, c[j], s.k, s.coeffs, s.stop)
                                           for j, s in enumerate(base.surfaces)], [m.name for m in base.materials],
                                          base.sensor_z)
            with torch.set_grad_enabled(backward):
                psfs = ol.psf.psf_map(lens, wl, ol.Grid(psf_n, 3.18e-6), fields, n_side=n_side,
                                      convention="paraxial", radius=a).float()
                out = render_varying(img, psfs[:, :, None])
                if backward:
                    out.square().sum().backward()

        t_f = statistics.median(_timed(lambda: run(False)) for _ in range(repeats))
        t_b = statistics.median(_timed(lambda: run(True)) for _ in range(repeats))
        paper = PAPER_SINGLET.get(n * n)
        rows.append({"n_t": n * n, "forward_s": t_f, "forward_backward_s": t_b, "paper_forward_s": paper and paper[0],
                     "paper_backward_s": paper and paper[1]})
        print(f"singlet, N_T = {n * n:4d}: {n_side}^2-ray pupils, {psf_n}^2 PSFs, image {image_n}^2: forward {t_f:6.2f} s, "
              f"forward + backward {t_b:6.2f} s" + (f"  (paper, GPU: {paper[0]} s / {paper[1]} s backward)" if paper else ""))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    ap.add_argument("--image", type=int, default=512)
    ap.add_argument("--nt", type=int, nargs="+", default=[9, 25, 81])
    a = ap.parse_args(argv)
    if a.quick:
        out = {"render": render_rows(64, 17, [4, 9], 2), "singlet": singlet_rows(64, [4], 48, 17, 1, corner_deg=5.0)}
    else:
        out = {"render": render_rows(a.image, 257, a.nt, 5), "singlet": singlet_rows(a.image, a.nt, 194, 257, 1)}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
