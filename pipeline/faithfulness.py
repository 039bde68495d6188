"""How faithfully a synthesised video shows the parameters it was asked to show.

The output video is tracked again (`dvp track`, as any footage) and the fitted
parameters are compared, frame by frame, with the intended ones:

- head pose error: the angle of the rotation between intended and re-tracked
  head orientation, in degrees;
- expression NME: the target's face is built twice in the *intended* pose, once
  with the intended expression and once with the re-tracked one, and the mean
  distance between their landmarks in the image is divided by the distance
  between the outer eye corners (so pose error does not count twice);
- gaze error: the angle between intended and re-tracked gaze directions, per
  eye, in degrees, over the eyes that are meant to be open (the intended
  blink of that eye below `OPEN_EYE_BLINK`). Behind a closed lid the iris
  cannot be seen, so no tracker reads a gaze there and the angle would only
  measure noise; those eyes are counted, and the mean over all eyes is kept
  as well (`gaze_error_deg_all_eyes`). An eye meant to be open but painted
  closed still counts: its iris is lost and its gaze error is large.
Frames where either track has no face are left out and counted.
"""
from __future__ import annotations

import numpy as np

from reconstruction.face_model import gaze_directions
from reconstruction.fitting import FrameParams, actor_from_track, interocular_px, track_params
from reconstruction.track import Track

OPEN_EYE_BLINK = 0.5  # an eye whose intended blink control is below this is open enough to show its iris


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) angle in degrees of the rotation taking a to b, for (N, 3, 3) rotations."""
    cos = (np.einsum("nij,nij->n", a, b) - 1) / 2  # trace(a^T b)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def faithfulness(intended: Track, retracked: Track, frames: np.ndarray | None = None) -> dict:
    """Mean pose, expression and gaze errors of `retracked` against `intended` over `frames` (default: all)."""
    frames = np.arange(len(intended)) if frames is None else np.asarray(frames)
    frames = frames[frames < len(retracked)]
    both = frames[intended.valid[frames] & retracked.valid[frames]]
    if len(both) == 0:
        return {"frames": 0, "frames_without_face": int(len(frames))}
    want, got = track_params(intended, both), track_params(retracked, both)
    pose = rotation_angle_deg(want.rotation, got.rotation)
    actor = actor_from_track(intended)
    same_pose = FrameParams(rotation=want.rotation, translation=want.translation, expression=got.expression,
                            gaze=want.gaze)
    a, b = actor.project_landmarks(want), actor.project_landmarks(same_pose)
    nme = np.linalg.norm(a - b, axis=-1).mean(-1) / interocular_px(a, actor.interocular)
    cos = np.einsum("nec,nec->ne", gaze_directions(want.gaze), gaze_directions(got.gaze))
    gaze = np.degrees(np.arccos(np.clip(cos, -1, 1)))  # (N, 2) per eye
    open_eyes = intended.blink[both] < OPEN_EYE_BLINK
    scores = {"frames": int(len(both)), "frames_without_face": int(len(frames) - len(both)),
              "pose_error_deg": round(float(pose.mean()), 3), "pose_error_deg_p95": round(float(np.percentile(pose, 95)), 3),
              "expression_nme": round(float(nme.mean()), 5),
              "gaze_eyes_scored": int(open_eyes.sum()), "gaze_eyes_closed": int((~open_eyes).sum()),
              "gaze_error_deg_all_eyes": round(float(gaze.mean()), 3)}
    if open_eyes.any():
        scores["gaze_error_deg"] = round(float(gaze[open_eyes].mean()), 3)
        scores["gaze_error_deg_p95"] = round(float(np.percentile(gaze[open_eyes], 95)), 3)
    return scores
