"""How the tracker reads HDR footage, which dvp works on in its code values (not tone-mapped).

Makes PQ and HLG versions of a clip (BT.709 to linear light, then to BT.2020 with the PQ or HLG transfer, 10-bit
HEVC; SDR white at 203 nits for PQ as BT.2408 advises, and at 1000 nits' scale for HLG), tracks each, and scores
each track against the clip's own SDR track with the measures of `--verify` (`pipeline.faithfulness`: head-pose
difference, expression NME, gaze difference over open eyes). The SDR clip re-encoded once at the same quality is
the floor: what encoding alone moves.

    python benchmarks/hdr_tracking.py [--clip ../shared/footage/lp_d9.mp4]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from base.ffmpeg_process import ffmpeg_path  # noqa: E402
from base.probe import probe  # noqa: E402
from pipeline.faithfulness import faithfulness  # noqa: E402
from pipeline.tracking import TrackOptions, track_video  # noqa: E402
from reconstruction.track import load_track  # noqa: E402

TO_LINEAR = "zscale=transfer=linear:npl={npl}:matrixin=709:transferin=709:primariesin=709,format=gbrpf32le"
TO_HDR = ("zscale=primaries=2020:transfer={trc}:matrix=2020_ncl:npl={npl},format=yuv420p10le,"
          "setparams=colorspace=bt2020nc:color_primaries=bt2020:color_trc={trc}")
VERSIONS = {  # name: (ffmpeg's transfer name, the nominal peak that SDR white is scaled by)
    "PQ": ("smpte2084", 203),
    "HLG": ("arib-std-b67", 1000),
}


def make(clip: Path, out: Path, version: str | None) -> Path:
    if version is None:
        video = ["-c:v", "libx264", "-crf", "12"]
    else:
        trc, npl = VERSIONS[version]
        video = ["-vf", f"{TO_LINEAR.format(npl=npl)},{TO_HDR.format(trc=trc, npl=npl)}", "-c:v", "libx265",
                 "-x265-params", "log-level=error", "-crf", "12"]
    subprocess.run([ffmpeg_path(), "-v", "error", "-y", "-i", str(clip), *video, "-an", str(out)], check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clip", type=Path, default=ROOT.parent / "shared" / "footage" / "lp_d9.mp4")
    args = parser.parse_args()
    print("| version | colour | frames found | fit NME | pose vs SDR ° | expression NME vs SDR | gaze vs SDR ° |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "sdr.npz"
        track_video(args.clip, reference, options=TrackOptions(show_progress=False))
        sdr = load_track(reference)
        for version in (None, "PQ", "HLG"):
            video = make(args.clip, Path(tmp) / f"{version or 'sdr'}.mp4", version)
            track = Path(tmp) / f"{video.stem}.npz"
            report = track_video(video, track, options=TrackOptions(show_progress=False))
            scores = faithfulness(sdr, load_track(track))
            print(f"| {version or 'SDR, re-encoded'} | {probe(video).colour.label()} | "
                  f"{report['valid_frames']}/{report['frames']} | {report['nme']:.5f} | {scores['pose_error_deg']:.2f} | "
                  f"{scores['expression_nme']:.4f} | {scores['gaze_error_deg']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
