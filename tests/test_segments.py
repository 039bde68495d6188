"""A job made in segments, as the farm makes it (plan once, render frame ranges apart, join without re-encoding),
gives the frames of one pass."""
import json

import numpy as np
import pytest
from clips import ffmpeg

from base.errors import DvpError
from base.probe import probe, probe_audio
from base.reading import VideoReader
from pipeline.editing import EditSpec
from pipeline.job import Job, JobOptions, run_job
from pipeline.segments import chunks, join_job, plan_job, render_segment

SPEC = ("version: 1\nedits:\n  - frames: [4, 34]\n    ease: 3\n    expression: {smile: 0.6}\n"
        "    gaze: {yaw: 12}\n    head: {yaw: 4}\n")


def edit_job(model, video, spec, output, **options):
    return Job(video, EditSpec(spec), output, model, JobOptions(show_progress=False, **options))


def test_segments_joined_give_the_frames_of_one_pass(tiny_model, astro, tmp_path, monkeypatch):
    from pipeline.eyes import painted_head

    monkeypatch.setattr(painted_head, "SEGMENT", 16)  # the detector restarts where the segments start
    model, _ = tiny_model
    video, track = astro
    spec = tmp_path / "smile.yaml"
    spec.write_text(SPEC)
    sound = tmp_path / "tone.wav"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-ar", "48000", sound)
    options = {"track": track, "audio": str(sound), "verify": True}
    whole = run_job(edit_job(model, video, spec, tmp_path / "one.mov", **options))
    plan = tmp_path / "plan"
    summary = plan_job(edit_job(model, video, spec, tmp_path / "joined.mov", **options), plan)
    assert summary == {"frames": 40, "suffix": ".mov"}
    segments = []
    for first, stop in reversed(chunks(40, 16)):  # in any order, as a farm's tasks finish
        segments.insert(0, tmp_path / f"part-{first}.mov")
        render_segment(plan, first, stop, segments[0], show_progress=False)
    joined = join_job(plan, segments, tmp_path / "joined.mov", report=tmp_path / "joined.json", show_progress=False)
    one = list(VideoReader(tmp_path / "one.mov"))
    parts = list(VideoReader(tmp_path / "joined.mov"))
    assert len(one) == len(parts) == 40
    assert all(np.array_equal(a, b) for a, b in zip(one, parts)), "the frames of one pass, bit for bit"
    assert probe_audio(tmp_path / "joined.mov") and probe(tmp_path / "joined.mov").frame_count == 40
    for key in ("frames", "synthesised_frames", "eyes_only_frames", "passed_through_frames", "coverage"):
        assert joined[key] == whole[key], key
    for key in ("pose_calibration", "gaze_calibration"):
        assert {**joined[key], "seconds": 0} == {**whole[key], "seconds": 0}, key
    assert joined["segments"] == 3 and joined["faithfulness"]["frames"] == whole["faithfulness"]["frames"]
    assert json.loads((tmp_path / "joined.json").read_text())["output"].endswith("joined.mov")
    assert not list(tmp_path.rglob(".dvp-tmp-*"))


def test_an_mp4_is_joined_from_its_segments_and_gaps_are_refused(tiny_model, astro, tmp_path):
    model, _ = tiny_model
    video, track = astro
    spec = tmp_path / "smile.yaml"
    spec.write_text(SPEC)
    plan = tmp_path / "plan"
    plan_job(edit_job(model, video, spec, tmp_path / "out.mp4", track=track), plan)
    segments = [tmp_path / f"part-{first}.mp4" for first, _ in chunks(40, 24)]
    for (first, stop), segment in zip(chunks(40, 24), segments):
        render_segment(plan, first, stop, segment, show_progress=False)
    with pytest.raises(DvpError, match="render frames 0-23 too"):
        join_job(plan, segments[1:], tmp_path / "out.mp4")
    with pytest.raises(DvpError, match="render the rest too"):
        join_job(plan, segments[:1], tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()
    join_job(plan, segments, tmp_path / "out.mp4", show_progress=False)
    assert len(list(VideoReader(tmp_path / "out.mp4"))) == 40
    with pytest.raises(DvpError, match="is a .mp4 file"):
        render_segment(plan, 0, 8, tmp_path / "part.mov")
    with pytest.raises(DvpError, match="PNG sequence is made in one pass"):
        plan_job(edit_job(model, video, spec, tmp_path / "frames", track=track), tmp_path / "plan2")
