"""Sound for analysis: any file's first audio stream, decoded by ffmpeg to mono at one sample rate, in blocks.

Speech analysis wants one rate and one channel whatever the file holds (a 48 kHz
24-bit stereo dub, the 16 kHz AAC of a clip, MP2 in an MPEG-PS file), so ffmpeg
mixes the channels down and resamples. The samples come through a pipe in blocks,
so a feature extractor can walk a feature film in bounded memory; `read_audio`
gathers them for clips short enough to hold (16 kHz mono float32: 3.8 MB a minute).

Sound for delivery is another matter: a dub keeps its own sample rate, channels
and depth (`read_sound`, `write_wav`). Its samples travel as float32, whose 24-bit
mantissa holds 16- and 24-bit PCM exactly, so a 24-bit dub that is only cut or
padded comes out bit for bit.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from base.errors import MediaError
from base.ffmpeg_process import failure_reason, start_ffmpeg, stop
from base.probe import audio_file, probe_audio

ANALYSIS_RATE = 16_000  # Hz: what the speech recogniser's acoustic model was trained at


def audio_blocks(path: str | Path, rate: int = ANALYSIS_RATE, seconds: float = 30.0) -> Iterator[np.ndarray]:
    """The first audio stream of `path` (a media file, or an image sequence with an audio file) as float32 mono
    blocks in [-1, 1] of `seconds` each at `rate` (the last one shorter). MediaError when there is no sound."""
    source = audio_file(path)
    if not probe_audio(source):
        raise MediaError(f"{path}: has no audio stream. Give a file with sound (for a silent video, give the "
                         f"speech separately, e.g. with --audio).")
    size = 2 * max(1, round(seconds * rate))
    for raw in _decoded(path, source, ["-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(rate), "-f", "s16le"], size):
        yield np.frombuffer(raw[:len(raw) // 2 * 2], np.int16).astype(np.float32) / 32768.0


def _decoded(path: str | Path, source: Path, args: list[str], block: int) -> Iterator[bytes]:
    """ffmpeg's decoding of `source` (output options `args`) in blocks of `block` bytes through a pipe;
    MediaError naming `path` when it fails."""
    process, stderr = start_ffmpeg(["-i", f"file:{source}", *args, "-"], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE)
    assert process.stdout is not None
    try:
        while True:
            raw = process.stdout.read(block)
            if raw:
                yield raw
            if len(raw) < block:
                break
        process.wait()
        if process.returncode != 0:
            raise MediaError(f"{path}: its sound could not be decoded ({failure_reason(process, stderr)}). Check "
                             f"the file or export it again.")
    finally:
        stop(process)


def read_audio(path: str | Path, rate: int = ANALYSIS_RATE) -> np.ndarray:
    """The whole first audio stream of `path` as float32 mono samples at `rate` (see `audio_blocks`)."""
    blocks = list(audio_blocks(path, rate))
    return np.concatenate(blocks) if blocks else np.zeros(0, np.float32)


@dataclass(frozen=True)
class Sound:
    """Samples at a file's own rate, channels and depth, for writing out again."""

    samples: np.ndarray  # (n, channels) float32 in [-1, 1]
    rate: int
    bits: int  # 16 or 24: the depth to write it back at

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate

    @property
    def channels(self) -> int:
        return self.samples.shape[1]


def read_sound(path: str | Path, rate: int | None = None, channels: int | None = None, stream: int = 0) -> Sound:
    """Audio stream `stream` (0: the first) of `path` at its own rate and channels (or resampled and remixed to
    `rate` and `channels`, to mix it with another sound), and the depth to keep it at: 24 bits where it is lossless
    and deeper than 16, else 16. MediaError when there is no sound or it cannot be decoded."""
    source = audio_file(path)
    streams = probe_audio(source)
    if not streams:
        raise MediaError(f"{path}: has no audio stream. Give a file with sound.")
    if stream >= len(streams):
        raise MediaError(f"{path}: has {len(streams)} audio stream(s), not {stream + 1}.")
    info = streams[stream]
    rate = rate or info.sample_rate
    channels = channels or info.channels or 2
    raw = b"".join(_decoded(path, source, ["-map", f"0:a:{stream}", "-vn", "-ac", str(channels), "-ar", str(rate),
                                           "-f", "f32le"], 1 << 22))
    samples = np.frombuffer(raw[:len(raw) // (4 * channels) * 4 * channels], "<f4").reshape(-1, channels)
    return Sound(samples.copy(), rate, 24 if info.pcm_codec == "pcm_s24le" else 16)


def write_wav(path: str | Path, sound: Sound) -> None:
    """`sound` as a PCM WAV at its rate and depth, written whole or not at all."""
    import soundfile

    from base.atomic import replacing

    with replacing(path) as temporary:
        soundfile.write(temporary, np.clip(sound.samples, -1.0, 1.0 - 2.0 ** -23), sound.rate,
                        subtype="PCM_24" if sound.bits == 24 else "PCM_16", format="WAV")
