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
    fig.tight_layout()
    path = Path(path)
    with replacing(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path
