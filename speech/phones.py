"""Phones with their timings, from the English acoustic model that the pocketsphinx wheel carries.

Nothing is downloaded: pocketsphinx 5 ships the en-us acoustic model and a phone
language model in its wheel. In allphone mode the decoder recognises phones with
no words and no dictionary, at its 10 ms frame rate, which is what a mouth model
needs: when the lips close (p, b, m), when they round (uw, ow, w), when the jaw
opens wide (aa, ae). Other languages come out as the nearest English phones; the
mouth shapes of those are close enough for most sounds (see docs/speech.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from base.audio import ANALYSIS_RATE

FRAME_SECONDS = 0.01  # the recogniser's frame step
SILENCE = "SIL"
# The en-us model's phones (CMU ARPAbet without stress) and silence; its noise fillers (+NSN+, +SPN+, ...) are read
# as silence, since the mouth rests in both.
PHONES = ("SIL", "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH",
          "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y",
          "Z", "ZH")


@dataclass(frozen=True)
class Phone:
    label: str  # one of PHONES
    start: float  # seconds
    end: float  # seconds, exclusive


@cache
def _model_files() -> tuple[str, str]:
    from pocketsphinx import get_model_path

    model = Path(get_model_path()) / "en-us"
    return str(model / "en-us"), str(model / "en-us-phone.lm.bin")


def recognise_phones(samples: np.ndarray, rate: int = ANALYSIS_RATE) -> list[Phone]:
    """The phones of float mono `samples` at `rate` (16 kHz: the acoustic model's), in order, covering the sound
    from its start to its end (silence included), with times in seconds from the first sample."""
    if rate != ANALYSIS_RATE:
        raise ValueError(f"the acoustic model takes {ANALYSIS_RATE} Hz sound, not {rate} Hz: read it with "
                         f"base.audio.read_audio, which resamples")
    if len(samples) == 0:
        return []
    from pocketsphinx import Decoder

    acoustic, phone_lm = _model_files()
    # Wide beams, as the phone recogniser needs (the defaults prune phones away); lw 2 weighs the phone LM lightly;
    # dither (seeded: the same sound gives the same phones), so that digital silence reads as silence, not a hiss.
    decoder = Decoder(hmm=acoustic, allphone=phone_lm, lw=2.0, beam=1e-20, pbeam=1e-20, samprate=rate, dither=True,
                      seed=1, loglevel="FATAL")
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    phones: list[Phone] = []
    for seg in decoder.seg():
        label = seg.word if seg.word in PHONES else SILENCE
        start, end = round(seg.start_frame * FRAME_SECONDS, 3), round((seg.end_frame + 1) * FRAME_SECONDS, 3)
        if phones and phones[-1].label == label == SILENCE:
            phones[-1] = Phone(SILENCE, phones[-1].start, end)  # silence and a noise filler side by side: one rest
        else:
            phones.append(Phone(label, start, end))
    return phones


def phone_frames(phones: list[Phone], frames: int, step: float = FRAME_SECONDS) -> np.ndarray:
    """(frames,) int: the index in PHONES of the phone sounding at each `step` from 0 (silence where none does)."""
    out = np.zeros(frames, np.int64)
    for phone in phones:
        first, last = int(round(phone.start / step)), int(round(phone.end / step))
        out[max(first, 0):max(min(last, frames), 0)] = PHONES.index(phone.label)
    return out
