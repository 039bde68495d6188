"""The sound a dub is delivered with: the dub's dialogue at its own rate and depth, a music-and-effects stem mixed
under it or kept beside it, the level measured (and changed only when asked).

- Rate, channels and depth: the dialogue's own (48 kHz 24-bit stays so); the
  M&E stem is resampled and remixed to them. Samples are summed in float32,
  whose mantissa holds 24-bit PCM exactly.
- Length: the output's; a dub cut or padded with silence to it (with
  `--keep-length`) is warned of.
- Stems (`--stems`, MOV only): dialogue first, M&E second, as separate tracks,
  each as deep as the dialogue.
- Level: integrated loudness (ITU-R BS.1770-4 gating, by pyloudnorm) and true
  peak (4x oversampled, BS.1770-4 annex 2) of the mix (the stems summed), read
  back from the written output, so the report says what the file holds. With
  `loudness` (LUFS, e.g. -23 for EBU R128) one gain brings the mix there, both
  stems alike; a true peak above `TRUE_PEAK_LIMIT` afterwards is warned of (dvp
  does not limit).
"""
from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from base.audio import Sound, read_sound, write_wav
from base.errors import DvpError, MediaError
from base.ffmpeg_process import failure_reason, start_ffmpeg, stop
from base.probe import probe_audio

log = logging.getLogger("dvp")

TRUE_PEAK_LIMIT = -1.0  # dBTP, EBU R128's ceiling
OVERSAMPLE = 4
SHORTEST_MEASURED_S = 0.4  # BS.1770's gating block: shorter sound has no integrated loudness


@dataclass(frozen=True)
class DeliverySettings:
    music_effects: Path | None = None  # an M&E stem mixed under the dialogue (or kept beside it with `stems`)
    stems: bool = False  # dialogue and M&E as separate tracks (MOV)
    loudness: float | None = None  # LUFS the mix is brought to (None: left as it is)

    def check(self, fmt: str) -> None:
        if self.stems and self.music_effects is None:
            raise DvpError("--stems writes dialogue and music-and-effects as separate tracks: give the M&E stem with "
                           "--music-effects ME.wav")
        if self.stems and fmt != "prores":
            raise DvpError(f"--stems needs a MOV (ProRes) output, which carries several PCM tracks; this output is "
                           f"{fmt}: name it .mov or give --format prores")
        if self.music_effects is not None and not probe_audio(self.music_effects):
            raise DvpError(f"--music-effects {self.music_effects} has no audio stream; give the M&E stem's sound file")
        if self.loudness is not None and not -70 <= self.loudness <= 0:
            raise DvpError(f"--loudness {self.loudness}: give a level in LUFS between -70 and 0 (-23 for EBU R128, "
                           "-24 for ATSC A/85)")


def fitted(sound: Sound, seconds: float, what: str, warn: bool = True) -> Sound:
    """`sound` cut or padded with silence to `seconds`."""
    count = round(seconds * sound.rate)
    if warn and abs(count - len(sound.samples)) > sound.rate * 0.02:
        log.warning("%s lasts %.2f s and the output %.2f s: it is %s", what, sound.seconds, seconds,
                    "cut" if count < len(sound.samples) else "padded with silence")
    samples = np.zeros((count, sound.channels), np.float32)
    samples[:min(count, len(sound.samples))] = sound.samples[:count]
    return Sound(samples, sound.rate, sound.bits)


def true_peak_db(samples: np.ndarray, rate: int) -> float:
    """The highest inter-sample peak, dBTP (4x oversampled)."""
    from scipy.signal import resample_poly

    if not len(samples):
        return float("-inf")
    peak = max(float(np.abs(resample_poly(samples[:, c].astype(np.float64), OVERSAMPLE, 1)).max())
               for c in range(samples.shape[1]))
    return 20 * np.log10(peak) if peak > 0 else float("-inf")


def integrated_loudness(samples: np.ndarray, rate: int) -> float | None:
    """LUFS by ITU-R BS.1770-4; None for sound too short or too quiet to gate."""
    import pyloudnorm

    if len(samples) < SHORTEST_MEASURED_S * rate:
        return None
    value = pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64))
    return float(value) if np.isfinite(value) else None


def deliver(dialogue: Sound, seconds: float, settings: DeliverySettings, folder: Path,
            warn_length: bool = True) -> Path:
    """The sound file the output is muxed with, written in `folder`: the dialogue fitted to `seconds`, with the
    M&E mixed under it or as a second stream, at the level asked."""
    dialogue = fitted(dialogue, seconds, "the dub", warn_length)
    stems = [dialogue]
    if settings.music_effects is not None:
        me = read_sound(settings.music_effects, dialogue.rate, dialogue.channels)
        stems.append(fitted(Sound(me.samples, me.rate, dialogue.bits), seconds, f"the M&E stem "
                                                                                 f"{settings.music_effects.name}"))
    mix = sum(s.samples for s in stems)
    if settings.loudness is not None:
        level = integrated_loudness(mix, dialogue.rate)
        if level is None:
            raise DvpError(f"--loudness: the dub is too short or too quiet to measure (under {SHORTEST_MEASURED_S} s "
                           "of sound above -70 LUFS); leave out --loudness")
        gain = np.float32(10 ** ((settings.loudness - level) / 20))
        stems = [Sound(s.samples * gain, s.rate, s.bits) for s in stems]
        mix = mix * gain
        peak = true_peak_db(mix, dialogue.rate)
        if peak > TRUE_PEAK_LIMIT:
            log.warning("brought to %.1f LUFS the mix peaks at %.1f dBTP, above %.0f dBTP: it needs a limiter before "
                        "delivery (dvp does not limit)", settings.loudness, peak, TRUE_PEAK_LIMIT)
    if np.abs(mix).max(initial=0) > 1 and not settings.stems:
        log.warning("the mix of dialogue and M&E clips (peak %.1f dBFS): lower the stems or give --loudness",
                    20 * np.log10(np.abs(mix).max()))
    if not settings.stems:
        path = folder / "dub_mix.wav"
        write_wav(path, Sound(mix, dialogue.rate, dialogue.bits))
        return path
    paths = []
    for name, stem in zip(("dialogue", "music_effects"), stems):
        paths.append(folder / f"dub_{name}.wav")
        write_wav(paths[-1], stem)
    return joined_streams(paths, folder / "dub_stems.mka")


def joined_streams(paths: list[Path], output: Path) -> Path:
    """One file holding each of `paths`' sound as its own stream, in order (copied, not re-encoded)."""
    args = [a for p in paths for a in ("-i", f"file:{p}")]
    maps = [a for i in range(len(paths)) for a in ("-map", f"{i}:a:0")]
    process, stderr = start_ffmpeg([*args, *maps, "-c", "copy", "-y", f"file:{output}"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        process.wait()
        if process.returncode != 0:
            raise MediaError(f"joining the dub's stems failed ({failure_reason(process, stderr)})")
    finally:
        stop(process)
    return output


def measured(output: Path) -> dict:
    """The level of the mix the written output carries (its audio streams summed) and what they are."""
    streams = probe_audio(output)
    if not streams:
        return {"audio_tracks": 0}
    first = read_sound(output)
    mix = first.samples.astype(np.float64)
    for k in range(1, len(streams)):
        other = read_sound(output, first.rate, first.channels, stream=k).samples
        n = min(len(mix), len(other))
        mix = mix[:n] + other[:n]
    level = integrated_loudness(mix, first.rate)
    pcm = streams[0].codec.startswith("pcm_")
    return {"audio_tracks": len(streams), "audio_rate": first.rate, "audio_bits": streams[0].bits if pcm else None,
            "audio_codec": streams[0].codec,
            "loudness_lufs": round(level, 2) if level is not None else None,
            "true_peak_dbtp": round(true_peak_db(mix, first.rate), 2)}
