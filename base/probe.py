"""What a media file contains, read from ffmpeg's own report.

ffprobe is not available everywhere (imageio-ffmpeg ships ffmpeg alone), so this
parses the stream summary that `ffmpeg -i FILE` prints, and counts frames with a
stream-copy pass that reads packets without decoding them. Every way a file can
be unusable is turned into a `MediaError` that says which file, what is wrong
and what to do, before any long job starts on it.

An image sequence is a folder: numbered frames (PNG, TIFF, DPX, JPEG, ...)
and a `sequence.json` beside them that says what the pictures cannot (the rate,
the file pattern, the start timecode, the audio file), as `dvp` writes for its
own PNG output. It is described like a video file, and read through ffmpeg's
image2 demuxer (`VideoInfo.inputs`).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from base.colour import Colour
from base.errors import MediaError
from base.ffmpeg_process import run_for_report
from base.timecode import TIMECODE

# `Stream #0:1[0x2](und): Audio: aac (LC) ...`; ffmpeg >= 7 indents streams that
# belong to a stream group, so leading space varies.
_STREAM = re.compile(r"^\s*Stream #\d+:(\d+)[^:]*: (\w+): (.*)$")
_ROTATION = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees", re.IGNORECASE)
_TIMECODE_LINE = re.compile(r"^\s*timecode\s*:\s*(\S+)", re.MULTILINE)
_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_CUT_SHORT = re.compile(r"[^\n\]]*(?:partial file|ended prematurely)[^\n]*", re.IGNORECASE)  # mov, matroska
_TIMEBASE = re.compile(r"^#tb 0: (\d+)/(\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class AudioStream:
    """An audio stream as ffmpeg reports it, for choosing what to mux or dub."""

    index: int  # stream index in the file, as in ffmpeg's `-map 0:INDEX`
    codec: str
    sample_rate: int
    channels: int  # 0 when ffmpeg reports a layout this module does not know
    bits: int = 16  # bits of each decoded sample that carry sound (24 for 24-bit PCM held in 32)

    @property
    def pcm_codec(self) -> str:
        """The PCM to write this sound as without losing any of it: 24-bit where it is lossless and deeper than 16
        bits (a 24-bit WAV, FLAC, float PCM), else 16-bit (lossy codecs, 16-bit PCM)."""
        lossless = self.codec.startswith("pcm_") or self.codec in _LOSSLESS_AUDIO
        return "pcm_s24le" if lossless and self.bits > 16 else "pcm_s16le"


@dataclass(frozen=True)
class VideoInfo:
    """The first video stream of a file, and the file's audio streams.

    width, height and sar describe the coded frames; rotation is the clockwise
    turn (0, 90, 180 or 270 degrees) a player applies for display, as in the
    `rotate` tag phones write. fps is the nominal rate (ffmpeg's tbr), the rate
    at which `VideoReader` samples a variable-frame-rate stream. frame_count is
    exact (packets counted); duration is the video's own length in seconds
    (from its first frame's timestamp to the end of its last, or frames over the
    average rate where the packets carry no timing), which the audio may
    outlast; lead is how long after the file's start (where ffmpeg's clock
    starts: the earliest of its streams) its first frame is shown.
    """

    path: str
    codec: str
    pix_fmt: str
    width: int
    height: int
    sar: Fraction
    rotation: int
    fps: Fraction
    frame_count: int
    duration: float
    variable_frame_rate: bool
    audio: tuple[AudioStream, ...]
    timecode: str | None
    lead: float = 0.0
    inputs: tuple[str, ...] = ()  # ffmpeg's input options for the video (a sequence's rate, pattern, first number)
    audio_file: str | None = None  # the file `audio` describes: the video itself, or a sequence's audio file
    field_order: str = "progressive"  # or "tff" / "bff": interlaced, the top / bottom field shown first
    colour: Colour = Colour()  # the stream's colour tags (see `base.colour`)
    pattern: str | None = None  # an image sequence's file pattern (printf style); None for a video file
    first_number: int = 0  # the number in the name of an image sequence's first frame

    def frame_file(self, index: int) -> Path:
        """The picture file of frame `index` (from 0) of an image sequence."""
        if self.pattern is None:
            raise ValueError(f"{self.path} is a video file, not an image sequence")
        return Path(self.path) / (self.pattern % (self.first_number + index))

    @property
    def input_args(self) -> tuple[str, ...]:
        """What goes before `-map 0:V:0` on an ffmpeg command line that reads this video."""
        return self.inputs or ("-i", f"file:{self.path}")

    @property
    def bits_per_component(self) -> int:
        """Bits per colour component of the decoded frames (8 for most consumer video; 10 or 12 for ProRes,
        DNxHR HQX, 10-bit H.264/HEVC; 16 for 16-bit PNG/TIFF; float formats count as 16)."""
        return pix_fmt_bits(self.pix_fmt)

    @property
    def interlaced(self) -> bool:
        return self.field_order != "progressive"

    @property
    def resolved_colour(self) -> Colour:
        """The colour description frames are read with, and outputs written with: the tags, with the YUV matrix
        players assume for the size where the stream names none."""
        return self.colour.resolved(self.width, self.height)

    @property
    def upright_field_order(self) -> str:
        """The field order of the frames turned upright: a half turn swaps the fields; after a quarter turn they
        are columns, which no interlaced format holds, so such frames are progressive (with the fields blended)."""
        if self.rotation in (90, 270):
            return "progressive"
        if self.rotation == 180:
            return {"tff": "bff", "bff": "tff"}.get(self.field_order, self.field_order)
        return self.field_order

    @property
    def field_axis(self) -> int:
        """The axis along which an interlaced video's upright frames alternate fields: 0 (rows), or 1 (columns)
        when turned a quarter."""
        return 1 if self.rotation in (90, 270) else 0

    @property
    def display_width(self) -> int:
        return self._display_size()[0]

    @property
    def display_height(self) -> int:
        return self._display_size()[1]

    @property
    def stored_size(self) -> tuple[int, int]:
        """(width, height) of the frames as stored, turned upright: the display size before non-square pixels
        are made square."""
        return (self.height, self.width) if self.rotation in (90, 270) else (self.width, self.height)

    @property
    def stored_sar(self) -> Fraction:
        """The pixel aspect ratio of the upright stored frames."""
        return 1 / self.sar if self.rotation in (90, 270) else self.sar

    def _display_size(self) -> tuple[int, int]:
        """Square-pixel size as shown: non-square pixels widen or narrow the
        width (kept even so it stays encodable), then rotation may swap axes."""
        width = self.width if self.sar == 1 else 2 * max(1, round(self.width * self.sar / 2))
        return (self.height, width) if self.rotation in (90, 270) else (width, self.height)


_PER_COMPONENT = re.compile(r"(?:yuvj?a?\d{3}p|gbra?p|gray|ya|bayer_[a-z]{4}|x2rgb|x2bgr|xyz)(\d+)")
_PACKED_YUV = re.compile(r"[pyv]\d(\d\d)")  # p010, p216, y210, ...: the last two digits are the depth
_PER_PIXEL = re.compile(r"(?:rgba?|bgra?|ayuv|xv)(\d+)")  # rgb48, rgba64, xv30: bits of all components


def pix_fmt_bits(pix_fmt: str) -> int:
    """Bits per component of an ffmpeg pixel format, from its name (float formats count as 16)."""
    name = re.sub(r"(?:msb)?(?:le|be)$", "", pix_fmt)
    if re.search(r"f(?:16|32)", name):
        return 16
    if match := _PER_COMPONENT.fullmatch(name):
        return int(match[1])
    if match := _PACKED_YUV.fullmatch(name):
        return int(match[1])
    if match := _PER_PIXEL.fullmatch(name):
        components = 4 if name.startswith(("rgba", "bgra", "ayuv")) else 3
        return max(8, int(match[1]) // components)  # bgr0, rgb0: 8 bits and a padding byte
    return 8


_KNOWN: dict[tuple, VideoInfo] = {}  # what probe found, by file and modification time
_KNOWN_MAX = 64


def probe(path: str | Path) -> VideoInfo:
    """Describe the video in `path` (a file, or an image sequence's folder), or raise MediaError if it cannot be
    used. A job asks about its inputs several times, and counting a long file's packets reads it whole, so what
    was found is kept for as long as the file (or the folder and its sequence.json) is not modified."""
    key = _unchanged(Path(path))
    if key is not None and key in _KNOWN:
        return _KNOWN[key]
    info = _probe_sequence(Path(path)) if Path(path).is_dir() else _probe_file(path)
    if key is not None:
        if len(_KNOWN) >= _KNOWN_MAX:
            _KNOWN.pop(next(iter(_KNOWN)))
        _KNOWN[key] = info
    return info


def _unchanged(path: Path) -> tuple | None:
    """A key that changes whenever `path` does (None when it cannot be read)."""
    try:
        stat = path.stat()
        sidecar = (path / SEQUENCE_SIDECAR).stat().st_mtime_ns if path.is_dir() else 0
    except OSError:
        return None
    return str(path.resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_size, sidecar


def _probe_file(path: str | Path) -> VideoInfo:
    header = _read_header(path)
    streams = _streams(header)
    video = _first_video(path, streams)
    picture = _picture(video, str(path))
    avg = _rate(video.summary, "fps")
    tbr = _rate(video.summary, "tbr")
    # tbr is the finest regular rate of the timestamps, so sampling at it loses no
    # frames (a clip with long pauses averages far below it); some containers with
    # variable rate report their timebase (1k) instead.
    fps = tbr if tbr and not (avg and tbr > 2 * avg and tbr > MAX_CAMERA_FPS) else avg
    if not fps:
        raise MediaError(f"{path}: ffmpeg cannot tell the frame rate of its video; re-encode it at a fixed rate.")
    packets = _read_packets(path, _container_duration(header))
    if packets.every is not None and 1 / packets.every < fps:  # a constant rate below tbr: MPEG's tbr is often twice
        fps = (1 / packets.every).limit_denominator(1001)  # the frame rate, which would show every frame twice
    frame_count = packets.count
    if frame_count == 0:
        raise MediaError(f"{path}: its video stream contains no frames. Export the video again.")
    # ffmpeg prints the display matrix's counter-clockwise angle.
    ccw = next((float(m[1]) for m in map(_ROTATION.search, video.details) if m), 0.0)
    timecode = _TIMECODE_LINE.search(header)
    return VideoInfo(
        path=str(path),
        **picture,
        rotation=round(-ccw / 90) * 90 % 360,
        fps=fps,
        frame_count=frame_count,
        duration=packets.span() or (float(frame_count / avg) if avg else _container_duration(header)),
        variable_frame_rate=bool(avg and tbr and abs(avg - tbr) > tbr / 100),
        lead=packets.first or 0.0,
        audio=_audio_streams(streams),
        timecode=timecode[1] if timecode else None,
        audio_file=str(path),
    )


def probe_audio(path: str | Path) -> tuple[AudioStream, ...]:
    """The audio streams of any media file (video or audio), or of an image sequence's audio file, checked like
    `probe`."""
    if Path(path).is_dir():
        return probe(path).audio
    return _audio_streams(_streams(_read_header(path)))


def media_seconds(path: str | Path) -> float:
    """How long a media file runs, as its container says (the longest of its streams; 0 when it does not say)."""
    return _container_duration(_read_header(path))


def audio_file(path: str | Path) -> Path:
    """The file that holds the audio of `path`: itself, or for an image sequence the audio file its
    `sequence.json` names (itself when it names none: `probe_audio` then finds no audio)."""
    if Path(path).is_dir():
        found = probe(path).audio_file
        return Path(found) if found else Path(path)
    return Path(path)


def media_bytes(path: str | Path) -> int:
    """The size on disk of a media file, or of all the files in an image sequence's folder: with the name, how a
    model recognises the footage it was trained on."""
    path = Path(path)
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file()) if path.is_dir() else path.stat().st_size


SEQUENCE_SIDECAR = "sequence.json"
MAX_CAMERA_FPS = 240  # a tbr above this and above twice the average rate is a timebase, not a frame rate
_PRINTF = re.compile(r"%(0?)(\d*)d")


def _probe_sequence(folder: Path) -> VideoInfo:
    """An image sequence's folder described as a video; its `sequence.json` needs `fps` and `pattern` (printf
    style, e.g. `shot.%04d.dpx`), and may give `start` (the first frame's number; default the lowest present),
    `timecode`, `audio` (a file in the folder), `sar`, `field_order`, `colour_primaries` and `colour_transfer`."""
    sidecar = folder / SEQUENCE_SIDECAR
    example = '{"fps": "24000/1001", "pattern": "shot.%04d.dpx"}'
    if not sidecar.is_file():
        raise MediaError(f"{folder}: is a folder without {SEQUENCE_SIDECAR}. To read it as an image sequence, write "
                         f"one beside the frames giving their rate and file pattern, e.g. {example}")
    try:
        spec = json.loads(sidecar.read_text())
        fps = Fraction(str(spec["fps"])).limit_denominator(1001)
        pattern = str(spec["pattern"])
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as exc:
        raise MediaError(f"{sidecar}: unreadable ({type(exc).__name__}: {exc}); it needs at least \"fps\" and "
                         f"\"pattern\", e.g. {example}") from None
    counter = _PRINTF.search(pattern)
    if fps <= 0 or counter is None or "/" in pattern:
        raise MediaError(f"{sidecar}: \"pattern\" must name the frames in this folder with one printf counter "
                         f"such as %04d, and \"fps\" must be positive (got {pattern!r} at {spec['fps']})")
    digits = r"\d{%s,}" % counter[2] if counter[1] else r"\d+"
    name = re.compile(re.escape(pattern[:counter.start()]) + f"({digits})" + re.escape(pattern[counter.end():]))
    numbers = sorted(int(m[1]) for m in map(name.fullmatch, (p.name for p in folder.iterdir())) if m)
    if not numbers:
        raise MediaError(f"{folder}: no file matches the pattern {pattern!r} of its {SEQUENCE_SIDECAR}")
    start = int(spec.get("start", numbers[0]))
    present = set(numbers)
    count = 0
    while start + count in present:
        count += 1
    if count == 0 or count < sum(n >= start for n in present):
        missing = pattern % (start + count)
        raise MediaError(f"{folder}: frame {count} of the sequence ({missing}) is missing, but later frames exist; "
                         "render or copy the missing frames, or move the later ones away")
    for number in range(start, start + count):  # ffmpeg ends a sequence at an empty file, saying nothing
        if (folder / (pattern % number)).stat().st_size == 0:
            raise MediaError(f"{folder / (pattern % number)}: frame {number - start} of the image sequence {folder} "
                             "is an empty file (0 bytes), probably a failed render or copy. Render or copy it again.")
    inputs = ("-f", "image2", "-framerate", str(fps), "-start_number", str(start),
              "-i", f"file:{folder / pattern}")
    report = run_for_report(*inputs).stderr
    if "Input #0" not in report:
        raise MediaError(f"{folder / (pattern % start)}: {_open_failure(report)}")
    picture = _picture(_first_video(folder, _streams(report)), str(folder / (pattern % start)))
    timecode = spec.get("timecode")
    if timecode is not None and not TIMECODE.fullmatch(str(timecode)):
        raise MediaError(f"{sidecar}: \"timecode\" must look like HH:MM:SS:FF (';' for drop frame), not {timecode!r}")
    if spec.get("sar") is not None:  # pixels that are not square, which a picture file cannot say
        try:
            picture["sar"] = Fraction(str(spec["sar"]).replace(":", "/"))
        except (ValueError, ZeroDivisionError):
            raise MediaError(f"{sidecar}: \"sar\" (the pixel aspect ratio) must look like \"15:16\", not "
                             f"{spec['sar']!r}") from None
        if picture["sar"] <= 0:
            raise MediaError(f"{sidecar}: \"sar\" must be positive, not {spec['sar']!r}")
    if spec.get("field_order") is not None:  # interlaced pictures, which a picture file cannot say
        if spec["field_order"] not in ("progressive", "tff", "bff"):
            raise MediaError(f"{sidecar}: \"field_order\" must be \"progressive\", \"tff\" (interlaced, top field "
                             f"first) or \"bff\" (bottom field first), not {spec['field_order']!r}")
        picture["field_order"] = spec["field_order"]
    # what the RGB values of the pictures stand for, which most picture files do not say
    primaries, transfer = spec.get("colour_primaries"), spec.get("colour_transfer")
    if primaries is not None or transfer is not None:
        told = Colour.parse(f"gbr/{primaries or 'unknown'}/{transfer or 'unknown'}")
        picture["colour"] = replace(picture["colour"], primaries=told.primaries or picture["colour"].primaries,
                                    transfer=told.transfer or picture["colour"].transfer)
    sound = folder / str(spec["audio"]) if spec.get("audio") else None
    if sound is not None and not sound.is_file():
        raise MediaError(f"{sidecar}: names the audio file {spec['audio']!r}, which is not in {folder}")
    return VideoInfo(
        path=str(folder),
        **picture,
        rotation=0,
        fps=fps,
        frame_count=count,
        duration=float(count / fps),
        variable_frame_rate=False,
        audio=probe_audio(sound) if sound is not None else (),
        timecode=timecode,
        inputs=inputs,
        audio_file=str(sound) if sound is not None else None,
        pattern=pattern,
        first_number=start,
    )


def _picture(video: _Stream, where: str) -> dict:
    """Codec, pixel format, coded size and pixel aspect of a video stream, from its summary line; MediaError for
    pictures dvp cannot use (no size, or scene-linear light)."""
    fields = _fields(video.summary)
    size = re.search(r"\b(\d+)x(\d+)\b", fields[2] if len(fields) > 2 else "")
    if size is None:
        raise MediaError(f"{where}: ffmpeg reports no picture size for its video; re-encode or re-export it.")
    sar = re.search(r"SAR (\d+):(\d+)", video.summary)
    pix_fmt, colour = fields[1].split("(")[0], fields[1].partition("(")[2]
    if re.search(r"f(?:16|32)", pix_fmt) or "linear" in colour.split("/")[-1]:
        raise MediaError(f"{where}: its pictures are scene-linear light ({fields[1].strip()}, as in "
                         "EXR), and dvp works on display-referred pictures (what a player shows). Convert the plate "
                         "with its display transform first (to 16-bit TIFF, DPX or ProRes), then give that.")
    # "top first", "bottom first", or as MOV files often say "top coded first (swapped)": which field is shown first
    first = re.search(r"\b(top|bottom) (?:coded )?first", colour)
    field_order = {"top": "tff", "bottom": "bff"}[first[1]] if first else "progressive"
    return {"codec": fields[0].split()[0], "pix_fmt": pix_fmt, "width": int(size[1]),
            "height": int(size[2]), "field_order": field_order,
            "colour": Colour.parse(colour),
            "sar": Fraction(int(sar[1]), int(sar[2])) if sar and int(sar[1]) and int(sar[2]) else Fraction(1)}


def _read_header(path: str | Path) -> str:
    """ffmpeg's report on opening `path`; MediaError if it cannot be opened."""
    file = Path(path)
    if not file.exists():
        raise MediaError(f"{path}: no such file. Check the path (relative paths start from {Path.cwd()}).")
    if file.is_dir():
        raise MediaError(f"{path}: is a directory, not a media file. Give the path of a file inside it.")
    if file.stat().st_size == 0:
        raise MediaError(f"{path}: is empty (0 bytes), probably a failed download or copy. Fetch or export it again.")
    report = run_for_report("-i", f"file:{file}").stderr
    if "Input #0" not in report:
        raise MediaError(f"{path}: {_open_failure(report)}")
    return report


def _open_failure(report: str) -> str:
    """A user-facing reason why ffmpeg could not open a file, from its report."""
    if "misdetection possible" in report:  # ffmpeg guessed a format from the name alone
        return (
            "not a media file (its contents match no video or audio format: it may be text or "
            "a web page saved under a video name). Check that the right file was given."
        )
    if "moov atom not found" in report:
        return (
            "the MP4/MOV index ('moov atom') is missing, so the file is truncated: a download "
            "or copy was cut short, or a recording was not finalised. Fetch or export it again."
        )
    if "Invalid data found when processing input" in report:
        return "not a media file ffmpeg can read (invalid data), or badly damaged. Check the file or export it again."
    return f"ffmpeg cannot open it ({_last_line(report)}). Check the file or export it again."


@dataclass(frozen=True)
class _Stream:
    index: int
    kind: str  # Video, Audio, Data, Subtitle, Attachment
    summary: str  # the rest of the `Stream #0:N: Kind:` line
    details: list[str]  # the stream's metadata and side-data lines


def _streams(header: str) -> list[_Stream]:
    """The streams listed in ffmpeg's report, by index."""
    streams: list[_Stream] = []
    current: list[str] = []  # where the lines under a stream line belong
    for line in header.splitlines():
        match = _STREAM.match(line)
        if match:
            current = []
            streams.append(_Stream(int(match[1]), match[2], match[3], current))
        elif line.lstrip().startswith("Stream group"):
            current = []
        else:
            current.append(line)
    return sorted(streams, key=lambda stream: stream.index)


def _first_video(path: str | Path, streams: list[_Stream]) -> _Stream:
    """The stream `-map 0:V:0` selects: the first video that is not cover art."""
    for stream in streams:
        if stream.kind == "Video" and "(attached pic)" not in stream.summary:
            return stream
    if not streams:
        raise MediaError(f"{path}: contains no streams at all (an empty container). Export the video again.")
    found = ", ".join(f"{s.kind.lower()} ({s.summary.split()[0].rstrip(',')})" for s in streams)
    raise MediaError(f"{path}: has no video stream, only {found}. Give a video here; audio files are for dub audio.")


_LOSSLESS_AUDIO = ("flac", "alac", "wavpack", "tta", "mlp", "truehd", "ape", "shorten")
_SAMPLE_BITS = {"u8": 8, "s16": 16, "s32": 32, "s64": 64, "flt": 32, "dbl": 64}


def _audio_streams(streams: list[_Stream]) -> tuple[AudioStream, ...]:
    audio = []
    for stream in streams:
        if stream.kind == "Audio":
            fields = _fields(stream.summary)
            rate = re.search(r"(\d+) Hz", stream.summary)
            channels = _channels(fields[2]) if len(fields) > 2 else 0
            # the sample format, e.g. "s16", "fltp", or "s32 (24 bit)" for 24-bit sound held in 32-bit samples
            held = re.fullmatch(r"([a-z]+?\d*)p?(?: \((\d+) bit\))?", fields[3]) if len(fields) > 3 else None
            bits = int(held[2]) if held and held[2] else _SAMPLE_BITS.get(held[1], 16) if held else 16
            audio.append(AudioStream(stream.index, fields[0].split()[0], int(rate[1]) if rate else 0, channels,
                                     bits))
    return tuple(audio)


def _fields(summary: str) -> list[str]:
    """Split a stream summary at top-level commas: `yuv420p(tv, bt709)` is one field."""
    fields: list[str] = []
    depth = start = 0
    for i, char in enumerate(summary):
        depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            fields.append(summary[start:i].strip())
            start = i + 1
    return [*fields, summary[start:].strip()]


# Layouts ffmpeg names by word; numbered ones ("5.1(side)") add up their parts.
_NAMED_LAYOUTS = {
    "mono": 1, "stereo": 2, "downmix": 2, "quad": 4, "hexagonal": 6, "octagonal": 8, "cube": 8, "hexadecagonal": 16,
}


def _channels(layout: str) -> int:
    name = layout.split("(")[0]
    if name in _NAMED_LAYOUTS:
        return _NAMED_LAYOUTS[name]
    if re.fullmatch(r"\d+(\.\d+)+", name):
        return sum(int(part) for part in name.split("."))
    count = re.fullmatch(r"(\d+) channels", name)
    return int(count[1]) if count else 0


def _rate(line: str, label: str) -> Fraction | None:
    """A rate such as `29.97 fps` or `1k tbr`, as a Fraction.

    ffmpeg prints rates to two decimals, so NTSC rates (30000/1001 and kin) are
    recovered from their rounded form rather than kept as 2997/100.
    """
    match = re.search(rf"(\d+(?:\.\d+)?)(k?) {label}\b", line)
    if match is None:
        return None
    value = Fraction(match[1]) * (1000 if match[2] else 1)
    ntsc = round(value * Fraction(1001, 1000))
    if value.denominator != 1 and abs(value * Fraction(1001, 1000) - ntsc) < Fraction(1, 100):
        return Fraction(ntsc * 1000, 1001)
    return value


def _container_duration(header: str) -> float:
    match = _DURATION.search(header)
    return int(match[1]) * 3600 + int(match[2]) * 60 + float(match[3]) if match else 0.0


@dataclass(frozen=True)
class _Packets:
    """The first video stream's packets: how many, and when they are shown (seconds; None where a packet carries
    no timestamp or duration, as in raw elementary streams)."""

    count: int
    first: float | None = None  # when the earliest frame is shown, from the file's start
    end: float | None = None  # when the last frame stops being shown
    every: Fraction | None = None  # how long each frame is shown, when every frame is shown as long

    def span(self) -> float | None:
        return self.end - self.first if self.first is not None and self.end is not None else None


def _read_packets(path: str | Path, container_duration: float = 0.0) -> _Packets:
    """Count the frames of the first video stream exactly, and time them, by reading its packets.

    One line per packet from the `framecrc` muxer (stream, dts, pts, duration, size, checksum), which every
    ffmpeg release prints alike; the progress line's `frame=` is missing for stream copies in some releases
    (7.x among them), and ffmpeg on PATH may be any release. The timing matters for variable-rate video, where
    frames over the average rate is not its length: `VideoReader` samples it at a fixed rate from the first
    frame to the end of the last.
    """
    result = run_for_report("-i", f"file:{path}", "-map", "0:V:0", "-c", "copy", "-f", "framecrc", "-")
    rows = [line.split(",") for line in result.stdout.splitlines() if line.strip() and not line.startswith("#")]
    if not rows and result.returncode != 0:  # no packets in a file ffmpeg read to its end is "no frames", later
        reason = _last_line(result.stderr)
        raise MediaError(f"{path}: ffmpeg cannot read its video packets ({reason}). Export the video again.")
    cut = _CUT_SHORT.search(result.stderr)
    if cut is not None:
        raise MediaError(f"{path}: the file is cut short (ffmpeg: {cut[0].strip()}); only its first {len(rows)} "
                         "frames are there. Export or download it again; to work with the intact start, copy it "
                         f"into a new file first (ffmpeg -i {Path(path).name} -c copy intact{Path(path).suffix}).")
    base = _TIMEBASE.search(result.stdout)
    try:
        pts = [int(row[2]) for row in rows]
        shown = [int(row[3]) for row in rows]
    except (IndexError, ValueError):  # NOPTS, or a layout this parser does not know
        return _Packets(len(rows))
    if base is None or not rows or min(shown) <= 0:
        return _Packets(len(rows))
    tick = Fraction(int(base[1]), int(base[2]))
    lengths = set(shown)
    every = lengths.pop() * tick if len(lengths) == 1 else None
    if min(pts) < -(1 << 62):  # -(2**63): a packet without a timestamp (MPEG-PS gives only some of them one)
        return _Packets(len(rows), every=every)
    times = [(p * tick, (p + d) * tick) for p, d in zip(pts, shown)]
    # An edit list (MP4, MOV) can start the video after its first packets and end it before its last (a clip cut
    # without re-encoding starts at the keyframe before the cut): those packets come with times before the file's
    # start or from its duration on, and neither players nor the decoder show them.
    limit = Fraction(container_duration) if container_duration > 0 else None
    kept = [(a, b) for a, b in times if b > 0 and (limit is None or a < limit)] or times
    return _Packets(len(kept), float(min(a for a, _ in kept)), float(max(b for _, b in kept)), every)


def _last_line(report: str) -> str:
    lines = report.strip().splitlines()
    return lines[-1].strip() if lines else "no reason given"
