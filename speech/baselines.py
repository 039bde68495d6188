"""Rule-based mouths from speech, for the audio-to-mouth model to be measured against.

`loudness_jaw` is the crudest lip-sync there is: the jaw follows the loudness
envelope while somebody speaks. `viseme_mouth` is the classic of speech
animation: each phone has a mouth shape (a viseme: target values of the face
model's mouth controls) and a dominance that rises before the phone and falls
after it, and the mouth at any time is the dominance-weighted mean of the
targets (Cohen and Massaro, "Modeling coarticulation in synthetic visual
speech", 1993). Lip closures dominate strongly, so p, b and m close the lips
whatever surrounds them; t, d, k and h dominate weakly and take the shape of
their neighbours; the rise before a phone is slower than the fall after it, so
the mouth leads the sound.

Targets are in the face model's control units (1 = the whole motion of
`reconstruction.expressions`); they are set by hand, not fitted.
"""
from __future__ import annotations

import numpy as np

from speech.features import SpeechFeatures
from speech.phones import FRAME_SECONDS, SILENCE, Phone

CONTROLS = ("jaw_open", "lips_close", "lip_pucker", "lip_funnel", "smile_left", "smile_right", "upper_lip_raise")
LOUD_JAW = 0.3  # jaw_open at the clip's loud speech, in `loudness_jaw`
SMOOTH_S = 0.06  # the loudness envelope's moving average

# viseme: (phones, dominance, {control: target}); smile_* stands for both corners (spread lips).
VISEMES: tuple[tuple[tuple[str, ...], float, dict[str, float]], ...] = (
    ((SILENCE,), 0.6, {}),
    (("P", "B", "M"), 3.0, {"jaw_open": 0.04, "lips_close": 1.0}),
    (("F", "V"), 2.0, {"jaw_open": 0.08, "lips_close": 0.3, "upper_lip_raise": 0.3}),
    (("W", "UW"), 0.8, {"jaw_open": 0.1, "lip_pucker": 0.7}),
    (("UH", "OW"), 0.6, {"jaw_open": 0.22, "lip_funnel": 0.5}),
    (("AO", "OY", "AW"), 0.6, {"jaw_open": 0.35, "lip_funnel": 0.3}),
    (("AA", "AE", "AY"), 0.6, {"jaw_open": 0.42}),
    (("AH", "ER"), 0.5, {"jaw_open": 0.28}),
    (("EH", "EY"), 0.5, {"jaw_open": 0.25, "smile": 0.15}),
    (("IH", "IY", "Y"), 0.5, {"jaw_open": 0.12, "smile": 0.3}),
    (("R",), 0.5, {"jaw_open": 0.12, "lip_pucker": 0.35}),
    (("SH", "ZH", "CH", "JH"), 0.6, {"jaw_open": 0.08, "lip_funnel": 0.5}),
    (("S", "Z", "TH", "DH"), 0.4, {"jaw_open": 0.08, "smile": 0.1}),
    (("T", "D", "N", "L"), 0.2, {"jaw_open": 0.12}),
    (("K", "G", "NG", "HH"), 0.15, {"jaw_open": 0.15}),
)
LEAD_S = 0.08  # dominance falls to 1/e this long before a phone's middle (and `TRAIL_S` after it)
TRAIL_S = 0.05


def _viseme_of(label: str) -> tuple[float, np.ndarray]:
    for phones, dominance, targets in VISEMES:
        if label in phones:
            values = np.zeros(len(CONTROLS))
            for name, value in targets.items():
                for control in ((f"{name}_left", f"{name}_right") if name == "smile" else (name,)):
                    values[CONTROLS.index(control)] = value
            return dominance, values
    raise KeyError(f"no viseme for the phone {label!r}")


def viseme_mouth(phones: list[Phone] | tuple[Phone, ...], times: np.ndarray) -> dict[str, np.ndarray]:
    """The mouth controls at `times` (seconds) from timed phones, coarticulated (see the module's docstring)."""
    times = np.asarray(times, float)
    if not phones:
        return {name: np.zeros(len(times)) for name in CONTROLS}
    weighted, total = np.zeros((len(times), len(CONTROLS))), np.zeros(len(times))
    for phone in phones:
        dominance, targets = _viseme_of(phone.label)
        half = (phone.end - phone.start) / 2
        offset = times - (phone.start + phone.end) / 2
        # Full dominance across the phone itself, then an exponential fall, slower before it than after.
        outside = np.maximum(np.abs(offset) - half, 0)
        d = dominance * np.exp(-outside / np.where(offset < 0, LEAD_S, TRAIL_S))
        weighted += d[:, None] * targets[None, :]
        total += d
    mouth = weighted / np.maximum(total, 1e-9)[:, None]
    return {name: mouth[:, i] for i, name in enumerate(CONTROLS)}


def loudness_jaw(features: SpeechFeatures, times: np.ndarray) -> dict[str, np.ndarray]:
    """jaw_open at `times` from the loudness envelope while somebody speaks: 0 at 20 dB below the clip's loud
    speech and in silence, `LOUD_JAW` at loud speech."""
    opening = np.clip(features.column("intensity") + 1, 0, 1) * features.speech
    width = max(1, round(SMOOTH_S / FRAME_SECONDS))
    envelope = np.convolve(opening, np.ones(width) / width, mode="same")
    grid = (np.arange(len(envelope)) + 0.5) * FRAME_SECONDS
    jaw = LOUD_JAW * np.interp(np.asarray(times, float), grid, envelope, left=0, right=0) if len(grid) else \
        np.zeros(len(times))
    return {"jaw_open": jaw}
