"""The audio-to-mouth network and its file: speech features in, per-frame mouth signals out, at any frame rate.

A stack of dilated 1-D convolutions over the 10 ms feature rows, symmetric in
time, so every output reads about `CONTEXT_S` of sound before and after it: the
mouth opens before the sound it makes and closes after. It runs over a whole
soundtrack at once (in overlapping chunks for long ones) and its 100 Hz output is
interpolated to the video's frame times, so 24, 25, 29.97 and 60 fps footage are
served alike. What the outputs mean is the file's business: for the dubbing model
they are `speech.mouth.MOUTH_CONTROLS` as departures from the actor's rest; for the
lip-sync meter, standardised measurements of the mouth's opening. Outside speech
the outputs are faded to rest, so a quiet mouth does not chatter. A mouth model
mixes the rule-based viseme mouth into its outputs (`prior`): trained on a few
minutes of a dozen speakers, the network errs differently from the rules, and
their mean follows held-out speakers better than either alone.

The file is a torch state dict with its settings beside it (loaded with
`weights_only`: no pickled code).
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from base.errors import DvpError
from speech.baselines import viseme_mouth
from speech.features import COLUMNS, SpeechFeatures
from speech.phones import FRAME_SECONDS

FORMAT = "dvp-audio-mouth"
VERSION = 1
DILATIONS = (1, 2, 4, 8)
KERNEL = 5
CONTEXT_S = (KERNEL - 1) // 2 * sum(DILATIONS) * FRAME_SECONDS  # what each output reads either side: 0.3 s
SPEECH_HOLD_S = (0.12, 0.15)  # the mouth may move this long before speech starts and after it stops
CHUNK_ROWS = 6000  # rows run at once (60 s), with the context on both sides: memory stays flat on long sound


class _Block(nn.Module):
    def __init__(self, width: int, dilation: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(width, width, KERNEL, padding=dilation * (KERNEL - 1) // 2, dilation=dilation)
        self.mix = nn.Conv1d(width, width, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mix(self.drop(torch.nn.functional.gelu(self.conv(x))))


class MouthNetwork(nn.Module):
    """(B, D, T) feature rows -> (B, C, T) outputs, each reading `CONTEXT_S` either side."""

    def __init__(self, inputs: int, outputs: int, width: int, dropout: float = 0.3):
        super().__init__()
        self.inp = nn.Conv1d(inputs, width, 1)
        self.blocks = nn.Sequential(*(_Block(width, d, dropout) for d in DILATIONS))
        self.out = nn.Conv1d(width, outputs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.nn.functional.gelu(self.blocks(self.inp(x))))


@dataclass
class AudioModelInfo:
    """What a model file says about itself."""

    outputs: list[str]  # names of the output signals, in order
    scale: list[float]  # each output's unit in the network (targets are divided by it in training)
    width: int
    kind: str = "mouth"  # "mouth": controls from rest, for dubbing; "meter": the lip-sync meter's signals
    clips: list[str] = field(default_factory=list)  # what it was trained on (file names)
    steps: int = 0
    adapted_from: str | None = None  # the model this one was adapted from, for an actor's own style
    gated: bool = True  # outputs fade to 0 (rest) outside speech
    prior: float = 0.0  # weight of the rule-based viseme mouth in the outputs (the network gives the rest)


class AudioModel:
    """A trained network and its settings: `predict(features, times)` gives the outputs at any frame times."""

    def __init__(self, network: MouthNetwork, info: AudioModelInfo):
        self.network = network.eval()
        self.info = info

    @classmethod
    def new(cls, outputs: list[str], scale: np.ndarray, width: int = 64, kind: str = "mouth", seed: int = 0,
            gated: bool = True, prior: float = 0.0) -> AudioModel:
        torch.manual_seed(seed)
        info = AudioModelInfo(list(outputs), [float(s) for s in scale], width, kind, gated=gated, prior=prior)
        return cls(MouthNetwork(len(COLUMNS), len(outputs), width), info)

    def rows(self, features: SpeechFeatures) -> np.ndarray:
        """(T, C) the outputs on the features' 10 ms grid, in the outputs' own units, faded to rest outside speech,
        mixed with the viseme mouth by `prior`."""
        x = torch.from_numpy(np.ascontiguousarray(features.values.T))
        pad = round(CONTEXT_S / FRAME_SECONDS)
        out = []
        with torch.inference_mode():
            for start in range(0, len(features), CHUNK_ROWS):
                lo, hi = max(0, start - pad), min(len(features), start + CHUNK_ROWS + pad)
                y = self.network(x[None, :, lo:hi])[0].T.numpy()
                out.append(y[start - lo: start - lo + min(CHUNK_ROWS, len(features) - start)])
        y = (np.concatenate(out) if out else np.zeros((0, len(self.info.outputs)), np.float32)) * np.float32(
            self.info.scale)
        y = y * speech_gate(features)[:, None] if self.info.gated else y
        if self.info.prior:
            y = (1 - self.info.prior) * y + self.info.prior * prior_rows(features, self.info.outputs)
        return y

    def predict(self, features: SpeechFeatures, times: np.ndarray) -> np.ndarray:
        """(len(times), C) the outputs at `times` (seconds on the sound's clock), interpolated between 10 ms rows;
        before and after the sound, rest (zeros)."""
        return sample_rows(self.rows(features), times)

    def save(self, path: str | os.PathLike) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.partial")
        torch.save({"format": FORMAT, "version": VERSION, "info": asdict(self.info),
                    "state": {k: v.detach().clone() for k, v in self.network.state_dict().items()}}, temporary)
        os.replace(temporary, path)


def prior_rows(features: SpeechFeatures, outputs: list[str]) -> np.ndarray:
    """(T, C) the rule-based viseme mouth on the features' 10 ms grid, for the outputs it has (zeros elsewhere)."""
    shapes = viseme_mouth(features.phones, (np.arange(len(features)) + 0.5) * FRAME_SECONDS)
    rows = np.zeros((len(features), len(outputs)), np.float32)
    for c, name in enumerate(outputs):
        if name in shapes:
            rows[:, c] = shapes[name]
    return rows


def sample_rows(rows: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Linear interpolation of (T, C) 10 ms rows (row i centred at (i + 0.5) * 10 ms) at `times`; zeros outside."""
    grid = (np.arange(len(rows)) + 0.5) * FRAME_SECONDS
    times = np.asarray(times, float)
    if not len(rows):
        return np.zeros((len(times), rows.shape[1]), np.float32)
    return np.stack([np.interp(times, grid, rows[:, c], left=0, right=0) for c in range(rows.shape[1])],
                    axis=1).astype(np.float32)


def speech_gate(features: SpeechFeatures) -> np.ndarray:
    """(T,) 1 where the mouth may move for speech (voice activity held `SPEECH_HOLD_S` before and after), falling
    smoothly to 0 elsewhere."""
    speech = features.speech.astype(np.float32)
    before, after = (round(s / FRAME_SECONDS) for s in SPEECH_HOLD_S)
    held = speech.copy()
    for shift in range(1, min(before, len(speech) - 1) + 1):
        held[:-shift] = np.maximum(held[:-shift], speech[shift:])
    for shift in range(1, min(after, len(speech) - 1) + 1):
        held[shift:] = np.maximum(held[shift:], speech[:-shift])
    kernel = np.hanning(7)
    return np.clip(np.convolve(held, kernel / kernel.sum(), mode="same"), 0, 1).astype(np.float32)


def load_audio_model(path: str | os.PathLike) -> AudioModel:
    """A model file from `dvp train-audio`; DvpError when the file is missing or not such a model."""
    path = Path(path)
    if not path.is_file():
        raise DvpError(f"{path}: no such audio model. Make one with `dvp train-audio CLIP... -o {path.name}`.")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise DvpError(f"{path}: not an audio model file ({type(error).__name__}). Give a file from "
                       f"`dvp train-audio`.") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise DvpError(f"{path}: not an audio model file. Give a file from `dvp train-audio`.")
    if saved.get("version") != VERSION:
        raise DvpError(f"{path}: audio model version {saved.get('version')} is not readable by this dvp (it reads "
                       f"version {VERSION}); train it again with `dvp train-audio`.")
    info = AudioModelInfo(**saved["info"])
    network = MouthNetwork(len(COLUMNS), len(info.outputs), info.width)
    network.load_state_dict(saved["state"])
    return AudioModel(network, info)
