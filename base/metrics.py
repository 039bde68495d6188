"""Image and video quality measures for synthesised frames against real ones.

PSNR, SSIM and flicker take uint8 or float tensors of 8-bit values (0 to 255), shaped (N, 3, H, W),
and return one number per frame (or per frame pair) so callers can average
over whatever set of frames they report.

- PSNR in dB, over all pixels and channels.
- SSIM (Wang et al. 2004): Gaussian window of 11 pixels, sigma 1.5, the usual
  constants for a data range of 255 (separable, in float64: in float32 the
  variances, differences of large sums, came out 1e-4 off), per colour channel, averaged over the
  channels and the image ("valid" window positions only, so no padding enters).
- Flicker: how much the frame-to-frame change of the synthesised video differs
  from that of the real one, as the mean absolute difference of the two
  temporal differences (8-bit units). A perfect reproduction scores 0; a
  result that is right on average but shimmers from frame to frame scores
  high even where its PSNR is good.
- Sharpness ratio: the output's high-frequency energy over the real frame's,
  in a region (the head): the mean square of the luma's 3 x 3 Laplacian. 1 is
  as sharp as the real frame; a soft output scores below, a noisy one above.
- Checkerboard score: the energy of the period-2 pattern (the response of the
  luma to the 2 x 2 kernel [[1, -1], [-1, 1]] / 4, which is zero on ramps and
  on horizontal and vertical edges) in the output minus the real frame's, in
  8-bit levels squared: the artefact of stride-2 transposed convolutions shows
  as a positive score, a faithful output scores about 0.
- NME (normalised mean error) of landmarks: the mean distance between
  corresponding points, divided by the distance between two reference points
  of the reference set (the outer eye corners), so faces of any size score
  alike.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

SSIM_WINDOW, SSIM_SIGMA = 11, 1.5
C1, C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


def psnr(output: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """(N,) PSNR in dB of 8-bit images."""
    mse = ((output.double() - real.double()) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-10))


def _gaussian(channels: int) -> torch.Tensor:
    x = torch.arange(SSIM_WINDOW, dtype=torch.float64) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-x ** 2 / (2 * SSIM_SIGMA ** 2))
    return (g / g.sum()).expand(channels, 1, 1, SSIM_WINDOW).contiguous()


def ssim(output: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """(N,) mean SSIM of 8-bit images at least 11 x 11 pixels."""
    if min(output.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW} x {SSIM_WINDOW} pixels, "
                         f"not {tuple(output.shape[-2:])}")
    x, y = output.double(), real.double()
    g = _gaussian(x.shape[1])

    def blur(z: torch.Tensor) -> torch.Tensor:  # the 2-D Gaussian is separable: rows, then columns
        return F.conv2d(F.conv2d(z, g, groups=x.shape[1]), g.transpose(2, 3), groups=x.shape[1])

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    s = ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx ** 2 + my ** 2 + C1) * (vx + vy + C2))
    return s.flatten(1).mean(1)


LUMA = (0.299, 0.587, 0.114)  # BT.601 weights: the measures look at brightness, where the eye sees detail
_LAPLACIAN = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))
_CHECKER = ((0.25, -0.25), (-0.25, 0.25))


def _filtered_energy(images: torch.Tensor, kernel: tuple, mask: torch.Tensor | None) -> torch.Tensor:
    """(N,) mean square of the luma of 8-bit images (N, 3, H, W) filtered by `kernel` ("valid" positions), over
    the positions where `mask` (N, 1, H, W) is above zero at the kernel's top-left pixel (all, without a mask)."""
    weights = torch.tensor(LUMA, dtype=torch.float64).view(1, 3, 1, 1)
    luma = (images.double() * weights).sum(1, keepdim=True)
    k = torch.tensor(kernel, dtype=torch.float64)[None, None]
    response = F.conv2d(luma, k) ** 2
    if mask is None:
        return response.flatten(1).mean(1)
    inside = (mask[..., :response.shape[-2], :response.shape[-1]] > 0).double()
    return (response * inside).flatten(1).sum(1) / inside.flatten(1).sum(1).clamp_min(1)


def sharpness_ratio(output: torch.Tensor, real: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(N,) high-frequency energy of `output` over that of `real`, inside `mask` (NaN where the real has none)."""
    mine, theirs = _filtered_energy(output, _LAPLACIAN, mask), _filtered_energy(real, _LAPLACIAN, mask)
    return torch.where(theirs > 0, mine / theirs.clamp_min(1e-12), torch.full_like(mine, float("nan")))


def checkerboard_score(output: torch.Tensor, real: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(N,) period-2 pattern energy of `output` minus that of `real`, inside `mask`, in 8-bit levels squared."""
    return _filtered_energy(output, _CHECKER, mask) - _filtered_energy(real, _CHECKER, mask)


def flicker(output: torch.Tensor, real: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(N - 1,) mean |(out_t - out_t-1) - (real_t - real_t-1)| over consecutive frames, in 8-bit units; with `mask`
    (N, 1, H, W), only where the later frame's mask is above zero (NaN where it is empty)."""
    d_out = output[1:].double() - output[:-1].double()
    d_real = real[1:].double() - real[:-1].double()
    change = (d_out - d_real).abs()
    if mask is None:
        return change.flatten(1).mean(1)
    inside = (mask[1:] > 0).double().expand_as(change)
    count = inside.flatten(1).sum(1)
    return torch.where(count > 0, (change * inside).flatten(1).sum(1) / count.clamp_min(1),
                       torch.full_like(count, float("nan")))


def nme(points: np.ndarray, reference: np.ndarray, corners: tuple[int, int]) -> np.ndarray:
    """(N,) mean distance between `points` and `reference` (N, L, 2 or more; the first two coordinates are used),
    over the distance between the reference's points `corners`."""
    error = np.linalg.norm(points[..., :2] - reference[..., :2], axis=-1).mean(axis=-1)
    scale = np.linalg.norm(reference[..., corners[0], :2] - reference[..., corners[1], :2], axis=-1)
    return error / scale
