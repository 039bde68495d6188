"""The edit spec: keyframed changes to the target's own parameters, read into a performance (`dvp edit`).

An edit spec (YAML or JSON; `data/edit_example.yaml` shows every field) lists
edits, each over an inclusive range of target frames with an ease in and out:

    version: 1
    edits:
      - frames: [120, 180]   # first and last frame, 0-based
        ease: 12             # frames to ease in and out (smoothstep); default 0
        head: {yaw: 10, pitch: 0, roll: 0, x: 0, y: 0, z: 0}
        expression: {smile: 0.5, jaw_open: 0.2}
        gaze: camera         # or {yaw: 5, pitch: -3}
        blink: remove        # or add

- head: rotation offsets in degrees about the head's own axes (yaw > 0 turns
  towards the subject's left, pitch > 0 looks up, roll > 0 tilts the top of the
  head towards the subject's left) and translation offsets in centimetres in
  the camera frame (x right, y down, z away from the camera);
- expression: amounts added to named controls (0 = relaxed, 1 = the whole
  motion; the result is kept within the controls' bounds). Besides every
  control name, `smile`, `blink`, `frown`, `mouth_stretch`, `squint`,
  `eye_wide` and `brow_outer_up` move the left and right control together;
- gaze: `camera` turns both eyes to the camera, or yaw/pitch offsets in
  degrees (as the head's);
- blink: `remove` holds the eyes open over the range, `add` puts one blink of
  a quarter second in its middle.

A frame whose only edits are gaze edits (no head, expression or blink edit
reaches it) is not painted by the network: the gaze warp turns the frame's own
eyeballs (`pipeline.eyes.eyeball_warp`), so everything outside the eye openings
stays as shot, sharp, glasses and all, bit for bit before encoding. A spec of
gaze edits alone therefore needs no model at all.

Edits add up where ranges overlap. Every mistake (an unknown control, a frame
outside the video, a wrong type) is reported with the spec's file and line.
Frames outside every range are passed through untouched; inside, the network's
output is faded in over the first quarter of the ease, where the change is
still under 16 % of its size, so the cut between real and synthesised frames
does not show.
"""
from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import yaml

from base.errors import DvpError
from base.timecode import TimecodeError, is_timecode, timecode_frames
from pipeline.transfer import BLINK_CONTROLS, Performance, driven_track
from reconstruction.fitting import actor_from_track, track_params
from reconstruction.pose import head_rotation
from reconstruction.track import Track

SPEC_VERSION = 1
PAIRED = ("smile", "blink", "frown", "mouth_stretch", "squint", "eye_wide", "brow_outer_up")
HEAD_KEYS = ("yaw", "pitch", "roll", "x", "y", "z")
BLINK_SECONDS = 0.25
FADE_SHARE = 0.25  # the network output is fully in once the edit has reached smoothstep(0.25) = 16 %
NAMED_BOUNDS = (0.0, 1.5)


class EditSpecError(DvpError):
    """A mistake in an edit spec, reported with its line."""


class _Node:
    """A parsed YAML value with the line it starts on (1-based)."""

    def __init__(self, value, line: int):
        self.value, self.line = value, line


def _plain(node: yaml.Node) -> _Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        return _Node({k.value: _plain(v) for k, v in node.value}, line)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_plain(v) for v in node.value], line)
    return _Node(yaml.safe_load(yaml.serialize(node)), line)


class _Reader:
    """Reads one spec file, turning every mistake into an EditSpecError naming the file and line."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, node: _Node, message: str):
        raise EditSpecError(f"{self.path}, line {node.line}: {message}")

    def mapping(self, node: _Node, what: str, allowed: tuple[str, ...]) -> dict[str, _Node]:
        if not isinstance(node.value, dict):
            self.fail(node, f"{what} must be a mapping (key: value)")
        for key, value in node.value.items():
            if key not in allowed:
                self.fail(value, f"unknown key {key!r} in {what}; known: {', '.join(allowed)}")
        return node.value

    def frame(self, node: _Node, rate: Fraction, start: str) -> int:
        """A frame number, or a timecode label counted from the shot's start timecode."""
        if is_timecode(node.value):
            try:
                return timecode_frames(node.value, rate) - timecode_frames(start, rate)
            except TimecodeError as exc:
                self.fail(node, str(exc))
        return int(self.number(node, "a frame (a number, or a timecode HH:MM:SS:FF)"))

    def number(self, node: _Node, what: str) -> float:
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)) or not math.isfinite(node.value):
            self.fail(node, f"{what} must be a number, not {node.value!r}")
        return float(node.value)


def smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0, 1)
    return x * x * (3 - 2 * x)


def edit_weight(count: int, first: int, last: int, ease: int) -> np.ndarray:
    """(count,) weight of one edit: 0 outside its frames, easing to 1 over `ease` frames at each end."""
    t = np.arange(count)
    inside = (t >= first) & (t <= last)
    ramp = np.minimum(t - first + 1, last - t + 1) / (ease + 1)
    return np.where(inside, smoothstep(ramp), 0.0)


def gaze_at_camera(actor, rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(N, 2, 2) yaw and pitch that point each eye at the camera centre."""
    camera_in_head = -np.einsum("nji,nj->ni", rotation, translation)  # R^T (0 - t)
    d = camera_in_head[:, None] - actor.eyes.centres[None]
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    pitch = np.arcsin(np.clip(-d[..., 1], -1, 1))
    yaw = np.arctan2(d[..., 0], -d[..., 2])
    return np.stack([yaw, pitch], axis=-1)


def load_edit_spec(path: str | os.PathLike, track: Track,
                   start_timecode: str | None = None) -> tuple[Performance, np.ndarray, np.ndarray]:
    """The edited performance of the target, each frame's edit weight (max over edits) and compositing fade.
    Frames may be given as timecodes, counted from `start_timecode` (the target's; by default the track's source's,
    else 00:00:00:00)."""
    path = Path(path)
    if not path.is_file():
        raise EditSpecError(f"edit spec {path} does not exist; see data/edit_example.yaml for the format")
    try:
        root = yaml.compose(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise EditSpecError(f"{path} is not valid YAML or JSON: {exc}") from None
    if root is None:
        raise EditSpecError(f"{path} is empty; see data/edit_example.yaml for the format")
    reader = _Reader(path)
    spec = reader.mapping(_plain(root), "the edit spec", ("version", "edits"))
    if "version" in spec and spec["version"].value != SPEC_VERSION:
        reader.fail(spec["version"], f"this dvp reads edit spec version {SPEC_VERSION}, not {spec['version'].value!r}")
    if "edits" not in spec or not isinstance(spec["edits"].value, list) or not spec["edits"].value:
        raise EditSpecError(f"{path}: needs a non-empty list under 'edits'")
    n = len(track)
    names = track.expression_names
    actor = actor_from_track(track)
    base = track_params(track, np.arange(n))
    valid = track.valid
    rotation, translation = base.rotation.copy(), base.translation.copy()
    expression, gaze = base.expression.copy(), base.gaze.copy()
    expression[~valid], gaze[~valid] = 0, 0  # invalid frames are passed through; keep NaN out of the sums
    rotation[~valid], translation[~valid] = np.eye(3), np.array([0, 0, 100.0])
    weights, camera_gaze, blink_ops = [], [], []
    painted = np.zeros(n)  # the largest weight of an edit that needs the network (head, expression or blink)
    rate = Fraction(track.header["source"]["fps"])
    fps = float(rate)
    start = start_timecode or track.header["source"].get("timecode") or "00:00:00:00"
    for node in spec["edits"].value:
        edit = reader.mapping(node, "an edit", ("frames", "ease", "head", "expression", "gaze", "blink"))
        if "frames" not in edit:
            reader.fail(node, "every edit needs 'frames: [first, last]'")
        fr = edit["frames"]
        if not isinstance(fr.value, list) or len(fr.value) != 2:
            reader.fail(fr, "frames must be [first, last]")
        first, last = (reader.frame(v, rate, start) for v in fr.value)
        if not 0 <= first <= last < n:
            named = f"frames [{fr.value[0].value}, {fr.value[1].value}]"
            if any(is_timecode(v.value) for v in fr.value):
                named += f" (frames {first} to {last} of a shot that starts at {start})"
            problem = "end before they begin" if first > last else \
                f"are outside the video, which has frames 0 to {n - 1}"
            reader.fail(fr, f"{named} {problem}")
        ease = int(reader.number(edit["ease"], "ease")) if "ease" in edit else 0
        if ease < 0 or 2 * ease > last - first + 1:
            reader.fail(edit["ease"], f"ease must be between 0 and half the range ({(last - first + 1) // 2} frames)")
        w = edit_weight(n, first, last, ease)
        weights.append(w)
        if set(edit) & {"head", "expression", "blink"}:
            painted = np.maximum(painted, w)
        if "head" in edit:
            head = {k: reader.number(v, f"head {k}") for k, v in reader.mapping(edit["head"], "head", HEAD_KEYS).items()}
            for t in np.flatnonzero(w):
                rotation[t] = rotation[t] @ head_rotation(*(w[t] * head.get(k, 0.0) for k in ("yaw", "pitch", "roll")))
                translation[t] += w[t] * np.array([head.get(k, 0.0) for k in ("x", "y", "z")])
        if "expression" in edit:
            known = tuple(names) + PAIRED
            for name, value in reader.mapping(edit["expression"], "expression", known).items():
                amount = reader.number(value, f"expression {name}")
                for control in [f"{name}_left", f"{name}_right"] if name in PAIRED else [name]:
                    expression[:, names.index(control)] += w * amount
        if "gaze" in edit:
            g = edit["gaze"]
            if g.value == "camera":
                camera_gaze.append(w)
            elif isinstance(g.value, dict):
                off = {k: reader.number(v, f"gaze {k}") for k, v in reader.mapping(g, "gaze", ("yaw", "pitch")).items()}
                gaze += w[:, None, None] * np.radians([off.get("yaw", 0.0), off.get("pitch", 0.0)])
            else:
                reader.fail(g, f"gaze must be 'camera' or {{yaw: DEG, pitch: DEG}}, not {g.value!r}")
        if "blink" in edit:
            b = edit["blink"]
            if b.value not in ("add", "remove"):
                reader.fail(b, f"blink must be 'add' or 'remove', not {b.value!r}")
            blink_ops.append((b.value, w, first, last))
    for w in camera_gaze:  # after the head edits: the eyes find the camera from the new head pose
        at_camera = gaze_at_camera(actor, rotation, translation)
        gaze = (1 - w[:, None, None]) * gaze + w[:, None, None] * at_camera
    blink = [names.index(c) for c in BLINK_CONTROLS]
    for op, w, first, last in blink_ops:
        if op == "remove":
            expression[:, blink] *= (1 - w)[:, None]
        else:
            half = max(1.0, BLINK_SECONDS * fps / 2)
            bump = 0.5 + 0.5 * np.cos(np.pi * np.clip((np.arange(n) - (first + last) / 2) / half, -1, 1))
            expression[:, blink] = np.maximum(expression[:, blink], bump[:, None])
    lo, hi = NAMED_BOUNDS
    expression[:, :track.header["model"]["num_named"]] = np.clip(expression[:, :track.header["model"]["num_named"]],
                                                                 lo, hi)
    weight = np.max(weights, axis=0)
    fade = np.clip(weight / smoothstep(np.array(FADE_SHARE)), 0, 1) * valid
    edited = driven_track(track, np.arange(n), rotation, translation, expression, gaze)
    eyes_only = (weight > 0) & (painted == 0) & valid
    return Performance(track=edited, target_frames=np.arange(n), eyes_only=eyes_only), weight, fade
