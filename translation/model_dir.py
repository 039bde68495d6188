"""A trained model's folder: what it is, its weights, and checks that it fits the footage.

Layout of MODEL_DIR:
  model.json        format and version, the config, the target actor and video, the crop, the split
  checkpoint.pt     the latest training state (weights, optimisers, step, time, history); loads with
                    `torch.load(..., weights_only=True)`: tensors and plain Python values only
  target.track.npz  the target's Track, so the folder is all that inference needs besides the video
  history.json      losses and validation scores per checkpoint (also inside checkpoint.pt)
  loss_curve.png    the training curves; previews/ validation previews; data/ the rendered training set

Every file is written to a hidden temporary name and renamed when complete, so
a run killed at any moment leaves the last complete checkpoint in place.

Which actor: a model only knows the actor (and the shot) it was trained on. The
target's per-vertex albedo from its Track is the fingerprint: the RMS albedo
difference between tracks of the same actor (two halves of one clip, or a half
and the whole) stays well below `SAME_ACTOR_ALBEDO_RMS`, and between different
actors well above it (the formats page gives the ranges measured on the
footage).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from base.atomic import replacing, write_json
from base.errors import DvpError
from base.probe import media_bytes
from reconstruction.topology import NUM_MESH_VERTICES
from translation.config import TranslationConfig

FORMAT = "dvp-model"
VERSION = 1
SAME_ACTOR_ALBEDO_RMS = 0.15
MANIFEST, CHECKPOINT, TRACK = "model.json", "checkpoint.pt", "target.track.npz"


class ModelDirError(DvpError):
    """A model folder that is missing, damaged, of another version, or for another actor."""


def albedo_distance(albedo_a: np.ndarray, albedo_b: np.ndarray) -> float:
    """RMS per-vertex colour difference of two actors' albedo over the face mesh."""
    a, b = np.asarray(albedo_a)[:NUM_MESH_VERTICES], np.asarray(albedo_b)[:NUM_MESH_VERTICES]
    return float(np.sqrt(((a.astype(np.float64) - b) ** 2).sum(-1).mean()))


def write_manifest(folder: Path, config: TranslationConfig, video: Path, track, crop: dict, split: dict) -> None:
    write_json(folder / MANIFEST, {
        "format": FORMAT, "version": VERSION, "config": config.to_dict(),
        "target": {"video": video.name, "video_bytes": media_bytes(video), "frames": len(track),
                   "width": track.header["source"]["width"], "height": track.header["source"]["height"],
                   "fps": track.header["source"]["fps"], "albedo": np.round(track.albedo[:NUM_MESH_VERTICES], 4).tolist()},
        "crop": crop, "split": split,
    })


def read_manifest(folder: str | os.PathLike) -> dict:
    """The model's description, refusing folders that are not dvp models of this version."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise ModelDirError(f"{folder} is not a dvp model folder (no {MANIFEST}); train one with "
                            f"`dvp train TARGET_VIDEO -o {folder}`")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"{path} is damaged ({exc}); train the model again") from exc
    if manifest.get("format") != FORMAT:
        raise ModelDirError(f"{folder} is not a dvp model folder (format {manifest.get('format')!r})")
    if manifest.get("version") != VERSION:
        raise ModelDirError(f"{folder} holds a dvp model of version {manifest.get('version')}, but this dvp reads "
                            f"version {VERSION} only; train the model again with this dvp")
    return manifest


def config_of(manifest: dict) -> TranslationConfig:
    return TranslationConfig.from_dict(manifest["config"])


def check_actor(manifest: dict, track, folder: Path, what: str) -> float:
    """Refuse a track of another actor than the model's target; returns the albedo distance."""
    distance = albedo_distance(np.asarray(manifest["target"]["albedo"]), track.albedo)
    if distance > SAME_ACTOR_ALBEDO_RMS:
        raise ModelDirError(
            f"the model in {folder} was trained on another actor ({manifest['target']['video']}) than {what} "
            f"(albedo difference {distance:.2f}, same actor is below {SAME_ACTOR_ALBEDO_RMS}); "
            f"train a model on this actor with `dvp train`")
    return distance


def save_checkpoint(folder: Path, state: dict) -> None:
    """Write the training state atomically."""
    with replacing(folder / CHECKPOINT) as tmp:
        torch.save(state, tmp)


def load_checkpoint(folder: Path) -> dict | None:
    """The latest training state, or None when training has not reached its first checkpoint."""
    path = Path(folder) / CHECKPOINT
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds here (pickle, zip, runtime): all mean a damaged file
        raise ModelDirError(f"{path} cannot be read ({type(exc).__name__}: {exc}); it is damaged or was not "
                            "written by dvp. Delete it to start training over") from exc
