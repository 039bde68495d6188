"""Conditioning images of a tracked face, all from one rasterisation per frame.

The face mesh has holes at the eyes and the mouth; for rendering they are
closed with ribbons of triangles between the upper and lower lid (or lip), so
every pixel inside the face belongs to a labelled region: skin, right eye, left
eye or mouth opening. Three shaders then read the same fragments:

- colour: albedo lit by the frame's spherical-harmonic lighting, evaluated at
  the vertices and interpolated (Gouraud: second-order SH lighting is smooth
  enough for that, and it is far cheaper than per-pixel shading); the eyes are
  shaded as white sclera with a grey iris and a black pupil, the mouth opening
  dark;
- correspondence: each pixel coloured by its position on the mean face
  (x, y, z of the canonical face mapped to [0, 1]), interpolated;
- eye gaze: three channels, non-zero only inside the eye openings: the eye
  region, the iris disc and the pupil disc, drawn where the fitted gaze puts
  them (anti-aliased by one pixel);

plus the face mask. Images are uint8 (0 to 255, like any rendered 8-bit image;
divide by 255 for [0, 1]), (N, C, H, W) views of one channels-last buffer: a
quarter of the memory traffic of float32, and an 11-frame window at 512 x 512
takes 26 MB instead of 104.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reconstruction.face_model import FaceModel, default_model
from reconstruction.fitting import ActorModel, actor_from_track, track_params
from reconstruction.illumination import sh_basis, vertex_normals
from reconstruction.topology import NUM_MESH_VERTICES, Topology
from rendering.backends import rasterize_mesh_packed
from rendering.crop import CropBox

SKIN, RIGHT_EYE, LEFT_EYE, MOUTH = 0, 1, 2, 3
SCLERA, IRIS, PUPIL, MOUTH_INSIDE = 0.85, 0.35, 0.03, 0.08  # reflectances of the filled regions
PUPIL_RATIO = 0.45
BATCH_PIXELS = 64 * 256 * 256  # frames per batch x pixels: 64 frames at 256 x 256, 16 at 512 x 512


@dataclass
class Conditioning:
    colour: torch.Tensor  # (N, 3, H, W) uint8
    correspondence: torch.Tensor  # (N, 3, H, W) uint8
    gaze: torch.Tensor  # (N, 3, H, W) uint8: eye region, iris, pupil
    mask: torch.Tensor  # (N, 1, H, W) uint8: 255 on the face

    def stacked(self) -> torch.Tensor:
        """(N, 9, H, W) in `rendering.spacetime.CONDITIONING_CHANNELS` order."""
        return torch.cat([self.colour, self.correspondence, self.gaze], dim=1)


def _ribbon(upper: np.ndarray, lower: np.ndarray) -> list[tuple[int, int, int]]:
    """Triangles closing the gap between two chains that share their end points."""
    tris = []
    for i in range(len(upper) - 1):
        for t in ((upper[i], upper[i + 1], lower[i + 1]), (upper[i], lower[i + 1], lower[i])):
            if len(set(t)) == 3:
                tris.append(t)
    return tris


def render_faces(topology: Topology, neutral: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces of the closed render mesh (F, 3) and each face's region (F,)."""
    fills = {RIGHT_EYE: _ribbon(topology.region("right_upper_lid"), topology.region("right_lower_lid")),
             LEFT_EYE: _ribbon(topology.region("left_upper_lid"), topology.region("left_lower_lid")),
             MOUTH: _ribbon(topology.region("lips_inner_upper"), topology.region("lips_inner_lower"))}
    faces, regions = [topology.triangles], [np.full(len(topology.triangles), SKIN)]
    for region, tris in fills.items():
        tris = np.array(tris)
        n = np.cross(neutral[tris[:, 1]] - neutral[tris[:, 0]], neutral[tris[:, 2]] - neutral[tris[:, 0]])
        tris[n[:, 2] > 0] = tris[n[:, 2] > 0][:, ::-1]  # wound like the mesh: normals towards the camera
        faces.append(tris)
        regions.append(np.full(len(tris), region))
    return np.concatenate(faces).astype(np.int64), np.concatenate(regions)


class ConditioningRenderer:
    """Renders a Track's frames inside a shot crop at size x size pixels."""

    def __init__(self, track, crop: CropBox, size: int = 256, backend: str = "builtin",
                 model: FaceModel | None = None, actor: ActorModel | None = None):
        self.model = model or default_model()
        self.actor = actor or actor_from_track(track, self.model)
        self.track, self.crop, self.size, self.backend = track, crop, size, backend
        self.camera = crop.camera(self.actor.camera, size)
        faces, regions = render_faces(self.model.topology, self.model.neutral())
        self.faces = torch.as_tensor(faces)
        self.regions = torch.as_tensor(regions)
        mean = self.model.neutral()[:NUM_MESH_VERTICES]
        lo, hi = mean.min(axis=0), mean.max(axis=0)
        corr = np.zeros((self.model.num_vertices, 3))
        corr[:NUM_MESH_VERTICES] = (mean - lo) / (hi - lo)
        self.corr_colours = torch.as_tensor(corr, dtype=torch.float32)
        albedo = np.zeros((self.model.num_vertices, 3), np.float32)
        albedo[:len(track.albedo)] = track.albedo
        self.albedo = torch.as_tensor(albedo)

    @property
    def batch_frames(self) -> int:
        """Frames per `render` call: larger batches gain little speed and cost memory."""
        return max(1, BATCH_PIXELS // (self.size * self.size))

    def render(self, frames: np.ndarray) -> Conditioning:
        """Conditioning for some frames of the track (invalid frames come out empty)."""
        n, s = len(frames), self.size
        ok = np.flatnonzero(self.track.valid[frames])
        if len(ok) == 0:
            return Conditioning(*(torch.zeros(n, c, s, s, dtype=torch.uint8) for c in (3, 3, 3, 1)))
        params = track_params(self.track, np.asarray(frames)[ok])
        verts = self.actor.camera_points(params)
        normals = np.zeros_like(verts)
        normals[:, :NUM_MESH_VERTICES] = vertex_normals(verts[:, :NUM_MESH_VERTICES], self.model.topology.triangles)
        frags = rasterize_mesh_packed(torch.as_tensor(verts, dtype=torch.float32), self.faces, self.camera, s, s,
                                      self.backend, cull_backfaces=True)
        pix, f = frags.pixel, frags.face
        b = pix // (s * s)
        bary = frags.bary_coords.float()  # (P, 3)
        sh = torch.as_tensor(self.track.sh[np.asarray(frames)[ok]], dtype=torch.float32)  # (B, 9, 3)
        shading = torch.einsum("bvk,bkc->bvc", sh_basis(torch.as_tensor(normals, dtype=torch.float32)), sh)
        # Gouraud: lit colour and correspondence per vertex, laid out per face as one contiguous row of
        # 3 x 6 values per (frame, face), so each pixel fetches a single row.
        per_vertex = torch.cat([self.albedo * shading, self.corr_colours.expand(len(ok), -1, -1)], -1)
        face_rows = b * len(self.faces) + f
        rows = per_vertex[:, self.faces].reshape(-1, 18).index_select(0, face_rows).view(-1, 3, 6)
        attrs = torch.einsum("pi,pic->pc", bary, rows)
        colour, correspondence = attrs[:, 0:3], attrs[:, 3:6]
        region = self.regions[f]
        yy, xx = (pix % (s * s)) // s, pix % s
        eye_maps = self._eye_maps(params, b, yy, xx, region)
        # Eyes and mouth opening: their own reflectance under the interpolated light.
        filled = (region != SKIN).nonzero(as_tuple=True)[0]
        if len(filled):
            light = shading[:, self.faces].reshape(-1, 9).index_select(0, face_rows[filled]).view(-1, 3, 3)
            light = torch.einsum("pi,pic->pc", bary[filled], light)
            grey = SCLERA + (IRIS - SCLERA) * eye_maps[filled, 1] + (PUPIL - IRIS) * eye_maps[filled, 2]
            grey = torch.where(region[filled] == MOUTH, torch.full_like(grey, MOUTH_INSIDE), grey)
            colour[filled] = grey[:, None] * light
        # All ten channels go into one channel-last buffer by whole rows; the (N, C, H, W) view of it
        # is what torch calls channels-last memory format, which convolutions take as it is.
        image = torch.zeros(n * s * s, 10, dtype=torch.uint8)
        frame_of = torch.as_tensor(ok)[b]
        target = (frame_of * s + yy) * s + xx
        values = torch.cat([colour, correspondence, eye_maps, torch.ones(len(pix), 1)], -1)
        image[target] = (values.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
        planes = image.view(n, s, s, 10).permute(0, 3, 1, 2)
        return Conditioning(colour=planes[:, 0:3], correspondence=planes[:, 3:6], gaze=planes[:, 6:9],
                            mask=planes[:, 9:10])

    def _eye_maps(self, params, b, yy, xx, region) -> torch.Tensor:
        """Eye region, iris and pupil coverage (P, 3) for the covered pixels."""
        iris = self.actor.iris_points(params.gaze)  # (B, 2, 5, 3) head frame
        cam = np.einsum("bij,bepj->bepi", params.rotation, iris) + params.translation[:, None, None]
        px = torch.as_tensor(self.camera.project(cam), dtype=torch.float32)  # (B, 2, 5, 2)
        centre = px[:, :, 0]
        radius = (px[:, :, 1:] - centre[:, :, None]).norm(dim=-1).mean(-1)  # (B, 2)
        maps = torch.zeros(len(b), 3)
        for eye, label in ((0, RIGHT_EYE), (1, LEFT_EYE)):
            sel = region == label
            if not sel.any():
                continue
            p = torch.stack([xx[sel].float() + 0.5, yy[sel].float() + 0.5], -1)
            d = (p - centre[b[sel], eye]).norm(dim=-1)
            r = radius[b[sel], eye]
            maps[sel, 0] = 1.0
            maps[sel, 1] = (r - d + 0.5).clamp(0, 1)
            maps[sel, 2] = (PUPIL_RATIO * r - d + 0.5).clamp(0, 1)
        return maps
