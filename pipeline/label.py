"""The visible label on every output: a short text in a corner saying that the picture was made or changed by a
machine, readable at a glance and small enough to leave the shot usable for review."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from base.errors import DvpError

CORNERS = ("bottom-right", "bottom-left", "top-right", "top-left")
DEFAULT_TEXT = "AI-modified \u00b7 dvp"
MIN_TEXT_PX = 10  # text smaller than this cannot be read


@dataclass(frozen=True)
class Label:
    """What the label says and how it sits: `size` is the text's height over the frame's height, `opacity` how
    much the label covers what is under it (0-1)."""

    text: str = DEFAULT_TEXT
    corner: str = "bottom-right"
    size: float = 0.04
    opacity: float = 0.8

    def check(self) -> None:
        if not self.text.strip():
            raise DvpError("--mark-text is empty: give the label's text, or --no-visible-mark to leave it out")
        if self.corner not in CORNERS:
            raise DvpError(f"--mark-corner {self.corner!r}: choose one of {', '.join(CORNERS)}")
        if not 0.01 <= self.size <= 0.25:
            raise DvpError(f"--mark-size {self.size}: give the text's height as a share of the frame's, "
                           "0.01 to 0.25 (0.04 by default)")
        if not 0.1 <= self.opacity <= 1:
            raise DvpError(f"--mark-opacity {self.opacity}: give 0.1 (faint) to 1 (solid)")


class LabelStamp:
    """A label drawn once for one frame size, then blended into every frame (only the corner's pixels are
    touched)."""

    def __init__(self, label: Label, width: int, height: int) -> None:
        px = max(MIN_TEXT_PX, int(round(label.size * height)))
        font = ImageFont.load_default(size=px)
        left, top, right, bottom = font.getbbox(label.text)
        pad = max(2, px // 3)
        w, h = min(width, right - left + 2 * pad), min(height, bottom - top + 2 * pad)
        text = Image.new("L", (w, h), 0)
        ImageDraw.Draw(text).text((pad - left, pad - top), label.text, fill=255, font=font)
        ink = np.asarray(text, np.float32) / 255.0
        # white text on a dark box: the box at half the opacity, the text at full
        self.alpha = (label.opacity * np.maximum(0.5, ink))[..., None]
        self.colour = (255.0 * ink)[..., None]
        margin = max(2, int(round(0.02 * height)))
        x = margin if label.corner.endswith("left") else width - w - margin
        y = margin if label.corner.startswith("top") else height - h - margin
        self.x, self.y = max(0, x), max(0, y)
        self.w, self.h = w, h

    def stamp(self, frame: np.ndarray) -> np.ndarray:
        """`frame` (H, W, 3) uint8 or uint16, with the label blended in place; returned."""
        top = 65535.0 if frame.dtype == np.uint16 else 255.0
        region = frame[self.y:self.y + self.h, self.x:self.x + self.w]
        h, w = region.shape[:2]
        alpha, colour = self.alpha[:h, :w], self.colour[:h, :w] * (top / 255.0)
        region[...] = np.rint(region * (1 - alpha) + colour * alpha).astype(frame.dtype)
        return frame
