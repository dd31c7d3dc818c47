"""Image formation: FFT convolution, spatially varying PSFs and the sensor."""
from .conv import fftconv2d
from .sensor import Sensor, pixel_factor, pixel_integrate, pixelate
from .varying import field_weights, render_varying

__all__ = ["fftconv2d", "Sensor", "pixel_integrate", "pixelate", "pixel_factor", "field_weights", "render_varying"]
