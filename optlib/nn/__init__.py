"""Neural-network building blocks made of optics (and small electronic helpers)."""
from .aosr import (AOSRNN, D2NN, AOSRSetup, AOSRUnit, NALowPass, authors_input_radius, cutoff_width, energy_ledger,  # noqa: F401
                   prepare_inputs, sr_loss, PolyAOSRNN, prepare_poly_inputs)

__all__ = ["AOSRNN", "D2NN", "AOSRSetup", "AOSRUnit", "NALowPass", "authors_input_radius", "cutoff_width",
           "energy_ledger", "prepare_inputs", "sr_loss"]
