"""The dubs the dubbing issue asks for, made and checked: each output's lip sync read by `dvp sync-check` beside the
target's original footage with its original sound, and its upper face tracked again against the target's own
re-timed performance (`--verify`).

    python benchmarks/dub.py --model hdtf_aoc=AOC_MODEL --model lp_d9=LP_D9_MODEL --model talk_lieu_60s=LIEU_MODEL
        [--footage ../shared/footage] [--out DIR] [--sheet SHEET.jpg] [--runs NAME,...]

Runs (each needs its target's model; a run without one is skipped):
  aoc_de    hdtf_aoc dubbed with dub_de.wav (German) from the sound
  lp_d9_en  lp_d9 dubbed with dub_en.wav from the sound
  lieu_de   talk_lieu_60s dubbed with dub_de.wav from the sound
  aoc_khill hdtf_aoc driven by hdtf_khill's filmed performance, with its own sound
The sheet shows, per run, the original re-timed above the output, at four moments of speech (the mouth region).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from base.reading import VideoReader  # noqa: E402
from pipeline.dubbing import dub  # noqa: E402
from pipeline.job import JobOptions  # noqa: E402
from pipeline.sync_check import sync_check  # noqa: E402

RUNS = {"aoc_de": ("hdtf_aoc", {"audio": "dub_de.wav"}), "lp_d9_en": ("lp_d9", {"audio": "dub_en.wav"}),
        "lieu_de": ("talk_lieu_60s", {"audio": "dub_de.wav"}), "aoc_khill": ("hdtf_aoc", {"driver": "hdtf_khill.mp4"})}
SUFFIX = {"hdtf_aoc": ".mp4", "lp_d9": ".mp4", "talk_lieu_60s": ".mp4"}


def number(value, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def mouth_tiles(video: Path, report: dict, count: int = 4, height: int = 150) -> np.ndarray:
    """The original re-timed (top) and the output (bottom) at `count` moments of the dub's speech, cut about the
    mouth."""
    segments = [s for s in report["retiming"]["segments"] if s["kind"] in ("speech", "shot")]
    first, last = (segments[0]["dub_frames"][0], segments[-1]["dub_frames"][1]) if segments else (0, report["frames"])
    wanted = (first + (np.arange(count) + 0.5) * (last - first) / count).astype(int)
    preview = [f for i, f in enumerate(VideoReader(report["preview"])) if i in set(wanted)]
    tiles = []
    for frame in preview:
        third = frame.shape[1] // 3
        original, output = frame[:, :third], frame[:, 2 * third:]
        h, w = original.shape[:2]
        box = (slice(h * 2 // 5, h * 9 // 10), slice(w // 4, w * 3 // 4))
        tiles.append(np.vstack([cv2.resize(p[box], (height * 4 // 3, height)) for p in (original, output)]))
    return np.hstack(tiles)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=[], help="TARGET=MODEL_DIR")
    ap.add_argument("--footage", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "footage")
    ap.add_argument("--out", type=Path, default=Path("dub_bench"))
    ap.add_argument("--sheet", type=Path)
    ap.add_argument("--runs", default=",".join(RUNS))
    args = ap.parse_args()
    models = dict(m.split("=", 1) for m in args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    originals: dict[str, dict] = {}
    rows, sheets = [], []
    for run in args.runs.split(","):
        target, drive = RUNS[run]
        if target not in models:
            print(f"{run}: no model for {target}, skipped", file=sys.stderr)
            continue
        video = args.footage / f"{target}{SUFFIX[target]}"
        out = args.out / f"{run}.mp4"
        options = JobOptions(preview=args.out / f"{run}_preview.mp4", report=args.out / f"{run}.json", verify=True,
                             show_progress=False)
        report = dub(video, models[target], out, audio=args.footage / drive["audio"] if "audio" in drive else None,
                     driver=args.footage / drive["driver"] if "driver" in drive else None, options=options)
        report["preview"] = str(options.preview)
        reading = sync_check(out, show_progress=False)
        if target not in originals:
            originals[target] = sync_check(video, show_progress=False)
        own = originals[target]
        face = report["faithfulness"]
        rows.append(f"| {run} | {report['frames']} | {report['retiming']['method']} | {reading['offset_frames']} | "
                    f"{number(reading['confidence'])} | {own['offset_frames']} / {number(own['confidence'])} | "
                    f"{number(face.get('pose_error_deg'))} | {number(face.get('gaze_error_deg'))} | "
                    f"{number(face.get('blink_error'), 3)} | {number(face.get('expression_nme'), 4)} | "
                    f"{report['loudness_lufs']} | {report['frames_per_second']:.1f} |")
        print(rows[-1], flush=True)
        json.dump({"dub": report, "sync": reading, "original_sync": own}, open(args.out / f"{run}.summary.json", "w"),
                  indent=1, default=str)
        if args.sheet:
            sheets.append(mouth_tiles(out, report))
    print("| run | frames | retiming | sync offset | confidence | original: offset / confidence | pose error deg | "
          "gaze error deg | blink error | expression NME | loudness LUFS | frames/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.sheet and sheets:
        width = max(s.shape[1] for s in sheets)
        sheet = np.vstack([np.pad(s, ((0, 4), (0, width - s.shape[1]), (0, 0))) for s in sheets])
        cv2.imwrite(str(args.sheet), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
