"""How far the model's painted head turns for the pose it is asked, measured by a pilot pass of the same job.

A network trained on a minute of one actor paints a head pose it has seen
examples of; asked for a pose a little beyond them, it paints less of the
turn. Tracking its outputs again shows the shortfall as a nearly linear law per
axis, and even self-reenactment can read back an offset nobody asked for (the
docs give the laws measured on the footage). The law depends on the model, on
the actor and on the poses asked, so it is measured per job: a pilot pass synthesises up to
`PILOT_STRETCHES` stretches of the performance itself (spread evenly over the
frames the job synthesises, each played from a space-time window earlier so
that the network sees what it sees in the main pass), tracks them again and
fits, per axis (yaw, pitch and roll relative to the target's rest pose),

    shown = gain * asked + offset

by least squares pulled towards gain 1 (`PRIOR_SPREAD_DEG`: over a narrow range
of asked angles the slope is noise, and only the offset is trusted). The main
pass then conditions the network on the inverse, (asked - offset) / gain, never
more than `MAX_CORRECTION_DEG` away from the asked pose. The eyes move with
the conditioning (the network paints them where the conditioning's eyes are,
not where the tracker's reading of the whole head puts them), so the eye
pathway and the gaze warp also work in the corrected head, with each eye's gaze
re-expressed in it to keep pointing where it was asked to in the camera.

The pilot synthesises at most `PILOT_STRETCHES` x `STRETCH` frames, so on a
long job it costs a fraction of the main pass, and on a short one as much; `dvp reenact` and
`dvp edit` leave it out with `--no-pose-calibration`.
"""
from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from base.errors import DvpError
from pipeline.tracking import TrackOptions, track_video
from pipeline.transfer import Performance
from reconstruction.face_model import gaze_directions
from reconstruction.pose import head_angles, head_rotations, rest_pose
from reconstruction.temporal import RADIUS as SMOOTHING_RADIUS
from reconstruction.track import PER_FRAME, Track, load_track

AXES = ("yaw", "pitch", "roll")
PILOT_STRETCHES = 4
STRETCH = 40  # frames per pilot stretch: the space-time window and the tracker's smoothing settle in a few
MIN_FRAMES = 16  # scored pilot frames needed to trust a fit
PRIOR_SPREAD_DEG = 2.0  # the slope counts as much as the asked angles' spread beyond this says it should
GAIN_RANGE = (0.5, 1.25)  # a slope outside this says the pilot failed, not that the model paints so
MAX_CORRECTION_DEG = 8.0  # the conditioning never moves further than this from the asked pose


@dataclass
class PoseCalibration:
    """Per axis (yaw, pitch, roll, degrees relative to the target's rest pose): the share of the asked angle the
    painted head shows, and the angle it shows when asked for none."""

    gains: np.ndarray = field(default_factory=lambda: np.ones(3))
    offsets_deg: np.ndarray = field(default_factory=lambda: np.zeros(3))
    rest: np.ndarray = field(default_factory=lambda: np.eye(3))  # the target's rest rotation
    frames: int = 0  # pilot frames the fit used
    measured: bool = False
    residual_deg: float | None = None  # mean |shown - fitted| over the pilot frames and axes
    note: str = ""
    seconds: float = 0.0

    def conditioning(self, rotation: np.ndarray) -> np.ndarray:
        """(N, 3, 3) rotations to condition the network on, so that it paints the asked `rotation` (N, 3, 3)."""
        if not self.measured:
            return rotation
        asked = head_angles(self.rest.T @ rotation.astype(np.float64))
        wanted = (asked - self.offsets_deg) / self.gains
        wanted = asked + np.clip(wanted - asked, -MAX_CORRECTION_DEG, MAX_CORRECTION_DEG)
        return (self.rest @ head_rotations(wanted)).astype(rotation.dtype)

    def conditioned(self, track: Track) -> Track:
        """`track` with the corrected head rotation on its valid frames (see `corrected`)."""
        if not self.measured:
            return track
        valid = track.valid
        rotation, gaze = track.rotation.copy(), track.gaze.copy()
        rotation[valid], gaze[valid] = self.corrected(track.rotation[valid], track.gaze[valid])
        return replace(track, rotation=rotation, gaze=gaze)

    def corrected(self, rotation: np.ndarray, gaze: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The corrected head rotation (`conditioning`) and each eye's gaze (N, 2, 2) re-expressed in it, so that
        the eyes still point where the asked gaze points in the camera."""
        if not self.measured:
            return rotation, gaze
        moved = self.conditioning(rotation)
        in_camera = np.einsum("nij,nej->nei", rotation.astype(np.float64), gaze_directions(gaze.astype(np.float64)))
        in_head = np.einsum("nji,nej->nei", moved.astype(np.float64), in_camera)
        turned = np.stack([np.arctan2(in_head[..., 0], -in_head[..., 2]),
                           np.arcsin(np.clip(-in_head[..., 1], -1, 1))], axis=-1)
        return moved, turned.astype(gaze.dtype)

    def report(self) -> dict:
        return {"gains": {a: round(float(g), 3) for a, g in zip(AXES, self.gains)},
                "offsets_deg": {a: round(float(o), 2) for a, o in zip(AXES, self.offsets_deg)},
                "frames": self.frames, "measured": self.measured,
                "residual_deg": None if self.residual_deg is None else round(self.residual_deg, 2),
                "note": self.note, "seconds": round(self.seconds, 1)}


def pilot_frames(fade: np.ndarray, valid: np.ndarray, lead_in: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Output frames for the pilot, and which of them to fit. Chosen: the synthesised frames (fade > 0 with a face)
    if few, else `PILOT_STRETCHES` stretches of `STRETCH` consecutive ones spread evenly over them. Each run of
    chosen frames is played from `lead_in` frames earlier, so that its space-time windows hold the frames they
    hold in the main pass; fitted are the chosen frames at least the tracker's smoothing radius from either end of
    the pilot's runs (the tracker smooths across the jumps between them)."""
    synthesised = np.flatnonzero((fade > 0) & valid)
    total = PILOT_STRETCHES * STRETCH
    if len(synthesised) <= total:
        chosen = synthesised
    else:
        starts = np.linspace(0, len(synthesised) - STRETCH, PILOT_STRETCHES).round().astype(int)
        chosen = np.concatenate([synthesised[s:s + STRETCH] for s in starts])
    if not len(chosen):
        return chosen, np.zeros(0, bool)
    run_starts = chosen[np.r_[0, np.flatnonzero(np.diff(chosen) != 1) + 1]]
    frames = np.unique(np.concatenate([chosen, *[np.arange(max(0, s - lead_in), s) for s in run_starts]]))
    before, after = _position_in_stretch(frames)
    return frames, np.isin(frames, chosen) & (before >= SMOOTHING_RADIUS) & (after >= SMOOTHING_RADIUS)


def fit_axis(asked: np.ndarray, shown: np.ndarray) -> tuple[float, float, bool]:
    """(gain, offset, slope trusted) of shown = gain * asked + offset, the slope pulled towards 1 by a prior worth
    `PRIOR_SPREAD_DEG` of spread in the asked angles."""
    mean_a, mean_s = asked.mean(), shown.mean()
    sxx = ((asked - mean_a) ** 2).mean()
    sxy = ((asked - mean_a) * (shown - mean_s)).mean()
    prior = PRIOR_SPREAD_DEG ** 2
    gain = (sxy + prior) / (sxx + prior)
    if not GAIN_RANGE[0] <= gain <= GAIN_RANGE[1]:
        return 1.0, float(mean_s - mean_a), False
    return float(gain), float(mean_s - gain * mean_a), True


def calibrate_pose(performance: Performance, target_track: Track, fade: np.ndarray,
                   pilot: Callable[[Performance, Path], None], scratch: str | Path,
                   lead_in: int = 0) -> PoseCalibration:
    """Run `pilot(performance_part, video_path)` (a synthesis of part of the performance, uncalibrated and with
    nothing painted after the network) on the pilot frames, track its output and fit the per-axis law (see the
    module notes). `lead_in`: the frames of conditioning a space-time window holds before its own (window - 1).
    Never raises for footage the measurement cannot use: it returns the identity with a note."""
    started = time.perf_counter()
    rest = rest_pose(target_track)[0]
    frames, fitted = pilot_frames(np.asarray(fade), performance.track.valid, lead_in)
    if fitted.sum() < MIN_FRAMES:
        return PoseCalibration(rest=rest, note=f"only {int(fitted.sum())} synthesised frames to fit; too few for a "
                                               "pilot pass")
    part = Performance(track=_select(performance.track, frames), target_frames=performance.target_frames[frames])
    with tempfile.TemporaryDirectory(prefix=".dvp-tmp-", dir=scratch) as tmp:
        video, tracked = Path(tmp) / "pose_pilot.mp4", Path(tmp) / "pose_pilot.npz"
        pilot(part, video)
        try:
            track_video(video, tracked, options=TrackOptions(show_progress=False))
        except DvpError as err:
            return PoseCalibration(rest=rest, note=f"the pilot pass could not be tracked ({err}); pose as asked",
                                   seconds=time.perf_counter() - started)
        again = load_track(tracked)
    n = min(len(again), len(frames))
    use = fitted[:n] & again.valid[:n]
    seconds = time.perf_counter() - started
    if use.sum() < MIN_FRAMES:
        return PoseCalibration(rest=rest, frames=int(use.sum()), seconds=seconds,
                               note=f"only {int(use.sum())} pilot frames could be tracked; pose as asked")
    asked = head_angles(rest.T @ part.track.rotation[:n][use].astype(np.float64))
    shown = head_angles(rest.T @ again.rotation[:n][use].astype(np.float64))
    gains, offsets, notes = np.ones(3), np.zeros(3), []
    for axis in range(3):
        gains[axis], offsets[axis], trusted = fit_axis(asked[:, axis], shown[:, axis])
        if not trusted:
            notes.append(f"{AXES[axis]}: slope implausible, offset only")
    residual = float(np.abs(shown - (asked * gains + offsets)).mean())
    return PoseCalibration(gains=gains, offsets_deg=offsets, rest=rest, frames=int(use.sum()), measured=True,
                           residual_deg=residual, note="; ".join(notes), seconds=seconds)


def _position_in_stretch(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pilot frame, how many frames of its consecutive run come before it and after it."""
    breaks = np.flatnonzero(np.diff(frames) != 1) + 1
    before, after = np.empty(len(frames), int), np.empty(len(frames), int)
    for run in np.split(np.arange(len(frames)), breaks):
        before[run] = np.arange(len(run))
        after[run] = len(run) - 1 - np.arange(len(run))
    return before, after


def _select(track: Track, frames: np.ndarray) -> Track:
    """The per-frame entries of `track` at `frames` (a driven track: per-actor fields are shared)."""
    return replace(track, **{name: getattr(track, name)[frames] for name in PER_FRAME})
