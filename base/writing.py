"""Frames into video files and image sequences: H.264 MP4, ProRes 422 HQ MOV, or numbered PNGs.

Frames travel raw through a pipe to ffmpeg one at a time. The writers never
leave a half-written file where a finished one is expected: everything goes to
a hidden `.dvp-tmp-*` file or folder beside the target and is renamed onto it
only when the `with` block ends without error.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Literal

import cv2
import numpy as np

from base.colour import BT709, SWS_FLAGS, Colour
from base.errors import MediaError
from base.ffmpeg_process import failure_reason, forget_unfinished, start_ffmpeg, stop, track_unfinished
from base.frames import DeepFrame, Frame, Rate, as_rate, ratio_label
from base.probe import SEQUENCE_SIDECAR, audio_file, probe_audio
from base.timecode import TIMECODE

Codec = Literal["h264", "prores"]
log = logging.getLogger("dvp")


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
        # 3: 422 HQ. FFmpeg's prores_aw encoder: several times the speed of prores_ks at 1080p for the same PSNR
        # and a smaller file (figures on the benchmarks page); both write the same 'apch' stream.
        video_codec=("-c:v", "prores_aw", "-profile:v", "3", "-vendor", "apl0"),
        audio_codec=(),  # PCM, as deep as the sound (`AudioStream.pcm_codec`): 24-bit stays 24-bit
        finish=(),
        interlaced={order: ("-flags", "+ildct") for order in ("tff", "bff")},
    ),
}
DRAFT_CRF = 14


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
    convert to YUV with and tag (`base.colour`; call `resolved` first), for
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
        self.fps = as_rate(fps)
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
        if timecode is not None and not TIMECODE.fullmatch(timecode):
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
        track_unfinished(self._temps[0])
        pad = "pad=ceil(iw/2)*2:ceil(ih/2)*2," if width % 2 or height % 2 else ""
        quality = (("-crf", str(min(crf, DRAFT_CRF)), "-preset", "ultrafast") if draft else ("-crf", str(crf))) \
            if codec == "h264" else ()
        interlaced = field_order != "progressive"  # chroma subsampled within each field; the field order tagged
        fields, setfield = (":interl=1", f",setfield={field_order}") if interlaced else ("", "")
        self._process, self._stderr = start_ffmpeg(
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
            reason = failure_reason(self._process, self._stderr)
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
                reason = failure_reason(self._process, self._stderr)
                raise MediaError(f"{self.path}: ffmpeg failed to encode the video ({reason}).")
            if self.audio is not None:
                self._temps.append(self._temps[0].with_name(f".dvp-tmp-{secrets.token_hex(4)}-{self.path.name}"))
                track_unfinished(self._temps[1])
                self._mux_audio(self._temps[0], self._temps[1])
            os.replace(self._temps[-1], self.path)
        finally:
            self._discard()

    def _discard(self) -> None:
        """Stop ffmpeg and delete the temporary files; the target is left untouched."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):  # ffmpeg has gone already, as we want
                self._process.stdin.close()
        stop(self._process)
        for temp in self._temps:
            temp.unlink(missing_ok=True)
        forget_unfinished(*self._temps)

    def _mux_audio(self, video: Path, output: Path) -> None:
        """Copy the encoded video into `output` with the audio streams of
        `self.audio` re-encoded beside it, ending where the video ends."""
        seconds = self.frames_written / self.fps
        process, stderr = start_ffmpeg(
            ["-i", f"file:{video}", "-i", f"file:{self.audio}", "-map", "0:v:0", *self._audio_maps,
             "-c:v", "copy", *self._audio_codec, "-t", f"{float(seconds):.6f}", *self._finish_args(),
             "-f", self._format.muxer, f"file:{output}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        if process.wait() != 0:
            reason = failure_reason(process, stderr)
            raise MediaError(f"{self.path}: adding the audio of {self.audio} failed ({reason}).")

    def _finish_args(self) -> tuple[str, ...]:
        """Options that belong to the pass that writes the final file."""
        timecode = ("-timecode", self.timecode) if self.timecode else ()
        return (*timecode, *self._format.finish)
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
        self.fps = as_rate(fps)
        if width < 1 or height < 1 or self.fps <= 0:
            raise ValueError(f"cannot write {width}x{height} frames at {self.fps} fps")
        if timecode is not None and not TIMECODE.fullmatch(timecode):
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
        track_unfinished(self._temp)
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
        forget_unfinished(self._temp)

    def _discard(self) -> None:
        shutil.rmtree(self._temp, ignore_errors=True)
        forget_unfinished(self._temp)

    def _write_audio(self, output: Path) -> None:
        """The first audio stream of `self.audio` as PCM WAV (24-bit if the sound is, else 16), ending where the
        sequence ends."""
        seconds = self.frames_written / self.fps
        process, stderr = start_ffmpeg(
            ["-i", f"file:{self.audio}", "-map", "0:a:0", "-c:a", self._pcm, "-t", f"{float(seconds):.6f}",
             "-f", "wav", f"file:{output}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        if process.wait() != 0:
            reason = failure_reason(process, stderr)
            raise MediaError(f"{self.path}: writing the audio of {self.audio} failed ({reason}).")


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
def _check_frame(frame: np.ndarray, index: int, height: int, width: int, deep: bool) -> None:
    dtype = np.uint16 if deep else np.uint8
    if frame.shape != (height, width, 3) or frame.dtype != dtype:
        raise ValueError(f"frame {index} is {frame.dtype} {frame.shape}; "
                         f"this writer takes {np.dtype(dtype).name} ({height}, {width}, 3) RGB")
