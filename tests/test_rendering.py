"""Conditioning images, the shot crop, space-time windows and `dvp render` on a generated clip."""
import dataclasses
import json

import cv2
import numpy as np
import pytest
import torch

from base.errors import BackendUnavailableError
from base.probe import probe
from pipeline.cli import main
from pipeline.demo import astronaut_clip
from reconstruction.fitting import actor_from_track, track_params
from reconstruction.track import load_track
from rendering import conditioning
from rendering.backends import pytorch3d_available, rasterize_mesh, rasterize_mesh_packed, resolve
from rendering.conditioning import ConditioningRenderer, render_faces
from rendering.crop import shot_crop
from rendering.spacetime import CONDITIONING_CHANNELS, SpaceTimeWindows, window_channel_names


@pytest.fixture(scope="module")
def tracked(astro):
    video, path = astro
    track = load_track(path)
    return video, path, track, actor_from_track(track)


def test_render_mesh_closes_the_eyes_and_mouth(tracked):
    _, _, _, actor = tracked
    faces, regions = render_faces(actor.model.topology, actor.model.neutral())
    assert faces.shape == (898, 3)  # 852 mesh triangles + 14 per eye + 18 in the mouth
    assert np.bincount(regions).tolist() == [852, 14, 14, 18]


def test_crop_holds_the_face_in_every_frame(tracked):
    _, _, track, actor = tracked
    crop = shot_crop(track, actor)
    px = actor.camera.project(actor.camera_points(track_params(track, np.flatnonzero(track.valid)))[:, :468])
    assert (px[..., 0] > crop.x0).all() and (px[..., 0] < crop.x0 + crop.side).all()
    assert (px[..., 1] > crop.y0).all() and (px[..., 1] < crop.y0 + crop.side).all()


def test_conditioning_lines_up_with_the_face(tracked):
    video, _, track, actor = tracked
    crop = shot_crop(track, actor)
    size = 128
    cond = ConditioningRenderer(track, crop, size, actor=actor).render(np.arange(len(track)))
    cam = crop.camera(actor.camera, size)
    lms = np.array([cam.focal * (track.landmarks[i] - [actor.camera.cx, actor.camera.cy]) / actor.camera.focal
                    + [cam.cx, cam.cy] for i in range(len(track))])
    interior = np.setdiff1d(np.arange(468), actor.model.topology.region("face_oval"))  # the outline is the edge
    for i in range(0, len(track), 7):
        mask = cond.mask[i, 0].numpy() / 255
        pts = lms[i, interior].astype(int).clip(0, size - 1)
        assert mask[pts[:, 1], pts[:, 0]].mean() > 0.98, "the detected landmarks fall on the rendered face"
        ys, xs = np.nonzero(mask)
        assert np.corrcoef(xs, cond.correspondence[i, 0].numpy()[ys, xs])[0, 1] > 0.9, "x on the mean face grows left to right"
        iris = cond.gaze[i, 1].numpy() > 127
        assert iris.sum() > 0 and (cond.gaze[i, 0].numpy()[iris] == 255).all(), "irises sit inside the eye openings"
    from base.reading import VideoReader

    real = torch.as_tensor(np.stack([crop.cut(f, size) for f in VideoReader(video)])).permute(0, 3, 1, 2).float()
    mask = cond.mask.float() / 255
    error = float(((cond.colour.float() - real).abs() * mask).sum() / mask.sum() / 3 / 255)
    assert error < 0.1


def test_invalid_frames_come_out_empty_and_batches_do_not_mix_frames(tracked):
    _, _, track, actor = tracked
    crop = shot_crop(track, actor)
    alone = ConditioningRenderer(track, crop, 64, actor=actor)
    gappy = dataclasses.replace(track, valid=track.valid.copy())
    gappy.valid[[1, 3]] = False
    batch = ConditioningRenderer(gappy, crop, 64, actor=actor).render(np.arange(6)).stacked()
    assert not batch[[1, 3]].any()
    for i in (0, 2, 4, 5):
        assert torch.equal(batch[i], alone.render(np.array([i])).stacked()[0])


def test_shading_packed_fragments_matches_the_fused_builtin_path(tracked, monkeypatch):
    """The PyTorch3D path (its packed fragments, then the same per-pixel shader), fed by the built-in rasteriser."""
    _, _, track, actor = tracked
    renderer = ConditioningRenderer(track, shot_crop(track, actor), 96, actor=actor)
    frames = np.arange(7)
    fused = renderer.render(frames)

    def builtin_packed(vertices, faces, camera, height, width, backend, cull_backfaces):
        return rasterize_mesh_packed(vertices, faces, camera, height, width, "builtin", cull_backfaces)

    monkeypatch.setattr(conditioning, "rasterize_mesh_packed", builtin_packed)
    renderer.backend = "pytorch3d"
    packed = renderer.render(frames)
    assert torch.equal(packed.stacked(), fused.stacked()) and torch.equal(packed.mask, fused.mask)
    assert fused.mask.any()


def test_space_time_window_layout_and_padding():
    windows = SpaceTimeWindows(3)
    frames = [torch.full((9, 4, 4), i, dtype=torch.uint8) for i in range(5)]
    first = windows.push(frames[0])
    assert first.shape == (27, 4, 4) and (first == 0).all(), "shot start is padded with copies"
    windows.push(frames[1])
    third = windows.push(frames[2])
    assert [third[9 * j, 0, 0].item() for j in range(3)] == [0, 1, 2], "oldest first, current last"
    fifth = [windows.push(f) for f in frames[3:]][-1]
    assert [fifth[9 * j, 0, 0].item() for j in range(3)] == [2, 3, 4]
    windows.reset()
    assert (windows.push(frames[4]) == 4).all()
    names = window_channel_names(11)
    assert len(names) == 99 and names[0] == "t-10/colour_r" and names[-1] == "t/eye_pupil"
    assert len(CONDITIONING_CHANNELS) == 9
    with pytest.raises(ValueError):
        windows.push(torch.zeros(3, 4, 4, dtype=torch.uint8))
    frames = torch.randint(0, 255, (23, 9, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    one_by_one, batched = SpaceTimeWindows(11), SpaceTimeWindows(11)
    expected = torch.stack([one_by_one.push(f) for f in frames])
    got = torch.cat([batched.push_batch(frames[i:i + 5]) for i in range(0, 23, 5)])
    assert torch.equal(got, expected), "batches of frames get the windows frame-by-frame pushing gives"


def test_dvp_render_writes_preview_sheet_and_report(tracked, tmp_path, capsys):
    video, track_path, track, _ = tracked
    out, report = tmp_path / "p.mp4", tmp_path / "r.json"
    assert main(["render", str(video), "--track", str(track_path), "-o", str(out), "--size", "128",
                 "--report", str(report), "-q"]) == 0
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (5 * 128, 128, len(track))
    sheet = cv2.imread(str(tmp_path / "p.png"))
    assert sheet.shape[1] == 5 * 128 and sheet.shape[0] >= 128
    rep = json.loads(report.read_text())
    assert rep["frames"] == len(track) and rep["rasterizer"] == "builtin" and rep["photometric_error"] < 0.1
    assert set(rep["crop"]) == {"x0", "y0", "side"} and rep["window"]["channels"] == 99
    assert json.loads(capsys.readouterr().out)["frames"] == len(track)
    assert not list(tmp_path.glob(".dvp-tmp-*"))


def test_render_refuses_a_video_that_is_not_the_tracked_one(tracked, tmp_path, capsys):
    _, track_path, _, _ = tracked
    other = tmp_path / "other.mp4"
    astronaut_clip(other, frames=5, size=256)
    assert main(["render", str(other), "--track", str(track_path), "-o", str(tmp_path / "p.mp4"), "-q"]) == 2
    assert "the track was made from" in capsys.readouterr().err
    assert not (tmp_path / "p.mp4").exists()
    assert main(["render", str(other), "--track", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "p.mp4"),
                 "-q"]) == 2


def test_pytorch3d_backend_is_refused_clearly_when_absent():
    if pytorch3d_available():
        pytest.skip("pytorch3d is installed here")
    with pytest.raises(BackendUnavailableError, match="pytorch3d"):
        resolve("pytorch3d")
    assert resolve("auto") == "builtin"


@pytest.mark.skipif(not pytorch3d_available(), reason="pytorch3d is not installed (no package in the registry here)")
def test_pytorch3d_backend_agrees_with_the_builtin_rasteriser(tracked):
    _, _, track, actor = tracked
    crop = shot_crop(track, actor)
    cam = crop.camera(actor.camera, 128)
    faces, _ = render_faces(actor.model.topology, actor.model.neutral())
    verts = torch.as_tensor(actor.camera_points(track_params(track, np.arange(4))), dtype=torch.float32)
    ours = rasterize_mesh(verts, torch.as_tensor(faces), cam, 128, 128, "builtin", cull_backfaces=True)
    theirs = rasterize_mesh(verts, torch.as_tensor(faces), cam, 128, 128, "pytorch3d", cull_backfaces=True)
    covered = ours.pix_to_face >= 0
    assert (ours.pix_to_face[covered] == theirs.pix_to_face[covered]).float().mean() > 0.99
