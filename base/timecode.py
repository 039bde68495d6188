"""SMPTE timecode labels and frame counts, so edit specs can name frames as an editor's timeline does.

A label HH:MM:SS:FF counts frames at the nominal rate (24 for 23.976, 30 for
29.97, 60 for 59.94). Drop-frame labels (written with ';' or '.' before the
frames) skip the first 2 frame labels of every minute but each tenth at 29.97
(4 at 59.94), so that the label keeps up with the clock: those labels do not
exist, and naming one is an error.
"""
from __future__ import annotations

import re
from fractions import Fraction

# HH:MM:SS:FF, with ';' or '.' before the frames for drop frame: the one pattern for every timecode the project reads
# or writes
TIMECODE = re.compile(r"(\d\d):(\d\d):(\d\d)([:;.])(\d\d)")


class TimecodeError(ValueError):
    """A label that is malformed, or that names no frame at the given rate."""


def nominal_rate(fps: Fraction | float) -> int:
    """The whole number of frame labels per second: 24 for 23.976, 30 for 29.97."""
    return max(1, round(float(fps)))


def is_timecode(text: object) -> bool:
    return isinstance(text, str) and TIMECODE.fullmatch(text.strip()) is not None


def timecode_frames(label: str, fps: Fraction | float) -> int:
    """The number of frames from 00:00:00:00 to `label` at `fps`."""
    match = TIMECODE.fullmatch(label.strip())
    if match is None:
        raise TimecodeError(f"{label!r} is not a timecode: write HH:MM:SS:FF (';' before FF for drop frame)")
    hours, minutes, seconds, sep, frames = (int(g) if g.isdigit() else g for g in match.groups())
    rate = nominal_rate(fps)
    drop = sep in ";."
    if minutes > 59 or seconds > 59 or frames >= rate:
        raise TimecodeError(f"{label} names no frame at {float(fps):g} frames/s (minutes and seconds go to 59, "
                            f"frames to {rate - 1})")
    total = ((hours * 60 + minutes) * 60 + seconds) * rate + frames
    if not drop:
        return total
    if rate % 30:
        raise TimecodeError(f"{label} is a drop-frame timecode, which exists only at 29.97 and 59.94 frames/s, not "
                            f"at {float(fps):g}; write it with ':' before the frames")
    skipped = 2 * rate // 30  # labels dropped at the start of each minute but every tenth
    if seconds == 0 and frames < skipped and minutes % 10:
        raise TimecodeError(f"{label} is a label that drop-frame timecode skips (the first {skipped} of every "
                            "minute but each tenth)")
    all_minutes = hours * 60 + minutes
    return total - skipped * (all_minutes - all_minutes // 10)
