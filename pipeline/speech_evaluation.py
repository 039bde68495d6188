"""How well a mouth heard in speech matches the mouth tracked on screen, for the model and the baselines.

The measures are those of the speech-animation literature: the Pearson
correlation of the jaw opening and of the lip gap with the tracked ones, and the
lip vertex error (per frame the largest distance over the lip vertices, in mm,
averaged). Predicted controls are departures from the actor's rest; they are put
on the held-out clip's own rest (read from its track, as a dub reads the target's),
and the controls that speech does not move keep their tracked values, so only the
mouth is compared. Also measured is how the mouth behaves: closed on p, b and m,
rounded on rounded vowels, still in silence, and how far it leads the sound.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.speech_clips import TrackedSpeech
from speech.audio_model import AudioModel
from speech.baselines import loudness_jaw, viseme_mouth
from speech.mouth import MOUTH_CONTROLS
from speech.phones import FRAME_SECONDS
from speech.plot import LIP_CLOSING, ROUNDED


@dataclass(frozen=True)
class MouthScores:
    jaw_r: float
    gap_r: float
    lip_error_mm: float
    closed_on_bilabials_mm: float  # mean lip gap during p, b, m (nan without any)
    open_on_vowels_mm: float  # mean lip gap during the other voiced phones
    pucker_rounded: float  # mean lip_pucker + lip_funnel on rounded vowels, minus that on the other vowels
    silent_motion_mm: float  # frame-to-frame change of the lip gap in silence, mean absolute (chatter)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-9 or b.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _phone_mask(speech: TrackedSpeech, labels: set[str]) -> np.ndarray:
    mask = np.zeros(len(speech.times), bool)
    for phone in speech.features.phones:
        if phone.label in labels:
            mask |= (speech.times >= phone.start) & (speech.times < phone.end)
    return mask


def score_mouth(speech: TrackedSpeech, mouth: np.ndarray) -> MouthScores:
    """Scores of (F, C) absolute `MOUTH_CONTROLS` against the clip's track."""
    valid = speech.track.valid
    lips = speech.lips()
    full = speech.full_expression(mouth)
    gap = lips.gap_mm(full)
    error = lips.vertex_error_mm(full, speech.track.expression)
    bilabial = _phone_mask(speech, LIP_CLOSING) & valid
    vowels = _phone_mask(speech, {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH",
                                  "UW"}) & valid
    rounded = _phone_mask(speech, ROUNDED) & vowels
    rounding = mouth[:, MOUTH_CONTROLS.index("lip_pucker")] + mouth[:, MOUTH_CONTROLS.index("lip_funnel")]
    silent = ~speech.speaking & valid
    steps = np.abs(np.diff(gap))[(silent[1:] & silent[:-1])]
    return MouthScores(
        _pearson(mouth[valid, 0], speech.controls[valid, 0]), _pearson(gap[valid], speech.lip_gap[valid]),
        float(error[valid].mean()),
        float(gap[bilabial].mean()) if bilabial.any() else float("nan"),
        float(gap[vowels & ~bilabial].mean()) if vowels.any() else float("nan"),
        float(rounding[rounded].mean() - rounding[vowels & ~rounded].mean()) if rounded.any() else float("nan"),
        float(steps.mean()) if len(steps) else float("nan"))


def model_mouth(speech: TrackedSpeech, model: AudioModel) -> np.ndarray:
    return model.predict(speech.features, speech.times) + speech.rest


def viseme_baseline(speech: TrackedSpeech) -> np.ndarray:
    mouth = np.tile(speech.rest, (len(speech.times), 1))
    for name, values in viseme_mouth(speech.features.phones, speech.times).items():
        mouth[:, MOUTH_CONTROLS.index(name)] += values
    return mouth


def loudness_baseline(speech: TrackedSpeech) -> np.ndarray:
    mouth = np.tile(speech.rest, (len(speech.times), 1))
    mouth[:, 0] += loudness_jaw(speech.features, speech.times)["jaw_open"]
    return mouth


def lead_seconds(speech: TrackedSpeech, model: AudioModel, max_lag_s: float = 0.2) -> float:
    """How long the predicted lip gap leads the sound's onset of speech on average: the lag that best lines up the
    predicted gap's rise with the voice-activity onsets (positive: the mouth moves first)."""
    rows = model.rows(speech.features)
    gate = speech.features.speech.astype(float)
    onsets = np.flatnonzero(np.diff(gate) > 0) + 1
    opening = np.abs(rows[:, 0])
    if not len(onsets):
        return float("nan")
    lags = np.arange(-round(max_lag_s / FRAME_SECONDS), round(max_lag_s / FRAME_SECONDS) + 1)
    # Mean opening profile around the onsets; the lead is where it first reaches half its level 0.2 s after.
    profile = np.array([np.mean([opening[o + k] for o in onsets if 0 <= o + k < len(opening)]) for k in lags])
    after = profile[-1]
    if after <= 1e-6:
        return float("nan")
    first = np.flatnonzero(profile >= 0.5 * after)
    return float(-lags[first[0]] * FRAME_SECONDS) if len(first) else float("nan")
