"""Test clips, and the ffmpeg that makes and inspects them: the imageio-ffmpeg wheel's, whatever ffmpeg is on PATH;
and frames as a job marks them (`as_marked`), to compare its output with.

The code under test runs the ffmpeg on PATH when there is one. The clips it reads must be the same on every machine
(ffmpeg 7's mp4 muxer, for one, ends a variable-rate clip a frame earlier than later releases), so every clip a test
makes, and every read-back that checks an output independently of the code under test, uses the wheel's binary.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from base.writing import VideoWriter

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg(*args: str | Path) -> None:
    """Run the wheel's ffmpeg to make a file (overwriting it), failing the test if ffmpeg fails."""
    subprocess.run([FFMPEG, "-v", "error", "-nostdin", "-y", *map(str, args)], check=True)


def ffmpeg_report(*args: str | Path) -> str:
    """What the wheel's ffmpeg says on stderr about `args` (e.g. `-i FILE`: the file's streams and tags)."""
    return subprocess.run([FFMPEG, "-nostdin", *map(str, args)], capture_output=True, text=True).stderr


def make_clip(path: Path, *out_args: str, size: str = "64x48", rate: str = "25", seconds: float = 1,
              audio: bool = False, source: str = "testsrc2") -> Path:
    """A synthetic clip from one of ffmpeg's test sources (H.264 unless out_args say otherwise), with a sine tone if
    asked."""
    sound = ["-f", "lavfi", "-i", f"sine=d={seconds}:sample_rate=16000"] if audio else []
    ffmpeg("-f", "lavfi", "-i", f"{source}=s={size}:r={rate}:d={seconds}", *sound,
           "-c:v", "libx264", "-pix_fmt", "yuv420p", *out_args, path)
    return path


def write_frames(path: Path, frames: list[np.ndarray], fps: float = 25) -> Path:
    """RGB frames (H, W, 3) uint8 written as an H.264 MP4 by the project's own writer."""
    with VideoWriter(path, fps, frames[0].shape[1], frames[0].shape[0]) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def as_marked(frame: np.ndarray, report: dict) -> np.ndarray:
    """`frame` as the job whose `report` this is marks its output frames: its label, its watermark. A frame the job
    passes through comes out exactly so; where it changed pixels, the mark differs up to `watermark.REACH` around."""
    from pipeline.label import Label
    from pipeline.marking import Marks, tool_version

    marks = report["marks"]
    label = Label(**marks["label"]) if marks["visible_label"] else None
    return Marks(marks["job_id"], tool_version(), label).stamper(frame.shape[1], frame.shape[0])(frame)


def near(mask: np.ndarray, reach: int) -> np.ndarray:
    """`mask` grown by `reach` pixels: what a change inside it may touch once the output is marked."""
    import cv2

    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0

