"""`dvp sync-check`: is the speech in sync with the mouth, and if not, by how many frames.

The picture side is the video tracked again (the lip gap and the jaw opening of
the fitted face); the sound side is the lip-sync meter's own audio model, which
hears the same two signals in the speech. The meter's model is trained apart from
the audio-to-mouth model that dubs are made with (another network, another
objective, its own file), so a dub is not judged by the model that made it.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from base.atomic import write_json
from base.errors import DvpError
from base.probe import probe, probe_audio
from pipeline.speech_clips import METER_SIGNALS, frame_times, sound_features, track_for, tracked_speech
from pipeline.speech_training import default_meter_model
from reconstruction.track import load_track
from speech.audio_model import AudioModel, load_audio_model, sample_rows
from speech.features import COLUMNS, SpeechFeatures
from speech.phones import FRAME_SECONDS
from speech.sync import MAX_LAG, SyncReading, lag_scores, read_sync


def _padded(features: SpeechFeatures, seconds: float) -> tuple[SpeechFeatures, float]:
    """The features with `seconds` of silence rows before and after, and the time the sound now starts at."""
    count = round(seconds / FRAME_SECONDS)
    silence = np.zeros((count, len(COLUMNS)), np.float32)
    silence[:, COLUMNS.index("phone_SIL")] = 1
    return SpeechFeatures(np.concatenate([silence, features.values, silence]), features.phones), count * FRAME_SECONDS


def heard_signals(meter: AudioModel, features: SpeechFeatures, times: np.ndarray, fps: float):
    """A function of the lag (frames) giving (F, S) the signals the meter hears at each frame's time plus the lag;
    beyond the sound's ends the meter hears silence."""
    padded, start = _padded(features, (MAX_LAG + 1) / fps + 0.5)
    rows = meter.rows(padded)
    return lambda lag: sample_rows(rows, times + start + lag / fps)


def check_sync(video: str | os.PathLike, audio: str | os.PathLike | None = None, track: str | os.PathLike | None = None,
               meter: str | os.PathLike | None = None, show_progress: bool = True) -> tuple[SyncReading, dict]:
    """The reading, and the curves behind it (for the plot)."""
    video = Path(video)
    if not video.is_file():
        raise DvpError(f"{video}: no such file")
    if audio is None and not probe_audio(video):
        raise DvpError(f"{video}: has no audio track. Give the speech it should be in sync with: --audio FILE")
    model = load_audio_model(meter) if meter is not None else default_meter_model()
    if model.info.kind != "meter":
        raise DvpError(f"{meter}: a {model.info.kind} model, not a lip-sync meter (made with "
                       f"`dvp train-audio --meter`)")
    given = load_track(track) if track is not None else None
    if audio is None:
        speech = tracked_speech(video, track=given, show_progress=show_progress)
        features, times, seen, valid = speech.features, speech.times, speech.meter_signals(), speech.track.valid
    else:
        features = sound_features(audio)
        tracked = given if given is not None else track_for(video, None, show_progress)
        speech = tracked_speech(video, track=tracked, features=features, times=frame_times(video, len(tracked),
                                                                                             from_video_start=True))
        features, times, seen, valid = speech.features, speech.times, speech.meter_signals(), tracked.valid
    fps = float(probe(video).fps)
    heard = heard_signals(model, features, times, fps)
    lags, scores = lag_scores(seen, heard, valid)
    reading = read_sync(lags, scores, float(features.speech.sum() * FRAME_SECONDS), fps)
    best = 0 if reading.offset is None else reading.offset
    curves = {"times": times, "seen": seen, "heard": heard(best), "valid": valid, "names": list(METER_SIGNALS)}
    return reading, curves


def sync_check(video: str | os.PathLike, audio: str | os.PathLike | None = None,
               track: str | os.PathLike | None = None, meter: str | os.PathLike | None = None,
               report: str | os.PathLike | None = None, plot: str | os.PathLike | None = None,
               show_progress: bool = True) -> dict:
    """Read the sync; write the report and the plot when asked. The summary as a dict."""
    began = time.perf_counter()
    reading, curves = check_sync(video, audio, track, meter, show_progress)
    summary = {"video": str(video), "audio": str(audio or video), **reading.as_dict(),
               "reading": reading.describe(), "seconds": round(time.perf_counter() - began, 2)}
    if plot is not None:
        from speech.plot import plot_sync

        plot_sync(reading, curves, plot, title=Path(video).name)
    if report is not None:
        write_json(report, summary)
    summary.pop("lags")
    summary.pop("scores")
    return summary

