"""Point-spread functions from traced rays (geometric now; pupil, Huygens and ray-wave methods to follow)."""
from .geometric import geometric_psf

__all__ = ["geometric_psf"]
