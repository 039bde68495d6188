"""The one job runner: every job that changes the target shot's pixels (reenact, edit, dub) runs here.

A `Job` is a target shot, what drives it (a `Drive`: a source actor's
performance, an edit spec, ...), the output and its options. The runner does
what each such job needs, in this order:

1. check: the inputs exist, the output can be written, and what the drive and
   the options ask can be met, all before any work;
2. model: the target's trained network and its eye pathway, on the chosen
   device (no model: only gaze changes, which the gaze warp makes on the shot);
3. target: the shot's track (the model's own, one given, or tracked now),
   checked against the model;
4. drive: the performance the target is to give (`Drive.perform`);
5. coverage: what the job asks against what the model was trained on;
6. synthesis (`pipeline.synthesis`): render, translate, composite, eyes,
   write, with the chosen audio and the target's timecode;
7. marks: every frame is labelled and watermarked on its way to the encoder,
   and the finished output gets a signed C2PA manifest (`pipeline.marking`);
8. verification (`verify`) and the report.

A new kind of job is a new `Drive`: a few lines that say what drives the
target, over the same runner.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from base.atomic import write_json
from base.errors import DvpError
from base.probe import media_bytes, probe
from base.reading import VideoReader
from base.writing import output_format
from pipeline.coverage import check_coverage, runs
from pipeline.eyes.gaze_calibration import given_gain
from pipeline.faithfulness import verify_output
from pipeline.marking import MarkOptions, Provenance, provenance
from pipeline.soundtrack import audio_source, choose_audio
from pipeline.synthesis import SynthesisOptions, synthesise
from pipeline.tracking import load_or_track
from pipeline.transfer import Performance
from reconstruction.track import Track
from rendering.crop import CropBox
from translation import model_dir as md
from translation.devices import resolve_device
from translation.inference import Translator
from translation.mouth_retrieval import MouthRetrieval
from translation.pathways import EYE_PATHWAY, MOUTH_PATHWAY, TrainedPathway

log = logging.getLogger("dvp")


@dataclass
class JobOptions:
    """How a job runs, whatever drives it. Every field has a default that runs."""

    track: Path | None = None  # the target's track (default: the model's own, else tracked now)
    face: str | int = "largest"  # the target's face, when it is tracked now (see `TrackOptions.face`)
    fmt: str | None = None  # mp4 | prores | png (default: from the output's name)
    audio: str | None = None  # source | target | none | a file (default: the drive's)
    keep_depth: bool = True  # a target of 10 to 16 bits keeps them in ProRes and PNG
    preview: Path | None = None  # a side-by-side preview video
    report: Path | None = None  # the report, as JSON
    verify: bool = False  # track the output again and score it against the intent
    rasterizer: str = "auto"
    device: str = "auto"
    eyes: bool = True  # the model's eye pathway repaints the eyes, when it has one
    mouth: bool = True  # the model's mouth pathway repaints the mouth, when it has one
    retrieval: bool = False  # the mouth is then painted from the target's own frames nearest in lip shape
    gaze_warp: bool = True  # the target's own eyeballs turned to the asked gaze
    gaze_gain: float | None = None  # the tracker's yaw gain for the gaze warp (default: measured on the target)
    pose_calibration: bool = True  # a pilot pass measures how much of the asked head pose the model paints
    show_progress: bool = True
    marks: MarkOptions = field(default_factory=MarkOptions)  # the visible label and the manifest's signing pair


# JobOptions fields that change no pixel of the output, left out of the job's identifier
UNMARKED_OPTIONS = ("track", "preview", "report", "verify", "device", "show_progress", "marks")


@dataclass
class Driven:
    """What a drive asks of the target: the performance, and how the runner should treat its frames."""

    performance: Performance
    fade: np.ndarray | None = None  # (N,) how much of each output frame is changed (None: all of every frame)
    changed: np.ndarray | None = None  # (N,) bool: frames the drive changes (None: all)
    scored: np.ndarray | None = None  # output frames `verify` scores (None: all)
    # the preview's left panel, at the output's rate (None: the target): a context manager giving the frames
    preview_left: contextlib.AbstractContextManager | None = None
    report: dict = field(default_factory=dict)  # what the report says of the drive
    audio: Path | None = None  # the sound the drive made for the output (a dub's), unless `JobOptions.audio` is set
    measure: Callable[[Path], dict] | None = None  # what the drive reads back from the written output, for the report


class Drive(Protocol):
    """What drives the target: one kind of job."""

    kind: str  # the job's name in reports: "reenact", "edit"
    default_audio: str  # the output's sound unless `JobOptions.audio` says otherwise
    preview_labels: tuple[str, str, str]  # the preview's panels: left, conditioning, output

    @property
    def name(self) -> str:
        """How messages name the drive (a spec's file name, the source video's)."""

    @property
    def source(self) -> Path | None:
        """The video whose sound `--audio source` means, if the drive has one."""

    def inputs(self) -> dict[str, Path]:
        """The files the drive reads, by role, checked to exist before any work."""

    def check(self, options: JobOptions) -> None:
        """Refuse what cannot be done, before any work."""

    def perform(self, target_track: Track, target: Path, timecode: str | None, scratch: Path,
                options: JobOptions) -> Driven:
        """The performance of the target, one entry per output frame."""


@dataclass
class Job:
    target: Path
    drive: Drive
    output: Path
    model: Path | None = None
    options: JobOptions = field(default_factory=JobOptions)


@dataclass
class Prepared:
    """A job decided before its first frame (steps 1-5, and the sound): what synthesis needs, whether it makes the
    output in one pass (`run_job`) or in segments made apart (`pipeline.segments`)."""

    fmt: str
    translator: Translator | None
    eyes: TrainedPathway | None
    mouth: TrainedPathway | None
    device: object
    scale: float
    track: Track  # the target's
    driven: Driven
    found: object  # the coverage (`pipeline.coverage.Coverage`), None without a model
    sound: Path | None
    timecode: str | None
    synthesis: SynthesisOptions
    crop: CropBox | None
    retrieval: MouthRetrieval | None
    provenance: Provenance

    @property
    def frames(self) -> int:
        return len(self.driven.performance.track)


def run_job(job: Job) -> dict:
    """Run `job` (see the module notes); returns its report, also written to `options.report` when given."""
    started = time.perf_counter()
    o, output = job.options, Path(job.output)
    with tempfile.TemporaryDirectory(prefix=".dvp-tmp-", dir=output.parent if output.parent.is_dir() else None) \
            as scratch:
        scratch = Path(scratch)
        p = prepare(job, scratch)
        preview = Path(o.preview) if o.preview else None
        with p.driven.preview_left or contextlib.nullcontext() as frames:
            left = iter(frames) if preview and frames is not None else None
            stats = synthesise(p.driven.performance, p.translator, p.crop, p.track, Path(job.target), output,
                               p.synthesis, p.driven.fade, preview, left, job.drive.preview_labels, p.eyes, p.mouth,
                               p.retrieval)
        stats["marks"] = p.provenance.seal(output, stats.pop("marking_seconds"))
        result = report(job, p, stats, scratch)
    result["seconds"] = round(time.perf_counter() - started, 1)
    if o.report is not None:
        write_json(o.report, result)
    return result


def prepare(job: Job, scratch: Path) -> Prepared:
    """Steps 1-5 of the module notes and the output's sound; what is made on the way (a track made now, a dub's
    sound) is written in `scratch`."""
    o, drive = job.options, job.drive
    target, output = Path(job.target), Path(job.output)
    fmt = check_paths({"target video": target, **drive.inputs()}, output, o.fmt)
    drive.check(o)
    o.marks.check()
    if o.track is not None and o.face != "largest":
        raise DvpError("--face picks a face when the target is tracked now; the track given with --track already "
                       "follows one (make it with `dvp track TARGET --face N`)")
    audio = o.audio or drive.default_audio
    audio_source(audio, drive.source, target)  # a choice that cannot be met fails before any work
    if o.gaze_gain is not None:
        given_gain(o.gaze_gain)
    if job.model is None and not o.gaze_warp:
        raise DvpError("without --model only gaze changes can be made, and they are made by the gaze warp: leave "
                       "out --no-gaze-warp, or give --model")
    translator, eyes, mouth, device = None, None, None, None
    if job.model is not None:
        device = resolve_device(o.device)
        translator = Translator(job.model, device=device)
        eyes = TrainedPathway.of(EYE_PATHWAY, job.model, device) if o.eyes else None
        mouth = TrainedPathway.of(MOUTH_PATHWAY, job.model, device) if o.mouth else None
    if translator is not None:
        track, scale = model_target(translator, target, o.track, scratch, o.show_progress, o.face)
        for pathway in (eyes, mouth):
            if pathway is not None:
                pathway.rescale(scale)
    else:
        track, scale = load_or_track(target, o.track, scratch, o.show_progress, "target", o.face), 1.0
    retrieval = MouthRetrieval.of_shot(target, track, o.show_progress) \
        if translator is not None and o.retrieval else None
    timecode = probe(target).timecode
    driven = drive.perform(track, target, timecode, scratch, o)
    performance = driven.performance
    painted = network_frames(driven, o.gaze_warp)
    found = None
    if translator is None:
        refuse_without_model(drive, painted & performance.track.valid)
    else:
        found = check_coverage(performance.track, translator, np.flatnonzero(painted))
    sound = driven.audio if driven.audio is not None and o.audio is None else \
        choose_audio(audio, drive.source, target, output_seconds(performance), fmt)
    record = job_provenance(job, fmt, sound, driven)
    synthesis = SynthesisOptions(fmt=fmt, audio=sound, timecode=timecode, rasterizer=o.rasterizer,
                                 show_progress=o.show_progress, gaze_warp=o.gaze_warp, gaze_gain=o.gaze_gain,
                                 pose_calibration=o.pose_calibration, keep_depth=o.keep_depth, marks=record.marks)
    crop = CropBox(**translator.manifest["crop"]).scaled(scale) if translator is not None else None
    return Prepared(fmt, translator, eyes, mouth, device, scale, track, driven, found, sound, timecode, synthesis,
                    crop, retrieval, record)


def job_provenance(job: Job, fmt: str, sound: Path | None, driven: Driven) -> Provenance:
    """The job's identifier and what its manifest will say: its inputs, the frames the drive changes."""
    o = job.options
    n = len(driven.performance.track)
    changed = np.ones(n, bool) if driven.changed is None else np.asarray(driven.changed, bool)
    inputs = {"target video": Path(job.target), **job.drive.inputs(), "model folder": job.model, "sound": sound}
    settings = {k: v for k, v in vars(o).items() if k not in UNMARKED_OPTIONS}
    extra = [{"action": "c2pa.dubbed", "description": f"the sound replaced by {sound.name}"}] \
        if job.drive.kind == "dub" and sound is not None else []
    return provenance(job.drive.kind, job.drive.name, inputs, {**settings, "format": fmt},
                      o.marks, [(a, b + 1) for a, b in runs(np.flatnonzero(changed))], extra)


def report(job: Job, p: Prepared, stats: dict, scratch: Path) -> dict:
    """Step 7: the job's report on its written output, verified when the options ask."""
    intended = p.driven.performance.track if job.options.verify else None
    return finish_report(describe(job, p), stats, Path(job.output), p.driven.measure, p.found, intended,
                         p.driven.scored, scratch, job.options.show_progress)


def describe(job: Job, p: Prepared) -> dict:
    """What the report says of a job before its output exists."""
    return {"job": job.drive.kind, "target": Path(job.target).name,
            "model": str(p.translator.folder) if p.translator is not None else None,
            "model_step": p.translator.step if p.translator is not None else None,
            "model_scale": p.scale, "device": str(p.device) if p.device is not None else None,
            "output": str(job.output), "format": p.fmt, **p.driven.report,
            "audio": p.sound.name if p.sound else None, "timecode": p.timecode}


def finish_report(described: dict, stats: dict, output: Path, measure: Callable[[Path], dict] | None, found,
                  intended: Track | None, scored: np.ndarray | None, scratch: Path, show_progress: bool) -> dict:
    """The report: what `describe` said, the synthesis `stats`, what the drive reads back from the output
    (`measure`), the coverage `found`, and with an `intended` track the output tracked again and scored on it."""
    result = {**described, **stats}
    if measure is not None:
        result.update(measure(output))
    if found is not None:
        result["coverage"] = found.report()
    if intended is not None:
        result["faithfulness"] = verify_output(output, intended, scored, scratch, show_progress, found)
    return result


def check_paths(inputs: dict[str, Path], output: Path, fmt: str | None) -> str:
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


def model_target(translator: Translator, target: Path, target_track: str | os.PathLike | None, scratch: Path,
                 show_progress: bool, face: str | int = "largest") -> tuple[Track, float]:
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
        if face != "largest":
            log.warning("--face is not used: %s is the model's own target, whose track comes with the model",
                        target.name)
    if scale != 1:
        log.info("%s is %.3g times the size of the model's shot: its crop and eye boxes are scaled to match",
                 target.name, scale)
    track = load_or_track(target, target_track, scratch, show_progress, "target", face)
    md.check_actor(manifest, track, translator.folder, f"the target {target.name}")
    return track, scale


def network_frames(driven: Driven, gaze_warp: bool) -> np.ndarray:
    """(N,) bool: the output frames the network must paint: those the drive changes, less those whose only change
    is the gaze when the gaze warp makes it."""
    n = len(driven.performance.track)
    changed = np.ones(n, bool) if driven.changed is None else np.asarray(driven.changed, bool)
    eyes_only = driven.performance.eyes_only
    if gaze_warp and eyes_only is not None:
        changed = changed & ~np.asarray(eyes_only, bool)
    return changed


def refuse_without_model(drive: Drive, painted: np.ndarray) -> None:
    """With no model only the gaze can change: name the frames that need more."""
    if painted.any():
        spans = ", ".join(f"{a}-{b}" for a, b in runs(np.flatnonzero(painted))[:5])
        raise DvpError(f"{drive.name} changes the head, expression or blinks in frames {spans}, which only a model "
                       "trained on this actor can paint: give --model MODEL_DIR (from `dvp train`), or keep to gaze "
                       "changes, which need no model")


def output_seconds(performance: Performance) -> float:
    """How long the output of `performance` runs, at the target's frame rate."""
    return len(performance.track) / float(Fraction(performance.track.header["source"]["fps"]))
