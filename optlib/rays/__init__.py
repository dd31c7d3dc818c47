"""Differentiable sequential ray tracing (float64 by default): surfaces, rays, lenses."""
from . import prescription
from .lens import Rays, SequentialLens
from .prescription import library, load, read_zmx, write_zmx
from .surfaces import Surface, refract


__all__ = ["Rays", "SequentialLens", "Surface", "refract", "prescription", "library", "load",
           "read_zmx", "write_zmx"]
