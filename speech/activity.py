"""Voice activity every 10 ms: where somebody speaks, so that the mouth rests closed everywhere else.

Two readings must agree: pocketsphinx's voice activity detector (the WebRTC
classifier, on 30 ms frames) and loudness within `RANGE_DB` of the clip's loud
speech, which keeps a quiet room's hum and breath out. The result is smoothed as
a mouth would be: pauses shorter than `BRIDGE_S` are bridged (a mouth does not
close between two words of a phrase) and bursts shorter than `MIN_SPEECH_S` are
dropped (a click, a cough).
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import binary_closing, binary_opening

from base.audio import ANALYSIS_RATE
from speech.phones import FRAME_SECONDS
from speech.prosody import grid_frames

RANGE_DB = 35.0  # speech is at most this far below the clip's loud speech (its 95th percentile of frame energy)
BRIDGE_S = 0.2
MIN_SPEECH_S = 0.08
VAD_FRAME_S = 0.03
VAD_MODE = 2  # 0 (lenient) to 3 (strict)


def frame_energy_db(samples: np.ndarray, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """(T,) mean-square energy in dB full scale of each 10 ms frame."""
    hop = round(rate * FRAME_SECONDS)
    frames = grid_frames(len(samples), rate)
    padded = np.zeros(frames * hop, np.float64)
    padded[:len(samples)] = samples
    return 10 * np.log10(np.mean(padded.reshape(frames, hop) ** 2, axis=1) + 1e-12)


def voice_activity(samples: np.ndarray, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """(T,) bool on the 10 ms grid: somebody speaks."""
    from pocketsphinx import Vad

    frames = grid_frames(len(samples), rate)
    if frames == 0:
        return np.zeros(0, bool)
    vad = Vad(mode=VAD_MODE, frame_length=VAD_FRAME_S, sample_rate=rate)
    size = vad.frame_bytes // 2
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    pcm = np.concatenate([pcm, np.zeros(-len(pcm) % size, "<i2")])
    voiced = np.array([vad.is_speech(pcm[i:i + size].tobytes()) for i in range(0, len(pcm), size)], bool)
    per = round(VAD_FRAME_S / FRAME_SECONDS)
    voiced = np.repeat(voiced, per)[:frames]
    energy = frame_energy_db(samples, rate)
    loud = energy > np.percentile(energy, 95) - RANGE_DB
    active = voiced & loud & (energy > -70)  # and never in digital silence, whatever the clip's level
    bridge, least = round(BRIDGE_S / FRAME_SECONDS), round(MIN_SPEECH_S / FRAME_SECONDS)
    pad = bridge + least
    active = np.pad(active, pad)  # so the structuring elements see past the ends as silence
    active = binary_closing(active, np.ones(bridge + 1, bool))
    active = binary_opening(active, np.ones(least, bool))
    return active[pad:pad + frames]
