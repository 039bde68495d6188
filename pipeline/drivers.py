"""Drivers: performances as motion relative to their own rest, to move a still portrait (`dvp animate`).

A `Motion` holds, per frame, how a performer's head turned and moved away from
its rest pose, and how its expression and gaze changed from its rest. Added to
a photo's fitted face, it moves that face the same way whatever the photo's own
pose or expression. A motion is made from a tracked video (`Motion.of_track`),
or built from the face model's controls (the built-in drivers: nod, shake,
smile, blink, look-around, hello), and kept in the user's driver library as
parameters, not footage (`dvp drivers add|list|remove`).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from base.atomic import replacing
from base.errors import DvpError
from reconstruction.face_model import FaceModel, default_model
from reconstruction.pose import head_rotations, rest_pose
from reconstruction.track import Track

FORMAT = "dvp-motion"
VERSION = 1
REST_PERCENTILE = 10  # a named control's rest: how far it is at the performer's most relaxed
BUILT_IN_FPS = 25
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class Motion:
    """A performance relative to its rest: `rotation` (N, 3, 3) head-frame turns from the rest pose, `translation`
    (N, 3) centimetres from the rest position (camera frame), `expression` (N, K) changes of the controls named by
    `expression_names`, `gaze` (N, 2, 2) changes of each eye's yaw and pitch (radians), at `fps`."""

    name: str
    rotation: np.ndarray
    translation: np.ndarray
    expression: np.ndarray
    gaze: np.ndarray
    expression_names: list[str]
    fps: Fraction
    source: str = "built-in"

    def __len__(self) -> int:
        return len(self.rotation)

    @classmethod
    def of_track(cls, track: Track, name: str) -> Motion:
        """The motion of a tracked performance; frames where the face was lost hold the last seen one."""
        if not track.valid.any():
            raise DvpError(f"{track.header['source']['file']}: no frame with a face, so no motion to take")
        valid = np.flatnonzero(track.valid)
        held = valid[np.clip(np.searchsorted(valid, np.arange(len(track)), side="right") - 1, 0, None)]
        rest_rotation, rest_translation = rest_pose(track)
        expression = track.expression[held].astype(np.float64)
        named = track.header["model"]["num_named"]
        rest = np.median(expression, axis=0)
        rest[:named] = np.percentile(expression[:, :named], REST_PERCENTILE, axis=0)
        gaze = track.gaze[held].astype(np.float64)
        return cls(name=name, rotation=rest_rotation.T @ track.rotation[held].astype(np.float64),
                   translation=track.translation[held].astype(np.float64) - rest_translation,
                   expression=expression - rest, gaze=gaze - np.median(gaze, axis=0),
                   expression_names=list(track.header["model"]["expression_names"]),
                   fps=Fraction(track.header["source"]["fps"]), source=track.header["source"]["file"])

    def save(self, path: str | os.PathLike) -> None:
        with replacing(path) as temporary, open(temporary, "wb") as f:
            np.savez(f, format=FORMAT, version=VERSION, name=self.name, rotation=self.rotation,
                     translation=self.translation, expression=self.expression, gaze=self.gaze,
                     expression_names=np.array(self.expression_names), fps=str(self.fps), source=self.source)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Motion:
        try:
            with np.load(path) as data:
                if str(data["format"]) != FORMAT or int(data["version"]) != VERSION:
                    raise DvpError(f"{path} is not a dvp driver of version {VERSION}; add it again with "
                                   "`dvp drivers add`")
                return cls(name=str(data["name"]), rotation=data["rotation"], translation=data["translation"],
                           expression=data["expression"], gaze=data["gaze"],
                           expression_names=[str(n) for n in data["expression_names"]],
                           fps=Fraction(str(data["fps"])), source=str(data["source"]))
        except (OSError, KeyError, ValueError) as exc:
            raise DvpError(f"{path} cannot be read as a driver ({exc}); add it again with `dvp drivers add`") \
                from None

    def expression_for(self, names: list[str]) -> np.ndarray:
        """The expression changes (N, len(names)) in the order of `names` (a control this motion lacks: 0); made
        once per order of names, since it is asked for every frame."""
        key = tuple(names)
        cached = self.__dict__.setdefault("_aligned", {})
        if key not in cached:
            index = {n: i for i, n in enumerate(self.expression_names)}
            out = np.zeros((len(self), len(names)))
            for j, n in enumerate(names):
                if n in index:
                    out[:, j] = self.expression[:, index[n]]
            cached[key] = out
        return cached[key]


def _pulse(t: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A smooth bump in [0, 1] of `width` seconds about `centre`."""
    x = np.clip((t - centre) / (width / 2), -1, 1)
    return 0.5 + 0.5 * np.cos(np.pi * x)


def built_in(name: str, model: FaceModel | None = None) -> Motion:
    """A motion made from the face model's controls alone (see `BUILT_IN`)."""
    if name not in BUILT_IN:
        raise DvpError(f"no built-in driver {name!r}; the built-in drivers are {', '.join(BUILT_IN)}")
    model = model or default_model()
    names = list(model.expression_names)
    seconds, make = BUILT_IN[name]
    t = np.arange(int(seconds * BUILT_IN_FPS)) / BUILT_IN_FPS
    angles, controls, gaze = make(t)
    expression = np.zeros((len(t), len(names)))
    for control, values in controls.items():
        expression[:, names.index(control)] = values
    return Motion(name=name, rotation=head_rotations(angles), translation=np.zeros((len(t), 3)),
                  expression=expression, gaze=gaze, expression_names=names, fps=Fraction(BUILT_IN_FPS))


def _still(t):
    return np.zeros((len(t), 3)), {}, np.zeros((len(t), 2, 2))


def _nod(t):
    angles, controls, gaze = _still(t)
    angles[:, 1] = 10 * np.sin(2 * np.pi * t / 1.5) * _envelope(t)
    return angles, controls, gaze


def _shake(t):
    angles, controls, gaze = _still(t)
    angles[:, 0] = 15 * np.sin(2 * np.pi * t / 2.0) * _envelope(t)
    return angles, controls, gaze


def _smile(t):
    angles, controls, gaze = _still(t)
    smile = _pulse(t, t[-1] / 2, t[-1] * 0.8)
    controls.update(smile_left=0.8 * smile, smile_right=0.8 * smile, squint_left=0.2 * smile,
                    squint_right=0.2 * smile)
    angles[:, 1] = 3 * smile
    return angles, controls, gaze


def _blink(t):
    angles, controls, gaze = _still(t)
    closed = sum(_pulse(t, c, 0.3) for c in (0.6, 1.6, 2.2))
    controls.update(blink_left=closed, blink_right=closed)
    return angles, controls, gaze


def _look_around(t):
    angles, controls, gaze = _still(t)
    phase = 2 * np.pi * t / t[-1]
    yaw, pitch = np.radians(20) * np.sin(phase), np.radians(10) * np.sin(2 * phase)
    gaze[:, :, 0], gaze[:, :, 1] = yaw[:, None], pitch[:, None]
    angles[:, 0] = 6 * np.sin(phase)
    return angles, controls, gaze


def _hello(t):
    angles, controls, gaze = _still(t)
    angles[:, 0] = 4 * np.sin(2 * np.pi * t / 3.0)
    angles[:, 1] = 4 * np.sin(2 * np.pi * t / 1.2) * _pulse(t, 1.0, 1.6)
    smile = _pulse(t, t[-1] / 2, t[-1])
    syllables = sum(_pulse(t, c, 0.22) for c in (0.5, 0.75, 1.05))  # "hel-lo-o"
    controls.update(smile_left=0.5 * smile, smile_right=0.5 * smile, jaw_open=0.55 * syllables,
                    lip_funnel=0.3 * _pulse(t, 1.05, 0.3), blink_left=_pulse(t, 2.2, 0.3),
                    blink_right=_pulse(t, 2.2, 0.3), brow_raise=0.4 * _pulse(t, 0.6, 0.8))
    return angles, controls, gaze


def _envelope(t: np.ndarray) -> np.ndarray:
    """Fade in over the first and out over the last half second."""
    return np.clip(np.minimum(t, t[-1] - t) / 0.5, 0, 1)


BUILT_IN = {"nod": (3.0, _nod), "shake": (4.0, _shake), "smile": (3.0, _smile), "blink": (3.0, _blink),
            "look-around": (4.0, _look_around), "hello": (3.0, _hello)}


def library() -> Path:
    """The user's driver library: `DVP_DRIVERS`, or `drivers/` in the user's data folder."""
    if os.environ.get("DVP_DRIVERS"):
        return Path(os.environ["DVP_DRIVERS"])
    import platformdirs

    return Path(platformdirs.user_data_dir("dvp")) / "drivers"


def add_driver(name: str, video: str | os.PathLike, show_progress: bool = True) -> dict:
    """Track `video` and keep its motion in the library as `name`; returns its summary."""
    from pipeline.tracking import TrackOptions, track_video
    from reconstruction.track import load_track

    if not NAME.match(name) or name in BUILT_IN:
        raise DvpError(f"a driver's name is letters, digits, '.', '_' and '-' (at most 64), and not one of the "
                       f"built-in drivers ({', '.join(BUILT_IN)}); {name!r} is not")
    video = Path(video)
    if not video.is_file():
        raise DvpError(f"the driver video {video} does not exist")
    folder = library()
    folder.mkdir(parents=True, exist_ok=True)
    scratch = folder / f".{name}.track.npz"
    try:
        track_video(video, scratch, options=TrackOptions(show_progress=show_progress))
        motion = Motion.of_track(load_track(scratch), name)
    finally:
        scratch.unlink(missing_ok=True)
    motion.save(folder / f"{name}.npz")
    return describe(motion)


def remove_driver(name: str) -> None:
    if name in BUILT_IN:
        raise DvpError(f"{name} is a built-in driver; only drivers added with `dvp drivers add` can be removed")
    path = library() / f"{name}.npz"
    if not path.is_file():
        raise DvpError(f"no driver {name!r} in the library ({library()}); {_listing()}")
    path.unlink()


def list_drivers() -> list[dict]:
    """Every driver: the built-in ones, then the library's."""
    listed = [describe(built_in(name)) | {"built_in": True} for name in BUILT_IN]
    folder = library()
    if folder.is_dir():
        listed += [describe(Motion.load(p)) | {"built_in": False} for p in sorted(folder.glob("*.npz"))]
    return listed


def describe(motion: Motion) -> dict:
    return {"name": motion.name, "frames": len(motion), "fps": str(motion.fps),
            "seconds": round(len(motion) / float(motion.fps), 2), "source": motion.source}


def find_driver(name: str) -> Motion:
    """A driver by name: built-in, or from the library."""
    if name in BUILT_IN:
        return built_in(name)
    path = library() / f"{name}.npz"
    if path.is_file():
        return Motion.load(path)
    raise DvpError(f"no driver {name!r}; {_listing()}. Add one with `dvp drivers add {name} VIDEO`, or give a video")


def _listing() -> str:
    folder = library()
    added = sorted(p.stem for p in folder.glob("*.npz")) if folder.is_dir() else []
    return (f"the built-in drivers are {', '.join(BUILT_IN)}; the library ({folder}) holds "
            f"{', '.join(added) if added else 'none'}")
