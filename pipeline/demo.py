"""Inputs that need no download, for the demo and the tests.

`astronaut_clip` writes a short video of the portrait that scikit-image ships
(`skimage.data.astronaut()`), moved rigidly: it drifts, turns in the image
plane and zooms, with a known roll angle per frame, so tracking can be checked
against the truth.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pipeline.video import VideoWriter

FACE_CENTRE = (225.0, 125.0)  # the astronaut's face in the 512 x 512 photo


def astronaut_motion(frames: int) -> np.ndarray:
    """(frames, 4): roll in degrees (counter-clockwise in the image), dx, dy in pixels, zoom."""
    t = np.linspace(0, 2 * np.pi, frames)
    return np.stack([12 * np.sin(t), 25 * np.sin(2 * t), 15 * np.sin(t + 1), 1.0 + 0.1 * np.sin(t)], axis=1)


def astronaut_frame(roll: float, dx: float, dy: float, zoom: float, size: int = 384) -> np.ndarray:
    """The portrait turned, shifted and zoomed about the face, cropped to a square around it."""
    from skimage.data import astronaut

    image = astronaut()
    m = cv2.getRotationMatrix2D(FACE_CENTRE, roll, zoom * size / 256)
    m[:, 2] += np.array([size / 2 - FACE_CENTRE[0] + dx, size / 2 - FACE_CENTRE[1] + dy])
    return cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def astronaut_clip(path: str | Path, frames: int = 50, fps: int = 25, size: int = 384) -> np.ndarray:
    """Write the moving-portrait clip to `path` (H.264 MP4); returns the motion per frame."""
    motion = astronaut_motion(frames)
    with VideoWriter(path, fps, size, size) as writer:
        for roll, dx, dy, zoom in motion:
            writer.write(astronaut_frame(roll, dx, dy, zoom, size))
    return motion
