"""Training coverage: which frames of a job ask the model for more than its training frames showed."""
import json

import numpy as np

from pipeline.cli import main
from pipeline.coverage import coverage, runs
from reconstruction.pose import head_angles, head_rotation, nearest_pose_deg
from reconstruction.track import load_track


def test_head_angles_invert_the_edit_specs_head_offsets():
    for yaw, pitch, roll in [(10, -5, 3), (-30, 20, -7), (0, 0, 0), (45, -35, 12)]:
        assert np.allclose(head_angles(head_rotation(yaw, pitch, roll)[None])[0], [yaw, pitch, roll], atol=1e-9)


def test_runs_of_frames():
    assert runs(np.array([2, 3, 4, 9, 11, 12])) == [[2, 4], [9, 9], [11, 12]]
    assert runs(np.array([], dtype=int)) == []


def _manifest(track):
    n = len(track)
    return {"split": {"train": [0, n - 1, n]}}


def test_a_shot_asks_for_nothing_outside_its_own_training_range(astro):
    track = load_track(astro[1])
    found = coverage(track, track, _manifest(track))
    assert not found.any_outside().any() and found.details == {} and found.warnings() == []


def test_head_turns_and_gaze_beyond_the_training_range_are_found_with_their_frames(astro):
    track = load_track(astro[1])
    asked = load_track(astro[1])
    asked.rotation[10:15] = asked.rotation[10:15] @ head_rotation(25, 0, 0)  # far beyond the clip's motion
    asked.gaze[30:33, 0, 1] += np.radians(40)  # the right eye looks far up
    found = coverage(asked, track, _manifest(track))
    assert np.flatnonzero(found.outside["head"]).tolist() == list(range(10, 15))
    assert np.flatnonzero(found.outside["gaze"]).tolist() == [30, 31, 32]
    assert not found.outside["expression"].any()
    assert found.details["head yaw"]["frame_ranges"] == [[10, 14]]
    assert found.details["gaze pitch (right eye)"]["frames"] == 3
    text = "\n".join(found.warnings())
    assert "head yaw: 5 frames" in text and "(frames 10-14)" in text and "gaze pitch (right eye)" in text
    # only the frames a job synthesises count
    assert not coverage(asked, track, _manifest(track), np.arange(20, 30)).any_outside().any()


def test_dvp_edit_warns_and_reports_a_head_turn_the_model_never_saw(tiny_model, astro, tmp_path, caplog):
    folder, _ = tiny_model
    video, _ = astro
    spec = tmp_path / "turn.yaml"
    spec.write_text("edits:\n  - frames: [5, 14]\n    head: {yaw: 40}\n")
    report = tmp_path / "r.json"
    assert main(["edit", str(video), "--model", str(folder), "--edits", str(spec), "-o", str(tmp_path / "o.mp4"),
                 "-q", "--report", str(report)]) == 0
    assert "outside the model's training range: head yaw: 10 frames" in caplog.text
    rep = json.loads(report.read_text())["coverage"]
    assert rep["frames_outside_by_group"]["head"] == 10 and rep["outside"]["head yaw"]["frame_ranges"] == [[5, 14]]


def test_a_pose_between_the_examples_is_found_though_each_axis_is_inside_its_range(astro):
    track = load_track(astro[1])
    base = track.rotation[0].astype(np.float64)
    sweep = np.linspace(-8, 8, 20)
    track.rotation[:20] = [base @ head_rotation(y, 0, 0) for y in sweep]  # trained: a turn left and right ...
    track.rotation[20:40] = [base @ head_rotation(0, p, 0) for p in sweep]  # ... and a nod, never both at once
    asked = load_track(astro[1])
    asked.rotation[:] = track.rotation
    asked.rotation[5:10] = base @ head_rotation(8, 8, 0)  # turned and nodded: 8 degrees from any example
    found = coverage(asked, track, _manifest(track))
    assert not found.outside["head"].any(), "yaw and pitch are each inside their ranges"
    assert np.flatnonzero(found.far_pose).tolist() == [5, 6, 7, 8, 9]
    rep = found.report()["head_poses_without_near_example"]
    assert rep["frames"] == 5 and rep["frame_ranges"] == [[5, 9]] and rep["within_deg"] == 3.0
    assert any(line.startswith("head pose: 5 frames") and "(frames 5-9)" in line for line in found.warnings())
    assert np.allclose(nearest_pose_deg(asked.rotation[[0, 7]], track.rotation), [0, 8], atol=0.3)
