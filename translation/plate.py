"""The background plate: the target's own crop with the head cut out, as an extra input of the generator.

In Deep Video Portraits the network paints the whole crop, background included,
from the face's conditioning alone. With a minute of footage or less, it then
learns each training frame by heart (background, hair and face together) and
falls apart when asked for a face it has not seen. Given the target frame's
crop with a hole where the head is, the network only has to fill the hole:
background, clothes and lighting come in from the plate, and the network's
capacity goes to the head. It also makes geometric augmentation possible (see
`translation.augment`): shifted or turned, the plate still says where the
background is.

The hole is the union of the faces that matter, grown by `HOLE_GROW` face sizes
(as the compositing mask, `pipeline.compositing`): in training, the frame's own
face and that of another training frame (a stand-in for a reenacted head that
has moved); in synthesis, the driven face and the target's original face. The
plate is the crop, black in the hole, plus the hole itself: 4 channels.
"""
from __future__ import annotations

import torch
from torch import nn

from rendering.spacetime import CONDITIONING_CHANNELS

PLATE_CHANNELS = 4
HOLE_GROW = 0.3  # face sizes, as the compositing mask's
_FACE = slice(CONDITIONING_CHANNELS.index("correspondence_x"), CONDITIONING_CHANNELS.index("correspondence_z") + 1)


def rendered_face(conditioning: torch.Tensor) -> torch.Tensor:
    """(B, 1, S, S) bool: where the face is rendered in one frame's conditioning (B, 9, S, S)."""
    return (conditioning[:, _FACE] > 0).any(1, keepdim=True)


def hole(faces: list[torch.Tensor]) -> torch.Tensor:
    """(B, 1, S, S) float 0/1: the union of bool face masks (B, 1, S, S), each sample grown by its face size."""
    union = torch.stack(faces).any(0).float()
    size = union.shape[-1]
    index = torch.arange(size, device=union.device)
    rows, cols = union.amax(3)[:, 0] > 0, union.amax(2)[:, 0] > 0  # (B, S)
    out = torch.empty_like(union)
    for b in range(len(union)):
        if not rows[b].any():
            out[b] = 0
            continue
        extent = max(int(index[rows[b]].max() - index[rows[b]].min()), int(index[cols[b]].max() - index[cols[b]].min()))
        radius = max(1, round(HOLE_GROW * (extent + 1)))
        rows_grown = nn.functional.max_pool2d(union[b:b + 1], (1, 2 * radius + 1), stride=1, padding=(0, radius))
        out[b] = nn.functional.max_pool2d(rows_grown, (2 * radius + 1, 1), stride=1, padding=(radius, 0))[0]
    return out


def plate(crops: torch.Tensor, holes: torch.Tensor) -> torch.Tensor:
    """(B, 4, S, S) in the crops' dtype: the crops (B, 3, S, S), 0..255, black in the hole, and the hole as 0/255."""
    keep = 1 - holes
    return torch.cat([(crops.float() * keep), holes * 255], dim=1).to(crops.dtype)
