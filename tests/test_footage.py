"""Every real clip tracks and renders in line with the face. Skipped without the footage."""
import json

import pytest
from clips import FFMPEG, as_marked

from pipeline.cli import main
from reconstruction.track import load_track

CLIPS = {  # clip: (frames, display size)
    "hdtf_aoc.mp4": (200, (512, 512)),
    "hdtf_khill.mp4": (200, (512, 512)),
    "lp_d0.mp4": (78, (512, 512)),
    "lp_d3.mp4": (354, (512, 512)),
    "lp_d9.mp4": (587, (480, 480)),  # 512x480 with SAR 15:16, resampled to square pixels
    "lp_d14.mp4": (536, (512, 512)),
    "talk_elder.mp4": (209, (480, 360)),  # 29.97 fps, an edit list that hides 55 frames before and 2 after
    "talk_sofa_portrait.mp4": (600, (1080, 1920)),  # HEVC, a phone's portrait video
    "grid_bbaf2n.mpg": (75, (360, 288)),  # MPEG-1 in MPEG-PS, 25 fps (ffmpeg's tbr says 50)
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
    assert main(["render", str(footage / clip), "--track", str(out), "-o", str(tmp_path / "p.mp4"),
                 "--frames", str(RENDER_FRAMES), "--report", str(report), "-q"]) == 0
    rep = json.loads(report.read_text())
    assert rep["frames"] == RENDER_FRAMES
    assert rep["photometric_error"] < 0.12


def test_a_gaze_edit_on_real_footage_needs_no_model_and_reads_back(tracked, footage, tmp_path):
    """hdtf_khill looks 12 degrees towards his left for 100 frames, by the gaze warp alone: tracked again, the
    output shows that gaze to within a few degrees, and his head and face as shot."""
    out, _ = tracked("hdtf_khill.mp4")
    spec = tmp_path / "look.yaml"
    spec.write_text("version: 1\nedits:\n  - frames: [50, 149]\n    ease: 8\n    gaze: {yaw: 12, pitch: 0}\n")
    report = tmp_path / "r.json"
    assert main(["edit", str(footage / "hdtf_khill.mp4"), "--edits", str(spec), "-o", str(tmp_path / "look.mov"),
                 "--track", str(out), "--report", str(report), "--verify", "-q"]) == 0
    rep = json.loads(report.read_text())
    assert rep["model"] is None and rep["eyes_only_frames"] == 100 and rep["audio"] == "hdtf_khill.mp4"
    f = rep["faithfulness"]
    assert f["frames"] >= 80 and f["gaze_error_deg"] < 3.5  # 2.1 measured; unturned eyes would be about 12 off
    assert f["pose_error_deg"] < 1.0 and f["expression_nme"] < 0.006


def test_a_ten_bit_plate_of_real_footage_keeps_its_depth_and_reads_as_a_sequence(tracked, footage, tmp_path):
    """hdtf_khill as a 10-bit ProRes plate, with a gaze edit to 16-bit PNGs: the frames outside the edit are the
    plate's own at 16 bits, bit for bit, and the PNG folder, read back as an image sequence, is the same shot
    (frame count, rate, audio, depth)."""
    import subprocess

    import cv2
    import numpy as np

    from base.probe import probe
    from base.reading import VideoReader

    track, _ = tracked("hdtf_khill.mp4")
    plate = tmp_path / "khill_10bit.mov"
    subprocess.run([FFMPEG, "-v", "error", "-i", str(footage / "hdtf_khill.mp4"),
                    "-c:v", "prores_ks", "-profile:v", "3", "-pix_fmt", "yuv422p10le", "-c:a", "pcm_s16le",
                    "-timecode", "10:00:00:00", str(plate)], check=True)
    spec = tmp_path / "look.yaml"
    spec.write_text("version: 1\nedits:\n  - frames: [50, 149]\n    ease: 8\n    gaze: {yaw: 12, pitch: 0}\n")
    out = tmp_path / "look"
    assert main(["edit", str(plate), "--edits", str(spec), "-o", str(out), "--track", str(track),
                 "--report", str(tmp_path / "r.json"), "--gaze-gain", "0.75", "-q"]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["bit_depth"] == 16
    for i, frame in enumerate(VideoReader(plate, deep=True)):
        if i % 10 == 0:
            written = cv2.imread(str(out / f"frame_{i:06d}.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
            assert np.array_equal(written, as_marked(frame, report)) == (not 50 <= i <= 149), f"frame {i}"
    info = probe(out)
    assert (info.frame_count, info.fps, info.bits_per_component, info.timecode) == (200, 25, 16, "10:00:00:00")
    assert [a.codec for a in info.audio] == ["pcm_s16le"]
    by_timecode = tmp_path / "tc.yaml"  # the sequence edited again, its range named on the shot's timeline
    by_timecode.write_text("version: 1\nedits:\n  - frames: ['10:00:02:00', '10:00:03:24']\n    gaze: camera\n")
    assert main(["edit", str(out), "--edits", str(by_timecode), "-o", str(tmp_path / "again.mp4"), "--track",
                 str(track), "--report", str(tmp_path / "tc.json"), "--gaze-gain", "0.75", "-q"]) == 0
    rep = json.loads((tmp_path / "tc.json").read_text())
    assert (rep["edited_frames"], rep["eyes_only_frames"], rep["timecode"], rep["audio"]) == \
        (50, 50, "10:00:00:00", "audio.wav")
    assert probe(tmp_path / "again.mp4").timecode == "10:00:00:00"
