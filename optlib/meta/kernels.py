"""Metasurface convolution kernels (Almuallem et al., "Direct Kernel Optimization", Eq. 1-4).

A phase-only element ``C = T exp(i phi)`` (uniform ``T`` inside a circular aperture of radius ``R``) at
distance ``z`` (m) in front of a sensor turns every incoherent plane wave of the scene into a shifted copy
of one intensity pattern, so the sensor records the pinhole image convolved with the kernel
``h(u, v) = |C~(u / (lambda z), v / (lambda z))|^2`` (Eq. 4), ``C~`` the Fresnel diffraction pattern of the
element under a normally incident plane wave. :class:`KernelOptics` computes that kernel on a small window
of sensor pixels (``taps`` x ``taps``, each ``pixel`` metres wide), as the fraction of the power through the
aperture that lands in each pixel (so a kernel sums to at most 1; the rest falls outside the window).

Two methods, both differentiable in the phase:

* ``"fresnel"``: the Fresnel integral evaluated only where it is needed, as two matrix products
  (a separable non-uniform DFT) onto ``oversample`` x ``oversample`` sub-samples per pixel, summed per pixel.
  Cost ``E (M n^2 + M^2 n)`` for ``E`` elements of ``n^2`` samples and ``M = taps * oversample``: no padding,
  no wasted output. Valid while the Fresnel chirp ``exp(i pi r^2 / (lambda z))`` is sampled at the aperture
  edge (``pitch <= lambda z / (2 R)``); :meth:`KernelOptics.check` raises otherwise.
* ``"asm"``: the foundation's band-limited angular spectrum (:func:`optlib.propagation.asm`, exact scalar
  diffraction, checked by its sampling planner) onto the element's own grid, cropped to the window and
  summed over ``pixel / pitch`` (an odd integer) samples per pixel. Needed when the chirp is undersampled,
  as at the paper's scale (1025 samples of 2.5 um at 10 mm).

Units: metres throughout; phases in radians; wavelengths in metres, one per element.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch

from ..field import Field
from ..grid import Grid
from ..imaging.sensor import pixel_integrate, pixelate
from ..propagation import asm, dft_matrix, fresnel1
from ..sampling import SamplingError

METHODS = ("fresnel", "asm")


@dataclass(frozen=True)
class KernelOptics:
    """Geometry of one metasurface element and its sensor window.

    Args:
        n: phase samples per side (odd, so that a sample sits on the axis).
        pitch: phase sample pitch (m), 2.5 um in the paper.
        z: element-to-sensor distance (m), 10 mm in the paper.
        pixel: sensor pixel pitch (m); the kernel's tap spacing.
        taps: kernel size in pixels (odd; 7 for a 7x7 first layer).
        method: ``"fresnel"`` or ``"asm"`` (see the module docstring).
        oversample: Fresnel sub-samples per pixel per axis (odd); 0 picks the smallest odd number that
            samples the kernel's intensity at its Nyquist rate, ``lambda z / (4 R)``, for every wavelength.
        padding: ASM zero-padding factor.
        chunk: elements per batch in :meth:`kernels` (bounds memory; results do not depend on it). With
            gradients and more elements than ``chunk``, each chunk is checkpointed (recomputed in backward).
    """

    n: int = 257
    pitch: float = 2.5e-6
    z: float = 10e-3
    pixel: float = 37.5e-6
    taps: int = 7
    method: str = "fresnel"
    oversample: int = 0
    padding: float = 2.0
    chunk: int = 64

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"KernelOptics.method must be one of {METHODS}, got {self.method!r}")
        if self.n < 3 or self.n % 2 == 0:
            raise ValueError(f"KernelOptics.n must be odd and >= 3 (a sample on the axis), got {self.n}")
        if self.taps < 1 or self.taps % 2 == 0:
            raise ValueError(f"KernelOptics.taps must be odd, got {self.taps}")
        for name in ("pitch", "z", "pixel"):
            v = getattr(self, name)
            if not (0 < v < 1):
                raise ValueError(f"KernelOptics.{name} = {v!r} must be a positive length in metres (< 1 m)")
        if self.oversample < 0 or (self.oversample and self.oversample % 2 == 0):
            raise ValueError(f"KernelOptics.oversample must be 0 (automatic) or odd, got {self.oversample}")

    # --- geometry -----------------------------------------------------------------------------------
    @property
    def radius(self) -> float:
        """Aperture radius R = n pitch / 2 (m)."""
        return self.n * self.pitch / 2

    @property
    def window(self) -> float:
        """Width of the kernel window on the sensor, taps * pixel (m)."""
        return self.taps * self.pixel

    @property
    def grid(self) -> Grid:
        return Grid(self.n, self.pitch)

    def coords(self, device=None, dtype=torch.float64) -> torch.Tensor:
        """Sample coordinates along one axis (m), ``(j - n // 2) * pitch``."""
        return (torch.arange(self.n, device=device, dtype=dtype) - self.n // 2) * self.pitch

    def aperture(self, device=None, dtype=torch.float64) -> torch.Tensor:
        """Circular aperture, 1 inside ``r <= R`` and 0 outside, shape ``(n, n)``."""
        x = self.coords(device, dtype)
        return ((x[:, None] ** 2 + x[None, :] ** 2) <= self.radius ** 2).to(dtype)

    def fresnel_number(self, wavelength: float) -> float:
        """R^2 / (lambda z): how far into the near field the sensor sits (the paper's scale: 308 at 532 nm)."""
        return self.radius ** 2 / (wavelength * self.z)

    def sub_samples(self, wavelengths: Sequence[float]) -> int:
        """Fresnel sub-samples per pixel (odd): the given ``oversample``, or the Nyquist choice."""
        if self.oversample:
            return self.oversample
        nyq = min(wavelengths) * self.z / (4 * self.radius)
        s = math.ceil(self.pixel / nyq)
        return s + 1 - s % 2

    def asm_factor(self) -> int:
        """ASM samples per pixel, ``pixel / pitch``; raises unless it is an odd integer."""
        r = self.pixel / self.pitch
        s = round(r)
        if abs(r - s) > 1e-9 * r or s % 2 == 0:
            raise SamplingError(f"method='asm' sums pixel/pitch = {r:.6g} samples per sensor pixel, which must be an odd "
                                f"integer so that pixels are centred on the axis. Fix: choose pixel = k * pitch with k odd "
                                f"(e.g. {(2 * math.floor(r / 2) + 1) * self.pitch:.4g} m)")
        return s

    # --- sampling ----------------------------------------------------------------------------------
    def check(self, wavelengths: Sequence[float]) -> dict:
        """Raise :class:`SamplingError` (with the fix) if this set-up would compute wrong kernels.

        Returns a dict of the numbers checked (all lengths in metres).
        """
        wls = [float(w) for w in (wavelengths if hasattr(wavelengths, "__iter__") else [wavelengths])]
        wl_min = min(wls)
        out = {"radius": self.radius, "window": self.window, "fresnel_number_min": self.fresnel_number(max(wls)),
               "method": self.method}
        if self.method == "fresnel":
            chirp_limit = wl_min * self.z / (2 * self.radius)
            out["chirp_pitch_limit"] = chirp_limit
            if self.pitch > chirp_limit * (1 + 1e-12):
                raise SamplingError(
                    f"method='fresnel': the Fresnel chirp exp(i pi r^2/(lambda z)) is undersampled at the aperture edge "
                    f"(pitch {self.pitch:.3g} m > lambda z/(2R) = {chirp_limit:.3g} m at {wl_min * 1e9:.0f} nm). "
                    f"Fix: use method='asm', or a pitch <= {chirp_limit:.3g} m, or z >= "
                    f"{2 * self.radius * self.pitch / wl_min:.3g} m")
            period = wl_min * self.z / self.pitch
            out["replica_period"] = period
            if period < self.window / 2 + self.radius:
                raise SamplingError(
                    f"method='fresnel': the sampled element's diffraction replicas (period lambda z/pitch = {period:.3g} m) "
                    f"reach the kernel window. Fix: a smaller pitch or a longer z")
            out["oversample"] = self.sub_samples(wls)
        else:
            out["samples_per_pixel"] = self.asm_factor()
            if self.window > self.n * self.pitch:
                raise SamplingError(f"method='asm': the kernel window ({self.window:.3g} m) is wider than the element grid "
                                    f"({self.n * self.pitch:.3g} m). Fix: fewer taps, smaller pixels, or more samples")
            from ..sampling import plan_propagation
            for wl in wls:
                c = plan_propagation(self.grid, wl, self.z, self.padding).checks["asm"]
                if not c.valid:
                    raise SamplingError(f"method='asm' at {wl * 1e9:.0f} nm: {c.reason}. Fix: {c.fix}")
            out["padded"] = math.ceil(self.padding * self.n)
        return out

    # --- kernels -----------------------------------------------------------------------------------
    def kernels(self, phase: torch.Tensor, wavelength, transmission: Optional[torch.Tensor] = None,
                check: bool = True) -> torch.Tensor:
        """Kernels ``(E, taps, taps)`` of ``E`` elements: the fraction of the power through each aperture that
        falls on each sensor pixel.

        Args:
            phase: ``(E, n, n)`` phase (rad), real; float32 or float64 (sets the precision).
            wavelength: ``(E,)`` or a scalar, metres.
            transmission: optional ``(E, n, n)`` amplitude transmission (default 1 inside the aperture),
                e.g. a cell library's |t| for a realised geometry.
            check: run :meth:`check` first.
        """
        if phase.dim() == 2:
            return self.kernels(phase[None], wavelength, None if transmission is None else transmission[None], check)[0]
        E = phase.shape[0]
        if tuple(phase.shape[-2:]) != (self.n, self.n):
            raise ValueError(f"phase must be (E, {self.n}, {self.n}), got {tuple(phase.shape)}")
        wl = torch.as_tensor(wavelength, dtype=torch.float64).flatten().cpu()
        if wl.numel() == 1:
            wl = wl.expand(E)
        if wl.numel() != E:
            raise ValueError(f"need one wavelength per element: {E} elements, {wl.numel()} wavelengths")
        if check:
            self.check(sorted(set(wl.tolist())))
        fn = self._fresnel if self.method == "fresnel" else self._asm
        # with gradients and several chunks, keep only each chunk's output and recompute its graph in the
        # backward pass: memory is one chunk's, whatever the number of elements (E2E at the paper's scale)
        ckpt = torch.is_grad_enabled() and (phase.requires_grad or (transmission is not None and
                                                                    transmission.requires_grad)) and E > self.chunk
        outs = []
        for s in range(0, E, self.chunk):
            sl = slice(s, min(E, s + self.chunk))
            t = None if transmission is None else transmission[sl]
            if ckpt:
                from torch.utils.checkpoint import checkpoint
                outs.append(checkpoint(fn, phase[sl], wl[sl], t, use_reentrant=False))
            else:
                outs.append(fn(phase[sl], wl[sl], t))
        return torch.cat(outs)

    def _field(self, phase, transmission, ap=None):
        amp = self.aperture(phase.device, phase.dtype) if ap is None else ap
        if transmission is not None:
            amp = amp * transmission
        return torch.polar(amp.expand_as(phase), phase)

    def _sub_grid(self, os_: int) -> Grid:
        """The sensor window's sub-samples: ``taps`` pixels of ``pixel`` metres, ``os_`` sub-samples each."""
        return Grid(self.taps, self.pixel).subdivided(os_)

    def _fresnel(self, phase, wl, transmission):
        """Fresnel diffraction onto the window's sub-samples: the input chirp folded into the phase (one polar),
        then the matrix DFT (:func:`optlib.propagation.dft_matrix`, one per distinct wavelength), pixels by
        :func:`~optlib.imaging.pixel_integrate`."""
        real = phase.dtype
        cplx = torch.complex128 if real == torch.float64 else torch.complex64
        dev = phase.device
        os_ = self.sub_samples(wl.tolist())
        sub = self._sub_grid(os_)
        x = self.coords(dev, torch.float64)                                    # (n,)
        u = sub.x(dev).reshape(-1)                                             # (M,) sub-pixel centres
        uniq, inv = torch.unique(wl, return_inverse=True)
        inv = inv.to(dev)
        lz_u = uniq.to(dev) * self.z
        chirp = (math.pi * (x[:, None] ** 2 + x[None, :] ** 2) / lz_u[:, None, None]).to(real)    # (U,n,n)
        K = dft_matrix(x, u[None, :] / lz_u[:, None], cplx)                    # (U,M,n)
        ap = self.aperture(dev, real)
        n_ap = float(ap.sum())                                                # a 0/1 count: exact in float32
        amp = ap if transmission is None else ap * transmission
        psi = phase + chirp[inv]
        A = torch.complex(amp * torch.cos(psi), amp * torch.sin(psi))
        Ke = K[inv]
        F = Ke @ A @ Ke.transpose(-1, -2)                                       # (E,M,M)
        # |U|^2 = |F|^2 (pitch^2 / (lambda z))^2 per unit area; times the sub-sample area, over the aperture's power
        scale = ((self.pitch ** 2 / lz_u) ** 2 / (n_ap * self.pitch ** 2)).to(real)[inv][:, None, None]
        return pixel_integrate((F.real ** 2 + F.imag ** 2) * scale, os_, sub.dx * sub.dy)

    def _asm(self, phase, wl, transmission):
        self.asm_factor()
        ap = self.aperture(phase.device, phase.dtype)
        f = Field(self._field(phase, transmission, ap), self.grid, wl.to(phase.device))
        out = asm(f, self.z, padding=self.padding)
        n_ap = float(ap.sum())
        return pixelate(out, Grid(self.taps, self.pixel)) / (n_ap * self.pitch ** 2)

    def sensor_intensity(self, phase: torch.Tensor, wavelength: float, u: torch.Tensor) -> torch.Tensor:
        """Fresnel irradiance (per unit incident irradiance, dimensionless) at sensor points ``u`` x ``u`` (m),
        one element ``(n, n)``; for plots and tests: :func:`optlib.propagation.fresnel1` onto that grid."""
        cplx = torch.complex128 if phase.dtype == torch.float64 else torch.complex64
        pitch = float(u[1] - u[0]) if u.numel() > 1 else self.pixel
        if u.numel() > 1 and float((u[1:] - u[:-1] - pitch).abs().max()) > 1e-9 * pitch:
            raise ValueError("sensor_intensity: u must be evenly spaced (a sensor grid's coordinates)")
        out_grid = Grid(u.numel(), pitch, origin=(float(u[u.numel() // 2]), float(u[u.numel() // 2])))
        f = Field(self._field(phase, None).to(cplx), self.grid, wavelength)
        return fresnel1(f, self.z, check=False, output_grid=out_grid).intensity()

    def lens_phase(self, wavelength, device=None, dtype=torch.float32, exact: bool = False) -> torch.Tensor:
        """Phase (rad) of a lens focusing a normal plane wave onto the sensor's axis, ``(n, n)`` or ``(E, n, n)``:
        paraxial ``-pi r^2 / (lambda z)`` or, with ``exact``, ``-2 pi (sqrt(r^2 + z^2) - z) / lambda``."""
        x = self.coords(device, torch.float64)
        r2 = x[:, None] ** 2 + x[None, :] ** 2
        wl = torch.as_tensor(wavelength, dtype=torch.float64, device=device)
        wl = wl.reshape(*wl.shape, 1, 1)
        if exact:
            ph = -2 * math.pi * (torch.sqrt(r2 + self.z ** 2) - self.z) / wl
        else:
            ph = -math.pi * r2 / (wl * self.z)
        return ph.to(dtype)
