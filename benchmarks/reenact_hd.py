"""Speed of `dvp reenact` on an HD target: where the time goes when frames are 1920x1080.

The footage has no HD portrait, so one is made from lp_d9: scaled to 1080x1080
and pillarboxed to 1920x1080 (the face then spans about 430 pixels, as in an
HD medium close-up). A `cpu`-preset model is trained on it for a few minutes
(its pictures are not the point: speed does not depend on training time) and
driven by lp_d3. Printed: the whole command's seconds and frames/s, the gaze
calibration, the pose pilot and the main pass, the network's own rate and peak
memory, for the H.264 output (`--format prores` for ProRes).

    python benchmarks/reenact_hd.py [--footage DIR] [--work DIR] [--minutes 4] [--eye-minutes 1]
                                    [--format mp4|prores]

`--work` keeps the HD clip, its track and the model, and reuses them when run again.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from base.ffmpeg_process import ffmpeg_path  # noqa: E402
from pipeline.job import JobOptions  # noqa: E402
from pipeline.reenactment import reenact  # noqa: E402
from pipeline.tracking import TrackOptions, track_video  # noqa: E402

DEFAULT_FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", ROOT.parent / "shared" / "footage"))


def _hd_clip(source: Path, output: Path) -> None:
    subprocess.run([ffmpeg_path(), "-v", "error", "-nostdin", "-y", "-i", str(source), "-vf",
                    "scale=1080:1080:flags=lanczos,pad=1920:1080:420:0:color=0x303030", "-c:v", "libx264",
                    "-crf", "16", "-c:a", "copy", str(output)], check=True)


def _dvp(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pipeline.cli", *args, "-q"], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE)
    ap.add_argument("--work", type=Path, help="keep (and reuse) the HD clip, its track and model here")
    ap.add_argument("--minutes", type=float, default=4.0, help="training minutes of the main network")
    ap.add_argument("--eye-minutes", type=float, default=1.0, help="training minutes of the eye pathway")
    ap.add_argument("--format", choices=("mp4", "prores"), default="mp4")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        clip, track, model = work / "lp_d9_hd.mp4", work / "lp_d9_hd.track.npz", work / "model_hd"
        if not clip.exists():
            _hd_clip(args.footage / "lp_d9.mp4", clip)
        if not track.exists():
            track_video(clip, track, options=TrackOptions(show_progress=False))
        if not (model / "checkpoint.pt").exists():
            _dvp("train", str(clip), "--track", str(track), "-o", str(model), "--minutes", str(args.minutes))
            _dvp("train", str(clip), "-o", str(model), "--eyes", "--minutes", str(args.eye_minutes))
        source = args.footage / "lp_d3.mp4"
        source_track = work / "lp_d3.track.npz"
        if not source_track.exists():
            track_video(source, source_track, options=TrackOptions(show_progress=False))
        output = work / ("lp_d9_hd_by_lp_d3" + (".mp4" if args.format == "mp4" else ".mov"))
        started = time.perf_counter()
        r = reenact(source, clip, model, output, source_track=source_track,
                    options=JobOptions(track=track, show_progress=False))
        seconds = time.perf_counter() - started
    gaze, pose = r["gaze_calibration"]["seconds"], r["pose_calibration"]["seconds"]
    print(f"lp_d9 at 1920x1080 driven by lp_d3, {r['frames']} frames, {args.format}")
    print()
    print("| whole command s | frames/s | gaze calibration s | pose pilot s | main pass s | main pass frames/s | "
          "network (with eye pathway) frames/s | peak memory MiB |")
    print("|---|---|---|---|---|---|---|---|")
    main_pass = r["seconds"] - gaze - pose
    print(f"| {seconds:.1f} | {r['frames'] / seconds:.2f} | {gaze:.1f} | {pose:.1f} | {main_pass:.1f} | "
          f"{r['frames'] / main_pass:.1f} | {r['network_frames_per_second']} | {r['peak_memory_mib']:.0f} |")


if __name__ == "__main__":
    main()
