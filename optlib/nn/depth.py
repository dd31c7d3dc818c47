"""Monocular depth networks: a ResNet encoder and a Monodepth2-style decoder (Godard et al., ICCV 2019).

``DepthNet(ResNetConfig.resnet18())`` has exactly Monodepth2's ResNet-18 depth network (encoder without its
classifier, 11,176,512 parameters; decoder 3,152,724); smaller configurations keep the same shape (a 7x7
stride-2 first convolution without bias, batch norm, basic blocks, skip connections, 3x3 reflection-padded
decoder convolutions with ELU, sigmoid disparity). The first convolution is ``net.encoder.conv1`` and can be
replaced by any module with the same output, e.g. :class:`OpticalConv2d`.

Depth (m) = 1 / (1/max_depth + (1/min_depth - 1/max_depth) sigmoid(.)), Monodepth2's disparity mapping.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class ResNetConfig:
    """Channel widths: ``first`` (the 7x7 layer), then one width and block count per stage."""

    first: int = 16
    widths: Tuple[int, ...] = (16, 24, 32, 48)
    blocks: Tuple[int, ...] = (1, 1, 1, 1)
    decoder: Tuple[int, ...] = (8, 12, 16, 24, 32)
    in_channels: int = 3

    @staticmethod
    def resnet18() -> "ResNetConfig":
        """Monodepth2's depth network: ResNet-18 encoder, decoder channels (16, 32, 64, 128, 256)."""
        return ResNetConfig(first=64, widths=(64, 128, 256, 512), blocks=(2, 2, 2, 2), decoder=(16, 32, 64, 128, 256))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNetEncoder(nn.Module):
    """Features at 1/2, 1/4, 1/8, 1/16, 1/32 of the input resolution."""

    def __init__(self, cfg: ResNetConfig):
        super().__init__()
        self.conv1 = nn.Conv2d(cfg.in_channels, cfg.first, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(cfg.first)
        layers, cin = [], cfg.first
        for i, (w, b) in enumerate(zip(cfg.widths, cfg.blocks)):
            blocks = [BasicBlock(cin, w, 1 if i == 0 else 2)] + [BasicBlock(w, w, 1) for _ in range(b - 1)]
            layers.append(nn.Sequential(*blocks))
            cin = w
        self.layers = nn.ModuleList(layers)
        self.channels = (cfg.first,) + tuple(cfg.widths)

    def forward(self, x):
        f = [F.relu(self.bn1(self.conv1(x)))]
        x = F.max_pool2d(f[0], 3, 2, 1)
        for layer in self.layers:
            x = layer(x)
            f.append(x)
        return f


class _ConvBlock(nn.Sequential):
    def __init__(self, cin, cout, act=True):
        super().__init__(nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3))
        if act:
            self.append(nn.ELU(inplace=True))


class DepthDecoder(nn.Module):
    """Monodepth2's decoder (single output scale used here; the others are built so that the parameter
    count matches, see ``scales``)."""

    def __init__(self, enc: Sequence[int], dec: Sequence[int], scales: Sequence[int] = (0, 1, 2, 3)):
        super().__init__()
        self.scales = tuple(scales)
        self.up0, self.up1 = nn.ModuleList(), nn.ModuleList()
        for i in range(4, -1, -1):
            cin = enc[-1] if i == 4 else dec[i + 1]
            self.up0.append(_ConvBlock(cin, dec[i]))
            self.up1.append(_ConvBlock(dec[i] + (enc[i - 1] if i > 0 else 0), dec[i]))
        self.disp = nn.ModuleDict({str(s): _ConvBlock(dec[s], 1, act=False) for s in self.scales})

    def forward(self, feats):
        x = feats[-1]
        for k, i in enumerate(range(4, -1, -1)):
            x = F.interpolate(self.up0[k](x), scale_factor=2, mode="nearest")
            if i > 0:
                x = torch.cat([x, feats[i - 1]], 1)
            x = self.up1[k](x)
        return torch.sigmoid(self.disp["0"](x))


class DepthNet(nn.Module):
    """RGB (B, 3, H, W) in [0, 1] -> depth (B, 1, H, W) in metres (H, W multiples of 32)."""

    def __init__(self, cfg: ResNetConfig = ResNetConfig(), min_depth: float = 1.0, max_depth: float = 80.0,
                 init_depth: float = 20.0):
        super().__init__()
        self.cfg = cfg
        self.encoder = ResNetEncoder(cfg)
        self.decoder = DepthDecoder(self.encoder.channels, cfg.decoder)
        self.min_depth, self.max_depth = min_depth, max_depth
        # start near a typical depth: with a zero-centred output the first steps overshoot into the sigmoid's
        # flat end (every pixel at max_depth) and some seeds never come back
        lo, hi = 1.0 / max_depth, 1.0 / min_depth
        s0 = (1.0 / init_depth - lo) / (hi - lo)
        with torch.no_grad():
            for conv in self.decoder.disp.values():
                conv[1].bias.fill_(math.log(s0 / (1 - s0)))

    def forward(self, x):
        if x.shape[-1] % 32 or x.shape[-2] % 32:
            raise ValueError(f"DepthNet needs H and W multiples of 32, got {tuple(x.shape[-2:])}")
        s = self.decoder(self.encoder(x))
        lo, hi = 1.0 / self.max_depth, 1.0 / self.min_depth
        return 1.0 / (lo + (hi - lo) * s)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


RESNET18_FC_PARAMETERS = 512 * 1000 + 1000
"""ImageNet classifier of ResNet-18, unused by Monodepth2 but present in its encoder object (torchvision model)."""


class OpticalConv2d(nn.Module):
    """A first convolution computed by a metasurface array: ``weight = gain_l (k+_{l,c} - k-_{l,c})``, the kernels
    ``k`` simulated from the elements' phases (:class:`optlib.meta.KernelOptics`), one gain per output channel.

    Args:
        optics: the element/sensor geometry.
        phase: ``(2 C L, n, n)`` phases (rad), ``(l, c, s)`` order.
        wavelengths: ``(2 C L,)`` metres, one per element.
        gain: ``(L,)`` gains (the inverse of :func:`optlib.meta.fit.targets`' ``alpha`` for DKO).
        trainable: make phases and gains parameters (end-to-end training); otherwise buffers, and the kernels are
            computed once and cached.
        transmission: optional ``(2 C L, n, n)`` amplitude (a realised geometry's |t|).
    """

    def __init__(self, optics, phase: torch.Tensor, wavelengths: torch.Tensor, gain: torch.Tensor,
                 n_in: int = 3, stride: int = 2, trainable: bool = False, transmission=None):
        super().__init__()
        self.optics, self.n_in, self.stride = optics, n_in, stride
        self.trainable = trainable
        if trainable:
            self.phase = nn.Parameter(phase.detach().clone())
            self.gain = nn.Parameter(gain.detach().clone().to(phase.dtype))
        else:
            self.register_buffer("phase", phase.detach().clone())
            self.register_buffer("gain", gain.detach().clone().to(phase.dtype))
        self.register_buffer("wavelengths", torch.as_tensor(wavelengths, dtype=torch.float64).clone())
        # a buffer, so that it moves with the module (a plain attribute stayed on the CPU under .to(cuda))
        self.register_buffer("transmission",
                             None if transmission is None else torch.as_tensor(transmission).detach().clone())
        self._cached = None
        optics.check(sorted(set(self.wavelengths.tolist())))

    def kernels(self) -> torch.Tensor:
        """Element kernels ``(2 C L, taps, taps)`` (fractions of aperture power per pixel)."""
        key = (self.phase._version, self.phase.data_ptr(), self.phase.device)
        if not self.trainable and self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        k = self.optics.kernels(self.phase, self.wavelengths, self.transmission, check=False)
        if not self.trainable:
            self._cached = (key, k.detach())
        return k

    def weight(self) -> torch.Tensor:
        from ..meta.fit import compose
        return compose(self.kernels(), self.gain, self.n_in)

    def forward(self, x):
        w = self.weight()
        return F.conv2d(x, w.to(x.dtype), stride=self.stride, padding=w.shape[-1] // 2)
