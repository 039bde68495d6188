"""The quality measures against values worked out by hand."""
import math

import numpy as np
import pytest
import torch

from base.metrics import C1, C2, SSIM_SIGMA, SSIM_WINDOW, checkerboard_score, flicker, nme, psnr, sharpness_ratio, ssim


def test_psnr_of_one_wrong_value_in_twelve():
    real = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    out = real.clone()
    out[0, 1, 0, 1] = 255  # MSE = 255^2 / 12, so PSNR = 10 log10(12)
    assert psnr(out, real).item() == pytest.approx(10 * math.log10(12), abs=1e-9)
    half = real.clone() + 10  # every value 10 off: MSE 100
    assert psnr(half, real).item() == pytest.approx(10 * math.log10(255**2 / 100), abs=1e-9)


def test_psnr_is_per_frame():
    real = torch.zeros(2, 3, 4, 4)
    out = torch.stack([torch.zeros(3, 4, 4), torch.full((3, 4, 4), 5.0)])
    scores = psnr(out, real)
    assert scores.shape == (2,) and scores[0] > 100 and scores[1].item() == pytest.approx(10 * math.log10(255**2 / 25))


def test_ssim_of_flat_images_is_the_luminance_term():
    # No variance and no covariance: SSIM = (2ab + C1) / (a^2 + b^2 + C1), the contrast term being C2 / C2.
    a, b = 100.0, 120.0
    x, y = torch.full((1, 3, 11, 11), a), torch.full((1, 3, 11, 11), b)
    assert ssim(x, y).item() == pytest.approx((2 * a * b + C1) / (a * a + b * b + C1), rel=1e-9)
    assert ssim(x, x).item() == pytest.approx(1.0, abs=1e-6)


def test_ssim_of_one_window_against_a_direct_sum():
    # At 11 x 11 there is one window position: SSIM is the formula over Gaussian-weighted sums, computed here
    # directly with the 2-D weights (not the separable blur the library uses).
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (SSIM_WINDOW, SSIM_WINDOW)).astype(np.float64)
    y = np.clip(0.7 * x + rng.normal(0, 20, x.shape) + 30, 0, 255)
    g = np.exp(-(np.arange(SSIM_WINDOW) - SSIM_WINDOW // 2) ** 2 / (2 * SSIM_SIGMA**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy = (w * x * x).sum() - mx**2, (w * y * y).sum() - my**2
    cxy = (w * x * y).sum() - mx * my
    expected = (2 * mx * my + C1) * (2 * cxy + C2) / ((mx**2 + my**2 + C1) * (vx + vy + C2))
    to_tensor = lambda a: torch.from_numpy(np.repeat(a[None, None], 3, axis=1))  # noqa: E731
    assert ssim(to_tensor(x), to_tensor(y)).item() == pytest.approx(expected, rel=1e-5)
    assert expected < 0.95, "a real difference, not a trivial pass"


def test_ssim_refuses_images_smaller_than_its_window():
    with pytest.raises(ValueError, match="at least 11"):
        ssim(torch.zeros(1, 3, 10, 40), torch.zeros(1, 3, 10, 40))


def test_flicker_counts_change_the_real_video_does_not_have():
    real = torch.zeros(3, 3, 2, 2)
    out = torch.stack([torch.zeros(3, 2, 2), torch.full((3, 2, 2), 10.0), torch.full((3, 2, 2), 10.0)])
    assert flicker(out, real).tolist() == [10.0, 0.0]  # a jump of 10 the real video lacks, then none
    moving = torch.stack([torch.full((3, 2, 2), v) for v in (0.0, 4.0, 8.0)])
    assert flicker(moving, moving).tolist() == [0.0, 0.0], "the same motion is no flicker"


def test_nme_divides_by_the_reference_eye_distance():
    reference = np.array([[[0.0, 0.0], [10.0, 0.0], [5.0, 5.0]]])  # corners 0 and 1 are 10 apart
    points = reference + [3.0, 4.0]  # every point 5 off
    assert nme(points, reference, (0, 1)).tolist() == [0.5]
    points = reference.copy()
    points[0, 2] += [0.0, 6.0]  # one point of three 6 off: mean error 2
    assert nme(points, reference, (0, 1))[0] == pytest.approx(0.2)


def test_ssim_agrees_with_scikit_image():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (40, 48, 3)).astype(np.float64)
    y = np.clip(cv2_blur(x) + rng.normal(0, 12, x.shape), 0, 255)
    theirs = structural_similarity(x, y, data_range=255, channel_axis=2, gaussian_weights=True, sigma=SSIM_SIGMA,
                                   use_sample_covariance=False)
    ours = ssim(torch.from_numpy(x.transpose(2, 0, 1))[None], torch.from_numpy(y.transpose(2, 0, 1))[None])
    assert ours.item() == pytest.approx(theirs, abs=1e-6)


def cv2_blur(image: np.ndarray) -> np.ndarray:
    """A smoothed copy, so the pair has structure in common and SSIM lands mid-range."""
    import cv2

    return cv2.GaussianBlur(image, (0, 0), 1.2)


def _checker(amplitude: float, size: int = 16) -> torch.Tensor:
    """A grey picture (1, 3, size, size) alternating 128 +- amplitude from pixel to pixel, in both directions."""
    i, j = np.indices((size, size))
    picture = 128 + amplitude * (-1.0) ** (i + j)
    return torch.from_numpy(np.repeat(picture[None, None], 3, axis=1))


def test_sharpness_is_the_ratio_of_laplacian_energies():
    # On the alternating picture every Laplacian is -8 times the centre's offset: energy 64 a^2.
    real, soft = _checker(20.0), _checker(10.0)
    assert sharpness_ratio(soft, real).item() == pytest.approx((64 * 10**2) / (64 * 20**2))  # 0.25
    assert sharpness_ratio(real, real).item() == pytest.approx(1.0)
    flat = torch.full((1, 3, 16, 16), 128.0)
    assert sharpness_ratio(flat, real).item() == 0.0
    assert math.isnan(sharpness_ratio(real, flat).item()), "no detail in the real frame: no ratio"


def test_checkerboard_score_sees_the_period_two_pattern_and_not_edges():
    real = torch.zeros(1, 3, 16, 16)
    real[..., :, 8:] = 200.0  # a vertical edge
    real[..., 8:, :] += 30.0  # and a horizontal one: (x00 - x01 - x10 + x11) / 4 is 0 wherever they add up
    assert checkerboard_score(real, torch.zeros_like(real)).item() == pytest.approx(0.0, abs=1e-20)
    artefact = real + _checker(6.0) - 128  # the same picture with a +-6 checkerboard laid over it: a^2 = 36 more
    assert checkerboard_score(artefact, real).item() == pytest.approx(36.0, rel=1e-9)
    ramp = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 3, 16, 16) * 10
    assert checkerboard_score(ramp, torch.zeros_like(ramp)).item() == pytest.approx(0.0, abs=1e-9)


def test_the_measures_keep_to_the_mask():
    real = _checker(20.0)
    out = real.clone()
    out[..., :, 8:] = 128.0  # the right half painted flat
    left = torch.zeros(1, 1, 16, 16)
    left[..., :, :6] = 1
    assert sharpness_ratio(out, real, left).item() == pytest.approx(1.0), "the left half is untouched"
    assert sharpness_ratio(out, real).item() < 0.6


def test_flicker_in_a_mask_counts_only_its_pixels():
    real = torch.zeros(2, 3, 4, 4)
    out = real.clone()
    out[1, :, :, :2] = 8.0  # the left half jumps by 8 in the second frame
    left = torch.zeros(2, 1, 4, 4)
    left[..., :2] = 1
    assert flicker(out, real, left).tolist() == [8.0]
    assert flicker(out, real, 1 - left).tolist() == [0.0]
    assert flicker(out, real).tolist() == [4.0], "over the whole picture, half of it"
    assert math.isnan(flicker(out, real, torch.zeros(2, 1, 4, 4)).item())
