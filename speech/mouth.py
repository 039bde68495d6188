"""The mouth as speech moves it: which face-model controls, their rest, and the lips' geometry.

Speech moves the jaw, the lips and the mouth corners; the named controls say
most of it and the detail fields about the mouth and chin the rest (lip shapes
the named rules miss). The audio-to-mouth model predicts these controls as
departures from the actor's *rest*, the mouth's posture when not speaking, so
that one model serves actors whose relaxed mouth sits differently (slightly open,
a smile). The lip geometry turns controls into millimetres on the actor's own
face: the lip gap and the lip vertices, which the evaluation and the lip-sync
meter compare.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reconstruction.face_model import FaceModel, default_model
from reconstruction.track import Track

SPEECH_CONTROLS = ("jaw_open", "lips_close", "lip_pucker", "lip_funnel", "smile_left", "smile_right", "frown_left",
                   "frown_right", "mouth_stretch_left", "mouth_stretch_right", "upper_lip_raise", "lower_lip_depress",
                   "lip_roll_in", "jaw_forward")
# Detail fields centred on the lips (upper and lower middle, corners, inner lips) and the chin.
SPEECH_DETAIL_CENTRES = (0, 17, 61, 291, 13, 14, 152, 199)
MOUTH_CONTROLS = SPEECH_CONTROLS + tuple(f"detail_{c}_{a}" for c in SPEECH_DETAIL_CENTRES for a in "xyz")

REST_QUIET_FRAMES = 12  # frames without speech needed to read the rest from them (else: the most closed frames)
REST_CLOSED_SHARE = 0.2  # the share of most-closed frames that stands for the rest when there is little silence
UPPER_LIP, LOWER_LIP = 13, 14  # mediapipe vertices in the middle of the inner lips


def mouth_columns(names: list[str] | tuple[str, ...], wanted: tuple[str, ...] = MOUTH_CONTROLS) -> np.ndarray:
    """Indices of the `wanted` controls among a track's expression names; KeyError names what is missing."""
    missing = [n for n in wanted if n not in names]
    if missing:
        raise KeyError(f"the face model has no control named {', '.join(missing)}")
    return np.array([list(names).index(n) for n in wanted])


def rest_pose(controls: np.ndarray, quiet: np.ndarray, lip_gap: np.ndarray) -> np.ndarray:
    """(C,) the mouth at rest: the median over frames without speech, or, when a clip is nearly all speech, over
    its most closed frames (a speaking mouth is open more often than a resting one)."""
    if quiet.sum() >= REST_QUIET_FRAMES:
        return np.median(controls[quiet], axis=0)
    closed = lip_gap <= np.quantile(lip_gap, REST_CLOSED_SHARE)
    return np.median(controls[closed], axis=0)


@dataclass(frozen=True)
class LipGeometry:
    """The lips of one actor, in the head frame, for any expression coefficients."""

    neutral: np.ndarray  # (L, 3) centimetres: the lip vertices at rest with no expression
    basis: np.ndarray  # (K, L, 3) their displacement per unit of each expression coefficient
    gap_pair: tuple[int, int]  # rows of the upper and lower inner-lip middles

    @classmethod
    def of(cls, identity: np.ndarray, model: FaceModel | None = None) -> LipGeometry:
        model = model or default_model()
        lips = np.array(sorted(set(model.topology.region("lips")) | {UPPER_LIP, LOWER_LIP}))
        basis = model.expression_basis(identity)[:, lips]
        row = {v: i for i, v in enumerate(lips)}
        return cls(identity[lips].astype(np.float64), basis.astype(np.float64), (row[UPPER_LIP], row[LOWER_LIP]))

    def vertices(self, expression: np.ndarray) -> np.ndarray:
        """(F, L, 3) centimetres for (F, K) coefficients."""
        return self.neutral[None] + np.einsum("fk,klc->flc", np.asarray(expression, np.float64), self.basis)

    def gap_mm(self, expression: np.ndarray) -> np.ndarray:
        """(F,) the distance between the middles of the inner lips, millimetres."""
        v = self.vertices(expression)
        return 10 * np.linalg.norm(v[:, self.gap_pair[0]] - v[:, self.gap_pair[1]], axis=1)

    def vertex_error_mm(self, expression: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """(F,) per frame the largest distance over the lip vertices between two expressions, millimetres (the
        lip vertex error of VOCA and FaceFormer)."""
        return 10 * np.linalg.norm(self.vertices(expression) - self.vertices(reference), axis=2).max(axis=1)


def tracked_mouth(track: Track) -> tuple[np.ndarray, np.ndarray]:
    """(F, C) the track's `MOUTH_CONTROLS` and (F,) the lip gap in millimetres."""
    columns = mouth_columns(track.expression_names)
    return track.expression[:, columns].astype(np.float32), LipGeometry.of(track.identity).gap_mm(track.expression)
