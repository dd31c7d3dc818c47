"""Point-spread functions, each a short composition of public parts that takes the same lens and the same
elements: thin element (paraxial waves), pupil (exit-pupil Fourier sum), Huygens (every ray a secondary
source), ray-wave (coherent rays -> Field -> DOE -> angular spectrum), geometric (ray histogram, a DOE as a
local grating); :func:`wave_psf` runs any of them on a traced lens, :func:`psf_map` over field and depth."""
from .geometric import geometric_psf, ray_psf
from .huygens import huygens_psf
from .maps import MODELS, field_grid, fold_square, psf_map, unfold_square, wave_psf
from .pupil import PupilRays, direction_grid, pupil_field, pupil_psf, pupil_rays, traced_bundle
from .raywave import propagate_to_sensor, raywave_field, raywave_psf
from .thin import check_thin_sampling, thin_element_psf, thin_lens_equivalent

__all__ = ["geometric_psf", "ray_psf", "huygens_psf", "MODELS", "field_grid", "fold_square", "psf_map",
           "unfold_square", "wave_psf", "PupilRays", "direction_grid", "pupil_field", "pupil_psf", "pupil_rays",
           "traced_bundle",
           "propagate_to_sensor", "raywave_field", "raywave_psf", "check_thin_sampling", "thin_element_psf",
           "thin_lens_equivalent"]
