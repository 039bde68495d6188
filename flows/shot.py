"""The flows: one per job kind, and the `shot` flow a job file drives. Thin: they only compose the tasks.

The shot flow reads like the job: track the target, train its model when the job
file gives none, run the job (verified), and deliver the output where the job
file asked. Every artifact lives in the work folder under its content key
(`flows.content`), so running the flow again does only what is not done yet:
after a crash it carries on from its finished stages, and a second run of a
finished job is served from the work folder.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

from prefect import flow, unmapped

from flows import tasks
from flows.job_file import ShotJob, load_job
from flows.runs import noted

CHUNK_FRAMES = 256  # frames a detection task takes: a multiple of the detector's segment (TrackOptions.segment)
SEGMENT_FRAMES = 256  # output frames a synthesis task makes; multiples of 256 give the frames of one pass


def work_folder(job_file: Path, work: str | os.PathLike | None) -> Path:
    """The work folder: given, or `<job file>.work` beside the job file."""
    return Path(work) if work else job_file.with_name(f"{job_file.stem}.work")


def on_gpu(wanted: bool):
    """Where tasks submitted in the block run on a Dask cluster: with `wanted`, only on workers started with
    `--resources GPU=1` (training and synthesis); elsewhere, and with Prefect's own runner, anywhere."""
    if not wanted:
        return contextlib.nullcontext()
    import dask

    return dask.annotate(resources={"GPU": 1})


@flow(name="shot", log_prints=True)
def shot_flow(job_file: str, work: str | None = None, segment_frames: int = SEGMENT_FRAMES,
              gpu: bool = False) -> dict:
    """Track and train when the job file gives no model, run the job of `job_file` and deliver its output. The
    target and the source (or the dubbing actor) are tracked side by side, and the source while the target's model
    trains; the output is made in segments of `segment_frames` side by side (0: in one pass). With `gpu`, training
    and synthesis run on the Dask workers that have a GPU (see `on_gpu`)."""
    job = load_job(job_file)
    folder = str(work_folder(job.file, work))
    with noted(folder):
        return _shot(job, folder, segment_frames, gpu)


def _shot(job: ShotJob, folder: str, segment_frames: int, gpu: bool) -> dict:
    target_track = tracked(folder, job.target) if job.model is None else None  # else: the model's
    performer = job.source or job.driver
    performer_track = tracked(folder, performer) if performer is not None else None
    with on_gpu(gpu):
        model = str(job.model) if job.model else tasks.train.submit(folder, str(job.target), target_track,
                                                                    **job.train)
    made = job_output(folder, segment_frames, job.kind, str(job.target), model, track=target_track,
                      source=_text(job.source), edits=_text(job.edits), audio=_text(job.audio),
                      driver=_text(job.driver), performer_track=performer_track,
                      music_effects=job.options.get("music_effects"),
                      options={k: v for k, v in job.options.items() if k != "music_effects"},
                      suffix=job.output.suffix or ".mov", gpu=gpu).result()
    track = target_track.result() if target_track is not None else None
    model = model if isinstance(model, str) else model.result()
    return {"job": job.kind, "output": tasks.deliver(made, job.output), "model": model, "track": track,
            "work": folder}


def tracked(folder: str, video: str | os.PathLike, face: str | int = "largest", chunk: int = CHUNK_FRAMES):
    """The video's track (a future): its faces detected in chunks of `chunk` frames as tasks side by side, then
    followed, fitted and lit in one task."""
    from base.reading import VideoReader

    frames = VideoReader(video).frame_count
    firsts = list(range(0, max(frames, 1), chunk))
    counts = [chunk if first + chunk < frames else None for first in firsts]  # the last one: to the end
    detections = tasks.detect.map(unmapped(folder), unmapped(str(video)), firsts, counts)
    return tasks.track.submit(folder, str(video), face, detections=detections)


def job_output(folder: str, segment_frames: int, kind: str, target: str, model, gpu: bool = False, **job):
    """The job's output (a future): planned once, then made in segments of `segment_frames` frames as tasks side
    by side and joined (`pipeline.segments`); in one task when `segment_frames` is 0 or the output is a PNG
    sequence or the job asks for a preview, which segments do not make. With `gpu`, on GPU workers."""
    if not segment_frames or job["suffix"] not in (".mp4", ".mov") or (job.get("options") or {}).get("preview"):
        with on_gpu(gpu):
            return tasks.job.submit(folder, kind, target, model, **job)
    from pipeline.segments import chunks, planned_frames

    with on_gpu(gpu):
        plan = tasks.plan.submit(folder, kind, target, model, **job).result()
        ranges = chunks(planned_frames(plan), segment_frames)
        segments = tasks.segment.map(unmapped(folder), unmapped(plan), [a for a, _ in ranges],
                                     [b for _, b in ranges], unmapped(job["suffix"]))
    return tasks.join.submit(folder, kind, target, model, **job, plan=plan, segments=segments)


def run_shot(job_file: str, work: str | None = None, dask_address: str | None = None, workers: int | None = None,
             segment_frames: int = SEGMENT_FRAMES, gpu: bool = False) -> dict:
    """The shot flow on the task runner asked for (see `flows.runners`)."""
    from flows.runners import task_runner

    runner = task_runner(dask_address, workers)
    return (shot_flow.with_options(task_runner=runner) if runner is not None else shot_flow)(
        job_file, work, segment_frames, gpu)


@flow(name="track")
def track_flow(video: str, work: str, face: str | int = "largest") -> str:
    return tracked(work, video, face).result()


@flow(name="train")
def train_flow(video: str, work: str, preset: str = "cpu", minutes: float | None = None,
               mouth_minutes: float = 0.0) -> str:
    return tasks.train(work, video, tracked(work, video), preset=preset, minutes=minutes,
                       mouth_minutes=mouth_minutes)


@flow(name="evaluate")
def evaluate_flow(video: str, model: str, work: str) -> str:
    return tasks.evaluate(work, video, model)


@flow(name="dub")
def dub_flow(target: str, model: str, audio: str, output: str, work: str, options: dict | None = None,
             segment_frames: int = SEGMENT_FRAMES) -> str:
    return tasks.deliver(job_output(work, segment_frames, "dub", target, model, audio=audio, options=options,
                                    suffix=Path(output).suffix or ".mov").result(), output)


@flow(name="reenact")
def reenact_flow(target: str, model: str, source: str, output: str, work: str, options: dict | None = None,
                 segment_frames: int = SEGMENT_FRAMES) -> str:
    return tasks.deliver(job_output(work, segment_frames, "reenact", target, model, source=source, options=options,
                                    suffix=Path(output).suffix or ".mov").result(), output)


@flow(name="edit")
def edit_flow(target: str, model: str | None, edits: str, output: str, work: str, options: dict | None = None,
              segment_frames: int = SEGMENT_FRAMES) -> str:
    return tasks.deliver(job_output(work, segment_frames, "edit", target, model, edits=edits, options=options,
                                    suffix=Path(output).suffix or ".mov").result(), output)


@flow(name="animate")
def animate_flow(photo: str, output: str, work: str, drivers: list[str] | None = None, audio: str | None = None,
                 seconds: float | None = None) -> str:
    """A still portrait animated by drivers (names or videos) or by speech, verified, delivered to `output`."""
    files = [d for d in drivers or [] if Path(d).suffix and Path(d).is_file()]
    return tasks.deliver(tasks.animate(work, photo, drivers, audio, files, seconds,
                                       suffix=Path(output).suffix or ".mp4"), output)


def _text(path: Path | None) -> str | None:
    return str(path) if path is not None else None
