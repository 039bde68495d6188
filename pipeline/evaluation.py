"""`dvp evaluate`: self-reenactment of the held-out part of the target video, against baselines.

The model re-renders the frames it never saw in training (the last part of the
target video, see `translation.dataset.time_split`) from their own tracked
parameters, and the result is compared with the real frames. In the same run
two baselines are scored on the same frames:

- nearest neighbour: the real training frame whose tracked parameters are
  closest (head rotation and translation, expression, gaze; each dimension
  standardised over the training frames and each of the four groups weighted
  equally). It is what retrieval-based reenactment would show, and what a
  network has to beat to be worth its training;
- window 1: the model's N_w = 1 ablation, when one was trained (`dvp train
  --window 1`, given with `--ablation`). Without one, a substitute: the same
  model fed a window whose past frames all repeat the current one, which
  measures how much the model's output relies on the motion in its window.

Measures (see `base.metrics`): PSNR and SSIM over the whole crop ("face
crop") and over a box around the lips ("mouth": the fitted lips' bounding box
in each frame, grown by a quarter on each side), PSNR over the head region
("head": the rendered face grown by 0.3 face sizes, the hole of
`translation.plate` and the part the compositing replaces; the one to compare
between a model with a plate, which is handed everything outside it, and one
without), flicker over consecutive frames (of the whole crop, of the head region
and of the mouth box, where a dub flickers), and in the head region the sharpness
ratio (1: as sharp as the real frame) and the checkerboard score (0: no more
period-2 pattern than the real frame). The preview video shows conditioning |
output | real for every held-out frame.
"""
from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from base.atomic import write_json
from base.errors import DvpError
from base.metrics import checkerboard_score, flicker, psnr, sharpness_ratio, ssim
from base.probe import media_bytes
from base.progress import progress
from base.reading import VideoReader
from base.writing import VideoWriter
from reconstruction.fitting import actor_from_track, track_params
from reconstruction.track import load_track
from rendering.spacetime import CONDITIONING_CHANNELS
from translation.dataset import ShotData, load_or_build, time_split
from translation.devices import resolve_device
from translation.inference import Translator
from translation.plate import hole, rendered_face

MOUTH_MARGIN = 0.25
MIN_MOUTH_BOX = 16  # pixels: SSIM needs 11 x 11 at least
METHODS = ("model", "nearest_neighbour", "window_1")


def parameter_features(track, frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-frame parameter vectors, standardised over the `reference` frames, four groups weighted equally."""
    groups = [track.rotation.reshape(len(track), -1), track.translation, track.expression, track.gaze.reshape(len(track), -1)]
    parts = []
    for g in groups:
        g = g.astype(np.float64)
        mean, std = g[reference].mean(0), g[reference].std(0) + 1e-6
        parts.append((g[frames] - mean) / std / np.sqrt(g.shape[1]))
    return np.concatenate(parts, axis=1)


def nearest_training_frames(track, train: np.ndarray, held: np.ndarray) -> np.ndarray:
    """For each held-out frame, the training frame with the closest parameters."""
    a, b = parameter_features(track, held, train), parameter_features(track, train, train)
    d = (a ** 2).sum(1)[:, None] - 2 * a @ b.T + (b ** 2).sum(1)[None, :]
    return train[d.argmin(1)]


def mouth_boxes(track, frames: np.ndarray, data: ShotData) -> np.ndarray:
    """(N, 4) x0, y0, x1, y1 of the lips in the crop at the network's size."""
    actor = actor_from_track(track)
    camera = data.crop.camera(actor.camera, data.size)
    lips = actor.model.topology.region("lips")
    px = camera.project(actor.camera_points(track_params(track, frames))[:, lips])
    lo, hi = px.min(1), px.max(1)
    grow = np.maximum((hi - lo) * MOUTH_MARGIN, (MIN_MOUTH_BOX - (hi - lo)) / 2)
    lo, hi = np.floor(lo - grow), np.ceil(hi + grow)
    boxes = np.concatenate([lo, hi], axis=1).astype(int)
    return np.clip(boxes, 0, data.size)


def _scores(outputs: torch.Tensor, real: torch.Tensor, boxes: np.ndarray, consecutive: np.ndarray,
            heads: torch.Tensor) -> dict:
    mouth_psnr, mouth_ssim = [], []
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        if min(x1 - x0, y1 - y0) < MIN_MOUTH_BOX:
            continue  # the mouth is out of the crop in this frame
        o, r = outputs[i:i + 1, :, y0:y1, x0:x1], real[i:i + 1, :, y0:y1, x0:x1]
        mouth_psnr.append(float(psnr(o, r)))
        mouth_ssim.append(float(ssim(o, r)))
    flick = flicker(outputs, real)[consecutive]
    mouths = torch.zeros_like(heads)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        mouths[i, :, y0:y1, x0:x1] = 1
    flick_head = flicker(outputs, real, heads)[consecutive]
    flick_mouth = flicker(outputs, real, mouths)[consecutive]
    squared = ((outputs.double() - real.double()) ** 2 * heads).flatten(1).sum(1)
    head_mse = squared / (heads.flatten(1).sum(1) * outputs.shape[1]).clamp_min(1)
    return {"psnr_face": float(psnr(outputs, real).mean()), "ssim_face": float(ssim(outputs, real).mean()),
            "psnr_head": float((10 * torch.log10(255.0 ** 2 / head_mse.clamp_min(1e-10))).mean()),
            "psnr_mouth": float(np.mean(mouth_psnr)), "ssim_mouth": float(np.mean(mouth_ssim)),
            "flicker": float(flick.mean()) if len(flick) else None,
            "flicker_head": float(np.nanmean(flick_head.numpy())) if len(flick_head) else None,
            "flicker_mouth": float(np.nanmean(flick_mouth.numpy())) if len(flick_mouth) else None,
            "sharpness": float(np.nanmean(sharpness_ratio(outputs, real, heads).numpy())),
            "checkerboard": float(checkerboard_score(outputs, real, heads).mean())}


def _panel(image: torch.Tensor, scale: int, label: str) -> np.ndarray:
    rgb = image.permute(1, 2, 0).contiguous().numpy()
    if scale > 1:
        rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    cv2.putText(rgb, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return rgb


def evaluate(model_folder: str | os.PathLike, video: str | os.PathLike, report: str | os.PathLike | None = None,
             preview: str | os.PathLike | None = None, ablation: str | os.PathLike | None = None,
             show_progress: bool = True, device: str = "auto") -> dict:
    """Score the model on the held-out frames of its target video; returns the report."""
    started = time.perf_counter()
    folder, video = Path(model_folder), Path(video)
    if not video.exists():
        raise DvpError(f"target video {video} does not exist")
    runs_on = resolve_device(device)
    translator = Translator(folder, device=runs_on)
    manifest, config = translator.manifest, translator.config
    track = load_track(translator.track_path)
    if media_bytes(video) != manifest["target"]["video_bytes"]:
        raise DvpError(f"{video} is not the video the model in {folder} was trained on "
                       f"({manifest['target']['video']}); held-out frames are only defined for that video")
    info = VideoReader(video)
    track.check_video(video, info.width, info.height, info.frame_count)
    data = load_or_build(video, track, translator.track_path, config.size, folder / "data", show_progress=show_progress)
    train, held = time_split(data.valid, config.holdout_fraction, config.window)
    if ablation is not None:
        window_1 = Translator(ablation, device=runs_on)
        if window_1.manifest["target"]["video_bytes"] != manifest["target"]["video_bytes"] or \
                window_1.config.size != config.size or window_1.config.holdout_fraction != config.holdout_fraction:
            raise DvpError(f"the ablation model {ablation} was not trained on the same video, size and split as "
                           f"{folder}; train it with `dvp train ... --preset {config.name} --window 1`")
        window_1_kind = f"ablation model (window {window_1.config.window}, step {window_1.step})"
    else:
        window_1 = None
        window_1_kind = "substitute: this model with every past frame of its window replaced by the current one"
    nearest = nearest_training_frames(track, train, held)
    boxes = mouth_boxes(track, held, data)
    consecutive = np.diff(held) == 1
    preview_path = Path(preview) if preview else folder / "evaluation.mp4"
    scale = max(1, 256 // config.size)
    outputs = {m: [] for m in METHODS}
    reals, heads = [], []
    fps = Fraction(manifest["target"]["fps"])
    with VideoWriter(preview_path, fps, 3 * config.size * scale, config.size * scale) as writer:
        batches = range(0, len(held), config.batch_size)
        for start in progress(batches, len(batches), "evaluate", show_progress):
            frames = held[start:start + config.batch_size]
            windows = data.windows(frames, config.window)
            real = data.real(frames)
            current = windows[:, -len(CONDITIONING_CHANNELS):]
            faces = [rendered_face(current)]  # self-reenactment: the hole is the frame's own head
            heads.append(hole(faces))
            out = translator(windows, translator.plates(real, faces))
            if window_1 is not None:
                single = window_1(data.windows(frames, window_1.config.window), window_1.plates(real, faces))
            else:
                single = translator(current.repeat(1, config.window, 1, 1), translator.plates(real, faces))
            outputs["model"].append(out)
            outputs["window_1"].append(single)
            outputs["nearest_neighbour"].append(data.real(nearest[start:start + config.batch_size]))
            reals.append(real)
            for k in range(len(frames)):
                colour = windows[k, -len(CONDITIONING_CHANNELS):][:3]
                writer.write(np.concatenate([_panel(colour, scale, "conditioning"),
                                             _panel(out[k], scale, "output"),
                                             _panel(real[k], scale, f"real {frames[k]}")], axis=1))
    real = torch.cat(reals)
    heads = torch.cat(heads)
    methods = {m: _scores(torch.cat(outputs[m]), real, boxes, consecutive, heads) for m in METHODS}
    methods["window_1"]["kind"] = window_1_kind
    result = {"model": str(folder), "video": video.name, "step": translator.step, "device": str(runs_on),
              "preset": config.name,
              "size": config.size, "window": config.window, "held_out_frames": [int(held[0]), int(held[-1]), len(held)],
              "training_frames": len(train), "methods": methods, "preview": str(preview_path),
              "seconds": round(time.perf_counter() - started, 1)}
    if report is not None:
        write_json(report, result)
    return result
