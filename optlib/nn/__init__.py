"""Networks around optics: Wiener deconvolution and a small super-resolution CNN (:mod:`~optlib.nn.deconv`), and
Monodepth2-style depth networks whose first convolution can be an optical layer (:mod:`~optlib.nn.depth`)."""
from . import deconv, depth
from .deconv import SRNet, WienerDeconv, psf_otf, wiener_deconv
from .depth import DepthNet, OpticalConv2d, ResNetConfig, count_parameters

__all__ = ["deconv", "depth", "SRNet", "WienerDeconv", "psf_otf", "wiener_deconv", "DepthNet", "OpticalConv2d",
           "ResNetConfig", "count_parameters"]
