"""The PyTorch3D rasteriser, for machines where pytorch3d is installed (render farms with GPUs).

Written against PyTorch3D's documented API: `Meshes`, `MeshRasterizer`,
`RasterizationSettings`, and `cameras_from_opencv_projection`, which converts
an OpenCV camera (x right, y down) into PyTorch3D's (x left, y up) so that the
fragments come back in the same image order as the built-in rasteriser's.
"""
from __future__ import annotations

import torch

from reconstruction.camera import PinholeCamera
from rendering.rasterizer import Fragments


def rasterize_pytorch3d(vertices: torch.Tensor, faces: torch.Tensor, camera: PinholeCamera, height: int,
                        width: int, cull_backfaces: bool = False) -> Fragments:
    from pytorch3d.renderer import MeshRasterizer, RasterizationSettings
    from pytorch3d.structures import Meshes
    from pytorch3d.utils import cameras_from_opencv_projection

    n = vertices.shape[0]
    device = vertices.device
    verts = vertices.float()
    k = torch.tensor(camera.matrix, dtype=torch.float32, device=device).expand(n, 3, 3)
    cams = cameras_from_opencv_projection(
        R=torch.eye(3, device=device).expand(n, 3, 3), tvec=torch.zeros(n, 3, device=device), camera_matrix=k,
        image_size=torch.tensor([[height, width]], device=device).expand(n, 2))
    settings = RasterizationSettings(image_size=(height, width), blur_radius=0.0, faces_per_pixel=1,
                                     cull_backfaces=cull_backfaces)
    # Our front faces have (v1 - v0) x (v2 - v0) towards the camera, so they appear counter-clockwise
    # from it: PyTorch3D's own definition of a front face, so the faces go in unchanged.
    meshes = Meshes(verts=list(verts), faces=[faces.long().to(device)] * n)
    frags = MeshRasterizer(cameras=cams, raster_settings=settings)(meshes)
    return Fragments(pix_to_face=frags.pix_to_face, zbuf=frags.zbuf, bary_coords=frags.bary_coords,
                     dists=frags.dists, faces_per_mesh=faces.shape[0])
