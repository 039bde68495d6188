"""Gaze by geometry: the target's own eyeballs, turned to the intended gaze and seen again by the camera.

The networks paint eyes from examples, and a short shot shows few gaze
directions; asked for others, they paint the iris
pulled back towards the directions they know. But an eyeball is a sphere whose
texture turns with the gaze, and the target frame under every output frame
shows that texture. So inside the eye opening of the intended face (the lid
contour of the face model, in the intended pose and expression), each output
pixel's ray is intersected with the intended eyeball; the hit point is carried,
in the eyeball's own frame, to where it sat in the target frame (that frame's
head pose and gaze), and the target frame's colour there is taken. Points the
target frame does not show (turned away from the camera, or under its lids,
where a turn uncovers sclera the frame hid) are filled in from the pixels
around them; an eye the target frame shows too little of (a blink:
`EyeSettings.min_seen`)
keeps the network's painting. A feathered mask blends the opening in.

The texture comes from the same shot and the same moment as the background,
so it has the frame's own light and grain. Where the intended face is the
target's own frame (self-reenactment, or the unedited parts of an edit), the
warp is the identity and the eyes come back as they were.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.eyes.settings import DEFAULT, EyeSettings
from reconstruction.face_model import gaze_rotation
from reconstruction.fitting import ActorModel, FrameParams


@dataclass
class EyeOpenings:
    """The lid contour of each eye, as model vertices in order around the opening."""

    contours: tuple[np.ndarray, np.ndarray]  # right eye, left eye

    @classmethod
    def of(cls, actor: ActorModel) -> "EyeOpenings":
        regions = actor.model.topology.regions
        neutral = actor.identity
        out = []
        for name in ("right_eye", "left_eye"):
            verts = np.array(regions[name])
            p = neutral[verts, :2]
            angle = np.arctan2(p[:, 1] - p[:, 1].mean(), p[:, 0] - p[:, 0].mean())
            out.append(verts[np.argsort(angle)])  # the almond is star-shaped about its centre
        return cls(contours=(out[0], out[1]))


def _box(polygon: np.ndarray, width: int, height: int, margin: int) -> tuple[int, int, int, int] | None:
    """(x0, y0, w, h): the polygon's bounding box in pixels with a margin, inside the frame; None when degenerate
    (or unknown: a frame without a face has NaN parameters)."""
    if not np.isfinite(polygon).all():
        return None
    x0, y0 = np.floor(polygon.min(0)).astype(int) - margin
    x1, y1 = np.ceil(polygon.max(0)).astype(int) + margin
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    return (int(x0), int(y0), int(x1 - x0), int(y1 - y0)) if x1 - x0 >= 2 and y1 - y0 >= 2 else None


def opening_mask(polygon: np.ndarray, box: tuple[int, int, int, int], inset: float) -> np.ndarray:
    """(h, w) float 0..1: the polygon (pixels, full frame) filled in the box (x0, y0, w, h), shrunk by `inset` px."""
    x0, y0, w, h = box
    scale = 16  # 4 bits of sub-pixel precision
    pts = np.round((polygon - [x0, y0]) * scale).astype(np.int32)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=4)
    mask = mask.astype(np.float32) / 255
    if inset > 0:
        k = 2 * int(np.ceil(inset)) + 1
        mask = cv2.erode(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return mask


def redirect_eyes(output: np.ndarray, source: np.ndarray, actor: ActorModel, openings: EyeOpenings,
                  intended: FrameParams, shown: FrameParams, weight: float = 1.0,
                  settings: EyeSettings = DEFAULT) -> np.ndarray:
    """`output` (H, W, 3) uint8 with the eyeballs of `source` (the target frame, whose parameters are `shown`) turned
    to the `intended` parameters, one frame each (FrameParams of length 1); blended by `weight` (0..1)."""
    if weight <= 0:
        return output
    cam = actor.camera
    pts_out = actor.camera_points(intended)[0]
    pts_src = actor.camera_points(shown)[0]
    result = output.copy()
    height, width = output.shape[:2]
    for eye in range(2):
        contour = openings.contours[eye]
        poly_out, poly_src = cam.project(pts_out[contour]), cam.project(pts_src[contour])
        box = _box(poly_out, width, height, settings.margin_px)
        box_src = _box(poly_src, width, height, settings.margin_px)
        if box is None or box_src is None:
            continue
        x0, y0, w, h = box
        x1, y1 = x0 + w, y0 + h
        inside = opening_mask(poly_out, box, settings.inset_px)
        if not inside.any():
            continue
        # Rays through the box's pixel centres, against the intended eyeball.
        u, v = np.meshgrid(np.arange(x0, x1) + 0.0, np.arange(y0, y1) + 0.0)
        rays = np.stack([(u - cam.cx) / cam.focal, (v - cam.cy) / cam.focal, np.ones_like(u)], -1)
        centre = intended.rotation[0] @ actor.eyes.centres[eye] + intended.translation[0]
        r = actor.eyes.radius
        a = (rays * rays).sum(-1)
        b = -2 * rays @ centre
        c = centre @ centre - r * r
        disc = b * b - 4 * a * c
        hit = disc >= 0
        s = (-b - np.sqrt(np.where(hit, disc, 0))) / (2 * a)
        x_out = rays * s[..., None]
        # The same point of the eyeball in the target frame.
        turn_out = intended.rotation[0] @ gaze_rotation(*intended.gaze[0, eye])
        turn_src = shown.rotation[0] @ gaze_rotation(*shown.gaze[0, eye])
        centre_src = shown.rotation[0] @ actor.eyes.centres[eye] + shown.translation[0]
        local = (x_out - centre) @ turn_out  # turn_out^T (x - centre), row-wise
        x_src = centre_src + local @ turn_src.T
        facing = ((x_src - centre_src) * x_src).sum(-1) < 0  # the surface faces the camera there
        p_src = cam.project(x_src)
        seen = opening_mask(poly_src, box_src, 0.0)
        sx0, sy0 = box_src[:2]
        map_x, map_y = p_src[..., 0].astype(np.float32), p_src[..., 1].astype(np.float32)
        in_source = cv2.remap(seen, map_x - sx0, map_y - sy0, cv2.INTER_LINEAR, borderValue=0)
        valid = (hit & facing).astype(np.float32) * in_source
        colour = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        inside = inside * hit  # the opening's corners can lie beyond the eyeball's outline: the painting stays there
        opening = inside > 0.5
        known = opening & (valid > 0.5)
        if known.sum() < settings.min_seen * opening.sum():
            continue  # the target frame shows too little of this eyeball (a blink): keep the painting
        missing = opening & ~known
        if missing.any():  # eyeball the target frame hid (mostly sclera uncovered by the turn): filled from around
            colour = cv2.inpaint(colour, (missing * 255).astype(np.uint8), 2, cv2.INPAINT_TELEA)
        alpha = inside
        if settings.feather_px > 0:
            alpha = np.minimum(alpha, cv2.GaussianBlur(alpha, (0, 0), settings.feather_px))
        alpha = alpha * weight
        patch = result[y0:y1, x0:x1].astype(np.float32)
        blended = patch + alpha[..., None] * (colour.astype(np.float32) - patch)
        result[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
    return result
