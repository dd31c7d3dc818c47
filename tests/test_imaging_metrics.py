"""FFT convolution vs direct convolution, pixel integration, sensor, and metrics vs scikit-image."""
import math
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import optlib as ol
from optlib import metrics


def test_fftconv_matches_direct_convolution():
    torch.manual_seed(0)
    img = torch.rand(2, 3, 40, 37, dtype=torch.float64)
    psf = torch.rand(3, 7, 5, dtype=torch.float64)
    out = ol.fftconv2d(img, psf)
    # direct: conv2d is correlation, so flip the kernel; 'same' alignment with centre (h//2, w//2)
    ref = F.conv2d(F.pad(img, (2, 2, 3, 3)), psf.flip(-1, -2)[:, None], groups=3)
    assert torch.allclose(out, ref, atol=1e-12)
    delta = torch.zeros(9, 9, dtype=torch.float64)
    delta[4, 4] = 1
    assert torch.allclose(ol.fftconv2d(img, delta), img, atol=1e-12)


def test_pixel_integrate_conserves_power_and_rejects_bad_sizes():
    x = torch.rand(2, 12, 12, dtype=torch.float64)
    y = ol.pixel_integrate(x, 3, sample_area=2.0)
    assert y.shape == (2, 4, 4)
    assert torch.allclose(y.sum(), x.sum() * 2.0)
    with pytest.raises(ValueError, match="divisible"):
        ol.pixel_integrate(torch.rand(10, 10), 3)


def test_sensor_noise_statistics_and_bit_depth():
    s = ol.Sensor(full_well=1000.0, read_noise=0.0, bit_depth=12, noise="poisson", quantize=False)
    g = torch.Generator().manual_seed(0)
    e = torch.full((200000,), 400.0, dtype=torch.float64)
    dn = s(e, generator=g) * 1000.0
    assert float(dn.mean()) == pytest.approx(400.0, rel=5e-3)
    assert float(dn.var()) == pytest.approx(400.0, rel=3e-2)  # shot noise: variance = mean
    q = ol.Sensor(full_well=1000.0, bit_depth=4, noise=None)(torch.linspace(0, 1200, 50, dtype=torch.float64))
    assert len(torch.unique(q)) <= 16 and float(q.max()) == 1.0  # clipped at full well
    with pytest.raises(ValueError):
        ol.Sensor(noise="laplace")


def test_psnr_ssim_match_scikit_image():
    rng = np.random.default_rng(0)
    for _ in range(3):
        a = rng.random((48, 64))
        b = np.clip(a + 0.1 * rng.standard_normal(a.shape), 0, 1)
        ref_p = peak_signal_noise_ratio(a, b, data_range=1.0)
        ref_s = structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        assert float(metrics.psnr(tb, ta)) == pytest.approx(ref_p, abs=1e-9)
        assert float(metrics.ssim(tb, ta)) == pytest.approx(ref_s, abs=1e-6)
    assert float(metrics.ssim(ta, ta)) == pytest.approx(1.0)


def test_ncc_rmse_mae_depth_metrics():
    a = torch.rand(10, 10, dtype=torch.float64)
    assert float(metrics.ncc(a, 3 * a + 2)) == pytest.approx(1.0)
    assert float(metrics.ncc(a, -a)) == pytest.approx(-1.0)
    assert float(metrics.rmse(a, a + 0.1)) == pytest.approx(0.1)
    assert float(metrics.mae(a, a - 0.2)) == pytest.approx(0.2)
    gt = torch.tensor([1.0, 2.0, 4.0, 0.0], dtype=torch.float64)
    pred = torch.tensor([1.1, 2.0, 2.0, 5.0], dtype=torch.float64)
    m = metrics.depth_metrics(pred, gt)
    assert m["abs_rel"] == pytest.approx((0.1 / 1 + 0 + 2 / 4) / 3)
    assert m["sq_rel"] == pytest.approx((0.01 / 1 + 0 + 4 / 4) / 3)
    assert m["rmse"] == pytest.approx(np.sqrt((0.01 + 0 + 4) / 3))
    assert m["delta1"] == pytest.approx(2 / 3)
    assert m["delta3"] == pytest.approx(2 / 3)  # ratio 2 > 1.25^3 = 1.95
    with pytest.raises(ValueError):
        metrics.depth_metrics(pred, torch.zeros(4))


def test_encircled_radius_of_a_uniform_disc_and_of_the_airy_pattern():
    import math
    import optlib as ol
    from optlib import analytic
    g = ol.Grid(401, 0.05e-6).at((3e-6, -2e-6))  # a positioned window: the radius is about its centre
    r = g.r(local=True)
    disc = (r <= 5e-6).double()
    assert ol.metrics.encircled_radius(disc, g, 0.64) == pytest.approx(4e-6, abs=0.06e-6)  # 0.64 = (4/5)^2
    # the Airy pattern holds 83.8 % inside its first zero
    wl, f, D = 0.5e-6, 2e-3, 1e-3  # first zero 1.22 um: the 20 um window holds 97 % of the power
    airy = torch.as_tensor(analytic.airy_intensity(r.numpy(), wl, f, D))
    r0 = analytic.airy_first_zero(wl, f, D)
    assert ol.metrics.encircled_radius(airy, g, 0.8) < r0 < ol.metrics.encircled_radius(airy, g, 0.86)
    assert math.isfinite(ol.metrics.encircled_radius(airy, g, 1.0))


def test_ssim_reflect_padding_is_the_torchmetrics_convention():
    """``padding="reflect"`` (torchmetrics 1.x: mirror-padded image, every window averaged, variances clamped at
    0) against an independent SciPy computation: Gaussian filters in 'mirror' mode over the whole image. The
    two conventions differ (the border windows count), which is why a chapter says which it uses."""
    from scipy.ndimage import gaussian_filter
    rng = np.random.default_rng(1)
    a = rng.random((40, 52))
    b = np.clip(a + 0.15 * rng.standard_normal(a.shape), 0, 1)
    f = lambda z: gaussian_filter(z, 1.5, mode="mirror", truncate=5 / 1.5)  # noqa: E731  (11 taps)
    mx, my = f(a), f(b)
    sxx, syy, sxy = np.maximum(f(a * a) - mx ** 2, 0), np.maximum(f(b * b) - my ** 2, 0), f(a * b) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    ref = (((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))).mean()
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    assert float(metrics.ssim(tb, ta, padding="reflect")) == pytest.approx(ref, abs=1e-9)
    assert abs(float(metrics.ssim(tb, ta, padding="reflect")) - float(metrics.ssim(tb, ta))) > 1e-3
    with pytest.raises(ValueError, match="padding"):
        metrics.ssim(tb, ta, padding="same")


def test_high_frequency_fraction_sorts_power_by_frequency():
    import optlib as ol
    x = torch.arange(64, dtype=torch.float64)
    low = torch.cos(2 * torch.pi * 8 / 64 * x)[None, :].expand(64, 64)     # 0.125 cycle per sample
    high = torch.cos(2 * torch.pi * 24 / 64 * x)[:, None].expand(64, 64)   # 0.375
    f = ol.metrics.high_frequency_fraction
    assert float(f(low)) < 1e-20 and float(f(high)) == pytest.approx(1.0, abs=1e-12)
    assert float(f(low + high)) == pytest.approx(0.5, abs=1e-12)  # equal amplitudes, equal power
    assert float(f(low + 5.0)) < 1e-20                                # the mean is not counted
    with pytest.raises(ValueError, match="cutoff"):
        f(low, cutoff=0.5)


def test_rms_radius_of_a_gaussian_and_of_a_shifted_one():
    """A Gaussian exp(-r^2 / (2 s^2)) has RMS radius sqrt(2) s, wherever it sits in the window and wherever the
    window is; a dark window is refused."""
    g = ol.Grid(256, 1e-6).at((3e-3, -2e-3))
    s = 8e-6
    for cy, cx in ((0.0, 0.0), (20e-6, -35e-6)):
        y, x = g.y(local=True) - cy, g.x(local=True) - cx
        I = torch.exp(-(x ** 2 + y ** 2) / (2 * s * s))
        assert float(metrics.rms_radius(I, g)) == pytest.approx(math.sqrt(2) * s, rel=1e-6)
        assert float(metrics.rms_radius(I.float(), g)) == pytest.approx(math.sqrt(2) * s, rel=1e-5)
    with pytest.raises(ValueError, match="no light"):
        metrics.rms_radius(torch.zeros(8, 8), ol.Grid(8, 1e-6))
