"""Every real clip tracks; the HDTF clips meet the NME target. Skipped without the footage."""
import json

import pytest

from pipeline.cli import main
from reconstruction.track import load_track

CLIPS = {  # clip: (frames, display size)
    "hdtf_aoc.mp4": (200, (512, 512)),
    "hdtf_khill.mp4": (200, (512, 512)),
    "lp_d0.mp4": (78, (512, 512)),
    "lp_d3.mp4": (354, (512, 512)),
    "lp_d9.mp4": (587, (480, 480)),  # 512x480 with SAR 15:16, resampled to square pixels
    "lp_d14.mp4": (536, (512, 512)),
}


@pytest.mark.parametrize("clip", sorted(CLIPS))
def test_clip_tracks(footage, clip, tmp_path):
    out, report = tmp_path / "t.npz", tmp_path / "r.json"
    assert main(["track", str(footage / clip), "-o", str(out), "--report", str(report), "-q"]) == 0
    rep = json.loads(report.read_text())
    frames, size = CLIPS[clip]
    assert rep["frames"] == frames
    assert rep["valid_ratio"] >= 0.98
    assert rep["nme"] <= (0.02 if clip.startswith("hdtf") else 0.03)
    track = load_track(out)
    assert (track.header["source"]["width"], track.header["source"]["height"]) == size
    assert len(track) == frames
