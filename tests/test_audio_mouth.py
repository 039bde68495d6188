"""The audio-to-mouth model: the mouth's geometry, the network and its file, training, and the lip-sync arithmetic."""
from __future__ import annotations

import numpy as np
import pytest

from base.errors import DvpError
from speech import audio_model
from speech.audio_model import AudioModel, load_audio_model, sample_rows
from speech.audio_training import SpeechClip, TrainingSettings, train_audio_model
from speech.features import COLUMNS, SpeechFeatures
from speech.mouth import MOUTH_CONTROLS, LipGeometry, rest_pose
from speech.sync import MAX_LAG, lag_scores, read_sync


def _features(seconds: float, speech: bool = True, seed: int = 0) -> SpeechFeatures:
    rng = np.random.default_rng(seed)
    rows = round(seconds * 100)
    values = rng.normal(0, 1, (rows, len(COLUMNS))).astype(np.float32)
    values[:, COLUMNS.index("speech")] = float(speech)
    return SpeechFeatures(values, ())


def test_the_lips_part_as_the_jaw_opens_and_errors_are_in_millimetres():
    from reconstruction.face_model import default_model

    model = default_model()
    lips = LipGeometry.of(model.neutral())
    names = model.expression_names
    expression = np.zeros((3, len(names)))
    expression[1, names.index("jaw_open")] = 0.3
    expression[2, names.index("lips_close")] = 1.0
    gap = lips.gap_mm(expression)
    assert gap[1] > gap[0] + 2, gap  # a 4.5 degree turn of the jaw parts the lips by millimetres
    error = lips.vertex_error_mm(expression, expression[[0, 0, 0]])
    assert error[0] == 0 and 2 < error[1] < 15 and error[2] > 1


def test_the_rest_is_read_from_silence_or_else_from_the_most_closed_frames():
    controls = np.zeros((100, 2))
    controls[:, 0] = np.linspace(0, 1, 100)  # opening through the clip
    gap = controls[:, 0] * 10
    quiet = np.zeros(100, bool)
    quiet[-20:] = True  # the last 20 frames are silent
    assert rest_pose(controls, quiet, gap)[0] > 0.8
    assert rest_pose(controls, np.zeros(100, bool), gap)[0] < 0.15  # all speech: the most closed fifth


def test_a_model_file_round_trips_and_bad_files_are_refused(tmp_path):
    model = AudioModel.new(list(MOUTH_CONTROLS), np.full(len(MOUTH_CONTROLS), 0.1), width=8)
    features = _features(3)
    times = (np.arange(75) + 0.5) / 25
    before = model.predict(features, times)
    model.save(tmp_path / "m.pt")
    again = load_audio_model(tmp_path / "m.pt")
    assert again.info.outputs == list(MOUTH_CONTROLS)
    np.testing.assert_allclose(again.predict(features, times), before, atol=1e-6)
    with pytest.raises(DvpError, match="no such audio model"):
        load_audio_model(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(DvpError, match="not an audio model"):
        load_audio_model(tmp_path / "junk.pt")


def test_long_sound_is_run_in_chunks_with_the_same_result_and_any_frame_rate_is_served(monkeypatch):
    model = AudioModel.new(["a", "b"], np.ones(2), width=8)
    features = _features(7)
    whole = model.rows(features)
    monkeypatch.setattr(audio_model, "CHUNK_ROWS", 150)
    np.testing.assert_allclose(model.rows(features), whole, atol=1e-5)
    for fps in (23.976, 25, 29.97, 60):
        times = (np.arange(int(7 * fps)) + 0.5) / fps
        predicted = model.predict(features, times)
        assert predicted.shape == (len(times), 2)
        row = np.floor(times[10] * 100 - 0.5).astype(int)
        assert min(whole[row, 0], whole[row + 1, 0]) - 1e-6 <= predicted[10, 0] <= max(whole[row, 0],
                                                                                        whole[row + 1, 0]) + 1e-6
    assert (sample_rows(whole, np.array([-1.0, 100.0])) == 0).all()  # before and after the sound: rest


def test_the_mouth_rests_where_nobody_speaks():
    model = AudioModel.new(["a"], np.ones(1), width=8)
    features = _features(4)
    values = features.values.copy()
    values[200:, COLUMNS.index("speech")] = 0  # speech for 2 s, then silence
    rows = model.rows(SpeechFeatures(values, ()))
    assert np.abs(rows[:190]).mean() > 0.01
    assert np.abs(rows[240:]).max() == 0  # past the hold after speech: still


def test_training_learns_a_mouth_that_follows_the_sound():
    # A made-up speaker whose mouth opens with one feature column, seen 120 ms later; the network must find both.
    features = _features(30, seed=1)
    driver = np.convolve(features.values[:, 5], np.ones(8) / 8, mode="same")
    fps = 25
    times = (np.arange(30 * fps) + 0.5) / fps
    opening = np.interp(times - 0.12, (np.arange(len(driver)) + 0.5) / 100, driver)
    clip = SpeechClip("made-up", features, times, opening[:, None].astype(np.float32), np.ones(len(times), bool))
    model, losses = train_audio_model([clip], ["opening"], TrainingSettings(steps=400, width=16))
    assert np.mean(losses[-20:]) < 0.5 * np.mean(losses[:20])
    held_out = _features(10, seed=2)
    driver = np.convolve(held_out.values[:, 5], np.ones(8) / 8, mode="same")
    t = (np.arange(10 * fps) + 0.5) / fps
    truth = np.interp(t - 0.12, (np.arange(len(driver)) + 0.5) / 100, driver)
    assert np.corrcoef(model.predict(held_out, t)[:, 0], truth)[0, 1] > 0.7


def test_the_sync_reading_finds_a_moved_sound_and_declines_without_speech():
    rng = np.random.default_rng(0)
    mouth = np.convolve(rng.normal(0, 1, 400), np.ones(5) / 5, mode="same")
    seen = mouth[:, None]
    for moved in (-10, -3, 0, 5):
        def heard(lag, moved=moved):  # the sound read `lag` frames later, when it was moved `moved` frames later
            return np.roll(mouth, moved - lag)[:, None] + rng.normal(0, 0.3, (400, 1))
        lags, scores = lag_scores(seen, heard, np.ones(400, bool))
        reading = read_sync(lags, scores, speech_seconds=10, fps=25)
        assert reading.offset == moved and reading.confidence > 0.3
        assert reading.verdict == ("in sync" if moved == 0 else "out of sync")
    assert read_sync(lags, scores, speech_seconds=0.3, fps=25).verdict == "no speech"
    flat = read_sync(np.arange(-MAX_LAG, MAX_LAG + 1), np.full(2 * MAX_LAG + 1, 0.05) + rng.normal(0, 0.01, 31),
                     speech_seconds=10, fps=25)
    assert flat.verdict == "unclear" and flat.offset is None
    assert "no reading" in flat.describe()
