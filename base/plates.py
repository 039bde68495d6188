"""How the target's frames go into an output: the work on 8-bit, square-pixel, progressive frames, and what it
changed carried onto the target's frames as the output stores them.

The network, compositing and gaze warp work on the frames tracking and training saw: 8 bits, square pixels, the
fields of interlaced footage blended. An output keeps what the footage has beyond that (10 or 16 bits, non-square
pixels, two fields) by being written from the target's own frames, with only the work's change applied to them, so
every pixel the job leaves alone is the shot's own.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from base.colour import BT709, Colour
from base.frames import DeepFrame, Frame, ratio_label
from base.probe import VideoInfo
from base.reading import VideoReader, blend_fields

DEEP_FORMATS = ("prores", "png")


@dataclass(frozen=True)
class Plates:
    """How the target's frames go into an output. The work (tracking, network, compositing, gaze warp) is done on
    8-bit, square-pixel, progressive frames; an output that keeps the footage's depth (`deep`), its non-square
    pixels (`stored`) or its two interlaced fields (`woven`) is written from the target's own frames, with only what
    the work changed applied to them (`apply_change`)."""

    deep: bool
    stored: bool
    work_size: tuple[int, int]  # (width, height): square pixels, as the tracks and models see the shot
    size: tuple[int, int]  # (width, height) of the output
    sar: Fraction  # the output's pixel aspect ratio
    field_order: str = "progressive"  # the output's: "tff" / "bff" when it keeps interlaced fields
    field_axis: int = 0  # the axis along which the frames' fields alternate (see `VideoInfo.field_axis`)
    colour: Colour = BT709  # the output's colour description: the footage's own

    @classmethod
    def of(cls, info: VideoInfo, fmt: str, keep_depth: bool = True, draft: bool = False) -> Plates:
        """Plates for an output in `fmt` of footage like `info`; a draft (a pilot pass, only tracked) keeps none of
        it."""
        deep = keep_depth and keeps_depth(info, fmt) and not draft
        stored = info.sar != 1 and not draft
        work = (info.display_width, info.display_height)
        colour = BT709 if draft else info.resolved_colour
        return cls(deep, stored, work, info.stored_size if stored else work,
                   info.stored_sar if stored else Fraction(1),
                   info.upright_field_order if not draft else "progressive", info.field_axis, colour)

    @property
    def woven(self) -> bool:
        return self.field_order != "progressive"

    @property
    def kept(self) -> bool:
        """Whether the target's frames are read as the output stores them rather than as the work sees them."""
        return self.deep or self.stored or self.woven

    def reader(self, video: str | Path) -> VideoReader:
        return VideoReader(video, deep=self.deep, stored=self.stored, woven=self.woven)

    def work(self, plate: Frame | DeepFrame) -> Frame:
        """The 8-bit, square-pixel, progressive frame the work is done on."""
        frame = to_8bit(plate) if self.deep else plate
        if self.stored:  # bicubic, as `VideoReader` makes the pixels square for tracking and training
            halved = self.work_size[0] * self.work_size[1] * 2 < frame.shape[0] * frame.shape[1]
            frame = cv2.resize(frame, self.work_size, interpolation=cv2.INTER_AREA if halved else cv2.INTER_CUBIC)
        if self.woven:  # after resizing, as `VideoReader` blends the fields of the frames it made square
            frame = blend_fields(frame, self.field_axis)
        return frame

    def output(self, result: Frame, work: Frame, plate: Frame | DeepFrame) -> Frame | DeepFrame:
        """The frame to write: the work's `result`, or its change applied to the kept `plate`."""
        if not self.kept:
            return result
        return apply_change(result, work, plate, self.field_axis if self.woven else None)

    @property
    def pixel_aspect(self) -> str:
        """The output's pixel aspect ratio as post tools write it, e.g. "15:16"."""
        return ratio_label(self.sar)

    @property
    def frame_bytes(self) -> int:
        """Memory a frame of a batch takes: the work frame, and the kept plate."""
        (w, h), (sw, sh) = self.work_size, self.size
        return w * h * 3 + (sw * sh * 3 * (2 if self.deep else 1) if self.kept else 0)


def keeps_depth(info: VideoInfo, fmt: str) -> bool:
    """Whether an output in `fmt` of footage like `info` should be written from 16-bit frames: the footage has more
    than 8 bits per component and the format can hold them (ProRes 422 HQ: 10; PNG: 16; H.264 here: 8)."""
    return info.bits_per_component > 8 and fmt in DEEP_FORMATS


def to_8bit(frame: DeepFrame) -> Frame:
    """A uint16 frame at 8 bits, rounded to the nearest level (65535 is 255)."""
    return cv2.convertScaleAbs(frame, alpha=1 / 257)


def apply_change(result: Frame, work: Frame, plate: Frame | DeepFrame,
                 field_axis: int | None = None) -> Frame | DeepFrame:
    """What the 8-bit, square-pixel work changed (`result` against the `work` frame it started from), applied to
    the target's own frame `plate` as the output stores it: at 16 bits, and/or at its stored size where its pixels
    are not square. Every pixel the work left alone keeps its value exactly; a changed one moves by the change
    (in whole 8-bit steps at 16 bits, so a soft blend edge keeps the plate's fine gradations under it), resampled
    to the stored pixels where they are not square. For an interlaced plate (`field_axis` given) a changed pixel
    moves from the plate's fields blended, as the work saw it: adding the change to one field's line would bring
    back the combs of the shot's own motion inside a picture the work painted anew."""
    if result is work:
        return plate
    step = cv2.absdiff(result, work)
    changed = (step[..., 0] | step[..., 1] | step[..., 2]) > 0  # 17 times as fast as (result != work).any(axis=2)
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    if not len(rows):
        return plate
    unit, top = (257, 65535) if plate.dtype == np.uint16 else (1, 255)
    base = plate if field_axis is None else blend_fields(plate, field_axis)
    out = plate.copy()
    if plate.shape[:2] == work.shape[:2]:
        box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        moved = np.clip(base[box].astype(np.int32) + (result[box].astype(np.int32) - work[box]) * unit, 0, top)
        if field_axis is None:  # the unchanged pixels of the box move by nothing
            out[box] = moved
        else:  # only the changed ones leave the woven plate
            cv2.copyTo(moved.astype(plate.dtype), changed[box].view(np.uint8), out[box])
        return out
    (y0, y1, v0, v1), (x0, x1, u0, u1) = (_aligned_span(rows[0], rows[-1] + 1, work.shape[0], plate.shape[0]),
                                          _aligned_span(cols[0], cols[-1] + 1, work.shape[1], plate.shape[1]))
    change = cv2.subtract(result[y0:y1, x0:x1], work[y0:y1, x0:x1], dtype=cv2.CV_16S)
    size = (u1 - u0, v1 - v0)
    shrink = size[0] * size[1] < change.shape[0] * change.shape[1]
    moved = cv2.resize(change, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)  # whole steps
    touched = cv2.resize(changed[y0:y1, x0:x1].view(np.uint8), size,
                         interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR) > 0
    region, under = out[v0:v1, u0:u1], base[v0:v1, u0:u1]
    if unit == 1:
        new = cv2.add(under, moved, dtype=cv2.CV_8U)  # saturating
    else:
        new = np.clip(under.astype(np.int32) + moved.astype(np.int32) * unit, 0, top).astype(np.uint16)
    cv2.copyTo(new, touched.view(np.uint8), region)  # into `out`, in place (a hundred times np.copyto's speed)
    return out


def _aligned_span(first: int, stop: int, work: int, stored: int) -> tuple[int, int, int, int]:
    """A span [a, b) of work pixels covering [first, stop) with a margin, and the span [c, d) of stored pixels
    it maps onto exactly (edges where both grids meet, so resampling the one onto the other stays aligned)."""
    ratio = Fraction(stored, work)
    step = ratio.denominator if ratio.denominator <= 64 else work  # too fine a grid: the whole axis
    a = max(0, (first - 2) // step * step)
    b = min(work, -(-(stop + 2) // step) * step)
    return a, b, int(a * ratio), int(b * ratio)
