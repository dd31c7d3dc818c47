"""Image formation: FFT convolution, spatially varying PSFs and the sensor."""
from .conv import fftconv2d
from .sensor import Sensor, pixel_integrate
from .varying import field_weights, render_varying

__all__ = ["fftconv2d", "Sensor", "pixel_integrate", "field_weights", "render_varying"]
