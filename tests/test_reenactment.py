"""Transfer, compositing, edit specs, and `dvp reenact` / `dvp edit` end to end on generated clips."""
import json
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import FFMPEG, as_marked, near, write_frames

from base.errors import NoFaceError
from base.probe import probe
from base.reading import VideoReader
from base.writing import VideoWriter
from pipeline.cli import main
from pipeline.compositing import Compositor
from pipeline.demo import astronaut_frame, astronaut_motion
from pipeline.edit_spec import EditSpecError, load_edit_spec
from pipeline.faithfulness import faithfulness
from pipeline.transfer import ping_pong, transfer
from pipeline.watermark import REACH
from reconstruction.pose import rotation_angle_deg
from reconstruction.track import load_track
from rendering.crop import CropBox


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    """A source clip: the astronaut with another motion, 30 frames at 50 fps, and 8 blank frames in the middle."""
    folder = tmp_path_factory.mktemp("driver")
    motion = astronaut_motion(30)[::-1]
    frames = [astronaut_frame(r * 0.5, dx, -dy, z) for r, dx, dy, z in motion]
    for i in range(12, 20):
        frames[i] = np.full_like(frames[i], 90)
    write_frames(folder / "driver.mp4", frames, fps=50)
    write_frames(folder / "blank.mp4", [np.full((128, 128, 3), 90, np.uint8)] * 10)
    return folder / "driver.mp4", folder / "blank.mp4"


def test_transfer_of_a_track_onto_itself_gives_it_back(astro):
    track = load_track(astro[1])
    p = transfer(track, track)
    assert len(p.track) == len(track) and p.held_source_frames == 0
    assert rotation_angle_deg(p.track.rotation.astype(float), track.rotation.astype(float)).max() < 0.05
    assert np.abs(p.track.translation - track.translation).max() < 1e-4
    assert np.abs(p.track.expression - track.expression).max() < 1e-5
    assert np.abs(p.track.gaze - track.gaze).max() < 1e-5
    assert faithfulness(track, track)["pose_error_deg"] < 0.05


def test_gaze_error_is_scored_over_the_eyes_meant_to_be_open(astro):
    intended = load_track(astro[1])
    retracked = load_track(astro[1])
    blink = intended.expression_names.index("blink_left")
    intended.expression[:10, blink] = 1.0  # the left eye meant closed on frames 0-9
    retracked.gaze[:10, 1] += np.radians([20.0, 0.0])  # where its iris cannot be read
    f = faithfulness(intended, retracked)
    assert f["gaze_eyes_closed"] == 10 and f["gaze_eyes_scored"] == 2 * len(intended) - 10
    assert f["gaze_error_deg"] < 0.05, "a closed eye's gaze is not scored"
    assert f["gaze_error_deg_all_eyes"] > 19 * 10 / (2 * len(intended)), "but is in the all-eyes mean"
    retracked.gaze[10:20, 1] += np.radians([20.0, 0.0])  # an open eye painted looking elsewhere counts
    assert faithfulness(intended, retracked)["gaze_error_deg"] > 19 * 10 / (2 * len(intended) - 10)


def test_transfer_resamples_holds_lost_frames_and_keeps_what_is_not_transferred(astro):
    target = load_track(astro[1])
    source = load_track(astro[1])
    source.header = dict(source.header, source=dict(source.header["source"], fps="50"))
    source.valid[10:14] = False
    source.rotation[10:14] = np.nan
    p = transfer(source, target, ("gaze",))
    assert len(p.track) == 20, "40 frames at 50 fps are 20 at 25 fps"
    assert p.held_source_frames == 4
    assert np.array_equal(p.track.rotation, target.rotation[:20]), "pose not transferred: the target's own"
    full = transfer(source, target)
    assert not np.isnan(full.track.rotation).any(), "lost source frames hold the last valid parameters"
    assert rotation_angle_deg(full.track.rotation[5].astype(float)[None], target.rotation[10].astype(float)[None])[0] \
        < rotation_angle_deg(full.track.rotation[5].astype(float)[None], target.rotation[30].astype(float)[None])[0]
    assert ping_pong(9, 4).tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2]
    source.valid[:] = False
    with pytest.raises(NoFaceError):
        transfer(source, target)


def test_compositing_matches_colour_and_leaves_everything_outside_the_mask_untouched():
    yy, xx = np.mgrid[0:200, 0:300]
    frame = np.stack([xx * 0.6, yy * 0.9, 200 - xx * 0.5], -1).astype(np.uint8)  # smooth, so resampling is exact-ish
    crop = CropBox(x0=-20, y0=40, side=160)  # reaches past the left edge
    comp = Compositor(crop, 64)
    face = np.zeros((64, 64), np.uint8)
    face[20:44, 24:40] = 255
    mask = comp.soft_mask([face])
    assert mask[0].max() == 0 and mask[:, -1].max() == 0, "zero at the crop border: no seam"
    assert mask[32, 32] > 0.95
    painted = np.clip(crop.cut(frame, 64).astype(int) + 30, 0, 255).astype(np.uint8)  # the shot, 30 levels too bright
    out = comp.composite(frame, painted, mask)
    big = cv2.resize(mask, (160, 160), interpolation=cv2.INTER_LINEAR)
    untouched = np.ones((200, 300), bool)
    untouched[40:200, 0:140] = big[:, 20:] <= 0
    assert np.array_equal(out[untouched], frame[untouched]), "outside the changed region the frame is bit-exact"
    assert np.abs(out[40 + 80, 60].astype(int) - frame[40 + 80, 60]).max() <= 4, "the colour offset is removed"


def _spec(tmp_path, text):
    path = tmp_path / "e.yaml"
    path.write_text(text)
    return path


def test_edit_spec_applies_keyframed_offsets(astro, tmp_path):
    track = load_track(astro[1])
    spec = _spec(tmp_path, "version: 1\nedits:\n  - frames: [10, 29]\n    ease: 4\n    head: {yaw: 10}\n"
                           "    expression: {smile: 0.5}\n  - frames: [32, 36]\n    blink: add\n")
    perf, weight, fade = load_edit_spec(spec, track)
    assert weight[:10].max() == 0 and weight[15:25].min() == 1 and 0 < weight[11] < 1
    turned = rotation_angle_deg(perf.track.rotation[20:21].astype(float), track.rotation[20:21].astype(float))
    assert abs(turned[0] - 10) < 0.01
    assert np.array_equal(perf.track.rotation[:10], track.rotation[:10])
    smile = track.expression_names.index("smile_left")
    assert perf.track.expression[20, smile] == pytest.approx(min(1.5, track.expression[20, smile] + 0.5), abs=1e-5)
    assert perf.track.blink[34].min() > 0.9, "a blink is added in the middle of the range"
    assert fade[0] == 0 and fade[20] == 1


@pytest.mark.parametrize("text, message", [
    ("edits:\n  - frames: [1, 5]\n    expression:\n      smiel: 0.3\n", "line 4: unknown key 'smiel'"),
    ("edits:\n  - frames: [1, 500]\n", "line 2: frames [1, 500] are outside the video"),
    ("edits:\n  - frames: [1, 5]\n    gaze: left\n", "line 3: gaze must be"),
    ("edits:\n  - frames: [1, 9]\n    head: {yaw: ten}\n", "line 3: head yaw must be a number"),
    ("version: 2\nedits: []\n", "line 1: this dvp reads edit spec version 1"),
    ("edits: [\n", "not valid YAML"),
    ("edits:\n  - frames: [9, 4]\n", "line 2: frames [9, 4] end before they begin"),
    ("edits:\n  - frames: ['00:00:00:10', '00:00:09:00']\n",
     "line 2: frames [00:00:00:10, 00:00:09:00] .frames 10 to 225 of a shot that starts at 00:00:00:00. are outside"),
    ("edits:\n  - frames: [1, '00:00:00:30']\n", "line 2: 00:00:00:30 names no frame at 25 frames/s"),
    ("edits:\n  - frames: [1, '00:00:01;00']\n", "line 2: .* drop-frame timecode, which exists only at 29.97"),
])
def test_edit_spec_mistakes_name_the_line(astro, tmp_path, text, message):
    with pytest.raises(EditSpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_edit_spec(_spec(tmp_path, text), load_track(astro[1]))


def test_edit_frames_may_be_timecodes_of_the_shot(astro, tmp_path):
    """Frames named by timecode count from the shot's start timecode, as in an editor's timeline."""
    track = load_track(astro[1])
    by_number = load_edit_spec(_spec(tmp_path, "edits:\n  - frames: [10, 29]\n    head: {yaw: 5}\n"), track)
    by_label = load_edit_spec(_spec(tmp_path, "edits:\n  - frames: ['10:00:00:10', '10:00:01:04']\n"
                                              "    head: {yaw: 5}\n"), track, start_timecode="10:00:00:00")
    assert np.array_equal(by_number[1], by_label[1])
    mixed = load_edit_spec(_spec(tmp_path, "edits:\n  - frames: [10, '10:00:01:04']\n    head: {yaw: 5}\n"),
                           track, start_timecode="10:00:00:00")
    assert np.array_equal(by_number[1], mixed[1])


def test_timecode_labels_count_frames_with_drop_frame():
    from base.timecode import TimecodeError, timecode_frames

    ntsc, ntsc60 = Fraction(30000, 1001), Fraction(60000, 1001)
    assert timecode_frames("01:00:00:00", 25) == 90000
    assert timecode_frames("00:00:01:00", Fraction(24000, 1001)) == 24
    assert timecode_frames("00:01:00;02", ntsc) == 1800  # 00:01:00;00 and ;01 are skipped
    assert timecode_frames("00:01:00;02", ntsc) - timecode_frames("00:00:59;29", ntsc) == 1
    assert timecode_frames("00:10:00;00", ntsc) == 17982  # every tenth minute keeps its labels
    assert timecode_frames("01:00:00;00", ntsc) == 107892  # 29.97 frames/s for an hour, to the frame
    assert timecode_frames("00:10:00;00", ntsc60) == 35964
    assert timecode_frames("00:01:00:00", ntsc) == 1800  # non-drop labels at 29.97 simply count
    for bad in ("00:01:00;01", "00:00:00:30", "1:00:00:00", "00:61:00:00"):
        with pytest.raises(TimecodeError):
            timecode_frames(bad, ntsc)


def test_dvp_edit_passes_unedited_frames_through_bit_exact(tiny_model, astro, tmp_path):
    folder, _ = tiny_model
    video, _ = astro
    spec = _spec(tmp_path, "edits:\n  - frames: [12, 25]\n    ease: 3\n    head: {yaw: 8}\n    gaze: camera\n")
    out = tmp_path / "edited"  # no suffix: a PNG sequence, lossless
    assert main(["edit", str(video), "--model", str(folder), "--edits", str(spec), "-o", str(out), "-q",
                 "--report", str(tmp_path / "r.json"), "--no-pose-calibration", "--verify"]) == 0
    pngs = sorted(out.glob("frame_*.png"))
    assert len(pngs) == 40
    assert json.loads((out / "sequence.json").read_text())["frames"] == 40
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["passed_through_frames"] == 40 - 14 and rep["edited_frames"] == 14
    assert rep["pose_calibration"]["note"] == "switched off" and not rep["pose_calibration"]["measured"]
    scored = rep["faithfulness"]
    assert scored["frames"] + scored["frames_without_face"] == rep["fully_edited_frames"] == 8, "PNG output verified"
    for i, frame in enumerate(VideoReader(video)):
        written = cv2.cvtColor(cv2.imread(str(pngs[i])), cv2.COLOR_BGR2RGB)
        same = np.array_equal(written, as_marked(frame, rep))  # passed through, then labelled and watermarked
        assert same == (i < 12 or i > 25), f"frame {i}"


def test_dvp_reenact_writes_video_preview_and_report(tiny_model, astro, driver, tmp_path):
    folder, _ = tiny_model
    video, _ = astro
    out, preview, report = tmp_path / "re.mov", tmp_path / "p.mp4", tmp_path / "r.json"
    assert main(["reenact", str(video), "--source", str(driver[0]), "--model", str(folder), "-o",
                 str(out), "--preview", str(preview), "--report", str(report), "-q"]) == 0
    info = probe(out)
    assert info.codec == "prores" and (info.width, info.height) == (384, 384)
    assert info.frame_count == 15 and Fraction(info.fps) == 25, "30 source frames at 50 fps -> 15 at the target's 25"
    rep = json.loads(report.read_text())
    assert rep["held_source_frames"] >= 2, "the blank source frames hold the last valid parameters"
    assert rep["synthesised_frames"] == 15
    assert not rep["pose_calibration"]["measured"] and "too few" in rep["pose_calibration"]["note"]
    assert probe(preview).width > 384
    assert not list(tmp_path.glob(".dvp-tmp-*"))


def test_the_source_face_picks_who_drives(tmp_path, tiny_model, astro, driver, capsys):
    # Two people side by side, one the other's mirror image: the one picked drives, turning the other way.
    from pipeline.job import JobOptions
    from pipeline.reenactment import SourcePerformance
    from pipeline.tracking import load_or_track
    from reconstruction.pose import head_angles

    motion = astronaut_motion(24)
    frames = [astronaut_frame(r * 0.5, dx, -dy, z) for r, dx, dy, z in motion]
    pair = tmp_path / "pair.mp4"
    write_frames(pair, [np.hstack([f, f[:, ::-1]]) for f in frames])
    left, right = (load_or_track(pair, None, tmp_path, False, f"face{face}", face) for face in (0, 1))
    roll_left, roll_right = (head_angles(t.rotation[0].T @ t.rotation)[:, 2] for t in (left, right))  # from frame 0
    assert np.ptp(roll_left) > 3, "the motion tilts the head"
    assert np.corrcoef(roll_left, roll_right)[0, 1] < -0.9
    folder, _ = tiny_model
    video, _ = astro
    assert main(["reenact", str(video), "--source", str(pair), "--model", str(folder), "-o",
                 str(tmp_path / "by_right.mp4"), "--source-face", "1", "--report", str(tmp_path / "r.json"),
                 "-q"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["source_face"] == 1
    # What the job transfers follows the face picked: the right person's roll, not the left's.
    driven = SourcePerformance(pair, face=1).perform(load_track(astro[1]), video, None, tmp_path,
                                                    JobOptions(show_progress=False))
    moved = driven.performance.track.rotation.astype(np.float64)
    roll_out = head_angles(moved[0].T @ moved)[:, 2]
    assert np.corrcoef(roll_out, roll_right)[0, 1] > 0.9 and np.corrcoef(roll_out, roll_left)[0, 1] < -0.9
    assert main(["reenact", str(video), "--source", str(pair), "--model", str(folder), "-o",
                 str(tmp_path / "no.mp4"), "--source-face", "1", "--source-track", str(tmp_path / "face1.track.npz"),
                 "-q"]) == 2
    assert "--source-face" in capsys.readouterr().err


def test_reenact_refusals(tiny_model, astro, driver, tmp_path, capsys):
    folder, _ = tiny_model
    video, _ = astro
    # a source without any face
    assert main(["reenact", str(video), "--source", str(driver[1]), "--model", str(folder), "-o",
                 str(tmp_path / "x.mp4"), "-q"]) == 2
    assert "no face" in capsys.readouterr().err
    # a target of another actor: the same motion, but another face (colours turned around)
    other = tmp_path / "other.mp4"
    write_frames(other, [255 - astronaut_frame(*m) for m in astronaut_motion(40)])
    assert main(["reenact", str(other), "--source", str(video), "--model", str(folder), "-o",
                 str(tmp_path / "y.mp4"), "-q"]) == 2
    assert "trained on another actor" in capsys.readouterr().err  # albedo difference 0.71 against 0.15
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "y.mp4").exists()
    assert main(["reenact", str(video), "--source", str(video), "--model", str(folder), "-o",
                 str(tmp_path / "z.mp4"), "--transfer", "pose,smile", "-q"]) == 2
    assert "--transfer takes" in capsys.readouterr().err


def test_a_model_of_a_proxy_renders_the_full_size_shot(tiny_model, astro, driver, tmp_path, capsys):
    """Trained on the 384-pixel shot, the model renders a 768-pixel copy of it (its crop and eye boxes scaled) as it
    renders the shot itself; a copy of another shape is refused."""
    folder, _ = tiny_model
    video, _ = astro
    frames = list(VideoReader(video))
    big = tmp_path / "big.mp4"
    write_frames(big, [cv2.resize(f, (768, 768), interpolation=cv2.INTER_CUBIC) for f in frames])
    outs = {}
    for name, target in (("small", video), ("big", big)):
        outs[name] = tmp_path / f"{name}_out.mp4"
        assert main(["reenact", str(target), "--source", str(driver[0]), "--model", str(folder), "-o",
                     str(outs[name]), "--report", str(tmp_path / f"{name}.json"), "-q"]) == 0
    assert json.loads((tmp_path / "big.json").read_text())["model_scale"] == 2.0
    assert json.loads((tmp_path / "small.json").read_text())["model_scale"] == 1.0
    assert (probe(outs["big"]).width, probe(outs["big"]).height) == (768, 768)
    small, large = list(VideoReader(outs["small"])), list(VideoReader(outs["big"]))
    assert len(small) == len(large) == 15
    # the face is painted in the same place: the big output, scaled down, is the small one up to resampling
    change = [np.abs(s.astype(int) - f.astype(int)).mean() for s, f in zip(small, frames[:15])]
    gap = [np.abs(cv2.resize(b, (384, 384), interpolation=cv2.INTER_AREA).astype(int) - s.astype(int)).mean()
           for b, s in zip(large, small)]
    assert np.mean(gap) < 0.5 * np.mean(change), (np.mean(gap), np.mean(change))
    other = tmp_path / "other_shape.mp4"
    write_frames(other, [cv2.resize(f, (384, 288)) for f in frames])
    assert main(["reenact", str(other), "--source", str(driver[0]), "--model", str(folder), "-o",
                 str(tmp_path / "no.mp4"), "-q"]) == 2
    assert "another shape" in capsys.readouterr().err and not (tmp_path / "no.mp4").exists()


def test_target_frames_play_back_and_forth_when_the_output_is_longer(tmp_path):
    from base.reading import frames_in_order

    video = tmp_path / "levels.mp4"
    write_frames(video, [np.full((32, 48, 3), 20 * i, np.uint8) for i in range(6)])
    order = ping_pong(14, 6)
    levels = [int(f.mean().round(-1)) for f in frames_in_order(video, order, tmp_path)]
    assert levels == [20 * i for i in order.tolist()], "frames in ping-pong order, read back from the disk copy"
    assert [int(f.mean().round(-1)) for f in frames_in_order(video, np.arange(6), tmp_path)] == [0, 20, 40, 60, 80, 100]
    assert [int(f.mean().round(-1)) for f in frames_in_order(video, np.arange(2, 5), tmp_path)] == [40, 60, 80]
    cached = set(tmp_path.iterdir())
    pilot = np.array([1, 1, 3, 4, 9])  # stretches with gaps, a repeat, and a frame past the end (held)
    assert [int(f.mean().round(-1)) for f in frames_in_order(video, pilot, tmp_path / "none")] == [20, 20, 60, 80, 100]
    assert set(tmp_path.iterdir()) == cached, "an order that never goes back is streamed, with no disk copy"
    deep = tmp_path / "levels10.mov"  # 16-bit frames go through the disk copy whole
    with VideoWriter(deep, 25, 48, 32, codec="prores", deep=True) as writer:
        for i in range(6):
            writer.write(np.full((32, 48, 3), 5000 * i + 77, np.uint16))
    straight = list(frames_in_order(deep, np.arange(6), tmp_path, deep=True))
    bounced = list(frames_in_order(deep, order, tmp_path, deep=True))
    assert all(f.dtype == np.uint16 for f in bounced)
    assert all(np.array_equal(f, straight[i]) for f, i in zip(bounced, order.tolist()))


def test_gaze_camera_points_both_eyes_at_the_camera(astro, tmp_path):
    from pipeline.faithfulness import gaze_directions
    from reconstruction.fitting import actor_from_track

    track = load_track(astro[1])
    perf, _, _ = load_edit_spec(_spec(tmp_path, "edits:\n  - frames: [5, 30]\n    gaze: camera\n"), track)
    actor = actor_from_track(track)
    t = 20
    rotation, translation = perf.track.rotation[t].astype(float), perf.track.translation[t].astype(float)
    looking = gaze_directions(perf.track.gaze[t:t + 1].astype(float))[0] @ rotation.T  # camera frame
    to_camera = -(actor.eyes.centres @ rotation.T + translation)
    to_camera /= np.linalg.norm(to_camera, axis=1, keepdims=True)
    assert np.degrees(np.arccos(np.clip((looking * to_camera).sum(1), -1, 1))).max() < 0.1


def test_a_gaze_only_edit_turns_the_frames_own_eyes_and_keeps_the_rest_of_the_picture(tiny_model, astro, tmp_path):
    """No network where only the gaze changes: the gaze warp turns the eyeballs of the frame itself, so outside
    the eye openings the frame is the original, bit for bit; an edit that also moves the head is painted."""
    from pipeline.eyes.eyeball_warp import EyeOpenings
    from reconstruction.fitting import actor_from_track, track_params

    folder, _ = tiny_model
    video, track_path = astro
    spec = _spec(tmp_path, "edits:\n  - frames: [5, 30]\n    ease: 4\n    gaze: {yaw: 12, pitch: 0}\n"
                           "  - frames: [26, 34]\n    head: {yaw: 5}\n")
    out = tmp_path / "eyes"
    assert main(["edit", str(video), "--model", str(folder), "--edits", str(spec), "-o", str(out), "-q",
                 "--report", str(tmp_path / "r.json"), "--no-pose-calibration"]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["eyes_only_frames"] == 21 and rep["synthesised_frames"] == 9  # frames 5-25, and 26-34
    assert rep["passed_through_frames"] == 40 - 30
    for name, entry in rep["coverage"]["outside"].items():  # the warp turns to any gaze: only painted frames count
        assert all(26 <= first <= last <= 34 for first, last in entry["frame_ranges"]), name
    track = load_track(track_path)
    actor = actor_from_track(track)
    openings = EyeOpenings.of(actor)
    changed_eyes = 0
    for i, frame in enumerate(VideoReader(video)):
        if not 9 <= i <= 22:  # fully turned frames
            continue
        written = cv2.cvtColor(cv2.imread(str(out / f"frame_{i:06d}.png")), cv2.COLOR_BGR2RGB)
        eyes = np.zeros(frame.shape[:2], np.uint8)
        points = actor.camera.project(actor.camera_points(track_params(track, [i]))[0])
        for contour in openings.contours:
            cv2.fillPoly(eyes, [np.round(points[contour]).astype(np.int32)], 1)
        eyes = near(cv2.dilate(eyes, np.ones((9, 9), np.uint8)) > 0, REACH)  # and the mark's reach around them
        differs = np.any(written != as_marked(frame, rep), axis=-1)
        assert not differs[~eyes].any(), f"frame {i}: a pixel outside the eyes changed"
        changed_eyes += int(differs[eyes].sum() > 0)
    assert changed_eyes == 14, "the eyes turned in every fully edited frame"


def test_gaze_edits_need_no_model_and_other_edits_are_refused_without_one(astro, tmp_path, capsys):
    video, track_path = astro
    spec = _spec(tmp_path, "edits:\n  - frames: [5, 30]\n    ease: 4\n    gaze: {yaw: 12, pitch: 0}\n")
    out = tmp_path / "eyes"
    assert main(["edit", str(video), "--edits", str(spec), "-o", str(out), "-q", "--track", str(track_path),
                 "--report", str(tmp_path / "r.json"), "--preview", str(tmp_path / "p.mp4")]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["model"] is None and rep["eyes_only_frames"] == 26 and rep["synthesised_frames"] == 0
    assert rep["passed_through_frames"] == 40 - 26
    shown = probe(tmp_path / "p.mp4")
    assert shown.width == 2 * shown.height and shown.frame_count == 40, "original | output, side by side"
    for i, frame in enumerate(VideoReader(video)):
        written = cv2.cvtColor(cv2.imread(str(out / f"frame_{i:06d}.png")), cv2.COLOR_BGR2RGB)
        differs = np.abs(written.astype(int) - as_marked(frame, rep)).max(axis=-1)
        if not 5 <= i <= 30:
            assert not differs.any(), f"frame {i} is outside the edit"
        elif 9 <= i <= 26:  # the mark moves by a level or two where the eyes changed the texture around them
            assert 0 < (differs > 2).sum() < 0.01 * differs.size, f"frame {i}: only the eyes turn"
    head = _spec(tmp_path, "edits:\n  - frames: [5, 30]\n    gaze: camera\n  - frames: [12, 14]\n    head: {yaw: 4}\n")
    assert main(["edit", str(video), "--edits", str(head), "-o", str(tmp_path / "x.mp4"), "-q",
                 "--track", str(track_path)]) == 2
    err = capsys.readouterr().err
    assert "frames 12-14" in err and "--model" in err
    assert main(["edit", str(video), "--edits", str(spec), "-o", str(tmp_path / "y.mp4"), "-q",
                 "--track", str(track_path), "--no-gaze-warp"]) == 2
    assert "--no-gaze-warp" in capsys.readouterr().err
    assert not (tmp_path / "x.mp4").exists() and not (tmp_path / "y.mp4").exists()


def test_an_edit_refuses_to_overwrite_its_target_or_take_audio_from_no_source(astro, tmp_path, capsys):
    video, track_path = astro
    copy = tmp_path / "shot.mp4"
    copy.write_bytes(video.read_bytes())
    spec = _spec(tmp_path, "edits:\n  - frames: [5, 30]\n    gaze: {yaw: 12}\n")
    assert main(["edit", str(copy), "--edits", str(spec), "-o", str(copy), "-q", "--track",
                 str(track_path)]) == 2
    assert "is the target video" in capsys.readouterr().err
    assert copy.read_bytes() == video.read_bytes()
    assert main(["edit", str(copy), "--edits", str(spec), "-o", str(tmp_path / "out.mp4"), "-q", "--audio",
                 "source", "--track", str(track_path)]) == 2
    assert "an edit has no source video" in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists()


def test_a_terminated_job_leaves_nothing_behind(astro, tmp_path):
    # Batch schedulers cancel with SIGTERM: the temporary files and the half-written output must go, as on Ctrl-C.
    video, track_path = astro
    spec = _spec(tmp_path, "edits:\n  - frames: [0, 39]\n    gaze: {yaw: 12}\n")
    out = tmp_path / "out"
    out.mkdir()
    job = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "edit", str(video), "--edits", str(spec), "-o",
                            str(out / "edited.mov"), "--preview", str(out / "preview.mp4"), "-q"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    deadline = time.monotonic() + 60
    while not list(out.glob(".dvp-tmp-*edited.mov")) and time.monotonic() < deadline and job.poll() is None:
        time.sleep(0.05)  # until the job has started writing the output (it tracks the clip first)
    job.send_signal(signal.SIGTERM)
    _, err = job.communicate(timeout=60)
    assert job.returncode == 143, err
    assert "terminated" in err
    assert list(out.iterdir()) == []


def test_a_cancel_a_library_turns_into_its_own_error_still_ends_as_terminated(tmp_path, monkeypatch, capsys):
    # A SIGTERM can land inside native code that reports it as an error of its own (a RuntimeError, say): the job
    # was still cancelled, so it ends as one (143, cleaned up), and the next job in the same process is judged
    # on its own.
    import pipeline.cli as cli

    def library_call(args):
        try:
            signal.raise_signal(signal.SIGTERM)
        except BaseException as exc:
            raise RuntimeError("the library's own wording") from exc

    monkeypatch.setitem(cli.COMMANDS, "track", (cli._add_track, library_call))
    assert main(["track", str(tmp_path / "a.mp4"), "-o", str(tmp_path / "a.npz")]) == 143
    assert "terminated" in capsys.readouterr().err
    monkeypatch.undo()
    assert main(["track", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "m.npz"), "-q"]) == 2
    assert "terminated" not in capsys.readouterr().err


def test_a_shot_with_non_square_pixels_comes_back_in_its_own_pixels(astro, tmp_path):
    # An anamorphic plate (here squeezed to three quarters of its width, pixels 4:3 wide) must conform in the edit:
    # the output has the shot's stored size and pixel aspect, and only the eyes of the edited frames change.
    video, track_path = astro
    squeezed = tmp_path / "squeezed.mov"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(video), "-vf",
                    "scale=iw*3/4:ih,setsar=4/3", "-c:v", "prores_ks", "-profile:v", "3", str(squeezed)], check=True)
    shot = probe(squeezed)
    spec = _spec(tmp_path, "edits:\n  - frames: [5, 30]\n    ease: 4\n    gaze: {yaw: 12}\n")
    for out in (tmp_path / "out.mov", tmp_path / "frames"):
        assert main(["edit", str(squeezed), "--edits", str(spec), "-o", str(out), "-q", "--track",
                     str(track_path), "--report", str(tmp_path / "r.json")]) == 0
        assert json.loads((tmp_path / "r.json").read_text())["pixel_aspect"] == "4:3"
        made = probe(out)
        assert (made.width, made.height, made.sar) == (shot.width, shot.height, Fraction(4, 3))
        assert (made.display_width, made.display_height) == (shot.display_width, shot.display_height)
    originals = VideoReader(squeezed, stored=True)
    rep = json.loads((tmp_path / "r.json").read_text())
    for i, (frame, written) in enumerate(zip(originals, VideoReader(tmp_path / "frames", stored=True), strict=True)):
        differs = np.abs(written.astype(int) - as_marked(frame, rep)).max(axis=-1) > 2
        if not 5 <= i <= 30:
            assert not differs.any(), f"frame {i} is outside the edit"
        elif 9 <= i <= 26:
            assert 0 < differs.sum() < 0.01 * differs.size, f"frame {i}: only the eyes turn"


def test_an_interlaced_shot_comes_back_interlaced_with_its_fields_as_shot(astro, tmp_path):
    # Interlaced broadcast footage: the work sees each frame's fields blended, and the output keeps the field order,
    # with both fields as shot wherever the edit changes nothing.
    video, track_path = astro
    woven = tmp_path / "woven.mov"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(video), "-vf", "setfield=tff",
                    "-flags", "+ildct", "-c:v", "prores_ks", "-profile:v", "3", str(woven)], check=True)
    assert probe(woven).field_order == "tff"
    spec = _spec(tmp_path, "edits:\n  - frames: [5, 30]\n    ease: 4\n    gaze: {yaw: 12}\n")
    for out in (tmp_path / "out.mov", tmp_path / "frames"):
        assert main(["edit", str(woven), "--edits", str(spec), "-o", str(out), "-q", "--track",
                     str(track_path), "--report", str(tmp_path / "r.json")]) == 0
        assert json.loads((tmp_path / "r.json").read_text())["field_order"] == "tff"
        assert probe(out).field_order == "tff"
    shot, edited = VideoReader(woven, woven=True, deep=True), VideoReader(tmp_path / "frames", woven=True, deep=True)
    rep = json.loads((tmp_path / "r.json").read_text())
    for i, (frame, written) in enumerate(zip(shot, edited, strict=True)):  # 10-bit ProRes to 16-bit PNG
        marked = as_marked(frame, rep)
        differs = np.abs(written.astype(int) - marked).max(axis=-1) > 2 * 257
        if not 5 <= i <= 30:
            assert np.array_equal(written, marked), f"frame {i} is outside the edit"
        elif 9 <= i <= 26:
            assert 0 < differs.sum() < 0.01 * differs.size, f"frame {i}: only the eyes turn"


def test_an_hdr_shot_comes_back_in_its_own_colour_description(astro, tmp_path):
    # An HLG plate in BT.2020 (a phone's HDR clip, a broadcast HDR master): the output is converted and tagged as
    # the shot is, so it drops back into an HDR timeline, rather than retagged as BT.709.
    video, track_path = astro
    hlg = tmp_path / "hlg.mov"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(video), "-vf",
                    "scale=out_color_matrix=bt2020:out_range=tv,format=yuv422p10le,"
                    "setparams=colorspace=bt2020nc:color_primaries=bt2020:color_trc=arib-std-b67",
                    "-c:v", "prores_ks", "-profile:v", "3", str(hlg)], check=True)
    shot = probe(hlg).colour
    assert (shot.matrix, shot.primaries, shot.transfer, shot.hdr) == ("bt2020nc", "bt2020", "arib-std-b67", "HLG")
    spec = _spec(tmp_path, "edits:\n  - frames: [5, 30]\n    ease: 4\n    gaze: {yaw: 12}\n")
    for out in (tmp_path / "out.mov", tmp_path / "out.mp4", tmp_path / "frames"):
        assert main(["edit", str(hlg), "--edits", str(spec), "-o", str(out), "-q", "--track",
                     str(track_path), "--report", str(tmp_path / f"{out.name}.json")]) == 0
        assert json.loads((tmp_path / f"{out.name}.json").read_text())["colour"] == "bt2020nc/bt2020/arib-std-b67"
        made = probe(out).colour
        assert (made.primaries, made.transfer) == ("bt2020", "arib-std-b67")
        if out.suffix:
            assert made.matrix == "bt2020nc"
    rep = json.loads((tmp_path / "out.mov.json").read_text())
    for i, (frame, written) in enumerate(zip(VideoReader(hlg, deep=True), VideoReader(tmp_path / "out.mov", deep=True),
                                             strict=True)):
        if not 5 <= i <= 30:  # ProRes again: as close to the marked shot as a second generation of ProRes comes
            mse = np.mean((written.astype(float) - as_marked(frame, rep)) ** 2)
            assert 10 * np.log10(65535**2 / mse) > 50, f"frame {i} is outside the edit"


def test_a_ten_bit_target_keeps_its_depth_in_png_and_prores(tiny_model, astro, tmp_path):
    """A 10-bit ProRes target edited to PNG: 16-bit frames; passed-through frames are the target's as decoded at
    16 bits and marked, exactly (that the 8-bit work's change reaches the deep frame in whole 8-bit steps is
    tested on `apply_change` itself, in test_media: the mark on top hides it here). `--bit-depth 8` and H.264
    give 8-bit frames."""
    folder, _ = tiny_model
    video, track_path = astro
    deep = tmp_path / "astro10.mov"
    plain = VideoReader(video)
    ramp = np.linspace(-90, 90, plain.width)[None, :, None]  # finer than 8 bits: a third of a level across
    with VideoWriter(deep, plain.fps, plain.width, plain.height, codec="prores", deep=True) as writer:
        for frame in plain:
            writer.write((frame.astype(np.int32) * 257 + ramp).clip(0, 65535).astype(np.uint16))
    assert probe(deep).bits_per_component == 10
    spec = _spec(tmp_path, "edits:\n  - frames: [12, 25]\n    ease: 3\n    head: {yaw: 8}\n"
                           "  - frames: [30, 36]\n    gaze: {yaw: 10, pitch: 0}\n")
    out = tmp_path / "edited"
    assert main(["edit", str(deep), "--model", str(folder), "--edits", str(spec), "-o", str(out), "-q",
                 "--track", str(track_path), "--report", str(tmp_path / "r.json"),
                 "--no-pose-calibration"]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["bit_depth"] == 16 and json.loads((out / "sequence.json").read_text())["bit_depth"] == 16
    changed = 0
    for i, plate in enumerate(VideoReader(deep, deep=True)):
        written = cv2.imread(str(out / f"frame_{i:06d}.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
        assert written.dtype == np.uint16
        step = written.astype(np.int32) - as_marked(plate, rep)
        if not (12 <= i <= 25 or 30 <= i <= 36):
            assert not step.any(), f"frame {i} is passed through at 16 bits"
        changed += bool(step.any())
    assert changed >= 14, "the edited frames changed"
    gaze = tmp_path / "gaze.yaml"
    gaze.write_text("edits:\n  - frames: [30, 36]\n    gaze: {yaw: 10, pitch: 0}\n")
    for args, name in ((["--bit-depth", "8"], "shallow"), ([], "plain.mp4")):  # no model: the gaze warp alone
        assert main(["edit", str(deep), "--edits", str(gaze), "-o", str(tmp_path / name),
                     "-q", "--track", str(track_path), "--report", str(tmp_path / "s.json"), *args]) == 0
        assert json.loads((tmp_path / "s.json").read_text())["bit_depth"] == 8
    assert cv2.imread(str(tmp_path / "shallow" / "frame_000000.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint8


def test_an_image_sequence_is_a_target_like_a_video(astro, tmp_path):
    """A folder of frames with its sequence.json (here one dvp wrote) is edited like a video: its rate, size and
    timecode carry over to the output."""
    from base.writing import ImageSequenceWriter

    video, track_path = astro
    plain = VideoReader(video)
    sequence = tmp_path / "astro_frames"
    with ImageSequenceWriter(sequence, plain.width, plain.height, plain.fps, timecode="01:00:00:00") as writer:
        for frame in plain:
            writer.write(frame)
    gaze = tmp_path / "gaze.yaml"
    gaze.write_text("edits:\n  - frames: [30, 36]\n    gaze: {yaw: 10, pitch: 0}\n")
    out = tmp_path / "out.mov"
    assert main(["edit", str(sequence), "--edits", str(gaze), "-o", str(out), "-q", "--track",
                 str(track_path), "--report", str(tmp_path / "r.json")]) == 0
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["eyes_only_frames"] == 7 and rep["timecode"] == "01:00:00:00"
    written = probe(out)
    assert (written.frame_count, written.fps, written.timecode) == (40, plain.fps, "01:00:00:00")


def test_the_painted_head_is_found_where_it_was_painted(astro):
    """Asked for a head 5 degrees off the one in the picture, the fit finds the one in the picture; a frame with no
    face, or a face turned or moved far from the asked head, keeps the asked head."""
    from pipeline.eyes.painted_head import PaintedHead
    from reconstruction.fitting import FrameParams, actor_from_track, track_params
    from reconstruction.pose import head_rotation

    video, track_path = astro
    track = load_track(track_path)
    frames = [f for i, f in enumerate(VideoReader(video)) if i in (10, 11, 12)]
    frames.append(np.full_like(frames[0], 90))
    shown = track_params(track, np.array([10, 11, 12, 12]))
    asked = FrameParams(rotation=shown.rotation @ head_rotation(5, 0, 0), translation=shown.translation.copy(),
                        expression=shown.expression, gaze=shown.gaze)
    asked.rotation[2] = shown.rotation[2] @ head_rotation(20, 0, 0)  # too far: a misdetection, not a painting
    head = PaintedHead(actor_from_track(track))
    fitted, found = head.fit(frames, asked, np.array([10, 11, 12, 13]))
    assert found.tolist() == [True, True, False, False] and (head.fitted, head.kept) == (2, 2)
    asked.translation[1] += [3.0, 0.0, 0.0]  # 3 cm aside
    assert head.fit(frames[:2], FrameParams(rotation=asked.rotation[:2], translation=asked.translation[:2],
                                            expression=asked.expression[:2], gaze=asked.gaze[:2]),
                    np.array([14, 15]))[1].tolist() == \
        [True, False]
    head.close()
    assert rotation_angle_deg(fitted.rotation[:2], shown.rotation[:2]).max() < 1.0
    assert np.array_equal(fitted.rotation[2:], asked.rotation[2:])
