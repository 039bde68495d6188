"""`dvp train`: the target's model, from its video; the stage decisions around `translation.training`.

A new model needs the shot's track: given, or made now into the model folder
(where the model keeps it). Its network settings come from a preset, with
overrides; a model being continued keeps its own unless some are given. The
eye pathway is trained into an existing model's folder (`--eyes`).
"""
from __future__ import annotations

import os
from pathlib import Path

from base.errors import DvpError
from pipeline.tracking import TrackOptions, track_video
from translation import model_dir
from translation.config import TranslationConfig, preset
from translation.training import TrainOptions, train

DEFAULT_PRESET = "cpu"


def training_config(folder: Path, preset_name: str | None = None, **overrides) -> TranslationConfig | None:
    """The network settings to train with: the preset (default `DEFAULT_PRESET`) with `overrides` for a new model,
    or when a preset or an override is given; None to continue a model with its own."""
    if preset_name is None and all(v is None for v in overrides.values()) and (folder / model_dir.MANIFEST).is_file():
        return None
    try:
        return preset(preset_name or DEFAULT_PRESET).with_overrides(**overrides)
    except ValueError as exc:
        raise DvpError(str(exc)) from None


def train_model(video: str | os.PathLike, folder: str | os.PathLike, config: TranslationConfig | None,
                track: str | os.PathLike | None = None, options: TrainOptions | None = None,
                face: str | int = "largest") -> dict:
    """Train (or continue) the model of the actor in `video` in `folder`; a new model with no `track` given has the
    video tracked first (following `face`), into the folder. Returns the training summary."""
    options = options or TrainOptions()
    folder = Path(folder)
    if track is not None and face != "largest":
        raise DvpError("--face picks a face when the video is tracked now; the track given with --track already "
                       "follows one (make it with `dvp track VIDEO --face N`)")
    if track is None and not (folder / model_dir.MANIFEST).is_file():
        folder.mkdir(parents=True, exist_ok=True)
        track = folder / model_dir.TRACK
        track_video(video, track, options=TrackOptions(show_progress=options.show_progress, face=face))
    return train(video, folder, config, track, options)

