"""Landmark detectors behind one small interface.

A detector takes the frames of one shot in order (video mode, so backends may
track between frames) and returns every face it sees in each frame. Choosing and
following one face through the shot is `reconstruction.face_follow`'s job.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from base.errors import BackendUnavailableError


@dataclass
class FaceDetection:
    """One face in one frame.

    points: (N, 3) float32; x and y in pixels of the frame, z a relative depth in
    pixel units (positive away from the camera) or NaN when the backend has none.
    box: (x0, y0, x1, y1) in pixels, the bounding box of the points.
    """

    points: np.ndarray
    box: tuple[float, float, float, float]
    score: float = 1.0

    @property
    def centre(self) -> np.ndarray:
        x0, y0, x1, y1 = self.box
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2])

    @property
    def size(self) -> float:
        x0, y0, x1, y1 = self.box
        return float(np.sqrt(max(x1 - x0, 0) * max(y1 - y0, 0)))


def box_of(points: np.ndarray) -> tuple[float, float, float, float]:
    xy = points[:, :2]
    return (float(xy[:, 0].min()), float(xy[:, 1].min()), float(xy[:, 0].max()), float(xy[:, 1].max()))


class LandmarkDetector(Protocol):
    """What every landmark backend provides."""

    name: str
    num_points: int

    def detect(self, frame: np.ndarray) -> list[FaceDetection]:
        """Faces in an RGB uint8 frame (H, W, 3); frames must come in shot order."""
        ...

    def close(self) -> None: ...


class MediaPipeDetector:
    """mediapipe face mesh with iris refinement: 478 points (468 mesh + 2 x 5 iris).

    The models ship inside the mediapipe 0.10.21 wheel, so nothing is downloaded.
    """

    name = "mediapipe"
    num_points = 478

    def __init__(self, max_faces: int = 3, min_detection_confidence: float = 0.5,
                 min_tracking_confidence: float = 0.5):
        try:
            from mediapipe.python.solutions import face_mesh
        except Exception as exc:  # pragma: no cover - depends on the install
            raise BackendUnavailableError(
                f"the mediapipe landmark backend cannot be imported ({exc}); "
                "install it with: pip install mediapipe==0.10.21 'numpy<2'") from exc
        self._mesh = face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=max_faces, refine_landmarks=True,
            min_detection_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence)

    def detect(self, frame: np.ndarray) -> list[FaceDetection]:
        h, w = frame.shape[:2]
        result = self._mesh.process(np.ascontiguousarray(frame))
        faces = []
        for lms in result.multi_face_landmarks or []:
            pts = np.array([(p.x * w, p.y * h, p.z * w) for p in lms.landmark], dtype=np.float32)
            faces.append(FaceDetection(points=pts, box=box_of(pts)))
        return faces

    def close(self) -> None:
        self._mesh.close()


BACKENDS = ("mediapipe", "face-alignment")


def create_detector(name: str = "mediapipe", max_faces: int = 3) -> LandmarkDetector:
    """Build a detector by backend name; raises BackendUnavailableError with a fix."""
    if name == "mediapipe":
        return MediaPipeDetector(max_faces=max_faces)
    if name == "face-alignment":
        from reconstruction.landmarks_fan import FaceAlignmentDetector

        return FaceAlignmentDetector(max_faces=max_faces)
    raise ValueError(f"unknown landmark backend {name!r}; choose one of {', '.join(BACKENDS)}")
