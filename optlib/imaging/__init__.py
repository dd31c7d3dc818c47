"""Image formation: FFT convolution and the sensor."""
from .conv import fftconv2d
from .sensor import Sensor, pixel_integrate

__all__ = ["fftconv2d", "Sensor", "pixel_integrate"]
