"""A compiled triangle rasteriser (numba) that returns PyTorch3D-style fragments.

Why not PyTorch3D: no package of it installs here, and its CPU rasteriser is two
orders of magnitude slower than this one on the face mesh (the benchmarks page
gives both rates).
`rendering.pytorch3d_backend` uses the real thing when it is importable.

Why compiled: a vectorised torch version (all bounding-box pixels tested at
once, triangles grouped by box size) spent its time building, gathering and
scatter-reducing candidate tensors. A plain loop over each triangle's bounding
box with a per-frame z-buffer makes the same tests without those temporaries.
`raster_frame` is also called from inside other compiled kernels (the
conditioning shaders), so a frame can be rasterised and shaded without its
fragments ever leaving the CPU cache. Frames are rasterised in parallel on numba's threads (`NUMBA_NUM_THREADS`, all
cores by default).

Rules: pixel centres sit at (x + 0.5, y + 0.5). A pixel exactly on an edge
belongs to one of the two triangles sharing it, by a fixed rule on the edge's
direction, and each edge function is set up from its lower-indexed vertex so
that both neighbours compute exactly opposite values: no cracks, no double
coverage. Depth is interpolated perspective-correctly (1/z) and the nearest
face per pixel wins, ties going to the lower face index. Back faces (clockwise
on screen) are dropped when `cull_backfaces` is set (front faces are wound so
that (v1 - v0) x (v2 - v0) points at the camera, as the face mesh is),
otherwise rasterised like front faces. All arithmetic stays in the input's
precision (float32 or float64), with no fused or reordered operations.

Output (PyTorch3D's `Fragments` layout, K = 1 face per pixel), in image order:
row 0 at the top, column 0 at the left (OpenCV's pixel grid):
  pix_to_face (N, H, W, 1) int64, index into the packed faces (frame n's faces
      are offset by n * F), -1 for background;
  zbuf (N, H, W, 1) camera-space depth, -1 for background;
  bary_coords (N, H, W, 1, 3) perspective-correct barycentrics, -1 for background;
  dists (N, H, W, 1) signed distance to the nearest edge of the face in NDC units
      (2 / image size per pixel; negative inside), -1 for background; computed
      only with `with_dists=True` (None otherwise), since shading does not need it.

The compiled functions are cached on disk (numba's `cache=True`): the first
call on a machine compiles them (a few seconds), later processes load them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from numba import njit, prange

# error_model="numpy": division follows IEEE rules (no Python ZeroDivisionError checks), like torch.
JIT = dict(cache=True, fastmath=False, error_model="numpy")


@dataclass
class Fragments:
    pix_to_face: torch.Tensor
    zbuf: torch.Tensor
    bary_coords: torch.Tensor
    dists: torch.Tensor | None  # None unless asked for (`with_dists=True`)
    faces_per_mesh: int

    @property
    def face_index(self) -> torch.Tensor:
        """(N, H, W) face index within each frame's own mesh, -1 for background."""
        p = self.pix_to_face[..., 0]
        return torch.where(p >= 0, p % max(self.faces_per_mesh, 1), p)


@dataclass
class PackedFragments:
    """The covered pixels only, one entry per pixel: what shaders need, without full-size images."""

    pixel: torch.Tensor  # (P,) int64 flat index n * H * W + y * W + x
    face: torch.Tensor  # (P,) int64 face index within the frame's mesh
    zbuf: torch.Tensor  # (P,)
    bary_coords: torch.Tensor  # (P, 3)
    dists: torch.Tensor | None  # (P,) NDC units, or None


@lru_cache(maxsize=2)
def raster_constants(dtype) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates and the numbers `raster_frame` needs, in the arithmetic's precision.

    Passed in as arrays because a literal inside a compiled function is float64 and would
    silently promote float32 arithmetic.
    """
    return np.arange(0.5, 1 << 16, dtype=dtype), np.array([0.5, 1.0, 1e-12, 1e-6], dtype=dtype)


@njit(**JIT)
def _edge(ax, ay, a_index, bx, by, b_index, sign):
    """Edge function w = A x + B y + C of the edge a -> b, positive inside, and whether the edge owns its pixels.

    Set up from the lower-indexed vertex, so the neighbour sharing the edge gets exactly -A, -B, -C.
    On the edge itself a pixel goes to the triangle for which the edge runs up, or right if level.
    """
    dx, dy = (bx - ax) * sign, (by - ay) * sign
    owns = dy < 0 or (dy == 0 and dx > 0)
    if a_index > b_index:
        ax, ay, bx, by, sign = bx, by, ax, ay, -sign
    coef_a, coef_b = (by - ay) * sign, (ax - bx) * sign
    return coef_a, coef_b, -(coef_a * ax + coef_b * ay), owns


@njit(**JIT)
def _outside(w, owns):
    """Whether a pixel with edge value w lies outside: w < 0, or w == 0 on an edge the triangle does not own."""
    return w < 0 or (w == 0 and not owns)


@njit(**JIT)
def _first_pixel(low, half, limit):
    """The first pixel whose centre is at or after low, ceil(low - 0.5), clamped to [0, limit]; NaN gives 0."""
    v = np.ceil(low - half)
    return int(v) if 0 < v <= limit else (limit if v > limit else 0)


@njit(**JIT)
def _last_pixel(high, half, limit):
    """The last pixel whose centre is at or before high, floor(high - 0.5), clamped to [-1, limit - 1].

    NaN gives -1.
    """
    v = np.floor(high - half)
    return int(v) if -1 < v <= limit - 1 else (limit - 1 if v > limit - 1 else -1)


@njit(**JIT)
def raster_frame(pixels, depth, faces, cull_backfaces, centres, consts, height, width,
                 face_buf, z_buf, bary_buf, dist_buf):
    """Rasterise one frame into flat (H * W) buffers; face_buf must hold -1 on entry.

    pixels (V, 2), depth (V,), faces (F, 3). dist_buf is (H * W,) to get distances (in pixels,
    negative inside), or empty to skip them.
    """
    half, one, min_area, min_depth = consts[0], consts[1], consts[2], consts[3]
    with_dists = dist_buf.shape[0] > 0
    for f in range(faces.shape[0]):
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        x0, y0, x1, y1 = pixels[i0, 0], pixels[i0, 1], pixels[i1, 0], pixels[i1, 1]
        x2, y2 = pixels[i2, 0], pixels[i2, 1]
        area = (x2 - x0) * (y1 - y0) - (y2 - y0) * (x1 - x0)
        if not (abs(area) > min_area and depth[i0] > min_depth and depth[i1] > min_depth and depth[i2] > min_depth):
            continue
        if cull_backfaces and not area > 0:
            continue  # front: (v1 - v0) x (v2 - v0) points at the camera, as the face mesh is wound
        lo_x, hi_x = _first_pixel(min(x0, x1, x2), half, width), _last_pixel(max(x0, x1, x2), half, width)
        lo_y, hi_y = _first_pixel(min(y0, y1, y2), half, height), _last_pixel(max(y0, y1, y2), half, height)
        if lo_x > hi_x or lo_y > hi_y:
            continue
        sign = one if area > 0 else -one
        area_abs = abs(area)
        # Edge e is opposite vertex e.
        a0, b0, c0, own0 = _edge(x1, y1, i1, x2, y2, i2, sign)
        a1, b1, c1, own1 = _edge(x2, y2, i2, x0, y0, i0, sign)
        a2, b2, c2, own2 = _edge(x0, y0, i0, x1, y1, i1, sign)
        inv_z0, inv_z1, inv_z2 = one / depth[i0], one / depth[i1], one / depth[i2]
        if with_dists:
            len0 = max(np.sqrt((x2 - x1) * (x2 - x1) + (y2 - y1) * (y2 - y1)), min_area)
            len1 = max(np.sqrt((x0 - x2) * (x0 - x2) + (y0 - y2) * (y0 - y2)), min_area)
            len2 = max(np.sqrt((x1 - x0) * (x1 - x0) + (y1 - y0) * (y1 - y0)), min_area)
        for y in range(lo_y, hi_y + 1):
            cy = centres[y]
            y_term0, y_term1, y_term2 = b0 * cy, b1 * cy, b2 * cy  # w = (A x + B y) + C, B y fixed along a row
            row = y * width
            for x in range(lo_x, hi_x + 1):
                cx = centres[x]
                w0 = a0 * cx + y_term0 + c0
                if _outside(w0, own0):
                    continue
                w1 = a1 * cx + y_term1 + c1
                if _outside(w1, own1):
                    continue
                w2 = a2 * cx + y_term2 + c2
                if _outside(w2, own2):
                    continue
                lam0, lam1 = w0 / area_abs, w1 / area_abs
                lam2 = one - (lam0 + lam1)  # barycentrics sum to one
                q0, q1, q2 = lam0 * inv_z0, lam1 * inv_z1, lam2 * inv_z2  # perspective-correct: interpolate 1/z
                z = one / (q0 + q1 + q2)
                p = row + x
                if face_buf[p] >= 0 and not z < z_buf[p]:
                    continue  # an equal depth keeps the lower face index, drawn first
                face_buf[p] = f
                z_buf[p] = z
                bary_buf[p, 0], bary_buf[p, 1], bary_buf[p, 2] = q0 * z, q1 * z, q2 * z
                if with_dists:
                    dist_buf[p] = -min(lam0 * area_abs / len0, lam1 * area_abs / len1, lam2 * area_abs / len2)


@njit(parallel=True, **JIT)
def _rasterize_frames(pixels, depth, faces, cull_backfaces, centres, consts, height, width,
                      face_out, z_out, bary_out, dist_out):
    """`raster_frame` for every frame, in parallel; outputs are (N, H * W, ...) and face_out starts at -1."""
    for n in prange(pixels.shape[0]):
        raster_frame(pixels[n], depth[n], faces, cull_backfaces, centres, consts, height, width,
                     face_out[n], z_out[n], bary_out[n], dist_out[n])


def _dense(pixels, depth, faces, height, width, cull_backfaces, with_dists):
    """Per-frame face index (N, H * W) (-1 for background), depth, barycentrics and distances (NDC)."""
    dt = pixels.dtype if pixels.dtype in (torch.float32, torch.float64) else torch.float32
    n = pixels.shape[0]
    face = torch.full((n, height * width), -1, dtype=torch.int64)
    zbuf = torch.full((n, height * width), -1.0, dtype=dt)
    bary = torch.full((n, height * width, 3), -1.0, dtype=dt)
    dists = torch.full((n, height * width if with_dists else 0), -1.0, dtype=dt)
    centres, consts = raster_constants(np.float32 if dt == torch.float32 else np.float64)
    if max(height, width) > len(centres):
        raise ValueError(f"images up to {len(centres)} pixels a side, not {height} x {width}")

    def host(t, dtype):
        return t.detach().to("cpu", dtype).contiguous().numpy()

    _rasterize_frames(host(pixels, dt), host(depth, dt), host(faces, torch.int64), bool(cull_backfaces), centres,
                      consts, height, width, face.numpy(), zbuf.numpy(), bary.numpy(), dists.numpy())
    if with_dists:
        dists = torch.where(face >= 0, dists * (2.0 / max(height, width)), dists)
    return face, zbuf, bary, dists if with_dists else None


def rasterize(pixels: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, height: int, width: int,
              cull_backfaces: bool = False, with_dists: bool = False) -> Fragments:
    """Rasterise N meshes that share one face list, into PyTorch3D-style full-image fragments.

    pixels: (N, V, 2) projected vertex positions in pixels (x right, y down);
    depth: (N, V) camera-space depth (> 0 in front of the camera);
    faces: (F, 3) int64 vertex indices.
    """
    n, f = pixels.shape[0], faces.shape[0]
    face, zbuf, bary, dists = _dense(pixels, depth, faces, height, width, cull_backfaces, with_dists)
    offset = torch.arange(n, dtype=torch.int64)[:, None] * f
    pix_to_face = torch.where(face >= 0, face + offset, face)
    device = pixels.device
    return Fragments(pix_to_face=pix_to_face.view(n, height, width, 1).to(device),
                     zbuf=zbuf.view(n, height, width, 1).to(device),
                     bary_coords=bary.view(n, height, width, 1, 3).to(device),
                     dists=dists.view(n, height, width, 1).to(device) if with_dists else None,
                     faces_per_mesh=f)


def rasterize_packed(pixels: torch.Tensor, depth: torch.Tensor, faces: torch.Tensor, height: int, width: int,
                     cull_backfaces: bool = False, with_dists: bool = False) -> PackedFragments:
    """Like `rasterize`, but returns only the covered pixels (see `PackedFragments`)."""
    face, zbuf, bary, dists = _dense(pixels, depth, faces, height, width, cull_backfaces, with_dists)
    face, zbuf, bary = face.view(-1), zbuf.view(-1), bary.view(-1, 3)
    pixel = (face >= 0).nonzero(as_tuple=True)[0]
    device = pixels.device
    return PackedFragments(pixel=pixel.to(device), face=face[pixel].to(device), zbuf=zbuf[pixel].to(device),
                           bary_coords=bary[pixel].to(device),
                           dists=dists.view(-1)[pixel].to(device) if with_dists else None)
