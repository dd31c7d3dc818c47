"""Differentiable sequential ray tracing (float64 by default): surfaces, rays, lenses."""
from . import prescription
from .fields import Splat, carrier_of, check_field_sampling, to_field
from .freeform import BSplineHeight, FreeformSurface, MeshHeight
from .lens import Rays, SequentialLens
from .prescription import library, load, read_zmx, write_zmx
from .surfaces import Surface, refract


__all__ = ["Rays", "SequentialLens", "to_field", "Splat", "check_field_sampling", "carrier_of", "Surface", "refract", "prescription", "library", "load",
           "read_zmx", "write_zmx", "FreeformSurface", "MeshHeight", "BSplineHeight"]
