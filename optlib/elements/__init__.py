"""Optical elements (each an ``nn.Module`` mapping a Field to a Field, and the functions behind them): apertures,
thin lenses and 4f systems, DOE height maps, Zernikes, nonlinear layers."""
from .apertures import circ, gaussian_beam, rect
from .doe import (DOE, binary2_phase, FourierHeightMap, PixelHeightMap, RadialHeightMap, ZernikeHeightMap, cubic_height,
                  fabrication_noise, height_to_phase, lens_height, period_height, phase_to_height, quantize)
from .lens import Aperture, FourF, PhaseMask, ThinLens, fft_c, ifft_c, thin_lens
from .nonlinear import Kerr, SaturableAbsorber, kerr, saturable_absorber
from .zernike import (noll_to_nm, zernike, zernike_basis, zernike_fit, zernike_monomials, zernike_on_grid,
                      zernike_surface)

__all__ = ["circ", "rect", "gaussian_beam", "thin_lens", "ThinLens", "Aperture", "PhaseMask", "FourF", "lens_height",
           "cubic_height", "period_height", "fft_c", "ifft_c", "DOE", "binary2_phase", "PixelHeightMap",
           "FourierHeightMap", "ZernikeHeightMap", "RadialHeightMap", "height_to_phase", "phase_to_height",
           "quantize", "fabrication_noise", "Kerr", "SaturableAbsorber", "kerr", "saturable_absorber",
           "noll_to_nm", "zernike", "zernike_basis", "zernike_fit", "zernike_monomials", "zernike_on_grid",
           "zernike_surface"]
