"""Sampling checks and a propagation planner.

Every propagator has a regime where its discrete kernel is correctly sampled. Outside it the FFT
wraps or aliases and the answer is silently wrong. This module states those regimes as formulas,
says which method is valid for a given set-up and what padding, pitch or distance would fix an
invalid one, and raises :class:`SamplingError` with that advice when asked to run an invalid one.

Notation: N samples of pitch d (m) per axis, padded to N_p = ceil(padding * N); wavelength lambda (m);
distance z (m); f_bw the field's highest spatial frequency (1/m; default the Nyquist frequency 1/(2d)).

* ``asm`` (band-limited angular spectrum, Matsushima & Shimobaba 2009) applies the band limit
  f_lim = 1 / (lambda sqrt((2 z / (N_p d))^2 + 1)); it is exact for every frequency it keeps, so it is
  valid while f_lim >= f_bw, i.e. (paraxially, f_bw = Nyquist) z <= N_p d^2 / lambda.
* ``fresnel`` (transfer function) needs its chirp exp(-i pi lambda z f^2) sampled on the padded grid:
  lambda z f_bw <= N_p d / 2, the same distance limit z <= N_p d^2 / lambda.
* ``fresnel1`` (single FFT) needs the input chirp exp(i pi x^2 / (lambda z)) sampled over the field's
  support of half-width rho: rho <= lambda z / (2 d), i.e. z >= 2 rho d / lambda (N d^2 / lambda for
  the full grid). Its output pitch is lambda z / (N d).
* ``fraunhofer`` additionally drops that chirp: valid in the far field, Fresnel number
  rho^2 / (lambda z) <= 1/8 (at most pi/8 rad of neglected phase).
* ``rs`` (direct Rayleigh-Sommerfeld sum) needs the kernel's local frequency sin(theta)/lambda below
  the input Nyquist frequency for the largest angle theta between any input and output sample.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field as dc_field
from typing import Dict, Optional, Sequence

from .grid import Grid
from .units import number


class SamplingError(ValueError):
    """A set-up whose sampling would give a wrong answer. The message says how to fix it."""


FRAUNHOFER_MAX_FRESNEL_NUMBER = 1.0 / 8.0


def padded_shape(shape: Sequence[int], padding: float):
    """Padded size per axis: ``ceil(padding * N)`` (padding >= 1)."""
    if not (padding >= 1 and math.isfinite(padding)):  # NaN fails too
        raise ValueError(f"padding must be a finite factor >= 1 on the grid size, got {padding}")
    return tuple(int(math.ceil(padding * n)) for n in shape)


def band_limit(n_pad: int, pitch: float, wavelength: float, z: float) -> float:
    """Matsushima's band limit (1/m) of the angular-spectrum transfer function on an ``n_pad`` grid."""
    return 1.0 / (wavelength * math.sqrt((2.0 * abs(z) / (n_pad * pitch)) ** 2 + 1.0))


@dataclass
class MethodCheck:
    """Verdict for one method: ``valid``, the ``reason`` in numbers, and the ``fix`` when invalid."""

    method: str
    valid: bool
    reason: str
    fix: str = ""
    output_pitch: Optional[float] = None


@dataclass
class Plan:
    """The result of :func:`plan_propagation`: one :class:`MethodCheck` per method and the best choice."""

    grid: Grid
    wavelength: float
    z: float
    padding: float
    checks: Dict[str, MethodCheck] = dc_field(default_factory=dict)
    best: Optional[str] = None
    best_padding: Optional[float] = None

    def check(self, method: str) -> MethodCheck:
        c = self.checks[method]
        if not c.valid:
            raise SamplingError(f"propagate(method={method!r}) is not valid here: {c.reason}. Fix: {c.fix}. "
                                f"({self.summary()})")
        return c

    def summary(self) -> str:
        return (f"grid {self.grid.shape[1]}x{self.grid.shape[0]} at {self.grid.dx:.4g} m, "
                f"lambda {self.wavelength:.4g} m, z {self.z:.4g} m, padding {self.padding}")

    def report(self) -> str:
        """A human-readable table of every method's verdict."""
        lines = [f"Sampling plan: {self.summary()}"]
        for name, c in self.checks.items():
            mark = "valid  " if c.valid else "INVALID"
            lines.append(f"  {name:<10} {mark} {c.reason}" + (f" -> fix: {c.fix}" if c.fix else ""))
        if self.best:
            extra = f" (padding {self.best_padding})" if self.best in ("asm", "fresnel") else ""
            lines.append(f"  auto -> {self.best}{extra}")
        else:
            lines.append("  auto -> no method is valid; apply one of the fixes above")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _asm_check(grid: Grid, wl: float, z: float, padding: float, f_bw: Sequence[float], name: str):
    n_pad = padded_shape(grid.shape, padding)
    bad = []
    needs = []
    for axis, (n_p, d, fb) in enumerate(zip(n_pad, grid.pitch, f_bw)):
        fb_prop = min(fb, 1.0 / wl)  # evanescent frequencies carry no power to z > 0
        if name == "asm":
            flim = band_limit(n_p, d, wl, z)
            ok = flim >= fb_prop * (1 - 1e-12)
            # smallest padded size with band_limit >= fb_prop:  (2z/(N d))^2 + 1 <= 1/(wl fb)^2
            s = 1.0 / (wl * fb_prop) ** 2 - 1.0
            need = math.inf if s <= 0 else 2 * abs(z) / (d * math.sqrt(s))
            zmax = 0.0 if s <= 0 else n_p * d * math.sqrt(s) / 2
            limit = f"band limit {_fmt(flim)} 1/m vs field bandwidth {_fmt(fb_prop)} 1/m (z_max {_fmt(zmax)} m)"
        else:
            ok = wl * abs(z) * fb_prop <= n_p * d / 2 * (1 + 1e-12)
            need = 2 * wl * abs(z) * fb_prop / d
            zmax = n_p * d / (2 * wl * fb_prop)
            limit = f"chirp needs {_fmt(need)} samples, padded grid has {n_p} (z_max {_fmt(zmax)} m)"
        if not ok:
            bad.append(f"axis {'yx'[axis]}: {limit}")
            needs.append((axis, need, zmax))
    if not bad:
        return MethodCheck(name, True, f"z = {_fmt(z)} m within limit; padded grid {n_pad[1]}x{n_pad[0]}")
    axis, need, zmax = max(needs, key=lambda t: t[1])
    n = grid.shape[axis]
    if math.isfinite(need):
        pad_needed = need / n
        fix = (f"use padding >= {pad_needed:.3g} (padded size {int(math.ceil(need))}), or z <= {_fmt(zmax)} m, "
               f"or a finer pitch, or pass bandwidth= if the field is band-limited, or method='fresnel1' "
               f"for long distances")
    else:
        fix = "the field's bandwidth reaches 1/lambda; pass bandwidth= (1/m) for a band-limited field"
    return MethodCheck(name, False, "; ".join(bad), fix)


def plan_propagation(grid: Grid, wavelength: float, z: float, padding: float = 2.0,
                     bandwidth: Optional[float] = None, support: Optional[float] = None,
                     max_padding: float = 4.0, output_grid: Optional[Grid] = None) -> Plan:
    """Say which propagation methods are valid and what would fix the invalid ones.

    Args:
        grid: input sampling grid.
        wavelength: wavelength in metres (the shortest one of a batch is the strictest for the
            transfer-function methods, the longest for ``fresnel1``; check each if in doubt).
        z: propagation distance in metres.
        padding: zero-padding factor used by ``asm`` and ``fresnel``.
        bandwidth: highest spatial frequency of the field (1/m); default: the grid's Nyquist frequency.
        support: diameter (m) of the region where the field is non-zero; default: the whole grid.
        max_padding: the largest padding ``auto`` may choose for ``asm`` before it tries other methods.
        output_grid: output grid for ``rs`` (default: the input grid); its offset from the input grid counts.

    Returns a :class:`Plan`; ``plan.report()`` prints the table, ``plan.check(method)`` raises
    :class:`SamplingError` with the fix if that method is invalid.
    """
    wl = float(wavelength)
    z = float(z)
    number("plan_propagation: wavelength", wl, positive=True)
    number("plan_propagation: z", z)
    number("plan_propagation: padding", padding, "factor")
    padded_shape(grid.shape, padding)
    plan = Plan(grid, wl, z, padding)
    f_bw = (min(bandwidth, grid.nyquist[0]), min(bandwidth, grid.nyquist[1])) if bandwidth else grid.nyquist
    rho = (support / 2, support / 2) if support else (grid.extent[0] / 2, grid.extent[1] / 2)

    if z == 0:
        for name in ("asm", "fresnel", "fresnel1", "fraunhofer", "rs"):
            plan.checks[name] = MethodCheck(name, name in ("asm", "fresnel"), "z = 0: identity",
                                            "" if name in ("asm", "fresnel") else "use asm for z = 0")
        plan.best, plan.best_padding = "asm", padding
        return plan

    plan.checks["asm"] = _asm_check(grid, wl, z, padding, f_bw, "asm")
    plan.checks["fresnel"] = _asm_check(grid, wl, z, padding, f_bw, "fresnel")

    # single-FFT Fresnel: input chirp sampled over the support
    zmin = max(2 * r * d / wl for r, d in zip(rho, grid.pitch))
    out_pitch = wl * abs(z) / (grid.shape[1] * grid.dx)
    if abs(z) >= zmin * (1 - 1e-12):
        plan.checks["fresnel1"] = MethodCheck("fresnel1", True, f"z >= z_min = {_fmt(zmin)} m; output pitch "
                                              f"{_fmt(out_pitch)} m", output_pitch=out_pitch)
    else:
        plan.checks["fresnel1"] = MethodCheck(
            "fresnel1", False, f"input chirp undersampled: z = {_fmt(z)} m < z_min = 2 rho d / lambda = {_fmt(zmin)} m",
            f"use z >= {_fmt(zmin)} m, a finer pitch, a smaller support, or method='asm'", out_pitch)

    nf = max(r * r / (wl * abs(z)) for r in rho)
    if nf <= FRAUNHOFER_MAX_FRESNEL_NUMBER:
        plan.checks["fraunhofer"] = MethodCheck("fraunhofer", True, f"Fresnel number {_fmt(nf)} <= 1/8; output "
                                                f"pitch {_fmt(out_pitch)} m", output_pitch=out_pitch)
    else:
        zf = max(r * r / (wl * FRAUNHOFER_MAX_FRESNEL_NUMBER) for r in rho)
        plan.checks["fraunhofer"] = MethodCheck(
            "fraunhofer", False, f"not far field: Fresnel number rho^2/(lambda z) = {_fmt(nf)} > 1/8",
            f"use z >= {_fmt(zf)} m, or method='fresnel1'/'asm', or optlib.focal_plane for a lens focus",
            out_pitch)

    og = output_grid or grid
    off = (abs(og.origin[0] - grid.origin[0]), abs(og.origin[1] - grid.origin[1]))
    reach = math.hypot(off[0] + og.extent[0] / 2 + rho[0], off[1] + og.extent[1] / 2 + rho[1])
    sin_t = reach / math.hypot(reach, z)
    d_in = max(grid.pitch)
    if sin_t / wl <= 1 / (2 * d_in) or d_in <= wl / 2:
        plan.checks["rs"] = MethodCheck("rs", True, f"kernel sampled up to sin(theta) = {sin_t:.3g}")
    else:
        plan.checks["rs"] = MethodCheck(
            "rs", False, f"kernel undersampled: sin(theta_max) = {sin_t:.3g} > lambda/(2d) = {wl / (2 * d_in):.3g}",
            f"use pitch <= {_fmt(wl / (2 * sin_t))} m or a smaller output window")

    # automatic choice: asm (same grid, exact) with the least padding that works, then the rest
    if plan.checks["asm"].valid:
        plan.best, plan.best_padding = "asm", padding
    else:
        p = padding
        while p < max_padding:
            p = min(max_padding, p * 1.5)
            if _asm_check(grid, wl, z, p, f_bw, "asm").valid:
                plan.best, plan.best_padding = "asm", round(p, 3)
                break
        if plan.best is None:
            for name in ("fresnel1", "fraunhofer", "rs"):
                if plan.checks[name].valid:
                    plan.best = name
                    break
    return plan


def check_lens_sampling(grid: Grid, focal_length: float, wavelength: float, radius: Optional[float] = None):
    """Raise :class:`SamplingError` if a thin-lens phase is aliased on ``grid``.

    The local frequency of exp(-i pi r^2 / (lambda f)) at radius r is r / (lambda f) (1/m); it must stay
    below the Nyquist frequency 1 / (2 d) out to the aperture radius (default: the grid's farthest point from
    the optical axis).
    """
    if radius is None:
        radius = math.hypot(abs(grid.origin[0]) + grid.extent[0] / 2, abs(grid.origin[1]) + grid.extent[1] / 2)
    fmax = radius / (float(wavelength) * abs(float(focal_length)))
    nyq = min(grid.nyquist)
    if fmax > nyq * (1 + 1e-9):
        raise SamplingError(
            f"thin lens f = {float(focal_length):.4g} m is aliased: its phase has local frequency "
            f"{fmax:.4g} 1/m at r = {radius:.4g} m, above the Nyquist frequency {nyq:.4g} 1/m. Fix: pitch <= "
            f"{float(wavelength) * abs(float(focal_length)) / (2 * radius):.4g} m, a smaller aperture radius "
            f"(pass radius=), or a longer focal length")
    return fmax / nyq
