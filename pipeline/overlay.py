"""Drawing a fitted face over its video: mesh wireframe, head-pose axes, gaze rays."""
from __future__ import annotations

import cv2
import numpy as np

from reconstruction.camera import PinholeCamera
from reconstruction.face_model import gaze_rotation

MESH_COLOUR = (120, 255, 160)
AXIS_COLOURS = ((255, 60, 60), (60, 255, 60), (80, 140, 255))  # x red, y green, z blue
GAZE_COLOUR = (255, 230, 40)
AXIS_CM = 6.0
GAZE_CM = 8.0


def draw_overlay(frame: np.ndarray, camera: PinholeCamera, vertices_cam: np.ndarray, edges: np.ndarray,
                 rotation: np.ndarray, translation: np.ndarray, eye_centres_head: np.ndarray,
                 gaze: np.ndarray, label: str = "") -> np.ndarray:
    """A copy of `frame` with the fitted mesh (camera-frame vertices) drawn on it."""
    out = np.ascontiguousarray(frame.copy())
    scale = max(1, round(out.shape[1] / 640))
    px = camera.project(vertices_cam)
    segments = np.round(px[edges] * 16).astype(np.int32)  # 4 bits of sub-pixel precision
    cv2.polylines(out, list(segments), False, MESH_COLOUR, 1, cv2.LINE_AA, shift=4)
    origin = camera.project(translation)
    for axis in range(3):
        tip = camera.project(translation + rotation[:, axis] * AXIS_CM)
        cv2.line(out, _pt(origin), _pt(tip), AXIS_COLOURS[axis], 2 * scale, cv2.LINE_AA)
    directions = gaze_rotation(gaze[:, 0], gaze[:, 1]) @ np.array([0.0, 0.0, -1.0])
    for eye in range(2):
        start = rotation @ eye_centres_head[eye] + translation
        end = start + rotation @ directions[eye] * GAZE_CM
        cv2.line(out, _pt(camera.project(start)), _pt(camera.project(end)), GAZE_COLOUR, scale, cv2.LINE_AA)
    if label:
        cv2.putText(out, label, (8, 24 * scale), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, (255, 255, 255), scale,
                    cv2.LINE_AA)
    return out


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))
