"""Metasurface front-ends for opto-electronic CNNs: kernel simulation, direct kernel optimisation (DKO),
and the RCWA meta-atom library that turns phases into pillar geometries (Almuallem et al.)."""
from . import cells, dko, kernels
from .cells import CellDesign, CellLibrary
from .kernels import KernelOptics

__all__ = ["cells", "dko", "kernels", "CellDesign", "CellLibrary", "KernelOptics"]
