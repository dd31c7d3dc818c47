"""Reconstruction: Wiener (Tikhonov) deconvolution with a trainable regulariser, and a small CNN for
super-resolution. Images are (B, C, H, W) in linear intensity; PSFs (C, h, w) centred on (h // 2, w // 2)
and summing to 1.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .. import fft


def psf_otf(psf: torch.Tensor, shape) -> torch.Tensor:
    """Optical transfer function (..., H, W // 2 + 1) of a centred PSF (..., h, w), zero-padded to ``shape``
    and rolled so that its centre sits at the origin (no shift in the deconvolved image)."""
    h, w = psf.shape[-2:]
    H, W = shape
    if h > H or w > W:
        raise ValueError(f"PSF {h}x{w} is larger than the image {H}x{W}")
    pad = torch.zeros(*psf.shape[:-2], H, W, dtype=psf.dtype, device=psf.device)
    pad[..., :h, :w] = psf
    pad = torch.roll(pad, shifts=(-(h // 2), -(w // 2)), dims=(-2, -1))
    return fft.rfft2(pad)


def wiener_deconv(image: torch.Tensor, psf: torch.Tensor, gamma) -> torch.Tensor:
    """Tikhonov/Wiener inverse filter X = conj(K) Y / (|K|^2 + gamma) (circular boundaries), for blurred
    ``image`` (..., C, H, W), ``psf`` (C, h, w) and regulariser ``gamma`` (> 0; a number or tensor
    broadcasting to (C, 1, 1)). Differentiable in all three."""
    H, W = image.shape[-2:]
    K = psf_otf(psf, (H, W))
    Y = fft.rfft2(image)
    g = gamma if isinstance(gamma, torch.Tensor) else torch.tensor(float(gamma), dtype=image.dtype, device=image.device)
    X = K.conj() * Y / (K.real ** 2 + K.imag ** 2 + g)
    return fft.irfft2(X, s=(H, W))


class WienerDeconv(nn.Module):
    """Wiener deconvolution with a trainable regulariser gamma = exp(log_gamma) (positive by
    construction), one per channel if ``channels`` > 1."""

    def __init__(self, gamma: float = 1e-2, channels: int = 1):
        super().__init__()
        if gamma <= 0:
            raise ValueError(f"gamma must be positive, got {gamma}")
        self.log_gamma = nn.Parameter(torch.full((channels, 1, 1), math.log(gamma)))

    @property
    def gamma(self) -> torch.Tensor:
        return self.log_gamma.exp()

    def forward(self, image: torch.Tensor, psf: torch.Tensor) -> torch.Tensor:
        return wiener_deconv(image, psf, self.gamma.to(image.dtype))


class SRNet(nn.Module):
    """Small super-resolution CNN: bilinear upsampling by ``scale`` followed by a residual stack of
    ``depth`` 3x3 convolutions with ``width`` channels (a VDSR-style network, small enough for a CPU)."""

    def __init__(self, scale: int, channels: int = 1, width: int = 32, depth: int = 4):
        super().__init__()
        self.scale = int(scale)
        layers, c = [], channels
        for i in range(depth - 1):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.ReLU(inplace=True)]
            c = width
        layers.append(nn.Conv2d(c, channels, 3, padding=1))
        self.body = nn.Sequential(*layers)
        nn.init.zeros_(self.body[-1].weight)
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up = nn.functional.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return up + self.body(up)
