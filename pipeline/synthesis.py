"""From a driven performance of the target actor to finished frames: render, translate, composite, encode.

Shared by `dvp reenact` and `dvp edit`. Per output frame: the conditioning of
the driven parameters is rendered in the model's shot crop and pushed through
the space-time window, the network paints the crop, and the crop is blended
into the target frame it sits on (see `pipeline.compositing`). Frames whose only
change is the gaze (`Performance.eyes_only`, from gaze-only edits) skip the
network: the gaze warp turns the target frame's own eyeballs (in painted frames,
inside the head as the network painted it: `pipeline.painted_head`). The network is
conditioned on the asked head pose corrected by what a pilot pass of the same
job showed it paints (see `pipeline.pose_calibration`). A per-frame
`fade` in [0, 1] scales the blend: 0 passes the target frame through untouched
(bit-exact before encoding) and skips the network altogether. Frames are
processed in batches and streamed from and to disk, so memory does not depend
on the length of the shot. A shot with more than 8 bits per component, written
to ProRes or PNG, is read at 16 bits, and a shot with non-square pixels at its
stored size: the work is done at 8 bits on square pixels, and only what it
changed is applied to the shot's own frame (`pipeline.plates.Plates`), so the
pixels it left alone keep their depth and the output its pixel geometry.
"""
from __future__ import annotations

import contextlib
import resource
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from pipeline.compositing import CompositeSettings, Compositor
from pipeline.eyeball_warp import EyeOpenings, redirect_eyes
from pipeline.gaze_calibration import GazeCalibration, calibrate_gaze, given_gain
from pipeline.painted_head import PaintedHead
from pipeline.pose_calibration import PoseCalibration, calibrate_pose
from pipeline.progress import progress
from pipeline.transfer import Performance
from pipeline.plates import Plates
from pipeline.video import VideoReader, VideoWriter, frames_in_order, open_output
from reconstruction.fitting import actor_from_track, track_params
from rendering.backends import resolve
from rendering.conditioning import ConditioningRenderer
from rendering.crop import CropBox
from rendering.spacetime import SpaceTimeWindows
from translation.eyes import EyePathway
from translation.inference import Translator

PREVIEW_HEIGHT = 360
BATCH_FRAME_BYTES = 256 * 2**20  # target frames held per batch: 43 at 1080p, 10 at 4K, 3 at 4K with 16-bit plates


@dataclass
class SynthesisOptions:
    fmt: str = "mp4"  # mp4 | prores | png
    audio: Path | None = None
    timecode: str | None = None
    rasterizer: str = "auto"
    show_progress: bool = True
    composite: CompositeSettings = field(default_factory=CompositeSettings)
    gaze_warp: bool = True  # turn the target frame's own eyeballs to the intended gaze (see pipeline.eyeball_warp)
    gaze_gain: float | None = None  # share of a yaw turn the tracker reads; None: measure it on the target
    pose_calibration: bool = True  # measure by a pilot pass how much of the asked head pose the model paints
    stage: str = "synthesise"  # the progress bar's label
    draft: bool = False  # an output only to be tracked (a pilot pass): H.264 encoded fast
    keep_depth: bool = True  # a target of more than 8 bits keeps them in ProRes and PNG (see pipeline.video)


def gaze_calibration_for(performance: Performance, target_track, target_video: Path, fade: np.ndarray,
                         options: SynthesisOptions, scratch: Path) -> GazeCalibration:
    """The tracker's yaw gain for the gaze warp: given, measured on the target (only when some synthesised frame
    turns the eyes sideways), or 1."""
    if not options.gaze_warp:
        return GazeCalibration(note="no gaze warp")
    if options.gaze_gain is not None:
        return given_gain(options.gaze_gain)
    wanted = performance.track.gaze[:, :, 0] - target_track.gaze[performance.target_frames, :, 0]
    turning = (fade > 0) & performance.track.valid & (np.abs(wanted).max(1) > np.radians(0.5))
    if not turning.any():
        return GazeCalibration(note="no sideways gaze change asked")
    return calibrate_gaze(target_video, target_track, scratch, options.show_progress)


def _pose_calibration(performance: Performance, translator: Translator, crop: CropBox, target_track,
                      target_video: Path, fade: np.ndarray, options: SynthesisOptions,
                      scratch: Path) -> PoseCalibration:
    """The model's painted-against-asked head pose law, from a pilot pass of this job (see
    `pipeline.pose_calibration`), or the identity when switched off."""
    if not options.pose_calibration:
        return PoseCalibration(note="switched off")
    pilot_options = replace(options, fmt="mp4", audio=None, timecode=None, gaze_warp=False, pose_calibration=False,
                            stage="pose pilot", draft=True)

    def pilot(part: Performance, video: Path) -> None:
        synthesise(part, translator, crop, target_track, target_video, video, pilot_options)

    return calibrate_pose(performance, target_track, fade, pilot, scratch, lead_in=translator.config.window - 1)


def fit_height(image: np.ndarray, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    width = max(2, int(round(w * height / h / 2)) * 2)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_LINEAR)


class SideBySide:
    """A preview video of labelled panels side by side (each `PREVIEW_HEIGHT` high at most), opened at the first
    row; as a context manager it is discarded, not left half-written, when the job fails."""

    def __init__(self, path: Path | None, fps, frame_height: int, labels: tuple[str, ...]):
        self.path, self.fps, self.labels = path, fps, labels
        self.height = min(PREVIEW_HEIGHT, frame_height) // 2 * 2
        self._writer: VideoWriter | None = None

    def write(self, images: list[np.ndarray]) -> None:
        if self.path is None:
            return
        panels = [fit_height(image, self.height) for image in images]
        for panel, label in zip(panels, self.labels):
            cv2.putText(panel, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        row = np.concatenate(panels, axis=1)
        if self._writer is None:
            self._writer = VideoWriter(self.path, self.fps, row.shape[1], row.shape[0])
        if row.shape[1] != self._writer.width:
            row = cv2.resize(row, (self._writer.width, self._writer.height))
        self._writer.write(row)

    def __enter__(self) -> "SideBySide":
        return self

    def __exit__(self, kind, value, trace) -> None:
        if self._writer is not None:
            if kind is None:
                self._writer.close()
            else:
                self._writer.__exit__(RuntimeError, None, None)  # discard the half-written preview


def synthesise(performance: Performance, translator: Translator, crop: CropBox, target_track, target_video: Path,
               output: Path, options: SynthesisOptions, fade: np.ndarray | None = None,
               preview: Path | None = None, preview_left: Iterator[np.ndarray] | None = None,
               preview_labels: tuple[str, str, str] = ("source", "conditioning", "output"),
               eyes: EyePathway | None = None) -> dict:
    """Write the output video (and optionally a side-by-side preview); returns statistics. With `eyes`, the
    model's eye pathway repaints both eyes of every synthesised frame after compositing."""
    started = time.perf_counter()
    size, n = translator.config.size, len(performance.track)
    fade = np.ones(n) if fade is None else np.asarray(fade, dtype=np.float64)
    eyes_only = np.zeros(n, bool)
    if options.gaze_warp and performance.eyes_only is not None:
        eyes_only = np.asarray(performance.eyes_only, bool)
    painted_fade = np.where(eyes_only, 0.0, fade)  # the frames the network paints
    actor = actor_from_track(target_track)
    backend = resolve(options.rasterizer)
    original = ConditioningRenderer(target_track, crop, size, backend, actor=actor)
    compositor = Compositor(crop, size, options.composite)
    openings = EyeOpenings.of(actor)
    windows = SpaceTimeWindows(translator.config.window)
    info = VideoReader(target_video)
    fps, height = info.fps, info.height
    plate_format = Plates.of(info.info, options.fmt, options.keep_depth, options.draft)
    batch_size = max(1, min(original.batch_frames, translator.batch_size * 4,
                            BATCH_FRAME_BYTES // plate_format.frame_bytes))
    synthesised = 0
    network_s = 0.0
    with tempfile.TemporaryDirectory(prefix=".dvp-tmp-", dir=output.parent) as scratch, \
            open_output(output, options.fmt, fps, *plate_format.size, options.audio, options.timecode,
                        options.draft, plate_format.deep, plate_format.sar, plate_format.field_order,
                        plate_format.colour) as writer:
        calibration = gaze_calibration_for(performance, target_track, target_video, fade, options, Path(scratch))
        posed = _pose_calibration(performance, translator, crop, target_track, target_video, painted_fade, options,
                                  Path(scratch))
        conditioned = posed.conditioned(performance.track)
        driven = ConditioningRenderer(conditioned, crop, size, backend, actor=actor)
        # The network paints the eyes where the corrected conditioning puts them, so the eye pathway and the gaze
        # warp work in the corrected head too, with the gaze kept pointing where it was asked to in the camera.
        eye_view = eyes.view(conditioned, backend, actor) if eyes is not None else None
        side_by_side = SideBySide(preview, fps, height, preview_labels)
        painted_head = PaintedHead(actor)
        frames = frames_in_order(target_video, performance.target_frames, Path(scratch), plate_format.deep,
                                 plate_format.stored, plate_format.woven)
        batch: list[tuple[int, np.ndarray]] = []
        kept: list[np.ndarray] = []  # the batch's frames as the output stores them (the same frames when it keeps
        # neither depth nor pixel aspect)

        def flush() -> None:
            nonlocal synthesised, network_s
            idx = np.array([j for j, _ in batch])
            cond = driven.render(idx)
            stacked = cond.stacked()
            masks_before = original.render(performance.target_frames[idx]).mask
            wins = windows.push_batch(stacked)
            need = np.flatnonzero((painted_fade[idx] > 0) & performance.track.valid[idx])
            warp_only = np.flatnonzero(eyes_only[idx] & (fade[idx] > 0) & performance.track.valid[idx])
            t0 = time.perf_counter()
            painted = None
            if len(need):
                cut = np.stack([crop.cut(batch[k][1], size) for k in need])  # the target frames' crops
                crops = torch.from_numpy(cut).permute(0, 3, 1, 2)
                plates = translator.plates(crops, [cond.mask[need] > 127, masks_before[need] > 127])
                painted = translator(wins[need], plates)
            network_s += time.perf_counter() - t0
            rows = {int(k): r for r, k in enumerate(need)}
            results = []
            for k, (j, frame) in enumerate(batch):
                result = frame
                if k in rows:
                    out = painted[rows[k]].permute(1, 2, 0).numpy()
                    mask = compositor.soft_mask([cond.mask[k, 0].numpy(), masks_before[k, 0].numpy()]) * fade[j]
                    result = compositor.composite(frame, out, mask, real=cut[rows[k]])
                    synthesised += 1
                results.append(result)
            if eye_view is not None and len(need):
                t0 = time.perf_counter()
                samples = eye_view.samples(idx[need])
                repainted = eyes.repaint([results[k] for k in need], eye_view.render(idx[need], samples).stacked(),
                                         samples, fade[idx[need]], eye_view)
                for r, k in enumerate(need):
                    results[k] = repainted[r]
                network_s += time.perf_counter() - t0
            if options.gaze_warp:
                if len(need):  # where the network painted each head: the eyeballs go into its sockets
                    heads, found = painted_head.fit([results[k] for k in need], track_params(conditioned, idx[need]))
                for k in sorted({*need.tolist(), *warp_only.tolist()}):
                    j = int(idx[k])
                    shown = track_params(target_track, [int(performance.target_frames[j])])
                    turned = calibration.rendered(track_params(performance.track, [j]), shown)
                    if k in rows and found[rows[k]]:  # the asked gaze, relative to the head as painted
                        turned.rotation = heads.rotation[rows[k]:rows[k] + 1]
                        turned.translation = heads.translation[rows[k]:rows[k] + 1]
                    elif k in rows:  # painted in the pose calibration's corrected pose, looking where asked
                        turned.rotation, turned.gaze = posed.corrected(turned.rotation, turned.gaze)
                    results[k] = redirect_eyes(results[k], batch[k][1], actor, openings, turned, shown,
                                               float(fade[j]))
            for k, (j, frame) in enumerate(batch):
                result = results[k]
                writer.write(plate_format.output(result, frame, kept[k]))
                if preview is not None:
                    left = next(preview_left, None) if preview_left is not None else frame
                    left = frame if left is None else left
                    side_by_side.write([left, cond.colour[k].permute(1, 2, 0).numpy(), result])
            batch.clear()
            kept.clear()

        with side_by_side, contextlib.closing(painted_head):
            for j in progress(range(n), n, options.stage, options.show_progress):
                plate = next(frames)
                kept.append(plate)
                batch.append((j, plate_format.work(plate)))
                if len(batch) == batch_size:
                    flush()
            if batch:
                flush()
    seconds = time.perf_counter() - started
    warped_only = int((eyes_only & (fade > 0) & performance.track.valid).sum())
    return {"frames": n, "synthesised_frames": synthesised, "eyes_only_frames": warped_only,
            "passed_through_frames": n - synthesised - warped_only,
            "seconds": round(seconds, 1), "frames_per_second": round(n / seconds, 2),
            "network_frames_per_second": round(synthesised / network_s, 1) if network_s else None,
            "bit_depth": 16 if plate_format.deep else 8, "pixel_aspect": plate_format.pixel_aspect,
            "field_order": plate_format.field_order, "colour": writer.colour.label(),
            "eye_pathway_step": eyes.step if eyes is not None else None, "gaze_warp": options.gaze_warp,
            "gaze_calibration": calibration.report() if options.gaze_warp else None,
            "eyes_in_painted_head": {"frames": painted_head.fitted, "kept_asked_head": painted_head.kept}
            if options.gaze_warp else None,
            "pose_calibration": posed.report(),
            "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}

