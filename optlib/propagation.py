"""Free-space propagation of scalar fields: pure functions of (Field, distance) -> Field.

Methods (all SI units; ``z`` in metres, may be negative for back-propagation where stated; ``n`` is the
refractive index of the homogeneous medium, default 1):

* ``asm``: band-limited angular spectrum (Matsushima & Shimobaba, Opt. Express 17, 19662 (2009)).
  Exact scalar diffraction for every frequency inside the band limit; kz is complex so evanescent
  waves decay (no NaN below lambda/2 pitch). It propagates a field with a carrier (a tilted beam,
  :class:`~optlib.field.Field`) exactly, and moves the output window with the beam: ``shift`` (default the
  carrier's walk-off ``z f_c / k_z``) is added to the grid's origin. ``window=`` evaluates only a sub-window of
  the output (a PSF on a small sensor from a large field) in blocks, never forming the padded output.
* ``fresnel``: Fresnel transfer function (paraxial), same grid in and out, band-limited to where its
  chirp is sampled.
* ``fresnel1``: single-FFT Fresnel (impulse-response form); output pitch lambda z / (n N d), or any output
  grid (``output_grid=``) by a matrix DFT.
* ``fraunhofer``: far field; the same, without the input chirp.
* ``focal_plane``: the back focal plane of an ideal thin lens on the optical axis (any output grid too).
* ``rs``: direct Rayleigh-Sommerfeld (first kind) sum, chunked over output samples; any output grid.
* ``auto``: the planner's choice (see :mod:`optlib.sampling`).

:func:`mdft` is the matrix DFT behind ``output_grid=`` (prysm's ``focus_dft``, chromatix's ``kykx``/
``shift_yx`` do the same): two small matrix products evaluate the Fourier sum at any set of frequencies,
so a PSF can be computed on exactly the sensor window it lands on, at any pitch, with no padding.

Kernels are built in float64 (the phase k z is often 1e5 rad) and cast to the field's dtype; kernels
for plain-number distances and wavelengths are cached, so repeated propagation costs only the FFTs.
Every FFT goes through :mod:`optlib.fft` (guarded against torch's mis-scaled transforms).
"""
from __future__ import annotations

import functools
import itertools
import math
from collections import OrderedDict
from typing import Optional, Tuple, Union

import torch

from . import fft
from .field import Field, as_carrier, crop_centered, pad_centered, wl_view
from .grid import Grid
from .sampling import SamplingError, padded_shape, plan_propagation
from .units import number

METHODS = ("asm", "fresnel", "fresnel1", "fraunhofer", "rs", "auto")
_KERNEL_CACHE: "OrderedDict[tuple, torch.Tensor]" = OrderedDict()
_KERNEL_CACHE_SIZE = 16
#: the distance-independent parts of angular-spectrum kernels whose distance requires grad (see transfer_function)
_PARTS_CACHE: "OrderedDict[tuple, tuple]" = OrderedDict()
_PARTS_CACHE_SIZE = 8
_MEASURED_LOSS_TOL = 1e-6


def clear_kernel_cache():
    """Drop cached transfer functions (they hold device memory)."""
    _KERNEL_CACHE.clear()
    _PARTS_CACHE.clear()


def _is_plain(x) -> bool:
    return not (isinstance(x, torch.Tensor) and x.requires_grad)


def _scalar(x) -> float:
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def walk_off(carrier, wavelength: float, z: float, n: float = 1.0) -> Tuple[float, float]:
    """Lateral displacement (dy, dx) (m) over ``z`` of a plane wave with spatial frequency ``carrier``
    (fy, fx) (1/m): z f / k_z with k_z = sqrt((n / lambda)^2 - |f|^2); the chief ray's walk-off for a carrier
    taken from its direction."""
    fy, fx = as_carrier(carrier)
    kz2 = (n / wavelength) ** 2 - fy * fy - fx * fx
    if kz2 <= 0:
        raise ValueError(f"carrier ({fy:.4g}, {fx:.4g}) 1/m is evanescent at {wavelength:.4g} m in index {n}")
    kz = math.sqrt(kz2)
    return z * fy / kz, z * fx / kz


def transfer_function(kind: str, shape_pad, pitch, wavelength: torch.Tensor, z, device, cdtype,
                      band_limit: bool = True, carrier=(0.0, 0.0), shift=(0.0, 0.0), n: float = 1.0) -> torch.Tensor:
    """Transfer function in FFT order, shape ``wavelength.shape + shape_pad`` (complex ``cdtype``), times the
    inverse transform's 1/N, so that a propagation is ``ifft2(fft2(u) * H, norm="forward")``.

    ``kind``: ``"asm"`` (exact, H = exp(i (k_z(g + f_c) z + 2 pi g . s)) over the envelope's frequencies g,
    with the band limit of Matsushima & Shimobaba taken about the carrier: a frequency whose walk-off
    relative to the window exceeds half the padded window would alias, and is cut) or ``"fresnel"``
    (paraxial, untilted). ``carrier`` (1/m) and ``shift`` (m) are (y, x) pairs; ``n`` the medium index.
    """
    wavelength = torch.as_tensor(wavelength, dtype=torch.float64)
    carrier, shift = as_carrier(carrier), as_carrier(shift)
    cacheable = _is_plain(z) and not wavelength.requires_grad
    key = None
    if cacheable:
        key = (kind, tuple(shape_pad), tuple(pitch), tuple(wavelength.detach().cpu().flatten().tolist()),
               tuple(wavelength.shape), _scalar(z), str(device), cdtype, band_limit, carrier, shift, float(n))
        hit = _KERNEL_CACHE.get(key)
        if hit is not None:
            _KERNEL_CACHE.move_to_end(key)
            return hit
    g = Grid(shape_pad, pitch)
    gy, gx = g.freqs(device=device, dtype=torch.float64)
    if cacheable:
        # plain numbers: build it a block of rows at a time straight into the complex output, so the float64 and
        # complex128 temporaries are a block's, not the padded grid's (the one-time build no longer sets the peak)
        H = torch.empty(*wavelength.shape, *shape_pad, dtype=cdtype, device=device)
        rows = max(1, (1 << 18) // shape_pad[1])  # small blocks: the allocator keeps little of them
        for r in range(0, shape_pad[0], rows):
            H[..., r:r + rows, :] = _kernel(kind, gy[r:r + rows], gx, shape_pad, pitch, wavelength, z, device,
                                           band_limit, carrier, shift, n).to(cdtype)
        fft.release_memory()
        _KERNEL_CACHE[key] = H
        while len(_KERNEL_CACHE) > _KERNEL_CACHE_SIZE:
            _KERNEL_CACHE.popitem(last=False)
        return H
    if kind == "asm" and not wavelength.requires_grad:
        # a differentiable distance (a design that moves a plane): what does not depend on z is built once and
        # kept; each call only forms the phase k_z z, the decay and the band limit from it
        pkey = (tuple(shape_pad), tuple(pitch), tuple(wavelength.detach().cpu().flatten().tolist()),
                tuple(wavelength.shape), str(device), carrier, shift, float(n))
        parts = _PARTS_CACHE.get(pkey)
        if parts is None:
            wl = wl_view(wavelength.to(device=device, dtype=torch.float64)) / n
            parts = _asm_parts(gy, gx, wl, carrier, shift)
            _PARTS_CACHE[pkey] = parts
            while len(_PARTS_CACHE) > _PARTS_CACHE_SIZE:
                _PARTS_CACHE.popitem(last=False)
        else:
            _PARTS_CACHE.move_to_end(pkey)
        zt = torch.as_tensor(z, dtype=torch.float64, device=device)
        return _asm_assemble(parts, zt, _scalar(z), band_limit, shape_pad, pitch, shift).to(cdtype)
    return _kernel(kind, gy, gx, shape_pad, pitch, wavelength, z, device, band_limit, carrier, shift, n).to(cdtype)


def _asm_parts(gy, gx, wl, carrier, shift):
    """What the angular spectrum's kernel at the frequencies gy (rows, 1) x gx (1, cols) keeps whatever the
    distance, float64: k_z of the propagating waves (rad/m; 0 for evanescent ones), the decay rate of the
    evanescent ones (1/m; 0 for propagating ones), whether any wave is evanescent, the window shift's phase
    (rad, or None) and the walk-off per metre of distance along x (1, cols) and y (rows, 1).

    k_z = 2 pi sqrt(1/lambda^2 - f^2) is real for propagating waves and 2 pi i sqrt(f^2 - 1/lambda^2) for
    evanescent ones; built from real parts, H = polar(decay, phase) gives exp(i k_z z) at a third of the cost
    of a complex128 square root and exponential, and the masked square root keeps sqrt's infinite slope at 0
    out of any gradient."""
    fy, fx = gy + carrier[0], gx + carrier[1]
    arg = (1.0 / wl) ** 2 - (fx ** 2 + fy ** 2)
    prop = arg > 0
    mag = arg.abs()
    root = 2 * torch.pi * torch.sqrt(torch.where(mag > 0, mag, torch.ones_like(mag))) * (mag > 0)
    kz = torch.where(prop, root, torch.zeros_like(root))
    kappa = torch.where(prop, torch.zeros_like(root), root)
    sphase = 2 * torch.pi * (gy * shift[0] + gx * shift[1]) if shift != (0.0, 0.0) else None
    # walk-off of each plane wave per metre, per axis, with the other axis at the carrier (for an untilted field
    # the band limit below is exactly Matsushima's rectangle f_lim = 1 / (lambda sqrt((2z/S)^2 + 1)))
    slope_x = fx / torch.sqrt(torch.clamp((1.0 / wl) ** 2 - fx ** 2 - carrier[0] ** 2, min=1e-300))
    slope_y = fy / torch.sqrt(torch.clamp((1.0 / wl) ** 2 - fy ** 2 - carrier[1] ** 2, min=1e-300))
    return kz, kappa, bool((~prop).any()), sphase, slope_x, slope_y


def _asm_assemble(parts, zt, z: float, band_limit, shape_pad, pitch, shift) -> torch.Tensor:
    """The angular spectrum's kernel (times 1/N, complex128) over the distance ``zt`` (m; a float64 tensor, may
    require grad; ``z`` its value) from :func:`_asm_parts`."""
    kz, kappa, evanescent, sphase, slope_x, slope_y = parts
    phase = kz * zt
    if sphase is not None:
        phase = phase + sphase
    scale = 1.0 / (shape_pad[0] * shape_pad[1])
    if z >= 0 and evanescent:
        decay = torch.exp(-kappa * zt) * scale
    else:  # no evanescent wave, or back-propagation, which must not amplify them: they are left as they are
        decay = torch.full_like(phase, scale)
    if band_limit:  # a plane wave that walks out of the padded window would alias: cut
        za = zt.detach().abs()
        sign = 1.0 if z >= 0 else -1.0
        keep = ((slope_x * za - sign * shift[1]).abs() <= shape_pad[1] * pitch[1] / 2) & \
               ((slope_y * za - sign * shift[0]).abs() <= shape_pad[0] * pitch[0] / 2)
        decay = decay * keep
    return torch.polar(decay.expand_as(phase), phase)


def _kernel(kind, gy, gx, shape_pad, pitch, wavelength, z, device, band_limit, carrier, shift, n) -> torch.Tensor:
    """The transfer function (times 1/N) at the frequencies gy (rows, 1) x gx (1, cols), complex128."""
    wl = wl_view(wavelength.to(device=device, dtype=torch.float64)) / n  # the wavelength in the medium
    zt = torch.as_tensor(z, dtype=torch.float64, device=device)
    if kind == "asm":
        return _asm_assemble(_asm_parts(gy, gx, wl, carrier, shift), zt, _scalar(z), band_limit, shape_pad, pitch,
                             shift)
    elif kind == "fresnel":
        if carrier != (0.0, 0.0) or shift != (0.0, 0.0):
            raise ValueError("the Fresnel transfer function is untilted: use kind='asm' for a carrier or a shift")
        k = 2 * torch.pi / wl
        f2 = gx ** 2 + gy ** 2
        H = torch.exp(1j * (k * zt - torch.pi * wl * zt * f2))
        if band_limit:
            lim_x = shape_pad[1] * pitch[1] / (2 * wl * zt.abs())
            lim_y = shape_pad[0] * pitch[0] / (2 * wl * zt.abs())
            H = H * ((gx.abs() <= lim_x) & (gy.abs() <= lim_y))
    else:
        raise ValueError(f"unknown transfer function kind {kind!r}; 'asm' or 'fresnel'")
    return H * (1.0 / (shape_pad[0] * shape_pad[1]))


@functools.lru_cache(maxsize=256)
def grid_check(kind: str, shape, pitch, wavelength: float, z: float, padding: float, bandwidth):
    """(valid, reason, fix) of the planner's data-independent test for a transfer-function method, cached:
    it depends only on numbers."""
    c = plan_propagation(Grid(shape, pitch), wavelength, z, padding, bandwidth=bandwidth).checks[kind]
    return c.valid, c.reason, c.fix


def measured_loss(U: torch.Tensor, H: torch.Tensor, wavelength: torch.Tensor, g: Grid, carrier=(0.0, 0.0),
                  n: float = 1.0) -> float:
    """Fraction of the propagating spectral power of the spectrum ``U`` (FFT order on the padded grid ``g``)
    that the band limit in ``H`` removes."""
    gy, gx = g.freqs(device=U.device, dtype=torch.float64)
    fy, fx = gy + carrier[0], gx + carrier[1]
    wl = wl_view(torch.as_tensor(wavelength, dtype=torch.float64).to(device=U.device)) / n
    propagating = (fx ** 2 + fy ** 2) < (1.0 / wl) ** 2
    P = (U.real ** 2 + U.imag ** 2).detach().to(torch.float64)
    total = (P * propagating).sum()
    lost = (P * (propagating & (H == 0))).sum()
    return float(lost / total) if float(total) > 0 else 0.0


#: complex samples in one block of the windowed transform's temporaries (64 MB in complex128)
_BLOCK_SAMPLES = 1 << 22


def _blocks(n: int, width: int):
    """Equal ranges covering ``n`` lines of ``width`` samples, each at most about ``_BLOCK_SAMPLES`` (one shape of
    transform, so one check by optlib.fft, except the last block)."""
    step = max(1, min(n, _BLOCK_SAMPLES // max(width, 1)))
    return [(a, min(n, a + step)) for a in range(0, n, step)]


def _line_dft(x: torch.Tensor, n: int, at: int, inverse: bool) -> torch.Tensor:
    """The unscaled 1-D DFT (``inverse``: exp(+2 pi i k j / n)) of the rows of ``x`` (R, m) placed at column ``at``
    of ``n`` zero samples."""
    if x.shape[-1] == n:
        buf = x.contiguous()
    else:
        buf = x.new_zeros(x.shape[0], n)
        buf[:, at:at + x.shape[-1]] = x
    return fft.ifft1(buf, norm="forward") if inverse else fft.fft1(buf)


def _window_forward(u, H, pad_at, rows, cols, spectrum=None):
    """Samples ``rows`` x ``cols`` (index tensors into the padded grid, -1 for none: zero) of ifft2(fft2(pad(u)) * H,
    norm="forward") for one 2-D ``u`` (Hy, Wx) placed at ``pad_at`` in H's (Py, Px) grid, never forming a padded
    grid's worth of output: the transform along y of u's columns (Wx x Py), then per block of spectrum rows the
    transform along x, the kernel, the inverse along x kept only at ``cols``, and at the end the inverse along y
    kept only at ``rows`` (the output's Cx columns of length Py). ``spectrum(S, r0, r1)`` sees each block of the
    spectrum (for a power check)."""
    Wx, (Py, Px) = u.shape[1], H.shape
    V = u.new_empty(Wx, Py)  # u's columns, transformed along y
    for a, b in _blocks(Wx, Py):
        V[a:b] = _line_dft(u[:, a:b].T, Py, pad_at[0], inverse=False)
    cv, ci = cols >= 0, cols.clamp(min=0)
    Z = u.new_empty(Py, len(cols))
    for a, b in _blocks(Py, Px):
        S = _line_dft(V[:, a:b].T, Px, pad_at[1], inverse=False)
        if spectrum is not None:
            spectrum(S, a, b)
        Z[a:b] = fft.ifft1(S.mul_(H[a:b]), norm="forward")[:, ci] * cv
    del V
    rv, ri = rows >= 0, rows.clamp(min=0)
    return (fft.ifft1(Z.T.contiguous(), norm="forward")[:, ri] * rv).T


def _window_adjoint(g, H, pad_at, rows, cols, shape):
    """The adjoint of :func:`_window_forward` applied to ``g`` (Ry, Cx): a gradient on the window's samples back to
    the input's (Hy, Wx) = ``shape``, by the same blocks in reverse (scatter, transform with the opposite sign,
    conj(H), crop)."""
    (Hy, Wx), (Py, Px) = shape, H.shape
    rv, cv = rows >= 0, cols >= 0
    T = g.new_zeros(len(cols), Py)
    T[:, rows[rv]] = g.T[:, rv]
    Z = fft.fft1(T)  # (Cx, Py): the adjoint of the unscaled inverse along y
    del T
    V = g.new_empty(Wx, Py)
    Zt = Z.T[:, cv]
    for a, b in _blocks(Py, Px):
        B = g.new_zeros(b - a, Px)
        B[:, cols[cv]] = Zt[a:b]
        B = fft.ifft1(fft.fft1(B).mul_(H[a:b].conj()), norm="forward")
        V[:, a:b] = B[:, pad_at[1]:pad_at[1] + Wx].T
    del Z, Zt
    out = g.new_empty(Hy, Wx)
    for a, b in _blocks(Wx, Py):
        out[:, a:b] = fft.ifft1(V[a:b], norm="forward")[:, pad_at[0]:pad_at[0] + Hy].T
    return out


def _pairs(a: torch.Tensor, b: torch.Tensor, lead):
    """The 2-D slices (a[i], b[i]) of ``a`` and ``b`` broadcast over the leading dimensions ``lead``, in order, as
    views (a kernel shared by a batch of fields is not copied per field)."""
    ae, be = a.expand(*lead, *a.shape[-2:]), b.expand(*lead, *b.shape[-2:])
    for i in itertools.product(*(range(n) for n in lead)):
        yield ae[i], be[i]


class _WindowedTransfer(torch.autograd.Function):
    """u (..., Hy, Wx) -> its propagation by the transfer function H (..., Py, Px) sampled on a window (rows, cols)
    of the padded output (:func:`_window_forward`); linear in u, so the backward is the adjoint, in the same blocks:
    nothing of the size of the padded grid is kept. H must not require grad."""

    @staticmethod
    def forward(ctx, u, H, pad_at, rows, cols, spectrum):
        lead = torch.broadcast_shapes(u.shape[:-2], H.shape[:-2])
        out = torch.stack([_window_forward(a, h, pad_at, rows, cols, spectrum) for a, h in _pairs(u, H, lead)])
        ctx.save_for_backward(H, rows, cols)
        ctx.pad_at, ctx.u_shape = pad_at, u.shape
        return out.reshape(*lead, len(rows), len(cols))

    @staticmethod
    def backward(ctx, g):
        H, rows, cols = ctx.saved_tensors
        lead = g.shape[:-2]
        grad = torch.stack([_window_adjoint(a, h, ctx.pad_at, rows, cols, ctx.u_shape[-2:])
                            for a, h in _pairs(g, H, lead)])
        grad = grad.reshape(*lead, *ctx.u_shape[-2:])
        while grad.dim() > len(ctx.u_shape):  # u was broadcast over leading dimensions: sum them back
            grad = grad.sum(0)
        for i, n in enumerate(ctx.u_shape[:-2]):
            if n == 1 and grad.shape[i] != 1:
                grad = grad.sum(i, keepdim=True)
        return grad, None, None, None, None, None


def _window_lines(n: int, n_pad: int, m: int, top: int) -> torch.Tensor:
    """Indices in the padded grid (n_pad) of the ``m`` window samples starting at sample ``top`` of the cropped
    output (n samples, centred as :func:`crop_centered` crops); -1 where the window leaves the output."""
    j = torch.arange(m) + top
    return torch.where((j >= 0) & (j < n), j + (n_pad // 2 - n // 2), torch.full_like(j, -1))


def _tf_propagate(field: Field, z, kind: str, padding: float, check: Union[bool, str], bandwidth,
                  band_limit: bool = True, n: float = 1.0, shift=None, window: Optional[Grid] = None) -> Field:
    g = field.grid
    zf = number("z", z)
    number("n", n, "refractive index", positive=True)
    shape_pad = padded_shape(g.shape, padding)
    carrier = field.carrier
    if kind != "asm" and carrier != (0.0, 0.0):
        raise ValueError(f"propagate(method={kind!r}) cannot carry a tilt (carrier {carrier} 1/m): use method='asm', "
                         "or demodulate with field.with_carrier(0) if the tilt is sampled")
    if shift is None:
        shift = (0.0, 0.0) if carrier == (0.0, 0.0) else walk_off(carrier, float(field.wavelength.min()), zf, n)
        if carrier != (0.0, 0.0) and field.wavelength.numel() > 1:
            raise ValueError("a tilted field's walk-off depends on the wavelength: propagate one wavelength at a time "
                             "or pass shift=")
    shift = as_carrier(shift)
    out_grid = g.shifted(*shift)
    if zf == 0 and shift == (0.0, 0.0):
        return field if window is None else field.window(window)
    if window is not None:
        differentiable = not _is_plain(z) or field.wavelength.requires_grad
        if differentiable:  # the kernel itself needs a gradient: the full spectrum is needed anyway
            return _tf_propagate(field, z, kind, padding, check, bandwidth, band_limit, n, shift).window(window)
        return _tf_window(field, z, kind, padding, check, bandwidth, band_limit, n, shift, out_grid, window)
    full = (*field.u.shape[:-2], *shape_pad)
    fft.prepare("fft2", full, field.u.dtype, field.u.device)  # the transforms' one-time checks, before the
    fft.prepare("ifft2", full, field.u.dtype, field.u.device, norm="forward")  # big temporaries exist
    H = transfer_function(kind, shape_pad, g.pitch, field.wavelength, z, field.u.device, field.u.dtype,
                          band_limit, carrier, shift, n)
    need_measure, reason, fix = _check_plan(field, kind, zf, padding, check, bandwidth, carrier, shift, n)
    U = fft.fft2(pad_centered(field.u, shape_pad))  # (temporaries are dropped as soon as used: peak memory)
    if need_measure:
        loss = measured_loss(U, H, field.wavelength, Grid(shape_pad, g.pitch), carrier, n)
        if loss > _MEASURED_LOSS_TOL:
            raise _loss_error(kind, loss, reason, fix)
    U = U * H  # H carries the 1/N
    out = fft.ifft2(U, norm="forward")
    del U
    return field.replace(u=crop_centered(out, g.shape), grid=out_grid)


def _check_plan(field: Field, kind: str, zf: float, padding: float, check, bandwidth, carrier, shift, n):
    """(measure the band limit's loss?, reason, fix) of the sampling check of a transfer-function step."""
    if not check:
        return False, "", ""
    if carrier != (0.0, 0.0) or shift != (0.0, 0.0) or n != 1.0:
        # the planner's closed form is for untilted fields in air: measure instead
        return True, "tilted or shifted window", "more padding, a smaller distance, or a smaller shift"
    need, reason, fix = False, "", ""
    for wl in field.wavelength.detach().flatten().tolist():
        valid, reason_wl, fix_wl = grid_check(kind, field.grid.shape, field.grid.pitch, wl, zf, padding, bandwidth)
        if not valid:
            if check == "strict" or bandwidth is not None:
                raise SamplingError(f"propagate(method={kind!r}): {reason_wl}. Fix: {fix_wl}")
            need, reason, fix = True, reason_wl, fix_wl
    return need, reason, fix


def _loss_error(kind: str, loss: float, reason: str, fix: str) -> SamplingError:
    return SamplingError(f"propagate(method={kind!r}) would drop {loss:.3g} of the field's propagating power outside "
                         f"the correctly sampled band ({reason}). Fix: {fix}. Pass check=False to accept the loss.")


def _tf_window(field: Field, z, kind, padding, check, bandwidth, band_limit, n, shift, out_grid: Grid,
               window: Grid) -> Field:
    """:func:`_tf_propagate` sampled only on ``window`` (a grid of the output's pitch whose samples coincide with
    the output grid's; zero where it leaves the output), by :class:`_WindowedTransfer`: the same numbers as the
    full output's window, with no padded grid's worth of temporaries (the spectrum is formed and used a block of
    rows at a time) and about 3/5 of the transforms (the padding's zero rows and the discarded output are never
    transformed)."""
    g = field.grid
    if any(abs(a - b) > 1e-9 * a for a, b in zip(window.pitch, g.pitch)):
        raise ValueError(f"propagate(window=): the window's pitch {window.pitch} differs from the field's {g.pitch}")
    oy, ox = out_grid.offset_in_samples(window)
    iy, ix = round(oy), round(ox)
    if abs(oy - iy) > 1e-6 or abs(ox - ix) > 1e-6:
        raise ValueError(f"propagate(window=): the window's samples fall between the output's ({oy:.6f}, {ox:.6f} "
                         "samples from its centre); shift the window by the fraction")
    shape_pad = padded_shape(g.shape, padding)
    H = transfer_function(kind, shape_pad, g.pitch, field.wavelength, z, field.u.device, field.u.dtype,
                          band_limit, field.carrier, shift, n)
    (Hy, Wx), (h, w) = g.shape, window.shape
    rows = _window_lines(Hy, shape_pad[0], h, Hy // 2 + iy - h // 2).to(field.u.device)
    cols = _window_lines(Wx, shape_pad[1], w, Wx // 2 + ix - w // 2).to(field.u.device)
    pad_at = (shape_pad[0] // 2 - Hy // 2, shape_pad[1] // 2 - Wx // 2)
    need, reason, fix = _check_plan(field, kind, number("z", z), padding, check, bandwidth, field.carrier, shift, n)
    hook = _LossHook(field, H, shape_pad, n) if need else None
    u = _WindowedTransfer.apply(field.u, H, pad_at, rows, cols, hook)
    if need and hook.loss() > _MEASURED_LOSS_TOL:
        raise _loss_error(kind, hook.loss(), reason, fix)
    return field.replace(u=u, grid=window)


class _LossHook:
    """Sums, over the blocks of the spectrum the windowed transform forms, the propagating power and the part of
    it the band limit in ``H`` cuts (what :func:`measured_loss` measures on the whole spectrum)."""

    def __init__(self, field: Field, H, shape_pad, n: float):
        if field.wavelength.numel() != 1:
            raise ValueError("propagate(window=) with check=True measures one wavelength at a time: propagate them "
                             "one by one, or pass check=False")
        gy, gx = Grid(shape_pad, field.grid.pitch).freqs(device=field.u.device, dtype=torch.float64)
        self.fy, self.fx = gy + field.carrier[0], gx + field.carrier[1]
        self.k2 = (n / float(field.wavelength.detach().reshape(-1)[0])) ** 2
        self.H = H.reshape(shape_pad)
        self.sums = [0.0, 0.0]

    def __call__(self, S, a, b):
        prop = (self.fx ** 2 + self.fy[a:b] ** 2) < self.k2
        P = (S.real ** 2 + S.imag ** 2).to(torch.float64)
        self.sums[0] += float((P * prop).sum())
        self.sums[1] += float((P * (prop & (self.H[a:b] == 0))).sum())

    def loss(self) -> float:
        return self.sums[1] / self.sums[0] if self.sums[0] > 0 else 0.0


def asm(field: Field, z, padding: float = 2.0, check: Union[bool, str] = True, bandwidth: Optional[float] = None,
        band_limit: bool = True, n: float = 1.0, shift=None, window: Optional[Grid] = None) -> Field:
    """Band-limited angular-spectrum propagation by ``z`` metres in a medium of index ``n``.

    Args:
        field: input field (its ``carrier``, if any, is propagated exactly: see :class:`~optlib.field.Field`).
        z: distance in metres (float or 0-d tensor; differentiable if a tensor requiring grad).
        padding: zero-padding factor (2 makes the FFT's circular convolution linear over the window).
        check: ``True`` raises :class:`SamplingError` if the band limit would remove measurable power
            (the grid test is tried first; the field's own spectrum decides when the grid test fails);
            ``"strict"`` raises on the grid test alone; ``False`` skips checks.
        bandwidth: the field's highest spatial frequency (1/m), if known; tightens the grid test.
        band_limit: apply the band limit (turn off only to study evanescent waves).
        n: refractive index of the medium.
        shift: (dy, dx) (m) to move the output window by; default the carrier's walk-off (zero without one),
            so the window follows the beam. The output grid is the input grid shifted by it.
        window: return only the output's samples on this grid (same pitch, samples coinciding with the output
            grid's; zero where it leaves the output): ``asm(f, z, window=w)`` equals ``asm(f, z).window(w)``, with
            no temporaries the size of the padded grid and fewer transforms (a PSF on a small sensor window from a
            large field). With a distance or wavelength that requires grad, it is the full output's window.
    """
    return _tf_propagate(field, z, "asm", padding, check, bandwidth, band_limit, n, shift, window)


def fresnel(field: Field, z, padding: float = 2.0, check: Union[bool, str] = True,
            bandwidth: Optional[float] = None, n: float = 1.0) -> Field:
    """Fresnel transfer-function propagation by ``z`` metres (paraxial); same grid in and out.

    H(f) = exp(i k z) exp(-i pi lambda z |f|^2) (lambda in the medium of index ``n``), band-limited to where
    the chirp is sampled on the padded grid. Arguments as in :func:`asm`.
    """
    return _tf_propagate(field, z, "fresnel", padding, check, bandwidth, True, n)


# --- Fourier-type propagators: one FFT, or a matrix DFT onto any output grid --------------------------------
def _single_wavelength(field: Field, method: str) -> float:
    if field.wavelength.numel() != 1:
        raise ValueError(f"method={method!r} has a wavelength-dependent output pitch; propagate one wavelength "
                         "at a time, pass output_grid=, or use 'asm'/'fresnel', which keep the grid")
    return float(field.wavelength)


def dft_matrix(coords: torch.Tensor, freqs: torch.Tensor, dtype) -> torch.Tensor:
    """exp(-2 pi i f x) for frequencies ``freqs`` (..., M) and coordinates ``coords`` (N,): (..., M, N),
    built in float64 (f x can be large) and cast to the complex ``dtype``."""
    ph = -2 * math.pi * freqs[..., :, None] * coords
    return torch.polar(torch.ones_like(ph), ph).to(dtype)


def mdft(u: torch.Tensor, grid: Grid, fy: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
    """The Fourier sum U(fy, fx) = sum_{y,x} u(y, x) exp(-2 pi i (fy y + fx x)) dy dx of ``u`` (..., H, W) on
    ``grid`` (global coordinates, m) at the frequencies ``fy`` (..., My) and ``fx`` (..., Mx) (1/m; leading
    dimensions broadcast against ``u``'s, e.g. one row of frequencies per wavelength). A matrix DFT: two
    matrix products, cost O(My H W + My Mx W), any frequencies, no padding. Returns (..., My, Mx)."""
    dev = u.device
    Ay = dft_matrix(grid.y(dev).reshape(-1), fy.to(dev, torch.float64), u.dtype)       # (..., My, H)
    Ax = dft_matrix(grid.x(dev).reshape(-1), fx.to(dev, torch.float64), u.dtype)       # (..., Mx, W)
    return (Ay @ u @ Ax.transpose(-1, -2)) * (grid.dx * grid.dy)


def check_replicas(source: Grid, out: Grid, scale: float, who: str = "matrix DFT"):
    """A Fourier sum over samples of pitch d, evaluated at x / ``scale`` (scale = lambda z or lambda f, m^2), repeats
    every ``scale`` / d on the output: every output sample of ``out`` (coordinates relative to the pattern's
    centre) must lie within half a period of it, or replicas fold onto the window. Raises
    :class:`SamplingError` with the fix."""
    for axis in (0, 1):
        period = scale / source.pitch[axis]
        coords = (out.y() if axis == 0 else out.x()).flatten()
        reach = float(coords.abs().max()) + out.pitch[axis] / 2
        if reach > period / 2 * (1 + 1e-9):
            need = source.pitch[axis] * period / (2 * reach)
            raise SamplingError(f"{who}: the output window reaches {reach:.4g} m from the pattern's centre along "
                                f"{'yx'[axis]}, beyond half the alias-free period {period:.4g} m of an input sampled at "
                                f"{source.pitch[axis]:.4g} m (replicas would fold in). Fix: an input pitch "
                                f"<= {need:.4g} m, or a smaller output window")


def _fourier(field: Field, z, input_chirp: bool, lens: bool, output_grid: Optional[Grid], n: float,
             who: str, check: bool = True) -> Field:
    """The one- or matrix-DFT step shared by fresnel1, fraunhofer and focal_plane (see those)."""
    zf = number("z" if not lens else "focal_length", z, nonzero=True)
    number("n", n, "refractive index", positive=True)
    if field.carrier != (0.0, 0.0):
        field = field.with_carrier((0.0, 0.0))
    g = field.grid
    dev, cdt = field.u.device, field.u.dtype
    u = field.u
    if input_chirp:  # exp(i pi n |x1 - o|^2 / (lambda z)), about the input origin (exact: see below)
        wlv = wl_view(field.wavelength) / n
        u = u * torch.polar(torch.ones((), dtype=torch.float64, device=dev),
                            (math.pi / (wlv * zf)) * g.r2(dev, torch.float64, local=True)).to(cdt)
    # the free-space kernel |x2 - x1|^2 expands about the input origin (the output window is centred on the same
    # lateral point); a lens on the optical axis maps x2 to the frequency n x2 / (lambda f) in global coordinates
    origin = (0.0, 0.0) if lens else g.origin
    if output_grid is None:
        wl = _single_wavelength(field, who)
        lam = wl / n
        out_grid = Grid(g.shape, (lam * abs(zf) / g.extent[0], lam * abs(zf) / g.extent[1]), origin)
        U = fft.fft2c(u) if zf > 0 else torch.conj(fft.fft2c(torch.conj(u)))
        U = U * (g.dx * g.dy)
        if lens and g.origin != (0.0, 0.0):  # the input's offset from the lens axis: a linear phase in the output
            ramp = -2 * math.pi / (lam * zf) * (g.origin[0] * out_grid.y(dev) + g.origin[1] * out_grid.x(dev))
            U = U * torch.polar(torch.ones_like(ramp), ramp).to(cdt)
    else:
        out_grid = output_grid
        lam_t = field.wavelength.to(dev, torch.float64) / n
        lam_v = lam_t.reshape(*lam_t.shape, 1)
        src = g if lens else Grid(g.shape, g.pitch)  # local input coordinates for free space
        ys = (out_grid.y(dev) - origin[0]).reshape(-1)
        xs = (out_grid.x(dev) - origin[1]).reshape(-1)
        U = mdft(u, src, ys / (lam_v * zf), xs / (lam_v * zf))
        if check:
            check_replicas(g, out_grid.shifted(-origin[0], -origin[1]), float(lam_t.min()) * abs(zf), who)
    wlv = wl_view(field.wavelength.to(dev)) / n
    k = 2 * math.pi / wlv
    r2 = (out_grid.y(dev) - origin[0]) ** 2 + (out_grid.x(dev) - origin[1]) ** 2
    phase = k * zf + (math.pi / (wlv * zf)) * r2
    # U2 = exp(i phase) / (i lambda z) * sum(...) dx dy: discrete normalisation that keeps the power exact
    pre = torch.polar(torch.ones_like(phase), phase) / (1j * wlv * zf)
    return Field(U * pre.to(cdt), out_grid, field.wavelength)


def fresnel1(field: Field, z, check: Union[bool, str] = True, support: Optional[float] = None,
             output_grid: Optional[Grid] = None, n: float = 1.0) -> Field:
    """Single-FFT Fresnel propagation by ``z`` metres in index ``n``; output pitch ``lambda z / (n N d)`` on a grid
    centred on the input's origin, or onto ``output_grid`` (global coordinates) by a matrix DFT.

    U2(x2) = exp(ikz) / (i lambda z) exp(i pi |x2|^2/(lambda z)) FT[U1 exp(i pi |x1|^2/(lambda z))](x2/(lambda z)),
    coordinates relative to the input origin. Valid when the input chirp is sampled over the field's support
    (``support`` = its diameter in m; default: measured from the field when the whole-grid test fails).
    """
    if check:
        _check_support_method(field, z, "fresnel1", check, support, n)
    return _fourier(field, z, True, False, output_grid, n, "fresnel1", bool(check))


def fraunhofer(field: Field, z, check: Union[bool, str] = True, support: Optional[float] = None,
               output_grid: Optional[Grid] = None, n: float = 1.0) -> Field:
    """Fraunhofer (far-field) propagation by ``z`` metres; output as :func:`fresnel1`.

    Valid when the Fresnel number of the support, (D/2)^2 / (lambda z), is at most 1/8.
    """
    if check:
        _check_support_method(field, z, "fraunhofer", check, support, n)
    return _fourier(field, z, False, False, output_grid, n, "fraunhofer", bool(check))


def focal_plane(field: Field, focal_length, output_grid: Optional[Grid] = None, n: float = 1.0,
                check: bool = True) -> Field:
    """Field in the back focal plane of an ideal thin lens of focal length ``f`` (m) on the optical axis,
    placed at the input plane (image space of index ``n``).

    The lens phase cancels the single-FFT Fresnel chirp exactly, so no chirp has to be sampled:
    U_f(x2) = exp(ikf) / (i lambda f) exp(i pi x2^2/(lambda f)) FT[U](n x2/(lambda f)); on the FFT grid (pitch
    lambda f / (n N d), centred on the axis) or on ``output_grid`` (any pitch and position) by a matrix DFT,
    which ``check`` guards against replicas (the output must lie within half a period lambda f / (n d) of
    the axis).
    """
    return _fourier(field, focal_length, False, True, output_grid, n, "focal_plane", check)


def support_diameter(field: Field, fraction: float = 1 - 1e-6) -> float:
    """Diameter (m) of the disc about the grid's origin holding ``fraction`` of the field's power (measured)."""
    I = field.intensity().detach().to(torch.float64)
    while I.dim() > 2:
        I = I.sum(0)
    r = field.grid.r(I.device, torch.float64, local=True).flatten()
    w = I.flatten()
    order = torch.argsort(r)
    c = torch.cumsum(w[order], 0)
    if float(c[-1]) == 0:
        return 0.0
    idx = int(torch.searchsorted(c, fraction * c[-1]))
    idx = min(idx, r.numel() - 1)
    return 2 * float(r[order][idx]) + 2 * max(field.grid.pitch)


def _check_support_method(field, z, method, check, support, n=1.0):
    number("z", z, nonzero=True)
    for wl in field.wavelength.detach().flatten().tolist():
        lam = wl / n
        plan = plan_propagation(field.grid, lam, _scalar(z), support=support)
        c = plan.checks[method]
        if c.valid:
            continue
        if support is None and check != "strict":
            measured = support_diameter(field)
            c = plan_propagation(field.grid, lam, _scalar(z), support=measured).checks[method]
            if c.valid:
                continue
        raise SamplingError(f"propagate(method={method!r}): {c.reason}. Fix: {c.fix}")


def rs(field: Field, z, output_grid: Optional[Grid] = None, check: Union[bool, str] = True,
       max_chunk_bytes: int = 2 ** 27, n: float = 1.0) -> Field:
    """Direct Rayleigh-Sommerfeld (first kind) sum, exact for scalar fields; cost O(N_in * N_out).

    U2(x2) = 1/(2 pi) sum U1(x1) (z/r) (1/r - i k) exp(i k r) / r dA,  r = |x2 - x1, z|,  k = 2 pi n / lambda.
    Chunked over output samples so temporaries stay below ``max_chunk_bytes`` (default 128 MiB).
    ``output_grid`` defaults to the input grid; both in global coordinates. A carrier is multiplied in
    (the physical field is summed).
    """
    zf = number("z", z, nonzero=True)
    number("n", n, "refractive index", positive=True)
    g = field.grid
    og = output_grid or g
    if check:
        for wl in field.wavelength.detach().flatten().tolist():
            c = plan_propagation(g, wl / n, zf, output_grid=og).checks["rs"]
            if not c.valid and check != "strict":  # only where the field is non-zero must the kernel be sampled
                c = plan_propagation(g, wl / n, zf, output_grid=og, support=support_diameter(field)).checks["rs"]
            if not c.valid:
                raise SamplingError(f"propagate(method='rs'): {c.reason}. Fix: {c.fix}")
    dev = field.u.device
    cdt = torch.complex128
    u = field.u.to(cdt)
    if field.carrier != (0.0, 0.0):
        ramp = 2 * math.pi * (field.carrier[0] * g.y(dev) + field.carrier[1] * g.x(dev))
        u = u * torch.polar(torch.ones_like(ramp), ramp)
    batch = u.shape[:-2]
    u_flat = u.reshape(*batch, -1)  # (..., Nin)
    x1 = g.x(dev).expand(g.shape).reshape(-1)
    y1 = g.y(dev).expand(g.shape).reshape(-1)
    x2 = og.x(dev).expand(og.shape).reshape(-1)
    y2 = og.y(dev).expand(og.shape).reshape(-1)
    zt = torch.as_tensor(z, dtype=torch.float64, device=dev)
    k = (2 * torch.pi * n / field.wavelength.to(dev, torch.float64)).reshape(*field.wavelength.shape, 1, 1)
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
    direct sum) and raises :class:`SamplingError` with the full plan if none is valid. A field with a
    carrier always takes the angular spectrum. Extra keyword arguments go to the chosen method.
    """
    if method not in METHODS:
        raise ValueError(f"unknown propagation method {method!r}; choose one of {METHODS}")
    number("z", z)
    if method == "auto" and (field.carrier != (0.0, 0.0) or kwargs.get("n", 1.0) != 1.0):
        method = "asm"
    if method == "auto":
        wls = field.wavelength.detach().flatten().tolist()
        plans = [plan_propagation(field.grid.at((0.0, 0.0)), wl, _scalar(z), kwargs.get("padding", 2.0),
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
