"""The pinhole camera the face is seen through.

Focal length: without a calibrated value the project assumes a horizontal field
of view of 30 degrees (a 65 mm lens on a full-frame camera, typical of portrait
and interview shots): f = (width / 2) / tan(15 deg) = 1.866 * width pixels. Pass
`--focal-length` (pixels) to override. The principal point is the image centre.
Frames follow OpenCV: x right, y down, z forward from the camera.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

DEFAULT_HORIZONTAL_FOV_DEG = 30.0


@dataclass(frozen=True)
class PinholeCamera:
    focal: float  # pixels (square pixels)
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def default_for(cls, width: int, height: int, focal: float | None = None) -> "PinholeCamera":
        f = focal if focal else (width / 2) / math.tan(math.radians(DEFAULT_HORIZONTAL_FOV_DEG / 2))
        return cls(focal=float(f), cx=width / 2, cy=height / 2, width=int(width), height=int(height))

    @property
    def matrix(self) -> np.ndarray:
        return np.array([[self.focal, 0, self.cx], [0, self.focal, self.cy], [0, 0, 1.0]])

    def project(self, points: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) to pixels (..., 2)."""
        z = points[..., 2:3]
        return self.focal * points[..., :2] / z + np.array([self.cx, self.cy])

    def to_dict(self) -> dict:
        return asdict(self)
