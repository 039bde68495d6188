"""Which sound an output carries: the source's, the target's, none, or a file, checked before any work."""
from __future__ import annotations

import logging
from pathlib import Path

from base.errors import DvpError
from base.probe import audio_file, media_seconds, probe_audio

log = logging.getLogger("dvp")


def audio_source(choice: str, source: Path | None, target: Path) -> Path | None:
    """'source', 'target', 'none' or a file: the file whose audio streams the output carries (None: silence).
    A choice that cannot be met is an error, raised before any work."""
    if choice == "none":
        return None
    if choice == "source" and source is None:
        raise DvpError("--audio source: an edit has no source video; give target (the default), none or an audio "
                       "file")
    if choice in ("source", "target"):
        path = source if choice == "source" else target
        return audio_file(path) if path is not None and probe_audio(path) else None  # a sequence's: its audio file
    path = Path(choice)
    if not probe_audio(path):
        raise DvpError(f"--audio {path} has no audio stream; give a file with sound, or source, target or none")
    return path


def choose_audio(choice: str, source: Path | None, target: Path, seconds: float, fmt: str = "mp4") -> Path | None:
    """The audio of an output `seconds` long in `fmt` (see `audio_source`). A video output carries all of the
    file's audio streams; a PNG sequence's `audio.wav` only the first, which is warned of. Warns too when the sound
    ends before the picture (the rest is silent)."""
    path = audio_source(choice, source, target)
    if path is None:
        return None
    streams = probe_audio(path)
    if len(streams) > 1 and fmt == "png":
        log.warning("%s has %d audio streams; a PNG sequence's audio.wav carries the first (%d channels, %s): for "
                    "all of them, write a MOV or MP4", path.name, len(streams), streams[0].channels, streams[0].codec)
    length = media_seconds(path)
    if 0 < length < seconds - 0.1:
        log.warning("the audio from %s ends at %.2f s, the output runs %.2f s: the rest is silent", path.name, length,
                    seconds)
    return path
