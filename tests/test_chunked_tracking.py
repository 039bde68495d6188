"""Tracking in frame chunks (as the farm's detection tasks do) gives the track of one pass, on every real clip."""
from pathlib import Path

import numpy as np
import pytest
from conftest import FOOTAGE

from base.errors import DvpError
from base.reading import VideoReader
from pipeline.tracking import TrackOptions, detect_faces, track_video
from reconstruction.track import load_track

SEGMENT = 64  # small, so that every clip is cut into several chunks, and chunks into several segments
CHUNK = 2 * SEGMENT
PARAMETERS = ("rotation", "translation", "expression", "gaze", "sh", "identity", "albedo", "landmarks")
CLIPS = sorted(p.name for p in FOOTAGE.glob("*") if p.suffix in (".mp4", ".mpg", ".mov")) or ["lp_d0.mp4"]


def detect_in_chunks(video: Path, folder: Path, options: TrackOptions) -> list[Path]:
    frames = VideoReader(video).frame_count
    files = []
    for first in range(0, frames, CHUNK):  # the last chunk counted out, so the first's read runs to the end
        files.append(folder / f"faces-{first}.npz")
        detect_faces(video, files[-1], first, CHUNK if first + CHUNK < frames else None, options)
    return files[::-1]  # in any order


@pytest.mark.parametrize("clip", CLIPS)
def test_chunked_tracking_equals_one_pass(footage, clip, tmp_path):
    video = footage / clip
    options = TrackOptions(segment=SEGMENT, show_progress=False)
    track_video(video, tmp_path / "one.track.npz", options=options)
    files = detect_in_chunks(video, tmp_path, options)
    assert len(files) >= 1
    report = track_video(video, tmp_path / "chunks.track.npz", options=options, detections=files)
    one, chunked = load_track(tmp_path / "one.track.npz"), load_track(tmp_path / "chunks.track.npz")
    assert np.array_equal(one.valid, chunked.valid) and np.array_equal(one.interpolated, chunked.interpolated)
    assert report["valid_frames"] == int(one.valid.sum())
    for name in PARAMETERS:
        np.testing.assert_allclose(getattr(chunked, name), getattr(one, name), rtol=1e-6, atol=1e-6,
                                   err_msg=f"{clip}: {name}")


def test_detections_that_leave_frames_out_or_differ_are_refused(footage, tmp_path):
    video = footage / "lp_d3.mp4"
    options = TrackOptions(segment=SEGMENT, show_progress=False)
    files = detect_in_chunks(video, tmp_path, options)[::-1]  # frames 0-127, 128-255, 256-353
    with pytest.raises(DvpError, match="detect frames 0-127"):
        track_video(video, tmp_path / "t.npz", options=options, detections=files[1:])
    with pytest.raises(DvpError, match="not to its end"):
        track_video(video, tmp_path / "t.npz", options=options, detections=files[:-1])
    with pytest.raises(DvpError, match="segment"):
        track_video(video, tmp_path / "t.npz", options=TrackOptions(segment=128, show_progress=False),
                    detections=files)
    with pytest.raises(DvpError, match="multiple of 64"):
        detect_faces(video, tmp_path / "f.npz", 10, 20, options)
    assert not list(tmp_path.glob(".dvp-tmp-*")) and not (tmp_path / "t.npz").exists()
