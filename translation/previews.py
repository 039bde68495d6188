"""Pictures of training: the loss curves and validation previews, written into the model folder."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from base.atomic import write_bytes, write_png


def to_rgb(images: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) uint8 to (N, H, W, 3)."""
    return images.permute(0, 2, 3, 1).contiguous().numpy()


def preview_grid(conditioning_colour: torch.Tensor, output: torch.Tensor, real: torch.Tensor) -> np.ndarray:
    """One row per frame: conditioning colour | network output | real crop (all uint8, N x 3 x S x S)."""
    rows = [np.concatenate(parts, axis=1) for parts in zip(to_rgb(conditioning_colour), to_rgb(output), to_rgb(real))]
    return np.concatenate(rows, axis=0)


def write_preview(path: Path, conditioning_colour: torch.Tensor, output: torch.Tensor, real: torch.Tensor) -> None:
    write_png(path, preview_grid(conditioning_colour, output, real))


def write_loss_curve(path: Path, history: dict, title: str) -> None:
    """Generator L1 and adversarial losses, discriminator loss, and held-out PSNR against steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, val = history.get("train", []), history.get("validation", [])
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), dpi=100)
    if train:
        steps = [r["step"] for r in train]
        axes[0].plot(steps, [r["l1"] for r in train], color="tab:blue", lw=1)
        axes[1].plot(steps, [r["g_adv"] for r in train], color="tab:orange", lw=1, label="generator")
        axes[1].plot(steps, [r["d"] for r in train], color="tab:green", lw=1, label="discriminator")
        axes[1].legend(fontsize=8)
    if val:
        axes[0].plot([r["step"] for r in val], [r["l1"] for r in val], "o-", color="tab:red", ms=3, lw=1,
                     label="held-out")
        axes[0].legend(["training", "held-out"], fontsize=8)
        axes[2].plot([r["step"] for r in val], [r["psnr"] for r in val], "o-", color="tab:red", ms=3, lw=1)
    axes[0].set_title("L1 (images in [-1, 1])")
    axes[1].set_title("adversarial losses")
    axes[2].set_title("held-out PSNR (dB)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_bytes(path, buffer.getvalue())
