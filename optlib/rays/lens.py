"""Rays and sequential lenses: real (float64) ray tracing with optical path length, and first-order data
from a paraxial y-nu trace. Lengths in metres, wavelengths in metres, angles in radians."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
import torch.utils.checkpoint

from .. import materials
from ..units import number
from .surfaces import Surface, refract_xyz


#: rays per chunk of a gradient-free trace run on the thread pool (see :meth:`SequentialLens.trace`)
TRACE_CHUNK = 1 << 15
#: saved-tensor memory (bytes) above which a differentiable trace checkpoints its chunks
CHECKPOINT_BYTES = 2 << 30


def _pooled(fn, slices):
    """``[fn(*s) for s in slices]`` on ``torch.get_num_threads()`` Python threads taking slices from a queue, each
    with one intra-op thread (torch releases the GIL inside its kernels); the thread count is restored."""
    from concurrent.futures import ThreadPoolExecutor
    nt = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(nt) as ex:
            return list(ex.map(lambda s: fn(*s), slices))
    finally:
        torch.set_num_threads(nt)


def _f(x) -> float:
    """A plain float of a number or (possibly grad-tracking) 0-d tensor."""
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def _to_plane(ox, oy, oz, dx, dy, dz, opl, z, n):
    """Component form of :meth:`Rays.to_plane` (used inside the trace): carry rays along their directions to
    the plane ``z`` (m) in index ``n``, adding the optical path n t."""
    t = (z - oz) / dz
    return ox + t * dx, oy + t * dy, oz + t * dz, opl + n * t


@dataclass
class Rays:
    """A bundle of rays: origins ``o`` and unit directions ``d`` (N, 3), optical path length ``opl`` (m,
    (N,)), ``valid`` mask, one ``wavelength`` (m). float64 by default: phase derived from a path millions of
    wavelengths long needs it."""

    o: torch.Tensor
    d: torch.Tensor
    wavelength: float
    opl: torch.Tensor = None
    valid: torch.Tensor = None

    def __post_init__(self):
        if self.o.dtype in (torch.float16, torch.bfloat16) or not self.o.is_floating_point():
            raise TypeError(f"rays in {self.o.dtype} cannot carry a traced path (a metre-long optical path needs "
                            "float64, or float32 for positions only): use dtype=torch.float64")
        if self.opl is None:
            self.opl = torch.zeros(self.o.shape[:-1], dtype=self.o.dtype, device=self.o.device)
        if self.valid is None:
            self.valid = torch.ones(self.o.shape[:-1], dtype=torch.bool, device=self.o.device)

    def to_plane(self, z, n: float = 1.0) -> "Rays":
        """The rays carried along their directions to the plane ``z`` (m, a number or 0-d tensor) in a medium of
        index ``n``, their optical paths grown by n t. Rays running parallel to the plane become invalid."""
        ox, oy, oz = self.o.unbind(-1)
        dx, dy, dz = self.d.unbind(-1)
        zt = z if isinstance(z, torch.Tensor) else torch.tensor(float(z), dtype=self.o.dtype, device=self.o.device)
        ok = dz.abs() > 1e-12
        dz_safe = torch.where(ok, dz, torch.ones_like(dz))
        x, y, zz, opl = _to_plane(ox, oy, oz, dx, dy, dz_safe, self.opl, zt, n)
        return Rays(torch.stack([x, y, zz.expand_as(x)], -1), self.d, self.wavelength, opl, self.valid & ok)

    def through(self, doe, n: float = 1.0, deflect: bool = True) -> "Rays":
        """The rays after a thin diffractive element ``doe`` (:class:`optlib.elements.DOE`) they sit on: its phase
        phi at each ray joins the optical path as lambda phi / (2 pi), and with ``deflect`` the local grating
        turns the direction, n d_xy += lambda grad(phi) / (2 pi) (first order; evanescent rays become invalid).
        ``n``: the index around the element. Rays its aperture blocks (:meth:`optlib.elements.DOE.passes_at`)
        become invalid."""
        x, y = self.o[:, 0], self.o[:, 1]
        opl = self.opl + self.wavelength * doe.phase_at(x, y, self.wavelength) / (2 * math.pi)
        valid = self.valid & doe.passes_at(x, y)
        if not deflect:
            return Rays(self.o, self.d, self.wavelength, opl, valid)
        gx, gy = doe.grating_at(x, y, self.wavelength)
        s = self.wavelength / (2 * math.pi * n)
        dx, dy = self.d[:, 0] + s * gx, self.d[:, 1] + s * gy
        dz2 = 1 - dx * dx - dy * dy
        ok = dz2 > 0
        dz = torch.sqrt(torch.clamp(dz2, min=1e-30)) * torch.sign(self.d[:, 2])
        return Rays(self.o, torch.stack([dx, dy, dz], -1), self.wavelength, opl, valid & ok)


class SequentialLens:
    """Surfaces in order along +z with the material after each (``"air"`` or a catalogue name) and a sensor
    plane at ``sensor_z`` (m). The object space is ``object_medium``."""

    def __init__(self, surfaces: Sequence[Surface], materials_after: Sequence[str], sensor_z,
                 object_medium: str = "air"):
        if len(surfaces) != len(materials_after):
            raise ValueError("one material (after the surface) is needed per surface")
        zs = [_f(s.z) for s in surfaces]
        if any(b < a for a, b in zip(zs, zs[1:])) or _f(sensor_z) < zs[-1]:
            raise ValueError(f"surfaces must be ordered along +z and the sensor behind them: {zs}, sensor {sensor_z}")
        self.surfaces = list(surfaces)
        self.materials = [materials.get(m) for m in materials_after]
        self.object_medium = materials.get(object_medium)
        self.sensor_z = sensor_z
        self._device = None  # set by to(); else the device of the tensor parameters

    @property
    def device(self) -> torch.device:
        """Where rays through this lens are made when a method is not given a ``device``: the one set by
        :meth:`to`, else the device of the lens's tensor parameters (a learnt curvature on a GPU), else the CPU."""
        if self._device is not None:
            return self._device
        for sf in self.surfaces:
            for x in sf.tensors():
                return x.device
        return self.sensor_z.device if isinstance(self.sensor_z, torch.Tensor) else torch.device("cpu")

    def to(self, device) -> "SequentialLens":
        """The same lens with its tensor parameters moved to ``device`` (a tensor that requires grad stays in
        the graph) and its rays made there; float parameters stay floats. Returns a new lens."""
        dev = torch.device(device)

        sensor = self.sensor_z.to(dev) if isinstance(self.sensor_z, torch.Tensor) else self.sensor_z
        out = SequentialLens([sf.to(dev) for sf in self.surfaces], [m.name for m in self.materials], sensor,
                             self.object_medium.name)
        out._device = dev
        return out

    def _on(self, device) -> torch.device:
        return self.device if device is None else torch.device(device)

    @classmethod
    def from_rows(cls, rows, sensor_distance: float, unit: float = 1e-3, object_medium="air"):
        """Build from prescription rows ``(R, thickness, material_after, semi_diameter[, k, coeffs, stop])`` in
        ``unit`` (default mm); R = inf (or 0) is a plane; the sensor is ``sensor_distance`` after the last
        surface."""
        surfs, mats, z = [], [], 0.0
        for row in rows:
            R, t, mat, sd = row[:4]
            k = row[4] if len(row) > 4 else 0.0
            coeffs = tuple(a * unit ** (1 - 2 * (i + 1)) for i, a in enumerate(row[5] if len(row) > 5 else ()))
            stop = bool(row[6]) if len(row) > 6 else False
            if sd <= 0:
                raise ValueError(f"semi-diameter must be positive, got {sd}")
            c = 0.0 if (R == 0 or math.isinf(R)) else 1.0 / (R * unit)
            surfs.append(Surface(z * unit, sd * unit, c, k, coeffs, stop))
            mats.append(mat)
            z += t
        return cls(surfs, mats, (z + sensor_distance) * unit, object_medium)

    def scaled(self, factor: float) -> "SequentialLens":
        """The same design with every length multiplied by ``factor`` (positions, semi-diameters, sensor;
        curvatures divided, a_{2i} times factor^(1 - 2i)): EFL scales by ``factor``, F-number and field of view
        do not (Ho et al. use the Cooke triplet at ``system_scale`` 0.1). Same materials."""
        s = number("factor", factor, unit="", positive=True)
        self._symmetric("scaled")
        surfs = [Surface(sf.z * s, sf.semi_diameter * s, sf.c / s, sf.k,
                         tuple(a * s ** (1 - 2 * i) for i, a in enumerate(sf.coeffs, start=1)), sf.stop)
                 for sf in self.surfaces]
        out = SequentialLens(surfs, [m.name for m in self.materials], self.sensor_z * s, self.object_medium.name)
        out._device = self._device
        return out

    def with_sensor(self, sensor_z) -> "SequentialLens":
        """The same lens with its sensor plane at ``sensor_z`` (m; may be a tensor, e.g. a learnt focus)."""
        out = SequentialLens(self.surfaces, [m.name for m in self.materials], sensor_z, self.object_medium.name)
        out._device = self._device
        return out

    def _symmetric(self, what: str):
        bad = [i for i, sf in enumerate(self.surfaces) if not getattr(sf, "rotationally_symmetric", False)]
        if bad:
            raise ValueError(f"SequentialLens.{what}: surface(s) {bad} have no axis of symmetry (freeform); first-order "
                             "data and scaling are defined for rotationally symmetric surfaces only. Trace real rays "
                             "(collimated, trace) through a lens with a freeform surface")

    # --- first-order optics ---------------------------------------------------------------------
    def stop_index(self) -> int:
        """Index of the aperture stop: the surface flagged ``stop``, else the first surface."""
        flagged = [i for i, s in enumerate(self.surfaces) if s.stop]
        return flagged[0] if flagged else 0

    def _abcd(self, wavelength: float, first: int, last: int, n_in: float, end_z=None, num=_f):
        """Paraxial matrix in (y, n u) from the vertex plane of surface ``first`` (just before it, index
        ``n_in``) to just after surface ``last - 1``, then on to the plane ``end_z`` (m) if given. Returns
        the 2x2 matrix and the index after. The paraxial curvature of an asphere includes its a2 term:
        c + 2 a2. ``num`` reads each lens parameter (``_f``: a float; identity: keep the tensor's graph)."""
        A, B, C, D = 1.0, 0.0, 0.0, 1.0
        n, prev_z = n_in, num(self.surfaces[first].z)
        for s, m in zip(self.surfaces[first:last], self.materials[first:last]):
            t = num(s.z) - prev_z
            A, B = A + t / n * C, B + t / n * D
            c = num(s.c) + (2 * num(s.coeffs[0]) if s.coeffs else 0.0)
            n2 = m.n(wavelength)
            phi = (n2 - n) * c
            C, D = C - phi * A, D - phi * B
            n, prev_z = n2, num(s.z)
        if end_z is not None:
            t = num(end_z) - prev_z
            A, B = A + t / n * C, B + t / n * D
        return (A, B, C, D), n

    def paraxial(self, wavelength: float, differentiable: bool = False):
        """First-order data (metres) from paraxial matrices at ``wavelength`` (m): ``efl``, ``bfl`` (from
        the last vertex), paraxial ``image_z`` of an object at infinity, entrance and exit pupils (the
        stop's images in object and image space: ``entrance_pupil_z``, ``entrance_pupil_radius``,
        ``exit_pupil_z``, ``exit_pupil_radius``) and ``f_number`` = EFL / entrance-pupil diameter.

        Plain floats by default; ``differentiable=True`` keeps every quantity a function of the lens's
        tensor parameters (surface positions, curvatures, a2, the stop's semi-diameter), so that a loss on
        the F-number or EFL back-propagates into the lens (0-d tensors where a parameter is a tensor)."""
        self._symmetric("paraxial")
        num = (lambda x: x) if differentiable else _f
        n0 = self.object_medium.n(wavelength)
        N = len(self.surfaces)
        (A, B, C, D), n_img = self._abcd(wavelength, 0, N, n0, num=num)
        if _f(C) == 0:
            raise ValueError("the lens is afocal (zero power): EFL, BFL and F-number are undefined")
        efl = -n_img / C  # focal length measured in image space (equals n' / power)
        bfl = -n_img * A / C
        z_last = num(self.surfaces[-1].z)
        out = {"efl": efl, "bfl": bfl, "image_z": z_last + bfl}
        i = self.stop_index()
        r_stop = num(self.surfaces[i].semi_diameter)
        # object space (first vertex) -> the stop's plane, including the gap after the surface before it
        (Af, Bf, _, _), _ = self._abcd(wavelength, 0, i, n0, end_z=self.surfaces[i].z, num=num)
        if _f(Af) == 0:
            raise ValueError("the stop is imaged to infinity in object space (telecentric); no entrance pupil")
        out["entrance_pupil_z"] = num(self.surfaces[0].z) + n0 * Bf / Af
        out["entrance_pupil_radius"] = abs(r_stop / Af)
        n_stop = self.object_medium.n(wavelength) if i == 0 else self.materials[i - 1].n(wavelength)
        (Ar, Br, Cr, Dr), _ = self._abcd(wavelength, i, N, n_stop, num=num)  # stop plane -> after the last surface
        if _f(Dr) == 0:
            raise ValueError("the stop is imaged to infinity in image space (telecentric); no exit pupil")
        out["exit_pupil_z"] = z_last - n_img * Br / Dr
        out["exit_pupil_radius"] = abs(r_stop / Dr)
        out["f_number"] = efl / (2 * out["entrance_pupil_radius"])
        return out

    # --- real rays ----------------------------------------------------------------------------------
    @staticmethod
    def direction(angle, dtype, device):
        """Unit direction of a collimated beam at field ``angle`` (rad): a number (in the y-z plane) or a
        pair (theta_x, theta_y) with direction proportional to (tan theta_x, tan theta_y, 1)."""
        ax, ay = (0.0, float(angle)) if not isinstance(angle, (tuple, list)) else (float(angle[0]), float(angle[1]))
        v = torch.tensor([math.tan(ax), math.tan(ay), 1.0], dtype=dtype, device=device)
        return v / torch.linalg.norm(v)

    @staticmethod
    def _disc_grid(n_side, dtype, device):
        t = (torch.arange(n_side, dtype=dtype, device=device) + 0.5) / n_side * 2 - 1
        yy, xx = torch.meshgrid(t, t, indexing="ij")
        keep = (xx ** 2 + yy ** 2) <= 1
        return xx[keep], yy[keep]

    def collimated(self, wavelength: float, radius: float, n_side: int = 64, angle=0.0,
                   dtype=torch.float64, device=None) -> Rays:
        """A square grid of parallel rays within ``radius`` (m) at field ``angle`` (rad, see
        ``direction``), starting on the plane 1 mm before the first vertex, centred on the axis (no aiming;
        see :meth:`aimed` for rays that fill the stop)."""
        device = self._on(device)
        x, y = self._disc_grid(n_side, dtype, device)
        x, y = x * radius, y * radius
        z0 = _f(self.surfaces[0].z) - 1e-3
        o = torch.stack([x, y, torch.full_like(x, z0)], -1)
        d = self.direction(angle, dtype, device).expand_as(o).clone()
        return Rays(o, d, wavelength, self._plane_wave_opl(o, d, wavelength))

    def _plane_wave_opl(self, o, d, wavelength):
        """Starting optical path of parallel rays so that they begin on one wavefront (the plane through
        the origin normal to ``d``): n0 d . o (m)."""
        return self.object_medium.n(wavelength) * (o * d).sum(-1)

    def point_source(self, wavelength: float, source_z: float, radius: float, n_side: int = 64,
                     dtype=torch.float64, device=None, source_xy=(0.0, 0.0)) -> Rays:
        """Rays from the point (``source_xy``, ``source_z``) (m; negative z: in front of the lens) aimed at a
        grid of radius ``radius`` (m) on the first surface's vertex plane."""
        device = self._on(device)
        x, y = self._disc_grid(n_side, dtype, device)
        target = torch.stack([x * radius, y * radius, torch.full_like(x, _f(self.surfaces[0].z))], -1)
        o = torch.tensor([float(source_xy[0]), float(source_xy[1]), float(source_z)], dtype=dtype,
                         device=device).expand_as(target).clone()
        d = target - o
        return Rays(o, d / torch.linalg.norm(d, dim=-1, keepdim=True), wavelength)

    def _launch(self, uv, angle, source, z_start, dtype, device):
        """Rays through points ``uv`` (N, 2) on the plane ``z_start``: parallel at ``angle`` or from
        ``source`` (x, y, z)."""
        if source is None:
            d = self.direction(angle, dtype, device).expand(uv.shape[0], 3)
            o = torch.cat([uv, torch.full_like(uv[:, :1], z_start)], -1)
            return o, d.clone()
        src = torch.tensor([float(v) for v in source], dtype=dtype, device=device).expand(uv.shape[0], 3)
        target = torch.cat([uv, torch.full_like(uv[:, :1], z_start)], -1)
        d = target - src
        return src.clone(), d / torch.linalg.norm(d, dim=-1, keepdim=True)

    def _paraxial_start(self, par, pupil, angle, source, z_start, radius=None):
        """Start-plane points of rays through ``pupil`` * r on the paraxial entrance pupil (r = ``radius``, or
        the entrance pupil's), parallel at ``angle`` or from ``source``."""
        r_ep, z_ep = par["entrance_pupil_radius"] if radius is None else radius, par["entrance_pupil_z"]
        ep = pupil * r_ep
        if source is None:
            d0 = self.direction(angle, pupil.dtype, pupil.device)
            return ep + (d0[:2] / d0[2]) * (z_start - z_ep)
        sx, sy, sz = (float(v) for v in source)
        s = (z_start - sz) / (z_ep - sz)
        return torch.stack([sx + s * (ep[:, 0] - sx), sy + s * (ep[:, 1] - sy)], -1)

    def aimed(self, wavelength: float, pupil: torch.Tensor, angle=0.0, source=None, iters: int = 8,
              tol: float = 1e-12) -> Rays:
        """Real-ray aiming: rays that cross the stop plane at ``pupil`` (N, 2), normalised stop coordinates
        (|p| <= 1 fills the stop), for a collimated beam at field ``angle`` (rad) or from a point ``source``
        (x, y, z) in metres. Starts from the paraxial entrance pupil and solves each ray's 2x2 problem by
        Newton with finite-difference Jacobians until the stop-plane miss is below ``tol`` (m). Rays that
        cannot reach the stop stay in the bundle, marked invalid by the trace."""
        dtype, device = pupil.dtype, pupil.device
        par = self.paraxial(wavelength)
        i = self.stop_index()
        r_stop = _f(self.surfaces[i].semi_diameter)
        z_start = _f(self.surfaces[0].z) - 1e-3
        target = pupil * r_stop
        uv = self._paraxial_start(par, pupil, angle, source, z_start)  # the guess: the paraxial pupil point
        h = 1e-7 * max(par["entrance_pupil_radius"], 1e-6)
        with torch.no_grad():
            for _ in range(iters):
                both = torch.cat([uv, uv + torch.tensor([h, 0.0], dtype=dtype, device=device),
                                  uv + torch.tensor([0.0, h], dtype=dtype, device=device)])
                o, d = self._launch(both, angle, source, z_start, dtype, device)
                hit = self.trace(Rays(o, d, wavelength), to_sensor=False, upto=i + 1, clip=False).o[:, :2]
                p0, px, py = hit.chunk(3)
                err = p0 - target
                if float(err.abs().max()) < tol:
                    break
                jx, jy = (px - p0) / h, (py - p0) / h  # columns of the Jacobian d(stop)/d(start)
                det = jx[:, 0] * jy[:, 1] - jy[:, 0] * jx[:, 1]
                det = torch.where(det.abs() > 1e-30, det, torch.ones_like(det))
                du = (jy[:, 1] * err[:, 0] - jy[:, 0] * err[:, 1]) / det
                dv = (-jx[:, 1] * err[:, 0] + jx[:, 0] * err[:, 1]) / det
                uv = uv - torch.stack([du, dv], -1)
        o, d = self._launch(uv, angle, source, z_start, dtype, device)
        return Rays(o, d, wavelength, self._plane_wave_opl(o, d, wavelength) if source is None else None)

    def through_pupil(self, wavelength: float, pupil: torch.Tensor, angle=0.0, source=None,
                      convention: str = "aimed", radius: Optional[float] = None) -> Rays:
        """Rays through normalised pupil coordinates ``pupil`` (N, 2) by a documented pupil ``convention``:

        - ``"aimed"``: real rays aimed to cross the stop at ``pupil`` x stop radius (:meth:`aimed`); the stop
          is filled at every field (Zemax/Code V with ray aiming on).
        - ``"paraxial"``: rays through the paraxial entrance pupil at ``pupil`` x r, r = ``radius`` (m) or the
          entrance pupil's radius, without aiming (ray aiming off). Off axis the real stop may cut the bundle
          (those rays are marked invalid by the trace) or be under-filled. With ``radius`` smaller than the
          pupil's this is a beam of that radius centred on the paraxial pupil: an illumination aperture.
        """
        if convention == "aimed":
            if radius is not None:
                raise ValueError("radius is the illuminated radius of the 'paraxial' convention; the 'aimed' "
                                 "convention always fills the stop")
            return self.aimed(wavelength, pupil, angle, source)
        if convention != "paraxial":
            raise ValueError(f"unknown pupil convention {convention!r}; use 'aimed' or 'paraxial'")
        if radius is not None:
            radius = number("radius", radius, positive=True)
        z_start = _f(self.surfaces[0].z) - 1e-3
        uv = self._paraxial_start(self.paraxial(wavelength), pupil, angle, source, z_start, radius)
        o, d = self._launch(uv, angle, source, z_start, pupil.dtype, pupil.device)
        return Rays(o, d, wavelength, self._plane_wave_opl(o, d, wavelength) if source is None else None)

    def pupil_bundle(self, wavelength: float, n_side: int = 64, angle=0.0, source=None,
                     dtype=torch.float64, device=None, convention: str = "aimed", radius: Optional[float] = None):
        """Rays on a square grid of ``n_side`` samples across the pupil (those inside the disc) by the pupil
        ``convention`` of :meth:`through_pupil`, and their normalised pupil coordinates (N, 2)."""
        pupil = self.pupil_grid(n_side, dtype, device)
        return self.through_pupil(wavelength, pupil, angle, source, convention, radius), pupil

    def pupil_grid(self, n_side: int = 64, dtype=torch.float64, device=None) -> torch.Tensor:
        """The normalised pupil coordinates (N, 2) of :meth:`pupil_bundle`: a square grid of ``n_side`` samples
        across the unit disc, those inside it (to trace a large bundle a chunk at a time with
        :meth:`through_pupil`)."""
        x, y = self._disc_grid(n_side, dtype, self._on(device))
        return torch.stack([x, y], -1)

    def chief_ray(self, wavelength: float, angle=0.0, source=None, dtype=torch.float64, device=None,
                  convention: str = "aimed") -> Rays:
        """The ray through the centre of the stop (``"aimed"``) or of the paraxial entrance pupil
        (``"paraxial"``), for a field ``angle`` (rad) or a ``source``."""
        return self.through_pupil(wavelength, torch.zeros(1, 2, dtype=dtype, device=self._on(device)), angle,
                                  source, convention)

    def marginal_ray(self, wavelength: float, source=None, dtype=torch.float64, device=None) -> Rays:
        """The on-axis ray through the stop's edge (in y)."""
        return self.aimed(wavelength, torch.tensor([[0.0, 1.0]], dtype=dtype, device=self._on(device)), 0.0, source)

    def trace(self, rays: Rays, to_sensor: bool = True, upto: Optional[int] = None,
              chunk: int = 1 << 17, clip: bool = True, checkpoint: Optional[bool] = None) -> Rays:
        """Trace through the surfaces (all, or the first ``upto``): refraction, clipping by semi-diameter,
        TIR -> invalid (never NaN), accumulating optical path length (m); then to the sensor plane if
        ``to_sensor``. ``clip=False`` ignores semi-diameters (used by ray aiming). Directions must point
        along +z (sequential tracing). Results do not depend on how the work is split.

        Thread policy. Tracing is a long chain of small elementwise operations, and with torch's intra-op
        threads every one of them waits for its slowest thread: on a machine another process shares, that is
        every one of them (measured here: 2 threads fell from 3.5 to 1.0 M rays/s beside one busy process).
        So without gradients a bundle of more than ``TRACE_CHUNK`` rays is cut into chunks that
        ``torch.get_num_threads()`` Python threads take from a queue, each with one intra-op thread (set for
        the duration of the call and restored): a descheduled core slows only the chunks it holds. With
        gradients the chunks (``chunk`` rays) run in order with the intra-op threads, and are checkpointed
        (their graph rebuilt during backward) when keeping every chunk's saved tensors would exceed
        ``CHECKPOINT_BYTES`` (``checkpoint=None``; ``True``/``False`` force it)."""
        N = rays.o.shape[0] if rays.o.dim() == 2 else 0

        def run(o, d, opl, v):
            return self._trace_tensors(Rays(o, d, rays.wavelength, opl, v), to_sensor, upto, clip)

        if not torch.is_grad_enabled() and N > TRACE_CHUNK and torch.get_num_threads() > 1:
            parts = _pooled(run, [(rays.o[i:i + TRACE_CHUNK], rays.d[i:i + TRACE_CHUNK], rays.opl[i:i + TRACE_CHUNK],
                                   rays.valid[i:i + TRACE_CHUNK]) for i in range(0, N, TRACE_CHUNK)])
        elif N > chunk:
            if checkpoint is None:  # about 60 saved float64 tensors per ray and surface
                checkpoint = torch.is_grad_enabled() and N * len(self.surfaces) * 60 * 8 > CHECKPOINT_BYTES
            parts = []
            for i in range(0, N, chunk):
                sl = (rays.o[i:i + chunk], rays.d[i:i + chunk], rays.opl[i:i + chunk], rays.valid[i:i + chunk])
                parts.append(torch.utils.checkpoint.checkpoint(run, *sl, use_reentrant=False) if checkpoint
                             else run(*sl))
        else:
            return self._trace_one(rays, to_sensor, upto, clip)
        o, d, opl, valid = (torch.cat(x) for x in zip(*parts))
        return Rays(o, d, rays.wavelength, opl, valid)

    def _trace_one(self, rays: Rays, to_sensor: bool, upto: Optional[int], clip: bool = True) -> Rays:
        o, d, opl, valid = self._trace_tensors(rays, to_sensor, upto, clip)
        return Rays(o, d, rays.wavelength, opl, valid)

    def _trace_tensors(self, rays: Rays, to_sensor: bool, upto: Optional[int], clip: bool = True):
        ox, oy, oz = rays.o.unbind(-1)
        dx, dy, dz = rays.d.unbind(-1)
        opl, valid = rays.opl, rays.valid
        n1 = self.object_medium.n(rays.wavelength)
        last = len(self.surfaces) if upto is None else upto
        for s, m in zip(self.surfaces[:last], self.materials[:last]):
            t, (ox, oy, oz), (nx, ny, nz), ok = s.intersect_xyz(ox, oy, oz, dx, dy, dz, clip=clip)
            n2 = m.n(rays.wavelength)
            opl = opl + n1 * t
            if n2 != n1:
                dx, dy, dz, tir = refract_xyz(dx, dy, dz, nx, ny, nz, n1, n2)
                ok = ok & tir
            valid = valid & ok
            n1 = n2
        if to_sensor and upto is None:
            zs = self.sensor_z if isinstance(self.sensor_z, torch.Tensor) else torch.tensor(
                float(self.sensor_z), dtype=ox.dtype, device=ox.device)
            ox, oy, oz, opl = _to_plane(ox, oy, oz, dx, dy, dz, opl, zs, n1)
        o = torch.stack([ox, oy, oz], -1)
        o = torch.where(valid[..., None], o, torch.zeros_like(o))
        return o, torch.stack([dx, dy, dz], -1), opl, valid

    def image_index(self, wavelength: float) -> float:
        """Refractive index of the medium after the last surface at ``wavelength`` (m)."""
        return self.materials[-1].n(wavelength)

    def chief_hit(self, wavelength: float, angle=0.0, source=None, convention: str = "aimed") -> tuple:
        """Where the chief ray (of the pupil ``convention``, see :meth:`through_pupil`) meets the sensor plane:
        (y, x) (m), the origin of a PSF window centred on it."""
        with torch.no_grad():
            c = self.trace(self.chief_ray(wavelength, angle, source, convention=convention))
        if not bool(c.valid[0]):
            raise ValueError(f"the chief ray at field {angle!r} does not pass the lens; the field is beyond its coverage")
        return float(c.o[0, 1]), float(c.o[0, 0])

    def spot_diagram(self, wavelength: float, angle=0.0, n_side: int = 32, source=None):
        """Sensor-plane hits (N, 2) in metres relative to the chief ray's hit, of an aimed bundle filling
        the stop, with the chief hit (2,). Invalid (vignetted) rays are dropped."""
        with torch.no_grad():
            rays, _ = self.pupil_bundle(wavelength, n_side, angle, source)
            out = self.trace(rays)
            chief = self.trace(self.chief_ray(wavelength, angle, source)).o[0, :2]
        return out.o[out.valid][:, :2] - chief, chief

    @staticmethod
    def rms_spot(rays: Rays) -> torch.Tensor:
        """RMS radius (m) of valid rays about their centroid on the plane they end on."""
        v = rays.valid
        xy = rays.o[v][:, :2]
        return torch.sqrt(((xy - xy.mean(0)) ** 2).sum(-1).mean())

    def best_focus(self, rays_after: Rays) -> float:
        """Sensor z (m) minimising the RMS spot of rays leaving the last surface (closed form: the lateral
        position is linear in z, so the RMS radius squared is quadratic in z)."""
        v = rays_after.valid
        o, d = rays_after.o[v].detach(), rays_after.d[v].detach()
        a = o[:, :2] - o[:, 2:3] * d[:, :2] / d[:, 2:3]  # position at z = 0
        b = d[:, :2] / d[:, 2:3]                          # slope dx/dz
        a, b = a - a.mean(0), b - b.mean(0)
        return float(-(a * b).sum() / (b * b).sum())
