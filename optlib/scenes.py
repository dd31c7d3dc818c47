"""Procedural road-like scenes with exact depth, for monocular depth estimation without KITTI.

A pinhole camera (focal length ``f`` pixels, principal point at the image centre, horizon row ``y_h``) at
height ``cam_height`` (m) above a flat ground looks along the road. Every pixel's depth (m, along the
optical axis) is exact:

* ground (rows below the horizon): Z = cam_height f / (y - y_h), textured in world coordinates so the
  texture shrinks with distance (a texture gradient);
* upright fronto-parallel planes standing on the ground at depth d, lateral position X, width w and height
  h (m): rows y_h + f (cam_height - h) / d ... y_h + f cam_height / d, so their size and their foot's
  image row both encode depth; nearer planes occlude farther ones (painter's order);
* sky (what remains): depth ``max_depth`` (80 m, KITTI's cap).

Textures are crops of real photographs (the local mirror), so the cues a monocular network can learn are
the real ones: perspective, size with distance, occlusion, texture gradients. Values: RGB in [0, 1].
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F


def _sample(tex: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Bilinear, wrapping lookup of texture (3, h, w) at texel coordinates u (columns), v (rows)."""
    h, w = tex.shape[-2:]
    gx = torch.remainder(u, w) / (w - 1) * 2 - 1
    gy = torch.remainder(v, h) / (h - 1) * 2 - 1
    grid = torch.stack([gx, gy], -1)[None]
    return F.grid_sample(tex[None], grid, mode="bilinear", padding_mode="border", align_corners=True)[0]


def road_scene(textures: torch.Tensor, height: int = 96, width: int = 320, generator: Optional[torch.Generator] = None,
               n_objects: Tuple[int, int] = (2, 6), cam_height: float = 1.65, focal: Optional[float] = None,
               max_depth: float = 80.0, texel: float = 0.02) -> Tuple[torch.Tensor, torch.Tensor]:
    """One scene: RGB (3, H, W) and depth (1, H, W) in metres. ``textures`` (N, 3, h, w) in [0, 1];
    ``focal`` in pixels (default 0.75 W, a KITTI-like 74 degree field); ``texel`` (m) is the ground
    texture's sampling in the world."""
    g = generator
    H, W = height, width
    f = 0.75 * W if focal is None else focal
    y_h = H * (0.40 + 0.1 * float(torch.rand((), generator=g)))
    cx = (W - 1) / 2
    ys = torch.arange(H, dtype=torch.float32)[:, None].expand(H, W)
    xs = torch.arange(W, dtype=torch.float32)[None, :].expand(H, W)
    depth = torch.full((H, W), max_depth)
    rgb = torch.zeros(3, H, W)
    # sky: a vertical gradient, slightly tinted
    tint = torch.tensor([0.55, 0.7, 0.95]) + 0.1 * (torch.rand(3, generator=g) - 0.5)
    t = (ys / max(y_h, 1.0)).clamp(0, 1)
    rgb[:] = tint[:, None, None] * (0.75 + 0.25 * t)[None]
    # ground
    below = ys > y_h + 0.5
    Z = torch.where(below, cam_height * f / (ys - y_h).clamp(min=0.5), torch.full_like(ys, max_depth))
    Z = Z.clamp(max=max_depth)
    X = (xs - cx) * Z / f
    k = int(torch.randint(0, textures.shape[0], (1,), generator=g))
    ground = _sample(textures[k], X / texel, Z / texel)
    rgb = torch.where(below[None], 0.35 + 0.65 * ground, rgb)
    depth = torch.where(below, Z, depth)
    # upright planes, far to near
    n = int(torch.randint(n_objects[0], n_objects[1] + 1, (1,), generator=g))
    objs = []
    for _ in range(n):
        d = float(4 + 36 * torch.rand((), generator=g) ** 1.5)
        Xc = float((torch.rand((), generator=g) * 2 - 1) * 8)
        w = float(1 + 3 * torch.rand((), generator=g))
        hgt = float(1 + 2 * torch.rand((), generator=g))
        objs.append((d, Xc, w, hgt, int(torch.randint(0, textures.shape[0], (1,), generator=g))))
    for d, Xc, w, hgt, k in sorted(objs, reverse=True):
        x0, x1 = cx + f * (Xc - w / 2) / d, cx + f * (Xc + w / 2) / d
        y1 = y_h + f * cam_height / d
        y0 = y_h + f * (cam_height - hgt) / d
        inside = (xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1)
        if not bool(inside.any()):
            continue
        tex = textures[k]
        th, tw = tex.shape[-2:]
        u = (xs - x0) / max(x1 - x0, 1e-6) * (tw - 1)
        v = (ys - y0) / max(y1 - y0, 1e-6) * (th - 1)
        patch = _sample(tex, u.clamp(0, tw - 1), v.clamp(0, th - 1))
        rgb = torch.where(inside[None], patch, rgb)
        depth = torch.where(inside, torch.full_like(depth, d), depth)
    return rgb.clamp(0, 1), depth[None]


def road_scenes(textures: torch.Tensor, n: int, height: int = 96, width: int = 320,
                generator: Optional[torch.Generator] = None, **kwargs):
    """``n`` scenes: RGB (n, 3, H, W) and depth (n, 1, H, W) in metres (see :func:`road_scene`)."""
    out = [road_scene(textures, height, width, generator, **kwargs) for _ in range(n)]
    return torch.stack([o[0] for o in out]), torch.stack([o[1] for o in out])
