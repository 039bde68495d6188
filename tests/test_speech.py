"""Speech analysis: phones with timings from the bundled English acoustic model."""
from __future__ import annotations

import numpy as np
import pytest

from base.audio import read_audio
from speech.phones import PHONES, SILENCE, phone_frames, recognise_phones


def test_silence_is_one_rest_and_nothing_is_nothing():
    phones = recognise_phones(np.zeros(16_000, np.float32))
    assert {p.label for p in phones} == {SILENCE}
    assert recognise_phones(np.zeros(0, np.float32)) == []
    with pytest.raises(ValueError, match="16000 Hz"):
        recognise_phones(np.zeros(100, np.float32), rate=44_100)


def test_a_grid_sentence_gives_timed_phones_that_cover_it(footage):
    # GRID's "bin blue at f two now": a lip closure at "b" of "bin" and "blue" (read as p, b, v or m), then vowels.
    samples = read_audio(footage / "grid_bbaf2n.mpg")
    phones = recognise_phones(samples)
    assert phones[0].start == 0 and abs(phones[-1].end - len(samples) / 16_000) < 0.05
    assert all(a.end == b.start for a, b in zip(phones, phones[1:])), "phones follow each other without gaps"
    spoken = [p for p in phones if p.label != SILENCE]
    assert len(spoken) >= 8 and all(p.label in PHONES for p in spoken)
    assert any(p.label in ("P", "B", "M", "V", "F") for p in spoken[:6]), [p.label for p in spoken]
    frames = phone_frames(phones, round(len(samples) / 160))
    assert (frames == 0).mean() < 0.6 and frames[0] == 0


def test_prosody_reads_the_pitch_of_a_voice_and_nothing_in_silence():
    from speech.prosody import prosody

    rate, t = 16_000, np.arange(16_000) / 16_000
    # A buzz at 180 Hz through a crude vocal tract (harmonics weighted around 700 and 1,200 Hz), then half a second
    # of digital silence.
    voice = sum(np.exp(-((k * 180 - 700) / 300) ** 2) * np.sin(2 * np.pi * k * 180 * t)
                + 0.5 * np.exp(-((k * 180 - 1200) / 300) ** 2) * np.sin(2 * np.pi * k * 180 * t) for k in range(1, 20))
    samples = np.concatenate([0.3 * voice / np.abs(voice).max(), np.zeros(8_000)]).astype(np.float32)
    p = prosody(samples, rate)
    assert len(p) == 150 and p.formants.shape == (150, 3)
    assert abs(np.median(p.pitch[10:90]) - 180) < 3
    assert (p.pitch[110:] == 0).all() and np.isnan(p.formants[110:]).all()
    assert 500 < np.nanmedian(p.formants[10:90, 0]) < 900
    assert prosody(np.zeros(0, np.float32)).formants.shape == (0, 3)


def test_voice_activity_finds_the_sentence_and_not_the_silence(footage):
    from speech.activity import voice_activity

    assert not voice_activity(np.zeros(16_000, np.float32)).any()
    samples = read_audio(footage / "grid_bbaf2n.mpg")  # speech from about 0.45 s to 2.1 s, silence around it
    active = voice_activity(samples)
    assert len(active) == 298
    spoken = np.flatnonzero(active)
    assert 0.3 < spoken[0] / 100 < 0.6 and 2.0 < spoken[-1] / 100 < 2.4
    assert active[spoken[0]:spoken[-1]].all(), "the pauses between words of one sentence are bridged"


def test_features_are_one_normalised_row_per_10_ms_and_windows_reach_past_the_ends(footage):
    from speech.features import COLUMNS, analyse

    samples = read_audio(footage / "grid_bbaf2n.mpg")
    features = analyse(samples)
    assert features.values.shape == (298, len(COLUMNS)) and np.isfinite(features.values).all()
    speech = features.speech
    mel = features.values[speech, :40]
    assert abs(mel.mean()) < 0.05 and 0.9 < mel.std(axis=0).mean() < 1.1, "standardised over the speech"
    assert (features.values[:, 40:80].sum(axis=1) == 1).all(), "one phone per frame"
    assert features.column("voiced")[speech].mean() > 0.4 and not features.column("voiced")[:20].any()
    windows = features.windows(np.array([0.0, 1.0, 2.97]), context=0.3)
    assert windows.shape == (3, 61, len(COLUMNS))
    silence = windows[0, :30]  # before the start: silence
    assert (silence[:, COLUMNS.index("phone_SIL")] == 1).all() and not silence[:, :40].any()
    assert (windows[1, 30] == features.values[100]).all(), "centred on the frame that holds the time"
    assert analyse(np.zeros(0, np.float32)).values.shape == (0, len(COLUMNS))


def test_the_speech_plot_is_written_whole_with_a_lane_for_controls(tmp_path):
    import cv2

    from speech.features import analyse
    from speech.plot import plot_speech

    t = np.arange(8_000) / 16_000
    samples = (0.2 * np.sin(2 * np.pi * 220 * t) * (t > 0.1)).astype(np.float32)
    features = analyse(samples)
    two = cv2.imread(str(plot_speech(samples, features, tmp_path / "speech.png", title="tone")))
    three = cv2.imread(str(plot_speech(samples, features, tmp_path / "mouth.png",
                                       controls={"jaw_open": np.linspace(0, 0.3, 13)}, fps=25)))
    assert two.shape[1] == three.shape[1] == 1400 and three.shape[0] > two.shape[0]
    assert not list(tmp_path.glob(".dvp-tmp-*")), "written atomically"


def test_the_viseme_baseline_closes_on_bilabials_leads_the_sound_and_rests_in_silence():
    from speech.baselines import viseme_mouth
    from speech.phones import Phone

    phones = [Phone("SIL", 0, 0.5), Phone("AA", 0.5, 0.7), Phone("B", 0.7, 0.78), Phone("AA", 0.78, 1.0),
              Phone("SIL", 1.0, 1.5)]
    t = np.arange(0, 1.5, 0.01)
    mouth = viseme_mouth(phones, t)
    lips, jaw = mouth["lips_close"], mouth["jaw_open"]
    assert lips[70:78].max() > 0.6 and jaw[70:78].min() < 0.15 < jaw[55:65].min(), "b closes a wide-open mouth"
    assert jaw[45] > 0.05 and jaw[:25].max() < 0.02, "the jaw starts opening before the vowel, not long before"
    assert jaw[130:].max() < 0.02 and max(m[:15].max() for m in mouth.values()) < 0.01, "at rest in silence"
    assert all(np.allclose(m, 0) for m in viseme_mouth([], t).values())


def test_the_loudness_jaw_opens_only_while_somebody_speaks(footage):
    from speech.baselines import LOUD_JAW, loudness_jaw
    from speech.features import analyse

    samples = read_audio(footage / "grid_bbaf2n.mpg")  # speech from about 0.45 s to 2.1 s
    jaw = loudness_jaw(analyse(samples), np.arange(75) / 25)["jaw_open"]
    assert jaw[:8].max() == 0 and jaw[60:].max() == 0
    assert 0.5 * LOUD_JAW < jaw[15:50].max() <= LOUD_JAW
