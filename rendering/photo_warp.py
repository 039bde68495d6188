"""A still picture moved by a face mesh's motion: the maps that warp the picture so that the face's points go where
the moved mesh puts them, the head, hair and neck around it following smoothly, the rest of the picture still.

For every pixel of the output, where to take it from in the picture:

- inside the moved mesh, exactly: the mesh is rasterised where it is now, and
  each pixel's barycentric coordinates in its triangle give the same point of
  that triangle where it was in the picture;
- in the mesh's holes (the eyes, the mouth), as the points round them move;
- around it, smoothly: the displacement of each point of the mesh's outline
  (where it was minus where it is) spread over the picture by Gaussian weights
  about where the points are now (a normalised convolution, on a coarse grid,
  then resized), so the parts of the head the mesh does not cover (hair, ears,
  neck) move as the edge of the face beside them does;
- faded to no motion from `HOLD` to `STILL` face sizes from the face's centre,
  so the background beyond stays where it is.

The two are blended over a feathered edge of the mesh, so the face and its
surroundings meet without a seam. The maps are for `cv2.remap`.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from rendering.rasterizer import rasterize

SPREAD = 0.12  # the Gaussian's width round the outline, in face sizes
HOLE_SPREAD = 0.02  # and inside the eyes and the mouth
HOLD = 1.1  # face sizes from the centre within which the surroundings move fully
STILL = 2.6  # face sizes from the centre beyond which nothing moves
GRID = 16  # coarse cells across a face size for the surroundings' field
FEATHER = 0.04  # face sizes over which the mesh's exact warp gives way to the field


class MeshWarp:
    """Warps of one picture of `width` x `height` by a mesh of `triangles` (T, 3) whose outline (the vertices round
    its edge, in order) is `outline` and whose holes are ringed by the vertices `rims`."""

    def __init__(self, triangles: np.ndarray, outline: np.ndarray, rims: np.ndarray, width: int, height: int):
        self.triangles = torch.as_tensor(np.asarray(triangles, dtype=np.int64))
        self.outline = np.asarray(outline, dtype=np.int64)
        self.rims = np.asarray(rims, dtype=np.int64)
        self.width, self.height = width, height

    def maps(self, was: np.ndarray, now: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(map_x, map_y) float32 (H, W): where each output pixel comes from, for mesh points that were at `was`
        (V, 2) pixels in the picture and are now at `now` (V, 2), `depth` (V,) their distance now (for which
        triangle is in front)."""
        h, w = self.height, self.width
        size = _face_size(now)
        moved = (was - now).astype(np.float32)
        shift = self._surroundings(moved[self.outline], now[self.outline], size)
        # The face's box, with room for the feather: the mesh is rasterised there only.
        sigma = max(0.5, FEATHER * size)
        pad = int(3 * sigma) + 2
        x0, y0 = np.maximum(np.floor(now.min(0)).astype(int) - pad, 0)
        x1, y1 = np.minimum(np.ceil(now.max(0)).astype(int) + pad + 1, [w, h])
        if x1 <= x0 or y1 <= y0:  # the face has left the picture
            ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
            return xs + shift[..., 0], ys + shift[..., 1]
        local = (now - [x0, y0]).astype(np.float32)
        fragments = rasterize(torch.as_tensor(local[None]), torch.as_tensor(depth[None], dtype=torch.float32),
                              self.triangles, y1 - y0, x1 - x0)
        face = fragments.pix_to_face[0, ..., 0].numpy()  # one mesh: its own face indices
        inside = face >= 0
        bary = fragments.bary_coords[0, ..., 0, :].numpy()
        corners = self.triangles.numpy()[face[inside]]  # (P, 3) vertex indices
        exact = np.zeros((y1 - y0, x1 - x0, 2), np.float32)
        exact[inside] = np.einsum("pk,pkc->pc", bary[inside], moved[corners])
        # The mesh's holes (eyes, mouth) follow the points round them.
        hull = np.zeros(inside.shape, np.uint8)
        cv2.fillPoly(hull, [np.round(local[self.outline]).astype(np.int32)], 1)
        holes = (hull > 0) & ~inside
        if holes.any():
            ys, xs = np.nonzero(holes)
            at = np.stack([xs + x0, ys + y0], 1).astype(np.float32)
            exact[ys, xs] = _spread(at, now[self.rims], moved[self.rims], HOLE_SPREAD * size)
        covered = (inside | holes).astype(np.float32)
        weight = (cv2.GaussianBlur(covered, (0, 0), sigma) * covered)[..., None]
        box = shift[y0:y1, x0:x1]
        shift[y0:y1, x0:x1] = weight * exact + (1 - weight) * box
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        return xs + shift[..., 0], ys + shift[..., 1]

    def _surroundings(self, moved: np.ndarray, now: np.ndarray, size: float) -> np.ndarray:
        """(H, W, 2) displacements around the mesh: spread from its outline, faded out with distance."""
        h, w = self.height, self.width
        step = max(1.0, size / GRID)
        gw, gh = int(np.ceil(w / step)) + 1, int(np.ceil(h / step)) + 1
        gx, gy = np.meshgrid(np.arange(gw) * step, np.arange(gh) * step)
        nodes = np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float32)
        field = _spread(nodes, now, moved, SPREAD * size).reshape(gh, gw, 2)
        centre = now.mean(0)
        r = np.hypot(gx - centre[0], gy - centre[1]) / size
        fade = np.clip((STILL - r) / (STILL - HOLD), 0, 1)
        field *= (fade * fade * (3 - 2 * fade))[..., None]  # smoothstep
        full = cv2.resize(field, (int(round(gw * step)), int(round(gh * step))), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(full[:h, :w])


def _spread(at: np.ndarray, points: np.ndarray, values: np.ndarray, width: float) -> np.ndarray:
    """(N, 2) the `values` (P, 2) of `points` (P, 2) at `at` (N, 2), by Gaussian weights of `width` pixels relative
    to the nearest point's (so that far from every point the nearest ones still decide)."""
    out = np.zeros((len(at), 2), np.float32)
    points = points.astype(np.float32)
    spread = 2 * width * width
    for start in range(0, len(at), 8192):  # positions x points weights a block at a time: memory stays flat
        d2 = ((at[start:start + 8192, None, :] - points[None]) ** 2).sum(-1)
        g = np.exp(-(d2 - d2.min(1, keepdims=True)) / spread)
        out[start:start + 8192] = (g @ values) / g.sum(1, keepdims=True)
    return out


def _face_size(points: np.ndarray) -> float:
    """The face's size in pixels: the side of its points' bounding box, the larger."""
    span = points.max(0) - points.min(0)
    return float(max(span.max(), 1.0))


def warp(picture: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The picture taken through `maps` (bilinear; the border reflected)."""
    return cv2.remap(picture, maps[0], maps[1], interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
