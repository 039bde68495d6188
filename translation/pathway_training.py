"""Training a feature pathway of a model folder (`dvp train VIDEO -o MODEL --eyes`, or `--mouth`).

The same conditional GAN training as the main network (`translation.training`,
whose loop, checkpoints, previews and resume it shares), on box samples
(`translation.pathways`): `Feature.count` per frame, with the main model's split
in time, so its held-out frames stay held out. It needs the main model's folder
(its track, crop and size) but not its weights: they can be trained in any
order, or side by side.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from base.atomic import write_json
from base.errors import DvpError
from reconstruction.track import load_track
from rendering.crop import CropBox
from translation import model_dir as md
from translation.dataset import take, time_split
from translation.devices import resolve_device
from translation.pathways import Pathway, PathwayData, load_or_build, pathway_inputs
from translation.training import Trainer, TrainOptions, check_request, run_training


class PathwayTrainer(Trainer):
    """The main trainer on box samples: the plate is the degraded patch with the feature's ellipse cut out, and the
    L1 weight is raised inside the ellipse, the only part that is blended back."""

    data: PathwayData

    def __init__(self, pathway: Pathway, *args, **kwargs):
        self.pathway = pathway
        super().__init__(pathway.config, *args, **kwargs)

    def inputs(self, samples: np.ndarray, augment: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        samples = np.asarray(samples)
        window, real = self.on_device(self.data.windows(samples, 1)), self.on_device(self.data.real(samples))
        degraded = self.on_device(take(self.data.degraded, samples))
        geometry = self.on_device(take(self.data.geometry, samples))
        return window, pathway_inputs(window, degraded, geometry, self.pathway.hole_axes), real

    def loss_weights(self, window: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        return 1 + self.config.eye_weight * (inputs[:, -1:].float() / 255)


def samples_of(frames: np.ndarray, count: int) -> np.ndarray:
    """The sample indices of some frames' `count` boxes each, in order."""
    return (count * np.asarray(frames)[:, None] + np.arange(count)).reshape(-1)


def train_pathway(pathway: Pathway, video: str | os.PathLike, model_folder: str | os.PathLike,
                  options: TrainOptions | None = None) -> dict:
    """Train (or continue training) one pathway of the model in `model_folder`; returns a summary."""
    opts = options or TrainOptions()
    video, model = Path(video), Path(model_folder)
    writer_class, max_steps, budget_s = check_request(video, opts, pathway.minutes)
    device = resolve_device(opts.device)
    manifest = md.read_manifest(model)
    if video.name != manifest["target"]["video"]:
        raise DvpError(f"{model} was trained on {manifest['target']['video']}, not {video.name}; train "
                       f"{pathway.called} for it on the same target video")
    folder = model / pathway.folder
    if (folder / md.MANIFEST).is_file() and not opts.resume:
        raise DvpError(f"{model} already has {pathway.called}; pass --resume to continue training it")
    main = md.config_of(manifest)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(".dvp-tmp-*"):
        stale.unlink()
    track = load_track(model / md.TRACK)
    crop = CropBox(**manifest["crop"])
    data, side = load_or_build(pathway, video, track, model / md.TRACK, crop, main.size, folder / "data",
                               opts.rasterizer, opts.show_progress)
    count = pathway.feature.count
    train_frames, held_frames = time_split(track.valid, main.holdout_fraction, main.window)
    train_samples, held = samples_of(train_frames, count), samples_of(held_frames, count)
    if not (folder / md.MANIFEST).is_file():
        split = {"train": [int(train_frames[0]), int(train_frames[-1]), len(train_frames)],
                 "held_out": [int(held_frames[0]), int(held_frames[-1]), len(held_frames)], "gap": main.window,
                 "samples_per_frame": count}
        md.write_manifest(folder, pathway.config, video, track, crop.to_dict(), split)
        description = md.read_manifest(folder)
        description[pathway.name] = {"side": side, "main_size": main.size}
        write_json(folder / md.MANIFEST, description)
    trainer = PathwayTrainer(pathway, data, train_samples, opts.seed, device=device)
    size = pathway.config.size
    title = f"{video.name}, {pathway.name} pathway, {size}x{size} boxes of {side} source pixels"
    last_scores, run = run_training(trainer, folder, held, opts, title, writer_class, max_steps, budget_s)
    return {"model": str(model), pathway.name: str(folder), "side": side, "size": size, "device": str(device),
            "step": trainer.step, "trained_minutes": round(trainer.elapsed / 60, 2), **run,
            "train_samples": len(train_samples), "held_out_samples": len(held),
            "held_out_psnr": round(last_scores["psnr"], 2) if last_scores else None}

