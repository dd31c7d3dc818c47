"""Ray-wave PSF (the hybrid model of Yang et al. 2024): coherent rays -> complex field on a plane ->
optional DOE phase -> band-limited angular spectrum to the sensor -> pixels.

1. An aimed pupil bundle is traced in float64 to a plane z = ``plane_z`` behind the lens (e.g. the DOE).
2. Splatting: every ray spreads its power to the four nearest samples of a window (pitch ``dx``,
   centred on the chief ray's hit) with bilinear weights b, each carrying the ray's phase carried to
   that sample along the ray, phi = k (W + n d_xy . (x_s - p)) (a local plane wave). A sample's field is
   E = sqrt(P_ray / dx^2) sum(b e^{i phi}) / sqrt(sum b): where the rays agree in phase the intensity is
   the ray density (so the splatted power equals the rays' power), where crossing rays disagree they
   interfere.
3. The chief ray's carrier exp(i k n d_c . x) is removed and the field is propagated by an angular
   spectrum whose transfer function is evaluated at (f + f_c) and shifted by the chief ray's walk-off
   s = L d_c,xy / d_c,z, so the output window is centred on the chief ray's sensor hit at any field
   angle. Frequencies whose walk-off would leave the padded window are cut (the band limit of
   Matsushima & Shimobaba generalised to a tilted carrier), evanescent ones decay (complex kz).
4. |E|^2 is integrated over sensor pixels (an integer number of samples per pixel).

Sampling is checked: the spread of ray directions about the chief ray must be resolved by ``dx``
(dx <= lambda / (2 n max|d_xy - d_c,xy|)), rays must be at least as dense as the samples, and the beam
must fit the window; each violation raises :class:`SamplingError` with the fix.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import torch

from .. import fft
from ..grid import Grid
from ..sampling import SamplingError


def splat_field(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, dxy: torch.Tensor, power: torch.Tensor,
                grid: Grid, k: float, n: float) -> torch.Tensor:
    """Complex field (H, W) on ``grid`` (coordinates relative to its centre, m) from coherent rays hitting
    the plane at (``x``, ``y``) (m) with optical path ``w`` (m), direction components ``dxy`` (N, 2) (the
    carrier already removed, if any), power ``power`` (N,) (W); vacuum wavenumber ``k`` (rad/m) and index
    ``n``. See the module docstring; float64 recommended (phase of long paths)."""
    H, W_ = grid.shape
    fx = x / grid.dx + W_ // 2
    fy = y / grid.dy + H // 2
    x0, y0 = torch.floor(fx.detach()), torch.floor(fy.detach())
    ax, ay = fx - x0, fy - y0
    acc_re = torch.zeros(H * W_, dtype=x.dtype, device=x.device)
    acc_im = torch.zeros_like(acc_re)
    acc_b = torch.zeros_like(acc_re)
    for ox, oy, b in ((0, 0, (1 - ax) * (1 - ay)), (1, 0, ax * (1 - ay)), (0, 1, (1 - ax) * ay), (1, 1, ax * ay)):
        xi, yi = x0 + ox, y0 + oy
        inside = (xi >= 0) & (xi < W_) & (yi >= 0) & (yi < H)
        # phase carried from the hit to the sample along the ray (local plane wave)
        sx = (xi - W_ // 2) * grid.dx - x
        sy = (yi - H // 2) * grid.dy - y
        phi = k * (w + n * (dxy[:, 0] * sx + dxy[:, 1] * sy))
        idx = (yi * W_ + xi).long()[inside]
        bp = (b * power)[inside]
        acc_re = acc_re.index_add(0, idx, bp * torch.cos(phi[inside]))
        acc_im = acc_im.index_add(0, idx, bp * torch.sin(phi[inside]))
        acc_b = acc_b.index_add(0, idx, bp)
    has = acc_b > 0
    norm = torch.where(has, torch.rsqrt(torch.where(has, acc_b, torch.ones_like(acc_b))), torch.zeros_like(acc_b))
    scale = 1.0 / math.sqrt(grid.dx * grid.dy)
    return torch.complex(acc_re * norm * scale, acc_im * norm * scale).reshape(H, W_)


def tilted_asm(field: torch.Tensor, grid: Grid, wavelength: float, n: float, L, carrier, padding: float = 2.0):
    """Angular-spectrum propagation over ``L`` (m) in index ``n`` of a field whose carrier
    exp(i 2 pi f_c . x) was removed (``carrier`` = f_c = n d_c,xy / lambda, 1/m); the output window is
    shifted by the carrier's walk-off L f_c / sqrt((n/lambda)^2 - f_c^2), so it follows the beam.
    Returns the propagated (carrier-free) field on the same-size grid. Differentiable in ``field`` and ``L``."""
    H, W_ = grid.shape
    Hp, Wp = int(math.ceil(H * padding)), int(math.ceil(W_ * padding))
    dtype = field.real.dtype
    dev = field.device
    fy = torch.fft.fftfreq(Hp, grid.dy, dtype=dtype, device=dev)[:, None]
    fx = torch.fft.fftfreq(Wp, grid.dx, dtype=dtype, device=dev)[None, :]
    fcx, fcy = float(carrier[0]), float(carrier[1])
    inv2 = (n / wavelength) ** 2
    kz_c = math.sqrt(inv2 - fcx ** 2 - fcy ** 2)
    sx, sy = fcx / kz_c, fcy / kz_c  # walk-off per unit distance
    gx, gy = fx + fcx, fy + fcy
    arg = inv2 - gx ** 2 - gy ** 2
    kz = torch.sqrt(torch.clamp(arg, min=0)) + 1j * torch.sqrt(torch.clamp(-arg, min=0))
    Lt = L if isinstance(L, torch.Tensor) else torch.tensor(float(L), dtype=dtype, device=dev)
    # residual phase: the linear part (the walk-off) is cancelled by the window shift
    phase = 2 * math.pi * (Lt * (kz - kz_c) + Lt * (sx * fx + sy * fy))
    Hf = torch.exp(1j * phase)
    # band limit: frequencies whose lateral walk-off relative to the window exceeds its half size alias
    with torch.no_grad():
        kzr = torch.sqrt(torch.clamp(arg, min=1e-30))
        Lf = float(Lt.detach())
        walk_x = Lf * (gx / kzr - sx)
        walk_y = Lf * (gy / kzr - sy)
        keep = (walk_x.abs() <= Wp * grid.dx / 2) & (walk_y.abs() <= Hp * grid.dy / 2)
    Hf = Hf * keep
    pad = torch.zeros(Hp, Wp, dtype=field.dtype, device=dev)
    y0, x0 = (Hp - H) // 2, (Wp - W_) // 2
    pad[y0:y0 + H, x0:x0 + W_] = field
    pad = torch.fft.ifftshift(pad)
    out = torch.fft.fftshift(fft.ifft2(fft.fft2(pad) * Hf))
    return out[y0:y0 + H, x0:x0 + W_]


def raywave_psf(lens, wavelength: float, sensor: Grid, plane_z: float, dx: float, window: int,
                angle=0.0, source=None, n_side: int = 512, doe_phase: Optional[Callable] = None,
                padding: float = 2.0, return_field: bool = False):
    """Ray-wave PSF (H, W) on the ``sensor`` grid (centred on the chief ray's hit), fraction of the power
    per pixel. Rays (an aimed ``n_side`` x ``n_side`` pupil grid at ``angle`` rad or from ``source``) are
    traced to the plane ``plane_z`` (m, behind the last surface), splatted on a ``window`` x ``window``
    grid of pitch ``dx`` (m), multiplied by ``doe_phase(x, y)`` (rad; x, y absolute plane coordinates in
    m) if given, and propagated to the sensor. ``sensor.dx`` must be an integer multiple of ``dx``.
    ``return_field`` also returns the splatted field (for the float32/float64 comparison)."""
    factor = sensor.dx / dx
    if abs(factor - round(factor)) > 1e-6 or round(factor) < 1:
        raise SamplingError(f"raywave_psf: the sensor pitch {sensor.dx:.3e} m must be an integer multiple of the "
                            f"field pitch dx = {dx:.3e} m; choose dx = {sensor.dx:.3e} / m for an integer m")
    factor = int(round(factor))
    rays, _ = lens.pupil_bundle(wavelength, n_side, angle, source)
    out = lens.trace(rays, to_sensor=False)
    chief = lens.trace(lens.chief_ray(wavelength, angle, source), to_sensor=False)
    if not bool(chief.valid[0]):
        raise ValueError(f"the chief ray at field {angle!r} does not pass the lens")
    n = lens.materials[-1].n(wavelength)
    zp = torch.tensor(float(plane_z), dtype=out.o.dtype, device=out.o.device)
    if float(zp) < float(out.o[out.valid][:, 2].max()):
        raise ValueError(f"plane_z = {float(zp):.6e} m lies inside the lens; put it behind the last surface")

    def to_plane(o, d, opl):
        t = (zp - o[:, 2]) / d[:, 2]
        return o + t[:, None] * d, opl + n * t

    v = out.valid
    p, opl = to_plane(out.o[v], out.d[v], out.opl[v])
    pc, oplc = to_plane(chief.o, chief.d, chief.opl)
    d, dc = out.d[v], chief.d[0]
    # sampling checks
    spread = float((d[:, :2] - dc[:2]).detach().abs().max())
    if spread > 0 and dx > wavelength / (2 * n * spread):
        raise SamplingError(f"raywave_psf: dx = {dx:.3e} m does not resolve the beam's directions (spread "
                            f"{spread:.4f} about the chief ray); use dx <= {wavelength / (2 * n * spread):.3e} m")
    rel = (p[:, :2] - pc[0, :2]).detach()
    half = window * dx / 2
    if float(rel.abs().max()) > half:
        raise SamplingError(f"raywave_psf: the beam (half-width {float(rel.abs().max()):.3e} m) does not fit the "
                            f"window ({window} x {dx:.3e} m); use window >= {math.ceil(2 * float(rel.abs().max()) / dx) + 4}")
    pitch_rays = 2 * float(rel.abs().max()) / n_side
    if pitch_rays > dx:
        raise SamplingError(f"raywave_psf: rays ({pitch_rays:.3e} m apart on the plane) are sparser than the field "
                            f"samples ({dx:.3e} m); use n_side >= {math.ceil(n_side * pitch_rays / dx)}")
    k = 2 * math.pi / wavelength
    g = Grid(window, dx)
    power = torch.full_like(opl, 1.0 / p.shape[0])
    # optical path relative to the chief ray, minus the removed carrier n d_c . (p - p_c)
    w = (opl - oplc[0]) - n * ((p[:, :2] - pc[0, :2]) * dc[:2]).sum(-1)
    E = splat_field(p[:, 0] - pc[0, 0], p[:, 1] - pc[0, 1], w, d[:, :2] - dc[:2], power, g, k, n)
    if doe_phase is not None:
        X = g.x(E.device, rel.dtype) + pc[0, 0]
        Y = g.y(E.device, rel.dtype) + pc[0, 1]
        E = E * torch.exp(1j * doe_phase(X, Y))
    L = lens.sensor_z - zp if isinstance(lens.sensor_z, torch.Tensor) else float(lens.sensor_z) - float(zp)
    carrier = (n * float(dc[0]) / wavelength, n * float(dc[1]) / wavelength)
    E2 = tilted_asm(E, g, wavelength, n, L, carrier, padding)
    I = (E2.real ** 2 + E2.imag ** 2) * dx * dx  # power per sample
    # sensor window: crop or pad the propagated window to the sensor grid (in samples), then bin
    need_h, need_w = sensor.shape[0] * factor, sensor.shape[1] * factor
    I = _center_fit(I, need_h, need_w, factor, sensor)
    psf = I.reshape(sensor.shape[0], factor, sensor.shape[1], factor).sum((1, 3))
    return (psf, E) if return_field else psf


def _center_fit(I, h, w, factor, sensor):
    """Crop/zero-pad (H, W) to (h, w) so that the sample under sensor pixel (H//2, W//2)'s centre stays
    aligned: the centre sample of the window goes to the centre of the central pixel's block."""
    H, W_ = I.shape
    cy, cx = H // 2, W_ // 2
    ty = (sensor.shape[0] // 2) * factor + factor // 2
    tx = (sensor.shape[1] // 2) * factor + factor // 2
    out = torch.zeros(h, w, dtype=I.dtype, device=I.device)
    ys, xs = max(0, cy - ty), max(0, cx - tx)
    yd, xd = max(0, ty - cy), max(0, tx - cx)
    hh = min(H - ys, h - yd)
    ww = min(W_ - xs, w - xd)
    out[yd:yd + hh, xd:xd + ww] = I[ys:ys + hh, xs:xs + ww]
    return out
