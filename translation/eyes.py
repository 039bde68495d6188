"""The eye pathway: a second, small network that repaints each eye at the source's resolution.

Why: the main network paints a shot crop of 128 to 256 pixels, where an eye is
10 to 20 pixels wide and the iris a few; the gaze it renders is only as good as
those few pixels, and re-tracking its output reads the gaze off them (see the
README: faithfulness). The eye pathway works in eye boxes
(`rendering.eye_boxes`) at about the source's own resolution, after the main
network's output has been composited into the frame.

What it sees, per eye: the eye box's conditioning (colour, correspondence,
gaze map: the driven eye) and a plate, the composited frame's eye box with an
ellipse around the eye cut out. It paints the ellipse (lids, sclera, iris);
only the ellipse, feathered inward, is blended back. In training, the plate
is the real frame as the main network would give it back (resampled down to
its crop size and up again), so the pathway learns to take the surrounding
skin, glasses and lighting from the plate and the eye itself from the
conditioning: the ellipse hides the real eye, so it cannot be copied.

A model folder holds it in `eyes/`, a model folder of its own (same files, same
format), whose `model.json` also records the box side in source pixels. It is
trained after the main network with `dvp train VIDEO -o MODEL --eyes`, and used
by `dvp reenact` and `dvp edit` whenever it is there (`--no-eyes` to leave it out).
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
from rendering.eye_boxes import EyeSamples, EyeView, shot_eye_side
from rendering.spacetime import CONDITIONING_CHANNELS
from translation import model_dir as md
from translation.config import TranslationConfig
from translation.dataset import ShotData, cached_arrays, file_digest, finish_arrays, new_arrays
from translation.inference import Translator
from translation.plate import plate

FOLDER = "eyes"
CACHE_VERSION = 2
C = len(CONDITIONING_CHANNELS)
HOLE_AXES = (0.75, 0.45)  # the repainted ellipse's semi-axes in eye widths, along and across the corner line
FEATHER = 0.2  # inner part of the ellipse (in its radius) over which the blend fades out

# 64 x 64 boxes, one frame of conditioning, a four-level U-Net; L1 weighs 11 inside the hole, 1 around it.
EYE_CONFIG = TranslationConfig(name="eyes", size=64, window=1, depth=4, base_width=32, max_width=256, dropout=0.0,
                               dropout_levels=0, disc_width=32, disc_layers=2, disc_window=1, batch_size=16,
                               eye_weight=10.0, plate=True, checkpoint_every=250)


def ellipse_radius(geometry: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 1, S, S): each pixel's normalised radius in the eye's ellipse, from geometry (B, 4) (see EyeSamples)."""
    g = geometry.float()
    axis = torch.arange(size, dtype=torch.float32, device=g.device)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    dx, dy = x[None] - g[:, 0, None, None], y[None] - g[:, 1, None, None]
    cos, sin = torch.cos(g[:, 3])[:, None, None], torch.sin(g[:, 3])[:, None, None]
    along, across = dx * cos + dy * sin, -dx * sin + dy * cos
    width = g[:, 2, None, None].clamp_min(1.0)
    return torch.sqrt((along / (HOLE_AXES[0] * width)) ** 2 + (across / (HOLE_AXES[1] * width)) ** 2)[:, None]


def eye_holes(geometry: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 1, S, S) float 0/1: the ellipse the pathway repaints; empty for a sample with no eye (zero width)."""
    return ((ellipse_radius(geometry, size) <= 1) & (geometry[:, 2, None, None, None] > 0)).float()


def blend_masks(geometry: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 1, S, S) in [0, 1]: 1 inside the ellipse, fading to 0 at its edge over `FEATHER` of its radius."""
    return ((1 - ellipse_radius(geometry, size)) / FEATHER).clamp(0, 1) * eye_holes(geometry, size)


@dataclass
class EyeData(ShotData):
    """Eye-box samples of one shot, two per frame (right, left), as ShotData: conditioning (2F, 9, S, S) and real
    patches (2F, 3, S, S), plus the plates' source (2F, 3, S, S) and the eye geometry (2F, 4)."""

    degraded: np.ndarray | None = None
    geometry: np.ndarray | None = None


def through_crop(frame: np.ndarray, crop: CropBox, size: int) -> np.ndarray:
    """The frame as the main network would give it back at best: its crop resampled to size x size and back."""
    return crop.paste(frame, crop.cut(frame, size).astype(np.float32), np.ones((size, size), np.float32))


def load_or_build_eyes(video: Path, track, track_path: Path, crop: CropBox, main_size: int, folder: Path,
                       config: TranslationConfig = EYE_CONFIG, rasterizer: str = "auto",
                       show_progress: bool = True) -> tuple[EyeData, int]:
    """The shot's eye samples in `folder` (rendered now unless a complete copy for the same inputs is there), and the
    eye boxes' side in source pixels."""
    actor = actor_from_track(track)
    side = shot_eye_side(track, actor)
    size = config.size
    key = {"version": CACHE_VERSION, "track_sha1": file_digest(track_path), "video": video.name,
           "video_bytes": media_bytes(video), "crop": crop.to_dict(), "main_size": main_size, "side": side,
           "size": size}
    n = 2 * len(track)
    shapes = {"conditioning": (n, C, size, size), "frames": (n, 3, size, size), "degraded": (n, 3, size, size)}
    arrays = cached_arrays(folder, key, shapes)
    if arrays is not None:
        data = EyeData(arrays["conditioning"], arrays["frames"], np.repeat(track.valid, 2), crop, size,
                       arrays["degraded"], np.load(folder / "geometry.npy"))
        return data, side
    reader, temp, arrays = new_arrays(folder, shapes, video, track)
    view = EyeView(track, actor, side, size, resolve(rasterizer))
    samples = view.samples(np.arange(len(track)))
    geometry = samples.geometry.reshape(-1, 4)
    batch = view.renderer.batch_frames // 2
    count, last = 0, None
    with reader:
        for i, frame in enumerate(progress(reader, len(track), "render eye training data", show_progress)):
            if i >= len(track):
                break
            corners = samples.corners[i]
            arrays["frames"][2 * i:2 * i + 2] = view.cut(frame, corners).transpose(0, 3, 1, 2)
            arrays["degraded"][2 * i:2 * i + 2] = view.cut(through_crop(frame, crop, main_size),
                                                            corners).transpose(0, 3, 1, 2)
            count, last = count + 1, i
    for first in range(0, len(track), batch):
        frames = np.arange(first, min(len(track), first + batch))
        arrays["conditioning"][2 * first:2 * (frames[-1] + 1)] = view.render(
            frames, EyeSamples(samples.corners[frames], samples.geometry[frames])).stacked().numpy()
    if last is None:
        raise md.ModelDirError(f"{video} decoded to no frames")
    if count < len(track):  # the video ended a frame early: repeat its last frame's patches
        for name in ("frames", "degraded"):
            arrays[name][2 * count:] = np.tile(arrays[name][2 * last:2 * last + 2], (len(track) - count, 1, 1, 1))
    np.save(folder / ".dvp-tmp-geometry.npy", geometry)
    os.replace(folder / ".dvp-tmp-geometry.npy", folder / "geometry.npy")
    finish_arrays(folder, temp, arrays, key)
    return load_or_build_eyes(video, track, track_path, crop, main_size, folder, config, rasterizer, show_progress)


def eye_inputs(conditioning: torch.Tensor, patches: torch.Tensor, geometry: torch.Tensor) -> torch.Tensor:
    """The pathway's input (B, 13, S, S) uint8: conditioning (B, 9, S, S), and the plate of the patches
    (B, 3, S, S) with the eye's ellipse cut out."""
    return torch.cat([conditioning, plate(patches, eye_holes(geometry, conditioning.shape[-1]))], dim=1)


class EyePathway:
    """A model folder's trained eye pathway, repainting the eyes of composited frames."""

    def __init__(self, model_folder: str | os.PathLike, batch_size: int | None = None,
                 device: torch.device | str = "cpu"):
        folder = Path(model_folder) / FOLDER
        self.net = Translator(folder, batch_size, device=device)
        self.side = int(self.net.manifest["eyes"]["side"])
        self.size = self.net.config.size

    @classmethod
    def of(cls, model_folder: str | os.PathLike, device: torch.device | str = "cpu") -> "EyePathway | None":
        """The model's eye pathway, or None when it has none (or none trained to its first checkpoint)."""
        folder = Path(model_folder) / FOLDER
        if not (folder / md.MANIFEST).is_file() or not (folder / md.CHECKPOINT).is_file():
            return None
        return cls(model_folder, device=device)

    @property
    def step(self) -> int:
        return self.net.step

    def rescale(self, scale: float) -> None:
        """Cut eye boxes for footage `scale` times the size of the model's shot (see `pipeline.reenactment`)."""
        self.side = max(1, round(int(self.net.manifest["eyes"]["side"]) * scale))

    def view(self, track, backend: str = "builtin", actor=None) -> EyeView:
        """Eye boxes of a (driven) performance of the model's actor."""
        return EyeView(track, actor or actor_from_track(track), self.side, self.size, backend)

    def repaint(self, frames: list[np.ndarray], conditioning: torch.Tensor, samples: EyeSamples,
                weights: np.ndarray, view: EyeView) -> list[np.ndarray]:
        """The frames (H, W, 3) uint8 with both eyes repainted, blended by `weights` (N,) in [0, 1].

        `conditioning` (2N, 9, S, S) and `samples` are the eye boxes of the same frames (see EyeView)."""
        patches = torch.from_numpy(np.concatenate([view.cut(f, c) for f, c in zip(frames, samples.corners)])
                                   ).permute(0, 3, 1, 2)
        geometry = torch.from_numpy(samples.geometry.reshape(-1, 4))
        x = eye_inputs(conditioning, patches, geometry)
        painted = self.net(x[:, :C], x[:, C:]).permute(0, 2, 3, 1).numpy().astype(np.float32)
        masks = blend_masks(geometry, self.size)[:, 0].numpy()
        out = []
        for k, frame in enumerate(frames):
            if weights[k] > 0 and masks[2 * k:2 * k + 2].any():
                frame = frame.copy()  # the caller's frame stays as it was; both eyes are blended into the copy
            for eye in range(2):
                s = 2 * k + eye
                if weights[k] > 0 and masks[s].any():
                    box = CropBox(int(samples.corners[k, eye, 0]), int(samples.corners[k, eye, 1]), self.side)
                    frame = box.paste(frame, painted[s], masks[s] * weights[k], in_place=True)
            out.append(frame)
        return out
