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
  blink of that eye below `OPEN_EYE_BLINK`, the track's definition of an open eye). Behind a closed lid the iris
  cannot be seen, so no tracker reads a gaze there and the angle would only
  measure noise; those eyes are counted, and the mean over all eyes is kept
  as well (`gaze_error_deg_all_eyes`). An eye meant to be open but painted
  closed still counts: its iris is lost and its gaze error is large.
Frames where either track has no face are left out and counted.

`verify_output` is the stage behind `--verify`: it tracks a written output
and scores it, also over the frames whose asked parameters lie inside the
model's training range (`pipeline.coverage`), so that a weak result can be
told apart from a request the model never saw an example of.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from base.errors import MediaError, NoFaceError
from base.metrics import nme
from pipeline.coverage import Coverage
from pipeline.tracking import TrackOptions, track_video
from reconstruction.face_model import gaze_directions
from reconstruction.fitting import FrameParams, actor_from_track, track_params
from reconstruction.pose import rotation_angle_deg
from reconstruction.track import OPEN_EYE_BLINK, Track, load_track


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
    expression_nme = nme(b, a, actor.interocular)
    cos = np.einsum("nec,nec->ne", gaze_directions(want.gaze), gaze_directions(got.gaze))
    gaze = np.degrees(np.arccos(np.clip(cos, -1, 1)))  # (N, 2) per eye
    open_eyes = intended.blink[both] < OPEN_EYE_BLINK
    scores = {"frames": int(len(both)), "frames_without_face": int(len(frames) - len(both)),
              "pose_error_deg": round(float(pose.mean()), 3), "pose_error_deg_p95": round(float(np.percentile(pose, 95)), 3),
              "expression_nme": round(float(expression_nme.mean()), 5),
              "gaze_eyes_scored": int(open_eyes.sum()), "gaze_eyes_closed": int((~open_eyes).sum()),
              "gaze_error_deg_all_eyes": round(float(gaze.mean()), 3),
              "blink_error": round(float(np.abs(intended.blink[both] - retracked.blink[both]).mean()), 4)}
    if open_eyes.any():
        scores["gaze_error_deg"] = round(float(gaze[open_eyes].mean()), 3)
        scores["gaze_error_deg_p95"] = round(float(np.percentile(gaze[open_eyes], 95)), 3)
    return scores


def verify_output(output: Path, intended: Track, frames: np.ndarray | None, scratch: Path, show_progress: bool,
                  found: Coverage | None = None) -> dict:
    """Track the written `output` again and score it against `intended` over `frames` (default: all), and, given
    the job's coverage, over the frames inside the model's training range too."""
    retracked = scratch / "output.track.npz"
    try:
        track_video(output, retracked, options=TrackOptions(show_progress=show_progress))
    except NoFaceError:  # the output is written; that no face can be found in it is the finding
        count = len(intended) if frames is None else len(frames)
        return {"frames": 0, "frames_without_face": count}
    except MediaError as exc:  # the output is written, and stays; only reading it back failed
        raise MediaError(f"{output} was written, but reading it back to verify it failed: {exc}") from None
    again = load_track(retracked)
    scores = faithfulness(intended, again, frames)
    if found is None:
        return scores
    scored = np.arange(len(intended)) if frames is None else np.asarray(frames)
    inside = {}
    for group, key in (("head", "pose_error_deg"), ("gaze", "gaze_error_deg"), ("expression", "expression_nme")):
        part = faithfulness(intended, again, scored[~found.outside[group][scored]])
        inside[f"{group}_frames"] = part["frames"]
        if part["frames"]:
            inside[key] = part[key]
            if f"{key}_p95" in part:
                inside[f"{key}_p95"] = part[f"{key}_p95"]
    if found.far_pose is not None:
        part = faithfulness(intended, again, scored[~found.far_pose[scored]])
        inside["near_pose_frames"] = part["frames"]
        if part["frames"]:
            inside["near_pose_error_deg"] = part["pose_error_deg"]
    scores["inside_training_range"] = inside
    return scores
