"""`dvp dub`: retiming by pauses on real speech, the dub job from sound and from a dubbing actor's video, and the
delivered sound (rate, depth, stems, loudness) read back from the written files."""
import json
import subprocess

import numpy as np
import pytest
import soundfile
from clips import FFMPEG, ffmpeg

from base.audio import read_audio
from base.probe import probe, probe_audio
from pipeline.cli import main
from pipeline.retiming import pair_pauses, plan_warp, reflect, speech_spans, target_frames, uniform_warp
from reconstruction.track import load_track
from speech.activity import voice_activity


def pyloudnorm_reading(path, stream=0):
    """Integrated loudness of one audio stream of a written file, decoded here apart from dvp's own reader."""
    import pyloudnorm

    raw = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-map", f"0:a:{stream}", "-f", "f64le", "-"],
                         capture_output=True, check=True).stdout
    channels = probe_audio(path)[stream].channels
    samples = np.frombuffer(raw, "<f8").reshape(-1, channels)
    return pyloudnorm.Meter(probe_audio(path)[stream].sample_rate).integrated_loudness(samples)


@pytest.fixture(scope="module")
def line(footage, tmp_path_factory):
    """16 s of a man speaking English with seven pauses (talk_lieu_60s), at 48 kHz 24-bit."""
    folder = tmp_path_factory.mktemp("line")
    ffmpeg("-ss", "20", "-t", "16", "-i", footage / "talk_lieu_60s.mp4", "-vn", "-c:a", "pcm_s24le", "-ar", "48000",
           folder / "line.wav")
    return folder / "line.wav"


@pytest.mark.parametrize("tempo", [1 / 1.2, 1.25], ids=["20% longer", "20% shorter"])
def test_the_warp_maps_a_stretched_dubs_pauses_onto_the_originals(line, tmp_path, tempo):
    dub = tmp_path / "dub.wav"
    ffmpeg("-i", line, "-af", f"atempo={tempo}", "-c:a", "pcm_s24le", dub)
    original, dubbed = voice_activity(read_audio(line)), voice_activity(read_audio(dub))
    seconds = len(read_audio(dub)) / 16000
    warp = plan_warp(original, dubbed, 16.0, seconds)
    assert warp.method == "pauses" and len(speech_spans(original)) >= 5
    # atempo plays the line uniformly faster or slower: original time = dub time * tempo. Every pause of the
    # original, where it starts and ends, must land there within 2 frames at 25 fps.
    for start, end in zip([s[1] for s in speech_spans(original)[:-1]], [s[0] for s in speech_spans(original)[1:]]):
        for moment in (start, end):
            assert abs(warp.original_time(np.array([moment / tempo]))[0] - moment) * 25 <= 2
    count = round(seconds * 25)
    frames = target_frames(warp, count, 25.0, 0.0, 400)
    assert len(frames) == count and np.all(np.diff(frames) >= 0)
    speech = [s for s in warp.segments if s.kind == "speech" and s.dub[1] - s.dub[0] > 1]
    assert all(abs(s.stretch - 1 / tempo) < 0.1 for s in speech), [s.stretch for s in speech]


def test_pauses_pair_by_their_place_in_the_line_and_a_missing_one_is_skipped():
    original = [(0.0, 1.0), (1.5, 3.0), (3.5, 6.0)]  # pauses at about 20 % and 55 % of the line
    dub = [(0.5, 4.0), (4.4, 7.0)]  # one pause, at about 60 %
    assert pair_pauses(original, dub) == [(1, 0)]
    assert pair_pauses(original, [(0.0, 1.3), (1.7, 6.0)]) == [(0, 0)]


def test_a_pairing_that_would_play_speech_at_several_times_its_speed_is_dropped():
    # hdtf_aoc's pause sits at 85 % of its line, hdtf_khill's at 63 %: paired, the words after them would play 3.7
    # times slower; unpaired, the two lines map onto each other whole.
    original = [(0.07, 6.35), (7.26, 8.0)]
    dub = [(0.01, 0.93), (1.32, 4.92), (5.25, 8.0)]
    assert pair_pauses(original, dub) == [(0, 1)]
    warp = plan_warp(*(np.isin(np.arange(800), np.concatenate([np.arange(round(a * 100), round(b * 100))
                                                                 for a, b in spans])) for spans in (original, dub)),
                     8.0, 8.0)
    assert [s.kind for s in warp.segments] == ["lead", "speech", "tail"]
    assert warp.segments[1].stretch == pytest.approx(1.0, abs=0.02)


def test_without_dialogue_the_shot_is_stretched_a_little_or_plays_at_its_own_speed():
    quiet = np.zeros(800, bool)
    speech = np.zeros(1000, bool)
    speech[100:900] = True
    assert plan_warp(quiet, speech, 8.0, 9.0).method == "uniform"
    assert plan_warp(None, speech, 8.0, 9.0).original_time(np.array([9.0]))[0] == pytest.approx(8.0)
    own = plan_warp(quiet, speech, 8.0, 12.0)
    assert own.method == "own speed"
    assert own.original_time(np.array([1.0, 9.0]))[0] == pytest.approx(1.0)
    assert own.original_time(np.array([9.0]))[0] == pytest.approx(7.0), "past the end the shot plays backwards"
    assert uniform_warp(8.0, 5.0, keep_length=True).method == "keep length"
    monologue = np.zeros(6000, bool)
    monologue[20:5990] = True  # a minute of talk against the dub's 8 s line: not the same line
    short = plan_warp(monologue, speech, 60.0, 10.0)
    assert short.method == "own speed" and "not the same line" in short.reason
    assert short.original_time(np.array([5.0]))[0] == pytest.approx(5.0)
    assert np.allclose(reflect(np.array([-1.0, 3.0, 9.0]), 8.0), [1.0, 3.0, 7.0])


@pytest.fixture(scope="module")
def speaking_astro(astro, footage, tmp_path_factory):
    """The astronaut clip (1.6 s) with English speech as its own dialogue and a start timecode, and a 2.5 s German
    dub line at 48 kHz 24-bit (dub_de.wav from its first word)."""
    video, track = astro
    folder = tmp_path_factory.mktemp("dub")
    target = folder / "astro.mp4"
    ffmpeg("-i", video, "-ss", "0.5", "-i", footage / "hdtf_aoc.mp4", "-map", "0:v", "-map", "1:a", "-c:v", "copy",
           "-c:a", "aac", "-shortest", "-timecode", "10:00:00:00", target)
    dub = folder / "dub_de.wav"
    ffmpeg("-ss", "1.2", "-t", "2.5", "-i", footage / "dub_de.wav", "-c:a", "pcm_s24le", dub)
    return target, track, dub


def test_an_audio_driven_dub_lasts_as_long_as_the_dub_and_keeps_48k_24_bit_in_prores(tiny_model, speaking_astro,
                                                                                        tmp_path):
    folder, _ = tiny_model
    target, track, dub = speaking_astro
    out, report, preview = tmp_path / "dub.mov", tmp_path / "r.json", tmp_path / "p.mp4"
    assert main(["dub", str(target), "--model", str(folder), "--audio", str(dub), "--track", str(track), "-o",
                 str(out), "--report", str(report), "--preview", str(preview), "-q"]) == 0
    info, sound = probe(out), probe_audio(out)
    assert info.frame_count == 63, "the output lasts as long as the dub (2.5 s at 25 fps, the last frame whole)"
    assert info.timecode == probe(target).timecode == "10:00:00:00"
    assert len(sound) == 1 and sound[0].codec == "pcm_s24le" and sound[0].sample_rate == 48000
    rep = json.loads(report.read_text())
    assert rep["job"] == "dub" and rep["mouth_from"] == "audio model" and rep["audio_bits"] == 24
    assert rep["retiming"]["segments"] and rep["retiming"]["dub_seconds"] == pytest.approx(2.5, abs=0.01)
    assert abs(rep["loudness_lufs"] - pyloudnorm_reading(out)) < 0.1
    ffmpeg("-i", out, "-map", "0:a:0", "-c:a", "pcm_s24le", tmp_path / "back.wav")
    back, original = (soundfile.read(p, dtype="int32")[0] for p in (tmp_path / "back.wav", dub))
    assert len(back) == 63 * 48000 // 25 and not back[len(original):].any(), "padded to the last frame's end"
    assert np.array_equal(back[:len(original)], original), "the dub's 24-bit samples come out bit for bit"
    assert probe_audio(preview), "the preview carries the dub's sound"
    assert not list(tmp_path.glob(".dvp-tmp-*"))


def test_stems_are_separate_tracks_and_loudness_is_brought_to_the_level_asked(tiny_model, speaking_astro, footage,
                                                                              tmp_path, capsys):
    folder, _ = tiny_model
    target, track, dub = speaking_astro
    me = tmp_path / "me.wav"  # a real room tone with voices far off stands in for the M&E: any sound will do
    ffmpeg("-t", "3", "-i", footage / "hdtf_khill.mp4", "-vn", "-af", "volume=0.2", "-ar", "44100", me)
    out, report = tmp_path / "stems.mov", tmp_path / "r.json"
    assert main(["dub", str(target), "--model", str(folder), "--audio", str(dub), "--track", str(track),
                 "--music-effects", str(me), "--stems", "--loudness", "-23", "-o", str(out), "--report", str(report),
                 "-q"]) == 0
    sound = probe_audio(out)
    assert len(sound) == 2 and all(s.sample_rate == 48000 and s.codec == "pcm_s24le" for s in sound)
    rep = json.loads(report.read_text())
    assert rep["audio_tracks"] == 2 and rep["loudness_lufs"] == pytest.approx(-23, abs=0.1)
    # The stems carry the dialogue and the M&E apart: the first is the dub, louder than the quiet M&E.
    assert pyloudnorm_reading(out, 0) > pyloudnorm_reading(out, 1) + 6
    # Stems need a MOV, and an M&E stem.
    assert main(["dub", str(target), "--model", str(folder), "--audio", str(dub), "--music-effects", str(me),
                 "--stems", "-o", str(tmp_path / "s.mp4"), "-q"]) == 2
    assert "--stems needs a MOV" in capsys.readouterr().err
    assert main(["dub", str(target), "--model", str(folder), "--audio", str(dub), "--stems", "-o",
                 str(tmp_path / "s.mov"), "-q"]) == 2
    assert "--music-effects" in capsys.readouterr().err
    assert not (tmp_path / "s.mp4").exists() and not (tmp_path / "s.mov").exists()


def test_a_video_driven_dub_and_keep_length(tiny_model, speaking_astro, footage, tmp_path, caplog):
    folder, _ = tiny_model
    target, track, dub = speaking_astro
    driver = tmp_path / "khill.mp4"  # a dubbing actor: 2 s of hdtf_khill speaking, with their own sound
    ffmpeg("-t", "2", "-i", footage / "hdtf_khill.mp4", "-vf", "scale=256:256", "-c:a", "aac", driver)
    out, report = tmp_path / "driven.mp4", tmp_path / "r.json"
    assert main(["dub", str(target), "--model", str(folder), "--driver", str(driver), "--track", str(track), "-o",
                 str(out), "--report", str(report), "-q"]) == 0
    rep = json.loads(report.read_text())
    assert rep["mouth_from"] == "dubbing actor" and 0.5 <= rep["mouth_scale"] <= 2.0
    assert probe(out).frame_count == 50 and rep["dub"] == "khill.mp4"
    kept = tmp_path / "kept.mp4"
    assert main(["dub", str(target), "--model", str(folder), "--audio", str(dub), "--track", str(track),
                 "--keep-length", "--retrieval", "-o", str(kept), "--report", str(report), "-q"]) == 0
    assert probe(kept).frame_count == len(load_track(track)) == 40
    kept_report = json.loads(report.read_text())
    assert kept_report["retiming"]["method"] == "keep length"
    assert kept_report["mouth_retrieval_frames"] == int(load_track(track).valid.sum()), "the shot's own mouths"
    assert rep["mouth_retrieval_frames"] is None, "the retrieval mouth only when asked"
    assert "is cut" in caplog.text


def test_dub_refusals_name_the_file_and_the_way_out(tiny_model, speaking_astro, footage, tmp_path, capsys):
    folder, _ = tiny_model
    target, track, dub = speaking_astro
    silence = tmp_path / "silence.wav"
    soundfile.write(silence, np.zeros(48000 * 2, np.float32), 48000, subtype="PCM_24")
    cases = [
        (["--audio", str(silence)], "no speech was heard"),
        (["--audio", str(tmp_path / "missing.wav")], "does not exist"),
        (["--driver", str(footage / "lp_d0.mp4")], "has no audio stream"),
        (["--audio", str(dub), "--audio-model", "data/sync_meter.pt"], "lip-sync meter"),
        (["--audio", str(dub), "--loudness", "5"], "between -70 and 0"),
        ([], "needs its dialogue"),
    ]
    for extra, message in cases:
        out = tmp_path / "o.mp4"
        assert main(["dub", str(target), "--model", str(folder), "--track", str(track), *extra, "-o", str(out),
                     "-q"]) == 2, extra
        assert message in capsys.readouterr().err, extra
        assert not out.exists()
