"""The `Track` of a video: everything fitted, in one versioned file.

A track file is an uncompressed NumPy `.npz` archive: per-frame and per-actor
arrays, plus a `header` entry holding a JSON document (format name, version,
source video, camera, face model, detector, fit statistics). The README's
"Track format" section lists every field. Loading checks the format name and
version and refuses anything else with a clear message.
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from base.atomic import replacing
from base.errors import TrackFormatError

FORMAT = "dvp-track"
VERSION = 1

PER_FRAME = ("valid", "interpolated", "landmarks", "rotation", "translation", "expression", "gaze", "sh")
PER_ACTOR = ("identity", "albedo", "eye_centres", "iris_offsets")
OPEN_EYE_BLINK = 0.5  # an eye whose blink control is below this is open enough to show its iris


@dataclass
class Track:
    header: dict
    valid: np.ndarray  # (F,) bool: a face was fitted in this frame
    interpolated: np.ndarray  # (F,) bool: landmarks filled across a short gap
    landmarks: np.ndarray  # (F, L, 2) float32 pixels: the filtered detections that were fitted
    rotation: np.ndarray  # (F, 3, 3) float32: head -> camera
    translation: np.ndarray  # (F, 3) float32 centimetres, camera frame
    expression: np.ndarray  # (F, K) float32
    gaze: np.ndarray  # (F, 2, 2) float32 radians: (right eye, left eye) x (yaw, pitch)
    sh: np.ndarray  # (F, 9, 3) float32 spherical-harmonics lighting per colour channel
    identity: np.ndarray  # (V, 3) float32 neutral shape, head frame, centimetres
    albedo: np.ndarray  # (V, 3) float32 in [0, 1]
    eye_centres: np.ndarray  # (2, 3) float32
    iris_offsets: np.ndarray  # (2, 5, 3) float32
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.valid)

    @property
    def expression_names(self) -> list[str]:
        return self.header["model"]["expression_names"]

    def control(self, name: str) -> np.ndarray:
        """One expression coefficient over the shot, by name (e.g. 'jaw_open')."""
        try:
            return self.expression[:, self.expression_names.index(name)]
        except ValueError:
            raise KeyError(f"no expression control named {name!r}; known: {', '.join(self.expression_names)}") from None

    def check_video(self, video: str | os.PathLike, width: int, height: int, frame_count: int) -> None:
        """Refuse a video (of display size width x height) that is not the one this track was made from."""
        src = self.header["source"]
        if (width, height) != (src["width"], src["height"]):
            raise TrackFormatError(f"{video} is {width}x{height} but the track was made from a "
                                   f"{src['width']}x{src['height']} video ({src['file']}); "
                                   "give the video the track was made from")
        if abs(frame_count - len(self)) > 1:
            raise TrackFormatError(f"{video} has {frame_count} frames but the track has {len(self)} "
                                   f"(made from {src['file']}); give the video the track was made from")

    @property
    def blink(self) -> np.ndarray:
        """(F, 2) blink per eye (right, left): the blink controls of the expression."""
        return np.stack([self.control("blink_right"), self.control("blink_left")], axis=1)

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically: a temporary file beside the target, renamed when complete."""
        arrays = {name: getattr(self, name) for name in PER_FRAME + PER_ACTOR}
        header = dict(self.header, format=FORMAT, version=VERSION)
        with replacing(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, header=np.array(json.dumps(header)), **arrays)


def load_track(path: str | os.PathLike) -> Track:
    """Read a track file, refusing other formats and versions with a clear message."""
    path = Path(path)
    if not path.is_file():
        raise TrackFormatError(f"track file {path} does not exist; make one with: dvp track VIDEO -o {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            if header.get("format") != FORMAT:
                raise TrackFormatError(f"{path} is not a dvp track (format {header.get('format')!r})")
            if header.get("version") != VERSION:
                raise TrackFormatError(
                    f"{path} is a dvp track of version {header.get('version')}, but this dvp reads version "
                    f"{VERSION} only; re-run `dvp track` on the video to make a current one")
            arrays = {name: data[name] for name in PER_FRAME + PER_ACTOR}
    except TrackFormatError:
        raise
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise TrackFormatError(f"{path} is not a readable dvp track file ({exc}); re-run `dvp track`") from exc
    return Track(header=header, **arrays)
