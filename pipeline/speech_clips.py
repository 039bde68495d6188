"""Videos with speech as the audio models see them: the sound's features, each frame's time, the tracked mouth.

Shared by `dvp train-audio`, `dvp sync-check` and the benchmarks. A frame's time
on the sound's clock is the middle of its display, counted from the file's start
(the video's lead over the sound included), so the frame rate and the container
do not matter. Tracks are made on demand and kept in a folder when one is given,
so a second run over the same clips does not track them again.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from base.audio import read_audio
from base.errors import DvpError, MediaError
from base.probe import probe
from base.reading import VideoReader
from pipeline.tracking import TrackOptions, track_video
from reconstruction.track import Track, load_track
from speech.audio_training import SpeechClip
from speech.features import SpeechFeatures, analyse
from speech.mouth import LipGeometry, mouth_columns, rest_pose, tracked_mouth
from speech.phones import FRAME_SECONDS

METER_SIGNALS = ("lip_gap", "jaw_open")  # what the lip-sync meter compares: both read from the re-tracked mesh


@dataclass(frozen=True)
class TrackedSpeech:
    """A video's sound features, frame times and track, with the mouth read from the track."""

    video: Path
    features: SpeechFeatures
    times: np.ndarray  # (F,) seconds on the sound's clock
    track: Track
    controls: np.ndarray  # (F, C) the tracked `MOUTH_CONTROLS`
    lip_gap: np.ndarray  # (F,) millimetres
    speaking: np.ndarray  # (F,) bool: voice activity at the frame's time

    @property
    def rest(self) -> np.ndarray:
        return rest_pose(self.controls[self.track.valid], ~self.speaking[self.track.valid],
                         self.lip_gap[self.track.valid])

    def mouth_clip(self) -> SpeechClip:
        """The clip for the dubbing model: the mouth controls as departures from this actor's rest."""
        columns = mouth_columns(self.track.expression_names)
        geometry = 10 * self.lips().basis[columns].reshape(len(columns), -1)
        return SpeechClip(self.video.name, self.features, self.times, self.controls - self.rest, self.track.valid,
                          geometry.astype(np.float32))

    def meter_signals(self) -> np.ndarray:
        """(F, 2) the lip gap and the jaw opening, each standardised over the clip's tracked frames."""
        jaw = self.controls[:, 0]
        signals = np.stack([self.lip_gap, jaw], axis=1)
        good = signals[self.track.valid]
        return ((signals - good.mean(axis=0)) / (good.std(axis=0) + 1e-6)).astype(np.float32)

    def meter_clip(self) -> SpeechClip:
        """The clip for the lip-sync meter: standardised opening signals."""
        return SpeechClip(self.video.name, self.features, self.times, self.meter_signals(), self.track.valid)

    def lips(self) -> LipGeometry:
        return LipGeometry.of(self.track.identity)

    def full_expression(self, mouth: np.ndarray) -> np.ndarray:
        """(F, K) the tracked expression with the mouth controls replaced by `mouth` (absolute values)."""
        out = self.track.expression.astype(np.float64).copy()
        out[:, mouth_columns(self.track.expression_names)] = mouth
        return out


def frame_times(video: str | os.PathLike, frames: int | None = None, from_video_start: bool = False) -> np.ndarray:
    """The middle of each frame's display on the sound's clock, seconds: the file's own sound starts with the file
    (the video may lead it); a separate sound file is taken to start with the first frame (`from_video_start`)."""
    info = probe(video)
    count = info.frame_count if frames is None else frames
    return (0.0 if from_video_start else info.lead) + (np.arange(count) + 0.5) / float(info.fps)


def sound_features(path: str | os.PathLike) -> SpeechFeatures:
    """The speech features of a file's first audio stream."""
    samples = read_audio(path)
    if not len(samples):
        raise MediaError(f"{path}: its audio stream holds no samples. Give a file with sound.")
    return analyse(samples)


def _checked(track: Track, video: Path) -> Track:
    """The track, refused by name when it was made from another video or found no face at all."""
    info = VideoReader(video)
    track.check_video(video, info.width, info.height, info.frame_count)
    if not track.valid.any():
        raise DvpError(f"{video}: no face was tracked in any frame; the audio models need a visible speaker.")
    return track


def track_for(video: Path, tracks: Path | None, show_progress: bool = False) -> Track:
    """The video's track from the folder `tracks` (made there if missing), or made in a scratch file."""
    if tracks is not None:
        tracks.mkdir(parents=True, exist_ok=True)
        path = tracks / f"{video.stem}.track.npz"
        if not path.is_file():
            track_video(video, path, options=TrackOptions(show_progress=show_progress))
        track = load_track(path)
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix=".dvp-track-", dir=video.parent if os.access(
                video.parent, os.W_OK) else None) as scratch:
            path = Path(scratch) / "track.npz"
            track_video(video, path, options=TrackOptions(show_progress=show_progress))
            track = load_track(path)
    return _checked(track, video)


def tracked_speech(video: str | os.PathLike, tracks: Path | None = None, track: Track | None = None,
                   features: SpeechFeatures | None = None, times: np.ndarray | None = None,
                   show_progress: bool = False) -> TrackedSpeech:
    """Everything the audio models need from one video with speech (its own sound unless `features` and the
    frames' `times` on that sound's clock are given)."""
    video = Path(video)
    features = features if features is not None else sound_features(video)
    track = _checked(track, video) if track is not None else track_for(video, tracks, show_progress)
    times = times if times is not None else frame_times(video, len(track))
    controls, gap = tracked_mouth(track)
    speaking = features.speech[np.clip(np.floor(times / FRAME_SECONDS).astype(int), 0, max(len(features) - 1, 0))] \
        if len(features) else np.zeros(len(times), bool)
    return TrackedSpeech(video, features, times, track, controls, gap, speaking)
