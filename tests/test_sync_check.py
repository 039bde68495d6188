"""`dvp sync-check` and `dvp train-audio` on real footage: readings, moved sound, and bad input."""
from __future__ import annotations

import json
import subprocess
import wave

import numpy as np
import pytest

from base.ffmpeg_process import ffmpeg_path
from pipeline.cli import main

CLIP = "grid_bbaf2n.mpg"


@pytest.fixture(scope="module")
def tracks(tmp_path_factory, footage):
    """One shared folder of tracks, so each clip is tracked once for the module."""
    return tmp_path_factory.mktemp("tracks")


def _track(footage, tracks, name=CLIP):
    path = tracks / f"{name.rsplit('.', 1)[0]}.track.npz"
    if not path.is_file():
        assert main(["track", str(footage / name), "-o", str(path), "-q"]) == 0
    return path


def _sound(footage, tmp_path, moved_frames: int = 0, rate: int = 16000, channels: int = 1):
    """The clip's sound as a WAV at another rate and channel count, moved `moved_frames` frames later."""
    out = tmp_path / f"sound_{moved_frames:+d}_{rate}_{channels}.wav"
    shift = abs(moved_frames) / 25
    move = (f"adelay={shift * 1000:.0f}:all=1" if moved_frames > 0 else
            f"atrim=start={shift},asetpts=PTS-STARTPTS" if moved_frames < 0 else "anull")
    subprocess.run([ffmpeg_path(), "-v", "error", "-nostdin", "-y", "-i", str(footage / CLIP), "-vn", "-af", move,
                    "-ar", str(rate), "-ac", str(channels), str(out)], check=True)
    return out


def _reading(capsys, args) -> dict:
    assert main(["sync-check", *args, "-q"]) == 0
    printed = capsys.readouterr()
    summary = json.loads(printed.out.strip().splitlines()[-1])
    assert summary["reading"] in printed.err  # the reading in words, for the person at the terminal
    return summary


def test_a_clip_with_its_own_sound_reads_in_sync_with_a_report_and_a_plot(footage, tracks, tmp_path, capsys):
    report, plot = tmp_path / "sync.json", tmp_path / "sync.png"
    got = _reading(capsys, [str(footage / CLIP), "--track", str(_track(footage, tracks)), "--report", str(report),
                            "--plot", str(plot)])
    assert got["verdict"] == "in sync" and abs(got["offset_frames"]) <= 1 and got["confidence"] > 0.2
    saved = json.loads(report.read_text())
    assert len(saved["lags"]) == len(saved["scores"]) == 31 and saved["offset_frames"] == got["offset_frames"]
    assert plot.stat().st_size > 10_000


def test_sound_moved_later_at_another_rate_and_channel_count_is_found(footage, tracks, tmp_path, capsys):
    sound = _sound(footage, tmp_path, moved_frames=5, rate=8000, channels=2)
    got = _reading(capsys, [str(footage / CLIP), "--audio", str(sound), "--track", str(_track(footage, tracks))])
    assert got["verdict"] == "out of sync" and abs(got["offset_frames"] - 5) <= 1
    assert "late" in got["reading"]


def test_silence_is_a_no_speech_reading_not_an_error(footage, tracks, tmp_path, capsys):
    silence = tmp_path / "silence.wav"
    with wave.open(str(silence), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(22050)
        out.writeframes(np.zeros(22050 * 3, np.int16).tobytes())
    got = _reading(capsys, [str(footage / CLIP), "--audio", str(silence), "--track", str(_track(footage, tracks))])
    assert got["verdict"] == "no speech" and got["offset_frames"] is None


@pytest.mark.parametrize("bad", ["not_audio", "empty"])
def test_a_file_that_is_not_sound_is_refused_by_name(bad, footage, tracks, tmp_path, capsys):
    path = tmp_path / f"{bad}.wav"
    path.write_bytes(b"" if bad == "empty" else b"this is a note, not a recording\n" * 50)
    assert main(["sync-check", str(footage / CLIP), "--audio", str(path), "--track", str(_track(footage, tracks)),
                 "-q"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}.wav" in err and "error" in err and "Traceback" not in err


def test_a_video_without_sound_needs_audio_to_be_given(footage, capsys):
    assert main(["sync-check", str(footage / "lp_d0.mp4"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "lp_d0.mp4" in err and "--audio" in err


def test_the_dubbing_model_is_not_accepted_as_a_meter(footage, tracks, capsys):
    from pipeline.speech_training import DEFAULT_MOUTH_MODEL

    assert main(["sync-check", str(footage / CLIP), "--track", str(_track(footage, tracks)), "--meter",
                 str(DEFAULT_MOUTH_MODEL), "-q"]) == 2
    assert "not a lip-sync meter" in capsys.readouterr().err


def test_train_audio_adapts_the_shipped_model_to_a_speaker_and_writes_a_loadable_file(footage, tracks, tmp_path,
                                                                                         capsys):
    from pipeline.speech_training import DEFAULT_MOUTH_MODEL
    from speech.audio_model import load_audio_model

    _track(footage, tracks)
    out = tmp_path / "actor.pt"
    assert main(["train-audio", str(footage / CLIP), "-o", str(out), "--from", str(DEFAULT_MOUTH_MODEL), "--steps",
                 "20", "--tracks", str(tracks), "-q"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    model = load_audio_model(out)
    assert model.info.kind == "mouth" and model.info.adapted_from and summary["clips"]


def test_a_track_of_another_video_is_refused(footage, tracks, capsys):
    other = _track(footage, tracks, "hdtf_aoc.mp4")
    assert main(["sync-check", str(footage / CLIP), "--track", str(other), "-q"]) == 2
    assert "hdtf_aoc.mp4" in capsys.readouterr().err


def test_speech_of_somebody_else_is_not_read_as_in_sync(footage, tracks, capsys):
    got = _reading(capsys, [str(footage / CLIP), "--audio", str(footage / "dub_en.wav"), "--track",
                            str(_track(footage, tracks))])
    assert got["verdict"] != "in sync"


def test_train_audio_refuses_a_clip_without_sound_and_a_prior_out_of_range(footage, tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert main(["train-audio", str(footage / CLIP), "-o", str(out), "--prior", "1.5", "-q"]) == 2
    assert "--prior 1.5" in capsys.readouterr().err
    assert main(["train-audio", str(footage / "lp_d0.mp4"), "-o", str(out), "--tracks", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert "lp_d0.mp4" in err and "audio" in err and not out.exists()
