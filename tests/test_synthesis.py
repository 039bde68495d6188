"""Synthesis as named steps (render, translate, composite, eyes, write), run with a stand-in translator."""
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from base.reading import VideoReader
from pipeline.synthesis import SynthesisOptions, synthesise
from pipeline.transfer import Performance
from reconstruction.fitting import actor_from_track
from reconstruction.track import load_track
from rendering.crop import shot_crop

RED = (255, 0, 0)  # the compositor matches colours in a ring around the face, so the head comes out tinted


@dataclass
class Config:
    size: int = 64
    window: int = 3


class StandIn:
    """Paints every crop it is given plain red, and remembers what it was given."""

    config = Config()
    batch_size = 4

    def __init__(self):
        self.windows = []

    def plates(self, crops, faces):
        assert crops.shape[1:] == (3, 64, 64) and len(faces) == 2
        return None

    def __call__(self, windows, plates=None):
        self.windows.append(tuple(windows.shape))
        return torch.tensor(RED, dtype=torch.uint8).view(1, 3, 1, 1).expand(len(windows), 3, 64, 64).clone()


def _frames(folder: Path) -> list[np.ndarray]:
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(folder.glob("frame_*.png"))]


def test_synthesise_paints_faded_frames_and_passes_the_rest_through(astro, tmp_path):
    video, track_path = astro
    track = load_track(track_path)
    n = len(track)
    fade = np.zeros(n)
    fade[10:20] = 1.0  # painted
    fade[20:24] = 0.5  # painted, half blended
    eyes_only = np.zeros(n, bool)
    eyes_only[12:14] = True  # the gaze alone changes here: never the network's
    performance = Performance(track=track, target_frames=np.arange(n), eyes_only=eyes_only)
    crop = shot_crop(track, actor_from_track(track))
    translator = StandIn()
    out = tmp_path / "out"
    stats = synthesise(performance, translator, crop, track, video, out,
                       SynthesisOptions(fmt="png", show_progress=False, pose_calibration=False, gaze_warp=True),
                       fade=fade, preview=tmp_path / "preview.mp4")

    painted = (fade > 0) & ~eyes_only
    assert stats["synthesised_frames"] == painted.sum() == 12
    assert stats["eyes_only_frames"] == 2 and stats["passed_through_frames"] == n - 14
    assert sum(shape[0] for shape in translator.windows) == 12, "the network sees only the frames it paints"
    assert all(shape[1:] == (9 * 3, 64, 64) for shape in translator.windows), "space-time windows of 3 frames"
    written, original = _frames(out), list(VideoReader(video))
    assert len(written) == n
    for i in np.flatnonzero(fade == 0):
        assert np.array_equal(written[i], original[i]), f"frame {i} passes through bit for bit"
    for i in np.flatnonzero(painted):
        changed = np.abs(written[i].astype(int) - original[i]).sum(-1) > 0
        assert changed.any(), f"frame {i} is painted"
        ys, xs = np.nonzero(changed)
        assert crop.x0 <= xs.min() and xs.max() < crop.x0 + crop.side, "only inside the shot crop"
        assert crop.y0 <= ys.min() and ys.max() < crop.y0 + crop.side
    change = [float(np.abs(written[i].astype(int) - original[i]).sum()) for i in (15, 21)]
    assert 0.25 < change[1] / change[0] < 0.75, "a half fade blends in about half of what a full one does"
    assert stats["gaze_calibration"]["note"] == "no sideways gaze change asked", "nothing to measure here"
    assert VideoReader(tmp_path / "preview.mp4").frame_count == n


def test_without_a_translator_only_the_eye_stage_runs(astro, tmp_path):
    video, track_path = astro
    track = load_track(track_path)
    n = len(track)
    fade = np.zeros(n)
    fade[5:9] = 1.0
    gaze = track.gaze.copy()
    gaze[5:9, :, 0] += np.radians(10)  # a look to the side, for the gaze warp alone
    from dataclasses import replace

    performance = Performance(track=replace(track, gaze=gaze), target_frames=np.arange(n), eyes_only=fade > 0)
    out = tmp_path / "out"
    stats = synthesise(performance, None, None, track, video, out,
                       SynthesisOptions(fmt="png", show_progress=False, gaze_gain=1.0), fade=fade)
    assert (stats["synthesised_frames"], stats["eyes_only_frames"]) == (0, 4)
    assert stats["pose_calibration"] is None and stats["network_frames_per_second"] is None
    written, original = _frames(out), list(VideoReader(video))
    for i in range(n):
        same = np.array_equal(written[i], original[i])
        assert same == (not 5 <= i < 9), f"frame {i}"
        if not same:
            changed = np.abs(written[i].astype(int) - original[i]).sum(-1) > 0
            assert changed.mean() < 0.01, "only the eyes move"
