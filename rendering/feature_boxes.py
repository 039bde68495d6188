"""Feature boxes: small square views of the source frame that follow the eyes, or the mouth, for their pathways.

In the shot crop the network paints, an eye is about a tenth of a face wide
(10 pixels for a 128-pixel crop of a 512-pixel shot, where one degree of gaze
moves the iris by a few hundredths of a pixel) and the mouth a quarter. The
pathways (`translation.pathways`) repaint each feature in its own box at about
the source's resolution. A box is centred on the feature's outline (the middle
of the lids, or of the outer lips), not on the iris, so its position says
nothing about the gaze; its side is `Feature.box` median feature widths of the
shot (corner to corner), whole source pixels, the same for every frame,
resampled to the pathway's size.

For each box and frame the geometry of the feature in box pixels is known too:
its centre, its width and the angle of the line through its corners. The
pathway's hole, the ellipse it repaints, is drawn from that.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from reconstruction.fitting import ActorModel, track_params
from rendering.conditioning import Conditioning, ConditioningRenderer
from rendering.crop import CropBox


@dataclass(frozen=True)
class Feature:
    """A facial feature that boxes follow: per box, the model regions outlining it (an upper and a lower contour,
    each from corner to corner), and the box side in feature widths."""

    name: str
    outlines: tuple[tuple[str, str], ...]
    box: float

    @property
    def count(self) -> int:
        """Boxes per frame."""
        return len(self.outlines)


EYES = Feature("eyes", (("right_upper_lid", "right_lower_lid"), ("left_upper_lid", "left_lower_lid")), 2.0)
MOUTH = Feature("mouth", (("lips_outer_upper", "lips_outer_lower"),), 1.6)


def _outlines(actor: ActorModel, feature: Feature) -> list[np.ndarray]:
    """Each box's outline vertices: the upper contour from corner to corner, then the lower."""
    return [np.concatenate([actor.model.topology.region(upper), actor.model.topology.region(lower)])
            for upper, lower in feature.outlines]


def feature_points(actor: ActorModel, params, feature: Feature) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame and box, in source pixels: outline centres (B, K, 2), widths (B, K) and corner-line angles (B, K)."""
    px = actor.camera.project(actor.camera_points(params))
    centres, widths, angles = [], [], []
    for outline in _outlines(actor, feature):
        pts = px[:, outline]
        corner_a, corner_b = px[:, outline[0]], px[:, outline[len(outline) // 2 - 1]]  # the upper contour's ends
        d = corner_b - corner_a
        centres.append(pts.mean(1))
        widths.append(np.linalg.norm(d, axis=-1))
        angles.append(np.arctan2(d[:, 1], d[:, 0]))
    return np.stack(centres, 1), np.stack(widths, 1), np.stack(angles, 1)


def shot_side(track, actor: ActorModel, feature: Feature) -> int:
    """The feature boxes' side in source pixels: `feature.box` median feature widths over the shot's valid frames,
    even."""
    valid = np.flatnonzero(track.valid)
    if len(valid) == 0:
        raise ValueError(f"the track has no valid frame to measure the {feature.name} on")
    _, widths, _ = feature_points(actor, track_params(track, valid[::max(1, len(valid) // 200)]), feature)
    return int(2 * np.ceil(feature.box * float(np.median(widths)) / 2))


@dataclass
class FeatureSamples:
    """Where the boxes of some frames are: `Feature.count` samples per frame (for the eyes, right then left)."""

    corners: np.ndarray  # (N, K, 2) int: each box's top-left corner in source pixels
    geometry: np.ndarray  # (N, K, 4) float32: feature centre x, y, width (box pixels) and corner-line angle (radians)


class FeatureView:
    """The boxes of one feature of a tracked (or driven) performance: their geometry, conditioning and patches."""

    def __init__(self, track, actor: ActorModel, feature: Feature, side: int, size: int, backend: str = "builtin"):
        self.track, self.actor, self.feature, self.side, self.size = track, actor, feature, side, size
        self.scale = size / side
        self.renderer = ConditioningRenderer(track, CropBox(0, 0, side), size, backend, actor=actor)

    def samples(self, frames: np.ndarray) -> FeatureSamples:
        """Boxes and geometry of some frames; invalid frames get boxes at the origin and zero geometry."""
        frames = np.asarray(frames)
        k = self.feature.count
        corners = np.zeros((len(frames), k, 2), np.int64)
        geometry = np.zeros((len(frames), k, 4), np.float32)
        ok = np.flatnonzero(self.track.valid[frames])
        if len(ok):
            centres, widths, angles = feature_points(self.actor, track_params(self.track, frames[ok]), self.feature)
            corner = np.round(centres - self.side / 2).astype(np.int64)
            corners[ok] = corner
            local = (centres - corner) * self.scale - 0.5  # pixel i's centre is at i + 0.5 in both; here at i
            geometry[ok] = np.concatenate([local, (widths * self.scale)[..., None], angles[..., None]], -1)
        return FeatureSamples(corners, geometry)

    def render(self, frames: np.ndarray, samples: FeatureSamples) -> Conditioning:
        """Conditioning of the K N boxes (frame-major: for the eyes frame 0 right, frame 0 left, ...)."""
        frames = np.asarray(frames)
        per_box = [self.renderer.render(frames, shift=samples.corners[:, k] * self.scale)
                   for k in range(self.feature.count)]

        def interleave(field: str) -> torch.Tensor:
            parts = [getattr(box, field) for box in per_box]
            return torch.stack(parts, 1).reshape(-1, *parts[0].shape[1:])

        return Conditioning(*(interleave(f) for f in ("colour", "correspondence", "gaze", "mask")))

    def cut(self, frame: np.ndarray, corners: np.ndarray) -> np.ndarray:
        """The patches (K, S, S, 3) of one frame, given its corners (K, 2)."""
        return np.stack([CropBox(int(x), int(y), self.side).cut(frame, self.size) for x, y in corners])
