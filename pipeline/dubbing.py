"""`dvp dub`: the target actor's lips follow new dialogue, from a dubbing actor's filmed performance or from the dub's
sound alone.

The drive of a dub, over the one job runner (`pipeline.job`):

1. retime (`pipeline.retiming`): voice activity of the target's own dialogue
   and of the dub gives the warp from the dub's clock to the original's; the
   output lasts as long as the dub and every output frame shows the target
   frame at its warped moment: the target's head pose, gaze, blinks, upper face,
   light and plate;
2. mouth: the speech controls (`speech.mouth.MOUTH_CONTROLS`: jaw, lips, mouth
   corners and the detail fields about the lips and chin) are replaced, every
   frame, by the target's rest mouth plus the dub's departures from rest:
   - from the dub's sound: the audio-to-mouth model (`data/audio_mouth.pt`, or
     another from `dvp train-audio`);
   - from a dubbing actor's video: its tracked mouth less its own rest;
   either way scaled to the target's own range of mouth motion: by the ratio
   of the ranges of lip opening (the 5th to 95th percentile of the lip gap in
   millimetres) of the target speaking in its shot and of the dub's mouth;
   within `SCALE_LIMITS`, and 1 when the target does not speak in its shot
   (a regression model's mouth opens less than the speaker's did, and actors
   differ);
3. sound (`pipeline.delivery`): the dub at its own rate and depth, fitted to
   the output, with the M&E stem when given, and its level read back from the
   written file.
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from base.audio import read_audio, read_sound
from base.errors import DvpError
from base.probe import probe, probe_audio
from base.reading import frames_in_order
from base.writing import output_format
from pipeline.delivery import DeliverySettings, deliver, measured
from pipeline.job import Driven, Job, JobOptions, run_job
from pipeline.retiming import plan_warp, target_frames, warn_of
from pipeline.speech_clips import frame_times
from pipeline.speech_training import default_mouth_model
from pipeline.tracking import load_or_track
from pipeline.transfer import Performance, driven_track, hold_invalid
from reconstruction.track import Track
from speech.activity import voice_activity
from speech.audio_model import load_audio_model
from speech.features import analyse, log_mel
from speech.mouth import MOUTH_CONTROLS, LipGeometry, mouth_columns, rest_pose, tracked_mouth
from speech.phones import FRAME_SECONDS

log = logging.getLogger("dvp")

SCALE_LIMITS = (0.5, 2.0)  # the most a dubbing actor's mouth motion is shrunk or grown to the target's range
LEAST_RANGE_MM = 2.0  # a target whose lips open less than this in its shot gives no range to scale to
SPEAKING_FRAMES = 25  # frames of speech needed to read an actor's range of lip opening over their speech


@dataclass(frozen=True)
class DubSettings:
    keep_length: bool = False  # the shot keeps its length; the dub is cut or padded
    same_language: bool = False  # refine the retiming by time warping the two dialogues' spectra
    delivery: DeliverySettings = field(default_factory=DeliverySettings)


@dataclass
class Dub:
    """The drive of a dub: new dialogue (`audio`) and, optionally, the dubbing actor's video (`driver`) whose
    soundtrack is the dialogue unless `audio` is given."""

    audio: Path | None = None
    driver: Path | None = None
    driver_track: Path | None = None
    audio_model: Path | None = None
    settings: DubSettings = field(default_factory=DubSettings)
    kind = "dub"
    default_audio = "source"
    preview_labels = ("original, re-timed", "dub mouth drive", "output")

    @property
    def dialogue(self) -> Path:
        return self.audio if self.audio is not None else self.driver

    @property
    def name(self) -> str:
        return f"the dub {self.dialogue.name}"

    @property
    def source(self) -> Path | None:
        return self.dialogue

    def inputs(self) -> dict[str, Path]:
        found = {"dub audio": self.audio} if self.audio is not None else {}
        if self.driver is not None:
            found["dubbing actor's video"] = self.driver
        if self.settings.delivery.music_effects is not None:
            found["music-and-effects stem"] = self.settings.delivery.music_effects
        return found

    def check(self, options: JobOptions) -> None:
        if self.audio is None and self.driver is None:
            raise DvpError("a dub needs its dialogue: give --audio DUB.wav, or --driver DUBBER_VIDEO with its sound")
        if not probe_audio(self.dialogue):
            raise DvpError(f"{self.dialogue} has no audio stream; a dub needs the new dialogue: "
                           + ("give it with --audio DUB.wav" if self.audio is None else "give a file with sound"))
        if self.driver is not None and self.audio_model is not None:
            raise DvpError("--audio-model gives the mouth from the sound alone; with --driver the dubbing actor's "
                           "video gives it: leave out one of them")
        if self.driver_track is not None and self.driver is None:
            raise DvpError("--driver-track is the dubbing actor's track: give their video with --driver too")
        if options.audio is not None:
            raise DvpError("a dub carries its dialogue: the sound is the --audio file (or the driver's); mix under it "
                           "with --music-effects")
        if self.audio_model is not None:
            model = load_audio_model(self.audio_model)
            if model.info.kind != "mouth":
                raise DvpError(f"{self.audio_model} is a {model.info.kind} model (the lip-sync meter's); a dub's "
                               "mouth comes from a mouth model: leave out --audio-model for the shipped one")

    def perform(self, target_track: Track, target: Path, timecode: str | None, scratch: Path,
                options: JobOptions) -> Driven:
        info = probe(target)
        fps = float(info.fps)
        dialogue = read_sound(self.dialogue)
        speech_samples = read_audio(self.dialogue)
        dub_activity = voice_activity(speech_samples)
        if not dub_activity.any():
            raise DvpError(f"{self.dialogue}: no speech was heard in it; give the dub's dialogue")
        own_sound = read_audio(target) if probe_audio(target) else None
        own_activity = voice_activity(own_sound) if own_sound is not None else None
        original_seconds = info.lead + len(target_track) / fps
        seconds = original_seconds if self.settings.keep_length else dialogue.seconds
        spectra = (standardised(log_mel(own_sound)), standardised(log_mel(speech_samples))) \
            if self.settings.same_language and own_sound is not None else (None, None)
        warp = plan_warp(own_activity, dub_activity, original_seconds, seconds, self.settings.keep_length, *spectra)
        warn_of(warp, fps)
        # the whole dub (its last frame may run a little past it), or the shot's own frames
        count = len(target_track) if self.settings.keep_length else max(1, int(np.ceil(seconds * fps - 1e-6)))
        frames = target_frames(warp, count, fps, info.lead, len(target_track))
        times = (np.arange(count) + 0.5) / fps  # each output frame's moment on the dub's clock
        own_speaking = activity_at(own_activity, frame_times(target, len(target_track))) \
            if own_activity is not None else None
        mouth, mouth_report = self.mouth(target_track, own_speaking, speech_samples, dub_activity, times, scratch,
                                         options)
        performance = dubbed_performance(target_track, frames, mouth)
        sound = deliver(dialogue, count / fps, self.settings.delivery, scratch, warn_length=self.settings.keep_length)
        left = contextlib.closing(frames_in_order(target, frames, scratch))
        delivery = self.settings.delivery
        return Driven(performance, preview_left=left, audio=sound, measure=measured,
                      report={"dub": self.dialogue.name, "driver": self.driver.name if self.driver else None,
                              **mouth_report, "retiming": warp.report(fps),
                              "music_effects": delivery.music_effects.name if delivery.music_effects else None,
                              "stems": delivery.stems, "loudness_target": delivery.loudness})

    def mouth(self, target: Track, own_speaking: np.ndarray | None, speech_samples: np.ndarray,
              dub_activity: np.ndarray, times: np.ndarray, scratch: Path,
              options: JobOptions) -> tuple[np.ndarray, dict]:
        """(N, C) the target's mouth controls at the output frames' `times`, and what the report says of them."""
        controls, gap = tracked_mouth(target)
        valid = target.valid
        quiet = ~own_speaking[valid] if own_speaking is not None else np.zeros(valid.sum(), bool)
        rest = rest_pose(controls[valid], quiet, gap[valid])
        speaking = valid & own_speaking if own_speaking is not None else np.zeros_like(valid)
        own_range = lip_range(gap[speaking]) if speaking.sum() >= SPEAKING_FRAMES else None
        if self.driver is None:
            model = load_audio_model(self.audio_model) if self.audio_model is not None else default_mouth_model()
            features = analyse(speech_samples)
            departures = model.predict(features, times)
            missing = [n for n in MOUTH_CONTROLS if n not in model.info.outputs]
            if missing:
                raise DvpError(f"{self.audio_model}: the model does not give the mouth controls "
                               f"{', '.join(missing[:3])}; train it again with `dvp train-audio`")
            departures = departures[:, [model.info.outputs.index(n) for n in MOUTH_CONTROLS]]
            heard = activity_at(features.speech, times)
            predicted = lip_gaps(target, rest + departures)
            scale = range_scale(own_range, lip_range(predicted[heard] if heard.sum() >= SPEAKING_FRAMES
                                                     else predicted))
            return rest + scale * departures, {"mouth_from": "audio model", "mouth_scale": round(scale, 3),
                                               "audio_model": self.audio_model.name if self.audio_model
                                               else "data/audio_mouth.pt"}
        driver = load_or_track(self.driver, self.driver_track, scratch, options.show_progress, "dubbing actor")
        clock = frame_times(self.driver, len(driver), from_video_start=self.audio is not None)
        departures, scale = driver_mouth(driver, self.driver, target, own_range, times, clock,
                                         activity_at(dub_activity, clock))
        return rest + departures, {"mouth_from": "dubbing actor", "mouth_scale": round(scale, 3)}


def standardised(spectra: np.ndarray) -> np.ndarray:
    return (spectra - spectra.mean(axis=0)) / (spectra.std(axis=0) + 1e-6)


def lip_range(gap: np.ndarray) -> float:
    """Millimetres between the 5th and 95th percentile of the lip gap: how far an actor opens their lips."""
    return float(np.percentile(gap, 95) - np.percentile(gap, 5)) if len(gap) else 0.0


def lip_gaps(target: Track, mouth: np.ndarray) -> np.ndarray:
    """(N,) the target's lip gap in millimetres with `mouth` as its speech controls."""
    expression = np.zeros((len(mouth), len(target.expression_names)))
    expression[:, mouth_columns(target.expression_names)] = mouth
    return LipGeometry.of(target.identity).gap_mm(expression)


def range_scale(ours: float | None, theirs: float) -> float:
    """How much a mouth whose lips open `theirs` millimetres is scaled to open the target's `ours` (see the module
    notes): within `SCALE_LIMITS`, and 1 when the target does not speak in its shot (`ours` None) or barely opens
    its lips when it does."""
    if ours is None or ours < LEAST_RANGE_MM:
        log.info("the target does not speak in its shot, or barely opens its lips: there is no range to scale the "
                 "dub's mouth to, and it is carried over at its own size")
        return 1.0
    return float(np.clip(ours / theirs, *SCALE_LIMITS)) if theirs > 0 else 1.0


def activity_at(activity: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(len(times),) bool: voice activity on the 10 ms grid read at `times` (seconds on its sound's clock)."""
    if not len(activity):
        return np.zeros(len(times), bool)
    return np.asarray(activity, bool)[np.clip(np.floor(np.asarray(times) / FRAME_SECONDS).astype(int), 0,
                                              len(activity) - 1)]


def driver_mouth(driver: Track, video: Path, target: Track, own_range: float | None, times: np.ndarray,
                 clock: np.ndarray, speaking: np.ndarray) -> tuple[np.ndarray, float]:
    """(N, C) the dubbing actor's mouth departures from their rest at `times` (seconds on the dialogue's clock),
    scaled to the target's range, and the scale; `clock` is each driver frame's moment on that clock and
    `speaking` whether the dialogue is heard then. Before the driver's first frame and after its last: rest."""
    if not driver.valid.any():
        raise DvpError(f"{video}: no face was tracked in any frame; the dubbing actor's mouth must be visible")
    if driver.expression_names != target.expression_names:
        raise DvpError("the dubbing actor and the target were tracked with different expression models; re-track "
                       "both with this dvp")
    controls, gap = tracked_mouth(driver)
    valid = driver.valid
    rest = rest_pose(controls[valid], ~speaking[valid], gap[valid])
    speaking_valid = speaking & valid
    scale = range_scale(own_range, lip_range(gap[speaking_valid] if speaking_valid.sum() >= SPEAKING_FRAMES
                                             else gap[valid]))
    holds, _ = hold_invalid(driver)
    departures = (controls[holds] - rest) * scale
    out = np.stack([np.interp(times, clock, departures[:, c], left=0.0, right=0.0)
                    for c in range(departures.shape[1])], axis=1)
    return out.astype(np.float32), scale


def dubbed_performance(target: Track, frames: np.ndarray, mouth: np.ndarray) -> Performance:
    """The target's own performance at `frames` (pose, gaze, blinks, upper face, light) with `mouth` as its speech
    controls."""
    own, _ = hold_invalid(target)
    own = own[frames]
    expression = target.expression[own].astype(np.float64)
    expression[:, mouth_columns(target.expression_names)] = mouth
    track = driven_track(target, frames, target.rotation[own].astype(np.float64),
                         target.translation[own].astype(np.float64), expression, target.gaze[own].astype(np.float64))
    return Performance(track=track, target_frames=frames)


def dub(target: str | os.PathLike, model: str | os.PathLike, output: str | os.PathLike,
        audio: str | os.PathLike | None = None, driver: str | os.PathLike | None = None,
        driver_track: str | os.PathLike | None = None, audio_model: str | os.PathLike | None = None,
        settings: DubSettings | None = None, options: JobOptions | None = None) -> dict:
    """Dub `target` through its trained `model` with new dialogue (`audio`, or the `driver` video's sound), the
    mouth from the driver's video or from the audio model; returns the report."""
    return run_job(dubbing(target, model, output, audio, driver, driver_track, audio_model, settings, options))


def dubbing(target: str | os.PathLike, model: str | os.PathLike, output: str | os.PathLike,
            audio: str | os.PathLike | None = None, driver: str | os.PathLike | None = None,
            driver_track: str | os.PathLike | None = None, audio_model: str | os.PathLike | None = None,
            settings: DubSettings | None = None, options: JobOptions | None = None) -> Job:
    """The dub `dub` runs (see it), to run in one pass or in segments (`pipeline.segments`)."""
    options = options or JobOptions()
    settings = settings or DubSettings()
    settings.delivery.check(output_format(Path(output), options.fmt))
    drive = Dub(Path(audio) if audio else None, Path(driver) if driver else None,
                Path(driver_track) if driver_track else None, Path(audio_model) if audio_model else None, settings)
    return Job(Path(target), drive, Path(output), Path(model), options)
