"""Parametric face models behind one interface, and the built-in one.

The fitter and everything downstream talk to `FaceModel` only: a neutral shape,
an identity-dependent expression basis with named controls, eyes for gaze, and
which model vertex each landmark of a detector backend sits on. Another
morphable model (ICT-FaceKit, BFM, FLAME) fits in by implementing this class.

The built-in `MediaPipeFaceModel` lives on mediapipe's 468-vertex face mesh
plus 10 iris points, so detected mediapipe landmarks are model vertices and
nothing needs downloading.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from reconstruction import expressions
from reconstruction.canonical import load_canonical
from reconstruction.topology import (
    LEFT_IRIS,
    NUM_LANDMARKS,
    NUM_MESH_VERTICES,
    RIGHT_IRIS,
    Topology,
    facing_camera,
    mediapipe_topology,
)

EYEBALL_RADIUS_CM = 1.2

# iBUG 68-point landmarks (face-alignment) on mediapipe vertices: jaw, brows,
# nose, eyes, lips, in iBUG order. The jaw points sit on the visible contour,
# so their correspondence is approximate and they are down-weighted in fitting.
IBUG68_TO_MEDIAPIPE = (
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
)


@dataclass(frozen=True)
class Eyes:
    """Both eyeballs of an actor in the head frame; index 0 is the right eye, 1 the left."""

    centres: np.ndarray  # (2, 3) eyeball centres
    radius: float
    iris_offsets: np.ndarray  # (2, 5, 3) iris centre + ring relative to the eyeball centre, gaze 0
    iris_indices: np.ndarray  # (2, 5) model vertex of each iris point


def gaze_rotation(yaw: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation taking the rest gaze direction (0, 0, -1) to the gaze.

    yaw > 0 looks towards the subject's left (image right in a frontal shot),
    pitch > 0 looks up. Angles in radians.
    """
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    one, zero = np.ones_like(cy), np.zeros_like(cy)
    ry = np.stack([np.stack([cy, zero, -sy], -1), np.stack([zero, one, zero], -1), np.stack([sy, zero, cy], -1)], -2)
    rx = np.stack([np.stack([one, zero, zero], -1), np.stack([zero, cp, sp], -1), np.stack([zero, -sp, cp], -1)], -2)
    return ry @ rx



def gaze_directions(gaze: np.ndarray) -> np.ndarray:
    """(..., 2, 3) unit gaze vectors in the head frame from (..., 2, 2) per-eye yaw and pitch."""
    return gaze_rotation(gaze[..., 0], gaze[..., 1]) @ np.array([0.0, 0.0, -1.0])

class FaceModel(ABC):
    """What a parametric face model provides to fitting and rendering."""

    name: str
    version: int

    @property
    @abstractmethod
    def topology(self) -> Topology: ...

    @property
    @abstractmethod
    def num_vertices(self) -> int: ...

    @abstractmethod
    def neutral(self) -> np.ndarray:
        """The mean neutral shape (V, 3) in the head frame, centimetres."""

    @property
    @abstractmethod
    def expression_names(self) -> list[str]:
        """All expression coefficients in order: the named controls first."""

    @property
    @abstractmethod
    def num_named(self) -> int:
        """How many leading coefficients are named, interpretable controls."""

    @property
    def core_controls(self) -> list[int]:
        """Indices of the controls fitting should prefer (the others are dearer)."""
        return list(range(self.num_named))

    @abstractmethod
    def expression_basis(self, identity: np.ndarray) -> np.ndarray:
        """Displacement per unit coefficient (K, V, 3) on this identity's neutral shape."""

    @abstractmethod
    def eyes(self, identity: np.ndarray) -> Eyes: ...

    @abstractmethod
    def landmark_vertices(self, backend: str, num_points: int) -> np.ndarray:
        """Model vertex of each landmark of a detector backend."""

    def normalise_identity(self, identity: np.ndarray) -> np.ndarray:
        """Fix the scale a single camera cannot see: same RMS size as the mean face."""
        mean = self.neutral()
        centred = identity - identity[:NUM_MESH_VERTICES].mean(axis=0)
        scale = np.sqrt((mean[:NUM_MESH_VERTICES] ** 2).sum() / (centred[:NUM_MESH_VERTICES] ** 2).sum())
        return centred * scale


class MediaPipeFaceModel(FaceModel):
    """The built-in model on the mediapipe mesh (468 vertices + 10 iris points)."""

    name = "dvp-mediapipe"
    version = 1

    @cached_property
    def topology(self) -> Topology:
        return facing_camera(mediapipe_topology(), self._neutral)

    @property
    def num_vertices(self) -> int:
        return NUM_LANDMARKS

    @cached_property
    def _neutral(self) -> np.ndarray:
        return load_canonical()

    def neutral(self) -> np.ndarray:
        return self._neutral.copy()

    @cached_property
    def expression_names(self) -> list[str]:
        return list(expressions.NAMED_CONTROLS) + expressions.detail_names()

    @property
    def num_named(self) -> int:
        return len(expressions.NAMED_CONTROLS)

    @property
    def core_controls(self) -> list[int]:
        return [self.expression_names.index(n) for n in expressions.CORE_CONTROLS]

    def expression_basis(self, identity: np.ndarray) -> np.ndarray:
        face = expressions.FaceLandmarks(shape=identity, topology=self.topology)
        basis = np.concatenate([expressions.named_fields(face), expressions.detail_fields(face)])
        basis[np.abs(basis) < 1e-6] = 0.0  # Gaussian tails would be denormal floats: exact zeros are far faster
        return basis

    def eyes(self, identity: np.ndarray) -> Eyes:
        """Eyeballs placed like the mean face's, relative to this actor's eye corners.

        In the mean face (people looking at the camera) the eyeball centre sits one
        eyeball radius behind the iris; each actor keeps that placement relative to
        its own eye corners, so gaze 0 means the same direction on every actor.
        """
        mean = self.neutral()
        iris = np.array([RIGHT_IRIS, LEFT_IRIS])
        corners = np.array([[33, 133], [263, 362]])
        centres, offsets = [], []
        for eye in range(2):
            mid_m, mid_a = mean[corners[eye]].mean(axis=0), identity[corners[eye]].mean(axis=0)
            width_m = np.linalg.norm(np.subtract(*mean[corners[eye]]))
            width_a = np.linalg.norm(np.subtract(*identity[corners[eye]]))
            centre_m = mean[iris[eye, 0]] + np.array([0.0, 0.0, EYEBALL_RADIUS_CM])
            centre = mid_a + (centre_m - mid_m) * (width_a / width_m)
            ring = identity[iris[eye]] - identity[iris[eye, 0]]
            offsets.append(ring + np.array([0.0, 0.0, -EYEBALL_RADIUS_CM]))
            centres.append(centre)
        return Eyes(centres=np.array(centres), radius=EYEBALL_RADIUS_CM,
                    iris_offsets=np.array(offsets), iris_indices=iris)

    def landmark_vertices(self, backend: str, num_points: int) -> np.ndarray:
        if num_points == NUM_LANDMARKS:
            return np.arange(NUM_LANDMARKS)
        if num_points == len(IBUG68_TO_MEDIAPIPE):
            return np.array(IBUG68_TO_MEDIAPIPE)
        raise ValueError(f"no landmark map from the {backend} backend's {num_points} points to {self.name}")


def default_model() -> FaceModel:
    return MediaPipeFaceModel()
