"""The eye pathway: eye boxes, their conditioning, the repainted ellipse, training and use in `dvp edit`."""
import json
import shutil

import cv2
import numpy as np
import pytest
import torch
from clips import near

from base.reading import VideoReader
from pipeline.cli import main
from pipeline.watermark import REACH
from reconstruction.fitting import actor_from_track
from reconstruction.track import load_track
from rendering.conditioning import ConditioningRenderer
from rendering.crop import CropBox
from rendering.feature_boxes import EYES, FeatureView, shot_side
from translation.pathways import EYE_PATHWAY, MOUTH_PATHWAY, TrainedPathway, blend_masks, holes


@pytest.fixture(scope="module")
def tracked(astro):
    video, path = astro
    track = load_track(path)
    return video, track, actor_from_track(track)


def test_a_shifted_render_is_the_render_of_the_shifted_box(tracked):
    _, track, actor = tracked
    side, size, frames = 60, 48, np.array([0, 9, 31])
    corner = np.array([[150, 140], [151, 139], [149, 143]])
    moved = ConditioningRenderer(track, CropBox(0, 0, side), size, actor=actor).render(
        frames, shift=corner * size / side)
    for k, f in enumerate(frames):
        fixed = ConditioningRenderer(track, CropBox(int(corner[k, 0]), int(corner[k, 1]), side), size, actor=actor)
        reference = fixed.render(np.array([f])).stacked()[0]
        differ = (moved.stacked()[k].int() - reference.int()).abs()
        assert reference.any() and (differ > 2).float().mean() < 0.002, f"frame {f}"


def test_eye_boxes_centre_on_the_eyes_and_see_their_gaze(tracked):
    video, track, actor = tracked
    side = shot_side(track, actor, EYES)
    view = FeatureView(track, actor, EYES, side, 64)
    frames = np.array([0, 20, 39])
    samples = view.samples(frames)
    assert samples.corners.shape == (3, 2, 2) and samples.geometry.shape == (3, 2, 4)
    centre = samples.geometry[..., :2]
    assert np.abs(centre - 31.5).max() <= 0.5 * 64 / side + 1e-3, "centred on the eye socket, to a source pixel"
    width = samples.geometry[..., 2]
    assert np.allclose(width, 64 / 2.0, rtol=0.2), "the box is two eye widths"
    assert (samples.corners[:, 0, 0] < samples.corners[:, 1, 0]).all(), "the right eye is on the image's left"
    cond = view.render(frames, samples)
    assert cond.gaze.shape == (6, 3, 64, 64)
    region = cond.gaze[:, 0] > 0
    ys, xs = torch.nonzero(region[0], as_tuple=True)
    assert abs(xs.float().mean() - 31.5) < 4 and abs(ys.float().mean() - 31.5) < 4
    frame = next(iter(VideoReader(video)))
    assert view.cut(frame, samples.corners[0]).shape == (2, 64, 64, 3)


def test_the_repainted_ellipse_and_its_blend():
    geometry = torch.tensor([[32.0, 30.0, 20.0, 0.0], [32.0, 30.0, 20.0, np.pi / 2], [32.0, 30.0, 0.0, 0.0]])
    axes = EYE_PATHWAY.hole_axes
    hole, masks = holes(geometry, 64, axes), blend_masks(geometry, 64, axes)
    # semi-axes 15 (along the corner line) and 9 (across)
    assert hole[0, 0, 30, 32 + 14] == 1 and hole[0, 0, 30, 32 + 16] == 0
    assert hole[0, 0, 30 + 8, 32] == 1 and hole[0, 0, 30 + 10, 32] == 0
    assert hole[1, 0, 30 + 14, 32] == 1 and hole[1, 0, 30, 32 + 10] == 0, "turned with the corner line"
    assert hole[2].max() == 0 and masks[2].max() == 0, "no eye, no hole"
    assert masks[0, 0, 30, 32] == 1 and (masks <= hole).all(), "the blend stays inside what is repainted"
    assert 0 < masks[0, 0, 30, 32 + 14] < 1, "feathered at the edge"


def _edited(video, model, spec, folder, runs: dict[str, list[str]]) -> dict[str, list[np.ndarray]]:
    """The frames of `dvp edit` runs of one spec as PNG sequences, by name, each with its extra options (and a report
    beside it, NAME.json)."""
    outputs = {}
    for name, extra in runs.items():
        out = folder / name
        assert main(["edit", str(video), "--model", str(model), "--edits", str(spec), "-o", str(out), "-q",
                     "--report", str(folder / f"{name}.json"), "--job-id", "0000e1e5", *extra]) == 0
        outputs[name] = [cv2.imread(str(p)) for p in sorted(out.glob("frame_*.png"))]
    return outputs


def _only_the_boxes_change(a: list[np.ndarray], b: list[np.ndarray], view, side: int, edited: range) -> None:
    """Frames outside `edited` are the same in both runs (marked alike: the runs carry one job id); inside, they
    differ, and only inside the view's boxes (and the mark's reach around them)."""
    for i, (x, y) in enumerate(zip(a, b)):
        if i not in edited:
            assert np.array_equal(x, y), f"frame {i} is not edited"
            continue
        changed = np.abs(x.astype(int) - y.astype(int)).max(-1) > 0
        inside = np.zeros_like(changed)
        for cx, cy in view.samples(np.array([i])).corners[0]:
            inside[max(0, cy):cy + side, max(0, cx):cx + side] = True
        assert changed.any() and not (changed & ~near(inside, REACH)).any(), f"frame {i}: only the boxes change"


def test_eye_pathway_trains_and_repaints_only_the_eyes(tiny_model, astro, tmp_path, capsys):
    source, _ = tiny_model
    video, _ = astro
    folder = tmp_path / "m"
    shutil.copytree(source, folder)
    assert main(["train", str(video), "-o", str(folder), "--eyes", "--preset", "cpu", "-q"]) != 0
    assert "leave out --preset" in capsys.readouterr().err
    assert TrainedPathway.of(EYE_PATHWAY, folder) is None
    assert main(["train", str(video), "-o", str(folder), "--eyes", "--steps", "6", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 6 and summary["train_samples"] % 2 == 0
    description = json.loads((folder / EYE_PATHWAY.folder / "model.json").read_text())
    assert description["eyes"]["side"] == summary["side"] and description["config"]["size"] == 64
    assert (folder / EYE_PATHWAY.folder / "loss_curve.png").is_file()
    assert main(["train", str(video), "-o", str(folder), "--eyes", "--steps", "8", "-q"]) != 0
    assert "already has an eye pathway" in capsys.readouterr().err
    pathway = TrainedPathway.of(EYE_PATHWAY, folder)
    assert pathway is not None and pathway.step == 6

    spec = tmp_path / "e.yaml"
    # a no-op expression edit beside the gaze: gaze-only frames are not painted, so there would be no eyes to repaint
    spec.write_text("edits:\n  - frames: [10, 20]\n    ease: 0\n    gaze: {yaw: 10}\n    expression: {smile: 0}\n")
    outputs = _edited(video, folder, spec, tmp_path, {"eyes": [], "plain": ["--no-eyes"]})
    assert json.loads((tmp_path / "eyes.json").read_text())["eye_pathway_step"] == 6
    assert json.loads((tmp_path / "plain.json").read_text())["eye_pathway_step"] is None
    _only_the_boxes_change(outputs["eyes"], outputs["plain"], pathway.view(load_track(folder / "target.track.npz")),
                           pathway.side, range(10, 21))


def test_mouth_pathway_trains_and_repaints_only_the_mouth(tiny_model, astro, tmp_path, capsys):
    source, _ = tiny_model
    video, _ = astro
    folder = tmp_path / "m"
    shutil.copytree(source, folder)
    with pytest.raises(SystemExit):  # one pathway at a time
        main(["train", str(video), "-o", str(folder), "--mouth", "--eyes", "-q"])
    assert "not allowed with" in capsys.readouterr().err
    assert main(["train", str(video), "-o", str(folder), "--mouth", "--steps", "4", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    description = json.loads((folder / "mouth" / "model.json").read_text())
    assert summary["step"] == 4 and summary["size"] == MOUTH_PATHWAY.config.size
    assert description["mouth"]["side"] == summary["side"] and description["split"]["samples_per_frame"] == 1
    assert summary["train_samples"] == description["split"]["train"][2], "one box a frame"
    pathway = TrainedPathway.of(MOUTH_PATHWAY, folder)
    assert pathway is not None and TrainedPathway.of(EYE_PATHWAY, folder) is None, "the eyes are their own"
    spec = tmp_path / "e.yaml"
    spec.write_text("edits:\n  - frames: [10, 20]\n    ease: 0\n    expression: {jaw_open: 0.3}\n")
    outputs = _edited(video, folder, spec, tmp_path, {"mouth": ["--no-gaze-warp"],
                                                      "plain": ["--no-gaze-warp", "--no-mouth"]})
    assert json.loads((tmp_path / "mouth.json").read_text())["mouth_pathway_step"] == 4
    assert json.loads((tmp_path / "plain.json").read_text())["mouth_pathway_step"] is None
    from pipeline.edit_spec import load_edit_spec

    edited, _, _ = load_edit_spec(spec, load_track(folder / "target.track.npz"))
    view = pathway.view(edited.track)  # the boxes follow the mouth as the edit opens it
    _only_the_boxes_change(outputs["mouth"], outputs["plain"], view, pathway.side, range(10, 21))


def _painted_eyes(actor, params, size: int) -> np.ndarray:
    """A frame (size x size) with both eyeballs drawn by ray casting: white sclera, a dark iris around the gaze."""
    from reconstruction.face_model import gaze_rotation

    cam = actor.camera
    u, v = np.meshgrid(np.arange(size) + 0.0, np.arange(size) + 0.0)
    rays = np.stack([(u - cam.cx) / cam.focal, (v - cam.cy) / cam.focal, np.ones_like(u)], -1)
    frame = np.full((size, size, 3), 150, np.uint8)
    for eye in range(2):
        centre = params.rotation[0] @ actor.eyes.centres[eye] + params.translation[0]
        b, c = -2 * rays @ centre, centre @ centre - actor.eyes.radius ** 2
        a = (rays * rays).sum(-1)
        disc = b * b - 4 * a * c
        hit = disc >= 0
        x = rays * ((-b - np.sqrt(np.where(hit, disc, 0))) / (2 * a))[..., None]
        look = params.rotation[0] @ gaze_rotation(*params.gaze[0, eye]) @ np.array([0.0, 0.0, -1.0])
        cos = ((x - centre) / actor.eyes.radius) @ look
        frame[hit] = np.where((cos > np.cos(0.45))[hit, None], 30, 235)
    return frame


def _dark_centroids(frame: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    dark = (frame[..., 0] < 90) & (True if where is None else where)
    ys, xs = np.nonzero(dark)
    left = xs < frame.shape[1] / 2
    return np.array([[xs[s].mean(), ys[s].mean()] for s in (left, ~left)])


def test_the_gaze_warp_turns_the_target_frames_own_eyeballs(tracked):
    from pipeline.eyes.eyeball_warp import EyeOpenings, redirect_eyes
    from reconstruction.fitting import FrameParams

    _, track, actor = tracked
    size = actor.camera.width
    openings = EyeOpenings.of(actor)
    names = track.expression_names

    def params(yaw, pitch, blink=0.0):
        expression = np.zeros((1, len(names)))
        expression[0, [names.index("blink_right"), names.index("blink_left")]] = blink
        return FrameParams(rotation=np.eye(3)[None], translation=np.array([[0.0, 1.0, 28.0]]),
                           expression=expression, gaze=np.radians([[[yaw, pitch], [yaw, pitch]]]))

    shown = params(0, 0)
    source = _painted_eyes(actor, shown, size)
    painted = np.full_like(source, 99)  # what the networks painted
    assert np.array_equal(redirect_eyes(source, source, actor, openings, shown, shown), source), \
        "no turn: the frame's own eyes, exactly"
    same = redirect_eyes(painted, source, actor, openings, shown, shown)
    core = (same == source).all(-1) & (source[..., 0] < 90)
    assert core.sum() > 0.8 * (source[..., 0] < 90).sum(), "the iris comes from the target frame"
    turned = params(12, -6)
    warped = redirect_eyes(source, source, actor, openings, turned, shown)
    truth = _painted_eyes(actor, turned, size)
    moved = _dark_centroids(truth) - _dark_centroids(source)
    assert np.abs(moved).max() > 2, "the test turns the eyes by more than a few pixels"
    white = np.full_like(source, 255)
    opening = redirect_eyes(np.zeros_like(source), white, actor, openings, turned, turned)[..., 0] > 250
    assert np.abs(_dark_centroids(warped, opening) - _dark_centroids(truth, opening)).max() < 0.3, \
        "inside the eye openings, the iris lands where it should"
    blinked = redirect_eyes(painted, _painted_eyes(actor, shown, size), actor, openings, turned, params(0, 0, 1.0))
    assert np.array_equal(blinked, painted), "a target frame with closed eyes lends no eyeball: the painting stays"
    half = redirect_eyes(painted, source, actor, openings, turned, shown, weight=0.5)
    full = redirect_eyes(painted, source, actor, openings, turned, shown)
    changed = full != 99
    assert np.abs(half[changed].astype(int) - (99 + full[changed].astype(int)) / 2).max() <= 1
