"""The flows' tasks: each one stage function, its artifact in the work folder under its content key.

A task takes paths as strings and options as plain values, computes its key
(`flows.content`), and returns the artifact's path. When the artifact is already
there (a finished earlier run: the stage functions write atomically) it is
returned at once; otherwise the stage runs. Prefect's cache is keyed the same
way and on the work folder, but only once the artifact exists, so a deleted
artifact is made again rather than served from a stale record, and a record
never names another folder's artifact. Transient failures (an encoder that
dies) are retried.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prefect import get_run_logger, task
from prefect.context import TaskRunContext

from base.atomic import replacing, write_json
from flows.content import artifact, stage_key

RETRIES = 2
RETRY_DELAY_S = 5
DONE = ".complete"  # marks a finished model folder (one is written step by step, with checkpoints)


@dataclass(frozen=True)
class Stage:
    """How a task's parameters make its key: which are input files, which the work folder, and the suffix of its
    artifact (a `suffix` parameter overrides it; none: the artifact is a folder); every other parameter is an
    option, except those that only say how the artifact is made (`means`)."""

    name: str
    inputs: tuple[str, ...]
    suffix: str = ""
    means: tuple[str, ...] = ()  # parameters that change how the artifact is made, not what it is

    def key(self, parameters: dict) -> str:
        options = {k: v for k, v in parameters.items() if k not in (*self.inputs, *self.means, "work")}
        return stage_key(self.name, {k: parameters.get(k) for k in self.inputs}, options)

    def output(self, parameters: dict) -> Path:
        """The artifact's path; a stage without a suffix makes a folder, whatever `suffix` its parameters give."""
        suffix = parameters.get("suffix", self.suffix) if self.suffix else ""
        return artifact(parameters["work"], self.name, self.key(parameters), suffix)

    def cache_key(self, context: TaskRunContext, parameters: dict) -> str | None:
        """Prefect's cache key: the content key and the work folder (a record names an artifact in one folder, and
        Prefect keeps its records beyond any one folder), once the artifact it names exists."""
        output = self.output(parameters)
        if not finished(output):
            return None
        folder = hashlib.sha256(str(output.parent.resolve()).encode()).hexdigest()[:12]
        return f"{self.name}-{self.key(parameters)}-{folder}"

    def make(self, parameters: dict, run: Callable[[Path], None]) -> str:
        """The artifact's path, made by `run(path)` unless a finished one is there."""
        output = self.output(parameters)
        if finished(output):
            logger().info("%s: done before (%s)", self.name, output.name)
            return str(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        with progress_logged():
            run(output)
        logger().info("%s: made %s", self.name, output.name)
        return str(output)


_running = 0
_running_lock = threading.Lock()
_level_before = logging.NOTSET


@contextlib.contextmanager
def progress_logged():
    """The stages' progress lines (the "dvp" logger at INFO) let through while a task runs, for the Prefect logs;
    the logger's level is put back when the last task of the process ends (the commands show warnings only)."""
    global _running, _level_before
    log = logging.getLogger("dvp")
    with _running_lock:
        if _running == 0:
            _level_before = log.level
            log.setLevel(logging.INFO)
        _running += 1
    try:
        yield
    finally:
        with _running_lock:
            _running -= 1
            if _running == 0:
                log.setLevel(_level_before)


def finished(path: Path) -> bool:
    """A finished artifact: a file (written atomically), a model folder marked done, or a PNG sequence (renamed
    into place with its `sequence.json` when complete)."""
    if path.is_dir():
        return (path / DONE).is_file() or (path / "sequence.json").is_file()
    return path.is_file()


def logger() -> logging.Logger:
    """The run's logger: the Prefect logs and the terminal."""
    try:
        return get_run_logger()
    except Exception:  # called outside a run (the plain functions)
        return logging.getLogger("dvp")


DETECT = Stage("detect", ("video",), ".faces.npz")
TRACK = Stage("track", ("video",), ".track.npz", means=("detections",))
TRAIN = Stage("train", ("video", "track"))
EVALUATE = Stage("evaluate", ("video", "model"), ".json")
JOB = Stage("job", ("target", "model", "track", "source", "edits", "audio", "driver", "performer_track",
                   "music_effects"), ".mov", means=("plan", "segments"))
PLAN = Stage("plan", JOB.inputs)
ANIMATE = Stage("animate", ("photo", "audio", "driver_files"), ".mp4")
SEGMENT = Stage("segment", ("plan",), ".mov")
RETRYING = {"persist_result": True, "retries": RETRIES, "retry_delay_seconds": RETRY_DELAY_S}


@task(name="detect", cache_key_fn=DETECT.cache_key, **RETRYING)
def detect(work: str, video: str, first: int, count: int | None) -> str:
    """The faces in `count` frames of the video from frame `first` (to its end when `count` is None)."""
    parameters = dict(locals())
    from pipeline.tracking import TrackOptions, detect_faces

    return DETECT.make(parameters, lambda output: detect_faces(video, output, first, count,
                                                               TrackOptions(show_progress=False)))


@task(name="track", cache_key_fn=TRACK.cache_key, **RETRYING)
def track(work: str, video: str, face: str | int = "largest", detections: list[str] | None = None) -> str:
    """The video's track, from its faces detected in chunks when `detections` are given (the same track as one
    pass: see `pipeline.tracking.detect_faces`)."""
    parameters = dict(locals())
    from pipeline.tracking import TrackOptions, track_video

    return TRACK.make(parameters, lambda output: track_video(
        video, output, options=TrackOptions(face=face, show_progress=False), detections=detections))


@task(name="train", cache_key_fn=TRAIN.cache_key, **RETRYING)
def train(work: str, video: str, track: str, preset: str = "cpu", minutes: float | None = None,
          steps: int | None = None, mouth_minutes: float = 0.0, eyes_minutes: float = 0.0,
          device: str = "auto") -> str:
    """The video's model (and its mouth and eye pathways when given time), resumed from its last checkpoint when
    an earlier run was cut short."""
    parameters = dict(locals())
    from pipeline.training import train_model, training_config
    from translation import model_dir
    from translation.pathway_training import train_pathway
    from translation.pathways import PATHWAYS
    from translation.training import TrainOptions

    def run(output: Path) -> None:
        resume = (output / model_dir.CHECKPOINT).is_file()
        options = TrainOptions(steps=steps, minutes=minutes, resume=resume, show_progress=False, device=device)
        train_model(video, output, None if resume else training_config(output, preset), None if resume else track,
                    options)
        for name, budget in (("mouth", mouth_minutes), ("eyes", eyes_minutes)):
            if budget:
                started = (output / PATHWAYS[name].folder / model_dir.CHECKPOINT).is_file()
                train_pathway(PATHWAYS[name], video, output, TrainOptions(minutes=budget, resume=started,
                                                                       show_progress=False, device=device))
        write_json(output / DONE, {"preset": preset, "minutes": minutes, "steps": steps})

    return TRAIN.make(parameters, run)


@task(name="evaluate", cache_key_fn=EVALUATE.cache_key, **RETRYING)
def evaluate(work: str, video: str, model: str, device: str = "auto") -> str:
    """The model's scores on its held-out frames, as the report of `dvp evaluate`."""
    parameters = dict(locals())
    from pipeline.evaluation import evaluate as score

    return EVALUATE.make(parameters, lambda output: score(model, video, report=output, show_progress=False,
                                                          device=device))


@task(name="job", cache_key_fn=JOB.cache_key, **RETRYING)
def job(work: str, kind: str, target: str, model: str | None, track: str | None = None, source: str | None = None,
        edits: str | None = None, audio: str | None = None, driver: str | None = None,
        performer_track: str | None = None, music_effects: str | None = None, options: dict | None = None,
        suffix: str = ".mov") -> str:
    """A reenactment, edit or dub of the target in one pass, with its report beside it (verified unless the options
    say not); `performer_track` is the source's (reenact) or the dubbing actor's (dub) track when it was made
    apart."""
    parameters = dict(locals())
    from pipeline.job import run_job

    return JOB.make(parameters, lambda output: run_job(_job(parameters, output, output.with_suffix(".json"))))


@task(name="plan", cache_key_fn=PLAN.cache_key, **RETRYING)
def plan(work: str, kind: str, target: str, model: str | None, track: str | None = None, source: str | None = None,
         edits: str | None = None, audio: str | None = None, driver: str | None = None,
         performer_track: str | None = None, music_effects: str | None = None, options: dict | None = None,
         suffix: str = ".mov") -> str:
    """The job (as `job` takes it) decided once, for its output to be made in segments: a plan folder."""
    parameters = dict(locals())
    from pipeline.segments import plan_job

    def run(folder: Path) -> None:
        plan_job(_job(parameters, folder / f"output{suffix}", None), folder)
        write_json(folder / DONE, {"kind": kind})

    return PLAN.make(parameters, run)


@task(name="segment", cache_key_fn=SEGMENT.cache_key, **RETRYING)
def segment(work: str, plan: str, first: int, stop: int, suffix: str) -> str:
    """Output frames `first` to `stop` of a planned job."""
    parameters = dict(locals())
    from pipeline.segments import render_segment

    return SEGMENT.make(parameters, lambda output: render_segment(plan, first, stop, output, show_progress=False))


@task(name="join", cache_key_fn=JOB.cache_key, **RETRYING)
def join(work: str, kind: str, target: str, model: str | None, track: str | None = None, source: str | None = None,
         edits: str | None = None, audio: str | None = None, driver: str | None = None,
         performer_track: str | None = None, music_effects: str | None = None, options: dict | None = None,
         suffix: str = ".mov", plan: str | None = None, segments: list[str] | None = None) -> str:
    """The job's output joined from its segments, with its report: the artifact `job` makes in one pass."""
    parameters = dict(locals())
    from pipeline.segments import join_job

    return JOB.make(parameters, lambda output: join_job(plan, segments, output, report=output.with_suffix(".json"),
                                                        show_progress=False))


@task(name="animate", cache_key_fn=ANIMATE.cache_key, **RETRYING)
def animate(work: str, photo: str, drivers: list[str] | None = None, audio: str | None = None,
            driver_files: list[str] | None = None, seconds: float | None = None, suffix: str = ".mp4") -> str:
    """The photo animated by its drivers (names; `driver_files`: those that are videos, keyed on their content) or
    by speech, with its report beside it."""
    parameters = dict(locals())
    from pipeline.animation import AnimateOptions
    from pipeline.animation import animate as run

    return ANIMATE.make(parameters, lambda output: run(photo, output, drivers, audio, AnimateOptions(
        report=output.with_suffix(".json"), show_progress=False, seconds=seconds, verify=True)))


def _job(parameters: dict, output: Path, report: Path | None):
    """The pipeline's job for a task's parameters (see `job`), writing `output`."""
    from pipeline.delivery import DeliverySettings
    from pipeline.dubbing import DubSettings, dubbing
    from pipeline.editing import editing
    from pipeline.job import JobOptions
    from pipeline.marking import MarkOptions
    from pipeline.reenactment import reenactment

    p = parameters
    given = dict(p["options"] or {})
    delivery = DeliverySettings(Path(p["music_effects"]) if p["music_effects"] else None, given.pop("stems", False),
                                given.pop("loudness", None))
    settings = DubSettings(given.pop("keep_length", False), given.pop("same_language", False), delivery)
    marks = MarkOptions.of_settings(given)
    options = JobOptions(track=Path(p["track"]) if p["track"] else None, report=report,
                         verify=given.pop("verify", True), show_progress=False, marks=marks, **given)
    if p["kind"] == "reenact":
        return reenactment(p["source"], p["target"], p["model"], output, source_track=p["performer_track"],
                           options=options)
    if p["kind"] == "edit":
        return editing(p["target"], p["model"], p["edits"], output, options)
    return dubbing(p["target"], p["model"], output, audio=p["audio"], driver=p["driver"],
                   driver_track=p["performer_track"], settings=settings, options=options)


def deliver(made: str, wanted: str | os.PathLike) -> str:
    """Copy a finished artifact (and its report) to where the job file asked for it, atomically."""
    made, wanted = Path(made), Path(wanted)
    wanted.parent.mkdir(parents=True, exist_ok=True)
    for source, target in ((made, wanted), (made.with_suffix(".json"), wanted.with_suffix(".json"))):
        if source.exists():
            with replacing(target) as temporary:
                shutil.copyfile(source, temporary)
    return str(wanted)
