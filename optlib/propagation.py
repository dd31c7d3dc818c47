"""Free-space propagation of scalar fields: pure functions of (Field, distance) -> Field.

Methods (all SI units; ``z`` in metres, may be negative for back-propagation where stated):

* ``asm``: band-limited angular spectrum (Matsushima & Shimobaba, Opt. Express 17, 19662 (2009)).
  Exact scalar diffraction for every frequency inside the band limit; kz is complex so evanescent
  waves decay (no NaN below lambda/2 pitch). Same grid in and out.
* ``fresnel``: Fresnel transfer function (paraxial), same grid in and out, band-limited to where its
  chirp is sampled.
* ``fresnel1``: single-FFT Fresnel (impulse-response form); output pitch lambda z / (N d).
* ``fraunhofer``: far field; output pitch lambda z / (N d).
* ``rs``: direct Rayleigh-Sommerfeld (first kind) sum, chunked over output samples; any output grid.
* ``auto``: the planner's choice (see :mod:`optlib.sampling`).

Kernels are built in float64 (the phase k z is often 1e5 rad) and cast to the field's dtype; kernels
for plain-number distances and wavelengths are cached, so repeated propagation costs only the FFTs.
"""
from __future__ import annotations

import functools
import math
from collections import OrderedDict
from typing import Optional, Union

import torch

from . import fft
from .field import Field, crop_centered, pad_centered, wl_view
from .grid import Grid
from .sampling import SamplingError, padded_shape, plan_propagation

METHODS = ("asm", "fresnel", "fresnel1", "fraunhofer", "rs", "auto")
_KERNEL_CACHE: "OrderedDict[tuple, torch.Tensor]" = OrderedDict()
_KERNEL_CACHE_SIZE = 16
_MEASURED_LOSS_TOL = 1e-6


def clear_kernel_cache():
    """Drop cached transfer functions (they hold device memory)."""
    _KERNEL_CACHE.clear()


def _is_plain(x) -> bool:
    return not (isinstance(x, torch.Tensor) and x.requires_grad)


def _scalar(x) -> float:
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def transfer_function(kind: str, shape_pad, pitch, wavelength: torch.Tensor, z, device, cdtype,
                       band_limit: bool = True) -> torch.Tensor:
    """Transfer function in FFT order, shape ``wavelength.shape + shape_pad`` (complex ``cdtype``), times the
    inverse transform's 1/N (so that the propagation is ``ifft2(fft2(u) * H, norm="forward")``)."""
    cacheable = _is_plain(z) and not wavelength.requires_grad
    key = None
    if cacheable:
        key = (kind, tuple(shape_pad), tuple(pitch), tuple(wavelength.detach().cpu().flatten().tolist()),
               tuple(wavelength.shape), _scalar(z), str(device), cdtype, band_limit)
        hit = _KERNEL_CACHE.get(key)
        if hit is not None:
            _KERNEL_CACHE.move_to_end(key)
            return hit
    g = Grid(shape_pad, pitch)
    fy, fx = g.freqs(device=device, dtype=torch.float64)
    wl = wl_view(wavelength.to(device=device, dtype=torch.float64))
    zt = torch.as_tensor(z, dtype=torch.float64, device=device)
    f2 = fx ** 2 + fy ** 2
    if kind == "asm":
        arg = (1.0 / wl) ** 2 - f2
        kz = 2 * torch.pi * torch.sqrt(arg.to(torch.complex128))  # imaginary for evanescent waves
        if _scalar(z) < 0:  # back-propagation must not amplify evanescent waves
            kz = torch.where(arg > 0, kz, torch.zeros_like(kz))
        H = torch.exp(1j * kz * zt)
        if band_limit:
            flim_x = 1.0 / (wl * torch.sqrt((2 * zt.abs() / (shape_pad[1] * pitch[1])) ** 2 + 1))
            flim_y = 1.0 / (wl * torch.sqrt((2 * zt.abs() / (shape_pad[0] * pitch[0])) ** 2 + 1))
            H = H * ((fx.abs() <= flim_x) & (fy.abs() <= flim_y))
    elif kind == "fresnel":
        k = 2 * torch.pi / wl
        H = torch.exp(1j * (k * zt - torch.pi * wl * zt * f2))
        if band_limit:
            lim_x = shape_pad[1] * pitch[1] / (2 * wl * zt.abs())
            lim_y = shape_pad[0] * pitch[0] / (2 * wl * zt.abs())
            H = H * ((fx.abs() <= lim_x) & (fy.abs() <= lim_y))
    else:
        raise ValueError(kind)
    H = (H * (1.0 / (shape_pad[0] * shape_pad[1]))).to(cdtype)
    if cacheable:
        _KERNEL_CACHE[key] = H
        while len(_KERNEL_CACHE) > _KERNEL_CACHE_SIZE:
            _KERNEL_CACHE.popitem(last=False)
    return H


@functools.lru_cache(maxsize=256)
def _grid_check(kind: str, shape, pitch, wavelength: float, z: float, padding: float, bandwidth):
    """(valid, reason, fix) of the planner's data-independent test, cached: it depends only on numbers."""
    c = plan_propagation(Grid(shape, pitch), wavelength, z, padding, bandwidth=bandwidth).checks[kind]
    return c.valid, c.reason, c.fix


def _measured_loss(U: torch.Tensor, H: torch.Tensor, wavelength: torch.Tensor, g: Grid) -> float:
    """Fraction of the propagating spectral power that the band limit in ``H`` removes."""
    fy, fx = g.freqs(device=U.device, dtype=torch.float64)
    wl = wl_view(wavelength.to(device=U.device, dtype=torch.float64))
    propagating = (fx ** 2 + fy ** 2) < (1.0 / wl) ** 2
    P = (U.real ** 2 + U.imag ** 2).detach().to(torch.float64)
    total = (P * propagating).sum()
    lost = (P * (propagating & (H == 0))).sum()
    return float(lost / total) if float(total) > 0 else 0.0


def _tf_propagate(field: Field, z, kind: str, padding: float, check: Union[bool, str], bandwidth,
                  band_limit: bool = True) -> Field:
    g = field.grid
    shape_pad = padded_shape(g.shape, padding)
    if _scalar(z) == 0:
        return field
    H = transfer_function(kind, shape_pad, g.pitch, field.wavelength, z, field.u.device, field.u.dtype,
                           band_limit)
    need_measure = False
    if check:
        for wl in field.wavelength.detach().flatten().tolist():
            valid, reason_wl, fix_wl = _grid_check(kind, g.shape, g.pitch, wl, _scalar(z), padding, bandwidth)
            if not valid:
                if check == "strict" or bandwidth is not None:
                    raise SamplingError(f"propagate(method={kind!r}): {reason_wl}. Fix: {fix_wl}")
                need_measure = True
                reason, fix = reason_wl, fix_wl
    up = pad_centered(field.u, shape_pad)
    U = fft.fft2(up)
    if need_measure:
        loss = _measured_loss(U, H, field.wavelength, Grid(shape_pad, g.pitch))
        if loss > _MEASURED_LOSS_TOL:
            raise SamplingError(
                f"propagate(method={kind!r}) would drop {loss:.3g} of the field's propagating power outside the "
                f"correctly sampled band ({reason}). Fix: {fix}. Pass check=False to accept the loss.")
    out = fft.ifft2(U * H, norm="forward")  # H carries the 1/N
    return field.replace(u=crop_centered(out, g.shape))


def asm(field: Field, z, padding: float = 2.0, check: Union[bool, str] = True, bandwidth: Optional[float] = None,
        band_limit: bool = True) -> Field:
    """Band-limited angular-spectrum propagation by ``z`` metres; same grid in and out.

    Args:
        field: input field.
        z: distance in metres (float or 0-d tensor; differentiable if a tensor requiring grad).
        padding: zero-padding factor (2 makes the FFT's circular convolution linear over the window).
        check: ``True`` raises :class:`SamplingError` if the band limit would remove measurable power
            (the grid test is tried first; the field's own spectrum decides when the grid test fails);
            ``"strict"`` raises on the grid test alone; ``False`` skips checks.
        bandwidth: the field's highest spatial frequency (1/m), if known; tightens the grid test.
        band_limit: apply Matsushima's band limit (turn off only to study evanescent waves).
    """
    return _tf_propagate(field, z, "asm", padding, check, bandwidth, band_limit)


def fresnel(field: Field, z, padding: float = 2.0, check: Union[bool, str] = True,
            bandwidth: Optional[float] = None) -> Field:
    """Fresnel transfer-function propagation by ``z`` metres (paraxial); same grid in and out.

    H(f) = exp(i k z) exp(-i pi lambda z |f|^2), band-limited to where the chirp is sampled on the
    padded grid. Arguments as in :func:`asm`.
    """
    return _tf_propagate(field, z, "fresnel", padding, check, bandwidth)


def _single_wavelength(field: Field, method: str) -> float:
    if field.wavelength.numel() != 1:
        raise ValueError(f"method={method!r} has a wavelength-dependent output pitch; propagate one wavelength "
                         "at a time or use 'asm'/'fresnel', which keep the grid")
    return float(field.wavelength)


def _fourier_step(field: Field, z, input_chirp: bool, output_chirp: bool = True) -> Field:
    g = field.grid
    wl = _single_wavelength(field, "fresnel1")
    zf = _scalar(z)
    out_grid = Grid(g.shape, (wl * abs(zf) / g.extent[0], wl * abs(zf) / g.extent[1]))
    dev = field.u.device
    k = 2 * math.pi / wl
    u = field.u
    if input_chirp:
        q = torch.exp(1j * (math.pi / (wl * zf)) * g.r2(dev, torch.float64)).to(field.u.dtype)
        u = u * q
    U = fft.fft2c(u) if zf > 0 else torch.conj(fft.fft2c(torch.conj(u)))
    phase = torch.full((), k * zf, dtype=torch.float64, device=dev)
    if output_chirp:
        phase = phase + (math.pi / (wl * zf)) * out_grid.r2(dev, torch.float64)
    # discrete normalisation: U2 = exp(i phase) / (i lambda z) * sum(u) dx dy keeps the power exact
    scale = (g.dx * g.dy) / (wl * zf)
    pre = (torch.exp(1j * phase) * (scale / 1j)).to(field.u.dtype)
    return Field(U * pre, out_grid, field.wavelength)


def fresnel1(field: Field, z, check: Union[bool, str] = True, support: Optional[float] = None) -> Field:
    """Single-FFT Fresnel propagation by ``z`` metres; output pitch ``lambda z / (N d)``.

    U2(x2) = exp(ikz) / (i lambda z) exp(i pi x2^2/(lambda z)) FT[U1 exp(i pi x1^2/(lambda z))](x2/(lambda z)).
    Valid when the input chirp is sampled over the field's support (``support`` = its diameter in m;
    default: measured from the field when the whole-grid test fails).
    """
    _single_wavelength(field, "fresnel1")
    if check:
        _check_support_method(field, z, "fresnel1", check, support)
    return _fourier_step(field, z, input_chirp=True)


def fraunhofer(field: Field, z, check: Union[bool, str] = True, support: Optional[float] = None) -> Field:
    """Fraunhofer (far-field) propagation by ``z`` metres; output pitch ``lambda z / (N d)``.

    Valid when the Fresnel number of the support, (D/2)^2 / (lambda z), is at most 1/8.
    """
    _single_wavelength(field, "fraunhofer")
    if check:
        _check_support_method(field, z, "fraunhofer", check, support)
    return _fourier_step(field, z, input_chirp=False)


def focal_plane(field: Field, focal_length) -> Field:
    """Field in the back focal plane of an ideal thin lens of focal length ``f`` (m) placed at the input.

    The lens phase cancels the single-FFT Fresnel chirp exactly, so no chirp has to be sampled:
    U_f(x2) = exp(ikf) / (i lambda f) exp(i pi x2^2/(lambda f)) FT[U](x2/(lambda f)); pitch lambda f/(N d).
    """
    _single_wavelength(field, "focal_plane")
    return _fourier_step(field, focal_length, input_chirp=False)


def support_diameter(field: Field, fraction: float = 1 - 1e-6) -> float:
    """Diameter (m) of the centred disc holding ``fraction`` of the field's power (measured)."""
    I = field.intensity().detach().to(torch.float64)
    while I.dim() > 2:
        I = I.sum(0)
    r = field.grid.r(I.device, torch.float64).flatten()
    w = I.flatten()
    order = torch.argsort(r)
    c = torch.cumsum(w[order], 0)
    if float(c[-1]) == 0:
        return 0.0
    idx = int(torch.searchsorted(c, fraction * c[-1]))
    idx = min(idx, r.numel() - 1)
    return 2 * float(r[order][idx]) + 2 * max(field.grid.pitch)


def _check_support_method(field, z, method, check, support):
    wl = float(field.wavelength)
    plan = plan_propagation(field.grid, wl, _scalar(z), support=support)
    c = plan.checks[method]
    if c.valid:
        return
    if support is None and check != "strict":
        measured = support_diameter(field)
        c = plan_propagation(field.grid, wl, _scalar(z), support=measured).checks[method]
        if c.valid:
            return
    raise SamplingError(f"propagate(method={method!r}): {c.reason}. Fix: {c.fix}")


def rs(field: Field, z, output_grid: Optional[Grid] = None, check: Union[bool, str] = True,
       max_chunk_bytes: int = 2 ** 27) -> Field:
    """Direct Rayleigh-Sommerfeld (first kind) sum, exact for scalar fields; cost O(N_in * N_out).

    U2(x2) = 1/(2 pi) sum U1(x1) (z/r) (1/r - i k) exp(i k r) / r dA,  r = |x2 - x1, z|.
    Chunked over output samples so temporaries stay below ``max_chunk_bytes`` (default 128 MiB).
    ``output_grid`` defaults to the input grid (both centred on the axis).
    """
    g = field.grid
    og = output_grid or g
    if check:
        for wl in field.wavelength.detach().flatten().tolist():
            c = plan_propagation(g, wl, _scalar(z), output_grid=og).checks["rs"]
            if not c.valid and check != "strict":  # only where the field is non-zero must the kernel be sampled
                c = plan_propagation(g, wl, _scalar(z), output_grid=og, support=support_diameter(field)).checks["rs"]
            if not c.valid:
                raise SamplingError(f"propagate(method='rs'): {c.reason}. Fix: {c.fix}")
    dev = field.u.device
    cdt = torch.complex128
    u = field.u.to(cdt)
    batch = u.shape[:-2]
    u_flat = u.reshape(*batch, -1)  # (..., Nin)
    x1 = g.x(dev).expand(g.shape).reshape(-1)
    y1 = g.y(dev).expand(g.shape).reshape(-1)
    x2 = og.x(dev).expand(og.shape).reshape(-1)
    y2 = og.y(dev).expand(og.shape).reshape(-1)
    zt = torch.as_tensor(z, dtype=torch.float64, device=dev)
    k = (2 * torch.pi / field.wavelength.to(dev, torch.float64)).reshape(*field.wavelength.shape, 1, 1)
    n_in = x1.numel()
    n_wl = max(1, field.wavelength.numel())
    chunk = max(1, int(max_chunk_bytes // (n_in * 16 * 4 * n_wl)))
    outs = []
    dA = g.dx * g.dy
    for s in range(0, x2.numel(), chunk):
        dx = x2[s:s + chunk, None] - x1[None, :]
        dy = y2[s:s + chunk, None] - y1[None, :]
        r = torch.sqrt(dx * dx + dy * dy + zt * zt)  # (P, Nin)
        kr = k * r  # (..., P, Nin) via broadcasting against wavelength dims
        h = (zt / r) * torch.complex(1.0 / r.expand_as(kr), -k.expand_as(kr)) * torch.exp(1j * kr) / r
        h = h * (dA / (2 * torch.pi))
        outs.append(torch.einsum("...pn,...n->...p", h.to(cdt), u_flat))
    out = torch.cat(outs, dim=-1).reshape(*batch, *og.shape).to(field.u.dtype)
    return Field(out, og, field.wavelength)


def propagate(field: Field, z, method: str = "auto", **kwargs) -> Field:
    """Propagate ``field`` by ``z`` metres with ``method`` in ``optlib.propagation.METHODS``.

    ``auto`` asks :func:`optlib.sampling.plan_propagation` for the best valid method (the angular
    spectrum with the least sufficient padding when it can, else single-FFT Fresnel, Fraunhofer or the
    direct sum) and raises :class:`SamplingError` with the full plan if none is valid. Extra keyword
    arguments go to the chosen method.
    """
    if method not in METHODS:
        raise ValueError(f"unknown propagation method {method!r}; choose one of {METHODS}")
    if method == "auto":
        wls = field.wavelength.detach().flatten().tolist()
        plans = [plan_propagation(field.grid, wl, _scalar(z), kwargs.get("padding", 2.0),
                                  bandwidth=kwargs.get("bandwidth")) for wl in wls]
        bests = {p.best for p in plans}
        if None in bests:
            bad = next(p for p in plans if p.best is None)
            raise SamplingError("no propagation method is valid for this set-up:\n" + bad.report())
        if bests == {"asm"}:
            kwargs["padding"] = max(p.best_padding for p in plans)
            return asm(field, z, **kwargs)
        method = next(iter(bests)) if len(bests) == 1 else "rs"
        kwargs.pop("padding", None)
        kwargs.pop("bandwidth", None)
    fn = {"asm": asm, "fresnel": fresnel, "fresnel1": fresnel1, "fraunhofer": fraunhofer, "rs": rs}[method]
    return fn(field, z, **kwargs)
