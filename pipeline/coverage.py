"""Does a job ask the model for what it has seen? Training coverage of head pose, gaze and expression.

The network learns one actor from one shot: it paints convincingly the head
poses, gaze directions and expressions that occur in its training frames, and
beyond them it falls back towards the nearest it knows (a head asked to turn
20 degrees turns perhaps 10). So before synthesis every output frame's
intended parameters are compared with the ranges of the model's training
frames:

- head yaw, pitch and roll relative to the shot's rest pose, in degrees, with
  the axes and signs of the edit spec's `head` offsets;
- gaze yaw and pitch of each eye, in degrees;
- each named expression control (0 relaxed .. 1 the whole motion; the
  unnamed detail coefficients are left out).

A frame is outside for a group (head, gaze, expression) when one of its
quantities leaves the training range by more than a tolerance (1 degree of head
rotation, 2 of gaze, 0.1 of a control). The job still runs; the report lists
the quantities and frame ranges that are outside, the command line warns, and
`--verify` also scores pose error over the frames whose head pose is inside,
gaze error over those whose gaze is inside and expression NME over those whose
expression is inside, so a weak result can be told apart from a request the
model never saw an example of.

Ranges taken axis by axis miss the holes between them: a head turned left and
tilted up can lie inside the yaw range and inside the pitch range while no
training frame shows that combination. So each output frame's head rotation
is also compared with every training frame's, and a frame with no training
frame within `NEAR_POSE_DEG` is reported (and warned about) as a pose with no
near example; `--verify` scores the pose error over the frames that have one
apart.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from reconstruction.pose import chordal_mean, head_angles, nearest_pose_deg
from reconstruction.track import Track, load_track
from translation.inference import Translator

HEAD_TOLERANCE_DEG = 1.0
GAZE_TOLERANCE_DEG = 2.0
EXPRESSION_TOLERANCE = 0.1
MAX_LISTED_RANGES = 8
NEAR_POSE_DEG = 3.0  # a training frame this close in head rotation counts as an example of the pose
GROUPS = ("head", "gaze", "expression")
log = logging.getLogger("dvp")


def quantities(track: Track, rest: np.ndarray, frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame values, by name, of everything coverage looks at."""
    out = {}
    angles = head_angles(rest.T @ track.rotation[frames].astype(np.float64))
    for k, name in enumerate(("head yaw", "head pitch", "head roll")):
        out[name] = angles[:, k]
    gaze = np.degrees(track.gaze[frames].astype(np.float64))
    for e, eye in enumerate(("right", "left")):
        out[f"gaze yaw ({eye} eye)"] = gaze[:, e, 0]
        out[f"gaze pitch ({eye} eye)"] = gaze[:, e, 1]
    for k, name in enumerate(track.expression_names[:track.header["model"]["num_named"]]):
        out[name] = track.expression[frames, k].astype(np.float64)
    return out


def group(name: str) -> str:
    return name.split(" ")[0] if name.startswith(("head ", "gaze ")) else "expression"


TOLERANCE = {"head": HEAD_TOLERANCE_DEG, "gaze": GAZE_TOLERANCE_DEG, "expression": EXPRESSION_TOLERANCE}


def runs(frames: np.ndarray) -> list[list[int]]:
    """Sorted frame indices as inclusive [first, last] runs."""
    if len(frames) == 0:
        return []
    cut = np.flatnonzero(np.diff(frames) > 1)
    starts = np.r_[frames[0], frames[cut + 1]]
    ends = np.r_[frames[cut], frames[-1]]
    return [[int(a), int(b)] for a, b in zip(starts, ends)]


@dataclass
class Coverage:
    """Which output frames ask for more than the model's training frames showed."""

    outside: dict[str, np.ndarray]  # per group, (N,) bool per output frame
    details: dict[str, dict]  # per quantity that leaves its range: trained and asked ranges, frames
    far_pose: np.ndarray | None = None  # (N,) bool: no training frame within NEAR_POSE_DEG of the head rotation

    def any_outside(self) -> np.ndarray:
        return np.logical_or.reduce(list(self.outside.values()))

    def report(self) -> dict:
        out = {"frames_outside_training_range": int(self.any_outside().sum()),
               "frames_outside_by_group": {g: int(m.sum()) for g, m in self.outside.items()},
               "outside": self.details}
        if self.far_pose is not None:
            listed = runs(np.flatnonzero(self.far_pose))
            out["head_poses_without_near_example"] = {
                "within_deg": NEAR_POSE_DEG, "frames": int(self.far_pose.sum()),
                "frame_ranges": listed[:MAX_LISTED_RANGES], "more_ranges": len(listed) > MAX_LISTED_RANGES}
        return out

    def warnings(self) -> list[str]:
        """One line per head or gaze quantity outside its range, one for all expression controls."""
        lines = []
        controls = []
        for name, d in self.details.items():
            if group(name) == "expression":
                controls.append(f"{name} ({d['frames']} frames, {d['asked'][0]:g}..{d['asked'][1]:g} against "
                                f"{d['trained'][0]:g}..{d['trained'][1]:g})")
                continue
            ranges = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in d["frame_ranges"])
            more = " ..." if d["more_ranges"] else ""
            lines.append(f"{name}: {d['frames']} frames ask for {d['asked'][0]:g}..{d['asked'][1]:g} deg, the "
                         f"model was trained on {d['trained'][0]:g}..{d['trained'][1]:g} deg (frames {ranges}{more});"
                         " expect less than was asked there")
        if self.far_pose is not None and self.far_pose.any():
            listed = runs(np.flatnonzero(self.far_pose))
            ranges = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in listed[:MAX_LISTED_RANGES])
            more = " ..." if len(listed) > MAX_LISTED_RANGES else ""
            lines.append(f"head pose: {int(self.far_pose.sum())} frames ask for a head rotation that no training "
                         f"frame comes within {NEAR_POSE_DEG:g} deg of (frames {ranges}{more}); expect the pose to "
                         "fall short there")
        if controls:
            lines.append(f"expression: {int(self.outside['expression'].sum())} frames, in " + "; ".join(controls[:5])
                         + (f"; and {len(controls) - 5} more controls" if len(controls) > 5 else ""))
        return lines


def training_frames(model_track: Track, manifest: dict) -> np.ndarray:
    """The valid frames of the model's training split."""
    first, last, _ = manifest["split"]["train"]
    frames = np.arange(first, last + 1)
    return frames[model_track.valid[frames]]


def coverage(intended: Track, model_track: Track, manifest: dict, frames: np.ndarray | None = None) -> Coverage:
    """Compare the valid frames of `intended` (all, or those in `frames`) with the model's training frames."""
    train = training_frames(model_track, manifest)
    rest = chordal_mean(model_track.rotation[train])
    seen = quantities(model_track, rest, train)
    frames = np.arange(len(intended)) if frames is None else np.asarray(frames, dtype=np.int64)
    frames = frames[intended.valid[frames]]
    asked = quantities(intended, rest, frames)
    outside = {g: np.zeros(len(intended), bool) for g in GROUPS}
    details = {}
    for name, values in asked.items():
        lo, hi = seen[name].min(), seen[name].max()
        tol = TOLERANCE[group(name)]
        out = (values < lo - tol) | (values > hi + tol)
        if not out.any():
            continue
        outside[group(name)][frames[out]] = True
        listed = runs(frames[out])
        digits = 3 if group(name) == "expression" else 1
        details[name] = {"trained": [round(float(lo), digits), round(float(hi), digits)],
                         "asked": [round(float(values.min()), digits), round(float(values.max()), digits)],
                         "frames": int(out.sum()), "frame_ranges": listed[:MAX_LISTED_RANGES],
                         "more_ranges": len(listed) > MAX_LISTED_RANGES}
    far = np.zeros(len(intended), bool)
    far[frames] = nearest_pose_deg(intended.rotation[frames], model_track.rotation[train]) > NEAR_POSE_DEG
    return Coverage(outside=outside, details=details, far_pose=far)




def check_coverage(intended: Track, translator: Translator, frames: np.ndarray | None = None) -> Coverage:
    """Coverage of a job's frames (all, or `frames`) by the model's training frames; warns of what is outside."""
    found = coverage(intended, load_track(translator.track_path), translator.manifest, frames)
    for line in found.warnings():
        log.warning("outside the model's training range: %s", line)
    return found
