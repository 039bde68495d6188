"""Where the ffmpeg binary comes from.

A system ffmpeg wins because it may have codecs or hardware support that the
static build shipped by imageio-ffmpeg lacks; the bundled one means a plain
`pip install` is enough. There is deliberately no ffprobe dependency: the
bundled build does not include it, so probing parses ffmpeg's own output.
"""
from __future__ import annotations

import shutil
from functools import cache

import imageio_ffmpeg


@cache
def ffmpeg_path() -> str:
    """Absolute path of the ffmpeg executable to run."""
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()
