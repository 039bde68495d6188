"""From a driven performance of the target actor to finished frames: render, translate, composite, mouth, eyes,
write.

The one synthesis stage of every job that changes the target's pixels. Per
batch of output frames:

- render: the conditioning of the driven parameters in the model's shot crop,
  pushed through the space-time window;
- translate: the network paints the crop of every frame that needs it;
- composite: the crop is blended into the target frame it sits on
  (`pipeline.compositing`), scaled by the frame's `fade` in [0, 1] (0 passes
  the target frame through untouched, bit-exact before encoding, and skips the
  network);
- mouth: the model's mouth pathway (`translation.pathways`), when it has one,
  repaints the lips, teeth and the skin around them at about the source's
  resolution; then the retrieval mouth (`translation.mouth_retrieval`), when
  given, paints the lips and teeth from the target's own frames whose lips
  are nearest in shape;
- eyes: the eye stage (`pipeline.eyes.stage`): the eye pathway's repaint, and
  the gaze warp that turns the target frame's own eyeballs, in painted frames
  and in frames whose only change is the gaze (`Performance.eyes_only`),
  which never see the network;
- write: the frame is applied to the target's own frame as the output stores
  it (`base.plates.Plates`: a shot of more than 8 bits written to ProRes or
  PNG keeps its depth, non-square pixels their aspect, interlaced fields their
  order) and encoded; a side-by-side preview is written beside it.

The network is conditioned on the asked head pose corrected by what a pilot
pass of the same job showed it paints (`pipeline.pose_calibration`). With no
translator (a gaze-only edit of a shot with no model) only the eye stage runs.
Frames are streamed from and to disk in batches, so memory does not depend on
the length of the shot.
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

from base.plates import Plates
from base.progress import progress
from base.reading import VideoReader, frames_in_order
from base.writing import VideoWriter, open_output
from pipeline.compositing import COLOUR_MEMORY, CompositeSettings, Compositor
from pipeline.eyes.gaze_calibration import GazeCalibration
from pipeline.eyes.settings import DEFAULT as EYE_DEFAULTS
from pipeline.eyes.settings import EyeSettings
from pipeline.eyes.stage import EyeStage, gaze_calibration
from pipeline.marking import MarkedWriter, Marks, marked
from pipeline.pose_calibration import PoseCalibration, calibrate_pose
from pipeline.transfer import Performance
from reconstruction.fitting import actor_from_track
from rendering.backends import resolve
from rendering.conditioning import Conditioning, ConditioningRenderer
from rendering.crop import CropBox
from rendering.spacetime import SpaceTimeWindows
from translation.inference import Translator
from translation.mouth_retrieval import MouthRetrieval
from translation.pathways import TrainedPathway

PREVIEW_HEIGHT = 360
BATCH_FRAME_BYTES = 256 * 2**20  # target frames held per batch: 43 at 1080p, 10 at 4K, 3 at 4K with 16-bit plates
WARP_BATCH = 64  # frames per batch when no network runs
ALIGN = 256  # batches are powers of two up to this, so a segment starting on a multiple of it has one pass's batches


@dataclass
class SynthesisOptions:
    fmt: str = "mp4"  # mp4 | prores | png
    audio: Path | None = None
    timecode: str | None = None
    rasterizer: str = "auto"
    show_progress: bool = True
    composite: CompositeSettings = field(default_factory=CompositeSettings)
    eyes: EyeSettings = EYE_DEFAULTS
    gaze_warp: bool = True  # turn the target frame's own eyeballs to the intended gaze (see pipeline.eyes)
    gaze_gain: float | None = None  # share of a yaw turn the tracker reads; None: measure it on the target
    pose_calibration: bool = True  # measure by a pilot pass how much of the asked head pose the model paints
    stage: str = "synthesise"  # the progress bar's label
    draft: bool = False  # an output only to be tracked (a pilot pass): H.264 encoded fast
    keep_depth: bool = True  # a target of more than 8 bits keeps them in ProRes and PNG (see base.plates)
    marks: Marks | None = None  # the label and watermark every output frame gets (`pipeline.marking`)


@dataclass
class Batch:
    """Consecutive output frames: their indices, the target frames under them as the work sees them (8 bits, square
    pixels) and as the output stores them (`Plates`)."""

    idx: np.ndarray
    frames: list[np.ndarray]
    plates: list[np.ndarray]


@dataclass
class Rendered:
    """A batch's conditioning: the driven images, their space-time windows, and the target's own face masks."""

    conditioning: Conditioning
    windows: torch.Tensor  # (B, 9 * N_w, S, S)
    before: torch.Tensor  # (B, 1, S, S) uint8: the target's original face in each target frame


@dataclass
class Painted:
    """What the network painted: the batch rows, their crops (R, S, S, 3), and the target frames' crops under them."""

    rows: np.ndarray
    crops: np.ndarray
    real: np.ndarray


def synthesise(performance: Performance, translator: Translator | None, crop: CropBox | None, target_track,
               target_video: Path, output: Path, options: SynthesisOptions, fade: np.ndarray | None = None,
               preview: Path | None = None, preview_left: Iterator[np.ndarray] | None = None,
               preview_labels: tuple[str, ...] = ("source", "conditioning", "output"),
               eyes: TrainedPathway | None = None, mouth: TrainedPathway | None = None,
               retrieval: MouthRetrieval | None = None, frames: tuple[int, int] | None = None,
               calibrated: Calibrations | None = None) -> dict:
    """Write the output video (and optionally a side-by-side preview of `preview_left`, or the target, the
    conditioning and the output); returns statistics. `eyes` and `mouth`: the model's pathways, which repaint the
    eyes and the mouth of every frame the network paints; `retrieval` paints the mouth of those frames last.
    `frames` (first, stop): only those output frames, as a segment of the output (see `pipeline.segments`): they
    are the frames one pass would make there, given the same `calibrated` (measured for the whole job by
    `calibrate`; measured here when not given)."""
    started = time.perf_counter()
    total = len(performance.track)
    first, stop = frames if frames is not None else (0, total)
    n = stop - first
    fade, painted, warped = frame_weights(performance, translator is not None, fade, options.gaze_warp)
    info = VideoReader(target_video)
    plates = Plates.of(info.info, options.fmt, options.keep_depth, options.draft)
    actor = actor_from_track(target_track)
    with tempfile.TemporaryDirectory(prefix=".dvp-tmp-", dir=output.parent) as scratch, \
            marked(open_output(output, options.fmt, info.fps, *plates.size, options.audio, options.timecode,
                               options.draft, plates.deep, plates.sar, plates.field_order, plates.colour),
                   None if options.draft else options.marks) as writer:
        scratch = Path(scratch)
        if calibrated is None:
            calibrated = calibrate(performance, translator, crop, target_track, target_video, painted, fade, options,
                                   scratch)
        head = None
        if translator is not None:
            head = HeadPainter(performance, translator, crop, target_track, actor, painted, calibrated.pose, options,
                               mouth, retrieval)
        eye_stage = EyeStage(performance, target_track, actor, calibrated.gaze, eyes,
                             head.conditioned if head else None, head.posed if head else None,
                             resolve(options.rasterizer) if eyes is not None else "builtin", options.eyes)
        batch_size = aligned_batch(min(head.batch_frames if head else WARP_BATCH,
                                        BATCH_FRAME_BYTES // plates.frame_bytes))
        lead = head.lead_in(first, batch_size) if head is not None else first
        labels = preview_labels if head else (preview_labels[0], preview_labels[-1])
        side_by_side = SideBySide(preview, info.fps, info.height, labels, options.audio, options.marks)
        frames = frames_in_order(target_video, performance.target_frames[lead:stop], scratch, plates.deep,
                                 plates.stored, plates.woven)
        with side_by_side, contextlib.closing(eye_stage):
            for batch in _batches(frames, plates, lead, first, stop, batch_size, options):
                rows = np.flatnonzero(painted[batch.idx] > 0)  # the rows the network paints
                if batch.idx[0] < first:  # before the segment: only to rebuild the colour correction's memory
                    rendered = head.render(batch.idx)
                    head.composite(batch, head.translate(batch, rows, rendered), rendered, fade, counted=False)
                    continue
                results, rendered = list(batch.frames), None
                if head is not None:
                    rendered = head.render(batch.idx)
                    crops = head.translate(batch, rows, rendered)
                    results = head.composite(batch, crops, rendered, fade)
                    results = head.mouth(batch, crops, results, fade)
                results = eye_stage.apply(batch.idx, results, batch.frames, rows, np.flatnonzero(warped[batch.idx]),
                                          fade)
                write(writer, side_by_side, plates, batch, results, rendered, preview_left)
    seconds = time.perf_counter() - started
    synthesised = head.synthesised if head else 0
    warped_only = int(warped.sum())
    return {"frames": n, "synthesised_frames": synthesised, "eyes_only_frames": warped_only,
            "passed_through_frames": n - synthesised - warped_only,
            "seconds": round(seconds, 1), "frames_per_second": round(n / seconds, 2),
            "network_frames_per_second": round(synthesised / head.network_s, 1) if head and head.network_s else None,
            "bit_depth": 16 if plates.deep else 8, "pixel_aspect": plates.pixel_aspect,
            "field_order": plates.field_order, "colour": writer.colour.label(), **eye_stage.report(),
            "marking_seconds": round(getattr(writer, "marking_seconds", 0.0), 2),
            "pose_calibration": head.posed.report() if head else None,
            "mouth_pathway_step": mouth.step if head and mouth is not None else None,
            "mouth_retrieval_frames": len(retrieval.library) if head and retrieval is not None else None,
            "peak_memory_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def aligned_batch(frames: int) -> int:
    """The largest power of two up to `frames` and `ALIGN`: the network's arithmetic depends (in its last bits) on
    which frames share a batch, so segments of the output made apart must cut them where one pass does."""
    return 1 << (max(1, min(frames, ALIGN)).bit_length() - 1)


def frame_weights(performance: Performance, network: bool, fade: np.ndarray | None,
                  gaze_warp: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output frame: its fade (1 where none is given), how much of it the network paints (0 without a network,
    and in frames whose only change is the gaze when the gaze warp makes it), and whether only the warp changes it."""
    total = len(performance.track)
    fade = np.ones(total) if fade is None else np.asarray(fade, dtype=np.float64)
    eyes_only = np.zeros(total, bool)
    if gaze_warp and performance.eyes_only is not None:
        eyes_only = np.asarray(performance.eyes_only, bool)
    valid = performance.track.valid
    painted = np.where(eyes_only, 0.0, fade) * valid if network else np.zeros(total)
    return fade, painted, eyes_only & (fade > 0) & valid


def _batches(frames: Iterator[np.ndarray], plates: Plates, lead: int, first: int, stop: int, size: int,
             options: SynthesisOptions) -> Iterator[Batch]:
    """Output frames `lead` to `stop` in batches that end on multiples of `size` (so a segment's batches are those
    of one pass) and before `first` (where the segment starts, after its lead-in), with a progress bar."""
    batch = Batch(np.zeros(0, int), [], [])
    for j in progress(range(lead, stop), stop - lead, options.stage, options.show_progress):
        plate = next(frames)
        batch.plates.append(plate)
        batch.frames.append(plates.work(plate))
        if (j + 1) % size == 0 or j + 1 == first or j == stop - 1:
            batch.idx = np.arange(j + 1 - len(batch.frames), j + 1)
            yield batch
            batch = Batch(np.zeros(0, int), [], [])


@dataclass
class Calibrations:
    """What a job measures once, before its first frame: how much of the asked head pose the network paints (a pilot
    pass), and how much of a gaze turn tracking reads back (on the target)."""

    pose: PoseCalibration
    gaze: GazeCalibration | None  # None: no gaze warp


def calibrate(performance: Performance, translator: Translator | None, crop: CropBox | None, target_track,
              target_video: Path, painted: np.ndarray, fade: np.ndarray, options: SynthesisOptions,
              scratch: Path) -> Calibrations:
    """The job's calibrations (see `Calibrations`), each the identity when switched off or when nothing needs it."""
    posed = PoseCalibration(note="switched off" if translator is not None else "no network")
    if translator is not None and options.pose_calibration:
        pilot_options = replace(options, fmt="mp4", audio=None, timecode=None, gaze_warp=False,
                                pose_calibration=False, stage="pose pilot", draft=True)

        def pilot(part: Performance, video: Path) -> None:
            synthesise(part, translator, crop, target_track, target_video, video, pilot_options)

        posed = calibrate_pose(performance, target_track, painted, pilot, scratch,
                               lead_in=translator.config.window - 1)
    gaze = gaze_calibration(performance, target_track, target_video, fade, options.gaze_gain, scratch,
                            options.show_progress, options.eyes) if options.gaze_warp else None
    return Calibrations(posed, gaze)


class HeadPainter:
    """The network's part of synthesis: render the driven conditioning, translate it, composite the painted head."""

    def __init__(self, performance: Performance, translator: Translator, crop: CropBox, target_track, actor,
                 painted: np.ndarray, posed: PoseCalibration, options: SynthesisOptions,
                 mouth: TrainedPathway | None = None, retrieval: MouthRetrieval | None = None):
        self.performance, self.translator, self.crop = performance, translator, crop
        self.size = translator.config.size
        self.painted, self.posed = painted, posed
        backend = resolve(options.rasterizer)
        self.original = ConditioningRenderer(target_track, crop, self.size, backend, actor=actor)
        self.conditioned = posed.conditioned(performance.track)
        self.driven = ConditioningRenderer(self.conditioned, crop, self.size, backend, actor=actor)
        self.compositor = Compositor(crop, self.size, options.composite)
        self.windows = SpaceTimeWindows(translator.config.window)
        # The mouth pathway works where the network paints the mouth: in the conditioned head.
        self.mouth_pathway = mouth
        self.mouth_view = mouth.view(self.conditioned, backend, actor) if mouth is not None else None
        self.retrieval = retrieval
        self.synthesised = 0
        self.network_s = 0.0

    @property
    def batch_frames(self) -> int:
        return min(self.original.batch_frames, self.translator.batch_size * 4)

    def lead_in(self, first: int, batch_size: int) -> int:
        """Where a segment starting at output frame `first` must start painting for its frames to be those of one
        pass: at the batch holding the last painted frames whose colour offsets the compositor remembers (twice as
        many, since some add none); returns that frame, after pushing the conditioning its space-time window holds
        from before it."""
        before = np.flatnonzero(self.painted[:first] > 0)[-2 * COLOUR_MEMORY:]
        lead = int(before[0]) // batch_size * batch_size if len(before) else first
        held = np.arange(max(0, lead - (self.windows.frames - 1)), lead)
        if len(held):
            self.windows.push_batch(self.driven.render(held).stacked())
        return lead

    def render(self, idx: np.ndarray) -> Rendered:
        """The driven conditioning of output frames `idx`, pushed through the space-time window (every frame is
        pushed, painted or not, so that the windows hold what they would in one pass)."""
        conditioning = self.driven.render(idx)
        return Rendered(conditioning, self.windows.push_batch(conditioning.stacked()),
                        self.original.render(self.performance.target_frames[idx]).mask)

    def translate(self, batch: Batch, rows: np.ndarray, rendered: Rendered) -> Painted:
        """The network's crops of the batch `rows` it paints."""
        if not len(rows):
            return Painted(rows, np.zeros((0, self.size, self.size, 3), np.uint8), np.zeros(0))
        t0 = time.perf_counter()
        real = np.stack([self.crop.cut(batch.frames[k], self.size) for k in rows])  # the target frames' crops
        plates = self.translator.plates(torch.from_numpy(real).permute(0, 3, 1, 2),
                                        [rendered.conditioning.mask[rows] > 127, rendered.before[rows] > 127])
        crops = self.translator(rendered.windows[rows], plates).permute(0, 2, 3, 1).numpy()
        self.network_s += time.perf_counter() - t0
        return Painted(rows, crops, real)

    def composite(self, batch: Batch, painted: Painted, rendered: Rendered, fade: np.ndarray,
                  counted: bool = True) -> list[np.ndarray]:
        """The batch's target frames with the painted crops blended in (through the soft head mask, faded);
        `counted`: whether they are output frames (not a segment's lead-in) for the statistics."""
        results = list(batch.frames)
        for r, k in enumerate(painted.rows):
            masks = [rendered.conditioning.mask[k, 0].numpy(), rendered.before[k, 0].numpy()]
            mask = self.compositor.soft_mask(masks) * fade[batch.idx[k]]
            results[k] = self.compositor.composite(batch.frames[k], painted.crops[r], mask, real=painted.real[r])
            self.synthesised += counted
        return results

    def mouth(self, batch: Batch, painted: Painted, results: list[np.ndarray], fade: np.ndarray) -> list[np.ndarray]:
        """The painted rows' mouths repainted by the model's mouth pathway at about the source's resolution, then by
        the retrieval mouth, each when there is one (faded as the frame is)."""
        if self.mouth_view is not None:
            t0 = time.perf_counter()
            results = self.mouth_pathway.repaint_rows(self.mouth_view, results, painted.rows, batch.idx, fade)
            self.network_s += time.perf_counter() - t0
        if self.retrieval is not None:
            results = list(results)
            for k in painted.rows:
                j = batch.idx[k]
                mouth = self.retrieval.paint(results[k], self.conditioned, j).astype(np.float32)
                results[k] = np.clip(fade[j] * mouth + (1 - fade[j]) * results[k], 0, 255).astype(np.uint8) \
                    if fade[j] < 1 else mouth.astype(np.uint8)
        return results


def write(writer, side_by_side: SideBySide, plates: Plates, batch: Batch, results: list[np.ndarray],
          rendered: Rendered | None, preview_left: Iterator[np.ndarray] | None) -> None:
    """Each result applied to its target frame as the output stores it and encoded; the preview row beside it."""
    for k, result in enumerate(results):
        frame = batch.frames[k]
        writer.write(plates.output(result, frame, batch.plates[k]))
        if side_by_side.path is None:
            continue
        left = next(preview_left, None) if preview_left is not None else frame
        left = frame if left is None else left
        middle = [rendered.conditioning.colour[k].permute(1, 2, 0).numpy()] if rendered is not None else []
        side_by_side.write([left, *middle, result])


def fit_height(image: np.ndarray, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    width = max(2, int(round(w * height / h / 2)) * 2)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if h > height else cv2.INTER_LINEAR)


class SideBySide:
    """A preview video of labelled panels side by side (each `PREVIEW_HEIGHT` high at most), with the output's
    sound and its marks, opened at the first row; as a context manager it is discarded, not left half-written, when
    the job fails."""

    def __init__(self, path: Path | None, fps, frame_height: int, labels: tuple[str, ...], audio: Path | None = None,
                 marks: Marks | None = None):
        self.path, self.fps, self.labels, self.audio, self.marks = path, fps, labels, audio, marks
        self.height = min(PREVIEW_HEIGHT, frame_height) // 2 * 2
        self._writer: VideoWriter | MarkedWriter | None = None

    def write(self, images: list[np.ndarray]) -> None:
        if self.path is None:
            return
        panels = [fit_height(image, self.height) for image in images]
        for panel, label in zip(panels, self.labels):
            cv2.putText(panel, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        row = np.concatenate(panels, axis=1)
        if self._writer is None:
            self._writer = marked(VideoWriter(self.path, self.fps, row.shape[1], row.shape[0], audio=self.audio),
                                  self.marks)
        if row.shape[1] != self._writer.width:
            row = cv2.resize(row, (self._writer.width, self._writer.height))
        self._writer.write(row)

    def __enter__(self) -> SideBySide:
        return self

    def __exit__(self, kind, value, trace) -> None:
        if self._writer is not None:
            if kind is None:
                self._writer.close()
            else:
                self._writer.__exit__(RuntimeError, None, None)  # discard the half-written preview
