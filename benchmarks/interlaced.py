"""What blending an interlaced frame's fields does for tracking.

Interlaced footage holds two moments in each frame, one in the even lines and
one in the odd: where the head moves between them its edges comb. `VideoReader`
blends the fields (`base.reading.blend_fields`) before tracking, training and
the network see a frame. This makes an interlaced version of each clip (its
frames interpolated to twice the rate with motion compensation, then every two
woven into one frame: 60 fields a second for a 30 fps clip, as a 1080i camera
records), tracks it as interlaced (fields blended) and as the same frames
flagged progressive (woven, what dvp did before it read field orders), and
prints how well each fits (landmark NME, reprojection error) and how much the
landmarks jitter (mean frame-to-frame acceleration, in pixels).

    python benchmarks/interlaced.py [--footage DIR] [--clips lp_d9,lp_d14,hdtf_khill]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from base.ffmpeg_process import ffmpeg_path  # noqa: E402
from base.probe import probe  # noqa: E402
from pipeline.tracking import TrackOptions, track_video  # noqa: E402
from reconstruction.track import load_track  # noqa: E402


def interlace(clip: Path, out: Path, field_order: str) -> Path:
    """`clip` at twice its rate (motion-compensated), woven two frames to one and tagged `field_order`
    ("progressive" keeps the combs but says nothing of them)."""
    fields = 2 * probe(clip).fps
    coding = ["-flags", "+ildct+ilme", "-x264-params", "tff=1"] if field_order == "tff" else []
    subprocess.run([ffmpeg_path(), "-v", "error", "-y", "-i", str(clip), "-vf",
                    f"minterpolate=fps={fields}:mi_mode=mci,tinterlace=interleave_top,setfield={field_order[:4]}",
                    "-c:v", "libx264", "-crf", "14", *coding, "-an", str(out)], check=True)
    return out


def jitter(track_path: Path) -> float:
    landmarks = load_track(track_path).landmarks
    return float(np.linalg.norm(landmarks[2:] - 2 * landmarks[1:-1] + landmarks[:-2], axis=-1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--footage", type=Path, default=ROOT.parent / "shared" / "footage")
    parser.add_argument("--clips", default="lp_d9,lp_d14,hdtf_khill")
    args = parser.parse_args()
    print("| clip | read as | frames | NME | reprojection px | landmark jitter px |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.clips.split(","):
            woven = interlace(args.footage / f"{name}.mp4", Path(tmp) / f"{name}_tff.mp4", "tff")
            plain = interlace(args.footage / f"{name}.mp4", Path(tmp) / f"{name}_prog.mp4", "progressive")
            for label, video in (("interlaced (fields blended)", woven), ("woven", plain)):
                track = Path(tmp) / f"{video.stem}.npz"
                report = track_video(video, track, options=TrackOptions(show_progress=False))
                print(f"| {name} | {label} | {report['valid_frames']}/{report['frames']} | {report['nme']:.5f} | "
                      f"{report['reprojection_error_px']:.3f} | {jitter(track):.3f} |", flush=True)


if __name__ == "__main__":
    main()
