"""Gaze edits with and without the network: what keeping the shot's own picture brings.

A gaze-only edit (no head, expression or blink change) is done by the gaze warp
on the frame itself; the same edit with a no-op expression change (`smile: 0`)
makes every edited frame go through the network, as edits did before. Two
edits of lp_d9: a 12 degree look towards the subject's left over frames
100-200, and a look into the lens over frames 300-360 (eased over 8 frames),
each scored by tracking the output again over its fully edited frames.

Then, with no model at all (`dvp edit` without `--model`, which takes gaze
edits alone), every clip of the footage gets a 12 degree look towards the
subject's left over the middle half of its frames, eased over 8 frames.

    python benchmarks/edit_gaze.py [MODEL] [--footage DIR] [--out DIR]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from base.reading import VideoReader  # noqa: E402
from pipeline.editing import edit  # noqa: E402
from pipeline.job import JobOptions  # noqa: E402

DEFAULT_FOOTAGE = Path(os.environ.get("DVP_FOOTAGE", ROOT.parent / "shared" / "footage"))
EDITS = {
    "12 deg sideways, frames 100-200": "  - frames: [100, 200]\n    ease: 8\n    gaze: {yaw: 12, pitch: 0}\n",
    "into the lens, frames 300-360": "  - frames: [300, 360]\n    ease: 8\n    gaze: camera\n",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, nargs="?", help="a model of lp_d9 (without one, only the second table)")
    ap.add_argument("--footage", type=Path, default=DEFAULT_FOOTAGE)
    ap.add_argument("--out", type=Path, help="keep the outputs here (default: a temporary folder)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        if args.model is not None:
            with_and_without_network(args.model, args.footage, out)
        print("| clip (no model) | frames edited | head pose error ° | expression NME | gaze error °, open eyes | "
              "yaw gains (tracker) | seconds | frames/s |")
        print("|---|---|---|---|---|---|---|---|")
        for clip in sorted(args.footage.glob("*.mp4")):
            frames = VideoReader(clip).frame_count
            first, last = frames // 4, frames - frames // 4 - 1
            spec = out / f"{clip.stem}_gaze.yaml"
            spec.write_text(f"version: 1\nedits:\n  - frames: [{first}, {last}]\n    ease: 8\n"
                            "    gaze: {yaw: 12, pitch: 0}\n")
            r = edit(clip, None, spec, spec.with_suffix(".mp4"), JobOptions(verify=True, show_progress=False))
            f = r["faithfulness"]
            gains = r["gaze_calibration"]["yaw_gains"]
            low, high = min(min(e.values()) for e in gains.values()), max(max(e.values()) for e in gains.values())
            gaze = f"{f['gaze_error_deg']:.2f}" if "gaze_error_deg" in f else "-"
            print(f"| {clip.name} | {r['eyes_only_frames']} | {f['pose_error_deg']:.2f} | {f['expression_nme']:.4f} | "
                  f"{gaze} | {low:.2f}–{high:.2f} | {r['seconds']:.1f} | {frames / r['seconds']:.1f} |", flush=True)


def with_and_without_network(model: Path, footage: Path, out: Path) -> None:
    """The first table: lp_d9's two gaze edits, painted by the network and done by the gaze warp on the shot."""
    print("| gaze edit | how | frames: eyes only, painted | head pose error ° | expression NME | gaze error °, open eyes "
          "| seconds |")
    print("|---|---|---|---|---|---|---|")
    for k, (name, text) in enumerate(EDITS.items()):
        for how, extra in (("network", "    expression: {smile: 0}\n"), ("gaze warp on the shot", "")):
            spec = out / f"gaze_{k}_{len(extra)}.yaml"
            spec.write_text("version: 1\nedits:\n" + text + extra)
            r = edit(footage / "lp_d9.mp4", model, spec, spec.with_suffix(".mp4"),
                     JobOptions(verify=True, show_progress=False))
            f = r["faithfulness"]
            gaze = f"{f['gaze_error_deg']:.2f}" if "gaze_error_deg" in f else "-"
            print(f"| {name} | {how} | {r['eyes_only_frames']}, {r['synthesised_frames']} | "
                  f"{f['pose_error_deg']:.2f} | {f['expression_nme']:.4f} | {gaze} | {r['seconds']:.1f} |", flush=True)
    print()


if __name__ == "__main__":
    main()
