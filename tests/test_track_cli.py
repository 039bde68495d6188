"""`dvp track` end to end on generated clips, and its refusals of bad input."""
import json

import cv2
import numpy as np
import pytest
from clips import ffmpeg

from base.probe import probe
from base.writing import VideoWriter
from pipeline.cli import main
from pipeline.demo import astronaut_clip, astronaut_frame
from reconstruction.track import load_track


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory):
    folder = tmp_path_factory.mktemp("astro")
    motion = astronaut_clip(folder / "astro.mp4", frames=40)
    return folder / "astro.mp4", motion


def _roll_deg(track):
    rel = np.einsum("fij,kj->fik", track.rotation.astype(float), track.rotation[0].astype(float))
    return np.degrees(np.arctan2(rel[:, 1, 0], rel[:, 0, 0]))


def test_track_writes_track_preview_and_report(astronaut, tmp_path, capsys):
    video, motion = astronaut
    out, preview, report = tmp_path / "a.npz", tmp_path / "a.mp4", tmp_path / "a.json"
    assert main(["track", str(video), "-o", str(out), "--preview", str(preview), "--report", str(report), "-q"]) == 0
    track = load_track(out)
    assert len(track) == 40 and track.valid.all()
    # The photo turns counter-clockwise on screen by `roll`: the head's roll about the camera axis.
    truth = -(motion[:, 0] - motion[0, 0])
    assert np.abs(_roll_deg(track) - truth).max() < 2.0
    rep = json.loads(report.read_text())
    for key in ("frames", "valid_frames", "interpolated_frames", "reprojection_error_px", "nme",
                "frames_per_second", "peak_memory_mib"):
        assert key in rep
    assert rep["frames"] == 40 and rep["nme"] < 0.02
    for stage in ("decode", "landmarks", "fitting", "total"):
        assert rep["frames_per_second"][stage] > 0
    info = probe(preview)
    assert info.frame_count == 40 and (info.width, info.height) == (384, 384)
    assert json.loads(capsys.readouterr().out)["frames"] == 40
    assert not list(tmp_path.glob(".dvp-tmp-*"))


def test_the_chosen_face_is_followed_among_several(tmp_path):
    """Two copies of the portrait, a small one on the left and a large one on the right."""
    path = tmp_path / "two.mp4"
    with VideoWriter(path, 25, 640, 384) as w:
        for i in range(12):
            big = astronaut_frame(0, 0, 2 * i, 1.0, 384)
            small = cv2.resize(astronaut_frame(0, 0, 0, 0.8, 384), (256, 256))
            canvas = np.zeros((384, 640, 3), np.uint8)
            canvas[64:320, :256] = small
            canvas[:, 256:] = big
            w.write(canvas)
    centres = {}
    for choice in ("largest", "0"):
        out = tmp_path / f"{choice}.npz"
        assert main(["track", str(path), "-o", str(out), "--face", choice, "-q"]) == 0
        centres[choice] = load_track(out).landmarks[:, :, 0].mean()
    assert centres["largest"] > 256 > centres["0"]
    assert main(["track", str(path), "-o", str(tmp_path / "x.npz"), "--face", "4", "-q"]) == 2


def _bad_inputs(folder, astronaut_video):
    cases = {}
    cases["missing"] = folder / "nope.mp4"
    text = folder / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    cases["text file named .mp4"] = text
    data = astronaut_video.read_bytes()
    cut = folder / "truncated.mp4"
    cut.write_bytes(data[: len(data) // 2])
    cases["truncated"] = cut
    audio = folder / "audio.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(audio))
    cases["audio only"] = audio
    noface = folder / "noface.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=1", "-pix_fmt", "yuv420p", str(noface))
    cases["no face"] = noface
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    cases["zero length"] = empty
    return cases


@pytest.mark.parametrize("case", ["missing", "text file named .mp4", "truncated", "audio only", "no face",
                                  "zero length"])
def test_bad_input_is_a_clear_error_and_leaves_no_output(case, astronaut, tmp_path, capsys):
    video = _bad_inputs(tmp_path, astronaut[0])[case]
    out, report = tmp_path / "out.npz", tmp_path / "out.json"
    code = main(["track", str(video), "-o", str(out), "--report", str(report), "--preview", str(tmp_path / "p.mp4"),
                 "-q"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("dvp track: error:") and "Traceback" not in err
    assert video.name in err
    assert not out.exists() and not report.exists() and not (tmp_path / "p.mp4").exists()
    assert not list(tmp_path.glob(".dvp-tmp-*"))


def test_truncated_footage_clip_is_refused(footage, tmp_path, capsys):
    data = (footage / "hdtf_aoc.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert main(["track", str(cut), "-o", str(tmp_path / "o.npz"), "-q"]) == 2
    assert "cut.mp4" in capsys.readouterr().err
    assert not (tmp_path / "o.npz").exists()


def test_lost_frames_are_interpolated_or_marked_invalid(tmp_path):
    """Frames 10-12 blank (a short gap: filled), frames 20-29 blank (too long: left invalid)."""
    from pipeline.demo import astronaut_motion

    path = tmp_path / "gaps.mp4"
    with VideoWriter(path, 25, 384, 384) as w:
        for i, (roll, dx, dy, zoom) in enumerate(astronaut_motion(36)):
            blank = 10 <= i <= 12 or 20 <= i <= 29
            w.write(np.zeros((384, 384, 3), np.uint8) if blank else astronaut_frame(roll, dx, dy, zoom))
    report = tmp_path / "r.json"
    assert main(["track", str(path), "-o", str(tmp_path / "t.npz"), "--report", str(report), "--max-gap", "5",
                 "-q"]) == 0
    rep = json.loads(report.read_text())
    assert rep["interpolated_frames"] == 3 and rep["invalid_frames"] == 10 and rep["detected_frames"] == 23
    track = load_track(tmp_path / "t.npz")
    assert track.interpolated[10:13].all() and track.valid[10:13].all()
    assert not track.valid[20:30].any() and np.isnan(track.rotation[20:30]).all()
