"""Image formation with spatially varying PSFs, from a grid of PSFs sampled across the field.

Two ways, both linear in the image and differentiable in image and PSFs (the wave-optics paper's Table 2
compares how many PSFs each needs):

* ``"interp"``: bilinear interpolation of the PSF field. With hat weights w_k(x) (a partition of unity
  over an n_y x n_x grid of PSF centres spanning the image), out = sum_k (w_k I) * PSF_k, so the PSF
  applied at a pixel is the bilinear blend of its four nearest grid PSFs. Cost: n_y n_x FFT convolutions.
* ``"patch"``: piecewise constant: each pixel takes its nearest grid PSF (w_k the indicator of its
  patch); seams appear where neighbouring PSFs differ.
"""
from __future__ import annotations

import torch

from .conv import fftconv2d


def field_weights(shape, n_grid, mode: str = "interp", dtype=torch.float32, device=None) -> torch.Tensor:
    """Weight maps (n_y, n_x, H, W) of an image ``shape`` (H, W) for an ``n_grid`` = (n_y, n_x) grid of
    PSFs whose centres are evenly spaced from the first to the last pixel. They sum to 1 at every pixel."""
    H, W = shape
    ny, nx = (n_grid, n_grid) if isinstance(n_grid, int) else n_grid

    def axis(n, N):
        t = torch.linspace(0, n - 1, N, dtype=dtype, device=device) if n > 1 else torch.zeros(N, dtype=dtype, device=device)
        k = torch.arange(n, dtype=dtype, device=device)[:, None]
        if mode == "interp":
            return torch.clamp(1 - (t[None, :] - k).abs(), min=0)
        if mode == "patch":
            return (torch.round(t)[None, :] == k).to(dtype)
        raise ValueError(f"mode must be 'interp' or 'patch', got {mode!r}")

    wy, wx = axis(ny, H), axis(nx, W)
    return wy[:, None, :, None] * wx[None, :, None, :]


def render_varying(image: torch.Tensor, psfs: torch.Tensor, mode: str = "interp") -> torch.Tensor:
    """Blur ``image (..., H, W)`` with a field of PSFs ``psfs (n_y, n_x, ..., h, w)`` (PSF (i, j) belongs
    to the field point at row i, column j of an evenly spaced grid spanning the image, first to last
    pixel; each PSF centred on sample (h // 2, w // 2)). ``mode`` ``"interp"`` or ``"patch"`` (see the
    module docstring). Returns (..., H, W)."""
    ny, nx = psfs.shape[:2]
    wts = field_weights(image.shape[-2:], (ny, nx), mode, image.dtype, image.device)
    out = torch.zeros_like(image)
    for i in range(ny):
        for j in range(nx):
            w = wts[i, j]
            if mode == "patch" and not bool(w.any()):
                continue
            out = out + fftconv2d(image * w, psfs[i, j])
    return out
