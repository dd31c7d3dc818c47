"""SI units. Every length in optlib is in metres, every time in seconds, every angle in radians.

Multiply by these constants to write readable literals: ``5 * um`` is five micrometres in metres.
"""

m = 1.0
cm = 1e-2
mm = 1e-3
um = 1e-6
nm = 1e-9
s = 1.0
ms = 1e-3
deg = 3.141592653589793 / 180.0  #: one degree in radians

__all__ = ["m", "cm", "mm", "um", "nm", "s", "ms", "deg"]
