"""Choosing a rasteriser: the built-in one or PyTorch3D, behind one call.

Both take camera-space vertices (OpenCV frame: x right, y down, z forward) and
a pinhole camera, and return `Fragments` in image order. `auto` picks PyTorch3D
only when it is importable *and* a CUDA device is there: on a CPU the built-in
rasteriser is far faster (see the benchmarks page).
"""
from __future__ import annotations

import torch

from base.errors import BackendUnavailableError
from reconstruction.camera import PinholeCamera
from rendering.rasterizer import Fragments, PackedFragments, rasterize, rasterize_packed

CHOICES = ("auto", "builtin", "pytorch3d")


def pytorch3d_available() -> bool:
    try:
        import pytorch3d  # noqa: F401
    except ImportError:
        return False
    return True


def resolve(name: str) -> str:
    """The backend `name` stands for here: 'builtin' or 'pytorch3d'."""
    if name not in CHOICES:
        raise ValueError(f"unknown rasteriser {name!r}; choose one of {', '.join(CHOICES)}")
    if name == "auto":
        return "pytorch3d" if pytorch3d_available() and torch.cuda.is_available() else "builtin"
    if name == "pytorch3d" and not pytorch3d_available():
        raise BackendUnavailableError(
            "--rasterizer pytorch3d needs the pytorch3d package, which is not installed here; install it "
            "(see pytorch3d's INSTALL.md for a build matching your torch and CUDA) or use --rasterizer builtin")
    return name


def project_vertices(vertices: torch.Tensor, camera: PinholeCamera) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel positions (..., 2) and depths (...) of camera-space vertices, as the built-in rasteriser takes them."""
    z = vertices[..., 2]
    pixels = camera.focal * vertices[..., :2] / z.clamp_min(1e-9)[..., None] + torch.tensor(
        [camera.cx, camera.cy], dtype=vertices.dtype)
    return pixels, z


def rasterize_mesh(vertices: torch.Tensor, faces: torch.Tensor, camera: PinholeCamera, height: int, width: int,
                   backend: str = "builtin", cull_backfaces: bool = False, with_dists: bool = False) -> Fragments:
    """Rasterise N meshes (N, V, 3) sharing `faces` (F, 3) as seen by `camera` at height x width."""
    if resolve(backend) == "pytorch3d":
        from rendering.pytorch3d_backend import rasterize_pytorch3d

        return rasterize_pytorch3d(vertices, faces, camera, height, width, cull_backfaces)
    pixels, z = project_vertices(vertices, camera)
    return rasterize(pixels, z, faces, height, width, cull_backfaces, with_dists)


def rasterize_mesh_packed(vertices: torch.Tensor, faces: torch.Tensor, camera: PinholeCamera, height: int,
                          width: int, backend: str = "builtin", cull_backfaces: bool = False) -> PackedFragments:
    """The covered pixels only (what shaders need), from either backend."""
    if resolve(backend) == "pytorch3d":
        frags = rasterize_mesh(vertices, faces, camera, height, width, backend, cull_backfaces)
        face = frags.face_index.reshape(-1)
        pixel = (face >= 0).nonzero(as_tuple=True)[0]
        return PackedFragments(pixel=pixel, face=face[pixel], zbuf=frags.zbuf.reshape(-1)[pixel],
                               bary_coords=frags.bary_coords.reshape(-1, 3)[pixel], dists=None)
    pixels, z = project_vertices(vertices, camera)
    return rasterize_packed(pixels, z, faces, height, width, cull_backfaces)
