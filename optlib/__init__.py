"""optlib: a compact, physics-tested PyTorch library for differentiable optics. SI units throughout.

    import optlib as ol
    g = ol.Grid(512, 4 * ol.um)
    u = ol.Field(ol.circ(g, 0.5 * ol.mm), g, 550 * ol.nm)
    out = ol.propagate(u, 20 * ol.mm, method="asm")
"""
__version__ = "0.1.0"

from . import (analytic, data, elements, fft, imaging, materials, metrics, nn, plot, propagation, report, sampling,
               train, units)
from .elements import (DOE, FourF, Kerr, SaturableAbsorber, ZernikeHeightMap, circ, gaussian_beam,
                       height_to_phase, quantize, rect, thin_lens)
from .field import Field
from .grid import Grid
from .imaging import Sensor, fftconv2d, pixel_integrate
from .propagation import asm, focal_plane, fraunhofer, fresnel, fresnel1, propagate, rs
from .report import Results
from .sampling import SamplingError, plan_propagation
from .units import cm, deg, mm, nm, um

__all__ = ["Grid", "Field", "propagate", "asm", "fresnel", "fresnel1", "fraunhofer", "rs", "focal_plane",
           "SamplingError", "plan_propagation", "circ", "rect", "gaussian_beam", "thin_lens", "FourF", "DOE",
           "ZernikeHeightMap", "height_to_phase", "quantize", "Kerr", "SaturableAbsorber", "fftconv2d",
           "Sensor", "pixel_integrate", "Results", "materials", "metrics", "data", "train", "units", "elements",
           "imaging", "plot", "report", "sampling", "propagation", "fft", "um", "nm", "mm", "cm", "deg"]
