"""Parameter transfer: the source actor's performance carried onto the target actor.

What moves across (each part selectable):
- pose: the source's head motion *relative to its own rest pose*, applied to
  the target's rest pose. Rest pose is the chordal mean rotation and the median
  translation of the shot. Rotation offsets are taken in the camera frame;
  translation offsets are scaled by the ratio of the two actors' face sizes
  (distance between the eyeball centres), so a small actor's nod does not
  become a big one's lunge;
- expression: the expression coefficients, which mean the same motion on any
  face (see `reconstruction.expressions`), less the two blink controls;
- gaze: the source's gaze relative to its rest gaze, added to the target's
  rest gaze, so each actor's own per-eye bias (see README: vergence) stays
  with that actor;
- blink: the two blink controls.
Parts not transferred come from the target's own frame at that point of the
output.

Timing: the source is resampled to the target's frame rate (slerp for rotation,
linear for the rest) and the output is as long as the source. Output frame j
takes its background and illumination from target frame j; when the source is
longer than the target, the target is played forwards, then backwards, then
forwards again (ping-pong), which keeps the background moving continuously
rather than jumping back to the first frame.

Frames of the source where no face was fitted hold the last valid parameters
(the first valid ones before the first detection); their number is reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from base.errors import DvpError, NoFaceError
from reconstruction.pose import rest_pose
from reconstruction.track import Track

PARTS = ("pose", "expression", "gaze", "blink")
BLINK_CONTROLS = ("blink_right", "blink_left")


@dataclass
class Performance:
    """Per-output-frame parameters of the target actor, and which target frame each output frame sits on."""

    track: Track  # the target's actor with driven per-frame parameters (one entry per output frame)
    target_frames: np.ndarray  # (N,) index into the target video for background and illumination
    held_source_frames: int = 0  # source frames without a face, replaced by the last valid ones
    # (N,) bool, or None for none: output frames whose only change from their target frame is the gaze, which the
    # gaze warp turns on the target frame itself, with no network (see `pipeline.editing`)
    eyes_only: np.ndarray | None = None


def parse_parts(text: str) -> tuple[str, ...]:
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise DvpError(f"--transfer takes a comma-separated list of {', '.join(PARTS)}, not {text!r}")
    return parts


def face_size(track: Track) -> float:
    """Distance between the eyeball centres, centimetres: the actor's scale."""
    return float(np.linalg.norm(track.eye_centres[0] - track.eye_centres[1]))


def hold_invalid(track: Track) -> tuple[np.ndarray, int]:
    """For every frame, the frame whose parameters it uses: itself when valid, else the last valid one."""
    valid = np.flatnonzero(track.valid)
    if len(valid) == 0:
        raise NoFaceError(f"no face was fitted in any frame of the source ({track.header['source']['file']}); "
                          "a source needs a visible face")
    pos = np.searchsorted(valid, np.arange(len(track)), side="right") - 1
    return valid[np.clip(pos, 0, None)], int(len(track) - len(valid))


def ping_pong(count: int, length: int) -> np.ndarray:
    """Frame indices 0, 1, ..., length-1, length-2, ..., 0, 1, ... for `count` output frames."""
    if length == 1:
        return np.zeros(count, dtype=np.int64)
    k = np.arange(count) % (2 * (length - 1))
    return np.where(k < length, k, 2 * (length - 1) - k)


def resample(track: Track, holds: np.ndarray, source_fps: Fraction, target_fps: Fraction) -> dict[str, np.ndarray]:
    """Per-frame parameters of the source at the target's frame rate; output as long as the source."""
    count = max(1, int(round(len(track) * target_fps / source_fps)))
    t = np.minimum(np.arange(count) * float(source_fps / target_fps), len(track) - 1)
    lo = np.floor(t).astype(int)
    hi = np.minimum(lo + 1, len(track) - 1)
    out = {}
    for name in ("translation", "expression", "gaze"):
        v = getattr(track, name)[holds].astype(np.float64)
        w = (t - lo).reshape(-1, *[1] * (v.ndim - 1))
        out[name] = (1 - w) * v[lo] + w * v[hi]
    rotations = Rotation.from_matrix(track.rotation[holds].astype(np.float64))
    out["rotation"] = Slerp(np.arange(len(track)), rotations)(t).as_matrix()
    return out


def transfer(source: Track, target: Track, parts: tuple[str, ...] = PARTS) -> Performance:
    """The target actor performing the source's motion (see the module notes)."""
    if source.expression_names != target.expression_names:
        raise DvpError("the source and target tracks were made with different expression models; re-track both")
    holds, held = hold_invalid(source)
    fps_s, fps_t = Fraction(source.header["source"]["fps"]), Fraction(target.header["source"]["fps"])
    driven = resample(source, holds, fps_s, fps_t)
    count = len(driven["translation"])
    target_valid = np.flatnonzero(target.valid)
    if len(target_valid) == 0:
        raise NoFaceError(f"no face was fitted in any frame of the target ({target.header['source']['file']})")
    frames = ping_pong(count, len(target))
    own, _ = hold_invalid(target)
    own = own[frames]  # the target's own parameters where a part is not transferred
    rotation = target.rotation[own].astype(np.float64)
    translation = target.translation[own].astype(np.float64)
    expression = target.expression[own].astype(np.float64)
    gaze = target.gaze[own].astype(np.float64)
    if "pose" in parts:
        src_r, src_t = rest_pose(source)
        tgt_r, tgt_t = rest_pose(target)
        rotation = driven["rotation"] @ src_r.T @ tgt_r
        translation = tgt_t + (driven["translation"] - src_t) * (face_size(target) / face_size(source))
    blink = [target.expression_names.index(name) for name in BLINK_CONTROLS]
    others = np.setdiff1d(np.arange(expression.shape[1]), blink)
    if "expression" in parts:
        expression[:, others] = driven["expression"][:, others]
    if "blink" in parts:
        expression[:, blink] = driven["expression"][:, blink]
    if "gaze" in parts:
        src_rest = np.median(source.gaze[source.valid], axis=0)
        tgt_rest = np.median(target.gaze[target.valid], axis=0)
        gaze = tgt_rest + driven["gaze"] - src_rest
    track = driven_track(target, frames, rotation, translation, expression, gaze)
    return Performance(track=track, target_frames=frames, held_source_frames=held)


def driven_track(target: Track, frames: np.ndarray, rotation, translation, expression, gaze) -> Track:
    """A Track of the target actor with new per-frame parameters, lit like target frames `frames`."""
    n = len(frames)
    return Track(header=target.header, valid=target.valid[frames].copy(), interpolated=np.zeros(n, bool),
                 landmarks=np.full((n, target.landmarks.shape[1], 2), np.nan, np.float32),
                 rotation=rotation.astype(np.float32), translation=translation.astype(np.float32),
                 expression=expression.astype(np.float32), gaze=gaze.astype(np.float32),
                 sh=target.sh[frames].copy(), identity=target.identity, albedo=target.albedo,
                 eye_centres=target.eye_centres, iris_offsets=target.iris_offsets)
