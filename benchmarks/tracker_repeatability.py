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
- resampled: scaled to 80 % and back, then re-encoded (the blur of a resampling);
- mirrored: flipped left to right, then re-encoded; the detections are flipped
  back (x to width - x, each landmark to its mirror partner) and fitted with
  the first track's actor. A picture and its mirror image show the same
  performance, but the detector sees a different picture: what it reads
  differently is error that depends on the picture, the kind that differs
  between a source and an output of another actor. With each track's own
  actor instead (what `--verify` does), the estimated eyeball centres also
  move, by up to a millimetre, which adds a constant offset to each eye's gaze.

    python benchmarks/tracker_repeatability.py [--footage DIR] [--clips lp_d9,lp_d3,lp_d14]
"""
from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from base.ffmpeg_process import ffmpeg_path  # noqa: E402
from base.probe import probe  # noqa: E402
from pipeline.faithfulness import faithfulness  # noqa: E402
from pipeline.tracking import FIT_BATCH, TrackOptions, track_video  # noqa: E402
from reconstruction.canonical import load_canonical  # noqa: E402
from reconstruction.fitting import actor_from_track, fit_frames, track_params  # noqa: E402
from reconstruction.topology import mirror_map  # noqa: E402
from reconstruction.track import Track, load_track  # noqa: E402

DEFAULT_FOOTAGE = ROOT.parent / "shared" / "footage"
CHANGES = {
    "re-encoded": "null",
    "shifted 2 px": "pad=iw+2:ih+2:2:2,crop=iw-2:ih-2:0:0",
    "resampled 80 %": "scale=trunc(iw*0.4)*2:trunc(ih*0.4)*2:flags=bicubic,scale={w}:{h}:flags=bicubic",
    "mirrored": "hflip",
}


def changed(video: Path, change: str, out: Path) -> Path:
    info = probe(video)
    chain = CHANGES[change].format(w=info.width, h=info.height) + f",setsar={info.sar.numerator}/{info.sar.denominator}"
    subprocess.run([ffmpeg_path(), "-v", "error", "-y", "-i", str(video), "-map", "0:v:0", "-vf", chain,
                    "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


def mirrored_back(first: Track, flipped: Track) -> Track:
    """The flipped clip's detections flipped back into the first clip's picture and fitted with its actor."""
    partner = mirror_map(load_canonical())
    points = np.array(flipped.landmarks, dtype=np.float64)[:, partner]
    points[..., 0] = first.header["source"]["width"] - points[..., 0]
    actor = actor_from_track(first)
    valid = first.valid & flipped.valid
    fields = {name: np.array(getattr(first, name)) for name in ("rotation", "translation", "expression", "gaze")}
    frames = np.flatnonzero(valid)
    for start in range(0, len(frames), FIT_BATCH):
        batch = frames[start:start + FIT_BATCH]
        fitted = fit_frames(actor, points[batch], init=track_params(first, batch))
        for name in fields:
            fields[name][batch] = getattr(fitted, name)
    return dataclasses.replace(first, valid=valid, landmarks=points[..., :2].astype(np.float32), **fields)


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
                second = load_track(tmp / f"{clip}_{k}.npz")
                f = faithfulness(first, mirrored_back(first, second) if change == "mirrored" else second)
                print(f"| {clip} | {change} | {f['frames']} | {f['pose_error_deg']:.2f} ({f['pose_error_deg_p95']:.2f}) | "
                      f"{f['expression_nme']:.4f} | {f['gaze_error_deg']:.2f} ({f['gaze_error_deg_p95']:.2f}) | "
                      f"{f['gaze_error_deg_all_eyes']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
