"""The gaze warp's calibration: the share of an eyeball turn the tracker reads, and turning by its inverse."""
from pathlib import Path

import numpy as np
import pytest

from base.errors import DvpError
from base.reading import VideoReader
from base.writing import VideoWriter
from pipeline.cli import main
from pipeline.eyes.eyeball_warp import EyeOpenings, redirect_eyes
from pipeline.eyes.gaze_calibration import GazeCalibration, calibrate_gaze, given_gain
from pipeline.eyes.settings import DEFAULT as EYES
from pipeline.tracking import TrackOptions, track_video
from reconstruction.fitting import FrameParams, actor_from_track, track_params
from reconstruction.track import load_track

CLIP_FRAMES = 150


def _params(yaw, pitch):
    return FrameParams(rotation=np.eye(3)[None], translation=np.array([[0.0, 1.0, 28.0]]),
                       expression=np.zeros((1, 4)), gaze=np.radians([[[yaw, pitch], [yaw + 2, pitch - 1]]]))


def test_the_yaw_change_is_divided_by_the_gain_and_nothing_else_moves():
    intended, shown = _params(10, 5), _params(4, -3)
    turned = GazeCalibration(yaw_gains=np.array([[0.5, 0.5], [0.5, 0.5]])).rendered(intended, shown)
    assert np.allclose(np.degrees(turned.gaze[..., 0]), [[4 + 2 * 6, 6 + 2 * 6]])
    by_direction = GazeCalibration(yaw_gains=np.array([[0.9, 0.5], [0.8, 0.6]]))
    assert np.allclose(np.degrees(by_direction.rendered(intended, shown).gaze[..., 0]), [[4 + 6 / 0.5, 6 + 6 / 0.6]])
    assert np.allclose(np.degrees(by_direction.rendered(shown, intended).gaze[..., 0]), [[10 - 6 / 0.9, 12 - 6 / 0.8]])
    assert np.allclose(turned.gaze[..., 1], intended.gaze[..., 1]), "pitch is not compensated"
    assert turned.rotation is intended.rotation and turned.expression is intended.expression
    assert np.allclose(GazeCalibration().rendered(intended, shown).gaze, intended.gaze), "gain 1: as intended"
    far = GazeCalibration(yaw_gains=np.full((2, 2), 0.5)).rendered(_params(40, 5), _params(0, 0))
    assert np.allclose(np.degrees(far.gaze[..., 0]), EYES.eye_turn_limit_deg), "no eye turns 80 degrees"


def test_a_given_gain_is_checked_before_any_work(tiny_model, astro, tmp_path, capsys):
    assert np.all(given_gain(0.8).yaw_gains == 0.8)
    with pytest.raises(DvpError, match="--gaze-gain"):
        given_gain(3.0)
    model, _ = tiny_model
    spec = Path(__file__).parents[1] / "data" / "edit_example.yaml"
    code = main(["edit", str(astro[0]), "--model", str(model), "--edits", str(spec),
                 "-o", str(tmp_path / "out.mp4"), "--gaze-gain", "0", "-q"])
    assert code == 2
    assert "--gaze-gain must lie between" in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists()


def test_eyes_that_are_never_open_leave_the_gain_at_one(astro, tmp_path):
    video, path = astro
    track = load_track(path)
    for name in ("blink_right", "blink_left"):
        track.expression[:, track.expression_names.index(name)] = 1.0
    result = calibrate_gaze(video, track, tmp_path)
    assert np.all(result.yaw_gains == 1.0) and not result.measured and "open eyes" in result.note


def _turned_clip(video, track, out, yaw_deg, calibration):
    """`video` with both eyeballs turned by `yaw_deg[i]` (tracked units) on frame i through `calibration`."""
    actor = actor_from_track(track)
    openings = EyeOpenings.of(actor)
    with VideoReader(video) as reader, VideoWriter(out, reader.fps, reader.width, reader.height) as writer:
        for i, frame in enumerate(reader):
            shown = track_params(track, [i])
            gaze = shown.gaze.copy()
            gaze[..., 0] += np.radians(yaw_deg[i])
            wanted = FrameParams(rotation=shown.rotation, translation=shown.translation,
                                 expression=shown.expression, gaze=gaze)
            writer.write(redirect_eyes(frame, frame, actor, openings, calibration.rendered(wanted, shown), shown))


def test_the_tracker_reads_part_of_a_turn_and_the_calibrated_warp_reads_back_all_of_it(footage, tmp_path):
    clip = tmp_path / "lp_d9_head.mp4"
    with VideoReader(footage / "lp_d9.mp4", max_frames=CLIP_FRAMES) as reader, \
            VideoWriter(clip, reader.fps, reader.width, reader.height) as writer:
        for frame in reader:
            writer.write(frame)
    quiet = TrackOptions(show_progress=False)
    track_video(clip, tmp_path / "clip.npz", options=quiet)
    track = load_track(tmp_path / "clip.npz")
    calibration = calibrate_gaze(clip, track, tmp_path)
    assert calibration.measured and calibration.samples >= 40
    assert 0.5 < calibration.yaw_gains.mean() < 0.92, "mediapipe's iris points move less than the iris"
    # Turns of 12 degrees either way between stretches of none, in another rhythm than the calibration's. (A turn
    # held over the whole clip would not do: tracking places each actor's eyeballs from the whole clip, and
    # takes part of a gaze that never changes for the actor's own.)
    pattern = np.repeat([0.0, 12.0, 0.0, -12.0, 0.0, 12.0], 25)[:CLIP_FRAMES]
    inner = (np.arange(CLIP_FRAMES) % 25 >= 6) & (np.arange(CLIP_FRAMES) % 25 < 19)

    def read_back(cal, name):
        """Mean read-back turn per asked degree, over open eyes inside the turned stretches."""
        _turned_clip(clip, track, tmp_path / f"{name}.mp4", pattern, cal)
        track_video(tmp_path / f"{name}.mp4", tmp_path / f"{name}.npz", options=quiet)
        again = load_track(tmp_path / f"{name}.npz")
        use = inner[:, None] & (track.blink < EYES.calibration_open_blink) & (again.blink < EYES.open_blink)
        change = np.degrees(again.gaze[:, :, 0] - track.gaze[:, :, 0])
        asked = np.broadcast_to(pattern[:, None], change.shape)
        return float(np.polyfit(asked[use], change[use], 1)[0])

    plain, calibrated = read_back(GazeCalibration(), "plain"), read_back(calibration, "calibrated")
    assert plain < 0.9, f"an uncompensated turn reads back short ({plain:.2f} of it)"
    assert abs(calibrated - 1) < 0.12, f"the compensated turn reads back {calibrated:.2f} of itself, not all"
    assert abs(calibrated - 1) < abs(plain - 1)
