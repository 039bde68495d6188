"""Feature pathways: small networks that repaint the eyes, or the mouth, at about the source's resolution.

Why: the main network paints a shot crop of 128 to 256 pixels, where an eye is
10 to 20 pixels wide and the iris a few, and the mouth, where a dub is judged,
about 25 to 50; the gaze, teeth and lips it renders are only as good as those
few pixels. A pathway works in boxes that follow its feature
(`rendering.feature_boxes`) at about the source's own resolution, after the
main network's output has been composited into the frame.

What it sees, per box: the box's conditioning (colour, correspondence, gaze
map: the driven feature) and a plate, the composited frame's box with an
ellipse around the feature cut out. It paints the ellipse (for the eyes lids,
sclera and iris; for the mouth lips, teeth, tongue and the skin around them);
only the ellipse, feathered inward, is blended back. In training, the plate is
the real frame as the main network would give it back (resampled down to its
crop size and up again), so the pathway learns to take the surrounding skin,
glasses and lighting from the plate and the feature itself from the
conditioning: the ellipse hides the real feature, so it cannot be copied.

A model folder holds each pathway in a folder of its own (`eyes/`, `mouth/`),
a model folder itself (same files, same format), whose `model.json` also
records the box side in source pixels. Each is trained after the main network
with `dvp train VIDEO -o MODEL --eyes` or `--mouth`, and used by `dvp reenact`
and `dvp edit` whenever it is there (`--no-eyes`, `--no-mouth` to leave it out).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from base.probe import media_bytes
from base.progress import progress
from reconstruction.fitting import actor_from_track
from rendering.backends import resolve
from rendering.crop import CropBox
from rendering.feature_boxes import EYES, MOUTH, Feature, FeatureSamples, FeatureView, shot_side
from rendering.spacetime import CONDITIONING_CHANNELS
from translation import model_dir as md
from translation.config import TranslationConfig
from translation.dataset import ShotData, cached_arrays, file_digest, finish_arrays, new_arrays
from translation.inference import Translator
from translation.plate import plate

CACHE_VERSION = 2
C = len(CONDITIONING_CHANNELS)
FEATHER = 0.2  # inner part of the ellipse (in its radius) over which the blend fades out


@dataclass(frozen=True)
class Pathway:
    """One kind of pathway: the feature its boxes follow, the ellipse it repaints (semi-axes in feature widths,
    along and across the corner line), and its network."""

    feature: Feature
    hole_axes: tuple[float, float]
    config: TranslationConfig
    minutes: float  # default training time
    called: str  # how messages name one: "an eye pathway"

    @property
    def name(self) -> str:
        return self.feature.name

    @property
    def folder(self) -> str:
        """The pathway's folder inside a model folder."""
        return self.feature.name


# 64 x 64 boxes, one frame of conditioning, a four-level U-Net; L1 weighs 11 inside the hole, 1 around it.
EYE_PATHWAY = Pathway(EYES, (0.75, 0.45), TranslationConfig(
    name="eyes", size=64, window=1, depth=4, base_width=32, max_width=256, dropout=0.0, dropout_levels=0,
    disc_width=32, disc_layers=2, disc_window=1, batch_size=16, eye_weight=10.0, plate=True, checkpoint_every=250),
    minutes=10, called="an eye pathway")
# 128 x 128 boxes of 1.6 mouth widths (a mouth about 80 box pixels wide), an ellipse that holds the lips wide open;
# resize upsampling, so that teeth come without a checkerboard.
MOUTH_PATHWAY = Pathway(MOUTH, (0.75, 0.65), TranslationConfig(
    name="mouth", size=128, window=1, depth=5, base_width=32, max_width=256, dropout=0.0, dropout_levels=0,
    upsample="resize", disc_width=32, disc_layers=3, disc_window=1, batch_size=8, eye_weight=10.0, plate=True,
    checkpoint_every=250), minutes=20, called="a mouth pathway")
PATHWAYS = {p.name: p for p in (EYE_PATHWAY, MOUTH_PATHWAY)}


def ellipse_radius(geometry: torch.Tensor, size: int, axes: tuple[float, float]) -> torch.Tensor:
    """(B, 1, S, S): each pixel's normalised radius in the feature's ellipse, from geometry (B, 4) (see
    `FeatureSamples`) and the ellipse's semi-axes `axes` in feature widths."""
    g = geometry.float()
    axis = torch.arange(size, dtype=torch.float32, device=g.device)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    dx, dy = x[None] - g[:, 0, None, None], y[None] - g[:, 1, None, None]
    cos, sin = torch.cos(g[:, 3])[:, None, None], torch.sin(g[:, 3])[:, None, None]
    along, across = dx * cos + dy * sin, -dx * sin + dy * cos
    width = g[:, 2, None, None].clamp_min(1.0)
    return torch.sqrt((along / (axes[0] * width)) ** 2 + (across / (axes[1] * width)) ** 2)[:, None]


def holes(geometry: torch.Tensor, size: int, axes: tuple[float, float]) -> torch.Tensor:
    """(B, 1, S, S) float 0/1: the ellipse the pathway repaints; empty for a sample with no feature (zero width)."""
    return ((ellipse_radius(geometry, size, axes) <= 1) & (geometry[:, 2, None, None, None] > 0)).float()


def blend_masks(geometry: torch.Tensor, size: int, axes: tuple[float, float]) -> torch.Tensor:
    """(B, 1, S, S) in [0, 1]: 1 inside the ellipse, fading to 0 at its edge over `FEATHER` of its radius."""
    return ((1 - ellipse_radius(geometry, size, axes)) / FEATHER).clamp(0, 1) * holes(geometry, size, axes)


@dataclass
class PathwayData(ShotData):
    """Box samples of one shot, `Feature.count` per frame, as ShotData: conditioning (KF, 9, S, S) and real
    patches (KF, 3, S, S), plus the plates' source (KF, 3, S, S) and the feature geometry (KF, 4)."""

    degraded: np.ndarray | None = None
    geometry: np.ndarray | None = None


def through_crop(frame: np.ndarray, crop: CropBox, size: int) -> np.ndarray:
    """The frame as the main network would give it back at best: its crop resampled to size x size and back."""
    return crop.paste(frame, crop.cut(frame, size).astype(np.float32), np.ones((size, size), np.float32))


def load_or_build(pathway: Pathway, video: Path, track, track_path: Path, crop: CropBox, main_size: int,
                  folder: Path, rasterizer: str = "auto", show_progress: bool = True) -> tuple[PathwayData, int]:
    """The shot's box samples in `folder` (rendered now unless a complete copy for the same inputs is there), and
    the boxes' side in source pixels."""
    actor = actor_from_track(track)
    feature, size = pathway.feature, pathway.config.size
    side = shot_side(track, actor, feature)
    key = {"version": CACHE_VERSION, "track_sha1": file_digest(track_path), "video": video.name,
           "video_bytes": media_bytes(video), "crop": crop.to_dict(), "main_size": main_size, "side": side,
           "size": size}
    k = feature.count
    n = k * len(track)
    shapes = {"conditioning": (n, C, size, size), "frames": (n, 3, size, size), "degraded": (n, 3, size, size)}
    arrays = cached_arrays(folder, key, shapes)
    if arrays is not None:
        data = PathwayData(arrays["conditioning"], arrays["frames"], np.repeat(track.valid, k), crop, size,
                           arrays["degraded"], np.load(folder / "geometry.npy"))
        return data, side
    reader, temp, arrays = new_arrays(folder, shapes, video, track)
    view = FeatureView(track, actor, feature, side, size, resolve(rasterizer))
    samples = view.samples(np.arange(len(track)))
    geometry = samples.geometry.reshape(-1, 4)
    batch = max(1, view.renderer.batch_frames // k)
    count, last = 0, None
    with reader:
        for i, frame in enumerate(progress(reader, len(track), f"render {feature.name} training data",
                                           show_progress)):
            if i >= len(track):
                break
            corners = samples.corners[i]
            arrays["frames"][k * i:k * i + k] = view.cut(frame, corners).transpose(0, 3, 1, 2)
            arrays["degraded"][k * i:k * i + k] = view.cut(through_crop(frame, crop, main_size),
                                                            corners).transpose(0, 3, 1, 2)
            count, last = count + 1, i
    for first in range(0, len(track), batch):
        frames = np.arange(first, min(len(track), first + batch))
        arrays["conditioning"][k * first:k * (frames[-1] + 1)] = view.render(
            frames, FeatureSamples(samples.corners[frames], samples.geometry[frames])).stacked().numpy()
    if last is None:
        raise md.ModelDirError(f"{video} decoded to no frames")
    if count < len(track):  # the video ended a frame early: repeat its last frame's patches
        for name in ("frames", "degraded"):
            arrays[name][k * count:] = np.tile(arrays[name][k * last:k * last + k], (len(track) - count, 1, 1, 1))
    np.save(folder / ".dvp-tmp-geometry.npy", geometry)
    os.replace(folder / ".dvp-tmp-geometry.npy", folder / "geometry.npy")
    finish_arrays(folder, temp, arrays, key)
    return load_or_build(pathway, video, track, track_path, crop, main_size, folder, rasterizer, show_progress)


def pathway_inputs(conditioning: torch.Tensor, patches: torch.Tensor, geometry: torch.Tensor,
                   axes: tuple[float, float]) -> torch.Tensor:
    """A pathway's input (B, 13, S, S) uint8: conditioning (B, 9, S, S), and the plate of the patches
    (B, 3, S, S) with the feature's ellipse cut out."""
    return torch.cat([conditioning, plate(patches, holes(geometry, conditioning.shape[-1], axes))], dim=1)


class TrainedPathway:
    """A model folder's trained pathway, repainting its feature in composited frames."""

    def __init__(self, pathway: Pathway, model_folder: str | os.PathLike, batch_size: int | None = None,
                 device: torch.device | str = "cpu"):
        self.pathway = pathway
        self.net = Translator(Path(model_folder) / pathway.folder, batch_size, device=device)
        self.stored_side = int(self.net.manifest[pathway.name]["side"])
        self.side = self.stored_side
        self.size = self.net.config.size

    @classmethod
    def of(cls, pathway: Pathway, model_folder: str | os.PathLike,
           device: torch.device | str = "cpu") -> TrainedPathway | None:
        """The model's pathway of this kind, or None when it has none (or none trained to its first checkpoint)."""
        folder = Path(model_folder) / pathway.folder
        if not (folder / md.MANIFEST).is_file() or not (folder / md.CHECKPOINT).is_file():
            return None
        return cls(pathway, model_folder, device=device)

    @property
    def step(self) -> int:
        return self.net.step

    def rescale(self, scale: float) -> None:
        """Cut boxes for footage `scale` times the size of the model's shot (see `pipeline.job`)."""
        self.side = max(1, round(self.stored_side * scale))

    def view(self, track, backend: str = "builtin", actor=None) -> FeatureView:
        """The boxes of a (driven) performance of the model's actor."""
        return FeatureView(track, actor or actor_from_track(track), self.pathway.feature, self.side, self.size,
                           backend)

    def repaint_rows(self, view: FeatureView, frames: list[np.ndarray], rows: np.ndarray, shown: np.ndarray,
                     fade: np.ndarray) -> list[np.ndarray]:
        """A batch of `frames` with the feature repainted in its `rows`, which show output frames `shown[rows]` of
        `view`'s performance, blended by those frames' `fade`."""
        if not len(rows):
            return frames
        frames, index = list(frames), shown[rows]
        samples = view.samples(index)
        repainted = self.repaint([frames[k] for k in rows], view.render(index, samples).stacked(), samples,
                                 fade[index], view)
        for r, k in enumerate(rows):
            frames[k] = repainted[r]
        return frames

    def repaint(self, frames: list[np.ndarray], conditioning: torch.Tensor, samples: FeatureSamples,
                weights: np.ndarray, view: FeatureView) -> list[np.ndarray]:
        """The frames (H, W, 3) uint8 with the feature repainted, blended by `weights` (N,) in [0, 1].

        `conditioning` (KN, 9, S, S) and `samples` are the boxes of the same frames (see `FeatureView`)."""
        k, axes = self.pathway.feature.count, self.pathway.hole_axes
        patches = torch.from_numpy(np.concatenate([view.cut(f, c) for f, c in zip(frames, samples.corners)])
                                   ).permute(0, 3, 1, 2)
        geometry = torch.from_numpy(samples.geometry.reshape(-1, 4))
        x = pathway_inputs(conditioning, patches, geometry, axes)
        painted = self.net(x[:, :C], x[:, C:]).permute(0, 2, 3, 1).numpy().astype(np.float32)
        masks = blend_masks(geometry, self.size, axes)[:, 0].numpy()
        out = []
        for i, frame in enumerate(frames):
            if weights[i] > 0 and masks[k * i:k * i + k].any():
                frame = frame.copy()  # the caller's frame stays as it was; every box is blended into the copy
            for box in range(k):
                s = k * i + box
                if weights[i] > 0 and masks[s].any():
                    crop = CropBox(int(samples.corners[i, box, 0]), int(samples.corners[i, box, 1]), self.side)
                    frame = crop.paste(frame, painted[s], masks[s] * weights[i], in_place=True)
            out.append(frame)
        return out
