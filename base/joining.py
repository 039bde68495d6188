"""Segments of one video, encoded apart (by a render farm's tasks), joined into one file without re-encoding.

ffmpeg's concat demuxer reads the segments one after the other as one stream, and
the video is copied, not encoded again: an intra-only ProRes output is then the
same, frame for frame, as one encoded in one pass. The sound (cut to the video's
length) and the start timecode are added in the same pass, as `VideoWriter`
adds them to a video it wrote. The file appears at its path only when complete.
"""
from __future__ import annotations

import os
import secrets
import subprocess
from fractions import Fraction
from pathlib import Path

from base.errors import MediaError
from base.ffmpeg_process import failure_reason, forget_unfinished, start_ffmpeg, track_unfinished
from base.probe import audio_file, probe, probe_audio
from base.writing import _FORMATS

CODECS = {"mp4": "h264", "prores": "prores"}


def join_segments(segments: list[str | os.PathLike], output: str | os.PathLike, fmt: str,
                  audio: str | os.PathLike | None = None, timecode: str | None = None) -> int:
    """Join `segments` (in order; the same format, size and rate) into `output` (`fmt` mp4 or prores), with the
    sound of `audio` and the start `timecode`; returns the number of frames."""
    if fmt not in CODECS:
        raise MediaError(f"{output}: segments are joined into mp4 or prores files, not {fmt}")
    if not segments:
        raise MediaError(f"{output}: no segments to join")
    form = _FORMATS[CODECS[fmt]]
    output = Path(output)
    infos = [probe(s) for s in segments]
    shapes = {(i.width, i.height, i.fps, i.codec) for i in infos}
    if len(shapes) > 1:
        raise MediaError(f"{output}: the segments differ in size, rate or codec ({sorted(map(str, shapes))}); "
                         "they must all come from one job")
    frames = sum(i.frame_count for i in infos)
    seconds = Fraction(frames) / Fraction(infos[0].fps)
    listing = output.with_name(f".dvp-tmp-{secrets.token_hex(4)}-segments.txt")
    temporary = output.with_name(f".dvp-tmp-{secrets.token_hex(4)}-{output.name}")
    listing.write_text("".join(f"file '{_quoted(Path(s).resolve())}'\n" for s in segments))
    track_unfinished(temporary)
    sound, maps, codec = (), (), ()
    if audio is not None:
        streams = tuple(s for s in probe_audio(audio) if s.codec != "none")
        if not streams:
            raise MediaError(f"{audio}: has no audio stream to add to {output}. Give a file with sound.")
        sound = ("-i", f"file:{audio_file(audio)}")
        maps = tuple(arg for s in streams for arg in ("-map", f"1:{s.index}"))
        codec = form.audio_codec or tuple(arg for i, s in enumerate(streams) for arg in (f"-c:a:{i}", s.pcm_codec))
    try:
        process, stderr = start_ffmpeg(
            ["-f", "concat", "-safe", "0", "-i", f"file:{listing}", *sound, "-map", "0:v:0", *maps, "-c:v", "copy",
             *codec, "-t", f"{float(seconds):.6f}", *(("-timecode", timecode) if timecode else ()), *form.finish,
             "-f", form.muxer, f"file:{temporary}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        if process.wait() != 0:
            raise MediaError(f"{output}: joining {len(segments)} segments failed ({failure_reason(process, stderr)})")
        os.replace(temporary, output)
    finally:
        listing.unlink(missing_ok=True)
        temporary.unlink(missing_ok=True)
        forget_unfinished(temporary)
    return frames


def _quoted(path: Path) -> str:
    """A path as the concat demuxer's list file quotes it."""
    return str(path).replace("'", "'\\''")
