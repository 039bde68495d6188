"""Eye boxes: small square views of the source frame that follow each eye, for the eye pathway.

In the shot crop the network paints, an eye is about a tenth of a face wide:
10 pixels for a 128-pixel crop of a 512-pixel shot, where one degree of gaze
moves the iris by a few hundredths of a pixel. The eye pathway
(`translation.eyes`) repaints each eye in its own box at the source's
resolution. A box is centred on the eye socket (the middle of the lids), not
on the iris, so its position says nothing about the gaze; its side is
`EYE_BOX` median eye widths of the shot (corner to corner), whole source
pixels, the same for every frame, resampled to the pathway's size.

For each box and frame the geometry of the eye in box pixels is known too: its
centre, its width and the angle of the line through its corners. The pathway's
hole, the ellipse it repaints, is drawn from that.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reconstruction.fitting import ActorModel, track_params
from rendering.conditioning import Conditioning, ConditioningRenderer
from rendering.crop import CropBox

EYE_BOX = 2.0  # box side in eye widths
EYES = (("right_upper_lid", "right_lower_lid"), ("left_upper_lid", "left_lower_lid"))


def _lids(actor: ActorModel) -> list[np.ndarray]:
    """Each eye's lid vertices: the upper lid from corner to corner, then the lower."""
    return [np.concatenate([actor.model.topology.region(upper), actor.model.topology.region(lower)])
            for upper, lower in EYES]


def eye_points(actor: ActorModel, params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame and eye, in source pixels: socket centres (B, 2, 2), widths (B, 2) and corner-line angles (B, 2)."""
    px = actor.camera.project(actor.camera_points(params))
    centres, widths, angles = [], [], []
    for lids in _lids(actor):
        pts = px[:, lids]
        corner_a, corner_b = px[:, lids[0]], px[:, lids[len(lids) // 2 - 1]]  # the upper lid's two ends
        d = corner_b - corner_a
        centres.append(pts.mean(1))
        widths.append(np.linalg.norm(d, axis=-1))
        angles.append(np.arctan2(d[:, 1], d[:, 0]))
    return np.stack(centres, 1), np.stack(widths, 1), np.stack(angles, 1)


def shot_eye_side(track, actor: ActorModel) -> int:
    """The eye boxes' side in source pixels: `EYE_BOX` median eye widths over the shot's valid frames, even."""
    valid = np.flatnonzero(track.valid)
    if len(valid) == 0:
        raise ValueError("the track has no valid frame to measure the eyes on")
    _, widths, _ = eye_points(actor, track_params(track, valid[::max(1, len(valid) // 200)]))
    return int(2 * np.ceil(EYE_BOX * float(np.median(widths)) / 2))


@dataclass
class EyeSamples:
    """Where the eye boxes of some frames are: 2 samples per frame (right eye, then left)."""

    corners: np.ndarray  # (N, 2, 2) int: each box's top-left corner in source pixels
    geometry: np.ndarray  # (N, 2, 4) float32: eye centre x, y, width (box pixels) and corner-line angle (radians)


class EyeView:
    """Eye boxes of one tracked (or driven) performance: their geometry, conditioning and image patches."""

    def __init__(self, track, actor: ActorModel, side: int, size: int, backend: str = "builtin"):
        self.track, self.actor, self.side, self.size = track, actor, side, size
        self.scale = size / side
        self.renderer = ConditioningRenderer(track, CropBox(0, 0, side), size, backend, actor=actor)

    def samples(self, frames: np.ndarray) -> EyeSamples:
        """Boxes and eye geometry of some frames; invalid frames get boxes at the origin and zero geometry."""
        frames = np.asarray(frames)
        corners = np.zeros((len(frames), 2, 2), np.int64)
        geometry = np.zeros((len(frames), 2, 4), np.float32)
        ok = np.flatnonzero(self.track.valid[frames])
        if len(ok):
            centres, widths, angles = eye_points(self.actor, track_params(self.track, frames[ok]))
            corner = np.round(centres - self.side / 2).astype(np.int64)
            corners[ok] = corner
            local = (centres - corner) * self.scale - 0.5  # pixel i's centre is at i + 0.5 in both; here at i
            geometry[ok] = np.concatenate([local, (widths * self.scale)[..., None], angles[..., None]], -1)
        return EyeSamples(corners, geometry)

    def render(self, frames: np.ndarray, samples: EyeSamples) -> Conditioning:
        """Conditioning of the 2N boxes (frame-major: frame 0 right, frame 0 left, ...)."""
        frames = np.asarray(frames)
        per_eye = [self.renderer.render(frames, shift=samples.corners[:, eye] * self.scale) for eye in range(2)]

        def interleave(field: str) -> torch.Tensor:
            a, b = getattr(per_eye[0], field), getattr(per_eye[1], field)
            return torch.stack([a, b], 1).reshape(-1, *a.shape[1:])

        return Conditioning(*(interleave(f) for f in ("colour", "correspondence", "gaze", "mask")))

    def cut(self, frame: np.ndarray, corners: np.ndarray) -> np.ndarray:
        """The two eye patches (2, S, S, 3) of one frame, given its corners (2, 2)."""
        return np.stack([CropBox(int(x), int(y), self.side).cut(frame, self.size) for x, y in corners])
