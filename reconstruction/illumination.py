"""Per-vertex albedo and per-frame spherical-harmonics lighting.

Colour model: colour = albedo * (sum_i sh_i * Y_i(n)) per channel, with the nine
real spherical harmonics of bands 0-2 evaluated on camera-frame unit normals
(x right, y down, z forward) and colours in [0, 1] as they appear in the video
(no linearisation). Albedo is shared by the whole shot; lighting changes per
frame. Only vertices that face the camera take part.
"""
from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

MIN_FACING = 0.25  # cosine between normal and view direction below which a vertex is ignored


def sh_basis(normals):
    """The 9 real SH basis functions (..., 9) for unit normals (..., 3); numpy arrays or torch tensors."""
    x, y, z = normals[..., 0], normals[..., 1], normals[..., 2]
    if isinstance(normals, np.ndarray):
        ones, stack = np.ones_like(x), np.stack
    else:
        import torch

        ones, stack = torch.ones_like(x), torch.stack
    return stack([
        0.282095 * ones,
        0.488603 * y, 0.488603 * z, 0.488603 * x,
        1.092548 * x * y, 1.092548 * y * z, 0.315392 * (3 * z * z - 1),
        1.092548 * x * z, 0.546274 * (x * x - y * y),
    ], -1)


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (..., V, 3) of a mesh whose triangles point outwards."""
    flat = vertices.reshape(-1, *vertices.shape[-2:])
    a, b, c = (flat[:, triangles[:, i]] for i in range(3))
    face_n = np.cross(b - a, c - a)  # (B, T, 3), length = twice the area
    incidence = _incidence(triangles.tobytes(), len(triangles), flat.shape[1])
    normals = (incidence @ face_n.transpose(1, 0, 2).reshape(len(triangles), -1))  # sum over each vertex's faces
    normals = normals.reshape(flat.shape[1], len(flat), 3).transpose(1, 0, 2)
    normals /= np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-12)
    return normals.reshape(vertices.shape)


@lru_cache(maxsize=8)
def _incidence(triangles: bytes, count: int, vertices: int):
    """Sparse (V, T) matrix with a one where vertex v is a corner of triangle t."""
    from scipy.sparse import csr_matrix

    tri = np.frombuffer(triangles, dtype=np.int64 if len(triangles) == count * 24 else np.int32).reshape(count, 3)
    return csr_matrix((np.ones(tri.size), (tri.ravel(), np.repeat(np.arange(count), 3))), shape=(vertices, count))


def facing(vertices: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """Which camera-frame vertices face the camera (camera at the origin)."""
    view = -vertices / np.linalg.norm(vertices, axis=-1, keepdims=True)
    return (view * normals).sum(-1) > MIN_FACING


def fit_lighting(albedo: np.ndarray, colours: np.ndarray, normals: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-frame SH coefficients (F, 9, 3) for fixed albedo (V, 3)."""
    basis = sh_basis(normals)  # (F, V, 9)
    out = np.zeros((len(colours), 9, 3))
    for f in range(len(colours)):
        m = mask[f]
        if m.sum() < 20:
            out[f, 0] = 1 / 0.282095
            continue
        for ch in range(3):
            a = basis[f, m] * albedo[m, ch:ch + 1]
            out[f, :, ch] = np.linalg.lstsq(a, colours[f, m, ch], rcond=None)[0]
    return out


def fit_albedo(colours: np.ndarray, normals: np.ndarray, mask: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Albedo (V, 3) from a sample of frames, alternating with their lighting."""
    warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)  # never-visible vertices
    masked = np.where(mask[..., None], colours, np.nan)
    albedo = np.nan_to_num(np.nanmedian(masked, axis=0), nan=0.5)
    for _ in range(rounds):
        sh = fit_lighting(albedo, colours, normals, mask)
        shading = np.einsum("fvk,fkc->fvc", sh_basis(normals), sh)
        ratio = np.where(mask[..., None] & (shading > 0.05), colours / np.maximum(shading, 1e-6), np.nan)
        albedo = np.clip(np.nan_to_num(np.nanmedian(ratio, axis=0), nan=0.5), 0.0, 1.5)
        # The albedo-lighting scale is ambiguous: put the face's mean albedo at its mean colour.
        albedo *= np.nanmean(masked) / max(albedo.mean(), 1e-6)
    return albedo
