"""The pupil model: traced rays on the exit-pupil reference sphere -> a pupil Field -> Fraunhofer focus onto
the sensor window (a matrix DFT) -> pixels.

Rays aimed on a square grid across the aperture stop (the pupil filled uniformly, every ray carrying the
same power) are traced in float64 and carried to the exit-pupil *reference sphere*: centred on the reference
image point P (the chief ray's hit on the sensor), through the paraxial exit-pupil centre, radius R. The
optical path to the sphere, minus the chief ray's, is the wavefront error W (m). For a sensor point x near P,
|x - Q| ~= R + u . (x - P) with u = (P - Q)/R (the Debye approximation), so the field is a Fourier sum over
the pupil. With the pupil on a uniform grid (u affine in the pupil coordinates, fitted to the traced points),
the pupil is a Field on a grid of xi = R (u_0 - u) (metres on the sphere's tangent plane) and its focus is
:func:`optlib.propagation.focal_plane` with focal length R in image-space index n, evaluated by its matrix
DFT (:func:`~optlib.propagation.mdft`) on exactly the sensor window's sub-samples (any pitch, no padding).

Normalisation: each ray carries 1/N_valid of the power, so sum(psf) over an infinite grid is 1 (Parseval);
values are the power on each pixel, integrated over ``oversample`` x ``oversample`` sub-samples. A window
too small for the PSF therefore sums to less than 1, which tells the user to widen it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from ..field import Field
from ..grid import Grid
from ..imaging.sensor import pixelate
from ..propagation import check_replicas, mdft
from ..sampling import SamplingError


@dataclass
class PupilRays:
    """A coherent bundle on the exit-pupil reference sphere.

    ``q`` (N, 3) points on the sphere (m), ``d`` (N, 3) ray directions, ``w`` (N,) wavefront error (m,
    optical path relative to the chief ray), ``valid`` (N,), ``pupil`` (N, 2) normalised stop coordinates
    of the (n_side x n_side) grid, ``center`` (3,) reference image point P, ``radius`` R (m), ``n`` image
    space index, ``wavelength`` (m, vacuum), ``n_side``.
    """

    q: torch.Tensor
    d: torch.Tensor
    w: torch.Tensor
    valid: torch.Tensor
    pupil: torch.Tensor
    center: torch.Tensor
    radius: torch.Tensor
    n: float
    wavelength: float
    n_side: int

    def wavefront_map(self):
        """(W, A) on the (n_side x n_side) pupil grid (row: pupil y, column: pupil x): the wavefront error W
        (m of optical path; 0 outside the pupil) and the mask A of valid rays (1.0 / 0.0)."""
        N = self.n_side
        ix = torch.round((self.pupil[:, 0] + 1) * N / 2 - 0.5).long()
        iy = torch.round((self.pupil[:, 1] + 1) * N / 2 - 0.5).long()
        z = torch.zeros(N, N, dtype=self.q.dtype, device=self.q.device)
        return z.index_put((iy, ix), self.w), z.index_put((iy, ix), self.valid.to(self.q.dtype))

    def window(self, grid: Grid) -> Grid:
        """``grid`` centred on the reference point P (the chief ray's sensor hit): a PSF window."""
        return grid.at((float(self.center[1].detach()), float(self.center[0].detach())))


def traced_bundle(lens, wavelength: float, angle=0.0, source=None, n_side: int = 64, doe=None, deflect=True,
                  convention: str = "aimed", radius=None):
    """An ``n_side`` x ``n_side`` pupil bundle by the pupil ``convention`` (``"aimed"``: real rays filling the
    stop; ``"paraxial"``: the paraxial entrance pupil, or a beam of ``radius`` m on it, no aiming; see
    :meth:`optlib.rays.SequentialLens.through_pupil`) and its chief ray, traced through ``lens`` to just
    behind its last surface and, with a ``doe`` (its ``z`` behind the lens), through it (``deflect``: the
    local grating turns the rays; otherwise its phase only joins the path). Returns (rays, chief, pupil
    coords, n)."""
    rays, pupil = lens.pupil_bundle(wavelength, n_side, angle, source, convention=convention, radius=radius)
    out = lens.trace(rays, to_sensor=False)
    chief = lens.trace(lens.chief_ray(wavelength, angle, source, convention=convention), to_sensor=False)
    if not bool(chief.valid[0]):
        raise ValueError(f"the chief ray at field {angle!r} does not pass the lens; the field is beyond the lens' coverage")
    n = lens.image_index(wavelength)
    if doe is not None:
        if doe.z is None:
            raise ValueError("the DOE needs its axial position z (m) in the lens system")
        if float(doe.z) < float(out.o[out.valid][:, 2].max()):
            raise ValueError(f"the DOE at z = {float(doe.z):.6e} m lies inside the lens; put it behind the last surface")
        out = out.to_plane(doe.z, n).through(doe, n, deflect)
        chief = chief.to_plane(doe.z, n).through(doe, n, deflect)
    return out, chief, pupil, n


def pupil_rays(lens, wavelength: float, angle=0.0, source=None, n_side: int = 64,
               center: Optional[torch.Tensor] = None, doe=None, convention: str = "aimed",
               radius=None) -> PupilRays:
    """Trace an ``n_side`` x ``n_side`` pupil grid at field ``angle`` (rad) or from a point ``source`` (x, y, z
    in m) and carry it to the exit-pupil reference sphere. The pupil ``convention`` decides which rays: the
    default ``"aimed"`` fills the real stop at every field; ``"paraxial"`` samples the paraxial entrance
    pupil (or a beam of ``radius`` m on it) without aiming (:meth:`optlib.rays.SequentialLens.through_pupil`;
    off axis the two give visibly different PSFs). ``center`` overrides the reference point (default: the
    chief ray's hit on the sensor plane). A ``doe`` behind the lens adds its phase to the paths where the
    rays cross it (a thin phase in the pupil, as a pupil model treats it; no deflection). Differentiable in
    the lens parameters."""
    out, chief, pupil, n = traced_bundle(lens, wavelength, angle, source, n_side, doe, deflect=False,
                                         convention=convention, radius=radius)
    zs = lens.sensor_z if isinstance(lens.sensor_z, torch.Tensor) else torch.tensor(
        float(lens.sensor_z), dtype=out.o.dtype, device=out.o.device)
    P = chief.to_plane(zs, n).o[0] if center is None else center
    par = lens.paraxial(wavelength)
    E = torch.tensor([0.0, 0.0, par["exit_pupil_z"]], dtype=out.o.dtype, device=out.o.device)
    R = torch.linalg.norm(P - E)

    def to_sphere(o, d, opl):
        # |o + t d - P| = R, first crossing (the ray runs towards P); t < 0 where the pupil is virtual
        v = o - P
        b = (d * v).sum(-1)
        c = (v * v).sum(-1) - R * R
        disc = torch.clamp(b * b - c, min=0)
        t = -b - torch.sqrt(disc)
        return o + t[..., None] * d, opl + n * t

    q, opl = to_sphere(out.o, out.d, out.opl)
    _, opl_c = to_sphere(chief.o, chief.d, chief.opl)
    w = torch.where(out.valid, opl - opl_c[0], torch.zeros_like(opl))
    return PupilRays(q, out.d, w, out.valid, pupil, P, R, n, wavelength, n_side)


def direction_grid(pr: PupilRays):
    """Fit u = (P - Q)/R on the valid rays as affine functions of the pupil coordinates (per axis) and
    return (u0x, sx, u0y, sy): u_x ~= u0x + sx p_x. Least squares, differentiable."""
    v = pr.valid
    u = (pr.center - pr.q[v]) / pr.radius
    p = pr.pupil[v]
    out = []
    for a in (0, 1):
        X = torch.stack([torch.ones_like(p[:, a]), p[:, a]], -1)
        sol = torch.linalg.lstsq(X, u[:, a:a + 1]).solution[:, 0]
        out += [sol[0], sol[1]]
    return out


def sub_samples(grid: Grid, pr: PupilRays, sx, sy, oversample: Optional[int]) -> int:
    """Sub-samples per pixel so that pixel values integrate the PSF: the intensity's band limit is
    2 n u_max / lambda, so samples finer than lambda / (4 n u_max) resolve it."""
    if oversample is not None:
        return int(oversample)
    umax = max(abs(float(sx.detach())), abs(float(sy.detach())))
    return max(1, math.ceil(max(grid.dx, grid.dy) * 4 * pr.n * umax / pr.wavelength))


def pupil_field(pr: PupilRays, check: bool = True) -> Field:
    """The exit-pupil field: amplitude 1 on the valid rays, phase k W, on the (n_side x n_side) grid of
    xi = R (u_0 - u) (m, pitch R |du| per axis, centred on the chief ray), normalised to unit power.
    ``check`` raises :class:`SamplingError` when the wavefront changes by more than half a wave between
    neighbouring pupil samples (its Fourier sum would alias: use more samples, ``n_side``)."""
    N = pr.n_side
    W, A = pr.wavefront_map()
    if check:
        gx = (W[:, 1:] - W[:, :-1])[(A[:, 1:] * A[:, :-1]) > 0].detach()
        gy = (W[1:] - W[:-1])[(A[1:] * A[:-1]) > 0].detach()
        step = max([float(g.abs().max()) for g in (gx, gy) if g.numel()] + [0.0])
        if step * pr.n > pr.wavelength / 2:
            raise SamplingError(f"pupil_psf: the wavefront changes by {step * pr.n / pr.wavelength:.2f} waves between "
                                f"neighbouring pupil samples (limit 0.5); raise n_side above "
                                f"{math.ceil(N * 2 * step * pr.n / pr.wavelength)}")
    _, sx, _, sy = direction_grid(pr)
    # xi = -R s t increases with the grid index where s < 0 (the usual case); flip the axis otherwise
    if float(sx.detach()) > 0:
        W, A = W.flip(1), A.flip(1)
    if float(sy.detach()) > 0:
        W, A = W.flip(0), A.flip(0)
    dxi = (float((pr.radius * sy.abs() * 2 / N).detach()), float((pr.radius * sx.abs() * 2 / N).detach()))
    # the pupil samples sit at t = (j - (N - 1) / 2) 2 / N, symmetric about the chief ray: for even N that is
    # half a sample from the grid's centre-sample convention
    half = 0.5 if N % 2 == 0 else 0.0
    grid = Grid(N, dxi, origin=(half * dxi[0], half * dxi[1]))
    a0 = torch.rsqrt(A.sum() * (pr.radius * sx.abs() * 2 / N) * (pr.radius * sy.abs() * 2 / N))
    u = torch.polar(A * a0, (2 * math.pi / pr.wavelength) * W)  # W is an optical path: vacuum wavenumber
    return Field(u, grid, pr.wavelength)


def pupil_psf(pr: PupilRays, grid: Grid, check: bool = True, oversample: Optional[int] = None) -> torch.Tensor:
    """Intensity PSF (H, W) on the sensor ``grid`` (positioned; e.g. ``grid.at(chief hit)``), power per pixel:
    :func:`pupil_field`, focused onto the window's sub-samples by the matrix DFT of
    :func:`~optlib.propagation.focal_plane` (focal length R, index n), then :func:`~optlib.imaging.pixelate`.
    The DFT's frequencies are built from the fitted direction cosines as tensors, so gradients reach the
    pupil's scale (the NA) as well as its wavefront.

    ``check`` raises :class:`SamplingError` when the pupil's wavefront is undersampled or the window is wider
    than the pupil sum's period lambda / (n du) (replicas of the PSF would fold in): either way, use more
    pupil samples, ``n_side``. Pixels integrate the PSF over ``oversample`` x ``oversample`` sub-samples
    (default: just enough to resolve the intensity).
    """
    P = pupil_field(pr, check)
    N = pr.n_side
    _, sx, _, sy = direction_grid(pr)
    q = sub_samples(grid, pr, sx, sy, oversample)
    fine = grid.subdivided(q)
    lam = pr.wavelength / pr.n
    if check:
        try:
            check_replicas(P.grid, fine.shifted(-float(pr.center[1].detach()), -float(pr.center[0].detach())),
                           lam * float(pr.radius.detach()), "pupil_psf")
        except SamplingError as e:
            raise SamplingError(f"{e}. With a pupil of {N} samples across, raise n_side (the alias-free period grows "
                                "with it)") from None
    # focal_plane's kernel exp(-2 pi i xi . (x - P) / (lambda_m R)) with xi = R |s| t: per axis the frequency is
    # (x - P) |s| (2 / N) / (lambda_m dxi), dxi the float pitch of the pupil grid (the tensors carry the gradient)
    rho_x = (2 / N) * sx.abs() / P.grid.dx
    rho_y = (2 / N) * sy.abs() / P.grid.dy
    fx = (fine.x(device=pr.center.device).reshape(-1) - pr.center[0]) * rho_x / lam
    fy = (fine.y(device=pr.center.device).reshape(-1) - pr.center[1]) * rho_y / lam
    # focal_plane's prefactor 1 / (lambda_m R) on the sum with the true cell (R rho)^2 dxi^2 (mdft used dxi^2)
    U = mdft(P.u, P.grid, fy, fx) * (rho_y * rho_x * pr.radius / lam)
    return pixelate(Field(U, fine, pr.wavelength), grid)
