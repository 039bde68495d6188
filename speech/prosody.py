"""Formants, pitch and loudness every 10 ms, from Praat's algorithms (praat-parselmouth).

The first two formants place a vowel whatever the language: F1 rises as the jaw
opens, F2 falls as the lips round and the tongue goes back. Pitch marks voicing,
and intensity is the loudness a jaw follows in the crudest lip-sync. All are read
on the phones' grid: frame k is the 10 ms from k / 100 s, read at its centre.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from base.audio import ANALYSIS_RATE
from speech.phones import FRAME_SECONDS

MAX_FORMANT_HZ = 5500.0  # Praat's ceiling for a voice of any sex (5000 suits low voices, 5500 high ones)
QUIET_DB = 30.0  # formants are left out this far below the clip's loud speech (its 95th percentile of intensity)


@dataclass(frozen=True)
class Prosody:
    formants: np.ndarray  # (T, 3) float32 Hz: F1, F2, F3; nan where they cannot be read (silence, noise)
    pitch: np.ndarray  # (T,) float32 Hz; 0 where unvoiced
    intensity: np.ndarray  # (T,) float32 dB SPL as Praat scales it

    def __len__(self) -> int:
        return len(self.pitch)


def grid_frames(samples: int, rate: int = ANALYSIS_RATE) -> int:
    """How many 10 ms frames `samples` samples cover."""
    return int(np.ceil(samples / (rate * FRAME_SECONDS)))


def prosody(samples: np.ndarray, rate: int = ANALYSIS_RATE) -> Prosody:
    """Formants, pitch and intensity of float mono `samples` at every 10 ms frame."""
    import parselmouth

    frames = grid_frames(len(samples), rate)
    if frames == 0:
        return Prosody(np.zeros((0, 3), np.float32), np.zeros(0, np.float32), np.zeros(0, np.float32))
    centres = (np.arange(frames) + 0.5) * FRAME_SECONDS
    # Praat needs a few pitch periods of sound; pad short clips with silence so every reading exists.
    padded = np.concatenate([samples, np.zeros(max(0, int(0.1 * rate) - len(samples)), samples.dtype)])
    sound = parselmouth.Sound(padded.astype(np.float64), sampling_frequency=rate)
    pitch = sound.to_pitch(time_step=FRAME_SECONDS)
    intensity = sound.to_intensity(time_step=FRAME_SECONDS)
    formant = sound.to_formant_burg(time_step=FRAME_SECONDS, max_number_of_formants=5,
                                    maximum_formant=MAX_FORMANT_HZ)
    hz = pitch.selected_array["frequency"]
    voiced = np.interp(centres, pitch.xs(), (hz > 0).astype(float)) > 0.5
    f0 = np.where(voiced, np.interp(centres, pitch.xs(), np.where(hz > 0, hz, np.nan)), 0)
    db = np.interp(centres, intensity.xs(), intensity.values[0])
    values = np.array([[formant.get_value_at_time(n, t) for n in (1, 2, 3)] for t in centres], dtype=float)
    values[db < np.percentile(db, 95) - QUIET_DB] = np.nan
    return Prosody(values.astype(np.float32), np.nan_to_num(f0).astype(np.float32), db.astype(np.float32))
