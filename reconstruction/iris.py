"""Sideways place of the iris from its own edge: a dark disk fitted to the pixels inside the lids.

mediapipe places the iris from a crop of the whole eye, so its iris points are
pulled by the lids and the eye corners: turning the eyeballs of real frames
by exact geometry, its iris centre follows 0.81 of a sideways turn on lp_d9
(0.64 on lp_d14), with 0.36 px (1.14 px) of scatter. The iris is the darkest
disk in the eye opening, and its left and right edges against the white of the
eye are sharp, so a disk of the detected iris radius fitted to the pixels
inside the detected lids follows 0.87 (0.73) of the turn with 0.23 px (0.70 px)
of scatter (`benchmarks/gaze_readback.py`). Only the sideways place is taken
from the fit: the iris is taller than the opening, so its height shows only in
the curve of its sides, which blur and the lids' shadow wash out.
"""
from __future__ import annotations

import cv2
import numpy as np

# In iris radii: how far from the detector's centre the fit looks, and its coarse and fine steps (4, 0.5 and 0.1 px
# for an iris of 10 px, as on 512-pixel talking heads), so the work per eye is the same at any resolution.
SEARCH, COARSE, FINE = 0.4, 0.05, 0.01
MIN_SHOWN = 0.8  # an opening smaller than this share of the iris disk (a blink, a squint) keeps the detector's place
MAX_PIXELS = 1500  # eye openings with more pixels (a close-up in 4K) are sampled down to about this many


def opening_mask(polygon: np.ndarray, box: tuple[int, int, int, int], inset: float) -> np.ndarray:
    """(h, w) float 0..1: the polygon (pixels, full frame) filled in the box (x0, y0, w, h), shrunk by `inset` px."""
    x0, y0, w, h = box
    scale = 16  # 4 bits of sub-pixel precision
    pts = np.round((polygon - [x0, y0]) * scale).astype(np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=4)
    mask = mask.astype(np.float32) / 255
    if inset > 0:
        k = 2 * int(np.ceil(inset)) + 1
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return mask


def disk_centre(gray: np.ndarray, lids: np.ndarray, start: np.ndarray, radius: float,
                min_shown: float = 0.0) -> np.ndarray | None:
    """Centre (x, y) of the dark disk of `radius` that best matches the pixels of `gray` inside the lid polygon
    (1 px inset), searched near `start`; None when the opening shows less than `min_shown` of the disk's area."""
    h, w = gray.shape
    x0, y0 = np.maximum(np.floor(lids.min(0)).astype(int) - 2, 0)
    x1, y1 = np.minimum(np.ceil(lids.max(0)).astype(int) + 3, [w, h])
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    mask = opening_mask(lids, (int(x0), int(y0), int(x1 - x0), int(y1 - y0)), inset=1.0) > 0.5
    if mask.sum() < max(20, min_shown * np.pi * radius ** 2):
        return None
    ys, xs = np.nonzero(mask)
    if len(xs) > MAX_PIXELS:
        keep = slice(None, None, int(np.ceil(len(xs) / MAX_PIXELS)))
        ys, xs = ys[keep], xs[keep]
    px, py = xs + x0, ys + y0
    values = gray[ys + y0, xs + x0].astype(np.float64)
    values -= values.mean()
    if not values.any():
        return None

    def best(centre: np.ndarray, half: float, step: float) -> np.ndarray:
        g = np.arange(-half, half + 1e-9, step)
        cands = np.stack(np.meshgrid(g + centre[0], g + centre[1]), -1).reshape(-1, 2)
        disk = np.clip(radius + 0.5 - np.hypot(px - cands[:, :1], py - cands[:, 1:]), 0, 1)
        disk -= disk.mean(1, keepdims=True)
        darkness = -(disk @ values) / (np.sqrt((disk * disk).sum(1) * (values @ values)) + 1e-9)
        return cands[np.argmax(darkness)]

    coarse = best(np.asarray(start, float), SEARCH * radius, COARSE * radius)
    return best(coarse, COARSE * radius, FINE * radius)


class IrisRefiner:
    """Moves the detector's iris points (centre and ring together) sideways to the fitted disk's centre."""

    def __init__(self, lid_contours: tuple[np.ndarray, np.ndarray], irises: tuple[tuple[int, ...], ...]):
        self.lid_contours = lid_contours  # landmark indices around each eye opening, in order
        self.irises = irises  # landmark indices of each iris, centre first

    @classmethod
    def for_mediapipe(cls) -> "IrisRefiner":
        """For mediapipe's 478 points: the lid contours ordered around each opening of the canonical face."""
        from reconstruction.canonical import load_canonical
        from reconstruction.topology import LEFT_IRIS, RIGHT_IRIS, mediapipe_topology

        regions, face = mediapipe_topology().regions, load_canonical()
        contours = []
        for name in ("right_eye", "left_eye"):
            verts = np.array(regions[name])
            p = face[verts, :2] - face[verts, :2].mean(0)
            contours.append(verts[np.argsort(np.arctan2(p[:, 1], p[:, 0]))])  # the almond is star-shaped
        return cls(lid_contours=(contours[0], contours[1]), irises=(RIGHT_IRIS, LEFT_IRIS))

    def refine(self, gray: np.ndarray, points: np.ndarray) -> np.ndarray:
        """`points` (N, >=2) in pixels with each iris moved to its disk's sideways place (a copy)."""
        out = points.copy()
        for lids, iris in zip(self.lid_contours, self.irises):
            iris = list(iris)
            radius = float(np.linalg.norm(points[iris[1:], :2] - points[iris[0], :2], axis=1).mean())
            if not np.isfinite(radius) or radius < 2:
                continue
            found = disk_centre(gray, points[lids, :2], points[iris[0], :2], radius, MIN_SHOWN)
            if found is not None:
                out[iris, 0] = points[iris, 0] + (found[0] - points[iris[0], 0])
        return out
