"""Performance editing: keyframed changes to the target's own parameters (`dvp edit`).

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
eyeballs (`pipeline.eyeball_warp`), so everything outside the eye openings
stays as shot, sharp, glasses and all, bit for bit before encoding. A spec of
gaze edits alone therefore needs no model at all (`pipeline.gaze_edit`).

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
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import yaml

from pipeline.atomic import write_json
from pipeline.coverage import head_rotations, runs
from pipeline.errors import DvpError
from pipeline.gaze_calibration import given_gain
from pipeline.gaze_edit import warp_gaze
from pipeline.probe import probe
from pipeline.reenactment import (audio_source, check_coverage, check_job, choose_audio, load_or_track,
                                  model_target, output_seconds, verify)
from pipeline.synthesis import SynthesisOptions, synthesise
from pipeline.timecode import TimecodeError, is_timecode, timecode_frames
from pipeline.transfer import BLINK_CONTROLS, Performance, driven_track
from reconstruction.fitting import actor_from_track, track_params
from reconstruction.track import Track
from rendering.crop import CropBox
from translation.devices import resolve_device
from translation.eyes import EyePathway
from translation.inference import Translator

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


def head_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation in the head frame: yaw and pitch as the gaze's, then roll about the viewing axis."""
    return head_rotations(np.array([[yaw, pitch, roll]]))[0]


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


def edit(target: str | os.PathLike, model: str | os.PathLike | None, edits: str | os.PathLike,
         output: str | os.PathLike,
         target_track: str | os.PathLike | None = None, audio: str = "target", fmt: str | None = None,
         preview: str | os.PathLike | None = None, report: str | os.PathLike | None = None, check: bool = False,
         rasterizer: str = "auto", show_progress: bool = True, eyes: bool = True,
         gaze_warp: bool = True, gaze_gain: float | None = None, pose_calibration: bool = True,
         device: str = "auto", keep_depth: bool = True) -> dict:
    """Apply an edit spec to the target video through its trained model, or with no model when every edit is a
    gaze edit (see `pipeline.gaze_edit`); returns the report."""
    started = time.perf_counter()
    target, output = Path(target), Path(output)
    fmt = check_job({"target video": target, "edit spec": Path(edits)}, output, fmt)
    audio_source(audio, None, target)  # a choice that cannot be met fails before any work
    if gaze_gain is not None:
        given_gain(gaze_gain)  # a bad value fails before any work
    if model is None:
        if not gaze_warp:
            raise DvpError("without --model only gaze edits can be made, and they are made by the gaze warp: "
                           "leave out --no-gaze-warp, or give --model")
        result = _edit_gaze_only(target, edits, output, fmt, target_track, audio, preview, check, show_progress,
                                 gaze_gain, keep_depth)
        result["seconds"] = round(time.perf_counter() - started, 1)
        if report is not None:
            write_json(report, result)
        return result
    runs_on = resolve_device(device)
    translator = Translator(model, device=runs_on)
    eye_pathway = EyePathway.of(model, runs_on) if eyes else None
    with tempfile.TemporaryDirectory(prefix=".dvp-tmp-", dir=output.parent) as scratch:
        scratch = Path(scratch)
        track, scale = model_target(translator, target, target_track, scratch, show_progress)
        if eye_pathway is not None:
            eye_pathway.rescale(scale)
        timecode = probe(target).timecode
        performance, weight, fade = load_edit_spec(edits, track, timecode)
        painted = (weight > 0) & ~(performance.eyes_only & gaze_warp)  # the gaze warp turns to any gaze
        found = check_coverage(performance.track, translator, np.flatnonzero(painted))
        options = SynthesisOptions(fmt=fmt, audio=choose_audio(audio, None, target, output_seconds(performance), fmt),
                                   timecode=timecode, rasterizer=rasterizer,
                                   show_progress=show_progress, gaze_warp=gaze_warp,
                                   gaze_gain=gaze_gain, pose_calibration=pose_calibration, keep_depth=keep_depth)
        crop = CropBox(**translator.manifest["crop"]).scaled(scale)
        stats = synthesise(performance, translator, crop, track, target, output, options, fade=fade,
                           preview=Path(preview) if preview else None,
                           preview_labels=("original", "conditioning", "output"), eyes=eye_pathway)
        result = {"target": target.name, "model": str(translator.folder), "model_step": translator.step,
                  "model_scale": scale, "device": str(runs_on), "edits": Path(edits).name, "output": str(output),
                  "format": fmt, "edited_frames": int((weight > 0).sum()), "fully_edited_frames": int((weight >= 1).sum()),
                  "audio": options.audio.name if options.audio else None, "timecode": options.timecode, **stats,
                  "coverage": found.report()}
        if check:
            result["faithfulness"] = verify(output, performance.track, np.flatnonzero(weight >= 1), scratch,
                                            show_progress, found)
    result["seconds"] = round(time.perf_counter() - started, 1)
    if report is not None:
        write_json(report, result)
    return result


def _edit_gaze_only(target: Path, edits, output: Path, fmt: str, target_track, audio: str, preview, check: bool,
                    show_progress: bool, gaze_gain: float | None, keep_depth: bool) -> dict:
    """`dvp edit` without a model: every edit must be a gaze edit (see `pipeline.gaze_edit`)."""
    with tempfile.TemporaryDirectory(prefix=".dvp-tmp-", dir=output.parent) as scratch:
        scratch = Path(scratch)
        track = load_or_track(target, target_track, scratch, show_progress, "target")
        timecode = probe(target).timecode
        performance, weight, fade = load_edit_spec(edits, track, timecode)
        painted = (weight > 0) & track.valid & ~performance.eyes_only
        if painted.any():
            spans = ", ".join(f"{a}-{b}" for a, b in runs(np.flatnonzero(painted))[:5])
            raise DvpError(f"{Path(edits).name} changes the head, expression or blinks in frames {spans}, which only "
                           "a model trained on this actor can paint: give --model MODEL_DIR (from `dvp train`), or "
                           "keep to gaze edits, which need no model")
        options = SynthesisOptions(fmt=fmt, audio=choose_audio(audio, None, target, output_seconds(performance), fmt),
                                   timecode=timecode, show_progress=show_progress,
                                   gaze_gain=gaze_gain, keep_depth=keep_depth)
        stats = warp_gaze(performance, track, target, output, options, fade, Path(preview) if preview else None)
        result = {"target": target.name, "model": None, "edits": Path(edits).name, "output": str(output),
                  "format": fmt, "edited_frames": int((weight > 0).sum()),
                  "fully_edited_frames": int((weight >= 1).sum()),
                  "audio": options.audio.name if options.audio else None, "timecode": options.timecode, **stats}
        if check:
            result["faithfulness"] = verify(output, performance.track, np.flatnonzero(weight >= 1), scratch,
                                            show_progress)
    return result
