"""Space-time windows: the last N_w frames of conditioning stacked along channels.

Channel layout of one window (N_w = 11 by default, so 99 channels): frame
blocks from the oldest (t - N_w + 1) to the current frame t, each block the 9
conditioning channels in `CONDITIONING_CHANNELS` order. At the start of a shot
the missing past frames are copies of the first frame. A `SpaceTimeWindows`
keeps only the last N_w frames, so memory does not grow with the shot.
"""
from __future__ import annotations

from collections import deque

import torch

CONDITIONING_CHANNELS = ("colour_r", "colour_g", "colour_b",
                         "correspondence_x", "correspondence_y", "correspondence_z",
                         "eye_region", "eye_iris", "eye_pupil")
DEFAULT_WINDOW = 11


def window_channel_names(frames: int = DEFAULT_WINDOW) -> list[str]:
    """Names of the 9 * frames channels, e.g. 't-10/colour_r' ... 't/eye_pupil'."""
    return [f"t-{frames - 1 - j}/{c}" if j < frames - 1 else f"t/{c}"
            for j in range(frames) for c in CONDITIONING_CHANNELS]


class SpaceTimeWindows:
    """Push one frame's conditioning (9, H, W) at a time; get its window (9 * N_w, H, W)."""

    def __init__(self, frames: int = DEFAULT_WINDOW):
        if frames < 1:
            raise ValueError("a space-time window needs at least one frame")
        self.frames = frames
        self._past: deque[torch.Tensor] = deque(maxlen=frames)

    def reset(self) -> None:
        """Start a new shot."""
        self._past.clear()

    def push(self, conditioning: torch.Tensor) -> torch.Tensor:
        return self.push_batch(conditioning[None])[0]

    def push_batch(self, conditioning: torch.Tensor) -> torch.Tensor:
        """Push consecutive frames (B, 9, H, W) at once; get their windows (B, 9 * N_w, H, W), written in one copy."""
        if conditioning.ndim != 4 or conditioning.shape[1] != len(CONDITIONING_CHANNELS):
            raise ValueError(f"conditioning must have {len(CONDITIONING_CHANNELS)} channels, "
                             f"not {conditioning.shape[1 if conditioning.ndim == 4 else 0]}")
        if not self._past:
            self._past.extend([conditioning[0]] * self.frames)
        frames = torch.cat([torch.stack(list(self._past)[1:]), conditioning]) if self.frames > 1 else conditioning
        self._past.extend(conditioning[-self.frames:])
        # frames[j + i] for i < N_w is the window of frame j: unfold lays those out along a new last dimension.
        windows = frames.unfold(0, self.frames, 1)  # (B, 9, H, W, N_w)
        b, c, h, w = conditioning.shape
        return windows.permute(0, 4, 1, 2, 3).reshape(b, self.frames * c, h, w)
