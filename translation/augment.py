"""Geometric augmentation of training samples: a small random shift, scale and roll of the whole crop.

With a few hundred frames of one shot, every head pose the network sees comes
with exactly one position in the crop, and it can learn pose and position as
one. A random similarity transform, the same for the conditioning window, the
real frame and the plate of a sample, shows it the same head a little
elsewhere, so it has to paint the face where the conditioning puts it. Only
with the plate (`translation.plate`): without it the network cannot know where
the static background went, and held-out PSNR fell steeply when this was tried
(see the training page of the docs).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def random_similarity(count: int, shift: float, scale: float, roll_deg: float, generator: torch.Generator,
                      probability: float = 0.5) -> torch.Tensor:
    """(count, 2, 3) affine matrices for `affine_grid`; each sample transformed with `probability`, else identity."""
    def uniform(limit: float) -> torch.Tensor:
        return (torch.rand(count, generator=generator) * 2 - 1) * limit

    on = (torch.rand(count, generator=generator) < probability).float()
    angle = torch.deg2rad(uniform(roll_deg)) * on
    zoom = torch.exp(uniform(math.log1p(scale)) * on)
    tx, ty = uniform(2 * shift) * on, uniform(2 * shift) * on  # grid units: the crop spans -1..1
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    return torch.stack([torch.stack([cos, -sin, tx], -1), torch.stack([sin, cos, ty], -1)], 1)


def transform(images: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Resample (B, C, S, S) images (any dtype, values kept) through (B, 2, 3) matrices; float32 out, 0 outside."""
    grid = nn.functional.affine_grid(matrices, list(images.shape), align_corners=False)
    return nn.functional.grid_sample(images.float(), grid, mode="bilinear", padding_mode="zeros",
                                     align_corners=False)


def transform_samples(tensors: tuple[torch.Tensor, ...], matrices: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The same transform per sample applied to several (B, C, S, S) tensors, float32 out; samples whose matrix is
    the identity are copied as they are, not resampled."""
    moved = (matrices - torch.eye(2, 3, device=matrices.device)).abs().flatten(1).amax(1) > 0
    out = tuple(t.to(torch.float32, copy=True) for t in tensors)
    if moved.any():
        for t in out:
            t[moved] = transform(t[moved], matrices[moved])
    return out
