"""Differentiable sequential ray tracing (float64 by default): surfaces, rays, lenses."""
from . import prescription
from .lens import Rays, SequentialLens
from .prescription import library, load, read_zmx, write_zmx
from .surfaces import Surface, refract

COOKE_TRIPLET_ROWS = [
    # R (mm), thickness (mm), material after, semi-diameter (mm); Cooke triplet of DeepLens' cooke.json as
    # recorded in shared/reproduction-notes.md (EFL 49.81 mm, F/4)
    (22.02643, 3.259, "SK16", 7.5),
    (-434.7826, 6.008, "air", 7.5),
    (-22.22222, 1.0, "F2", 7.5),
    (20.28398, 4.868, "air", 7.5),
    (80.0, 2.952, "SK16", 7.5),
    (-18.38235, 0.0, "air", 7.5),
]

__all__ = ["Rays", "SequentialLens", "Surface", "refract", "COOKE_TRIPLET_ROWS", "prescription", "library", "load",
           "read_zmx", "write_zmx"]
