"""The speech features a mouth model reads, every 10 ms, normalised per speaker.

One row per 10 ms frame: the log-mel spectrum (what was said and how loudly),
the recognised phone (one-hot over `PHONES`), the first three formants, pitch,
voicing, intensity, and voice activity. Speaker normalisation makes a low voice
and a high one, a close microphone and a far one, read alike: the log-mel bands
and the formants are standardised over the clip's own speech frames (Lobanov's
normalisation of formants), pitch is in semitones about the speaker's median,
intensity in dB below the clip's loud speech.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from base.audio import ANALYSIS_RATE
from speech.activity import voice_activity
from speech.phones import FRAME_SECONDS, PHONES, Phone, phone_frames, recognise_phones
from speech.prosody import grid_frames, prosody

MEL_BANDS = 40
WINDOW_S = 0.025  # the analysis window of the log-mel spectrum, centred on each 10 ms frame
FLOOR_DB = 80.0  # the log-mel floor, below the recording's loudest band
EMPTY_BAND_SPREAD = 0.5  # a band whose log energy varies less than this (nats) during speech carries nothing
COLUMNS = (*(f"mel{i}" for i in range(MEL_BANDS)), *(f"phone_{p}" for p in PHONES), "f1", "f2", "f3", "pitch",
           "voiced", "intensity", "speech")


@dataclass(frozen=True)
class SpeechFeatures:
    values: np.ndarray  # (T, len(COLUMNS)) float32, one row per 10 ms from the start of the sound
    phones: tuple[Phone, ...]  # as recognised, with their times

    def __len__(self) -> int:
        return len(self.values)

    def column(self, name: str) -> np.ndarray:
        return self.values[:, COLUMNS.index(name)]

    @property
    def speech(self) -> np.ndarray:
        """(T,) bool: somebody speaks."""
        return self.column("speech") > 0.5

    def windows(self, times: np.ndarray, context: float) -> np.ndarray:
        """(len(times), 2 * C + 1, D): the rows within `context` seconds either side of the 10 ms frame that holds
        each time (C = context / 10 ms), for a model that reads what comes before and after; beyond the ends the
        sound is silence (zeros, the phone SIL)."""
        c = round(context / FRAME_SECONDS)
        centre = np.floor(np.asarray(times, float) / FRAME_SECONDS + 1e-6).astype(int)
        index = centre[:, None] + np.arange(-c, c + 1)[None, :]
        rest = np.zeros(len(COLUMNS), np.float32)
        rest[COLUMNS.index("phone_SIL")] = 1
        padded = np.concatenate([self.values, rest[None]])  # row -1 is silence
        return padded[np.where((index >= 0) & (index < len(self)), index, -1)]


@cache
def _mel_filters(rate: int, n_fft: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=MEL_BANDS, fmin=60, fmax=7600).astype(np.float32)


def log_mel(samples: np.ndarray, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """(T, MEL_BANDS) natural-log mel energies, a Hann window of `WINDOW_S` centred on each 10 ms frame."""
    hop, win = round(rate * FRAME_SECONDS), round(rate * WINDOW_S)
    n_fft = 1 << (win - 1).bit_length()
    frames = grid_frames(len(samples), rate)
    padded = np.pad(samples.astype(np.float32), (win, win + hop))
    starts = win + (np.arange(frames) * hop + hop // 2) - win // 2
    chunks = padded[starts[:, None] + np.arange(win)[None, :]] * np.hanning(win).astype(np.float32)
    energy = (np.abs(np.fft.rfft(chunks, n_fft, axis=1)) ** 2) @ _mel_filters(rate, n_fft).T
    # The floor sits a fixed range below the recording's loudest band, not at a fixed level, so that a quiet
    # recording's spectrum is not squashed against it and the same speech reads alike at any gain.
    floor = max(float(energy.max(initial=0.0)), 1e-20) * 10 ** (-FLOOR_DB / 10)
    return np.log(energy + floor).astype(np.float32)


def empty_bands(log_energy: np.ndarray, speech: np.ndarray) -> np.ndarray:
    """(MEL_BANDS,) bool: the bands the recording does not carry (above the cut of a narrowband or low-rate
    recording, resampled), which hold no more than the floor's constant while the voice speaks."""
    rows = log_energy[speech] if speech.sum() >= 10 else log_energy
    if len(rows) < 2:
        return np.zeros(log_energy.shape[1], bool)
    return rows.std(axis=0) < EMPTY_BAND_SPREAD


def _standardise(x: np.ndarray, where: np.ndarray) -> np.ndarray:
    """(T, D) x standardised by the mean and deviation of its rows where `where` holds (all rows when too few do),
    rows with a nan left out."""
    rows = x[where] if where.sum() >= 10 else x
    rows = rows[~np.isnan(rows).any(axis=1)]
    if len(rows) < 2:
        return np.zeros_like(x)
    return (x - rows.mean(axis=0)) / (rows.std(axis=0) + 1e-6)


def analyse(samples: np.ndarray, rate: int = ANALYSIS_RATE) -> SpeechFeatures:
    """The features of float mono `samples` at 16 kHz (see `base.audio.read_audio`)."""
    frames = grid_frames(len(samples), rate)
    phones = recognise_phones(samples, rate)
    talk = voice_activity(samples, rate)
    energy = log_mel(samples, rate)
    mel = _standardise(energy, talk)
    mel[:, empty_bands(energy, talk)] = 0  # standardising would blow their rounding noise up into a signal
    one_hot = np.eye(len(PHONES), dtype=np.float32)[phone_frames(phones, frames)]
    p = prosody(samples, rate)
    formants = np.nan_to_num(_standardise(p.formants, talk & ~np.isnan(p.formants).any(axis=1)))
    voiced = p.pitch > 0
    semitones = np.zeros(frames, np.float32)
    if voiced.any():
        semitones[voiced] = 12 * np.log2(p.pitch[voiced] / np.median(p.pitch[voiced]))
    loud = np.percentile(p.intensity, 95) if frames else 0.0
    intensity = np.clip((p.intensity - loud) / 20.0, -3, 1)  # 0 at loud speech, -1 per 20 dB below
    values = np.concatenate([mel, one_hot, formants, semitones[:, None] / 12, voiced[:, None], intensity[:, None],
                             talk[:, None]], axis=1).astype(np.float32)
    return SpeechFeatures(values, tuple(phones))
