"""The inside of a mouth that opens wider than in the photo: throat, teeth and tongue painted between the lips.

A still photo holds no mouth interior where its lips were closed, so a warp
that parts them would only stretch the lips. Where the moved lips part wider
than the photo's (the inner-lip contour of the moved mesh), the gap is painted:
a dark throat, the upper teeth hanging from the upper lip and the lower teeth
standing on the lower lip (so each row moves with its jaw), and the tongue
behind the lower teeth, shaded in the photo's own tones (grey in a grayscale
photo) and feathered into the lips.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from reconstruction.fitting import ActorModel, FrameParams

THROAT = np.array([70.0, 28.0, 32.0])
TEETH = np.array([232.0, 226.0, 210.0])
TONGUE = np.array([176.0, 88.0, 92.0])
UPPER_TEETH = 0.40  # of the gap the upper teeth show, at most `TEETH_FACE` of the face
LOWER_TEETH = 0.22
TEETH_FACE = 0.05
OPENING_FACE = 0.012  # face sizes of extra opening over which the painting fades in


@dataclass
class MouthInterior:
    """The mouth interior of one photo face."""

    actor: ActorModel
    upper: np.ndarray  # inner-lip vertices, corner to corner
    lower: np.ndarray
    photo_gap: float  # the photo's own opening, in pixels
    tone: float  # the photo's brightness relative to a mid-grey face
    grey: bool

    @classmethod
    def of(cls, actor: ActorModel, params: FrameParams, photo: np.ndarray) -> MouthInterior:
        regions = actor.model.topology.regions
        upper = np.asarray(regions["lips_inner_upper"])
        lower = np.asarray(regions["lips_inner_lower"])
        up, low = cls._contours(actor, params, upper, lower)
        face = actor.project_landmarks(params)[0]
        x0, y0 = np.clip(face.min(0).astype(int), 0, None)
        x1, y1 = face.max(0).astype(int)
        skin = photo[y0:y1, x0:x1].reshape(-1, 3).astype(np.float64)
        tone = float(np.clip(np.median(skin.mean(1)) / 150.0, 0.5, 1.3)) if len(skin) else 1.0
        grey = bool(len(skin)) and float(np.abs(skin - skin.mean(1, keepdims=True)).mean()) < 2.0
        return cls(actor, upper, lower, float(np.max(low[:, 1] - up[:, 1])), tone, grey)

    @staticmethod
    def _contours(actor: ActorModel, params: FrameParams, upper: np.ndarray, lower: np.ndarray):
        points = actor.camera.project(actor.camera_points(params)[0])
        return points[upper], points[lower]

    def paint(self, frame: np.ndarray, now: FrameParams) -> np.ndarray:
        """`frame` with the mouth interior painted where the lips of `now` part wider than the photo's."""
        up, low = self._contours(self.actor, now, self.upper, self.lower)
        face = float(np.ptp(self.actor.project_landmarks(now)[0], axis=0).max())
        gap = low[:, 1] - up[:, 1]
        extra = float(gap.max()) - self.photo_gap
        strength = float(np.clip(extra / (OPENING_FACE * face), 0, 1))
        if strength <= 0:
            return frame
        polygon = np.concatenate([up, low[::-1]])
        x0, y0 = np.floor(polygon.min(0)).astype(int) - 2
        x1, y1 = np.ceil(polygon.max(0)).astype(int) + 3
        h, w = frame.shape[:2]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return frame
        scale = 4  # drawn at 4x and reduced: smooth edges
        mask = np.zeros(((y1 - y0) * scale, (x1 - x0) * scale), np.uint8)
        local = ((polygon - [x0, y0]) * scale).astype(np.int32)
        cv2.fillPoly(mask, [local], 255)
        mask = cv2.resize(mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        mask = cv2.GaussianBlur(mask, (0, 0), max(0.6, 0.004 * face))
        painted = self._interior(x0, y0, x1, y1, up, low, face)
        region = frame[y0:y1, x0:x1].astype(np.float32)
        alpha = (mask * strength)[..., None]
        out = frame.copy()
        out[y0:y1, x0:x1] = np.clip(alpha * painted + (1 - alpha) * region, 0, 255).astype(np.uint8)
        return out

    def _interior(self, x0, y0, x1, y1, up, low, face) -> np.ndarray:
        """The interior (throat, teeth, tongue) over the box, in RGB float."""
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        order = np.argsort(up[:, 0])
        top = np.interp(xs, up[order, 0], up[order, 1])
        order = np.argsort(low[:, 0])
        bottom = np.interp(xs, low[order, 0], low[order, 1])
        gap = np.maximum(bottom - top, 1e-3)
        depth = np.clip((ys - top) / gap, 0, 1)  # 0 at the upper lip, 1 at the lower
        throat = THROAT * (0.55 + 0.45 * np.abs(2 * depth - 1))[..., None]
        out = throat
        tongue = np.clip((depth - 0.55) / 0.3, 0, 1)[..., None]
        out = tongue * TONGUE * (0.75 + 0.25 * depth[..., None]) + (1 - tongue) * out
        limit = TEETH_FACE * face
        upper_teeth = (ys - top) < np.minimum(UPPER_TEETH * gap, limit)
        lower_teeth = (bottom - ys) < np.minimum(LOWER_TEETH * gap, limit * 0.7)
        left, right = float(up[:, 0].min()), float(up[:, 0].max())
        width = max(right - left, 1.0)
        u = (xs - (left + right) / 2) / (width / 2)  # -1..1 across the mouth
        side = np.clip(1 - 0.6 * u * u, 0.2, 1)  # teeth darken towards the corners
        seams = 0.88 + 0.12 * np.abs(np.cos(np.pi * u * 4))  # the gaps between teeth
        teeth = TEETH * (side * seams)[..., None]
        out = np.where(upper_teeth[..., None], teeth, out)
        out = np.where(lower_teeth[..., None], teeth * 0.85, out)
        out = out * self.tone
        if self.grey:
            out = out.mean(-1, keepdims=True).repeat(3, -1)
        return out.astype(np.float32)
