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

Per-vertex work (lighting, the eye discs' centres) is done for a whole batch in
torch; the per-pixel work is one compiled kernel (numba) that, frame by frame
and on parallel threads, rasterises with `rendering.rasterizer.raster_frame`
and shades each pixel straight into the output buffer, so no fragment arrays
are ever built. With PyTorch3D the same per-pixel shader runs over its packed
fragments instead. numba's on-disk cache only notices changes to the file a
kernel is defined in: after editing `raster_frame`, touch this file (or delete
rendering/__pycache__/conditioning.*.nb*) so the kernels here are rebuilt.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch
from numba import njit, prange

from reconstruction.face_model import FaceModel, default_model
from reconstruction.fitting import ActorModel, actor_from_track, track_params
from reconstruction.illumination import sh_basis, vertex_normals
from reconstruction.topology import NUM_MESH_VERTICES, Topology
from rendering.backends import project_vertices, rasterize_mesh_packed, resolve
from rendering.crop import CropBox
from rendering.rasterizer import JIT, raster_constants, raster_frame

SKIN, RIGHT_EYE, LEFT_EYE, MOUTH = 0, 1, 2, 3
SCLERA, IRIS, PUPIL, MOUTH_INSIDE = 0.85, 0.35, 0.03, 0.08  # reflectances of the filled regions
PUPIL_RATIO = 0.45
BATCH_PIXELS = 64 * 256 * 256  # frames per batch x pixels: 64 frames at 256 x 256, 16 at 512 x 512
CHANNELS = 10  # colour 3, correspondence 3, eye gaze 3, mask 1
# float32 numbers for the compiled shader, worked out as the torch shader did: (IRIS - SCLERA) in double, then rounded.
SHADE = np.array([SCLERA, IRIS - SCLERA, PUPIL - IRIS, MOUTH_INSIDE, PUPIL_RATIO, 0.5, 0.0, 1.0, 255.0], np.float32)


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


@njit(**JIT)
def _byte(value, shade):
    """A [0, 1] value as uint8, clamped and rounded."""
    return np.uint8(min(max(value, shade[6]), shade[7]) * shade[8] + shade[5])


@njit(**JIT)
def _shade_pixel(out, p, x, y, face, b0, b1, b2, values, eyes, faces, regions, centres, shade):
    """The ten channels of one covered pixel, written into out[p].

    values (V, 9): lit colour, correspondence and light per vertex; eyes (2, 3): each eye's
    iris centre (x, y) and radius in pixels.
    """
    va, vb, vc = faces[face, 0], faces[face, 1], faces[face, 2]
    for c in range(3, 6):  # Gouraud: interpolated per-vertex values
        out[p, c] = _byte(b0 * values[va, c] + b1 * values[vb, c] + b2 * values[vc, c], shade)
    region = regions[face]
    out[p, 9] = 255
    if region == SKIN:
        for c in range(3):
            out[p, c] = _byte(b0 * values[va, c] + b1 * values[vb, c] + b2 * values[vc, c], shade)
        out[p, 6], out[p, 7], out[p, 8] = 0, 0, 0
        return
    # Eyes and mouth opening: their own reflectance under the interpolated light.
    if region == MOUTH:
        grey = shade[3]
        out[p, 6], out[p, 7], out[p, 8] = 0, 0, 0
    else:
        eye = region - RIGHT_EYE
        dx, dy = centres[x] - eyes[eye, 0], centres[y] - eyes[eye, 1]
        d, r = np.sqrt(dx * dx + dy * dy), eyes[eye, 2]
        iris = min(max(r - d + shade[5], shade[6]), shade[7])
        pupil = min(max(shade[4] * r - d + shade[5], shade[6]), shade[7])
        grey = shade[0] + shade[1] * iris + shade[2] * pupil
        out[p, 6], out[p, 7], out[p, 8] = 255, _byte(iris, shade), _byte(pupil, shade)
    for c in range(3):
        light = b0 * values[va, 6 + c] + b1 * values[vb, 6 + c] + b2 * values[vc, 6 + c]
        out[p, c] = _byte(grey * light, shade)


@njit(parallel=True, **JIT)
def _render_frames(pixels, depth, faces, regions, values, eyes, slots, centres, consts, shade, size, threads, out):
    """Rasterise and shade a batch straight into out (N, H * W, 10), every byte of it.

    slots[n] is frame n's row in the per-valid-frame inputs (pixels, depth, values, eyes), or -1
    for an invalid frame, which comes out empty. Each thread takes every threads-th frame and
    keeps one z-buffer for all of them: clearing it is folded into the pass that writes the output.
    """
    pixel_count = size * size
    for first in prange(threads):
        face_buf = np.full(pixel_count, -1, np.int64)
        z_buf = np.empty(pixel_count, pixels.dtype)
        bary_buf = np.empty((pixel_count, 3), pixels.dtype)
        no_dists = np.empty(0, pixels.dtype)
        for n in range(first, out.shape[0], threads):
            frame, k = out[n], slots[n]
            if k < 0:
                frame[:] = 0
                continue
            raster_frame(pixels[k], depth[k], faces, True, centres, consts, size, size, face_buf, z_buf, bary_buf,
                         no_dists)
            for p in range(pixel_count):
                face = face_buf[p]
                if face < 0:
                    for c in range(CHANNELS):
                        frame[p, c] = 0
                else:
                    _shade_pixel(frame, p, p % size, p // size, face, bary_buf[p, 0], bary_buf[p, 1],
                                 bary_buf[p, 2], values[k], eyes[k], faces, regions, centres, shade)
                    face_buf[p] = -1


@njit(parallel=True, **JIT)
def _shade_packed(pixel, face, bary, frame_of, values, eyes, faces, regions, centres, shade, size, out):
    """Shade packed fragments (another rasteriser's) into out (N, H * W, 10), which must start at zero.

    pixel[i] = k * H * W + y * W + x for the k-th valid frame, which is batch frame frame_of[k].
    """
    pixel_count = size * size
    for i in prange(pixel.shape[0]):
        k, p = pixel[i] // pixel_count, pixel[i] % pixel_count
        _shade_pixel(out[frame_of[k]], p, p % size, p // size, face[i], bary[i, 0], bary[i, 1], bary[i, 2],
                     values[k], eyes[k], faces, regions, centres, shade)


class ConditioningRenderer:
    """Renders a Track's frames inside a shot crop at size x size pixels."""

    def __init__(self, track, crop: CropBox, size: int = 256, backend: str = "builtin",
                 model: FaceModel | None = None, actor: ActorModel | None = None):
        self.model = model or default_model()
        self.actor = actor or actor_from_track(track, self.model)
        self.track, self.crop, self.size, self.backend = track, crop, size, resolve(backend)
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

    def render(self, frames: np.ndarray, shift: np.ndarray | None = None) -> Conditioning:
        """Conditioning for some frames of the track (invalid frames come out empty).

        `shift` (N, 2), in pixels of this renderer, moves each frame's view by that much (right, down) over the
        image plane: a crop that follows something per frame, such as an eye (see `rendering.feature_boxes`).
        """
        frames = np.asarray(frames)
        n, s = len(frames), self.size
        ok = np.flatnonzero(self.track.valid[frames])
        # All ten channels go into one channel-last buffer; the (N, C, H, W) view of it is what
        # torch calls channels-last memory format, which convolutions take as it is.
        image = torch.empty(n, s * s, CHANNELS, dtype=torch.uint8)
        if len(ok) == 0:
            image.zero_()
            return self._conditioning(image)
        params = track_params(self.track, frames[ok])
        verts = self.actor.camera_points(params)
        normals = np.zeros_like(verts)
        normals[:, :NUM_MESH_VERTICES] = vertex_normals(verts[:, :NUM_MESH_VERTICES], self.model.topology.triangles)
        sh = torch.as_tensor(self.track.sh[frames[ok]], dtype=torch.float32)  # (B, 9, 3)
        shading = torch.einsum("bvk,bkc->bvc", sh_basis(torch.as_tensor(normals, dtype=torch.float32)), sh)
        # Per vertex: lit colour, correspondence, and the light alone (for the eyes and mouth).
        values = torch.cat([self.albedo * shading, self.corr_colours.expand(len(ok), -1, -1), shading], -1)
        if shift is not None:
            # A sideways shear in camera space, X - dx Z / f, moves a point's projection by exactly -dx pixels at
            # any depth, so every backend sees the shifted view; lighting was computed before it.
            shear = np.asarray(shift, np.float64)[ok] / self.camera.focal
            verts = verts.copy()
            verts[..., :2] -= shear[:, None, :] * verts[..., 2:3]
        eyes = self._eyes(params, None if shift is None else shear)
        verts = torch.as_tensor(verts, dtype=torch.float32)
        centres, consts = raster_constants(np.float32)
        faces, regions = self.faces.numpy(), self.regions.numpy()
        if self.backend == "builtin":
            pixels, depth = project_vertices(verts, self.camera)
            slots = np.full(n, -1, np.int64)
            slots[ok] = np.arange(len(ok))
            # The thread count is passed in: asking numba for it inside the kernel would stop it being cached.
            _render_frames(pixels.numpy(), depth.contiguous().numpy(), faces, regions, values.numpy(), eyes, slots,
                           centres, consts, SHADE, s, min(numba.get_num_threads(), n), image.numpy())
        else:
            frags = rasterize_mesh_packed(verts, self.faces, self.camera, s, s, self.backend, cull_backfaces=True)
            image.zero_()
            _shade_packed(frags.pixel.cpu().numpy(), frags.face.cpu().numpy(),
                          frags.bary_coords.float().cpu().numpy(), ok, values.numpy(), eyes, faces, regions,
                          centres, SHADE, s, image.numpy())
        return self._conditioning(image)

    def _conditioning(self, image: torch.Tensor) -> Conditioning:
        s = self.size
        planes = image.view(-1, s, s, CHANNELS).permute(0, 3, 1, 2)
        return Conditioning(colour=planes[:, 0:3], correspondence=planes[:, 3:6], gaze=planes[:, 6:9],
                            mask=planes[:, 9:10])

    def _eyes(self, params, shear: np.ndarray | None = None) -> np.ndarray:
        """Each eye's iris centre (x, y) and radius in pixels, (B, 2, 3) float32."""
        iris = self.actor.iris_points(params.gaze)  # (B, 2, 5, 3) head frame
        cam = np.einsum("bij,bepj->bepi", params.rotation, iris) + params.translation[:, None, None]
        if shear is not None:
            cam[..., :2] -= shear[:, None, None, :] * cam[..., 2:3]
        px = torch.as_tensor(self.camera.project(cam), dtype=torch.float32)  # (B, 2, 5, 2)
        centre = px[:, :, 0]
        radius = (px[:, :, 1:] - centre[:, :, None]).norm(dim=-1).mean(-1)  # (B, 2)
        return torch.cat([centre, radius[..., None]], -1).numpy()
