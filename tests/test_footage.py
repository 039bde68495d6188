"""Every real clip tracks and renders in line with the face. Skipped without the footage."""
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
RENDER_FRAMES = 48


@pytest.fixture(scope="module")
def tracked(footage, tmp_path_factory):
    """Tracks each clip once for every test here: clip -> (track path, report)."""
    folder = tmp_path_factory.mktemp("footage")
    done = {}

    def track(clip):
        if clip not in done:
            out, report = folder / f"{clip}.npz", folder / f"{clip}.json"
            assert main(["track", str(footage / clip), "-o", str(out), "--report", str(report), "-q"]) == 0
            done[clip] = (out, json.loads(report.read_text()))
        return done[clip]

    return track


@pytest.mark.parametrize("clip", sorted(CLIPS))
def test_clip_tracks(tracked, clip):
    out, rep = tracked(clip)
    frames, size = CLIPS[clip]
    assert rep["frames"] == frames
    assert rep["valid_ratio"] >= 0.98
    assert rep["nme"] <= (0.02 if clip.startswith("hdtf") else 0.03)
    track = load_track(out)
    assert (track.header["source"]["width"], track.header["source"]["height"]) == size
    assert len(track) == frames


@pytest.mark.parametrize("clip", sorted(CLIPS))
def test_clip_conditioning_lines_up(tracked, footage, clip, tmp_path):
    out, _ = tracked(clip)
    report = tmp_path / "r.json"
    assert main(["render", str(out), "--video", str(footage / clip), "-o", str(tmp_path / "p.mp4"),
                 "--frames", str(RENDER_FRAMES), "--report", str(report), "-q"]) == 0
    rep = json.loads(report.read_text())
    assert rep["frames"] == RENDER_FRAMES
    assert rep["photometric_error"] < 0.12
