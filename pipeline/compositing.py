"""Putting the network's crop back into the full-resolution target frame.

The network paints the whole shot crop (head, hair, neck, background), but only
the head has changed, so only the head region is replaced: the union of the
rendered face of the new performance and of the target's original face in that
frame, grown by `grow` face sizes to take in hair, ears and neck, feathered by
a Gaussian, and faded to zero towards the crop border. Outside that soft mask
the target frame is untouched, bit for bit; there is no seam at the crop
border because the mask is zero there.

Colour matching: the network's colours can drift slightly from the shot's. In
a ring just outside the face (where output and target both show the same
hair, skin or background) the per-channel mean difference is measured and
removed from the output, smoothed over time (exponential, `colour_smoothing`)
so the correction itself cannot flicker.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rendering.crop import CropBox


@dataclass
class CompositeSettings:
    grow: float = 0.3  # face sizes the face mask is grown by (hair, ears, neck)
    feather: float = 0.12  # Gaussian sigma of the mask edge, in face sizes
    border: float = 0.06  # part of the crop side over which the mask fades out at the crop border
    colour_smoothing: float = 0.2  # weight of the newest frame in the running colour correction


class Compositor:
    """Blends network crops into frames of one shot, carrying the colour correction from frame to frame."""

    def __init__(self, crop: CropBox, size: int, settings: CompositeSettings | None = None):
        self.crop, self.size = crop, size
        self.settings = settings or CompositeSettings()
        ramp = np.clip(np.minimum(np.arange(size) + 0.5, size - np.arange(size) - 0.5) / (self.settings.border * size),
                       0, 1)
        ramp = 0.5 - 0.5 * np.cos(np.pi * ramp)  # smooth start and end
        self._border = np.minimum(ramp[:, None], ramp[None, :]).astype(np.float32)
        self._offset: np.ndarray | None = None

    def soft_mask(self, face_masks: list[np.ndarray]) -> np.ndarray:
        """(S, S) float mask in [0, 1] from uint8 face masks (S, S) of the new and the original face."""
        union = np.maximum.reduce([m > 127 for m in face_masks]).astype(np.uint8)
        ys, xs = np.nonzero(union)
        if len(ys) == 0:
            return np.zeros((self.size, self.size), np.float32)
        face = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
        radius = max(1, int(round(self.settings.grow * face)))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        grown = cv2.dilate(union, kernel).astype(np.float32)
        sigma = max(0.5, self.settings.feather * face)
        soft = cv2.GaussianBlur(grown, (0, 0), sigma)
        return soft * self._border

    def composite(self, frame: np.ndarray, output: np.ndarray, mask: np.ndarray,
                  real: np.ndarray | None = None) -> np.ndarray:
        """The target frame (H, W, 3) with the network output (S, S, 3) blended in through `mask` (S, S). `real`:
        the frame's crop at S x S when the caller has it already."""
        real = (self.crop.cut(frame, self.size) if real is None else real).astype(np.float32)
        out = output.astype(np.float32)
        ring = (mask > 0.05) & (mask < 0.5)
        if ring.sum() > 20:
            offset = (real[ring] - out[ring]).mean(0)
            a = self.settings.colour_smoothing
            self._offset = offset if self._offset is None else (1 - a) * self._offset + a * offset
        if self._offset is not None:
            out = out + self._offset
        return blend_into(frame, self.crop, out, mask)


def blend_into(frame: np.ndarray, box: CropBox, image: np.ndarray, mask: np.ndarray,
               in_place: bool = False) -> np.ndarray:
    """`frame` (H, W, 3) uint8 with `image` (S, S, 3), the box resampled to S x S, blended back through `mask`
    (S, S) in [0, 1]; a copy unless `in_place`. Only pixels where the mask is above zero change."""
    x0, y0, side = box.x0, box.y0, box.side
    h, w = frame.shape[:2]
    size = image.shape[0]
    # Back to source pixels, over the part of the box that lies inside the frame.
    fx0, fy0, fx1, fy1 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    if fx1 <= fx0 or fy1 <= fy0:
        return frame if in_place else frame.copy()
    big_mask = cv2.resize(mask.astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
    region = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
    m = np.clip(big_mask[region], 0, 1)
    rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
    if not len(rows):
        return frame if in_place else frame.copy()
    interp = cv2.INTER_CUBIC if side > size else cv2.INTER_AREA
    pixels = image if image.dtype == np.uint8 else np.clip(image + 0.5, 0, 255).astype(np.uint8)
    big_out = cv2.resize(pixels, (side, side), interpolation=interp)
    # Only the mask's bounding box is blended, in 8 bits (OpenCV's weighted sum, rounded); where the mask is zero
    # that gives the frame's own value exactly.
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    result = frame if in_place else frame.copy()
    patch = result[fy0 + r0:fy0 + r1, fx0 + c0:fx0 + c1]
    weight = np.ascontiguousarray(m[r0:r1, c0:c1])
    painted = np.ascontiguousarray(big_out[region][r0:r1, c0:c1])
    patch[...] = cv2.blendLinear(painted, np.ascontiguousarray(patch), weight, 1 - weight)
    return result
