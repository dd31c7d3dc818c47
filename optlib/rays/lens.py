"""Rays and sequential lenses: real (float64) ray tracing with optical path length, and first-order data
from a paraxial y-nu trace. Lengths in metres, wavelengths in metres, angles in radians."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch

from .. import materials
from .surfaces import Surface, refract


@dataclass
class Rays:
    """A bundle of rays: origins ``o`` and unit directions ``d`` (N, 3), optical path length ``opl`` (m,
    (N,)), ``valid`` mask, one ``wavelength`` (m). float64 by default: phase derived from a path millions of
    wavelengths long needs it."""

    o: torch.Tensor
    d: torch.Tensor
    wavelength: float
    opl: torch.Tensor = None
    valid: torch.Tensor = None

    def __post_init__(self):
        if self.opl is None:
            self.opl = torch.zeros(self.o.shape[:-1], dtype=self.o.dtype, device=self.o.device)
        if self.valid is None:
            self.valid = torch.ones(self.o.shape[:-1], dtype=torch.bool, device=self.o.device)


class SequentialLens:
    """Surfaces in order along +z with the material after each (``"air"`` or a catalogue name) and a sensor
    plane at ``sensor_z`` (m). The object space is ``object_medium``."""

    def __init__(self, surfaces: Sequence[Surface], materials_after: Sequence[str], sensor_z,
                 object_medium: str = "air"):
        if len(surfaces) != len(materials_after):
            raise ValueError("one material (after the surface) is needed per surface")
        zs = [float(s.z) for s in surfaces]
        if any(b < a for a, b in zip(zs, zs[1:])) or float(sensor_z) < zs[-1]:
            raise ValueError(f"surfaces must be ordered along +z and the sensor behind them: {zs}, sensor {sensor_z}")
        self.surfaces = list(surfaces)
        self.materials = [materials.get(m) for m in materials_after]
        self.object_medium = materials.get(object_medium)
        self.sensor_z = sensor_z

    @classmethod
    def from_rows(cls, rows, sensor_distance: float, unit: float = 1e-3, object_medium="air"):
        """Build from prescription rows ``(R, thickness, material_after, semi_diameter[, k, coeffs, stop])`` in
        ``unit`` (default mm); R = inf (or 0) is a plane; the sensor is ``sensor_distance`` after the last
        surface."""
        surfs, mats, z = [], [], 0.0
        for row in rows:
            R, t, mat, sd = row[:4]
            k = row[4] if len(row) > 4 else 0.0
            coeffs = tuple(a * unit ** (1 - 2 * (i + 1)) for i, a in enumerate(row[5] if len(row) > 5 else ()))
            stop = bool(row[6]) if len(row) > 6 else False
            if sd <= 0:
                raise ValueError(f"semi-diameter must be positive, got {sd}")
            c = 0.0 if (R == 0 or math.isinf(R)) else 1.0 / (R * unit)
            surfs.append(Surface(z * unit, sd * unit, c, k, coeffs, stop))
            mats.append(mat)
            z += t
        return cls(surfs, mats, (z + sensor_distance) * unit, object_medium)

    # --- first-order optics ---------------------------------------------------------------------
    def paraxial(self, wavelength: float):
        """EFL, BFL (from the last surface), and the paraxial image distance, from a y-nu trace of a ray
        parallel to the axis. The paraxial curvature of an asphere includes its a2 term: c + 2 a2."""
        y, nu = 1e-3, 0.0  # height (m), n * slope
        n = self.object_medium.n(wavelength)
        prev_z = float(self.surfaces[0].z)
        for s, m in zip(self.surfaces, self.materials):
            y = y + (float(s.z) - prev_z) * nu / n
            c = float(s.c) + (2 * float(s.coeffs[0]) if s.coeffs else 0.0)
            n2 = m.n(wavelength)
            nu = nu - y * (n2 - n) * c
            n, prev_z = n2, float(s.z)
        u = nu / n
        efl = -1e-3 / u
        bfl = -y / u
        return {"efl": efl, "bfl": bfl, "image_z": prev_z + bfl}

    # --- real rays ----------------------------------------------------------------------------------
    def collimated(self, wavelength: float, radius: float, n_side: int = 64, angle: float = 0.0,
                   dtype=torch.float64, device=None) -> Rays:
        """A square grid of parallel rays within ``radius`` (m) at field ``angle`` (rad, in the y-z plane),
        starting on the plane just before the first surface."""
        t = (torch.arange(n_side, dtype=dtype, device=device) + 0.5) / n_side * 2 - 1
        yy, xx = torch.meshgrid(t * radius, t * radius, indexing="ij")
        keep = (xx ** 2 + yy ** 2) <= radius ** 2
        x, y = xx[keep], yy[keep]
        z0 = float(self.surfaces[0].z) - 1e-3
        o = torch.stack([x, y, torch.full_like(x, z0)], -1)
        d = torch.tensor([0.0, math.sin(angle), math.cos(angle)], dtype=dtype, device=device).expand_as(o).clone()
        return Rays(o, d, wavelength)

    def point_source(self, wavelength: float, source_z: float, radius: float, n_side: int = 64,
                     dtype=torch.float64, device=None) -> Rays:
        """Rays from an on-axis point at ``source_z`` (m, negative: in front of the lens) aimed at a grid of
        radius ``radius`` (m) on the first surface's vertex plane."""
        t = (torch.arange(n_side, dtype=dtype, device=device) + 0.5) / n_side * 2 - 1
        yy, xx = torch.meshgrid(t * radius, t * radius, indexing="ij")
        keep = (xx ** 2 + yy ** 2) <= radius ** 2
        z1 = torch.full_like(xx[keep], float(self.surfaces[0].z))
        target = torch.stack([xx[keep], yy[keep], z1], -1)
        o = torch.tensor([0.0, 0.0, float(source_z)], dtype=dtype, device=device).expand_as(target).clone()
        d = target - o
        return Rays(o, d / torch.linalg.norm(d, dim=-1, keepdim=True), wavelength)

    def trace(self, rays: Rays, to_sensor: bool = True) -> Rays:
        """Trace through every surface (refraction, clipping by semi-diameter, TIR -> invalid, never NaN),
        accumulating optical path length; then to the sensor plane if ``to_sensor``."""
        o, d, opl, valid = rays.o, rays.d, rays.opl, rays.valid.clone()
        n1 = self.object_medium.n(rays.wavelength)
        for s, m in zip(self.surfaces, self.materials):
            t, p, nrm, ok = s.intersect(o, d)
            n2 = m.n(rays.wavelength)
            opl = opl + n1 * t
            d, tir = refract(d, nrm, n1, n2)
            valid = valid & ok & tir
            o, n1 = p, n2
        if to_sensor:
            zs = self.sensor_z if isinstance(self.sensor_z, torch.Tensor) else torch.tensor(float(self.sensor_z), dtype=o.dtype)
            t = (zs - o[..., 2]) / d[..., 2]
            o = o + t[..., None] * d
            opl = opl + n1 * t
        o = torch.where(valid[..., None], o, torch.zeros_like(o))
        return Rays(o, d, rays.wavelength, opl, valid)

    @staticmethod
    def rms_spot(rays: Rays) -> torch.Tensor:
        """RMS radius (m) of valid rays about their centroid on the plane they end on."""
        v = rays.valid
        xy = rays.o[v][:, :2]
        return torch.sqrt(((xy - xy.mean(0)) ** 2).sum(-1).mean())

    def best_focus(self, rays_after: Rays) -> float:
        """Sensor z (m) minimising the RMS spot of rays leaving the last surface (closed form: the lateral
        position is linear in z, so the RMS radius squared is quadratic in z)."""
        v = rays_after.valid
        o, d = rays_after.o[v].detach(), rays_after.d[v].detach()
        a = o[:, :2] - o[:, 2:3] * d[:, :2] / d[:, 2:3]  # position at z = 0
        b = d[:, :2] / d[:, 2:3]                          # slope dx/dz
        a, b = a - a.mean(0), b - b.mean(0)
        return float(-(a * b).sum() / (b * b).sum())
