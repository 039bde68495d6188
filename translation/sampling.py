"""Which training frames a batch draws: uniformly, or balanced over head pose and gaze.

A minute of footage spends most of its frames near the actor's habitual pose,
and only a handful at its extremes (the docs count them on the footage).
Drawn uniformly, the network sees the rare poses so seldom
that it paints them pulled back towards the common ones, and a reenactment or
an edit that asks for them turns the head short (see README: faithfulness).

Balanced sampling draws each frame with probability proportional to
`density ** -power`, where a frame's density is a Gaussian kernel sum over the
training frames in a joint space of head rotation (angle between rotations,
scale `HEAD_SCALE_DEG`) and gaze (mean angle between the two eyes' gaze
directions, scale `GAZE_SCALE_DEG`). Power 0 is uniform; power 1 spreads the
draws evenly over the poses the footage covers; between them, the rare poses
are drawn more often without the few frames there dominating the batches.
"""
from __future__ import annotations

import numpy as np

from reconstruction.face_model import gaze_directions

HEAD_SCALE_DEG = 3.0
GAZE_SCALE_DEG = 6.0


def pose_density(rotation: np.ndarray, gaze: np.ndarray) -> np.ndarray:
    """(N,) kernel density of each frame among the N frames, in the joint head rotation and gaze space."""
    r = rotation.astype(np.float64)
    cos_head = (np.einsum("aij,bij->ab", r, r) - 1) / 2  # trace(Ra^T Rb), all pairs
    head = np.degrees(np.arccos(np.clip(cos_head, -1, 1)))
    g = gaze_directions(gaze.astype(np.float64))
    cos_gaze = np.einsum("aec,bec->abe", g, g)
    eyes = np.degrees(np.arccos(np.clip(cos_gaze, -1, 1))).mean(-1)
    d2 = (head / HEAD_SCALE_DEG) ** 2 + (eyes / GAZE_SCALE_DEG) ** 2
    return np.exp(-0.5 * d2).sum(1)


def balanced_weights(rotation: np.ndarray, gaze: np.ndarray, power: float) -> np.ndarray | None:
    """(N,) sampling probabilities of the N training frames, or None for uniform sampling (power 0)."""
    if power == 0:
        return None
    w = pose_density(rotation, gaze) ** -power
    return w / w.sum()
