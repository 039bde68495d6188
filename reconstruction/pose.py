"""Rotation and head-pose geometry shared by every stage: angles, their inverse, means and distances.

Head angles are yaw, pitch and roll in degrees about the head's own axes, with
the signs of the edit spec's `head` offsets: yaw > 0 turns towards the
subject's left, pitch > 0 looks up, roll > 0 tilts the top of the head towards
the subject's left. A shot's rest pose is the chordal mean of its rotations
and the median of its translations.
"""
from __future__ import annotations

import numpy as np

from reconstruction.face_model import gaze_rotation
from reconstruction.track import Track


def head_angles(rotation: np.ndarray) -> np.ndarray:
    """(N, 3) yaw, pitch, roll in degrees of head-frame rotations (N, 3, 3), as the edit spec composes them.

    The edit spec's offset is gaze_rotation(yaw, pitch) followed by a roll about
    the viewing axis; this is its inverse.
    """
    forward = rotation @ np.array([0.0, 0.0, -1.0])
    pitch = np.arcsin(np.clip(-forward[:, 1], -1, 1))
    yaw = np.arctan2(forward[:, 0], -forward[:, 2])
    rolled = np.swapaxes(gaze_rotation(yaw, pitch), -1, -2) @ rotation
    roll = np.arctan2(rolled[:, 1, 0], rolled[:, 0, 0])
    return np.degrees(np.stack([yaw, pitch, roll], axis=-1))


def head_rotations(angles: np.ndarray) -> np.ndarray:
    """(N, 3, 3) rotations of (N, 3) yaw, pitch, roll in degrees: the inverse of `head_angles`."""
    yaw, pitch, roll = np.radians(np.asarray(angles, dtype=np.float64)).T
    c, s = np.cos(roll), np.sin(roll)
    roll_m = np.zeros((len(roll), 3, 3))
    roll_m[:, 0, 0], roll_m[:, 0, 1], roll_m[:, 1, 0], roll_m[:, 1, 1], roll_m[:, 2, 2] = c, -s, s, c, 1
    return gaze_rotation(yaw, pitch) @ roll_m


def head_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation in the head frame: yaw and pitch as the gaze's, then roll about the viewing axis."""
    return head_rotations(np.array([[yaw, pitch, roll]]))[0]


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) angle in degrees of the rotation taking a to b, for (N, 3, 3) rotations."""
    cos = (np.einsum("nij,nij->n", a, b) - 1) / 2  # trace(a^T b)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def chordal_mean(rotations: np.ndarray) -> np.ndarray:
    """The rotation (3, 3) closest to the mean of rotations (N, 3, 3)."""
    u, _, vt = np.linalg.svd(rotations.astype(np.float64).sum(0))
    return u @ np.diag([1, 1, np.linalg.det(u @ vt)]) @ vt


def rest_pose(track: Track) -> tuple[np.ndarray, np.ndarray]:
    """Chordal mean rotation (3, 3) and median translation (3,) over the valid frames."""
    valid = track.valid
    return chordal_mean(track.rotation[valid]), np.median(track.translation[valid].astype(np.float64), axis=0)


def nearest_pose_deg(rotations: np.ndarray, examples: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """(N,) angle in degrees from each head rotation (N, 3, 3) to the nearest of `examples` (T, 3, 3)."""
    examples = examples.astype(np.float64)
    nearest = np.empty(len(rotations))
    for start in range(0, len(rotations), chunk):  # N x T cosines a chunk at a time: memory stays flat
        part = rotations[start:start + chunk].astype(np.float64)
        cos = (np.einsum("nij,tij->nt", part, examples) - 1) / 2  # trace(a^T b)
        nearest[start:start + chunk] = np.degrees(np.arccos(np.clip(cos.max(1), -1, 1)))
    return nearest
