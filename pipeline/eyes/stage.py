"""The eye stage: what happens to the eyes of each output frame once the head is composited into it.

Three named steps, in this order:

1. network repaint: the model's eye pathway (`translation.pathways`) repaints both
   eyes of every frame the main network painted, at the source's resolution;
2. painted head: where the network actually painted the head in those frames
   (`pipeline.eyes.painted_head`), so that the eyeballs go into the sockets as
   painted rather than where the asked pose would put them;
3. gaze warp: the target frame's own eyeballs turned to the asked gaze and set
   into the eye openings (`pipeline.eyes.eyeball_warp`), in painted frames and
   in frames whose only change is the gaze (which never see the network). The
   sideways turn is divided by the tracker's gain, measured on the target when
   the job turns any eye sideways (`pipeline.eyes.gaze_calibration`).

Each step can be off: no eye pathway in the model (or `--no-eyes`), no gaze
warp (`--no-gaze-warp`). The stage is built once per job; its thresholds are
`EyeSettings`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.eyes.eyeball_warp import EyeOpenings, redirect_eyes
from pipeline.eyes.gaze_calibration import GazeCalibration, calibrate_gaze, given_gain
from pipeline.eyes.painted_head import PaintedHead
from pipeline.eyes.settings import DEFAULT, EyeSettings
from pipeline.pose_calibration import PoseCalibration
from pipeline.transfer import Performance
from reconstruction.fitting import ActorModel, track_params
from reconstruction.track import Track
from translation.pathways import TrainedPathway

SIDEWAYS_DEG = 0.5  # a change of gaze yaw smaller than this turns no eye sideways: no calibration is needed


class EyeStage:
    """The eyes of a job's output frames (see the module notes)."""

    def __init__(self, performance: Performance, target_track: Track, actor: ActorModel,
                 calibration: GazeCalibration | None, pathway: TrainedPathway | None = None,
                 conditioned: Track | None = None, posed: PoseCalibration | None = None, backend: str = "builtin",
                 settings: EyeSettings = DEFAULT):
        """`calibration` None: no gaze warp. `conditioned`: the track the network was conditioned on (the asked
        performance with the pose calibration's corrected heads, `posed`); the network paints the eyes where its
        conditioning puts them, so the repaint and the warp work in that head too."""
        self.performance, self.target_track, self.actor = performance, target_track, actor
        self.calibration, self.pathway, self.settings = calibration, pathway, settings
        self.conditioned = conditioned if conditioned is not None else performance.track
        self.posed = posed or PoseCalibration(note="no network")
        self.view = pathway.view(self.conditioned, backend, actor) if pathway is not None else None
        self.openings = EyeOpenings.of(actor)
        self.painted_head = PaintedHead(actor, settings) if calibration is not None else None

    @property
    def warps(self) -> bool:
        return self.calibration is not None

    def apply(self, idx: np.ndarray, frames: list[np.ndarray], targets: list[np.ndarray], painted: np.ndarray,
              warped: np.ndarray, fade: np.ndarray) -> list[np.ndarray]:
        """The batch's composited `frames` with their eyes done: `idx` are the output frames, `targets` the target
        frames under them, `painted` the batch rows the network painted, `warped` the rows whose only change is
        the gaze, `fade` (N,) every output frame's blend."""
        if len(painted):
            frames = self.network_repaint(idx, frames, painted, fade)
        if self.warps:
            heads, found = self.painted_heads(idx, frames, painted)
            frames = self.gaze_warp(idx, frames, targets, painted, warped, heads, found, fade)
        return frames

    def network_repaint(self, idx: np.ndarray, frames: list[np.ndarray], painted: np.ndarray,
                        fade: np.ndarray) -> list[np.ndarray]:
        """Both eyes of the painted rows repainted by the eye pathway (none: the frames as they are)."""
        if self.view is None:
            return frames
        return self.pathway.repaint_rows(self.view, frames, painted, idx, fade)

    def painted_heads(self, idx: np.ndarray, frames: list[np.ndarray], painted: np.ndarray):
        """The head as painted in each painted row (rotation and translation of the target actor fitted to the
        frame), and in which of them it was found."""
        if not len(painted):
            return None, np.zeros(0, bool)
        return self.painted_head.fit([frames[k] for k in painted], track_params(self.conditioned, idx[painted]),
                                     idx[painted])

    def gaze_warp(self, idx: np.ndarray, frames: list[np.ndarray], targets: list[np.ndarray], painted: np.ndarray,
                  warped: np.ndarray, heads, found: np.ndarray, fade: np.ndarray) -> list[np.ndarray]:
        """The target frames' own eyeballs turned to the asked gaze in the painted and the gaze-only rows."""
        rows = {int(k): r for r, k in enumerate(painted)}
        frames = list(frames)
        for k in sorted({*painted.tolist(), *warped.tolist()}):
            j = int(idx[k])
            shown = track_params(self.target_track, [int(self.performance.target_frames[j])])
            turned = self.calibration.rendered(track_params(self.performance.track, [j]), shown, self.settings)
            if k in rows and found[rows[k]]:  # the asked gaze, relative to the head as painted
                turned.rotation = heads.rotation[rows[k]:rows[k] + 1]
                turned.translation = heads.translation[rows[k]:rows[k] + 1]
            elif k in rows:  # painted in the pose calibration's corrected pose, looking where asked
                turned.rotation, turned.gaze = self.posed.corrected(turned.rotation, turned.gaze)
            frames[k] = redirect_eyes(frames[k], targets[k], self.actor, self.openings, turned, shown,
                                      float(fade[j]), self.settings)
        return frames

    def report(self) -> dict:
        return {"eye_pathway_step": self.pathway.step if self.pathway is not None else None,
                "gaze_warp": self.warps,
                "gaze_calibration": self.calibration.report() if self.warps else None,
                "eyes_in_painted_head": {"frames": self.painted_head.fitted, "kept_asked_head": self.painted_head.kept}
                if self.warps else None}

    def close(self) -> None:
        if self.painted_head is not None:
            self.painted_head.close()


def gaze_calibration(performance: Performance, target_track: Track, target_video: Path, fade: np.ndarray,
                     gaze_gain: float | None, scratch: Path, show_progress: bool,
                     settings: EyeSettings = DEFAULT) -> GazeCalibration:
    """The job's gaze calibration: the gain given, measured on the target (only when some changed frame turns the
    eyes sideways), or 1."""
    if gaze_gain is not None:
        return given_gain(gaze_gain, settings)
    wanted = performance.track.gaze[:, :, 0] - target_track.gaze[performance.target_frames, :, 0]
    turning = (fade > 0) & performance.track.valid & (np.abs(wanted).max(1) > np.radians(SIDEWAYS_DEG))
    if not turning.any():
        return GazeCalibration(note="no sideways gaze change asked")
    return calibrate_gaze(target_video, target_track, scratch, show_progress, settings)
