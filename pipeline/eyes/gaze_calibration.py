"""How much of a sideways eyeball turn the tracker reads, measured on the target's own eyes.

The iris landmarks of the detector move less than the iris does: turning the
eyeballs of real frames by a known yaw (with `pipeline.eyes.eyeball_warp`, which is
exact geometry on the actor's eyeball model) and tracking the result again
reads back only part of the turn (the docs give the shares measured on the
footage). The source's gaze was read by the
same tracker, so its tracked turns are that share of the turns its eyes made,
and a warp that turned the target's eyes by the tracked angle would show them
turning less than the source's did. The gaze warp therefore turns the eyeball
by the tracked change divided by the gain measured here, and the output, tracked
again, reads back the intended gaze.

The measurement: a stretch of the target video with open eyes is played in
blocks (`EyeSettings.calibration_block` frames), the eyeballs turned by 0, +a,
0, -a, 0, +b, 0, -b degrees of yaw (`calibration_offsets_deg`), encoded as an
output would be and tracked again; the gain is the slope of the read-back
change against the asked one, over the open eyes in the middle of each block
(the tracker's smoothing radius is left out at each end, where it smooths
across the jump). Only yaw is measured and compensated: a vertical turn is
read from the lids as much as from the iris, and the lids of a reenactment
come from the source's expression, so a warp that holds the lids still cannot
measure what a vertical turn reads.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from base.errors import DvpError
from base.progress import progress
from base.reading import VideoReader, frames_in_order
from base.writing import VideoWriter
from pipeline.eyes.eyeball_warp import EyeOpenings, redirect_eyes
from pipeline.eyes.settings import DEFAULT, EyeSettings
from pipeline.tracking import TrackOptions, track_video
from pipeline.transfer import ping_pong
from reconstruction.fitting import FrameParams, actor_from_track, track_params
from reconstruction.temporal import RADIUS as SMOOTHING_RADIUS
from reconstruction.track import Track, load_track


@dataclass
class GazeCalibration:
    """The share of a yaw turn of the eyeball that tracking the output reads back (1: all of it), per eye (right,
    left) and per direction (towards the subject's right, negative yaw; towards the left, positive): the detector
    follows an iris turning towards the nose better than one turning towards the outer corner."""

    yaw_gains: np.ndarray = field(default_factory=lambda: np.ones((2, 2)))  # [eye, direction]
    samples: int = 0  # open eyes the slopes were fitted to
    measured: bool = False  # False: a given or default gain, or a measurement that could not be trusted
    note: str = ""
    seconds: float = 0.0

    def rendered(self, intended: FrameParams, shown: FrameParams, settings: EyeSettings = DEFAULT) -> FrameParams:
        """The parameters the warp should turn the eyeballs to, so that the output reads back `intended`:
        the change of yaw from the target frame `shown`, divided by the gain of that eye and direction, and no
        further than an eye turns (a source tracked at 60 degrees would otherwise show the white of an eyeball
        turned 80)."""
        gaze = intended.gaze.copy()
        change = intended.gaze[..., 0] - shown.gaze[..., 0]  # (B, 2)
        gains = self.yaw_gains[np.arange(2), (change > 0).astype(int)]
        gaze[..., 0] = shown.gaze[..., 0] + change / gains
        limit = np.radians(settings.eye_turn_limit_deg)
        gaze = np.clip(gaze, -limit, limit)
        return FrameParams(rotation=intended.rotation, translation=intended.translation,
                           expression=intended.expression, gaze=gaze)

    def report(self) -> dict:
        g = np.round(self.yaw_gains, 3).tolist()
        return {"yaw_gains": {"right_eye": {"turning_right": g[0][0], "turning_left": g[0][1]},
                              "left_eye": {"turning_right": g[1][0], "turning_left": g[1][1]}},
                "samples": self.samples, "measured": self.measured, "note": self.note,
                "seconds": round(self.seconds, 1)}


def given_gain(gain: float, settings: EyeSettings = DEFAULT) -> GazeCalibration:
    """A gain set by hand (`--gaze-gain`)."""
    low, high = settings.gaze_gain_range
    if not low <= gain <= high:
        raise DvpError(f"--gaze-gain must lie between {low} and {high} (1 turns the eyeballs by "
                       f"the tracked change), not {gain}")
    return GazeCalibration(yaw_gains=np.full((2, 2), float(gain)), note="given")


def _open_eyes(track: Track, open_blink: float) -> np.ndarray:
    """(F, 2) bool: the eye is open (blink below `open_blink`) in a frame with a face."""
    return track.valid[:, None] & (track.blink < open_blink)


def _stretch(track: Track, length: int, open_blink: float) -> int:
    """First frame of the `length` consecutive frames with the most open eyes."""
    sums = np.convolve(_open_eyes(track, open_blink).sum(1).astype(np.float64), np.ones(length), mode="valid")
    return int(np.argmax(sums))


def calibrate_gaze(video: str | Path, track: Track, scratch: str | Path | None = None,
                   show_progress: bool = False, settings: EyeSettings = DEFAULT) -> GazeCalibration:
    """Measure the yaw gain on the target `video` and its `track` (see the module notes). Never raises for footage
    the measurement cannot use: it returns gain 1 with a note saying why."""
    started = time.perf_counter()
    video = Path(video)
    s = settings
    block = s.calibration_block
    total = block * len(s.calibration_offsets_deg)
    usable = _open_eyes(track, s.calibration_open_blink).any(1)
    if usable.sum() < 2 * block:
        return GazeCalibration(note=f"too few frames with open eyes ({int(usable.sum())}) to measure; gain 1 used")
    if len(track) >= total:
        start = _stretch(track, total, s.calibration_open_blink)
        order = start + np.arange(total)
    else:
        order = ping_pong(total, len(track))
    asked = np.repeat(np.radians(s.calibration_offsets_deg), block)
    actor = actor_from_track(track)
    openings = EyeOpenings.of(actor)
    with tempfile.TemporaryDirectory(prefix=".dvp-tmp-", dir=scratch) as tmp:
        warped, tracked = Path(tmp) / "gaze_calibration.mp4", Path(tmp) / "gaze_calibration.npz"
        reader = VideoReader(video)
        with VideoWriter(warped, reader.fps, reader.width, reader.height, draft=True) as writer:
            frames = progress(frames_in_order(video, order, Path(tmp)), total, "gaze calibration", show_progress)
            for k, frame in enumerate(frames):
                shown = track_params(track, [int(order[k])])
                gaze = shown.gaze.copy()
                gaze[..., 0] += asked[k]
                turned = FrameParams(rotation=shown.rotation, translation=shown.translation,
                                     expression=shown.expression, gaze=gaze)
                writer.write(redirect_eyes(frame, frame, actor, openings, turned, shown, settings=s))
        try:
            track_video(warped, tracked, options=TrackOptions(show_progress=False))
        except DvpError as err:
            return GazeCalibration(note=f"the turned frames could not be tracked ({err}); gain 1 used",
                                   seconds=time.perf_counter() - started)
        again = load_track(tracked)
    n = min(len(again), total)
    inner = (np.arange(n) % block >= SMOOTHING_RADIUS) & (np.arange(n) % block < block - SMOOTHING_RADIUS)
    ok = (inner & track.valid[order[:n]] & again.valid[:n])[:, None] \
        & (track.blink[order[:n]] < s.calibration_open_blink) & (again.blink[:n] < s.open_blink)
    read = again.gaze[:n, :, 0] - track.gaze[order[:n], :, 0]
    seconds = time.perf_counter() - started
    x = np.broadcast_to(asked[:n, None], read.shape)
    if ok.sum() < s.calibration_min_samples:
        return GazeCalibration(samples=int(ok.sum()), seconds=seconds,
                               note=f"only {int(ok.sum())} open eyes could be measured; gain 1 used")
    pooled = _slope(x[ok], read[ok], s.gaze_gain_range)
    if pooled is None:
        return GazeCalibration(samples=int(ok.sum()), seconds=seconds,
                               note="the turned eyes read back implausibly; gain 1 used")
    gains = np.full((2, 2), pooled)
    for eye in range(2):
        for direction, sign in enumerate((-1, 1)):
            use = ok[:, eye] & (np.sign(x[:, eye]) != -sign)  # this direction's turns and the unturned blocks
            if (use & (x[:, eye] != 0)).sum() >= s.calibration_min_samples // 4:
                cell = _slope(x[use, eye], read[use, eye], s.gaze_gain_range)
                gains[eye, direction] = pooled if cell is None else cell
    return GazeCalibration(yaw_gains=gains, samples=int(ok.sum()), measured=True, seconds=seconds)


def _slope(x: np.ndarray, y: np.ndarray, plausible: tuple[float, float]) -> float | None:
    """The least-squares slope of y on x, or None when it is outside the `plausible` range (the measurement
    failed)."""
    if np.ptp(x) == 0:
        return None
    slope = float(np.polyfit(x, y, 1)[0])
    return slope if plausible[0] <= slope <= plausible[1] else None
