"""SI units. Every length in optlib is in metres, every time in seconds, every angle in radians.

Multiply by these constants to write readable literals: ``5 * um`` is five micrometres in metres.
"""

import math

m = 1.0
cm = 1e-2
mm = 1e-3
um = 1e-6
nm = 1e-9
s = 1.0
ms = 1e-3
deg = 3.141592653589793 / 180.0  #: one degree in radians

__all__ = ["m", "cm", "mm", "um", "nm", "s", "ms", "deg", "number"]


def number(name: str, value, unit: str = "m", positive: bool = False, nonzero: bool = False) -> float:
    """``value`` (a number or a one-element tensor) as a float, or a ValueError naming ``name`` and its ``unit``
    if it is NaN or infinite, or (as asked) not positive or zero: the one place optlib refuses a bad number."""
    v = float(value.detach()) if hasattr(value, "detach") else float(value)
    need = "a positive, finite" if positive else "a finite, non-zero" if nonzero else "a finite"
    if not math.isfinite(v) or (positive and v <= 0) or (nonzero and v == 0):
        raise ValueError(f"{name} must be {need} number ({unit}), got {value!r}")
    return v
