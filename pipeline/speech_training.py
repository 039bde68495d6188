"""`dvp train-audio`: the audio-to-mouth model (or the lip-sync meter's model) from tracked clips with speech.

Each clip is tracked (or its track taken from the tracks folder), its sound
analysed, and the model trained on all of them at once; with `start` an existing
model is adapted instead, to one actor's own way of speaking from that actor's
footage. Clips whose sound holds too little speech are left out with a warning
rather than teaching the model that mouths move in silence.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from base.errors import DvpError, MediaError
from base.progress import progress
from data import DATA_DIR
from pipeline.speech_clips import METER_SIGNALS, TrackedSpeech, tracked_speech
from speech.audio_model import AudioModel, load_audio_model
from speech.audio_training import ADAPT_SETTINGS, SpeechClip, TrainingSettings, train_audio_model
from speech.mouth import MOUTH_CONTROLS

log = logging.getLogger("dvp")

DEFAULT_MOUTH_MODEL = DATA_DIR / "audio_mouth.pt"
DEFAULT_METER_MODEL = DATA_DIR / "sync_meter.pt"
MIN_SPEECH_SHARE = 0.2  # a clip with voice activity in less of its length is left out
METER_SEED = 1  # the meter starts from other weights than the audio-to-mouth model, not only other outputs


def speaking_clips(videos: list[Path], tracks: Path | None, show_progress: bool = False) -> dict[Path, TrackedSpeech]:
    """The videos' tracked speech, leaving out with a warning those whose sound holds too little speech."""
    clips = {}
    for video in progress(videos, len(videos), "clips", show_progress and len(videos) > 1):
        try:
            speech = tracked_speech(video, tracks)
        except MediaError as error:
            raise DvpError(f"{error} (a clip for train-audio needs a speaker on screen and their speech)") from None
        share = speech.speaking.mean()
        if share < MIN_SPEECH_SHARE:
            log.warning("%s: left out, voice activity in only %.0f %% of it", video, 100 * share)
            continue
        clips[video] = speech
    if not clips:
        raise DvpError("none of the clips holds enough speech to train on (voice activity in at least "
                       f"{MIN_SPEECH_SHARE:.0%} of the clip)")
    return clips


def speech_clips(videos: list[Path], kind: str, tracks: Path | None, show_progress: bool) -> list[SpeechClip]:
    """The training clips of `videos`: the mouth's controls for kind "mouth", the meter's signals for "meter"."""
    return [s.mouth_clip() if kind == "mouth" else s.meter_clip()
            for s in speaking_clips(videos, tracks, show_progress).values()]


def train_audio(videos: list[str | os.PathLike], output: str | os.PathLike, meter: bool = False,
                start: str | os.PathLike | None = None, steps: int | None = None, tracks: str | os.PathLike | None = None,
                seed: int | None = None, prior: float | None = None, show_progress: bool = True) -> dict:
    """Train and write the model; the summary as a dict. The seed defaults to 0, or `METER_SEED` for a meter."""
    began = time.perf_counter()
    videos = [Path(v) for v in videos]
    for video in videos:
        if not video.is_file():
            raise DvpError(f"{video}: no such file")
    output = Path(output)
    if output.suffix != ".pt":
        raise DvpError(f"{output}: an audio model is one file named *.pt")
    kind = "meter" if meter else "mouth"
    if prior is not None and not 0 <= prior <= 1:
        raise DvpError(f"--prior {prior}: the viseme mouth's weight is between 0 and 1")
    initial = load_audio_model(start) if start is not None else None
    if initial is not None and initial.info.kind != kind:
        raise DvpError(f"{start}: a {initial.info.kind} model cannot be adapted into a {kind} model")
    clips = speech_clips(videos, kind, Path(tracks) if tracks else None, show_progress)
    defaults = ADAPT_SETTINGS if initial is not None else TrainingSettings()
    settings = TrainingSettings(steps=steps or defaults.steps, learning_rate=defaults.learning_rate,
                                width=defaults.width, seed=(METER_SEED if meter else 0) if seed is None else seed,
                                prior=defaults.prior if prior is None else prior)
    outputs = list(MOUTH_CONTROLS) if kind == "mouth" else list(METER_SIGNALS)
    bar = progress(range(settings.steps), settings.steps, "training steps", show_progress)
    model, losses = train_audio_model(clips, outputs, settings, start=initial, kind=kind,
                                      progress=lambda step, loss: next(bar, None))
    for _ in bar:  # finish the bar
        pass
    model.save(output)
    return {"model": str(output), "kind": kind, "clips": [c.name for c in clips],
            "left_out": sorted({v.name for v in videos} - {c.name for c in clips}),
            "speech_seconds": round(float(sum(c.features.speech.sum() for c in clips)) * 0.01, 1),
            "steps": settings.steps, "prior": model.info.prior, "adapted_from": str(start) if start else None,
            "final_loss": round(float(np.mean(losses[-50:])), 4), "seconds": round(time.perf_counter() - began, 1)}


def default_mouth_model() -> AudioModel:
    return load_audio_model(DEFAULT_MOUTH_MODEL)


def default_meter_model() -> AudioModel:
    return load_audio_model(DEFAULT_METER_MODEL)
