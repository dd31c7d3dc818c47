"""The ray-wave model (the hybrid model of Yang et al. 2024): coherent rays -> a Field on a plane -> the DOE
-> the angular spectrum to the sensor -> pixels. Every step is a public part:

1. an aimed pupil bundle is traced in float64 through the lens and carried to the plane ``plane_z`` (the
   DOE's, if there is one): :meth:`optlib.rays.Rays.to_plane`;
2. the rays become a Field on a window of pitch ``dx`` there, the chief ray's tilt kept as its carrier:
   :func:`optlib.rays.to_field` (sampling-checked; a large bundle is streamed through steps 1-2 a chunk at a
   time, :class:`optlib.rays.Splat`);
3. the DOE multiplies it (:class:`optlib.elements.DOE`, on its own pixels);
4. the tilted angular spectrum carries it to the sensor, its window following the chief ray, evaluated on the
   sensor's sub-samples only (:func:`optlib.propagation.asm` with ``window=``; steps 3-4 together:
   :func:`propagate_to_sensor`);
5. the sensor integrates it over pixels (:func:`optlib.imaging.pixelate`).

The window on the plane is placed so that, after the walk-off, its samples tile the sensor's pixels.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from ..grid import Grid
from ..imaging.sensor import pixel_factor, pixelate
from ..propagation import asm, walk_off
from ..rays.fields import Splat, carrier_of, check_field_sampling, to_field
from ..sampling import SamplingError
from .pupil import traced_bundle

#: bundles of more than this many rays (n_side^2) are streamed: aimed, traced and splatted ``RAY_CHUNK`` pupil
#: points at a time, so that the rays' memory (about 650 bytes a ray while aiming) does not grow with their number
#: past it; smaller ones are traced whole (checked on all their rays; at the paper's 1e6 rays, 20 % faster here and
#: below the memory the field on the plane needs anyway)
STREAM_RAYS = 1 << 21
RAY_CHUNK = 1 << 18


def raywave_field(lens, wavelength: float, sensor: Grid, dx: float, window: int, plane_z: Optional[float] = None,
                  angle=0.0, source=None, n_side: int = 512, doe=None, padding: float = 2.0, check: bool = True,
                  convention: str = "aimed", radius=None):
    """Steps 1-4 of the module docstring: (the Field on the plane after the DOE, the Field on the sensor's
    sub-samples, ``sensor.subdivided(sensor.dx / dx)``).
    ``plane_z`` defaults to the DOE's ``z``; ``sensor`` is the positioned pixel grid the result must tile;
    ``convention``/``radius``: which rays fill the pupil (:func:`optlib.psf.pupil_rays`). A bundle of more than
    ``STREAM_RAYS`` rays (``n_side``^2) is streamed (steps 1-2 a chunk of ``RAY_CHUNK`` pupil points at a time, into
    one :class:`optlib.rays.Splat`; its sampling checked on a 64^2 bundle of the same geometry at the full count),
    so its memory does not grow with the rays."""
    if plane_z is None:
        if doe is None or doe.z is None:
            raise ValueError("raywave: give plane_z (m), or a DOE with its z")
        plane_z = doe.z
    pixel_factor(Grid(1, dx), sensor)  # raises unless the pixel pitch is an integer multiple of dx
    stream = n_side * n_side > STREAM_RAYS
    # a streamed bundle: a small one of the same geometry places the window and is checked at the full count
    out, chief, _, n = traced_bundle(lens, wavelength, angle, source, 64 if stream else n_side, convention=convention,
                                     radius=radius)
    if float(plane_z) < float(out.o[out.valid][:, 2].max()):
        raise ValueError(f"plane_z = {float(plane_z):.6e} m lies inside the lens; put it behind the last surface")
    out, chief = out.to_plane(plane_z, n), chief.to_plane(plane_z, n)
    carrier = carrier_of(chief.d[0], wavelength, n)
    L = lens.sensor_z - plane_z if isinstance(lens.sensor_z, torch.Tensor) else float(lens.sensor_z) - float(plane_z)
    s = walk_off(carrier, wavelength, float(L), n)
    fine = sensor.subdivided(pixel_factor(Grid(1, dx), sensor))
    plane = Grid(window, dx, origin=(fine.origin[0] - s[0], fine.origin[1] - s[1]))
    if check and (fine.extent[0] > plane.extent[0] or fine.extent[1] > plane.extent[1]):
        raise SamplingError(f"raywave: the sensor window ({fine.extent[1]:.3e} m) is wider than the field window "
                            f"({plane.extent[1]:.3e} m); use window >= {math.ceil(fine.extent[1] / dx)}")
    if not stream:
        E = to_field(out, plane, n, carrier, reference=chief.opl[0], check=check)
    else:
        pupil = lens.pupil_grid(n_side, out.o.dtype, out.o.device)
        if check:
            check_field_sampling(out, plane, n, carrier, n_rays=pupil.shape[0])
        acc = Splat(plane, wavelength, n, carrier, reference=chief.opl[0])
        for a in range(0, pupil.shape[0], RAY_CHUNK):
            rays = lens.through_pupil(wavelength, pupil[a:a + RAY_CHUNK], angle, source, convention, radius)
            acc.add(lens.trace(rays, to_sensor=False).to_plane(plane_z, n))
        E = acc.field()
    if doe is not None:
        E = doe(E)
    return E, propagate_to_sensor(E, L, padding=padding, n=n, window=fine)


def propagate_to_sensor(E, distance, doe=None, padding: float = 2.0, n: float = 1.0, window: Optional[Grid] = None):
    """Steps 3-4 of the module docstring for any Field ``E`` on a plane (the ray-wave model's, or a field another
    model puts there): through ``doe`` (if given), then the tilted angular spectrum over ``distance`` (m) in index
    ``n``, the window moving with the carrier's walk-off. Returns the Field on the sensor side, whose samples
    tile the sensor's pixels when ``E``'s window was placed as :func:`raywave_field` places it; only on
    ``window`` if given (e.g. the sensor's sub-samples, ``sensor.subdivided(f)``: the angular spectrum then never
    forms the padded output, see :func:`optlib.propagation.asm`).

    With ``padding`` >= 2 the band limit removes only plane waves that walk out of the window, so none that could
    reach a sensor window inside it: the angular spectrum's own power check (for same-grid work) is skipped."""
    if padding < 2:
        raise ValueError(f"raywave: padding must be >= 2 (got {padding}) so that the band limit cuts only light "
                         "leaving the window")
    if doe is not None:
        E = doe(E)
    d = float(distance.detach()) if isinstance(distance, torch.Tensor) else float(distance)
    return asm(E, distance, padding=padding, n=n, shift=walk_off(E.carrier, float(E.wavelength), d, n), check=False,
               window=window)


def raywave_psf(lens, wavelength: float, sensor: Grid, dx: float, window: int, plane_z: Optional[float] = None,
                angle=0.0, source=None, n_side: int = 512, doe=None, padding: float = 2.0, check: bool = True,
                return_field: bool = False, convention: str = "aimed", radius=None):
    """Ray-wave PSF (H, W) on the positioned ``sensor`` pixel grid (e.g. centred on the chief ray's hit),
    power per pixel: rays (an aimed ``n_side`` x ``n_side`` pupil grid at ``angle`` rad or from ``source``)
    traced to ``plane_z`` (m; default the DOE's z), made a Field on a ``window`` x ``window`` grid of pitch
    ``dx`` (m), through the ``doe`` if given, propagated to the sensor and integrated over its pixels
    (``sensor.dx`` an integer multiple of ``dx``). ``return_field`` also returns the Field on the plane.
    ``convention``/``radius``: which rays fill the pupil (:func:`optlib.psf.pupil_rays`). Near focus the
    beam on the plane is few samples across and the splat's blurred edge apodises it: ``check`` refuses a
    beam narrower than :data:`optlib.rays.fields.MIN_BEAM_SAMPLES` samples in radius, naming the ``dx`` to use."""
    E, out = raywave_field(lens, wavelength, sensor, dx, window, plane_z, angle, source, n_side, doe, padding, check,
                           convention, radius)
    psf = pixelate(out, sensor)
    return (psf, E) if return_field else psf
