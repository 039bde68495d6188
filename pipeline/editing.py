"""`dvp edit`: a director's edit spec drives the target's own performance (see `pipeline.edit_spec`).

Frames outside the edited ranges pass through untouched; edits of the gaze
alone are made by the gaze warp on the shot itself and need no model.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.edit_spec import load_edit_spec
from pipeline.job import Driven, Job, JobOptions, run_job
from reconstruction.track import Track


@dataclass
class EditSpec:
    """The drive of an edit: the spec's changes over the target's own performance."""

    spec: Path
    kind = "edit"
    default_audio = "target"
    preview_labels = ("original", "conditioning", "output")

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def source(self) -> Path | None:
        return None

    def inputs(self) -> dict[str, Path]:
        return {"edit spec": self.spec}

    def check(self, options: JobOptions) -> None:
        pass

    def perform(self, target_track: Track, target: Path, timecode: str | None, scratch: Path,
                options: JobOptions) -> Driven:
        performance, weight, fade = load_edit_spec(self.spec, target_track, timecode)
        return Driven(performance, fade=fade, changed=weight > 0, scored=np.flatnonzero(weight >= 1),
                      report={"edits": self.spec.name, "edited_frames": int((weight > 0).sum()),
                              "fully_edited_frames": int((weight >= 1).sum())})


def edit(target: str | os.PathLike, model: str | os.PathLike | None, spec: str | os.PathLike,
         output: str | os.PathLike, options: JobOptions | None = None) -> dict:
    """Apply an edit spec to the target video through its trained model, or with no model when every edit is a
    gaze edit; returns the report."""
    return run_job(editing(target, model, spec, output, options))


def editing(target: str | os.PathLike, model: str | os.PathLike | None, spec: str | os.PathLike,
            output: str | os.PathLike, options: JobOptions | None = None) -> Job:
    """The edit job `edit` runs (see it), to run in one pass or in segments (`pipeline.segments`)."""
    return Job(Path(target), EditSpec(Path(spec)), Path(output), Path(model) if model else None,
               options or JobOptions())
