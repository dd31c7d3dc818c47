"""Image formation with spatially varying PSFs, from a grid of PSFs sampled across the field.

Two ways, both linear in the image and differentiable in image and PSFs (the wave-optics paper's Table 2
compares how many PSFs each needs):

* ``"interp"``: bilinear interpolation of the PSF field. With hat weights w_k(x) (a partition of unity
  over an n_y x n_x grid of PSF centres spanning the image), out = sum_k (w_k I) * PSF_k, so the PSF
  applied at a pixel is the bilinear blend of its four nearest grid PSFs. Cost: 2 n_y n_x forward real FFTs
  (each weighted image, each PSF) and one inverse: the products are summed in the frequency domain, in
  chunks of ``chunk`` PSFs so that memory does not grow with their number.
* ``"patch"``: piecewise constant: each pixel takes its nearest grid PSF (w_k the indicator of its
  patch); seams appear where neighbouring PSFs differ.
"""
from __future__ import annotations

import torch

from .. import fft


def _axis_weights(n: int, N: int, mode: str, dtype, device) -> torch.Tensor:
    """(n, N): the weight of each of ``n`` evenly spaced PSF centres at each of ``N`` pixels along one axis."""
    t = torch.linspace(0, n - 1, N, dtype=dtype, device=device) if n > 1 else torch.zeros(N, dtype=dtype, device=device)
    k = torch.arange(n, dtype=dtype, device=device)[:, None]
    if mode == "interp":
        return torch.clamp(1 - (t[None, :] - k).abs(), min=0)
    if mode == "patch":
        return (torch.round(t)[None, :] == k).to(dtype)
    raise ValueError(f"mode must be 'interp' or 'patch', got {mode!r}")


def field_weights(shape, n_grid, mode: str = "interp", dtype=torch.float32, device=None) -> torch.Tensor:
    """Weight maps (n_y, n_x, H, W) of an image ``shape`` (H, W) for an ``n_grid`` = (n_y, n_x) grid of
    PSFs whose centres are evenly spaced from the first to the last pixel. They sum to 1 at every pixel."""
    H, W = shape
    ny, nx = (n_grid, n_grid) if isinstance(n_grid, int) else n_grid
    wy, wx = _axis_weights(ny, H, mode, dtype, device), _axis_weights(nx, W, mode, dtype, device)
    return wy[:, None, :, None] * wx[None, :, None, :]


def render_varying(image: torch.Tensor, psfs: torch.Tensor, mode: str = "interp", chunk: int = 16) -> torch.Tensor:
    """Blur ``image (..., H, W)`` (real) with a field of PSFs ``psfs (n_y, n_x, ..., h, w)`` (PSF (i, j) belongs
    to the field point at row i, column j of an evenly spaced grid spanning the image, first to last
    pixel; each PSF centred on sample (h // 2, w // 2)). ``mode`` ``"interp"`` or ``"patch"`` (see the
    module docstring); ``chunk``: PSFs transformed at a time (memory: about ``chunk`` padded spectra of the
    image's batch). Returns (..., H, W), the linear ("same") convolution of :func:`optlib.imaging.fftconv2d`."""
    if image.is_complex() or psfs.is_complex():
        raise TypeError("render_varying takes real images and PSFs (intensities)")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    ny, nx = psfs.shape[:2]
    H, W = image.shape[-2:]
    h, w = psfs.shape[-2:]
    s = (H + h - 1, W + w - 1)
    # separable weights: a chunk's maps are made when it is transformed, never all n_y n_x at once
    wy = _axis_weights(ny, H, mode, image.dtype, image.device)
    wx = _axis_weights(nx, W, mode, image.dtype, image.device)
    lead_i, lead_p = image.shape[:-2], psfs.shape[2:-2]
    n = max(len(lead_i), len(lead_p))  # leading dimensions broadcast, aligned on the right
    image = image.reshape(*([1] * (n - len(lead_i))), *image.shape)
    kernels = psfs.reshape(ny * nx, *([1] * (n - len(lead_p))), *lead_p, h, w)
    keep = [k for k in range(ny * nx) if mode != "patch" or bool(wy[k // nx].any() and wx[k % nx].any())]
    spec = None
    for c in range(0, len(keep), chunk):
        ks = keep[c:c + chunk]
        iy, ix = torch.tensor([k // nx for k in ks]), torch.tensor([k % nx for k in ks])
        wk = (wy[iy][:, :, None] * wx[ix][:, None, :]).reshape(len(ks), *([1] * n), H, W)
        part = (fft.rfft2(image * wk, s=s) * fft.rfft2(kernels[ks], s=s)).sum(0)
        spec = part if spec is None else spec + part
    t, l = h // 2, w // 2
    return fft.irfft2(spec, s=s)[..., t:t + H, l:l + W]
