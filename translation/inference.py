"""Running a trained generator: space-time conditioning windows in, frames out.

Batched under `torch.inference_mode`, in channels-last memory (measured 1.4x
faster than the default layout for the `cpu` preset on 2 cores), with a fixed
batch so memory stays bounded whatever is asked of it. bf16 is available but
off by default: on CPUs without AVX-512 bf16 (as the 2-core CI machine) oneDNN
falls back to slow kernels and a bf16 generator ran 50 to 80 times slower; see
`benchmarks/translate.py` for the figures of the machine at hand.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from translation import model_dir as md
from translation.networks import Generator
from translation.plate import hole, plate
from translation.training import to_uint8

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


class Translator:
    """The generator of a model folder, ready for inference."""

    def __init__(self, folder: str | os.PathLike, batch_size: int | None = None, precision: str = "fp32",
                 device: torch.device | str = "cpu"):
        self.folder = Path(folder)
        self.manifest = md.read_manifest(self.folder)
        self.config = md.config_of(self.manifest)
        state = md.load_checkpoint(self.folder)
        if state is None:
            raise md.ModelDirError(f"{self.folder} has no checkpoint yet: training stopped before its first one; "
                                   f"resume it with `dvp train ... -o {self.folder} --resume`")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        self.dtype = PRECISIONS[precision]
        self.step = int(state["step"])
        self.generator = Generator(self.config)
        self.generator.load_state_dict(state.get("generator_average", state["generator"]))  # the average, if kept
        self.device = torch.device(device)
        self.generator = self.generator.eval().to(self.device, self.dtype).to(memory_format=torch.channels_last)
        self.batch_size = batch_size or self.config.batch_size

    @property
    def track_path(self) -> Path:
        return self.folder / md.TRACK

    @torch.inference_mode()
    def __call__(self, windows: torch.Tensor, plates: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 9 * N_w, S, S) uint8 conditioning windows, and for a model with a plate the (B, 4, S, S) uint8
        plates (see `translation.plate`), to (B, 3, S, S) uint8 frames, on the CPU whatever the model's device."""
        expected = (self.config.window_channels, self.config.size, self.config.size)
        if tuple(windows.shape[1:]) != expected:
            raise ValueError(f"this model takes windows of shape {expected}, not {tuple(windows.shape[1:])}")
        if self.config.plate != (plates is not None):
            raise ValueError("this model takes a plate with each window" if self.config.plate else
                             "this model was trained without a plate")
        out = []
        for i in range(0, len(windows), self.batch_size):
            x = windows[i:i + self.batch_size]
            if plates is not None:
                x = torch.cat([x, plates[i:i + self.batch_size]], dim=1)
            # The layout change is done on the bytes, a quarter of the floats' traffic; `to` keeps the layout.
            x = x.contiguous(memory_format=torch.channels_last).to(self.device).to(self.dtype).div_(127.5).sub_(1)
            out.append(to_uint8(self.generator(x)).cpu())
        return torch.cat(out)

    def plates(self, crops: torch.Tensor, faces: list[torch.Tensor]) -> torch.Tensor | None:
        """The plates (B, 4, S, S) uint8 for target crops (B, 3, S, S) uint8 and bool face masks (B, 1, S, S) of
        the heads to replace; None for a model without a plate."""
        return plate(crops, hole(faces)) if self.config.plate else None
