"""One fixed square crop per shot, holding the head through its whole range of motion.

The network sees the same window on the frame throughout a shot (as in Deep
Video Portraits), so the crop is the union of the fitted face's image boxes
over every valid frame, widened for hair (half a face above) and for neck and
ears (a quarter face on the other sides), then made square. Boxes are whole
pixels of the source frame and may reach past its edges, which are padded with
black. The box is stored with every output so results can be composited back.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from reconstruction.camera import PinholeCamera
from reconstruction.fitting import ActorModel, track_params
from reconstruction.topology import NUM_MESH_VERTICES

TOP_MARGIN = 0.5  # face sizes above the face (hair)
SIDE_MARGIN = 0.25  # face sizes left, right and below
BATCH = 256


@dataclass(frozen=True)
class CropBox:
    x0: int  # left edge in source pixels (may be negative)
    y0: int  # top edge
    side: int  # width and height in source pixels

    def camera(self, camera: PinholeCamera, size: int) -> PinholeCamera:
        """The camera that sees the crop, resampled to size x size pixels."""
        s = size / self.side
        return PinholeCamera(focal=camera.focal * s, cx=(camera.cx - self.x0) * s, cy=(camera.cy - self.y0) * s,
                             width=size, height=size)

    def cut(self, frame: np.ndarray, size: int) -> np.ndarray:
        """The crop of an RGB frame at size x size, black where it reaches past the frame."""
        h, w = frame.shape[:2]
        x0, y0, x1, y1 = self.x0, self.y0, self.x0 + self.side, self.y0 + self.side
        if 0 <= x0 and 0 <= y0 and x1 <= w and y1 <= h:
            patch = frame[y0:y1, x0:x1]
        else:  # only the box is padded, not the whole frame
            patch = np.zeros((self.side, self.side) + frame.shape[2:], frame.dtype)
            fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            if fx1 > fx0 and fy1 > fy0:
                patch[fy0 - y0:fy1 - y0, fx0 - x0:fx1 - x0] = frame[fy0:fy1, fx0:fx1]
        interp = cv2.INTER_AREA if self.side > size else cv2.INTER_LINEAR
        return cv2.resize(patch, (size, size), interpolation=interp)

    def paste(self, frame: np.ndarray, image: np.ndarray, mask: np.ndarray, in_place: bool = False) -> np.ndarray:
        """The inverse of `cut`: `frame` (H, W, 3) uint8 with `image` (S, S, 3), the box resampled to S x S, blended
        back through `mask` (S, S) in [0, 1]; a copy unless `in_place`. Only pixels where the mask is above zero
        change."""
        x0, y0, side = self.x0, self.y0, self.side
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

    def scaled(self, scale: float) -> "CropBox":
        """The same box in footage `scale` times the size (the full-size original of a proxy)."""
        if scale == 1:
            return self
        return CropBox(round(self.x0 * scale), round(self.y0 * scale), round(self.side * scale))

    def to_dict(self) -> dict:
        return asdict(self)


def shot_crop(track, actor: ActorModel) -> CropBox:
    """The crop box of a tracked shot (see the module notes)."""
    valid = np.flatnonzero(track.valid)
    lo, hi, sizes = np.full(2, np.inf), np.full(2, -np.inf), []
    for i in range(0, len(valid), BATCH):
        frames = valid[i:i + BATCH]
        px = actor.camera.project(actor.camera_points(track_params(track, frames))[:, :NUM_MESH_VERTICES])
        a, b = px.min(axis=1), px.max(axis=1)
        lo, hi = np.minimum(lo, a.min(axis=0)), np.maximum(hi, b.max(axis=0))
        sizes.append((b - a).max(axis=1))
    face = float(np.median(np.concatenate(sizes)))
    x0, x1 = lo[0] - SIDE_MARGIN * face, hi[0] + SIDE_MARGIN * face
    y0, y1 = lo[1] - TOP_MARGIN * face, hi[1] + SIDE_MARGIN * face
    side = int(np.ceil(max(x1 - x0, y1 - y0)))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return CropBox(x0=int(round(cx - side / 2)), y0=int(round(cy - side / 2)), side=side)
