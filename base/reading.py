"""Frames out of video files and image sequences as numpy arrays, streamed through ffmpeg.

Frames travel raw through a pipe one at a time, so memory stays at a frame or
two whatever the video's length. The reader hands out frames as a player would
show them (constant rate, square pixels, rotation applied, the colour matrix
the file names or players assume, an interlaced frame's fields blended), since
everything downstream assumes that; footage with more than 8 bits per component
can be read as 16-bit RGB, and at its stored pixels and fields, for outputs
that keep them (`base.plates`).
"""
from __future__ import annotations

import io
import logging
import math
import os
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import cast

import cv2
import numpy as np

from base.colour import SWS_FLAGS
from base.errors import MediaError
from base.ffmpeg_process import failure_reason, run_for_report, start_ffmpeg, stop, strip_prefix
from base.frames import Frame, Rate, as_rate
from base.probe import VideoInfo, probe

log = logging.getLogger("dvp")


class VideoReader:
    """The frames of a video as RGB uint8 arrays (H, W, 3), at a constant rate.

    Frames come at `fps` (the source's nominal rate by default): ffmpeg's fps
    filter repeats or drops frames, so variable-rate input comes out constant.
    Non-square pixels are resampled to square ones and rotation metadata is
    applied, so `width` x `height` is the display size. `frame_count` is the
    number of frames iteration is expected to yield: from `first_frame` (0 by
    default; frames before it are decoded and dropped, so the frames are exactly
    those a read from the start gives there), at most `max_frames` of them.

    Each iteration runs one ffmpeg process; breaking out of the loop or leaving
    the `with` block stops it. A file that fails to decode part-way raises
    MediaError naming the frame; damage the decoder patches over (every frame
    comes, some smeared) is warned of once per file, except in an image
    sequence, where it raises MediaError naming the picture file. With `deep`, frames are uint16 RGB (0-65535)
    whatever the file's depth. With `stored`, non-square pixels are left as
    they are: frames come at the stored size (`info.stored_size`), turned
    upright, for an output that keeps the footage's pixel aspect.

    Interlaced footage comes with its two fields blended (`blend_fields`), so
    that tracking and the network see a whole picture rather than the combs of
    two moments woven together; with `woven`, as stored (both fields, for an
    output that keeps them).
    """

    def __init__(self, path: str | Path, fps: Rate | None = None, max_frames: int | None = None,
                 deep: bool = False, stored: bool = False, woven: bool = False, first_frame: int = 0) -> None:
        self.path = str(path)
        self.info: VideoInfo = probe(path)
        self.fps = as_rate(fps) if fps is not None else self.info.fps
        self.stored = stored and self.info.sar != 1
        self.blended = self.info.interlaced and not woven
        if self.stored:
            self.width, self.height = self.info.stored_size
        else:
            self.width, self.height = self.info.display_width, self.info.display_height
        # Frames on the fps grid from the file's start (a video stream that starts later has its first frame
        # repeated from there) to where its last frame ends, rounded half up as the fps filter does.
        expected = max(0, _half_up((self.info.lead + self.info.duration) * self.fps) - first_frame)
        self.frame_count = expected if max_frames is None else min(expected, max_frames)
        self.first_frame = first_frame
        self._max_frames = max_frames
        self.deep = deep
        self._frames: Generator[Frame, None, None] | None = None

    def __iter__(self) -> Iterator[Frame]:
        self.close()
        self._frames = self._stream()
        return self._frames

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the ffmpeg process of an iteration still under way."""
        if self._frames is not None:
            self._frames.close()  # runs _stream's cleanup
            self._frames = None

    def _stream(self) -> Generator[Frame, None, None]:
        filters = [f"fps={self.fps}"]
        if self.first_frame:  # counted on the grid as a read from the start counts them (decoded, then dropped)
            filters.append(f"trim=start_frame={self.first_frame},setpts=PTS-STARTPTS")
        # The YUV matrix a player uses: the tagged one, or where none is tagged the one for the size (ffmpeg would
        # take BT.601 whatever the size); 4:2:0 chroma of interlaced footage belongs to one field, not two rows.
        convert = f"in_color_matrix={self.info.resolved_colour.scaler_matrix}:flags={SWS_FLAGS}" + (
            ":interl=1" if self.info.interlaced else "")
        # Only the matrix and range turn YUV into RGB; recent ffmpeg scalers refuse frames whose transfer or primaries
        # say "reserved" (written by encoders that had no code for the value), so those are left unsaid.
        filters.append("setparams=color_primaries=unknown:color_trc=unknown")
        if self.info.sar != 1 and not self.stored:
            filters.append(f"scale={self.width}:{self.height}:{convert},setsar=1")
        else:
            filters.append(f"scale={convert}")  # the conversion to RGB
        limit = [] if self._max_frames is None else ["-frames:v", str(self._max_frames)]
        # Planar RGB (G, B, R planes), interleaved here: ffmpeg's exact conversion to packed RGB is twice as slow.
        process, stderr = start_ffmpeg(
            [*self.info.input_args, "-map", "0:V:0", "-vf", ",".join(filters), *limit,
             "-f", "rawvideo", "-pix_fmt", "gbrp16le" if self.deep else "gbrp", "pipe:1"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
        )
        pipe = cast(io.BufferedReader, process.stdout)
        index = 0
        first_complaint: int | None = None  # frames read when ffmpeg first complained
        try:
            planes = np.empty((3, self.height, self.width), "<u2" if self.deep else np.uint8)
            while True:
                size = pipe.readinto(planes.data.cast("B"))
                if size < planes.nbytes:
                    break
                if first_complaint is None and stderr.complaints:
                    first_complaint = index
                    if self.info.pattern is not None:  # a damaged picture file: stop before using more
                        raise self._damaged_picture(index, stderr.text_so_far())
                frame = cv2.merge((planes[2], planes[0], planes[1]))
                yield blend_fields(frame, self.info.field_axis) if self.blended else frame
                index += 1
            process.wait()
            errors = stderr.text()
            # A sequence's count is exact (at another rate, to the frame the fps filter may round away)
            short = index < self.frame_count - (self.fps != self.info.fps)
            if self.info.pattern is not None and (errors or short):
                raise self._damaged_picture(index if first_complaint is None else first_complaint, errors)
            if process.returncode != 0 or size or (errors and index < self.frame_count):
                raise MediaError(
                    f"{self.path}: decoding failed at frame {self.first_frame + index} of "
                    f"{self.first_frame + self.frame_count} "
                    f"({failure_reason(process, stderr)}). The file is damaged or cut short (its first {index} frames "
                    f"decode): export, copy or download it again."
                )
            if errors:
                _warn_concealed(self.info, index if first_complaint is None else first_complaint,
                                stderr.corrupt_frames, failure_reason(process, stderr))
        finally:
            stop(process)

    def _damaged_picture(self, near: int, complaint: str) -> MediaError:
        """The error for an image sequence that ffmpeg complained about after `near` frames: which picture file
        is damaged, found by decoding the files around there one by one."""
        estimate = int(near * self.info.fps / self.fps)
        # ffmpeg complains a few frames ahead of what it delivers; a window bounds the search on long sequences
        for number in range(max(0, estimate - 16), min(self.info.frame_count, estimate + 256)):
            picture = self.info.frame_file(number)
            check = run_for_report("-loglevel", "error", "-i", f"file:{picture}", "-f", "null", "-")
            if check.returncode != 0 or check.stderr.strip():
                lines = dict.fromkeys(strip_prefix(line) for line in check.stderr.splitlines())
                reason = "; ".join(list(lines)[:2]) or "unreadable"
                return MediaError(f"{picture}: frame {number} of the image sequence {self.path} is damaged "
                                  f"({reason}). Render, export or copy that frame again.")
        reason = "; ".join(strip_prefix(line) for line in complaint.splitlines()[:2])
        return MediaError(f"{self.path}: the image sequence's pictures stopped decoding near frame {estimate} "
                          f"({reason or 'no frames came after it'}). Check those frames, and render or copy them "
                          "again.")


_CONCEALED_WARNED: set[tuple[str, float]] = set()  # (file, modification time) already warned of, once per process


def _warn_concealed(info: VideoInfo, near: int, patched: int, reason: str) -> None:
    """Warn, once per file, that ffmpeg decoded `info`'s video through damaged data: every frame came, but the
    decoder patched over what it lost, so some may show blocks or smears."""
    try:
        key = (info.path, os.stat(info.path).st_mtime)
    except OSError:
        key = (info.path, 0.0)
    if key in _CONCEALED_WARNED:
        return
    _CONCEALED_WARNED.add(key)
    marked = f", {patched} frame{'s' if patched != 1 else ''} marked corrupt" if patched else ""
    log.warning("%s: damaged data at or shortly after frame %d (%s); ffmpeg patched over it%s, so frames from "
                "there may show blocks or smears. Check them, or fetch or export the file again.",
                info.path, near, reason, marked)


def blend_fields(frame: np.ndarray, axis: int = 0) -> np.ndarray:
    """An interlaced frame's two fields blended into one picture: each line averaged with the two of the other
    field beside it (1/4, 1/2, 1/4), so where the subject moved between the fields the combs become a blur, as a
    longer shutter would give, and where nothing moved little changes. `axis` 1 for frames turned a quarter, whose
    fields are columns. Same dtype (uint8 or uint16), rounded to the nearest."""
    # OpenCV's 3-tap Gaussian is exactly (1/4, 1/2, 1/4), in fixed point: 4 ms a 1080p frame, filter2D's 10
    return cv2.GaussianBlur(frame, (1, 3) if axis == 0 else (3, 1), 0, borderType=cv2.BORDER_REFLECT_101)
def _half_up(x: float) -> int:
    return math.floor(x + 0.5)


def read_frames(path: str | Path, fps: Rate | None = None, max_frames: int | None = None) -> Iterator[Frame]:
    """Frames of `path` as `VideoReader` gives them, for a plain `for` loop."""
    with VideoReader(path, fps=fps, max_frames=max_frames) as reader:
        yield from reader
def frames_in_order(video: Path, order: np.ndarray, scratch: Path, deep: bool = False,
                    stored: bool = False, woven: bool = False) -> Iterator[np.ndarray]:
    """The frames of `video` in the order `order`: streamed in one pass when the order never goes back (a run of
    consecutive frames, or a pilot pass's stretches), otherwise from an uncompressed copy on disk (when an output is
    longer than the video: ping-pong). `deep`, `stored`, `woven`: as `VideoReader` gives them."""
    reader = VideoReader(video, deep=deep, stored=stored, woven=woven)
    order = np.asarray(order)
    if np.all(np.diff(order) >= 0):
        count, last = 0, None
        with reader:
            for i, frame in enumerate(reader):
                if count == len(order):
                    break
                last = frame
                while count < len(order) and order[count] == i:
                    count += 1
                    yield frame
        if last is None and len(order):
            raise MediaError(f"{video} decoded to no frames")
        for _ in range(len(order) - count):  # the video came out short: hold its last frame
            yield last
        return
    # Plain file reads rather than a memory map: mapped pages would count against the process however long the
    # target, while read pages stay in the OS's cache, which it can drop.
    needed = int(order.max()) + 1
    path = scratch / ("target_frames.u16" if deep else "target_frames.u8")
    count = 0
    with reader, open(path, "wb") as cache:
        for frame in reader:
            if count >= needed:
                break
            cache.write(frame.data)
            count += 1
    if count == 0:
        raise MediaError(f"{video} decoded to no frames")
    with open(path, "rb") as cache:
        for i in order:
            frame = np.empty((reader.height, reader.width, 3), "<u2" if deep else np.uint8)
            cache.seek(min(int(i), count - 1) * frame.nbytes)
            cache.readinto(frame.data.cast("B"))
            yield frame
