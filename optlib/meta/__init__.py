"""Metasurface front-ends for opto-electronic CNNs: kernel simulation (:mod:`~optlib.meta.kernels`), fitting
elements to target kernels (:mod:`~optlib.meta.fit`), and the RCWA meta-atom library that turns phases into
pillar geometries (:mod:`~optlib.meta.cells`)."""
from . import cells, fit, kernels
from .cells import CellDesign, CellLibrary
from .kernels import KernelOptics

__all__ = ["cells", "fit", "kernels", "CellDesign", "CellLibrary", "KernelOptics"]
