"""Frames in and out of video files as numpy arrays, streamed through ffmpeg.

Frames travel raw through a pipe one at a time, so memory stays at a frame or
two whatever the video's length. The reader hands out frames as a player would
show them (constant rate, square pixels, rotation applied, the colour matrix
the file names or players assume, an interlaced frame's fields blended), since
everything downstream assumes that; footage with more than 8 bits per component
can be read as 16-bit RGB, and at its stored pixels and fields, for outputs
that keep them (`pipeline.plates`). The writers never leave a half-written file
where a finished one is expected.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
import re
import secrets
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, cast

import cv2
import numpy as np
import numpy.typing as npt

from pipeline.colour import BT709, Colour
from pipeline.errors import MediaError
from pipeline.ffmpeg_exe import ffmpeg_path
from pipeline.probe import SEQUENCE_SIDECAR, TIMECODE_VALUE, VideoInfo, audio_file, probe, probe_audio

Frame = npt.NDArray[np.uint8]
DeepFrame = npt.NDArray[np.uint16]
Rate = Fraction | int | float | str
Codec = Literal["h264", "prores"]
log = logging.getLogger("dvp")


class VideoReader:
    """The frames of a video as RGB uint8 arrays (H, W, 3), at a constant rate.

    Frames come at `fps` (the source's nominal rate by default): ffmpeg's fps
    filter repeats or drops frames, so variable-rate input comes out constant.
    Non-square pixels are resampled to square ones and rotation metadata is
    applied, so `width` x `height` is the display size. `frame_count` is the
    number of frames iteration is expected to yield.

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
                 deep: bool = False, stored: bool = False, woven: bool = False) -> None:
        self.path = str(path)
        self.info: VideoInfo = probe(path)
        self.fps = _rate(fps) if fps is not None else self.info.fps
        self.stored = stored and self.info.sar != 1
        self.blended = self.info.interlaced and not woven
        if self.stored:
            self.width, self.height = self.info.stored_size
        else:
            self.width, self.height = self.info.display_width, self.info.display_height
        # Frames on the fps grid from the file's start (a video stream that starts later has its first frame
        # repeated from there) to where its last frame ends, rounded half up as the fps filter does.
        expected = _half_up((self.info.lead + self.info.duration) * self.fps)
        self.frame_count = expected if max_frames is None else min(expected, max_frames)
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
        process, stderr = _start_ffmpeg(
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
                    f"{self.path}: decoding failed at frame {index} of {self.frame_count} "
                    f"({_reason(process, stderr)}). The file is damaged or cut short (its first {index} frames "
                    f"decode): export, copy or download it again."
                )
            if errors:
                _warn_concealed(self.info, index if first_complaint is None else first_complaint,
                                stderr.corrupt_frames, _reason(process, stderr))
        finally:
            _stop(process)

    def _damaged_picture(self, near: int, complaint: str) -> MediaError:
        """The error for an image sequence that ffmpeg complained about after `near` frames: which picture file
        is damaged, found by decoding the files around there one by one."""
        estimate = int(near * self.info.fps / self.fps)
        # ffmpeg complains a few frames ahead of what it delivers; a window bounds the search on long sequences
        for number in range(max(0, estimate - 16), min(self.info.frame_count, estimate + 256)):
            picture = self.info.frame_file(number)
            check = subprocess.run([ffmpeg_path(), "-hide_banner", "-nostdin", "-loglevel", "error",
                                    "-i", f"file:{picture}", "-f", "null", "-"],
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
            if check.returncode != 0 or check.stderr.strip():
                lines = dict.fromkeys(_PREFIX.sub("", line).rstrip(".") for line in check.stderr.splitlines())
                reason = "; ".join(list(lines)[:2]) or "unreadable"
                return MediaError(f"{picture}: frame {number} of the image sequence {self.path} is damaged "
                                  f"({reason}). Render, export or copy that frame again.")
        reason = "; ".join(_PREFIX.sub("", line).rstrip(".") for line in complaint.splitlines()[:2])
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


def ratio_label(value: Fraction) -> str:
    """A pixel aspect ratio as post tools write it, e.g. "15:16"."""
    return f"{value.numerator}:{value.denominator}"


def _half_up(x: float) -> int:
    return math.floor(x + 0.5)


def read_frames(path: str | Path, fps: Rate | None = None, max_frames: int | None = None) -> Iterator[Frame]:
    """Frames of `path` as `VideoReader` gives them, for a plain `for` loop."""
    with VideoReader(path, fps=fps, max_frames=max_frames) as reader:
        yield from reader


@dataclass(frozen=True)
class _Format:
    """How one `codec` choice is encoded and packaged."""

    suffix: str
    muxer: str
    pix_fmt: str
    video_codec: tuple[str, ...]
    audio_codec: tuple[str, ...]  # () for PCM at the sound's own depth
    finish: tuple[str, ...]  # muxer options for the final file only
    interlaced: dict[str, tuple[str, ...]]  # encoder options for interlaced frames, by field order


_FORMATS: dict[str, _Format] = {
    "h264": _Format(
        suffix=".mp4",
        muxer="mp4",
        pix_fmt="yuv420p",
        video_codec=("-c:v", "libx264"),
        audio_codec=("-c:a", "aac", "-b:a", "192k"),
        finish=("-movflags", "+faststart"),  # index first, so playback can start while downloading
        interlaced={order: ("-flags", "+ildct+ilme", "-x264-params", f"{order}=1") for order in ("tff", "bff")},
    ),
    "prores": _Format(
        suffix=".mov",
        muxer="mov",
        pix_fmt="yuv422p10le",
        # 3: 422 HQ. FFmpeg's prores_aw encoder: at 1080p 3.6 times the speed of prores_ks with the same PSNR
        # (41.97 dB on lp_d9 upscaled) and an 8 % smaller file; both write the same 'apch' stream.
        video_codec=("-c:v", "prores_aw", "-profile:v", "3", "-vendor", "apl0"),
        audio_codec=(),  # PCM, as deep as the sound (`AudioStream.pcm_codec`): 24-bit stays 24-bit
        finish=(),
        interlaced={order: ("-flags", "+ildct") for order in ("tff", "bff")},
    ),
}
DRAFT_CRF = 14
# How ffmpeg converts between RGB and YUV, both ways. Its default rounds with a bias: an 8-bit frame written to
# H.264 (even lossless) and read back came out 1.1-1.4 levels darker, from ProRes 1.7, and each generation of
# editing an output again added as much. With accurate rounding the round trip is unbiased (within 0.03 of a level
# on average; 0.40 mean absolute difference for lossless H.264, against 1.24). `VideoReader` takes 11.8 ms for a
# 1080p frame instead of 7.0: it asks for planar RGB and interleaves it with OpenCV, as packed RGB with accurate
# rounding costs ffmpeg twice as much. Writing costs what it did, the encoder dominating.
SWS_FLAGS = "accurate_rnd+full_chroma_int"


class VideoWriter:
    """Encodes RGB uint8 frames to an H.264 MP4 or a ProRes 422 HQ MOV.

    Frames go to a hidden `.dvp-tmp-*` file beside `path`, renamed onto it only
    when the `with` block ends without error: an exception, or ffmpeg failing,
    deletes it, so a file at `path` is always a finished video. Odd sizes are
    padded with black to even ones, which 4:2:0 and 4:2:2 chroma need (ProRes
    would crop instead). `audio` names a file whose audio streams are muxed in,
    all of them in their order (a broadcast file's mono tracks are often one
    mix split up), cut to the video's length; `timecode` ("HH:MM:SS:FF") is
    written as the start timecode. `draft` is for an H.264 video that is only
    read back (a pilot pass to track, say): x264's fastest preset at a lower CRF, about four
    times the speed of the default at 1080p for a larger file of the same
    quality. With `deep` it takes uint16 RGB frames (for ProRes, whose 10 bits
    an 8-bit frame cannot fill). `sar` tags the pixels' aspect ratio, for
    frames kept at a non-square-pixel footage's stored size; `field_order`
    ("tff" or "bff") encodes the frames as interlaced, for frames that keep an
    interlaced footage's two fields. `colour` is the colour description to
    convert to YUV with and tag (`pipeline.colour`; call `resolved` first), for
    frames that keep a footage's own colours; by default BT.709.
    """

    def __init__(
        self,
        path: str | Path,
        fps: Rate,
        width: int,
        height: int,
        codec: Codec = "h264",
        audio: str | Path | None = None,
        timecode: str | None = None,
        crf: int = 18,
        draft: bool = False,
        deep: bool = False,
        sar: Fraction = Fraction(1),
        field_order: str = "progressive",
        colour: Colour = BT709,
    ) -> None:
        self.path = Path(path)
        self.deep = deep
        self.fps = _rate(fps)
        self.width, self.height = width, height
        if codec not in _FORMATS:
            raise ValueError(f"codec must be one of {sorted(_FORMATS)}, not {codec!r}")
        self._format = _FORMATS[codec]
        if self.path.suffix.lower() != self._format.suffix:
            raise ValueError(f"{codec} video is written as {self._format.suffix}, but the path is {self.path}")
        if width < 1 or height < 1 or self.fps <= 0:
            raise ValueError(f"cannot write {width}x{height} video at {self.fps} fps")
        if field_order not in ("progressive", *self._format.interlaced):
            raise ValueError(f"field_order must be progressive, tff or bff, not {field_order!r}")
        if timecode is not None and not TIMECODE_VALUE.fullmatch(timecode):
            raise ValueError(f"timecode must look like HH:MM:SS:FF (';' for drop frame), not {timecode!r}")
        if not self.path.parent.is_dir():
            raise MediaError(f"{self.path}: the folder {self.path.parent} does not exist; create it first.")
        # every stream with sound (one ffmpeg names no codec for has none it can decode)
        sound = tuple(stream for stream in probe_audio(audio) if stream.codec != "none") if audio is not None else ()
        if audio is not None and not sound:
            raise MediaError(f"{audio}: has no audio stream to add to {self.path}. Give a file with sound.")
        self.audio = audio_file(audio) if audio is not None else None  # an image sequence's: its audio file
        self.colour = colour.for_prores() if codec == "prores" else colour  # what the output says of itself
        self._audio_maps = tuple(arg for stream in sound for arg in ("-map", f"1:{stream.index}"))
        # PCM as deep as each stream's sound
        self._audio_codec = self._format.audio_codec or tuple(
            arg for i, stream in enumerate(sound) for arg in (f"-c:a:{i}", stream.pcm_codec))
        self.timecode = timecode
        self.frames_written = 0
        self._temps = [self.path.with_name(f".dvp-tmp-{secrets.token_hex(4)}-{self.path.name}")]
        _UNFINISHED.add(self._temps[0])
        pad = "pad=ceil(iw/2)*2:ceil(ih/2)*2," if width % 2 or height % 2 else ""
        quality = (("-crf", str(min(crf, DRAFT_CRF)), "-preset", "ultrafast") if draft else ("-crf", str(crf))) \
            if codec == "h264" else ()
        interlaced = field_order != "progressive"  # chroma subsampled within each field; the field order tagged
        fields, setfield = (":interl=1", f",setfield={field_order}") if interlaced else ("", "")
        self._process, self._stderr = _start_ffmpeg(
            ["-f", "rawvideo", "-pix_fmt", "rgb48le" if deep else "rgb24", "-video_size", f"{width}x{height}",
             "-framerate", str(self.fps),
             "-i", "pipe:0",
             "-vf", f"{pad}scale=out_color_matrix={self.colour.scaler_matrix}:out_range=tv:flags={SWS_FLAGS}{fields},"
                    f"format={self._format.pix_fmt},setsar={sar.numerator}/{sar.denominator}{setfield},"
                    f"{self.colour.tags()}",
             *self._format.video_codec, *quality, *self._format.interlaced.get(field_order, ()),
             *(() if audio else self._finish_args()),
             "-f", self._format.muxer, f"file:{self._temps[0]}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
        )

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self._discard()

    def write(self, frame: Frame | DeepFrame) -> None:
        """Append one RGB frame of shape (height, width, 3): uint8, or uint16 when the writer is deep."""
        if self._process.stdin is None or self._process.stdin.closed:
            raise ValueError(f"{self.path}: write() after the writer was closed")
        _check_frame(frame, self.frames_written, self.height, self.width, self.deep)
        try:
            self._process.stdin.write(np.ascontiguousarray(frame).data.cast("B"))
        except BrokenPipeError:
            self._discard()
            reason = _reason(self._process, self._stderr)
            raise MediaError(f"{self.path}: ffmpeg quit at frame {self.frames_written} ({reason}).") from None
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file and move it into place, or clean up and raise MediaError."""
        if self._process.stdin is None or self._process.stdin.closed:
            return
        try:
            self._process.stdin.close()
            self._process.wait()
            if self.frames_written == 0:
                raise MediaError(f"{self.path}: no frames were written, so no video was saved.")
            if self._process.returncode != 0:
                reason = _reason(self._process, self._stderr)
                raise MediaError(f"{self.path}: ffmpeg failed to encode the video ({reason}).")
            if self.audio is not None:
                self._temps.append(self._temps[0].with_name(f".dvp-tmp-{secrets.token_hex(4)}-{self.path.name}"))
                _UNFINISHED.add(self._temps[1])
                self._mux_audio(self._temps[0], self._temps[1])
            os.replace(self._temps[-1], self.path)
        finally:
            self._discard()

    def _discard(self) -> None:
        """Stop ffmpeg and delete the temporary files; the target is left untouched."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):  # ffmpeg has gone already, as we want
                self._process.stdin.close()
        _stop(self._process)
        for temp in self._temps:
            temp.unlink(missing_ok=True)
        _UNFINISHED.difference_update(self._temps)

    def _mux_audio(self, video: Path, output: Path) -> None:
        """Copy the encoded video into `output` with the audio streams of
        `self.audio` re-encoded beside it, ending where the video ends."""
        seconds = self.frames_written / self.fps
        process, stderr = _start_ffmpeg(
            ["-i", f"file:{video}", "-i", f"file:{self.audio}", "-map", "0:v:0", *self._audio_maps,
             "-c:v", "copy", *self._audio_codec, "-t", f"{float(seconds):.6f}", *self._finish_args(),
             "-f", self._format.muxer, f"file:{output}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        if process.wait() != 0:
            raise MediaError(f"{self.path}: adding the audio of {self.audio} failed ({_reason(process, stderr)}).")

    def _finish_args(self) -> tuple[str, ...]:
        """Options that belong to the pass that writes the final file."""
        timecode = ("-timecode", self.timecode) if self.timecode else ()
        return (*timecode, *self._format.finish)


def _rate(value: Rate) -> Fraction:
    """A frame rate as an exact fraction; 29.97 and 30000/1001 both work."""
    return Fraction(value).limit_denominator(1001)


_PREFIX = re.compile(r"\[[^\]]* @ 0x[0-9a-f]+\]\s*")


def _reason(process: subprocess.Popen[bytes], stderr: _StderrTail) -> str:
    """Why an ended ffmpeg failed: its last complaints, without `[h264 @ 0x55...]` prefixes."""
    lines = [_PREFIX.sub("", line).rstrip(".") for line in stderr.text().splitlines()[-3:]]
    if lines:
        return "; ".join(lines)
    if process.returncode < 0:
        return f"ffmpeg was killed by signal {-process.returncode}"
    return f"ffmpeg exited with status {process.returncode}"


_LEVEL = re.compile(r"\[(panic|fatal|error|warning|info|verbose|debug|trace)\] ")
_CORRUPT_FRAME = "corrupt decoded frame"  # ffmpeg's warning for a frame the decoder patched over


class _StderrTail:
    """Reads a process's stderr in a thread and keeps the last of its complaints.

    A full stderr pipe would block ffmpeg while we block on its stdout, so it is
    drained as it comes; keeping only a tail bounds memory on noisy files.
    Complaints are errors, and the warning for each frame decoded through
    damaged data (which ffmpeg gives only as a warning); other warnings are
    dropped.
    """

    def __init__(self, stream: IO[bytes], keep: int = 20) -> None:
        self._lines: deque[str] = deque(maxlen=keep)
        self.complaints = 0  # complaints so far (readable while ffmpeg runs)
        self.corrupt_frames = 0  # of which frames decoded through damaged data
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                line = raw.decode(errors="replace").strip()
                level = _LEVEL.search(line)
                corrupt = _CORRUPT_FRAME in line
                if not line or "Last message repeated" in line or (
                        level and level[1] not in ("panic", "fatal", "error") and not corrupt):
                    continue
                self._lines.append(_LEVEL.sub("", line, count=1))
                self.corrupt_frames += corrupt
                self.complaints += 1

    def text(self) -> str:
        """Everything kept, once the process has closed its stderr."""
        self._thread.join()
        return self.text_so_far()

    def text_so_far(self) -> str:
        """What is kept now, while the process may still be writing."""
        return "\n".join(list(self._lines))


# What this process has under way: a signal can cut through a constructor before its `with` owns the object, and
# `abandon_unfinished` then still stops these processes and removes these temporary files and folders.
_RUNNING: set[subprocess.Popen[bytes]] = set()
_UNFINISHED: set[Path] = set()


def abandon_unfinished() -> None:
    """Stop this process's ffmpeg processes and delete what its unfinished outputs wrote (for a job cut short by a
    signal: whatever the `with` blocks on the way out did not get to)."""
    import shutil

    for process in list(_RUNNING):
        _stop(process)
    for path in list(_UNFINISHED):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    _UNFINISHED.clear()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM held back for the length of the block, then delivered. A signal that lands while a child
    process is being started raises out of `subprocess.Popen` with the child running but unknown to
    `abandon_unfinished`: that ffmpeg then writes its output after the clean-up (a preview's temporary file was
    left so). Python runs signal handlers only in the main thread, so elsewhere there is nothing to hold."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not None:  # None: a handler set outside Python, which cannot be put back
            held[sig] = signal.signal(sig, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


def _start_ffmpeg(args: list[str], stdin: int, stdout: int) -> tuple[subprocess.Popen[bytes], _StderrTail]:
    with _signals_deferred():  # registered before any signal can end the job
        process = subprocess.Popen(
            [ffmpeg_path(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+warning", *args],
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
        )
        _RUNNING.add(process)
    assert process.stderr is not None
    return process, _StderrTail(process.stderr)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End `process` if it still runs, and reap it so no zombie is left."""
    if process.poll() is None:
        process.kill()
    process.wait()
    if process.stdout is not None:
        process.stdout.close()
    _RUNNING.discard(process)


SEQUENCE_AUDIO = "audio.wav"
SEQUENCE_PATTERN = "frame_%06d.png"


class ImageSequenceWriter:
    """Writes RGB uint8 frames as a numbered PNG sequence in a new folder: NAME/frame_000000.png, ...

    A PNG holds neither sound nor timecode, so the folder also gets what a
    hand-over needs beside the pictures: `sequence.json` (frame count, rate,
    size, file pattern, start timecode) and, given `audio`, `audio.wav` (the
    file's first audio stream as PCM, 24-bit where the sound is deeper than
    16 bits, else 16-bit, cut to the sequence's length).
    Everything goes to a hidden `.dvp-tmp-*` folder beside the target, renamed
    onto it when the `with` block ends without error, so a folder at `path`
    always holds a complete sequence. The target folder must not exist yet (or
    be empty). With `deep` it takes uint16 frames and writes 16-bit PNGs; `sar`
    (the pixels' aspect ratio), `field_order` (whether the frames hold two
    interlaced fields, and which is shown first) and the primaries and transfer
    function of `colour` (what the RGB values stand for), which a PNG cannot
    say, go into `sequence.json`.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: Rate = 25,
                 audio: str | Path | None = None, timecode: str | None = None, deep: bool = False,
                 sar: Fraction = Fraction(1), field_order: str = "progressive", colour: Colour = BT709) -> None:
        self.path = Path(path)
        self.deep = deep
        self.sar = Fraction(sar)
        self.colour = colour
        if field_order not in ("progressive", "tff", "bff"):
            raise ValueError(f"field_order must be progressive, tff or bff, not {field_order!r}")
        self.field_order = field_order
        self.width, self.height = width, height
        self.fps = _rate(fps)
        if width < 1 or height < 1 or self.fps <= 0:
            raise ValueError(f"cannot write {width}x{height} frames at {self.fps} fps")
        if timecode is not None and not TIMECODE_VALUE.fullmatch(timecode):
            raise ValueError(f"timecode must look like HH:MM:SS:FF (';' for drop frame), not {timecode!r}")
        if not self.path.parent.is_dir():
            raise MediaError(f"{self.path}: the folder {self.path.parent} does not exist; create it first.")
        if self.path.exists() and (not self.path.is_dir() or any(self.path.iterdir())):
            raise MediaError(f"{self.path} already exists; a PNG sequence is written into a new (or empty) folder.")
        sound = probe_audio(audio) if audio is not None else ()
        if audio is not None and not sound:
            raise MediaError(f"{audio}: has no audio stream to add to {self.path}. Give a file with sound.")
        self.audio = audio_file(audio) if audio is not None else None
        self._pcm = sound[0].pcm_codec if sound else "pcm_s16le"  # 24-bit sound stays 24-bit
        self.timecode = timecode
        self._temp = self.path.with_name(f".dvp-tmp-{secrets.token_hex(4)}-{self.path.name}")
        _UNFINISHED.add(self._temp)
        self._temp.mkdir()
        self.frames_written = 0

    def __enter__(self) -> ImageSequenceWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self._discard()

    def write(self, frame: Frame | DeepFrame) -> None:
        _check_frame(frame, self.frames_written, self.height, self.width, self.deep)
        name = self._temp / (SEQUENCE_PATTERN % self.frames_written)
        if not cv2.imwrite(str(name), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)):
            self._discard()
            raise MediaError(f"{self.path}: could not write frame {self.frames_written} (disk full?)")
        self.frames_written += 1

    def close(self) -> None:
        if not self._temp.exists():
            return
        if self.frames_written == 0:
            self._discard()
            raise MediaError(f"{self.path}: no frames were written, so no sequence was saved.")
        try:
            if self.audio is not None:
                self._write_audio(self._temp / SEQUENCE_AUDIO)
            sidecar = {"frames": self.frames_written, "fps": str(self.fps), "width": self.width,
                       "height": self.height, "bit_depth": 16 if self.deep else 8, "pattern": SEQUENCE_PATTERN,
                       "sar": ratio_label(self.sar), "field_order": self.field_order,
                       "colour_primaries": self.colour.primaries, "colour_transfer": self.colour.transfer,
                       "timecode": self.timecode,
                       "audio": SEQUENCE_AUDIO if self.audio is not None else None}
            (self._temp / SEQUENCE_SIDECAR).write_text(json.dumps(sidecar, indent=1) + "\n")
        except BaseException:
            self._discard()
            raise
        if self.path.is_dir():
            self.path.rmdir()  # empty, checked on opening
        os.replace(self._temp, self.path)
        _UNFINISHED.discard(self._temp)

    def _discard(self) -> None:
        import shutil

        shutil.rmtree(self._temp, ignore_errors=True)
        _UNFINISHED.discard(self._temp)

    def _write_audio(self, output: Path) -> None:
        """The first audio stream of `self.audio` as PCM WAV (24-bit if the sound is, else 16), ending where the
        sequence ends."""
        seconds = self.frames_written / self.fps
        process, stderr = _start_ffmpeg(
            ["-i", f"file:{self.audio}", "-map", "0:a:0", "-c:a", self._pcm, "-t", f"{float(seconds):.6f}",
             "-f", "wav", f"file:{output}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        if process.wait() != 0:
            raise MediaError(f"{self.path}: writing the audio of {self.audio} failed ({_reason(process, stderr)}).")


OUTPUT_FORMATS = ("mp4", "prores", "png")


def output_format(path: str | Path, requested: str | None = None) -> str:
    """The output format for `path`: as requested, else by its suffix (.mp4, .mov, none: PNG sequence)."""
    if requested is not None:
        if requested not in OUTPUT_FORMATS:
            raise MediaError(f"unknown output format {requested!r}; choose one of {', '.join(OUTPUT_FORMATS)}")
        return requested
    suffix = Path(path).suffix.lower()
    formats = {".mp4": "mp4", ".mov": "prores", "": "png"}
    if suffix not in formats:
        raise MediaError(f"{path}: cannot tell the output format from {suffix!r}; use .mp4 (H.264), .mov (ProRes "
                         "422 HQ) or a folder name without a suffix (PNG sequence), or pass --format")
    return formats[suffix]


def open_output(path: str | Path, fmt: str, fps: Rate, width: int, height: int, audio: str | Path | None = None,
                timecode: str | None = None, draft: bool = False, deep: bool = False,
                sar: Fraction = Fraction(1), field_order: str = "progressive",
                colour: Colour = BT709) -> VideoWriter | ImageSequenceWriter:
    """A writer for the chosen format (a PNG sequence keeps its audio and timecode beside the frames); with
    `deep` it takes uint16 frames; `sar` is the pixels' aspect ratio; `field_order` whether the frames hold two
    interlaced fields; `colour` their colour description."""
    if fmt != "png" and not draft and (width % 2 or height % 2):
        log.warning("%s: %s needs even frame sizes, so the %dx%d frames are written as %dx%d with black added on the "
                    "right or at the bottom; write a PNG sequence (a name without a suffix) to keep %dx%d", path,
                    "H.264" if fmt == "mp4" else "ProRes", width, height, width + width % 2, height + height % 2,
                    width, height)
    try:
        if fmt == "png":
            return ImageSequenceWriter(path, width, height, fps, audio=audio, timecode=timecode, deep=deep, sar=sar,
                                       field_order=field_order, colour=colour)
        return VideoWriter(path, fps, width, height, codec="h264" if fmt == "mp4" else "prores", audio=audio,
                           timecode=timecode, draft=draft, deep=deep, sar=sar, field_order=field_order,
                           colour=colour)
    except ValueError as exc:  # a suffix that does not fit the format, a malformed timecode
        raise MediaError(f"{path}: {exc}") from None


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


def _check_frame(frame: np.ndarray, index: int, height: int, width: int, deep: bool) -> None:
    dtype = np.uint16 if deep else np.uint8
    if frame.shape != (height, width, 3) or frame.dtype != dtype:
        raise ValueError(f"frame {index} is {frame.dtype} {frame.shape}; "
                         f"this writer takes {np.dtype(dtype).name} ({height}, {width}, 3) RGB")
