"""How repeatably the tracker reads a performance: the floor under every faithfulness figure.

`--verify` and `benchmarks/reenact.py` judge an output by tracking it again and
comparing with the parameters it was asked to show, which for a reenactment are
themselves the tracker's reading of the source. Neither reading is exact. This
tracks each clip as it is and after changes that leave the performance alone,
and scores the second track against the first with the same measures
(`pipeline.faithfulness`: head-pose error, expression NME, gaze error over the
eyes that are open):

- re-encoded: H.264 again at CRF 18 (compression noise alone);
- shifted: moved 2 pixels right and down, then re-encoded;
- resampled: scaled to 80 % and back, then re-encoded (the blur of a resampling).

    python benchmarks/tracker_repeatability.py [--footage DIR] [--clips lp_d9,lp_d3,lp_d14]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.faithfulness import faithfulness  # noqa: E402
from pipeline.ffmpeg_exe import ffmpeg_path  # noqa: E402
from pipeline.probe import probe  # noqa: E402
from pipeline.tracking import TrackOptions, track_video  # noqa: E402
from reconstruction.track import load_track  # noqa: E402

DEFAULT_FOOTAGE = ROOT.parent / "shared" / "footage"
CHANGES = {
    "re-encoded": "null",
    "shifted 2 px": "pad=iw+2:ih+2:2:2,crop=iw-2:ih-2:0:0",
    "resampled 80 %": "scale=trunc(iw*0.4)*2:trunc(ih*0.4)*2:flags=bicubic,scale={w}:{h}:flags=bicubic",
}


def changed(video: Path, change: str, out: Path) -> Path:
    info = probe(video)
    chain = CHANGES[change].format(w=info.width, h=info.height) + f",setsar={info.sar.numerator}/{info.sar.denominator}"
    subprocess.run([ffmpeg_path(), "-v", "error", "-y", "-i", str(video), "-map", "0:v:0", "-vf", chain,
                    "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE)
    ap.add_argument("--clips", default="lp_d9,lp_d3,lp_d14")
    args = ap.parse_args()
    opts = TrackOptions(show_progress=False)
    print("| clip | change | frames | head pose error deg (p95) | expression NME | gaze error deg, open eyes (p95) |"
          " gaze error deg, all eyes |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for clip in args.clips.split(","):
            video = args.footage / f"{clip}.mp4"
            track_video(video, tmp / f"{clip}.npz", options=opts)
            first = load_track(tmp / f"{clip}.npz")
            for k, change in enumerate(CHANGES):
                other = changed(video, change, tmp / f"{clip}_{k}.mp4")
                track_video(other, tmp / f"{clip}_{k}.npz", options=opts)
                f = faithfulness(first, load_track(tmp / f"{clip}_{k}.npz"))
                print(f"| {clip} | {change} | {f['frames']} | {f['pose_error_deg']:.2f} ({f['pose_error_deg_p95']:.2f}) | "
                      f"{f['expression_nme']:.4f} | {f['gaze_error_deg']:.2f} ({f['gaze_error_deg_p95']:.2f}) | "
                      f"{f['gaze_error_deg_all_eyes']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
