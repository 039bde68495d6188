"""Benchmark `dvp track`: frames/s per stage, whole command, peak memory; FAN for comparison.

Runs the real command in a fresh process per clip (so peak memory is that
run's own), on every clip of the footage folder and on lp_d9 looped four times
(to show that memory does not grow with length). Then times face-alignment's FAN landmark network on
256x256 face crops cut from the same clips, with RANDOM weights (its real
weights cannot be downloaded here): the timing is valid, its output is not.

    python benchmarks/track.py [--footage DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from base.ffmpeg_process import ffmpeg_path  # noqa: E402
from base.reading import VideoReader  # noqa: E402
from reconstruction import landmarks_fan  # noqa: E402
from reconstruction.track import load_track  # noqa: E402

FAN_CLIPS = ("hdtf_aoc.mp4", "lp_d9.mp4")
DEFAULT_FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", Path(__file__).resolve().parents[2] / "shared" / "footage"))


def run_track(video: Path, folder: Path) -> dict:
    out, report = folder / f"{video.stem}.npz", folder / f"{video.stem}.json"
    subprocess.run([sys.executable, "-m", "pipeline.cli", "track", str(video), "-o", str(out),
                    "--report", str(report), "-q"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])
    rep = json.loads(report.read_text())
    src = load_track(out).header["source"]
    return rep | {"track": str(out), "size": f"{src['width']}x{src['height']}"}


def face_crops(video: Path, track_path: str, count: int = 20) -> np.ndarray:
    track = load_track(track_path)
    crops = []
    for i, frame in enumerate(VideoReader(video, max_frames=count)):
        pts = track.landmarks[i]
        (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
        c, half = ((x0 + x1) / 2, (y0 + y1) / 2), 0.65 * max(x1 - x0, y1 - y0)
        m = np.float32([[128 / half, 0, 128 - c[0] * 128 / half], [0, 128 / half, 128 - c[1] * 128 / half]])
        crops.append(cv2.warpAffine(frame, m, (256, 256)))
    return np.stack(crops)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE)
    args = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        looped = folder / "lp_d9_x4.mp4"
        subprocess.run([ffmpeg_path(), "-v", "error", "-stream_loop", "3", "-i", str(args.footage / "lp_d9.mp4"),
                        "-c", "copy", str(looped)], check=True)
        clips = sorted(args.footage.glob("*.mp4")) + [looped]
        rows = []
        fan = {}
        for clip in clips:
            rep = run_track(clip, folder)
            rows.append((clip.name, rep))
            if clip.name in FAN_CLIPS:
                try:
                    fan[clip.name] = fan_network_fps(face_crops(clip, rep["track"]))
                except Exception as exc:  # face-alignment is optional
                    fan[clip.name] = f"n/a ({exc.__class__.__name__})"
    fps = lambda r, k: f"{r['frames_per_second'][k]:.0f}"  # noqa: E731
    print(f"dvp track on {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}\n")
    print("| clip | frames | size (square px) | valid | interpolated | NME | reprojection px |")
    print("|---|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['frames']} | {r['size']} | {r['valid_ratio']:.3f} | {r['interpolated_frames']} | "
              f"{r['nme']:.4f} | {r['reprojection_error_px']:.2f} |")
    print()
    print("| clip | frames | size (square px) | decode fps | landmarks fps | fitting fps | whole command fps | peak memory MiB | FAN fps (random weights) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        f = fan.get(name, "")
        f = f"{f:.1f}" if isinstance(f, float) else f
        print(f"| {name} | {r['frames']} | {r['size']} | {fps(r, 'decode')} | "
              f"{fps(r, 'landmarks')} | {fps(r, 'fitting')} | {fps(r, 'total')} | {r['peak_memory_mib']:.0f} | {f} |")


def fan_network_fps(crops: np.ndarray, repeats: int = 1) -> float:
    """Frames/s of the 2D FAN alone, run as `reconstruction.landmarks_fan.FaceAlignmentDetector` runs it.

    The network is face_alignment's FAN with the 2D model's number of hourglass
    modules but RANDOM weights, so the benchmark needs no download: the timing is
    valid (same layers, same operations) but the output is meaningless.
    crops: (N, 256, 256, 3) uint8 face crops, normalised as face_alignment does and
    run one at a time (plus the mirrored pass when FLIP_INPUT is on), `repeats` times
    over. One untimed pass first keeps one-off allocation out of the figure.
    """
    if crops.ndim != 4 or crops.shape[1:] != (256, 256, 3) or len(crops) == 0:
        raise ValueError(f"expected (N, 256, 256, 3) face crops, got shape {crops.shape}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    landmarks_fan._import_face_alignment()
    from face_alignment.api import NetworkSize
    from face_alignment.models import FAN
    from face_alignment.utils import flip

    net = FAN(int(NetworkSize.LARGE)).eval()
    inputs = [torch.from_numpy(crop.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
              for crop in crops]

    def heatmaps(x: torch.Tensor) -> torch.Tensor:
        out = net(x)[-1]
        if landmarks_fan.FLIP_INPUT:
            out = out + flip(net(flip(x))[-1], is_label=True)
        return out

    with torch.inference_mode():
        heatmaps(inputs[0])
        start = time.perf_counter()
        for _ in range(repeats):
            for x in inputs:
                heatmaps(x)
        elapsed = time.perf_counter() - start
    return len(inputs) * repeats / elapsed


if __name__ == "__main__":
    main()
