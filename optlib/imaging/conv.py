"""Image formation by FFT convolution with a (shift-invariant) PSF."""
from __future__ import annotations

import torch

from .. import fft


def fftconv2d(image: torch.Tensor, psf: torch.Tensor, mode: str = "same") -> torch.Tensor:
    """Linear 2-D convolution of ``image (..., H, W)`` with ``psf (..., h, w)`` by zero-padded real FFTs.

    The PSF's centre is sample ``(h // 2, w // 2)``: a delta there returns the image unchanged.
    Leading dimensions broadcast (e.g. image ``(B, C, H, W)`` with PSF ``(C, h, w)``).
    ``mode``: ``"same"`` (output H x W, aligned with the image) or ``"full"`` ((H+h-1) x (W+w-1)).
    Cost: O(N log N) in the padded size, so any PSF size costs the same.
    """
    if mode not in ("same", "full"):
        raise ValueError(f"mode must be 'same' or 'full', got {mode!r}")
    H, W = image.shape[-2:]
    h, w = psf.shape[-2:]
    Hf, Wf = H + h - 1, W + w - 1
    if image.is_complex() or psf.is_complex():
        F = fft.fft2(image, s=(Hf, Wf)) * fft.fft2(psf, s=(Hf, Wf))
        out = fft.ifft2(F)
    else:
        F = fft.rfft2(image, s=(Hf, Wf)) * fft.rfft2(psf, s=(Hf, Wf))
        out = fft.irfft2(F, s=(Hf, Wf))
    if mode == "full":
        return out
    t, l = h // 2, w // 2
    return out[..., t:t + H, l:l + W]
