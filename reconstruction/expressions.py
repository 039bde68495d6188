"""Expression blendshapes defined by geometry, so they mean the same on every actor.

Each control is a displacement field computed *on the actor's own neutral shape*
by a geometric rule: "jaw open" turns the lower jaw 20 degrees about a hinge in
front of the ears, "blink" carries the upper lid 85 % of the way to the lower lid
(and the lower lid the rest), "smile" lifts a mouth corner up, out and back. A
coefficient of 1 is that whole motion on any face, so coefficients fitted on one
actor can be replayed on another (identity-independent). Motion that the named
controls do not explain is taken by a small set of generic *detail* fields:
smooth Gaussian bumps along x, y and z at fixed places on the face, more
strongly regularised. All named controls are one-sided (0 = neutral, 1 = full).

Displacements are in centimetres in the head frame (x to the subject's left,
y down, z away from the camera); see `reconstruction.canonical`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reconstruction.topology import LEFT_IRIS, NUM_MESH_VERTICES, RIGHT_IRIS, Topology

# name -> one-line meaning; the order is the order of the coefficients.
NAMED_CONTROLS: dict[str, str] = {
    "jaw_open": "lower jaw turns 15 degrees about its hinge: chin about 1.8 cm down and 1.4 cm back",
    "smile_left": "left mouth corner up 6 mm, out 5 mm, back 3 mm, cheek lifted",
    "smile_right": "right mouth corner up 6 mm, out 5 mm, back 3 mm, cheek lifted",
    "lip_pucker": "lips pushed 6 mm forward and drawn 35 % towards the mouth centre",
    "lip_funnel": "lips 5 mm forward, opened vertically 7 mm, corners in 20 %",
    "mouth_left": "mouth shifted 8 mm to the subject's left",
    "mouth_right": "mouth shifted 8 mm to the subject's right",
    "brow_raise": "both brows up 7 mm",
    "brow_lower": "both brows down 5 mm and 3 mm towards the nose (frown)",
    "blink_left": "left upper lid meets the lower lid",
    "blink_right": "right upper lid meets the lower lid",
    "frown_left": "left mouth corner down 4 mm",
    "frown_right": "right mouth corner down 4 mm",
    "mouth_stretch_left": "left mouth corner out 5 mm and down 2 mm",
    "mouth_stretch_right": "right mouth corner out 5 mm and down 2 mm",
    "upper_lip_raise": "upper lip up 3 mm",
    "lower_lip_depress": "lower lip down 3 mm",
    "lips_close": "inner lips towards each other by 4 mm each (mouth closed with the jaw open)",
    "lip_roll_in": "lips rolled inwards 3 mm",
    "jaw_left": "lower jaw shifted 6 mm to the subject's left",
    "jaw_right": "lower jaw shifted 6 mm to the subject's right",
    "jaw_forward": "lower jaw pushed 5 mm forward",
    "cheek_puff": "cheeks pushed 5 mm out and forward",
    "squint_left": "left lower lid up a quarter of the eye opening",
    "squint_right": "right lower lid up a quarter of the eye opening",
    "eye_wide_left": "left upper lid up 2 mm",
    "eye_wide_right": "right upper lid up 2 mm",
    "brow_inner_up": "inner ends of both brows up 6 mm",
    "brow_outer_up_left": "outer end of the left brow up 6 mm",
    "brow_outer_up_right": "outer end of the right brow up 6 mm",
    "nose_sneer": "nose wings up 3 mm",
}

# The controls every actor's performance is described by first.
CORE_CONTROLS = ("jaw_open", "smile_left", "smile_right", "lip_pucker", "lip_funnel", "mouth_left",
                 "mouth_right", "brow_raise", "brow_lower", "blink_left", "blink_right")

JAW_ANGLE_RAD = np.deg2rad(15.0)
DETAIL_SIGMA_CM = 1.6
DETAIL_AMPLITUDE_CM = 0.3
# Places of the detail fields (mediapipe vertex indices): mouth, chin, cheeks, eyes, brows, forehead.
DETAIL_CENTRES = (0, 17, 61, 291, 13, 14, 152, 199, 192, 416, 50, 280, 159, 386, 145, 374,
                  105, 334, 9, 132, 361, 4, 93, 323)


def _dist(points: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Distance of every point to its nearest anchor."""
    return np.linalg.norm(points[:, None, :] - anchors[None, :, :], axis=-1).min(axis=1)


def spread(shape: np.ndarray, handles: np.ndarray, moves: np.ndarray, radius: float) -> np.ndarray:
    """A smooth displacement field that moves `handles` by `moves` and fades with distance.

    Shepard interpolation of the handle moves, scaled by a Gaussian of the
    distance to the nearest handle, so handles move exactly and far points not at all.
    """
    d = np.linalg.norm(shape[:, None, :] - shape[handles][None, :, :], axis=-1)
    k = np.exp(-0.5 * (d / (0.35 * radius)) ** 2) + 1e-12
    field = (k / k.sum(axis=1, keepdims=True)) @ moves * np.exp(-0.5 * (d.min(axis=1) / radius) ** 2)[:, None]
    field[handles] = moves
    return field


@dataclass(frozen=True)
class FaceLandmarks:
    """The vertex sets of one actor's face that the geometric rules need."""

    shape: np.ndarray  # (478, 3) neutral shape in the head frame
    topology: Topology

    def idx(self, name: str) -> np.ndarray:
        return self.topology.region(name)

    def p(self, name: str) -> np.ndarray:
        return self.shape[self.idx(name)]


def _jaw_weight(f: FaceLandmarks) -> np.ndarray:
    """How much each vertex belongs to the lower jaw (0 above the mouth line, 1 below)."""
    s = f.shape
    inner_up, inner_lo = f.p("lips_inner_upper"), f.p("lips_inner_lower")
    mouth_x = 0.5 * (inner_up[:, 0] + inner_lo[:, 0])
    mouth_y = 0.5 * (inner_up[:, 1] + inner_lo[:, 1])
    order = np.argsort(mouth_x)
    mouth_x, mouth_y = mouth_x[order], mouth_y[order]
    edge_x = np.abs(s[:NUM_MESH_VERTICES, 0]).max()
    hinge_y = s[[234, 454], 1].mean()
    x = s[:, 0]
    line = np.interp(x, mouth_x, mouth_y)
    beyond = np.clip((np.abs(x) - mouth_x.max()) / max(edge_x - mouth_x.max(), 1e-6), 0, 1)
    line = line + beyond * (hinge_y + 0.35 * (mouth_y.mean() - hinge_y) - line)  # the line climbs to the jaw angle
    w = 1.0 / (1.0 + np.exp(-(s[:, 1] - line) / 0.25))
    w[f.idx("lips_outer_upper")] = 0.0
    w[f.idx("lips_inner_upper")] = 0.0
    w[f.idx("lips_outer_lower")] = 1.0
    w[f.idx("lips_inner_lower")] = 1.0
    w[[61, 291, 78, 308]] = 0.5
    w[NUM_MESH_VERTICES:] = 0.0  # the eyes are not on the jaw
    return w


def _hinge(f: FaceLandmarks) -> np.ndarray:
    s = f.shape
    """Effective centre of the jaw's opening motion: behind the face at mouth height.

    The condyle slides forward as the jaw turns, so the chin travels about twice
    as far down as back; a pivot level with the mouth and behind the cheek edge
    reproduces that with a single rotation.
    """
    side = s[[234, 454]].mean(axis=0)  # cheek edge, in front of the ears
    mouth = 0.5 * (s[13] + s[14])
    return np.array([0.0, mouth[1], side[2] + 1.0])


def _rotate_x(points: np.ndarray, centre: np.ndarray, angle: float) -> np.ndarray:
    c, sn = np.cos(angle), np.sin(angle)
    rot = np.array([[1, 0, 0], [0, c, -sn], [0, sn, c]])
    return (points - centre) @ rot.T + centre


def _lid_close(f: FaceLandmarks, side: str, upper_share: float) -> np.ndarray:
    """Upper lid moves `upper_share` of the way to the lower lid, the lower lid the rest."""
    up, lo = f.idx(f"{side}_upper_lid")[1:-1], f.idx(f"{side}_lower_lid")[1:-1]
    gap = f.shape[lo] - f.shape[up]
    handles = np.concatenate([up, lo, f.idx(f"{side}_upper_lid")[[0, -1]]])
    moves = np.concatenate([upper_share * gap, -(1 - upper_share) * gap, np.zeros((2, 3))])
    field = spread(f.shape, handles, moves, radius=0.45)
    field[list(RIGHT_IRIS if side == "right" else LEFT_IRIS)] = 0.0  # the eyeball does not move
    return field


def _corner_move(f: FaceLandmarks, corner: int, move: np.ndarray, radius: float = 1.3) -> np.ndarray:
    return spread(f.shape, np.array([corner]), move[None, :], radius)


def _lips_field(f: FaceLandmarks, moves_of) -> np.ndarray:
    lips = f.idx("lips")
    return spread(f.shape, lips, moves_of(lips), radius=0.7)


def named_fields(f: FaceLandmarks) -> np.ndarray:
    """The named controls' displacement fields (K, 478, 3) for one neutral shape."""
    s = f.shape
    jaw_w = _jaw_weight(f)
    hinge = _hinge(f)
    jaw_rot = (_rotate_x(s, hinge, -JAW_ANGLE_RAD) - s)
    if jaw_rot[152, 1] < 0:  # the chin must go down
        jaw_rot = (_rotate_x(s, hinge, JAW_ANGLE_RAD) - s)
    jaw_rot *= jaw_w[:, None]
    centre = 0.5 * (s[13] + s[14])
    x_out = lambda side: 1.0 if side == "left" else -1.0  # noqa: E731
    corner = {"left": 291, "right": 61}
    eye_open = {side: np.linalg.norm(s[f.idx(f"{side}_upper_lid")[4]] - s[f.idx(f"{side}_lower_lid")[4]])
                for side in ("left", "right")}
    upper = np.concatenate([f.idx("lips_outer_upper"), f.idx("lips_inner_upper")])
    lower = np.concatenate([f.idx("lips_outer_lower"), f.idx("lips_inner_lower")])

    def brow_field(side: str | None, where: str, move: np.ndarray) -> np.ndarray:
        sides = ("left", "right") if side is None else (side,)
        out = np.zeros_like(s)
        for sd in sides:
            brow = f.idx(f"{sd}_brow")
            inner_first = brow[np.argsort(np.abs(s[brow, 0]))]
            pick = {"all": inner_first, "inner": inner_first[:4], "outer": inner_first[-4:]}[where]
            m = move * np.array([x_out(sd), 1.0, 1.0])
            out += spread(s, pick, np.repeat(m[None], len(pick), 0), radius=1.4)
        return out

    def lips_only(moving: np.ndarray, move: np.ndarray, still: np.ndarray, radius: float = 0.6) -> np.ndarray:
        """Move one lip while the other stays (both are handles, so neither drags the other)."""
        still = np.setdiff1d(still, moving)
        moves = np.concatenate([np.repeat(move[None], len(moving), 0), np.zeros((len(still), 3))])
        return spread(s, np.concatenate([moving, still]), moves, radius)

    fields = {
        "jaw_open": jaw_rot,
        "lip_pucker": _lips_field(f, lambda i: np.c_[-0.35 * (s[i, 0] - centre[0]), np.zeros(len(i)), -0.6 * np.ones(len(i))]),
        "lip_funnel": _lips_field(f, lambda i: np.c_[-0.2 * (s[i, 0] - centre[0]),
                                                      0.35 * np.sign(s[i, 1] - centre[1]) * (np.abs(s[i, 0] - centre[0]) < 1.6),
                                                      -0.5 * np.ones(len(i))]),
        "mouth_left": spread(s, f.idx("lips"), np.repeat([[0.8, 0, 0]], len(f.idx("lips")), 0), radius=1.2),
        "mouth_right": spread(s, f.idx("lips"), np.repeat([[-0.8, 0, 0]], len(f.idx("lips")), 0), radius=1.2),
        "brow_raise": brow_field(None, "all", np.array([0.0, -0.7, 0.0])),
        "brow_lower": brow_field(None, "all", np.array([-0.3, 0.5, 0.0])),
        "upper_lip_raise": lips_only(upper, np.array([0.0, -0.3, 0.0]), lower),
        "lower_lip_depress": lips_only(lower, np.array([0.0, 0.3, 0.0]), upper),
        "lips_close": spread(s, np.concatenate([f.idx("lips_inner_upper")[1:-1], f.idx("lips_inner_lower")[1:-1]]),
                             np.repeat([[0.0, 0.4, 0.0], [0.0, -0.4, 0.0]], 9, axis=0), 0.4),
        "lip_roll_in": spread(s, f.idx("lips"), np.repeat([[0.0, 0.0, 0.3]], len(f.idx("lips")), 0), 0.6),
        "jaw_left": jaw_w[:, None] * np.array([0.6, 0.0, 0.0]),
        "jaw_right": jaw_w[:, None] * np.array([-0.6, 0.0, 0.0]),
        "jaw_forward": jaw_w[:, None] * np.array([0.0, 0.0, -0.5]),
        "cheek_puff": spread(s, np.array([50, 280]), np.array([[-0.5, 0, -0.3], [0.5, 0, -0.3]]), radius=1.5),
        "brow_inner_up": brow_field(None, "inner", np.array([0.0, -0.6, 0.0])),
        "nose_sneer": spread(s, np.array([48, 278]), np.array([[0, -0.3, 0], [0, -0.3, 0]]), radius=0.8),
    }
    for side in ("left", "right"):
        xo = x_out(side)
        c = corner[side]
        smile = _corner_move(f, c, np.array([0.5 * xo, -0.6, 0.3]))
        cheek = 50 if side == "right" else 280
        smile += spread(s, np.array([cheek]), np.array([[0.0, -0.2, 0.0]]), radius=1.5)
        fields[f"smile_{side}"] = smile
        fields[f"blink_{side}"] = _lid_close(f, side, 0.85)
        fields[f"frown_{side}"] = _corner_move(f, c, np.array([0.0, 0.4, 0.0]))
        fields[f"mouth_stretch_{side}"] = _corner_move(f, c, np.array([0.5 * xo, 0.2, 0.0]))
        up = f.idx(f"{side}_upper_lid")[1:-1]
        lo = f.idx(f"{side}_lower_lid")[1:-1]
        fields[f"squint_{side}"] = spread(s, lo, np.repeat([[0.0, -0.25 * eye_open[side], 0.0]], len(lo), 0), 0.45)
        fields[f"eye_wide_{side}"] = spread(s, up, np.repeat([[0.0, -0.2, 0.0]], len(up), 0), 0.45)
        fields[f"brow_outer_up_{side}"] = brow_field(side, "outer", np.array([0.0, -0.6, 0.0]))
    for name in fields:
        if not name.startswith(("blink", "squint", "eye_wide")):
            fields[name][NUM_MESH_VERTICES:] = 0.0  # the irises ride on the eyeballs
    return np.stack([fields[name] for name in NAMED_CONTROLS])


def detail_fields(f: FaceLandmarks) -> np.ndarray:
    """Generic smooth fields (3 per centre: x, y, z) for the motion the named controls miss."""
    s = f.shape
    out = []
    for c in DETAIL_CENTRES:
        bump = np.exp(-0.5 * (np.linalg.norm(s - s[c], axis=1) / DETAIL_SIGMA_CM) ** 2)
        bump[NUM_MESH_VERTICES:] = 0.0
        for axis in range(3):
            field = np.zeros_like(s)
            field[:, axis] = DETAIL_AMPLITUDE_CM * bump
            out.append(field)
    return np.stack(out)


def detail_names() -> list[str]:
    return [f"detail_{c}_{a}" for c in DETAIL_CENTRES for a in "xyz"]
