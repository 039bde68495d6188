"""`dvp reenact`: a source actor's performance drives the target actor, through the target's trained model.

Steps: track what is not tracked yet (the target's track usually comes with the
model), check that the model is of the target's actor and the target's shot
size, transfer the chosen parts of the source's performance (see
`pipeline.transfer`), synthesise and composite every output frame (see
`pipeline.synthesis`), and with `verify` track the result again and measure
how faithfully it shows the intended pose, expression and gaze.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from pipeline.atomic import write_json
from pipeline.coverage import Coverage, coverage
from pipeline.errors import DvpError, MediaError, NoFaceError
from pipeline.faithfulness import faithfulness
from pipeline.probe import audio_file, media_bytes, media_seconds, probe, probe_audio
from pipeline.gaze_calibration import given_gain
from pipeline.synthesis import SynthesisOptions, synthesise
from pipeline.tracking import TrackOptions, track_video
from pipeline.transfer import PARTS, Performance, transfer
from pipeline.video import VideoReader, output_format
from reconstruction.track import Track, load_track
from rendering.crop import CropBox
from translation import model_dir as md
from translation.devices import resolve_device
from translation.eyes import EyePathway
from translation.inference import Translator

log = logging.getLogger("dvp")


def load_or_track(video: Path, track_path: str | os.PathLike | None, scratch: Path, show_progress: bool,
                  role: str, face: str | int = "largest") -> Track:
    """The track of `video`: the one given (checked against the video), or made now, following `face` (see
    `TrackOptions.face`)."""
    info = VideoReader(video)
    if track_path is None:
        track_path = scratch / f"{role}.track.npz"
        track_video(video, track_path, options=TrackOptions(show_progress=show_progress, face=face))
    track = load_track(track_path)
    track.check_video(video, info.width, info.height, info.frame_count)
    return track


def model_target(translator: Translator, target: Path, target_track: str | os.PathLike | None, scratch: Path,
                 show_progress: bool) -> tuple[Track, float]:
    """The target's track, checked against the model (the same actor, in footage of the model's shot), and the
    target's size over the model's shot's: 1, or another scale when the model was trained on a proxy of the shot
    (a smaller copy, cheaper to track and render) and the full-size shot is rendered."""
    manifest = translator.manifest
    info = VideoReader(target)
    want_w, want_h = manifest["target"]["width"], manifest["target"]["height"]
    scale = 1.0 if (info.width, info.height) == (want_w, want_h) else info.width / want_w
    if abs(info.height / want_h - scale) > 0.01 * scale:
        raise DvpError(f"the model in {translator.folder} was trained on {want_w}x{want_h} footage "
                       f"({manifest['target']['video']}), but {target} is {info.width}x{info.height}, another shape; "
                       "the model paints its own shot's crop, so give footage of that shot (at any size, in its "
                       "shape)")
    if target_track is None and media_bytes(target) == manifest["target"]["video_bytes"] and \
            target.name == manifest["target"]["video"]:
        target_track = translator.track_path  # the model's own target: its track comes with the model
    if scale != 1:
        log.info("%s is %.3g times the size of the model's shot: its crop and eye boxes are scaled to match",
                 target.name, scale)
    track = load_or_track(target, target_track, scratch, show_progress, "target")
    md.check_actor(manifest, track, translator.folder, f"the target {target.name}")
    return track, scale


def audio_source(choice: str, source: Path | None, target: Path) -> Path | None:
    """'source', 'target', 'none' or a file: the file whose first audio stream the output carries (None: silence).
    A choice that cannot be met is an error, raised before any work."""
    if choice == "none":
        return None
    if choice == "source" and source is None:
        raise DvpError("--audio source: an edit has no source video; give target (the default), none or an audio "
                       "file")
    if choice in ("source", "target"):
        path = source if choice == "source" else target
        return audio_file(path) if path is not None and probe_audio(path) else None  # a sequence's: its audio file
    path = Path(choice)
    if not probe_audio(path):
        raise DvpError(f"--audio {path} has no audio stream; give a file with sound, or source, target or none")
    return path


def choose_audio(choice: str, source: Path | None, target: Path, seconds: float, fmt: str = "mp4") -> Path | None:
    """The audio of an output `seconds` long in `fmt` (see `audio_source`). A video output carries all of the
    file's audio streams; a PNG sequence's `audio.wav` only the first, which is warned of. Warns too when the sound
    ends before the picture (the rest is silent)."""
    path = audio_source(choice, source, target)
    if path is None:
        return None
    streams = probe_audio(path)
    if len(streams) > 1 and fmt == "png":
        log.warning("%s has %d audio streams; a PNG sequence's audio.wav carries the first (%d channels, %s): for "
                    "all of them, write a MOV or MP4", path.name, len(streams), streams[0].channels, streams[0].codec)
    length = media_seconds(path)
    if 0 < length < seconds - 0.1:
        log.warning("the audio from %s ends at %.2f s, the output runs %.2f s: the rest is silent", path.name, length,
                    seconds)
    return path


def output_seconds(performance: Performance) -> float:
    """How long the output of `performance` runs, at the target's frame rate."""
    return len(performance.track) / float(Fraction(performance.track.header["source"]["fps"]))


def check_coverage(intended: Track, translator: Translator, frames=None) -> Coverage:
    """Coverage of the job by the model's training frames (see `pipeline.coverage`); warns of what is outside."""
    found = coverage(intended, load_track(translator.track_path), translator.manifest, frames)
    for line in found.warnings():
        log.warning("outside the model's training range: %s", line)
    return found


def verify(output: Path, intended: Track, frames, scratch: Path, show_progress: bool,
           found: Coverage | None = None) -> dict:
    """Faithfulness of the output (see `pipeline.faithfulness`), also over the frames inside the training range."""
    scores = _retrack_and_score(output, intended, frames, scratch, show_progress)
    retracked = scores.pop("retracked", None)
    if found is not None and retracked is not None:
        scored = np.arange(len(intended)) if frames is None else np.asarray(frames)
        inside = {}
        for group, key in (("head", "pose_error_deg"), ("gaze", "gaze_error_deg"), ("expression", "expression_nme")):
            part = faithfulness(intended, retracked, scored[~found.outside[group][scored]])
            inside[f"{group}_frames"] = part["frames"]
            if part["frames"]:
                inside[key] = part[key]
                if f"{key}_p95" in part:
                    inside[f"{key}_p95"] = part[f"{key}_p95"]
        if found.far_pose is not None:
            part = faithfulness(intended, retracked, scored[~found.far_pose[scored]])
            inside["near_pose_frames"] = part["frames"]
            if part["frames"]:
                inside["near_pose_error_deg"] = part["pose_error_deg"]
        scores["inside_training_range"] = inside
    return scores


def _retrack_and_score(output: Path, intended: Track, frames, scratch: Path, show_progress: bool) -> dict:
    retracked = scratch / "output.track.npz"
    try:
        track_video(output, retracked, options=TrackOptions(show_progress=show_progress))
    except NoFaceError:  # the output is written; that no face can be found in it is the finding
        count = len(intended) if frames is None else len(frames)
        return {"frames": 0, "frames_without_face": count}
    except MediaError as exc:  # the output is written, and stays; only reading it back failed
        raise MediaError(f"{output} was written, but reading it back to verify it failed: {exc}") from None
    track = load_track(retracked)
    return {**faithfulness(intended, track, frames), "retracked": track}


def check_job(inputs: dict[str, Path], output: Path, fmt: str | None) -> str:
    """Refuse missing inputs and an output that cannot be written, before any work; returns the output format."""
    for role, path in inputs.items():
        if not path.exists():
            raise DvpError(f"{role} {path} does not exist")
        if output.exists() and output.resolve() == path.resolve():
            raise DvpError(f"the output {output} is the {role}: writing it would destroy the footage it is made "
                           "from; choose another output name")
    if not output.parent.is_dir():
        raise DvpError(f"cannot write {output}: the folder {output.parent} does not exist")
    return output_format(output, fmt)


def reenact(source: str | os.PathLike, target: str | os.PathLike, model: str | os.PathLike, output: str | os.PathLike,
            source_track: str | os.PathLike | None = None, target_track: str | os.PathLike | None = None,
            parts: tuple[str, ...] = PARTS, audio: str = "source", fmt: str | None = None,
            preview: str | os.PathLike | None = None, report: str | os.PathLike | None = None,
            check: bool = False, rasterizer: str = "auto", show_progress: bool = True, eyes: bool = True,
            gaze_warp: bool = True, gaze_gain: float | None = None, pose_calibration: bool = True,
            device: str = "auto", keep_depth: bool = True, source_face: str | int = "largest") -> dict:
    """Reenact `target` with the performance in `source`; returns the report. `source_face` picks who drives when
    the source shows several people ('largest', or an index from the left), when the source is tracked now."""
    started = time.perf_counter()
    source, target, output = Path(source), Path(target), Path(output)
    fmt = check_job({"source video": source, "target video": target}, output, fmt)
    if source_track is not None and source_face != "largest":
        raise DvpError("--source-face picks a face when the source is tracked now; the track given with "
                       "--source-track already follows one (make it with `dvp track SOURCE --face N`)")
    if gaze_gain is not None:
        given_gain(gaze_gain)  # a bad value fails before any work
    runs_on = resolve_device(device)
    translator = Translator(model, device=runs_on)
    eye_pathway = EyePathway.of(model, runs_on) if eyes else None
    with tempfile.TemporaryDirectory(prefix=".dvp-tmp-", dir=output.parent) as scratch:
        scratch = Path(scratch)
        tgt, scale = model_target(translator, target, target_track, scratch, show_progress)
        if eye_pathway is not None:
            eye_pathway.rescale(scale)
        src = load_or_track(source, source_track, scratch, show_progress, "source", source_face)
        performance = transfer(src, tgt, parts)
        found = check_coverage(performance.track, translator)
        source_frames = VideoReader(source, fps=VideoReader(target).fps)  # the source at the output's rate
        options = SynthesisOptions(fmt=fmt, audio=choose_audio(audio, source, target, output_seconds(performance), fmt),
                                   timecode=probe(target).timecode, rasterizer=rasterizer,
                                   show_progress=show_progress, gaze_warp=gaze_warp,
                                   gaze_gain=gaze_gain, pose_calibration=pose_calibration, keep_depth=keep_depth)
        with source_frames:
            crop = CropBox(**translator.manifest["crop"]).scaled(scale)
            stats = synthesise(performance, translator, crop, tgt, target, output, options,
                               preview=Path(preview) if preview else None,
                               preview_left=iter(source_frames) if preview else None, eyes=eye_pathway)
        result = {"source": source.name, "source_face": source_face, "target": target.name,
                  "model": str(translator.folder),
                  "model_step": translator.step, "model_scale": scale, "device": str(runs_on),
                  "output": str(output), "format": fmt, "transfer": list(parts),
                  "audio": options.audio.name if options.audio else None, "timecode": options.timecode,
                  "held_source_frames": performance.held_source_frames,
                  "target_passes": int(-(-len(performance.track) // len(tgt))), **stats,
                  "coverage": found.report()}
        if check:
            result["faithfulness"] = verify(output, performance.track, None, scratch, show_progress, found)
    result["seconds"] = round(time.perf_counter() - started, 1)
    if report is not None:
        write_json(report, result)
    return result
