"""face-alignment landmark backend: the 2D FAN on s3fd face boxes, 68 points per face.

This backend is optional. face_alignment downloads its two networks (the 2D FAN and
the s3fd face detector) from the internet on first use, so here we look in the torch
hub cache before loading: a missing file fails at once with a message saying what to
fetch and where to put it, instead of a urllib traceback in the middle of a run.
"""
from __future__ import annotations

from http.client import HTTPException
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import numpy as np
import torch

from base.errors import BackendUnavailableError
from reconstruction.landmarks import FaceDetection, box_of

if TYPE_CHECKING:
    from face_alignment import FaceAlignment

INSTALL_COMMAND = "pip install face-alignment==1.5.0"

# face_alignment's default: the FAN also sees the mirrored crop and the two heatmaps
# are averaged, which steadies the points for twice the network time. The detector
# and the benchmark share this so the benchmark measures what the detector does.
FLIP_INPUT = True


def _import_face_alignment() -> ModuleType:
    """face_alignment, or a BackendUnavailableError that says how to install it."""
    try:
        import face_alignment
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the face-alignment landmark backend cannot be imported ({exc}); "
            f"install it with: {INSTALL_COMMAND}") from exc
    return face_alignment


def checkpoint_dir() -> Path:
    """Where torch.hub, and so face_alignment, caches weights: $TORCH_HOME/hub/checkpoints."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def required_weights() -> dict[str, str]:
    """File name -> official URL of each network the 2D detector loads.

    Taken from face_alignment's own tables, so the names are the ones it looks for.
    """
    _import_face_alignment()
    from face_alignment.api import NetworkSize
    from face_alignment.api import models_urls as fan_urls
    from face_alignment.detection.sfd.sfd_detector import models_urls as sfd_urls

    fan_url = fan_urls[f"2DFAN-{int(NetworkSize.LARGE)}"]
    return {Path(urlparse(url).path).name: url for url in (fan_url, sfd_urls["s3fd"])}


def _fetch_instructions(names: list[str]) -> str:
    urls = required_weights()
    sources = "; ".join(f"{name} from {urls[name]}" for name in names)
    return (f"fetch them on a machine with internet access ({sources}) and copy them into "
            f"{checkpoint_dir()} (that is $TORCH_HOME/hub/checkpoints; TORCH_HOME defaults "
            "to ~/.cache/torch). Or use the default mediapipe backend, whose models ship "
            "inside its wheel and need no download.")


def missing_weights_message() -> str | None:
    """Why the detector cannot start here, or None when every weight file is cached."""
    missing = [name for name in required_weights() if not (checkpoint_dir() / name).is_file()]
    if not missing:
        return None
    return (f"the face-alignment landmark backend needs weight files that are not in "
            f"{checkpoint_dir()}: missing {', '.join(missing)}. face_alignment would "
            f"download them at first use; {_fetch_instructions(missing)}")


class FaceAlignmentDetector:
    """face_alignment's 2D FAN: 68 points in the iBUG 300-W layout, no depth (z is NaN).

    Each frame is handled on its own; face_alignment has no tracking between frames.
    """

    name = "face-alignment"
    num_points = 68

    def __init__(self, max_faces: int = 3, device: str = "cpu"):
        fa = _import_face_alignment()
        reason = missing_weights_message()
        if reason is not None:
            raise BackendUnavailableError(reason)
        try:
            self._fa: FaceAlignment = fa.FaceAlignment(
                fa.LandmarksType.TWO_D, device=device, flip_input=FLIP_INPUT,
                # torch.compile costs minutes on first use and needs a C++ toolchain;
                # eager mode is also what benchmarks/track.py times.
                compile=False)
        except (OSError, HTTPException) as exc:  # URLError and socket errors are OSErrors
            names = list(required_weights())
            raise BackendUnavailableError(
                f"face_alignment could not fetch or read its weights ({exc}); "
                f"{_fetch_instructions(names)}") from exc
        self.max_faces = max_faces

    def detect(self, frame: np.ndarray) -> list[FaceDetection]:
        # Boxes first, so the FAN runs only on the faces kept, largest first.
        boxes = self._fa.face_detector.detect_from_image(frame)
        boxes = sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
        boxes = boxes[:self.max_faces]
        if not boxes:
            return []
        landmarks = self._fa.get_landmarks_from_image(frame, detected_faces=boxes)
        faces = []
        for box, xy in zip(boxes, landmarks):
            points = np.full((self.num_points, 3), np.nan, dtype=np.float32)
            points[:, :2] = xy
            faces.append(FaceDetection(points=points, box=box_of(points), score=float(box[4])))
        return faces

    def close(self) -> None:
        """Drop the networks (about 200 MB) now rather than whenever the detector is collected."""
        vars(self).pop("_fa", None)
