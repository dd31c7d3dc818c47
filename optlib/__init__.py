"""optlib: a compact, physics-tested PyTorch library for differentiable optics. SI units throughout.

One currency: a :class:`Field` on a positioned :class:`Grid` flows from sources and rays through elements and
propagation to the sensor.

    import optlib as ol
    g = ol.Grid(512, 4 * ol.um)
    u = ol.Field(ol.circ(g, 0.5 * ol.mm), g, 550 * ol.nm)
    out = ol.propagate(u, 20 * ol.mm, method="asm")
    psf = ol.imaging.pixelate(out, g.pixels(4, 64))
"""
__version__ = "0.1.0"

from . import (analytic, data, elements, fft, imaging, materials, meta, metrics, nn, plot, propagation, psf, rays,
               report, sampling, sources, train, units)
from .elements import (DOE, Aperture, FourF, Kerr, PhaseMask, SaturableAbsorber, ThinLens, ZernikeHeightMap, circ,
                       gaussian_beam, height_to_phase, quantize, rect, thin_lens)
from .field import Field
from .grid import Grid
from .imaging import Sensor, fftconv2d, pixel_integrate, pixelate
from .propagation import asm, focal_plane, fraunhofer, fresnel, fresnel1, mdft, propagate, rs
from .report import Results
from .sampling import SamplingError, plan_propagation
from .sources import plane_wave, point_source
from .units import cm, deg, mm, nm, um

__all__ = ["Grid", "Field", "propagate", "asm", "fresnel", "fresnel1", "fraunhofer", "rs", "focal_plane", "mdft",
           "SamplingError", "plan_propagation", "circ", "rect", "gaussian_beam", "thin_lens", "ThinLens", "Aperture", "PhaseMask",
           "FourF", "DOE", "ZernikeHeightMap", "height_to_phase", "quantize", "Kerr", "SaturableAbsorber",
           "fftconv2d", "Sensor", "pixel_integrate", "pixelate", "point_source", "plane_wave", "Results",
           "materials", "metrics", "data", "train", "units", "elements", "imaging", "plot", "report", "sampling",
           "propagation", "fft", "psf", "rays", "meta", "sources", "nn", "analytic", "um", "nm", "mm", "cm", "deg"]
