"""Amplitude apertures on a Grid. All lengths in metres; results are real tensors ``(H, W)``."""
from __future__ import annotations

import math

import torch

from ..grid import Grid
from ..units import number


def circ(grid: Grid, radius: float, center=(0.0, 0.0), antialias: bool = True, device=None,
         dtype=torch.float64) -> torch.Tensor:
    """Circular aperture of ``radius`` (m): 1 inside, 0 outside.

    With ``antialias`` the edge pixels get their covered area fraction (estimated from the signed distance
    to the edge over one pixel), which makes the aperture area, and so the Airy peak and encircled
    energy, converge much faster with pitch than a hard 0/1 mask.
    """
    radius = number("radius", radius, positive=True)
    y = grid.y(device, torch.float64) - center[0]
    x = grid.x(device, torch.float64) - center[1]
    r = torch.sqrt(x * x + y * y)
    if not antialias:
        return (r <= radius).to(dtype)
    d = math.sqrt(grid.dx * grid.dy)
    return torch.clamp((radius - r) / d + 0.5, 0.0, 1.0).to(dtype)


def rect(grid: Grid, width: float, height: float = None, center=(0.0, 0.0), device=None,
         dtype=torch.float64) -> torch.Tensor:
    """Rectangular aperture ``width`` x ``height`` (m), with area-fraction edge pixels."""
    height = width if height is None else height
    width, height = number("rect width", width, positive=True), number("rect height", height, positive=True)
    y = grid.y(device, torch.float64) - center[0]
    x = grid.x(device, torch.float64) - center[1]
    fx = torch.clamp((width / 2 - x.abs()) / grid.dx + 0.5, 0.0, 1.0)
    fy = torch.clamp((height / 2 - y.abs()) / grid.dy + 0.5, 0.0, 1.0)
    return (fx * fy).to(dtype)


def gaussian_beam(grid: Grid, waist: float, device=None, dtype=torch.float64) -> torch.Tensor:
    """Gaussian amplitude exp(-r^2 / w0^2) with waist radius ``w0`` (m) (1/e^2 intensity radius)."""
    waist = number("waist", waist, positive=True)
    return torch.exp(-grid.r2(device, torch.float64) / waist ** 2).to(dtype)
