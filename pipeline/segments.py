"""A job's output made in segments, side by side, as a render farm makes it: plan once, render frame ranges apart,
join them without re-encoding.

- `plan_job`: the job's steps 1-5 (`pipeline.job.prepare`) and its calibrations
  (the pose pilot, the gaze gain), done once and written to a plan folder: the
  intended performance, the target's track, the output's sound, the coverage,
  what the report will say;
- `render_segment`: output frames `first` to `stop` from the plan, by any
  process that sees the plan folder (the model is loaded there); the frames are
  those one pass makes, since every segment starts its space-time window and
  the painted-head detector as one pass does there (`pipeline.synthesis`);
- `join_job`: the segments joined (`base.joining`: the video copied, not
  encoded again), with the sound and timecode, then the report, verified when
  the job asked.

Segments are written as H.264 MP4 or ProRes MOV, as the output; a PNG sequence
is made in one pass.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from base.atomic import replacing, write_json
from base.errors import DvpError
from base.joining import join_segments
from pipeline.coverage import Coverage
from pipeline.eyes.gaze_calibration import GazeCalibration
from pipeline.job import Job, describe, finish_report, prepare
from pipeline.marking import Provenance
from pipeline.pose_calibration import PoseCalibration
from pipeline.synthesis import Calibrations, SynthesisOptions, calibrate, frame_weights, synthesise
from pipeline.transfer import Performance
from reconstruction.track import load_track
from rendering.crop import CropBox
from translation.devices import resolve_device
from translation.inference import Translator
from translation.mouth_retrieval import MouthRetrieval
from translation.pathways import EYE_PATHWAY, MOUTH_PATHWAY, TrainedPathway

PLAN = "plan.json"
ARRAYS = "plan.npz"
INTENDED = "intended.track.npz"
TARGET = "target.track.npz"
SUFFIXES = {"mp4": ".mp4", "prores": ".mov"}


def plan_job(job: Job, folder: str | os.PathLike) -> dict:
    """Decide `job` once and write its plan to `folder` (made if missing); returns the plan's summary: the output
    frames and the segments' suffix."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if job.options.preview is not None:
        raise DvpError("a job made in segments writes no preview; make the preview with the job's own command")
    p = prepare(job, folder)
    if p.fmt not in SUFFIXES:
        raise DvpError(f"{job.output}: a PNG sequence is made in one pass; write .mp4 or .mov to make it in segments")
    performance = p.driven.performance
    fade, painted, _ = frame_weights(performance, p.translator is not None, p.driven.fade, p.synthesis.gaze_warp)
    with tempfile.TemporaryDirectory(prefix=".dvp-tmp-", dir=folder) as scratch:
        calibrated = calibrate(performance, p.translator, p.crop, p.track, Path(job.target), painted, fade,
                               p.synthesis, Path(scratch))
    performance.track.save(folder / INTENDED)
    p.track.save(folder / TARGET)
    arrays = {"target_frames": performance.target_frames, "fade": fade}
    for name, value in (("eyes_only", performance.eyes_only), ("scored", p.driven.scored)):
        if value is not None:
            arrays[name] = np.asarray(value)
    if p.found is not None:
        arrays.update({f"outside_{group}": mask for group, mask in p.found.outside.items()})
        if p.found.far_pose is not None:
            arrays["far_pose"] = p.found.far_pose
    with open(folder / ARRAYS, "wb") as f:  # written before the plan, which is what marks the folder complete
        np.savez(f, **arrays)
    o = job.options
    summary = {"frames": p.frames, "suffix": SUFFIXES[p.fmt]}
    write_json(folder / PLAN, {
        **summary, "target": str(Path(job.target).resolve()), "output": str(job.output),
        "model": str(Path(job.model).resolve()) if job.model is not None else None, "scale": p.scale,
        "sound": str(p.sound.resolve()) if p.sound is not None else None, "timecode": p.timecode,
        "synthesis": {k: getattr(p.synthesis, k) for k in ("fmt", "rasterizer", "gaze_warp", "gaze_gain",
                                                           "pose_calibration", "keep_depth")},
        "job": {"device": o.device, "eyes": o.eyes, "mouth": o.mouth, "retrieval": o.retrieval, "verify": o.verify},
        "described": describe(job, p), "measure": _name_of(p.driven.measure), "provenance": p.provenance.plain(),
        "coverage": p.found.details if p.found is not None else None,
        "calibrations": {"pose": _plain(calibrated.pose), "gaze": _plain(calibrated.gaze)}})
    return summary


def render_segment(plan: str | os.PathLike, first: int, stop: int, segment: str | os.PathLike,
                   show_progress: bool = True) -> dict:
    """Output frames `first` to `stop` of the planned job, written to `segment` (its suffix: the plan's); returns
    the synthesis statistics, also written beside it as JSON."""
    folder, segment = Path(plan), Path(segment)
    spec = _read(folder)
    if not 0 <= first < stop <= spec["frames"]:
        raise DvpError(f"frames {first}-{stop - 1} are not frames of the planned job's {spec['frames']}")
    if segment.suffix != spec["suffix"]:
        raise DvpError(f"{segment}: a segment of this job is a {spec['suffix']} file")
    arrays = np.load(folder / ARRAYS)
    performance = Performance(track=load_track(folder / INTENDED), target_frames=arrays["target_frames"],
                              eyes_only=arrays["eyes_only"] if "eyes_only" in arrays else None)
    target_track = load_track(folder / TARGET)
    options = SynthesisOptions(**spec["synthesis"], show_progress=show_progress, stage=f"frames {first}-{stop - 1}",
                               marks=Provenance.of_plain(spec["provenance"]).marks)
    translator, eyes, mouth, crop, retrieval = None, None, None, None, None
    job = spec["job"]
    if spec["model"] is not None:
        device = resolve_device(job["device"])
        translator = Translator(spec["model"], device=device)
        eyes = TrainedPathway.of(EYE_PATHWAY, spec["model"], device) if job["eyes"] else None
        mouth = TrainedPathway.of(MOUTH_PATHWAY, spec["model"], device) if job["mouth"] else None
        for pathway in (eyes, mouth):
            if pathway is not None:
                pathway.rescale(spec["scale"])
        crop = CropBox(**translator.manifest["crop"]).scaled(spec["scale"])
        retrieval = MouthRetrieval.of_shot(Path(spec["target"]), target_track, show_progress) \
            if job["retrieval"] else None
    calibrated = Calibrations(_restore(PoseCalibration, spec["calibrations"]["pose"]),
                              _restore(GazeCalibration, spec["calibrations"]["gaze"]))
    with replacing(segment) as temporary:  # the segment appears with its statistics beside it, or not at all
        stats = synthesise(performance, translator, crop, target_track, Path(spec["target"]), temporary, options,
                           arrays["fade"], eyes=eyes, mouth=mouth, retrieval=retrieval, frames=(first, stop),
                           calibrated=calibrated)
        write_json(segment.with_suffix(".json"), {"first": first, "stop": stop, **stats})
    return stats


def join_job(plan: str | os.PathLike, segments: list[str | os.PathLike], output: str | os.PathLike,
             report: str | os.PathLike | None = None, show_progress: bool = True) -> dict:
    """The planned job's output from its `segments` (in frame order, covering every frame), with its sound and
    timecode, and its report (verified when the job asked)."""
    started = time.perf_counter()
    folder, output = Path(plan), Path(output)
    spec = _read(folder)
    parts = [json.loads(Path(s).with_suffix(".json").read_text()) for s in segments]
    expected = 0
    for segment, part in zip(segments, parts):
        if part["first"] != expected:
            raise DvpError(f"{segment} starts at frame {part['first']}; the segments before it end at frame "
                           f"{expected}: render frames {expected}-{part['first'] - 1} too")
        expected = part["stop"]
    if expected != spec["frames"]:
        raise DvpError(f"the segments end at frame {expected} of the job's {spec['frames']}: render the rest too")
    join_segments(segments, output, spec["synthesis"]["fmt"], spec["sound"], spec["timecode"])
    arrays = np.load(folder / ARRAYS)
    found = None
    if spec["coverage"] is not None:
        groups = [k.removeprefix("outside_") for k in arrays.files if k.startswith("outside_")]
        found = Coverage(outside={g: arrays[f"outside_{g}"] for g in groups}, details=spec["coverage"],
                         far_pose=arrays["far_pose"] if "far_pose" in arrays else None)
    stats = _merged(parts)
    stats["marks"] = Provenance.of_plain(spec["provenance"]).seal(output, stats.pop("marking_seconds", 0.0))
    intended = load_track(folder / INTENDED) if spec["job"]["verify"] else None
    with tempfile.TemporaryDirectory(prefix=".dvp-tmp-", dir=output.parent) as scratch:
        result = finish_report({**spec["described"], "output": str(output)}, stats, output,
                               _function(spec["measure"]), found, intended,
                               arrays["scored"] if "scored" in arrays else None, Path(scratch), show_progress)
    result["segments"] = len(segments)
    result["seconds"] = round(time.perf_counter() - started + sum(p["seconds"] for p in parts), 1)
    if report is not None:
        write_json(report, result)
    return result


def planned_frames(plan: str | os.PathLike) -> int:
    """How many output frames a planned job makes."""
    return int(_read(Path(plan))["frames"])


def chunks(frames: int, size: int) -> list[tuple[int, int]]:
    """Frame ranges of at most `size` frames covering `frames` output frames."""
    if size < 1:
        raise DvpError(f"segments of {size} frames: give 1 or more")
    return [(first, min(first + size, frames)) for first in range(0, frames, size)]


def _merged(parts: list[dict]) -> dict:
    """The segments' statistics as one pass would report them: counts added, the rest from the first segment."""
    merged = dict(parts[0])
    for key in ("frames", "synthesised_frames", "eyes_only_frames", "passed_through_frames"):
        merged[key] = sum(p[key] for p in parts)
    seconds = sum(p["seconds"] for p in parts)
    merged["seconds"] = round(seconds, 1)
    merged["frames_per_second"] = round(merged["frames"] / seconds, 2) if seconds else None
    merged["peak_memory_mib"] = max(p["peak_memory_mib"] for p in parts)
    merged["marking_seconds"] = sum(p.get("marking_seconds", 0.0) for p in parts)
    for key in ("first", "stop"):
        merged.pop(key)
    return merged


def _plain(calibration) -> dict | None:
    if calibration is None:
        return None
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in dataclasses.asdict(calibration).items()}


def _restore(kind, fields: dict | None):
    if fields is None:
        return None
    arrays = {f.name for f in dataclasses.fields(kind) if f.default_factory is not dataclasses.MISSING}
    return kind(**{k: np.asarray(v) if k in arrays else v for k, v in fields.items()})


def _name_of(function) -> str | None:
    return None if function is None else f"{function.__module__}:{function.__qualname__}"


def _function(name: str | None):
    if name is None:
        return None
    module, qualname = name.split(":")
    return getattr(importlib.import_module(module), qualname)


def _read(folder: Path) -> dict:
    if not (folder / PLAN).is_file():
        raise DvpError(f"{folder} holds no finished plan ({PLAN}); plan the job first")
    return json.loads((folder / PLAN).read_text())
