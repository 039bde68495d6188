"""`dvp reenact`: a source actor's performance drives the target actor, through the target's trained model.

The source is tracked (unless its track is given), the chosen parts of its
performance are carried onto the target (`pipeline.transfer`), and the job
runner does the rest (`pipeline.job`). The output is as long as the source.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from base.errors import DvpError
from base.reading import VideoReader
from pipeline.job import Driven, Job, JobOptions, run_job
from pipeline.tracking import load_or_track
from pipeline.transfer import PARTS, transfer
from reconstruction.track import Track


@dataclass
class SourcePerformance:
    """The drive of a reenactment: a source video's performance, from the face `face` when it is tracked now."""

    video: Path
    track: Path | None = None
    face: str | int = "largest"
    parts: tuple[str, ...] = PARTS
    kind = "reenact"
    default_audio = "source"
    preview_labels = ("source", "conditioning", "output")

    @property
    def name(self) -> str:
        return f"the performance in {self.video.name}"

    @property
    def source(self) -> Path | None:
        return self.video

    def inputs(self) -> dict[str, Path]:
        return {"source video": self.video}

    def check(self, options: JobOptions) -> None:
        if self.track is not None and self.face != "largest":
            raise DvpError("--source-face picks a face when the source is tracked now; the track given with "
                           "--source-track already follows one (make it with `dvp track SOURCE --face N`)")

    def perform(self, target_track: Track, target: Path, timecode: str | None, scratch: Path,
                options: JobOptions) -> Driven:
        source = load_or_track(self.video, self.track, scratch, options.show_progress, "source", self.face)
        performance = transfer(source, target_track, self.parts)
        return Driven(performance, preview_left=VideoReader(self.video, fps=VideoReader(target).fps),
                      report={"source": self.video.name, "source_face": self.face, "transfer": list(self.parts),
                              "held_source_frames": performance.held_source_frames,
                              "target_passes": int(-(-len(performance.track) // len(target_track)))})


def reenact(source: str | os.PathLike, target: str | os.PathLike, model: str | os.PathLike,
            output: str | os.PathLike, parts: tuple[str, ...] = PARTS, source_track: str | os.PathLike | None = None,
            source_face: str | int = "largest", options: JobOptions | None = None) -> dict:
    """Reenact `target` with the performance in `source` through the target's `model`; returns the report."""
    return run_job(reenactment(source, target, model, output, parts, source_track, source_face, options))


def reenactment(source: str | os.PathLike, target: str | os.PathLike, model: str | os.PathLike,
                output: str | os.PathLike, parts: tuple[str, ...] = PARTS,
                source_track: str | os.PathLike | None = None, source_face: str | int = "largest",
                options: JobOptions | None = None) -> Job:
    """The reenactment job `reenact` runs (see it), to run in one pass or in segments (`pipeline.segments`)."""
    drive = SourcePerformance(Path(source), Path(source_track) if source_track else None, source_face, parts)
    return Job(Path(target), drive, Path(output), Path(model), options or JobOptions())
