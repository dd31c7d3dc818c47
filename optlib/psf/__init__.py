"""Point-spread functions from traced rays: geometric (ray histogram), pupil (exit-pupil Debye sum),
Huygens (every ray a secondary source, memory-bounded) and ray-wave (coherent rays -> field on a plane ->
DOE -> angular spectrum), plus PSF maps over field and depth."""
from .geometric import geometric_psf
from .maps import field_grid, psf_map
from .raywave import raywave_psf, splat_field, tilted_asm
from .wave import PupilRays, huygens_psf, pupil_psf, pupil_rays, wave_psf

__all__ = ["geometric_psf", "PupilRays", "pupil_rays", "pupil_psf", "huygens_psf", "wave_psf", "raywave_psf",
           "splat_field", "tilted_asm", "psf_map", "field_grid"]
