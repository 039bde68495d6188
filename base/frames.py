"""What frames and rates are, as the readers and writers exchange them."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]  # (H, W, 3) RGB
DeepFrame = npt.NDArray[np.uint16]  # (H, W, 3) RGB, 0-65535
Rate = Fraction | int | float | str


def as_rate(value: Rate) -> Fraction:
    """A frame rate as an exact fraction; 29.97 and 30000/1001 both work."""
    return Fraction(value).limit_denominator(1001)


def ratio_label(value: Fraction) -> str:
    """A pixel aspect ratio as post tools write it, e.g. "15:16"."""
    return f"{value.numerator}:{value.denominator}"
