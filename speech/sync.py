"""The lip-sync meter's arithmetic: how well the mouth seen matches the mouth heard, over a range of lags.

The structure is SyncNet's evaluation: a score for every lag of the sound against
the picture, the offset is the best lag, and the confidence is how far the best
score stands above the median over all lags (a flat curve means the sound says
nothing about the picture, whatever its maximum). The score here is the mean
Pearson correlation between the mouth signals re-tracked from the picture and
the ones the meter's own audio model hears in the sound, over the frames where a
face was tracked. A positive offset means the sound comes late.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_LAG = 15  # frames searched either side
MIN_SPEECH_S = 1.0  # less speech than this gives no reading
MIN_CONFIDENCE = 0.1  # a flatter score curve gives no reading: the speech is too unclear to time
IN_SYNC_FRAMES = 1  # |offset| up to this is in sync


@dataclass(frozen=True)
class SyncReading:
    lags: np.ndarray  # (2 * MAX_LAG + 1,) frames
    scores: np.ndarray  # (len(lags),) the mean correlation at each lag (nan where too few frames)
    speech_seconds: float
    fps: float
    offset: int | None  # the best lag, frames; None when there is no reading
    confidence: float | None
    verdict: str  # "in sync", "out of sync", "no speech" or "unclear"

    @property
    def offset_ms(self) -> float | None:
        return None if self.offset is None else 1000 * self.offset / self.fps

    def describe(self) -> str:
        if self.verdict == "no speech":
            return (f"no speech to judge the sync by ({self.speech_seconds:.1f} s of voice activity, at least "
                    f"{MIN_SPEECH_S:.0f} s needed)")
        if self.verdict == "unclear":
            return (f"no reading: the speech ({self.speech_seconds:.1f} s) does not time the mouth clearly "
                    f"(confidence {np.nanmax(self.scores) - np.nanmedian(self.scores):.2f}, below {MIN_CONFIDENCE})")
        if self.offset == 0:
            where = "sound and picture line up"
        else:
            where = f"the sound comes {'late' if self.offset > 0 else 'early'} by {abs(self.offset)} frame" \
                    f"{'s' if abs(self.offset) != 1 else ''} ({abs(self.offset_ms):.0f} ms)"
        return f"{self.verdict}: {where}, confidence {self.confidence:.2f}"

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "offset_frames": self.offset, "offset_ms": self.offset_ms,
                "confidence": self.confidence, "speech_seconds": round(self.speech_seconds, 2), "fps": self.fps,
                "lags": self.lags.tolist(), "scores": [None if np.isnan(s) else round(float(s), 4)
                                                        for s in self.scores]}


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 1e-12 else 0.0


def lag_scores(seen: np.ndarray, heard, valid: np.ndarray, max_lag: int = MAX_LAG) -> tuple[np.ndarray, np.ndarray]:
    """Scores at lags -max_lag..max_lag: `seen` (F, S) the re-tracked signals, `heard(lag)` (F, S) the heard ones
    with the sound read `lag` frames later, `valid` (F,) the frames to compare."""
    lags = np.arange(-max_lag, max_lag + 1)
    scores = np.full(len(lags), np.nan)
    if valid.sum() < 10:
        return lags, scores
    for i, lag in enumerate(lags):
        h = heard(int(lag))
        scores[i] = np.mean([_pearson(seen[valid, s], h[valid, s]) for s in range(seen.shape[1])])
    return lags, scores


def read_sync(lags: np.ndarray, scores: np.ndarray, speech_seconds: float, fps: float) -> SyncReading:
    """The offset, the confidence and the verdict from a score curve."""
    if speech_seconds < MIN_SPEECH_S or np.isnan(scores).all():
        return SyncReading(lags, scores, speech_seconds, fps, None, None, "no speech")
    best = int(np.nanargmax(scores))
    confidence = float(scores[best] - np.nanmedian(scores))
    if confidence < MIN_CONFIDENCE:
        return SyncReading(lags, scores, speech_seconds, fps, None, None, "unclear")
    offset = int(lags[best])
    verdict = "in sync" if abs(offset) <= IN_SYNC_FRAMES else "out of sync"
    return SyncReading(lags, scores, speech_seconds, fps, offset, confidence, verdict)
