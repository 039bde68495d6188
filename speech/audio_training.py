"""Training an audio-to-mouth network on tracked footage with speech, or adapting one to an actor.

Each example is a few seconds of feature rows and the tracked mouth at the video
frames inside them; the loss compares the network's output, interpolated to each
frame's time, with the tracked values in units of their spread over the training
clips (so the small lip controls count as much as the jaw), and also their change
from frame to frame (so the motion, not only the pose, is learnt). Crops start
anywhere, before and after the sound too, so the network learns to rest in silence.
Feature noise and dropped phone rows keep it from leaning on the recogniser alone;
crops with the upper mel bands emptied teach it narrowband and low-rate sound.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from speech.audio_model import CONTEXT_S, AudioModel, speech_gate
from speech.features import COLUMNS, MEL_BANDS, SpeechFeatures
from speech.phones import FRAME_SECONDS, PHONES

CROP_S = 2.0
BATCH = 16
VELOCITY_WEIGHT = 0.5
GEOMETRY_WEIGHT = 0.1  # per squared millimetre of lip vertex error, beside the standardised controls' error
MEL_NOISE = 0.15
PHONE_DROP = 0.2  # share of crops whose phone rows are hidden (all SIL)
BAND_LIMIT = 0.25  # share of crops heard as through a narrowband channel: the mel bands above a cut emptied
BAND_CUTS = (28, 37)  # the range of the first emptied band (about 3.2 to 6 kHz)


@dataclass(frozen=True)
class SpeechClip:
    """One clip for training or evaluation: its features, its frames' times on the sound's clock, and targets."""

    name: str
    features: SpeechFeatures
    times: np.ndarray  # (F,) seconds
    targets: np.ndarray  # (F, C) in the model's output units
    valid: np.ndarray  # (F,) bool: the frame's target can be trusted (a face was tracked there)
    geometry: np.ndarray | None = None  # (C, G): what a unit of each output moves the lip vertices, mm (G = L * 3)

    @property
    def seconds(self) -> float:
        return len(self.features) * FRAME_SECONDS


@dataclass(frozen=True)
class TrainingSettings:
    steps: int = 800
    learning_rate: float = 2e-3
    width: int = 32
    seed: int = 0
    prior: float = 0.5  # weight of the viseme mouth mixed into a new mouth model's outputs when it predicts


ADAPT_SETTINGS = TrainingSettings(steps=300, learning_rate=3e-4)


def _silence_rows(count: int) -> np.ndarray:
    rows = np.zeros((count, len(COLUMNS)), np.float32)
    rows[:, COLUMNS.index("phone_SIL")] = 1
    return rows


class _Batches:
    """Random crops of the clips, padded with silence beyond their ends."""

    def __init__(self, clips: list[SpeechClip], scale: np.ndarray, rng: np.random.Generator):
        self.pad = round(CONTEXT_S / FRAME_SECONDS)
        self.length = round(CROP_S / FRAME_SECONDS)
        self.clips, self.rng = clips, rng
        margin = self.length // 2
        self.rows = [np.concatenate([_silence_rows(self.pad + margin), c.features.values,
                                     _silence_rows(self.pad + margin)]) for c in clips]
        self.gates = [np.pad(speech_gate(c.features), (self.pad + margin, self.pad + margin)) for c in clips]
        self.offset = self.pad + margin  # row of the sound's start in the padded rows
        self.targets = [(c.targets / scale).astype(np.float32) for c in clips]
        self.geometry = [None if c.geometry is None else torch.from_numpy((scale[:, None] * c.geometry).astype(
            np.float32)) for c in clips]
        weights = np.array([c.seconds for c in clips])
        self.weights = weights / weights.sum()
        self.phones = slice(MEL_BANDS, MEL_BANDS + len(PHONES))

    def sample(self):
        x = np.empty((BATCH, len(COLUMNS), self.length + 2 * self.pad), np.float32)
        gates = np.empty((BATCH, self.length + 2 * self.pad), np.float32)
        positions, targets, owners, geometry = [], [], [], []
        for b in range(BATCH):
            k = self.rng.choice(len(self.clips), p=self.weights)
            clip, rows = self.clips[k], self.rows[k]
            start = int(self.rng.integers(0, len(rows) - self.length - 2 * self.pad + 1))
            window = rows[start:start + self.length + 2 * self.pad].copy()
            window[:, :MEL_BANDS] += self.rng.normal(0, MEL_NOISE, (len(window), MEL_BANDS)).astype(np.float32)
            if self.rng.random() < BAND_LIMIT:  # as `features.empty_bands` leaves a low-rate recording
                window[:, int(self.rng.integers(*BAND_CUTS)):MEL_BANDS] = 0
            if self.rng.random() < PHONE_DROP:
                window[:, self.phones] = 0
                window[:, MEL_BANDS] = 1
            x[b] = window.T
            gates[b] = self.gates[k][start:start + self.length + 2 * self.pad]
            # Frames whose time lies in the crop's middle, where the network sees its whole context.
            pos = clip.times / FRAME_SECONDS - 0.5 + self.offset - start
            keep = clip.valid & (pos >= self.pad) & (pos <= self.pad + self.length - 1)
            positions.append(pos[keep])
            targets.append(self.targets[k][keep])
            owners.append(np.full(keep.sum(), b))
            geometry.append(self.geometry[k])
        return (torch.from_numpy(x), torch.from_numpy(gates), torch.from_numpy(np.concatenate(positions)),
                torch.from_numpy(np.concatenate(targets)), torch.from_numpy(np.concatenate(owners)), geometry)


def _at(output: torch.Tensor, owners: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(N, C) the (B, C, T) output linearly interpolated at fractional row positions of the given crops."""
    lo = positions.floor().long().clamp(0, output.shape[2] - 2)
    w = (positions - lo).float().clamp(0, 1)[:, None]
    return output[owners, :, lo] * (1 - w) + output[owners, :, lo + 1] * w


def _velocity(values: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
    same = owners[1:] == owners[:-1]
    return (values[1:] - values[:-1])[same]


def _lip_error(difference: torch.Tensor, owners: torch.Tensor, geometry: list[torch.Tensor | None]) -> torch.Tensor:
    """Mean squared lip vertex displacement (mm) that the difference of controls makes on each crop's actor."""
    total, count = difference.new_zeros(()), 0
    for b, matrix in enumerate(geometry):
        rows = difference[owners == b]
        if matrix is None or not len(rows):
            continue
        total = total + ((rows @ matrix) ** 2).sum()
        count += rows.shape[0] * matrix.shape[1]
    return total / max(count, 1)


def train_audio_model(clips: list[SpeechClip], outputs: list[str], settings: TrainingSettings = TrainingSettings(),
                      start: AudioModel | None = None, kind: str = "mouth",
                      progress: Callable[[int, float], None] | None = None) -> tuple[AudioModel, list[float]]:
    """A model trained on `clips` (or `start` adapted to them), and its loss every step."""
    if not clips:
        raise ValueError("no clips to train on")
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    if start is None:
        stacked = np.concatenate([c.targets[c.valid] for c in clips])
        scale = np.maximum(stacked.std(axis=0), 1e-3)
        model = AudioModel.new(outputs, scale, settings.width, kind, settings.seed, gated=kind == "mouth",
                               prior=settings.prior if kind == "mouth" else 0.0)
    else:
        model = start
        scale = np.asarray(start.info.scale, np.float32)
        model.info.adapted_from = ", ".join(start.info.clips) or "a model"
    network = model.network.train()
    batches = _Batches(clips, scale, rng)
    optimiser = torch.optim.AdamW(network.parameters(), lr=settings.learning_rate, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, settings.learning_rate, total_steps=settings.steps,
                                                   pct_start=0.1)
    losses = []
    for step in range(settings.steps):
        x, gates, positions, targets, owners, geometry = batches.sample()
        out = network(x)
        if model.info.gated:
            out = out * gates[:, None, :]
        predicted = _at(out, owners, positions)
        loss = torch.mean((predicted - targets) ** 2) + VELOCITY_WEIGHT * torch.mean(
            (_velocity(predicted, owners) - _velocity(targets, owners)) ** 2) + GEOMETRY_WEIGHT * _lip_error(
            predicted - targets, owners, geometry)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step, losses[-1])
    network.eval()
    model.info.clips = sorted(set(model.info.clips) | {c.name for c in clips})
    model.info.steps += settings.steps
    return model, losses
