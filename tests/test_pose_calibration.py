"""The pose pilot: how much of the asked head pose a model paints, and conditioning the network on the inverse."""
from dataclasses import replace

import numpy as np

from base.reading import VideoReader, frames_in_order
from base.writing import VideoWriter
from pipeline.pose_calibration import (
    MAX_CORRECTION_DEG,
    PILOT_STRETCHES,
    STRETCH,
    PoseCalibration,
    calibrate_pose,
    fit_axis,
    pilot_frames,
)
from pipeline.tracking import TrackOptions, track_video
from pipeline.transfer import Performance, driven_track
from reconstruction.face_model import gaze_directions
from reconstruction.pose import head_angles, head_rotations, rest_pose
from reconstruction.temporal import RADIUS as SMOOTHING_RADIUS
from reconstruction.track import load_track

CLIP_FRAMES = 200


def _law(gains, offsets):
    return PoseCalibration(gains=np.array(gains, float), offsets_deg=np.array(offsets, float), measured=True)


def test_the_conditioning_is_the_inverse_of_the_measured_law_within_its_limit():
    rng = np.random.default_rng(1)
    asked = rng.uniform(-25, 25, (64, 3))
    law = _law([0.8, 0.7, 0.95], [0.5, -1.5, 0.3])
    cond = head_angles(law.conditioning(head_rotations(asked)))
    shown = cond * law.gains + law.offsets_deg  # what a model with this law paints
    inverse = np.abs((asked - law.offsets_deg) / law.gains - asked) <= MAX_CORRECTION_DEG
    assert np.allclose(shown[inverse], asked[inverse], atol=1e-6)
    assert not inverse.all(), "some asked angles need more than the limit"
    assert np.abs(cond - asked).max() <= MAX_CORRECTION_DEG + 1e-6
    plain = np.asarray(head_rotations(asked), np.float32)
    assert np.array_equal(PoseCalibration().conditioning(plain), plain), "unmeasured: the asked pose, bit for bit"


def test_the_corrected_head_keeps_the_gaze_pointing_where_it_was_asked(astro):
    track = load_track(astro[1])
    law = replace(_law([0.8, 0.8, 1.0], [1.0, -2.0, 0.0]), rest=track.rotation[0].astype(np.float64))
    moved = law.conditioned(track)
    assert not np.allclose(moved.rotation, track.rotation, atol=1e-3)
    before = np.einsum("nij,nej->nei", track.rotation.astype(np.float64), gaze_directions(track.gaze))
    after = np.einsum("nij,nej->nei", moved.rotation.astype(np.float64), gaze_directions(moved.gaze))
    assert np.allclose(before, after, atol=1e-4), "the gaze in the camera does not change"
    assert np.array_equal(moved.expression, track.expression) and np.array_equal(moved.translation,
                                                                                 track.translation)


def test_the_fit_trusts_a_slope_only_as_far_as_the_spread_of_the_asked_angles():
    wide = np.linspace(-15, 15, 60)
    gain, offset, trusted = fit_axis(wide, 0.8 * wide + 0.5)
    assert trusted and abs(gain - 0.8) < 0.02 and abs(offset - 0.5) < 0.05
    narrow = np.linspace(-0.5, 0.5, 60)
    noise = np.random.default_rng(0).normal(0, 0.3, 60)
    gain, offset, _ = fit_axis(narrow, -1.2 + narrow * 0.3 + noise)
    assert abs(gain - 1) < 0.05, "a slope over one degree of asked angles is noise: the prior keeps it near 1"
    assert abs((narrow * gain + offset - (-1.2 + narrow * 0.3 + noise)).mean()) < 0.05, "the offset still fits"
    gain, offset, trusted = fit_axis(wide, -wide)
    assert not trusted and gain == 1.0 and abs(offset) < 1e-9, "a head that turns the other way: offset only"


def test_the_pilot_takes_all_of_a_short_job_and_even_stretches_of_a_long_one_each_with_its_window():
    fade = np.zeros(1000)
    fade[100:160] = 1
    frames, fitted = pilot_frames(fade, np.ones(1000, bool))
    assert np.array_equal(frames, np.arange(100, 160))
    assert np.array_equal(frames[fitted], np.arange(100 + SMOOTHING_RADIUS, 160 - SMOOTHING_RADIUS)), "the ends are left out"
    frames, fitted = pilot_frames(fade, np.ones(1000, bool), lead_in=10)
    assert np.array_equal(frames, np.arange(90, 160)), "played from a window earlier"
    assert np.array_equal(frames[fitted], np.arange(100, 160 - SMOOTHING_RADIUS)), "the lead-in is not fitted"
    fade[:] = 1
    frames, fitted = pilot_frames(fade, np.ones(1000, bool), lead_in=10)
    starts = frames[np.r_[0, np.flatnonzero(np.diff(frames) != 1) + 1]]
    assert len(starts) == PILOT_STRETCHES and starts[0] == 0 and np.all(np.diff(starts) > STRETCH)
    assert fitted.sum() == (STRETCH - 2 * SMOOTHING_RADIUS) + (PILOT_STRETCHES - 1) * (STRETCH - SMOOTHING_RADIUS)
    assert frames[-1] == 999


def test_a_model_that_paints_part_of_the_asked_turn_is_measured_and_inverted(footage, tmp_path):
    """A stand-in 'model' that always paints the target's own frames, asked for poses that relate to those frames
    by a known law: the pilot must find the law by tracking what was painted, and invert it."""
    clip = tmp_path / "lp_d9_head.mp4"
    with VideoReader(footage / "lp_d9.mp4", max_frames=CLIP_FRAMES) as reader, \
            VideoWriter(clip, reader.fps, reader.width, reader.height) as writer:
        for frame in reader:
            writer.write(frame)
    track_video(clip, tmp_path / "clip.npz", options=TrackOptions(show_progress=False))
    track = load_track(tmp_path / "clip.npz")
    truth = replace(_law([0.7, 1.0, 1.0], [1.0, -1.5, 0.0]), rest=rest_pose(track)[0])
    painted = head_angles(truth.rest.T @ track.rotation.astype(np.float64))
    asked = (painted - truth.offsets_deg) / truth.gains  # shown = gain * asked + offset
    frames = np.arange(CLIP_FRAMES)
    performance = Performance(
        track=driven_track(track, frames, truth.rest @ head_rotations(asked), track.translation, track.expression,
                           track.gaze),
        target_frames=frames)

    info = VideoReader(clip)

    def pilot(part, video):
        with VideoWriter(video, info.fps, info.width, info.height) as out:
            for frame in frames_in_order(clip, part.target_frames, tmp_path):
                out.write(frame)

    law = calibrate_pose(performance, track, np.ones(CLIP_FRAMES), pilot, tmp_path)
    assert law.measured and law.frames >= PILOT_STRETCHES * (STRETCH - 2 * SMOOTHING_RADIUS) - 4, law.report()
    assert 0.65 < law.gains[0] < 0.85, f"yaw: about 0.7 of the asked turn is painted, not {law.gains[0]:.2f}"
    assert abs(law.offsets_deg[1] + 1.5) < 0.6, f"pitch: 1.5 degrees down, not {law.offsets_deg[1]:.2f}"
    before = np.abs(asked - painted).mean(0)  # taking the asked pose for what is painted
    predicted = np.abs(asked * law.gains + law.offsets_deg - painted).mean(0)  # the measured law's prediction
    assert predicted[0] < 0.35 * before[0] and predicted[1] < 0.35 * before[1], (before, predicted)
