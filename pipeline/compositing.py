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
removed from the output, smoothed over the last few composited frames (weights
falling as `1 - colour_smoothing` per frame) so the correction itself cannot
flicker.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from rendering.crop import CropBox

COLOUR_MEMORY = 8  # composited frames the colour correction averages over


@dataclass
class CompositeSettings:
    grow: float = 0.3  # face sizes the face mask is grown by (hair, ears, neck)
    feather: float = 0.12  # Gaussian sigma of the mask edge, in face sizes
    border: float = 0.06  # part of the crop side over which the mask fades out at the crop border
    colour_smoothing: float = 0.2  # weight of the newest frame in the running colour correction


class Compositor:
    """Blends network crops into frames of one shot, carrying the colour correction from frame to frame: the
    offset between the painted and the real face at the mask's edge, averaged over the last `COLOUR_MEMORY`
    composited frames with weights falling by `1 - colour_smoothing` a frame. A finite memory, so that a segment
    of the output made apart (`pipeline.segments`) can rebuild it from the frames just before it."""

    def __init__(self, crop: CropBox, size: int, settings: CompositeSettings | None = None):
        self.crop, self.size = crop, size
        self.settings = settings or CompositeSettings()
        ramp = np.clip(np.minimum(np.arange(size) + 0.5, size - np.arange(size) - 0.5) / (self.settings.border * size),
                       0, 1)
        ramp = 0.5 - 0.5 * np.cos(np.pi * ramp)  # smooth start and end
        self._border = np.minimum(ramp[:, None], ramp[None, :]).astype(np.float32)
        self._offsets: deque[np.ndarray] = deque(maxlen=COLOUR_MEMORY)  # newest first

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
            self._offsets.appendleft((real[ring] - out[ring]).mean(0))
        if self._offsets:
            weights = (1 - self.settings.colour_smoothing) ** np.arange(len(self._offsets))
            out = out + np.tensordot(weights / weights.sum(), np.array(self._offsets), axes=1).astype(np.float32)
        return self.crop.paste(frame, out, mask)
