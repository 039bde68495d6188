"""A picture of speech as the mouth reads it: the waveform with its phones, voice activity, F1 and F2, and mouth
controls over time when there are some to show."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from base.atomic import replacing
from base.audio import ANALYSIS_RATE
from speech.features import SpeechFeatures
from speech.phones import FRAME_SECONDS, SILENCE
from speech.prosody import prosody

LIP_CLOSING = {"P", "B", "M"}
ROUNDED = {"UW", "OW", "W", "UH", "AO", "OY"}


def plot_speech(samples: np.ndarray, features: SpeechFeatures, path: str | Path, title: str = "",
                controls: dict[str, np.ndarray] | None = None, fps: float | None = None) -> Path:
    """Write a PNG of the sound: waveform and phones (lip closures red, rounded vowels blue), voice activity shaded,
    F1 and F2; and below, `controls` (name -> per-frame values at `fps`), when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = len(samples) / ANALYSIS_RATE
    lanes = 3 if controls else 2
    fig, axes = plt.subplots(lanes, 1, figsize=(14, 2.2 * lanes + 0.4), dpi=100, sharex=True)
    wave, formants = axes[0], axes[1]
    t = np.arange(len(samples)) / ANALYSIS_RATE
    wave.plot(t, samples, lw=0.4, color="0.3")
    grid = (np.arange(len(features)) + 0.5) * FRAME_SECONDS
    wave.fill_between(grid, -1, 1, where=features.speech, color="#fde9b5", step="mid", label="voice activity")
    for phone in features.phones:
        if phone.label == SILENCE:
            continue
        colour = "#c0392b" if phone.label in LIP_CLOSING else "#2e6fb7" if phone.label in ROUNDED else "0.15"
        wave.text((phone.start + phone.end) / 2, 0.82, phone.label.lower(), ha="center", fontsize=7, color=colour,
                  rotation=90)
    peak = max(float(np.abs(samples).max(initial=0)), 1e-3)
    wave.set_ylim(-1.05 * peak, 1.05 * peak)
    wave.set_ylabel("sound")
    wave.legend(loc="lower right", fontsize=7)
    p = prosody(samples)
    formants.plot(grid, p.formants[:, 0], ".", ms=2, color="#c0392b", label="F1 (jaw)")
    formants.plot(grid, p.formants[:, 1], ".", ms=2, color="#2e6fb7", label="F2 (lips, tongue)")
    formants.set_ylabel("Hz")
    formants.set_ylim(0, 3000)
    formants.legend(loc="upper right", fontsize=7)
    if controls:
        for name, values in controls.items():
            axes[2].plot(np.arange(len(values)) / fps, values, lw=1.2, label=name)
        axes[2].set_ylabel("control")
        axes[2].legend(loc="upper right", fontsize=7)
    axes[-1].set_xlabel("seconds")
    axes[-1].set_xlim(0, seconds)
    if title:
        axes[0].set_title(title, fontsize=10)
    return _save(fig, path)


def plot_sync(reading, curves: dict, path: str | Path, title: str = "") -> Path:
    """Write a PNG of a lip-sync reading (`speech.sync.SyncReading`): the score over lags with the offset marked,
    and the mouth seen against the mouth heard (at the found offset) over time, one lane per signal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seen, heard, times, valid = curves["seen"], curves["heard"], curves["times"], curves["valid"]
    names = curves.get("names", [f"signal {i}" for i in range(seen.shape[1])])
    fig = plt.figure(figsize=(14, 2.4 * (1 + seen.shape[1])), dpi=100)
    grid = fig.add_gridspec(1 + seen.shape[1], 1)
    lags = fig.add_subplot(grid[0])
    lags.plot(reading.lags, reading.scores, "o-", ms=3, color="0.2")
    lags.axvline(0, color="0.7", lw=0.8)
    if reading.offset is not None:
        lags.axvline(reading.offset, color="#c0392b", lw=1.5, label=f"offset {reading.offset:+d}")
    lags.axhline(np.nanmedian(reading.scores), color="#2e6fb7", lw=0.8, ls="--", label="median over lags")
    lags.set_xlabel("lag of the sound (frames; positive: the sound comes late)")
    lags.set_ylabel("score")
    lags.legend(loc="upper right", fontsize=7)
    lags.set_title(f"{title}: {reading.describe()}" if title else reading.describe(), fontsize=10)
    for i in range(seen.shape[1]):
        ax = fig.add_subplot(grid[1 + i])
        shown = np.where(valid, seen[:, i], np.nan)
        ax.plot(times, shown, lw=1.2, color="0.2", label=f"{names[i]}, seen (re-tracked)")
        ax.plot(times, heard[:, i], lw=1.2, color="#c0392b", label=f"{names[i]}, heard (meter, at the offset)")
        ax.set_ylabel("standardised")
        ax.legend(loc="upper right", fontsize=7)
        ax.set_xlim(times[0] if len(times) else 0, times[-1] if len(times) else 1)
    fig.axes[-1].set_xlabel("seconds")
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    """Lay the figure out, write it whole as a PNG (a partial file renamed when complete), close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    with replacing(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
